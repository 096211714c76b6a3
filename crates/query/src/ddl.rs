//! DDL: the statements that register a trailsql lake in another engine (Athena, Trino,
//! Spark, DuckDB), so the same Parquet files serve a distributed engine.

use arrow::datatypes::DataType;
use trailsql_lake::Lake;
use trailsql_lake::schema::{PARTITION_COLUMNS, Table};

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Athena,
    Trino,
    Spark,
    DuckDb,
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "athena" => Ok(Engine::Athena),
            "trino" | "presto" => Ok(Engine::Trino),
            "spark" => Ok(Engine::Spark),
            "duckdb" => Ok(Engine::DuckDb),
            other => Err(format!(
                "unknown engine {other:?} (athena, trino, spark, duckdb)"
            )),
        }
    }
}

/// Type names: Hive's (Athena, Spark) or Trino's.
fn type_name(t: &DataType, trino: bool) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View if trino => "varchar".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Int32 => "int".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::Struct(fields) => {
            let (open, sep, close) = if trino {
                ("row(", " ", ")")
            } else {
                ("struct<", ":", ">")
            };
            let inner: Vec<String> = fields
                .iter()
                .map(|f| format!("{}{sep}{}", f.name(), type_name(f.data_type(), trino)))
                .collect();
            format!("{open}{}{close}", inner.join(","))
        }
        DataType::List(item) if trino => format!("array({})", type_name(item.data_type(), trino)),
        DataType::List(item) => format!("array<{}>", type_name(item.data_type(), trino)),
        other => other.to_string().to_ascii_lowercase(),
    }
}

fn columns(table: Table, quote: char, trino: bool) -> String {
    let cols: Vec<String> = table
        .schema()
        .fields()
        .iter()
        .map(|f| {
            format!(
                "  {quote}{}{quote} {}",
                f.name(),
                type_name(f.data_type(), trino)
            )
        })
        .collect();
    cols.join(",\n")
}

/// DuckDB's name of a lake column's type.
fn duckdb_type(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Boolean => "BOOLEAN".into(),
        // The lake's timestamps are UTC-adjusted: DuckDB reads them WITH TIME ZONE.
        DataType::Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| format!("\"{}\" {}", f.name(), duckdb_type(f.data_type())))
                .collect();
            format!("STRUCT({})", inner.join(", "))
        }
        DataType::List(item) => format!("{}[]", duckdb_type(item.data_type())),
        other => other.to_string().to_ascii_uppercase(),
    }
}

/// A DuckDB view with `table`'s columns and no rows, for a table that has no file yet:
/// `read_parquet` of a glob that matches nothing fails when the view is created, and the
/// statements after it would never run.
fn duckdb_empty_view(table: Table) -> String {
    let mut cols: Vec<String> = table
        .schema()
        .fields()
        .iter()
        .map(|f| {
            format!(
                "CAST(NULL AS {}) AS \"{}\"",
                duckdb_type(f.data_type()),
                f.name()
            )
        })
        .collect();
    cols.extend(
        PARTITION_COLUMNS
            .iter()
            .map(|c| format!("CAST(NULL AS VARCHAR) AS \"{c}\"")),
    );
    format!(
        "-- {name} has no files yet: an empty view with its columns (run `trailsql ddl` again \
         once it has data)\nCREATE OR REPLACE VIEW {name} AS SELECT {} WHERE false;\n",
        cols.join(", "),
        name = table.name()
    )
}

/// The lake's tables that hold no data file yet (their DDL differs for engines that need
/// files to bind a table).
pub async fn empty_tables(lake: &str) -> Result<Vec<Table>> {
    // Not made by looking: a local lake that does not exist has no files.
    let local = lake.strip_prefix("file://").unwrap_or(lake);
    if !lake.starts_with("s3://") && !std::path::Path::new(local).exists() {
        return Ok(Table::ALL.to_vec());
    }
    let lake = Lake::open(lake)?;
    let mut empty = Vec::new();
    for table in Table::ALL {
        let files = lake.list(table.name()).await?;
        if !files.iter().any(|(path, _)| path.ends_with(".parquet")) {
            empty.push(table);
        }
    }
    Ok(empty)
}

