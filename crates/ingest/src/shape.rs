//! The contents of one source object: which of the shapes CloudTrail data comes in it has
//! (a `{"Records":[...]}` log file, gzip or plain; a JSON array of events; a single event;
//! newline-delimited events; `aws cloudtrail lookup-events` output), the raw records in it,
//! or why it is skipped (digest, AWS Config, empty) or rejected (bad gzip, not JSON, not
//! CloudTrail). Damaged files give up the records before the damage.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::envelope::{self, Envelope};
use crate::json::{self, Key, Pairs};

/// One record: borrowed from the decompressed buffer, or owned when it was a JSON string
/// inside another document (lookup-events' `CloudTrailEvent`).
#[derive(Debug)]
pub enum RecordText<'a> {
    Borrowed(&'a RawValue),
    Owned(Box<RawValue>),
}

impl RecordText<'_> {
    pub fn raw(&self) -> &RawValue {
        match self {
            RecordText::Borrowed(r) => r,
            RecordText::Owned(r) => r,
        }
    }
}

/// A record that could not even be read as a JSON object.
#[derive(Debug)]
pub struct BadRecord {
    pub index: u64,
    pub text: String,
    pub reason: String,
}

/// What an object holds.
#[derive(Debug)]
pub enum Verdict {
    /// CloudTrail events, in the named shape.
    Events(&'static str),
    /// Not event data, recognised and skipped (a digest, an AWS Config file, an empty file).
    Skipped(&'static str),
    /// Not readable as CloudTrail; the reason names the problem.
    Rejected(String),
    /// Events, but the object is damaged: the records before the damage were read.
    Damaged(&'static str, String),
}

#[derive(Debug)]
pub struct Contents<'a> {
    pub verdict: Verdict,
    pub records: Vec<(u64, RecordText<'a>)>,
    pub bad_records: Vec<BadRecord>,
    /// Envelopes or wrapped events with nothing for the lake, by reason (see
    /// [`crate::envelope`]).
    pub skipped_messages: BTreeMap<&'static str, u64>,
}

impl<'a> Contents<'a> {
    fn verdict(verdict: Verdict) -> Self {
        Contents {
            verdict,
            records: Vec::new(),
            bad_records: Vec::new(),
            skipped_messages: BTreeMap::new(),
        }
    }
}

/// Decompress if gzip (by magic bytes, not name). A truncated stream keeps what was
/// decompressed before the damage and says so.
pub fn decompress(bytes: &[u8]) -> (Cow<'_, [u8]>, Option<String>) {
    if bytes.len() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        return (Cow::Borrowed(bytes), None);
    }
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(8));
    let mut dec = flate2::read::MultiGzDecoder::new(bytes);
    match dec.read_to_end(&mut out) {
        Ok(_) => (Cow::Owned(out), None),
        Err(e) => (Cow::Owned(out), Some(format!("corrupt gzip data: {e}"))),
    }
}

/// The first `limit` bytes of an object's content, decompressed if gzip: enough to tell what
/// it holds without decompressing all of it.
pub fn decompress_prefix(bytes: &[u8], limit: usize) -> (Cow<'_, [u8]>, Option<String>) {
    if bytes.len() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        return (Cow::Borrowed(&bytes[..bytes.len().min(limit)]), None);
    }
    // Sized up front: growing the buffer by doubling copied each log file's JSON about twice
    // (5% of a 1M-event ingest's CPU). The gzip trailer states the last member's size (all
    // of a CloudTrail file's); 8x the compressed size covers a file whose trailer lies.
    let trailer = bytes[bytes.len().saturating_sub(4)..]
        .try_into()
        .map_or(0, |t| u32::from_le_bytes(t) as usize);
    let mut out = Vec::with_capacity(trailer.max(bytes.len().saturating_mul(8)).min(limit));
    let dec = flate2::read::MultiGzDecoder::new(bytes);
    match dec.take(limit as u64).read_to_end(&mut out) {
        Ok(_) => (Cow::Owned(out), None),
        Err(e) => (Cow::Owned(out), Some(format!("corrupt gzip data: {e}"))),
    }
}

/// Extensions of files that live next to logs but are not logs (documentation, code):
/// skipped quietly when their content is not JSON.
const NOT_LOG_EXTENSIONS: &[&str] = &[
    "md", "txt", "rst", "html", "htm", "csv", "tsv", "yml", "yaml", "toml", "py", "sh", "pem",
    "sig", "parquet", "zip", "tar", "pdf", "png", "jpg", "svg", "xml", "ini", "cfg", "license",
];

