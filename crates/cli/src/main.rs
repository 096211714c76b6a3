//! The `trailsql` binary: arguments -> a config -> one library call.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use trailsql_ingest::{IngestOptions, time::parse_user_time};
use trailsql_lake::maintenance;
use trailsql_query::{OutputFormat, SqlOptions, SqlSource};

// Ingest allocates on many threads (decoding, encoding, object reads); glibc's per-thread
// arenas held twice the live heap as resident memory at 4M events, jemalloc returns it.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "trailsql", version, about = "Athena for CloudTrail that runs anywhere", long_about = None)]
struct Cli {
    /// The lake: a directory or s3://bucket/prefix [default: $XDG_DATA_HOME/trailsql/lake,
    /// that is ~/.local/share/trailsql/lake]
    #[arg(long, global = true, env = "TRAILSQL_LAKE")]
    lake: Option<String>,
    /// Output format of the REPL: table, csv, tsv, json, ndjson, markdown
    #[arg(long, default_value = "table")]
    format: OutputFormat,
    #[command(flatten)]
    s3: S3Args,
    /// At the end, print the S3 requests made (per store: LIST, GET, HEAD, PUT and bytes) on
    /// stderr (sql, report, lookup, the REPL; ingest and verify always report them)
    #[arg(long, global = true)]
    stats: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Which AWS credentials reach which bucket, and how the lake's objects are encrypted.
#[derive(Args)]
struct S3Args {
    /// AWS profile for every bucket [default: the AWS CLI's chain: environment,
    /// AWS_PROFILE or default, web identity, ECS, IMDS]
    #[arg(long, global = true, value_name = "PROFILE")]
    profile: Option<String>,
    /// AWS profile for the buckets of s3:// sources and the log groups of cwl:// sources (ingest,
    /// verify), e.g. a log-archive account
    #[arg(
        long,
        global = true,
        value_name = "PROFILE",
        env = "TRAILSQL_SOURCE_PROFILE"
    )]
    source_profile: Option<String>,
    /// AWS profile for the lake's bucket, e.g. a security account
    #[arg(
        long,
        global = true,
        value_name = "PROFILE",
        env = "TRAILSQL_LAKE_PROFILE"
    )]
    lake_profile: Option<String>,
    /// AWS profile for one bucket (BUCKET=PROFILE, repeatable; wins over the others)
    #[arg(long = "bucket-profile", global = true, value_name = "BUCKET=PROFILE")]
    bucket_profiles: Vec<String>,
    /// Encrypt what trailsql writes to an S3 lake with SSE-KMS, with the bucket's default
    /// KMS key (or aws/s3)
    #[arg(long, global = true)]
    sse_kms: bool,
    /// Encrypt what trailsql writes to an S3 lake with SSE-KMS and this KMS key (id, ARN or
    /// alias)
    #[arg(long, global = true, value_name = "KEY")]
    sse_kms_key_id: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Load CloudTrail log files (files, directories, globs) into the lake
    Ingest(IngestArgs),
    /// Run SQL statements and print the results
    Sql(SqlArgs),
    /// Run the shipped security reports (or your own) over a time window
    Report(ReportArgs),
    /// Find events with the console's Event history filters, combined
    Lookup(LookupArgs),
    /// Print the statements that register the lake in Athena, Trino, Spark or DuckDB
    Ddl(DdlArgs),
    /// Validate log files against CloudTrail's signed digest files (offline validate-logs)
    Verify(VerifyArgs),
    /// The lake's state: each table's Delta version, files, rows, bytes, dates, small files
    Lake(LakeArgs),
    /// The web console: Event history, dashboards and SQL in the browser
    Serve(ServeArgs),
    /// Run Sigma detection rules over the lake (the shipped ones, or --rules)
    Detect(DetectArgs),
}

#[derive(Args)]
struct LakeArgs {
    /// Print the state (or what a maintenance command did) as JSON
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    action: Option<LakeAction>,
}

