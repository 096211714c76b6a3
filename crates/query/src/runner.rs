//! The statement runner: SQL text split into statements by DataFusion's parser (never on
//! `;`), each planned, run and printed in turn. The REPL, `-c` and `-f` all come here.

use std::io::Write;

use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::dialect::GenericDialect;

use crate::{Error, OutputFormat, Result};

#[derive(Debug, Clone)]
pub struct SqlOptions {
    pub format: OutputFormat,
    /// Values for `$name` placeholders. Each is bound as a value of the type the
    /// placeholder has in its statement (never spliced into the SQL text).
    pub params: Vec<(String, String)>,
}

impl SqlOptions {
    pub fn new(format: OutputFormat) -> Self {
        SqlOptions {
            format,
            params: Vec::new(),
        }
    }
}

/// Bind placeholder values, each converted to the type its placeholder has in the plan
/// (text when the plan does not say).
fn bind(
    plan: datafusion::logical_expr::LogicalPlan,
    params: &[(String, String)],
) -> datafusion::common::Result<datafusion::logical_expr::LogicalPlan> {
    let types = plan.get_parameter_types()?;
    let mut values = std::collections::HashMap::new();
    for (id, ty) in types {
        let name = id.trim_start_matches('$');
        let Some((_, raw)) = params.iter().find(|(n, _)| n == name) else {
            return Err(datafusion::error::DataFusionError::Plan(format!(
                "no value for placeholder {id}: give --param {name}=VALUE"
            )));
        };
        let v = match ty {
            Some(t) => ScalarValue::try_from_string(raw.clone(), &t)?,
            None => ScalarValue::Utf8(Some(raw.clone())),
        };
        values.insert(name.to_owned(), v);
    }
    plan.with_param_values(values)
}

/// A `--param NAME=VALUE`.
pub fn parse_param(s: &str) -> std::result::Result<(String, String), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("--param {s:?}: expected NAME=VALUE"))?;
    let name = name.trim().trim_start_matches('$');
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("--param {s:?}: bad name"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// Where statements come from, in the order given.
#[derive(Debug, Clone)]
pub enum SqlSource {
    Text(String),
    File(std::path::PathBuf),
}

/// `trailsql sql`: run the statements of every source against a lake, writing results to
/// `out` (or, for Parquet, to `output`).
pub async fn run_sources(
    lake: &str,
    sources: &[SqlSource],
    opts: &SqlOptions,
    output: Option<&std::path::Path>,
    out: &mut dyn Write,
) -> Result<()> {
    if matches!(opts.format, OutputFormat::Csv | OutputFormat::Tsv) {
        one_result_set(sources, opts.format)?;
    }
    let ctx = crate::open_session(lake).await?;
    if opts.format == OutputFormat::Parquet {
        let path = output.ok_or_else(|| Error::Usage("--format parquet needs -o PATH".into()))?;
        let mut all = Vec::new();
        let mut schema = None;
        for src in sources {
            let text = source_text(src)?;
            let (s, b) = collect_last(&ctx, &text, opts).await?;
            schema = Some(s);
            all = b;
        }
        let schema = schema.ok_or_else(|| Error::Usage("nothing to run".into()))?;
        return crate::format::write_parquet(path, schema, &all);
    }
    match output {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| Error::write(path, e))?;
            let mut f = std::io::BufWriter::new(file);
            for src in sources {
                run_sql(&ctx, &source_text(src)?, opts, &mut f)
                    .await
                    .map_err(|e| match e {
                        Error::Io(io) => Error::write(path, io),
                        other => other,
                    })?;
            }
            f.flush().map_err(|e| Error::write(path, e))?;
        }
        None => {
            for src in sources {
                run_sql(&ctx, &source_text(src)?, opts, out).await?;
            }
        }
    }
    Ok(())
}

/// CSV and TSV hold one table: with several statements that return rows, the output
/// would be tables one after the other, which no CSV reader takes. Such a run is refused
/// before anything runs (json gives one array per statement, one per line; ndjson the rows
/// of all of them). Statements that return no rows (SET, CREATE VIEW) may come along.
fn one_result_set(sources: &[SqlSource], format: OutputFormat) -> Result<()> {
    let mut returning = 0;
    for src in sources {
        // A statement that does not parse fails when it runs, with its own message.
        let Ok(statements) =
            DFParser::parse_sql_with_dialect(&source_text(src)?, &GenericDialect {})
        else {
            continue;
        };
        returning += statements.iter().filter(|s| returns_rows(s)).count();
    }
    if returning > 1 {
        let name = if format == OutputFormat::Csv {
            "csv"
        } else {
            "tsv"
        };
        return Err(Error::Usage(format!(
            "--format {name} holds one result, and {returning} statements return rows: run them one at a time (-o FILE each), or use --format json or ndjson"
        )));
    }
    Ok(())
}

/// Whether a statement's result has rows to print (a query, EXPLAIN, SHOW).
fn returns_rows(statement: &datafusion::sql::parser::Statement) -> bool {
    use datafusion::sql::parser::Statement as DF;
    use datafusion::sql::sqlparser::ast::Statement as Sql;
    match statement {
        DF::Explain(_) => true,
        DF::Statement(st) => matches!(
            st.as_ref(),
            Sql::Query(_)
                | Sql::Explain { .. }
                | Sql::ShowTables { .. }
                | Sql::ShowColumns { .. }
                | Sql::ShowVariable { .. }
        ),
        _ => false,
    }
}

