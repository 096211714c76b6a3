//! Lookup: the CloudTrail console's Event history filters (event ID, event name, event
//! source, user name, resource type, resource name, access key, read-only), combinable, as
//! one query with bound values.

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::runner::{SqlOptions, run_sql};
use crate::{OutputFormat, Result};

#[derive(Debug, Clone, Default)]
pub struct LookupFilters {
    pub event_id: Option<String>,
    pub event_name: Option<String>,
    pub event_source: Option<String>,
    pub username: Option<String>,
    pub resource_type: Option<String>,
    pub resource_name: Option<String>,
    pub access_key_id: Option<String>,
    pub read_only: Option<bool>,
}

/// The statement and its parameters for a set of filters.
pub fn lookup_sql(f: &LookupFilters, limit: usize) -> (String, Vec<(String, String)>) {
    let mut conds = vec![
        "eventtime >= $since".to_owned(),
        "eventtime < $until".to_owned(),
    ];
    let mut params = Vec::new();
    let mut add = |cond: &str, name: &str, value: &Option<String>| {
        if let Some(v) = value {
            conds.push(cond.to_owned());
            params.push((name.to_owned(), v.clone()));
        }
    };
    add("eventid = $event_id", "event_id", &f.event_id);
    add("eventname = $event_name", "event_name", &f.event_name);
    add(
        "eventsource = $event_source",
        "event_source",
        &f.event_source,
    );
    add(
        "(useridentity.username = $username OR useridentity.sessioncontext.sessionissuer.username = $username \
         OR split_part(useridentity.arn, '/', -1) = $username)",
        "username",
        &f.username,
    );
    add(
        "array_has(resource_types(resources), $resource_type)",
        "resource_type",
        &f.resource_type,
    );
    add(
        "(array_has(resource_arns(resources), $resource_name) OR strpos(array_to_string(resource_arns(resources), ' '), $resource_name) > 0)",
        "resource_name",
        &f.resource_name,
    );
    add(
        "useridentity.accesskeyid = $access_key_id",
        "access_key_id",
        &f.access_key_id,
    );
    add(
        "readonly = $read_only",
        "read_only",
        &f.read_only.map(|b| b.to_string()),
    );
    let sql = format!(
        "SELECT eventtime AS event_time, \
         coalesce(useridentity.username, useridentity.sessioncontext.sessionissuer.username, split_part(useridentity.arn, '/', -1), useridentity.invokedby, useridentity.type) AS user, \
         eventname AS event_name, eventsource AS event_source, sourceipaddress AS source_ip, \
         array_to_string(resource_arns(resources), ' ') AS resources, errorcode AS error \
         FROM cloudtrail WHERE {} ORDER BY eventtime DESC, eventid LIMIT {limit}",
        conds.join(" AND ")
    );
    (sql, params)
}

#[allow(clippy::too_many_arguments)]
pub async fn lookup(
    lake: &str,
    filters: &LookupFilters,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<()> {
    let ctx = crate::open_session(lake).await?;
    let (sql, mut params) = lookup_sql(filters, limit);
    params.push(("since".into(), since.to_rfc3339()));
    params.push(("until".into(), until.to_rfc3339()));
    run_sql(&ctx, &sql, &SqlOptions { format, params }, out).await
}
