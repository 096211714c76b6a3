//! A lake table: DataFusion's listing table over `LAKE/<table>/date=D/region=R/`, with one
//! addition: a predicate on `eventtime` (comparisons, BETWEEN, string or timestamp literals,
//! also through `from_iso8601_timestamp(eventtime)`) is turned into one on the `date`
//! partition, so a time window reads only its days without the user naming `date`. The
//! listing table is made for each scan with the session's Parquet options, so `SET
//! datafusion.execution.parquet.*` applies to the lake as it does to DataFusion's own tables.

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use async_trait::async_trait;
use chrono::DateTime;
use datafusion::catalog::Session;
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown, col, lit,
};
use datafusion::physical_plan::ExecutionPlan;
use trailsql_lake::schema::{CLUSTER_KEYS, column_name};

#[derive(Debug)]
pub struct LakeTable {
    url: ListingTableUrl,
    schema: SchemaRef,
    partition_cols: Vec<(String, DataType)>,
    /// With the default options: what the table answers before a scan.
    inner: ListingTable,
}

impl LakeTable {
    /// The table of `.parquet` files under `url`, with `schema` and hive partition columns.
    pub fn new(
        url: ListingTableUrl,
        schema: SchemaRef,
        partition_cols: Vec<(String, DataType)>,
    ) -> Result<Self> {
        let inner = listing(&url, &schema, &partition_cols, ParquetFormat::default())?;
        Ok(LakeTable {
            url,
            schema,
            partition_cols,
            inner,
        })
    }
}

fn listing(
    url: &ListingTableUrl,
    schema: &SchemaRef,
    partition_cols: &[(String, DataType)],
    format: ParquetFormat,
) -> Result<ListingTable> {
    let options = ListingOptions::new(Arc::new(format))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partition_cols.to_vec());
    let config = ListingTableConfig::new(url.clone())
        .with_listing_options(options)
        .with_schema(schema.clone());
    ListingTable::try_new(config)
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Every filter is offered to the scan (eventtime ones become partition filters);
        // those the listing table cannot answer exactly are applied again above it.
        Ok(self
            .inner
            .supports_filters_pushdown(filters)?
            .into_iter()
            .map(|p| match p {
                TableProviderFilterPushDown::Unsupported => TableProviderFilterPushDown::Inexact,
                other => other,
            })
            .collect())
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
        // error code) cost more to skip than they save, so only such filters turn it on,
        // and they are evaluated first. Measured on the 1M-event benchmark lake: the
        // console-logins query (eventname = 'ConsoleLogin') 97 -> 67 ms; the three
        // error-code queries were 6-15% slower with pushdown, so they keep it off.
        if !options.global.pushdown_filters && all.iter().any(is_clustered) {
            options.global.pushdown_filters = true;
            all.sort_by_key(|f| !is_clustered(f));
        }
        let format = ParquetFormat::default().with_options(options);
        listing(&self.url, &self.schema, &self.partition_cols, format)?
            .scan(state, projection, &all, limit)
            .await
    }
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
                    let Some(t) = t else { continue };
                    match op {
                        Operator::Gt | Operator::GtEq => out.push(col("date").gt_eq(lit(day(t)))),
                        Operator::Lt => out.push(col("date").lt_eq(lit(day(t - 1)))),
                        Operator::LtEq => out.push(col("date").lt_eq(lit(day(t)))),
                        Operator::Eq => out.push(col("date").eq(lit(day(t)))),
                        _ => {}
                    }
                }
                Expr::Between(Between {
                    expr,
                    negated: false,
                    low,
                    high,
                }) if is_eventtime(expr) => {
                    if let Some(lo) = micros(low) {
                        out.push(col("date").gt_eq(lit(day(lo))));
                    }
                    if let Some(hi) = micros(high) {
                        out.push(col("date").lt_eq(lit(day(hi))));
                    }
                }
                _ => {}
            }
        }
    }
    out
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