pub(crate) fn looks_like_non_log(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let base = lower.rsplit('/').next().unwrap_or(&lower);
    if matches!(
        base,
        "license" | "readme" | "notice" | "makefile" | ".gitignore" | ".ds_store"
    ) {
        return true;
    }
    base.rsplit_once('.')
        .is_some_and(|(_, ext)| NOT_LOG_EXTENSIONS.contains(&ext))
}

/// Keys that mark a JSON object as a CloudTrail event.
pub(crate) const EVENT_KEYS: &[&str] = &[
    "eventTime",
    "eventName",
    "eventSource",
    "eventID",
    "eventVersion",
];

/// One top-level JSON document, read in a single pass: a `Records` or `Events` array is
/// split into raw elements while the document is parsed.
enum Doc<'a> {
    Object {
        pairs: Pairs<'a>,
        records: Option<Vec<&'a RawValue>>,
        events: Option<Vec<&'a RawValue>>,
    },
    Array(Vec<&'a RawValue>),
    Scalar,
}

impl<'de> Deserialize<'de> for Doc<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Doc<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON document")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                let (mut records, mut events) = (None, None);
                while let Some(k) = map.next_key::<Key<'de>>()? {
                    match k.0.as_ref() {
                        "Records" | "Events" => {
                            let items = map.next_value::<ArrayItems<'de>>()?.0;
                            let slot = if k.0 == "Records" {
                                &mut records
                            } else {
                                &mut events
                            };
                            if slot.is_none() {
                                *slot = items;
                            }
                        }
                        _ => pairs.push((k, map.next_value::<&'de RawValue>()?)),
                    }
                }
                Ok(Doc::Object {
                    pairs: Pairs(pairs),
                    records,
                    events,
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = seq.next_element::<&'de RawValue>()? {
                    items.push(v);
                }
                Ok(Doc::Array(items))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Doc::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Doc::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Doc::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Doc::Scalar)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Doc::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Doc::Scalar)
            }
        }
        d.deserialize_any(V)
    }
}

/// The value of `Records` / `Events`: its elements when it is an array, split while the
/// document is parsed (a RawValue cannot be both captured and split in one pass); any
/// other value is skipped.
struct ArrayItems<'a>(Option<Vec<&'a RawValue>>);

impl<'de> Deserialize<'de> for ArrayItems<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<Vec<&'de RawValue>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(64));
                while let Some(v) = seq.next_element::<&'de RawValue>()? {
                    items.push(v);
                }
                Ok(Some(items))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(None)
            }
        }
        d.deserialize_any(V).map(ArrayItems)
    }
}

/// Read the contents of an object. `name` is used for messages and to recognise
/// documentation files next to logs.
pub fn read_contents<'a>(name: &str, data: &'a [u8]) -> Contents<'a> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let Some(first) = data.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Contents::verdict(Verdict::Skipped("empty file"));
    };
    if !matches!(data[first], b'{' | b'[') {
        if envelope::is_export(&data[first..]) {
            return read_export(data);
        }
        if looks_like_non_log(name) {
            return Contents::verdict(Verdict::Skipped("not a log file"));
        }
        return Contents::verdict(Verdict::Rejected(format!(
            "not JSON (starts with {:?})",
            String::from_utf8_lossy(&data[first..data.len().min(first + 16)])
        )));
    }
    let text = match std::str::from_utf8(data) {
        Ok(t) => t,
        Err(e) => {
            // Keep what is valid before the bad byte: usually a truncated multi-byte char.
            let valid = e.valid_up_to();
            let t = std::str::from_utf8(&data[..valid]).expect("valid prefix");
            let mut c = parse_text(t);
            damage(&mut c, format!("invalid UTF-8 at byte {valid}"));
            return c;
        }
    };
    parse_text(text)
}

/// A CloudWatch Logs export: lines of a timestamp and an event.
fn read_export(data: &[u8]) -> Contents<'_> {
    let (text, bad_utf8) = match std::str::from_utf8(data) {
        Ok(t) => (t, None),
        Err(e) => {
            let valid = e.valid_up_to();
            let t = std::str::from_utf8(&data[..valid]).expect("valid prefix");
            (t, Some(format!("invalid UTF-8 at byte {valid}")))
        }
    };
    let mut c = Contents::verdict(Verdict::Events(envelope::CWL_EXPORT));
    envelope::read_export(text, &mut c);
    if let Some(why) = bad_utf8 {
        damage(&mut c, why);
    }
    c
}

