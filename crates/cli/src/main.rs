//! The `trailsql` binary: arguments -> a config -> one library call.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use trailsql_ingest::{IngestOptions, time::parse_user_time};
use trailsql_query::{OutputFormat, SqlOptions};

#[derive(Parser)]
#[command(name = "trailsql", version, about = "Athena for CloudTrail that runs anywhere", long_about = None)]
struct Cli {
    /// The lake: a directory or s3://bucket/prefix [default: $XDG_DATA_HOME/trailsql/lake,
    /// that is ~/.local/share/trailsql/lake]
    #[arg(long, global = true, env = "TRAILSQL_LAKE")]
    lake: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Load CloudTrail log files (files, directories, globs) into the lake
    Ingest(IngestArgs),
    /// Run SQL statements and print the results
    Sql(SqlArgs),
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
    /// Decoded rows held in memory before they are written, in MiB
    #[arg(long, default_value_t = 256)]
    buffer_mb: usize,
}

#[derive(Args)]
struct SqlArgs {
    /// SQL to run (repeatable)
    #[arg(short = 'c', long = "command")]
    commands: Vec<String>,
    /// Output format: table, csv, tsv, json, ndjson, markdown
    #[arg(long, default_value = "table")]
    format: OutputFormat,
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
            if a.commands.is_empty() {
                anyhow::bail!("nothing to run: give SQL with -c");
            }
            let ctx = trailsql_query::open_session(&lake)
                .await
                .with_context(|| format!("opening the lake {lake}"))?;
            let opts = SqlOptions { format: a.format };
            let mut out = std::io::stdout().lock();
            for sql in &a.commands {
                trailsql_query::run_sql(&ctx, sql, &opts, &mut out).await?;
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            anyhow::bail!("the interactive REPL is not built yet: use `trailsql sql -c SQL`")
        }
    }
}
