//! The Presto/Trino (Athena) and CloudTrail Lake functions that DataFusion lacks or spells
//! differently, as DataFusion scalar UDFs: JSON with JSONPath strings, ISO 8601 and
//! MySQL/Joda-format time functions, `date_add`/`date_diff`, `element_at` on JSON text and
//! arrays, `contains` on arrays, two-argument `replace`, `regexp_extract`.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::StringViewArray;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Date32Builder, Int64Builder, StringArray,
    StringBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder, new_null_array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveDateTime, TimeZone, Utc};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;

use trailsql_ingest::time::parse_time_or_date as parse_iso_timestamp;

use super::jsonpath::{JsonPath, Scan};

type Coerce = fn(&[DataType]) -> Result<Vec<DataType>>;
type Ret = fn(&[DataType]) -> Result<DataType>;
type Eval = fn(&[ArrayRef], usize) -> Result<ArrayRef>;

/// A scalar function evaluated on whole arrays, with its own coercion and return type.
struct Udf {
    name: &'static str,
    signature: Signature,
    coerce: Coerce,
    ret: Ret,
    eval: Eval,
}

impl std::fmt::Debug for Udf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Udf").field("name", &self.name).finish()
    }
}
impl PartialEq for Udf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Udf {}
impl Hash for Udf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for Udf {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        (self.coerce)(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.ret)(arg_types)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let n = if all_scalar { 1 } else { args.number_rows };
        let arrays = args
            .args
            .into_iter()
            .map(|a| a.into_array(n))
            .collect::<Result<Vec<_>>>()?;
        let out = (self.eval)(&arrays, n)?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

fn udf(name: &'static str, coerce: Coerce, ret: Ret, eval: Eval) -> ScalarUDF {
    ScalarUDF::new_from_impl(Udf {
        name,
        signature: Signature::user_defined(Volatility::Immutable),
        coerce,
        ret,
        eval,
    })
}

/// Every function of this module.
pub fn all() -> Vec<ScalarUDF> {
    vec![
        udf("json_extract_scalar", strings_2, utf8, json_extract_scalar),
        udf("json_extract", strings_2, utf8, json_extract),
        udf("json_field", strings_2, utf8, json_field),
        udf("json_array_length", strings_1, int64, json_array_length),
        udf("json_array_get", string_int, utf8, json_array_get),
        udf("json_size", strings_2, int64, json_size),
        udf("json_parse", strings_1, utf8, json_parse),
        udf("json_format", strings_1, utf8, json_parse),
        udf("is_json_scalar", strings_1, boolean, is_json_scalar),
        udf("element_at", element_at_coerce, element_at_ret, element_at),
        udf("contains", contains_coerce, boolean, contains),
        udf("replace", replace_coerce, utf8, replace),
        udf(
            "regexp_extract",
            regexp_extract_coerce,
            utf8,
            regexp_extract,
        ),
        udf(
            "from_iso8601_timestamp",
            time_or_string_1,
            timestamp,
            from_iso8601_timestamp,
        ),
        udf("from_iso8601_date", strings_1, date32, from_iso8601_date),
        udf("to_iso8601", time_or_string_1, utf8, to_iso8601),
        udf("date_parse", strings_2, timestamp, date_parse),
        udf("parse_datetime", strings_2, timestamp, parse_datetime),
        udf("date_format", time_and_string, utf8, date_format),
        udf("format_datetime", time_and_string, utf8, format_datetime),
        udf("date_add", date_add_coerce, date_add_ret, date_add),
        udf("date_diff", date_diff_coerce, int64, date_diff),
        udf(
            "resource_arns",
            resources_coerce,
            string_list,
            resource_arns,
        ),
        udf(
            "resource_types",
            resources_coerce,
            string_list,
            resource_types,
        ),
    ]
}

// ---- coercions and return types ----

fn n_args(name: &str, types: &[DataType], counts: &[usize]) -> Result<()> {
    if counts.contains(&types.len()) {
        Ok(())
    } else {
        plan_err!("{name} takes {counts:?} arguments, got {}", types.len())
    }
}

/// The string type an argument is taken as: views stay views (the lake's top-level strings
/// are read as views, and a cast would copy every value), anything else becomes `Utf8`.
fn text(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View => DataType::Utf8View,
        _ => DataType::Utf8,
    }
}
fn strings_1(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("function", t, &[1])?;
    Ok(vec![text(&t[0])])
}
fn strings_2(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("function", t, &[2])?;
    Ok(vec![text(&t[0]), text(&t[1])])
}
fn string_int(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("function", t, &[2])?;
    Ok(vec![text(&t[0]), DataType::Int64])
}
fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}
fn is_time(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    )
}
fn time_or_string_1(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("function", t, &[1])?;
    Ok(vec![if is_time(&t[0]) {
        ts_type()
    } else {
        DataType::Utf8
    }])
}
fn time_and_string(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("function", t, &[2])?;
    Ok(vec![
        if is_time(&t[0]) {
            ts_type()
        } else {
            DataType::Utf8
        },
        DataType::Utf8,
    ])
}
fn utf8(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Utf8)
}
fn int64(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Int64)
}
fn boolean(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Boolean)
}
fn timestamp(_: &[DataType]) -> Result<DataType> {
    Ok(ts_type())
}
fn date32(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Date32)
}

/// A string argument, as its own array when it is `Utf8` or `Utf8View`.
enum Text {
    Plain(StringArray),
    View(StringViewArray),
}

