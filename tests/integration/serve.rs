//! `trailsql serve`: the console's JSON API over HTTP, against the real binary on loopback:
//! Event history against `trailsql lookup`, events against their input records, the
//! dashboard against SQL, read-only SQL with its caps, the token, and hostile requests.

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

fn query_string(pairs: &[(&str, &str)]) -> String {
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

fn shapes_lake(tmp: &Path) -> std::path::PathBuf {
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

#[test]
fn serve_dashboard_totals_hold_for_windows_that_cut_days() {
    // Whole days of a window are chosen by partition, the part days by time: a window that
    // starts and ends inside a day, and one inside a single day, total what SQL counts.
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    ingest_ok(&lake, &[&samples], &[]);
    let server = start_server(&lake, &[]);
    for (s, u) in [
        ("2024-03-01T06:30:00Z", "2024-03-03T17:15:00Z"),
        ("2024-03-02T01:00:00Z", "2024-03-02T23:00:00Z"),
    ] {
        let window = query_string(&[("since", s), ("until", u)]);
        let d = get(&server, &format!("/api/dashboard?{window}")).json();
        let total: Value = serde_json::from_str(&sql(
            &lake,
            &format!(
                "SELECT count(*) AS n, count(errorcode) AS e FROM cloudtrail \
                 WHERE eventtime >= '{s}' AND eventtime < '{u}'"
            ),
            "json",
        ))
        .unwrap();
        assert_eq!(d["events"], total[0]["n"], "{s} to {u}");
        assert_eq!(d["errors"], total[0]["e"], "{s} to {u}");
        assert!(d["events"].as_i64().unwrap() > 0, "{s} to {u}");
    }
}

#[test]
fn serve_dashboard_remembers_whole_days_until_their_files_change() {
    // A second look at a window merges its whole days from memory and answers the same; a
    // late event ingested into one of its days has that day, and only it, counted again.
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    ingest_ok(&lake, &[&samples], &[]);
    let server = start_server(&lake, &[]);
    let (since, until) = ("2024-03-01T00:00:00Z", "2024-03-04T12:00:00Z");
    let window = query_string(&[("since", since), ("until", until)]);
    let look = || get(&server, &format!("/api/dashboard?{window}")).json();
    let first = look();
    assert_eq!(
        (
            first["days_remembered"].as_u64(),
            first["days_counted"].as_u64()
        ),
        (Some(0), Some(3)),
        "{first:#}"
    );
    let second = look();
    assert_eq!(
        (
            second["days_remembered"].as_u64(),
            second["days_counted"].as_u64()
        ),
        (Some(3), Some(0))
    );
    for k in ["events", "errors", "histogram", "panels"] {
        assert_eq!(first[k], second[k], "{k}");
    }

    let late = tmp.path().join("late");
    std::fs::create_dir_all(&late).unwrap();
    let record = json!({"eventVersion": "1.08", "eventTime": "2024-03-02T10:00:00Z",
        "eventID": "0badc0de-late-event", "awsRegion": "eu-west-1",
        "eventSource": "s3.amazonaws.com", "eventName": "LateCall", "errorCode": "AccessDenied",
        "sourceIPAddress": "203.0.113.99", "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/late"}});
    std::fs::write(
        late.join("late.json"),
        json!({"Records": [record]}).to_string(),
    )
    .unwrap();
    ingest_ok(&lake, &[&late], &[]);
    let third = look();
    assert_eq!(
        (
            third["days_remembered"].as_u64(),
            third["days_counted"].as_u64()
        ),
        (Some(2), Some(1)),
        "{third:#}"
    );
    assert_eq!(
        third["events"].as_i64(),
        first["events"].as_i64().map(|n| n + 1)
    );
    assert_eq!(
        third["errors"].as_i64(),
        first["errors"].as_i64().map(|n| n + 1)
    );
    let total: Value = serde_json::from_str(&sql(
        &lake,
        &format!(
            "SELECT count(*) AS n FROM cloudtrail WHERE eventtime >= '{since}' AND eventtime < '{until}'"
        ),
        "json",
    ))
    .unwrap();
    assert_eq!(third["events"], total[0]["n"]);
    // The error codes panel (a handful of codes in the samples: all in its top ten).
    let denied = |d: &Value| -> i64 {
        let panel = d["panels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == "errors")
            .unwrap();
        panel["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[0] == "AccessDenied")
            .map_or(0, |r| r[1].as_i64().unwrap())
    };
    assert_eq!(denied(&third), denied(&first) + 1);
}

#[test]
fn serve_dashboard_panels_count_what_their_links_select() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    ingest_ok(&lake, &[&samples], &[]);
    let server = start_server(&lake, &[]);
    let (since, until) = ("2024-03-01T00:00:00Z", "2024-03-04T00:00:00Z");
    let window = query_string(&[("since", since), ("until", until)]);
    let d = get(&server, &format!("/api/dashboard?{window}"));
    assert_eq!(d.status, 200, "{}", d.text());
    let d = d.json();
    let sql = |q: &str| -> Value {
        let o = bin()
            .arg("--lake")
            .arg(&lake)
            .args(["sql", "--format", "json", "-c", q])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let total = sql(&format!(
        "SELECT count(*) AS n, count(errorcode) AS e FROM cloudtrail WHERE eventtime >= '{since}' AND eventtime < '{until}'"
    ));
    assert_eq!(d["events"], total[0]["n"]);
    assert_eq!(d["errors"], total[0]["e"]);
    assert!(d["events"].as_i64().unwrap() > 300);
    let histogram: i64 = d["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[1].as_i64().unwrap())
        .sum();
    assert_eq!(json!(histogram), total[0]["n"]);
    let count = |filters: &serde_json::Map<String, Value>| -> Value {
        let mut pairs = vec![
            ("since".to_owned(), since.to_owned()),
            ("until".to_owned(), until.to_owned()),
        ];
        pairs.extend(
            filters
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())),
        );
        let p: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        get(&server, &format!("/api/events/count?{}", query_string(&p))).json()["events"].clone()
    };
    let mut checked = 0;
    for panel in d["panels"].as_array().unwrap() {
        let columns: Vec<&str> = panel["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        let linked: Vec<&str> = panel["linked"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let rows = panel["rows"].as_array().unwrap();
        let n = columns.len() - 1;
        if linked.len() == n {
            // Every row links to exactly the events it counts.
            for row in rows {
                let mut f = panel["fixed"].as_object().unwrap().clone();
                for (i, c) in columns[..n].iter().enumerate() {
                    f.insert((*c).to_owned(), row[i].clone());
                }
                assert_eq!(count(&f), row[n], "panel {} row {row}", panel["id"]);
                checked += 1;
            }
        } else {
            // Sign-ins: the rows split what the panel's link selects.
            let sum: i64 = rows.iter().map(|r| r[n].as_i64().unwrap()).sum();
            assert_eq!(
                count(panel["fixed"].as_object().unwrap()),
                json!(sum),
                "panel {}",
                panel["id"]
            );
        }
    }
    assert!(checked > 30, "{checked} rows checked");
    // Findings of the shipped Sigma rules agree with `trailsql detect` over the same window.
    let f = get(&server, &format!("/api/findings?{window}")).json();
    assert_eq!(f["source"], "rules");
    let root_rule = "c1f5881f-08ac-5930-ba70-5bda272c6dc9"; // crates/detect/rules/cis-root-account-usage.yml
    let root = f["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == root_rule)
        .unwrap();
    let o = bin()
        .arg("--lake")
        .arg(&lake)
        .args([
            "detect", "--since", since, "--until", until, "--format", "json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let expected = rows.iter().filter(|r| r["rule_id"] == root_rule).count();
    assert!(expected > 0, "the samples have root activity");
    assert_eq!(root["count"], json!(expected));
}

#[test]
fn serve_sql_is_read_only_capped_and_answers_errors_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = shapes_lake(tmp.path());
    let server = start_server(&lake, &["--max-rows", "5", "--timeout-secs", "2"]);
    let q = "SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY n DESC, 1 LIMIT 3";
    let r = post_json(&server, "/api/sql", &json!({ "sql": q }));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = r.json();
    let o = bin()
        .arg("--lake")
        .arg(&lake)
        .args(["sql", "--format", "json", "-c", q])
        .output()
        .unwrap();
    let cli: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let got: Vec<Value> = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| json!({"eventname": row[0], "n": row[1]}))
        .collect();
    assert_eq!(got, cli);
    assert_eq!(r["truncated"], false);
    // Placeholders are bound as in `trailsql sql --param`, with the dialect's rewrites.
    let r = post_json(
        &server,
        "/api/sql",
        &json!({
            "sql": "SELECT count(*) AS n FROM cloudtrail_logs WHERE eventTime >= $since AND useridentity.username = $u",
            "params": {"since": "2024-01-01T00:00:00Z", "u": "alice"},
        }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["rows"][0][0].as_i64().unwrap() > 0);
    // The row cap.
    let r = post_json(
        &server,
        "/api/sql",
        &json!({ "sql": "SELECT eventid FROM cloudtrail" }),
    )
    .json();
    assert_eq!(r["rows"].as_array().unwrap().len(), 5);
    assert_eq!(r["truncated"], true);
    // Write statements are refused by kind, before anything runs.
    let outside = tmp.path().join("written.csv");
    for (sql, kind) in [
        (
            "CREATE EXTERNAL TABLE pw STORED AS CSV LOCATION '/etc/passwd'".to_owned(),
            "CREATE EXTERNAL TABLE",
        ),
        (
            format!("COPY (SELECT 1) TO '{}'", outside.display()),
            "COPY",
        ),
        ("DROP TABLE cloudtrail".to_owned(), "DROP TABLE"),
        ("CREATE TABLE t AS SELECT 1".to_owned(), "CREATE TABLE"),
        (
            "INSERT INTO cloudtrail_sources SELECT * FROM cloudtrail_sources".to_owned(),
            "INSERT INTO",
        ),
        (
            "SET datafusion.execution.parquet.pushdown_filters = true".to_owned(),
            "SET",
        ),
        ("SELECT 1; DROP VIEW v".to_owned(), "DROP VIEW"),
    ] {
        let r = post_json(&server, "/api/sql", &json!({ "sql": sql }));
        assert_eq!(r.status, 403, "{sql}: {}", r.text());
        let msg = r.json()["error"].as_str().unwrap().to_owned();
        assert!(
            msg.contains(kind) && msg.contains("read-only"),
            "{sql}: {msg}"
        );
    }
    assert!(!outside.exists());
    // Files outside the lake are not tables.
    let r = post_json(
        &server,
        "/api/sql",
        &json!({ "sql": "SELECT * FROM '/etc/passwd'" }),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    // Bad SQL: DataFusion's message, one line, as JSON.
    let r = post_json(&server, "/api/sql", &json!({ "sql": "SELEC 1" }));
    assert_eq!(r.status, 400);
    let msg = r.json()["error"].as_str().unwrap().to_owned();
    assert!(msg.contains("SELEC"), "{msg}");
    let r = post_json(
        &server,
        "/api/sql",
        &json!({ "sql": "SELECT nosuchcolumn FROM cloudtrail" }),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("nosuchcolumn"));
    // The time cap stops a query that runs too long.
    let slow = "SELECT count(*) FROM range(1, 100000000000)";
    let started = std::time::Instant::now();
    let r = post_json(&server, "/api/sql", &json!({ "sql": slow }));
    assert_eq!(r.status, 408, "{}", r.text());
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("time cap of 2 s")
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    // Cancel: a running query stops when the page asks.
    std::thread::scope(|s| {
        let running =
            s.spawn(|| post_json(&server, "/api/sql", &json!({ "sql": slow, "id": "q1" })));
        let mut cancelled = false;
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(20));
            if post_json(&server, "/api/cancel", &json!({ "id": "q1" })).json()["cancelled"] == true
            {
                cancelled = true;
                break;
            }
        }
        assert!(cancelled, "the query was found running");
        let r = running.join().unwrap();
        assert_eq!(r.status, 409, "{}", r.text());
        assert_eq!(r.json()["error"], "cancelled");
    });
    assert_eq!(
        post_json(&server, "/api/cancel", &json!({ "id": "q1" })).json()["cancelled"],
        false
    );
    // Exports, written by the CLI's output formats.
    let q = "SELECT eventid, eventname FROM cloudtrail ORDER BY eventid LIMIT 3";
    let csv = post_json(
        &server,
        "/api/export",
        &json!({ "sql": q, "format": "csv" }),
    );
    assert_eq!(csv.status, 200);
    assert!(
        csv.header("content-disposition")
            .unwrap()
            .contains("trailsql-result.csv")
    );
    let o = bin()
        .arg("--lake")
        .arg(&lake)
        .args(["sql", "--format", "csv", "-c", q])
        .output()
        .unwrap();
    assert_eq!(csv.text(), String::from_utf8_lossy(&o.stdout));
    let pq = post_json(
        &server,
        "/api/export",
        &json!({ "sql": q, "format": "parquet" }),
    );
    assert_eq!(pq.status, 200);
    let batches: Vec<_> = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(
        bytes::Bytes::from(pq.body.clone()),
        1024,
    )
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    let bad = post_json(
        &server,
        "/api/export",
        &json!({ "sql": q, "format": "xml" }),
    );
    assert_eq!(bad.status, 400);
    let refused = post_json(
        &server,
        "/api/export",
        &json!({ "sql": "DROP TABLE cloudtrail", "format": "csv" }),
    );
    assert_eq!(refused.status, 403);
    // Reports, with their SQL and parameters.
    let reports = get(&server, "/api/reports").json();
    let principal = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "principal-activity")
        .unwrap();
    assert_eq!(principal["params"][0]["name"], "principal");
    assert!(principal["sql"].as_str().unwrap().contains("$principal"));
}

#[test]
fn serve_answers_hostile_requests_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = shapes_lake(tmp.path());
    let server = start_server(&lake, &[]);
    // The page and its assets.
    let page = get(&server, "/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("/assets/app.js"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'")
    );
    assert_eq!(get(&server, "/assets/app.js").status, 200);
    // Path traversal, raw and encoded, finds nothing.
    for path in [
        "/assets/../../../../etc/passwd",
        "/assets/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/../../../../etc/passwd",
        "/assets/app.js%00.png",
    ] {
        let r = get(&server, path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(!r.text().contains("root:"), "{path}");
        assert!(r.json()["error"].is_string(), "{path}");
    }
    // Bodies: not JSON, the wrong JSON, the wrong type, too large.
    let r = request(
        &server,
        "POST",
        "/api/sql",
        &[("Content-Type", "application/json")],
        b"{not json",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("bad request body")
    );
    let r = post_json(&server, "/api/sql", &json!({ "query": "SELECT 1" }));
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("sql"));
    let r = request(
        &server,
        "POST",
        "/api/sql",
        &[("Content-Type", "text/plain")],
        b"SELECT 1",
    );
    assert_eq!(r.status, 415, "{}", r.text());
    let big = format!("{{\"sql\": \"SELECT '{}'\"}}", "x".repeat(3 << 20));
    let r = request(
        &server,
        "POST",
        "/api/sql",
        &[("Content-Type", "application/json")],
        big.as_bytes(),
    );
    assert_eq!(r.status, 413, "{}", r.text());
    // Unknown routes and methods.
    assert_eq!(get(&server, "/api/nothing").status, 404);
    let r = get(&server, "/api/sql");
    assert_eq!(r.status, 405);
    assert!(r.json()["error"].is_string());
    // Garbage instead of HTTP, then the server still answers.
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.write_all(b"\x16\x03\x01\x02\x00garbage\r\n\r\n").unwrap();
    drop(s);
    // A name that is not loopback's (DNS rebinding) and a cross-site POST are refused.
    let r = raw(
        &server.addr,
        "GET /api/info HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n",
        b"",
    );
    assert_eq!(r.status, 403);
    let r = request(
        &server,
        "POST",
        "/api/sql",
        &[
            ("Content-Type", "application/json"),
            ("Origin", "http://attacker.example"),
        ],
        br#"{"sql":"SELECT 1"}"#,
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let origin = format!("http://{}", server.addr);
    let r = request(
        &server,
        "POST",
        "/api/sql",
        &[("Content-Type", "application/json"), ("Origin", &origin)],
        br#"{"sql":"SELECT 1"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let info = get(&server, "/api/info");
    assert_eq!(info.status, 200);
    assert!(info.json()["events"].as_i64().unwrap() > 5);
}

#[test]
fn serve_checks_the_token_on_every_request() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let server = start_server(&lake, &["--token", "s3cret-token"]);
    assert!(
        server.url.ends_with("/?token=s3cret-token"),
        "{}",
        server.url
    );
    for path in ["/", "/assets/app.js", "/api/info", "/api/events"] {
        let r = get(&server, path);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.text().contains("token"), "{path}");
        let r = get(
            &server,
            &format!(
                "{path}{}token=wrong",
                if path.contains('?') { "&" } else { "?" }
            ),
        );
        assert_eq!(r.status, 403, "{path}");
    }
    let r = post_json(&server, "/api/sql", &json!({"sql": "SELECT 1"}));
    assert_eq!(r.status, 401);
    let r = request(
        &server,
        "POST",
        "/api/sql",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "token wrong"),
        ],
        br#"{"sql":"SELECT 1"}"#,
    );
    assert_eq!(r.status, 403);
    // The URL's token opens the page and leaves a cookie that carries it after.
    let r = get(&server, "/?token=s3cret-token");
    assert_eq!(r.status, 200);
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(r.header("set-cookie").unwrap().contains("HttpOnly"));
    let r = request(&server, "GET", "/api/info", &[("Cookie", &cookie)], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(
        &server,
        "POST",
        "/api/sql",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "token s3cret-token"),
        ],
        br#"{"sql":"SELECT 1 AS one"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["rows"], json!([[1]]));
}

#[test]
fn serve_refuses_a_bad_listen_address() {
    let o = bin()
        .args([
            "--lake",
            "/tmp/unused-lake",
            "serve",
            "--listen",
            "not-an-address",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not-an-address"));
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
