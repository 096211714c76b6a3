//! trailsql-ingest: CloudTrail objects -> Arrow -> a deduplicated, Hive-partitioned Parquet
//! lake. Owns the table schema.

pub mod cwl;
mod decode;
pub mod envelope;
mod error;
mod ingest;
pub mod json;
pub mod rows;
pub mod shape;
pub mod source;
pub mod stream;
pub mod time;
pub mod verify;

pub use error::{Error, Result};

pub use ingest::{DEFAULT_MAX_REQUESTS, IngestOptions, Problem, Summary, ingest};
