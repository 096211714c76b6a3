//! One JSON document after another in a streamed object: each is parsed as it is read, the
//! elements of its event array (`Records`, lookup-events' `Events`, a top-level array) handed
//! out one at a time, and a document that is a single event copied while it is read.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::readers::{Recording, Tee};
use super::{MAX_RECORD_BYTES, State, size};
use crate::envelope::{self, Envelope};
use crate::shape::{self, Verdict};

impl State<'_> {
    /// One JSON document after another, each read as it is parsed.
    pub(super) fn documents(
        &mut self,
        r: impl Read,
        max_object: u64,
        count: &Cell<u64>,
    ) -> Verdict {
        let rec = Rc::new(RefCell::new(Recording::default()));
        let tee = Tee {
            inner: r,
            rec: rec.clone(),
        };
        let mut de = serde_json::Deserializer::from_reader(tee);
        let mut shape: Option<&'static str> = None;
        let mut skipped: Option<&'static str> = None;
        let mut docs = 0usize;
        loop {
            *rec.borrow_mut() = Recording {
                buf: Some(Vec::new()),
                overflow: false,
            };
            let mut doc = DocSeen::default();
            let parsed = TopSeed {
                st: self,
                doc: &mut doc,
                rec: &rec,
            }
            .deserialize(&mut de);
            docs += 1;
            if let Err(e) = parsed {
                let shape = self.in_array.or(shape);
                if e.is_io() {
                    return self.failed(shape, &io::Error::from(e), max_object, count);
                }
                if self.not_events {
                    return Verdict::Rejected(
                        "a JSON array whose first element is not a CloudTrail event".into(),
                    );
                }
                let (line, col) = (e.line(), e.column());
                let why = if e.is_eof() {
                    format!("truncated JSON at line {line} column {col}")
                } else {
                    format!("malformed JSON at line {line} column {col}: {e}")
                };
                return self.stopped(shape, why);
            }
            self.in_array = None;
            let recorded = std::mem::take(&mut *rec.borrow_mut());
            match self.take_doc(doc, recorded) {
                DocKind::Shape(s) => {
                    shape = Some(shape.map_or(s, |prev| if prev == s { s } else { "mixed" }))
                }
                DocKind::Skip(s) => skipped = Some(s),
                DocKind::NotCloudTrail(why, text) => {
                    if docs == 1 && de.end().is_ok() {
                        return Verdict::Rejected(why);
                    }
                    self.bad(&text, why);
                }
            }
            match de.end() {
                Ok(()) => break,
                Err(e) if e.is_io() => {
                    return self.failed(shape, &io::Error::from(e), max_object, count);
                }
                Err(_) => continue,
            }
        }
        let verdict = match (shape, skipped) {
            (Some(s), _) => Verdict::Events(s),
            (None, Some(s)) => Verdict::Skipped(s),
            (None, None) if self.index > 0 => Verdict::Events("ndjson"),
            (None, None) => Verdict::Skipped("empty file"),
        };
        match verdict {
            Verdict::Events("event") if docs > 1 => Verdict::Events("ndjson"),
            v => v,
        }
    }

    /// What one top-level document was, once parsed (its records already handed out).
    fn take_doc(&mut self, doc: DocSeen, recorded: Recording) -> DocKind {
        if let Some(s) = doc.shape {
            return DocKind::Shape(s);
        }
        if doc.scalar {
            return DocKind::NotCloudTrail(
                "a JSON scalar, not a CloudTrail event or log file".into(),
                recorded.buf.unwrap_or_default(),
            );
        }
        let has = |k: &str| doc.keys.iter().any(|x| x == k);
        if has("digestStartTime") || has("digestPublicKeyFingerprint") {
            return DocKind::Skip("CloudTrail digest file");
        }
        if has("configurationItems") || has("configSnapshotId") || has("configurationItem") {
            return DocKind::Skip("AWS Config file");
        }
        if let Some(env) = Envelope::of_keys(has) {
            return self.envelope(env, recorded);
        }
        if shape::EVENT_KEYS.iter().any(|k| has(k)) {
            let text = recorded.buf.unwrap_or_default();
            if recorded.overflow {
                let why = format!(
                    "a single event of more than {}",
                    size(MAX_RECORD_BYTES as u64)
                );
                return DocKind::NotCloudTrail(why, text);
            }
            let text = with_brace(&text);
            return match serde_json::from_str::<&RawValue>(&text) {
                Ok(raw) => {
                    self.record(raw);
                    DocKind::Shape("event")
                }
                Err(e) => {
                    DocKind::NotCloudTrail(format!("malformed JSON: {e}"), text.as_bytes().to_vec())
                }
            };
        }
        let keys: Vec<&str> = doc.keys.iter().take(6).map(String::as_str).collect();
        DocKind::NotCloudTrail(
            format!(
                "a JSON object that is not CloudTrail (no Records, no event fields; keys: {})",
                keys.join(", ")
            ),
            recorded.buf.unwrap_or_default(),
        )
    }
}

