//! An ingest run: list the sources, read what is new or changed in parallel, decode it into
//! partition batches, drop duplicates, and write Parquet in checkpoints, each made visible
//! by one commit. The [`Summary`] accounts for every object and every record.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use trailsql_lake::state::{self as lake_state};
use trailsql_lake::{Lake, PartitionKey};

use crate::decode::{DecodeOptions, Decoded, Prefetch, Reading, Window, read_and_decode};
use crate::source::{self, SourceObject};
use crate::summary::{Problem, Summary, Verification, n};
use crate::writer::Writer;
use crate::{Error, Result};
use trailsql_lake::TableLog;
use trailsql_lake::schema::Table;
use trailsql_lake::state::{LakeState, SourceStatus};

/// What to ingest, where, and how.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub sources: Vec<String>,
    pub lake: String,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
    /// Any bad input fails the run.
    pub strict: bool,
    /// Draw a progress bar (only ever drawn on a terminal).
    pub progress: bool,
    /// Decoded rows held in memory before a checkpoint writes them out.
    pub buffer_bytes: usize,
    /// Objects decoded at once.
    pub parallelism: usize,
    /// Only objects of these accounts (empty: all).
    pub accounts: Vec<String>,
    /// Only objects of these regions (empty: all).
    pub regions: Vec<String>,
    /// Validate the sources against their digest files first, and record each log object's
    /// verdict in the lake's `cloudtrail_sources` table.
    pub verify: Option<crate::verify::PublicKeys>,
    /// List S3 sources in full even when an earlier run listed them up to a time.
    pub full_listing: bool,
    /// An object whose decompressed size passes this is rejected (or, when records came
    /// before the cap, kept as damaged): a gzip bomb or something that is not one delivery.
    pub max_object_bytes: u64,
    /// Requests in flight at once (object reads; listings of day prefixes). Reading many
    /// small objects is bound by round trips: objects/s = requests in flight / latency.
    pub max_requests: usize,
    /// Skip events older than this window before now, and remove the lake's partitions
    /// older than it after the run (`--retain 90d`).
    pub retain: Option<chrono::Duration>,
    /// Compact the partitions the run wrote to once they hold several small files.
    pub compact: bool,
}

/// The default cap on one object's decompressed size: CloudTrail delivers a file every five
/// minutes, a few MB at most; a GiB of JSON is not one delivery.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 1 << 30;

/// Requests in flight by default: at 100-200 ms to S3 from outside its region, 128 GETs of
/// CloudTrail's 5-minute objects keep 640-1,280 objects/s coming, more than two cores decode.
pub const DEFAULT_MAX_REQUESTS: usize = 128;

impl IngestOptions {
    pub fn new(sources: Vec<String>, lake: String) -> Self {
        IngestOptions {
            sources,
            lake,
            since: None,
            until: None,
            strict: false,
            progress: false,
            buffer_bytes: 128 << 20,
            parallelism: std::thread::available_parallelism().map_or(2, |n| n.get()),
            accounts: Vec::new(),
            regions: Vec::new(),
            verify: None,
            full_listing: false,
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            max_requests: DEFAULT_MAX_REQUESTS,
            retain: None,
            compact: true,
        }
    }
}

/// How old an S3 source's listing mark gets before a run records a newer one.
const MARK_REFRESH: chrono::Duration = chrono::Duration::hours(1);

/// Run an ingest.
pub async fn ingest(opts: &IngestOptions) -> Result<Summary> {
    let start = Instant::now();
    let before = trailsql_store::request_stats();
    let lake = Lake::open(&opts.lake)?;
    // No lock: concurrent ingests each commit with Delta's put-if-absent and drop the
    // events another writer committed first (see `Writer::commit_table`).
    let mut summary = run(opts, &lake, start).await?;
    summary.requests = trailsql_store::request_stats().since(&before);
    Ok(summary)
}

