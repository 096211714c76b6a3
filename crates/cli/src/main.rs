//! The `trailsql` binary: arguments -> a config -> one library call.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use trailsql_ingest::{IngestOptions, time::parse_user_time};
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
    #[command(subcommand)]
    command: Option<Command>,
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
    /// The web console: Event history, dashboards and SQL in the browser
    Serve(ServeArgs),
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
    /// Files, directories (read recursively) or globs ("logs/**/*.json.gz")
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
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
    /// No progress bar
    #[arg(long, short)]
    quiet: bool,
    /// Decoded rows held in memory before they are written, in MiB (one more such buffer
    /// is being written meanwhile)
    #[arg(long, default_value_t = 128)]
    buffer_mb: usize,
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
        Err(e)
            if matches!(
                e.downcast_ref::<trailsql_query::Error>(),
                Some(trailsql_query::Error::Usage(_))
            ) =>
        {
            usage(&e.to_string())
        }
        Err(e)
            if matches!(
                e.downcast_ref::<trailsql_serve::Error>(),
                Some(trailsql_serve::Error::Address(_))
            ) =>
        {
            usage(&e.to_string())
        }
        Err(e) => {
            let mut chain = e.chain();
            eprintln!(
                "error: {}",
                chain.next().map(|c| c.to_string()).unwrap_or_default()
            );
            for cause in chain {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}

/// A usage error: message on stderr, exit status 2.
fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.to_string().contains("Broken pipe")
    })
}

#[tokio::main]
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let lake = cli.lake.unwrap_or_else(default_lake);
    match cli.command {
        Some(Command::Ingest(a)) => {
            let now = chrono::Utc::now();
            let mut opts = IngestOptions::new(a.sources, lake);
            opts.since = a.since.map(|s| parse_user_time(&s, now)).transpose()?;
            opts.until = a.until.map(|s| parse_user_time(&s, now)).transpose()?;
            opts.strict = a.strict;
            opts.progress = !a.quiet;
            opts.buffer_bytes = a.buffer_mb.max(1) << 20;
            opts.accounts = a.accounts;
            opts.regions = a.regions;
            opts.full_listing = a.full_listing;
            if a.verify {
                opts.verify = Some(trailsql_ingest::verify::PublicKeys::load(&a.public_keys)?);
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
        Some(Command::Ddl(a)) => {
            let location = a.location.unwrap_or(lake);
            print!("{}", trailsql_query::ddl::ddl(a.engine, &location)?);
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
                format: cli.format,
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
