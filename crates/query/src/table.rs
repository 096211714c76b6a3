//! A lake table: the data files of one version of the table's Delta log, scanned with
//! DataFusion's Parquet reader. Files come from the log, never from listing the data folders,
//! so a query sees committed versions only and, on S3, lists nothing under the data. The log
//! is read again when a scan is planned, so each statement reads the latest version.
//! Pruning: a predicate on `eventtime` (comparisons, BETWEEN, string
//! or timestamp literals, also through `from_iso8601_timestamp(eventtime)`) becomes one on
//! the `date` partition, and files whose `eventtime` range in the log lies outside it are not
//! read; other filters on `date` and `region` are evaluated on the partition values. The
//! scan takes the session's Parquet options each time, so `SET
//! datafusion.execution.parquet.*` applies to the lake as it does to DataFusion's own tables.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use chrono::DateTime;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchemaBuilder;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown, col, lit,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use tokio::sync::Mutex;
use trailsql_lake::schema::{CLUSTER_KEYS, PARTITION_COLUMNS, Table, column_name};
use trailsql_lake::{DataFile, FileList, Lake};

pub struct LakeTable {
    lake: Lake,
    /// The file schema (as read: strings as views) and with the partition columns.
    file_schema: SchemaRef,
    schema: SchemaRef,
    /// Opened at the first scan: a statement that does not read the table (`SELECT 1`, a
    /// query of another table) does not read its log. On the 1M-event lake, loading the
    /// logs of both tables at session start cost every `trailsql sql` process about 25 ms.
    log: Mutex<Option<FileList>>,
    table: Table,
}

impl std::fmt::Debug for LakeTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeTable")
            .field("lake", &self.lake.url)
            .finish()
    }
}

fn partition_fields() -> Vec<Arc<Field>> {
    PARTITION_COLUMNS
        .iter()
        .map(|c| Arc::new(Field::new(*c, DataType::Utf8, false)))
        .collect()
}

impl LakeTable {
    /// The table `table` of `lake`, its files read as `file_schema`.
    pub fn new(lake: &Lake, table: Table, file_schema: SchemaRef) -> Self {
        let mut fields: Vec<Arc<Field>> = file_schema.fields().iter().cloned().collect();
        fields.extend(partition_fields());
        LakeTable {
            lake: lake.clone(),
            schema: Arc::new(Schema::new(fields)),
            file_schema,
            log: Mutex::new(None),
            table,
        }
    }

    /// The files of the latest version: the log is read when first needed, and brought up
    /// to date at each later scan (a REPL session sees the commits made since).
    async fn files(&self) -> Result<Vec<DataFile>> {
        let mut log = self.log.lock().await;
        let external = |e: trailsql_lake::Error| DataFusionError::External(Box::new(e));
        let log = match &mut *log {
            Some(log) => {
                log.refresh().await.map_err(external)?;
                log
            }
            None => log.insert(
                FileList::open(&self.lake, self.table)
                    .await
                    .map_err(external)?,
            ),
        };
        Ok(log.snapshot().map_err(external)?.files)
    }
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Every filter is offered to the scan (eventtime ones prune partitions and files,
        // and the Parquet reader prunes row groups with all of them); all are applied again
        // above it.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut all = filters.to_vec();
        all.extend(date_filters(filters));
        let mut options = state.default_table_options().parquet;
        // A filter on the sort's leading columns selects runs of adjacent rows: decoding the
        // filter columns first and the others only for those runs is then cheap, and it
        // skips the bulk of the other columns (the JSON text). Scattered selections (an
        // error code) cost more to skip than they save, so only such filters turn it on.
        // Measured on the 1M-event benchmark lake: the console-logins query (eventname =
        // 'ConsoleLogin') 97 -> 67 ms; the three error-code queries were 6-15% slower with
        // pushdown, so they keep it off.
        if !options.global.pushdown_filters && all.iter().any(is_clustered) {
            options.global.pushdown_filters = true;
        }
        let format = ParquetFormat::default().with_options(options);

        let files = prune(state, self.files().await?, &all)?;
        if files.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let mut partitioned = Vec::with_capacity(files.len());
        for f in files {
            let location = self
                .lake
                .root_path(&f.path)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let mut pf = PartitionedFile::from(object_store::ObjectMeta {
                location,
                last_modified: chrono::DateTime::UNIX_EPOCH,
                size: f.size,
                e_tag: None,
                version: None,
            });
            pf.partition_values = vec![
                ScalarValue::Utf8(Some(f.partition.date_value())),
                ScalarValue::Utf8(Some(f.partition.region.clone())),
            ];
            partitioned.push(pf);
        }
        let groups = FileGroup::new(partitioned).split_files(state.config().target_partitions());
        let table_schema = TableSchemaBuilder::from(&self.file_schema)
            .with_table_partition_cols(partition_fields())
            .build();
        let source = format.file_source(table_schema);
        let config =
            FileScanConfigBuilder::new(ObjectStoreUrl::parse(self.lake.store_url())?, source)
                .with_file_groups(groups)
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
        format.create_physical_plan(state, config).await
    }
}

