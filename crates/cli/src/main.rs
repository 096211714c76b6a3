//! The `trailsql` binary: arguments ([`args`]) -> a config -> one library call
//! ([`commands`]); errors become one line per cause and an exit status.

mod args;
mod commands;
mod settings;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command, default_lake};
use settings::{print_requests, s3_settings};

// Ingest allocates on many threads (decoding, encoding, object reads); glibc's per-thread
// arenas held twice the live heap as resident memory at 4M events, jemalloc returns it.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    ) || matches!(
        e.downcast_ref::<trailsql_lake::Error>(),
        Some(trailsql_lake::Error::InvalidDuration(..))
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
pub(crate) fn usage(msg: &str) -> ExitCode {
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
            .or_else(|| {
                c.downcast_ref::<trailsql_detect::Error>()
                    .and_then(|d| d.io_error())
            })
            .or_else(|| match c.downcast_ref::<trailsql_watch::Error>() {
                Some(trailsql_watch::Error::Io(e)) => Some(e),
                _ => None,
            });
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
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
    let result = commands::dispatch(cli.command, lake, cli.format).await;
    if stats {
        print_requests(&before);
    }
    result
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
        let detect = trailsql_detect::Error::Query(trailsql_query::Error::Io(
            std::io::ErrorKind::BrokenPipe.into(),
        ));
        assert!(is_broken_pipe(&detect.into()));
        assert!(is_broken_pipe(
            &trailsql_detect::Error::Io(std::io::ErrorKind::BrokenPipe.into()).into()
        ));
        assert!(!is_broken_pipe(&anyhow::anyhow!("Broken pipe")));
    }
}
