//! Integration tests of the `trailsql` binary and of the lake it writes: one test binary
//! for the whole product (each test binary links all of DataFusion).

mod big_objects;
mod common;
mod crash;
mod cwl;
mod dedupe;
mod detect;
mod envelopes;
mod errors;
mod lake;
mod lookup;
mod maintenance;
mod readers;
mod repl;
mod reports;
mod s3;
mod s3_credentials;
mod serve;
mod serve_dashboard;
mod serve_safety;
mod shapes;
mod shared_samples;
mod slt;
mod sources;
mod sql;
mod verify;
mod watch;
mod writers;
