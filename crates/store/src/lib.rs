//! trailsql-store: the object stores trailsql reads and writes. The main noun is the S3
//! store of a bucket ([`s3_store`]): credentials from the AWS CLI's chain (profiles, SSO,
//! `credential_process`, assume-role, web identity, ECS, IMDS) cached until shortly before
//! they expire, the profile chosen per bucket ([`S3Settings`]), SSE-KMS on writes, and every
//! HTTP request counted ([`RequestStats`]).

mod client;
mod credentials;
mod error;
mod profile;
mod requests;
mod s3;
mod settings;

pub use client::{ClientSettings, client_settings};
pub use error::{Error, Result};
pub use requests::{RequestStats, StoreRequests, bytes, request_stats};
pub use s3::s3_store;
pub use settings::{S3Options, S3Settings, install_settings, settings};
