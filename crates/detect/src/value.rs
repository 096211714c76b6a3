//! A field's values in one event, as a Sigma matcher sees them: the terminal values reached
//! by a dotted path (a path that crosses an array follows every element; an array at the end
//! gives its elements; an object at the end gives its compact JSON text).

use std::borrow::Cow;

use serde_json::value::RawValue;
use trailsql_ingest::json::{JsonType, json_type, object, string};

/// One terminal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Null,
    Str(Cow<'a, str>),
    /// A JSON number, with its text as written.
    Num(Cow<'a, str>),
    Bool(bool),
    /// An object: its JSON text.
    Object(Cow<'a, str>),
}

impl<'a> Val<'a> {
    /// The text string matchers compare: strings as they are, numbers as written, booleans
    /// as `true`/`false`, objects as their JSON text. Null has none.
    pub fn text(&self) -> Option<&str> {
        match self {
            Val::Null => None,
            Val::Str(s) | Val::Num(s) | Val::Object(s) => Some(s),
            Val::Bool(true) => Some("true"),
            Val::Bool(false) => Some("false"),
        }
    }

    /// The number a numeric comparison uses: a number, or a string that parses as one.
    pub fn number(&self) -> Option<f64> {
        match self {
            Val::Num(s) | Val::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// What a field holds in one event: `None` when the path reaches nothing (the field is
/// missing), else every terminal value reached (possibly none: an empty array).
pub type Values<'a> = Option<Vec<Val<'a>>>;

/// True when the field is missing or is a single null: what Sigma's `null` value matches.
pub fn is_null(v: &Values<'_>) -> bool {
    match v {
        None => true,
        Some(vals) => vals.len() == 1 && vals[0] == Val::Null,
    }
}

/// The values of `path` inside the JSON text `doc` (an empty path: the document itself).
pub fn json_path<'a>(doc: &'a str, path: &[String]) -> Values<'a> {
    let raw: &RawValue = serde_json::from_str(doc).ok()?;
    let mut out = Vec::new();
    collect(raw, path, &mut out).then_some(out)
}

/// Follow `path` from `raw`, pushing terminal values; true when some terminal was reached.
pub fn collect<'a>(raw: &'a RawValue, path: &[String], out: &mut Vec<Val<'a>>) -> bool {
    match path.split_first() {
        None => {
            terminal(raw, out);
            true
        }
        Some((key, rest)) => match json_type(raw) {
            JsonType::Object => object(raw)
                .and_then(|pairs| pairs.get(key))
                .is_some_and(|child| collect(child, rest, out)),
            JsonType::Array => {
                let mut reached = false;
                for item in array(raw) {
                    reached |= collect(item, path, out);
                }
                reached
            }
            _ => false,
        },
    }
}

fn array(raw: &RawValue) -> Vec<&RawValue> {
    serde_json::from_str::<Vec<&RawValue>>(raw.get()).unwrap_or_default()
}

fn terminal<'a>(raw: &'a RawValue, out: &mut Vec<Val<'a>>) {
    match json_type(raw) {
        JsonType::Null => out.push(Val::Null),
        JsonType::Bool => out.push(Val::Bool(raw.get().starts_with('t'))),
        JsonType::Number => out.push(Val::Num(Cow::Borrowed(raw.get()))),
        JsonType::String => out.push(string(raw).map_or(Val::Null, Val::Str)),
        JsonType::Object => out.push(Val::Object(Cow::Borrowed(raw.get()))),
        JsonType::Array => array(raw).into_iter().for_each(|i| terminal(i, out)),
    }
}

/// The values of the path `tokens` in the `unmappedfields` document (a JSON object keyed by
/// JSON Pointer): the entry whose pointer is the longest prefix of the path, followed into.
pub fn unmapped<'a>(doc: &'a str, tokens: &[String]) -> Values<'a> {
    let raw: &RawValue = serde_json::from_str(doc).ok()?;
    let pairs = object(raw)?;
    let mut pointer = String::new();
    let mut best = None;
    for (i, t) in tokens.iter().enumerate() {
        trailsql_ingest::json::push_pointer(&mut pointer, t);
        if let Some(v) = pairs.get(&pointer) {
            best = Some((i + 1, v));
        }
    }
    let (used, v) = best?;
    let mut out = Vec::new();
    collect(v, &tokens[used..], &mut out).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.')
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    }

    #[test]
    fn paths_cross_arrays_and_objects_give_their_text() {
        let doc = r#"{"containerDefinitions":[{"command":["sh","-c","x"]},{"command":"y"},{}],"n":1.50,"b":true,"o":{"k":"v","z":null}}"#;
        let got = json_path(doc, &p("containerDefinitions.command")).unwrap();
        let texts: Vec<_> = got.iter().map(|v| v.text().unwrap()).collect();
        assert_eq!(texts, ["sh", "-c", "x", "y"]);
        assert_eq!(
            json_path(doc, &p("o")).unwrap(),
            vec![Val::Object(r#"{"k":"v","z":null}"#.into())]
        );
        assert_eq!(json_path(doc, &p("n")).unwrap()[0].text(), Some("1.50"));
        assert_eq!(json_path(doc, &p("b")).unwrap()[0].text(), Some("true"));
        assert_eq!(json_path(doc, &p("o.z")).unwrap(), vec![Val::Null]);
        assert!(is_null(&json_path(doc, &p("o.z"))));
        assert_eq!(json_path(doc, &p("o.missing")), None);
        assert!(is_null(&json_path(doc, &p("o.missing"))));
        assert_eq!(json_path(doc, &p("containerDefinitions.nope")), None);
        assert_eq!(json_path(doc, &p("")).unwrap()[0].text(), Some(doc));
        assert_eq!(json_path("[]", &p("")), Some(vec![]));
    }

    #[test]
    fn unmapped_lookup_takes_the_longest_pointer_prefix() {
        let doc = r#"{"/brandNew":{"a":[{"b":"x"}]},"/userIdentity/newField":"n","/errorCode":null,"/a~1b":"slash"}"#;
        assert_eq!(
            unmapped(doc, &p("brandNew.a.b")).unwrap(),
            vec![Val::Str("x".into())]
        );
        assert_eq!(
            unmapped(doc, &p("userIdentity.newField")).unwrap(),
            vec![Val::Str("n".into())]
        );
        assert_eq!(unmapped(doc, &p("errorCode")).unwrap(), vec![Val::Null]);
        assert_eq!(unmapped(doc, &p("userIdentity.other")), None);
        assert_eq!(
            unmapped(doc, &["a/b".to_string()]).unwrap(),
            vec![Val::Str("slash".into())]
        );
    }
}
