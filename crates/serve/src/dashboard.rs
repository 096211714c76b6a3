//! The dashboard of a time window: events over time (a histogram whose buckets suit the
//! window), and top-ten panels (principals, source IPs, services, calls, error codes,
//! accounts, regions, root activity, console sign-ins). Each panel names the Event history
//! filters its rows stand for, so the page links every row to exactly the events it counts.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::ApiError;
use crate::params::{Window, window_params};
use crate::rows::to_rows;
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

/// The events of the window (`$since`, `$until`) as a table. The whole days inside it
/// (`$first_day` to `$end_day`, see [`window_days`]) are chosen by their `date` partition
/// alone, so their files are read with no row filter on `eventtime`; only the part days at
/// the edges are filtered by time. On the 1M-event benchmark lake, 30 days, through
/// `/api/sql`: the region panel's query 33 -> 23 ms, the principal panel's 62 -> 50 ms (the
/// time filter read and compared every row's `eventtime`).
/// Rows are in `date` D exactly when their `eventtime` falls on D (UTC), so the two halves
/// are disjoint and together are the window.
const WINDOW_EVENTS: &str = "(SELECT * FROM cloudtrail WHERE date >= $first_day AND date < $end_day \
     UNION ALL SELECT * FROM cloudtrail WHERE (date < $first_day OR date >= $end_day) \
     AND eventtime >= $since AND eventtime < $until) AS cloudtrail";

/// The first whole day of a window and the day after its last: `since` rounded up to a
/// day, `until` rounded down. For a window inside one day the first is after the end, and
/// every row is filtered by time.
pub fn window_days(since: DateTime<Utc>, until: DateTime<Utc>) -> [(String, String); 2] {
    let mut first = since.date_naive();
    if since.time() != chrono::NaiveTime::MIN {
        first = first.succ_opt().unwrap_or(first);
    }
    [
        ("first_day".into(), first.to_string()),
        ("end_day".into(), until.date_naive().to_string()),
    ]
}

impl Panel {
    pub fn sql(&self) -> String {
        let keys = self.select.matches(" AS ").count();
        let group: Vec<String> = (1..=keys).map(|i| i.to_string()).collect();
        format!(
            "SELECT {}, count(*) AS events FROM {WINDOW_EVENTS}{} \
             GROUP BY {g} ORDER BY events DESC, {g} LIMIT 10",
            self.select,
            self.filter
                .map(|f| format!(" WHERE {f}"))
                .unwrap_or_default(),
            g = group.join(", ")
        )
    }
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

pub fn histogram_sql(bucket: i64) -> String {
    format!(
        "SELECT date_bin(INTERVAL '{bucket} seconds', eventtime) AS bucket, count(*) AS events, \
         count(errorcode) AS errors FROM {WINDOW_EVENTS} GROUP BY 1 ORDER BY 1"
    )
}

/// `GET /api/dashboard?since=&until=`: the histogram and every panel, queried at once.
pub async fn dashboard(
    State(state): State<Arc<AppState>>,
    q: Result<Query<Window>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(w) = q.map_err(query_rejection)?;
    let started = Instant::now();
    let (since, until) = w.resolve(30)?;
    let mut params = window_params(since, until);
    params.extend(window_days(since, until));
    let bucket = bucket_seconds(since, until);
    let ctx = &state.ctx;
    let histogram = async {
        let (schema, batches) =
            trailsql_query::query_with(ctx, &histogram_sql(bucket), &params).await?;
        to_rows(&schema, &batches)
    };
    let panels = futures::future::try_join_all(PANELS.iter().map(|p| {
        let params = &params;
        async move {
            let (schema, batches) = trailsql_query::query_with(ctx, &p.sql(), params).await?;
            let rows = to_rows(&schema, &batches)?;
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
        let days = |a, b| window_days(t(a), t(b)).map(|(_, d)| d);
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
        let calls = PANELS.iter().find(|p| p.id == "calls").unwrap().sql();
        assert!(
            calls.contains("GROUP BY 1, 2 ORDER BY events DESC, 1, 2 LIMIT 10"),
            "{calls}"
        );
        let root = PANELS.iter().find(|p| p.id == "root").unwrap().sql();
        assert!(
            root.contains("WHERE useridentity.type = 'Root' GROUP BY 1 "),
            "{root}"
        );
    }
}
