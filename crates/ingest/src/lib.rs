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
mod summary;
pub mod time;
pub mod verify;
mod writer;

pub use error::{Error, Result};

pub use ingest::{DEFAULT_MAX_REQUESTS, IngestOptions, ingest};
pub use summary::{Problem, Summary};
