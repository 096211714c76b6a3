//! The dashboard's counts by day: for each whole day of a window, the rows of every
//! grouping the dashboard counts (each panel's, and the histogram's by minute) over that day
//! alone, kept for as long as the day's files in the table's log stay the same. A dashboard
//! then queries only the days it has not counted yet and the part days at the window's
//! edges, and merges the rest from memory. A lake's past days change only when an ingest
//! adds late events to them or a compaction or retention rewrites them, and then only those
//! days are counted again.
//!
//! Why: each of the ten groupings scans every row of the window, and on the 1M-event
//! benchmark lake the ten together take about 600 ms of two cores' time however they are
//! combined into queries; the counts of a day do not change between two looks at it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::{DataType, SchemaRef};
use axum::http::StatusCode;
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use trailsql_lake::{FileList, Lake, Table};

use crate::ApiError;

/// One grouped count of the dashboard.
#[derive(Debug, Clone)]
pub struct Grouping {
    /// The grouping columns, aliased.
    pub select: String,
    /// How many columns `select` makes.
    pub keys: usize,
    /// More conditions, beside the window.
    pub filter: Option<&'static str>,
    /// The counts, aliased (`count(*) AS events`); their sums merge days.
    pub counts: &'static str,
}

/// The rows of one grouping over a window, not merged: one or more rows per key (a day's,
/// an edge's), to be summed by key.
#[derive(Debug)]
pub struct Counted {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// How a window's counts were had.
#[derive(Debug, Default, Clone, Copy)]
pub struct Provenance {
    /// Whole days merged from memory.
    pub remembered: usize,
    /// Whole days counted by this request.
    pub counted: usize,
}

/// Rows kept at most (every grouping of every day): about 100 bytes each.
const MAX_ROWS: usize = 4_000_000;

/// The counts of one whole day.
#[derive(Debug)]
struct Day {
    /// The day's data files (path, size) when counted: its identity.
    files: Vec<(String, u64)>,
    /// By grouping, in the order of the groupings given.
    counts: Vec<Vec<RecordBatch>>,
    rows: usize,
}

#[derive(Debug, Default)]
pub struct DayCounts {
    files: tokio::sync::Mutex<Option<FileList>>,
    days: Mutex<HashMap<NaiveDate, Arc<Day>>>,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

impl DayCounts {
    /// The data files of each day of `[first, end)`, from the table's latest version.
    async fn day_files(
        &self,
        lake: &str,
        first: NaiveDate,
        end: NaiveDate,
    ) -> Result<HashMap<NaiveDate, Vec<(String, u64)>>, ApiError> {
        let mut list = self.files.lock().await;
        let list = match &mut *list {
            Some(l) => {
                l.refresh().await.map_err(internal)?;
                l
            }
            None => {
                let lake = Lake::open(lake).map_err(internal)?;
                list.insert(
                    FileList::open(&lake, Table::CloudTrail)
                        .await
                        .map_err(internal)?,
                )
            }
        };
        let mut by_day: HashMap<NaiveDate, Vec<(String, u64)>> = HashMap::new();
        for f in list.snapshot().map_err(internal)?.files {
            let day = f.partition.date;
            if day >= first && day < end {
                by_day.entry(day).or_default().push((f.path, f.size));
            }
        }
        for files in by_day.values_mut() {
            files.sort();
        }
        Ok(by_day)
    }

    /// The rows of each of `groupings` over the window `params` name (`$since`, `$until`,
    /// and its whole days `$first_day` to `$end_day`), with how they were had.
    pub async fn count(
        &self,
        ctx: &SessionContext,
        lake: &str,
        groupings: &[Grouping],
        (first, end): (NaiveDate, NaiveDate),
        params: &[(String, String)],
    ) -> Result<(Vec<Counted>, Provenance), ApiError> {
        let files = self.day_files(lake, first, end).await?;
        let (remembered, missing) = self.remembered(&files);
        let new_days = async {
            if missing.is_empty() {
                return Ok(vec![HashMap::new(); groupings.len()]);
            }
            futures::future::try_join_all(
                groupings
                    .iter()
                    .map(|g| count_days(ctx, g, &missing, params)),
            )
            .await
        };
        let edges = futures::future::try_join_all(groupings.iter().map(|g| async move {
            let (schema, batches) = trailsql_query::query_with(ctx, &edge_sql(g), params).await?;
            Ok::<_, ApiError>(Counted { schema, batches })
        }));
        let (mut new_days, mut out) = futures::future::try_join(new_days, edges).await?;
        for (g, counted) in out.iter_mut().enumerate() {
            // The days' rows as the edges' (the same columns; the schema the merge reads).
            for batches in new_days[g].values_mut() {
                for b in batches.iter_mut() {
                    *b = RecordBatch::try_new(counted.schema.clone(), b.columns().to_vec())
                        .map_err(internal)?;
                }
                counted.batches.extend(batches.iter().cloned());
            }
            for day in &remembered {
                counted.batches.extend(day.counts[g].iter().cloned());
            }
        }
        self.remember(&files, &missing, new_days, first, end);
        Ok((
            out,
            Provenance {
                remembered: remembered.len(),
                counted: missing.len(),
            },
        ))
    }

