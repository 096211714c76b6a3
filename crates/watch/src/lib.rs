//! trailsql-watch: `trailsql ingest --watch`. The main noun is the watcher ([`watch()`]): it
//! runs ingest rounds every interval until SIGINT/SIGTERM, runs `detect --new` after each
//! round that committed events, prints one line per round with something new, and hands the
//! findings to a webhook [`notify::Notifier`] that delivers them in the background.

mod error;
pub mod notify;
pub mod round;
pub mod stop;
mod watch;

pub use error::{Error, Result};
pub use round::Totals;
pub use watch::{DEFAULT_INTERVAL, WatchOptions, parse_interval, watch};
