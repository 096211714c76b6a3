//! Envelopes: CloudTrail events wrapped by the delivery paths that are not CloudTrail's own
//! S3 files. The main noun is an [`Envelope`], recognised by content:
//!
//! - CloudWatch Logs subscription data (through Firehose): gzip members, each
//!   `{"messageType":"DATA_MESSAGE", ..., "logEvents":[{"id","timestamp","message"}]}`, the
//!   event being the `message` string; `CONTROL_MESSAGE` envelopes carry no events;
//! - EventBridge events (through Firehose): `{"version":"0", "detail-type":"AWS API Call via
//!   CloudTrail", ..., "detail":{<event>}}`, one after another; other detail-types are not
//!   CloudTrail's;
//! - `aws logs filter-log-events` / `get-log-events` output: `{"events":[{..., "message"}]}`
//!   (also what the `cwl://` source reads);
//! - CloudWatch Logs exports to S3: lines of a timestamp, a space and the event.
//!
//! Each event is a record at its position among the object's records; a message that is not
//! a CloudTrail event is a bad record (quarantined); envelopes and events with nothing for
//! the lake are counted in [`Contents::skipped_messages`].

use serde_json::value::RawValue;

use crate::json::{self, Pairs};
use crate::shape::{BadRecord, Contents, EVENT_KEYS, RecordText};

/// Shape names, as the summary and `Verdict::Events` give them.
pub const CWL_SUBSCRIPTION: &str = "cloudwatch-logs-subscription";
pub const EVENTBRIDGE: &str = "eventbridge";
pub const LOG_EVENTS: &str = "log-events";
pub const CWL_EXPORT: &str = "cloudwatch-logs-export";

/// Why a message was skipped.
pub const CONTROL_MESSAGE: &str = "CloudWatch Logs control message";
pub const NOT_CLOUDTRAIL_DETAIL: &str = "EventBridge event not from CloudTrail";

/// A JSON object that wraps events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    CwlSubscription,
    EventBridge,
    LogEvents,
}

impl Envelope {
    /// The envelope a JSON object is, from its keys.
    pub fn of(pairs: &Pairs<'_>) -> Option<Envelope> {
        Envelope::of_keys(|k| pairs.has(k))
    }

    /// As [`Envelope::of`], for a caller that has only the keys.
    pub fn of_keys(has: impl Fn(&str) -> bool) -> Option<Envelope> {
        if has("messageType") && (has("logEvents") || has("logGroup")) {
            Some(Envelope::CwlSubscription)
        } else if has("detail-type") && has("detail") && has("source") {
            Some(Envelope::EventBridge)
        } else if has("events")
            && (has("searchedLogStreams")
                || has("nextForwardToken")
                || has("nextBackwardToken")
                || has("nextToken"))
        {
            Some(Envelope::LogEvents)
        } else {
            None
        }
    }

    /// The shape name.
    pub fn shape(self) -> &'static str {
        match self {
            Envelope::CwlSubscription => CWL_SUBSCRIPTION,
            Envelope::EventBridge => EVENTBRIDGE,
            Envelope::LogEvents => LOG_EVENTS,
        }
    }

    /// Take the events of one envelope into `out`, from `index` on.
    pub fn take<'a>(
        self,
        pairs: &Pairs<'a>,
        doc_text: &'a str,
        out: &mut Contents<'a>,
        index: &mut u64,
    ) {
        match self {
            Envelope::CwlSubscription => {
                let kind = pairs.get("messageType").and_then(json::string);
                if kind.as_deref() == Some("CONTROL_MESSAGE") {
                    out.skip_message(CONTROL_MESSAGE);
                    return;
                }
                if kind.as_deref() != Some("DATA_MESSAGE") {
                    let why = format!(
                        "CloudWatch Logs envelope with messageType {}",
                        pairs.get("messageType").map_or("(none)", |v| v.get())
                    );
                    out.bad(index, doc_text, why);
                    return;
                }
                log_events(pairs.get("logEvents"), doc_text, "logEvents", out, index);
            }
            Envelope::LogEvents => log_events(pairs.get("events"), doc_text, "events", out, index),
            Envelope::EventBridge => {
                let kind = pairs.get("detail-type").and_then(json::string);
                if !kind
                    .as_deref()
                    .is_some_and(|k| k.ends_with("via CloudTrail"))
                {
                    out.skip_message(NOT_CLOUDTRAIL_DETAIL);
                    return;
                }
                let detail = pairs.get("detail").expect("recognised by its detail");
                match is_event(detail) {
                    Ok(()) => {
                        out.records.push((*index, RecordText::Borrowed(detail)));
                        *index += 1;
                    }
                    Err(why) => out.bad(index, doc_text, format!("EventBridge detail {why}")),
                }
            }
        }
    }
}