fn damage(c: &mut Contents<'_>, why: String) {
    c.verdict = match std::mem::replace(&mut c.verdict, Verdict::Skipped("")) {
        Verdict::Events(shape) | Verdict::Damaged(shape, _) => Verdict::Damaged(shape, why),
        Verdict::Rejected(r) => Verdict::Rejected(format!("{why}; {r}")),
        Verdict::Skipped(_) => Verdict::Rejected(why),
    };
}

fn parse_text(text: &str) -> Contents<'_> {
    let mut out = Contents::verdict(Verdict::Events("records"));
    let mut shape: Option<&'static str> = None;
    let mut skipped: Option<&'static str> = None;
    let mut docs = 0usize;
    let mut index = 0u64;
    let mut pos = 0usize;
    let mut line_mode = false;
    while pos < text.len() {
        let rest = &text[pos..];
        let Some(skip) = rest.find(|c: char| !c.is_ascii_whitespace()) else {
            break;
        };
        let start = pos + skip;
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Doc>();
        match stream.next() {
            None => break,
            Some(Ok(doc)) => {
                let end = start + stream.byte_offset();
                let doc_text = &text[start..end];
                if docs == 0
                    && !doc_text.contains('\n')
                    && text[end..]
                        .trim_start_matches([' ', '\t', '\r'])
                        .starts_with('\n')
                {
                    line_mode = true;
                }
                docs += 1;
                pos = end;
                match take_doc(doc, doc_text, &mut out, &mut index) {
                    DocKind::Shape(s) => {
                        shape = Some(shape.map_or(s, |prev| if prev == s { s } else { "mixed" }))
                    }
                    DocKind::Skip(s) => skipped = Some(s),
                    DocKind::NotCloudTrail(why) => {
                        if docs == 1 && text[pos..].trim().is_empty() {
                            out.verdict = Verdict::Rejected(why);
                            return out;
                        }
                        out.bad_records.push(BadRecord {
                            index,
                            text: doc_text.to_owned(),
                            reason: why,
                        });
                        index += 1;
                    }
                }
            }
            Some(Err(e)) => {
                if line_mode {
                    // Newline-delimited events: one bad line is one bad record.
                    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
                    out.bad_records.push(BadRecord {
                        index,
                        text: text[start..line_end].to_owned(),
                        reason: format!("malformed JSON: {e}"),
                    });
                    index += 1;
                    pos = line_end;
                    continue;
                }
                let before = out.records.len();
                let salvaged_shape = salvage(text, start, &mut out, &mut index);
                if let Some(s) = salvaged_shape {
                    shape = Some(s);
                }
                let (line, col) = (e.line() + text[..start].matches('\n').count(), e.column());
                let why = if e.is_eof() {
                    format!("truncated JSON at line {line} column {col}")
                } else {
                    format!("malformed JSON at line {line} column {col}: {e}")
                };
                let got = out.records.len() - before;
                out.verdict = match (shape, got) {
                    (Some(s), _) => {
                        Verdict::Damaged(s, format!("{why} ({got} records before it were read)"))
                    }
                    (None, _) => Verdict::Rejected(why),
                };
                return out;
            }
        }
    }
    out.verdict = match (shape, skipped) {
        (Some(s), _) => Verdict::Events(s),
        (None, Some(s)) => Verdict::Skipped(s),
        (None, None) if !out.bad_records.is_empty() => Verdict::Events("ndjson"),
        (None, None) => Verdict::Skipped("empty file"),
    };
    if !matches!(out.verdict, Verdict::Skipped(_)) && docs > 1 && shape == Some("event") {
        out.verdict = Verdict::Events("ndjson");
    }
    out
}

