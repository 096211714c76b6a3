//! The detect error: what stops a `detect` run. A rule that cannot be loaded or compiled is
//! not an error of the run: it is reported with its path and reason (see [`crate::RuleIssue`]).
//! Other crates' errors are transparent: their text and causes are printed once.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad command line or option (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// `--rules PATH` that cannot be read.
    #[error("rules {path}: {reason}")]
    Rules { path: String, reason: String },
    /// `--out-dir`: the folder or the findings' file there cannot be made or written.
    #[error("cannot write {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Query(#[from] trailsql_query::Error),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Ingest(#[from] trailsql_ingest::Error),
    #[error(transparent)]
    Lake(#[from] trailsql_lake::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The I/O error this error is, or wraps without exposing it as a source (transparent
    /// variants show their inner error's text and causes, not the inner error): how the
    /// binary tells a closed pipe (`trailsql detect | head`) from a failure.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            Error::Io(e) | Error::Write { source: e, .. } => Some(e),
            Error::Query(e) => e.io_error(),
            Error::Lake(e) => e.io_error(),
            Error::Ingest(e) => e.io_error(),
            Error::Arrow(arrow::error::ArrowError::IoError(_, e)) => Some(e),
            Error::DataFusion(datafusion::error::DataFusionError::IoError(e)) => Some(e),
            _ => None,
        }
    }
}
