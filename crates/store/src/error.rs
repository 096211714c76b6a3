//! The store error: what stops a store from being built. Failures of requests are
//! object_store's own errors.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("AWS profile {profile:?}: {reason}")]
    Profile { profile: String, reason: String },
    #[error("{0}")]
    Settings(String),
    #[error("S3 bucket {bucket:?}: {reason}")]
    Build { bucket: String, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
