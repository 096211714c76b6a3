//! The ingest error: everything that can stop an ingest run. Bad input files and records
//! are not errors: they are counted and reported, and the run goes on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid source {source_arg:?}: {reason}")]
    InvalidSource { source_arg: String, reason: String },
    #[error("invalid lake location {0:?}: {1}")]
    InvalidLake(String, String),
    #[error(
        "invalid time {0:?}: expected 2024-01-15, RFC 3339 (2024-01-15T10:00:00Z) or relative (7d, 24h, 30m)"
    )]
    InvalidTime(String),
    #[error("no such file or directory: {0}")]
    NotFound(PathBuf),
    #[error("the lake is locked by another ingest ({0}); if none is running, delete {1}")]
    Locked(String, String),
    #[error("lake state is corrupt: {0}")]
    CorruptState(String),
    #[error("public keys file {file}: {reason}")]
    PublicKeys { file: String, reason: String },
    #[error("strict mode: {0}")]
    Strict(String),
    #[error(transparent)]
    Store(#[from] trailsql_store::Error),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("task failed: {0}")]
    Task(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
