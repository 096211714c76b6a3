//! DDL: the statements that register a trailsql lake in another engine (Athena, Trino,
//! Spark, DuckDB), so the same files serve a distributed engine: as Delta Lake tables by
//! default, or as plain Hive tables for readers without Delta.

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

/// How the tables are declared: as Delta tables (the default: readers take the files of
/// one committed version from the log), or as plain Hive tables over the data folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Delta,
    Hive,
}

/// What the lake holds, for the statements that depend on it.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    /// Event tables that hold no data file yet (engines that bind a table to its files or
    /// its log cannot declare them).
    pub empty: Vec<Table>,
    /// The appended Delta tables (`cloudtrail_sources`, `detections`) that have data.
    pub appended: Vec<&'static str>,
}

/// Which of the lake's tables hold data, from their Delta logs.
pub async fn contents(lake: &str) -> Result<Contents> {
    // Not made by looking: a local lake that does not exist has no files.
    let local = lake.strip_prefix("file://").unwrap_or(lake);
    if !lake.starts_with("s3://") && !std::path::Path::new(local).exists() {
        return Ok(Contents {
            empty: Table::ALL.to_vec(),
            appended: Vec::new(),
        });
    }
    let lake = Lake::open(lake)?;
    let mut out = Contents::default();
    for table in Table::ALL {
        let log = trailsql_lake::TableLog::open(&lake, table).await?;
        if log.snapshot()?.files.is_empty() {
            out.empty.push(table);
        }
    }
    for name in [
        trailsql_lake::sources::SOURCES_TABLE,
        trailsql_lake::detections::DETECTIONS_TABLE,
    ] {
        let t = trailsql_lake::AppendedTable::open(&lake, name).await?;
        if !t.files()?.is_empty() {
            out.appended.push(name);
        }
    }
    Ok(out)
}

/// The statements for `engine`, with the lake at `location` (an `s3://` URL for Athena).
pub fn ddl(engine: Engine, form: Form, location: &str, contents: &Contents) -> Result<String> {
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
    match form {
        Form::Delta => out.push_str(&delta_ddl(engine, loc, contents)),
        Form::Hive => out.push_str(&hive_ddl(engine, loc, &contents.empty)),
    }
    let cloudtrail_declared = form == Form::Hive
        || engine == Engine::DuckDb
        || !contents.empty.contains(&Table::CloudTrail);
    if engine == Engine::DuckDb {
        out.push_str("CREATE OR REPLACE VIEW cloudtrail_logs AS SELECT * FROM cloudtrail;\n");
    } else if engine != Engine::Trino && cloudtrail_declared {
        // Athena and Spark: the name AWS's documentation uses.
        out.push_str("CREATE VIEW IF NOT EXISTS cloudtrail_logs AS SELECT * FROM cloudtrail;\n");
    }
    Ok(out)
}

/// The tables as Delta tables: each engine reads the columns, partitions and files of the
/// latest version from the log, so only committed data is seen, and compaction, retention
/// and vacuum are invisible to it.
fn delta_ddl(engine: Engine, loc: &str, contents: &Contents) -> String {
    let mut out = String::from(match engine {
        Engine::Athena => {
            "-- Delta Lake tables (Athena engine version 3 reads their columns from the log)\n"
        }
        Engine::Trino => {
            "-- Delta Lake tables, for Trino's Delta Lake connector as catalog `delta` (with\n\
             -- delta.register-table-procedure.enabled=true); the schema `default` must exist\n"
        }
        Engine::Spark => "-- Delta Lake tables (Spark with the delta-spark package)\n",
        Engine::DuckDb => {
            "-- Delta Lake tables, read with DuckDB's delta extension: INSTALL delta; LOAD delta;\n"
        }
    });
    let names = Table::ALL
        .iter()
        .map(|t| (t.name(), contents.empty.contains(t)))
        .chain(contents.appended.iter().map(|n| (*n, false)));
    for (name, empty) in names {
        let tloc = format!("{loc}/{name}");
        if empty {
            match (engine, Table::by_name(name)) {
                (Engine::DuckDb, Some(table)) => out.push_str(&duckdb_empty_view(table)),
                _ => out.push_str(&format!(
                    "-- {name} has no data yet (no Delta version with files): run `trailsql ddl` \
                     again once it has\n"
                )),
            }
            continue;
        }
        out.push_str(&match engine {
            Engine::Athena => format!(
                "CREATE EXTERNAL TABLE IF NOT EXISTS `{name}`\nLOCATION '{tloc}/'\n\
                 TBLPROPERTIES ('table_type' = 'DELTA');\n\n"
            ),
            Engine::Trino => format!(
                "CALL delta.system.register_table(schema_name => 'default', table_name => '{name}', \
                 table_location => '{tloc}');\n"
            ),
            Engine::Spark => {
                format!("CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION '{tloc}';\n")
            }
            Engine::DuckDb => format!(
                "CREATE OR REPLACE VIEW {name} AS SELECT * FROM delta_scan('{tloc}');\n"
            ),
        });
    }
    out
}

/// The event tables as plain Hive tables over the `date=/region=` folders, for readers
/// without Delta; `empty` are the tables that have no data file yet.
fn hive_ddl(engine: Engine, loc: &str, empty: &[Table]) -> String {
    let mut out = String::from(
        "-- Plain Hive tables, for readers without Delta Lake support. They list the data folders\n\
         -- instead of reading the Delta log, so they see the right rows only once the lake is\n\
         -- committed and vacuumed: files of a running or killed ingest, and files that compaction\n\
         -- or retention removed, are read until `trailsql lake vacuum` deletes them.\n",
    );
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
    out
}
