//! A large object read as a stream: its records are handed out one at a time while it is
//! decompressed and parsed, so memory does not grow with the object (a 500 MB log file, a
//! gzip bomb). Small objects take the in-memory path of [`crate::shape`]; this one reads the
//! same shapes, element by element: the `Records` of a log file, the `Events` of
//! lookup-events output, the elements of a top-level array, the lines of newline-delimited
//! events, and a sequence of (pretty-printed) events one after another. An object whose
//! decompressed size passes a cap is stopped there, with that reason.

mod document;
mod readers;

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use self::readers::{Capped, Deferred};
use crate::shape::{self, BadRecord, Verdict};

/// Where the records of a streamed object go, in order.
pub trait Sink {
    /// A record (a JSON object) at `index` in the object.
    fn record(&mut self, index: u64, raw: &RawValue);
    /// An element that is not a record (not an object, malformed, not CloudTrail).
    fn bad(&mut self, bad: BadRecord);
    /// `n` envelopes or wrapped events with nothing for the lake (see [`crate::envelope`]).
    fn skipped(&mut self, why: &'static str, n: u64);
}

/// What streaming an object found.
#[derive(Debug)]
pub struct Outcome {
    pub verdict: Verdict,
    /// Decompressed bytes read.
    pub json_bytes: u64,
}

/// The longest line of newline-delimited events, and the longest single event outside an
/// array, held to be parsed: longer ones are bad records (no CloudTrail event comes near).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// How much of the start of the object is read to tell its shape.
const HEAD_BYTES: usize = 1 << 20;

/// Read a (possibly gzip) object as a stream. `name` is used to recognise documentation files
/// next to logs, as the in-memory path does.
pub fn read_stream(name: &str, raw: impl Read, max_object: u64, sink: &mut dyn Sink) -> Outcome {
    let mut raw = BufReader::with_capacity(64 << 10, raw);
    let gzip = matches!(raw.fill_buf(), Ok(b) if b.starts_with(&[0x1f, 0x8b]));
    let count = Rc::new(Cell::new(0));
    let plain: Box<dyn Read> = if gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let capped = Capped {
        inner: plain,
        count: count.clone(),
        max: max_object,
    };
    let mut st = State {
        index: 0,
        records: 0,
        gzip,
        in_array: None,
        not_events: false,
        sink,
    };
    let verdict = match read_head(capped) {
        Err(e) => st.failed(None, &e, max_object, &count),
        Ok((head, _)) if head.is_empty() => Verdict::Skipped("empty file"),
        Ok((head, rest)) => {
            if crate::envelope::is_export(&head) {
                let reader = BufReader::with_capacity(64 << 10, io::Cursor::new(head).chain(rest));
                st.lines(name, reader, max_object, &count)
            } else if !matches!(head[0], b'{' | b'[') {
                if shape::looks_like_non_log(name) {
                    Verdict::Skipped("not a log file")
                } else {
                    Verdict::Rejected(format!(
                        "not JSON (starts with {:?})",
                        String::from_utf8_lossy(&head[..head.len().min(16)])
                    ))
                }
            } else if first_line_is_a_document(&head) {
                let reader = BufReader::with_capacity(64 << 10, io::Cursor::new(head).chain(rest));
                st.lines(name, reader, max_object, &count)
            } else {
                let reader = BufReader::with_capacity(64 << 10, io::Cursor::new(head).chain(rest));
                st.documents(reader, max_object, &count)
            }
        }
    };
    Outcome {
        verdict,
        json_bytes: count.get(),
    }
}

/// The start of the content from its first significant byte (a BOM and white space before it
/// dropped, however much of it there is), up to a newline after it or [`HEAD_BYTES`]. A read
/// error after some content is left for the rest to report, after that content.
fn read_head<R: Read>(mut r: R) -> io::Result<(Vec<u8>, Deferred<R>)> {
    let mut head = Vec::new();
    let mut block = vec![0u8; 64 << 10];
    let mut first = true;
    loop {
        let n = match r.read(&mut block) {
            Ok(n) => n,
            Err(e) if !head.is_empty() => {
                return Ok((
                    head,
                    Deferred {
                        err: Some(e),
                        inner: r,
                    },
                ));
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok((
                head,
                Deferred {
                    err: None,
                    inner: r,
                },
            ));
        }
        let mut got = &block[..n];
        if first {
            got = got.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(got);
            first = false;
        }
        if head.is_empty() {
            match got.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => got = &got[i..],
                None => continue,
            }
        }
        let had = head.len();
        head.extend_from_slice(got);
        if head.len() >= HEAD_BYTES || memchr_newline(&head[had..]) {
            return Ok((
                head,
                Deferred {
                    err: None,
                    inner: r,
                },
            ));
        }
    }
}

fn memchr_newline(b: &[u8]) -> bool {
    b.contains(&b'\n')
}

/// Newline-delimited events: the first line is a whole JSON document by itself.
fn first_line_is_a_document(head: &[u8]) -> bool {
    let Some(end) = head.iter().position(|&b| b == b'\n') else {
        return false;
    };
    serde_json::from_slice::<IgnoredAny>(&head[..end]).is_ok()
}

struct State<'s> {
    index: u64,
    /// Records handed out (not bad records).
    records: u64,
    gzip: bool,
    /// The shape of the event array being read, once its first bracket is passed.
    in_array: Option<&'static str>,
    /// A top-level array turned out not to hold events.
    not_events: bool,
    sink: &'s mut dyn Sink,
}

