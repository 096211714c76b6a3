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
    /// Taken by its last finding when the findings are made.
    event: Option<Event>,
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
            event: Some(event),
            start,
            end: self.rules.len() as u32,
        });
    }

    /// The findings, in the order of [`sorted`]; `rules` are the rules the numbers name.
    /// Made on every core: the events are split into ranges of keys, each sorted and made
    /// into findings on a thread of its own (on one thread, this was a tenth of a run over
    /// the benchmark's million events, with the other core idle).
    pub fn findings(self, rules: &[Arc<Rule>]) -> Vec<Finding> {
        let n = self.events.len();
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get().clamp(1, 8));
        self.findings_in(rules, if n < PARALLEL { 1 } else { threads })
    }

    /// [`Hits::findings`] made in `parts` ranges, each on a thread.
    fn findings_in(mut self, rules: &[Arc<Rule>], parts: usize) -> Vec<Finding> {
        let mut rank: Vec<u32> = (0..rules.len() as u32).collect();
        rank.sort_by(|a, b| rules[*a as usize].id.cmp(&rules[*b as usize].id));
        let mut by_id = vec![0u32; rules.len()];
        for (r, i) in rank.iter().enumerate() {
            by_id[*i as usize] = r as u32;
        }
        let n = self.events.len();
        let mut bounds: Vec<usize> = (0..=parts).map(|p| n * p / parts).collect();
        split(&mut self.events, &bounds[1..parts]);
        std::thread::scope(|s| {
            for part in ranges(&mut self.events, &bounds) {
                s.spawn(move || part.sort_unstable_by(Hit::cmp));
            }
        });
        // Equal events (one read twice) are made into findings together, in one range.
        for p in 1..parts {
            let mut b = bounds[p].max(bounds[p - 1]);
            while b > 0 && b < n && self.events[b].cmp(&self.events[b - 1]).is_eq() {
                b += 1;
            }
            bounds[p] = b;
        }
        // The first range's vector has room for all the findings, so that only the others'
        // are copied (and their memory faulted in) twice.
        let total = self.rules.len();
        let (numbers, order) = (&self.rules[..], (&rank[..], &by_id[..], rules));
        let made: Vec<Vec<Finding>> = std::thread::scope(|s| {
            let handles: Vec<_> = ranges(&mut self.events, &bounds)
                .into_iter()
                .enumerate()
                .map(|(p, range)| {
                    let room = if p == 0 { total } else { 0 };
                    s.spawn(move || made(range, numbers, order, room))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a thread making findings panicked"))
                .collect()
        });
        let mut made = made.into_iter();
        let mut out = made.next().unwrap_or_default();
        for m in made {
            out.extend(m);
        }
        out
    }
}

/// The findings of the sorted `events`, in a vector with room for `room`: `numbers` holds
/// their rules' numbers, `rank` orders the rules by id, `by_id` is each rule's place in it.
/// Each event's last finding takes it from its hit, the others share it: cloning it for
/// every finding and dropping the hits after was 1M more reference counts, on one core.
fn made(
    events: &mut [Hit],
    numbers: &[u32],
    (rank, by_id, rules): (&[u32], &[u32], &[Arc<Rule>]),
    room: usize,
) -> Vec<Finding> {
    let mut out = Vec::with_capacity(room);
    // (rank, event) of a run of equal events (one event read twice), and where in it
    // each event is last.
    let mut group: Vec<(u32, usize)> = Vec::new();
    let mut last: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let mut j = i + 1;
        while j < events.len() && events[j].cmp(&events[i]).is_eq() {
            j += 1;
        }
        group.clear();
        for (k, h) in events[i..j].iter().enumerate() {
            let hit = &numbers[h.start as usize..h.end as usize];
            group.extend(hit.iter().map(|r| (by_id[*r as usize], k)));
        }
        group.sort_unstable();
        last.clear();
        last.resize(j - i, 0);
        for (n, &(_, k)) in group.iter().enumerate() {
            last[k] = n;
        }
        for (n, &(r, k)) in group.iter().enumerate() {
            let rule = rules[rank[r as usize] as usize].clone();
            let hit = &mut events[i + k].event;
            let event = if last[k] == n {
                hit.take()
            } else {
                hit.clone()
            };
            out.push(Finding::detected(
                rule,
                event.expect("an event's findings are made once"),
            ));
        }
        i = j;
    }
    out
}

/// `hits` cut at `bounds` (ascending, from 0 to its length).
fn ranges<'a>(mut hits: &'a mut [Hit], bounds: &[usize]) -> Vec<&'a mut [Hit]> {
    bounds
        .windows(2)
        .map(|w| {
            let (range, rest) = std::mem::take(&mut hits).split_at_mut(w[1] - w[0]);
            hits = rest;
            range
        })
        .collect()
}

/// Events below which the findings are made on one thread.
const PARALLEL: usize = 1 << 14;

/// Put `hits` in ranges split at `bounds` (ascending indices): every hit of a range orders
/// before or with every hit of the next, so the ranges sorted apart are sorted together.
fn split(hits: &mut [Hit], bounds: &[usize]) {
    if bounds.is_empty() {
        return;
    }
    let mid = bounds.len() / 2;
    let at = bounds[mid];
    hits.select_nth_unstable_by(at, Hit::cmp);
    let (below, above) = hits.split_at_mut(at);
    split(below, &bounds[..mid]);
    let above_bounds: Vec<usize> = bounds[mid + 1..].iter().map(|b| b - at).collect();
    split(above, &above_bounds);
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
    fn hits_made_on_several_threads_are_in_the_order_of_one() {
        let rules = rules(&["r3", "r1", "r2", "r0"]);
        // Few times and ids, so that many events tie on their key, some are read twice,
        // and a range's end falls inside runs of equal events.
        let events: Vec<Event> = (0..3000u64)
            .map(|i| {
                let x = i.wrapping_mul(2654435761) % 1000;
                let id = format!("{:016}-{}", x % 7, x % 3);
                Event::new(
                    (x % 5) as i64,
                    [Some(id.as_str()), None, None, None, None, None, None, None],
                )
            })
            .collect();
        let hits = |parts: usize| {
            let mut h = Hits::default();
            for (i, e) in events.iter().enumerate() {
                h.add(
                    e.clone(),
                    &[(i % 4) as u32, ((i / 4) % 4) as u32][..1 + i % 2],
                );
            }
            let key = |f: &Finding| (f.event.clone(), f.rule.id.clone());
            h.findings_in(&rules, parts)
                .iter()
                .map(key)
                .collect::<Vec<_>>()
        };
        let one = hits(1);
        assert_eq!(one.len(), 4500);
        let mut plain = one.clone();
        plain.sort();
        assert_eq!(one, plain);
        for parts in [2, 3, 5, 8] {
            assert_eq!(hits(parts), one, "{parts} parts");
        }
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