/// Lake maintenance (see the README's "Lake maintenance").
#[derive(Subcommand)]
enum LakeAction {
    /// Rewrite the small files of each partition as one file (one commit per batch)
    Compact {
        /// Only partitions of this date or later (2024-01-15, or 7d ago)
        #[arg(long)]
        since: Option<String>,
        /// Only partitions of this date or earlier
        #[arg(long)]
        until: Option<String>,
        /// Only this table (cloudtrail, cloudtrail_insights)
        #[arg(long)]
        table: Option<String>,
    },
    /// Remove the partitions older than DURATION (e.g. 90d, CloudTrail's event history)
    Retain { duration: String },
    /// Delete the data files no version within the window needs
    Vacuum {
        /// Keep files a version younger than this needs (0: the latest version only)
        #[arg(long, default_value = "7d")]
        older_than: String,
        /// List what would be deleted, delete nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Convert a lake of the previous format (_trailsql/log) in place
    Upgrade,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on: HOST:PORT, [V6]:PORT or a port (on 127.0.0.1). Off loopback,
    /// every request needs the token printed in the URL at start
    #[arg(long, default_value = "127.0.0.1:8642")]
    listen: String,
    /// Require this token (default: none on loopback, a random one elsewhere)
    #[arg(long, env = "TRAILSQL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Open the console in the desktop's browser
    #[arg(long)]
    open: bool,
    /// Rows kept of one SQL result in the console
    #[arg(long, default_value_t = 10_000)]
    max_rows: usize,
    /// Seconds one console query may run before it is stopped
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
}

#[derive(Args)]
struct DetectArgs {
    /// Sigma rule files or directories (recursive; repeatable) [default: the shipped rules]
    #[arg(
        long = "rules",
        value_name = "PATH",
        env = "TRAILSQL_RULES",
        value_delimiter = ':'
    )]
    rules: Vec<PathBuf>,
    /// Only events at or after this time (2024-01-15, RFC 3339, or 7d / 24h ago)
    #[arg(long)]
    since: Option<String>,
    /// Only events before this time
    #[arg(long)]
    until: Option<String>,
    /// Run each rule only over the data ingested since its last --new run, and append the
    /// findings to the lake's detections table (each once)
    #[arg(long)]
    new: bool,
    /// Only rules of this level or higher (informational, low, medium, high, critical)
    #[arg(long)]
    level: Option<String>,
    /// Only rules with this tag, or a tag under it (attack.persistence, attack.t1098; repeatable)
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Output format: table, csv, tsv, json, ndjson, markdown, html
    #[arg(long, default_value = "table")]
    format: String,
    /// Write the findings to DIR/detections.EXT instead of standard output
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Exit with status 3 when a rule matched
    #[arg(long)]
    fail_on_match: bool,
    /// List the rules found: id, level, status, title, whether they compiled
    #[arg(long, conflicts_with = "check")]
    list: bool,
    /// Compile the rules only; exit 1 if any cannot be used
    #[arg(long)]
    check: bool,
}

