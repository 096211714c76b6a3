//! The plan of a run: every loaded rule compiled (or the reason it could not be), and the one
//! SQL query that evaluates all detection rules in a single pass over `cloudtrail`.
//!
//! The query's projection holds, per event, the rules it matches (`sigma_rules`, which tests
//! each event only against the rules filed under its call and service: [`crate::dispatch`]),
//! so the lake is scanned once whatever the number of rules; the events that match none are
//! dropped as the results are read (`scan::matched_events`). When every rule names the calls it is
//! about (`eventName` / `eventSource` equalities), the WHERE also carries `eventname IN
//! (...)` (or `eventsource IN`), the lake's leading sort columns, which the scan evaluates
//! first so the other columns are decoded only for those calls. Sigma compares
//! case-insensitively, so the exact spellings come from the lake itself (a `SELECT DISTINCT`
//! over the sort column, cheap since it is sorted and dictionary-encoded).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::compile::{Compiled, Registry, compile_rule};
use crate::correlation::{self, CorrelationPlan};
use crate::rules::{Body, Rule, RuleIssue, RuleSet};

/// A detection rule ready to run.
#[derive(Debug, Clone)]
pub struct Planned {
    pub rule: Arc<Rule>,
    pub compiled: Compiled,
}

/// Every rule of a set, compiled.
#[derive(Debug, Default)]
pub struct Plan {
    pub detections: Vec<Planned>,
    pub correlations: Vec<CorrelationPlan>,
    pub registry: Registry,
    /// Rules that could not be compiled.
    pub issues: Vec<RuleIssue>,
}

impl Plan {
    /// Compile the rules of `set` (their load issues are carried over).
    pub fn new(set: &RuleSet) -> Plan {
        let mut plan = Plan {
            issues: set.issues.clone(),
            ..Plan::default()
        };
        let mut seen = BTreeSet::new();
        for rule in &set.rules {
            if !seen.insert(rule.id.clone()) {
                plan.issues.push(RuleIssue {
                    path: rule.path.clone(),
                    rule: Some(rule.id.clone()),
                    reason: "a rule with this id was already loaded; this one is not run".into(),
                });
                continue;
            }
            if let Body::Detection(r) = &rule.body {
                match compile_rule(r, &mut plan.registry) {
                    Ok(compiled) => plan.detections.push(Planned {
                        rule: Arc::new(rule.clone()),
                        compiled,
                    }),
                    Err(reason) => plan.issues.push(RuleIssue {
                        path: rule.path.clone(),
                        rule: Some(rule.id.clone()),
                        reason,
                    }),
                }
            }
        }
        for rule in &set.rules {
            if let Body::Correlation(c) = &rule.body {
                match correlation::plan(rule, c, &set.rules, &mut plan.registry) {
                    Ok(p) => plan.correlations.push(p),
                    Err(reason) => plan.issues.push(RuleIssue {
                        path: rule.path.clone(),
                        rule: Some(rule.id.clone()),
                        reason,
                    }),
                }
            }
        }
        plan
    }

    /// True when the rule `id` compiled.
    pub fn compiled(&self, id: &str) -> bool {
        self.detections.iter().any(|d| d.rule.id == id)
            || self.correlations.iter().any(|c| c.rule.id == id)
    }
}

pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Which sort column narrows the scan, and each rule's lower-case values of it.
pub enum Narrowing {
    /// Some rule does not name its calls: scan everything.
    None,
    Names(Vec<BTreeSet<String>>),
    Sources(Vec<BTreeSet<String>>),
}

/// How the run narrows: by event name when every rule names its calls, else by event source
/// when every rule names its services.
pub fn narrowing(rules: &[&Compiled]) -> Narrowing {
    if let Some(n) = rules
        .iter()
        .map(|c| c.narrow.names.clone())
        .collect::<Option<Vec<_>>>()
    {
        return Narrowing::Names(n);
    }
    if let Some(s) = rules
        .iter()
        .map(|c| c.narrow.sources.clone())
        .collect::<Option<Vec<_>>>()
    {
        return Narrowing::Sources(s);
    }
    Narrowing::None
}

/// The columns a finding needs, as `SELECT` items.
pub const EVENT_COLUMNS: &str = "eventtime, eventid, eventsource, eventname, \
recipientaccountid AS account, awsregion AS region, get_field(useridentity, 'arn') AS principal, \
sourceipaddress, sourceobject";

/// The single-pass query: the event columns and `m`, the numbers of the rules (in the order
/// given to `call`'s index) each event matches (none, for many), for the events of `window`
/// (an SQL condition, or `TRUE`). `spellings` maps each lower-case value of the narrowing
/// column to its spellings in the lake.
///
/// Events that match no rule are not filtered out here: a filter copies every column of the
/// events it keeps, and over the benchmark's lake, where most events match, that copy was
/// 0.04-0.08 s of a 1.25 s run.
pub fn query(
    call: &str,
    table: &str,
    window: &str,
    narrowing: &Narrowing,
    spellings: &BTreeMap<String, Vec<String>>,
) -> String {
    let (column, sets) = match narrowing {
        Narrowing::Names(s) => ("eventname", Some(s)),
        Narrowing::Sources(s) => ("eventsource", Some(s)),
        Narrowing::None => ("", None),
    };
    let mut filter = vec![window.to_owned()];
    if let Some(sets) = sets {
        let all: BTreeSet<String> = sets
            .iter()
            .flatten()
            .flat_map(|v| spellings.get(v).into_iter().flatten())
            .map(|s| quote(s))
            .collect();
        if all.is_empty() {
            // None of the rules' calls is in the lake.
            filter.push("FALSE".into());
        } else {
            filter.push(format!(
                "{column} IN ({})",
                all.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    format!(
        "SELECT {EVENT_COLUMNS}, {call} AS m FROM {table} WHERE {}",
        filter.join(" AND ")
    )
}