/// The files a query over `filters` needs: those whose partition values pass the filters on
/// `date` and `region` alone, and whose `eventtime` range meets the filters' bounds.
fn prune(state: &dyn Session, files: Vec<DataFile>, filters: &[Expr]) -> Result<Vec<DataFile>> {
    let (lo, hi) = time_bounds(filters);
    let mut files: Vec<DataFile> = files
        .into_iter()
        .filter(|f| match f.time_range {
            Some((min, max)) => lo.is_none_or(|lo| max >= lo) && hi.is_none_or(|hi| min <= hi),
            None => true,
        })
        .collect();
    let on_partitions: Vec<&Expr> = filters
        .iter()
        .filter(|f| {
            let cols = f.column_refs();
            !cols.is_empty()
                && cols
                    .iter()
                    .all(|c| PARTITION_COLUMNS.contains(&c.name.as_str()))
                && !f.is_volatile()
        })
        .collect();
    if on_partitions.is_empty() || files.is_empty() {
        return Ok(files);
    }
    let schema = Arc::new(Schema::new(partition_fields()));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                files.iter().map(|f| f.partition.date_value()),
            )),
            Arc::new(StringArray::from_iter_values(
                files.iter().map(|f| f.partition.region.as_str()),
            )),
        ],
    )?;
    let df_schema = DFSchema::try_from(schema)?;
    let mut keep = vec![true; files.len()];
    for f in on_partitions {
        let expr = state.create_physical_expr(f.clone(), &df_schema)?;
        let value = expr.evaluate(&batch)?.into_array(files.len())?;
        let Some(mask) = value.as_boolean_opt() else {
            continue;
        };
        for (i, k) in keep.iter_mut().enumerate() {
            *k &= mask.is_valid(i) && mask.value(i);
        }
    }
    let mut i = 0;
    files.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    Ok(files)
}

/// The filters' conjuncts on `eventtime` as bounds: `eventtime OP t` (microseconds), with
/// `OP` one of `>`, `>=`, `<`, `<=`, `=` (a BETWEEN gives `>=` and `<=`).
fn eventtime_bounds(filters: &[Expr]) -> Vec<(Operator, i64)> {
    let mut out = Vec::new();
    for f in filters {
        for conj in split_conjunction(f) {
            match conj {
                Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                    let (op, t) = if is_eventtime(left) {
                        (*op, micros(right))
                    } else if is_eventtime(right) {
                        (op.swap().unwrap_or(*op), micros(left))
                    } else {
                        continue;
                    };
                    if let Some(t) = t
                        && matches!(
                            op,
                            Operator::Gt
                                | Operator::GtEq
                                | Operator::Lt
                                | Operator::LtEq
                                | Operator::Eq
                        )
                    {
                        out.push((op, t));
                    }
                }
                Expr::Between(Between {
                    expr,
                    negated: false,
                    low,
                    high,
                }) if is_eventtime(expr) => {
                    out.extend(micros(low).map(|t| (Operator::GtEq, t)));
                    out.extend(micros(high).map(|t| (Operator::LtEq, t)));
                }
                _ => {}
            }
        }
    }
    out
}

