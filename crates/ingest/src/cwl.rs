//! `cwl://LOG_GROUP[?prefix=STREAM_PREFIX]`: CloudTrail events read from a CloudWatch Logs
//! log group through its API (DescribeLogStreams, then GetLogEvents per stream, paginated;
//! throttling retried by the SDK's standard retry with backoff). The main noun is a
//! [`LogGroupSource`].
//!
//! Each stream's new events become one source object, `cwl://GROUP/STREAM`, whose content is
//! the events as `get-log-events` gives them (read by [`crate::envelope`]), so they take the
//! path every object takes: decoding, quarantine, deduplication, commits. The object's entry
//! in the lake's source state is the stream's position: `modified` is the timestamp of the
//! last event read, `records` how many events that read had. A later run reads each stream
//! from that millisecond on (inclusive: events of the same millisecond are read again and
//! dropped as duplicates by their eventID), so calling ingest again picks up what was
//! appended; a stream with nothing new gives the same content and is counted unchanged.

use std::sync::Arc;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::config::retry::RetryConfig;
use aws_sdk_cloudwatchlogs::config::{BehaviorVersion, Region};
use aws_sdk_cloudwatchlogs::error::DisplayErrorContext;
use futures::{StreamExt, TryStreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::Serialize;
use trailsql_lake::state::{LakeState, SourceEntry};

use crate::decode::Window;
use crate::source::SourceObject;
use crate::{Error, Result};

/// The scheme of a log group source.
pub const SCHEME: &str = "cwl://";

/// Streams read at once.
const STREAMS_AT_ONCE: usize = 8;

/// Attempts of a request, throttling included (the SDK's standard retry: exponential backoff
/// with jitter).
const MAX_ATTEMPTS: u32 = 10;

/// A `cwl://` source argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroupSource {
    pub group: String,
    /// Only streams whose name starts with this.
    pub prefix: Option<String>,
}

impl LogGroupSource {
    /// Parse `cwl://LOG_GROUP[?prefix=STREAM_PREFIX]`.
    pub fn parse(arg: &str) -> Result<LogGroupSource> {
        let invalid = |reason: String| Error::InvalidSource {
            source_arg: arg.to_owned(),
            reason,
        };
        let rest = arg
            .strip_prefix(SCHEME)
            .ok_or_else(|| invalid(format!("expected {SCHEME}LOG_GROUP")))?;
        let (group, query) = rest.split_once('?').unwrap_or((rest, ""));
        if group.is_empty() {
            return Err(invalid(format!(
                "no log group: expected {SCHEME}LOG_GROUP[?prefix=STREAM_PREFIX]"
            )));
        }
        let mut prefix = None;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "prefix" if !v.is_empty() => prefix = Some(v.into_owned()),
                "prefix" => {}
                other => {
                    return Err(invalid(format!(
                        "unknown parameter {other:?} (the one known is prefix=STREAM_PREFIX)"
                    )));
                }
            }
        }
        Ok(LogGroupSource {
            group: group.to_owned(),
            prefix,
        })
    }

    /// The URI of one of its streams, the source object its events come from.
    pub fn stream_uri(&self, stream: &str) -> String {
        format!("{SCHEME}{}/{stream}", self.group)
    }
}

/// One event of a stream, as `get-log-events` gives it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogEvent {
    timestamp: i64,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ingestion_time: Option<i64>,
}

/// The content of a stream's source object.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamEvents<'a> {
    log_group_name: &'a str,
    log_stream_name: &'a str,
    next_forward_token: Option<String>,
    events: Vec<LogEvent>,
}

/// The source objects of a `cwl://` argument: one per stream with events from its position
/// (or from `since`) to `until`, held in memory.
pub(crate) async fn resolve(
    arg: &str,
    state: &LakeState,
    window: Window,
) -> Result<Vec<SourceObject>> {
    let src = LogGroupSource::parse(arg)?;
    let (client, region) = client(&src).await?;
    let fail = |e: String| Error::LogGroup {
        group: src.group.clone(),
        region: region.clone(),
        reason: e,
    };
    let streams = streams(&client, &src).await.map_err(fail)?;
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (since, until) = window.unwrap_or((None, None));
    let to_ms = |micros: i64| micros.div_euclid(1000);
    let read: Vec<Option<SourceObject>> = futures::stream::iter(streams.into_iter().enumerate())
        .map(|(i, stream)| {
            let uri = src.stream_uri(&stream);
            let prev = state.sources.get(&uri);
            // None sorts first: the later of the position and `since`.
            let from = position(prev, window).max(since.map(to_ms));
            let (client, src, store, fail) = (&client, &src, store.clone(), &fail);
            async move {
                let events = events(client, &src.group, &stream, from, until.map(to_ms))
                    .await
                    .map_err(fail)?;
                let Some(last) = events.iter().map(|e| e.timestamp).max() else {
                    return Ok(None);
                };
                let etag = tail(&events, last);
                let body = serde_json::to_vec(&StreamEvents {
                    log_group_name: &src.group,
                    log_stream_name: &stream,
                    next_forward_token: None,
                    events,
                })?;
                let location = Path::from(format!("stream-{i:06}"));
                let mut obj = SourceObject {
                    store: store.clone(),
                    location: location.clone(),
                    uri,
                    size: body.len() as u64,
                    modified: last,
                    etag: Some(etag),
                };
                // Only the events of the last millisecond read, the same ones: nothing new,
                // and the object is the one the lake has (counted unchanged).
                if let Some(p) = prev.filter(|p| p.modified == last && p.etag == obj.etag) {
                    obj.size = p.size;
                }
                store.put(&location, PutPayload::from(body)).await?;
                Ok::<_, Error>(Some(obj))
            }
        })
        .buffered(STREAMS_AT_ONCE)
        .try_collect()
        .await?;
    Ok(read.into_iter().flatten().collect())
}

