//! trailsql-query: SQL over a trailsql lake. A DataFusion session with the lake's tables
//! ([`session`]), statements run one after another ([`runner`]), results printed in the
//! user's format ([`format`]).

pub mod appended;
pub mod combined;
pub mod ddl;
pub mod dialect;
mod error;
pub mod event;
pub mod fit;
pub mod format;
pub mod lookup;
pub mod parts;
pub mod repl;
pub mod report;
pub mod runner;
pub mod session;
pub mod table;

pub use error::{Error, Result};
pub use format::OutputFormat;
pub use parts::{Cells, DelimitedParts, Parts, PartsWriter};
pub use repl::{ReplOptions, default_history, run_repl};
pub use runner::{
    SqlOptions, SqlSource, parse_param, parse_statements, query, query_stream, query_with,
    run_sources, run_sql, statement_frame,
};
pub use session::open_session;
