//! `trailsql serve` safe by default: read-only SQL with its caps and errors as JSON, hostile
//! requests answered cleanly, the token checked on every request, a bad address refused.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;
use crate::serve::*;

#[test]
fn serve_sql_is_read_only_capped_and_answers_errors_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = shapes_lake(tmp.path());
    let server = start_server(&lake, &["--max-rows", "5", "--timeout-secs", "2"]);
    answers_as_the_cli_within_the_row_cap(&server, &lake);
    refuses_writes_and_files_outside_the_lake(&server, tmp.path());
    errors_time_cap_and_cancel(&server);
    exports_and_reports(&server, &lake);
}

/// Results as `trailsql sql` gives them, placeholders bound, at most `--max-rows` rows.
fn answers_as_the_cli_within_the_row_cap(server: &Server, lake: &std::path::Path) {
    let q = "SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY n DESC, 1 LIMIT 3";
    let r = post_json(server, "/api/sql", &json!({ "sql": q }));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = r.json();
    let cli: Vec<Value> = serde_json::from_str(&sql(lake, q, "json")).unwrap();
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
        server,
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
        server,
        "/api/sql",
        &json!({ "sql": "SELECT eventid FROM cloudtrail" }),
    )
    .json();
    assert_eq!(r["rows"].as_array().unwrap().len(), 5);
    assert_eq!(r["truncated"], true);
}

/// Write statements refused by kind, before anything runs; no file outside the lake read.
fn refuses_writes_and_files_outside_the_lake(server: &Server, tmp: &std::path::Path) {
    let outside = tmp.join("written.csv");
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
        let r = post_json(server, "/api/sql", &json!({ "sql": sql }));
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
        server,
        "/api/sql",
        &json!({ "sql": "SELECT * FROM '/etc/passwd'" }),
    );
    assert_eq!(r.status, 400, "{}", r.text());
}

/// Bad SQL, a query past the time cap and a cancelled one: answered as JSON errors.
fn errors_time_cap_and_cancel(server: &Server) {
    // Bad SQL: DataFusion's message, one line, as JSON.
    let r = post_json(server, "/api/sql", &json!({ "sql": "SELEC 1" }));
    assert_eq!(r.status, 400);
    let msg = r.json()["error"].as_str().unwrap().to_owned();
    assert!(msg.contains("SELEC"), "{msg}");
    let r = post_json(
        server,
        "/api/sql",
        &json!({ "sql": "SELECT nosuchcolumn FROM cloudtrail" }),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("nosuchcolumn"));
    // The time cap stops a query that runs too long.
    let slow = "SELECT count(*) FROM range(1, 100000000000)";
    let started = std::time::Instant::now();
    let r = post_json(server, "/api/sql", &json!({ "sql": slow }));
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
            s.spawn(|| post_json(server, "/api/sql", &json!({ "sql": slow, "id": "q1" })));
        let mut cancelled = false;
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(20));
            if post_json(server, "/api/cancel", &json!({ "id": "q1" })).json()["cancelled"] == true
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
        post_json(server, "/api/cancel", &json!({ "id": "q1" })).json()["cancelled"],
        false
    );
}

/// Exports in the CLI's output formats (refused for write statements), and the reports.
fn exports_and_reports(server: &Server, lake: &std::path::Path) {
    // Exports, written by the CLI's output formats.
    let q = "SELECT eventid, eventname FROM cloudtrail ORDER BY eventid LIMIT 3";
    let csv = post_json(server, "/api/export", &json!({ "sql": q, "format": "csv" }));
    assert_eq!(csv.status, 200);
    assert!(
        csv.header("content-disposition")
            .unwrap()
            .contains("trailsql-result.csv")
    );
    let o = bin()
        .arg("--lake")
        .arg(lake)
        .args(["sql", "--format", "csv", "-c", q])
        .output()
        .unwrap();
    assert_eq!(csv.text(), String::from_utf8_lossy(&o.stdout));
    let pq = post_json(
        server,
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
    let bad = post_json(server, "/api/export", &json!({ "sql": q, "format": "xml" }));
    assert_eq!(bad.status, 400);
    let refused = post_json(
        server,
        "/api/export",
        &json!({ "sql": "DROP TABLE cloudtrail", "format": "csv" }),
    );
    assert_eq!(refused.status, 403);
    // Reports, with their SQL and parameters.
    let reports = get(server, "/api/reports").json();
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
