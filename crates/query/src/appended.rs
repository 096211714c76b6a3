//! A provider over an appended Delta table of the lake (`detections`, `cloudtrail_sources`):
//! each scan reads the table's latest version from its log and scans the files it names, so
//! files of a write that has not committed are never read and a table appended to by
//! another process is current for the next statement.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchemaBuilder;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use tokio::sync::Mutex;
use trailsql_lake::{AppendedTable, Lake};

pub struct AppendedProvider {
    lake: Lake,
    schema: SchemaRef,
    table: Mutex<AppendedTable>,
}

impl std::fmt::Debug for AppendedProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendedProvider")
            .field("lake", &self.lake.url)
            .finish()
    }
}

impl AppendedProvider {
    /// A provider over `table` (which has a log) with the columns of its log.
    pub fn new(lake: &Lake, table: AppendedTable) -> crate::Result<Option<Self>> {
        let Some(schema) = table.schema()? else {
            return Ok(None);
        };
        Ok(Some(AppendedProvider {
            lake: lake.clone(),
            schema,
            table: Mutex::new(table),
        }))
    }
}

#[async_trait]
impl TableProvider for AppendedProvider {
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
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let external = |e: trailsql_lake::Error| DataFusionError::External(Box::new(e));
        let files = {
            let mut table = self.table.lock().await;
            table.refresh().await.map_err(external)?;
            table.files().map_err(external)?
        };
        if files.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let mut partitioned = Vec::with_capacity(files.len());
        for (path, size) in files {
            let location = self.lake.root_path(&path).map_err(external)?;
            partitioned.push(PartitionedFile::from(object_store::ObjectMeta {
                location,
                last_modified: chrono::DateTime::UNIX_EPOCH,
                size,
                e_tag: None,
                version: None,
            }));
        }
        let format = ParquetFormat::default().with_options(state.default_table_options().parquet);
        let groups = FileGroup::new(partitioned).split_files(state.config().target_partitions());
        let source = format.file_source(TableSchemaBuilder::from(&self.schema).build());
        let config =
            FileScanConfigBuilder::new(ObjectStoreUrl::parse(self.lake.store_url())?, source)
                .with_file_groups(groups)
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
        format.create_physical_plan(state, config).await
    }
}
