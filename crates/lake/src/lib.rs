//! trailsql-lake: the one home of the lake format. Table names and schemas ([`schema`]),
//! partitions and their folder names ([`partition`]), how a data file is encoded ([`file`]),
//! the lake's root and storage ([`store`]), each table's Delta transaction log
//! ([`table_log`]), which source objects have been read ([`state`]),
//! and the `cloudtrail_sources` verdicts table ([`sources`]). Ingest hands rows and files to
//! it; the query crate reads through it; nothing else knows the layout.

mod error;
pub mod file;
pub mod maintenance;
pub mod partition;
pub mod schema;
pub mod sources;
pub mod state;
pub mod status;
pub mod store;
pub mod table_change;
pub mod table_log;

pub use error::{Error, Result};
pub use partition::PartitionKey;
pub use schema::Table;
pub use store::{Lake, s3_store};
pub use table_change::Change;
pub use table_log::{DataFile, NewFile, Snapshot, TableLog};
