//! `sigma_rules(eventname, eventsource, col...)`: every detection rule of a run evaluated in
//! one pass, returning for each event the numbers of the rules it matches.
//!
//! Hundreds of rules as hundreds of SQL booleans cost hundreds of evaluations per event, even
//! of a cheap `eventname IN (...)`. Here each rule is filed under the call names (or, failing
//! those, the services) its condition requires, lower case; an event is tested only against
//! the rules filed under its own name and service, plus the rules that name neither. The
//! conditions are the compiled rules' [`Pred`]s over the same items and tests as the SQL
//! predicates, so the two cannot mean different things. Rows are evaluated a `Chunk` of
//! one call at a time, not one by one.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{ArrayRef, ListBuilder, UInt32Builder};
use arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::compile::{Compiled, Item, Pred};
use crate::matcher::fold;
use crate::udf::{Reader, Text};

pub const NAME: &str = "sigma_rules";

/// The rules of one run, filed for dispatch.
#[derive(Debug)]
pub struct RuleIndex {
    preds: Vec<Pred>,
    items: Arc<Vec<Item>>,
    /// For each item: its argument, and its `|fieldref` field's.
    item_args: Vec<(usize, Option<usize>)>,
    /// Per item: it reads only the call's columns (`eventName`, `eventSource`), whose values
    /// are the same in every row of a chunk.
    per_call: Vec<bool>,
    by_name: HashMap<String, Vec<u32>>,
    by_source: HashMap<String, Vec<u32>>,
    always: Vec<u32>,
    /// The SQL arguments after `eventname, eventsource`.
    pub args: Vec<String>,
}

impl RuleIndex {
    pub fn new(rules: &[&Compiled], items: Arc<Vec<Item>>) -> RuleIndex {
        let mut args: Vec<String> = Vec::new();
        let mut arg = |sql: String| -> usize {
            match args.iter().position(|a| *a == sql) {
                Some(i) => i + 2,
                None => {
                    args.push(sql);
                    args.len() + 1
                }
            }
        };
        let mut item_args = Vec::with_capacity(items.len());
        let mut used = vec![false; items.len()];
        for r in rules {
            mark(&r.pred, &mut used);
        }
        for (i, it) in items.iter().enumerate() {
            if used[i] {
                let a = arg(it.source.arg_sql());
                let b = it.reference.as_ref().map(|r| arg(r.arg_sql()));
                item_args.push((a, b));
            } else {
                item_args.push((usize::MAX, None));
            }
        }
        let per_call = items
            .iter()
            .map(|it| {
                it.reference.is_none() && (it.source.is_eventname() || it.source.is_eventsource())
            })
            .collect();
        let mut idx = RuleIndex {
            preds: rules.iter().map(|r| r.pred.clone()).collect(),
            per_call,
            items,
            item_args,
            by_name: HashMap::new(),
            by_source: HashMap::new(),
            always: Vec::new(),
            args,
        };
        for (i, r) in rules.iter().enumerate() {
            let i = i as u32;
            if let Some(names) = &r.narrow.names {
                for n in names {
                    idx.by_name.entry(n.clone()).or_default().push(i);
                }
            } else if let Some(sources) = &r.narrow.sources {
                for s in sources {
                    idx.by_source.entry(s.clone()).or_default().push(i);
                }
            } else {
                idx.always.push(i);
            }
        }
        idx
    }

    /// The function over this index.
    pub fn udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(SigmaRules {
            index: Arc::new(self),
            // Volatile, so the optimizer never moves or repeats it: a filter on `m` pushed
            // below the projection computing it evaluated every rule twice for each match.
            signature: Signature::variadic_any(Volatility::Volatile),
        })
    }
}

fn mark(p: &Pred, used: &mut [bool]) {
    match p {
        Pred::Item(i) => used[*i] = true,
        Pred::And(ps) | Pred::Or(ps) | Pred::AtLeast(_, ps) => {
            ps.iter().for_each(|p| mark(p, used))
        }
        Pred::Not(p) => mark(p, used),
    }
}

