//! Raw JSON text: borrowed views of objects and strings inside a decompressed buffer, so
//! that a record is decoded without building a generic `serde_json::Value` tree.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// An object key, borrowed from the input unless it had escapes.
#[derive(Debug)]
pub struct Key<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The members of one JSON object, in input order, values left as raw text.
#[derive(Debug, Default)]
pub struct Pairs<'a>(pub Vec<(Key<'a>, &'a RawValue)>);

impl<'a> Pairs<'a> {
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k.0 == key).map(|(_, v)| *v)
    }
    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k.0 == key)
    }
}

impl<'de> Deserialize<'de> for Pairs<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(24));
                while let Some(k) = map.next_key::<Key<'de>>()? {
                    out.push((k, map.next_value::<&'de RawValue>()?));
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parse the members of a raw JSON object; `None` if the value is not an object.
pub fn object(raw: &RawValue) -> Option<Pairs<'_>> {
    if !raw.get().starts_with('{') {
        return None;
    }
    serde_json::from_str::<Pairs>(raw.get()).ok()
}

/// The JSON type of a raw value, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

pub fn json_type(raw: &RawValue) -> JsonType {
    match raw.get().as_bytes().first() {
        Some(b'n') => JsonType::Null,
        Some(b't' | b'f') => JsonType::Bool,
        Some(b'"') => JsonType::String,
        Some(b'[') => JsonType::Array,
        Some(b'{') => JsonType::Object,
        _ => JsonType::Number,
    }
}

/// The text of a raw JSON string; `None` if the value is not a string.
pub fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let s = raw.get();
    if !s.starts_with('"') {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(s).ok().map(Cow::Owned)
}

/// The JSON text without insignificant white space (pretty-printed input becomes one line;
/// the meaning, number spelling and string escapes are kept exactly).
pub fn compact(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut in_string = false;
    let mut escaped = false;
    let mut first_ws = None;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if b.is_ascii_whitespace() {
            first_ws = Some(i);
            break;
        }
    }
    let Some(start) = first_ws else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    // Resume the scan at `start`, outside a string by construction.
    let mut in_string = false;
    let mut escaped = false;
    for ch in text[start..].chars() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else if ch == '"' {
            in_string = true;
            out.push(ch);
        } else if !matches!(ch, ' ' | '\n' | '\r' | '\t') {
            out.push(ch);
        }
    }
    Cow::Owned(out)
}

/// Append one JSON Pointer reference token (RFC 6901) to `path`.
pub fn push_pointer(path: &mut String, token: &str) {
    path.push('/');
    for ch in token.chars() {
        match ch {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}

/// Split a JSON Pointer into its unescaped reference tokens.
pub fn pointer_tokens(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_removes_only_insignificant_space() {
        let text = "{ \"a b\" : [1, 2.50] ,\n \"c\": \"x \\\" y\" }";
        assert_eq!(compact(text), "{\"a b\":[1,2.50],\"c\":\"x \\\" y\"}");
        assert!(matches!(compact("{\"a\":\"b c\"}"), Cow::Borrowed(_)));
    }

    #[test]
    fn string_unescapes_only_when_needed() {
        let raw: &RawValue = serde_json::from_str("\"plain\"").unwrap();
        assert!(matches!(string(raw), Some(Cow::Borrowed("plain"))));
        let raw: &RawValue = serde_json::from_str("\"a\\u0041\"").unwrap();
        assert_eq!(string(raw).unwrap(), "aA");
        let raw: &RawValue = serde_json::from_str("12").unwrap();
        assert!(string(raw).is_none());
    }

    #[test]
    fn pointer_round_trip() {
        let mut p = String::new();
        push_pointer(&mut p, "a/b");
        push_pointer(&mut p, "c~d");
        assert_eq!(p, "/a~1b/c~0d");
        assert_eq!(pointer_tokens(&p), vec!["a/b", "c~d"]);
    }

    #[test]
    fn pairs_keep_order_and_escaped_keys() {
        let p: Pairs = serde_json::from_str("{\"b\":1,\"a\\u0042\":{\"x\":[]}}").unwrap();
        assert_eq!(p.0[0].0.0, "b");
        assert_eq!(p.0[1].0.0, "aB");
        assert_eq!(p.get("aB").unwrap().get(), "{\"x\":[]}");
    }
}
