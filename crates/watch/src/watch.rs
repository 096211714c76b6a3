//! The watcher: ingest rounds every interval until stopped. Each round is one call of
//! [`trailsql_ingest::ingest`] over the same sources, so it reads what is new since the lake's
//! source state (local folders are listed in full, which is cheap; `s3://` sources only from
//! the delivery days of their last listing on), commits it, and compacts what the ingest
//! compacts. A stop request lets the round under way finish its commits; a restart goes on
//! from the source state, so nothing is lost or doubled.

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;
use trailsql_detect::DetectOptions;
use trailsql_ingest::{IngestOptions, Summary};
use trailsql_query::OutputFormat;

use crate::notify::Notifier;
use crate::round::{self, Totals};
use crate::stop::Stop;
use crate::{Error, Result};

/// Rounds start this often by default: CloudTrail delivers to S3 about every five minutes,
/// so a minute keeps new events within a minute or so of their delivery for a listing a
/// minute (a few requests on S3, a directory walk locally).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// How long the notifier's queue may take to drain when the watcher stops.
pub const NOTIFY_DRAIN: Duration = Duration::from_secs(10);

/// What to watch and what to do after each round.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The sources and lake, as for one ingest; used for every round.
    pub ingest: IngestOptions,
    /// Time from the start of one round to the start of the next.
    pub interval: Duration,
    /// Print a line for quiet rounds too.
    pub verbose: bool,
    /// Run `detect --new` with these options after each round that committed events.
    pub detect: Option<DetectOptions>,
    /// Findings to standard output as NDJSON; round lines and the totals go to stderr.
    pub json: bool,
    /// POST each round's findings here.
    pub notify: Option<String>,
}

impl WatchOptions {
    pub fn new(ingest: IngestOptions) -> Self {
        WatchOptions {
            ingest,
            interval: DEFAULT_INTERVAL,
            verbose: false,
            detect: None,
            json: false,
            notify: None,
        }
    }
}

/// An interval: a number with a unit (`500ms`, `30s`, `5m`, `1h`); a bare number is seconds.
pub fn parse_interval(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not an interval (expected e.g. 30s, 5m, 500ms)"))?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        u => return Err(format!("unknown interval unit {u:?} (use ms, s, m or h)")),
    };
    if d < Duration::from_millis(100) {
        return Err(format!("{s:?} is too short an interval (at least 100ms)"));
    }
    Ok(d)
}

/// Where the watcher writes: findings to `out`; round lines to `out`, or to `err` with
/// `--json` (stdout then holds data only).
struct Output<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    json: bool,
}

impl Output<'_> {
    fn line(&mut self, text: &str) -> Result<()> {
        let w: &mut dyn Write = if self.json {
            &mut *self.err
        } else {
            &mut *self.out
        };
        writeln!(w, "{text}")?;
        w.flush()?;
        Ok(())
    }

    fn problem(&mut self, text: &str) -> Result<()> {
        writeln!(self.err, "{text}")?;
        self.err.flush()?;
        Ok(())
    }
}

/// Watch until SIGINT or SIGTERM; the totals are printed and returned. Fails only on what a
/// retry cannot mend: the lake cannot be opened, --rules cannot be read, a bad --notify URL.
pub async fn watch(
    opts: &WatchOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Totals> {
    let started = Instant::now();
    let lake = trailsql_lake::Lake::open(&opts.ingest.lake)?;
    // A lake that needs `lake upgrade` fails every round: say so once. Other errors (the
    // lake's bucket unreachable for a while) are the rounds' to report and retry.
    if let Err(e @ trailsql_lake::Error::NeedsUpgrade(_)) =
        trailsql_lake::state::check_format(&lake).await
    {
        return Err(e.into());
    }
    let mut output = Output {
        out,
        err,
        json: opts.json,
    };
    let notifier = opts.notify.as_deref().map(Notifier::start).transpose()?;
    let detect = match &opts.detect {
        Some(d) => Some(check_rules(d, &mut output)?),
        None => None,
    };
    let mut stop = Stop::install()?;
    output.line(&format!(
        "{} watching {} every {:?} into {}{} (SIGINT or SIGTERM stops after the round under way)",
        round::stamp(Utc::now()),
        opts.ingest.sources.join(" "),
        opts.interval,
        opts.ingest.lake,
        if detect.is_some() {
            ", detecting after each commit"
        } else {
            ""
        }
    ))?;
    let mut state = Rounds {
        totals: Totals {
            findings: detect.as_ref().map(|_| 0),
            ..Default::default()
        },
        // Detections run after the first round even without new events: a watcher stopped
        // between a commit and its detection run catches up when restarted.
        detect_due: detect.is_some(),
        detect,
        notifier,
    };
    loop {
        let round_start = Instant::now();
        state.round(opts, &mut output).await?;
        if stop.requested() {
            break;
        }
        let next = tokio::time::Instant::from_std(round_start + opts.interval);
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = stop.wait() => break,
        }
    }
    let mut totals = state.totals;
    if let Some(n) = state.notifier {
        totals.notify = Some(n.finish(NOTIFY_DRAIN).await);
    }
    totals.seconds = started.elapsed().as_secs_f64();
    output.line(&format!("{} {totals}", round::stamp(Utc::now())))?;
    Ok(totals)
}

