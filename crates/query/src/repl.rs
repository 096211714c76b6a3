//! The REPL: statements over several lines until `;`, meta-commands, tab completion of
//! keywords, functions, tables, columns and nested fields, persistent history, Ctrl-C to
//! cancel a running query. On a terminal it reads with rustyline; with piped input it reads
//! lines from stdin the same way, without prompts, so sessions can be scripted.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use arrow::datatypes::{DataType, Fields, SchemaRef};
use datafusion::prelude::SessionContext;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::fit::{Expanded, write_fitted};
use crate::runner::{SqlOptions, for_each_statement};
use crate::{OutputFormat, Result};

const HELP: &str = "\
Statements end with ';' and may span lines. Meta-commands:
  \\d              list tables
  \\d TABLE        describe a table (nested fields included)
  \\format F       output format: table, csv, tsv, json, ndjson, markdown
  \\timing [on|off] show the time each statement takes (on by default)
  \\x [on|off|auto] expanded display: one line per field of each record
                  (auto: when the table would hide columns)
  \\width [N]      fit tables to N characters (no N: the terminal's width)
  \\i FILE         run the statements in FILE
  \\help           this text
  \\q              quit (also Ctrl-D)
Ctrl-C cancels a running query or clears the current input.";

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "HAVING",
    "LIMIT",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS NULL",
    "IS NOT NULL",
    "LIKE",
    "BETWEEN",
    "AS",
    "DISTINCT",
    "COUNT",
    "CROSS JOIN UNNEST",
    "JOIN",
    "LEFT JOIN",
    "ON",
    "WITH",
    "UNION ALL",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DESC",
    "ASC",
    "EXPLAIN",
    "EXPLAIN ANALYZE",
    "INTERVAL",
    "TIMESTAMP",
    "CAST",
    "SHOW TABLES",
];

/// Tab completion from the session's catalog.
struct SqlHelper {
    words: Vec<String>,
    tables: Vec<(String, SchemaRef)>,
}

impl SqlHelper {
    fn new(ctx: &SessionContext, tables: Vec<(String, SchemaRef)>) -> Self {
        let state = ctx.state();
        let mut words: Vec<String> = KEYWORDS.iter().map(|k| k.to_string()).collect();
        words.extend(state.scalar_functions().keys().cloned());
        words.extend(state.aggregate_functions().keys().cloned());
        for (name, schema) in &tables {
            words.push(name.clone());
            words.extend(schema.fields().iter().map(|f| f.name().clone()));
        }
        words.sort();
        words.dedup();
        SqlHelper { words, tables }
    }

