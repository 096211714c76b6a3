//! trailsql-lake: the one home of the lake format. Table names and schemas ([`schema`]),
//! partitions and their folder names ([`partition`]), how a data file is encoded ([`file`]),
//! the lake's root and storage ([`store`]), what has been committed and read ([`state`]),
//! and the `cloudtrail_sources` verdicts table ([`sources`]). Ingest hands rows and files to
//! it; the query crate reads through it; nothing else knows the layout.

mod error;
pub mod file;
pub mod partition;
pub mod schema;
pub mod sources;
pub mod state;
pub mod store;

pub use error::{Error, Result};
pub use partition::PartitionKey;
pub use schema::Table;
pub use store::{Lake, s3_store};
