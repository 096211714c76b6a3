//! Request accounting: every HTTP request an S3 store makes (retries included) is counted by
//! kind, with the bytes sent and received, per store (`s3://bucket`). Counted at the HTTP
//! client, below object_store, so a LIST is one page of a listing and a GET one range read,
//! as S3 bills them and as the server logs them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};

/// The kinds of S3 requests, as they are billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Get,
    Head,
    Put,
    Post,
    Delete,
}

#[derive(Debug, Default)]
struct Counters {
    counts: [AtomicU64; 6],
    get_bytes: AtomicU64,
    put_bytes: AtomicU64,
    errors: AtomicU64,
}

/// The requests one store made.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoreRequests {
    /// `s3://bucket`
    pub store: String,
    pub list: u64,
    pub get: u64,
    pub head: u64,
    /// PUT requests: objects and parts written, copies.
    pub put: u64,
    /// POST requests: multipart uploads started and completed, batch deletes.
    pub post: u64,
    pub delete: u64,
    /// Bytes that GETs downloaded: response bodies, error answers' included, as the server
    /// declared them (`Content-Length`), what S3 bills as data transfer.
    pub get_bytes: u64,
    /// Bytes that PUTs uploaded (request bodies).
    pub put_bytes: u64,
    /// Requests answered with an error status or not answered.
    pub errors: u64,
}

impl StoreRequests {
    pub fn total(&self) -> u64 {
        self.list + self.get + self.head + self.put + self.post + self.delete
    }

    fn minus(&self, before: &StoreRequests) -> StoreRequests {
        StoreRequests {
            store: self.store.clone(),
            list: self.list - before.list,
            get: self.get - before.get,
            head: self.head - before.head,
            put: self.put - before.put,
            post: self.post - before.post,
            delete: self.delete - before.delete,
            get_bytes: self.get_bytes - before.get_bytes,
            put_bytes: self.put_bytes - before.put_bytes,
            errors: self.errors - before.errors,
        }
    }
}

/// The requests of every store of the process, by store.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct RequestStats {
    pub stores: Vec<StoreRequests>,
}

impl RequestStats {
    /// The requests made since `before` was taken (stores that made none are left out).
    pub fn since(&self, before: &RequestStats) -> RequestStats {
        let stores = self
            .stores
            .iter()
            .map(
                |s| match before.stores.iter().find(|b| b.store == s.store) {
                    Some(b) => s.minus(b),
                    None => s.clone(),
                },
            )
            .filter(|s| s.total() > 0)
            .collect();
        RequestStats { stores }
    }

    pub fn is_empty(&self) -> bool {
        self.stores.is_empty()
    }

    /// One line per store: `s3://trail  LIST 12  GET 4,000 (38.1 MiB)  HEAD 0  PUT 0 ...`.
    pub fn write_lines(&self, out: &mut dyn std::fmt::Write, indent: &str) -> std::fmt::Result {
        for s in &self.stores {
            writeln!(
                out,
                "{indent}{}: LIST {}, GET {} ({}), HEAD {}, PUT {} ({}), POST {}, DELETE {}{}",
                s.store,
                s.list,
                s.get,
                bytes(s.get_bytes),
                s.head,
                s.put,
                bytes(s.put_bytes),
                s.post,
                s.delete,
                if s.errors > 0 {
                    format!("; {} answered with an error", s.errors)
                } else {
                    String::new()
                }
            )?;
        }
        Ok(())
    }
}

/// A byte count for people: `1.5 MiB`.
pub fn bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

static REGISTRY: LazyLock<Mutex<BTreeMap<String, Arc<Counters>>>> =
    LazyLock::new(|| Mutex::new(BTreeMap::new()));

