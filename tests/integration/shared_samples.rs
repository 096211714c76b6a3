//! The third-party CloudTrail logs in ../shared/data (when present): every record
//! accounted for, one row per eventID in each partition, every row equal to its input record.

use std::collections::HashSet;

use crate::common::*;

#[test]
fn third_party_samples_are_all_accounted_for() {
    let Some(samples) = shared_samples() else {
        eprintln!("../shared/data/cloudtrail-samples is not here: nothing to check");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let s = ingest_ok(&lake, &[&samples], &[]);
    // The one intentionally malformed file is reported; nothing else is unreadable.
    assert_eq!(
        u(&s, "objects_rejected") + u(&s, "objects_damaged"),
        1,
        "{s:#}"
    );
    assert!(s["problems"].as_array().unwrap().iter().any(|p| {
        p["source"]
            .as_str()
            .unwrap()
            .ends_with("SerializerTestFileBadJsonFormat.json")
    }));

    let rows = lake_rows(&lake);
    assert_eq!(rows.len() as u64, u(&s, "written"));
    // An event's copies share its time and region, so each partition holds an eventID once.
    // The AWS guide's examples reuse a made-up eventID for different events on different
    // days: those are all kept (dropping one would lose an event).
    let mut ids = HashSet::new();
    for r in &rows {
        if let Some(id) = r.record.get("eventID").and_then(|v| v.as_str()) {
            assert!(
                ids.insert((r.partition.clone(), id.to_owned())),
                "eventID {id} twice in {}",
                r.partition
            );
        }
        assert_eq!(
            r.record,
            input_record(&r.source, r.index),
            "{}#{}",
            r.source,
            r.index
        );
    }
    assert_eq!(
        scalar(&lake, "SELECT count(*) FROM cloudtrail"),
        (u(&s, "written")
            - s["written_by_table"]["cloudtrail_insights"]
                .as_u64()
                .unwrap_or(0))
        .to_string()
    );

    let again = ingest_ok(&lake, &[&samples], &[]);
    assert_eq!(u(&again, "written"), 0);
    assert_eq!(u(&again, "objects_read"), 0);
}
