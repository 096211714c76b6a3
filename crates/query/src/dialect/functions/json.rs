//! JSON functions over JSON text with JSONPath strings (Presto's `json_extract`,
//! `json_extract_scalar`, `json_size`, ...) and `json_field`, what `column.key.key` on a JSON
//! column is rewritten to.

use super::*;

/// The path of each row, parsed once when it is the same for all rows.
struct Paths {
    constant: Option<JsonPath>,
    arr: Text,
}

impl Paths {
    fn new(a: &ArrayRef) -> Result<Paths> {
        let arr = strs(a)?;
        let same_for_all = arr.len() > 0
            && arr.is_valid(0)
            && (1..arr.len()).all(|i| arr.is_valid(i) && arr.value(i) == arr.value(0));
        let constant = if same_for_all {
            match JsonPath::parse(arr.value(0)) {
                Ok(p) => Some(p),
                Err(e) => return exec_err!("{e}"),
            }
        } else {
            None
        };
        Ok(Paths { constant, arr })
    }

    fn get(&self, i: usize) -> Result<Option<Cow<'_, JsonPath>>> {
        if let Some(p) = &self.constant {
            return Ok(Some(Cow::Borrowed(p)));
        }
        if self.arr.is_null(i) {
            return Ok(None);
        }
        match JsonPath::parse(self.arr.value(i)) {
            Ok(p) => Ok(Some(Cow::Owned(p))),
            Err(e) => exec_err!("{e}"),
        }
    }
}

pub(super) fn parse_json(s: &str) -> Option<Value> {
    serde_json::from_str(s).ok()
}

pub(super) fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub(super) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `json_extract_scalar`'s answer for the text of the selected value: strings unescaped,
/// numbers and booleans as text, nothing for null, arrays and objects.
pub(super) fn scalar_of_text(text: &str) -> Option<Cow<'_, str>> {
    match text.as_bytes().first()? {
        b'"' if !text.contains('\\') => Some(Cow::Borrowed(&text[1..text.len() - 1])),
        b't' | b'f' => Some(Cow::Borrowed(text)),
        b'n' | b'[' | b'{' => None,
        _ if is_plain_integer(text) => Some(Cow::Borrowed(text)),
        _ => parse_json(text)
            .and_then(|v| scalar_text(&v))
            .map(Cow::Owned),
    }
}

/// `json_extract`'s answer for the text of the selected value: the value as serde_json
/// writes it. The text itself is that where serde_json would write it back unchanged;
/// otherwise (escapes, other numbers, containers: serde_json writes them compact and with
/// sorted keys) it is parsed and written again.
pub(super) fn json_of_text(text: &str) -> Option<Cow<'_, str>> {
    match text.as_bytes().first()? {
        b'"' if !text.contains('\\') => Some(Cow::Borrowed(text)),
        b't' | b'f' | b'n' => Some(Cow::Borrowed(text)),
        _ if is_plain_integer(text) => Some(Cow::Borrowed(text)),
        _ => parse_json(text).map(|v| Cow::Owned(json_text(&v))),
    }
}

/// A non-negative integer that fits a `u64` (JSON allows no leading zeros, so 19 digits
/// always do), which serde_json keeps as an integer and prints back digit for digit.
pub(super) fn is_plain_integer(text: &str) -> bool {
    text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit())
}

/// A JSON path function whose answer is text: `of_text` makes it from the text of the
/// selected value where the path can be scanned for ([`JsonPath::scan`]), which takes about
/// half the time of parsing each document into a tree; `of_value` makes the same answer
/// from a parsed value, for the other paths and documents.
pub(super) fn json_path_text(
    args: &[ArrayRef],
    of_value: impl Fn(&Value) -> Option<String>,
    of_text: impl Fn(&str) -> Option<Cow<'_, str>>,
) -> Result<ArrayRef> {
    let docs = strs(&args[0])?;
    let paths = Paths::new(&args[1])?;
    let mut out = StringBuilder::new();
    let mut tape = Vec::new();
    for i in 0..docs.len() {
        let path = paths.get(i)?;
        let (Some(path), false) = (path, docs.is_null(i)) else {
            out.append_null();
            continue;
        };
        let doc = docs.value(i);
        if path.is_scannable() {
            match path.scan(doc, &mut tape) {
                Scan::Found(range) => {
                    out.append_option(of_text(&doc[range]));
                    continue;
                }
                Scan::Missing => {
                    out.append_null();
                    continue;
                }
                Scan::TooDeep => {}
            }
        }
        out.append_option(
            parse_json(doc)
                .and_then(|v| path.extract(&v))
                .and_then(|v| of_value(&v)),
        );
    }
    Ok(Arc::new(out.finish()))
}