/// What carries from one round to the next.
struct Rounds {
    totals: Totals,
    /// `detect --new` options, with `--detect`.
    detect: Option<DetectOptions>,
    /// Whether events were committed since the last detection run (or may have been).
    detect_due: bool,
    notifier: Option<Notifier>,
}

impl Rounds {
    /// One round: ingest, detect if due, report. Its failures are reported, not returned;
    /// only failing to write the report is an error.
    async fn round(&mut self, opts: &WatchOptions, output: &mut Output<'_>) -> Result<()> {
        let round_start = Instant::now();
        let at = Utc::now();
        self.totals.rounds += 1;
        let n = self.totals.rounds;
        let ingest_opts = IngestOptions {
            progress: false,
            ..opts.ingest.clone()
        };
        let summary = match trailsql_ingest::ingest(&ingest_opts).await {
            Ok(s) => s,
            Err(e) => {
                self.totals.rounds_failed += 1;
                // Checkpoints before the failure may have committed events.
                self.detect_due |= self.detect.is_some();
                return output.problem(&format!(
                    "{} round {n} failed (tried again in {:?}): {e}",
                    round::stamp(at),
                    opts.interval
                ));
            }
        };
        self.totals.add(&summary);
        self.detect_due |= summary.written > 0;
        let mut found = None;
        if let Some(d) = self.detect.as_ref().filter(|_| self.detect_due) {
            match run_detect(d, output, &mut self.notifier, &opts.ingest.lake).await {
                Ok(f) => {
                    self.detect_due = false;
                    *self.totals.findings.get_or_insert(0) += f.len() as u64;
                    found = Some(f);
                }
                Err(e) => {
                    self.totals.detect_failed += 1;
                    output.problem(&format!(
                        "{} round {n}: detect failed (tried again after the next round): {e}",
                        round::stamp(Utc::now())
                    ))?;
                }
            }
        }
        let secs = round_start.elapsed().as_secs_f64();
        let findings = found.as_ref().map(Vec::len);
        report(output, n, at, &summary, findings, secs, opts.verbose)?;
        if !opts.json {
            for f in found.iter().flatten() {
                output.line(&round::finding_line(f))?;
            }
        }
        Ok(())
    }
}

/// The round's line, when it did something (or always, with `-v`).
fn report(
    output: &mut Output<'_>,
    n: u64,
    at: chrono::DateTime<Utc>,
    summary: &Summary,
    findings: Option<usize>,
    secs: f64,
    verbose: bool,
) -> Result<()> {
    if round::has_news(summary) || findings.is_some_and(|f| f > 0) {
        output.line(&round::line(n, at, summary, findings, secs))
    } else if verbose {
        output.line(&round::quiet_line(n, at, summary, secs))
    } else {
        Ok(())
    }
}

/// Load and compile the rules once before the first round: rules that cannot be read stop
/// the watcher; rules that cannot be compiled are named once (each run skips them).
fn check_rules(d: &DetectOptions, output: &mut Output<'_>) -> Result<DetectOptions> {
    let mut said = Vec::new();
    match trailsql_detect::check(d, &mut said) {
        Ok(_) => {}
        Err(trailsql_detect::Error::Usage(e)) => return Err(Error::Usage(e)),
        Err(e @ trailsql_detect::Error::Rules { .. }) => return Err(Error::Usage(e.to_string())),
        Err(e) => return Err(e.into()),
    }
    let said = String::from_utf8_lossy(&said);
    if !said.trim().is_empty() {
        output.problem(said.trim_end())?;
    }
    Ok(DetectOptions {
        new: true,
        format: trailsql_detect::DetectFormat::Plain(OutputFormat::NdJson),
        out_dir: None,
        ..d.clone()
    })
}

/// `detect --new`: the new findings as rows of the detections table (JSON objects), written
/// to standard output as NDJSON with `--json`, and queued for the webhook.
async fn run_detect(
    d: &DetectOptions,
    output: &mut Output<'_>,
    notifier: &mut Option<Notifier>,
    lake: &str,
) -> Result<Vec<Value>> {
    let mut ndjson = Vec::new();
    // Its warnings about rules were printed once at the start; its timing line is left out.
    let mut said = Vec::new();
    let outcome = trailsql_detect::detect(d, &mut ndjson, &mut said).await?;
    if outcome.findings.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Value> = ndjson
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(serde_json::from_slice)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Io(std::io::Error::other(format!("findings as NDJSON: {e}"))))?;
    if output.json {
        output.out.write_all(&ndjson)?;
        output.out.flush()?;
    }
    if let Some(n) = notifier {
        n.send(&rows, lake);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_have_units() {
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
        assert!(parse_interval("5 minutes").is_err());
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("").is_err());
    }
}