/// Validate the sources and append the verdicts to the lake's sources table.
async fn verify_sources(
    opts: &IngestOptions,
    keys: crate::verify::PublicKeys,
    lake: &Lake,
) -> Result<Verification> {
    use crate::verify::{self, Kind, Verdict, VerifyOptions};
    let mut v = VerifyOptions::new(opts.sources.clone(), keys);
    v.since = opts.since;
    v.until = opts.until;
    v.accounts = opts.accounts.clone();
    v.regions = opts.regions.clone();
    let report = verify::verify(&v).await?;
    let file = trailsql_lake::sources::append_verdicts(
        lake,
        &verify::source_verdicts(&report),
        Utc::now(),
    )
    .await?;
    let mut out = Verification {
        table_file: file,
        ..Default::default()
    };
    for o in &report.objects {
        match o.kind {
            Kind::Log => *out.logs.entry(o.verdict.to_string()).or_default() += 1,
            Kind::Digest if o.verdict != Verdict::Valid => out.digests_not_valid += 1,
            Kind::Digest => {}
        }
    }
    Ok(out)
}

/// What every stage of a run reads: its options, lake and window.
struct Scope<'a> {
    opts: &'a IngestOptions,
    lake: &'a Lake,
    start: Instant,
    window: Window,
    /// A log file holds events from before its delivery, never after: files delivered more
    /// than a day before `since` cannot hold an event in the window.
    earliest_delivery: Option<chrono::NaiveDate>,
}

/// What listing the sources found.
#[derive(Default)]
struct Found {
    objects: Vec<SourceObject>,
    unreadable: Vec<source::Unreadable>,
    /// Listing marks to record with the run's last commit.
    marks: Vec<lake_state::Listed>,
}

async fn run(opts: &IngestOptions, lake: &Lake, start: Instant) -> Result<Summary> {
    let mut summary = Summary {
        lake: lake.url.clone(),
        ..Default::default()
    };
    let mut state = LakeState::load(lake).await?;
    summary.leftovers_removed = lake.remove_local_staging()? as u64;
    let (logs, files, synced) = open_tables(lake).await?;
    if let Some(keys) = &opts.verify {
        summary.verification = Some(verify_sources(opts, keys.clone(), lake).await?);
    }
    let scope = Scope {
        opts,
        lake,
        start,
        window: match (opts.since, opts.until) {
            (None, None) => None,
            (s, u) => Some((
                s.map(|t| t.timestamp_micros()),
                u.map(|t| t.timestamp_micros()),
            )),
        },
        earliest_delivery: opts
            .since
            .map(|s| (s - chrono::Duration::days(1)).date_naive()),
    };
    let mut prefetch = Prefetch::new(opts.max_requests, opts.buffer_bytes as u64 / 4);
    let found = list_sources(&scope, &mut state, &mut prefetch, &mut summary).await?;
    let todo = select_new(
        &scope,
        &mut state,
        found.objects,
        found.unreadable,
        &mut summary,
    )
    .await?;
    let mut writer = Writer::new(lake, logs, synced, files, run_id(), opts.buffer_bytes);
    read_and_write(
        &scope,
        &mut state,
        todo,
        prefetch,
        &mut writer,
        &mut summary,
    )
    .await?;
    writer.listed = found.marks;
    writer.finish(&mut state, &mut summary).await?;
    let touched = std::mem::take(&mut writer.touched);
    summary.maintenance =
        trailsql_lake::maintenance::after_ingest(lake, touched, opts.compact, opts.retain).await;
    summary.seconds = start.elapsed().as_secs_f64();
    debug_assert!(
        summary.balanced(),
        "every record and object accounted for: {summary:?}"
    );
    Ok(summary)
}

/// Each table's log, the committed files by partition, and the version they are of.
async fn open_tables(
    lake: &Lake,
) -> Result<(
    BTreeMap<Table, TableLog>,
    HashMap<PartitionKey, Vec<String>>,
    BTreeMap<Table, Option<u64>>,
)> {
    let mut logs = BTreeMap::new();
    let mut files: HashMap<PartitionKey, Vec<String>> = HashMap::new();
    let mut synced = BTreeMap::new();
    for table in Table::ALL {
        let log = TableLog::open(lake, table).await?;
        synced.insert(table, log.version());
        for f in log.snapshot()?.files {
            files.entry(f.partition).or_default().push(f.path);
        }
        logs.insert(table, log);
    }
    Ok((logs, files, synced))
}