fn source_text(src: &SqlSource) -> Result<String> {
    match src {
        SqlSource::Text(t) => Ok(t.clone()),
        SqlSource::File(p) => std::fs::read_to_string(p)
            .map_err(|e| Error::Usage(format!("cannot read {}: {e}", p.display()))),
    }
}

async fn collect_last(
    ctx: &SessionContext,
    sql: &str,
    opts: &SqlOptions,
) -> Result<(arrow::datatypes::SchemaRef, Vec<arrow::array::RecordBatch>)> {
    let mut last = None;
    for_each_statement(ctx, sql, opts, |schema, batches| {
        last = Some((schema, batches));
        Ok(())
    })
    .await?;
    last.ok_or_else(|| Error::Usage("nothing to run".into()))
}

/// Run every statement in `sql`, printing each result to `out`. Stops at the first failing
/// statement.
pub async fn run_sql(
    ctx: &SessionContext,
    sql: &str,
    opts: &SqlOptions,
    out: &mut dyn Write,
) -> Result<()> {
    for_each_statement(ctx, sql, opts, |schema, batches| {
        opts.format.write(&schema, &batches, out)
    })
    .await?;
    out.flush()?;
    Ok(())
}

pub(crate) async fn for_each_statement(
    ctx: &SessionContext,
    sql: &str,
    opts: &SqlOptions,
    mut each: impl FnMut(arrow::datatypes::SchemaRef, Vec<arrow::array::RecordBatch>) -> Result<()>,
) -> Result<()> {
    for (i, statement) in parse_statements(sql)?.into_iter().enumerate() {
        let text = statement.to_string();
        let df = statement_frame(ctx, i + 1, statement, &opts.params).await?;
        let schema = df.schema().inner().clone();
        let batches = df.collect().await.map_err(|e| Error::Statement {
            index: i + 1,
            sql: one_line(&text),
            message: one_line(&e.strip_backtrace()),
        })?;
        each(schema, batches)?;
    }
    Ok(())
}

/// Split SQL text into statements with DataFusion's parser (the dialect every entry point
/// uses), for a caller that looks at each statement before it runs (the web console keeps to
/// read-only ones).
pub fn parse_statements(sql: &str) -> Result<Vec<datafusion::sql::parser::Statement>> {
    DFParser::parse_sql_with_dialect(sql, &GenericDialect {})
        .map(Vec::from)
        .map_err(|e| Error::Statement {
            index: 1,
            sql: one_line(sql),
            message: one_line(&e.to_string()),
        })
}

/// Plan one parsed statement (dialect rewrites applied, `params` bound): a DataFrame the
/// caller collects or streams. For a DDL or `SET` statement, planning is doing.
pub async fn statement_frame(
    ctx: &SessionContext,
    index: usize,
    mut statement: datafusion::sql::parser::Statement,
    params: &[(String, String)],
) -> Result<datafusion::dataframe::DataFrame> {
    let text = statement.to_string();
    let fail = |e: datafusion::error::DataFusionError| Error::Statement {
        index,
        sql: one_line(&text),
        message: one_line(&e.strip_backtrace()),
    };
    rewrite(&mut statement).map_err(fail)?;
    let mut plan = ctx
        .state()
        .statement_to_plan(statement)
        .await
        .map_err(fail)?;
    if !params.is_empty() {
        plan = bind(plan, params).map_err(fail)?;
    }
    ctx.execute_logical_plan(plan).await.map_err(fail)
}

/// Run one statement with bound `params` (dialect rewrites applied) and collect its result.
pub async fn query_with(
    ctx: &SessionContext,
    sql: &str,
    params: &[(String, String)],
) -> Result<(arrow::datatypes::SchemaRef, Vec<arrow::array::RecordBatch>)> {
    let opts = SqlOptions {
        format: OutputFormat::Table,
        params: params.to_vec(),
    };
    collect_last(ctx, sql, &opts).await
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Run one statement (dialect rewrites applied) and collect its result.
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<arrow::array::RecordBatch>> {
    Ok(
        collect_last(ctx, sql, &SqlOptions::new(OutputFormat::Table))
            .await?
            .1,
    )
}

/// Run one statement (dialect rewrites applied) and stream its result: batches are read as
/// the plan makes them, for a caller that keeps less than the whole result.
pub async fn query_stream(
    ctx: &SessionContext,
    sql: &str,
) -> Result<datafusion::physical_plan::SendableRecordBatchStream> {
    let mut statements = parse_statements(sql)?;
    if statements.len() != 1 {
        return Err(Error::Usage(format!(
            "expected one statement, got {}: {}",
            statements.len(),
            one_line(sql)
        )));
    }
    let statement = statements.remove(0);
    let text = statement.to_string();
    let df = statement_frame(ctx, 1, statement, &[]).await?;
    df.execute_stream().await.map_err(|e| Error::Statement {
        index: 1,
        sql: one_line(&text),
        message: one_line(&e.strip_backtrace()),
    })
}

/// Apply the dialect's rewrites to a statement, also inside EXPLAIN.
fn rewrite(statement: &mut datafusion::sql::parser::Statement) -> datafusion::common::Result<()> {
    use datafusion::sql::parser::Statement;
    match statement {
        Statement::Statement(st) => crate::dialect::rewrite(st),
        Statement::Explain(e) => rewrite(&mut e.statement),
        _ => Ok(()),
    }
}
