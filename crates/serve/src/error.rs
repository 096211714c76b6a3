//! The console's errors: [`Error`] stops the server (it cannot listen), [`ApiError`] answers
//! one request with a status and a JSON message, never a stack trace.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--listen {0:?}: expected an address and port such as 127.0.0.1:8642 or [::1]:8642")]
    Address(String),
    #[error("server: {0}")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Query(#[from] trailsql_query::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A request that failed: its status and the message the page shows.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<trailsql_query::Error> for ApiError {
    fn from(e: trailsql_query::Error) -> Self {
        // A statement the engine refused is the request's fault; anything else (an unreadable
        // lake file) is the server's, said as plainly.
        let status = match e {
            trailsql_query::Error::Statement { .. } | trailsql_query::Error::Usage(_) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}
