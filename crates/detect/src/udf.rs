//! `sigma_match(N, column [, other])`: the SQL function through which a compiled rule tests
//! a field. N names an item of the run's [`Registry`]: where in `column` the field's values
//! are (a typed column, a path into JSON text, a list of structs, `unmappedfields`) and the
//! test they must pass. It is never null: a missing field fails a test (or passes `null`),
//! so `NOT` in a condition means what Sigma means.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, ListArray, StringBuilder, StructArray,
};
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::compile::Item;
use crate::fields::{Kind, Source, Spec};
use crate::value::{Val, Values, json_path, unmapped};
use serde_json::value::RawValue;

pub const NAME: &str = "sigma_match";
/// `sigma_text(N, column)`: the text of item N's field (its values joined by `,`), for a
/// correlation's `group-by` and `value_count` fields.
pub const TEXT: &str = "sigma_text";

/// The functions over one run's items.
pub fn functions(items: Arc<Vec<Item>>) -> [ScalarUDF; 2] {
    [
        ScalarUDF::new_from_impl(SigmaMatch {
            items: items.clone(),
            signature: Signature::variadic_any(Volatility::Immutable),
            text: false,
        }),
        ScalarUDF::new_from_impl(SigmaMatch {
            items,
            signature: Signature::variadic_any(Volatility::Immutable),
            text: true,
        }),
    ]
}

struct SigmaMatch {
    items: Arc<Vec<Item>>,
    signature: Signature,
    /// `sigma_text` rather than `sigma_match`.
    text: bool,
}

impl std::fmt::Debug for SigmaMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigmaMatch")
            .field("items", &self.items.len())
            .finish()
    }
}
impl PartialEq for SigmaMatch {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.items, &other.items) && self.text == other.text
    }
}
impl Eq for SigmaMatch {}
impl Hash for SigmaMatch {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.items) as usize).hash(state);
        self.text.hash(state)
    }
}

