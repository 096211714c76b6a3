use super::*;

fn ids(c: &Contents<'_>) -> Vec<u64> {
    c.records.iter().map(|(i, _)| *i).collect()
}

#[test]
fn records_file() {
    let c = read_contents(
        "x.json",
        br#"{"Records":[{"eventTime":"a"},{"eventTime":"b"}]}"#,
    );
    assert!(matches!(c.verdict, Verdict::Events("records")));
    assert_eq!(ids(&c), vec![0, 1]);
}

#[test]
fn array_single_and_lines() {
    let c = read_contents("x", br#"[{"eventName":"A"}, {"eventName":"B"}]"#);
    assert!(matches!(c.verdict, Verdict::Events("array")));
    assert_eq!(c.records.len(), 2);
    let c = read_contents("x", b"  {\"eventName\":\"A\"}\n");
    assert!(matches!(c.verdict, Verdict::Events("event")));
    assert_eq!(c.records.len(), 1);
    let c = read_contents(
        "x",
        b"{\"eventName\":\"A\"}\n{\"eventName\":\"B\"}\n{bad\n{\"eventName\":\"C\"}\n",
    );
    assert!(
        matches!(c.verdict, Verdict::Events("ndjson")),
        "{:?}",
        c.verdict
    );
    assert_eq!(ids(&c), vec![0, 1, 3]);
    assert_eq!(c.bad_records.len(), 1);
    assert_eq!(c.bad_records[0].index, 2);
}

#[test]
fn lookup_events_output() {
    let body = r#"{"Events":[{"EventId":"1","CloudTrailEvent":"{\"eventName\":\"X\",\"eventTime\":\"2024-01-01T00:00:00Z\"}"}],"NextToken":"t"}"#;
    let c = read_contents("x", body.as_bytes());
    assert!(matches!(c.verdict, Verdict::Events("lookup-events")));
    assert_eq!(
        c.records[0].1.raw().get(),
        r#"{"eventName":"X","eventTime":"2024-01-01T00:00:00Z"}"#
    );
}

#[test]
fn skipped_and_rejected() {
    assert!(matches!(
        read_contents("x", b"").verdict,
        Verdict::Skipped("empty file")
    ));
    assert!(matches!(
        read_contents("x", b"[]").verdict,
        Verdict::Events("array")
    ));
    assert!(matches!(
        read_contents(
            "d",
            br#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}"#
        )
        .verdict,
        Verdict::Skipped("CloudTrail digest file")
    ));
    assert!(matches!(
        read_contents("c", br#"{"fileVersion":"1.0","configurationItems":[]}"#).verdict,
        Verdict::Skipped("AWS Config file")
    ));
    assert!(matches!(
        read_contents("README.md", b"# hi").verdict,
        Verdict::Skipped("not a log file")
    ));
    assert!(matches!(
        read_contents("x.json", b"hello").verdict,
        Verdict::Rejected(_)
    ));
    assert!(matches!(
        read_contents("x.json", br#"{"a":1}"#).verdict,
        Verdict::Rejected(_)
    ));
    assert!(matches!(
        read_contents("x.json", br#"[{"a":1}]"#).verdict,
        Verdict::Rejected(_)
    ));
}

#[test]
fn truncated_records_file_keeps_what_came_before() {
    let c = read_contents(
        "x",
        br#"{"Records":[{"eventTime":"a"},{"eventTime":"b"},{"eventTi"#,
    );
    let Verdict::Damaged("records", why) = &c.verdict else {
        panic!("{:?}", c.verdict)
    };
    assert!(why.contains("truncated"), "{why}");
    assert_eq!(ids(&c), vec![0, 1]);
}

#[test]
fn object_missing_its_brace_stops_before_it() {
    let c = read_contents(
        "x",
        br#"{"Records":[{"eventTime":"a"},{"eventTime":"b", "x":{"y":1}, {"eventTime":"c"}]}"#,
    );
    assert!(
        matches!(c.verdict, Verdict::Damaged("records", _)),
        "{:?}",
        c.verdict
    );
    assert_eq!(ids(&c), vec![0]);
}

#[test]
fn gzip_by_magic_and_truncated_gzip() {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(br#"{"Records":[]}"#).unwrap();
    let gz = enc.finish().unwrap();
    let (plain, err) = decompress(&gz);
    assert_eq!(&*plain, br#"{"Records":[]}"#);
    assert!(err.is_none());
    let (_, err) = decompress(&gz[..gz.len() - 6]);
    assert!(err.is_some());
}
