//! A Sigma detection rule compiled to one SQL boolean expression over `cloudtrail`: each
//! detection item becomes a call of the `sigma_match` function (its test, registered in a
//! [`Registry`], applied to the column its field resolves to), selections become AND/OR of
//! those calls, and the condition combines the selections. Alongside, what the rule needs of
//! the lake's leading sort columns (`eventName`, `eventSource`), so a run over many rules can
//! narrow its scan to the calls they name.

use std::collections::{BTreeSet, HashMap};

use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Quantifier, SelectorPattern, SigmaRule,
};

use crate::fields::{Source, resolve};
use crate::matcher::{Test, compile_item};

/// One detection item: where its values come from and what they must pass.
#[derive(Debug, Clone)]
pub struct Item {
    pub source: Source,
    pub test: Test,
    /// The other field of a `|fieldref`.
    pub reference: Option<Source>,
}

/// The items of every rule compiled for one run; a `sigma_match(N, ...)` call names item N.
#[derive(Debug, Default)]
pub struct Registry {
    pub items: Vec<Item>,
}

/// A necessary condition on the sort columns: the (lower-case) values of `eventName` and of
/// `eventSource` an event must have to match; `None`: any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrow {
    pub names: Option<BTreeSet<String>>,
    pub sources: Option<BTreeSet<String>>,
}

fn both(a: Option<BTreeSet<String>>, b: Option<BTreeSet<String>>) -> Option<BTreeSet<String>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.intersection(&b).cloned().collect()),
        (a, None) => a,
        (None, b) => b,
    }
}

fn either(a: Option<BTreeSet<String>>, b: Option<BTreeSet<String>>) -> Option<BTreeSet<String>> {
    match (a, b) {
        (Some(mut a), Some(b)) => {
            a.extend(b);
            Some(a)
        }
        _ => None,
    }
}

impl Narrow {
    fn and(self, o: Narrow) -> Narrow {
        Narrow {
            names: both(self.names, o.names),
            sources: both(self.sources, o.sources),
        }
    }
    fn or(self, o: Narrow) -> Narrow {
        Narrow {
            names: either(self.names, o.names),
            sources: either(self.sources, o.sources),
        }
    }
    fn none() -> Narrow {
        Narrow::default()
    }
}

/// The same condition as the SQL predicate, over item numbers: what the one-pass
/// evaluator ([`crate::dispatch`]) runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Pred {
    Item(usize),
    And(Vec<Pred>),
    Or(Vec<Pred>),
    Not(Box<Pred>),
    /// At least N of them (`N of ...`).
    AtLeast(u64, Vec<Pred>),
}

/// A compiled detection rule.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The SQL boolean that is true for the rule's events (never null).
    pub predicate: String,
    pub pred: Pred,
    pub narrow: Narrow,
    /// The top-level columns its fields read.
    pub columns: BTreeSet<String>,
}

/// A compiled expression under construction.
#[derive(Clone)]
struct Part {
    sql: String,
    narrow: Narrow,
    pred: Pred,
}

fn join(parts: Vec<Part>, op: &str) -> Part {
    let and = op == "AND";
    let mut it = parts.into_iter();
    let first = it.next().expect("at least one part");
    let mut sql = vec![first.sql];
    let mut narrow = first.narrow;
    let mut preds = vec![first.pred];
    for p in it {
        sql.push(p.sql);
        preds.push(p.pred);
        narrow = if and {
            narrow.and(p.narrow)
        } else {
            narrow.or(p.narrow)
        };
    }
    Part {
        sql: if sql.len() == 1 {
            sql.pop().expect("one")
        } else {
            format!("({})", sql.join(&format!(" {op} ")))
        },
        narrow,
        pred: if preds.len() == 1 {
            preds.pop().expect("one")
        } else if and {
            Pred::And(preds)
        } else {
            Pred::Or(preds)
        },
    }
}

/// Compile a detection rule, registering its items in `reg`.
pub fn compile_rule(rule: &SigmaRule, reg: &mut Registry) -> Result<Compiled, String> {
    let mut c = Compiler {
        reg,
        named: &rule.detection.named,
        done: HashMap::new(),
        columns: BTreeSet::new(),
    };
    if rule.detection.conditions.is_empty() {
        return Err("detection has no condition".into());
    }
    if rule.detection.timeframe.is_some() {
        return Err(
            "`timeframe` aggregations are deprecated Sigma: write a correlation rule".into(),
        );
    }
    let mut parts = Vec::new();
    for cond in &rule.detection.conditions {
        parts.push(c.condition(cond)?);
    }
    let top = join(parts, "OR");
    Ok(Compiled {
        predicate: top.sql,
        pred: top.pred,
        narrow: top.narrow,
        columns: c.columns,
    })
}

