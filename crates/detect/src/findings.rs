//! Findings: one row per (rule, event), or per (correlation rule, group, window), with what
//! the rule says about itself (its author too: the Detection Rule License asks results to
//! keep it) and what identifies the event. Printed in any of the query crate's formats, or
//! as an HTML page with a summary by level and by ATT&CK tactic.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
    UInt32Array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, UInt32Type};
use arrow::error::ArrowError;
use trailsql_query::{Cells, DelimitedParts, OutputFormat, Parts, PartsWriter};

use crate::Result;
pub use crate::event::Event;
pub(crate) use crate::event::EventColumns;
use crate::rules::{Rule, level_rank};
use crate::time_text::TimeText;

/// One finding.
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: Arc<Rule>,
    /// Shared by the findings of one event.
    pub event: Event,
    /// A correlation's group and window; `None` for a detection's finding. Boxed: findings
    /// are counted in millions and sorted, and all but a correlation's have none (a finding
    /// is 32 bytes instead of 72).
    pub correlated: Option<Box<Correlated>>,
}

/// What a correlation's finding says beside its rule and first event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Correlated {
    /// The group (`field=value, ...`).
    pub group: Option<String>,
    /// Start and end, in microseconds.
    pub window: (i64, i64),
}

impl Finding {
    /// A detection rule's finding.
    pub fn detected(rule: Arc<Rule>, event: Event) -> Finding {
        Finding {
            rule,
            event,
            correlated: None,
        }
    }

    /// A correlation's group.
    pub fn group(&self) -> Option<&str> {
        self.correlated.as_ref().and_then(|c| c.group.as_deref())
    }

    /// A correlation's window (start, end, in microseconds).
    pub fn window(&self) -> Option<(i64, i64)> {
        self.correlated.as_ref().map(|c| c.window)
    }
}

/// The rule's columns of a finding, first in [`schema`].
const RULE_COLUMNS: [&str; 7] = [
    "rule_id",
    "rule_title",
    "level",
    "status",
    "tags",
    "author",
    "rule_path",
];

/// The columns of a finding, in order.
pub fn schema() -> SchemaRef {
    columns(DataType::Utf8, DataType::Utf8)
}

/// [`schema`] with the rule's columns of type `rule_text` and the event's text columns of
/// type `event_text`.
fn columns(rule_text: DataType, event_text: DataType) -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let s = |n: &str| Field::new(n, event_text.clone(), true);
    let mut fields: Vec<Field> = RULE_COLUMNS
        .iter()
        .map(|n| Field::new(*n, rule_text.clone(), true))
        .collect();
    fields.extend([
        Field::new("eventtime", ts(), true),
        s("eventid"),
        s("eventsource"),
        s("eventname"),
        s("account"),
        s("region"),
        s("principal"),
        s("sourceipaddress"),
        s("sourceobject"),
        Field::new("group", DataType::Utf8, true),
        Field::new("window_start", ts(), true),
        Field::new("window_end", ts(), true),
    ]);
    Arc::new(Schema::new(fields))
}

/// A rule's values of [`RULE_COLUMNS`].
fn rule_values(r: &Rule) -> [String; 7] {
    [
        r.id.clone(),
        r.title.clone(),
        r.level.clone(),
        r.status.clone(),
        r.tags.join(","),
        r.author.clone(),
        r.path.clone(),
    ]
}

/// The findings as one batch of [`schema`]: the printed batch, cast to its types.
pub fn to_batch(findings: &[Finding]) -> Result<RecordBatch> {
    let printed = RuleTable::of(findings).batch(findings)?;
    let schema = schema();
    let cols = printed
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| cast(c, f.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema, cols)?)
}

/// The columns after the rule's: the event's, the group's and the window's.
fn event_columns(findings: &[&Finding]) -> std::result::Result<Vec<ArrayRef>, ArrowError> {
    let mut cols = vec![times(findings.iter().map(|f| Some(f.event.eventtime())))];
    cols.extend(crate::event::text_columns(
        findings.iter().map(|f| &f.event),
    )?);
    cols.extend(group_and_window(findings));
    Ok(cols)
}

