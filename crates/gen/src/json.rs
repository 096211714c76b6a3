//! `J`, the generator's own JSON value: objects keep insertion order.
//!
//! serde_json's `Map` is a `BTreeMap` unless some crate in the build turns on `preserve_order`,
//! so building records with it would make the key order (and thus the bytes) depend on which
//! crates happen to be compiled together. `J` always writes keys in the order CloudTrail uses,
//! and borrows strings from the generated world instead of copying them per event.

use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum J<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Arr(Vec<J<'a>>),
    Obj(Vec<(&'static str, J<'a>)>),
}

/// Builds a `J::Obj` with keys in the written order: `obj! { "a" => 1, "b" => "x" }`.
macro_rules! obj {
    ($($k:expr => $v:expr),* $(,)?) => {
        $crate::json::J::Obj(vec![$(($k, ::std::convert::Into::<$crate::json::J<'_>>::into($v))),*])
    };
}
pub(crate) use obj;

/// Builds a `J::Arr`: `arr![a, b]`.
macro_rules! arr {
    ($($v:expr),* $(,)?) => {
        $crate::json::J::Arr(vec![$(::std::convert::Into::<$crate::json::J<'_>>::into($v)),*])
    };
}
pub(crate) use arr;

impl<'a> J<'a> {
    /// `{}`: CloudTrail is full of empty objects (`"filterSet":{}`).
    pub(crate) fn empty() -> J<'a> {
        J::Obj(Vec::new())
    }

    /// Appends a key to an object; a no-op on other variants.
    pub(crate) fn push(&mut self, k: &'static str, v: impl Into<J<'a>>) {
        if let J::Obj(fields) = self {
            fields.push((k, v.into()));
        }
    }

    /// Compact JSON, as CloudTrail writes it.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            J::Null => out.extend_from_slice(b"null"),
            J::Bool(true) => out.extend_from_slice(b"true"),
            J::Bool(false) => out.extend_from_slice(b"false"),
            J::Int(i) => {
                use std::io::Write;
                let _ = write!(out, "{i}");
            }
            J::Float(f) => write_float(*f, out),
            J::Str(s) => write_str(s, out),
            J::Arr(items) => {
                out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write(out);
                }
                out.push(b']');
            }
            J::Obj(fields) => {
                out.push(b'{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(k, out);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(1024);
        self.write(&mut v);
        v
    }

    pub(crate) fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Int(i) => Value::from(*i),
            J::Float(f) => Value::from(*f),
            J::Str(s) => Value::String(s.to_string()),
            J::Arr(items) => Value::Array(items.iter().map(J::to_value).collect()),
            J::Obj(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

fn write_float(f: f64, out: &mut Vec<u8>) {
    use std::io::Write;
    if f.is_finite() {
        // Debug keeps a fraction on whole values (`80.0`), as CloudTrail prints doubles.
        let _ = write!(out, "{f:?}");
    } else {
        out.extend_from_slice(b"null");
    }
}

pub(crate) fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            use std::io::Write;
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

impl<'a> From<&'a str> for J<'a> {
    fn from(s: &'a str) -> Self {
        J::Str(Cow::Borrowed(s))
    }
}

impl<'a> From<&'a String> for J<'a> {
    fn from(s: &'a String) -> Self {
        J::Str(Cow::Borrowed(s.as_str()))
    }
}

impl<'a> From<Cow<'a, str>> for J<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        J::Str(s)
    }
}

impl From<String> for J<'_> {
    fn from(s: String) -> Self {
        J::Str(Cow::Owned(s))
    }
}

impl From<bool> for J<'_> {
    fn from(b: bool) -> Self {
        J::Bool(b)
    }
}

impl From<i64> for J<'_> {
    fn from(i: i64) -> Self {
        J::Int(i)
    }
}

impl From<i32> for J<'_> {
    fn from(i: i32) -> Self {
        J::Int(i as i64)
    }
}

impl From<u32> for J<'_> {
    fn from(i: u32) -> Self {
        J::Int(i as i64)
    }
}

impl From<u64> for J<'_> {
    fn from(i: u64) -> Self {
        J::Int(i as i64)
    }
}

impl From<usize> for J<'_> {
    fn from(i: usize) -> Self {
        J::Int(i as i64)
    }
}

impl From<f64> for J<'_> {
    fn from(f: f64) -> Self {
        J::Float(f)
    }
}

impl<'a> From<Vec<J<'a>>> for J<'a> {
    fn from(v: Vec<J<'a>>) -> Self {
        J::Arr(v)
    }
}

impl<'a, T: Into<J<'a>>> From<Option<T>> for J<'a> {
    fn from(o: Option<T>) -> Self {
        o.map_or(J::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_compact_ordered_json() {
        let v = obj! {
            "z" => 1i64,
            "a" => "q\"\n\u{1}",
            "f" => 0.5,
            "w" => 664.0,
            "n" => J::Null,
            "e" => J::empty(),
            "l" => arr!["x", true],
        };
        let s = String::from_utf8(v.to_bytes()).unwrap();
        assert_eq!(
            s,
            r#"{"z":1,"a":"q\"\n\u0001","f":0.5,"w":664.0,"n":null,"e":{},"l":["x",true]}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(parsed, v.to_value());
    }
}