/// The statements for `engine`, with the lake at `location` (an `s3://` URL for Athena);
/// `empty` are the tables that have no data file yet.
pub fn ddl(engine: Engine, location: &str, empty: &[Table]) -> Result<String> {
    let loc = location.trim_end_matches('/');
    if engine == Engine::Athena && !loc.starts_with("s3://") {
        return Err(Error::Usage(format!(
            "Athena reads from S3: --location must be an s3:// URL, not {loc:?}"
        )));
    }
    let mut out = String::new();
    if engine == Engine::DuckDb && loc.starts_with("s3://") {
        out.push_str(
            "-- s3:// needs the httpfs extension and an S3 secret, for example:\n\
             --   INSTALL httpfs; LOAD httpfs;\n\
             --   CREATE SECRET (TYPE s3, PROVIDER credential_chain);\n",
        );
    }
    for table in Table::ALL {
        let name = table.name();
        let tloc = format!("{loc}/{name}");
        match engine {
            Engine::Athena => out.push_str(&format!(
                "CREATE EXTERNAL TABLE IF NOT EXISTS `{name}` (\n{}\n)\nPARTITIONED BY (`date` string, `region` string)\n\
                 STORED AS PARQUET\nLOCATION '{tloc}/'\nTBLPROPERTIES (\n  'projection.enabled' = 'true',\n  \
                 'projection.date.type' = 'date',\n  'projection.date.format' = 'yyyy-MM-dd',\n  \
                 'projection.date.range' = '2013-01-01,NOW',\n  'projection.date.interval' = '1',\n  \
                 'projection.date.interval.unit' = 'DAYS',\n  'projection.region.type' = 'injected',\n  \
                 'storage.location.template' = '{tloc}/date=${{date}}/region=${{region}}'\n);\n\n",
                columns(table, '`', false)
            )),
            Engine::Trino => out.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS hive.default.{name} (\n{},\n  \"date\" varchar,\n  region varchar\n)\n\
                 WITH (external_location = '{tloc}', format = 'PARQUET', partitioned_by = ARRAY['date', 'region']);\n\
                 CALL hive.system.sync_partition_metadata('default', '{name}', 'ADD');\n\n",
                columns(table, '"', true)
            )),
            Engine::Spark => out.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS {name} (\n{},\n  `date` string,\n  `region` string\n)\nUSING parquet\n\
                 PARTITIONED BY (`date`, `region`)\nLOCATION '{tloc}';\n{repair}\n",
                columns(table, '`', false),
                // MSCK REPAIR fails on a location that does not exist yet.
                repair = if empty.contains(&table) {
                    format!("-- {name} has no files yet: run MSCK REPAIR TABLE {name} once it has data\n")
                } else {
                    format!("MSCK REPAIR TABLE {name};\n")
                }
            )),
            Engine::DuckDb if empty.contains(&table) => out.push_str(&duckdb_empty_view(table)),
            Engine::DuckDb => out.push_str(&format!(
                "CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{tloc}/date=*/region=*/*.parquet', hive_partitioning = true, \
                 hive_types = {{'date': VARCHAR, 'region': VARCHAR}}, union_by_name = true);\n"
            )),
        }
    }
    if engine == Engine::DuckDb {
        out.push_str("CREATE OR REPLACE VIEW cloudtrail_logs AS SELECT * FROM cloudtrail;\n");
    } else if engine != Engine::Trino {
        // Athena and Spark: the name AWS's documentation uses.
        out.push_str("CREATE VIEW IF NOT EXISTS cloudtrail_logs AS SELECT * FROM cloudtrail;\n");
    }
    Ok(out)
}
