//! trailsql-serve: the web console. An HTTP server ([`server`]) on the tokio runtime the
//! binary already runs, serving the console's page and code (embedded in the binary,
//! [`assets`]) and a JSON API over one query session of the lake: Event history
//! ([`history`]), dashboards ([`dashboard`] over
//! [`day_counts`], [`findings`]) and read-only SQL ([`sql`]).
//! Safe by default: loopback only unless a token guards every request ([`auth`]).

pub mod assets;
pub mod auth;
pub mod dashboard;
pub mod day_counts;
mod error;
pub mod findings;
pub mod history;
pub mod params;
pub mod rows;
pub mod server;
pub mod sql;

pub use error::{ApiError, Error, Result};
pub use server::{ServeOptions, serve};
