//! The order of a run's findings: by event, then rule (then a correlation's group and
//! window), the same whatever order the scan read the lake's files in.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::findings::{Event, Finding};
use crate::rules::Rule;

/// The detection rules' hits of a scan, by event, put in order once: the events sorted by a
/// key held inline (the time and the first 16 bytes of the event id, which almost always
/// differ), the whole event compared only when keys tie, and each event's rules by id. The
/// findings are then made in order: nothing is moved after it is made (sorting 2.4M made
/// findings, and moving them into place, took 0.7 s of the benchmark's run).
#[derive(Default)]
pub struct Hits {
    events: Vec<Hit>,
    /// Every event's rules, numbers into the run's rules.
    rules: Vec<u32>,
}

struct Hit {
    time: i64,
    id: u128,
    event: Event,
    /// Its rules in `rules`.
    start: u32,
    end: u32,
}

impl Hit {
    fn cmp(&self, other: &Hit) -> Ordering {
        (self.time, self.id)
            .cmp(&(other.time, other.id))
            .then_with(|| self.event.cmp(&other.event))
    }
}

/// The first 16 bytes of an event id, zero-padded: ordered as the ids are, ties aside.
fn id_key(id: Option<&str>) -> u128 {
    let mut b = [0u8; 16];
    if let Some(id) = id {
        let n = id.len().min(16);
        b[..n].copy_from_slice(&id.as_bytes()[..n]);
    }
    u128::from_be_bytes(b)
}

impl Hits {
    /// An event and the numbers of the rules it matched.
    pub fn add(&mut self, event: Event, rules: &[u32]) {
        let start = self.rules.len() as u32;
        self.rules.extend_from_slice(rules);
        self.events.push(Hit {
            time: event.eventtime(),
            id: id_key(event.eventid()),
            event,
            start,
            end: self.rules.len() as u32,
        });
    }

    /// The findings, in the order of [`sorted`]; `rules` are the rules the numbers name.
    pub fn findings(mut self, rules: &[Arc<Rule>]) -> Vec<Finding> {
        let mut rank: Vec<u32> = (0..rules.len() as u32).collect();
        rank.sort_by(|a, b| rules[*a as usize].id.cmp(&rules[*b as usize].id));
        let mut by_id = vec![0u32; rules.len()];
        for (r, i) in rank.iter().enumerate() {
            by_id[*i as usize] = r as u32;
        }
        self.events.sort_unstable_by(Hit::cmp);
        let mut out = Vec::with_capacity(self.rules.len());
        // (rank, event) of a run of equal events (one event read twice).
        let mut group: Vec<(u32, usize)> = Vec::new();
        let mut i = 0;
        while i < self.events.len() {
            let mut j = i + 1;
            while j < self.events.len() && self.events[j].cmp(&self.events[i]).is_eq() {
                j += 1;
            }
            group.clear();
            for (k, h) in self.events[i..j].iter().enumerate() {
                let hit = &self.rules[h.start as usize..h.end as usize];
                group.extend(hit.iter().map(|r| (by_id[*r as usize], i + k)));
            }
            group.sort_unstable();
            for &(r, e) in &group {
                let rule = rules[rank[r as usize] as usize].clone();
                out.push(Finding::detected(rule, self.events[e].event.clone()));
            }
            i = j;
        }
        out
    }
}

/// Two lists of findings each in the order of [`sorted`], as one.
pub fn merged(a: Vec<Finding>, b: Vec<Finding>) -> Vec<Finding> {
    if b.is_empty() {
        return a;
    }
    if a.is_empty() {
        return b;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
        if order(y, x).is_lt() {
            out.extend(b.next());
        } else {
            out.extend(a.next());
        }
    }
    out.extend(a);
    out.extend(b);
    out
}

/// The order of findings: event, then rule, then a correlation's group and window.
fn order(a: &Finding, b: &Finding) -> Ordering {
    a.event
        .cmp(&b.event)
        .then_with(|| a.rule.id.cmp(&b.rule.id))
        .then_with(|| a.correlated.cmp(&b.correlated))
}

/// Findings by event, then rule (then a correlation's group and window): one order for a
/// run, whatever order the scan read the files in. For the few findings made apart from
/// [`Hits`] (correlations'); the detection rules' millions are made in order.
pub fn sorted(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by(order);
    findings
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
        let event =
            |t: i64, id: &str| Event::new(t, [Some(id), None, None, None, None, None, None, None]);
        // Two events at one time, and one event made twice (a correlation's copy).
        let (a, b, c) = (event(5, "b"), event(5, "a"), event(1, "z"));
        let b_again = event(5, "a");
        let f = |e: &Event, r: usize, window: Option<(i64, i64)>| Finding {
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
                f.event.eventtime(),
                f.event.eventid().unwrap().to_owned(),
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
    fn hits_make_the_findings_in_the_order_a_sort_gives() {
        let rules = rules(&["r3", "r1", "r2", "r0"]);
        let event = |t: i64, id: Option<&str>, name: &str| {
            Event::new(t, [id, None, Some(name), None, None, None, None, None])
        };
        // Ids that tie on their first 16 bytes, no id, an empty id, one event read twice
        // (equal, apart), and times out of order.
        let long = "0123456789abcdef";
        let events = [
            (event(7, Some(&format!("{long}-b")), "X"), vec![2u32, 0]),
            (event(7, Some(&format!("{long}-a")), "X"), vec![1]),
            (event(7, Some(&format!("{long}-a")), "W"), vec![3, 1]),
            (event(7, None, "X"), vec![0]),
            (event(7, Some(""), "X"), vec![3]),
            (event(3, Some("z"), "X"), vec![1, 2, 3, 0]),
            (event(7, Some(&format!("{long}-b")), "X"), vec![1, 3]),
            (event(-1, Some("a"), "X"), vec![2]),
        ];
        let mut hits = Hits::default();
        let mut made = Vec::new();
        for (e, rs) in &events {
            hits.add(e.clone(), rs);
            made.extend(
                rs.iter()
                    .map(|r| Finding::detected(rules[*r as usize].clone(), e.clone())),
            );
        }
        let key = |f: &Finding| (f.event.clone(), f.rule.id.clone());
        let got: Vec<_> = hits.findings(&rules).iter().map(key).collect();
        let want: Vec<_> = sorted(made.clone()).iter().map(key).collect();
        assert_eq!(got.len(), made.len());
        assert_eq!(got, want);
        let mut plain: Vec<_> = made.iter().map(key).collect();
        plain.sort();
        assert_eq!(got, plain);
    }

    #[test]
    fn merged_lists_keep_the_order() {
        let rules = rules(&["r1", "r2"]);
        let f = |t: i64, r: usize| Finding::detected(rules[r].clone(), Event::new(t, [None; 8]));
        let a = vec![f(1, 0), f(4, 1), f(9, 0)];
        let b = vec![f(0, 1), f(4, 0), f(10, 1)];
        let got: Vec<_> = merged(a, b)
            .iter()
            .map(|f| (f.event.eventtime(), f.rule.id.clone()))
            .collect();
        let want: Vec<_> = [
            (0, "r2"),
            (1, "r1"),
            (4, "r1"),
            (4, "r2"),
            (9, "r1"),
            (10, "r2"),
        ]
        .iter()
        .map(|(t, r)| (*t, r.to_string()))
        .collect();
        assert_eq!(got, want);
        assert_eq!(merged(vec![f(1, 0)], Vec::new()).len(), 1);
        assert_eq!(merged(Vec::new(), vec![f(1, 0)]).len(), 1);
    }
}
