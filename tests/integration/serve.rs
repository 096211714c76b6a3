//! `trailsql serve`: a client of the console's JSON API over HTTP, against the real binary
//! on loopback (used by serve_dashboard.rs and serve_safety.rs too); Event history against
//! `trailsql lookup`, events against their input records, and the page in a real browser.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// A running `trailsql serve` (killed when dropped).
pub struct Server {
    child: Child,
    pub addr: String,
    /// The URL it printed (with `?token=` when it has one).
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the console on a free loopback port; `extra` goes after `serve`.
pub fn start_server(lake: &Path, extra: &[&str]) -> Server {
    let mut child = bin()
        .arg("--lake")
        .arg(lake)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("serve printed its URL").unwrap();
        if let Some(u) = line.trim().strip_prefix("http://") {
            break format!("http://{u}");
        }
    };
    // Keep reading its output so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    Server { child, addr, url }
}

/// An HTTP/1.1 response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} is JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request written byte for byte (so hostile ones reach the server as sent), read to the
/// end of the connection.
pub fn raw(addr: &str, head: &str, body: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before it has read a body it refuses.
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf)
}

fn parse_response(buf: &[u8]) -> Response {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("a response: {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..nl]).trim(), 16).unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + size]);
            rest = &rest[nl + 2 + size + 2..];
        }
        body = out;
    }
    Response {
        status,
        headers,
        body,
    }
}

pub fn request(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        server.addr,
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    raw(&server.addr, &head, body)
}

pub fn get(server: &Server, path: &str) -> Response {
    request(server, "GET", path, &[], b"")
}

pub fn post_json(server: &Server, path: &str, body: &Value) -> Response {
    request(
        server,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

pub fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encoding of a query value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const SINCE: &str = "2024-01-01T00:00:00Z";
const UNTIL: &str = "2025-01-01T00:00:00Z";

pub fn shapes_lake(tmp: &Path) -> std::path::PathBuf {
    let src = tmp.join("src");
    crate::shapes::shapes_dir(&src);
    let lake = tmp.join("lake");
    ingest_ok(&lake, &[&src], &[]);
    lake
}

/// `trailsql lookup` with these filters (flag names with dashes): event IDs in its order.
fn lookup_ids(lake: &Path, filters: &[(&str, &str)]) -> Vec<String> {
    let mut cmd = bin();
    cmd.arg("--lake").arg(lake).args([
        "lookup", "--since", SINCE, "--until", UNTIL, "--limit", "100000", "--format", "json",
    ]);
    for (k, v) in filters {
        cmd.arg(format!("--{}", k.replace('_', "-"))).arg(v);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // lookup prints no event ID: match its rows to events by time, name and source IP.
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    rows.iter()
        .map(|r| format!("{} {} {}", r["event_time"], r["event_name"], r["source_ip"]))
        .collect()
}

/// Every page of the console's Event history for these filters, `limit` rows a page.
fn console_pages(
    server: &Server,
    filters: &[(&str, &str)],
    order: &str,
    limit: usize,
) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut next: Option<Value> = None;
    loop {
        let mut pairs: Vec<(&str, String)> = vec![
            ("since", SINCE.into()),
            ("until", UNTIL.into()),
            ("order", order.into()),
            ("limit", limit.to_string()),
        ];
        pairs.extend(filters.iter().map(|(k, v)| (*k, v.to_string())));
        if let Some(n) = &next {
            pairs.push(("after_time", n["after_time"].as_str().unwrap().to_owned()));
            pairs.push(("after_id", n["after_id"].as_str().unwrap().to_owned()));
        }
        let p: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = get(server, &format!("/api/events?{}", query_string(&p)));
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        let names: Vec<String> = page["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        for row in page["rows"].as_array().unwrap() {
            let obj: serde_json::Map<String, Value> = names
                .iter()
                .cloned()
                .zip(row.as_array().unwrap().iter().cloned())
                .collect();
            rows.push(Value::Object(obj));
        }
        assert!(page["rows"].as_array().unwrap().len() <= limit);
        next = page["next"].as_object().map(|o| Value::Object(o.clone()));
        if next.is_none() {
            return rows;
        }
    }
}

fn key(r: &Value) -> String {
    format!("{} {} {}", r["event_time"], r["event_name"], r["source_ip"])
}

#[test]
fn serve_event_history_pages_match_lookup() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = shapes_lake(tmp.path());
    let server = start_server(&lake, &[]);
    let cases: &[&[(&str, &str)]] = &[
        &[],
        &[("username", "alice")],
        &[("username", "alice"), ("event_name", "CreateAccessKey")],
        &[
            ("event_source", "iam.amazonaws.com"),
            ("read_only", "false"),
        ],
        &[("resource_type", "AWS::KMS::Key")],
        &[("resource_name", "example-artifacts")],
        &[("access_key_id", "AKIAEXAMPLEKEY1")],
        &[("event_id", "e0000009-0000-4000-8000-000000000009")],
        &[("region", "us-east-1")],
        &[("region", "us-east-1"), ("read_only", "true")],
    ];
    for filters in cases {
        let expected = lookup_ids(&lake, filters);
        assert!(
            !expected.is_empty() || filters.is_empty(),
            "{filters:?} selects events"
        );
        // Pages of 2 rows, keyset after keyset, give exactly lookup's rows in its order.
        let rows = console_pages(&server, filters, "desc", 2);
        let got: Vec<String> = rows.iter().map(key).collect();
        assert_eq!(got, expected, "{filters:?}");
        // Oldest first is the exact reverse.
        let mut asc: Vec<String> = console_pages(&server, filters, "asc", 3)
            .iter()
            .map(key)
            .collect();
        asc.reverse();
        assert_eq!(asc, expected, "{filters:?} ascending");
        // The count agrees.
        let mut pairs = vec![("since", SINCE), ("until", UNTIL)];
        pairs.extend_from_slice(filters);
        let c = get(
            &server,
            &format!("/api/events/count?{}", query_string(&pairs)),
        );
        assert_eq!(c.json()["events"], json!(expected.len()), "{filters:?}");
    }
    // Every row's region filter matches the region column.
    for r in console_pages(&server, &[("region", "us-east-1")], "desc", 50) {
        assert_eq!(r["region"], "us-east-1");
    }
    let bad = get(&server, "/api/events?since=yesterday");
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]
            .as_str()
            .unwrap()
            .contains("since=\"yesterday\"")
    );
    let bad = get(&server, "/api/events?limit=lots");
    assert_eq!(bad.status, 400, "{}", bad.text());
    let bad = get(&server, "/api/events?after_time=2024-01-01T00:00:00Z");
    assert_eq!(bad.status, 400, "{}", bad.text());
}

