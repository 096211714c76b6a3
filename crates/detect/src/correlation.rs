//! Sigma correlation rules as grouped queries: the events of the referenced rules, put in
//! `timespan` windows (tumbling, aligned to the epoch: `date_bin`) and grouped by the
//! `group-by` fields; `event_count` counts the events of a group and window, `value_count`
//! the distinct values of a field, `temporal` asks that every referenced rule matched in
//! it, `temporal_ordered` that they matched in the order listed (each rule's first match in
//! the window after the previous rule's first match).

use std::sync::Arc;

use rsigma_parser::{ConditionOperator, CorrelationCondition, CorrelationRule, CorrelationType};

use crate::compile::{Compiled, Item, Registry, compile_rule};
use crate::fields::resolve;
use crate::matcher::Test;
use crate::plan::{EVENT_COLUMNS, quote};
use crate::rules::{Body, Rule};

/// A correlation rule ready to run.
#[derive(Debug, Clone)]
pub struct CorrelationPlan {
    pub rule: Arc<Rule>,
    /// Ids of the rules it correlates (their own findings are not reported unless the
    /// correlation says `generate: true`).
    pub referenced: Vec<String>,
    pub generate: bool,
    /// The query, with `{table}` and `{window}` standing for the events' table and the
    /// run's time condition. Its columns:
    /// the event columns of each group's first event, `grp`, `window_start`, `window_end`.
    pub sql: String,
}

fn op_sql(op: ConditionOperator) -> &'static str {
    match op {
        ConditionOperator::Lt => "<",
        ConditionOperator::Lte => "<=",
        ConditionOperator::Gt => ">",
        ConditionOperator::Gte => ">=",
        ConditionOperator::Eq => "=",
        ConditionOperator::Neq => "<>",
    }
}

/// A field's text for one referenced rule's events (`sigma_text` of a registered item).
fn text_sql(field: &str, reg: &mut Registry) -> Result<String, String> {
    let source = resolve(field)?;
    let arg = source.arg_sql();
    reg.items.push(Item {
        source,
        test: Test::Exists(true),
        reference: None,
    });
    Ok(format!("sigma_text({}, {arg})", reg.items.len() - 1))
}

/// The referenced rules, compiled.
fn referenced<'a>(
    c: &CorrelationRule,
    all: &'a [Rule],
    reg: &mut Registry,
) -> Result<Vec<(&'a Rule, Compiled)>, String> {
    let mut refs = Vec::new();
    for r in &c.rules {
        let found = all
            .iter()
            .find(|x| x.id == *r || x.name.as_deref() == Some(r.as_str()))
            .ok_or_else(|| format!("references rule {r:?}, which is not loaded"))?;
        let Body::Detection(d) = &found.body else {
            return Err(format!(
                "references {r:?}, a correlation: chained correlations are not supported"
            ));
        };
        let compiled = compile_rule(d, reg).map_err(|e| format!("referenced rule {r:?}: {e}"))?;
        refs.push((found, compiled));
    }
    if refs.is_empty() {
        return Err("references no rules".into());
    }
    Ok(refs)
}

/// Each group-by field's SQL, per referenced rule (an alias names a field per rule).
fn group_exprs(
    c: &CorrelationRule,
    refs: &[(&Rule, Compiled)],
    reg: &mut Registry,
) -> Result<Vec<(String, String)>, String> {
    let mut groups = Vec::new();
    for g in &c.group_by {
        let alias = c.aliases.iter().find(|a| a.alias == *g);
        let mut whens = Vec::new();
        for (r, comp) in refs {
            let field = match alias {
                Some(a) => a
                    .mapping
                    .get(&r.id)
                    .or_else(|| r.name.as_ref().and_then(|n| a.mapping.get(n)))
                    .ok_or_else(|| format!("alias {g:?} has no field for rule {:?}", r.id))?
                    .clone(),
                None => g.clone(),
            };
            whens.push(format!(
                "WHEN {} THEN {}",
                comp.predicate,
                text_sql(&field, reg)?
            ));
        }
        groups.push((g.clone(), format!("CASE {} END", whens.join(" "))));
    }
    Ok(groups)
}

