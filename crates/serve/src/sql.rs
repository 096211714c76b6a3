//! The SQL editor's API: statements run in the lake's query session (the same runner,
//! dialect and tables as `trailsql sql`), read-only (each statement's kind is checked on
//! DataFusion's parse of it), at most `max_rows` rows kept and `timeout` spent per request,
//! cancellable by the page; results exported as CSV, JSON or Parquet; the shipped reports
//! with their parameters.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Query, SetExpr, Statement};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use trailsql_query::OutputFormat;

use crate::ApiError;
use crate::rows::to_rows;
use crate::server::AppState;

/// Why a statement may not run here, or `None` when it only reads.
pub fn refusal(statement: &DfStatement) -> Option<String> {
    // The statement's leading keywords (the parser prints keywords in capitals).
    let kind = |s: &dyn std::fmt::Display| -> String {
        s.to_string()
            .split_whitespace()
            .take_while(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .take(4)
            .collect::<Vec<_>>()
            .join(" ")
    };
    match statement {
        DfStatement::Statement(s) => match s.as_ref() {
            Statement::Query(q) => query_refusal(q),
            Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowFunctions { .. }
            | Statement::ExplainTable { .. } => None,
            other => Some(kind(other)),
        },
        DfStatement::Explain(e) => refusal(&e.statement),
        DfStatement::CreateExternalTable(_) => Some("CREATE EXTERNAL TABLE".into()),
        DfStatement::CopyTo(_) => Some("COPY".into()),
        DfStatement::Reset(_) => Some("RESET".into()),
    }
}

/// A query writes when its body (or a CTE's) is DML or `SELECT ... INTO` a new table.
fn query_refusal(q: &Query) -> Option<String> {
    if let Some(with) = &q.with {
        for cte in &with.cte_tables {
            if let Some(r) = query_refusal(&cte.query) {
                return Some(r);
            }
        }
    }
    set_refusal(&q.body)
}

fn set_refusal(body: &SetExpr) -> Option<String> {
    match body {
        SetExpr::Select(s) if s.into.is_some() => Some("SELECT INTO".into()),
        SetExpr::Select(_) | SetExpr::Values(_) | SetExpr::Table(_) => None,
        SetExpr::Query(q) => query_refusal(q),
        SetExpr::SetOperation { left, right, .. } => {
            set_refusal(left).or_else(|| set_refusal(right))
        }
        SetExpr::Insert(_) => Some("INSERT".into()),
        SetExpr::Update(_) => Some("UPDATE".into()),
        SetExpr::Delete(_) => Some("DELETE".into()),
        SetExpr::Merge(_) => Some("MERGE".into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct SqlRequest {
    pub sql: String,
    /// Values of `$name` placeholders (a report's `$since`, `$until` and its own).
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
    /// Chosen by the page, to cancel this request with `POST /api/cancel`.
    pub id: Option<String>,
}

/// The last statement's result, cut at the row cap.
struct Outcome {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    truncated: bool,
    statements: usize,
}

/// Check, then run every statement of a request; the result of the last one.
async fn execute(state: &AppState, req: &SqlRequest) -> Result<Outcome, ApiError> {
    let statements = trailsql_query::parse_statements(&req.sql)?;
    if statements.is_empty() {
        return Err(ApiError::bad_request(
            "nothing to run: the SQL has no statement",
        ));
    }
    for (i, st) in statements.iter().enumerate() {
        if let Some(kind) = refusal(st) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "statement {} is {kind}: the console runs read-only SQL (SELECT, WITH, \
                     VALUES, EXPLAIN, SHOW, DESCRIBE); use `trailsql sql` for anything else",
                    i + 1
                ),
            ));
        }
    }
    let params: Vec<(String, String)> = req
        .params
        .iter()
        .map(|(k, v)| (k.trim_start_matches('$').to_owned(), v.clone()))
        .collect();
    let count = statements.len();
    let mut last = None;
    for (i, st) in statements.into_iter().enumerate() {
        let df = trailsql_query::statement_frame(&state.ctx, i + 1, st, &params).await?;
        let schema = df.schema().inner().clone();
        // Streamed, so a result past the cap stops its scan instead of being collected.
        let mut stream = df
            .execute_stream()
            .await
            .map_err(|e| ApiError::bad_request(one_line(&e.strip_backtrace())))?;
        let (mut batches, mut rows, mut truncated) = (Vec::new(), 0usize, false);
        while let Some(b) = stream.next().await {
            let b = b.map_err(|e| ApiError::bad_request(one_line(&e.strip_backtrace())))?;
            if rows + b.num_rows() > state.max_rows {
                batches.push(b.slice(0, state.max_rows - rows));
                truncated = true;
                break;
            }
            rows += b.num_rows();
            batches.push(b);
        }
        last = Some(Outcome {
            schema,
            batches,
            truncated,
            statements: count,
        });
    }
    Ok(last.expect("at least one statement ran"))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Run a request under the time cap, cancellable by its id. Cancelling or timing out drops
/// the query's future, which stops its scan.
async fn run_capped(state: &Arc<AppState>, req: &SqlRequest) -> Result<Outcome, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let _registration = req.id.as_ref().map(|id| state.running.register(id, tx));
    tokio::select! {
        r = tokio::time::timeout(state.timeout, execute(state, req)) => match r {
            Ok(r) => r,
            Err(_) => Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the query ran past the console's time cap of {} s and was stopped \
                     (trailsql serve --timeout-secs)",
                    state.timeout.as_secs()
                ),
            )),
        },
        // Only a sent cancel: a request without an id drops its sender at once.
        Ok(()) = rx => Err(ApiError::new(StatusCode::CONFLICT, "cancelled")),
    }
}

