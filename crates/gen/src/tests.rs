//! Tests of the generator as a whole: layout, determinism, counts, content.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{GenConfig, GenSummary, events, generate};

/// A scratch directory removed on drop (the crate has no tempfile dependency).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p =
            std::env::temp_dir().join(format!("trailsql-gen-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read_gz_json(p: &Path) -> Value {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    assert!(
        !s.contains('\n'),
        "compact one-line JSON expected in {}",
        p.display()
    );
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A generated tree, parsed: relative path -> JSON document.
struct Tree {
    summary: GenSummary,
    docs: BTreeMap<String, Value>,
    _dir: Scratch,
}

fn generated(name: &str, cfg: &GenConfig) -> Tree {
    let dir = Scratch::new(name);
    let summary = generate(cfg, &dir.0).unwrap();
    let docs = walk(&dir.0)
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&dir.0)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, read_gz_json(&p))
        })
        .collect();
    Tree {
        summary,
        docs,
        _dir: dir,
    }
}

impl Tree {
    fn kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        self.docs
            .iter()
            .filter(move |(k, _)| k.split('/').nth(2) == Some(kind))
    }

    fn records<'a>(&'a self, kind: &'a str) -> Vec<(&'a String, &'a Value)> {
        self.kind(kind)
            .flat_map(|(k, d)| d["Records"].as_array().unwrap().iter().map(move |r| (k, r)))
            .collect()
    }
}

fn moderate() -> GenConfig {
    GenConfig {
        events: 4000,
        days: 3,
        accounts: 2,
        regions: vec![
            "us-east-1".into(),
            "eu-west-1".into(),
            "ap-southeast-2".into(),
        ],
        seed: 11,
        duplicate_rate: 0.01,
        late_rate: 0.02,
        ..GenConfig::default()
    }
}

