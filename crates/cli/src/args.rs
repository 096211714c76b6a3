//! The command line: clap's definitions of every command and the flag groups they share.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use trailsql_query::OutputFormat;

#[derive(Parser)]
#[command(name = "trailsql", version, about = "Athena for CloudTrail that runs anywhere", long_about = None)]
pub(crate) struct Cli {
    /// The lake: a directory or s3://bucket/prefix [default: $XDG_DATA_HOME/trailsql/lake,
    /// that is ~/.local/share/trailsql/lake]
    #[arg(long, global = true, env = "TRAILSQL_LAKE")]
    pub(crate) lake: Option<String>,
    /// Output format of the REPL: table, csv, tsv, json, ndjson, markdown
    #[arg(long, default_value = "table")]
    pub(crate) format: OutputFormat,
    #[command(flatten)]
    pub(crate) s3: S3Args,
    /// At the end, print the S3 requests made (per store: LIST, GET, HEAD, PUT and bytes) on
    /// stderr (sql, report, lookup, the REPL; ingest and verify always report them)
    #[arg(long, global = true)]
    pub(crate) stats: bool,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

/// Which AWS credentials reach which bucket, and how the lake's objects are encrypted.
#[derive(Args)]
pub(crate) struct S3Args {
    /// AWS profile for every bucket [default: the AWS CLI's chain: environment,
    /// AWS_PROFILE or default, web identity, ECS, IMDS]
    #[arg(long, global = true, value_name = "PROFILE")]
    pub(crate) profile: Option<String>,
    /// AWS profile for the buckets of s3:// sources and the log groups of cwl:// sources (ingest,
    /// verify), e.g. a log-archive account
    #[arg(
        long,
        global = true,
        value_name = "PROFILE",
        env = "TRAILSQL_SOURCE_PROFILE"
    )]
    pub(crate) source_profile: Option<String>,
    /// AWS profile for the lake's bucket, e.g. a security account
    #[arg(
        long,
        global = true,
        value_name = "PROFILE",
        env = "TRAILSQL_LAKE_PROFILE"
    )]
    pub(crate) lake_profile: Option<String>,
    /// AWS profile for one bucket (BUCKET=PROFILE, repeatable; wins over the others)
    #[arg(long = "bucket-profile", global = true, value_name = "BUCKET=PROFILE")]
    pub(crate) bucket_profiles: Vec<String>,
    /// Encrypt what trailsql writes to an S3 lake with SSE-KMS, with the bucket's default
    /// KMS key (or aws/s3)
    #[arg(long, global = true)]
    pub(crate) sse_kms: bool,
    /// Encrypt what trailsql writes to an S3 lake with SSE-KMS and this KMS key (id, ARN or
    /// alias)
    #[arg(long, global = true, value_name = "KEY")]
    pub(crate) sse_kms_key_id: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
pub(crate) struct LakeArgs {
    /// Print the state (or what a maintenance command did) as JSON
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) action: Option<LakeAction>,
}

/// Lake maintenance (see the README's "Lake maintenance").
#[derive(Subcommand)]
pub(crate) enum LakeAction {
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
pub(crate) struct ServeArgs {
    /// Address to listen on: HOST:PORT, [V6]:PORT or a port (on 127.0.0.1). Off loopback,
    /// every request needs the token printed in the URL at start
    #[arg(long, default_value = "127.0.0.1:8642")]
    pub(crate) listen: String,
    /// Require this token (default: none on loopback, a random one elsewhere)
    #[arg(long, env = "TRAILSQL_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Open the console in the desktop's browser
    #[arg(long)]
    pub(crate) open: bool,
    /// Rows kept of one SQL result in the console
    #[arg(long, default_value_t = 10_000)]
    pub(crate) max_rows: usize,
    /// Seconds one console query may run before it is stopped
    #[arg(long, default_value_t = 60)]
    pub(crate) timeout_secs: u64,
}

#[derive(Args)]
pub(crate) struct DetectArgs {
    /// Sigma rule files or directories (recursive; repeatable) [default: the shipped rules]
    #[arg(
        long = "rules",
        value_name = "PATH",
        env = "TRAILSQL_RULES",
        value_delimiter = ':'
    )]
    pub(crate) rules: Vec<PathBuf>,
    /// Only events at or after this time (2024-01-15, RFC 3339, or 7d / 24h ago)
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only events before this time
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Run each rule only over the data ingested since its last --new run, and append the
    /// findings to the lake's detections table (each once)
    #[arg(long)]
    pub(crate) new: bool,
    /// Only rules of this level or higher (informational, low, medium, high, critical)
    #[arg(long)]
    pub(crate) level: Option<String>,
    /// Only rules with this tag, or a tag under it (attack.persistence, attack.t1098; repeatable)
    #[arg(long = "tag")]
    pub(crate) tags: Vec<String>,
    /// Output format: table, csv, tsv, json, ndjson, markdown, html
    #[arg(long, default_value = "table")]
    pub(crate) format: String,
    /// Write the findings to DIR/detections.EXT instead of standard output
    #[arg(long)]
    pub(crate) out_dir: Option<PathBuf>,
    /// Exit with status 3 when a rule matched
    #[arg(long)]
    pub(crate) fail_on_match: bool,
    /// List the rules found: id, level, status, title, whether they compiled
    #[arg(long, conflicts_with = "check")]
    pub(crate) list: bool,
    /// Compile the rules only; exit 1 if any cannot be used
    #[arg(long)]
    pub(crate) check: bool,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// A trail's tree: the directory or s3://bucket/prefix holding AWSLogs/
    #[arg(required = true)]
    pub(crate) sources: Vec<String>,
    /// The output of `aws cloudtrail list-public-keys` (repeatable)
    #[arg(long = "public-keys", required = true, value_name = "FILE")]
    pub(crate) public_keys: Vec<PathBuf>,
    /// Log files delivered at or after this time (2024-01-15, RFC 3339, or 7d / 24h ago)
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Log files delivered at or before this time
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Only this account (repeatable)
    #[arg(long = "account")]
    pub(crate) accounts: Vec<String>,
    /// Only this region (repeatable)
    #[arg(long = "region")]
    pub(crate) regions: Vec<String>,
    /// table (objects that are not valid, then a summary) or json (every object)
    #[arg(long, default_value = "table")]
    pub(crate) format: VerifyFormat,
    /// With --format table, list valid objects too
    #[arg(long)]
    pub(crate) all: bool,
    /// S3 requests in flight at once
    #[arg(long, default_value_t = trailsql_ingest::DEFAULT_MAX_REQUESTS)]
    pub(crate) max_requests: usize,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum VerifyFormat {
    Table,
    Json,
}