/// The group and the window's start and end: the last columns.
fn group_and_window(findings: &[&Finding]) -> [ArrayRef; 3] {
    [
        Arc::new(StringArray::from_iter(findings.iter().map(|f| f.group()))),
        times(findings.iter().map(|f| f.window().map(|w| w.0))),
        times(findings.iter().map(|f| f.window().map(|w| w.1))),
    ]
}

/// A column of UTC times in microseconds.
fn times(t: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(t.collect::<Vec<_>>()).with_timezone("UTC"))
}

/// The rules of a run's findings, for printing: each rule's values once, which a printed
/// batch's rule columns index (dictionaries) instead of copying a rule's title, author and
/// path into every finding. Those are most of a finding's text: on the benchmark's 2.4M
/// findings, copying them was a fifth of `detect`'s time.
struct RuleTable {
    /// A rule's number by [`key`].
    index: ahash::AHashMap<usize, u32>,
    values: Vec<ArrayRef>,
}

/// What tells a run's rules apart: its address (a run's rules are loaded once).
fn key(rule: &Arc<Rule>) -> usize {
    Arc::as_ptr(rule) as usize
}

impl RuleTable {
    /// The table of `rules` (a rule given twice is numbered once).
    fn new<'a>(rules: impl IntoIterator<Item = &'a Arc<Rule>>) -> RuleTable {
        let mut index: ahash::AHashMap<usize, u32> = ahash::AHashMap::new();
        let mut text: Vec<StringBuilder> = (0..7).map(|_| StringBuilder::new()).collect();
        for rule in rules {
            let next = index.len() as u32;
            index.entry(key(rule)).or_insert_with(|| {
                for (b, v) in text.iter_mut().zip(rule_values(rule)) {
                    b.append_value(v);
                }
                next
            });
        }
        RuleTable {
            index,
            values: text
                .into_iter()
                .map(|mut b| Arc::new(b.finish()) as ArrayRef)
                .collect(),
        }
    }

    /// The table of the findings' rules.
    fn of(findings: &[Finding]) -> RuleTable {
        RuleTable::new(findings.iter().map(|f| &f.rule))
    }

    /// A batch of [`print_schema`].
    fn batch(&self, findings: &[Finding]) -> std::result::Result<RecordBatch, ArrowError> {
        let keys = findings
            .iter()
            .map(|f| self.number(f))
            .collect::<std::result::Result<Vec<u32>, _>>()?;
        let keys = UInt32Array::from(keys);
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(19);
        for v in &self.values {
            cols.push(Arc::new(DictionaryArray::<UInt32Type>::try_new(
                keys.clone(),
                v.clone(),
            )?));
        }
        cols.extend(event_columns(&findings.iter().collect::<Vec<_>>())?);
        RecordBatch::try_new(print_schema(), cols)
    }

    /// Each rule's values, a row per rule, in the order of its number.
    fn rules_batch(&self) -> std::result::Result<RecordBatch, ArrowError> {
        let schema = schema();
        let schema = schema.project(&(0..RULE_COLUMNS.len()).collect::<Vec<_>>())?;
        RecordBatch::try_new(Arc::new(schema), self.values.clone())
    }

    /// The number of a finding's rule.
    fn number(&self, f: &Finding) -> std::result::Result<u32, ArrowError> {
        self.index.get(&key(&f.rule)).copied().ok_or_else(|| {
            ArrowError::InvalidArgumentError(format!(
                "a finding of rule {} ({}), which is not among the rules run",
                f.rule.id, f.rule.path
            ))
        })
    }
}

/// [`schema`] as printed: the rule's columns are dictionaries, the event's text views of the
/// text it was read from (the same text).
fn print_schema() -> SchemaRef {
    columns(
        DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8)),
        DataType::Utf8View,
    )
}

/// Findings per printed batch.
const PRINT_BATCH: usize = 8192;