/// The identity of a read: its last millisecond and a hash of the events at it (what the
/// next read, which starts there, finds again when nothing was appended).
fn tail(events: &[LogEvent], last: i64) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for e in events.iter().filter(|e| e.timestamp == last) {
        h.update(e.message.as_bytes());
        h.update(b"\n");
    }
    format!("{last}-{:016x}", h.digest())
}

/// Where a stream's next read starts (milliseconds): the last event the lake read of it,
/// unless that read's window started after the one asked for (earlier events were not read).
fn position(prev: Option<&SourceEntry>, window: Window) -> Option<i64> {
    let prev = prev?;
    let want_start = window.and_then(|(s, _)| s);
    let read_from_start = match prev.window {
        None => true,
        Some((None, _)) => true,
        Some((Some(h), _)) => want_start.is_some_and(|w| h <= w),
    };
    read_from_start.then_some(prev.modified)
}

/// A CloudWatch Logs client for the group's profile (the default one, or the one
/// `--source-profile` / `--bucket-profile cwl://GROUP=PROFILE` gives it).
async fn client(src: &LogGroupSource) -> Result<(Client, String)> {
    let key = format!("{SCHEME}{}", src.group);
    let profile = trailsql_store::settings().for_bucket(&key).profile;
    let s = trailsql_store::client_settings(profile.as_deref(), "CLOUDWATCH_LOGS").await?;
    let mut b = aws_sdk_cloudwatchlogs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(s.region.clone()))
        .credentials_provider(s.credentials)
        .http_client(s.http_client)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    if let Some(endpoint) = s.endpoint {
        b = b.endpoint_url(endpoint);
    }
    Ok((Client::from_conf(b.build()), s.region))
}

/// The names of the group's streams (under the prefix).
async fn streams(client: &Client, src: &LogGroupSource) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let resp = client
            .describe_log_streams()
            .log_group_name(&src.group)
            .set_log_stream_name_prefix(src.prefix.clone())
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                let not_found = e
                    .as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception());
                if not_found {
                    "no such log group".to_owned()
                } else {
                    format!("DescribeLogStreams: {}", DisplayErrorContext(&e))
                }
            })?;
        out.extend(
            resp.log_streams()
                .iter()
                .filter_map(|s| s.log_stream_name().map(str::to_owned)),
        );
        match resp.next_token() {
            Some(t) if !t.is_empty() && token.as_deref() != Some(t) => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}

/// A stream's events in `[from, until)` (milliseconds), oldest first, every page of them.
async fn events(
    client: &Client,
    group: &str,
    stream: &str,
    from: Option<i64>,
    until: Option<i64>,
) -> Result<Vec<LogEvent>, String> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let resp = client
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_start_time(from)
            .set_end_time(until)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "GetLogEvents of stream {stream:?}: {}",
                    DisplayErrorContext(&e)
                )
            })?;
        for e in resp.events() {
            let (Some(timestamp), Some(message)) = (e.timestamp(), e.message()) else {
                continue;
            };
            // AWS's endTime is exclusive; a server that takes it as inclusive is held to it.
            if until.is_some_and(|u| timestamp >= u) {
                continue;
            }
            out.push(LogEvent {
                timestamp,
                message: message.to_owned(),
                ingestion_time: e.ingestion_time(),
            });
        }
        // The end of a stream is the token passed in coming back.
        match resp.next_forward_token() {
            Some(t) if token.as_deref() != Some(t) => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailsql_lake::state::SourceStatus;

    #[test]
    fn arguments() {
        let s = LogGroupSource::parse("cwl:///aws/cloudtrail/org?prefix=1111%2Fus").unwrap();
        assert_eq!(s.group, "/aws/cloudtrail/org");
        assert_eq!(s.prefix.as_deref(), Some("1111/us"));
        assert_eq!(s.stream_uri("a"), "cwl:///aws/cloudtrail/org/a");
        assert!(LogGroupSource::parse("cwl://g").unwrap().prefix.is_none());
        let e = LogGroupSource::parse("cwl://").unwrap_err().to_string();
        assert!(e.contains("no log group"), "{e}");
        let e = LogGroupSource::parse("cwl://g?pfx=a")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown parameter \"pfx\""), "{e}");
    }

    #[test]
    fn a_stream_is_read_from_its_last_event_unless_an_earlier_start_is_asked() {
        let entry = |window| SourceEntry {
            uri: "cwl://g/s".into(),
            size: 1,
            modified: 5_000,
            etag: None,
            status: SourceStatus::Ingested,
            detail: None,
            records: 3,
            window,
        };
        assert_eq!(position(None, None), None);
        assert_eq!(position(Some(&entry(None)), None), Some(5_000));
        let from_2s = Some((Some(2_000_000), None));
        assert_eq!(position(Some(&entry(from_2s)), from_2s), Some(5_000));
        assert_eq!(position(Some(&entry(from_2s)), None), None);
        assert_eq!(
            position(Some(&entry(from_2s)), Some((Some(1_000_000), None))),
            None
        );
    }
}