    /// Completions of a dotted path (`useridentity.sessioncontext.`): its struct fields.
    fn nested(&self, path: &str) -> Vec<String> {
        let mut parts: Vec<&str> = path.split('.').collect();
        let partial = parts.pop().unwrap_or("");
        let mut fields: Option<Fields> = None;
        for (i, p) in parts.iter().enumerate() {
            let p = p.to_ascii_lowercase();
            let next = match &fields {
                None => self.tables.iter().find_map(|(t, schema)| {
                    if i == 0 && t == &p {
                        Some(schema.fields().clone())
                    } else {
                        schema
                            .field_with_name(&p)
                            .ok()
                            .and_then(|f| struct_fields(f.data_type()))
                    }
                }),
                Some(fs) => fs.find(&p).and_then(|(_, f)| struct_fields(f.data_type())),
            };
            match next {
                Some(f) => fields = Some(f),
                None => return Vec::new(),
            }
        }
        let prefix = parts.join(".");
        fields
            .map(|fs| {
                fs.iter()
                    .filter(|f| f.name().starts_with(&partial.to_ascii_lowercase()))
                    .map(|f| format!("{prefix}.{}", f.name()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn struct_fields(t: &DataType) -> Option<Fields> {
    match t {
        DataType::Struct(f) => Some(f.clone()),
        DataType::List(item) => struct_fields(item.data_type()),
        _ => None,
    }
}

impl Completer for SqlHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..pos]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .map_or(0, |i| i + 1);
        let word = &line[start..pos];
        if word.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let candidates: Vec<String> = if word.contains('.') {
            self.nested(word)
        } else {
            let lower = word.to_ascii_lowercase();
            self.words
                .iter()
                .filter(|w| w.to_ascii_lowercase().starts_with(&lower))
                .cloned()
                .collect()
        };
        Ok((
            start,
            candidates
                .into_iter()
                .map(|c| Pair {
                    display: c.clone(),
                    replacement: c,
                })
                .collect(),
        ))
    }
}
impl Hinter for SqlHelper {
    type Hint = String;
}
impl Highlighter for SqlHelper {}
impl Validator for SqlHelper {}
impl Helper for SqlHelper {}

#[derive(Debug, Clone)]
pub struct ReplOptions {
    pub format: OutputFormat,
    /// History file (None: no history).
    pub history: Option<PathBuf>,
}

/// The default history file: `$XDG_STATE_HOME/trailsql/history` (`~/.local/state/...`).
pub fn default_history() -> Option<PathBuf> {
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .map(|d| d.join("trailsql/history"))
}

struct Session {
    ctx: SessionContext,
    opts: SqlOptions,
    timing: bool,
    width: usize,
    /// Set by `\width N` or `COLUMNS`: the terminal's width is not followed.
    fixed_width: bool,
    expanded: Expanded,
    failed: bool,
}

/// Run the REPL over a lake. Returns whether every statement succeeded.
pub async fn run_repl(lake: &str, opts: ReplOptions) -> Result<bool> {
    let ctx = crate::open_session(lake).await?;
    let mut s = Session {
        ctx,
        opts: SqlOptions::new(opts.format),
        timing: true,
        width: 120,
        fixed_width: false,
        expanded: Expanded::Off,
        failed: false,
    };
    if let Some(w) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|w| *w > 0)
    {
        s.width = w;
        s.fixed_width = true;
    }
    if std::io::stdin().is_terminal() {
        let tables = table_schemas(&s.ctx).await;
        let mut rl: Editor<SqlHelper, rustyline::history::DefaultHistory> =
            Editor::new().map_err(|e| crate::Error::Terminal(e.to_string()))?;
        rl.set_helper(Some(SqlHelper::new(&s.ctx, tables)));
        if let Some(h) = &opts.history {
            let _ = rl.load_history(h);
        }
        eprintln!(
            "trailsql {} over {lake}. \\help for help, \\q to quit.",
            env!("CARGO_PKG_VERSION")
        );
        let mut buf = String::new();
        loop {
            if let Some((w, _)) = rl.dimensions()
                && !s.fixed_width
            {
                s.width = usize::from(w);
            }
            let prompt = if buf.is_empty() {
                "trailsql> "
            } else {
                "      ... "
            };
            match tokio::task::block_in_place(|| rl.readline(prompt)) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = rl.add_history_entry(line.as_str());
                    }
                    if !s.feed(&mut buf, &line).await {
                        break;
                    }
                }
                Err(rustyline::error::ReadlineError::Interrupted) => buf.clear(),
                Err(rustyline::error::ReadlineError::Eof) => break,
                Err(e) => return Err(crate::Error::Terminal(e.to_string())),
            }
        }
        if let Some(h) = &opts.history {
            if let Some(dir) = h.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = rl.save_history(h);
        }
    } else {
        let stdin = std::io::stdin();
        let mut buf = String::new();
        for line in stdin.lock().lines() {
            if !s.feed(&mut buf, &line?).await {
                break;
            }
        }
        if !buf.trim().is_empty() {
            s.execute(&std::mem::take(&mut buf)).await;
        }
    }
    Ok(!s.failed)
}

async fn table_schemas(ctx: &SessionContext) -> Vec<(String, SchemaRef)> {
    let mut out = Vec::new();
    for name in [
        "cloudtrail",
        "cloudtrail_logs",
        "cloudtrail_insights",
        trailsql_lake::sources::SOURCES_TABLE,
    ] {
        if let Ok(t) = ctx.table_provider(name).await {
            out.push((name.to_owned(), t.schema()));
        }
    }
    out
}

impl Session {
    /// Take one input line. Returns false to quit.
    async fn feed(&mut self, buf: &mut String, line: &str) -> bool {
        let trimmed = line.trim();
        if buf.trim().is_empty() && trimmed.starts_with('\\') {
            return self.meta(trimmed).await;
        }
        if buf.trim().is_empty() && trimmed.is_empty() {
            return true;
        }
        buf.push_str(line);
        buf.push('\n');
        if trimmed.ends_with(';') {
            let sql = std::mem::take(buf);
            self.execute(&sql).await;
        }
        true
    }