/// Plan a correlation over the detection rules of the set.
pub fn plan(
    rule: &Rule,
    c: &CorrelationRule,
    all: &[Rule],
    reg: &mut Registry,
) -> Result<CorrelationPlan, String> {
    let refs = referenced(c, all, reg)?;
    let groups = group_exprs(c, &refs, reg)?;
    let span = c.timespan.seconds.max(1);
    let flags: Vec<String> = refs
        .iter()
        .enumerate()
        .map(|(i, (_, comp))| format!("{} AS r{i}", comp.predicate))
        .collect();
    let any: Vec<String> = (0..refs.len()).map(|i| format!("r{i}")).collect();
    let mut inner_cols = vec![
        EVENT_COLUMNS.to_owned(),
        format!(
            "date_bin(INTERVAL '{span} seconds', eventtime, TIMESTAMP '1970-01-01T00:00:00Z') AS window_start"
        ),
    ];
    inner_cols.extend(flags);
    for (i, (_, sql)) in groups.iter().enumerate() {
        inner_cols.push(format!("{sql} AS g{i}"));
    }
    let having = having(c, &refs, reg, &mut inner_cols)?;
    if matches!(c.correlation_type, CorrelationType::TemporalOrdered) && refs.len() > 2 {
        return Err("temporal_ordered over more than two rules is not supported".into());
    }
    let group_cols: Vec<String> = (0..groups.len()).map(|i| format!("g{i}")).collect();
    let group_text = if groups.is_empty() {
        "CAST(NULL AS VARCHAR)".to_owned()
    } else {
        let parts: Vec<String> = groups
            .iter()
            .enumerate()
            .map(|(i, (name, _))| format!("{}, coalesce(g{i}, '')", quote(&format!("{name}="))))
            .collect();
        format!(
            "concat_ws(', ', {})",
            parts
                .iter()
                .map(|p| format!("concat({p})"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let first = |c: &str| format!("first_value({c} ORDER BY eventtime, eventid) AS {c}");
    let outer_cols = [
        "min(eventtime) AS eventtime".to_owned(),
        first("eventid"),
        first("eventsource"),
        first("eventname"),
        first("account"),
        first("region"),
        first("principal"),
        first("sourceipaddress"),
        first("sourceobject"),
        format!("{group_text} AS grp"),
        "window_start".to_owned(),
        format!("window_start + INTERVAL '{span} seconds' AS window_end"),
    ];
    let mut group_by = vec!["window_start".to_owned()];
    group_by.extend(group_cols);
    let sql = format!(
        "SELECT {} FROM (SELECT {} FROM {{table}} WHERE {{window}}) WHERE {} GROUP BY {} HAVING {}",
        outer_cols.join(", "),
        inner_cols.join(", "),
        any.join(" OR "),
        group_by.join(", "),
        having.join(" AND ")
    );
    Ok(CorrelationPlan {
        rule: Arc::new(rule.clone()),
        referenced: refs.iter().map(|(r, _)| r.id.clone()).collect(),
        generate: c.generate,
        sql,
    })
}

/// The HAVING conditions of the correlation's type; `value_count` adds its field to the
/// inner query's columns (as `vc`).
fn having(
    c: &CorrelationRule,
    refs: &[(&Rule, Compiled)],
    reg: &mut Registry,
    inner_cols: &mut Vec<String>,
) -> Result<Vec<String>, String> {
    Ok(match (&c.correlation_type, &c.condition) {
        (CorrelationType::EventCount, CorrelationCondition::Threshold { predicates, .. }) => {
            predicates
                .iter()
                .map(|(op, n)| format!("count(*) {} {n}", op_sql(*op)))
                .collect::<Vec<_>>()
        }
        (
            CorrelationType::ValueCount,
            CorrelationCondition::Threshold {
                predicates,
                field: Some(fields),
                ..
            },
        ) => {
            let [field] = fields.as_slice() else {
                return Err("value_count counts one field".into());
            };
            let mut whens = Vec::new();
            for (_, comp) in refs {
                whens.push(format!(
                    "WHEN {} THEN {}",
                    comp.predicate,
                    text_sql(field, reg)?
                ));
            }
            inner_cols.push(format!("CASE {} END AS vc", whens.join(" ")));
            predicates
                .iter()
                .map(|(op, n)| format!("count(DISTINCT vc) {} {n}", op_sql(*op)))
                .collect()
        }
        (CorrelationType::ValueCount, _) => {
            return Err("value_count needs `condition: field:` and a threshold".into());
        }
        (CorrelationType::Temporal, _) => {
            (0..refs.len()).map(|i| format!("bool_or(r{i})")).collect()
        }
        (CorrelationType::TemporalOrdered, _) => {
            let mut conds: Vec<String> =
                (0..refs.len()).map(|i| format!("bool_or(r{i})")).collect();
            for i in 1..refs.len() {
                // Each rule matched at or after the first match of the one before it.
                conds.push(format!(
                    "max(CASE WHEN r{i} THEN eventtime END) >= min(CASE WHEN r{} THEN eventtime END)",
                    i - 1
                ));
            }
            conds
        }
        (t, _) => {
            return Err(format!(
                "correlation type {} is not supported (event_count, value_count, temporal, temporal_ordered are)",
                t.as_str()
            ));
        }
    })
}