struct Compiler<'a> {
    reg: &'a mut Registry,
    named: &'a HashMap<String, Detection>,
    done: HashMap<String, Part>,
    columns: BTreeSet<String>,
}

/// Sigma's selector patterns: `*` matches any run of characters in a detection name.
fn name_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.len() >= p.len() && rest.ends_with(p);
        } else if let Some(at) = rest.find(p) {
            rest = &rest[at + p.len()..];
        } else {
            return false;
        }
    }
    true
}

impl Compiler<'_> {
    fn condition(&mut self, e: &ConditionExpr) -> Result<Part, String> {
        Ok(match e {
            ConditionExpr::And(xs) => {
                let parts = xs
                    .iter()
                    .map(|x| self.condition(x))
                    .collect::<Result<_, _>>()?;
                join(parts, "AND")
            }
            ConditionExpr::Or(xs) => {
                let parts = xs
                    .iter()
                    .map(|x| self.condition(x))
                    .collect::<Result<_, _>>()?;
                join(parts, "OR")
            }
            ConditionExpr::Not(x) => {
                let p = self.condition(x)?;
                Part {
                    sql: format!("(NOT {})", p.sql),
                    narrow: Narrow::none(),
                    pred: Pred::Not(Box::new(p.pred)),
                }
            }
            ConditionExpr::Identifier(name) => self.named(name)?,
            ConditionExpr::Selector {
                quantifier,
                pattern,
            } => {
                let mut names: Vec<&String> = self
                    .named
                    .keys()
                    .filter(|n| match pattern {
                        SelectorPattern::Them => !n.starts_with('_'),
                        SelectorPattern::Pattern(p) => name_matches(p, n),
                    })
                    .collect();
                names.sort();
                if names.is_empty() {
                    return Err(format!("condition `{e}` names no detection"));
                }
                let parts: Vec<Part> = names
                    .iter()
                    .map(|n| self.named(n))
                    .collect::<Result<_, _>>()?;
                match quantifier {
                    Quantifier::Any => join(parts, "OR"),
                    Quantifier::All => join(parts, "AND"),
                    Quantifier::Count(1) => join(parts, "OR"),
                    Quantifier::Count(n) => Part {
                        sql: format!(
                            "(({}) >= {n})",
                            parts
                                .iter()
                                .map(|p| format!("CAST({} AS INT)", p.sql))
                                .collect::<Vec<_>>()
                                .join(" + ")
                        ),
                        narrow: Narrow::none(),
                        pred: Pred::AtLeast(*n, parts.iter().map(|p| p.pred.clone()).collect()),
                    },
                }
            }
        })
    }

    fn named(&mut self, name: &str) -> Result<Part, String> {
        if let Some(p) = self.done.get(name) {
            return Ok(p.clone());
        }
        let det = self
            .named
            .get(name)
            .ok_or_else(|| format!("condition names {name:?}, which is not a detection"))?;
        let p = self
            .detection(det)
            .map_err(|e| format!("detection {name:?}: {e}"))?;
        self.done.insert(name.to_owned(), p.clone());
        Ok(p)
    }

    fn detection(&mut self, d: &Detection) -> Result<Part, String> {
        Ok(match d {
            Detection::AllOf(items) => {
                if items.is_empty() {
                    return Err("empty selection".into());
                }
                let parts = items
                    .iter()
                    .map(|i| self.item(i))
                    .collect::<Result<_, _>>()?;
                join(parts, "AND")
            }
            Detection::AnyOf(ds) => {
                if ds.is_empty() {
                    return Err("empty list".into());
                }
                let parts = ds
                    .iter()
                    .map(|d| self.detection(d))
                    .collect::<Result<_, _>>()?;
                join(parts, "OR")
            }
            Detection::And(ds) => {
                let parts = ds
                    .iter()
                    .map(|d| self.detection(d))
                    .collect::<Result<_, _>>()?;
                join(parts, "AND")
            }
            Detection::Keywords(values) => {
                let test = crate::matcher::compile_keywords(values)?;
                let source = Source::Keywords;
                let args = [self.reg.items.len().to_string(), source.arg_sql()];
                let id = self.reg.items.len();
                self.reg.items.push(Item {
                    source,
                    test,
                    reference: None,
                });
                self.columns.insert("*".into());
                Part {
                    sql: format!("sigma_match({})", args.join(", ")),
                    narrow: Narrow::none(),
                    pred: Pred::Item(id),
                }
            }
            Detection::ArrayMatch { .. } | Detection::Conditional { .. } => {
                return Err(
                    "array object-scope blocks (`field[any]:`) are a proposed Sigma extension, not supported"
                        .into(),
                );
            }
        })
    }

    fn item(&mut self, item: &DetectionItem) -> Result<Part, String> {
        let Some(field) = &item.field.name else {
            return Err(
                "keyword detections (values without a field) are not supported over CloudTrail: name the field"
                    .into(),
            );
        };
        let source = resolve(field)?;
        let it = compile_item(item).map_err(|e| format!("field {field:?}: {e}"))?;
        let reference = it.fieldref.as_deref().map(resolve).transpose()?;
        let mut narrow = Narrow::none();
        if let Some(vals) = it.test.exact_values() {
            let set: BTreeSet<String> = vals.into_iter().collect();
            if source.is_eventname() {
                narrow.names = Some(set);
            } else if source.is_eventsource() {
                narrow.sources = Some(set);
            }
        }
        self.columns.insert(source.column());
        let mut args = vec![self.reg.items.len().to_string(), source.arg_sql()];
        if let Some(r) = &reference {
            self.columns.insert(r.column());
            args.push(r.arg_sql());
        }
        let id = self.reg.items.len();
        self.reg.items.push(Item {
            source,
            test: it.test,
            reference,
        });
        Ok(Part {
            sql: format!("sigma_match({})", args.join(", ")),
            narrow,
            pred: Pred::Item(id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(detection: &str) -> SigmaRule {
        let yaml = format!(
            "title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{detection}"
        );
        let mut c = rsigma_parser::parse_sigma_yaml(&yaml).unwrap();
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        c.rules.remove(0)
    }

    #[test]
    fn conditions_and_narrowing() {
        let mut reg = Registry::default();
        let r = rule(
            "  sel:\n    eventSource: iam.amazonaws.com\n    eventName:\n      - CreateUser\n      - DeleteUser\n  filter_a:\n    userAgent|contains: x\n  filter_b:\n    errorCode: null\n  condition: sel and not 1 of filter_*\n",
        );
        let c = compile_rule(&r, &mut reg).unwrap();
        assert_eq!(
            c.predicate,
            "((sigma_match(0, eventsource) AND sigma_match(1, eventname)) AND (NOT (sigma_match(2, useragent) OR sigma_match(3, errorcode))))"
        );
        assert_eq!(
            c.narrow.names,
            Some(["createuser".to_string(), "deleteuser".to_string()].into())
        );
        assert_eq!(
            c.narrow.sources,
            Some(["iam.amazonaws.com".to_string()].into())
        );
        assert_eq!(reg.items.len(), 4);
        // An OR with an unconstrained branch is unconstrained.
        let r = rule("  a:\n    eventName: X\n  b:\n    userAgent: y\n  condition: a or b\n");
        assert_eq!(compile_rule(&r, &mut reg).unwrap().narrow, Narrow::none());
        // Counted selectors, `them`, `all of`.
        let r = rule(
            "  s1:\n    eventName: A\n  s2:\n    eventName: B\n  s3:\n    eventName: C\n  condition: 2 of them\n",
        );
        let c = compile_rule(&r, &mut reg).unwrap();
        assert!(c.predicate.contains(">= 2"), "{}", c.predicate);
        let r =
            rule("  s1:\n    eventName: A\n  s2:\n    eventSource: B\n  condition: all of s*\n");
        let c = compile_rule(&r, &mut reg).unwrap();
        assert!(c.narrow.names.is_some() && c.narrow.sources.is_some());
    }

    #[test]
    fn errors_name_the_problem() {
        let mut reg = Registry::default();
        let r = rule("  sel:\n    eventName: A\n  condition: sel and other\n");
        let e = compile_rule(&r, &mut reg).unwrap_err();
        assert!(e.contains("\"other\""), "{e}");
        let r = rule("  sel:\n    eventName: A\n  condition: 1 of nothing_*\n");
        assert!(
            compile_rule(&r, &mut reg)
                .unwrap_err()
                .contains("names no detection")
        );
        let r = rule("  sel:\n    eventName|re: '('\n  condition: sel\n");
        assert!(
            compile_rule(&r, &mut reg)
                .unwrap_err()
                .contains("regular expression")
        );
        let r = rule("  sel:\n    userIdentity: x\n  condition: sel\n");
        assert!(
            compile_rule(&r, &mut reg)
                .unwrap_err()
                .contains("object of several columns")
        );
    }

    #[test]
    fn selector_patterns() {
        assert!(name_matches("filter_*", "filter_main"));
        assert!(name_matches("*", "x"));
        assert!(name_matches("a*b*c", "axxbyyc"));
        assert!(!name_matches("a*b*c", "axxbyy"));
        assert!(!name_matches("sel", "sel2"));
    }
}