/// List every source; the objects to read are handed to `prefetch` as they are listed.
async fn list_sources(
    scope: &Scope<'_>,
    state: &mut LakeState,
    prefetch: &mut Prefetch,
    summary: &mut Summary,
) -> Result<Found> {
    let (opts, lake, window) = (scope.opts, scope.lake, scope.window);
    // Buckets in CloudTrail's layout are listed by delivery day when a window is given.
    let list_days = source::window_days(opts.since, opts.until);
    let listed_at = Utc::now();
    let mut found = Found::default();
    for arg in &opts.sources {
        if arg.starts_with(crate::cwl::SCHEME) {
            // Stream positions are kept under the state's `other` key (cwl:// URIs have no
            // delivery day).
            state
                .load_days(lake, [lake_state::day_key(&format!("{arg}/"))])
                .await?;
            found
                .objects
                .extend(crate::cwl::resolve(arg, state, window).await?);
            continue;
        }
        let (days, mark) = listing_days(opts, arg, state, list_days, listed_at);
        found.marks.extend(mark);
        let listing = source::Listing {
            days,
            accounts: opts.accounts.clone(),
            regions: opts.regions.clone(),
            digests: false,
            concurrency: opts.max_requests,
            listed: None,
        };
        // Objects are read as soon as their prefix is listed (those that will be read).
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<SourceObject>();
        let listing = source::Listing {
            listed: Some(tx),
            ..listing
        };
        let list = async move {
            let found = source::resolve(arg, &listing).await;
            drop(listing); // closes the channel
            found
        };
        let offer = async {
            while let Some(obj) = rx.recv().await {
                state
                    .load_days(lake, [lake_state::day_key(&obj.uri)])
                    .await?;
                let read = obj.skip_by_name().is_none()
                    && scope
                        .earliest_delivery
                        .zip(obj.delivery_date())
                        .is_none_or(|(e, d)| d >= e)
                    && !state.is_current(
                        &obj.uri,
                        obj.size,
                        obj.modified,
                        obj.etag.as_deref(),
                        window,
                    );
                if read {
                    summary
                        .startup_seconds
                        .get_or_insert(scope.start.elapsed().as_secs_f64());
                    prefetch.start(obj);
                }
            }
            Ok::<_, Error>(())
        };
        let (listed, offered) = futures::join!(list, offer);
        offered?;
        let listed = listed?;
        if listed.objects.is_empty()
            && listed.unreadable.is_empty()
            && arg.contains(['*', '?', '[', '{'])
        {
            return Err(Error::InvalidSource {
                source_arg: arg.clone(),
                reason: "matches no object".into(),
            });
        }
        found.objects.extend(listed.objects);
        found.unreadable.extend(listed.unreadable);
    }
    Ok(found)
}

/// The delivery days to list of source `arg`, and the listing mark to record for it. An S3
/// source listed in full up to time T by an earlier run can only have new objects under the
/// delivery days from T on (CloudTrail writes each object under the day it delivers it):
/// it is listed from the day before T. Local sources are cheap to list in full.
fn listing_days(
    opts: &IngestOptions,
    arg: &str,
    state: &LakeState,
    list_days: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    listed_at: DateTime<Utc>,
) -> (
    Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    Option<lake_state::Listed>,
) {
    let mark_key = format!(
        "{arg}|{}|{}",
        opts.accounts.join(","),
        opts.regions.join(",")
    );
    let incremental = arg.starts_with("s3://") && !opts.full_listing;
    let since_mark = state
        .listed
        .get(&mark_key)
        .filter(|_| incremental)
        .map(|t| (*t - chrono::Duration::days(1)).date_naive());
    let days = match (list_days, since_mark) {
        (Some((first, last)), Some(m)) => Some((first.max(m), last)),
        (Some(d), None) => Some(d),
        (None, Some(m)) => Some((m, Utc::now().date_naive() + chrono::Duration::days(1))),
        (None, None) => None,
    };
    // The mark moves only when nothing before it was left unlisted.
    let complete = opts.until.is_none()
        && match (days, since_mark) {
            (None, _) => true,
            (Some((first, _)), Some(m)) => first == m,
            (Some(_), None) => false,
        };
    // A mark younger than MARK_REFRESH is kept: listing from the day before it lists the
    // same days, and `ingest --watch` would otherwise record a new one every quiet round.
    let fresh = state
        .listed
        .get(&mark_key)
        .is_some_and(|t| listed_at - *t < MARK_REFRESH);
    let mark = (arg.starts_with("s3://") && complete && !fresh).then_some(lake_state::Listed {
        source: mark_key,
        at: listed_at,
    });
    (days, mark)
}

