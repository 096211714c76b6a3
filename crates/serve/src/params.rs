//! Request parameters: a time window and the Event history filters, from a query string.
//! Empty values mean "not set", as an empty form field does.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use trailsql_query::lookup::LookupFilters;

use crate::ApiError;

/// A time: RFC 3339, `YYYY-MM-DD`, or an HTML `datetime-local` value (`YYYY-MM-DDTHH:MM`,
/// seconds optional), the last two read as UTC.
pub fn parse_time(name: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    let s = s.trim();
    // RFC 3339 wants seconds; a `datetime-local` value has none when they are zero.
    let s = &match s.strip_suffix('Z') {
        Some(rest) if rest.len() == 16 => format!("{rest}:00Z"),
        _ => s.to_owned(),
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    Err(ApiError::bad_request(format!(
        "{name}={s:?}: expected a time such as 2024-03-01T12:00:00Z or 2024-03-01"
    )))
}

/// `since` / `until` of a request; `until` defaults to now and `since` to `default_days`
/// before it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Window {
    pub since: Option<String>,
    pub until: Option<String>,
}

impl Window {
    pub fn resolve(&self, default_days: i64) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
        let until = match nonempty(&self.until) {
            Some(u) => parse_time("until", u)?,
            None => Utc::now(),
        };
        let since = match nonempty(&self.since) {
            Some(s) => parse_time("since", s)?,
            None => until - Duration::days(default_days),
        };
        if since >= until {
            return Err(ApiError::bad_request(format!(
                "the window is empty: since {} is not before until {}",
                since.to_rfc3339(),
                until.to_rfc3339()
            )));
        }
        Ok((since, until))
    }
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The Event history filters as query parameters (the names of `trailsql lookup`'s flags,
/// with underscores).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FilterParams {
    pub event_id: Option<String>,
    pub event_name: Option<String>,
    pub event_source: Option<String>,
    pub username: Option<String>,
    pub resource_type: Option<String>,
    pub resource_name: Option<String>,
    pub access_key_id: Option<String>,
    pub read_only: Option<String>,
    pub region: Option<String>,
    pub source_ip: Option<String>,
    pub error_code: Option<String>,
    pub account: Option<String>,
    pub principal: Option<String>,
    pub user_type: Option<String>,
}

impl FilterParams {
    pub fn filters(&self) -> Result<LookupFilters, ApiError> {
        let s = |v: &Option<String>| nonempty(v).map(str::to_owned);
        let read_only = match nonempty(&self.read_only) {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "read_only={other:?}: expected true or false"
                )));
            }
        };
        Ok(LookupFilters {
            event_id: s(&self.event_id),
            event_name: s(&self.event_name),
            event_source: s(&self.event_source),
            username: s(&self.username),
            resource_type: s(&self.resource_type),
            resource_name: s(&self.resource_name),
            access_key_id: s(&self.access_key_id),
            read_only,
            region: s(&self.region),
            source_ip: s(&self.source_ip),
            error_code: s(&self.error_code),
            account: s(&self.account),
            principal: s(&self.principal),
            user_type: s(&self.user_type),
        })
    }
}

/// `$since` and `$until` as statement parameters.
pub fn window_params(since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<(String, String)> {
    vec![
        ("since".into(), since.to_rfc3339()),
        ("until".into(), until.to_rfc3339()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_the_forms_the_page_sends() {
        let t = |s| parse_time("t", s).unwrap().to_rfc3339();
        assert_eq!(t("2024-03-01T12:30:00Z"), "2024-03-01T12:30:00+00:00");
        assert_eq!(t("2024-03-01T14:30:00+02:00"), "2024-03-01T12:30:00+00:00");
        assert_eq!(t("2024-03-01T12:30"), "2024-03-01T12:30:00+00:00");
        assert_eq!(t("2024-03-01T12:30Z"), "2024-03-01T12:30:00+00:00");
        assert_eq!(t("2024-03-01"), "2024-03-01T00:00:00+00:00");
        let e = parse_time("since", "yesterday").unwrap_err();
        assert!(e.message.contains("since=\"yesterday\""), "{}", e.message);
    }

    #[test]
    fn an_empty_window_is_refused() {
        let w = Window {
            since: Some("2024-03-02".into()),
            until: Some("2024-03-01".into()),
        };
        assert!(w.resolve(30).unwrap_err().message.contains("empty"));
    }

    #[test]
    fn empty_fields_are_unset_and_read_only_is_a_boolean() {
        let p = FilterParams {
            username: Some(" ".into()),
            read_only: Some("false".into()),
            ..Default::default()
        };
        let f = p.filters().unwrap();
        assert_eq!(f.username, None);
        assert_eq!(f.read_only, Some(false));
        let p = FilterParams {
            read_only: Some("maybe".into()),
            ..Default::default()
        };
        assert!(p.filters().is_err());
    }
}
