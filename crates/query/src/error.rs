//! The query error: a statement that failed, named, with DataFusion's message.
//!
//! A variant either prints its cause or hands it on as its `source`, never both, so the
//! binary prints each cause once. Errors of other crates are shown as they are
//! (`transparent`: their text, and their causes after it).

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}\n  in statement {index}: {sql}")]
    Statement {
        index: usize,
        sql: String,
        message: String,
    },
    /// A report whose statement failed (or that has none): a runtime failure, not a usage
    /// error.
    #[error("report {id} ({origin}): {message}")]
    Report {
        id: String,
        origin: String,
        message: String,
    },
    /// Results could not be written to a file.
    #[error("cannot write {path}")]
    Write {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The terminal (line editor) failed.
    #[error("terminal: {0}")]
    Terminal(String),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error(transparent)]
    Lake(#[from] trailsql_lake::Error),
    #[error(transparent)]
    Ingest(#[from] trailsql_ingest::Error),
    #[error(transparent)]
    Store(#[from] trailsql_store::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A bad argument or command line: exit status 2.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub(crate) fn write(
        path: &std::path::Path,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::Write {
            path: path.display().to_string(),
            source: source.into(),
        }
    }

    /// The I/O error this error is, or wraps without exposing it as a source (a transparent
    /// variant shows its inner error's text and causes, not the inner error itself).
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            Error::Io(e) => Some(e),
            Error::Lake(e) => e.io_error(),
            Error::Ingest(e) => e.io_error(),
            Error::Arrow(arrow::error::ArrowError::IoError(_, e)) => Some(e),
            Error::DataFusion(datafusion::error::DataFusionError::IoError(e)) => Some(e),
            Error::Write { source, .. } => source.downcast_ref(),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
