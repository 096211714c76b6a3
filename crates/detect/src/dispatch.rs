//! `sigma_rules(eventname, eventsource, col...)`: every detection rule of a run evaluated in
//! one pass, returning for each event the numbers of the rules it matches.
//!
//! Hundreds of rules as hundreds of SQL booleans cost hundreds of evaluations per event, even
//! of a cheap `eventname IN (...)`. Here each rule is filed under the call names (or, failing
//! those, the services) its condition requires, lower case; an event is tested only against
//! the rules filed under its own name and service, plus the rules that name neither. The
//! conditions are the compiled rules' [`Pred`]s over the same items and tests as the SQL
//! predicates, so the two cannot mean different things.

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
        let mut idx = RuleIndex {
            preds: rules.iter().map(|r| r.pred.clone()).collect(),
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
            // Volatile, so the optimizer does not push `cardinality(m) > 0` below the
            // projection that computes `m`: that evaluates every rule twice for each match.
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

/// One row's evaluation: item results computed once.
struct Row<'a, 'b> {
    idx: &'a RuleIndex,
    readers: &'a [Option<(Reader<'b>, Option<Reader<'b>>)>],
    row: usize,
    /// Per item: 0 not yet evaluated in this row, 1 false, 2 true; `touched` lists the set
    /// ones, to reset.
    memo: &'a mut Vec<u8>,
    touched: &'a mut Vec<usize>,
}

impl Row<'_, '_> {
    fn item(&mut self, i: usize) -> bool {
        match self.memo[i] {
            1 => return false,
            2 => return true,
            _ => {}
        }
        let test = &self.idx.items[i].test;
        let v = match &self.readers[i] {
            Some((main, None)) if main.column_text(self.row).is_some() => {
                test.matches_text(main.column_text(self.row).flatten())
            }
            Some((main, other)) => {
                let vals = main.values(self.row);
                let o = other.as_ref().and_then(|r| r.values(self.row));
                test.matches(&vals, &o)
            }
            None => false,
        };
        self.memo[i] = if v { 2 } else { 1 };
        self.touched.push(i);
        v
    }

    fn eval(&mut self, p: &Pred) -> bool {
        match p {
            Pred::Item(i) => self.item(*i),
            Pred::And(ps) => ps.iter().all(|p| self.eval(p)),
            Pred::Or(ps) => ps.iter().any(|p| self.eval(p)),
            Pred::Not(p) => !self.eval(p),
            Pred::AtLeast(n, ps) => {
                let mut k = 0;
                for p in ps {
                    if self.eval(p) {
                        k += 1;
                        if k >= *n {
                            return true;
                        }
                    }
                }
                false
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
        let mut memo = vec![0u8; idx.items.len()];
        let mut touched = Vec::new();
        let mut candidates: Vec<u32> = Vec::new();
        // The previous row's call: the lake's files are sorted by call, so most rows have
        // their predecessor's candidates (folding and hashing each row's names was a tenth
        // of the scan's work).
        let mut last: Option<(Option<&str>, Option<&str>)> = None;
        for row in 0..n {
            let call = (names.get(row), sources.get(row));
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
                memo[i] = 0;
            }
            let mut r = Row {
                idx,
                readers: &readers,
                row,
                memo: &mut memo,
                touched: &mut touched,
            };
            let values = out.values();
            for &c in &candidates {
                if r.eval(&idx.preds[c as usize]) {
                    values.append_value(c);
                }
            }
            out.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