enum DocKind {
    Shape(&'static str),
    Skip(&'static str),
    NotCloudTrail(String),
}

fn take_doc<'a>(
    doc: Doc<'a>,
    doc_text: &'a str,
    out: &mut Contents<'a>,
    index: &mut u64,
) -> DocKind {
    match doc {
        Doc::Scalar => {
            DocKind::NotCloudTrail("a JSON scalar, not a CloudTrail event or log file".into())
        }
        Doc::Array(items) => {
            if !items.is_empty() && !items.iter().any(|r| looks_like_event(r.get())) {
                return DocKind::NotCloudTrail(
                    "a JSON array with no CloudTrail events in it".into(),
                );
            }
            push_items(items, out, index);
            DocKind::Shape("array")
        }
        Doc::Object {
            pairs,
            records,
            events,
        } => {
            if let Some(items) = records {
                push_items(items, out, index);
                return DocKind::Shape("records");
            }
            if let Some(items) = events
                && items
                    .iter()
                    .all(|i| i.get().contains("\"CloudTrailEvent\""))
            {
                for item in items {
                    push_lookup_item(item, out, index);
                }
                return DocKind::Shape("lookup-events");
            }
            if pairs.has("digestStartTime") || pairs.has("digestPublicKeyFingerprint") {
                return DocKind::Skip("CloudTrail digest file");
            }
            if pairs.has("configurationItems")
                || pairs.has("configSnapshotId")
                || pairs.has("configurationItem")
            {
                return DocKind::Skip("AWS Config file");
            }
            if let Some(env) = Envelope::of(&pairs) {
                env.take(&pairs, doc_text, out, index);
                return DocKind::Shape(env.shape());
            }
            if EVENT_KEYS.iter().any(|k| pairs.has(k)) {
                let raw: &RawValue = serde_json::from_str(doc_text).expect("already parsed");
                out.records.push((*index, RecordText::Borrowed(raw)));
                *index += 1;
                return DocKind::Shape("event");
            }
            let keys: Vec<&str> = pairs.0.iter().take(6).map(|(k, _)| k.0.as_ref()).collect();
            DocKind::NotCloudTrail(format!(
                "a JSON object that is not CloudTrail (no Records, no event fields; keys: {})",
                keys.join(", ")
            ))
        }
    }
}

pub(crate) fn looks_like_event(text: &str) -> bool {
    text.starts_with('{')
        && EVENT_KEYS
            .iter()
            .any(|k| text.contains(&format!("\"{k}\"")))
}

fn push_items<'a>(items: Vec<&'a RawValue>, out: &mut Contents<'a>, index: &mut u64) {
    for item in items {
        if item.get().starts_with('{') {
            out.records.push((*index, RecordText::Borrowed(item)));
        } else {
            out.bad_records.push(BadRecord {
                index: *index,
                text: item.get().to_owned(),
                reason: "record is not a JSON object".into(),
            });
        }
        *index += 1;
    }
}

fn push_lookup_item<'a>(item: &'a RawValue, out: &mut Contents<'a>, index: &mut u64) {
    let parsed = json::object(item)
        .and_then(|p| p.get("CloudTrailEvent"))
        .and_then(json::string)
        .map(|s| serde_json::from_str::<Box<RawValue>>(&s));
    match parsed {
        Some(Ok(raw)) if raw.get().starts_with('{') => {
            out.records.push((*index, RecordText::Owned(raw)))
        }
        Some(Ok(_)) => out.bad_records.push(BadRecord {
            index: *index,
            text: item.get().to_owned(),
            reason: "CloudTrailEvent is not a JSON object".into(),
        }),
        Some(Err(e)) => out.bad_records.push(BadRecord {
            index: *index,
            text: item.get().to_owned(),
            reason: format!("CloudTrailEvent is not valid JSON: {e}"),
        }),
        None => out.bad_records.push(BadRecord {
            index: *index,
            text: item.get().to_owned(),
            reason: "lookup-events item without a CloudTrailEvent string".into(),
        }),
    }
    *index += 1;
}

/// Read the elements of the event array of a damaged document one at a time, up to the
/// damage. Returns the shape when an event array was found.
fn salvage<'a>(
    text: &'a str,
    start: usize,
    out: &mut Contents<'a>,
    index: &mut u64,
) -> Option<&'static str> {
    let doc = &text[start..];
    let (shape, array_at) = if doc.starts_with('[') {
        ("array", start)
    } else {
        let key = doc.find("\"Records\"")?;
        let after = &doc[key + 9..];
        let colon = after.trim_start().strip_prefix(':')?;
        let bracket = colon.trim_start();
        if !bracket.starts_with('[') {
            return None;
        }
        ("records", text.len() - bracket.len())
    };
    let mut pos = array_at + 1;
    loop {
        let rest = &text[pos..];
        let trimmed = rest.trim_start();
        pos += rest.len() - trimmed.len();
        if trimmed.starts_with(']') || trimmed.is_empty() {
            break;
        }
        let mut stream = serde_json::Deserializer::from_str(trimmed).into_iter::<&RawValue>();
        match stream.next() {
            Some(Ok(raw)) => {
                pos += stream.byte_offset();
                // A value must be followed by `,` or `]`: otherwise it is the damage itself
                // (for example an object missing its closing brace swallowed its neighbour).
                let after = text[pos..].trim_start();
                if !(after.starts_with(',') || after.starts_with(']')) {
                    break;
                }
                push_items(vec![raw], out, index);
                pos = text.len() - after.len() + 1;
            }
            _ => break,
        }
    }
    Some(shape)
}

#[cfg(test)]
mod tests;