impl State<'_> {
    /// An envelope (a few MB at most: CloudWatch Logs batches are 1 MB), read again from its
    /// copied text by the in-memory path.
    fn envelope(&mut self, env: Envelope, recorded: Recording) -> DocKind {
        let text = recorded.buf.unwrap_or_default();
        if recorded.overflow {
            let why = format!("an envelope of more than {}", size(MAX_RECORD_BYTES as u64));
            return DocKind::NotCloudTrail(why, text);
        }
        let text = with_brace(&text);
        let c = shape::read_contents("", text.as_bytes());
        match c.verdict {
            Verdict::Events(_) | Verdict::Damaged(..) => {
                self.contents(c.records, c.bad_records, c.skipped_messages);
                DocKind::Shape(env.shape())
            }
            Verdict::Skipped(s) => DocKind::Skip(s),
            Verdict::Rejected(why) => DocKind::NotCloudTrail(why, text.as_bytes().to_vec()),
        }
    }
}

/// A document's copied text: the parser reads one byte ahead between documents, so a
/// document after the first comes without its opening brace.
fn with_brace(text: &[u8]) -> std::borrow::Cow<'_, str> {
    let trimmed = text.trim_ascii_end();
    if trimmed.trim_ascii_start().starts_with(b"{") {
        String::from_utf8_lossy(trimmed.trim_ascii_start())
    } else {
        format!("{{{}", String::from_utf8_lossy(trimmed)).into()
    }
}

enum DocKind {
    Shape(&'static str),
    Skip(&'static str),
    NotCloudTrail(String, Vec<u8>),
}

/// What the parser saw of one top-level document.
#[derive(Default)]
struct DocSeen {
    /// Set once its event array was found (records, lookup-events, array).
    shape: Option<&'static str>,
    keys: Vec<String>,
    scalar: bool,
}

/// Reads one top-level document, handing out the elements of its event array as they are
/// parsed.
struct TopSeed<'a, 's> {
    st: &'a mut State<'s>,
    doc: &'a mut DocSeen,
    rec: &'a Rc<RefCell<Recording>>,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON document")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key::<String>()? {
            let mode = match k.as_str() {
                "Records" if self.doc.shape.is_none() => Some(Mode::Records),
                "Events" if self.doc.shape.is_none() => Some(Mode::Lookup),
                // filter-log-events / get-log-events output (and the cwl:// source): the
                // array can be large, so it is read element by element too.
                "events" if self.doc.shape.is_none() => Some(Mode::LogEvents),
                _ => None,
            };
            match mode {
                Some(mode) => {
                    // A wrapper, not an event: stop copying its text.
                    self.rec.borrow_mut().buf = None;
                    let is_array = map.next_value_seed(Elements { st: self.st, mode })?;
                    if is_array {
                        self.doc.shape = Some(match mode {
                            Mode::Lookup => "lookup-events",
                            Mode::LogEvents => envelope::LOG_EVENTS,
                            _ => "records",
                        });
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if self.doc.keys.len() < 64 {
                self.doc.keys.push(k);
            }
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.rec.borrow_mut().buf = None;
        self.doc.shape = Some("array");
        Elements {
            st: self.st,
            mode: Mode::Array,
        }
        .visit_seq(seq)
        .map(|_| ())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.doc.scalar = true;
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.doc.scalar = true;
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.doc.scalar = true;
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.doc.scalar = true;
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.doc.scalar = true;
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.doc.scalar = true;
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Records,
    Lookup,
    LogEvents,
    Array,
}

/// The value of `Records` / `Events`, or a top-level array: its elements are handed out one
/// at a time. `true` when it was an array (any other value is skipped).
struct Elements<'a, 's> {
    st: &'a mut State<'s>,
    mode: Mode,
}

impl<'de> DeserializeSeed<'de> for Elements<'_, '_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_, '_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        self.st.in_array = Some(match self.mode {
            Mode::Records => "records",
            Mode::Lookup => "lookup-events",
            Mode::LogEvents => envelope::LOG_EVENTS,
            Mode::Array => "array",
        });
        let mut first = true;
        while let Some(v) = seq.next_element::<Box<RawValue>>()? {
            match self.mode {
                Mode::Records => self.st.element(&v),
                Mode::Lookup => self.st.lookup_item(&v),
                Mode::LogEvents => self.st.log_event(&v),
                Mode::Array => {
                    // A top-level array is taken for events when its first element is one
                    // (the in-memory path looks at all of them; a stream cannot look back).
                    if first && !shape::looks_like_event(v.get()) {
                        self.st.not_events = true;
                        return Err(de::Error::custom(
                            "a JSON array whose first element is not a CloudTrail event",
                        ));
                    }
                    self.st.element(&v)
                }
            }
            first = false;
        }
        Ok(true)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}
