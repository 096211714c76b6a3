//! trailsql-detect: Sigma rules compiled to SQL over a trailsql lake.
//!
//! Rules are loaded ([`rules`]), each compiled to one SQL boolean over `cloudtrail`
//! ([`compile`], with fields resolved by [`fields`] and tested by [`matcher`] through the
//! `sigma_match` function of [`udf`]), all detection rules of a run evaluated in one query
//! ([`plan`]) in one scan (`scan`) through the query crate's runner, correlation rules as grouped queries of
//! their own ([`correlation`]), and the matches reported as [`findings`] about an [`event`],
//! put in order by event and rule ([`order`]).

pub mod compile;
pub mod correlation;
pub mod dispatch;
mod error;
pub mod event;
pub mod fields;
pub mod findings;
pub mod kept;
pub mod matcher;
mod order;
pub mod plan;
pub mod rules;
pub mod run;
mod scan;
mod time_text;
pub mod udf;
pub mod value;

#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
mod shipped_tests;

pub use error::{Error, Result};
pub use rules::RuleIssue;
pub use run::{DetectFormat, DetectOptions, Outcome, check, detect, list};
