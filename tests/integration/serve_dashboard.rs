//! `trailsql serve`'s dashboard against SQL: its totals for windows that cut days, the whole
//! days it remembers until their files change, and panels whose rows count what their links
//! to Event history select.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::*;
use crate::serve::*;

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
        panel(d, "errors")["rows"]
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
    let window = ("2024-03-01T00:00:00Z", "2024-03-04T00:00:00Z");
    let d = get(&server, &format!("/api/dashboard?{}", window_query(window)));
    assert_eq!(d.status, 200, "{}", d.text());
    let d = d.json();
    totals_agree_with_sql(&lake, &d, window);
    panel_rows_count_what_they_link_to(&server, &d, window);
    findings_agree_with_detect(&server, &lake, window);
}

fn window_query((since, until): (&str, &str)) -> String {
    query_string(&[("since", since), ("until", until)])
}

/// The dashboard's events, errors and histogram are SQL's counts of the window.
fn totals_agree_with_sql(lake: &Path, d: &Value, (since, until): (&str, &str)) {
    let total: Value = serde_json::from_str(&sql(
        lake,
        &format!(
            "SELECT count(*) AS n, count(errorcode) AS e FROM cloudtrail WHERE eventtime >= '{since}' AND eventtime < '{until}'"
        ),
        "json",
    ))
    .unwrap();
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
}

/// Each panel row's count is the number of events its link to Event history selects (for
/// the sign-ins panel, whose rows split one link, their sum).
fn panel_rows_count_what_they_link_to(server: &Server, d: &Value, (since, until): (&str, &str)) {
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
        get(server, &format!("/api/events/count?{}", query_string(&p))).json()["events"].clone()
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
}

/// Findings of the shipped Sigma rules agree with `trailsql detect` over the same window.
fn findings_agree_with_detect(server: &Server, lake: &Path, window: (&str, &str)) {
    let f = get(server, &format!("/api/findings?{}", window_query(window))).json();
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
        .arg(lake)
        .args([
            "detect", "--since", window.0, "--until", window.1, "--format", "json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let expected = rows.iter().filter(|r| r["rule_id"] == root_rule).count();
    assert!(expected > 0, "the samples have root activity");
    assert_eq!(root["count"], json!(expected));
}

/// The panel `id` of a dashboard.
fn panel<'a>(d: &'a Value, id: &str) -> &'a Value {
    d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("no panel {id}"))
}