/// The objects listed that are new or changed, in the order they are written; the others
/// (and the entries that could not be read) counted in `summary`.
async fn select_new(
    scope: &Scope<'_>,
    state: &mut LakeState,
    mut objects: Vec<SourceObject>,
    mut unreadable: Vec<source::Unreadable>,
    summary: &mut Summary,
) -> Result<Vec<SourceObject>> {
    objects.sort_by(|a, b| a.uri.cmp(&b.uri));
    objects.dedup_by(|a, b| a.uri == b.uri);
    unreadable.sort_by(|a, b| a.path.cmp(&b.path));
    unreadable.dedup();
    summary.objects_listed = objects.len() as u64;
    // An entry that cannot be read (a symlink loop, a dangling link, an unreadable directory)
    // is an object listed, read and rejected: reported with its path, and the run goes on.
    for u in unreadable {
        summary.objects_listed += 1;
        summary.objects_read += 1;
        summary.objects_rejected += 1;
        eprintln!("warning: {}: {}", u.path, u.reason);
        if scope.opts.strict {
            return Err(Error::Strict(format!("{}: {}", u.path, u.reason)));
        }
        summary.problems.push(Problem {
            source: u.path,
            kind: "rejected",
            reason: u.reason,
        });
    }

    state
        .load_days(
            scope.lake,
            objects.iter().map(|o| lake_state::day_key(&o.uri)),
        )
        .await?;
    let mut todo = Vec::new();
    for obj in objects {
        if let Some(why) = obj.skip_by_name() {
            summary.objects_skipped += 1;
            *summary.skipped_by_reason.entry(why.into()).or_default() += 1;
        } else if scope
            .earliest_delivery
            .zip(obj.delivery_date())
            .is_some_and(|(e, d)| d < e)
        {
            summary.objects_outside_window += 1;
        } else if state.is_current(
            &obj.uri,
            obj.size,
            obj.modified,
            obj.etag.as_deref(),
            scope.window,
        ) {
            summary.objects_unchanged += 1;
        } else {
            todo.push(obj);
        }
    }
    state.forget_sources();
    summary
        .startup_seconds
        .get_or_insert(scope.start.elapsed().as_secs_f64());
    // Delivery day first, then name: a checkpoint then holds a few days of every account and
    // region, so each partition is written in few files and its dedup keys can be dropped
    // soon after. The order is deterministic, which keeps a resumed run's choice of duplicate
    // copies the same as an uninterrupted run's.
    todo.sort_by_cached_key(|o| (o.delivery_date(), o.uri.clone()));
    Ok(todo)
}

/// The progress bar of `bytes` to read: bytes are the measure of progress (object sizes
/// vary a thousandfold); objects and events are in the message.
fn progress_bar(show: bool, bytes: u64) -> ProgressBar {
    let bar = if show {
        ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr_with_hz(8))
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, eta {eta})  {msg}",
        )
        .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// Read and decode `todo`, account for each object, and hand its rows to `writer`.
