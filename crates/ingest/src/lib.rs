//! trailsql-ingest: CloudTrail objects -> Arrow -> a deduplicated, Hive-partitioned Parquet
//! lake. Owns the table schema.

mod error;
mod ingest;
pub mod json;
pub mod rows;
pub mod shape;
pub mod source;
pub mod time;
pub mod verify;

pub use error::{Error, Result};

pub use ingest::{IngestOptions, Problem, Summary, ingest};
