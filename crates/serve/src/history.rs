//! Event history: pages of events matching the console's filters, newest (or oldest) first,
//! paged by a keyset on (`eventtime`, `eventid`) so page 500 costs what page 1 does; the
//! number of events the filters select; and one event, rebuilt as CloudTrail wrote it.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use trailsql_query::lookup::{Order, count_sql, page_sql};

use crate::params::{FilterParams, Window, parse_time, window_params};
use crate::rows::to_rows;
use crate::server::AppState;
use crate::{ApiError, sql::query_rejection};

/// The console's default window, as AWS's Event history: 90 days.
const DEFAULT_DAYS: i64 = 90;
/// Largest page.
const MAX_PAGE: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct PageParams {
    #[serde(flatten)]
    window: Window,
    #[serde(flatten)]
    filters: FilterParams,
    /// `desc` (newest first, the default) or `asc`.
    order: Option<String>,
    /// The last row of the previous page: its `event_time` and `event_id`.
    after_time: Option<String>,
    after_id: Option<String>,
    limit: Option<String>,
}

/// `GET /api/events`: one page.
pub async fn page(
    State(state): State<Arc<AppState>>,
    q: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(query_rejection)?;
    let started = Instant::now();
    let (since, until) = q.window.resolve(DEFAULT_DAYS)?;
    let filters = q.filters.filters()?;
    let order = match q.order.as_deref().unwrap_or("desc") {
        "desc" | "" => Order::NewestFirst,
        "asc" => Order::OldestFirst,
        other => {
            return Err(ApiError::bad_request(format!(
                "order={other:?}: expected desc or asc"
            )));
        }
    };
    let after_time = q
        .after_time
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|t| parse_time("after_time", t))
        .transpose()?;
    let after = match (after_time, q.after_id.as_deref()) {
        (Some(t), Some(id)) => Some((t, id)),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request(
                "after_time and after_id go together (the last row of the previous page)",
            ));
        }
    };
    // A string: numbers do not survive serde's `flatten` in a query string.
    let limit = match q.limit.as_deref().filter(|s| !s.is_empty()) {
        None => 50,
        Some(l) => l.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("limit={l:?}: expected a number of rows"))
        })?,
    }
    .clamp(1, MAX_PAGE);
    let (sql, mut params) = page_sql(&filters, order, after, limit);
    params.extend(window_params(since, until));
    let (schema, batches) = trailsql_query::query_with(&state.ctx, &sql, &params).await?;
    let rows = to_rows(&schema, &batches)?;
    // A full page may have a next one: it starts after its last row.
    let next = (rows.rows.len() == limit).then(|| {
        let last = rows.rows.last().expect("a full page has rows");
        json!({ "after_time": last[0], "after_id": last[1] })
    });
    Ok(Json(json!({
        "columns": rows.columns,
        "rows": rows.rows,
        "next": next,
        "since": since.to_rfc3339(),
        "until": until.to_rfc3339(),
        "elapsed_ms": started.elapsed().as_secs_f64() * 1e3,
    })))
}

#[derive(Debug, Deserialize)]
pub struct CountParams {
    #[serde(flatten)]
    window: Window,
    #[serde(flatten)]
    filters: FilterParams,
}

/// `GET /api/events/count`: how many events the filters select in the window.
pub async fn count(
    State(state): State<Arc<AppState>>,
    q: Result<Query<CountParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(query_rejection)?;
    let started = Instant::now();
    let (since, until) = q.window.resolve(DEFAULT_DAYS)?;
    let (sql, mut params) = count_sql(&q.filters.filters()?);
    params.extend(window_params(since, until));
    let (schema, batches) = trailsql_query::query_with(&state.ctx, &sql, &params).await?;
    let rows = to_rows(&schema, &batches)?;
    let events = rows
        .rows
        .first()
        .and_then(|r| r.first())
        .cloned()
        .unwrap_or(json!(0));
    Ok(Json(json!({
        "events": events,
        "elapsed_ms": started.elapsed().as_secs_f64() * 1e3,
    })))
}

#[derive(Debug, Deserialize)]
pub struct EventParams {
    /// The event's time: the same `eventid` on two days is two events, and the time keeps
    /// the search to one day's files.
    time: Option<String>,
}

/// `GET /api/event/{id}`: the record as CloudTrail wrote it, its source object and the
/// verdict on that object when `ingest --verify` gave one.
pub async fn event(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    q: Result<Query<EventParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(query_rejection)?;
    let time = q
        .time
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|t| parse_time("time", t))
        .transpose()?;
    match trailsql_query::event::event_record(&state.ctx, &id, time).await? {
        Some(e) => Ok(Json(serde_json::to_value(e).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        })?)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no event {id:?} in the lake"),
        )),
    }
}