    /// The days of `files` whose counts are kept for the same files, and those not.
    fn remembered(
        &self,
        files: &HashMap<NaiveDate, Vec<(String, u64)>>,
    ) -> (Vec<Arc<Day>>, Vec<NaiveDate>) {
        let days = self.days.lock().expect("not poisoned");
        let mut remembered = Vec::new();
        let mut missing = Vec::new();
        for (day, f) in files {
            match days.get(day) {
                Some(d) if d.files == *f => remembered.push(d.clone()),
                _ => missing.push(*day),
            }
        }
        missing.sort();
        (remembered, missing)
    }

    /// Keep the counts of the days just counted, within [`MAX_ROWS`]: days outside the
    /// window in hand go first.
    fn remember(
        &self,
        files: &HashMap<NaiveDate, Vec<(String, u64)>>,
        missing: &[NaiveDate],
        mut new_days: Vec<HashMap<NaiveDate, Vec<RecordBatch>>>,
        first: NaiveDate,
        end: NaiveDate,
    ) {
        let mut days = self.days.lock().expect("not poisoned");
        let mut kept: usize = days.values().map(|d| d.rows).sum();
        for day in missing {
            let counts: Vec<Vec<RecordBatch>> = new_days
                .iter_mut()
                .map(|by_day| by_day.remove(day).unwrap_or_default())
                .collect();
            let rows = counts.iter().flatten().map(RecordBatch::num_rows).sum();
            if kept + rows > MAX_ROWS {
                days.retain(|d, _| *d >= first && *d < end);
                kept = days.values().map(|d| d.rows).sum();
                if kept + rows > MAX_ROWS {
                    continue;
                }
            }
            kept += rows;
            let old = days.insert(
                *day,
                Arc::new(Day {
                    files: files[day].clone(),
                    counts,
                    rows,
                }),
            );
            kept -= old.map_or(0, |d| d.rows);
        }
    }
}

fn group_by(from: usize, to: usize) -> String {
    (from..=to)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn and(filter: Option<&str>) -> String {
    filter.map(|f| format!(" AND ({f})")).unwrap_or_default()
}

/// The grouping over the window's part days: its rows whose day is not whole in it.
pub fn edge_sql(g: &Grouping) -> String {
    format!(
        "SELECT {}, {} FROM cloudtrail WHERE (date < $first_day OR date >= $end_day) \
         AND eventtime >= $since AND eventtime < $until{} GROUP BY {}",
        g.select,
        g.counts,
        and(g.filter),
        group_by(1, g.keys)
    )
}

/// The grouping over whole days, by day (the first column).
fn days_sql(g: &Grouping, days: &[NaiveDate]) -> String {
    let list: Vec<String> = days.iter().map(|d| format!("'{d}'")).collect();
    format!(
        "SELECT date, {}, {} FROM cloudtrail WHERE date IN ({}){} GROUP BY {}",
        g.select,
        g.counts,
        list.join(", "),
        and(g.filter),
        group_by(1, g.keys + 1)
    )
}

/// Count `g` over `days`, by day (the day column dropped).
async fn count_days(
    ctx: &SessionContext,
    g: &Grouping,
    days: &[NaiveDate],
    params: &[(String, String)],
) -> Result<HashMap<NaiveDate, Vec<RecordBatch>>, ApiError> {
    let (_, batches) = trailsql_query::query_with(ctx, &days_sql(g, days), params).await?;
    let mut by_day: HashMap<NaiveDate, Vec<RecordBatch>> = HashMap::new();
    for b in batches {
        let dates = cast(b.column(0), &DataType::Utf8).map_err(internal)?;
        let dates = dates.as_string::<i32>();
        let rest = b
            .project(&(1..b.num_columns()).collect::<Vec<_>>())
            .map_err(internal)?;
        // The rows of each day, in one pass.
        let mut rows: HashMap<&str, Vec<u32>> = HashMap::new();
        for i in (0..dates.len()).filter(|i| dates.is_valid(*i)) {
            rows.entry(dates.value(i)).or_default().push(i as u32);
        }
        for (text, rows) in rows {
            let Some(day) = days.iter().find(|d| d.to_string() == text) else {
                continue;
            };
            let part = take_record_batch(&rest, &UInt32Array::from(rows)).map_err(internal)?;
            by_day.entry(*day).or_default().push(part);
        }
    }
    Ok(by_day)
}
