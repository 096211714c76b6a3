//! Objects too large to hold: read as a stream, a piece at a time, with the same rows as the
//! same events in small files; and objects past `--max-object-size` (a gzip bomb) stopped
//! there.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use crate::common::*;

fn event(i: usize) -> Value {
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    json!({
        "eventVersion": "1.08",
        "eventTime": format!("2024-03-{:02}T{:02}:{:02}:00Z", 1 + i % 3, i % 24, i % 60),
        "eventSource": "s3.amazonaws.com",
        "eventName": if i.is_multiple_of(2) { "GetObject" } else { "PutObject" },
        "awsRegion": regions[i % 3],
        "eventID": format!("00000000-0000-0000-0000-{i:012}"),
        "requestParameters": {"bucketName": "b", "key": format!("k/{i}"), "pad": "x".repeat(200)},
        "recipientAccountId": "111122223333",
    })
}

/// (partition, record) of every row: what a lake holds whatever the objects' names.
fn content(lake: &Path) -> BTreeSet<(String, String)> {
    lake_rows(lake)
        .into_iter()
        .map(|r| (r.partition, r.record.to_string()))
        .collect()
}

#[test]
fn a_large_object_is_streamed_with_the_rows_small_files_give() {
    const N: usize = 20_000;
    let tmp = tempfile::tempdir().unwrap();
    // Every 4,000th element is not a record: quarantined, from the object's pieces too.
    let events: Vec<Value> = (0..N)
        .map(|i| if i % 4000 == 3999 { json!(7) } else { event(i) })
        .collect();
    let bad = N as u64 / 4000;
    // One object of ~7 MiB of JSON (pretty-printed, as `jq` writes it), read with a 4 MiB
    // budget: decoded as a stream, its rows handed on and checkpointed in pieces.
    let big = tmp.path().join("big/all.json.gz");
    std::fs::create_dir_all(big.parent().unwrap()).unwrap();
    let body = serde_json::to_vec_pretty(&json!({ "Records": events })).unwrap();
    assert!(body.len() > 6 << 20);
    std::fs::write(&big, gzip(&body)).unwrap();
    let lake_big = tmp.path().join("lake-big");
    let s = ingest_ok(&lake_big, &[big.parent().unwrap()], &["--buffer-mb", "4"]);
    assert_eq!(u(&s, "written"), N as u64 - bad, "{s:#}");
    assert_eq!(u(&s, "quarantined"), bad, "{s:#}");
    let quarantine: usize = std::fs::read_dir(lake_big.join("_trailsql/quarantine"))
        .unwrap()
        .map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(quarantine as u64, bad);
    assert_eq!(u(&s, "objects_read"), 1);
    assert!(u(&s, "commits") > 1, "checkpoints within the object: {s:#}");
    assert_eq!(u(&s, "json_bytes"), body.len() as u64);

    // The same events in 100 small files.
    let small = tmp.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    for (n, part) in events.chunks(N / 100).enumerate() {
        let doc = serde_json::to_vec(&json!({ "Records": part })).unwrap();
        std::fs::write(small.join(format!("{n:03}.json.gz")), gzip(&doc)).unwrap();
    }
    let lake_small = tmp.path().join("lake-small");
    ingest_ok(&lake_small, &[&small], &[]);
    let got = content(&lake_big);
    assert_eq!(got.len() as u64, N as u64 - bad);
    assert_eq!(got, content(&lake_small));

    // Every row rebuilds its input record, at its position in the object.
    let rows = lake_rows(&lake_big);
    for r in rows.iter().step_by(997) {
        assert_eq!(r.record, events[r.index as usize], "row {}", r.index);
    }
    // A re-run finds the object committed.
    let again = ingest_ok(&lake_big, &[big.parent().unwrap()], &["--buffer-mb", "4"]);
    assert_eq!(u(&again, "objects_unchanged"), 1, "{again:#}");
}

#[test]
fn an_object_past_the_size_cap_is_rejected_with_that_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    // A gzip bomb: 64 MiB of white space in a few hundred KiB.
    std::fs::write(src.join("bomb.json.gz"), gzip(&vec![b' '; 64 << 20])).unwrap();
    // Records, then white space past the cap inside the array: the records before it are
    // kept and the object is damaged.
    let mut body = serde_json::to_vec(&json!({"Records": [event(1), event(2)]})).unwrap();
    body.truncate(body.len() - 2);
    body.extend(vec![b' '; 40 << 20]);
    body.extend(b"]}");
    std::fs::write(src.join("padded.json.gz"), gzip(&body)).unwrap();
    let lake = tmp.path().join("lake");
    let s = ingest_ok(&lake, &[&src], &["--max-object-size", "16MiB"]);
    assert_eq!(u(&s, "objects_rejected"), 1, "{s:#}");
    assert_eq!(u(&s, "objects_damaged"), 1, "{s:#}");
    assert_eq!(u(&s, "written"), 2, "{s:#}");
    let reasons: Vec<String> = s["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {}", p["source"], p["reason"]))
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("bomb.json.gz")
            && r.contains("decompressed size passes the --max-object-size cap of 16 MiB")),
        "{reasons:#?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("padded.json.gz")
            && r.contains("cap of 16 MiB (2 records before it were read)")),
        "{reasons:#?}"
    );
    // Under the default cap (1 GiB) the bomb is only an empty file.
    let s = ingest_ok(&tmp.path().join("lake2"), &[&src.join("bomb.json.gz")], &[]);
    assert_eq!(s["skipped_by_reason"]["empty file"], 1, "{s:#}");
    // A size that is not one is a usage error.
    let bad = ingest(
        &tmp.path().join("lake3"),
        &[&src],
        &["--max-object-size", "lots"],
    );
    assert_eq!(bad.code(), 2, "{}", bad.stderr());
}
