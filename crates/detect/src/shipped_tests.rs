//! The shipped rules are trailsql's former SQL detections (the CIS monitoring checks and the
//! per-event detections of `sql/`), rewritten as Sigma: each must select exactly the events
//! its report selected from the report's fixture (`tests/fixtures/reports/ID.json`, events that
//! must match and near-misses that must not; `ID.csv`, the report's output checked by hand).

use std::collections::BTreeSet;

use crate::oracle_tests::fixtures;
use crate::plan::Plan;
use crate::rules;

/// The `event_id` column of a report's expected CSV output.
fn expected_ids(csv: &str) -> BTreeSet<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "event_id").unwrap();
    // event_id is the last column, and IDs hold no commas: take it from the right.
    assert_eq!(col, header.len() - 1, "event_id is the last column");
    lines
        .filter(|l| !l.is_empty())
        .map(|l| l.rsplit(',').next().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_shipped_rule_selects_its_former_reports_events() {
    let set = rules::load(&[]).unwrap();
    assert!(set.issues.is_empty(), "{:?}", set.issues);
    assert_eq!(set.rules.len(), 18);
    for rule in &set.rules {
        let name = rule.name.clone().expect("shipped rules have a name");
        // No detection is defined twice: the report this rule replaces is gone.
        let sql = fixtures().join("../../sql").join(format!("{name}.sql"));
        assert!(
            !sql.exists(),
            "{name} is both a Sigma rule and {}",
            sql.display()
        );
        let fx = fixtures().join("reports");
        let want = expected_ids(&std::fs::read_to_string(fx.join(format!("{name}.csv"))).unwrap());
        assert!(!want.is_empty(), "{name}: the fixture has matching events");

        let tmp = tempfile::tempdir().unwrap();
        let lake = tmp.path().join("lake").display().to_string();
        let opts = trailsql_ingest::IngestOptions::new(
            vec![fx.join(format!("{name}.json")).display().to_string()],
            lake.clone(),
        );
        trailsql_ingest::ingest(&opts).await.unwrap();
        let mut one = rules::RuleSet::default();
        one.rules.push(rule.clone());
        let plan = Plan::new(&one);
        assert!(plan.issues.is_empty(), "{:?}", plan.issues);
        let ctx = trailsql_query::open_session(&lake).await.unwrap();
        let window = crate::run::window_sql(
            Some("2024-01-01T00:00:00Z".parse().unwrap()),
            Some("2025-01-01T00:00:00Z".parse().unwrap()),
        );
        let got: BTreeSet<String> = crate::run::evaluate(&ctx, &plan, &window)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.event.eventid().unwrap().to_owned())
            .collect();
        assert_eq!(got, want, "{name}");
    }
}
