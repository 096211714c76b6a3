//! Presto's string functions that DataFusion spells differently: two-argument `replace`,
//! `regexp_extract`.

use super::*;

pub(super) fn replace_coerce(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("replace", t, &[2, 3])?;
    Ok(vec![DataType::Utf8; t.len()])
}

/// `replace(s, search)` removes `search` (Presto); `replace(s, search, with)` as usual.
pub(super) fn replace(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
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

pub(super) fn regexp_extract_coerce(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("regexp_extract", t, &[2, 3])?;
    let mut v = vec![DataType::Utf8, DataType::Utf8];
    if t.len() == 3 {
        v.push(DataType::Int64);
    }
    Ok(v)
}

/// `regexp_extract(s, pattern[, group])`: the first match (or its group), NULL if none.
pub(super) fn regexp_extract(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
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