impl Text {
    fn len(&self) -> usize {
        match self {
            Text::Plain(a) => a.len(),
            Text::View(a) => a.len(),
        }
    }
    fn is_null(&self, i: usize) -> bool {
        match self {
            Text::Plain(a) => a.is_null(i),
            Text::View(a) => a.is_null(i),
        }
    }
    fn is_valid(&self, i: usize) -> bool {
        !self.is_null(i)
    }
    fn value(&self, i: usize) -> &str {
        match self {
            Text::Plain(a) => a.value(i),
            Text::View(a) => a.value(i),
        }
    }
}

fn strs(a: &ArrayRef) -> Result<Text> {
    Ok(match a.data_type() {
        DataType::Utf8View => Text::View(a.as_string_view().clone()),
        _ => Text::Plain(cast(a, &DataType::Utf8)?.as_string::<i32>().clone()),
    })
}
fn micros(a: &ArrayRef) -> Result<TimestampMicrosecondArray> {
    Ok(cast(a, &ts_type())?.as_primitive().clone())
}

// ---- JSON ----

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

fn parse_json(s: &str) -> Option<Value> {
    serde_json::from_str(s).ok()
}

fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `json_extract_scalar`'s answer for the text of the selected value: strings unescaped,
/// numbers and booleans as text, nothing for null, arrays and objects.
fn scalar_of_text(text: &str) -> Option<Cow<'_, str>> {
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
fn json_of_text(text: &str) -> Option<Cow<'_, str>> {
    match text.as_bytes().first()? {
        b'"' if !text.contains('\\') => Some(Cow::Borrowed(text)),
        b't' | b'f' | b'n' => Some(Cow::Borrowed(text)),
        _ if is_plain_integer(text) => Some(Cow::Borrowed(text)),
        _ => parse_json(text).map(|v| Cow::Owned(json_text(&v))),
    }
}

/// A non-negative integer that fits a `u64` (JSON allows no leading zeros, so 19 digits
/// always do), which serde_json keeps as an integer and prints back digit for digit.
fn is_plain_integer(text: &str) -> bool {
    text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit())
}

