//! The watch error: what stops a watcher. Errors of one round (a source unreachable for a
//! while, the lake locked by another ingest) are not errors of the watcher: they are reported
//! and the round is tried again.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad option (exit status 2): a --notify URL, --rules that cannot be read.
    #[error("{0}")]
    Usage(String),
    #[error("cannot listen for SIGINT/SIGTERM: {0}")]
    Signal(std::io::Error),
    #[error(transparent)]
    Ingest(#[from] trailsql_ingest::Error),
    #[error(transparent)]
    Detect(#[from] trailsql_detect::Error),
    #[error(transparent)]
    Lake(#[from] trailsql_lake::Error),
    #[error("io: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Io(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