#[derive(Args)]
struct VerifyArgs {
    /// A trail's tree: the directory or s3://bucket/prefix holding AWSLogs/
    #[arg(required = true)]
    sources: Vec<String>,
    /// The output of `aws cloudtrail list-public-keys` (repeatable)
    #[arg(long = "public-keys", required = true, value_name = "FILE")]
    public_keys: Vec<PathBuf>,
    /// Log files delivered at or after this time (2024-01-15, RFC 3339, or 7d / 24h ago)
    #[arg(long)]
    since: Option<String>,
    /// Log files delivered at or before this time
    #[arg(long)]
    until: Option<String>,
    /// Only this account (repeatable)
    #[arg(long = "account")]
    accounts: Vec<String>,
    /// Only this region (repeatable)
    #[arg(long = "region")]
    regions: Vec<String>,
    /// table (objects that are not valid, then a summary) or json (every object)
    #[arg(long, default_value = "table")]
    format: VerifyFormat,
    /// With --format table, list valid objects too
    #[arg(long)]
    all: bool,
    /// S3 requests in flight at once
    #[arg(long, default_value_t = trailsql_ingest::DEFAULT_MAX_REQUESTS)]
    max_requests: usize,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum VerifyFormat {
    Table,
    Json,
}

#[derive(Args)]
struct DdlArgs {
    /// athena, trino, spark or duckdb
    #[arg(long)]
    engine: trailsql_query::ddl::Engine,
    /// Where that engine reads the lake [default: --lake]
    #[arg(long)]
    location: Option<String>,
    /// Plain Hive tables over the data folders instead of Delta tables, for readers without
    /// Delta (right only once the lake is vacuumed)
    #[arg(long)]
    hive: bool,
}

#[derive(Args)]
struct ReportArgs {
    /// Report ids (see --list) or paths of report files
    names: Vec<String>,
    /// Run every report
    #[arg(long)]
    all: bool,
    /// List the reports: id, severity, kind, title
    #[arg(long)]
    list: bool,
    /// Start of the window (2024-01-15, RFC 3339, or 7d / 24h ago)
    #[arg(long, default_value = "30d")]
    since: String,
    /// End of the window [default: now]
    #[arg(long)]
    until: Option<String>,
    /// Value of a report parameter (NAME=VALUE, repeatable)
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Output format: table, csv, tsv, json, ndjson, markdown, parquet (with --out-dir), html
    #[arg(long, default_value = "table")]
    format: String,
    /// Write one file per report (html: one page) into this directory
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Also read the reports of this directory
    #[arg(long)]
    reports_dir: Option<PathBuf>,
    /// Exit with status 3 when a detection report returns rows
    #[arg(long)]
    fail_on_rows: bool,
}

#[derive(Args)]
struct LookupArgs {
    #[arg(long)]
    event_id: Option<String>,
    #[arg(long)]
    event_name: Option<String>,
    #[arg(long)]
    event_source: Option<String>,
    #[arg(long)]
    username: Option<String>,
    #[arg(long)]
    resource_type: Option<String>,
    #[arg(long)]
    resource_name: Option<String>,
    #[arg(long)]
    access_key_id: Option<String>,
    /// true or false
    #[arg(long)]
    read_only: Option<bool>,
    /// awsRegion
    #[arg(long)]
    region: Option<String>,
    /// sourceIPAddress
    #[arg(long)]
    source_ip: Option<String>,
    /// errorCode
    #[arg(long)]
    error_code: Option<String>,
    /// recipientAccountId
    #[arg(long)]
    account: Option<String>,
    /// userIdentity.arn
    #[arg(long)]
    principal: Option<String>,
    /// userIdentity.type (Root, IAMUser, AssumedRole, AWSService, ...)
    #[arg(long)]
    user_type: Option<String>,
    /// Start of the window [default: 90 days ago, as the console]
    #[arg(long, default_value = "90d")]
    since: String,
    /// End of the window [default: now]
    #[arg(long)]
    until: Option<String>,
    /// At most this many events, newest first
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Output format: table, csv, tsv, json, ndjson, markdown
    #[arg(long, default_value = "table")]
    format: OutputFormat,
}

#[derive(Args)]
struct IngestArgs {
    /// Files, directories (read recursively) or globs ("logs/**/*.json.gz"), s3://bucket/prefix,
    /// or cwl://LOG_GROUP[?prefix=STREAM_PREFIX] (CloudWatch Logs)
    #[arg(required = true)]
    sources: Vec<String>,
    /// Only events at or after this time (2024-01-15, RFC 3339, or 7d / 24h / 30m ago)
    #[arg(long)]
    since: Option<String>,
    /// Only events before this time
    #[arg(long)]
    until: Option<String>,
    /// Fail on the first bad file or record instead of reporting it and going on
    #[arg(long)]
    strict: bool,
    /// Print the summary as JSON (with --watch: the findings as NDJSON, one per line, and
    /// the round lines on stderr)
    #[arg(long)]
    json: bool,
    /// No progress bar
    #[arg(long, short)]
    quiet: bool,
    /// Decoded rows held in memory before they are written, in MiB (one more such buffer
    /// is being written meanwhile)
    #[arg(long, default_value_t = 128)]
    buffer_mb: usize,
    /// Reject an object whose decompressed size passes this (a gzip bomb, or not one
    /// CloudTrail delivery); records read before the cap are kept and the object counted as
    /// damaged. Bytes, or with a unit: 512MiB, 4GiB
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    max_object_size: u64,
    /// Only objects of this account (repeatable)
    #[arg(long = "account")]
    accounts: Vec<String>,
    /// Only objects of this region (repeatable)
    #[arg(long = "region")]
    regions: Vec<String>,
    /// Validate the sources against their digest files first and record each log file's
    /// verdict in the lake's cloudtrail_sources table (needs --public-keys)
    #[arg(long, requires = "public_keys")]
    verify: bool,
    /// The output of `aws cloudtrail list-public-keys` (repeatable), for --verify
    #[arg(long = "public-keys", value_name = "FILE")]
    public_keys: Vec<PathBuf>,
    /// List s3:// sources in full, even where an earlier run listed them up to a time (by
    /// default only the delivery days since then are listed)
    #[arg(long)]
    full_listing: bool,
    /// S3 requests in flight at once (object reads, listings): reading many small objects is
    /// bound by round trips, objects/s = requests in flight / latency
    #[arg(long, default_value_t = trailsql_ingest::DEFAULT_MAX_REQUESTS)]
    max_requests: usize,
    /// Skip events older than this (e.g. 90d) and remove the lake's partitions older than it
    #[arg(long, value_name = "DURATION")]
    retain: Option<String>,
    /// Do not compact the partitions the run wrote to
    #[arg(long)]
    no_compact: bool,
    #[command(flatten)]
    watch: WatchArgs,
}

/// `ingest --watch` and what runs after each round.
#[derive(Args)]
struct WatchArgs {
    /// Keep running: ingest what is new every --interval, until SIGINT or SIGTERM (which
    /// stop after the round under way); one line per round with something new
    #[arg(long, conflicts_with_all = ["verify", "strict"])]
    watch: bool,
    /// Time between the starts of two rounds: 500ms, 30s, 5m, 1h [default: 60s]
    #[arg(long, requires = "watch", value_parser = trailsql_watch::parse_interval)]
    interval: Option<std::time::Duration>,
    /// Run Sigma rules (`detect --new`) after each round that committed events, and print
    /// the new findings
    #[arg(long, requires = "watch")]
    detect: bool,
    /// Rule files or directories for --detect and --notify (repeatable; implies --detect)
    /// [default: the shipped rules]
    #[arg(
        long = "rules",
        value_name = "PATH",
        requires = "watch",
        value_delimiter = ':'
    )]
    rules: Vec<PathBuf>,
    /// POST each round's findings to this URL (a Slack incoming webhook, or any receiver of
    /// JSON), retried with backoff in the background; implies --detect
    #[arg(long, value_name = "URL", requires = "watch")]
    notify: Option<String>,
    /// Also print a line for rounds that found nothing new
    #[arg(long, short, requires = "watch")]
    verbose: bool,
}