#[test]
fn same_config_gives_identical_bytes() {
    let cfg = GenConfig {
        events: 1500,
        ..GenConfig::default()
    };
    let a = Scratch::new("det-a");
    let b = Scratch::new("det-b");
    let sa = generate(&cfg, &a.0).unwrap();
    let sb = generate(&cfg, &b.0).unwrap();
    assert_eq!(sa, sb);
    let fa = walk(&a.0);
    let fb = walk(&b.0);
    assert_eq!(fa.len(), fb.len());
    for (pa, pb) in fa.iter().zip(&fb) {
        assert_eq!(
            pa.strip_prefix(&a.0).unwrap(),
            pb.strip_prefix(&b.0).unwrap()
        );
        assert_eq!(
            std::fs::read(pa).unwrap(),
            std::fs::read(pb).unwrap(),
            "{}",
            pa.display()
        );
    }
    // And a different seed gives different data.
    let c = Scratch::new("det-c");
    let sc = generate(&GenConfig { seed: 43, ..cfg }, &c.0).unwrap();
    assert_ne!(
        walk(&c.0)
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect::<Vec<_>>(),
        fa.iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(sc.events, 1500);
}

fn is_date(y: &str, m: &str, d: &str) -> bool {
    y.len() == 4
        && m.len() == 2
        && d.len() == 2
        && [y, m, d]
            .iter()
            .all(|s| s.bytes().all(|b| b.is_ascii_digit()))
}

/// `YYYYMMDDTHHmmZ` (or with seconds) matching the date folders.
fn stamp_ok(stamp: &str, ymd: &str, seconds: bool) -> bool {
    let n = if seconds { 16 } else { 14 };
    stamp.len() == n
        && stamp.starts_with(ymd)
        && stamp.as_bytes()[8] == b'T'
        && stamp.ends_with('Z')
        && stamp[9..n - 1].bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn paths_follow_the_s3_delivery_layout() {
    let cfg = moderate();
    let t = generated("layout", &cfg);
    let mut kinds = BTreeSet::new();
    for key in t.docs.keys() {
        let parts: Vec<&str> = key.split('/').collect();
        assert_eq!(parts.len(), 8, "{key}");
        let [aws, acct, kind, region, y, m, d, file] = parts[..] else {
            unreachable!()
        };
        assert_eq!(aws, "AWSLogs");
        assert!(
            acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit()),
            "{key}"
        );
        assert!(cfg.regions.iter().any(|r| r == region), "{key}");
        assert!(is_date(y, m, d), "{key}");
        let ymd = format!("{y}{m}{d}");
        let name = file
            .strip_suffix(".json.gz")
            .unwrap_or_else(|| panic!("{key}"));
        kinds.insert(kind);
        match kind {
            "CloudTrail" | "CloudTrail-Insight" => {
                let rest = name
                    .strip_prefix(&format!("{acct}_{kind}_{region}_"))
                    .unwrap_or_else(|| panic!("{key}"));
                let (stamp, suffix) = rest.split_once('_').unwrap();
                assert!(stamp_ok(stamp, &ymd, false), "{key}");
                assert_eq!(suffix.len(), 16, "{key}");
                assert!(suffix.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
            }
            "CloudTrail-Digest" => {
                let rest = name
                    .strip_prefix(&format!(
                        "{acct}_CloudTrail-Digest_{region}_management-events_us-east-1_"
                    ))
                    .unwrap_or_else(|| panic!("{key}"));
                assert!(stamp_ok(rest, &ymd, true), "{key}");
            }
            other => panic!("unexpected folder {other} in {key}"),
        }
    }
    assert_eq!(
        kinds,
        BTreeSet::from(["CloudTrail", "CloudTrail-Digest", "CloudTrail-Insight"])
    );
    let accounts: BTreeSet<&str> = t
        .docs
        .keys()
        .map(|k| k.split('/').nth(1).unwrap())
        .collect();
    assert_eq!(accounts, BTreeSet::from(["111122223333", "444455556666"]));
}

#[test]
fn counts_match_the_summary() {
    let cfg = moderate();
    let t = generated("counts", &cfg);
    let s = &t.summary;
    let recs = t.records("CloudTrail");
    let ids: BTreeSet<&str> = recs
        .iter()
        .map(|(_, r)| r["eventID"].as_str().unwrap())
        .collect();
    assert_eq!(s.events, cfg.events);
    assert_eq!(ids.len() as u64, s.events);
    assert_eq!(recs.len() as u64, s.events + s.duplicates);
    let log_files = t.kind("CloudTrail").count() as u64;
    let insight_files = t.kind("CloudTrail-Insight").count() as u64;
    assert_eq!(s.files, log_files + insight_files);
    assert_eq!(s.insight_files, insight_files);
    assert_eq!(
        s.insights_events,
        t.records("CloudTrail-Insight").len() as u64
    );
    assert_eq!(s.digest_files, t.kind("CloudTrail-Digest").count() as u64);
    // Roughly one file per account, region and five minutes of activity.
    assert!(
        log_files > 100 && log_files < cfg.events,
        "{log_files} files"
    );
}

#[test]
fn every_file_is_gzipped_json_with_records_or_a_digest() {
    let t = generated("valid", &GenConfig::default());
    for (key, doc) in &t.docs {
        if key.contains("/CloudTrail-Digest/") {
            for f in [
                "awsAccountId",
                "digestStartTime",
                "digestEndTime",
                "digestS3Bucket",
                "digestS3Object",
                "digestPublicKeyFingerprint",
                "newestEventTime",
                "oldestEventTime",
                "previousDigestS3Bucket",
                "previousDigestS3Object",
                "previousDigestHashValue",
                "previousDigestHashAlgorithm",
                "previousDigestSignature",
            ] {
                assert!(doc.get(f).is_some(), "{key} lacks {f}");
            }
            assert_eq!(doc["digestSignatureAlgorithm"], "SHA256withRSA");
            assert_eq!(doc["digestS3Object"].as_str().unwrap(), key);
            for lf in doc["logFiles"].as_array().unwrap() {
                let obj = lf["s3Object"].as_str().unwrap();
                assert!(t.docs.contains_key(obj), "digest lists missing file {obj}");
                assert_eq!(lf["hashAlgorithm"], "SHA-256");
                assert_eq!(lf["hashValue"].as_str().unwrap().len(), 64);
            }
        } else {
            let recs = doc["Records"].as_array().unwrap_or_else(|| panic!("{key}"));
            assert!(!recs.is_empty(), "{key} is empty");
        }
    }
}

#[test]
fn digests_chain_and_cover_every_log_file_once() {
    let t = generated("digests", &moderate());
    let mut listed = BTreeMap::new();
    let mut by_stream: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for (key, d) in t.kind("CloudTrail-Digest") {
        let parts: Vec<&str> = key.split('/').collect();
        by_stream
            .entry((parts[1].to_string(), parts[3].to_string()))
            .or_default()
            .push(d);
        for lf in d["logFiles"].as_array().unwrap() {
            *listed
                .entry(lf["s3Object"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
    }
    let logs: BTreeSet<String> = t.kind("CloudTrail").map(|(k, _)| k.clone()).collect();
    assert_eq!(listed.keys().cloned().collect::<BTreeSet<_>>(), logs);
    assert!(listed.values().all(|&n| n == 1));
    // 2 accounts x 3 regions, at least one digest per day each.
    assert_eq!(by_stream.len(), 6);
    for digests in by_stream.values_mut() {
        assert!(digests.len() >= 3);
        digests.sort_by_key(|d| d["digestEndTime"].as_str().unwrap().to_string());
        assert!(digests[0]["previousDigestSignature"].is_null());
        for w in digests.windows(2) {
            assert_eq!(w[1]["previousDigestS3Object"], w[0]["digestS3Object"]);
            assert_eq!(w[1]["digestStartTime"], w[0]["digestEndTime"]);
            assert_eq!(w[1]["previousDigestSignature"].as_str().unwrap().len(), 512);
        }
    }
}

#[test]
fn duplicates_share_event_id_and_content_across_files() {
    let t = generated("dups", &moderate());
    let mut seen: BTreeMap<&str, Vec<(&String, &Value)>> = BTreeMap::new();
    for (file, r) in t.records("CloudTrail") {
        seen.entry(r["eventID"].as_str().unwrap())
            .or_default()
            .push((file, r));
    }
    let dups: Vec<_> = seen.values().filter(|v| v.len() > 1).collect();
    assert_eq!(dups.len() as u64, t.summary.duplicates);
    assert!(t.summary.duplicates >= 10, "{}", t.summary.duplicates);
    for copies in dups {
        assert_eq!(copies.len(), 2);
        assert_ne!(
            copies[0].0, copies[1].0,
            "copies must be in different files"
        );
        assert_eq!(copies[0].1, copies[1].1);
    }
}

fn folder_date(key: &str) -> String {
    let p: Vec<&str> = key.split('/').collect();
    format!("{}-{}-{}", p[4], p[5], p[6])
}

/// The delivery stamp of a log file name as `YYYY-MM-DDTHH:MM:00Z`.
fn delivered_at(key: &str) -> String {
    let name = key.rsplit('/').next().unwrap();
    let stamp = name.split('_').nth(3).unwrap();
    format!(
        "{}-{}-{}T{}:{}:00Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13]
    )
}

#[test]
fn delivery_follows_events_and_some_arrive_late() {
    let t = generated("late", &moderate());
    let mut late = 0;
    let mut other_day = 0;
    for (file, r) in t.records("CloudTrail") {
        let et = r["eventTime"].as_str().unwrap();
        let delivered = delivered_at(file);
        assert!(
            et < delivered.as_str(),
            "{et} delivered at {delivered} in {file}"
        );
        // "More than an hour late" compared as text: same format, so lexical order is time order.
        let hour_later = {
            let h: u32 = et[11..13].parse().unwrap();
            if h < 23 {
                format!("{}{:02}{}", &et[..11], h + 1, &et[13..])
            } else {
                format!("{}~", &et[..11])
            }
        };
        if delivered > hour_later {
            late += 1;
        }
        if folder_date(file) != et[..10] {
            other_day += 1;
        }
    }
    assert!(late >= 20, "{late} late records");
    assert!(
        other_day >= 10,
        "{other_day} records in another day's folder"
    );
}

#[test]
fn records_inside_a_file_are_roughly_in_time_order() {
    let t = generated("order", &moderate());
    let (mut pairs, mut inversions) = (0, 0);
    for (_, d) in t.kind("CloudTrail") {
        let times: Vec<&str> = d["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["eventTime"].as_str().unwrap())
            .collect();
        for w in times.windows(2) {
            pairs += 1;
            if w[0] > w[1] {
                inversions += 1;
            }
        }
    }
    assert!(inversions > 0, "CloudTrail files are not strictly ordered");
    assert!(
        inversions * 2 < pairs,
        "{inversions} of {pairs} out of order"
    );
}

#[test]
fn every_identity_type_appears_with_its_shape() {
    let t = generated("ids", &moderate());
    let recs = t.records("CloudTrail");
    let mut types = BTreeMap::new();
    for (_, r) in &recs {
        let id = &r["userIdentity"];
        let ty = id["type"].as_str().unwrap_or("<service event>");
        types.entry(ty).or_insert_with(Vec::new).push(id);
    }
    for ty in [
        "IAMUser",
        "AssumedRole",
        "Root",
        "AWSService",
        "AWSAccount",
        "FederatedUser",
        "SAMLUser",
        "WebIdentityUser",
        "IdentityCenterUser",
    ] {
        assert!(types.contains_key(ty), "no {ty} in {:?}", types.keys());
    }
    let has = |ty: &str, f: &dyn Fn(&Value) -> bool| types[ty].iter().any(|id| f(id));
    assert!(has("IAMUser", &|id| id["accessKeyId"]
        .as_str()
        .unwrap_or("")
        .starts_with("AKIA")
        && id["userName"].is_string()));
    assert!(has(
        "AssumedRole",
        &|id| id["sessionContext"]["ec2RoleDelivery"] == "2.0"
            && id["arn"].as_str().unwrap().contains(":assumed-role/")
            && id["principalId"].as_str().unwrap().contains(":i-0")
    ));
    assert!(has("AssumedRole", &|id| {
        id["sessionContext"]["webIdFederationData"]["federatedProvider"].is_string()
    }));
    assert!(types["AssumedRole"].iter().all(|id| {
        let issuer = &id["sessionContext"]["sessionIssuer"];
        issuer["type"] == "Role"
            && issuer["arn"].as_str().unwrap().contains(":role/")
            && ["false", "true"].contains(
                &id["sessionContext"]["attributes"]["mfaAuthenticated"]
                    .as_str()
                    .unwrap(),
            )
    }));
    assert!(has("AWSService", &|id| id["invokedBy"]
        .as_str()
        .unwrap()
        .ends_with(".amazonaws.com")));
    assert!(has(
        "IdentityCenterUser",
        &|id| id["onBehalfOf"]["identityStoreArn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:identitystore::")
            && id["onBehalfOf"]["userId"].is_string()
            && id["credentialId"].is_string()
    ));
    assert!(has(
        "FederatedUser",
        &|id| id["sessionContext"]["sessionIssuer"]["type"] == "IAMUser"
    ));
    assert!(has("SAMLUser", &|id| id["identityProvider"].is_string()));
    assert!(has("WebIdentityUser", &|id| id["identityProvider"].is_string()));
    assert!(has("Root", &|id| id["arn"]
        .as_str()
        .unwrap()
        .ends_with(":root")));
}

#[test]
fn content_is_realistic() {
    let t = generated("content", &moderate());
    let recs = t.records("CloudTrail");
    let n = recs.len() as f64;
    let errors = recs
        .iter()
        .filter(|(_, r)| r.get("errorCode").is_some())
        .count() as f64;
    assert!(
        (0.02..0.09).contains(&(errors / n)),
        "error rate {}",
        errors / n
    );
    let names: BTreeSet<&str> = recs
        .iter()
        .map(|(_, r)| r["eventName"].as_str().unwrap())
        .collect();
    assert!(
        names.len() > 60,
        "only {} distinct event names",
        names.len()
    );
    for must in [
        "GetObject",
        "PutObject",
        "AssumeRole",
        "ConsoleLogin",
        "Decrypt",
        "GetCallerIdentity",
    ] {
        assert!(names.contains(must), "{must} missing");
    }
    for (file, r) in &recs {
        let region = file.split('/').nth(3).unwrap();
        assert_eq!(r["awsRegion"], region, "{file}");
        assert_eq!(r["recipientAccountId"], file.split('/').nth(1).unwrap());
        assert!(["1.08", "1.09", "1.10"].contains(&r["eventVersion"].as_str().unwrap()));
        let et = r["eventTime"].as_str().unwrap();
        assert!(
            et.len() == 20 && et.ends_with('Z') && et.as_bytes()[10] == b'T',
            "{et}"
        );
        let id = r["eventID"].as_str().unwrap();
        assert!(id.len() == 36 && id.as_bytes()[14] == b'4', "{id}");
        assert!(r.get("requestParameters").is_some() && r.get("responseElements").is_some());
        let data = r["eventCategory"] == "Data";
        assert_eq!(r["managementEvent"].as_bool().unwrap(), !data);
        if data {
            assert!(r["resources"].as_array().is_some_and(|a| !a.is_empty()));
        }
        if r["eventSource"] == "s3.amazonaws.com" {
            let add = &r["additionalEventData"];
            for f in [
                "SignatureVersion",
                "CipherSuite",
                "bytesTransferredIn",
                "x-amz-id-2",
                "AuthenticationMethod",
            ] {
                assert!(add.get(f).is_some(), "S3 event without {f}");
            }
        }
        if r["eventName"] == "ConsoleLogin" {
            assert_eq!(r["eventType"], "AwsConsoleSignIn");
            let add = &r["additionalEventData"];
            assert!(["Yes", "No"].contains(&add["MFAUsed"].as_str().unwrap()));
            assert!(add["LoginTo"].is_string() && add["MobileVersion"] == "No");
            if r["responseElements"]["ConsoleLogin"] == "Failure" {
                assert_eq!(r["errorMessage"], "Failed authentication");
            }
        }
        if r.get("errorCode").is_some() {
            assert!(r["responseElements"].is_null() || r["eventName"] == "ConsoleLogin");
        }
    }
    let failures = recs
        .iter()
        .filter(|(_, r)| r["responseElements"]["ConsoleLogin"] == "Failure")
        .count();
    assert!(failures > 0);
    let open = recs.iter().any(|(_, r)| {
        r["eventName"] == "AuthorizeSecurityGroupIngress"
            && r["requestParameters"]["ipPermissions"]["items"][0]["ipRanges"]["items"][0]["cidrIp"]
                == "0.0.0.0/0"
    });
    assert!(open, "no security group opened to the world");
    let tls = recs
        .iter()
        .filter(|(_, r)| r.get("tlsDetails").is_some())
        .count() as f64;
    assert!(tls / n > 0.6);
    assert!(
        recs.iter()
            .any(|(_, r)| r["sessionCredentialFromConsole"] == "true")
    );
    assert!(recs.iter().any(|(_, r)| r.get("vpcEndpointId").is_some()));
    assert!(
        recs.iter()
            .any(|(_, r)| r["sourceIPAddress"] == "AWS Internal")
    );
    assert!(
        recs.iter()
            .any(|(_, r)| r["eventType"] == "AwsServiceEvent" || r["eventCategory"] == "Data")
    );
}

#[test]
fn insights_come_in_start_end_pairs() {
    let t = generated("insights", &moderate());
    let ins = t.records("CloudTrail-Insight");
    assert!(!ins.is_empty());
    let mut pairs: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for (_, r) in &ins {
        assert_eq!(r["eventType"], "AwsCloudTrailInsight");
        assert_eq!(r["eventCategory"], "Insight");
        assert!(r.get("userIdentity").is_none() && r.get("eventName").is_none());
        let d = &r["insightDetails"];
        assert!(
            ["ApiCallRateInsight", "ApiErrorRateInsight"]
                .contains(&d["insightType"].as_str().unwrap())
        );
        let stats = &d["insightContext"]["statistics"];
        assert!(
            stats["baseline"]["average"].is_number() && stats["insight"]["average"].is_number()
        );
        assert_eq!(
            d["insightContext"]["attributions"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        pairs
            .entry(r["sharedEventID"].as_str().unwrap())
            .or_default()
            .push(r);
    }
    for p in pairs.values() {
        let states: BTreeSet<&str> = p
            .iter()
            .map(|r| r["insightDetails"]["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, BTreeSet::from(["End", "Start"]));
        let end = p
            .iter()
            .find(|r| r["insightDetails"]["state"] == "End")
            .unwrap();
        assert!(
            end["insightDetails"]["insightContext"]["statistics"]["insightDuration"].is_number()
        );
    }
    let none = generated(
        "no-insights",
        &GenConfig {
            insights: false,
            ..moderate()
        },
    );
    assert_eq!(none.kind("CloudTrail-Insight").count(), 0);
    assert_eq!(none.summary.insights_events, 0);
}

#[test]
fn events_iterator_yields_the_written_records() {
    let cfg = GenConfig {
        events: 800,
        ..GenConfig::default()
    };
    let t = generated("iter", &cfg);
    let written: BTreeMap<String, &Value> = t
        .records("CloudTrail")
        .into_iter()
        .map(|(_, r)| (r["eventID"].as_str().unwrap().to_string(), r))
        .collect();
    let it = events(&cfg).unwrap();
    assert_eq!(it.len(), 800);
    let mut last = String::new();
    for v in it {
        let et = v["eventTime"].as_str().unwrap().to_string();
        assert!(et >= last, "events() is in time order");
        last = et;
        assert_eq!(written[v["eventID"].as_str().unwrap()], &v);
    }
}

#[test]
fn edge_configs() {
    let t = generated(
        "tiny",
        &GenConfig {
            events: 3,
            days: 1,
            accounts: 1,
            regions: vec!["eu-central-1".into()],
            ..GenConfig::default()
        },
    );
    assert_eq!(t.summary.events, 3);
    assert_eq!(
        t.records("CloudTrail").len() as u64,
        3 + t.summary.duplicates
    );
    assert!(t.summary.digest_files >= 1);
    let empty = generated(
        "empty",
        &GenConfig {
            events: 0,
            ..GenConfig::default()
        },
    );
    assert_eq!(empty.summary.events, 0);
    assert_eq!(empty.summary.files, 0);
    let bad = Scratch::new("bad");
    assert!(
        generate(
            &GenConfig {
                regions: vec![],
                ..GenConfig::default()
            },
            &bad.0
        )
        .is_err()
    );
    assert!(
        generate(
            &GenConfig {
                days: 0,
                ..GenConfig::default()
            },
            &bad.0
        )
        .is_err()
    );
}

#[test]
fn summary_json_is_one_line() {
    let s = GenSummary {
        files: 1,
        events: 2,
        duplicates: 3,
        insight_files: 4,
        insights_events: 5,
        digest_files: 6,
        bytes: 7,
    };
    let v: Value = serde_json::from_str(&s.to_json()).unwrap();
    assert_eq!(v["events"], 2);
    assert_eq!(v["bytes"], 7);
    assert!(!s.to_json().contains('\n'));
}
