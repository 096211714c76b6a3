//! Time functions: ISO 8601 parsing and formatting, MySQL/Joda-format `date_parse`,
//! `parse_datetime`, `date_format`, `format_datetime`, `date_add`, `date_diff`.

use super::*;

pub(super) fn from_iso8601_timestamp(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
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

pub(super) fn from_iso8601_date(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
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

pub(super) fn to_iso8601(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
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

pub(super) fn parse_with(s: &str, fmt: &str) -> Option<i64> {
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

pub(super) fn parse_fn(
    args: &[ArrayRef],
    name: &str,
    translate: fn(&str) -> String,
) -> Result<ArrayRef> {
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

pub(super) fn date_parse(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    parse_fn(args, "date_parse", mysql_to_chrono)
}

pub(super) fn parse_datetime(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    parse_fn(args, "parse_datetime", joda_to_chrono)
}

pub(super) fn format_fn(args: &[ArrayRef], translate: fn(&str) -> String) -> Result<ArrayRef> {
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

pub(super) fn date_format(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    format_fn(args, mysql_to_chrono)
}

pub(super) fn format_datetime(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    format_fn(args, joda_to_chrono)
}

pub(super) fn date_add_coerce(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("date_add", t, &[3])?;
    let third = if t[2] == DataType::Date32 {
        DataType::Date32
    } else {
        ts_type()
    };
    Ok(vec![DataType::Utf8, DataType::Int64, third])
}

pub(super) fn date_add_ret(t: &[DataType]) -> Result<DataType> {
    Ok(if t.get(2) == Some(&DataType::Date32) {
        DataType::Date32
    } else {
        ts_type()
    })
}

pub(super) fn add_unit(t: DateTime<Utc>, unit: &str, n: i64) -> Option<DateTime<Utc>> {
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
pub(super) fn date_add(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
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

pub(super) fn date_diff_coerce(t: &[DataType]) -> Result<Vec<DataType>> {
    n_args("date_diff", t, &[3])?;
    Ok(vec![DataType::Utf8, ts_type(), ts_type()])
}

/// `date_diff(unit, t1, t2)`: whole units from t1 to t2.
pub(super) fn date_diff(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
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