#[derive(Args)]
struct SqlArgs {
    /// SQL to run (repeatable)
    #[arg(short = 'c', long = "command")]
    commands: Vec<String>,
    /// File of SQL statements to run (repeatable; after the -c statements)
    #[arg(short = 'f', long = "file")]
    files: Vec<PathBuf>,
    /// Output format: table, csv, tsv, json, ndjson, markdown, parquet (needs -o)
    #[arg(long, default_value = "table")]
    format: OutputFormat,
    /// Write results to this file instead of standard output
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Bind a value to the placeholder $NAME (NAME=VALUE, repeatable)
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
}

fn default_lake() -> String {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".local/share")))
        .unwrap_or_else(|| ".".into());
    base.join("trailsql/lake").display().to_string()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if is_usage(&e) => usage(&e.to_string()),
        Err(e) => {
            for line in cause_lines(&e) {
                eprintln!("{line}");
            }
            ExitCode::from(1)
        }
    }
}

/// An error in the arguments (exit status 2), as opposed to a failure while running.
fn is_usage(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<trailsql_query::Error>(),
        Some(trailsql_query::Error::Usage(_))
    ) || matches!(
        e.downcast_ref::<trailsql_ingest::Error>(),
        Some(trailsql_ingest::Error::InvalidTime(_))
    ) || matches!(
        e.downcast_ref::<trailsql_serve::Error>(),
        Some(trailsql_serve::Error::Address(_))
    )
}

/// `error: MESSAGE`, then one `  caused by: CAUSE` line per cause that the lines before do
/// not already say (errors of other crates often print their source and also return it).
fn cause_lines(e: &anyhow::Error) -> Vec<String> {
    let mut said: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || said.iter().any(|s| s.contains(&text)) {
            continue;
        }
        lines.push(if lines.is_empty() {
            format!("error: {text}")
        } else {
            format!("  caused by: {text}")
        });
        said.push(text);
    }
    lines
}