/// A JSON path function whose answer is text: `of_text` makes it from the text of the
/// selected value where the path can be scanned for ([`JsonPath::scan`]), which takes about
/// half the time of parsing each document into a tree; `of_value` makes the same answer
/// from a parsed value, for the other paths and documents.
fn json_path_text(
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

fn json_path_fn(args: &[ArrayRef], f: impl Fn(&Value) -> Option<String>) -> Result<ArrayRef> {
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

fn json_extract_scalar(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    json_path_text(args, scalar_text, scalar_of_text)
}

fn json_extract(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    json_path_text(args, |v| Some(json_text(v)), json_of_text)
}

/// The answer of `column.key.key` on JSON text for the text of the selected value: a
/// string unescaped, a number or boolean as text, an object or array as its JSON text,
/// nothing for null.
fn field_of_text(text: &str) -> Option<Cow<'_, str>> {
    match text.as_bytes().first()? {
        b'[' | b'{' => json_of_text(text),
        _ => scalar_of_text(text),
    }
}

fn field_of_value(v: &Value) -> Option<String> {
    match v {
        Value::Array(_) | Value::Object(_) => Some(json_text(v)),
        _ => scalar_text(v),
    }
}

/// `json_field(doc, path)`: what `requestparameters.bucketName` is rewritten to (see
/// `dialect::access`). Keys match as written or, where a document has no key so spelled,
/// in any case: unquoted names in SQL are case-insensitive, JSON keys are not, and queries
/// write `bucketname` as often as `bucketName`.
fn json_field(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
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

fn json_size(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
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

fn json_array_length(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
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

fn json_array_get(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
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

fn json_parse(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
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

fn is_json_scalar(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
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

// ---- element_at, contains ----

fn element_at_coerce(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("element_at", t, &[2])?;
    match &t[0] {
        DataType::List(_) | DataType::LargeList(_) => Ok(vec![t[0].clone(), DataType::Int64]),
        DataType::Map(..) => Ok(t.to_vec()),
        _ => Ok(vec![DataType::Utf8, DataType::Utf8]),
    }
}

fn element_at_ret(t: &[DataType]) -> Result<DataType> {
    match &t[0] {
        DataType::List(f) | DataType::LargeList(f) => Ok(f.data_type().clone()),
        DataType::Map(f, _) => match f.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => Ok(fields[1].data_type().clone()),
            _ => plan_err!("element_at: unexpected map type"),
        },
        _ => Ok(DataType::Utf8),
    }
}

/// `element_at(array, i)` (1-based, negative from the end, NULL past the end) and, as in
/// CloudTrail Lake, `element_at(json_object_text, key)`.
fn element_at(args: &[ArrayRef], n: usize) -> Result<ArrayRef> {
    match args[0].data_type() {
        DataType::List(field) => {
            let list = args[0].as_list::<i32>();
            let idx = cast(&args[1], &DataType::Int64)?;
            let idx = idx.as_primitive::<arrow::datatypes::Int64Type>();
            let mut take = arrow::array::UInt64Builder::new();
            let values = list.values();
            for i in 0..n {
                if list.is_null(i) || idx.is_null(i) {
                    take.append_null();
                    continue;
                }
                let (start, end) = (
                    list.value_offsets()[i] as i64,
                    list.value_offsets()[i + 1] as i64,
                );
                let k = idx.value(i);
                let pos = if k > 0 {
                    start + k - 1
                } else if k < 0 {
                    end + k
                } else {
                    -1
                };
                if pos >= start && pos < end {
                    take.append_value(pos as u64);
                } else {
                    take.append_null();
                }
            }
            let indices = take.finish();
            if values.is_empty() {
                return Ok(new_null_array(field.data_type(), n));
            }
            Ok(arrow::compute::take(values.as_ref(), &indices, None)?)
        }
        DataType::Map(..) => map_value(&args[0], &args[1], n),
        _ => {
            let docs = strs(&args[0])?;
            let keys = strs(&args[1])?;
            let mut out = StringBuilder::new();
            for i in 0..docs.len() {
                let r = if docs.is_null(i) || keys.is_null(i) {
                    None
                } else {
                    match parse_json(docs.value(i)) {
                        Some(Value::Object(o)) => o.get(keys.value(i)).and_then(|v| match v {
                            Value::Null => None,
                            Value::String(s) => Some(s.clone()),
                            other => Some(json_text(other)),
                        }),
                        _ => None,
                    }
                };
                out.append_option(r);
            }
            Ok(Arc::new(out.finish()))
        }
    }
}

/// `element_at(map, key)`: the value of the entry whose key equals `key` (keys compared as
/// text), NULL when there is none.
fn map_value(map: &ArrayRef, key: &ArrayRef, n: usize) -> Result<ArrayRef> {
    let map = map.as_map();
    let keys = strs(&cast(map.keys(), &DataType::Utf8)?.clone())?;
    let wanted = strs(key)?;
    let mut take = arrow::array::UInt64Builder::new();
    for i in 0..n {
        let (start, end) = (
            map.value_offsets()[i] as usize,
            map.value_offsets()[i + 1] as usize,
        );
        let pos = (map.is_valid(i) && wanted.is_valid(i))
            .then(|| {
                // A map built from a list of pairs may repeat a key: the last one wins.
                (start..end)
                    .rev()
                    .find(|&k| keys.is_valid(k) && keys.value(k) == wanted.value(i))
            })
            .flatten();
        take.append_option(pos.map(|p| p as u64));
    }
    Ok(arrow::compute::take(
        map.values().as_ref(),
        &take.finish(),
        None,
    )?)
}

fn contains_coerce(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("contains", t, &[2])?;
    match &t[0] {
        DataType::List(f) => Ok(vec![t[0].clone(), f.data_type().clone()]),
        _ => Ok(vec![DataType::Utf8, DataType::Utf8]),
    }
}

/// `contains(array, element)` (Presto) and `contains(string, substring)` (DataFusion's).
fn contains(args: &[ArrayRef], n: usize) -> Result<ArrayRef> {
    let mut out = BooleanBuilder::new();
    match args[0].data_type() {
        DataType::List(_) => {
            let list = args[0].as_list::<i32>();
            let needle = &args[1];
            for i in 0..n {
                if list.is_null(i) || needle.is_null(i) {
                    out.append_null();
                    continue;
                }
                let items = list.value(i);
                let scalar = ScalarValue::try_from_array(needle, i)?;
                let mut found = false;
                for j in 0..items.len() {
                    if ScalarValue::try_from_array(&items, j)? == scalar {
                        found = true;
                        break;
                    }
                }
                out.append_value(found);
            }
        }
        _ => {
            let hay = strs(&args[0])?;
            let needle = strs(&args[1])?;
            for i in 0..hay.len() {
                out.append_option(
                    (hay.is_valid(i) && needle.is_valid(i))
                        .then(|| hay.value(i).contains(needle.value(i))),
                );
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

// ---- strings ----

fn replace_coerce(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("replace", t, &[2, 3])?;
    Ok(vec![DataType::Utf8; t.len()])
}

/// `replace(s, search)` removes `search` (Presto); `replace(s, search, with)` as usual.
fn replace(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let s = strs(&args[0])?;
    let from = strs(&args[1])?;
    let to = if args.len() == 3 {
        Some(strs(&args[2])?)
    } else {
        None
    };
    let mut out = StringBuilder::new();
    for i in 0..s.len() {
        if s.is_null(i) || from.is_null(i) || to.as_ref().is_some_and(|t| t.is_null(i)) {
            out.append_null();
            continue;
        }
        let with = to.as_ref().map_or("", |t| t.value(i));
        let f = from.value(i);
        out.append_value(if f.is_empty() {
            s.value(i).to_owned()
        } else {
            s.value(i).replace(f, with)
        });
    }
    Ok(Arc::new(out.finish()))
}

fn regexp_extract_coerce(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("regexp_extract", t, &[2, 3])?;
    let mut v = vec![DataType::Utf8, DataType::Utf8];
    if t.len() == 3 {
        v.push(DataType::Int64);
    }
    Ok(v)
}

/// `regexp_extract(s, pattern[, group])`: the first match (or its group), NULL if none.
fn regexp_extract(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let s = strs(&args[0])?;
    let pats = strs(&args[1])?;
    let groups = if args.len() == 3 {
        Some(cast(&args[2], &DataType::Int64)?)
    } else {
        None
    };
    let mut out = StringBuilder::new();
    let mut cache: Option<(String, regex::Regex)> = None;
    for i in 0..s.len() {
        if s.is_null(i) || pats.is_null(i) {
            out.append_null();
            continue;
        }
        let p = pats.value(i);
        if cache.as_ref().is_none_or(|(cp, _)| cp != p) {
            match regex::Regex::new(p) {
                Ok(r) => cache = Some((p.to_owned(), r)),
                Err(e) => return exec_err!("regexp_extract: invalid pattern {p:?}: {e}"),
            }
        }
        let re = &cache.as_ref().expect("compiled above").1;
        let g = groups.as_ref().map_or(0, |g| {
            g.as_primitive::<arrow::datatypes::Int64Type>().value(i)
        }) as usize;
        if g > re.captures_len() - 1 {
            return exec_err!("regexp_extract: pattern has no group {g}");
        }
        out.append_option(
            re.captures(s.value(i))
                .and_then(|c| c.get(g))
                .map(|m| m.as_str().to_owned()),
        );
    }
    Ok(Arc::new(out.finish()))
}

// ---- CloudTrail resources ----

fn resources_coerce(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("resource_arns", t, &[1])?;
    Ok(t.to_vec())
}

fn string_list(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::List(Arc::new(arrow::datatypes::Field::new(
        "item",
        DataType::Utf8,
        true,
    ))))
}

/// One field of every entry of a `resources` list, as a list of strings.
fn resource_field(args: &[ArrayRef], field: &str) -> Result<ArrayRef> {
    let mut out = arrow::array::ListBuilder::new(StringBuilder::new());
    let DataType::List(_) = args[0].data_type() else {
        return exec_err!("resource_{field}s takes the resources column");
    };
    let list = args[0].as_list::<i32>();
    for i in 0..list.len() {
        if list.is_null(i) {
            out.append(true);
            continue;
        }
        let items = list.value(i);
        let items = items.as_struct();
        if let Some(col) = items.column_by_name(field) {
            let col = strs(col)?;
            for j in 0..col.len() {
                if col.is_valid(j) && !items.is_null(j) {
                    out.values().append_value(col.value(j));
                }
            }
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

fn resource_arns(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    resource_field(args, "arn")
}

fn resource_types(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    resource_field(args, "type")
}

// ---- time ----

fn from_iso8601_timestamp(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    if matches!(args[0].data_type(), DataType::Timestamp(..)) {
        return Ok(cast(&args[0], &ts_type())?);
    }
    let s = strs(&args[0])?;
    let mut out = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for i in 0..s.len() {
        if s.is_null(i) {
            out.append_null();
            continue;
        }
        match parse_iso_timestamp(s.value(i)) {
            Some(t) => out.append_value(t),
            None => {
                return exec_err!(
                    "from_iso8601_timestamp: invalid ISO 8601 time {:?}",
                    s.value(i)
                );
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

fn from_iso8601_date(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let s = strs(&args[0])?;
    let mut out = Date32Builder::new();
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    for i in 0..s.len() {
        if s.is_null(i) {
            out.append_null();
            continue;
        }
        let v = s.value(i).trim();
        let d = NaiveDate::parse_from_str(v, "%Y-%m-%d").ok().or_else(|| {
            parse_iso_timestamp(v)
                .and_then(DateTime::from_timestamp_micros)
                .map(|t| t.date_naive())
        });
        match d {
            Some(d) => out.append_value((d - epoch).num_days() as i32),
            None => return exec_err!("from_iso8601_date: invalid ISO 8601 date {v:?}"),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn to_iso8601(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    if !matches!(args[0].data_type(), DataType::Timestamp(..)) {
        return Ok(cast(&args[0], &DataType::Utf8)?);
    }
    let t = micros(&args[0])?;
    let mut out = StringBuilder::new();
    for i in 0..t.len() {
        out.append_option(t.is_valid(i).then(|| {
            let dt = DateTime::from_timestamp_micros(t.value(i)).unwrap_or_default();
            dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
        }));
    }
    Ok(Arc::new(out.finish()))
}

/// MySQL format specifiers (`%Y-%m-%d %H:%i:%s`, Presto's date_parse/date_format) as chrono's.
pub fn mysql_to_chrono(fmt: &str) -> String {
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(s) = chars.next() else { break };
        out.push_str(match s {
            'Y' => "%Y",
            'y' => "%y",
            'm' => "%m",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'H' => "%H",
            'k' => "%-H",
            'h' | 'I' => "%I",
            'l' => "%-I",
            'i' => "%M",
            's' | 'S' => "%S",
            'f' => "%6f",
            'p' => "%p",
            'M' => "%B",
            'b' => "%b",
            'W' => "%A",
            'a' => "%a",
            'j' => "%j",
            'T' => "%H:%M:%S",
            'r' => "%I:%M:%S %p",
            'v' => "%V",
            'x' => "%G",
            'w' => "%w",
            '%' => "%%",
            other => {
                out.push(other);
                continue;
            }
        });
    }
    out
}

/// Joda-Time patterns (`yyyy-MM-dd'T'HH:mm:ss`, Presto's parse_datetime/format_datetime).
pub fn joda_to_chrono(fmt: &str) -> String {
    let chars: Vec<char> = fmt.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                out.push(chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        let spec = match (c, n) {
            ('y', 2) => "%y",
            ('y', _) | ('Y', _) => "%Y",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('h', _) => "%I",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', _) => "%3f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('Z', _) | ('z', _) => "%z",
            ('D', _) => "%j",
            _ => {
                for _ in 0..n {
                    out.push(c);
                }
                i += n;
                continue;
            }
        };
        out.push_str(spec);
        i += n;
    }
    out
}

fn parse_with(s: &str, fmt: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
        return Some(dt.with_timezone(&Utc).timestamp_micros());
    }
    if let Ok(ndt) = NaiveDateTime::parse_from_str(s, fmt) {
        return Some(Utc.from_utc_datetime(&ndt).timestamp_micros());
    }
    NaiveDate::parse_from_str(s, fmt).ok().map(|d| {
        d.and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros()
    })
}

fn parse_fn(args: &[ArrayRef], name: &str, translate: fn(&str) -> String) -> Result<ArrayRef> {
    let s = strs(&args[0])?;
    let f = strs(&args[1])?;
    let mut out = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for i in 0..s.len() {
        if s.is_null(i) || f.is_null(i) {
            out.append_null();
            continue;
        }
        match parse_with(s.value(i), &translate(f.value(i))) {
            Some(t) => out.append_value(t),
            None => {
                return exec_err!(
                    "{name}: {:?} does not match format {:?}",
                    s.value(i),
                    f.value(i)
                );
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

fn date_parse(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    parse_fn(args, "date_parse", mysql_to_chrono)
}

fn parse_datetime(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    parse_fn(args, "parse_datetime", joda_to_chrono)
}

fn format_fn(args: &[ArrayRef], translate: fn(&str) -> String) -> Result<ArrayRef> {
    let t = if matches!(
        args[0].data_type(),
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    ) {
        micros(&args[0])?
    } else {
        let s = strs(&args[0])?;
        let v: Vec<Option<i64>> = (0..s.len())
            .map(|i| {
                s.is_valid(i)
                    .then(|| parse_iso_timestamp(s.value(i)))
                    .flatten()
            })
            .collect();
        TimestampMicrosecondArray::from(v).with_timezone("UTC")
    };
    let f = strs(&args[1])?;
    let mut out = StringBuilder::new();
    for i in 0..t.len() {
        if t.is_null(i) || f.is_null(i) {
            out.append_null();
            continue;
        }
        let dt = DateTime::from_timestamp_micros(t.value(i)).unwrap_or_default();
        let fmt = translate(f.value(i));
        let mut s = String::new();
        if std::fmt::write(&mut s, format_args!("{}", dt.format(&fmt))).is_err() {
            return exec_err!("invalid format {:?}", f.value(i));
        }
        out.append_value(s);
    }
    Ok(Arc::new(out.finish()))
}

fn date_format(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    format_fn(args, mysql_to_chrono)
}

fn format_datetime(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    format_fn(args, joda_to_chrono)
}

fn date_add_coerce(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("date_add", t, &[3])?;
    let third = if t[2] == DataType::Date32 {
        DataType::Date32
    } else {
        ts_type()
    };
    Ok(vec![DataType::Utf8, DataType::Int64, third])
}

fn date_add_ret(t: &[DataType]) -> Result<DataType> {
    Ok(if t.get(2) == Some(&DataType::Date32) {
        DataType::Date32
    } else {
        ts_type()
    })
}

fn add_unit(t: DateTime<Utc>, unit: &str, n: i64) -> Option<DateTime<Utc>> {
    let months = |m: i64| {
        if m >= 0 {
            t.checked_add_months(Months::new(m as u32))
        } else {
            t.checked_sub_months(Months::new((-m) as u32))
        }
    };
    Some(match unit.to_ascii_lowercase().trim_end_matches('s') {
        "millisecond" => t + Duration::milliseconds(n),
        "second" => t + Duration::seconds(n),
        "minute" => t + Duration::minutes(n),
        "hour" => t + Duration::hours(n),
        "day" => t + Duration::days(n),
        "week" => t + Duration::weeks(n),
        "month" => months(n)?,
        "quarter" => months(3 * n)?,
        "year" => months(12 * n)?,
        _ => return None,
    })
}

/// `date_add(unit, value, timestamp)`.
fn date_add(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let units = strs(&args[0])?;
    let n = cast(&args[1], &DataType::Int64)?;
    let n = n.as_primitive::<arrow::datatypes::Int64Type>();
    let is_date = args[2].data_type() == &DataType::Date32;
    let t = micros(&args[2])?;
    let mut out = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for i in 0..t.len() {
        if units.is_null(i) || n.is_null(i) || t.is_null(i) {
            out.append_null();
            continue;
        }
        let dt = DateTime::from_timestamp_micros(t.value(i)).unwrap_or_default();
        match add_unit(dt, units.value(i), n.value(i)) {
            Some(r) => out.append_value(r.timestamp_micros()),
            None => return exec_err!("date_add: unknown unit {:?}", units.value(i)),
        }
    }
    let res: ArrayRef = Arc::new(out.finish());
    if is_date {
        Ok(cast(&res, &DataType::Date32)?)
    } else {
        Ok(res)
    }
}

fn date_diff_coerce(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("date_diff", t, &[3])?;
    Ok(vec![DataType::Utf8, ts_type(), ts_type()])
}

/// `date_diff(unit, t1, t2)`: whole units from t1 to t2.
fn date_diff(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let units = strs(&args[0])?;
    let a = micros(&args[1])?;
    let b = micros(&args[2])?;
    let mut out = Int64Builder::new();
    for i in 0..a.len() {
        if units.is_null(i) || a.is_null(i) || b.is_null(i) {
            out.append_null();
            continue;
        }
        let (x, y) = (a.value(i), b.value(i));
        let d = y - x;
        let months = || {
            let (p, q) = (
                DateTime::from_timestamp_micros(x).unwrap_or_default(),
                DateTime::from_timestamp_micros(y).unwrap_or_default(),
            );
            let mut m = (q.year() - p.year()) as i64 * 12 + q.month() as i64 - p.month() as i64;
            // A month is complete only when the day and time have come round again.
            if m > 0 && add_unit(p, "month", m).is_some_and(|s| s > q) {
                m -= 1;
            } else if m < 0 && add_unit(p, "month", m).is_some_and(|s| s < q) {
                m += 1;
            }
            m
        };
        let v = match units.value(i).to_ascii_lowercase().trim_end_matches('s') {
            "millisecond" => d / 1_000,
            "second" => d / 1_000_000,
            "minute" => d / 60_000_000,
            "hour" => d / 3_600_000_000,
            "day" => d / 86_400_000_000,
            "week" => d / (7 * 86_400_000_000),
            "month" => months(),
            "quarter" => months() / 3,
            "year" => months() / 12,
            other => return exec_err!("date_diff: unknown unit {other:?}"),
        };
        out.append_value(v);
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer before the scan existed: the whole document parsed, then the path applied.
    fn reference(
        doc: Option<&str>,
        path: &str,
        f: impl Fn(&Value) -> Option<String>,
    ) -> Option<String> {
        let v = parse_json(doc?)?;
        JsonPath::parse(path)
            .unwrap()
            .extract(&v)
            .and_then(|x| f(&x))
    }

    fn str_array(v: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    /// The function's answers, which must be the same for documents and paths given as
    /// `Utf8` and as `Utf8View` (the lake's top-level columns are read as views).
    fn run(eval: Eval, docs: &[Option<&str>], paths: &[&str]) -> Vec<Option<String>> {
        let paths: Vec<Option<&str>> = paths.iter().map(|p| Some(*p)).collect();
        let answers = |docs: ArrayRef, paths: ArrayRef| -> Vec<Option<String>> {
            let n = docs.len();
            let out = eval(&[docs, paths], n).unwrap();
            let out = out.as_string::<i32>();
            (0..out.len())
                .map(|i| out.is_valid(i).then(|| out.value(i).to_owned()))
                .collect()
        };
        let plain = answers(str_array(docs), str_array(&paths));
        let views = answers(
            Arc::new(StringViewArray::from(docs.to_vec())),
            Arc::new(StringViewArray::from(paths.clone())),
        );
        assert_eq!(plain, views, "the same answers from views");
        assert_eq!(plain.len(), docs.len());
        plain
    }

    /// Both functions answer as the reference for every document and path.
    fn assert_same_as_reference(docs: &[Option<&str>], paths: &[&str]) {
        for path in paths {
            let per_row = vec![*path; docs.len()];
            let scalar = run(json_extract_scalar, docs, &per_row);
            let json = run(json_extract, docs, &per_row);
            for (i, doc) in docs.iter().enumerate() {
                let want = reference(*doc, path, scalar_text);
                assert_eq!(scalar[i], want, "json_extract_scalar({doc:?}, {path:?})");
                let want = reference(*doc, path, |v| Some(json_text(v)));
                assert_eq!(json[i], want, "json_extract({doc:?}, {path:?})");
            }
        }
    }

    const PATHS: &[&str] = &[
        "$",
        "$.a",
        "$.b",
        "$.a.b",
        "$.a.b[0]",
        "$.a.b[1]",
        "$.a.b[1].c",
        "$.a.b[7]",
        "$.a[0]",
        "$[0]",
        "$[1]",
        "$[2].a",
        "$.bucketName",
        "$.key",
        "$.ConsoleLogin",
        "$.MFAUsed",
        "$.n",
        "$.s",
        "$.é",
        r#"$["é"]"#,
        r#"$["key with space"]"#,
        "$['aws:Src']",
        r#"$["a\"b"]"#,
        r#"$["x-amz-copy-source"]"#,
        // Not scanned: these must still answer through the parsed document.
        "$.a.b[-1]",
        "$.a.*",
        "$.a.b[*]",
        "$[*]",
    ];

    #[test]
    fn json_path_answers_match_the_parsed_document() {
        let deep = |n: usize| format!(r#"{{"a":1,"d":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
        let deep_first = |n: usize| format!(r#"{{"d":{}1{},"a":2}}"#, "[".repeat(n), "]".repeat(n));
        let generated = [
            deep(90),
            deep(98),
            deep(99),
            deep(100),
            deep(126),
            deep(127),
            deep(128),
            deep(200),
            deep(300),
            deep_first(126),
            deep_first(127),
            deep_first(128),
            format!(r#"{{"a":{},"n":1}}"#, "9".repeat(310)),
            format!(r#"{{"a":{},"n":1}}"#, "9".repeat(290)),
            format!(r#"{{"n":{}}}"#, "9".repeat(300)),
            format!(r#"{{"n":{}.5}}"#, "9".repeat(5000)),
            format!(r#"{{"n":0.{}1}}"#, "0".repeat(400)),
        ];
        let mut docs: Vec<Option<&str>> = vec![
            None,
            // CloudTrail-like requestParameters and additionalEventData.
            Some(
                r#"{"bucketName":"my-bucket-12","key":"path/to/object.txt","Host":"my-bucket-12.s3.amazonaws.com","x-id":"GetObject"}"#,
            ),
            Some(
                r#"{"ConsoleLogin":"Success","MFAUsed":"No","LoginTo":"https://console.aws.amazon.com/"}"#,
            ),
            Some(r#"{"MFAUsed":true,"ConsoleLogin":null}"#),
            Some(r#"{"x-amz-copy-source":"bkt/k","aws:Src":1,"key with space":"v"}"#),
            // Nesting.
            Some(r#"{"a":{"b":[10,{"c":"x"}]}}"#),
            Some(r#"{"a":{"b":[10,{"c":"x"},[1,2]],"z":0},"b":2}"#),
            Some(r#"{"a":{"b":[[1,2],{"c":{"d":[true,false,null]}}]}}"#),
            Some(r#"{"a":{"b":[]}}"#),
            Some(r#"{"a":{"b":{}}}"#),
            Some(r#"{"a":{"b":"not an array"}}"#),
            Some(r#"{"a":[{"x":1},{"y":2}]}"#),
            Some(r#"[{"a":1},{"a":2},{"a":{"b":[3]}}]"#),
            Some(r#"[1,"two",3.5,null,true]"#),
            Some("[]"),
            Some("{}"),
            // Every kind of scalar as the answer.
            Some(r#"{"a":"x"}"#),
            Some(r#"{"a":""}"#),
            Some(r#"{"a":true}"#),
            Some(r#"{"a":false}"#),
            Some(r#"{"a":null}"#),
            Some(r#"{"a":0}"#),
            Some(r#"{"a":-0}"#),
            Some(r#"{"a":-0.0}"#),
            Some(r#"{"a":42}"#),
            Some(r#"{"a":-42}"#),
            Some(r#"{"a":1.50}"#),
            Some(r#"{"a":1.0}"#),
            Some(r#"{"a":1e3}"#),
            Some(r#"{"a":1E3}"#),
            Some(r#"{"a":1e-3}"#),
            Some(r#"{"a":2.5e+2}"#),
            Some(r#"{"a":1e-400}"#),
            Some(r#"{"a":1e400}"#),
            Some(r#"{"a":"x","b":1e400}"#),
            Some(r#"{"a":"x","b":-1E309}"#),
            Some(r#"{"a":"x","b":1.7976931348623157e308}"#),
            Some(r#"{"a":9999999999999999999}"#),
            Some(r#"{"a":18446744073709551615}"#),
            Some(r#"{"a":18446744073709551616}"#),
            Some(r#"{"a":-9223372036854775808}"#),
            Some(r#"{"a":-9223372036854775809}"#),
            Some(r#"{"a":123456789012345678901234567890}"#),
            Some(r#"{"a":0.1}"#),
            Some(r#"{"a":3.141592653589793238462643383279}"#),
            // Escapes.
            Some(r#"{"a":"caf\u00e9"}"#),
            Some(r#"{"a":"say \"hi\""}"#),
            Some(r#"{"a":"back\\slash"}"#),
            Some(r#"{"a":"sl\/ash"}"#),
            Some(r#"{"a":"tab\tnl\ncr\rbs\bff\f"}"#),
            Some(r#"{"a":"nul\u0000"}"#),
            Some(r#"{"a":"del\u007f"}"#),
            Some(r#"{"a":"\ud83d\ude00"}"#),
            Some(r#"{"a":"😀 raw é"}"#),
            Some(r#"{"a":"x","b":"\ud800"}"#),
            Some(r#"{"a":"x","b":"\udc00"}"#),
            Some(r#"{"a":"x","b":"\ud800\u0041"}"#),
            Some(r#"{"a":"x","b":"\ud800x"}"#),
            Some(r#"{"a":"x","b":"\x"}"#),
            Some(r#"{"a":"x","b":"\u12"}"#),
            Some("{\"a\":\"x\",\"b\":\"raw\ttab\"}"),
            Some("{\"a\":\"raw\nnewline\"}"),
            Some("{\"a\":\"raw\u{7f}del\"}"),
            Some(r#"{"a":["caf\u00e9",{"k":"\"q\""}]}"#),
            // Keys: escaped, unicode, quoted in the path.
            Some(r#"{"\u0061":"escaped key"}"#),
            Some(r#"{"é":"unicode key","\u00e9x":1}"#),
            Some(r#"{"\u00e9":"escaped unicode key"}"#),
            Some(r#"{"a\"b":"quote in key"}"#),
            Some(r#"{"key with space":{"a":1}}"#),
            // Duplicate keys: the last one counts, even where the path then fails.
            Some(r#"{"a":1,"a":2}"#),
            Some(r#"{"a":{"b":[1]},"a":{"c":2}}"#),
            Some(r#"{"a":{"c":2},"a":{"b":[1]}}"#),
            Some(r#"{"a":{"b":[1],"b":[2,3]}}"#),
            Some(r#"{"a":"x","b":1,"a":null}"#),
            Some(r#"{"a":{"b":1,"a":2,"b":0},"a":{"b":5,"c":{"b":6}}}"#),
            // Invalid JSON, before or after the answer.
            Some(r#"{"a":"x",}"#),
            Some(r#"{"a":"x","b":}"#),
            Some(r#"{"a":"x","b":[1,2,]}"#),
            Some(r#"{"a":"x" "b":1}"#),
            Some(r#"{"a":"x","b":01}"#),
            Some(r#"{"a":"x","b":1.}"#),
            Some(r#"{"a":"x","b":.5}"#),
            Some(r#"{"a":"x","b":-}"#),
            Some(r#"{"a":"x","b":+1}"#),
            Some(r#"{"a":"x","b":1e}"#),
            Some(r#"{"a":"x","b":NaN}"#),
            Some(r#"{"a":"x","b":Infinity}"#),
            Some(r#"{"a":"x","b":-Infinity}"#),
            Some(r#"{"a":"x","b":tru}"#),
            Some(r#"{"a":"x","b":nul}"#),
            Some(r#"{"a":"x","b":'s'}"#),
            Some(r#"{"a":"x",b:1}"#),
            Some(r#"{"a":"x"}}"#),
            Some(r#"{"a":"x"} x"#),
            Some(r#"{"a":"x"}{}"#),
            Some(r#"{"a":"x""#),
            Some(r#"{"a":"x"#),
            Some(r#"{"b":[,"a":1]}"#),
            Some(r#"{"b":1,"a":"x","c":[1 2]}"#),
            Some(r#"{1:2,"a":"x"}"#),
            Some(r#"{"a":"x"} // comment"#),
            Some("\u{feff}{\"a\":\"x\"}"),
            Some("{\"a\":\"x\"}\u{a0}"),
            Some(""),
            Some("   "),
            Some("null"),
            Some("nonsense"),
            // Whitespace and pretty-printing.
            Some(r#"{ "a" : { "b" : [ 10 , { "c" : "x" } ] } }"#),
            Some(
                "{\n  \"a\": {\n    \"b\": [\n      10,\n      {\"c\": \"x\", \"d\": [1, 2]}\n    ]\n  }\n}\n",
            ),
            Some("\t\r\n {\"a\":\t\"x\"\r\n}\t "),
            Some(r#"{"a" : [ 1 , 2 ] , "b" : { "z" : 1 , "y" : 2 } }"#),
            Some(r#"{"a":{"z":1,"y":{"q":[1, 2.50, "s"]}}}"#),
            // Top-level scalars.
            Some(r#""just a string""#),
            Some("12"),
            Some(" true "),
        ];
        docs.extend(generated.iter().map(|d| Some(d.as_str())));
        assert_same_as_reference(&docs, PATHS);
    }

    #[test]
    fn json_path_per_row_paths() {
        let docs = [
            Some(r#"{"a":{"b":[1,2]}}"#),
            Some(r#"{"a":{"b":[1,2]}}"#),
            Some(r#"{"a":{"b":[1,2]}}"#),
            None,
            Some(r#"{"a":"x"}"#),
        ];
        let paths = ["$.a.b[0]", "$.a.b", "$.a.b[-1]", "$.a", "$.a"];
        let want = |f: &dyn Fn(&Value) -> Option<String>| -> Vec<Option<String>> {
            docs.iter()
                .zip(paths)
                .map(|(d, p)| reference(*d, p, f))
                .collect()
        };
        assert_eq!(run(json_extract_scalar, &docs, &paths), want(&scalar_text));
        assert_eq!(
            run(json_extract, &docs, &paths),
            want(&|v| Some(json_text(v)))
        );
        let bad_path = str_array(&[Some("a.b"); 5]);
        assert!(json_extract(&[str_array(&docs), bad_path], 5).is_err());
    }

    /// Random documents, valid and broken, against every path: a fuzz run kept small
    /// enough for a unit test, with a fixed seed so that a failure repeats.
    #[test]
    fn json_path_answers_match_on_random_documents() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let docs: Vec<String> = (0..3000)
            .map(|_| {
                let mut doc = String::new();
                random_value(&mut rng, &mut doc, 0);
                if rng.below(3) == 0 {
                    mutate(&mut rng, &doc)
                } else {
                    doc
                }
            })
            .collect();
        let docs: Vec<Option<&str>> = docs.iter().map(|d| Some(d.as_str())).collect();
        assert_same_as_reference(&docs, PATHS);
    }

    /// xorshift64: enough randomness for test documents without a dependency.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    fn random_value(rng: &mut Rng, out: &mut String, depth: usize) {
        const KEYS: &[&str] = &[
            r#""a""#,
            r#""b""#,
            r#""c""#,
            r#""n""#,
            r#""s""#,
            r#""é""#,
            r#""\u0061""#,
            r#""\u00e9""#,
            r#""a\"b""#,
            r#""key with space""#,
            r#""aws:Src""#,
            r#""bucketName""#,
        ];
        const SCALARS: &[&str] = &[
            r#""x""#,
            r#""""#,
            r#""caf\u00e9""#,
            r#""q\"q""#,
            r#""sl\/ash""#,
            r#""\ud83d\ude00""#,
            r#""\ud800""#,
            r#""tab\t""#,
            r#""é😀""#,
            "0",
            "-0",
            "7",
            "-7",
            "1.50",
            "1e3",
            "1E400",
            "2.5e-3",
            "18446744073709551616",
            "0.1",
            "true",
            "false",
            "null",
        ];
        const SPACES: &[&str] = &["", "", "", " ", "\n  ", "\t"];
        out.push_str(rng.pick(SPACES));
        match if depth > 4 { 2 } else { rng.below(5) } {
            0 => {
                out.push('{');
                for i in 0..rng.below(5) {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(rng.pick(SPACES));
                    out.push_str(rng.pick(KEYS));
                    out.push_str(rng.pick(SPACES));
                    out.push(':');
                    random_value(rng, out, depth + 1);
                }
                out.push('}');
            }
            1 => {
                out.push('[');
                for i in 0..rng.below(5) {
                    if i > 0 {
                        out.push(',');
                    }
                    random_value(rng, out, depth + 1);
                }
                out.push(']');
            }
            _ => out.push_str(rng.pick(SCALARS)),
        }
        out.push_str(rng.pick(SPACES));
    }

    /// The document with one character removed, replaced or added, or cut short.
    fn mutate(rng: &mut Rng, doc: &str) -> String {
        const CHARS: &[char] = &[
            ',', ']', '}', '[', '{', '"', '\\', ':', 'x', '0', ' ', '\u{1}',
        ];
        let mut chars: Vec<char> = doc.chars().collect();
        if chars.is_empty() {
            return doc.to_owned();
        }
        let at = rng.below(chars.len());
        let c = CHARS[rng.below(CHARS.len())];
        match rng.below(4) {
            0 => {
                chars.remove(at);
            }
            1 => chars[at] = c,
            2 => chars.insert(at, c),
            _ => chars.truncate(at),
        }
        chars.into_iter().collect()
    }

    #[test]
    fn format_translation() {
        assert_eq!(mysql_to_chrono("%Y-%m-%d %H:%i:%s"), "%Y-%m-%d %H:%M:%S");
        assert_eq!(
            joda_to_chrono("yyyy-MM-dd'T'HH:mm:ss.SSSZ"),
            "%Y-%m-%dT%H:%M:%S.%3f%z"
        );
    }
}
