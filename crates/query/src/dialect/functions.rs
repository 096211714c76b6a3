//! The Presto/Trino (Athena) and CloudTrail Lake functions that DataFusion lacks or spells
//! differently, as DataFusion scalar UDFs: JSON with JSONPath strings, ISO 8601 and
//! MySQL/Joda-format time functions, `date_add`/`date_diff`, `element_at` on JSON text and
//! arrays, `contains` on arrays, two-argument `replace`, `regexp_extract`.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

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

use super::jsonpath::JsonPath;

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

fn strings_1(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("function", t, &[1])?;
    Ok(vec![DataType::Utf8])
}
fn strings_2(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("function", t, &[2])?;
    Ok(vec![DataType::Utf8, DataType::Utf8])
}
fn string_int(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("function", t, &[2])?;
    Ok(vec![DataType::Utf8, DataType::Int64])
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

fn strs(a: &ArrayRef) -> Result<StringArray> {
    Ok(cast(a, &DataType::Utf8)?.as_string::<i32>().clone())
}
fn micros(a: &ArrayRef) -> Result<TimestampMicrosecondArray> {
    Ok(cast(a, &ts_type())?.as_primitive().clone())
}

// ---- JSON ----

/// The path of each row, parsed once when it is the same for all rows.
struct Paths {
    constant: Option<JsonPath>,
    arr: StringArray,
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

    fn get(&self, i: usize) -> Result<Option<std::borrow::Cow<'_, JsonPath>>> {
        if let Some(p) = &self.constant {
            return Ok(Some(std::borrow::Cow::Borrowed(p)));
        }
        if self.arr.is_null(i) {
            return Ok(None);
        }
        match JsonPath::parse(self.arr.value(i)) {
            Ok(p) => Ok(Some(std::borrow::Cow::Owned(p))),
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
    json_path_fn(args, scalar_text)
}

fn json_extract(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    json_path_fn(args, |v| Some(json_text(v)))
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
        DataType::Map(..) => {
            exec_err!(
                "element_at on a map is not supported; the JSON text columns take element_at(column, 'key')"
            )
        }
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

    #[test]
    fn format_translation() {
        assert_eq!(mysql_to_chrono("%Y-%m-%d %H:%i:%s"), "%Y-%m-%d %H:%M:%S");
        assert_eq!(
            joda_to_chrono("yyyy-MM-dd'T'HH:mm:ss.SSSZ"),
            "%Y-%m-%dT%H:%M:%S.%3f%z"
        );
    }
}