impl State<'_> {
    /// The verdict when reading stopped on `e`: what came before was handed out.
    fn failed(
        &self,
        shape: Option<&'static str>,
        e: &io::Error,
        max_object: u64,
        count: &Cell<u64>,
    ) -> Verdict {
        if count.get() > max_object {
            // Rejected, unless records came before the cap: those are kept, as for a
            // truncated file.
            let why = format!(
                "decompressed size passes the --max-object-size cap of {}",
                size(max_object)
            );
            return match shape {
                Some(s) if self.records > 0 => Verdict::Damaged(
                    s,
                    format!("{why} ({} records before it were read)", self.records),
                ),
                _ => Verdict::Rejected(why),
            };
        }
        let why = if self.gzip && e.kind() != io::ErrorKind::Other {
            format!("corrupt gzip data: {e}")
        } else {
            format!("cannot read: {e}")
        };
        self.stopped(shape, why)
    }

    fn stopped(&self, shape: Option<&'static str>, why: String) -> Verdict {
        match shape {
            Some(s) => Verdict::Damaged(
                s,
                format!("{why} ({} records before it were read)", self.records),
            ),
            None => Verdict::Rejected(why),
        }
    }

    fn bad(&mut self, text: &[u8], reason: String) {
        let mut text = String::from_utf8_lossy(text).into_owned();
        if text.len() > 1024 {
            let mut cut = 1024;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("...");
        }
        self.sink.bad(BadRecord {
            index: self.index,
            text,
            reason,
        });
        self.index += 1;
    }

    fn record(&mut self, raw: &RawValue) {
        self.sink.record(self.index, raw);
        self.index += 1;
        self.records += 1;
    }

    /// An element of `Records` or of a top-level array.
    fn element(&mut self, raw: &RawValue) {
        if raw.get().starts_with('{') {
            self.record(raw);
        } else {
            self.bad(raw.get().as_bytes(), "record is not a JSON object".into());
        }
    }

    /// An element of lookup-events' `Events`: the event is the `CloudTrailEvent` string.
    fn lookup_item(&mut self, raw: &RawValue) {
        let event = crate::json::object(raw)
            .and_then(|p| p.get("CloudTrailEvent"))
            .and_then(crate::json::string)
            .map(|s| serde_json::from_str::<Box<RawValue>>(&s));
        match event {
            Some(Ok(ev)) if ev.get().starts_with('{') => self.record(&ev),
            Some(Ok(_)) => self.bad(
                raw.get().as_bytes(),
                "CloudTrailEvent is not a JSON object".into(),
            ),
            Some(Err(e)) => self.bad(
                raw.get().as_bytes(),
                format!("CloudTrailEvent is not valid JSON: {e}"),
            ),
            None => self.bad(
                raw.get().as_bytes(),
                "lookup-events item without a CloudTrailEvent string".into(),
            ),
        }
    }

    /// The records of a piece read in memory, at their positions after those handed out.
    fn contents(
        &mut self,
        records: Vec<(u64, shape::RecordText<'_>)>,
        bad_records: Vec<BadRecord>,
        skipped: std::collections::BTreeMap<&'static str, u64>,
    ) {
        let base = self.index;
        let mut next = base;
        for bad in bad_records {
            next = next.max(base + bad.index + 1);
            self.sink.bad(BadRecord {
                index: base + bad.index,
                ..bad
            });
        }
        for (i, rec) in &records {
            next = next.max(base + i + 1);
            self.sink.record(base + i, rec.raw());
            self.records += 1;
        }
        for (why, n) in skipped {
            self.sink.skipped(why, n);
        }
        self.index = next;
    }

    /// A log event of an `events` array: its message is the event.
    fn log_event(&mut self, raw: &RawValue) {
        match crate::envelope::log_event_message(raw) {
            Ok(ev) => self.record(&ev),
            Err(why) => self.bad(raw.get().as_bytes(), why),
        }
    }

    /// Newline-delimited documents, one line at a time; a bad line is a bad record.
    fn lines(
        &mut self,
        name: &str,
        mut r: impl BufRead,
        max_object: u64,
        count: &Cell<u64>,
    ) -> Verdict {
        let mut line = Vec::new();
        let mut shape: Option<&'static str> = None;
        let mut lines = 0usize;
        let mut skipped: Option<&'static str> = None;
        loop {
            line.clear();
            let overflow = match read_line_capped(&mut r, &mut line, MAX_RECORD_BYTES) {
                Ok(None) => break,
                Ok(Some(o)) => o,
                Err(e) => {
                    let shape = shape.map(|s| if s == "event" { "ndjson" } else { s });
                    return self.failed(shape.or(Some("ndjson")), &e, max_object, count);
                }
            };
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            if overflow {
                let why = format!("a line of more than {}", size(MAX_RECORD_BYTES as u64));
                self.bad(text, why);
                continue;
            }
            lines += 1;
            let c = shape::read_contents(name, text);
            match c.verdict {
                Verdict::Skipped(s) => skipped = Some(s),
                Verdict::Rejected(why) => self.bad(text, why),
                Verdict::Events(s) | Verdict::Damaged(s, _) => {
                    shape = Some(shape.map_or(s, |prev| if prev == s { s } else { "mixed" }));
                    self.contents(c.records, c.bad_records, c.skipped_messages);
                }
            }
        }
        match shape {
            Some("event") if lines > 1 => Verdict::Events("ndjson"),
            Some(s) => Verdict::Events(s),
            None if self.index > 0 => Verdict::Events("ndjson"),
            None => Verdict::Skipped(skipped.unwrap_or("empty file")),
        }
    }
}

