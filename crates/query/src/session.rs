//! The session: a DataFusion context over a lake, with `cloudtrail` (alias `cloudtrail_logs`)
//! and `cloudtrail_insights` registered from the fixed schema and their Delta logs, so
//! start-up reads no data;
//! `cloudtrail_sources` holds the integrity verdicts of `ingest --verify` and `detections`
//! the findings `detect --new` kept, both read from their Delta logs too.

use std::sync::Arc;

use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::TableReference;
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::parquet::{ParquetFormat, transform_schema_to_view};
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use trailsql_lake::Lake;
use trailsql_lake::schema::Table;

use crate::Result;
use crate::table::LakeTable;

/// Open a session over the lake at `location` (created empty if it does not exist).
pub async fn open_session(location: &str) -> Result<SessionContext> {
    let lake = Lake::open(location)?;
    // No statistics at planning time: DataFusion would read every file's footer to plan a
    // query, and the scan reads them again. Measured on a 1M-event lake of 120 files, that
    // was 60 of the 90 ms of a GROUP BY; row groups are still pruned by their statistics when
    // the scan opens each file. `SET datafusion.execution.collect_statistics = true` brings
    // it back (count(*) from footers alone, join order from row counts).
    // Twice as many partitions as cores: a partition waiting on a file read (object_store
    // reads local files on the blocking pool) leaves its core to another. Measured over the
    // benchmark's 15 queries on a 1M-event lake: 14% less time than one per core.
    // A footer read is one read: a lake file's footer (67 columns, a row group) is 12 KB, and
    // DataFusion's default 512 KiB read most small files whole to find it: 10% of a
    // count(*) over the 1M-event lake's 250 files. No page index by default: with one row
    // group of pages per file it prunes little and costs a read and a parse per file (the
    // errors-by-principal benchmark query took 18% longer with it). `SET
    // datafusion.execution.parquet.enable_page_index = true` for very large partitions.
    // No byte-range splits of a file between partitions: a file is one row group, so the
    // split's second part found no rows but read the footer again.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_collect_statistics(false)
        .with_target_partitions(2 * cores)
        .with_repartition_file_scans(false);
    let parquet = &mut config.options_mut().execution.parquet;
    parquet.metadata_size_hint = Some(64 << 10);
    parquet.enable_page_index = false;
    let ctx = SessionContext::new_with_config(config);
    if let Some(rest) = lake.url.strip_prefix("s3://") {
        // DataFusion reads the lake's objects through the same S3 configuration ingest used.
        let bucket = rest.split('/').next().unwrap_or(rest);
        let url = url::Url::parse(&format!("s3://{bucket}"))
            .map_err(|e| crate::Error::Usage(format!("lake {}: {e}", lake.url)))?;
        ctx.register_object_store(&url, trailsql_store::s3_store(bucket)?);
    }
    let catalog = ctx.catalog("datafusion").expect("default catalog");
    catalog.register_schema("default", Arc::new(MemorySchemaProvider::new()))?;
    trailsql_lake::state::check_format(&lake).await?;
    for table in Table::ALL {
        // Top-level strings are read as views: a value is a 16-byte view into the page's
        // dictionary or data, not a copy (DataFusion's own choice for Parquet it infers).
        let schema = Arc::new(transform_schema_to_view(&table.schema()));
        let provider: Arc<dyn TableProvider> = Arc::new(LakeTable::new(&lake, table, schema));
        let mut names = vec![table.name()];
        if table == Table::CloudTrail {
            names.push("cloudtrail_logs");
        }
        for name in names {
            ctx.register_table(name, provider.clone())?;
            // Athena users qualify with their database, `default` unless they made another.
            ctx.register_table(TableReference::partial("default", name), provider.clone())?;
        }
    }
    // What `ingest --verify` found about each source object, to keep queries to verified
    // events: `WHERE sourceobject IN (SELECT sourceobject FROM cloudtrail_sources WHERE
    // verdict = 'valid')`.
    let sources = trailsql_lake::sources::SOURCES_TABLE;
    if !register_appended(&ctx, &lake, sources).await? {
        // No log: no verification yet, or the plain table of an earlier trailsql.
        let url = match &lake.local_root {
            Some(root) => {
                let dir = root.join(sources);
                std::fs::create_dir_all(&dir)?;
                ListingTableUrl::parse(format!("{}/", dir.display()))?
            }
            None => ListingTableUrl::parse(format!("{}/{sources}/", lake.url))?,
        };
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(trailsql_lake::sources::sources_schema());
        let provider: Arc<dyn TableProvider> = Arc::new(ListingTable::try_new(config)?);
        ctx.register_table(sources, provider.clone())?;
        ctx.register_table(TableReference::partial("default", sources), provider)?;
    }
    let detections = trailsql_lake::detections::DETECTIONS_TABLE;
    if !register_appended(&ctx, &lake, detections).await? {
        register_inferred(&ctx, &lake, detections).await?;
    }
    crate::dialect::register(&ctx);
    Ok(ctx)
}

/// Register an appended Delta table of the lake (`detections`, `cloudtrail_sources`) read
/// from its log; `false` when it has no log.
async fn register_appended(ctx: &SessionContext, lake: &Lake, name: &str) -> Result<bool> {
    let table = trailsql_lake::AppendedTable::open(lake, name).await?;
    let Some(provider) = crate::appended::AppendedProvider::new(lake, table)? else {
        return Ok(false);
    };
    let provider: Arc<dyn TableProvider> = Arc::new(provider);
    ctx.register_table(name, provider.clone())?;
    ctx.register_table(TableReference::partial("default", name), provider)?;
    Ok(true)
}

/// Register a `detections` table written by an earlier trailsql (plain Parquet files whose
/// footers carry the schema, no Delta log), when it has any files.
async fn register_inferred(ctx: &SessionContext, lake: &Lake, name: &str) -> Result<()> {
    let url = match &lake.local_root {
        Some(root) => {
            let dir = root.join(name);
            let any = std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some());
            if !any {
                return Ok(());
            }
            ListingTableUrl::parse(format!("{}/", dir.display()))?
        }
        None => ListingTableUrl::parse(format!("{}/{name}/", lake.url))?,
    };
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(url).with_listing_options(options);
    let Ok(config) = config.infer_schema(&ctx.state()).await else {
        return Ok(());
    };
    if config
        .file_schema
        .as_ref()
        .is_none_or(|s| s.fields().is_empty())
    {
        return Ok(());
    }
    let provider: Arc<dyn TableProvider> = Arc::new(ListingTable::try_new(config)?);
    ctx.register_table(name, provider.clone())?;
    ctx.register_table(TableReference::partial("default", name), provider)?;
    Ok(())
}
