//! The event a finding is about: its time and the fields that identify it, read in place
//! from the columns of the scan's batch it was found in (`EventColumns`).

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringViewArray};
use arrow::buffer::ScalarBuffer;
use arrow::compute::cast;
use arrow::datatypes::DataType;

use crate::run::micros;
use crate::{Error, Result};

/// The event a finding is about (for a correlation: its first event): its time and the
/// text of [`Event::FIELDS`], a row of the columns it was read from. Those are kept, not
/// copied: a scan can find a million events, and making each its own copy of its fields was
/// most of the work of reading a scan's results.
#[derive(Clone)]
pub struct Event {
    columns: Arc<Columns>,
    row: usize,
}

/// The columns of a batch of events.
struct Columns {
    /// Microseconds since the epoch, UTC.
    time: ScalarBuffer<i64>,
    text: [StringViewArray; 8],
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
        Event {
            columns: Arc::new(Columns {
                time: vec![eventtime].into(),
                text: fields.map(|f| StringViewArray::from(vec![f])),
            }),
            row: 0,
        }
    }

    /// Microseconds since the epoch, UTC.
    pub fn eventtime(&self) -> i64 {
        self.columns.time[self.row]
    }

    /// The values of [`Event::FIELDS`].
    pub fn fields(&self) -> [Option<&str>; 8] {
        std::array::from_fn(|i| self.field(i))
    }

    fn field(&self, i: usize) -> Option<&str> {
        let a = &self.columns.text[i];
        a.is_valid(self.row).then(|| a.value(self.row))
    }

    /// Whether `other` is this event, read once (not merely equal to it).
    pub(crate) fn same(&self, other: &Event) -> bool {
        Arc::ptr_eq(&self.columns, &other.columns) && self.row == other.row
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

impl Default for Event {
    fn default() -> Event {
        Event::new(0, [None; 8])
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.same(other)
            || (self.eventtime() == other.eventtime() && self.fields() == other.fields())
    }
}

impl Eq for Event {}

/// By time, then the fields in order (a missing one first).
impl Ord for Event {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.eventtime()
            .cmp(&other.eventtime())
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
        d.field("eventtime", &self.eventtime());
        for (name, v) in Event::FIELDS.iter().zip(self.fields()) {
            d.field(name, &v);
        }
        d.finish()
    }
}

/// The event columns of a result, whose rows are events.
pub(crate) struct EventColumns(Arc<Columns>);

impl EventColumns {
    pub(crate) fn new(b: &RecordBatch) -> Result<EventColumns> {
        let mut text = Vec::with_capacity(8);
        for c in Event::FIELDS {
            let a = b
                .column_by_name(c)
                .ok_or_else(|| Error::Usage(format!("query result has no column {c}")))?;
            // Views of the same bytes, whatever the string type read.
            text.push(compact(cast(a, &DataType::Utf8View)?.as_string_view()));
        }
        Ok(EventColumns(Arc::new(Columns {
            time: micros(b, "eventtime")?.values().clone(),
            text: text.try_into().expect("eight fields"),
        })))
    }

    pub(crate) fn event(&self, row: usize) -> Event {
        Event {
            columns: self.0.clone(),
            row,
        }
    }
}

/// The text fields of `events` as columns, in the order of [`Event::FIELDS`]: views of
/// the text they were read from, not copies of it.
pub(crate) fn text_columns<'a>(
    events: impl Iterator<Item = &'a Event>,
) -> std::result::Result<Vec<arrow::array::ArrayRef>, arrow::error::ArrowError> {
    let mut sources: Vec<&Columns> = Vec::new();
    let mut number: ahash::AHashMap<*const Columns, usize> = ahash::AHashMap::new();
    let mut rows: Vec<(usize, usize)> = Vec::new();
    for e in events {
        let n = *number.entry(Arc::as_ptr(&e.columns)).or_insert_with(|| {
            sources.push(&e.columns);
            sources.len() - 1
        });
        rows.push((n, e.row));
    }
    (0..Event::FIELDS.len())
        .map(|f| {
            let arrays: Vec<&dyn Array> =
                sources.iter().map(|c| &c.text[f] as &dyn Array).collect();
            arrow::compute::interleave(&arrays, &rows)
        })
        .collect()
}

/// The array, or a copy of only its rows' text when its buffers hold much more: a batch's
/// columns can be views into the text of every event the scan read, not only those found,
/// and the events found are kept until printed.
fn compact(a: &StringViewArray) -> StringViewArray {
    let held: usize = a.data_buffers().iter().map(|b| b.len()).sum();
    if held > 2 * a.total_buffer_bytes_used() + (64 << 10) {
        a.gc()
    } else {
        a.clone()
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

    #[test]
    fn events_are_read_in_place_and_keep_only_their_rows_text() {
        use arrow::array::{ArrayRef, TimestampMicrosecondArray};
        use arrow::datatypes::{Field, Schema, TimeUnit};
        // A result's rows whose text views point into a buffer of many more events'
        // (as a filtered scan's can): the few kept hold only their own text.
        let long = |i: usize| format!("arn:aws:iam::111122223333:user/someone-{i:06}");
        let all: Vec<String> = (0..20_000).map(long).collect();
        let read = StringViewArray::from_iter_values(all.iter());
        let kept = arrow::compute::take(
            &read,
            &arrow::array::UInt32Array::from(vec![7, 19_999]),
            None,
        )
        .unwrap();
        let mut fields = vec![Field::new(
            "eventtime",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        )];
        let mut cols: Vec<ArrayRef> = vec![Arc::new(TimestampMicrosecondArray::from(vec![5, 3]))];
        for (i, name) in Event::FIELDS.iter().enumerate() {
            let ty = if i == 0 {
                DataType::Utf8
            } else {
                DataType::Utf8View
            };
            fields.push(Field::new(*name, ty, true));
            cols.push(match i {
                5 => kept.clone(),
                // Another string type, read as views.
                0 => Arc::new(arrow::array::StringArray::from(vec![Some("id-a"), None])),
                _ => Arc::new(StringViewArray::from(vec![Some("x"), Some("")])),
            });
        }
        let b = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
        let events = EventColumns::new(&b).unwrap();
        let (a, z) = (events.event(0), events.event(1));
        assert_eq!(
            (a.eventtime(), a.eventid(), a.principal(), a.region()),
            (5, Some("id-a"), Some(long(7).as_str()), Some("x"))
        );
        assert_eq!(
            (z.eventtime(), z.eventid(), z.principal(), z.region()),
            (3, None, Some(long(19_999).as_str()), Some(""))
        );
        let held: usize = events.0.text[5]
            .data_buffers()
            .iter()
            .map(|b| b.len())
            .sum();
        assert!(held < 1024, "{held} bytes held for two principals");
        assert!(a.same(&events.event(0)) && !a.same(&z) && z < a);
        assert!(a == Event::new(5, a.fields()) && !a.same(&Event::new(5, a.fields())));
    }
}
