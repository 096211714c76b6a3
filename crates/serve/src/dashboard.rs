//! The dashboard of a time window: events over time (a histogram whose buckets suit the
//! window), and top-ten panels (principals, source IPs, services, calls, error codes,
//! accounts, regions, root activity, console sign-ins). Each panel names the Event history
//! filters its rows stand for, so the page links every row to exactly the events it counts.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use serde_json::{Value, json};

use crate::ApiError;
use crate::day_counts::{Counted, Grouping};
use crate::params::{Window, window_params};
use crate::rows::{Rows, to_rows};
use crate::server::AppState;
use crate::sql::query_rejection;

/// One top-ten panel.
#[derive(Debug, Clone, Copy)]
pub struct Panel {
    pub id: &'static str,
    pub title: &'static str,
    /// The grouping columns. Each is aliased with the name of the Event history filter
    /// that selects its value (`principal`, `source_ip`...) when there is one.
    pub select: &'static str,
    /// More conditions, beside the window.
    pub filter: Option<&'static str>,
    /// Filters every row of the panel stands for, beside its own columns'.
    pub fixed: &'static [(&'static str, &'static str)],
}

pub const PANELS: &[Panel] = &[
    Panel {
        id: "principals",
        title: "Top principals",
        select: "useridentity.arn AS principal",
        filter: Some("useridentity.arn IS NOT NULL"),
        fixed: &[],
    },
    Panel {
        id: "source_ips",
        title: "Top source IPs",
        select: "sourceipaddress AS source_ip",
        filter: Some("sourceipaddress IS NOT NULL"),
        fixed: &[],
    },
    Panel {
        id: "services",
        title: "Top services",
        select: "eventsource AS event_source",
        filter: None,
        fixed: &[],
    },
    Panel {
        id: "calls",
        title: "Top calls",
        select: "eventsource AS event_source, eventname AS event_name",
        filter: None,
        fixed: &[],
    },
    Panel {
        id: "errors",
        title: "Error codes",
        select: "errorcode AS error_code",
        filter: Some("errorcode IS NOT NULL"),
        fixed: &[],
    },
    Panel {
        id: "accounts",
        title: "By account",
        select: "recipientaccountid AS account",
        filter: Some("recipientaccountid IS NOT NULL"),
        fixed: &[],
    },
    Panel {
        id: "regions",
        title: "By region",
        select: "awsregion AS region",
        filter: Some("awsregion IS NOT NULL"),
        fixed: &[],
    },
    Panel {
        id: "root",
        title: "Root user activity",
        select: "eventname AS event_name",
        filter: Some("useridentity.type = 'Root'"),
        fixed: &[("user_type", "Root")],
    },
    Panel {
        id: "signins",
        title: "Console sign-ins",
        select: "coalesce(json_extract_scalar(responseelements, '$.ConsoleLogin'), 'unknown') AS outcome, \
                 coalesce(json_extract_scalar(additionaleventdata, '$.MFAUsed'), 'No') AS mfa_used",
        filter: Some("eventname = 'ConsoleLogin'"),
        fixed: &[("event_name", "ConsoleLogin")],
    },
];

/// Filters a panel's columns can stand for.
const FILTER_COLUMNS: &[&str] = &[
    "principal",
    "source_ip",
    "event_source",
    "event_name",
    "error_code",
    "account",
    "region",
];

/// The first whole day of a window and the day after its last: `since` rounded up to a
/// day, `until` rounded down. Rows are in `date` D exactly when their `eventtime` falls on
/// D (UTC), so the whole days are counted by partition alone and only the part days at the
/// edges are filtered by time. For a window inside one day the first is after the end, and
/// every row is filtered by time.
pub fn window_days(since: DateTime<Utc>, until: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let mut first = since.date_naive();
    if since.time() != chrono::NaiveTime::MIN {
        first = first.succ_opt().unwrap_or(first);
    }
    (first, until.date_naive())
}

impl Panel {
    /// The panel's counts, merged from days and edges by [`DayCounts`].
    pub fn grouping(&self) -> Grouping {
        Grouping {
            select: self.select.to_owned(),
            keys: self.select.matches(" AS ").count(),
            filter: self.filter,
            counts: "count(*) AS events",
        }
    }
}

/// The histogram's counts by minute: every width [`bucket_seconds`] gives is a whole
/// number of minutes, and buckets start at the epoch, so minutes add up to buckets exactly.
pub fn minutes() -> Grouping {
    Grouping {
        select: "date_bin(INTERVAL '60 seconds', eventtime) AS bucket".to_owned(),
        keys: 1,
        filter: None,
        counts: "count(*) AS events, count(errorcode) AS errors",
    }
}

/// A panel's top ten from its counted rows (table `counted`, keys first): the same order
/// as a top-ten query over the window's events.
pub fn top_ten_sql(keys: &[&str]) -> String {
    let names: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
    let g = (1..=keys.len())
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {}, sum(events) AS events FROM counted GROUP BY {g} \
         ORDER BY events DESC, {g} LIMIT 10",
        names.join(", ")
    )
}

/// Bucket width for a window: the smallest of these giving at most 120 buckets.
pub fn bucket_seconds(since: DateTime<Utc>, until: DateTime<Utc>) -> i64 {
    const WIDTHS: &[i64] = &[
        60,
        5 * 60,
        15 * 60,
        3600,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86400,
        7 * 86400,
        30 * 86400,
    ];
    let span = (until - since).num_seconds().max(1);
    WIDTHS
        .iter()
        .copied()
        .find(|w| span / w <= 120)
        .unwrap_or(365 * 86400)
}