/// The narrowest `[lo, hi]` (microseconds) that the filters' conjuncts on `eventtime` allow.
fn time_bounds(filters: &[Expr]) -> (Option<i64>, Option<i64>) {
    let bounds = eventtime_bounds(filters);
    let lo = bounds
        .iter()
        .filter(|(op, _)| matches!(op, Operator::Gt | Operator::GtEq | Operator::Eq))
        .map(|(_, t)| *t)
        .max();
    let hi = bounds
        .iter()
        .filter(|(op, _)| matches!(op, Operator::Lt | Operator::LtEq | Operator::Eq))
        .map(|(_, t)| *t)
        .min();
    (lo, hi)
}

/// `col = literal` or `col IN (literals)` on a column the lake's files are sorted by first
/// ([`CLUSTER_KEYS`]).
fn is_clustered(e: &Expr) -> bool {
    let is_col = |e: &Expr| matches!(e, Expr::Column(c) if CLUSTER_KEYS.iter().any(|k| column_name(k) == c.name));
    let is_lit = |e: &Expr| matches!(e, Expr::Literal(..));
    match e {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => (is_col(left) && is_lit(right)) || (is_lit(left) && is_col(right)),
        Expr::InList(l) => !l.negated && is_col(&l.expr) && l.list.iter().all(is_lit),
        _ => false,
    }
}

/// Filters on the `date` partition implied by filters on `eventtime`.
pub fn date_filters(filters: &[Expr]) -> Vec<Expr> {
    eventtime_bounds(filters)
        .into_iter()
        .map(|(op, t)| match op {
            Operator::Gt | Operator::GtEq => col("date").gt_eq(lit(day(t))),
            Operator::Lt => col("date").lt_eq(lit(day(t - 1))),
            Operator::LtEq => col("date").lt_eq(lit(day(t))),
            _ => col("date").eq(lit(day(t))),
        })
        .collect()
}

fn is_eventtime(e: &Expr) -> bool {
    match e {
        Expr::Column(c) => c.name == "eventtime",
        Expr::Cast(c) => is_eventtime(&c.expr),
        Expr::TryCast(c) => is_eventtime(&c.expr),
        Expr::ScalarFunction(f) if f.func.name() == "from_iso8601_timestamp" => {
            f.args.first().is_some_and(is_eventtime)
        }
        _ => false,
    }
}

fn micros(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(v, _) => match v {
            ScalarValue::TimestampSecond(Some(s), _) => s.checked_mul(1_000_000),
            ScalarValue::TimestampMillisecond(Some(s), _) => s.checked_mul(1_000),
            ScalarValue::TimestampMicrosecond(Some(s), _) => Some(*s),
            ScalarValue::TimestampNanosecond(Some(s), _) => Some(s.div_euclid(1_000)),
            ScalarValue::Date32(Some(d)) => Some(i64::from(*d) * 86_400_000_000),
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)) => trailsql_ingest::time::parse_time_or_date(s),
            _ => None,
        },
        Expr::Cast(c) => micros(&c.expr),
        Expr::TryCast(c) => micros(&c.expr),
        Expr::ScalarFunction(f) if f.func.name() == "from_iso8601_timestamp" => {
            f.args.first().and_then(micros)
        }
        _ => None,
    }
}

fn day(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Expr {
        lit(ScalarValue::TimestampMicrosecond(
            trailsql_ingest::time::parse_event_time(s),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn eventtime_bounds_become_date_bounds() {
        let f = col("eventtime")
            .gt_eq(ts("2024-03-02T05:00:00Z"))
            .and(col("eventtime").lt(ts("2024-03-03T00:00:00Z")));
        let d = date_filters(&[f]);
        assert_eq!(
            d,
            vec![
                col("date").gt_eq(lit("2024-03-02")),
                col("date").lt_eq(lit("2024-03-02"))
            ]
        );
        let b = col("eventtime").between(lit("2019-07-05T00:00:00Z"), lit("2019-07-06 00:00:00"));
        assert_eq!(
            date_filters(&[b]),
            vec![
                col("date").gt_eq(lit("2019-07-05")),
                col("date").lt_eq(lit("2019-07-06"))
            ]
        );
        let rev = ts("2024-01-01T00:00:00Z").lt(col("eventtime"));
        assert_eq!(
            date_filters(&[rev]),
            vec![col("date").gt_eq(lit("2024-01-01"))]
        );
        assert!(date_filters(&[col("eventname").eq(lit("x"))]).is_empty());
    }
}