/// Print the findings of `rules` in `format`, a batch at a time: a run over a whole lake can
/// find millions, and their text is several times the size of the findings themselves.
/// (The rules are given, not gathered from the findings: that took a twentieth of
/// printing the benchmark's 2.4M findings, on one core.)
pub fn write(
    findings: &[Finding],
    rules: &[Arc<Rule>],
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<()> {
    let rules = RuleTable::new(rules);
    if !format.prints_parts() {
        let mut batches = findings.chunks(PRINT_BATCH).map(|c| Ok(rules.batch(c)?));
        format.write_each(&print_schema(), &mut batches, out)?;
        return Ok(());
    }
    // A finding's text is its rule's cells and its event's: each rule's are rendered once,
    // each event's once for all the findings of it (2.4 per event on the benchmark), by
    // threads that take the batches in turn while this one writes them in order (rendering
    // is most of the work: 1.1 s of 1.2 s printing the benchmark's findings on one thread).
    let rule_parts = format.parts(&rules.rules_batch()?)?;
    let all = print_schema();
    let event_schema =
        Arc::new(all.project(&(RULE_COLUMNS.len()..all.fields().len()).collect::<Vec<_>>())?);
    let mut w = PartsWriter::new(format, &all, out)?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
    let chunks: Vec<&[Finding]> = findings.chunks(PRINT_BATCH).collect();
    std::thread::scope(|s| -> Result<()> {
        let mut rendered = Vec::with_capacity(threads);
        for t in 0..threads {
            let (tx, rx) = std::sync::mpsc::sync_channel(2);
            rendered.push(rx);
            let (chunks, event_schema, rules) = (&chunks, &event_schema, &rules);
            s.spawn(move || {
                for chunk in chunks.iter().skip(t).step_by(threads) {
                    let r =
                        render_events(chunk, format, event_schema).and_then(|(parts, which)| {
                            let numbers = chunk
                                .iter()
                                .map(|f| rules.number(f))
                                .collect::<std::result::Result<Vec<u32>, _>>()?;
                            Ok((parts, which, numbers))
                        });
                    let failed = r.is_err();
                    // A closed channel: the writer stopped (a closed pipe, say).
                    if tx.send(r).is_err() || failed {
                        break;
                    }
                }
            });
        }
        for i in 0..chunks.len() {
            let Ok(r) = rendered[i % threads].recv() else {
                break;
            };
            let (event_parts, which, numbers) = r?;
            w.rows(
                numbers
                    .iter()
                    .zip(&which)
                    .map(|(r, e)| [rule_parts.get(*r as usize), event_parts.get(*e)]),
            )?;
        }
        Ok(())
    })?;
    w.finish()?;
    Ok(())
}

/// The event columns of a run of findings rendered in `format`, one part per event (with a
/// correlation's group and window), and for each finding the number of its part.
fn render_events(
    findings: &[Finding],
    format: OutputFormat,
    schema: &SchemaRef,
) -> Result<(Parts, Vec<usize>)> {
    let mut events: Vec<&Finding> = Vec::with_capacity(findings.len());
    let mut which: Vec<usize> = Vec::with_capacity(findings.len());
    for f in findings {
        // The findings of one event are together; a correlation's differ by group.
        let same = events
            .last()
            .is_some_and(|p| p.event.same(&f.event) && p.correlated == f.correlated);
        if !same {
            events.push(f);
        }
        which.push(events.len() - 1);
    }
    if let Some(rows) = DelimitedParts::new(format, events.len()) {
        return Ok((delimited_events(&events, rows)?, which));
    }
    let batch = RecordBatch::try_new(schema.clone(), event_columns(&events)?)?;
    Ok((format.parts(&batch)?, which))
}

/// [`render_events`]' parts in a delimited format: each event's text written from where
/// the scan left it (gathering it into columns first was a sixth of printing the
/// benchmark's findings), its time by [`TimeText`], the other cells as Arrow formats them.
fn delimited_events(events: &[&Finding], mut rows: DelimitedParts) -> Result<Parts> {
    let last = group_and_window(events);
    let last = last
        .iter()
        .map(|c| Cells::new(c.as_ref()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let (mut times, mut time) = (TimeText::default(), Vec::with_capacity(32));
    for (i, f) in events.iter().enumerate() {
        time.clear();
        times.write(f.event.eventtime(), &mut time)?;
        rows.text(&time);
        for v in f.event.fields() {
            rows.text(v.unwrap_or_default().as_bytes());
        }
        for c in &last {
            rows.cell(c, i)?;
        }
        rows.end_row();
    }
    Ok(rows.finish())
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
        let o = |v: Option<&str>| esc(v.unwrap_or(""));
        let group = match (f.group(), f.window()) {
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
            t = time(e.eventtime()),
            src = o(e.eventsource()),
            name = o(e.eventname()),
            acct = o(e.account()),
            region = o(e.region()),
            pr = o(e.principal()),
            ip = o(e.sourceipaddress()),
            eid = o(e.eventid()),
        ));
    }
    h.push_str("</table>\n</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

    fn rules(n: usize) -> Vec<Arc<Rule>> {
        let mut set = RuleSet::default();
        for i in 0..n {
            set.add_text(
                &format!("dir, with \"quotes\"/r{i}.yml"),
                &format!(
                    "title: 'Rule {i}, \"quoted\"'\nid: r{i}\nauthor: a|b\ntags: [attack.t1, attack.persistence]\n\
                     logsource:\n  product: aws\n  service: cloudtrail\n\
                     detection:\n  s:\n    eventName: X\n  condition: s\n"
                ),
            );
        }
        assert!(set.issues.is_empty(), "{:?}", set.issues);
        set.rules.into_iter().map(Arc::new).collect()
    }

    /// Findings of many events (several printed batches), each event's together: text to
    /// quote and escape, nulls, long and short values, correlations' groups and windows.
    fn findings(rules: &[Arc<Rule>]) -> Vec<Finding> {
        let mut out = Vec::new();
        for i in 0..9000i64 {
            let id = format!("id-{i:05}");
            let principal = match i % 4 {
                0 => "arn:aws:iam::111122223333:user/with, a comma and \"quotes\"".to_owned(),
                1 => format!("line\nbreak\r{i}\ttab|pipe <b>&"),
                2 => String::new(),
                _ => format!("arn:aws:iam::111122223333:role/r{i}"),
            };
            let fields = [
                Some(id.as_str()),
                Some("iam.amazonaws.com"),
                (i % 5 != 0).then_some("CreateUser"),
                Some("111122223333"),
                Some("us-east-1"),
                (i % 7 != 0).then_some(principal.as_str()),
                Some("10.0.0.1"),
                None,
            ];
            let event = Event::new(1_700_000_000_000_000 + i * 1_000_001, fields);
            for r in rules.iter().take(1 + (i % 3) as usize) {
                out.push(Finding::detected(r.clone(), event.clone()));
            }
            if i % 11 == 0 {
                out.push(Finding {
                    rule: rules[0].clone(),
                    event: event.clone(),
                    correlated: Some(Box::new(Correlated {
                        group: (i % 2 == 0).then(|| format!("user=a, \"b\" {i}")),
                        window: (i, i + 60_000_000),
                    })),
                });
            }
        }
        out
    }

    #[test]
    fn findings_print_as_their_batch_printed_whole() {
        let rules = rules(4);
        let findings = findings(&rules[..3]);
        assert!(findings.len() > 2 * PRINT_BATCH);
        let batch = to_batch(&findings).unwrap();
        for f in [
            OutputFormat::Csv,
            OutputFormat::Tsv,
            OutputFormat::Json,
            OutputFormat::NdJson,
            OutputFormat::Markdown,
            OutputFormat::Table,
        ] {
            let mut printed = Vec::new();
            // The rules run: one with no findings, one given twice.
            let run = [&rules[..], &rules[1..2]].concat();
            write(&findings, &run, f, &mut printed).unwrap();
            let mut whole = Vec::new();
            f.write(&schema(), std::slice::from_ref(&batch), &mut whole)
                .unwrap();
            assert!(
                String::from_utf8(printed).unwrap() == String::from_utf8(whole).unwrap(),
                "{f:?} printed differs from the batch printed whole"
            );
        }
    }

    #[test]
    fn a_finding_of_a_rule_not_run_is_an_error_not_a_panic() {
        let rules = rules(2);
        let stray = [Finding::detected(rules[1].clone(), Event::default())];
        for f in [OutputFormat::Csv, OutputFormat::Table] {
            let e = write(&stray, &rules[..1], f, &mut Vec::new()).unwrap_err();
            assert!(e.to_string().contains("rule r1"), "{f:?}: {e}");
        }
    }
}