/// The histogram from the counts by minute (table `counted`).
pub fn histogram_sql(bucket: i64) -> String {
    format!(
        "SELECT date_bin(INTERVAL '{bucket} seconds', bucket) AS bucket, sum(events) AS events, \
         sum(errors) AS errors FROM counted GROUP BY 1 ORDER BY 1"
    )
}

/// Run `sql` over `counted` as table `counted`, in a session of its own.
async fn merge(counted: Counted, sql: &str) -> Result<Rows, ApiError> {
    let internal = |e: datafusion::error::DataFusionError| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    };
    let ctx = SessionContext::new();
    let table = MemTable::try_new(counted.schema, vec![counted.batches]).map_err(internal)?;
    ctx.register_table("counted", Arc::new(table))
        .map_err(internal)?;
    let df = ctx.sql(sql).await.map_err(internal)?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.map_err(internal)?;
    to_rows(&schema, &batches)
}

/// `GET /api/dashboard?since=&until=`: the histogram and every panel, counted at once
/// (whole days remembered from an earlier look are not counted again, see
/// [`crate::day_counts`]).
pub async fn dashboard(
    State(state): State<Arc<AppState>>,
    q: Result<Query<Window>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(w) = q.map_err(query_rejection)?;
    let started = Instant::now();
    let (since, until) = w.resolve(30)?;
    let mut params = window_params(since, until);
    let whole = window_days(since, until);
    params.extend([
        ("first_day".to_owned(), whole.0.to_string()),
        ("end_day".to_owned(), whole.1.to_string()),
    ]);
    let bucket = bucket_seconds(since, until);
    let mut groupings: Vec<Grouping> = PANELS.iter().map(Panel::grouping).collect();
    groupings.push(minutes());
    let (mut counted, provenance) = state
        .day_counts
        .count(&state.ctx, &state.lake, &groupings, whole, &params)
        .await?;
    let histogram_sql = histogram_sql(bucket);
    let histogram = merge(counted.pop().expect("the minutes"), &histogram_sql);
    let panels = futures::future::try_join_all(PANELS.iter().zip(counted).map(|(p, c)| {
        let keys: Vec<String> = c
            .schema
            .fields()
            .iter()
            .take(p.grouping().keys)
            .map(|f| f.name().clone())
            .collect();
        async move {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let rows = merge(c, &top_ten_sql(&keys)).await?;
            let linked: Vec<&str> = rows
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .filter(|c| FILTER_COLUMNS.contains(c))
                .collect();
            let fixed: serde_json::Map<String, Value> = p
                .fixed
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect();
            Ok::<_, ApiError>(json!({
                "id": p.id,
                "title": p.title,
                "columns": rows.columns,
                "rows": rows.rows,
                "linked": linked,
                "fixed": fixed,
            }))
        }
    }));
    let (histogram, panels) = futures::future::try_join(histogram, panels).await?;
    let sum = |i: usize| -> i64 {
        histogram
            .rows
            .iter()
            .filter_map(|r| r.get(i).and_then(Value::as_i64))
            .sum()
    };
    Ok(Json(json!({
        "since": since.to_rfc3339(),
        "until": until.to_rfc3339(),
        "bucket_seconds": bucket,
        "events": sum(1),
        "errors": sum(2),
        "histogram": histogram.rows,
        "panels": panels,
        "days_remembered": provenance.remembered,
        "days_counted": provenance.counted,
        "elapsed_ms": started.elapsed().as_secs_f64() * 1e3,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_suit_the_window() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let day = (t("2024-03-01T00:00:00Z"), t("2024-03-02T00:00:00Z"));
        assert_eq!(bucket_seconds(day.0, day.1), 15 * 60);
        let month = (t("2024-03-01T00:00:00Z"), t("2024-03-31T00:00:00Z"));
        assert_eq!(bucket_seconds(month.0, month.1), 6 * 3600);
        let hour = (t("2024-03-01T00:00:00Z"), t("2024-03-01T01:00:00Z"));
        assert_eq!(bucket_seconds(hour.0, hour.1), 60);
    }

    #[test]
    fn whole_days_of_a_window() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let days = |a, b| {
            let (first, end) = window_days(t(a), t(b));
            [first.to_string(), end.to_string()]
        };
        assert_eq!(
            days("2024-03-01T00:00:00Z", "2024-03-31T00:00:00Z"),
            ["2024-03-01", "2024-03-31"]
        );
        assert_eq!(
            days("2024-03-01T00:00:01Z", "2024-03-30T23:59:59Z"),
            ["2024-03-02", "2024-03-30"]
        );
        // Inside one day: no whole day, every row is filtered by time.
        assert_eq!(
            days("2024-03-01T06:00:00Z", "2024-03-01T18:00:00Z"),
            ["2024-03-02", "2024-03-01"]
        );
    }

    #[test]
    fn every_panel_groups_by_its_columns() {
        let calls = PANELS.iter().find(|p| p.id == "calls").unwrap().grouping();
        assert_eq!(calls.keys, 2);
        let edge = crate::day_counts::edge_sql(&calls);
        assert!(edge.ends_with("GROUP BY 1, 2"), "{edge}");
        let top = top_ten_sql(&["event_source", "event_name"]);
        assert!(
            top.contains("GROUP BY 1, 2 ORDER BY events DESC, 1, 2 LIMIT 10"),
            "{top}"
        );
        let root = PANELS.iter().find(|p| p.id == "root").unwrap().grouping();
        let edge = crate::day_counts::edge_sql(&root);
        assert!(
            edge.contains("AND (useridentity.type = 'Root') GROUP BY 1"),
            "{edge}"
        );
    }
}
