//! trailsql-ingest: CloudTrail objects -> Arrow -> a deduplicated, Hive-partitioned Parquet
//! lake. Owns the table schema.

mod error;
pub mod json;
pub mod rows;
pub mod schema;
pub mod shape;
pub mod time;

pub use error::{Error, Result};