/// The requests every S3 store of this process has made so far.
pub fn request_stats() -> RequestStats {
    let registry = REGISTRY.lock().expect("registry lock");
    let stores = registry
        .iter()
        .map(|(store, c)| {
            let n = |k: Kind| c.counts[k as usize].load(Ordering::Relaxed);
            StoreRequests {
                store: store.clone(),
                list: n(Kind::List),
                get: n(Kind::Get),
                head: n(Kind::Head),
                put: n(Kind::Put),
                post: n(Kind::Post),
                delete: n(Kind::Delete),
                get_bytes: c.get_bytes.load(Ordering::Relaxed),
                put_bytes: c.put_bytes.load(Ordering::Relaxed),
                errors: c.errors.load(Ordering::Relaxed),
            }
        })
        .collect();
    RequestStats { stores }
}

/// The HTTP connector of a store: reqwest (object_store's own), counting into `store`'s
/// counters (shared by every store of one bucket).
#[derive(Debug)]
pub struct CountingConnector {
    counters: Arc<Counters>,
}

impl CountingConnector {
    pub fn new(store: &str) -> Self {
        let counters = REGISTRY
            .lock()
            .expect("registry lock")
            .entry(store.to_owned())
            .or_default()
            .clone();
        CountingConnector { counters }
    }
}

impl HttpConnector for CountingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(Counting {
            inner,
            counters: self.counters.clone(),
        }))
    }
}

#[derive(Debug)]
struct Counting {
    inner: HttpClient,
    counters: Arc<Counters>,
}

/// The kind of an S3 request from its method and query: a GET of a bucket with a
/// `list-type` (ListObjectsV2) or `prefix`/`delimiter` (V1) query is a LIST.
fn kind(method: &str, query: Option<&str>) -> Kind {
    match method {
        "GET" => {
            let listing = query.is_some_and(|q| {
                q.split('&').any(|kv| {
                    let k = kv.split('=').next().unwrap_or("");
                    matches!(k, "list-type" | "prefix" | "delimiter" | "uploads")
                })
            });
            if listing { Kind::List } else { Kind::Get }
        }
        "HEAD" => Kind::Head,
        "PUT" => Kind::Put,
        "POST" => Kind::Post,
        "DELETE" => Kind::Delete,
        _ => Kind::Get,
    }
}

#[async_trait::async_trait]
impl HttpService for Counting {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let k = kind(req.method().as_str(), req.uri().query());
        let sent = req.body().content_length() as u64;
        let c = &self.counters;
        c.counts[k as usize].fetch_add(1, Ordering::Relaxed);
        if k == Kind::Put {
            c.put_bytes.fetch_add(sent, Ordering::Relaxed);
        }
        let res = self.inner.execute(req).await;
        if let (Ok(r), Kind::Get) = (&res, k) {
            // An error's body is downloaded too (a Delta reader's probe of a missing
            // `_last_checkpoint` is a 404 with an XML body).
            let len = r
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            c.get_bytes.fetch_add(len, Ordering::Relaxed);
        }
        if !res
            .as_ref()
            .is_ok_and(|r| r.status().is_success() || r.status().as_u16() == 304)
        {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_told_apart_as_s3_bills_them() {
        assert_eq!(
            kind("GET", Some("list-type=2&prefix=AWSLogs%2F")),
            Kind::List
        );
        assert_eq!(kind("GET", Some("delimiter=%2F&prefix=a")), Kind::List);
        assert_eq!(kind("GET", None), Kind::Get);
        assert_eq!(kind("GET", Some("versionId=3")), Kind::Get);
        assert_eq!(kind("HEAD", None), Kind::Head);
        assert_eq!(kind("PUT", Some("partNumber=1&uploadId=x")), Kind::Put);
        assert_eq!(kind("POST", Some("uploads")), Kind::Post);
        assert_eq!(kind("DELETE", None), Kind::Delete);
    }

    #[test]
    fn stats_since_a_snapshot_leave_out_idle_stores() {
        let s = |store: &str, get| StoreRequests {
            store: store.into(),
            get,
            ..Default::default()
        };
        let before = RequestStats {
            stores: vec![s("s3://a", 5), s("s3://b", 2)],
        };
        let after = RequestStats {
            stores: vec![s("s3://a", 5), s("s3://b", 9), s("s3://c", 1)],
        };
        assert_eq!(
            after.since(&before).stores,
            vec![s("s3://b", 7), s("s3://c", 1)]
        );
    }
}
