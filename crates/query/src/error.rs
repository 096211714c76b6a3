//! The query error: a statement that failed, named, with DataFusion's message.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}\n  in statement {index}: {sql}")]
    Statement {
        index: usize,
        sql: String,
        message: String,
    },
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("lake: {0}")]
    Lake(#[from] trailsql_ingest::Error),
    #[error(transparent)]
    Store(#[from] trailsql_store::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Usage(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
