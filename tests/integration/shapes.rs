//! Every input shape of DESIGN.md and every kind of bad input, from small fixtures.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

const LAYOUT: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/02/111122223333_CloudTrail_us-east-1_20240302T0010Z_AbCdEfGh12345678.json.gz";
const DIGEST: &str = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/02/111122223333_CloudTrail-Digest_us-east-1_main_us-east-1_20240302T010000Z.json.gz";

/// The shapes fixtures laid out as a user would have them: the Records file gzipped in the
/// S3 delivery layout, the other shapes as plain files, plus an empty file and a digest.
pub fn shapes_dir(dst: &Path) {
    let fx = fixtures().join("shapes");
    copy_dir(&fx, dst);
    std::fs::remove_file(dst.join("records.json")).unwrap();
    let gz = dst.join(LAYOUT);
    std::fs::create_dir_all(gz.parent().unwrap()).unwrap();
    std::fs::write(&gz, gzip(&std::fs::read(fx.join("records.json")).unwrap())).unwrap();
    let digest = dst.join(DIGEST);
    std::fs::create_dir_all(digest.parent().unwrap()).unwrap();
    std::fs::write(
        &digest,
        gzip(&std::fs::read(fx.join("digest.json")).unwrap()),
    )
    .unwrap();
    std::fs::write(dst.join("empty.json"), b"").unwrap();
}

#[test]
fn every_input_shape_lands_in_its_table_and_partition() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    shapes_dir(&src);
    let lake = tmp.path().join("lake");
    let s = ingest_ok(&lake, &[&src], &[]);

    // records.json.gz 3 + array 2 + single 1 + ndjson 3 + lookup-events 2 + insights 2 + odd 3
    assert_eq!(u(&s, "records"), 16, "{s:#}");
    assert_eq!(s["written_by_table"]["cloudtrail"], 14);
    assert_eq!(s["written_by_table"]["cloudtrail_insights"], 2);
    assert_eq!(u(&s, "quarantined"), 0);
    assert_eq!(
        u(&s, "objects_rejected") + u(&s, "objects_damaged"),
        0,
        "{s:#}"
    );
    assert_eq!(
        s["skipped_by_reason"]["CloudTrail digest file"], 2,
        "by name and by content: {s:#}"
    );
    assert_eq!(s["skipped_by_reason"]["AWS Config file"], 1);
    assert_eq!(s["skipped_by_reason"]["empty file"], 1);

    // Partitions come from each event's own UTC time and region.
    let part = |id: &str| {
        sql(
            &lake,
            &format!("SELECT date, region FROM cloudtrail WHERE eventid = '{id}'"),
            "csv",
        )
        .lines()
        .nth(1)
        .unwrap()
        .to_owned()
    };
    assert_eq!(
        part("e0000002-0000-4000-8000-000000000002"),
        "2024-03-02,eu-west-1"
    );
    assert_eq!(
        part("e0000015-0000-4000-8000-000000000015"),
        "2024-03-05,eu-central-1",
        "+02:00 offset"
    );
    assert_eq!(
        part("e0000011-0000-4000-8000-000000000011"),
        "2024-03-04,us-east-1",
        "lookup-events"
    );
    assert!(
        lake.join("cloudtrail/date=2024-03-02/region=eu-west-1")
            .is_dir()
    );
    assert!(
        lake.join("cloudtrail_insights/date=2024-03-02/region=us-east-1")
            .is_dir()
    );

    // eventtime is a UTC timestamp whatever the input spelling.
    assert_eq!(
        scalar(
            &lake,
            "SELECT CAST(eventtime AS VARCHAR) FROM cloudtrail WHERE eventid = 'e0000014-0000-4000-8000-000000000014'"
        ),
        "2024-03-05T06:07:08Z"
    );
    assert_eq!(
        scalar(
            &lake,
            "SELECT count(*) FROM cloudtrail WHERE eventtime >= TIMESTAMP '2024-03-05T06:00:00Z' AND eventtime < TIMESTAMP '2024-03-05T07:00:00Z'"
        ),
        "3"
    );
    // Athena's nesting and JSON text columns.
    assert_eq!(
        scalar(
            &lake,
            "SELECT useridentity.sessioncontext.sessionissuer.arn FROM cloudtrail WHERE eventname = 'PutObject'"
        ),
        "arn:aws:iam::111122223333:role/Deployer"
    );
    assert_eq!(
        scalar(
            &lake,
            "SELECT resources[2]['arn'] FROM cloudtrail WHERE eventname = 'PutObject'"
        ),
        "arn:aws:s3:::example-artifacts"
    );
    let rp = scalar(
        &lake,
        "SELECT requestparameters FROM cloudtrail WHERE eventname = 'ListAccounts'",
    );
    assert_eq!(
        rp, "\"{\"\"maxResults\"\":20}\"",
        "pretty-printed JSON stored compact"
    );
    assert_eq!(
        scalar(
            &lake,
            "SELECT readonly FROM cloudtrail WHERE eventname = 'ListAccounts'"
        ),
        "true"
    );
    assert_eq!(
        scalar(
            &lake,
            "SELECT recipientaccountid FROM cloudtrail WHERE eventname = 'RunInstances'"
        ),
        "111122223333"
    );
    assert_eq!(
        scalar(
            &lake,
            "SELECT count(*) FROM cloudtrail_logs WHERE useridentity.type IN ('IAMUser','AssumedRole','Root','AWSService','FederatedUser','IdentityCenterUser','WebIdentityUser','SAMLUser','AWSAccount')"
        ),
        "12"
    );
    // Insights keep their details as JSON text.
    assert!(scalar(&lake, "SELECT insightdetails FROM cloudtrail_insights WHERE eventid = 'e0000013-0000-4000-8000-000000000013'").contains("End"));
    // Provenance.
    assert!(
        scalar(
            &lake,
            "SELECT sourceobject FROM cloudtrail WHERE eventname = 'PutObject'"
        )
        .ends_with(".json.gz")
    );
}