/// `POST /api/sql`: run statements, answer the last one's result.
pub async fn run(
    State(state): State<Arc<AppState>>,
    req: Result<Json<SqlRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = req.map_err(json_rejection)?;
    let started = Instant::now();
    let out = run_capped(&state, &req).await?;
    let rows = to_rows(&out.schema, &out.batches)?;
    Ok(Json(json!({
        "columns": rows.columns,
        "rows": rows.rows,
        "truncated": out.truncated,
        "max_rows": state.max_rows,
        "statements": out.statements,
        "elapsed_ms": started.elapsed().as_secs_f64() * 1e3,
    })))
}

#[derive(Debug, Deserialize)]
pub struct CancelRequest {
    pub id: String,
}

/// `POST /api/cancel`: stop the request with this id.
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    req: Result<Json<CancelRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = req.map_err(json_rejection)?;
    Ok(Json(json!({ "cancelled": state.running.cancel(&req.id) })))
}

#[derive(Debug, Deserialize)]
pub struct ExportRequest {
    #[serde(flatten)]
    pub query: SqlRequest,
    /// csv, json or parquet.
    pub format: String,
}

/// `POST /api/export`: the result as a file, written by the CLI's output formats.
pub async fn export(
    State(state): State<Arc<AppState>>,
    req: Result<Json<ExportRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = req.map_err(json_rejection)?;
    let (format, mime, ext) = match req.format.as_str() {
        "csv" => (OutputFormat::Csv, "text/csv; charset=utf-8", "csv"),
        "json" => (OutputFormat::Json, "application/json", "json"),
        "parquet" => (
            OutputFormat::Parquet,
            "application/vnd.apache.parquet",
            "parquet",
        ),
        other => {
            return Err(ApiError::bad_request(format!(
                "format {other:?}: expected csv, json or parquet"
            )));
        }
    };
    let out = run_capped(&state, &req.query).await?;
    let mut body = Vec::new();
    let written = if format == OutputFormat::Parquet {
        trailsql_query::format::parquet_into(&out.schema, &out.batches, &mut body)
    } else {
        format.write(&out.schema, &out.batches, &mut body)
    };
    written.map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"trailsql-result.{ext}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// `GET /api/reports`: the shipped reports, each with its SQL and parameters.
pub async fn reports() -> Result<Json<Value>, ApiError> {
    let reports = trailsql_query::report::catalog(None)?;
    Ok(Json(Value::Array(
        reports
            .into_iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "title": r.title,
                    "severity": r.severity,
                    "kind": if r.kind == trailsql_query::report::Kind::Detection { "detection" } else { "investigation" },
                    "description": r.description,
                    "references": r.references,
                    "params": r.params.iter().map(|(n, d)| json!({"name": n, "description": d})).collect::<Vec<_>>(),
                    "chart": r.chart,
                    "sql": r.sql,
                })
            })
            .collect(),
    )))
}

/// A body that is not the JSON expected: its status (400, 413, 415, 422) and axum's reason.
pub fn json_rejection(e: JsonRejection) -> ApiError {
    ApiError::new(e.status(), format!("bad request body: {}", e.body_text()))
}

pub fn query_rejection(e: QueryRejection) -> ApiError {
    ApiError::new(e.status(), format!("bad query string: {}", e.body_text()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str) -> Vec<Option<String>> {
        trailsql_query::parse_statements(sql)
            .unwrap()
            .iter()
            .map(refusal)
            .collect()
    }

    #[test]
    fn queries_read_and_everything_else_is_refused() {
        for ok in [
            "SELECT 1",
            "WITH a AS (SELECT 1 AS x) SELECT x FROM a UNION ALL SELECT 2",
            "EXPLAIN SELECT count(*) FROM cloudtrail",
            "EXPLAIN ANALYZE SELECT 1",
            "SHOW TABLES",
            "SHOW COLUMNS FROM cloudtrail",
            "DESCRIBE cloudtrail",
            "VALUES (1), (2)",
        ] {
            assert_eq!(refused(ok), [None], "{ok}");
        }
        for (bad, kind) in [
            (
                "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
                "CREATE EXTERNAL TABLE",
            ),
            ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY"),
            ("CREATE TABLE t AS SELECT 1", "CREATE TABLE"),
            ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
            ("DROP TABLE cloudtrail", "DROP TABLE"),
            ("INSERT INTO cloudtrail_sources VALUES (1)", "INSERT INTO"),
            ("SET datafusion.execution.batch_size = 1", "SET"),
            ("SELECT 1 INTO t", "SELECT INTO"),
            ("EXPLAIN COPY (SELECT 1) TO '/tmp/x.csv'", "COPY"),
            ("RESET datafusion.execution.batch_size", "RESET"),
        ] {
            assert_eq!(refused(bad), [Some(kind.to_owned())], "{bad}");
        }
        assert_eq!(
            refused("SELECT 1; DROP TABLE cloudtrail"),
            [None, Some("DROP TABLE".to_owned())]
        );
    }
}
