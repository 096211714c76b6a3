//! A `detect` run: load and select the rules, compile them, evaluate them over the lake in
//! one pass (plus one grouped query per correlation), and print the findings; also `--list`
//! and `--check`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimestampMicrosecondType};
use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;
use trailsql_query::OutputFormat;

use crate::findings::{self, Correlated, EventColumns, Finding};
use crate::plan::{Plan, quote};
use crate::rules::{self, RuleIssue, RuleSet, level_rank};
use crate::{Error, Result};

/// How findings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectFormat {
    Plain(OutputFormat),
    /// A page with a summary by level and ATT&CK tactic.
    Html,
}

impl std::str::FromStr for DetectFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s.eq_ignore_ascii_case("html") {
            return Ok(DetectFormat::Html);
        }
        match s.parse::<OutputFormat>()? {
            OutputFormat::Parquet => {
                Err("detect prints table, csv, tsv, json, ndjson, markdown or html".into())
            }
            f => Ok(DetectFormat::Plain(f)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DetectOptions {
    pub lake: String,
    /// Rule files and directories; empty: the shipped rules.
    pub rules: Vec<PathBuf>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only rules of this level or higher.
    pub level: Option<String>,
    /// Only rules with one of these tags (or a tag under one: `attack.t1098` selects
    /// `attack.t1098.001`).
    pub tags: Vec<String>,
    pub format: DetectFormat,
    /// Write the findings to a file in this directory instead of standard output.
    pub out_dir: Option<PathBuf>,
    /// Run each rule only over the data committed since its last `--new` run, and append
    /// the findings to the lake's `detections` table.
    pub new: bool,
}

impl DetectOptions {
    pub fn new(lake: impl Into<String>) -> Self {
        DetectOptions {
            lake: lake.into(),
            rules: Vec::new(),
            since: None,
            until: None,
            level: None,
            tags: Vec::new(),
            format: DetectFormat::Plain(OutputFormat::Table),
            out_dir: None,
            new: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    /// Rules evaluated (every finding's rule is one of them).
    pub rules: Vec<Arc<rules::Rule>>,
    /// Rules for other log sources.
    pub skipped: usize,
    /// Rules that could not be loaded or compiled.
    pub issues: Vec<RuleIssue>,
}

/// Load the rules and plan those `--level` and `--tag` select (a correlation's rules are
/// compiled for it even when not selected themselves). The set keeps every rule loaded.
fn load(opts: &DetectOptions) -> Result<(RuleSet, Plan)> {
    let mut set = rules::load(&opts.rules)?;
    let min = match &opts.level {
        Some(l) => Some(level_rank(l).ok_or_else(|| {
            Error::Usage(format!(
                "--level {l:?}: expected one of {}",
                rules::LEVELS.join(", ")
            ))
        })?),
        None => None,
    };
    let tags: Vec<String> = opts.tags.iter().map(|t| t.to_ascii_lowercase()).collect();
    let selected = |r: &rules::Rule| {
        min.is_none_or(|m| level_rank(&r.level).is_some_and(|l| l >= m))
            && (tags.is_empty()
                || r.tags.iter().any(|t| {
                    let t = t.to_ascii_lowercase();
                    tags.iter()
                        .any(|want| t == *want || t.starts_with(&format!("{want}.")))
                }))
    };
    let mut plan = Plan::new(&set);
    plan.detections.retain(|d| selected(&d.rule));
    plan.correlations.retain(|c| selected(&c.rule));
    set.rules.retain(|r| selected(r));
    let kept: BTreeSet<(String, String)> = set
        .rules
        .iter()
        .map(|r| (r.path.clone(), r.id.clone()))
        .collect();
    plan.issues.retain(|i| match &i.rule {
        Some(id) => kept.contains(&(i.path.clone(), id.clone())),
        None => true,
    });
    Ok((set, plan))
}

fn warn_issues(issues: &[RuleIssue], err: &mut dyn Write) -> Result<()> {
    for i in issues {
        writeln!(err, "warning: {i}")?;
    }
    Ok(())
}

/// `--list`: every rule found, whether it compiled.
pub fn list(opts: &DetectOptions, out: &mut dyn Write) -> Result<()> {
    let (set, plan) = load(opts)?;
    let reasons: BTreeMap<(String, String), String> = plan
        .issues
        .iter()
        .filter_map(|i| {
            i.rule
                .as_ref()
                .map(|r| ((i.path.clone(), r.clone()), i.reason.clone()))
        })
        .collect();
    let mut rows: Vec<[String; 6]> = Vec::new();
    for r in &set.rules {
        let compiled = match reasons.get(&(r.path.clone(), r.id.clone())) {
            Some(reason) => format!("no: {reason}"),
            None => "yes".to_owned(),
        };
        rows.push([
            r.id.clone(),
            r.level.clone(),
            r.status.clone(),
            r.title.clone(),
            compiled,
            r.path.clone(),
        ]);
    }
    for i in plan.issues.iter().filter(|i| i.rule.is_none()) {
        rows.push([
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            format!("no: {}", i.reason),
            i.path.clone(),
        ]);
    }
    for (path, id) in &set.skipped {
        rows.push([
            id.clone(),
            String::new(),
            String::new(),
            String::new(),
            "skipped: not AWS CloudTrail".into(),
            path.clone(),
        ]);
    }
    let names = ["id", "level", "status", "title", "compiled", "path"];
    let schema = Arc::new(arrow::datatypes::Schema::new(
        names
            .iter()
            .map(|n| arrow::datatypes::Field::new(*n, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let cols = (0..6)
        .map(|c| {
            Arc::new(arrow::array::StringArray::from_iter_values(
                rows.iter().map(|r| r[c].as_str()),
            )) as arrow::array::ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), cols)?;
    let format = match opts.format {
        DetectFormat::Plain(f) => f,
        DetectFormat::Html => OutputFormat::Table,
    };
    format.write(&schema, &[batch], out)?;
    Ok(())
}

/// `--check`: compile every rule; the issues found (loading and compiling).
pub fn check(opts: &DetectOptions, err: &mut dyn Write) -> Result<Vec<RuleIssue>> {
    let (set, plan) = load(opts)?;
    warn_issues(&plan.issues, err)?;
    writeln!(
        err,
        "{} rules compiled, {} skipped (not AWS CloudTrail), {} could not be used",
        plan.detections.len() + plan.correlations.len(),
        set.skipped.len(),
        plan.issues.len()
    )?;
    Ok(plan.issues)
}

/// The SQL condition of a time window.
pub fn window_sql(since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> String {
    let mut w = Vec::new();
    let t = |d: DateTime<Utc>| quote(&d.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
    if let Some(s) = since {
        w.push(format!("eventtime >= {}", t(s)));
    }
    if let Some(u) = until {
        w.push(format!("eventtime < {}", t(u)));
    }
    if w.is_empty() {
        "TRUE".to_owned()
    } else {
        w.join(" AND ")
    }
}

/// `trailsql detect`: run the selected rules over the lake and print the findings.
pub async fn detect(
    opts: &DetectOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome> {
    let (set, plan) = load(opts)?;
    warn_issues(&plan.issues, err)?;
    let ctx = trailsql_query::open_session(&opts.lake).await?;
    let window = window_sql(opts.since, opts.until);
    let started = std::time::Instant::now();
    let findings = if opts.new {
        incremental(&ctx, &opts.lake, plan_clone(&plan, |_| true), &window).await?
    } else {
        evaluate(&ctx, &plan, &window).await?
    };
    let evaluated = started.elapsed();
    let outcome = Outcome {
        rules: plan
            .detections
            .iter()
            .map(|d| d.rule.clone())
            .chain(plan.correlations.iter().map(|c| c.rule.clone()))
            .collect(),
        skipped: set.skipped.len(),
        issues: plan.issues,
        findings,
    };
    print(&outcome, opts, out)?;
    writeln!(
        err,
        "{} findings from {} rules ({} skipped: not AWS CloudTrail; {} could not be used) in {:.2}s ({:.2}s evaluating, {:.2}s printing)",
        outcome.findings.len(),
        outcome.rules.len(),
        outcome.skipped,
        outcome.issues.len(),
        started.elapsed().as_secs_f64(),
        evaluated.as_secs_f64(),
        (started.elapsed() - evaluated).as_secs_f64(),
    )?;
    Ok(outcome)
}

fn print(outcome: &Outcome, opts: &DetectOptions, out: &mut dyn Write) -> Result<()> {
    let ext = match opts.format {
        DetectFormat::Html => "html",
        DetectFormat::Plain(OutputFormat::Csv) => "csv",
        DetectFormat::Plain(OutputFormat::Tsv) => "tsv",
        DetectFormat::Plain(OutputFormat::Json) => "json",
        DetectFormat::Plain(OutputFormat::NdJson) => "ndjson",
        DetectFormat::Plain(OutputFormat::Markdown) => "md",
        DetectFormat::Plain(_) => "txt",
    };
    let Some(dir) = &opts.out_dir else {
        return print_to(outcome, opts, out);
    };
    let path = dir.join(format!("detections.{ext}"));
    let cannot = |source: std::io::Error| Error::Write {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(cannot)?;
    let mut file = std::fs::File::create(&path).map_err(cannot)?;
    print_to(outcome, opts, &mut file).map_err(|e| match e.io_error() {
        // The file's failure, named (a full disk, say).
        Some(io) => cannot(std::io::Error::new(io.kind(), io.to_string())),
        None => e,
    })
}

fn print_to(outcome: &Outcome, opts: &DetectOptions, out: &mut dyn Write) -> Result<()> {
    let (findings, rules) = (&outcome.findings[..], &outcome.rules[..]);
    match opts.format {
        DetectFormat::Html => out.write_all(findings::html(findings, rules.len()).as_bytes())?,
        // Rows printed from parts are written from where they are, a thousand pieces a call
        // (`PartsWriter::rows`): a buffer would only copy them.
        DetectFormat::Plain(f) if f.prints_parts() => findings::write(findings, rules, f, out)?,
        DetectFormat::Plain(f) => {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut *out);
            findings::write(findings, rules, f, &mut w)?;
            w.flush()?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Register the run's functions on `ctx` and evaluate every rule of `plan` over the events
/// of `window` (an SQL condition on `cloudtrail`).
pub async fn evaluate(ctx: &SessionContext, plan: &Plan, window: &str) -> Result<Vec<Finding>> {
    evaluate_over(ctx, plan, "cloudtrail", window).await
}

/// [`evaluate`] over the events of `table` (a table with the `cloudtrail` schema).
pub async fn evaluate_over(
    ctx: &SessionContext,
    plan: &Plan,
    table: &str,
    window: &str,
) -> Result<Vec<Finding>> {
    let items = Arc::new(plan.registry.items.clone());
    for f in crate::udf::functions(items.clone()) {
        ctx.register_udf(f);
    }
    // Rules a correlation aggregates report through it, unless it says `generate: true`.
    let quiet: BTreeSet<&str> = plan
        .correlations
        .iter()
        .filter(|c| !c.generate)
        .flat_map(|c| c.referenced.iter().map(String::as_str))
        .collect();
    let run: Vec<_> = plan
        .detections
        .iter()
        .filter(|d| !quiet.contains(d.rule.id.as_str()))
        .collect();
    let findings = crate::scan::detected(ctx, &run, items, table, window).await?;
    let correlated = correlated(ctx, plan, table, window).await?;
    Ok(crate::order::merged(findings, correlated))
}

/// The findings of the plan's correlation rules, a grouped query each, in order.
async fn correlated(
    ctx: &SessionContext,
    plan: &Plan,
    table: &str,
    window: &str,
) -> Result<Vec<Finding>> {
    let mut correlated = Vec::new();
    for c in &plan.correlations {
        let sql = c.sql.replace("{table}", table).replace("{window}", window);
        let batches = trailsql_query::query(ctx, &sql).await?;
        for b in &batches {
            let events = EventColumns::new(b)?;
            let grp = text(b, "grp")?;
            let (start, end) = (micros(b, "window_start")?, micros(b, "window_end")?);
            for (row, group) in grp.into_iter().enumerate() {
                let window = (start.value(row), end.value(row));
                correlated.push(Finding {
                    rule: c.rule.clone(),
                    event: events.event(row),
                    correlated: Some(Box::new(Correlated { group, window })),
                });
            }
        }
    }
    Ok(crate::order::sorted(correlated))
}

pub(crate) fn text(b: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let Some(a) = b.column_by_name(name) else {
        return Err(Error::Usage(format!("query result has no column {name}")));
    };
    let a = cast(a, &DataType::Utf8)?;
    let s = a.as_string::<i32>();
    Ok((0..s.len())
        .map(|i| s.is_valid(i).then(|| s.value(i).to_owned()))
        .collect())
}

/// A timestamp column in microseconds.
pub(crate) fn micros(
    b: &RecordBatch,
    name: &str,
) -> Result<arrow::array::TimestampMicrosecondArray> {
    let a = b
        .column_by_name(name)
        .ok_or_else(|| Error::Usage(format!("query result has no column {name}")))?;
    let a = cast(
        a,
        &DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
    )?;
    Ok(a.as_primitive::<TimestampMicrosecondType>().clone())
}

/// The part of a plan whose rules `keep` selects (the same registry).
fn plan_clone(plan: &Plan, keep: impl Fn(&str) -> bool) -> Plan {
    Plan {
        detections: plan
            .detections
            .iter()
            .filter(|d| keep(&d.rule.id))
            .cloned()
            .collect(),
        correlations: plan
            .correlations
            .iter()
            .filter(|c| keep(&c.rule.id))
            .cloned()
            .collect(),
        registry: crate::compile::Registry {
            items: plan.registry.items.clone(),
        },
        issues: Vec::new(),
    }
}

/// `--new`: each detection rule over the files committed since its last run, correlations
/// over the window; findings not yet kept are appended to `detections` and returned, then
/// every rule's watermark moves past the lake's latest Delta version.
async fn incremental(
    ctx: &SessionContext,
    location: &str,
    plan: Plan,
    window: &str,
) -> Result<Vec<Finding>> {
    use crate::kept;
    let lake = trailsql_lake::Lake::open(location)?;
    let snap = kept::snapshot(&lake).await?;
    let head = snap.head();
    let mut marks = kept::watermarks(&lake).await?;
    let mark = |id: &str| marks.get(id).copied().unwrap_or(0);
    let quiet: BTreeSet<&str> = plan
        .correlations
        .iter()
        .filter(|c| !c.generate)
        .flat_map(|c| c.referenced.iter().map(String::as_str))
        .collect();
    let mut by_mark: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for d in plan
        .detections
        .iter()
        .filter(|d| !quiet.contains(d.rule.id.as_str()))
    {
        by_mark
            .entry(mark(&d.rule.id))
            .or_default()
            .push(d.rule.id.clone());
    }
    let mut findings = Vec::new();
    for (m, ids) in &by_mark {
        let files = snap.since(*m).await?;
        if files.is_empty() {
            continue;
        }
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let table = format!("cloudtrail_since_{m}");
        kept::register_files(ctx, &lake, &table, &files)?;
        let part = plan_clone(&plan, |id| ids.iter().any(|x| x == id));
        let part = Plan {
            correlations: Vec::new(),
            ..part
        };
        findings.extend(evaluate_over(ctx, &part, &table, window).await?);
    }
    // Correlations need their windows whole: they are evaluated over the lake (narrow them
    // with --since); only groups and windows not kept yet are new.
    let corr = Plan {
        detections: Vec::new(),
        ..plan_clone(&plan, |_| true)
    };
    if !corr.correlations.is_empty() && head > 0 {
        findings.extend(evaluate_over(ctx, &corr, "cloudtrail", window).await?);
    }
    let ids: BTreeSet<String> = plan
        .detections
        .iter()
        .map(|d| d.rule.id.clone())
        .chain(plan.correlations.iter().map(|c| c.rule.id.clone()))
        .collect();
    let new = kept::append(ctx, &lake, &findings, &ids).await?;
    for id in ids {
        marks.insert(id, head);
    }
    kept::save_watermarks(&lake, &marks).await?;
    Ok(new)
}