pub(super) fn json_path_fn(
    args: &[ArrayRef],
    f: impl Fn(&Value) -> Option<String>,
) -> Result<ArrayRef> {
    let docs = strs(&args[0])?;
    let paths = Paths::new(&args[1])?;
    let mut out = StringBuilder::new();
    for i in 0..docs.len() {
        let v = if docs.is_null(i) {
            None
        } else {
            parse_json(docs.value(i))
        };
        let r = match (v, paths.get(i)?) {
            (Some(v), Some(p)) => p.extract(&v).and_then(|x| f(&x)),
            _ => None,
        };
        out.append_option(r);
    }
    Ok(Arc::new(out.finish()))
}

pub(super) fn json_extract_scalar(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    json_path_text(args, scalar_text, scalar_of_text)
}

pub(super) fn json_extract(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    json_path_text(args, |v| Some(json_text(v)), json_of_text)
}

/// The answer of `column.key.key` on JSON text for the text of the selected value: a
/// string unescaped, a number or boolean as text, an object or array as its JSON text,
/// nothing for null.
pub(super) fn field_of_text(text: &str) -> Option<Cow<'_, str>> {
    match text.as_bytes().first()? {
        b'[' | b'{' => json_of_text(text),
        _ => scalar_of_text(text),
    }
}

pub(super) fn field_of_value(v: &Value) -> Option<String> {
    match v {
        Value::Array(_) | Value::Object(_) => Some(json_text(v)),
        _ => scalar_text(v),
    }
}

/// `json_field(doc, path)`: what `requestparameters.bucketName` is rewritten to (see
/// `dialect::access`). Keys match as written or, where a document has no key so spelled,
/// in any case: unquoted names in SQL are case-insensitive, JSON keys are not, and queries
/// write `bucketname` as often as `bucketName`.
pub(super) fn json_field(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let docs = strs(&args[0])?;
    let paths = Paths::new(&args[1])?;
    let mut out = StringBuilder::new();
    let mut tape = Vec::new();
    for i in 0..docs.len() {
        let path = paths.get(i)?;
        let (Some(path), false) = (path, docs.is_null(i)) else {
            out.append_null();
            continue;
        };
        let doc = docs.value(i);
        if path.is_scannable() {
            match path.scan(doc, &mut tape) {
                Scan::Found(range) => {
                    out.append_option(field_of_text(&doc[range]));
                    continue;
                }
                Scan::Missing if !path.may_match_any_case(doc) => {
                    out.append_null();
                    continue;
                }
                Scan::Missing | Scan::TooDeep => {}
            }
        }
        out.append_option(parse_json(doc).and_then(|v| {
            path.extract(&v)
                .or_else(|| path.extract_any_case(&v))
                .and_then(|x| field_of_value(&x))
        }));
    }
    Ok(Arc::new(out.finish()))
}

pub(super) fn json_size(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let sizes = json_path_fn(args, |v| {
        Some(
            match v {
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                _ => 0,
            }
            .to_string(),
        )
    })?;
    Ok(cast(&sizes, &DataType::Int64)?)
}

pub(super) fn json_array_length(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let docs = strs(&args[0])?;
    let mut out = Int64Builder::new();
    for i in 0..docs.len() {
        let n = if docs.is_null(i) {
            None
        } else {
            match parse_json(docs.value(i)) {
                Some(Value::Array(a)) => Some(a.len() as i64),
                _ => None,
            }
        };
        out.append_option(n);
    }
    Ok(Arc::new(out.finish()))
}

pub(super) fn json_array_get(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let docs = strs(&args[0])?;
    let idx = cast(&args[1], &DataType::Int64)?;
    let idx = idx.as_primitive::<arrow::datatypes::Int64Type>();
    let mut out = StringBuilder::new();
    for i in 0..docs.len() {
        let r = if docs.is_null(i) || idx.is_null(i) {
            None
        } else {
            match parse_json(docs.value(i)) {
                Some(Value::Array(a)) => {
                    let k = idx.value(i);
                    let k = if k < 0 { a.len() as i64 + k } else { k };
                    (k >= 0).then(|| a.get(k as usize)).flatten().map(json_text)
                }
                _ => None,
            }
        };
        out.append_option(r);
    }
    Ok(Arc::new(out.finish()))
}

pub(super) fn json_parse(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let docs = strs(&args[0])?;
    let mut out = StringBuilder::new();
    for i in 0..docs.len() {
        if docs.is_null(i) {
            out.append_null();
            continue;
        }
        match parse_json(docs.value(i)) {
            Some(v) => out.append_value(json_text(&v)),
            None => return exec_err!("json_parse: invalid JSON: {}", docs.value(i)),
        }
    }
    Ok(Arc::new(out.finish()))
}

pub(super) fn is_json_scalar(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let docs = strs(&args[0])?;
    let mut out = BooleanBuilder::new();
    for i in 0..docs.len() {
        out.append_option(if docs.is_null(i) {
            None
        } else {
            parse_json(docs.value(i)).map(|v| !matches!(v, Value::Array(_) | Value::Object(_)))
        });
    }
    Ok(Arc::new(out.finish()))
}
