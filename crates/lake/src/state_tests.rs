//! The source state kept by day: records split by delivery day, folded into checkpoints,
//! crash-safe between the steps, and the previous layout still read.

use std::collections::BTreeMap;

use crate::source_day::{self, Checkpoint, MARKS, OTHER, day_key};
use crate::state::{
    FOLD_AT, LakeState, Listed, SOURCES_DIR, SourceEntry, SourceRecord, SourceStatus,
};
use crate::store::Lake;

fn uri(day: u32, n: u32) -> String {
    format!(
        "s3://trail/AWSLogs/1/CloudTrail/us-east-1/2024/01/{day:02}/1_CloudTrail_us-east-1_202401{day:02}T0000Z_{n}.json.gz"
    )
}

fn entry(uri: &str, size: u64) -> SourceEntry {
    SourceEntry {
        uri: uri.into(),
        size,
        modified: 7,
        etag: Some(format!("e{size}")),
        status: SourceStatus::Ingested,
        detail: None,
        records: 1,
        window: None,
    }
}

fn record(sources: Vec<SourceEntry>, listed: Vec<Listed>) -> SourceRecord {
    SourceRecord {
        run: "r".into(),
        time: String::new(),
        versions: BTreeMap::from([("cloudtrail".into(), 1)]),
        quarantine: vec![],
        sources,
        listed,
    }
}

fn lake() -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    (dir, lake)
}

/// The file names in a day's folder.
fn files(dir: &tempfile::TempDir, key: &str) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir.path().join(SOURCES_DIR).join(key))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    n.sort();
    n
}

#[test]
fn day_keys_are_delivery_days_or_other() {
    assert_eq!(day_key(&uri(5, 1)), "2024-01-05");
    assert_eq!(day_key("file:///x/2024/01/05/not-a-trail.json"), OTHER);
    assert_eq!(day_key("cwl://group/stream"), OTHER);
}

#[tokio::test]
async fn records_are_kept_by_day_and_a_run_loads_only_the_days_it_asks_for() {
    let (dir, lake) = lake();
    let mut st = LakeState::load(&lake).await.unwrap();
    st.record(
        &lake,
        record(
            vec![
                entry(&uri(1, 1), 10),
                entry(&uri(2, 1), 20),
                entry("file:///a", 30),
            ],
            vec![],
        ),
    )
    .await
    .unwrap();
    assert_eq!(files(&dir, "2024-01-01").len(), 1);
    assert_eq!(files(&dir, "2024-01-02").len(), 1);
    assert_eq!(files(&dir, OTHER).len(), 1);
    let mut st = LakeState::load(&lake).await.unwrap();
    assert!(st.sources.is_empty(), "no day loaded yet");
    st.load_days(&lake, [day_key(&uri(2, 9))]).await.unwrap();
    assert!(st.is_current(&uri(2, 1), 20, 7, Some("e20"), None));
    assert!(!st.sources.contains_key(&uri(1, 1)), "day 1 not loaded");
    assert!(st.has_day_of(&uri(2, 5)) && !st.has_day_of(&uri(1, 1)));
}

#[tokio::test]
async fn a_day_is_folded_into_one_checkpoint_and_marks_keep_their_latest() {
    let (dir, lake) = lake();
    let mut st = LakeState::load(&lake).await.unwrap();
    let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    for i in 0..FOLD_AT as u32 {
        // The object of record 0 is replaced (another size) by the last record.
        let size = if i == FOLD_AT as u32 - 1 { 99 } else { 10 };
        let n = if i == FOLD_AT as u32 - 1 { 0 } else { i };
        let mark = Listed {
            source: "s3://trail/|".into(),
            at: t0 + chrono::Duration::hours(i as i64),
        };
        st.record(&lake, record(vec![entry(&uri(3, n), size)], vec![mark]))
            .await
            .unwrap();
    }
    let day = files(&dir, "2024-01-03");
    assert_eq!(day.len(), 1, "{day:?}");
    assert!(day[0].starts_with("checkpoint-") && day[0].ends_with(".parquet"));
    assert_eq!(files(&dir, MARKS).len(), 1);
    let mut st = LakeState::load(&lake).await.unwrap();
    st.load_days(&lake, [day_key(&uri(3, 0))]).await.unwrap();
    assert_eq!(st.sources.len(), FOLD_AT - 1);
    assert!(st.is_current(&uri(3, 0), 99, 7, Some("e99"), None));
    assert!(!st.is_current(&uri(3, 0), 10, 7, Some("e10"), None));
    assert!(st.is_current(&uri(3, 5), 10, 7, Some("e10"), None));
    assert_eq!(
        st.listed["s3://trail/|"],
        t0 + chrono::Duration::hours(FOLD_AT as i64 - 1)
    );
}

