//! The webhook notifier: each round's findings are POSTed as JSON to a URL, from a background
//! task behind a bounded queue, so that a slow or failing receiver never holds up ingest.
//!
//! The body is one a Slack incoming webhook accepts (`text`, a one-line summary) with the full
//! findings beside it (`findings`: objects with the columns of the `detections` table), so the
//! same URL can be Slack, a chat bridge, or a SIEM's HTTP collector. A POST is retried with
//! exponential backoff on network errors, 408, 429 and 5xx (a `Retry-After` header wins over
//! the backoff); other answers are final. On exit the queue gets a bounded time to drain, and
//! what was not delivered is counted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{Error, Result};

/// POSTs waiting at most (one per round, or per [`PER_POST`] findings): behind a receiver
/// that is down for long, newer findings are dropped (and counted) rather than held in memory.
pub const QUEUE: usize = 64;
/// Findings in one POST: a first run over a large lake can find thousands.
pub const PER_POST: usize = 500;
/// Attempts per POST before it is given up (about two minutes of backoff).
pub const MAX_ATTEMPTS: u32 = 8;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A `Retry-After` longer than this is cut to it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// One request's timeout, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What became of the findings handed to the notifier.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Delivery {
    pub posts_delivered: u64,
    pub findings_delivered: u64,
    /// Given up: a final answer (4xx) or every attempt failed.
    pub findings_failed: u64,
    /// Not queued: the queue was full.
    pub findings_dropped: u64,
    /// Still queued or being retried when the watcher stopped.
    pub findings_undelivered: u64,
}

impl Delivery {
    /// Findings handed over that did not reach the receiver.
    pub fn lost(&self) -> u64 {
        self.findings_failed + self.findings_dropped + self.findings_undelivered
    }
}

struct Post {
    body: Vec<u8>,
    findings: u64,
}

/// The background sender of findings to one URL.
pub struct Notifier {
    url: String,
    tx: mpsc::Sender<Post>,
    task: tokio::task::JoinHandle<()>,
    stats: Arc<Mutex<Delivery>>,
    queued: u64,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("url", &self.url).finish()
    }
}

impl Notifier {
    /// Start the sender for `url` (http or https).
    pub fn start(url: &str) -> Result<Notifier> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| Error::Usage(format!("--notify {url:?}: not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Usage(format!(
                "--notify {url:?}: expected an http:// or https:// URL"
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("trailsql/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Usage(format!("--notify: cannot make an HTTP client: {e}")))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(Mutex::new(Delivery::default()));
        let task = tokio::spawn(deliver(client, parsed, rx, stats.clone()));
        Ok(Notifier {
            url: url.to_owned(),
            tx,
            task,
            stats,
            queued: 0,
        })
    }

    /// Queue `findings` (rows of the detections table as JSON objects) for delivery; never
    /// waits. `lake` names where they were found in the summary line.
    pub fn send(&mut self, findings: &[Value], lake: &str) {
        let parts = findings.len().div_ceil(PER_POST);
        for (i, chunk) in findings.chunks(PER_POST).enumerate() {
            let part = (parts > 1).then_some((i + 1, parts));
            let body = json!({
                "text": summary_text(chunk, lake, part),
                "findings": chunk,
            });
            let post = Post {
                body: serde_json::to_vec(&body).expect("JSON values serialize"),
                findings: chunk.len() as u64,
            };
            let n = post.findings;
            match self.tx.try_send(post) {
                Ok(()) => self.queued += n,
                Err(_) => {
                    self.stats.lock().expect("stats lock").findings_dropped += n;
                    eprintln!(
                        "warning: --notify {}: {QUEUE} posts already waiting; {n} findings not sent",
                        self.url
                    );
                }
            }
        }
    }

    /// Stop taking findings, give the queue up to `wait` to drain, and say what became of
    /// every finding handed over.
    pub async fn finish(self, wait: Duration) -> Delivery {
        let Notifier {
            tx,
            mut task,
            stats,
            queued,
            ..
        } = self;
        drop(tx);
        if tokio::time::timeout(wait, &mut task).await.is_err() {
            task.abort();
        }
        let mut d = stats.lock().expect("stats lock").clone();
        d.findings_undelivered = queued.saturating_sub(d.findings_delivered + d.findings_failed);
        d
    }
}

/// The background task: POST each queued body in turn.
async fn deliver(
    client: reqwest::Client,
    url: reqwest::Url,
    mut rx: mpsc::Receiver<Post>,
    stats: Arc<Mutex<Delivery>>,
) {
    while let Some(post) = rx.recv().await {
        let result = post_with_retry(&client, &url, post.body).await;
        let mut s = stats.lock().expect("stats lock");
        match result {
            Ok(()) => {
                s.posts_delivered += 1;
                s.findings_delivered += post.findings;
            }
            Err(reason) => {
                s.findings_failed += post.findings;
                eprintln!(
                    "warning: --notify {url}: gave up on {} findings: {reason}",
                    post.findings
                );
            }
        }
    }
}

/// POST `body` until it is accepted, a final answer comes, or [`MAX_ATTEMPTS`] are spent.
async fn post_with_retry(
    client: &reqwest::Client,
    url: &reqwest::Url,
    body: Vec<u8>,
) -> std::result::Result<(), String> {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=MAX_ATTEMPTS {
        let sent = client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        let (reason, wait) = match sent {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let status = r.status();
                let after = r
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry_after(v, Utc::now()));
                let text: String = r
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                let reason = format!("HTTP {status}: {}", text.trim());
                let retried = status.is_server_error()
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT;
                if !retried {
                    return Err(reason);
                }
                (reason, after.unwrap_or(backoff))
            }
            Err(e) => (error_chain(&e), backoff),
        };
        if attempt == MAX_ATTEMPTS {
            return Err(format!("{reason} (after {attempt} attempts)"));
        }
        tokio::time::sleep(wait.min(MAX_RETRY_AFTER)).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    unreachable!("the last attempt returns")
}

/// An error with its causes (reqwest's own text leaves out why a request failed).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cause = c.source();
    }
    s
}