#[test]
fn every_row_rebuilds_into_its_input_record() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    shapes_dir(&src);
    copy_dir(&fixtures().join("bad"), &src.join("bad"));
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&src], &[]);
    let rows = lake_rows(&lake);
    assert!(rows.len() >= 18, "{}", rows.len());
    for row in &rows {
        let input = input_record_tolerant(&row.source, row.index);
        assert_eq!(
            row.record, input,
            "row {}#{} differs from its input",
            row.source, row.index
        );
    }
    // The odd record really exercised the catch-all column.
    let odd = rows
        .iter()
        .find(|r| r.record["eventID"] == "e0000014-0000-4000-8000-000000000014")
        .unwrap();
    assert_eq!(odd.record["brandNewTopLevel"][2]["y"], Value::Null);
}

/// Like [`input_record`], but the damaged fixture is read up to its damage by hand.
fn input_record_tolerant(uri: &str, index: i64) -> Value {
    if uri.ends_with("malformed.json") {
        let text = std::fs::read_to_string(uri.strip_prefix("file://").unwrap()).unwrap();
        let line = text
            .lines()
            .nth(1 + index as usize)
            .unwrap()
            .trim_end_matches(',');
        return serde_json::from_str(line).unwrap();
    }
    input_record(uri, index)
}

