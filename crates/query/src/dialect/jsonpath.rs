//! A JSONPath, the subset Presto/Athena's JSON functions take: `$`, `.key`, `["key"]`,
//! `['key']`, `[0]`, `[*]`, `.*`. Keys may hold `-`, `:` and other characters in the
//! bracket form.
//!
//! A path is applied either to a parsed [`Value`] ([`JsonPath::extract`]) or, for a chain of
//! keys and indexes, straight to a document's text ([`JsonPath::scan`]), which gives the same
//! answers without building the document's tree.

use std::ops::Range;

use jiter::{Jiter, JiterError, Peek};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(i64),
    Wildcard,
}

#[derive(Debug, Clone)]
pub struct JsonPath {
    steps: Vec<Step>,
    /// `"key"` for each key of the path that JSON writes unescaped (see [`JsonPath::absent`]).
    needles: Vec<memchr::memmem::Finder<'static>>,
}

impl PartialEq for JsonPath {
    fn eq(&self, other: &Self) -> bool {
        self.steps == other.steps
    }
}

impl JsonPath {
    pub fn parse(path: &str) -> Result<JsonPath, String> {
        let p = path.trim();
        let mut rest = p
            .strip_prefix('$')
            .ok_or_else(|| format!("invalid JSON path {path:?}: must start with $"))?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                if let Some(r2) = r.strip_prefix('*') {
                    steps.push(Step::Wildcard);
                    rest = r2;
                    continue;
                }
                if r.starts_with('"') {
                    let (key, r2) =
                        quoted(r, '"').ok_or_else(|| format!("invalid JSON path {path:?}"))?;
                    steps.push(Step::Key(key));
                    rest = r2;
                    continue;
                }
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end == 0 {
                    return Err(format!("invalid JSON path {path:?}: empty key"));
                }
                steps.push(Step::Key(r[..end].to_owned()));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let r = r.trim_start();
                let (step, r2) = if r.starts_with('"') || r.starts_with('\'') {
                    let q = r.chars().next().expect("non-empty");
                    let (key, r2) =
                        quoted(r, q).ok_or_else(|| format!("invalid JSON path {path:?}"))?;
                    (Step::Key(key), r2)
                } else if let Some(r2) = r.strip_prefix('*') {
                    (Step::Wildcard, r2)
                } else {
                    let end = r
                        .find(']')
                        .ok_or_else(|| format!("invalid JSON path {path:?}: missing ]"))?;
                    let idx: i64 = r[..end]
                        .trim()
                        .parse()
                        .map_err(|_| format!("invalid JSON path {path:?}: bad index"))?;
                    (Step::Index(idx), &r[end..])
                };
                rest = r2
                    .trim_start()
                    .strip_prefix(']')
                    .ok_or_else(|| format!("invalid JSON path {path:?}: missing ]"))?;
                steps.push(step);
            } else {
                return Err(format!("invalid JSON path {path:?} at {rest:?}"));
            }
        }
        let needles = steps
            .iter()
            .filter_map(|s| match s {
                Step::Key(k) if !k.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) => {
                    Some(memchr::memmem::Finder::new(&format!("\"{k}\"")).into_owned())
                }
                _ => None,
            })
            .collect();
        Ok(JsonPath { steps, needles })
    }

    /// The values the path selects (several only with a wildcard).
    pub fn select<'a>(&self, v: &'a Value) -> Vec<&'a Value> {
        self.select_keys(v, false)
    }

    /// The value the path selects, a key matching in any case where the object has no key
    /// spelled as the path's (the dotted access of [`super::access`]).
    pub(crate) fn extract_any_case(&self, v: &Value) -> Option<Value> {
        self.select_keys(v, true).first().map(|v| (*v).clone())
    }

    /// Whether, with keys matched in any case, the path could select something in `doc`
    /// (see [`JsonPath::absent`]).
    pub(crate) fn may_match_any_case(&self, doc: &str) -> bool {
        if memchr::memchr(b'\\', doc.as_bytes()).is_some() {
            return true;
        }
        let lower = doc.to_ascii_lowercase();
        self.steps.iter().all(|s| match s {
            Step::Key(k) => lower.contains(&format!("\"{}\"", k.to_ascii_lowercase())),
            _ => true,
        })
    }

    fn select_keys<'a>(&self, v: &'a Value, any_case: bool) -> Vec<&'a Value> {
        let mut cur = vec![v];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in cur {
                match (step, v) {
                    (Step::Key(k), Value::Object(o)) => next.extend(o.get(k).or_else(|| {
                        any_case
                            .then(|| {
                                o.iter()
                                    .find(|(key, _)| key.eq_ignore_ascii_case(k))
                                    .map(|(_, v)| v)
                            })
                            .flatten()
                    })),
                    (Step::Index(i), Value::Array(a)) => {
                        let i = if *i < 0 { a.len() as i64 + i } else { *i };
                        if i >= 0 {
                            next.extend(a.get(i as usize));
                        }
                    }
                    (Step::Wildcard, Value::Array(a)) => next.extend(a.iter()),
                    (Step::Wildcard, Value::Object(o)) => next.extend(o.values()),
                    _ => {}
                }
            }
            cur = next;
        }
        cur
    }

    pub fn has_wildcard(&self) -> bool {
        self.steps.contains(&Step::Wildcard)
    }

    /// The single value selected, or, with a wildcard, the array of all selected.
    pub fn extract(&self, v: &Value) -> Option<Value> {
        let found = self.select(v);
        if self.has_wildcard() {
            return Some(Value::Array(found.into_iter().cloned().collect()));
        }
        found.first().map(|v| (*v).clone())
    }
}

