//! The lake's state as `trailsql lake` prints it: per table, the Delta version, its files,
//! rows and bytes, the date range, and the small files (what compaction would merge: files
//! under half of [`COMPACT_FILE_BYTES`] in a partition that holds more than one of them).

use std::collections::HashMap;

use crate::Result;
use crate::maintenance::COMPACT_FILE_BYTES;
use crate::schema::Table;
use crate::store::Lake;
use crate::table_log::TableLog;

/// One table's state.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TableStatus {
    pub table: String,
    /// `None`: nothing was ever written to it.
    pub version: Option<u64>,
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
    pub partitions: u64,
    pub first_date: Option<String>,
    pub last_date: Option<String>,
    pub small_files: u64,
}

/// The state of every table of the lake.
pub async fn status(lake: &Lake) -> Result<Vec<TableStatus>> {
    crate::state::check_format(lake).await?;
    let mut out = Vec::new();
    for table in Table::ALL {
        let snapshot = TableLog::open(lake, table).await?.snapshot()?;
        let mut per_partition: HashMap<_, u64> = HashMap::new();
        let mut small: HashMap<_, u64> = HashMap::new();
        for f in &snapshot.files {
            *per_partition.entry(f.partition.clone()).or_default() += 1;
            if f.size < COMPACT_FILE_BYTES / 2 {
                *small.entry(f.partition.clone()).or_default() += 1;
            }
        }
        let dates = snapshot.files.iter().map(|f| f.partition.date_value());
        out.push(TableStatus {
            table: table.name().to_owned(),
            version: snapshot.version,
            files: snapshot.files.len() as u64,
            rows: snapshot.files.iter().filter_map(|f| f.rows).sum(),
            bytes: snapshot.files.iter().map(|f| f.size).sum(),
            partitions: per_partition.len() as u64,
            first_date: dates.clone().min(),
            last_date: dates.max(),
            small_files: small.values().filter(|n| **n > 1).sum(),
        });
    }
    Ok(out)
}

/// The state as text, one block per table.
pub fn write_status(
    lake: &Lake,
    tables: &[TableStatus],
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    writeln!(out, "lake {}", lake.url)?;
    for t in tables {
        let Some(version) = t.version else {
            writeln!(out, "  {}: empty (no Delta log yet)", t.table)?;
            continue;
        };
        writeln!(out, "  {}: Delta version {version}", t.table)?;
        writeln!(
            out,
            "    {} files, {} rows, {} bytes in {} partitions",
            t.files, t.rows, t.bytes, t.partitions
        )?;
        if let (Some(a), Some(b)) = (&t.first_date, &t.last_date) {
            writeln!(out, "    dates {a} .. {b}")?;
        }
        writeln!(
            out,
            "    small files: {} (what `trailsql lake compact` would merge)",
            t.small_files
        )?;
    }
    Ok(())
}
