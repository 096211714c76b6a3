//! Reports: named SQL files with a header (id, title, severity, kind, description,
//! references, parameters, chart column), shipped in `sql/` and embedded at build time, or
//! read from a user's directory; and a run of several of them over a time window.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, Utc};

use crate::combined::{Named, is_machine, write_combined};
use crate::runner::{SqlOptions, for_each_statement};
use crate::{Error, OutputFormat, Result};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/reports.rs"));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any row is a finding.
    Detection,
    /// A view to read.
    Investigation,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub kind: Kind,
    pub description: String,
    pub references: String,
    /// Report-specific placeholders: (name, description).
    pub params: Vec<(String, String)>,
    /// Output column holding a time bucket, for a bar chart.
    pub chart: Option<String>,
    /// Values of the report-specific parameters its fixture test uses.
    pub test_params: Vec<(String, String)>,
    pub sql: String,
    /// Where it came from: `builtin` or a path.
    pub origin: String,
}

fn pairs(v: &str, sep: char, kv: char) -> Vec<(String, String)> {
    if v.trim().eq_ignore_ascii_case("none") || v.trim().is_empty() {
        return Vec::new();
    }
    v.split(sep)
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once(kv) {
            Some((k, d)) => (
                k.trim().trim_start_matches('$').to_owned(),
                d.trim().to_owned(),
            ),
            None => (p.trim().to_owned(), String::new()),
        })
        .collect()
}

impl Report {
    /// Parse a report file: `-- key: value` header lines, then the SQL.
    pub fn parse(text: &str, origin: &str) -> Result<Report> {
        let mut header = BTreeMap::new();
        let mut sql = Vec::new();
        let mut in_header = true;
        for line in text.lines() {
            if in_header {
                if let Some(rest) = line.trim().strip_prefix("--") {
                    if let Some((k, v)) = rest.split_once(':') {
                        header.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                    continue;
                }
                if line.trim().is_empty() {
                    continue;
                }
                in_header = false;
            }
            sql.push(line);
        }
        let get = |k: &str| -> Result<String> {
            header.get(k).cloned().ok_or_else(|| {
                Error::Usage(format!("report {origin}: header has no `-- {k}:` line"))
            })
        };
        let kind = match get("kind")?.as_str() {
            "detection" => Kind::Detection,
            "investigation" => Kind::Investigation,
            other => {
                return Err(Error::Usage(format!(
                    "report {origin}: kind {other:?} is neither detection nor investigation"
                )));
            }
        };
        let report = Report {
            id: get("id")?,
            title: get("title")?,
            severity: get("severity")?,
            kind,
            description: header.get("description").cloned().unwrap_or_default(),
            references: header.get("references").cloned().unwrap_or_default(),
            params: pairs(header.get("params").map_or("", String::as_str), ';', ':'),
            chart: header
                .get("chart")
                .filter(|c| !c.is_empty() && c.as_str() != "none")
                .cloned(),
            test_params: pairs(
                header.get("test-params").map_or("", String::as_str),
                ';',
                '=',
            ),
            sql: sql.join("\n").trim().to_owned(),
            origin: origin.to_owned(),
        };
        if report.sql.is_empty() {
            return Err(Error::Usage(format!(
                "report {origin}: no SQL after the header"
            )));
        }
        Ok(report)
    }
}

/// The shipped reports, then those of `dir` (a report there replaces a shipped one with the
/// same id), sorted by id.
pub fn catalog(dir: Option<&Path>) -> Result<Vec<Report>> {
    let mut by_id = BTreeMap::new();
    for (name, text) in embedded::BUILTIN {
        let r = Report::parse(text, &format!("sql/{name}"))?;
        by_id.insert(r.id.clone(), r);
    }
    if let Some(dir) = dir {
        let rd = std::fs::read_dir(dir)
            .map_err(|e| Error::Usage(format!("--reports-dir {}: {e}", dir.display())))?;
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "sql") {
                let r = Report::parse(&std::fs::read_to_string(&p)?, &p.display().to_string())?;
                by_id.insert(r.id.clone(), r);
            }
        }
    }
    Ok(by_id.into_values().collect())
}

/// What to run.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub lake: String,
    /// Report ids or paths of report files.
    pub names: Vec<String>,
    pub all: bool,
    pub reports_dir: Option<PathBuf>,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub params: Vec<(String, String)>,
    pub format: OutputFormat,
    pub html: bool,
    pub out_dir: Option<PathBuf>,
}

