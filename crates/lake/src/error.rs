//! The lake error: what can go wrong opening, reading or changing a lake.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid lake location {0:?}: {1}")]
    InvalidLake(String, String),
    #[error("the lake is locked by another ingest ({0}); if none is running, delete {1}")]
    Locked(String, String),
    #[error(
        "{0} was written by an earlier trailsql (commit records in _trailsql/log, no Delta log): run `trailsql lake upgrade` to convert it in place"
    )]
    NeedsUpgrade(String),
    #[error("lake state is corrupt: {0}")]
    CorruptState(String),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("delta log: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