#[test]
fn bad_input_is_reported_quarantined_and_counted_and_ingest_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    copy_dir(&fixtures().join("bad"), &src);
    let records = std::fs::read(fixtures().join("shapes/records.json")).unwrap();
    let gz = gzip(&records);
    std::fs::write(src.join("truncated.json.gz"), &gz[..gz.len() * 2 / 3]).unwrap();
    let mut bad_gz = gz[..10].to_vec();
    bad_gz.extend_from_slice(b"this is not deflate data at all");
    std::fs::write(src.join("bad-gzip.json.gz"), bad_gz).unwrap();
    std::fs::copy(fixtures().join("shapes/array.json"), src.join("good.json")).unwrap();
    let lake = tmp.path().join("lake");

    let run = ingest(&lake, &[&src], &[]);
    assert!(
        run.ok(),
        "bad input is not a failure without --strict: {}",
        run.stderr()
    );
    let s = run.summary();
    assert_balanced(&s);
    let err = run.stderr();
    for (file, why) in [
        ("not-json.json", "not JSON"),
        ("not-cloudtrail.json", "not CloudTrail"),
        ("bad-gzip.json.gz", "gzip"),
        ("truncated.json.gz", "gzip"),
        ("malformed.json", "malformed JSON at line 4"),
        ("unplaceable.json", "3 records quarantined"),
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("{file} not reported: {err}"));
        assert!(line.contains(why), "{file}: expected {why:?} in {line:?}");
        assert!(
            line.contains(&src.join(file).display().to_string()),
            "path named: {line}"
        );
    }
    assert_eq!(u(&s, "objects_rejected"), 3, "{s:#}");
    assert_eq!(u(&s, "objects_damaged"), 2, "{s:#}");
    assert_eq!(u(&s, "quarantined"), 3);
    // good.json 2 + malformed's first record + unplaceable's good one + what the truncated gzip gave
    let salvaged = u(&s, "written") - 4;
    assert!(salvaged <= 3, "{s:#}");
    assert_eq!(
        scalar(
            &lake,
            "SELECT count(*) FROM cloudtrail WHERE eventname IN ('A', 'Good')"
        ),
        "2"
    );
    assert_eq!(
        scalar(
            &lake,
            "SELECT count(*) FROM cloudtrail WHERE eventname IN ('B', 'C')"
        ),
        "0"
    );

    // Quarantined records are kept, with source and reason.
    let qdir = lake.join("_trailsql/quarantine");
    let lines: Vec<Value> = std::fs::read_dir(&qdir)
        .unwrap()
        .flat_map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(lines.len(), 3);
    let reasons: Vec<&str> = lines
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"no eventTime"), "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("unparseable eventTime \"yesterday-ish\"")),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"record is not a JSON object"),
        "{reasons:?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["source"].as_str().unwrap().ends_with("unplaceable.json"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l["text"].as_str().unwrap().contains("NoTime"))
    );

    // A re-run does not read the bad files again: they are recorded with their verdict.
    let again = ingest_ok(&lake, &[&src], &[]);
    assert_eq!(u(&again, "objects_read"), 0, "{again:#}");
}

#[test]
fn strict_turns_bad_input_into_a_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(
        fixtures().join("bad/not-json.json"),
        src.join("not-json.json"),
    )
    .unwrap();
    let run = ingest(&tmp.path().join("lake"), &[&src], &["--strict"]);
    assert_eq!(run.code(), 1);
    let first = run
        .stderr()
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        first.contains("strict") && first.contains("not-json.json"),
        "{}",
        run.stderr()
    );
}

#[test]
fn missing_source_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let run = ingest(&tmp.path().join("lake"), &[&tmp.path().join("nope")], &[]);
    assert_eq!(run.code(), 1);
    assert!(run.stderr().contains("nope"), "{}", run.stderr());
    let usage = bin().arg("ingest").output().unwrap();
    assert_eq!(usage.status.code(), Some(2), "usage error");
}

#[test]
fn globs_select_files() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    shapes_dir(&src);
    let lake = tmp.path().join("lake");
    let pattern = format!("{}/AWSLogs/**/*.json.gz", src.display());
    let s = ingest_ok(&lake, &[Path::new(&pattern)], &[]);
    // the Records file and the digest (skipped by name)
    assert_eq!(u(&s, "objects_listed"), 2, "{s:#}");
    assert_eq!(u(&s, "written"), 3);
}
