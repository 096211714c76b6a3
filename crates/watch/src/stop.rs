//! The stop request: SIGINT or SIGTERM asks the watcher to stop at the next boundary between
//! rounds (a round under way finishes its commits first, so no batch is left half written).
//! A second signal stops the process at once: the lake keeps its last commit, and the next
//! run removes the uncommitted files and reads those objects again.

use tokio::sync::watch;

use crate::{Error, Result};

/// Exit status after a second signal (128 + SIGINT, as shells report an interrupted command).
const FORCED_EXIT: i32 = 130;

/// Signals received so far, as seen by the watcher.
#[derive(Debug, Clone)]
pub struct Stop {
    signals: watch::Receiver<u32>,
}

impl Stop {
    /// Listen for SIGINT and SIGTERM from now on (they no longer end the process at once).
    pub fn install() -> Result<Stop> {
        let (tx, rx) = watch::channel(0u32);
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(Error::Signal)?;
        tokio::spawn(async move {
            loop {
                #[cfg(unix)]
                let name = tokio::select! {
                    r = tokio::signal::ctrl_c() => { if r.is_err() { return; } "SIGINT" }
                    r = term.recv() => { if r.is_none() { return; } "SIGTERM" }
                };
                #[cfg(not(unix))]
                let name = match tokio::signal::ctrl_c().await {
                    Ok(()) => "interrupt",
                    Err(_) => return,
                };
                let n = *tx.borrow() + 1;
                if n >= 2 {
                    eprintln!(
                        "{name} again: stopping now; the lake keeps its last commit and the next run reads the rest"
                    );
                    std::process::exit(FORCED_EXIT);
                }
                eprintln!(
                    "{name}: stopping after the current round (send it again to stop at once)"
                );
                let _ = tx.send(n);
            }
        });
        Ok(Stop { signals: rx })
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        *self.signals.borrow() > 0
    }

    /// Wait until a stop is asked for.
    pub async fn wait(&mut self) {
        if self.signals.wait_for(|n| *n > 0).await.is_err() {
            // The listener is gone (no signal can come): never return.
            std::future::pending::<()>().await;
        }
    }
}