/// What [`JsonPath::scan`] found in a document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scan {
    /// The text of the selected value, as a range of the document.
    Found(Range<usize>),
    /// Nothing selected, or the document is not valid JSON: `extract` on the parsed
    /// document would give no value either.
    Missing,
    /// Nested deeper than the scan follows; only a full parse can tell.
    TooDeep,
}

/// How deep the scan follows containers. serde_json refuses documents nested 128 deep, so
/// a document reaching this depth goes back to the parse rather than the scan risking an
/// answer for a document the parse rejects.
const MAX_SCAN_DEPTH: usize = 100;

impl JsonPath {
    /// Whether [`JsonPath::scan`] can answer for this path. A wildcard selects several
    /// values and a negative index counts from an array's end, which a single forward pass
    /// does not know when it meets the element.
    pub fn is_scannable(&self) -> bool {
        self.steps.iter().all(|s| match s {
            Step::Key(_) => true,
            Step::Index(i) => *i >= 0,
            Step::Wildcard => false,
        })
    }

    /// Finds the value the path selects in `doc` without building its tree, for a path that
    /// [`is_scannable`](JsonPath::is_scannable). The answer is the one [`JsonPath::extract`]
    /// gives on `serde_json::from_str(doc)`: the whole document is still validated as
    /// serde_json would (a value found before a syntax error is not an answer), and of
    /// duplicate keys the last counts. `tape` is scratch space for keys with escapes, kept
    /// across documents.
    pub(crate) fn scan(&self, doc: &str, tape: &mut Vec<u8>) -> Scan {
        debug_assert!(self.is_scannable());
        if self.absent(doc.as_bytes()) {
            return Scan::Missing;
        }
        let mut scanner = Scanner {
            jiter: Jiter::with_tape(doc.as_bytes(), std::mem::take(tape)),
            depth: 0,
        };
        let found = scanner.select(&self.steps).and_then(|found| {
            scanner.jiter.finish()?;
            Ok(found)
        });
        *tape = scanner.jiter.into_tape();
        match found {
            Ok(Some(range)) => Scan::Found(range),
            Ok(None) | Err(Stop::Invalid) => Scan::Missing,
            Err(Stop::TooDeep) => Scan::TooDeep,
        }
    }
}

impl JsonPath {
    /// Whether a key of the path is nowhere in `doc`: without a backslash in the document no
    /// key is escaped, so each key of the path must be there as `"key"` for the path to
    /// select anything. Most documents of a column lack most keys asked of them (a bucket
    /// name in the request of any call but S3's), and this search is several times faster
    /// than scanning the document's keys.
    fn absent(&self, doc: &[u8]) -> bool {
        self.needles.iter().any(|f| f.find(doc).is_none()) && memchr::memchr(b'\\', doc).is_none()
    }
}

/// Why a scan gave up before the end of the document.
enum Stop {
    Invalid,
    TooDeep,
}

