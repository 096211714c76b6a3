//! The server: one query session over the lake shared by every request, the routes, and
//! the listening socket (loopback unless told otherwise, with a token off loopback).

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use datafusion::prelude::SessionContext;
use serde_json::{Value, json};

use crate::day_counts::DayCounts;
use crate::rows::to_rows;
use crate::{ApiError, Error, Result, assets, auth, dashboard, findings, history, sql};

/// The largest request body: SQL text, not data.
const MAX_BODY: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub lake: String,
    /// `HOST:PORT`, `[V6]:PORT` or a port alone (on 127.0.0.1).
    pub listen: String,
    /// Required on every request; made up when listening off loopback without one.
    pub token: Option<String>,
    /// Open the console in the desktop's browser.
    pub open: bool,
    /// Rows kept of one SQL result.
    pub max_rows: usize,
    /// Time one SQL request may take.
    pub timeout: Duration,
}

impl ServeOptions {
    pub fn new(lake: String) -> Self {
        ServeOptions {
            lake,
            listen: "127.0.0.1:8642".into(),
            token: None,
            open: false,
            max_rows: 10_000,
            timeout: Duration::from_secs(60),
        }
    }
}

/// SQL requests running now, by the id the page gave them, to cancel.
#[derive(Debug, Default)]
pub struct Running(Mutex<HashMap<String, tokio::sync::oneshot::Sender<()>>>);

/// Removes its request from [`Running`] when the request ends, however it ends.
#[derive(Debug)]
pub struct Registration<'a> {
    running: &'a Running,
    id: String,
}

impl Running {
    pub fn register(&self, id: &str, cancel: tokio::sync::oneshot::Sender<()>) -> Registration<'_> {
        self.0
            .lock()
            .expect("not poisoned")
            .insert(id.to_owned(), cancel);
        Registration {
            running: self,
            id: id.to_owned(),
        }
    }

    /// Stop the request with this id; false when none runs.
    pub fn cancel(&self, id: &str) -> bool {
        let tx = self.0.lock().expect("not poisoned").remove(id);
        tx.is_some_and(|tx| tx.send(()).is_ok())
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.running
            .0
            .lock()
            .expect("not poisoned")
            .remove(&self.id);
    }
}

pub struct AppState {
    pub ctx: SessionContext,
    pub lake: String,
    pub token: Option<String>,
    /// Listening on loopback: requests must name a loopback host.
    pub loopback: bool,
    /// The console's address, for messages.
    pub url: String,
    pub max_rows: usize,
    pub timeout: Duration,
    pub running: Running,
    /// The dashboard's counts of whole days.
    pub day_counts: DayCounts,
}

fn parse_listen(s: &str) -> Result<SocketAddr> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Some(port) = s.strip_prefix("localhost:") {
        let port = port.parse().map_err(|_| Error::Address(s.to_owned()))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    s.parse().map_err(|_| Error::Address(s.to_owned()))
}

/// The routes, over a state.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .route("/api/info", get(info))
        .route("/api/events", get(history::page))
        .route("/api/events/count", get(history::count))
        .route("/api/event/{id}", get(history::event))
        .route("/api/dashboard", get(dashboard::dashboard))
        .route("/api/findings", get(findings::findings))
        .route("/api/reports", get(sql::reports))
        .route("/api/sql", post(sql::run))
        .route("/api/cancel", post(sql::cancel))
        .route("/api/export", post(sql::export))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such page: {}", uri.path()),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not served at {}", uri.path()),
    )
}

/// `GET /api/info`: the lake, and the time span and number of its events.
async fn info(State(state): State<Arc<AppState>>) -> std::result::Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let sql = "SELECT min(eventtime) AS first, max(eventtime) AS last, count(*) AS events FROM cloudtrail";
    let (schema, batches) = trailsql_query::query_with(&state.ctx, sql, &[]).await?;
    let rows = to_rows(&schema, &batches)?;
    let row = rows.rows.first().cloned().unwrap_or_default();
    Ok(Json(json!({
        "lake": state.lake,
        "version": env!("CARGO_PKG_VERSION"),
        "first": row.first(),
        "last": row.get(1),
        "events": row.get(2),
        "max_rows": state.max_rows,
        "timeout_secs": state.timeout.as_secs(),
        "detections": state.ctx.table_exist("detections").unwrap_or(false),
        "elapsed_ms": started.elapsed().as_secs_f64() * 1e3,
    })))
}

/// `trailsql serve`: listen, print the console's URL to `out`, serve until Ctrl-C.
pub async fn serve(opts: &ServeOptions, out: &mut dyn Write) -> Result<()> {
    let addr = parse_listen(&opts.listen)?;
    let loopback = addr.ip().is_loopback();
    let token = match &opts.token {
        Some(t) => Some(t.clone()),
        None if !loopback => Some(auth::new_token()),
        None => None,
    };
    let ctx = trailsql_query::open_session(&opts.lake).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen {
            addr: addr.to_string(),
            source,
        })?;
    let bound = listener.local_addr().map_err(Error::Serve)?;
    let url = format!("http://{bound}/");
    let state = Arc::new(AppState {
        ctx,
        lake: opts.lake.clone(),
        token: token.clone(),
        loopback,
        url: url.clone(),
        max_rows: opts.max_rows,
        timeout: opts.timeout,
        running: Running::default(),
        day_counts: DayCounts::default(),
    });
    let open_url = match &token {
        Some(t) => format!("{url}?token={t}"),
        None => url.clone(),
    };
    let _ = writeln!(out, "trailsql console over {} at", opts.lake);
    let _ = writeln!(out, "    {open_url}");
    if !loopback {
        let _ = writeln!(
            out,
            "listening on {bound}, beyond this machine: every request needs the token in that URL"
        );
    }
    let _ = writeln!(out, "Ctrl-C stops it.");
    let _ = out.flush();
    if opts.open {
        open_browser(&open_url, out);
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(Error::Serve)
}

/// Best effort: the desktop's opener, or a line saying to open the URL by hand.
fn open_browser(url: &str, out: &mut dyn Write) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if spawned.is_err() {
        let _ = writeln!(
            out,
            "(could not run {opener}: open the URL above in a browser)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("8642").unwrap().to_string(), "127.0.0.1:8642");
        assert_eq!(
            parse_listen("localhost:80").unwrap().to_string(),
            "127.0.0.1:80"
        );
        assert_eq!(
            parse_listen("[::1]:8642").unwrap().to_string(),
            "[::1]:8642"
        );
        assert_eq!(parse_listen("0.0.0.0:1").unwrap().to_string(), "0.0.0.0:1");
        assert!(parse_listen("somewhere").is_err());
    }
}
