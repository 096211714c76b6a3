//! Findings of a window for the dashboard, by level and ATT&CK tactic: from the `detections`
//! table (written by `trailsql detect --new`) when the lake has one, otherwise from the shipped
//! Sigma rules run over the window as `trailsql detect` runs them, and the shipped detection
//! reports run as `trailsql report` runs them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use trailsql_query::report::{Kind, Report, catalog};

use crate::ApiError;
use crate::params::{Window, window_params};
use crate::rows::{objects, to_rows};
use crate::server::AppState;
use crate::sql::query_rejection;

/// The ATT&CK tactic of each technique the shipped reports cite (the first tactic ATT&CK
/// lists for it, from attack.mitre.org's technique pages).
const TACTICS: &[(&str, &str)] = &[
    ("T1078", "Initial Access"),
    ("T1087", "Discovery"),
    ("T1098", "Persistence"),
    ("T1110", "Credential Access"),
    ("T1136", "Persistence"),
    ("T1485", "Impact"),
    ("T1530", "Collection"),
    ("T1535", "Defense Evasion"),
    ("T1556", "Credential Access"),
    ("T1562", "Defense Evasion"),
    ("T1580", "Discovery"),
];

/// The tactics of the techniques a report's references cite, in order, once each.
pub fn tactics(references: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    for word in references.split(|c: char| !c.is_ascii_alphanumeric() && c != '.') {
        let technique = word.split('.').next().unwrap_or(word);
        if let Some((_, tactic)) = TACTICS.iter().find(|(t, _)| *t == technique)
            && !out.contains(tactic)
        {
            out.push(*tactic);
        }
    }
    out
}

/// `GET /api/findings?since=&until=`.
pub async fn findings(
    State(state): State<Arc<AppState>>,
    q: Result<Query<Window>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(w) = q.map_err(query_rejection)?;
    let started = Instant::now();
    let (since, until) = w.resolve(30)?;
    let params = window_params(since, until);
    let mut out = if state.ctx.table_exist("detections").unwrap_or(false) {
        from_detections(&state, &params).await?
    } else {
        let mut list = from_rules(&state, since, until).await?;
        list.extend(from_reports(&state, &params).await?);
        summarise("rules", list)
    };
    out["elapsed_ms"] = json!(started.elapsed().as_secs_f64() * 1e3);
    Ok(Json(out))
}

/// A column of `detections` by the first of these names it has.
fn pick(names: &[String], candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|c| names.iter().any(|n| n == *c))
        .map(|c| (*c).to_owned())
}

async fn from_detections(state: &AppState, params: &[(String, String)]) -> Result<Value, ApiError> {
    let df = state
        .ctx
        .table("detections")
        .await
        .map_err(|e| ApiError::bad_request(e.strip_backtrace()))?;
    let names: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let col = |c: Option<String>| c.map_or("NULL".to_owned(), |c| format!("\"{c}\""));
    let rule_col = pick(&names, &["rule_title", "title", "rule", "rule_id", "name"]);
    let rule = col(rule_col.clone());
    let level = col(pick(&names, &["level", "severity"]));
    let tactic = col(pick(&names, &["tactic", "tactics", "attack_tactic"]));
    let window = pick(&names, &["eventtime", "event_time", "time"])
        .map(|t| format!("WHERE \"{t}\" >= $since AND \"{t}\" < $until"))
        .unwrap_or_default();
    let sql = format!(
        "SELECT CAST({rule} AS VARCHAR) AS title, CAST({level} AS VARCHAR) AS level, \
         CAST({tactic} AS VARCHAR) AS tactic, count(*) AS count FROM detections {window} \
         GROUP BY 1, 2, 3 ORDER BY count DESC"
    );
    let params = if window.is_empty() { &[][..] } else { params };
    let (schema, batches) = trailsql_query::query_with(&state.ctx, &sql, params).await?;
    let rows = objects(&to_rows(&schema, &batches)?);
    let list: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            // The rows behind a finding, for the SQL editor.
            let sql = match (&rule_col, r["title"].as_str()) {
                (Some(c), Some(t)) => format!(
                    "SELECT * FROM detections WHERE CAST(\"{c}\" AS VARCHAR) = '{}' LIMIT 1000",
                    t.replace('\'', "''")
                ),
                _ => "SELECT * FROM detections LIMIT 1000".to_owned(),
            };
            json!({
                "id": r["title"], "title": r["title"], "level": r["level"],
                "tactics": r["tactic"].as_str().map(|t| vec![t.to_owned()]).unwrap_or_default(),
                "count": r["count"], "sql": sql,
            })
        })
        .collect();
    Ok(summarise("detections", list))
}