struct SigmaRules {
    index: Arc<RuleIndex>,
    signature: Signature,
}

impl std::fmt::Debug for SigmaRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigmaRules")
            .field("rules", &self.index.preds.len())
            .finish()
    }
}
impl PartialEq for SigmaRules {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.index, &other.index)
    }
}
impl Eq for SigmaRules {}
impl Hash for SigmaRules {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.index) as usize).hash(state)
    }
}

/// Rows evaluated together: a run of rows of one call, at most 64, a bit each in a word.
/// The lake's files are sorted by call, so a chunk's rows share their candidate rules, and
/// an item on the call's own columns has one value for all of them; every rule and item is
/// walked once per chunk instead of once per row (per row, the walk and its bookkeeping
/// cost more than the tests themselves).
const CHUNK: usize = 64;

/// One chunk's evaluation: each item tested at most once per row, only for the rows whose
/// result can still depend on it.
struct Chunk<'a, 'b> {
    idx: &'a RuleIndex,
    readers: &'a [Option<(Reader<'b>, Option<Reader<'b>>)>],
    /// The chunk's first row.
    start: usize,
    /// A bit for each of the chunk's rows.
    all: u64,
    /// Per item: the rows tested so far, and those that matched. `touched` lists the items
    /// tested, to reset.
    done: &'a mut [u64],
    hit: &'a mut [u64],
    touched: &'a mut Vec<usize>,
}

impl Chunk<'_, '_> {
    /// The rows of `mask` whose values pass item `i`.
    fn item(&mut self, i: usize, mask: u64) -> u64 {
        let need = mask & !self.done[i];
        if need != 0 {
            if self.done[i] == 0 {
                self.touched.push(i);
            }
            if self.idx.per_call[i] {
                // The same value in every row of the chunk: one test decides them all.
                let row = self.start + need.trailing_zeros() as usize;
                if self.test(i, row) {
                    self.hit[i] = self.all;
                }
                self.done[i] = self.all;
            } else {
                let mut bits = need;
                while bits != 0 {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if self.test(i, self.start + b) {
                        self.hit[i] |= 1 << b;
                    }
                }
                self.done[i] |= need;
            }
        }
        self.hit[i] & mask
    }

    fn test(&self, i: usize, row: usize) -> bool {
        let test = &self.idx.items[i].test;
        match &self.readers[i] {
            Some((main, None)) => match main.column_text(row) {
                Some(text) => test.matches_text(text),
                None => test.matches(&main.values(row), &None),
            },
            Some((main, Some(other))) => test.matches(&main.values(row), &other.values(row)),
            None => false,
        }
    }

    /// The rows of `mask` for which `p` holds.
    fn eval(&mut self, p: &Pred, mask: u64) -> u64 {
        if mask == 0 {
            return 0;
        }
        match p {
            Pred::Item(i) => self.item(*i, mask),
            Pred::And(ps) => {
                let mut m = mask;
                for p in ps {
                    m = self.eval(p, m);
                    if m == 0 {
                        break;
                    }
                }
                m
            }
            Pred::Or(ps) => {
                let (mut yes, mut rest) = (0, mask);
                for p in ps {
                    let r = self.eval(p, rest);
                    yes |= r;
                    rest &= !r;
                    if rest == 0 {
                        break;
                    }
                }
                yes
            }
            Pred::Not(p) => mask & !self.eval(p, mask),
            Pred::AtLeast(n, ps) => {
                let mut yes = 0;
                let mut rows = mask;
                while rows != 0 {
                    let row = rows & rows.wrapping_neg();
                    rows &= rows - 1;
                    let mut k = 0;
                    for p in ps {
                        if self.eval(p, row) != 0 {
                            k += 1;
                            if k >= *n {
                                yes |= row;
                                break;
                            }
                        }
                    }
                }
                yes
            }
        }
    }
}

