//! The order of a run's findings: by event, then rule (then a correlation's group and
//! window), the same whatever order the scan read the lake's files in.

use std::sync::Arc;

use crate::findings::Finding;

/// Findings by event, then rule (then a correlation's group and window): one order for a
/// run, whatever order the scan read the files in. The findings of one event are made
/// together and share it, so the runs of one event are sorted by their event, and each run
/// by rule: events are compared once per run, not once per finding (sorting 2.4M findings
/// one by one was a tenth of `detect`'s time on the benchmark).
pub fn sorted(findings: Vec<Finding>) -> Vec<Finding> {
    // (event time, start, end): the time inline, so most comparisons read no event.
    let mut runs: Vec<(i64, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < findings.len() {
        let mut j = i + 1;
        while j < findings.len() && Arc::ptr_eq(&findings[j].event, &findings[i].event) {
            j += 1;
        }
        runs.push((findings[i].event.eventtime, i, j));
        i = j;
    }
    runs.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| findings[a.1].event.cmp(&findings[b.1].event))
    });
    let by_rule = |a: &Finding, b: &Finding| {
        a.rule
            .id
            .cmp(&b.rule.id)
            .then_with(|| a.correlated.cmp(&b.correlated))
    };
    // The order as positions, then the findings moved into it in place.
    let mut order: Vec<usize> = Vec::with_capacity(findings.len());
    let mut k = 0;
    while k < runs.len() {
        // Runs of equal events made apart (a correlation's, a detection's) sort as one.
        let first = &findings[runs[k].1].event;
        let mut m = k + 1;
        while m < runs.len() && runs[m].0 == runs[k].0 && *findings[runs[m].1].event == **first {
            m += 1;
        }
        let start = order.len();
        for &(_, a, b) in &runs[k..m] {
            order.extend(a..b);
        }
        order[start..].sort_unstable_by(|a, b| by_rule(&findings[*a], &findings[*b]));
        k = m;
    }
    let mut findings = findings;
    permute(&mut findings, &order);
    findings
}

/// Reorder `v` so that its item `i` is the one at `order[i]` before: each cycle of the
/// permutation is followed by swaps, so no second copy of `v` is made (2.4M findings are
/// 150 MB).
fn permute<T>(v: &mut [T], order: &[usize]) {
    let mut done = vec![false; v.len()];
    for i in 0..v.len() {
        if done[i] {
            continue;
        }
        let mut at = i;
        loop {
            done[at] = true;
            let from = order[at];
            if from == i {
                break;
            }
            v.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Correlated, Event};
    use crate::rules::RuleSet;

    fn rules(ids: &[&str]) -> Vec<Arc<crate::rules::Rule>> {
        let mut set = RuleSet::default();
        for id in ids {
            set.add_text(
                &format!("{id}.yml"),
                &format!(
                    "title: t\nid: {id}\nlogsource:\n  product: aws\n  service: cloudtrail\n\
                     detection:\n  s:\n    eventName: X\n  condition: s\n"
                ),
            );
        }
        assert!(set.issues.is_empty(), "{:?}", set.issues);
        set.rules.into_iter().map(Arc::new).collect()
    }

    #[test]
    fn findings_sort_by_event_then_rule_whatever_order_they_came_in() {
        let rules = rules(&["r3", "r1", "r2"]);
        let event = |t: i64, id: &str| {
            Arc::new(Event {
                eventtime: t,
                eventid: Some(id.into()),
                ..Default::default()
            })
        };
        // Two events at one time, and one event made twice (a correlation's copy).
        let (a, b, c) = (event(5, "b"), event(5, "a"), event(1, "z"));
        let b_again = event(5, "a");
        let f = |e: &Arc<Event>, r: usize, window: Option<(i64, i64)>| Finding {
            rule: rules[r].clone(),
            event: e.clone(),
            correlated: window.map(|window| {
                Box::new(Correlated {
                    group: Some("g".to_owned()),
                    window,
                })
            }),
        };
        let made = vec![
            f(&a, 0, None),
            f(&a, 1, None),
            f(&b, 2, None),
            f(&b, 0, None),
            f(&c, 1, None),
            f(&b_again, 1, Some((0, 9))),
            f(&b_again, 1, Some((0, 3))),
        ];
        let key = |f: &Finding| {
            (
                f.event.eventtime,
                f.event.eventid.clone().unwrap(),
                f.rule.id.clone(),
                f.window(),
            )
        };
        let got: Vec<_> = sorted(made.clone()).iter().map(key).collect();
        let mut want: Vec<_> = made.iter().map(key).collect();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(got[0].1, "z");
        assert_eq!(
            got.iter()
                .map(|k| (k.1.as_str(), k.2.as_str()))
                .collect::<Vec<_>>(),
            [
                ("z", "r1"),
                ("a", "r1"),
                ("a", "r1"),
                ("a", "r2"),
                ("a", "r3"),
                ("b", "r1"),
                ("b", "r3")
            ]
        );
    }

    #[test]
    fn a_permutation_moves_each_item_to_its_place() {
        // Every permutation of five items (cycles of every length), against a copy.
        let mut order: Vec<usize> = (0..5).collect();
        let mut seen = 0;
        loop {
            let mut v: Vec<String> = (0..5).map(|i| format!("x{i}")).collect();
            let want: Vec<String> = order.iter().map(|i| v[*i].clone()).collect();
            permute(&mut v, &order);
            assert_eq!(v, want, "{order:?}");
            seen += 1;
            // The next permutation in lexicographic order.
            let Some(i) = (0..4).rev().find(|&i| order[i] < order[i + 1]) else {
                break;
            };
            let j = (i + 1..5).rev().find(|&j| order[j] > order[i]).unwrap();
            order.swap(i, j);
            order[i + 1..].reverse();
        }
        assert_eq!(seen, 120);
    }
}