impl From<JiterError> for Stop {
    fn from(_: JiterError) -> Stop {
        Stop::Invalid
    }
}

/// One pass over a document: the values on the path are entered, all others skipped, and
/// everything is checked as strictly as serde_json parses it.
struct Scanner<'j> {
    jiter: Jiter<'j>,
    depth: usize,
}

impl Scanner<'_> {
    /// Consumes the next value and returns where `steps` lead inside it.
    fn select(&mut self, steps: &[Step]) -> Result<Option<Range<usize>>, Stop> {
        let peek = self.jiter.peek()?;
        match steps.split_first() {
            None => {
                let start = self.jiter.current_index();
                self.skip(peek)?;
                Ok(Some(start..self.jiter.current_index()))
            }
            Some((Step::Key(key), rest)) if peek == Peek::Object => {
                self.enter()?;
                let mut found = None;
                let mut is_match = self.jiter.known_object()?.map(|k| k == key.as_str());
                while let Some(m) = is_match {
                    // Not `found.or(...)`: a parsed object keeps a duplicate key's last
                    // value, even when the path then leads nowhere inside it.
                    if m {
                        found = self.select(rest)?;
                    } else {
                        self.skip_next()?;
                    }
                    is_match = self.jiter.next_key()?.map(|k| k == key.as_str());
                }
                self.depth -= 1;
                Ok(found)
            }
            Some((Step::Index(index), rest)) if peek == Peek::Array => {
                self.enter()?;
                let mut found = None;
                let mut i = 0;
                while let Some(elem) = self.next_element(i)? {
                    if i as i64 == *index {
                        found = self.select(rest)?;
                    } else {
                        self.skip(elem)?;
                    }
                    i += 1;
                }
                self.depth -= 1;
                Ok(found)
            }
            _ => {
                self.skip(peek)?;
                Ok(None)
            }
        }
    }

    /// The first element of the array just entered (`i == 0`) or the next one.
    fn next_element(&mut self, i: usize) -> Result<Option<Peek>, Stop> {
        Ok(if i == 0 {
            self.jiter.known_array()?
        } else {
            self.jiter.array_step()?
        })
    }

    fn skip_next(&mut self) -> Result<(), Stop> {
        let peek = self.jiter.peek()?;
        self.skip(peek)
    }

    /// Consumes a value, validating it. Not `Jiter::known_skip`: that allows deeper nesting
    /// than serde_json, and numbers serde_json rejects as out of range.
    fn skip(&mut self, peek: Peek) -> Result<(), Stop> {
        match peek {
            Peek::Null => self.jiter.known_null()?,
            Peek::True | Peek::False => {
                self.jiter.known_bool(peek)?;
            }
            // The input is a `&str`, so the UTF-8 check that the bytes variant leaves out
            // is not needed; escapes are still checked.
            Peek::String => {
                self.jiter.known_bytes()?;
            }
            Peek::Array => {
                self.enter()?;
                let mut elem = self.jiter.known_array()?;
                while let Some(peek) = elem {
                    self.skip(peek)?;
                    elem = self.jiter.array_step()?;
                }
                self.depth -= 1;
            }
            Peek::Object => {
                self.enter()?;
                let mut key = self.jiter.next_object_bytes()?.is_some();
                while key {
                    self.skip_next()?;
                    key = self.jiter.next_key_bytes()?.is_some();
                }
                self.depth -= 1;
            }
            _ => {
                let number = self.jiter.known_number_bytes(peek)?;
                if !serde_accepts_number(number) {
                    return Err(Stop::Invalid);
                }
            }
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), Stop> {
        self.depth += 1;
        if self.depth >= MAX_SCAN_DEPTH {
            return Err(Stop::TooDeep);
        }
        Ok(())
    }
}

/// Whether serde_json parses a number that has JSON's syntax. It refuses those beyond
/// `f64`'s range, which takes an exponent or some 309 digits; others need no second look.
fn serde_accepts_number(number: &[u8]) -> bool {
    let may_overflow = number.len() > 300 || number.iter().any(|b| matches!(b, b'e' | b'E'));
    !may_overflow
        || std::str::from_utf8(number)
            .is_ok_and(|n| serde_json::from_str::<serde_json::Number>(n).is_ok())
}