impl ScalarUDFImpl for SigmaRules {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new(
            "item",
            DataType::UInt32,
            true,
        ))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let idx = &self.index;
        if args.args.len() != idx.args.len() + 2 {
            return exec_err!("{NAME}: expected {} arguments", idx.args.len() + 2);
        }
        let arrays: Vec<ArrayRef> = args
            .args
            .into_iter()
            .map(|a| a.into_array(n))
            .collect::<Result<_>>()?;
        let names = Text::new(arrays[0].as_ref())?;
        let sources = Text::new(arrays[1].as_ref())?;
        let mut readers = Vec::with_capacity(idx.items.len());
        for (i, it) in idx.items.iter().enumerate() {
            let (a, b) = idx.item_args[i];
            if a == usize::MAX {
                readers.push(None);
                continue;
            }
            let main = Reader::new(&it.source, &arrays[a])?;
            let other = match (&it.reference, b) {
                (Some(s), Some(b)) => Some(Reader::new(s, &arrays[b])?),
                _ => None,
            };
            readers.push(Some((main, other)));
        }
        let mut out = ListBuilder::with_capacity(UInt32Builder::new(), n);
        let mut done = vec![0u64; idx.items.len()];
        let mut hit = vec![0u64; idx.items.len()];
        let mut touched = Vec::new();
        let mut candidates: Vec<u32> = Vec::new();
        let mut matched: Vec<u64> = Vec::new();
        // The previous chunk's call: most chunks have their predecessor's candidates
        // (folding and hashing each row's names was a tenth of the scan's work).
        let mut last: Option<(Option<&str>, Option<&str>)> = None;
        let mut start = 0;
        while start < n {
            let call = (names.get(start), sources.get(start));
            let mut end = start + 1;
            while end < n && end - start < CHUNK && (names.get(end), sources.get(end)) == call {
                end += 1;
            }
            if last != Some(call) {
                last = Some(call);
                candidates.clear();
                if let Some(rs) = call.0.and_then(|name| idx.by_name.get(fold(name).as_ref())) {
                    candidates.extend(rs);
                }
                if let Some(rs) = call.1.and_then(|src| idx.by_source.get(fold(src).as_ref())) {
                    candidates.extend(rs);
                }
                candidates.extend(&idx.always);
            }
            for i in touched.drain(..) {
                done[i] = 0;
                hit[i] = 0;
            }
            let all = u64::MAX >> (CHUNK - (end - start));
            let mut chunk = Chunk {
                idx,
                readers: &readers,
                start,
                all,
                done: &mut done,
                hit: &mut hit,
                touched: &mut touched,
            };
            matched.clear();
            matched.extend(
                candidates
                    .iter()
                    .map(|&c| chunk.eval(&idx.preds[c as usize], all)),
            );
            for b in 0..end - start {
                let values = out.values();
                for (&c, m) in candidates.iter().zip(&matched) {
                    if m >> b & 1 == 1 {
                        values.append_value(c);
                    }
                }
                out.append(true);
            }
            start = end;
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, RecordBatch, StringViewArray};
    use arrow::datatypes::{Schema, UInt32Type};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::plan::Plan;
    use crate::rules::RuleSet;

    /// Rules of every condition form, filed by call name, by service and under neither.
    const RULES: [&str; 9] = [
        "  s:\n    eventName: A\n    errorCode: null\n  condition: s",
        "  s:\n    eventSource: s1\n    userAgent|contains: x\n  condition: s",
        "  sel:\n    eventName: [A, B]\n  f:\n    userAgent|startswith: bot\n  condition: sel and not f",
        "  s1:\n    eventName: A\n  s2:\n    errorCode|exists: true\n  s3:\n    awsRegion: us-east-1\n  condition: 2 of them",
        "  s:\n    userAgent|re: '^a.*z$'\n  condition: s",
        "  s:\n    eventName|contains: a\n  condition: s",
        "  a:\n    eventSource: s2\n  b:\n    errorCode: Denied\n  condition: a or b",
        "  s:\n    eventName|cased: A\n  condition: s",
        "  s:\n    eventSource: s1\n  f:\n    eventName: B\n  condition: s and not f",
    ];

    /// Runs of one call of every length around a chunk's, each row's other fields varied.
    fn batch() -> RecordBatch {
        let calls = [
            (Some("A"), Some("s1")),
            (Some("B"), Some("s1")),
            (Some("a"), Some("s2")),
            (Some("C"), Some("s2")),
            (None, Some("s1")),
            (Some("A"), None),
        ];
        let agents = [
            Some("x-agent"),
            Some("bot/1"),
            Some("abcz"),
            None,
            Some("AXZ"),
        ];
        let errors = [None, Some("Denied"), Some("Other")];
        let regions = [Some("us-east-1"), Some("eu-west-1"), None];
        let mut cols: [Vec<Option<&str>>; 5] = Default::default();
        let mut row = 0;
        for (i, len) in [1, 1, 2, 63, 64, 65, 130, 5, 40, 128, 3].iter().enumerate() {
            for _ in 0..*len {
                let (name, source) = calls[i % calls.len()];
                cols[0].push(name);
                cols[1].push(source);
                cols[2].push(agents[row % agents.len()]);
                cols[3].push(errors[row / 3 % errors.len()]);
                cols[4].push(regions[row / 7 % regions.len()]);
                row += 1;
            }
        }
        let names = [
            "eventname",
            "eventsource",
            "useragent",
            "errorcode",
            "awsregion",
        ];
        let schema = Schema::new(
            names
                .iter()
                .map(|n| Field::new(*n, DataType::Utf8View, true))
                .collect::<Vec<_>>(),
        );
        let arrays = cols
            .into_iter()
            .map(|c| Arc::new(StringViewArray::from(c)) as ArrayRef)
            .collect();
        RecordBatch::try_new(Arc::new(schema), arrays).unwrap()
    }

    #[tokio::test]
    async fn chunks_of_rows_find_what_each_rule_finds_row_by_row() {
        let mut set = RuleSet::default();
        for (i, d) in RULES.iter().enumerate() {
            set.add_text(
                &format!("r{i}.yml"),
                &format!(
                    "title: t\nid: r{i}\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{d}\n"
                ),
            );
        }
        let plan = Plan::new(&set);
        assert!(plan.issues.is_empty(), "{:?}", plan.issues);
        let compiled: Vec<&Compiled> = plan.detections.iter().map(|d| &d.compiled).collect();
        let items = Arc::new(plan.registry.items.clone());
        let index = RuleIndex::new(&compiled, items.clone());
        assert!(!index.by_name.is_empty() && !index.by_source.is_empty());
        assert!(!index.always.is_empty());
        let ctx = SessionContext::new();
        for f in crate::udf::functions(items) {
            ctx.register_udf(f);
        }
        let b = batch();
        let table = MemTable::try_new(b.schema(), vec![vec![b.clone()]]).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        let args: String = index.args.iter().map(|a| format!(", {a}")).collect();
        // Each rule's own SQL predicate, evaluated row by row.
        let preds: String = compiled
            .iter()
            .enumerate()
            .map(|(i, c)| format!(", {} AS p{i}", c.predicate))
            .collect();
        ctx.register_udf(index.udf());
        let sql = format!("SELECT {NAME}(eventname, eventsource{args}) AS m{preds} FROM t");
        let out = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let (mut rows, mut found) = (0, vec![0; compiled.len()]);
        for o in &out {
            let m = o.column(0).as_list::<i32>();
            for row in 0..o.num_rows() {
                let got: Vec<u32> = m.value(row).as_primitive::<UInt32Type>().values().to_vec();
                let mut got_sorted = got.clone();
                got_sorted.sort_unstable();
                let want: Vec<u32> = (0..compiled.len())
                    .filter(|i| o.column(i + 1).as_boolean().value(row))
                    .map(|i| i as u32)
                    .collect();
                assert_eq!(got_sorted, want, "row {}", rows + row);
                for r in got {
                    found[r as usize] += 1;
                }
            }
            rows += o.num_rows();
        }
        assert_eq!(rows, b.num_rows());
        // Every rule matches some rows and misses others.
        assert!(
            found.iter().all(|n| *n > 0 && *n < rows),
            "{found:?} of {rows}"
        );
    }
}