#[test]
fn serve_event_detail_is_the_input_record() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = shapes_lake(tmp.path());
    let server = start_server(&lake, &[]);
    let rows = console_pages(&server, &[], "desc", 1000);
    assert!(rows.len() > 5);
    for r in &rows {
        let id = r["event_id"].as_str().unwrap();
        let time = r["event_time"].as_str().unwrap();
        let resp = get(
            &server,
            &format!("/api/event/{}?time={}", encode(id), encode(time)),
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        let e = resp.json();
        let source = e["source_object"].as_str().unwrap();
        let index = e["source_index"].as_i64().unwrap();
        assert_eq!(e["record"], input_record(source, index), "event {id}");
        assert_eq!(e["record"]["eventID"], json!(id));
        // No verification ran: no verdict is shown.
        assert!(e["verdict"].is_null());
    }
    let missing = get(&server, "/api/event/no-such-event");
    assert_eq!(missing.status, 404);
    assert!(
        missing.json()["error"]
            .as_str()
            .unwrap()
            .contains("no-such-event")
    );
}

/// The console in headless Chromium (tests/browser/console.py, Playwright for Python; see
/// that file for what it checks). Its screenshots are kept in the target directory.
#[test]
fn serve_console_in_a_real_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    ingest_ok(&lake, &[&root.join("samples")], &[]);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let o = std::process::Command::new("python3")
        .arg(root.join("tests/browser/console.py"))
        .arg("--trailsql")
        .arg(env!("CARGO_BIN_EXE_trailsql"))
        .arg("--lake")
        .arg(&lake)
        .arg("--shots")
        .arg(&shots)
        .output()
        .expect("python3 runs (tests/run.sh installs playwright and chromium)");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "browser test failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains(" passed, 0 failed"), "{out}");
    for shot in ["history.png", "detail.png", "dashboard.png", "sql.png"] {
        assert!(
            shots.join(shot).is_file(),
            "{shot} saved in {}",
            shots.display()
        );
    }
}
