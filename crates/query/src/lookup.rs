//! Lookup: the CloudTrail console's Event history filters (event ID, event name, event
//! source, user name, resource type, resource name, access key, read-only), plus region,
//! source IP, error code, account, principal ARN and identity type, combinable, as one query
//! with bound values. The CLI's `lookup` prints the newest events; the web console pages
//! through them with a keyset on (`eventtime`, `eventid`), never OFFSET.

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::runner::{SqlOptions, run_sql};
use crate::{OutputFormat, Result};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupFilters {
    pub event_id: Option<String>,
    pub event_name: Option<String>,
    pub event_source: Option<String>,
    pub username: Option<String>,
    pub resource_type: Option<String>,
    pub resource_name: Option<String>,
    pub access_key_id: Option<String>,
    pub read_only: Option<bool>,
    /// `awsregion`.
    pub region: Option<String>,
    pub source_ip: Option<String>,
    pub error_code: Option<String>,
    /// `recipientaccountid`: the account whose trail recorded the event.
    pub account: Option<String>,
    /// `useridentity.arn`.
    pub principal: Option<String>,
    /// `useridentity.type` (`Root`, `IAMUser`, `AssumedRole`, ...).
    pub user_type: Option<String>,
}

/// Who made a call, as the console's "User name" column shows it.
const USER: &str = "coalesce(useridentity.username, useridentity.sessioncontext.sessionissuer.username, \
     split_part(useridentity.arn, '/', -1), useridentity.invokedby, useridentity.type)";

/// The WHERE conditions (joined with AND) and their placeholder values; `$since` and
/// `$until` are the caller's to bind.
pub fn conditions(f: &LookupFilters) -> (Vec<String>, Vec<(String, String)>) {
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
    add("awsregion = $region", "region", &f.region);
    add("sourceipaddress = $source_ip", "source_ip", &f.source_ip);
    add("errorcode = $error_code", "error_code", &f.error_code);
    add("recipientaccountid = $account", "account", &f.account);
    add("useridentity.arn = $principal", "principal", &f.principal);
    add("useridentity.type = $user_type", "user_type", &f.user_type);
    (conds, params)
}

/// The CLI's statement and its parameters for a set of filters: the newest `limit` events.
pub fn lookup_sql(f: &LookupFilters, limit: usize) -> (String, Vec<(String, String)>) {
    let (conds, params) = conditions(f);
    let sql = format!(
        "SELECT eventtime AS event_time, {USER} AS user, \
         eventname AS event_name, eventsource AS event_source, sourceipaddress AS source_ip, \
         array_to_string(resource_arns(resources), ' ') AS resources, errorcode AS error \
         FROM cloudtrail WHERE {} ORDER BY eventtime DESC, eventid LIMIT {limit}",
        conds.join(" AND ")
    );
    (sql, params)
}

/// Which way a page of events runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Newest first, as the console and the CLI (ties by `eventid` ascending).
    #[default]
    NewestFirst,
    /// The exact reverse.
    OldestFirst,
}

/// One page of Event history: the events after `after` (the last row of the previous page)
/// in `order`. Columns: every one the console's column chooser offers.
pub fn page_sql(
    f: &LookupFilters,
    order: Order,
    after: Option<(DateTime<Utc>, &str)>,
    limit: usize,
) -> (String, Vec<(String, String)>) {
    let (mut conds, mut params) = conditions(f);
    // The keyset: rows strictly after the last one shown, in the page's order. A bound on
    // `eventtime` also prunes the days already shown.
    let (by, cmp_time, cmp_id) = match order {
        Order::NewestFirst => ("eventtime DESC, eventid ASC", "<", ">"),
        Order::OldestFirst => ("eventtime ASC, eventid DESC", ">", "<"),
    };
    if let Some((time, id)) = after {
        let eq = if order == Order::NewestFirst {
            "<="
        } else {
            ">="
        };
        conds.push(format!(
            "eventtime {eq} $after_time AND (eventtime {cmp_time} $after_time OR eventid {cmp_id} $after_id)"
        ));
        params.push(("after_time".into(), time.to_rfc3339()));
        params.push(("after_id".into(), id.to_owned()));
    }
    let sql = format!(
        "SELECT eventtime AS event_time, eventid AS event_id, {USER} AS user, \
         eventname AS event_name, eventsource AS event_source, awsregion AS region, \
         sourceipaddress AS source_ip, array_to_string(resource_types(resources), ' ') AS resource_types, \
         array_to_string(resource_arns(resources), ' ') AS resources, errorcode AS error, \
         useridentity.accesskeyid AS access_key_id, useridentity.arn AS principal, \
         useridentity.type AS user_type, recipientaccountid AS account, readonly AS read_only, \
         eventtype AS event_type, useragent AS user_agent \
         FROM cloudtrail WHERE {} ORDER BY {by} LIMIT {limit}",
        conds.join(" AND ")
    );
    (sql, params)
}

/// How many events the filters select.
pub fn count_sql(f: &LookupFilters) -> (String, Vec<(String, String)>) {
    let (conds, params) = conditions(f);
    (
        format!(
            "SELECT count(*) AS events FROM cloudtrail WHERE {}",
            conds.join(" AND ")
        ),
        params,
    )
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