/// A usage error: message on stderr, exit status 2.
fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// Whether the error comes from writing to a closed pipe (`trailsql ... | head`): by the
/// I/O error's kind, anywhere in the chain of causes.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let io = c
            .downcast_ref::<std::io::Error>()
            .or_else(|| {
                c.downcast_ref::<trailsql_query::Error>()
                    .and_then(|q| q.io_error())
            })
            .or_else(|| {
                c.downcast_ref::<trailsql_ingest::Error>()
                    .and_then(|i| i.io_error())
            })
            .or_else(|| match c.downcast_ref::<trailsql_watch::Error>() {
                Some(trailsql_watch::Error::Io(e)) => Some(e),
                _ => None,
            });
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The bucket of an `s3://bucket/...` location.
fn bucket_of(location: &str) -> Option<&str> {
    let rest = location.strip_prefix("s3://")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// The settings key of a `cwl://GROUP[?prefix=...]` source: `cwl://GROUP` (also what
/// `--bucket-profile cwl://GROUP=PROFILE` names).
fn log_group_of(source: &str) -> Option<&str> {
    source
        .starts_with("cwl://")
        .then(|| source.split('?').next().unwrap_or(source))
}

/// The S3 settings of the run: profiles per bucket, and SSE-KMS on the lake's bucket.
fn s3_settings(
    a: &S3Args,
    lake: &str,
    sources: &[String],
) -> Result<trailsql_store::S3Settings, String> {
    let mut s = trailsql_store::S3Settings::default();
    s.default.profile = a.profile.clone();
    if let Some(p) = &a.source_profile {
        for b in sources
            .iter()
            .filter_map(|s| bucket_of(s).or_else(|| log_group_of(s)))
        {
            s.set_profile(b, p).map_err(|e| e.to_string())?;
        }
    }
    if let (Some(p), Some(b)) = (&a.lake_profile, bucket_of(lake)) {
        s.set_profile(b, p).map_err(|e| e.to_string())?;
    }
    for bp in &a.bucket_profiles {
        let Some((b, p)) = bp
            .split_once('=')
            .filter(|(b, p)| !b.is_empty() && !p.is_empty())
        else {
            return Err(format!("--bucket-profile {bp:?}: expected BUCKET=PROFILE"));
        };
        s.buckets.entry(b.to_owned()).or_default().profile = Some(p.to_owned());
    }
    if a.sse_kms || a.sse_kms_key_id.is_some() {
        let Some(b) = bucket_of(lake) else {
            return Err("--sse-kms and --sse-kms-key-id apply to an s3:// lake".into());
        };
        s.set_sse_kms(b, a.sse_kms_key_id.as_deref());
    }
    Ok(s)
}

/// The S3 requests made since `before`, on stderr.
fn print_requests(before: &trailsql_store::RequestStats) {
    let stats = trailsql_store::request_stats().since(before);
    let mut lines = String::new();
    stats
        .write_lines(&mut lines, "requests: ")
        .expect("write to a String");
    if stats.is_empty() {
        lines.push_str("requests: none to S3\n");
    }
    eprint!("{lines}");
}

#[tokio::main]
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let lake = cli.lake.unwrap_or_else(default_lake);
    let sources: &[String] = match &cli.command {
        Some(Command::Ingest(a)) => &a.sources,
        Some(Command::Verify(a)) => &a.sources,
        _ => &[],
    };
    match s3_settings(&cli.s3, &lake, sources) {
        Ok(s) => trailsql_store::install_settings(s)?,
        Err(e) => return Ok(usage(&e)),
    }
    let before = trailsql_store::request_stats();
    let stats = cli.stats
        && !matches!(
            cli.command,
            Some(Command::Ingest(_)) | Some(Command::Verify(_))
        );
    let result = dispatch(cli.command, lake, cli.format).await;
    if stats {
        print_requests(&before);
    }
    result
}

