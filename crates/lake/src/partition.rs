//! A partition of a lake table: the table, the UTC day of the events' time and their region,
//! and how that names a folder (`cloudtrail/date=D/region=R`). Values are escaped once, as
//! Hive escapes them (`FileUtils.escapePathName`), so every Hive-style reader decodes the
//! original value: `a b/c` is `region=a b%2Fc`, and real regions (`us-east-1`) are unchanged.

use chrono::NaiveDate;
use object_store::path::Path;

use crate::schema::Table;
use crate::{Error, Result};

/// Where a row goes: table, UTC day of its event time, and region (the value itself, not
/// escaped).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub table: Table,
    pub date: NaiveDate,
    pub region: String,
}

/// The region of a record without one.
pub const UNKNOWN_REGION: &str = "unknown";

impl PartitionKey {
    /// The partition of a record: `region` is its `awsRegion` ([`UNKNOWN_REGION`] when
    /// absent or empty).
    pub fn new(table: Table, date: NaiveDate, region: Option<&str>) -> PartitionKey {
        let region = region
            .filter(|r| !r.is_empty())
            .unwrap_or(UNKNOWN_REGION)
            .to_owned();
        PartitionKey {
            table,
            date,
            region,
        }
    }

    /// `date` as its partition value.
    pub fn date_value(&self) -> String {
        self.date.format("%Y-%m-%d").to_string()
    }

    /// The partition's folder below the lake root: `cloudtrail/date=D/region=R`, the region
    /// escaped as Hive escapes it.
    pub fn dir(&self) -> String {
        format!(
            "{}/date={}/region={}",
            self.table.name(),
            self.date_value(),
            escape(&self.region)
        )
    }

    /// The partition of a path below the lake root (`TABLE/date=D/region=R/...`).
    pub fn of_path(path: &str) -> Option<PartitionKey> {
        let mut parts = path.split('/');
        let table = Table::by_name(parts.next()?)?;
        let date = parts.next()?.strip_prefix("date=")?;
        let region = parts.next()?.strip_prefix("region=")?;
        Some(PartitionKey {
            table,
            date: NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?,
            region: unescape(region),
        })
    }
}

/// Whether Hive escapes `c` in a path name (`FileUtils.charToEscape`): controls, the path
/// separator, `=` (the key/value separator), `%` itself and characters that are unsafe in
/// URIs or on some file systems.
fn hive_escapes(c: char) -> bool {
    matches!(
        c,
        '\u{01}'
            ..='\u{1F}'
                | '"'
                | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '\u{7F}'
                | '{'
                | '['
                | ']'
                | '^'
    )
}

/// A partition value as Hive writes it in a folder name: the characters Hive escapes as
/// `%XX` (upper-case hex), everything else (spaces, non-ASCII letters) as it is.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if hive_escapes(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of an escaped folder name (`%XX` decoded; anything else kept as written).
pub fn unescape(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let b = u8::from_str_radix(&name[i + 1..i + 3], 16).expect("two hex digits");
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| name.to_owned())
}

/// The object_store path of a path below the lake root, taken as written: our folder names
/// are already escaped, and `Path::from` would escape their `%` a second time.
pub fn object_path(path: &str) -> Result<Path> {
    Path::parse(path).map_err(|e| Error::CorruptState(format!("path {path:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_once_as_hive_does() {
        assert_eq!(escape("us-east-1"), "us-east-1");
        assert_eq!(escape("a b/c"), "a b%2Fc");
        assert_eq!(escape("x=y"), "x%3Dy");
        assert_eq!(escape("100%"), "100%25");
        assert_eq!(escape("région-é"), "région-é");
        for v in [
            "us-east-1",
            "a b/c",
            "x=y",
            "100%",
            "région-é",
            "%2F",
            "a\tb",
        ] {
            assert_eq!(unescape(&escape(v)), v);
        }
    }

    #[test]
    fn a_partition_folder_names_its_key() {
        let d = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        let k = PartitionKey::new(Table::CloudTrail, d, Some("a b/c"));
        assert_eq!(k.dir(), "cloudtrail/date=2024-03-01/region=a b%2Fc");
        assert_eq!(
            PartitionKey::of_path(&format!("{}/part-1.parquet", k.dir())),
            Some(k)
        );
        assert_eq!(
            PartitionKey::new(Table::Insights, d, Some("")).dir(),
            "cloudtrail_insights/date=2024-03-01/region=unknown"
        );
    }
}