async fn read_and_write(
    scope: &Scope<'_>,
    state: &mut LakeState,
    todo: Vec<SourceObject>,
    prefetch: Prefetch,
    writer: &mut Writer<'_>,
    summary: &mut Summary,
) -> Result<()> {
    let opts = scope.opts;
    let todo_objects = todo.len() as u64;
    let bar = progress_bar(opts.progress, todo.iter().map(|o| o.size).sum());
    let mut objects_done = 0u64;
    // A piece of an object is handed on once it has this much JSON: with the chunks in
    // flight (two per decoder: one being built, one waiting), a fraction of the budget.
    let decode_opts = DecodeOptions {
        window: scope.window,
        retain_since: opts.retain.map(|w| (Utc::now() - w).timestamp_micros()),
        max_object_bytes: opts.max_object_bytes,
        piece_bytes: (opts.buffer_bytes as u64 / 16).clamp(1 << 20, 16 << 20),
        // An object is decoded in memory (faster) only when it is small beside the budget.
        stream_json_bytes: (opts.buffer_bytes as u64 / 4).clamp(1 << 20, 32 << 20),
    };
    let reading = Reading {
        max_requests: opts.max_requests,
        budget_bytes: opts.buffer_bytes as u64 / 2,
        ahead: opts.parallelism.max(1) + 1,
    };
    let mut decoded = std::pin::pin!(read_and_decode(todo, decode_opts, reading, prefetch));
    while let Some(chunk) = decoded.next().await {
        let chunk = chunk?;
        let mut chunk_bytes = 0;
        for d in &chunk.objects {
            chunk_bytes += d.obj.size;
            objects_done += 1;
            account(opts, d, &bar, summary)?;
        }
        writer.add(state, chunk, scope.window, summary).await?;
        bar.inc(chunk_bytes);
        let secs = scope.start.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!(
            "{}/{} objects  {} events  {} events/s",
            n(objects_done),
            n(todo_objects),
            n(summary.records),
            n((summary.records as f64 / secs) as u64)
        ));
    }
    bar.finish_and_clear();
    Ok(())
}

/// Count a decoded object in `summary`, and report its problems (an error with `--strict`).
fn account(
    opts: &IngestOptions,
    d: &Decoded,
    bar: &ProgressBar,
    summary: &mut Summary,
) -> Result<()> {
    if d.status != SourceStatus::Skipped {
        summary.objects_read += 1;
    }
    summary.bytes_read += d.bytes_read;
    summary.json_bytes += d.json_bytes;
    summary.records += d.records;
    summary.quarantined += d.quarantined;
    summary.outside_window += d.outside_window;
    for (why, n) in &d.skipped_messages {
        *summary
            .messages_skipped
            .entry((*why).to_owned())
            .or_default() += n;
    }
    summary.older_than_retention += d.older_than_retention;
    let shown = d.obj.display().to_owned();
    let mut problem = |kind: &'static str, reason: String| {
        bar.suspend(|| eprintln!("warning: {shown}: {reason}"));
        if opts.strict {
            return Err(Error::Strict(format!("{shown}: {reason}")));
        }
        summary.problems.push(Problem {
            source: shown.clone(),
            kind,
            reason,
        });
        Ok(())
    };
    match d.status {
        SourceStatus::Skipped => {
            summary.objects_skipped += 1;
            *summary
                .skipped_by_reason
                .entry(d.detail.clone().unwrap_or_default())
                .or_default() += 1;
        }
        SourceStatus::Rejected => {
            summary.objects_rejected += 1;
            problem("rejected", d.detail.clone().unwrap_or_default())?;
        }
        SourceStatus::Damaged => {
            summary.objects_damaged += 1;
            problem("damaged", d.detail.clone().unwrap_or_default())?;
        }
        SourceStatus::Ingested => {}
    }
    if d.quarantined > 0 {
        let reason = format!(
            "{} records quarantined (first: {})",
            d.quarantined,
            d.first_quarantine_reason.as_deref().unwrap_or("")
        );
        problem("quarantined", reason)?;
    }
    Ok(())
}

fn run_id() -> String {
    let now = Utc::now();
    format!(
        "{}{:04x}",
        now.format("%Y%m%dT%H%M%S"),
        (now.timestamp_subsec_nanos() ^ std::process::id()) & 0xffff
    )
}