/// Print a maintenance report, as JSON or text.
fn report<R: serde::Serialize + std::fmt::Display>(r: &R, json: bool) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, r)?;
        writeln!(out)?;
    } else {
        write!(out, "{r}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `trailsql lake compact|retain|vacuum|upgrade`.
async fn lake_action(
    lake: &trailsql_lake::Lake,
    action: LakeAction,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now();
    let day = |s: Option<String>| -> anyhow::Result<Option<chrono::NaiveDate>> {
        Ok(s.map(|s| parse_user_time(&s, now))
            .transpose()?
            .map(|t| t.date_naive()))
    };
    match action {
        LakeAction::Compact {
            since,
            until,
            table,
        } => {
            let mut opts = maintenance::CompactOptions {
                since: day(since)?,
                until: day(until)?,
                ..Default::default()
            };
            if let Some(t) = table {
                let known = trailsql_lake::Table::by_name(&t).ok_or_else(|| {
                    anyhow::anyhow!("no table {t:?}: cloudtrail or cloudtrail_insights")
                })?;
                opts.tables = vec![known];
            }
            report(&maintenance::compact(lake, &opts).await?, json)
        }
        LakeAction::Retain { duration } => {
            let window = maintenance::parse_duration(&duration)?;
            report(&maintenance::retain(lake, window, now).await?, json)
        }
        LakeAction::Vacuum {
            older_than,
            dry_run,
        } => {
            let opts = maintenance::VacuumOptions {
                older_than: maintenance::parse_duration(&older_than)?,
                dry_run,
            };
            report(&maintenance::vacuum(lake, &opts).await?, json)
        }
        LakeAction::Upgrade => report(&maintenance::upgrade(lake).await?, json),
    }
}

/// Run one command.
async fn dispatch(
    command: Option<Command>,
    lake: String,
    repl_format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    match command {
        Some(Command::Ingest(a)) => {
            let now = chrono::Utc::now();
            let mut opts = IngestOptions::new(a.sources, lake);
            opts.since = a.since.map(|s| parse_user_time(&s, now)).transpose()?;
            opts.until = a.until.map(|s| parse_user_time(&s, now)).transpose()?;
            opts.strict = a.strict;
            opts.progress = !a.quiet;
            opts.buffer_bytes = a.buffer_mb.max(1) << 20;
            opts.max_object_bytes = a.max_object_size;
            opts.accounts = a.accounts;
            opts.regions = a.regions;
            opts.full_listing = a.full_listing;
            opts.max_requests = a.max_requests.max(1);
            opts.retain = a
                .retain
                .as_deref()
                .map(maintenance::parse_duration)
                .transpose()?;
            opts.compact = !a.no_compact;
            if a.verify {
                opts.verify = Some(trailsql_ingest::verify::PublicKeys::load(&a.public_keys)?);
            }
            if a.watch.watch {
                return watch(opts, a.watch, a.json).await;
            }
            let summary = trailsql_ingest::ingest(&opts).await?;
            let mut out = std::io::stdout().lock();
            if a.json {
                serde_json::to_writer_pretty(&mut out, &summary)?;
                writeln!(out)?;
            } else {
                write!(out, "{summary}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Sql(a)) => {
            let mut sources: Vec<SqlSource> = a.commands.into_iter().map(SqlSource::Text).collect();
            sources.extend(a.files.into_iter().map(SqlSource::File));
            if sources.is_empty() {
                if std::io::stdin().is_terminal() {
                    return Ok(usage(
                        "nothing to run: give SQL with -c, a file with -f, or pipe it in",
                    ));
                }
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                sources.push(SqlSource::Text(text));
            }
            let mut opts = SqlOptions::new(a.format);
            for p in &a.params {
                match trailsql_query::parse_param(p) {
                    Ok(kv) => opts.params.push(kv),
                    Err(e) => return Ok(usage(&e)),
                }
            }
            let mut out = std::io::stdout().lock();
            trailsql_query::run_sources(&lake, &sources, &opts, a.output.as_deref(), &mut out)
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Report(a)) => {
            let mut out = std::io::stdout().lock();
            if a.list {
                trailsql_query::report::list(a.reports_dir.as_deref(), &mut out)?;
                return Ok(ExitCode::SUCCESS);
            }
            let now = chrono::Utc::now();
            let (html, format) = match a.format.as_str() {
                "html" => (true, OutputFormat::Table),
                f => match f.parse::<OutputFormat>() {
                    Ok(f) => (false, f),
                    Err(e) => return Ok(usage(&e)),
                },
            };
            let mut params = Vec::new();
            for p in &a.params {
                match trailsql_query::parse_param(p) {
                    Ok(kv) => params.push(kv),
                    Err(e) => return Ok(usage(&e)),
                }
            }
            let opts = trailsql_query::report::ReportOptions {
                lake,
                names: a.names,
                all: a.all,
                reports_dir: a.reports_dir,
                since: parse_user_time(&a.since, now)?,
                until: a
                    .until
                    .map(|u| parse_user_time(&u, now))
                    .transpose()?
                    .unwrap_or(now),
                params,
                format,
                html,
                out_dir: a.out_dir,
            };
            let outcome = trailsql_query::report::run(&opts, &mut out).await?;
            if a.fail_on_rows && !outcome.findings.is_empty() {
                eprintln!("findings: {}", outcome.findings.join(", "));
                return Ok(ExitCode::from(3));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Verify(a)) => {
            let now = chrono::Utc::now();
            let mut opts = trailsql_ingest::verify::VerifyOptions::new(
                a.sources,
                trailsql_ingest::verify::PublicKeys::load(&a.public_keys)?,
            );
            opts.since = a.since.map(|s| parse_user_time(&s, now)).transpose()?;
            opts.until = a.until.map(|s| parse_user_time(&s, now)).transpose()?;
            opts.accounts = a.accounts;
            opts.regions = a.regions;
            opts.parallelism = a.max_requests.max(1);
            let report = trailsql_ingest::verify::verify(&opts).await?;
            let mut out = std::io::stdout().lock();
            match a.format {
                VerifyFormat::Json => {
                    serde_json::to_writer_pretty(&mut out, &report.to_json())?;
                    writeln!(out)?;
                }
                VerifyFormat::Table => report.write_table(&mut out, a.all)?,
            }
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Some(Command::Lake(LakeArgs {
            json,
            action: Some(action),
        })) => {
            let lake = trailsql_lake::Lake::open(&lake)?;
            lake_action(&lake, action, json).await
        }
        Some(Command::Lake(a)) => {
            let lake = trailsql_lake::Lake::open(&lake)?;
            let tables = trailsql_lake::status::status(&lake).await?;
            let mut out = std::io::stdout().lock();
            if a.json {
                serde_json::to_writer_pretty(&mut out, &tables)?;
                writeln!(out)?;
            } else {
                trailsql_lake::status::write_status(&lake, &tables, &mut out)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Detect(a)) => {
            let now = chrono::Utc::now();
            let mut opts = trailsql_detect::DetectOptions::new(lake);
            opts.rules = a.rules;
            opts.since = a.since.map(|s| parse_user_time(&s, now)).transpose()?;
            opts.until = a.until.map(|s| parse_user_time(&s, now)).transpose()?;
            opts.level = a.level;
            opts.tags = a.tags;
            opts.out_dir = a.out_dir;
            opts.new = a.new;
            opts.format = match a.format.parse() {
                Ok(f) => f,
                Err(e) => return Ok(usage(&e)),
            };
            let mut out = std::io::stdout().lock();
            let mut err = std::io::stderr().lock();
            let result = if a.list {
                trailsql_detect::list(&opts, &mut out).map(|()| ExitCode::SUCCESS)
            } else if a.check {
                trailsql_detect::check(&opts, &mut err).map(|issues| {
                    if issues.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                })
            } else {
                trailsql_detect::detect(&opts, &mut out, &mut err)
                    .await
                    .map(|o| {
                        if a.fail_on_match && !o.findings.is_empty() {
                            ExitCode::from(3)
                        } else {
                            ExitCode::SUCCESS
                        }
                    })
            };
            match result {
                Err(trailsql_detect::Error::Usage(e)) => Ok(usage(&e)),
                other => Ok(other?),
            }
        }
        Some(Command::Ddl(a)) => {
            // Engines bind a table to its files or its log: the statements depend on which
            // tables have data yet.
            let contents = trailsql_query::ddl::contents(&lake).await?;
            let form = if a.hive {
                trailsql_query::ddl::Form::Hive
            } else {
                trailsql_query::ddl::Form::Delta
            };
            let location = a.location.unwrap_or(lake);
            print!(
                "{}",
                trailsql_query::ddl::ddl(a.engine, form, &location, &contents)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Lookup(a)) => {
            let now = chrono::Utc::now();
            let filters = trailsql_query::lookup::LookupFilters {
                event_id: a.event_id,
                event_name: a.event_name,
                event_source: a.event_source,
                username: a.username,
                resource_type: a.resource_type,
                resource_name: a.resource_name,
                access_key_id: a.access_key_id,
                read_only: a.read_only,
                region: a.region,
                source_ip: a.source_ip,
                error_code: a.error_code,
                account: a.account,
                principal: a.principal,
                user_type: a.user_type,
            };
            let since = parse_user_time(&a.since, now)?;
            let until = a
                .until
                .map(|u| parse_user_time(&u, now))
                .transpose()?
                .unwrap_or(now);
            let mut out = std::io::stdout().lock();
            trailsql_query::lookup::lookup(
                &lake, &filters, since, until, a.limit, a.format, &mut out,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Serve(a)) => {
            let mut opts = trailsql_serve::ServeOptions::new(lake);
            opts.listen = a.listen;
            opts.token = a.token;
            opts.open = a.open;
            opts.max_rows = a.max_rows.max(1);
            opts.timeout = std::time::Duration::from_secs(a.timeout_secs.max(1));
            trailsql_serve::serve(&opts, &mut std::io::stdout()).await?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let opts = trailsql_query::ReplOptions {
                format: repl_format,
                history: std::env::var_os("TRAILSQL_HISTORY")
                    .map(PathBuf::from)
                    .or_else(trailsql_query::default_history),
            };
            let ok = trailsql_query::run_repl(&lake, opts).await?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// `ingest --watch`: until SIGINT or SIGTERM.
async fn watch(ingest: IngestOptions, a: WatchArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut opts = trailsql_watch::WatchOptions::new(ingest);
    opts.interval = a.interval.unwrap_or(trailsql_watch::DEFAULT_INTERVAL);
    opts.verbose = a.verbose;
    opts.json = json;
    if a.detect || a.notify.is_some() || !a.rules.is_empty() {
        let mut d = trailsql_detect::DetectOptions::new(opts.ingest.lake.clone());
        d.rules = a.rules;
        opts.detect = Some(d);
    }
    opts.notify = a.notify;
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr();
    match trailsql_watch::watch(&opts, &mut out, &mut err).await {
        Err(trailsql_watch::Error::Usage(e)) => Ok(usage(&e)),
        other => other.map(|_| ExitCode::SUCCESS).map_err(Into::into),
    }
}

/// A size in bytes: a number, optionally followed by a unit (`K`/`KiB`, `M`/`MiB`, `G`/`GiB`,
/// `T`/`TiB`, powers of 1024; `B` for bytes).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (expected e.g. 1073741824, 512MiB, 4GiB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        u => {
            return Err(format!(
                "unknown size unit {u:?} (use KiB, MiB, GiB or TiB)"
            ));
        }
    };
    n.checked_mul(1u64 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("{s:?} is not a usable size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct PrintsAndReturnsItsSource(std::io::Error);

    impl std::fmt::Display for PrintsAndReturnsItsSource {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Generic LocalFileSystem error: {}", self.0)
        }
    }

    impl std::error::Error for PrintsAndReturnsItsSource {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_printed_once() {
        let disk = || std::io::Error::from_raw_os_error(28);
        // Another crate's error that prints its source and also returns it.
        let e = anyhow::Error::new(PrintsAndReturnsItsSource(disk()));
        assert_eq!(
            cause_lines(&e),
            ["error: Generic LocalFileSystem error: No space left on device (os error 28)"]
        );
        let e = anyhow::Error::new(disk()).context("cannot write /dev/full");
        assert_eq!(
            cause_lines(&e),
            [
                "error: cannot write /dev/full",
                "  caused by: No space left on device (os error 28)"
            ]
        );
        let pipe = trailsql_query::Error::Io(std::io::ErrorKind::BrokenPipe.into());
        assert!(is_broken_pipe(&pipe.into()));
        let ingest =
            trailsql_ingest::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(
            &trailsql_query::Error::Ingest(ingest).into()
        ));
        assert!(!is_broken_pipe(&anyhow::anyhow!("Broken pipe")));
    }
}
