//! The event a finding is about: its time and the fields that identify it, read from a
//! scan's result row by row ([`EventColumns`]) for the rows some rule found.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;

use crate::run::micros;
use crate::{Error, Result};

/// The event a finding is about (for a correlation: its first event): its time and the
/// text of [`Event::FIELDS`], held in one string (a scan can find a million events, and
/// eight strings each were eight allocations and copies of each).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// Microseconds since the epoch, UTC.
    pub eventtime: i64,
    text: Box<str>,
    /// Where each field ends in `text`.
    ends: [u32; 8],
    /// Bit `i`: field `i` is not null.
    present: u8,
}

impl Event {
    /// The text fields, in order.
    pub const FIELDS: [&'static str; 8] = [
        "eventid",
        "eventsource",
        "eventname",
        "account",
        "region",
        "principal",
        "sourceipaddress",
        "sourceobject",
    ];

    /// An event from its time and the values of [`Event::FIELDS`].
    pub fn new(eventtime: i64, fields: [Option<&str>; 8]) -> Event {
        let mut text = String::with_capacity(fields.iter().flatten().map(|f| f.len()).sum());
        let mut ends = [0u32; 8];
        let mut present = 0u8;
        for (i, f) in fields.iter().enumerate() {
            if let Some(f) = f {
                text.push_str(f);
                present |= 1 << i;
            }
            ends[i] = text.len() as u32;
        }
        Event {
            eventtime,
            text: text.into_boxed_str(),
            ends,
            present,
        }
    }

    /// The values of [`Event::FIELDS`].
    pub fn fields(&self) -> [Option<&str>; 8] {
        std::array::from_fn(|i| self.field(i))
    }

    /// The length of each of [`Event::FIELDS`] (0 for a null).
    pub(crate) fn lens(&self) -> [usize; 8] {
        let mut start = 0;
        self.ends.map(|end| {
            let n = end - start;
            start = end;
            n as usize
        })
    }

    fn field(&self, i: usize) -> Option<&str> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        (self.present & (1 << i) != 0).then(|| &self.text[start..self.ends[i] as usize])
    }

    pub fn eventid(&self) -> Option<&str> {
        self.field(0)
    }
    pub fn eventsource(&self) -> Option<&str> {
        self.field(1)
    }
    pub fn eventname(&self) -> Option<&str> {
        self.field(2)
    }
    pub fn account(&self) -> Option<&str> {
        self.field(3)
    }
    pub fn region(&self) -> Option<&str> {
        self.field(4)
    }
    /// The principal's ARN.
    pub fn principal(&self) -> Option<&str> {
        self.field(5)
    }
    pub fn sourceipaddress(&self) -> Option<&str> {
        self.field(6)
    }
    pub fn sourceobject(&self) -> Option<&str> {
        self.field(7)
    }
}

/// By time, then the fields in order (a missing one first).
impl Ord for Event {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.eventtime
            .cmp(&other.eventtime)
            .then_with(|| self.fields().cmp(&other.fields()))
    }
}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Event");
        d.field("eventtime", &self.eventtime);
        for (name, v) in Event::FIELDS.iter().zip(self.fields()) {
            d.field(name, &v);
        }
        d.finish()
    }
}

/// The event columns of a result, read by row: only the events a rule found are made (a
/// scan of a whole lake reads millions that none did).
pub(crate) struct EventColumns {
    time: arrow::array::TimestampMicrosecondArray,
    text: Vec<arrow::array::StringViewArray>,
}

impl EventColumns {
    pub(crate) fn new(b: &RecordBatch) -> Result<EventColumns> {
        let mut text = Vec::with_capacity(8);
        for c in Event::FIELDS {
            let a = b
                .column_by_name(c)
                .ok_or_else(|| Error::Usage(format!("query result has no column {c}")))?;
            // Views of the same bytes, whatever the string type read.
            text.push(cast(a, &DataType::Utf8View)?.as_string_view().clone());
        }
        Ok(EventColumns {
            time: micros(b, "eventtime")?,
            text,
        })
    }

    pub(crate) fn event(&self, row: usize) -> Arc<Event> {
        Arc::new(Event::new(
            self.time.value(row),
            std::array::from_fn(|i| {
                let a = &self.text[i];
                a.is_valid(row).then(|| a.value(row))
            }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_keeps_each_field_and_its_nulls() {
        let fields = [
            Some("id-1"),
            None,
            Some(""),
            Some("111122223333"),
            None,
            Some("arn:aws:iam::111122223333:user/Ünïcode"),
            Some("10.0.0.1"),
            None,
        ];
        let e = Event::new(42, fields);
        assert_eq!(e.fields(), fields);
        assert_eq!(e.lens(), fields.map(|f| f.map_or(0, str::len)));
        assert_eq!(
            (e.eventid(), e.eventsource(), e.eventname(), e.principal()),
            (Some("id-1"), None, Some(""), fields[5])
        );
        assert_eq!(Event::default().fields(), [None; 8]);
        // Ordered by time, then the fields in order, a null before any text.
        let later = Event::new(43, [None; 8]);
        let no_id = Event::new(42, [None, Some("z"), None, None, None, None, None, None]);
        assert!(e < later && no_id < e);
        assert_eq!(e.clone().cmp(&e), std::cmp::Ordering::Equal);
        assert_ne!(
            Event::new(1, [Some(""), None, None, None, None, None, None, None]),
            Event::new(1, [None; 8])
        );
    }
}