/// The `logEvents` / `events` array of an envelope: each `message` is an event.
fn log_events<'a>(
    array: Option<&'a RawValue>,
    doc_text: &str,
    key: &str,
    out: &mut Contents<'a>,
    index: &mut u64,
) {
    let items = array.and_then(|a| serde_json::from_str::<Vec<&'a RawValue>>(a.get()).ok());
    let Some(items) = items else {
        out.bad(index, doc_text, format!("{key} is not an array"));
        return;
    };
    for item in items {
        match log_event_message(item) {
            Ok(raw) => {
                out.records.push((*index, RecordText::Owned(raw)));
                *index += 1;
            }
            Err(why) => out.bad(index, item.get(), why),
        }
    }
}

/// The event in a log event's `message`.
pub fn log_event_message(item: &RawValue) -> Result<Box<RawValue>, String> {
    let message = json::object(item)
        .and_then(|p| p.get("message"))
        .and_then(json::string)
        .ok_or("log event without a message string")?;
    let raw = serde_json::from_str::<Box<RawValue>>(message.trim())
        .map_err(|e| format!("message is not valid JSON: {e}"))?;
    is_event(&raw).map_err(|why| format!("message {why}"))?;
    Ok(raw)
}

/// Whether a JSON value is a CloudTrail event: an object with one of its fields.
fn is_event(raw: &RawValue) -> Result<(), &'static str> {
    let pairs = json::object(raw).ok_or("is not a JSON object")?;
    if EVENT_KEYS.iter().any(|k| pairs.has(k)) {
        Ok(())
    } else {
        Err("is not a CloudTrail event")
    }
}

/// Whether text starts like a CloudWatch Logs export: `2024-01-15T10:00:00.000Z {`.
pub fn is_export(text: &[u8]) -> bool {
    let line = text.split(|&b| b == b'\n').next().unwrap_or(text);
    let Some(space) = line.iter().position(|&b| b == b' ') else {
        return false;
    };
    let stamp = &line[..space];
    stamp.len() >= 10
        && stamp[..4].iter().all(u8::is_ascii_digit)
        && stamp[4] == b'-'
        && stamp.contains(&b'T')
        && line[space + 1..].trim_ascii_start().starts_with(b"{")
}

/// The lines of a CloudWatch Logs export, each a timestamp, a space and an event.
pub fn read_export<'a>(text: &'a str, out: &mut Contents<'a>) {
    let mut index = 0u64;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let event = line
            .split_once(' ')
            .map(|(_, rest)| rest.trim_start())
            .filter(|rest| rest.starts_with('{'));
        let Some(event) = event else {
            out.bad(&mut index, line, "not a timestamp and an event".into());
            continue;
        };
        match serde_json::from_str::<&'a RawValue>(event) {
            Err(e) => out.bad(&mut index, line, format!("event is not valid JSON: {e}")),
            Ok(raw) => match is_event(raw) {
                Ok(()) => {
                    out.records.push((index, RecordText::Borrowed(raw)));
                    index += 1;
                }
                Err(why) => out.bad(&mut index, line, format!("event {why}")),
            },
        }
    }
}

impl Contents<'_> {
    /// A bad record at `index`, the next position.
    pub(crate) fn bad(&mut self, index: &mut u64, text: &str, reason: String) {
        self.bad_records.push(BadRecord {
            index: *index,
            text: text.to_owned(),
            reason,
        });
        *index += 1;
    }

    pub(crate) fn skip_message(&mut self, why: &'static str) {
        *self.skipped_messages.entry(why).or_default() += 1;
    }
}

