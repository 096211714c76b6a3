//! The dialect layer: what makes queries written for Athena (Presto/Trino) and CloudTrail
//! Lake run unchanged. Functions are registered on the session; syntax DataFusion rejects is
//! rewritten on the parsed statement.

mod access;
mod functions;
mod jsonpath;
mod rewrite;

pub use functions::{joda_to_chrono, mysql_to_chrono};
pub use jsonpath::JsonPath;
pub use rewrite::rewrite;

use datafusion::prelude::SessionContext;

/// Register the dialect's functions on a session.
pub fn register(ctx: &SessionContext) {
    for f in functions::all() {
        ctx.register_udf(f);
    }
}
