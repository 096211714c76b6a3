//! `detect` against an independent evaluator: rsigma-eval matches each rule against each raw
//! record (the records rebuilt exactly from the lake's rows, as ingest guarantees), and every
//! (rule, event) pair must agree with what the compiled SQL finds over the lake.
//!
//! One deliberate difference, where we follow the issue's semantics rather than rsigma's: a
//! path that ends on a JSON object compares the object's JSON text (`requestParameters|
//! contains: '"s3:GetObject"'`); rsigma never matches a string against an object. The oracle
//! is given the same view through [`TextObjects`].

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rsigma_eval::{Event, EventValue, JsonEvent};
use serde_json::Value;
use trailsql_lake::schema::Table;

use crate::plan::Plan;
use crate::rules;

/// `../shared/data/NAME` seen from the repository or any folder above it (worktrees live
/// below the repository's parent).
pub(crate) fn shared(name: &str) -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/data").join(name))
        .find(|p| p.is_dir())
}

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// A JSON event whose objects read as their JSON text.
struct TextObjects<'a>(JsonEvent<'a>);

fn text_of(v: &EventValue<'_>) -> Value {
    match v {
        EventValue::Str(s) => Value::String(s.to_string()),
        EventValue::Int(i) => Value::from(*i),
        EventValue::Float(f) => Value::from(*f),
        EventValue::Bool(b) => Value::Bool(*b),
        EventValue::Null => Value::Null,
        EventValue::Array(a) => Value::Array(a.iter().map(text_of).collect()),
        EventValue::Map(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.to_string(), text_of(v))).collect())
        }
    }
}

fn objects_as_text(v: EventValue<'_>) -> EventValue<'_> {
    match v {
        EventValue::Map(_) => EventValue::Str(Cow::Owned(text_of(&v).to_string())),
        EventValue::Array(a) => EventValue::Array(a.into_iter().map(objects_as_text).collect()),
        other => other,
    }
}

impl Event for TextObjects<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        self.0.get_field(path).map(objects_as_text)
    }
    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.0.any_string_value(pred)
    }
    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.0.all_string_values()
    }
    fn to_json(&self) -> Value {
        self.0.to_json()
    }
}

/// Every record of the lake's `cloudtrail` table, rebuilt from its row.
fn lake_records(lake: &Path) -> Vec<Value> {
    let mut files = Vec::new();
    let mut stack = vec![lake.join(Table::CloudTrail.name())];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                files.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for f in files {
        let data = bytes::Bytes::from(std::fs::read(&f).unwrap());
        for b in trailsql_lake::file::read_file(data).unwrap() {
            for r in 0..b.num_rows() {
                out.push(trailsql_ingest::rows::rebuild(&b, Table::CloudTrail, r));
            }
        }
    }
    out
}

/// A finding's key: rule, event id, event time.
type Key = (String, Option<String>, i64);

async fn compare(rule_dirs: &[PathBuf], sources: Vec<String>, expect_rules: Option<usize>) {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake").display().to_string();
    let opts = trailsql_ingest::IngestOptions::new(sources, lake.clone());
    trailsql_ingest::ingest(&opts).await.unwrap();

    let set = rules::load(rule_dirs).unwrap();
    let plan = Plan::new(&set);
    assert!(plan.issues.is_empty(), "{:#?}", plan.issues);
    let detections = set
        .rules
        .iter()
        .filter(|r| matches!(r.body, rules::Body::Detection(_)))
        .count();
    assert_eq!(plan.detections.len(), detections);
    if let Some(n) = expect_rules {
        assert_eq!(detections, n);
    }
    // Rules a correlation aggregates report through it only.
    let quiet: BTreeSet<&str> = plan
        .correlations
        .iter()
        .filter(|c| !c.generate)
        .flat_map(|c| c.referenced.iter().map(String::as_str))
        .collect();
    let correlations: BTreeSet<&str> = plan
        .correlations
        .iter()
        .map(|c| c.rule.id.as_str())
        .collect();

    let ctx = trailsql_query::open_session(&lake).await.unwrap();
    let found: BTreeSet<Key> = crate::run::evaluate(&ctx, &plan, "TRUE")
        .await
        .unwrap()
        .into_iter()
        .filter(|f| !correlations.contains(f.rule.id.as_str()))
        .map(|f| {
            (
                f.rule.id.clone(),
                f.event.eventid().map(str::to_owned),
                f.event.eventtime(),
            )
        })
        .collect();

    let mut engine = rsigma_eval::Engine::new();
    for r in &set.rules {
        if let rules::Body::Detection(d) = &r.body
            && !quiet.contains(r.id.as_str())
        {
            engine.add_rule(d).unwrap();
        }
    }
    let mut expected = BTreeSet::new();
    let records = lake_records(Path::new(&lake));
    assert!(!records.is_empty());
    for rec in &records {
        let ev = TextObjects(JsonEvent::borrow(rec));
        let id = rec
            .get("eventID")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let t = rec
            .get("eventTime")
            .and_then(Value::as_str)
            .and_then(trailsql_ingest::time::parse_event_time)
            .unwrap();
        for m in engine.evaluate(&ev) {
            let rid = m.header.rule_id.clone().unwrap();
            expected.insert((rid, id.clone(), t));
        }
    }
    let missed: Vec<_> = expected.difference(&found).collect();
    let extra: Vec<_> = found.difference(&expected).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "{} records; detect missed {missed:#?}\nand found beyond the oracle {extra:#?}",
        records.len()
    );
    eprintln!(
        "{} records, {} rules: {} (rule, event) pairs, all agreed",
        records.len(),
        detections,
        found.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigmahq_rules_agree_with_rsigma_over_every_sample_and_fixture() {
    let (Some(rules), Some(samples)) = (shared("sigma-cloudtrail"), shared("cloudtrail-samples"))
    else {
        eprintln!("../shared/data is not here: nothing to compare");
        return;
    };
    let fx = fixtures();
    let sources = vec![
        samples.display().to_string(),
        fx.join("reports").display().to_string(),
        fx.join("shapes").display().to_string(),
        fx.join("detect").display().to_string(),
    ];
    compare(&[rules], sources, Some(57)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shipped_and_fixture_rules_agree_with_rsigma() {
    let fx = fixtures();
    let sources = vec![
        fx.join("reports").display().to_string(),
        fx.join("detect").display().to_string(),
    ];
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")];
    dirs.push(fx.join("detect/rules"));
    compare(&dirs, sources, None).await;
}