/// Read one line (without its newline) into `line`, keeping at most `max` bytes of it.
/// `None` at the end of the input; `Some(true)` when the line was longer than `max`.
fn read_line_capped(
    r: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<bool>> {
    let mut any = false;
    let mut overflow = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(any.then_some(overflow));
        }
        any = true;
        let (part, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = max.saturating_sub(line.len());
        if part.len() > room {
            overflow = true;
        }
        line.extend_from_slice(&part[..part.len().min(room)]);
        let used = done.unwrap_or(buf.len());
        r.consume(used);
        if done.is_some() {
            return Ok(Some(overflow));
        }
    }
}

fn size(b: u64) -> String {
    match b {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        records: Vec<(u64, String)>,
        bad: Vec<(u64, String)>,
        skipped: std::collections::BTreeMap<&'static str, u64>,
    }

    impl Sink for Collect {
        fn record(&mut self, index: u64, raw: &RawValue) {
            self.records.push((index, raw.get().to_owned()));
        }
        fn bad(&mut self, bad: BadRecord) {
            self.bad.push((bad.index, bad.reason));
        }
        fn skipped(&mut self, why: &'static str, n: u64) {
            *self.skipped.entry(why).or_default() += n;
        }
    }

    fn streamed(name: &str, data: &[u8], max: u64) -> (Collect, Verdict) {
        let mut c = Collect::default();
        let out = read_stream(name, data, max, &mut c);
        (c, out.verdict)
    }

    fn kind(v: &Verdict) -> String {
        match v {
            Verdict::Events(s) => format!("events {s}"),
            Verdict::Damaged(s, _) => format!("damaged {s}"),
            Verdict::Skipped(s) => format!("skipped {s}"),
            Verdict::Rejected(_) => "rejected".into(),
        }
    }

    /// The stream hands out exactly the records, positions and verdict the in-memory reader
    /// finds, for every shape and kind of damage.
    #[test]
    fn same_records_as_in_memory() {
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/shapes");
        let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&fixtures)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (p.display().to_string(), std::fs::read(&p).unwrap())
            })
            .collect();
        for (name, text) in [
            (
                "x.json",
                &br#"{"Records":[{"eventTime":"a"},{"eventTime":"b"}]}"#[..],
            ),
            ("x", br#"[{"eventName":"A"}, {"eventName":"B"}, 3]"#),
            ("x", b"  {\"eventName\":\"A\"}\n"),
            (
                "x",
                b"{\"eventName\":\"A\"}\n{\"eventName\":\"B\"}\n{bad\n{\"eventName\":\"C\"}\n",
            ),
            (
                "x",
                b"{\n \"eventName\": \"A\"\n}\n{\n \"eventName\": \"B\"\n}\n",
            ),
            (
                "x",
                br#"{"Records":[{"eventTime":"a"},{"eventTime":"b"},{"eventTi"#,
            ),
            ("x", br#"{"Records":[{"eventTime":"a"},{"eventTime":"b"},"#),
            (
                "x",
                br#"{"Records":[{"eventTime":"a"},7,{"eventTime":"c"}]}"#,
            ),
            ("x", b"\xEF\xBB\xBF{\"Records\":[]}"),
            ("x", b"   \n\t "),
            ("README.md", b"# hi"),
            ("x.json", b"hello"),
            ("x.json", br#"{"a":1}"#),
            (
                "d",
                br#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}"#,
            ),
            ("c", br#"{"fileVersion":"1.0","configurationItems":[]}"#),
        ] {
            inputs.push((name.to_owned(), text.to_vec()));
        }
        inputs.extend(crate::envelope::samples());
        for (name, data) in inputs {
            let plain = crate::shape::decompress(&data).0;
            let mem = crate::shape::read_contents(&name, &plain);
            let (got, verdict) = streamed(&name, &data, u64::MAX);
            let want: Vec<(u64, String)> = mem
                .records
                .iter()
                .map(|(i, r)| (*i, r.raw().get().to_owned()))
                .collect();
            assert_eq!(got.records, want, "{name}");
            let bad: Vec<u64> = mem.bad_records.iter().map(|b| b.index).collect();
            let got_bad: Vec<u64> = got.bad.iter().map(|b| b.0).collect();
            assert_eq!(got_bad, bad, "{name}");
            assert_eq!(got.skipped, mem.skipped_messages, "{name}");
            let (k, mk) = (kind(&verdict), kind(&mem.verdict));
            // Newline-delimited input reads as ndjson either way; one event per line read
            // in memory is the "event" shape when it is alone.
            let same = k == mk || (k == "events ndjson" && mk == "events event");
            assert!(
                same,
                "{name}: streamed {verdict:?}, in memory {:?}",
                mem.verdict
            );
        }
    }

    #[test]
    fn records_come_out_before_the_object_is_read() {
        // 100,000 records: the first is handed out once the first MiB (read to tell the
        // shape) and a block are read.
        let mut body = String::from("{\"Records\":[");
        for i in 0..100_000 {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&format!(
                r#"{{"eventTime":"2024-01-01T00:00:00Z","eventID":"{i}"}}"#
            ));
        }
        body.push_str("]}");
        struct Watch {
            read: Rc<Cell<u64>>,
            first_at: Option<u64>,
            n: u64,
        }
        impl Sink for Watch {
            fn record(&mut self, _: u64, _: &RawValue) {
                self.first_at.get_or_insert(self.read.get());
                self.n += 1;
            }
            fn bad(&mut self, _: BadRecord) {}
            fn skipped(&mut self, _: &'static str, _: u64) {}
        }
        let read = Rc::new(Cell::new(0));
        let reader = Capped {
            inner: body.as_bytes(),
            count: read.clone(),
            max: u64::MAX,
        };
        let mut w = Watch {
            read: read.clone(),
            first_at: None,
            n: 0,
        };
        let out = read_stream("x", reader, u64::MAX, &mut w);
        assert!(
            matches!(out.verdict, Verdict::Events("records")),
            "{:?}",
            out.verdict
        );
        assert_eq!(w.n, 100_000);
        let first = w.first_at.unwrap();
        assert!(
            first <= (HEAD_BYTES + (128 << 10)) as u64 && (first as usize) < body.len() / 4,
            "first record after {first} of {} bytes",
            body.len()
        );
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn the_size_cap_rejects_or_keeps_what_came_before() {
        // A gzip bomb of white space: rejected at the cap, never held.
        let bomb = gz(&vec![b' '; 8 << 20]);
        let (c, v) = streamed("x.json.gz", &bomb, 1 << 20);
        let Verdict::Rejected(why) = &v else {
            panic!("{v:?}")
        };
        assert!(why.contains("--max-object-size cap of 1 MiB"), "{why}");
        assert!(c.records.is_empty());
        // Below the cap it is an empty file.
        let (_, v) = streamed("x.json.gz", &bomb, 16 << 20);
        assert!(matches!(v, Verdict::Skipped("empty file")), "{v:?}");
        // Records before the cap are kept; the object is damaged.
        let mut body = br#"{"Records":[{"eventTime":"a"},{"eventTime":"b"}"#.to_vec();
        body.extend(vec![b' '; 4 << 20]);
        body.extend(br#",{"eventTime":"c"}]}"#);
        let (c, v) = streamed("x", &gz(&body), 1 << 20);
        let Verdict::Damaged("records", why) = &v else {
            panic!("{v:?}")
        };
        assert!(
            why.contains("cap of 1 MiB (2 records before it were read)"),
            "{why}"
        );
        assert_eq!(c.records.len(), 2);
    }

    #[test]
    fn truncated_gzip_keeps_the_records_before_the_damage() {
        let mut body = String::from("{\"Records\":[");
        for i in 0..2000 {
            body.push_str(&format!(r#"{{"eventTime":"t","eventID":"{i}"}},"#));
        }
        body.push_str(r#"{"eventTime":"t"}]}"#);
        let z = gz(body.as_bytes());
        let (c, v) = streamed("x", &z[..z.len() / 2], u64::MAX);
        let Verdict::Damaged("records", why) = &v else {
            panic!("{v:?}")
        };
        assert!(
            why.contains("corrupt gzip") || why.contains("truncated"),
            "{why}"
        );
        assert!(!c.records.is_empty() && c.records.len() < 2001);
    }
}