/// The shipped Sigma rules over the window, one entry per rule (those that found nothing too).
async fn from_rules(
    state: &AppState,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Value>, ApiError> {
    let detect_error = |e: trailsql_detect::Error| {
        ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    };
    let set = trailsql_detect::rules::load(&[]).map_err(detect_error)?;
    let plan = trailsql_detect::plan::Plan::new(&set);
    let window = trailsql_detect::run::window_sql(Some(since), Some(until));
    let found = trailsql_detect::run::evaluate(&state.ctx, &plan, &window)
        .await
        .map_err(detect_error)?;
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for f in &found {
        *counts.entry(f.rule.id.as_str()).or_default() += 1;
    }
    Ok(plan
        .detections
        .iter()
        .map(|d| {
            json!({
                "id": d.rule.id, "title": d.rule.title, "level": d.rule.level,
                "tactics": d.rule.tactics(),
                "count": counts.get(d.rule.id.as_str()).copied().unwrap_or(0),
            })
        })
        .collect())
}

async fn from_reports(
    state: &AppState,
    params: &[(String, String)],
) -> Result<Vec<Value>, ApiError> {
    // Detection reports that need nothing but the window (the others ask for a principal
    // or a key: investigations to start from the SQL editor).
    let reports: Vec<Report> = catalog(None)?
        .into_iter()
        .filter(|r| r.kind == Kind::Detection && r.params.is_empty())
        .collect();
    let counts = futures::future::try_join_all(reports.iter().map(|r| async move {
        let (_, batches) = trailsql_query::query_with(&state.ctx, &r.sql, params).await?;
        Ok::<_, ApiError>(batches.iter().map(|b| b.num_rows()).sum::<usize>())
    }))
    .await?;
    let list = reports
        .iter()
        .zip(counts)
        .map(|(r, n)| {
            json!({
                "id": r.id, "title": r.title, "level": r.severity,
                "tactics": tactics(&r.references), "count": n,
            })
        })
        .collect();
    Ok(list)
}

/// Totals by level and by tactic beside the list.
fn summarise(source: &str, list: Vec<Value>) -> Value {
    let mut by_level: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_tactic: BTreeMap<String, u64> = BTreeMap::new();
    for f in &list {
        let n = f["count"].as_u64().unwrap_or(0);
        if n == 0 {
            continue;
        }
        let level = f["level"].as_str().unwrap_or("unknown").to_owned();
        *by_level.entry(level).or_default() += n;
        let tactics = f["tactics"].as_array().cloned().unwrap_or_default();
        if tactics.is_empty() {
            *by_tactic.entry("(none)".into()).or_default() += n;
        }
        for t in tactics {
            *by_tactic
                .entry(t.as_str().unwrap_or("").to_owned())
                .or_default() += n;
        }
    }
    json!({ "source": source, "findings": list, "by_level": by_level, "by_tactic": by_tactic })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tactics_come_from_the_cited_techniques() {
        assert_eq!(
            tactics("CIS 3.3; MITRE ATT&CK T1078.004, T1562.008; T1078"),
            ["Initial Access", "Defense Evasion"]
        );
        assert!(tactics("CIS AWS Foundations Benchmark v1.2.0 3.1").is_empty());
    }

    #[test]
    fn every_technique_the_shipped_reports_cite_has_a_tactic() {
        for r in catalog(None).unwrap() {
            for word in r
                .references
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '.')
            {
                if word.len() >= 5
                    && word.starts_with('T')
                    && word[1..5].chars().all(|c| c.is_ascii_digit())
                {
                    assert!(!tactics(word).is_empty(), "{}: {word}", r.id);
                }
            }
        }
    }
}