fn quoted(s: &str, q: char) -> Option<(String, &str)> {
    let body = &s[1..];
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            if let Some((_, n)) = chars.next() {
                out.push(n);
            }
        } else if c == q {
            return Some((out, &body[i + 1..]));
        } else {
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let v: Value = serde_json::from_str(
            r#"{"a":{"b":[10,{"c":"x"}]},"x-amz-copy-source":"bkt/k","aws:Src":1,"k":{"m":2,"n":3}}"#,
        )
        .unwrap();
        let get = |p: &str| JsonPath::parse(p).unwrap().extract(&v);
        assert_eq!(get("$.a.b[0]"), Some(Value::from(10)));
        assert_eq!(get("$.a.b[1].c"), Some(Value::from("x")));
        assert_eq!(get("$.a.b[-1].c"), Some(Value::from("x")));
        assert_eq!(get("$[\"x-amz-copy-source\"]"), Some(Value::from("bkt/k")));
        assert_eq!(get("$['aws:Src']"), Some(Value::from(1)));
        assert_eq!(get("$.a.nope"), None);
        assert_eq!(get("$.k.*"), Some(serde_json::json!([2, 3])));
        assert_eq!(get("$"), Some(v.clone()));
        assert!(JsonPath::parse("a.b").is_err());
        assert!(JsonPath::parse("$.a[").is_err());
    }

    /// The text `scan` finds, or what it says instead.
    fn scan<'d>(path: &str, doc: &'d str) -> Result<&'d str, Scan> {
        match JsonPath::parse(path).unwrap().scan(doc, &mut Vec::new()) {
            Scan::Found(range) => Ok(&doc[range]),
            other => Err(other),
        }
    }

    #[test]
    fn scan_finds_the_text_of_the_value() {
        let doc = r#"{"a":{"b":[10,{"c":"x"}]},"x-amz-copy-source":"bkt/k","k":{"m":2}}"#;
        assert_eq!(scan("$.a.b[0]", doc), Ok("10"));
        assert_eq!(scan("$.a.b[1].c", doc), Ok(r#""x""#));
        assert_eq!(scan("$.a.b[1]", doc), Ok(r#"{"c":"x"}"#));
        assert_eq!(scan("$[\"x-amz-copy-source\"]", doc), Ok(r#""bkt/k""#));
        assert_eq!(scan("$", doc), Ok(doc));
        assert_eq!(scan("$.a.b[2]", doc), Err(Scan::Missing));
        assert_eq!(scan("$.k.m.n", doc), Err(Scan::Missing));
        assert_eq!(scan("$.a", " { \"a\" :\n [ 1 ] \n} "), Ok("[ 1 ]"));
        assert_eq!(scan("$.a", r#"{"\u0061":1,"a":"last"}"#), Ok(r#""last""#));
        // A key written only escaped is found: the search for `"key"` decides nothing in a
        // document with a backslash.
        assert_eq!(
            scan("$.bucketName", r#"{"bucket\u004eame":"b"}"#),
            Ok(r#""b""#)
        );
        assert_eq!(scan("$.a.b", r#"{"a":{"\u0062":2}}"#), Ok("2"));
        // A key present only as a value is not a key.
        assert_eq!(scan("$.b", r#"{"a":"\"b\"","c":"b"}"#), Err(Scan::Missing));
        assert_eq!(scan("$.b", r#"{"a":"b"}"#), Err(Scan::Missing));
        assert_eq!(scan("$.a", r#"{"a":1,"b":[}"#), Err(Scan::Missing));
        assert_eq!(scan("$.a", r#"{"a":1,"b":1e999}"#), Err(Scan::Missing));
        assert_eq!(scan("$.a", r#"{"a":1} x"#), Err(Scan::Missing));
        let deep = format!(r#"{{"a":1,"d":{}{}}}"#, "[".repeat(100), "]".repeat(100));
        assert_eq!(scan("$.a", &deep), Err(Scan::TooDeep));

        let scannable = |p: &str| JsonPath::parse(p).unwrap().is_scannable();
        assert!(scannable("$") && scannable("$.a[0]['b c']"));
        assert!(!scannable("$.a[-1]") && !scannable("$.a.*") && !scannable("$.a[*].b"));
    }
}