/// A `Retry-After` value: delay-seconds or an HTTP date.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The one-line summary of a POST: how many findings, then each rule's level and title with
/// its count, the highest levels first.
pub fn summary_text(findings: &[Value], lake: &str, part: Option<(usize, usize)>) -> String {
    let mut by_rule: BTreeMap<(std::cmp::Reverse<usize>, String, String), usize> = BTreeMap::new();
    for f in findings {
        let s = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
        let level = s("level");
        let rank = trailsql_detect::rules::level_rank(&level).unwrap_or(0);
        *by_rule
            .entry((std::cmp::Reverse(rank), level, s("rule_title")))
            .or_default() += 1;
    }
    const SHOWN: usize = 10;
    let mut rules: Vec<String> = by_rule
        .iter()
        .take(SHOWN)
        .map(|((_, level, title), n)| format!("{level}: {title} ({n})"))
        .collect();
    if by_rule.len() > SHOWN {
        rules.push(format!("and {} more rules", by_rule.len() - SHOWN));
    }
    let part = part.map_or_else(String::new, |(i, n)| format!(" (part {i} of {n})"));
    format!(
        "trailsql: {} new finding{} in {lake}{part}: {}",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        rules.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-12-07T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Mon, 07 Dec 2026 08:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Mon, 07 Dec 2026 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn the_summary_names_rules_by_level_with_counts() {
        let f = |level: &str, title: &str| json!({"level": level, "rule_title": title});
        let findings = [
            f("medium", "Console login without MFA"),
            f("high", "Trail deleted"),
            f("medium", "Console login without MFA"),
        ];
        assert_eq!(
            summary_text(&findings, "/lake", None),
            "trailsql: 3 new findings in /lake: high: Trail deleted (1); medium: Console login without MFA (2)"
        );
        assert_eq!(
            summary_text(&findings[1..2], "s3://b/l", Some((2, 3))),
            "trailsql: 1 new finding in s3://b/l (part 2 of 3): high: Trail deleted (1)"
        );
    }

    #[tokio::test]
    async fn a_url_that_is_not_http_is_a_usage_error() {
        for url in ["ftp://example.com/x", "not a url"] {
            assert!(
                matches!(Notifier::start(url), Err(Error::Usage(_))),
                "{url}"
            );
        }
    }
}
