//! `detections`: the findings `trailsql detect --new` keeps, one row per rule and event, an
//! appended Delta table of the lake ([`crate::appended`]). The detect crate decides the rows
//! (its findings' columns and `detectedat`); this is where and how they are kept.

use arrow::array::RecordBatch;

use crate::Result;
use crate::appended::AppendedTable;
use crate::store::Lake;

/// The table's name and folder.
pub const DETECTIONS_TABLE: &str = "detections";

/// The table at its latest version.
pub async fn open(lake: &Lake) -> Result<AppendedTable> {
    AppendedTable::open(lake, DETECTIONS_TABLE).await
}

/// Append one run's new findings as a Delta commit; returns the file's path.
pub async fn append_detections(lake: &Lake, batch: &RecordBatch, run: &str) -> Result<String> {
    open(lake).await?.append(batch, run).await
}

/// Convert a `detections` table written by an earlier trailsql (plain Parquet files, no
/// Delta log) in place: its files become the table's first version, none is rewritten.
/// Returns how many files it adopted (0: already a Delta table, or no table). For
/// `trailsql lake upgrade`; the first `detect --new` on such a lake does the same.
pub async fn upgrade_detections(lake: &Lake) -> Result<usize> {
    open(lake).await?.adopt().await
}
