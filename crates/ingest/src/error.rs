//! The ingest error: everything that can stop an ingest run. Bad input files and records
//! are not errors: they are counted and reported, and the run goes on.
//!
//! A variant either prints its cause or hands it on as its `source`, never both: the
//! wrapped errors of other crates are printed (their text already carries their own
//! causes) and not exposed as sources, so the binary prints each cause once.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid source {source_arg:?}: {reason}")]
    InvalidSource { source_arg: String, reason: String },
    #[error(
        "invalid time {0:?}: expected 2024-01-15, RFC 3339 (2024-01-15T10:00:00Z) or relative (7d, 24h, 30m)"
    )]
    InvalidTime(String),
    #[error("CloudWatch Logs log group {group:?} (region {region}): {reason}")]
    LogGroup {
        group: String,
        region: String,
        reason: String,
    },
    #[error("no such file or directory: {0}")]
    NotFound(PathBuf),
    #[error("public keys file {file}: {reason}")]
    PublicKeys { file: String, reason: String },
    #[error("strict mode: {0}")]
    Strict(String),
    #[error(transparent)]
    Store(#[from] trailsql_store::Error),
    #[error(transparent)]
    Lake(#[from] trailsql_lake::Error),
    #[error("object store: {0}")]
    ObjectStore(object_store::Error),
    #[error("arrow: {0}")]
    Arrow(arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(parquet::errors::ParquetError),
    #[error("json: {0}")]
    Json(serde_json::Error),
    #[error("io: {0}")]
    Io(std::io::Error),
    #[error("task failed: {0}")]
    Task(String),
}

macro_rules! printed_cause {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Error {
                Error::$variant(e)
            }
        }
    )*};
}

printed_cause!(
    ObjectStore(object_store::Error),
    Arrow(arrow::error::ArrowError),
    Parquet(parquet::errors::ParquetError),
    Json(serde_json::Error),
    Io(std::io::Error)
);

impl Error {
    /// The I/O error underneath, for callers that act on its kind (a closed pipe).
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            Error::Io(e) => Some(e),
            Error::Lake(e) => e.io_error(),
            Error::Arrow(arrow::error::ArrowError::IoError(_, e)) => Some(e),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_wrapped_error_is_printed_once() {
        let disk = std::io::Error::from_raw_os_error(28);
        let e = Error::from(object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(disk),
        });
        assert_eq!(
            e.to_string(),
            "object store: Generic LocalFileSystem error: No space left on device (os error 28)"
        );
        assert!(e.source().is_none(), "printed, so not a source too");
        let e = Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(e.source().is_none());
        assert_eq!(
            e.io_error().map(|e| e.kind()),
            Some(std::io::ErrorKind::BrokenPipe)
        );
    }
}