#[tokio::test]
async fn a_crash_before_or_after_the_checkpoint_reads_the_same() {
    let (dir, lake) = lake();
    let mut st = LakeState::load(&lake).await.unwrap();
    st.record(&lake, record(vec![entry(&uri(4, 1), 1)], vec![]))
        .await
        .unwrap();
    st.record(&lake, record(vec![entry(&uri(4, 1), 2)], vec![]))
        .await
        .unwrap();
    st.record(&lake, record(vec![entry(&uri(4, 2), 5)], vec![]))
        .await
        .unwrap();
    let key = day_key(&uri(4, 1));
    let folder = dir.path().join(SOURCES_DIR).join(&key);
    let records = files(&dir, &key);
    assert_eq!(records.len(), 3);
    // Killed before the checkpoint: the records are read as they are.
    let check = |st: &LakeState| {
        assert!(st.is_current(&uri(4, 1), 2, 7, Some("e2"), None));
        assert!(!st.is_current(&uri(4, 1), 1, 7, Some("e1"), None));
        assert!(st.is_current(&uri(4, 2), 5, 7, Some("e5"), None));
    };
    let mut before = LakeState::load(&lake).await.unwrap();
    before.load_days(&lake, [key.clone()]).await.unwrap();
    check(&before);
    // Killed after the checkpoint, before its records were deleted: they are back, and the
    // checkpoint names them as folded, so the oldest (size 1) does not undo the newest.
    let saved: Vec<(String, Vec<u8>)> = records
        .iter()
        .map(|n| (n.clone(), std::fs::read(folder.join(n)).unwrap()))
        .collect();
    assert!(
        source_day::fold_day(&lake, &key, "t-fold-000001", crate::state::merge)
            .await
            .unwrap()
    );
    assert_eq!(files(&dir, &key).len(), 1);
    for (n, data) in &saved {
        std::fs::write(folder.join(n), data).unwrap();
    }
    let mut after = LakeState::load(&lake).await.unwrap();
    after.load_days(&lake, [key.clone()]).await.unwrap();
    check(&after);
    assert_eq!(after.records, 1, "one checkpoint, no record");
    // The next fold replaces the leftovers too.
    assert!(
        source_day::fold_day(&lake, &key, "t-fold-000002", crate::state::merge)
            .await
            .unwrap()
    );
    assert_eq!(files(&dir, &key).len(), 1);
    let mut again = LakeState::load(&lake).await.unwrap();
    again.load_days(&lake, [key]).await.unwrap();
    check(&again);
}

#[tokio::test]
async fn records_of_the_previous_layout_are_read_and_moved_to_their_days() {
    let (dir, lake) = lake();
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let old = record(
        vec![entry(&uri(6, 1), 4), entry("file:///b", 8)],
        vec![Listed {
            source: "s3://trail/|".into(),
            at,
        }],
    );
    // As the previous version wrote it: one JSON file for the whole checkpoint.
    lake.put(
        &format!("{SOURCES_DIR}/20240101T000000.000000Z-r-000000.json"),
        serde_json::to_vec(&old).unwrap(),
    )
    .await
    .unwrap();
    for _ in 0..2 {
        let mut st = LakeState::load(&lake).await.unwrap();
        assert_eq!(st.listed["s3://trail/|"], at);
        st.load_days(&lake, [day_key(&uri(6, 1)), day_key("file:///b")])
            .await
            .unwrap();
        assert!(st.is_current(&uri(6, 1), 4, 7, Some("e4"), None));
        assert!(st.is_current("file:///b", 8, 7, Some("e8"), None));
    }
    let top: Vec<_> = std::fs::read_dir(dir.path().join(SOURCES_DIR))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .collect();
    assert!(top.is_empty(), "moved to the days");
    assert_eq!(files(&dir, "2024-01-06").len(), 1);
    assert_eq!(files(&dir, OTHER).len(), 1);
}

#[test]
fn checkpoints_round_trip() {
    let mut e = entry("file:///c", 3);
    e.etag = None;
    e.detail = Some("damaged at line 3".into());
    e.status = SourceStatus::Damaged;
    e.window = Some((Some(5), None));
    let c = Checkpoint {
        entries: vec![e, entry("file:///d", 4)],
        listed: vec![Listed {
            source: "s".into(),
            at: chrono::DateTime::from_timestamp(1, 0).unwrap(),
        }],
        quarantine: vec!["q".into()],
        folded: vec!["a.json".into()],
    };
    let bytes = source_day::encode_checkpoint(&c).unwrap();
    assert_eq!(source_day::decode_checkpoint(bytes.into()).unwrap(), c);
}
