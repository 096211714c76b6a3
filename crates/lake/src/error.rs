//! The lake error: what can go wrong opening, reading or changing a lake.
//!
//! A variant either prints its cause or hands it on as its `source`, never both: the
//! wrapped errors of other crates are printed (their text already carries their own
//! causes) and not exposed as sources, so the binary prints each cause once.

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
    #[error("invalid duration {0:?}: {1}")]
    InvalidDuration(String, String),
    /// A change lost to a concurrent one that removed a file it removes too.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("lake state is corrupt: {0}")]
    CorruptState(String),
    #[error("object store: {0}")]
    ObjectStore(object_store::Error),
    #[error("arrow: {0}")]
    Arrow(arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(parquet::errors::ParquetError),
    #[error("json: {0}")]
    Json(serde_json::Error),
    #[error("delta log: {0}")]
    Delta(deltalake::DeltaTableError),
    #[error("io: {0}")]
    Io(std::io::Error),
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
    Delta(deltalake::DeltaTableError),
    Io(std::io::Error)
);

impl Error {
    /// The I/O error underneath, for callers that act on its kind (a closed pipe).
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            Error::Io(e) => Some(e),
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
    }
}
