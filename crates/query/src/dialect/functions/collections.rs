//! `element_at` (arrays, maps, JSON object text), `contains` on arrays, and the
//! CloudTrail `resources` helpers.

use super::*;

pub(super) fn element_at_coerce(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("element_at", t, &[2])?;
    match &t[0] {
        DataType::List(_) | DataType::LargeList(_) => Ok(vec![t[0].clone(), DataType::Int64]),
        DataType::Map(..) => Ok(t.to_vec()),
        _ => Ok(vec![DataType::Utf8, DataType::Utf8]),
    }
}

pub(super) fn element_at_ret(t: &[DataType]) -> Result<DataType> {
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
pub(super) fn element_at(args: &[ArrayRef], n: usize) -> Result<ArrayRef> {
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
pub(super) fn map_value(map: &ArrayRef, key: &ArrayRef, n: usize) -> Result<ArrayRef> {
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

pub(super) fn contains_coerce(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("contains", t, &[2])?;
    match &t[0] {
        DataType::List(f) => Ok(vec![t[0].clone(), f.data_type().clone()]),
        _ => Ok(vec![DataType::Utf8, DataType::Utf8]),
    }
}

/// `contains(array, element)` (Presto) and `contains(string, substring)` (DataFusion's).
pub(super) fn contains(args: &[ArrayRef], n: usize) -> Result<ArrayRef> {
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

// CloudTrail resources.

pub(super) fn resources_coerce(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("resource_arns", t, &[1])?;
    Ok(t.to_vec())
}

pub(super) fn string_list(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::List(Arc::new(arrow::datatypes::Field::new(
        "item",
        DataType::Utf8,
        true,
    ))))
}

/// One field of every entry of a `resources` list, as a list of strings.
pub(super) fn resource_field(args: &[ArrayRef], field: &str) -> Result<ArrayRef> {
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

pub(super) fn resource_arns(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    resource_field(args, "arn")
}

pub(super) fn resource_types(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    resource_field(args, "type")
}
