//! The statement runner: SQL text split into statements by DataFusion's parser (never on
//! `;`), each planned, run and printed in turn. The REPL, `-c` and `-f` all come here.

use std::io::Write;

use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::dialect::GenericDialect;

use crate::{Error, OutputFormat, Result};

#[derive(Debug, Clone)]
pub struct SqlOptions {
    pub format: OutputFormat,
}

/// Run every statement in `sql`, printing each result to `out`. Stops at the first failing
/// statement.
pub async fn run_sql(
    ctx: &SessionContext,
    sql: &str,
    opts: &SqlOptions,
    out: &mut dyn Write,
) -> Result<()> {
    let statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {}).map_err(|e| {
        Error::Statement {
            index: 1,
            sql: one_line(sql),
            message: one_line(&e.to_string()),
        }
    })?;
    for (i, mut statement) in statements.into_iter().enumerate() {
        let text = statement.to_string();
        let fail = |e: datafusion::error::DataFusionError| Error::Statement {
            index: i + 1,
            sql: one_line(&text),
            message: one_line(&e.strip_backtrace()),
        };
        rewrite(&mut statement).map_err(fail)?;
        let plan = ctx
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(fail)?;
        let df = ctx.execute_logical_plan(plan).await.map_err(fail)?;
        let schema = df.schema().inner().clone();
        let batches = df.collect().await.map_err(fail)?;
        opts.format.write(&schema, &batches, out)?;
    }
    out.flush()?;
    Ok(())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Run one statement (dialect rewrites applied) and collect its result.
pub async fn query(
    ctx: &SessionContext,
    sql: &str,
) -> datafusion::common::Result<Vec<arrow::array::RecordBatch>> {
    let mut statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})?;
    let mut out = Vec::new();
    while let Some(mut statement) = statements.pop_front() {
        rewrite(&mut statement)?;
        let plan = ctx.state().statement_to_plan(statement).await?;
        out = ctx.execute_logical_plan(plan).await?.collect().await?;
    }
    Ok(out)
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