impl ScalarUDFImpl for SigmaMatch {
    fn name(&self) -> &str {
        if self.text { TEXT } else { NAME }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.text {
            DataType::Utf8
        } else {
            DataType::Boolean
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let id = match args.args.first() {
            Some(ColumnarValue::Scalar(ScalarValue::Int64(Some(id)))) => *id as usize,
            _ => return exec_err!("{NAME}: the first argument is an item number"),
        };
        let Some(item) = self.items.get(id) else {
            return exec_err!("{NAME}: no item {id}");
        };
        let col = args.args[1].clone().into_array(n)?;
        let other = match (&item.reference, args.args.get(2)) {
            (Some(_), Some(a)) => Some(a.clone().into_array(n)?),
            (Some(_), None) => return exec_err!("{NAME}: item {id} needs the fieldref column"),
            _ => None,
        };
        let main = Reader::new(&item.source, &col)?;
        let refr = match (&item.reference, &other) {
            (Some(s), Some(a)) => Some(Reader::new(s, a)?),
            _ => None,
        };
        if self.text {
            let mut out = StringBuilder::with_capacity(n, n * 16);
            for row in 0..n {
                let vals = main.values(row).unwrap_or_default();
                let texts: Vec<&str> = vals.iter().filter_map(Val::text).collect();
                out.append_option((!texts.is_empty()).then(|| texts.join(",")));
            }
            return Ok(ColumnarValue::Array(Arc::new(out.finish())));
        }
        let mut out = BooleanBuilder::with_capacity(n);
        for row in 0..n {
            let v = main.values(row);
            let o = refr.as_ref().and_then(|r| r.values(row));
            out.append_value(item.test.matches(&v, &o));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// Text of a string array of any of Arrow's string types.
pub(crate) enum Text<'a> {
    Utf8(&'a arrow::array::StringArray),
    Large(&'a arrow::array::LargeStringArray),
    View(&'a arrow::array::StringViewArray),
    Null,
}

impl<'a> Text<'a> {
    pub(crate) fn new(a: &'a dyn Array) -> Result<Text<'a>> {
        Ok(match a.data_type() {
            DataType::Utf8 => Text::Utf8(a.as_string::<i32>()),
            DataType::LargeUtf8 => Text::Large(a.as_string::<i64>()),
            DataType::Utf8View => Text::View(a.as_string_view()),
            DataType::Null => Text::Null,
            other => return exec_err!("{NAME}: expected text, got {other}"),
        })
    }
    pub(crate) fn get(&self, row: usize) -> Option<&'a str> {
        match self {
            Text::Utf8(a) => a.is_valid(row).then(|| a.value(row)),
            Text::Large(a) => a.is_valid(row).then(|| a.value(row)),
            Text::View(a) => a.is_valid(row).then(|| a.value(row)),
            Text::Null => None,
        }
    }
}

/// Reads one source's values row by row.
pub(crate) enum Reader<'a> {
    Column(Text<'a>),
    Json(Text<'a>, &'a [String]),
    Unmapped(Text<'a>, &'a [String]),
    List {
        list: &'a ListArray,
        field: Text<'a>,
    },
    /// Every string of the event: the children of [`crate::fields::keywords_sql`]'s struct.
    Keywords(&'a StructArray),
}

impl<'a> Reader<'a> {
    pub(crate) fn new(source: &'a Source, a: &'a ArrayRef) -> Result<Reader<'a>> {
        Ok(match source {
            Source::Column { .. } => Reader::Column(Text::new(a.as_ref())?),
            Source::Json { path, .. } => Reader::Json(Text::new(a.as_ref())?, path),
            Source::Unmapped { path } => Reader::Unmapped(Text::new(a.as_ref())?, path),
            Source::Keywords => Reader::Keywords(a.as_struct()),
            Source::ListField { field, .. } => {
                let list = a.as_list::<i32>();
                let structs: &StructArray = list.values().as_struct();
                let Some(child) = structs.column_by_name(field) else {
                    return exec_err!("{NAME}: list has no field {field}");
                };
                Reader::List {
                    list,
                    field: Text::new(child.as_ref())?,
                }
            }
        })
    }

    /// The text of a typed column's row; `None` for other sources (use [`Reader::values`]).
    pub(crate) fn column_text(&self, row: usize) -> Option<Option<&'a str>> {
        match self {
            Reader::Column(t) => Some(t.get(row)),
            _ => None,
        }
    }

    pub(crate) fn values(&self, row: usize) -> Values<'a> {
        match self {
            Reader::Column(t) => t.get(row).map(|s| vec![Val::Str(Cow::Borrowed(s))]),
            Reader::Json(t, path) => json_path(t.get(row)?, path),
            Reader::Unmapped(t, path) => unmapped(t.get(row)?, path),
            Reader::Keywords(st) => {
                let mut out = Vec::new();
                let specs: Vec<&Spec> = crate::fields::keyword_specs().collect();
                for (i, spec) in specs.iter().enumerate() {
                    strings(st.column(i).as_ref(), row, &spec.kind, &mut out);
                }
                if let Some(doc) = Text::new(st.column(specs.len()).as_ref())
                    .ok()
                    .and_then(|t| t.get(row))
                    && let Ok(raw) = serde_json::from_str::<&RawValue>(doc)
                    && let Some(pairs) = trailsql_ingest::json::object(raw)
                {
                    for (_, v) in pairs.0 {
                        json_strings(v, &mut out);
                    }
                }
                Some(out)
            }
            Reader::List { list, field } => {
                if list.is_null(row) {
                    return None;
                }
                let offsets = list.value_offsets();
                let (lo, hi) = (offsets[row] as usize, offsets[row + 1] as usize);
                let vals: Vec<Val<'a>> = (lo..hi)
                    .filter_map(|i| field.get(i))
                    .map(|s| Val::Str(Cow::Borrowed(s)))
                    .collect();
                (!vals.is_empty()).then_some(vals)
            }
        }
    }
}

/// The string values of one row of a column of the given kind.
fn strings<'a>(a: &'a dyn Array, row: usize, kind: &Kind, out: &mut Vec<Val<'a>>) {
    if a.is_null(row) {
        return;
    }
    match kind {
        Kind::Str | Kind::Time => {
            if let Some(s) = Text::new(a).ok().and_then(|t| t.get(row)) {
                out.push(Val::Str(Cow::Borrowed(s)));
            }
        }
        Kind::Json => {
            if let Some(doc) = Text::new(a).ok().and_then(|t| t.get(row))
                && let Ok(raw) = serde_json::from_str::<&RawValue>(doc)
            {
                json_strings(raw, out);
            }
        }
        Kind::Bool => {}
        Kind::Struct(children) => {
            let st = a.as_struct();
            for (i, c) in children.iter().enumerate() {
                strings(st.column(i).as_ref(), row, &c.kind, out);
            }
        }
        Kind::List(children) => {
            let list = a.as_list::<i32>();
            let st: &StructArray = list.values().as_struct();
            let offsets = list.value_offsets();
            for item in offsets[row] as usize..offsets[row + 1] as usize {
                if st.is_null(item) {
                    continue;
                }
                for (i, c) in children.iter().enumerate() {
                    strings(st.column(i).as_ref(), item, &c.kind, out);
                }
            }
        }
    }
}

/// The string values anywhere in a JSON value.
fn json_strings<'a>(raw: &'a RawValue, out: &mut Vec<Val<'a>>) {
    use trailsql_ingest::json::{JsonType, json_type};
    match json_type(raw) {
        JsonType::String => {
            if let Some(s) = trailsql_ingest::json::string(raw) {
                out.push(Val::Str(s));
            }
        }
        JsonType::Object => {
            if let Some(pairs) = trailsql_ingest::json::object(raw) {
                for (_, v) in pairs.0 {
                    json_strings(v, out);
                }
            }
        }
        JsonType::Array => {
            for v in serde_json::from_str::<Vec<&RawValue>>(raw.get()).unwrap_or_default() {
                json_strings(v, out);
            }
        }
        _ => {}
    }
}