/// Each envelope of [`crate::envelope`], with bad messages, skipped ones, and several
/// envelopes one after another.
#[cfg(test)]
pub(crate) fn samples() -> Vec<(String, Vec<u8>)> {
    use std::io::Write;
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let ev = |n: u32| format!(r#"{{"eventTime":"2024-03-02T10:00:0{n}Z","eventID":"e{n}"}}"#);
    let msg = |n: u32| serde_json::to_string(&ev(n)).unwrap();
    let sub = |kind: &str, events: &str| {
        format!(
            r#"{{"messageType":"{kind}","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":[],"logEvents":[{events}]}}"#
        )
    };
    let firehose = [
        sub(
            "DATA_MESSAGE",
            &format!(
                r#"{{"id":"1","timestamp":1,"message":{}}},{{"id":"2","timestamp":1,"message":"bad"}}"#,
                msg(1)
            ),
        ),
        sub(
            "CONTROL_MESSAGE",
            r#"{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE"}"#,
        ),
        sub(
            "DATA_MESSAGE",
            &format!(r#"{{"id":"3","timestamp":1,"message":{}}}"#, msg(2)),
        ),
    ];
    let eb = |dt: &str, d: String| {
        format!(r#"{{"version":"0","id":"x","detail-type":"{dt}","source":"aws.s3","detail":{d}}}"#)
    };
    let ebs = [
        eb("AWS API Call via CloudTrail", ev(1)),
        eb("Object Created", ev(2)),
        eb("AWS API Call via CloudTrail", "{\"a\":1}".into()),
        eb("AWS API Call via CloudTrail", ev(3)),
    ];
    let logs = format!(
        r#"{{"events":[{{"timestamp":1,"message":{}}},{{"timestamp":1,"message":"x"}},{{"timestamp":2,"message":{}}}],"searchedLogStreams":[]}}"#,
        msg(1),
        msg(2)
    );
    let export = format!(
        "2024-03-02T10:00:01.000Z {}\n2024-03-02T10:00:02.000Z {{bad\n2024-03-02T10:00:03.000Z {}\n",
        ev(1),
        ev(3)
    );
    let mut members = Vec::new();
    for env in &firehose {
        members.extend(gz(env.as_bytes()));
    }
    vec![
        ("firehose.gz".into(), members),
        ("firehose".into(), firehose.concat().into_bytes()),
        ("eb".into(), ebs.concat().into_bytes()),
        ("eb-lines".into(), ebs.join("\n").into_bytes()),
        ("logs.json".into(), logs.into_bytes()),
        ("export.gz".into(), gz(export.as_bytes())),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::{Verdict, read_contents};

    const EV: &str = r#"{"eventVersion":"1.08","eventTime":"2024-03-02T10:00:00Z","eventName":"GetObject","eventID":"e1"}"#;

    fn message(ev: &str) -> String {
        serde_json::to_string(ev).unwrap()
    }

    #[test]
    fn subscription_envelopes_one_after_another() {
        let data = format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{{"id":"1","timestamp":1,"message":{m}}},{{"id":"2","timestamp":2,"message":"not json"}}]}}{{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}}]}}{{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{{"id":"3","timestamp":3,"message":{m}}}]}}"#,
            m = message(EV)
        );
        let c = read_contents("x", data.as_bytes());
        assert!(
            matches!(c.verdict, Verdict::Events(CWL_SUBSCRIPTION)),
            "{:?}",
            c.verdict
        );
        let idx: Vec<u64> = c.records.iter().map(|(i, _)| *i).collect();
        assert_eq!(idx, vec![0, 2]);
        assert_eq!(c.records[0].1.raw().get(), EV);
        assert_eq!(c.bad_records.len(), 1);
        assert_eq!(c.bad_records[0].index, 1);
        assert!(
            c.bad_records[0].reason.contains("not valid JSON"),
            "{:?}",
            c.bad_records
        );
        assert_eq!(c.skipped_messages[CONTROL_MESSAGE], 1);
    }

    #[test]
    fn eventbridge_events_with_and_without_newlines() {
        let eb = |dt: &str| {
            format!(
                r#"{{"version":"0","id":"x","detail-type":"{dt}","source":"aws.s3","account":"1","time":"2024-03-02T10:00:00Z","region":"us-east-1","resources":[],"detail":{EV}}}"#
            )
        };
        for sep in ["", "\n"] {
            let data = [
                eb("AWS API Call via CloudTrail"),
                eb("Object Created"),
                eb("AWS Console Sign In via CloudTrail"),
            ]
            .join(sep);
            let c = read_contents("x", data.as_bytes());
            assert!(
                matches!(c.verdict, Verdict::Events(EVENTBRIDGE)),
                "{:?}",
                c.verdict
            );
            assert_eq!(c.records.len(), 2);
            assert_eq!(c.records[0].1.raw().get(), EV);
            assert_eq!(c.skipped_messages[NOT_CLOUDTRAIL_DETAIL], 1);
        }
    }

    #[test]
    fn log_events_output_and_exports() {
        let data = format!(
            r#"{{"events":[{{"logStreamName":"s","timestamp":1,"message":{m},"ingestionTime":2,"eventId":"1"}},{{"logStreamName":"s","timestamp":1,"message":"{{\"a\":1}}","eventId":"2"}}],"searchedLogStreams":[]}}"#,
            m = message(EV)
        );
        let c = read_contents("x", data.as_bytes());
        assert!(
            matches!(c.verdict, Verdict::Events(LOG_EVENTS)),
            "{:?}",
            c.verdict
        );
        assert_eq!(c.records.len(), 1);
        assert_eq!(c.bad_records[0].reason, "message is not a CloudTrail event");

        let export = format!(
            "2024-03-02T10:00:00.000Z {EV}\n2024-03-02T10:00:01.000Z {{bad\n2024-03-02T10:00:02.000Z {EV}\n"
        );
        let c = read_contents("x", export.as_bytes());
        assert!(
            matches!(c.verdict, Verdict::Events(CWL_EXPORT)),
            "{:?}",
            c.verdict
        );
        let idx: Vec<u64> = c.records.iter().map(|(i, _)| *i).collect();
        assert_eq!(idx, vec![0, 2]);
        assert_eq!(c.bad_records[0].index, 1);
        assert!(!is_export(b"hello world {"));
    }
}