/// How a run went.
#[derive(Debug, Default)]
pub struct ReportOutcome {
    /// Detection reports that returned rows.
    pub findings: Vec<String>,
}

struct Done {
    report: Report,
    schema: Option<SchemaRef>,
    batches: Vec<RecordBatch>,
    rows: usize,
    seconds: f64,
    note: Option<String>,
}

/// Print the catalog: id, severity, kind, title.
pub fn list(dir: Option<&Path>, out: &mut dyn Write) -> Result<()> {
    let reports = catalog(dir)?;
    let w = reports.iter().map(|r| r.id.len()).max().unwrap_or(2);
    writeln!(
        out,
        "{:<w$}  {:<8}  {:<13}  title",
        "id", "severity", "kind"
    )?;
    for r in &reports {
        let kind = if r.kind == Kind::Detection {
            "detection"
        } else {
            "investigation"
        };
        writeln!(
            out,
            "{:<w$}  {:<8}  {:<13}  {}",
            r.id, r.severity, kind, r.title
        )?;
    }
    Ok(())
}

fn select(opts: &ReportOptions) -> Result<Vec<Report>> {
    let catalog = catalog(opts.reports_dir.as_deref())?;
    if opts.all {
        return Ok(catalog);
    }
    if opts.names.is_empty() {
        return Err(Error::Usage(
            "name reports to run, or --all (--list shows them)".into(),
        ));
    }
    opts.names
        .iter()
        .map(|n| {
            if n.ends_with(".sql") && Path::new(n).is_file() {
                return Report::parse(&std::fs::read_to_string(n)?, n);
            }
            catalog.iter().find(|r| &r.id == n).cloned().ok_or_else(|| {
                Error::Usage(format!(
                    "no report {n:?} (trailsql report --list shows them)"
                ))
            })
        })
        .collect()
}

/// Run reports over `[since, until)`.
pub async fn run(opts: &ReportOptions, out: &mut dyn Write) -> Result<ReportOutcome> {
    if opts.format == OutputFormat::Parquet && opts.out_dir.is_none() && !opts.html {
        return Err(Error::Usage(
            "--format parquet writes files: give --out-dir DIR".into(),
        ));
    }
    let reports = select(opts)?;
    let ctx = crate::open_session(&opts.lake).await?;
    let mut params = opts.params.clone();
    params.push(("since".into(), opts.since.to_rfc3339()));
    params.push(("until".into(), opts.until.to_rfc3339()));
    let sql_opts = SqlOptions {
        format: opts.format,
        params,
    };
    let mut done = Vec::new();
    for report in reports {
        let missing: Vec<&str> = report
            .params
            .iter()
            .filter(|(p, _)| !opts.params.iter().any(|(n, _)| n == p))
            .map(|(p, _)| p.as_str())
            .collect();
        if !missing.is_empty() {
            let note = format!(
                "skipped: needs --param {}",
                missing
                    .iter()
                    .map(|m| format!("{m}=..."))
                    .collect::<Vec<_>>()
                    .join(" --param ")
            );
            if !opts.all {
                return Err(Error::Usage(format!("report {}: {note}", report.id)));
            }
            done.push(Done {
                report,
                schema: None,
                batches: Vec::new(),
                rows: 0,
                seconds: 0.0,
                note: Some(note),
            });
            continue;
        }
        let start = Instant::now();
        let mut result = None;
        for_each_statement(&ctx, &report.sql, &sql_opts, |schema, batches| {
            result = Some((schema, batches));
            Ok(())
        })
        .await
        .map_err(|e| match e {
            Error::Statement { message, .. } => Error::Report {
                id: report.id.clone(),
                origin: report.origin.clone(),
                message,
            },
            other => other,
        })?;
        let (schema, batches) = result.ok_or_else(|| Error::Report {
            id: report.id.clone(),
            origin: report.origin.clone(),
            message: "no statement".into(),
        })?;
        let rows = batches.iter().map(|b| b.num_rows()).sum();
        done.push(Done {
            report,
            schema: Some(schema),
            batches,
            rows,
            seconds: start.elapsed().as_secs_f64(),
            note: None,
        });
    }

    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    if opts.html {
        let page = html(&done, opts);
        match &opts.out_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                std::fs::write(dir.join(format!("trailsql-report-{stamp}.html")), page)?;
            }
            None => out.write_all(page.as_bytes())?,
        }
    } else if let Some(dir) = &opts.out_dir {
        std::fs::create_dir_all(dir)?;
        for d in done.iter().filter(|d| d.schema.is_some()) {
            let ext = match opts.format {
                OutputFormat::Table => "txt",
                OutputFormat::Csv => "csv",
                OutputFormat::Tsv => "tsv",
                OutputFormat::Json => "json",
                OutputFormat::NdJson => "ndjson",
                OutputFormat::Markdown => "md",
                OutputFormat::Parquet => "parquet",
            };
            let path = dir.join(format!("{}-{stamp}.{ext}", d.report.id));
            let schema = d.schema.clone().expect("filtered");
            if opts.format == OutputFormat::Parquet {
                crate::format::write_parquet(&path, schema, &d.batches)?;
            } else {
                let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
                opts.format.write(&schema, &d.batches, &mut f)?;
                f.flush()?;
            }
        }
    } else if is_machine(opts.format) {
        // Data only: one document, a column naming each row's report.
        let named: Vec<Named> = done
            .iter()
            .filter_map(|d| {
                Some(Named {
                    name: &d.report.id,
                    schema: d.schema.as_ref()?,
                    batches: &d.batches,
                })
            })
            .collect();
        write_combined(&named, opts.format, out)?;
    } else {
        for d in done.iter().filter(|d| d.schema.is_some()) {
            writeln!(
                out,
                "== {}: {} ({} rows)",
                d.report.id, d.report.title, d.rows
            )?;
            opts.format
                .write(d.schema.as_ref().expect("filtered"), &d.batches, out)?;
        }
    }
    if is_machine(opts.format) && opts.out_dir.is_none() {
        summary(&done, &mut std::io::stderr().lock())?;
    } else if !opts.html || opts.out_dir.is_some() {
        summary(&done, out)?;
    }
    let findings = done
        .iter()
        .filter(|d| d.report.kind == Kind::Detection && d.rows > 0)
        .map(|d| d.report.id.clone())
        .collect();
    Ok(ReportOutcome { findings })
}

