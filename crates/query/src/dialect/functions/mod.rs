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

mod collections;
mod json;
mod strings;
#[cfg(test)]
mod tests;
mod time;

use collections::*;
use json::*;
use strings::*;
use time::*;
pub use time::{joda_to_chrono, mysql_to_chrono};

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
