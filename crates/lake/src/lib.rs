//! trailsql-lake: the one home of the lake format. Table names and schemas ([`schema`]),
//! partitions and their folder names ([`partition`]), how a data file is encoded ([`file`]),
//! the lake's root and storage ([`store`]), each table's Delta transaction log
//! ([`table_log`]) and the file list readers replay from it ([`file_list`]), which source
//! objects have been read ([`state`], kept by day in [`source_day`]), the
//! `cloudtrail_sources` verdicts table ([`sources`]) and the `detections` table of kept
//! findings ([`detections`]), both appended Delta tables ([`appended`]). Ingest hands rows
//! and files to it; the query crate reads through it; nothing else knows the layout.

pub mod appended;
pub mod detections;
mod error;
pub mod file;
pub mod file_list;
pub mod maintenance;
pub mod partition;
pub mod schema;
pub mod source_day;
pub mod sources;
pub mod state;
pub mod status;
pub mod store;
pub mod table_change;
pub mod table_log;

#[cfg(test)]
mod state_tests;

pub use appended::AppendedTable;
pub use error::{Error, Result};
pub use file_list::FileList;
pub use partition::PartitionKey;
pub use schema::Table;
pub use store::{Lake, s3_store};
pub use table_change::Change;
pub use table_log::{DataFile, NewFile, Snapshot, TableLog};