    async fn meta(&mut self, cmd: &str) -> bool {
        let mut parts = cmd.splitn(2, char::is_whitespace);
        let name = parts.next().unwrap_or("");
        let arg = parts.next().map(str::trim).unwrap_or("");
        let mut out = std::io::stdout().lock();
        match name {
            "\\q" | "\\quit" => return false,
            "\\help" | "\\h" | "\\?" => {
                let _ = writeln!(out, "{HELP}");
            }
            "\\d" if arg.is_empty() => {
                drop(out);
                self.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema <> 'information_schema' ORDER BY 1, 2;").await;
            }
            "\\d" => {
                drop(out);
                let table = arg.trim_end_matches(';').replace('\'', "");
                match self.ctx.table_provider(table.as_str()).await {
                    Ok(t) => {
                        let mut out = std::io::stdout().lock();
                        for f in t.schema().fields() {
                            let _ = writeln!(out, "{:<30} {}", f.name(), type_name(f.data_type()));
                        }
                    }
                    Err(e) => self.error(&format!("{e}")),
                }
            }
            "\\format" => match arg.parse::<OutputFormat>() {
                Ok(OutputFormat::Parquet) => self
                    .error("the REPL prints results: use `trailsql sql -o FILE --format parquet`"),
                Ok(f) => self.opts.format = f,
                Err(e) => self.error(&e),
            },
            "\\timing" => {
                self.timing = match arg {
                    "on" => true,
                    "off" => false,
                    _ => !self.timing,
                };
                let _ = writeln!(out, "timing is {}", if self.timing { "on" } else { "off" });
            }
            "\\x" => {
                self.expanded = match arg {
                    "on" => Expanded::On,
                    "off" => Expanded::Off,
                    "auto" => Expanded::Auto,
                    "" if self.expanded == Expanded::Off => Expanded::On,
                    "" => Expanded::Off,
                    other => {
                        self.error(&format!("\\x {other}: expected on, off or auto"));
                        return true;
                    }
                };
                let state = match self.expanded {
                    Expanded::On => "on",
                    Expanded::Off => "off",
                    Expanded::Auto => "auto",
                };
                let _ = writeln!(out, "expanded display is {state}");
            }
            "\\width" => match arg {
                "" | "auto" => {
                    self.fixed_width = false;
                    let _ = writeln!(out, "width follows the terminal");
                }
                n => match n.parse::<usize>() {
                    Ok(w) if w >= 20 => {
                        self.width = w;
                        self.fixed_width = true;
                        let _ = writeln!(out, "width is {w}");
                    }
                    _ => self.error(&format!(
                        "\\width {n}: expected a number of characters, 20 or more"
                    )),
                },
            },
            "\\i" => {
                drop(out);
                match std::fs::read_to_string(arg) {
                    Ok(text) => self.execute(&text).await,
                    Err(e) => self.error(&format!("cannot read {arg}: {e}")),
                }
            }
            other => self.error(&format!("unknown meta-command {other} (\\help lists them)")),
        }
        true
    }

    fn error(&mut self, msg: &str) {
        self.failed = true;
        eprintln!("error: {}", msg.lines().next().unwrap_or(""));
    }

    async fn execute(&mut self, sql: &str) {
        let start = Instant::now();
        let format = self.opts.format;
        let width = self.width;
        let timing = self.timing;
        let expanded = self.expanded;
        let run = for_each_statement(&self.ctx, sql, &self.opts, |schema, batches| {
            let mut out = std::io::stdout().lock();
            if format == OutputFormat::Table {
                write_fitted(&schema, &batches, width, expanded, &mut out)?;
            } else {
                format.write(&schema, &batches, &mut out)?;
            }
            if timing {
                writeln!(out, "Time: {:.3} s", start.elapsed().as_secs_f64())?;
            }
            out.flush()?;
            Ok(())
        });
        let result = tokio::select! {
            r = run => r,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("cancelled");
                return;
            }
        };
        if let Err(e) = result {
            let msg = e.to_string();
            self.error(&msg);
        }
    }
}

fn type_name(t: &DataType) -> String {
    match t {
        DataType::Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| format!("{} {}", f.name(), type_name(f.data_type())))
                .collect();
            format!("struct<{}>", inner.join(", "))
        }
        DataType::List(item) => format!("array<{}>", type_name(item.data_type())),
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "string".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        other => other.to_string().to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_field_completion() {
        let schema = trailsql_lake::schema::Table::CloudTrail.schema();
        let h = SqlHelper {
            words: vec![],
            tables: vec![("cloudtrail".into(), schema)],
        };
        let c = h.nested("useridentity.sessioncontext.");
        assert!(
            c.contains(&"useridentity.sessioncontext.sessionissuer".to_string()),
            "{c:?}"
        );
        assert_eq!(
            h.nested("userIdentity.sessionContext.sessionIssuer.us"),
            vec!["userIdentity.sessionContext.sessionIssuer.username"]
        );
        assert!(
            h.nested("resources.")
                .contains(&"resources.arn".to_string())
        );
        assert!(h.nested("nope.").is_empty());
    }
}
