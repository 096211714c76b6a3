//! The plan of a run: every loaded rule compiled (or the reason it could not be), and the one
//! SQL query that evaluates all detection rules in a single pass over `cloudtrail`.
//!
//! The query's projection holds one boolean per rule and its WHERE is their OR, so the lake
//! is scanned once whatever the number of rules. When every rule names the calls it is
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

/// The single-pass query: the event columns, then `m0..mN` (rule i matched), for the events
/// of `window` (an SQL condition, or `TRUE`) that match some rule. `spellings` maps each
/// lower-case value of the narrowing column to its spellings in the lake.
pub fn query(
    rules: &[&Compiled],
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
    let spelled = |set: &BTreeSet<String>| -> Vec<String> {
        set.iter()
            .flat_map(|v| spellings.get(v).into_iter().flatten())
            .map(|s| quote(s))
            .collect()
    };
    let mut preds = Vec::new();
    let mut all = BTreeSet::new();
    for (i, c) in rules.iter().enumerate() {
        let p = match sets {
            Some(sets) => {
                let vals = spelled(&sets[i]);
                if vals.is_empty() {
                    // None of the rule's calls is in the lake.
                    "FALSE".to_owned()
                } else {
                    all.extend(vals.iter().cloned());
                    format!("({column} IN ({}) AND {})", vals.join(", "), c.predicate)
                }
            }
            None => c.predicate.clone(),
        };
        preds.push(p);
    }
    let mut filter = vec![window.to_owned()];
    if sets.is_some() {
        if all.is_empty() {
            filter.push("FALSE".into());
        } else {
            filter.push(format!(
                "{column} IN ({})",
                all.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let flags: Vec<String> = preds
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{p} AS m{i}"))
        .collect();
    let any: Vec<String> = (0..preds.len()).map(|i| format!("m{i}")).collect();
    format!(
        "SELECT * FROM (SELECT {EVENT_COLUMNS}, {} FROM {table} WHERE {}) WHERE {}",
        flags.join(", "),
        filter.join(" AND "),
        if any.is_empty() {
            "FALSE".to_owned()
        } else {
            any.join(" OR ")
        }
    )
}
