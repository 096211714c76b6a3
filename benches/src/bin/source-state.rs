//! Prepare the source-state benchmark (see benches/README.md and `source_state.py`): a lake
//! whose source state already knows OBJECTS CloudTrail objects of one trail (ten
//! account-regions, 2,880 objects a delivery day, the last day yesterday), written directly
//! as per-day checkpoints rather than by ingesting them, with the trail listed up to
//! yesterday; and, in the bucket the AWS_* environment points at, the objects of the days
//! an incremental run lists: those of yesterday (already in the state) and NEW objects
//! delivered today.
//!
//! usage: source-state LAKE BUCKET OBJECTS NEW

use std::sync::Arc;

use chrono::{Duration, NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use trailsql_lake::source_day::{self, Checkpoint};
use trailsql_lake::state::{Listed, SourceEntry, SourceStatus};
use trailsql_lake::{Lake, s3_store};

const ACCOUNTS: [&str; 5] = [
    "111122223333",
    "444455556666",
    "777788889999",
    "123456789012",
    "210987654321",
];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const PER_DAY: u64 = 288;

fn key(account: &str, region: &str, day: NaiveDate, n: u64) -> String {
    let minutes = n * 5;
    format!(
        "AWSLogs/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}T{:02}{:02}Z_{n:04}.json.gz",
        day.format("%Y/%m/%d"),
        day.format("%Y%m%d"),
        minutes / 60 % 24,
        minutes % 60
    )
}

/// A one-event CloudTrail log file.
fn object(account: &str, region: &str, day: NaiveDate, n: u64) -> Vec<u8> {
    use std::io::Write;
    let record = serde_json::json!({"Records": [{
        "eventVersion": "1.08",
        "eventTime": format!("{}T00:00:{:02}Z", day.format("%Y-%m-%d"), n % 60),
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": region,
        "eventID": format!("{account}-{region}-{day}-{n}"),
        "recipientAccountId": account,
        "userIdentity": {"type": "AWSService"},
    }]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(record.to_string().as_bytes())
        .expect("in memory");
    gz.finish().expect("in memory")
}

fn entry(uri: String, size: u64, modified: i64, etag: Option<String>) -> SourceEntry {
    SourceEntry {
        uri,
        size,
        modified,
        etag,
        status: SourceStatus::Ingested,
        detail: None,
        records: 1,
        window: None,
    }
}

async fn put_all(store: &Arc<dyn ObjectStore>, objects: Vec<(String, Vec<u8>)>) {
    futures::stream::iter(objects)
        .map(|(k, body)| async move { store.put(&Path::from(k), PutPayload::from(body)).await })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .expect("upload");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [lake, bucket, objects, new] = &args[..] else {
        eprintln!("usage: source-state LAKE BUCKET OBJECTS NEW");
        std::process::exit(2);
    };
    let (objects, new): (u64, u64) = (objects.parse().expect("OBJECTS"), new.parse().expect("NEW"));
    let lake = Lake::open(lake).expect("lake");
    let store = s3_store(bucket).expect("bucket");
    let today = Utc::now().date_naive();
    let yesterday = today - Duration::days(1);
    let streams = (ACCOUNTS.len() * REGIONS.len()) as u64;
    let days = objects.div_ceil(streams * PER_DAY) as i64;

    // Yesterday's objects are in the bucket (an incremental run lists that day again) and
    // in the state as the bucket lists them.
    let mut uploads = Vec::new();
    for a in ACCOUNTS {
        for r in REGIONS {
            for n in 0..PER_DAY {
                uploads.push((key(a, r, yesterday, n), object(a, r, yesterday, n)));
            }
        }
    }
    put_all(&store, uploads).await;
    let prefix = Path::from("AWSLogs/");
    let listed: Vec<_> = store.list(Some(&prefix)).try_collect().await.expect("list");
    let recent: Vec<SourceEntry> = listed
        .into_iter()
        .map(|m| {
            entry(
                format!("s3://{bucket}/{}", m.location),
                m.size,
                m.last_modified.timestamp_millis(),
                m.e_tag,
            )
        })
        .collect();

    // The older days exist only in the state (an incremental run never lists them).
    let mut written = recent.len() as u64;
    let mut checkpoints = vec![(yesterday, recent)];
    for back in 1..days {
        let day = yesterday - Duration::days(back);
        let mut entries = Vec::new();
        'day: for a in ACCOUNTS {
            for r in REGIONS {
                for n in 0..PER_DAY {
                    if written >= objects {
                        break 'day;
                    }
                    let uri = format!("s3://{bucket}/{}", key(a, r, day, n));
                    entries.push(entry(
                        uri,
                        900,
                        1_700_000_000_000,
                        Some(format!("\"{n:032x}\"")),
                    ));
                    written += 1;
                }
            }
        }
        checkpoints.push((day, entries));
    }
    futures::stream::iter(checkpoints)
        .map(|(day, entries)| {
            let lake = lake.clone();
            async move {
                let key = day.format("%Y-%m-%d").to_string();
                let c = Checkpoint {
                    entries,
                    ..Default::default()
                };
                let body = source_day::encode_checkpoint(&c).expect("encode");
                source_day::write_checkpoint(&lake, &key, "bench-000000", body).await
            }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await
        .expect("state");
    let marks = Checkpoint {
        listed: vec![Listed {
            source: format!("s3://{bucket}/AWSLogs/||"),
            at: Utc::now() - Duration::hours(20),
        }],
        ..Default::default()
    };
    let body = source_day::encode_checkpoint(&marks).expect("encode");
    source_day::write_checkpoint(&lake, source_day::MARKS, "bench-000000", body)
        .await
        .expect("marks");

    // Today's new objects.
    let mut uploads = Vec::new();
    for i in 0..new {
        let (a, r) = (ACCOUNTS[(i % 5) as usize], REGIONS[(i / 5 % 2) as usize]);
        let n = i / streams;
        uploads.push((key(a, r, today, n), object(a, r, today, n)));
    }
    put_all(&store, uploads).await;
    println!(
        "state: {written} objects over {days} days; bucket: {} of yesterday, {new} new",
        streams * PER_DAY
    );
}