fn summary(done: &[Done], out: &mut dyn Write) -> Result<()> {
    let w = done
        .iter()
        .map(|d| d.report.id.len())
        .max()
        .unwrap_or(6)
        .max(6);
    writeln!(
        out,
        "{:<w$}  {:<8}  {:>6}  {:>8}",
        "report", "severity", "rows", "time"
    )?;
    for d in done {
        match &d.note {
            Some(n) => writeln!(
                out,
                "{:<w$}  {:<8}  {:>6}  {:>8}  {n}",
                d.report.id, d.report.severity, "-", "-"
            )?,
            None => writeln!(
                out,
                "{:<w$}  {:<8}  {:>6}  {:>7.3}s",
                d.report.id, d.report.severity, d.rows, d.seconds
            )?,
        }
    }
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One self-contained page: a section per report with its table and, for reports that
/// bucket by time, an inline SVG bar chart. No scripts, no network.
fn html(done: &[Done], opts: &ReportOptions) -> String {
    let mut h = String::new();
    h.push_str(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>trailsql reports</title><style>",
    );
    h.push_str("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}");
    h.push_str("td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top;max-width:40em;overflow-wrap:anywhere}");
    h.push_str("th{background:#f3f3f3}.sev{font-weight:bold;text-transform:uppercase;font-size:12px}.bar{fill:#4a78c2}");
    h.push_str(
        ".high,.critical{color:#b00}.medium{color:#c60}.low,.info{color:#468}</style></head><body>",
    );
    h.push_str(&format!(
        "<h1>trailsql reports</h1><p>{} to {} &middot; lake {}</p><ul>",
        esc(&opts.since.to_rfc3339()),
        esc(&opts.until.to_rfc3339()),
        esc(&opts.lake)
    ));
    for d in done {
        h.push_str(&format!(
            "<li><a href=\"#{0}\">{0}</a>: {1} rows</li>",
            esc(&d.report.id),
            d.rows
        ));
    }
    h.push_str("</ul>");
    let fo = FormatOptions::default().with_null("");
    for d in done {
        let r = &d.report;
        h.push_str(&format!(
            "<section id=\"{}\"><h2>{}</h2><p><span class=\"sev {}\">{}</span> &middot; {} &middot; {} rows</p><p>{}</p><p><small>{}</small></p>",
            esc(&r.id), esc(&r.title), esc(&r.severity), esc(&r.severity), esc(&r.id), d.rows, esc(&r.description), esc(&r.references)
        ));
        if let Some(n) = &d.note {
            h.push_str(&format!("<p><em>{}</em></p></section>", esc(n)));
            continue;
        }
        let Some(schema) = &d.schema else { continue };
        if let Some(chart) = &r.chart
            && let Some(svg) = bar_chart(schema, &d.batches, chart)
        {
            h.push_str(&svg);
        }
        h.push_str("<table><tr>");
        for f in schema.fields() {
            h.push_str(&format!("<th>{}</th>", esc(f.name())));
        }
        h.push_str("</tr>");
        for b in &d.batches {
            let fmts: Vec<_> = b
                .columns()
                .iter()
                .filter_map(|c| ArrayFormatter::try_new(c.as_ref(), &fo).ok())
                .collect();
            for row in 0..b.num_rows() {
                h.push_str("<tr>");
                for f in &fmts {
                    h.push_str(&format!("<td>{}</td>", esc(&f.value(row).to_string())));
                }
                h.push_str("</tr>");
            }
        }
        h.push_str("</table></section>");
    }
    h.push_str("</body></html>\n");
    h
}

/// Bars per value of the chart column: the sum of the first integer column, or the row
/// count when there is none.
fn bar_chart(schema: &SchemaRef, batches: &[RecordBatch], column: &str) -> Option<String> {
    let ci = schema.index_of(column).ok()?;
    let vi = schema
        .fields()
        .iter()
        .position(|f| f.data_type().is_integer() && f.name() != column);
    let fo = FormatOptions::default();
    let mut buckets: BTreeMap<String, f64> = BTreeMap::new();
    for b in batches {
        let keys = ArrayFormatter::try_new(b.column(ci).as_ref(), &fo).ok()?;
        let vals =
            vi.map(|i| arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Float64));
        for row in 0..b.num_rows() {
            let v = match &vals {
                Some(Ok(a)) => {
                    let a = a.as_any().downcast_ref::<arrow::array::Float64Array>()?;
                    if a.is_null(row) { 0.0 } else { a.value(row) }
                }
                _ => 1.0,
            };
            *buckets.entry(keys.value(row).to_string()).or_default() += v;
        }
    }
    if buckets.is_empty() {
        return None;
    }
    let max = buckets.values().cloned().fold(0.0, f64::max).max(1.0);
    let (bw, height) = (24.0, 160.0);
    let width = bw * buckets.len() as f64 + 40.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=\"img\">",
        height + 60.0
    );
    for (i, (k, v)) in buckets.iter().enumerate() {
        let bh = v / max * height;
        let x = 30.0 + i as f64 * bw;
        svg.push_str(&format!(
            "<rect class=\"bar\" x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{bh}\"><title>{}: {v}</title></rect>",
            height - bh + 10.0,
            bw - 4.0,
            esc(k)
        ));
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"9\" transform=\"rotate(60 {} {})\">{}</text>",
            x,
            height + 22.0,
            x,
            height + 22.0,
            esc(k.get(..10).unwrap_or(k))
        ));
    }
    svg.push_str(&format!(
        "<text x=\"0\" y=\"18\" font-size=\"10\">{max}</text></svg>"
    ));
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parsing() {
        let r = Report::parse(
            "-- id: x\n-- title: T\n-- severity: high\n-- kind: detection\n-- params: principal: an ARN; key: a key\n-- chart: day\n-- test-params: principal=arn:aws:iam::1:user/a\nSELECT 1\nFROM t\n",
            "test",
        )
        .unwrap();
        assert_eq!(r.id, "x");
        assert_eq!(r.kind, Kind::Detection);
        assert_eq!(
            r.params,
            vec![
                ("principal".into(), "an ARN".into()),
                ("key".into(), "a key".into())
            ]
        );
        assert_eq!(
            r.test_params,
            vec![("principal".into(), "arn:aws:iam::1:user/a".into())]
        );
        assert_eq!(r.chart.as_deref(), Some("day"));
        assert_eq!(r.sql, "SELECT 1\nFROM t");
        assert!(Report::parse("-- id: x\nSELECT 1", "t").is_err());
    }

    #[test]
    fn shipped_reports_parse() {
        let all = catalog(None).unwrap();
        for r in &all {
            assert!(
                r.origin.ends_with(&format!("{}.sql", r.id)),
                "{} is in {}",
                r.id,
                r.origin
            );
            assert!(
                r.sql.contains("$since") && r.sql.contains("$until"),
                "{} has no time window",
                r.id
            );
        }
    }
}
