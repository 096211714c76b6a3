//! The single pass: every detection rule of a run evaluated in one scan of the lake (the
//! query of [`crate::plan::query`]), its results read as they come, and the events that
//! matched kept as the run's [`Hits`], put in order as findings.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::findings::{EventColumns, Finding};
use crate::order::Hits;
use crate::plan::{Narrowing, narrowing, query};
use crate::run::text;
use crate::{Error, Result};

/// The findings of the detection rules `run`, in order: every rule evaluated in one scan.
pub(crate) async fn detected(
    ctx: &SessionContext,
    run: &[&crate::plan::Planned],
    items: Arc<Vec<crate::compile::Item>>,
    table: &str,
    window: &str,
) -> Result<Vec<Finding>> {
    let compiled: Vec<_> = run.iter().map(|d| &d.compiled).collect();
    if compiled.is_empty() {
        return Ok(Vec::new());
    }
    let narrow = narrowing(&compiled);
    let spellings = match &narrow {
        Narrowing::Names(_) => spellings(ctx, table, "eventname", window).await?,
        Narrowing::Sources(_) => spellings(ctx, table, "eventsource", window).await?,
        Narrowing::None => BTreeMap::new(),
    };
    let index = crate::dispatch::RuleIndex::new(&compiled, items);
    let call = format!(
        "{}(eventname, eventsource{})",
        crate::dispatch::NAME,
        index
            .args
            .iter()
            .map(|a| format!(", {a}"))
            .collect::<String>()
    );
    ctx.register_udf(index.udf());
    let sql = query(&call, table, window, &narrow, &spellings);
    let mut stream = trailsql_query::query_stream(ctx, &sql).await?;
    // Each batch is read as the scan makes it (not all collected first), and only its
    // matched events' columns are kept, for the findings (see `EventColumns`).
    let mut hits = Hits::default();
    while let Some(b) = stream.next().await {
        let Some(b) = matched_events(b?)? else {
            continue;
        };
        let events = EventColumns::new(&b)?;
        let m = rules_matched(&b)?;
        let offsets = m.value_offsets();
        let rules = m
            .values()
            .as_primitive::<arrow::datatypes::UInt32Type>()
            .values();
        for row in 0..b.num_rows() {
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            if start < end {
                hits.add(events.event(row), &rules[start..end]);
            }
        }
    }
    let rules: Vec<_> = run.iter().map(|d| d.rule.clone()).collect();
    Ok(hits.findings(&rules))
}

/// Column `m` of the single-pass query: the rules each event matched.
fn rules_matched(b: &RecordBatch) -> Result<&arrow::array::ListArray> {
    Ok(b.column_by_name("m")
        .ok_or_else(|| Error::Usage("query lost column m".into()))?
        .as_list::<i32>())
}

/// A batch of the single-pass query with the events that matched some rule: `None` if none
/// did; as read if most did; else only those (so that a few kept events do not hold the
/// text of all the others read with them).
fn matched_events(b: RecordBatch) -> Result<Option<RecordBatch>> {
    let offsets = rules_matched(&b)?.value_offsets();
    let matched: arrow::array::BooleanArray =
        offsets.windows(2).map(|w| Some(w[0] < w[1])).collect();
    Ok(match matched.true_count() {
        0 => None,
        n if 2 * n >= b.num_rows() => Some(b),
        _ => Some(arrow::compute::filter_record_batch(&b, &matched)?),
    })
}

/// Every spelling in the lake of each (lower-case) value of a sort column.
async fn spellings(
    ctx: &SessionContext,
    table: &str,
    column: &str,
    window: &str,
) -> Result<BTreeMap<String, Vec<String>>> {
    let sql = format!("SELECT DISTINCT {column} AS v FROM {table} WHERE {window}");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for b in trailsql_query::query(ctx, &sql).await? {
        for v in text(&b, "v")?.into_iter().flatten() {
            out.entry(v.to_lowercase()).or_default().push(v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, ListArray, StringArray};
    use arrow::datatypes::UInt32Type;

    use super::*;

    /// A batch of the single-pass query's shape: an event id and the rules matched.
    fn batch(m: &[&[u32]]) -> RecordBatch {
        let ids: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..m.len()).map(|i| format!("event-{i}")),
        ));
        let m: ArrayRef = Arc::new(ListArray::from_iter_primitive::<UInt32Type, _, _>(
            m.iter().map(|r| Some(r.iter().map(|n| Some(*n)))),
        ));
        RecordBatch::try_from_iter([("eventid", ids), ("m", m)]).unwrap()
    }

    fn ids(b: &RecordBatch) -> Vec<&str> {
        b.column(0).as_string::<i32>().iter().flatten().collect()
    }

    #[test]
    fn only_events_that_matched_are_kept_and_a_mostly_matched_batch_as_read() {
        assert!(matched_events(batch(&[&[], &[]])).unwrap().is_none());
        // Most matched: the batch as read (its columns, not copies); its unmatched events
        // are skipped when read.
        let most = batch(&[&[1], &[], &[0, 2]]);
        let kept = matched_events(most.clone()).unwrap().unwrap();
        assert!(Arc::ptr_eq(kept.column(0), most.column(0)));
        // Few matched: only those.
        let few = matched_events(batch(&[&[], &[3], &[], &[], &[1, 4]]))
            .unwrap()
            .unwrap();
        assert_eq!(ids(&few), ["event-1", "event-4"]);
        let m = rules_matched(&few).unwrap();
        assert_eq!(m.value_offsets(), [0, 1, 3]);
        assert_eq!(m.values().as_primitive::<UInt32Type>().values(), &[3, 1, 4]);
    }
}