#[derive(Args)]
pub(crate) struct DdlArgs {
    /// athena, trino, spark or duckdb
    #[arg(long)]
    pub(crate) engine: trailsql_query::ddl::Engine,
    /// Where that engine reads the lake [default: --lake]
    #[arg(long)]
    pub(crate) location: Option<String>,
    /// Plain Hive tables over the data folders instead of Delta tables, for readers without
    /// Delta (right only once the lake is vacuumed)
    #[arg(long)]
    pub(crate) hive: bool,
}

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// Report ids (see --list) or paths of report files
    pub(crate) names: Vec<String>,
    /// Run every report
    #[arg(long)]
    pub(crate) all: bool,
    /// List the reports: id, severity, kind, title
    #[arg(long)]
    pub(crate) list: bool,
    /// Start of the window (2024-01-15, RFC 3339, or 7d / 24h ago)
    #[arg(long, default_value = "30d")]
    pub(crate) since: String,
    /// End of the window [default: now]
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Value of a report parameter (NAME=VALUE, repeatable)
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub(crate) params: Vec<String>,
    /// Output format: table, csv, tsv, json, ndjson, markdown, parquet (with --out-dir), html
    #[arg(long, default_value = "table")]
    pub(crate) format: String,
    /// Write one file per report (html: one page) into this directory
    #[arg(long)]
    pub(crate) out_dir: Option<PathBuf>,
    /// Also read the reports of this directory
    #[arg(long)]
    pub(crate) reports_dir: Option<PathBuf>,
    /// Exit with status 3 when a detection report returns rows
    #[arg(long)]
    pub(crate) fail_on_rows: bool,
}

#[derive(Args)]
pub(crate) struct LookupArgs {
    #[arg(long)]
    pub(crate) event_id: Option<String>,
    #[arg(long)]
    pub(crate) event_name: Option<String>,
    #[arg(long)]
    pub(crate) event_source: Option<String>,
    #[arg(long)]
    pub(crate) username: Option<String>,
    #[arg(long)]
    pub(crate) resource_type: Option<String>,
    #[arg(long)]
    pub(crate) resource_name: Option<String>,
    #[arg(long)]
    pub(crate) access_key_id: Option<String>,
    /// true or false
    #[arg(long)]
    pub(crate) read_only: Option<bool>,
    /// awsRegion
    #[arg(long)]
    pub(crate) region: Option<String>,
    /// sourceIPAddress
    #[arg(long)]
    pub(crate) source_ip: Option<String>,
    /// errorCode
    #[arg(long)]
    pub(crate) error_code: Option<String>,
    /// recipientAccountId
    #[arg(long)]
    pub(crate) account: Option<String>,
    /// userIdentity.arn
    #[arg(long)]
    pub(crate) principal: Option<String>,
    /// userIdentity.type (Root, IAMUser, AssumedRole, AWSService, ...)
    #[arg(long)]
    pub(crate) user_type: Option<String>,
    /// Start of the window [default: 90 days ago, as the console]
    #[arg(long, default_value = "90d")]
    pub(crate) since: String,
    /// End of the window [default: now]
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// At most this many events, newest first
    #[arg(long, default_value_t = 50)]
    pub(crate) limit: usize,
    /// Output format: table, csv, tsv, json, ndjson, markdown
    #[arg(long, default_value = "table")]
    pub(crate) format: OutputFormat,
}

