//! Findings: one row per (rule, event), or per (correlation rule, group, window), with what
//! the rule says about itself (its author too: the Detection Rule License asks results to
//! keep it) and what identifies the event. Printed in any of the query crate's formats, or
//! as an HTML page with a summary by level and by ATT&CK tactic.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use trailsql_query::OutputFormat;

use crate::Result;
use crate::rules::{Rule, level_rank};

/// The event a finding is about (for a correlation: its first event).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Event {
    /// Microseconds since the epoch, UTC.
    pub eventtime: i64,
    pub eventid: Option<String>,
    pub eventsource: Option<String>,
    pub eventname: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub principal: Option<String>,
    pub sourceipaddress: Option<String>,
    pub sourceobject: Option<String>,
}

/// One finding.
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: Arc<Rule>,
    /// Shared by the findings of one event.
    pub event: Arc<Event>,
    /// A correlation's group (`field=value, ...`) and window (start, end, in microseconds).
    pub group: Option<String>,
    pub window: Option<(i64, i64)>,
}

/// The columns of a finding, in order.
pub fn schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        s("rule_id"),
        s("rule_title"),
        s("level"),
        s("status"),
        s("tags"),
        s("author"),
        s("rule_path"),
        Field::new("eventtime", ts(), true),
        s("eventid"),
        s("eventsource"),
        s("eventname"),
        s("account"),
        s("region"),
        s("principal"),
        s("sourceipaddress"),
        s("sourceobject"),
        s("group"),
        Field::new("window_start", ts(), true),
        Field::new("window_end", ts(), true),
    ]))
}

/// The findings as one batch of [`schema`].
pub fn to_batch(findings: &[Finding]) -> Result<RecordBatch> {
    Ok(arrow_batch(findings)?)
}

fn arrow_batch(findings: &[Finding]) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let mut text: Vec<StringBuilder> = (0..16).map(|_| StringBuilder::new()).collect();
    let mut times: Vec<TimestampMicrosecondBuilder> = (0..3)
        .map(|_| TimestampMicrosecondBuilder::new().with_timezone("UTC"))
        .collect();
    // A rule's tags as text, made once per rule and batch, not once per finding.
    let mut tag_text: HashMap<*const Rule, String> = HashMap::new();
    for f in findings {
        let r = &f.rule;
        let e = &f.event;
        let tags = tag_text
            .entry(Arc::as_ptr(r))
            .or_insert_with(|| r.tags.join(","));
        let vals: [Option<&str>; 15] = [
            Some(&r.id),
            Some(&r.title),
            Some(&r.level),
            Some(&r.status),
            Some(tags.as_str()),
            Some(&r.author),
            Some(&r.path),
            e.eventid.as_deref(),
            e.eventsource.as_deref(),
            e.eventname.as_deref(),
            e.account.as_deref(),
            e.region.as_deref(),
            e.principal.as_deref(),
            e.sourceipaddress.as_deref(),
            e.sourceobject.as_deref(),
        ];
        for (b, v) in text.iter_mut().zip(vals) {
            b.append_option(v);
        }
        text[15].append_option(f.group.as_deref());
        times[0].append_value(e.eventtime);
        times[1].append_option(f.window.map(|w| w.0));
        times[2].append_option(f.window.map(|w| w.1));
    }
    let mut t = text
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let mut ts = times
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let mut cols: Vec<ArrayRef> = Vec::new();
    cols.extend(t.by_ref().take(7));
    cols.push(ts.next().expect("eventtime"));
    cols.extend(t.by_ref().take(8));
    cols.push(t.next().expect("group"));
    cols.extend(ts);
    RecordBatch::try_new(schema(), cols)
}

/// Findings per printed batch.
const PRINT_BATCH: usize = 8192;

/// Print the findings in `format`, a batch at a time: a run over a whole lake can find
/// millions, and their text is several times the size of the findings themselves.
pub fn write(findings: &[Finding], format: OutputFormat, out: &mut dyn Write) -> Result<()> {
    let mut batches = findings.chunks(PRINT_BATCH).map(|c| Ok(arrow_batch(c)?));
    format.write_each(&schema(), &mut batches, out)?;
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// An HTML page: counts by level and by ATT&CK tactic, then every finding.
pub fn html(findings: &[Finding], rules_run: usize) -> String {
    let mut by_level: BTreeMap<(std::cmp::Reverse<usize>, String), usize> = BTreeMap::new();
    let mut by_tactic: BTreeMap<String, usize> = BTreeMap::new();
    for f in findings {
        let rank = level_rank(&f.rule.level).unwrap_or(0);
        *by_level
            .entry((std::cmp::Reverse(rank), f.rule.level.clone()))
            .or_default() += 1;
        let tactics = f.rule.tactics();
        if tactics.is_empty() {
            *by_tactic.entry("(none)".into()).or_default() += 1;
        }
        for t in tactics {
            *by_tactic.entry(t).or_default() += 1;
        }
    }
    let mut h = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>trailsql detect</title><style>\
body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}\
.critical{background:#f8d0d0}.high{background:#fde2c8}.medium{background:#fdf5c8}\
</style></head><body>\n<h1>trailsql detect</h1>\n",
    );
    h.push_str(&format!(
        "<p>{} findings from {} rules.</p>\n<h2>By level</h2>\n<table id=\"by-level\"><tr><th>level</th><th>findings</th></tr>\n",
        findings.len(),
        rules_run
    ));
    for ((_, level), n) in &by_level {
        h.push_str(&format!(
            "<tr class=\"{0}\"><td>{0}</td><td>{n}</td></tr>\n",
            esc(level)
        ));
    }
    h.push_str("</table>\n<h2>By ATT&amp;CK tactic</h2>\n<table id=\"by-tactic\"><tr><th>tactic</th><th>findings</th></tr>\n");
    for (t, n) in &by_tactic {
        h.push_str(&format!("<tr><td>{}</td><td>{n}</td></tr>\n", esc(t)));
    }
    h.push_str("</table>\n<h2>Findings</h2>\n<table id=\"findings\"><tr>");
    for c in [
        "level",
        "rule",
        "author",
        "eventtime",
        "eventname",
        "account",
        "region",
        "principal",
        "source ip",
        "eventid",
        "group / window",
    ] {
        h.push_str(&format!("<th>{c}</th>"));
    }
    h.push_str("</tr>\n");
    for f in findings {
        let e = &f.event;
        let o = |v: &Option<String>| esc(v.as_deref().unwrap_or(""));
        let group = match (&f.group, f.window) {
            (Some(g), Some((a, b))) => format!("{} [{} .. {}]", esc(g), time(a), time(b)),
            (Some(g), None) => esc(g),
            _ => String::new(),
        };
        h.push_str(&format!(
            "<tr class=\"{lvl}\"><td>{lvl}</td><td title=\"{path}\">{title} ({id})</td><td>{author}</td><td>{t}</td><td>{src} {name}</td><td>{acct}</td><td>{region}</td><td>{pr}</td><td>{ip}</td><td>{eid}</td><td>{group}</td></tr>\n",
            lvl = esc(&f.rule.level),
            path = esc(&f.rule.path),
            title = esc(&f.rule.title),
            id = esc(&f.rule.id),
            author = esc(&f.rule.author),
            t = time(e.eventtime),
            src = o(&e.eventsource),
            name = o(&e.eventname),
            acct = o(&e.account),
            region = o(&e.region),
            pr = o(&e.principal),
            ip = o(&e.sourceipaddress),
            eid = o(&e.eventid),
        ));
    }
    h.push_str("</table>\n</body></html>\n");
    h
}