#[derive(Args)]
pub(crate) struct IngestArgs {
    /// Files, directories (read recursively) or globs ("logs/**/*.json.gz"), s3://bucket/prefix,
    /// or cwl://LOG_GROUP[?prefix=STREAM_PREFIX] (CloudWatch Logs)
    #[arg(required = true)]
    pub(crate) sources: Vec<String>,
    /// Only events at or after this time (2024-01-15, RFC 3339, or 7d / 24h / 30m ago)
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only events before this time
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Fail on the first bad file or record instead of reporting it and going on
    #[arg(long)]
    pub(crate) strict: bool,
    /// Print the summary as JSON (with --watch: the findings as NDJSON, one per line, and
    /// the round lines on stderr)
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bar
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Decoded rows held in memory before they are written, in MiB (one more such buffer
    /// is being written meanwhile)
    #[arg(long, default_value_t = 128)]
    pub(crate) buffer_mb: usize,
    /// Reject an object whose decompressed size passes this (a gzip bomb, or not one
    /// CloudTrail delivery); records read before the cap are kept and the object counted as
    /// damaged. Bytes, or with a unit: 512MiB, 4GiB
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub(crate) max_object_size: u64,
    /// Only objects of this account (repeatable)
    #[arg(long = "account")]
    pub(crate) accounts: Vec<String>,
    /// Only objects of this region (repeatable)
    #[arg(long = "region")]
    pub(crate) regions: Vec<String>,
    /// Validate the sources against their digest files first and record each log file's
    /// verdict in the lake's cloudtrail_sources table (needs --public-keys)
    #[arg(long, requires = "public_keys")]
    pub(crate) verify: bool,
    /// The output of `aws cloudtrail list-public-keys` (repeatable), for --verify
    #[arg(long = "public-keys", value_name = "FILE")]
    pub(crate) public_keys: Vec<PathBuf>,
    /// List s3:// sources in full, even where an earlier run listed them up to a time (by
    /// default only the delivery days since then are listed)
    #[arg(long)]
    pub(crate) full_listing: bool,
    /// S3 requests in flight at once (object reads, listings): reading many small objects is
    /// bound by round trips, objects/s = requests in flight / latency
    #[arg(long, default_value_t = trailsql_ingest::DEFAULT_MAX_REQUESTS)]
    pub(crate) max_requests: usize,
    /// Skip events older than this (e.g. 90d) and remove the lake's partitions older than it
    #[arg(long, value_name = "DURATION")]
    pub(crate) retain: Option<String>,
    /// Do not compact the partitions the run wrote to
    #[arg(long)]
    pub(crate) no_compact: bool,
    #[command(flatten)]
    pub(crate) watch: WatchArgs,
}

/// `ingest --watch` and what runs after each round.
#[derive(Args)]
pub(crate) struct WatchArgs {
    /// Keep running: ingest what is new every --interval, until SIGINT or SIGTERM (which
    /// stop after the round under way); one line per round with something new
    #[arg(long, conflicts_with_all = ["verify", "strict"])]
    pub(crate) watch: bool,
    /// Time between the starts of two rounds: 500ms, 30s, 5m, 1h [default: 60s]
    #[arg(long, requires = "watch", value_parser = trailsql_watch::parse_interval)]
    pub(crate) interval: Option<std::time::Duration>,
    /// Run Sigma rules (`detect --new`) after each round that committed events, and print
    /// the new findings
    #[arg(long, requires = "watch")]
    pub(crate) detect: bool,
    /// Rule files or directories for --detect and --notify (repeatable; implies --detect)
    /// [default: the shipped rules]
    #[arg(
        long = "rules",
        value_name = "PATH",
        requires = "watch",
        value_delimiter = ':'
    )]
    pub(crate) rules: Vec<PathBuf>,
    /// POST each round's findings to this URL (a Slack incoming webhook, or any receiver of
    /// JSON), retried with backoff in the background; implies --detect
    #[arg(long, value_name = "URL", requires = "watch")]
    pub(crate) notify: Option<String>,
    /// Also print a line for rounds that found nothing new
    #[arg(long, short, requires = "watch")]
    pub(crate) verbose: bool,
}

#[derive(Args)]
pub(crate) struct SqlArgs {
    /// SQL to run (repeatable)
    #[arg(short = 'c', long = "command")]
    pub(crate) commands: Vec<String>,
    /// File of SQL statements to run (repeatable; after the -c statements)
    #[arg(short = 'f', long = "file")]
    pub(crate) files: Vec<PathBuf>,
    /// Output format: table, csv, tsv, json, ndjson, markdown, parquet (needs -o)
    #[arg(long, default_value = "table")]
    pub(crate) format: OutputFormat,
    /// Write results to this file instead of standard output
    #[arg(short = 'o', long = "output")]
    pub(crate) output: Option<PathBuf>,
    /// Bind a value to the placeholder $NAME (NAME=VALUE, repeatable)
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub(crate) params: Vec<String>,
}

pub(crate) fn default_lake() -> String {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".local/share")))
        .unwrap_or_else(|| ".".into());
    base.join("trailsql/lake").display().to_string()
}

/// A size in bytes: a number, optionally followed by a unit (`K`/`KiB`, `M`/`MiB`, `G`/`GiB`,
/// `T`/`TiB`, powers of 1024; `B` for bytes).
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
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
