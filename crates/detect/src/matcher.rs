//! A detection item's test: what one `field|modifiers: values` entry of a Sigma selection
//! asks of the field's values, compiled from the modifiers once (regexes built, case folded),
//! then applied to each event's [`Values`].
//!
//! Semantics (Sigma specification): a value list is OR-linked (AND with `|all`); a field that
//! holds several values (a path through an array) matches a test when any of them does;
//! strings compare case-insensitively unless `|cased` (`|re` is case-sensitive unless `|i`);
//! `*` and `?` are wildcards, `\` escapes them; `null` matches a missing or null field.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use regex::{Regex, RegexBuilder};
use rsigma_parser::{DetectionItem, Modifier, SigmaString, SigmaValue, SpecialChar, StringPart};

use crate::value::{Val, Values, is_null};

mod pattern;
use pattern::Pattern;

/// How a string test anchors its needle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrOp {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumOp {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// One compiled test of a field's values.
#[derive(Debug, Clone)]
pub enum Test {
    /// The field is missing or null.
    Null,
    /// `|exists: true/false`: the field is present and not null.
    Exists(bool),
    /// A plain string (no wildcards); the needle is lower case unless `cased`.
    Str {
        op: StrOp,
        needle: String,
        cased: bool,
    },
    /// A string with wildcards, or a `|re` regular expression.
    Regex(Pattern),
    Num(NumOp, f64),
    /// A YAML boolean: a JSON boolean, or the strings true/false, 1/0, yes/no.
    Bool(bool),
    Cidr(Cidr),
    /// `|fieldref`: equal to (or containing, ...) a value of the other field.
    FieldRef {
        op: StrOp,
        cased: bool,
    },
    Not(Box<Test>),
    Any(Vec<Test>),
    All(Vec<Test>),
}

/// Lower case, as Sigma's case-insensitive comparison folds (ASCII without allocating).
pub(crate) fn fold(s: &str) -> std::borrow::Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(s.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(s)
        }
    } else {
        std::borrow::Cow::Owned(s.to_lowercase())
    }
}

fn str_test(op: StrOp, hay: &str, needle: &str) -> bool {
    match op {
        StrOp::Equals => hay == needle,
        StrOp::Contains => memchr::memmem::find(hay.as_bytes(), needle.as_bytes()).is_some(),
        StrOp::StartsWith => hay.starts_with(needle),
        StrOp::EndsWith => hay.ends_with(needle),
    }
}

/// [`str_test`] of `hay` folded against a folded `needle`, without folding an ASCII `hay`
/// into a new string (a rule's tests run on every event of its calls).
fn folded_str_test(op: StrOp, hay: &str, needle: &str) -> bool {
    if !hay.is_ascii() {
        return str_test(op, &fold(hay), needle);
    }
    // The needle is folded: ASCII bytes compared ignoring case equal the folded hay's.
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    match op {
        StrOp::Equals => h.eq_ignore_ascii_case(n),
        StrOp::StartsWith => h.len() >= n.len() && h[..n.len()].eq_ignore_ascii_case(n),
        StrOp::EndsWith => h.len() >= n.len() && h[h.len() - n.len()..].eq_ignore_ascii_case(n),
        StrOp::Contains => str_test(op, &fold(hay), needle),
    }
}

impl Test {
    /// Does the field's `values` pass? `other` holds the values of a `|fieldref` field.
    pub fn matches(&self, values: &Values<'_>, other: &Values<'_>) -> bool {
        match self {
            Test::Null => is_null(values),
            Test::Exists(want) => is_null(values) != *want,
            Test::Not(t) => !t.matches(values, other),
            Test::Any(ts) => ts.iter().any(|t| t.matches(values, other)),
            Test::All(ts) => ts.iter().all(|t| t.matches(values, other)),
            Test::FieldRef { op, cased } => {
                let (Some(vals), Some(refs)) = (values, other) else {
                    return false;
                };
                vals.iter().filter_map(Val::text).any(|a| {
                    refs.iter().filter_map(Val::text).any(|b| {
                        if *cased {
                            str_test(*op, a, b)
                        } else {
                            str_test(*op, &fold(a), &fold(b))
                        }
                    })
                })
            }
            _ => values
                .as_ref()
                .is_some_and(|vals| vals.iter().any(|v| self.matches_one(v))),
        }
    }

    /// [`Test::matches`] for a field of one text value (`None`: missing), without building
    /// its values: the common case of a typed column. Not for `|fieldref`.
    pub fn matches_text(&self, v: Option<&str>) -> bool {
        match self {
            Test::Null => v.is_none(),
            Test::Exists(want) => v.is_some() == *want,
            Test::Not(t) => !t.matches_text(v),
            Test::Any(ts) => ts.iter().any(|t| t.matches_text(v)),
            Test::All(ts) => ts.iter().all(|t| t.matches_text(v)),
            Test::FieldRef { .. } => false,
            _ => v.is_some_and(|s| self.matches_one(&Val::Str(std::borrow::Cow::Borrowed(s)))),
        }
    }

    fn matches_one(&self, v: &Val<'_>) -> bool {
        match self {
            Test::Str { op, needle, cased } => v.text().is_some_and(|t| {
                if *cased {
                    str_test(*op, t, needle)
                } else {
                    folded_str_test(*op, t, needle)
                }
            }),
            Test::Regex(re) => v.text().is_some_and(|t| re.is_match(t)),
            Test::Num(op, n) => v.number().is_some_and(|x| match op {
                NumOp::Eq => (x - n).abs() < f64::EPSILON,
                NumOp::Gt => x > *n,
                NumOp::Gte => x >= *n,
                NumOp::Lt => x < *n,
                NumOp::Lte => x <= *n,
            }),
            Test::Bool(b) => match v {
                Val::Bool(x) => x == b,
                Val::Str(s) => match fold(s).as_ref() {
                    "true" | "1" | "yes" => *b,
                    "false" | "0" | "no" => !*b,
                    _ => false,
                },
                _ => false,
            },
            Test::Cidr(net) => v.text().is_some_and(|t| net.contains(t)),
            _ => false,
        }
    }

    /// The exact strings (case-insensitive) this test accepts, when it accepts nothing else:
    /// what narrows a rule to a set of `eventSource` / `eventName` values.
    pub fn exact_values(&self) -> Option<Vec<String>> {
        match self {
            Test::Str {
                op: StrOp::Equals,
                needle,
                cased: false,
            } => Some(vec![needle.clone()]),
            Test::Any(ts) => {
                let mut out = Vec::new();
                for t in ts {
                    out.extend(t.exact_values()?);
                }
                Some(out)
            }
            _ => None,
        }
    }
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone)]
pub struct Cidr {
    addr: std::net::IpAddr,
    bits: u32,
}

impl Cidr {
    fn parse(s: &str) -> Result<Cidr, String> {
        let (a, b) = s.split_once('/').unwrap_or((s, ""));
        let addr: std::net::IpAddr = a.trim().parse().map_err(|_| format!("bad CIDR {s:?}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = if b.is_empty() {
            max
        } else {
            b.trim().parse().map_err(|_| format!("bad CIDR {s:?}"))?
        };
        if bits > max {
            return Err(format!("bad CIDR {s:?}"));
        }
        Ok(Cidr { addr, bits })
    }

    fn contains(&self, ip: &str) -> bool {
        use std::net::IpAddr;
        let Ok(ip) = ip.trim().parse::<IpAddr>() else {
            return false;
        };
        let (a, b, max) = match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                (u128::from(u32::from(a)), u128::from(u32::from(b)), 32)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        if self.bits == 0 {
            return true;
        }
        let shift = max - self.bits;
        (a >> shift) == (b >> shift)
    }
}

/// The modifiers of one item, read once.
#[derive(Debug, Default)]
struct Mods {
    op: Option<StrOp>,
    all: bool,
    cased: bool,
    re: bool,
    re_i: bool,
    re_m: bool,
    re_s: bool,
    exists: bool,
    cidr: bool,
    fieldref: bool,
    num: Option<NumOp>,
    neq: bool,
    base64: bool,
    base64offset: bool,
    windash: bool,
    wide: bool,
}

fn mods(list: &[Modifier]) -> Result<Mods, String> {
    let mut m = Mods::default();
    for md in list {
        match md {
            Modifier::Contains => m.op = Some(StrOp::Contains),
            Modifier::StartsWith => m.op = Some(StrOp::StartsWith),
            Modifier::EndsWith => m.op = Some(StrOp::EndsWith),
            Modifier::All => m.all = true,
            Modifier::Cased => m.cased = true,
            Modifier::Re => m.re = true,
            Modifier::IgnoreCase => m.re_i = true,
            Modifier::Multiline => m.re_m = true,
            Modifier::DotAll => m.re_s = true,
            Modifier::Exists => m.exists = true,
            Modifier::Cidr => m.cidr = true,
            Modifier::FieldRef => m.fieldref = true,
            Modifier::Gt => m.num = Some(NumOp::Gt),
            Modifier::Gte => m.num = Some(NumOp::Gte),
            Modifier::Lt => m.num = Some(NumOp::Lt),
            Modifier::Lte => m.num = Some(NumOp::Lte),
            Modifier::Neq => m.neq = true,
            Modifier::Base64 => m.base64 = true,
            Modifier::Base64Offset => m.base64offset = true,
            Modifier::WindAsh => m.windash = true,
            Modifier::Wide => m.wide = true,
            other => {
                return Err(format!(
                    "modifier {:?} is not supported over CloudTrail",
                    format!("{other:?}").to_lowercase()
                ));
            }
        }
    }
    if (m.re_i || m.re_m || m.re_s) && !m.re {
        return Err("modifiers i, m and s apply to |re only".into());
    }
    Ok(m)
}

/// The compiled test of an item, and for `|fieldref` the name of the other field.
#[derive(Debug, Clone)]
pub struct ItemTest {
    pub test: Test,
    pub fieldref: Option<String>,
}

/// Compile the values of a keyword detection (values without a field): each matches a
/// string anywhere in the event, a plain one as a substring, one with wildcards as a whole
/// string; case-insensitively. Any of them (OR).
pub fn compile_keywords(values: &[SigmaValue]) -> Result<Test, String> {
    let mut tests = Vec::new();
    for v in values {
        let s = match v {
            SigmaValue::String(s) => s.clone(),
            SigmaValue::Null => return Err("a keyword cannot be null".into()),
            other => SigmaString::from_raw(&plain(other)?),
        };
        tests.push(if s.as_plain().is_some() {
            sigma_string(&s, StrOp::Contains, false)?
        } else {
            sigma_string(&s, StrOp::Equals, false)?
        });
    }
    if tests.is_empty() {
        return Err("no keywords".into());
    }
    Ok(if tests.len() == 1 {
        tests.pop().expect("one")
    } else {
        Test::Any(tests)
    })
}

/// Compile one detection item's modifiers and values.
pub fn compile_item(item: &DetectionItem) -> Result<ItemTest, String> {
    let m = mods(&item.field.modifiers)?;
    if item.values.is_empty() {
        return Err("no values".into());
    }
    if m.exists {
        let [SigmaValue::Bool(b)] = item.values.as_slice() else {
            return Err("|exists takes true or false".into());
        };
        return Ok(ItemTest {
            test: Test::Exists(*b),
            fieldref: None,
        });
    }
    if m.fieldref {
        let [value] = item.values.as_slice() else {
            return Err("|fieldref takes one field name".into());
        };
        let name = plain(value)?;
        let test = Test::FieldRef {
            op: m.op.unwrap_or(StrOp::Equals),
            cased: m.cased,
        };
        return Ok(ItemTest {
            test: if m.neq {
                Test::Not(Box::new(test))
            } else {
                test
            },
            fieldref: Some(name),
        });
    }
    let mut tests = Vec::with_capacity(item.values.len());
    for v in &item.values {
        let t = compile_value(v, &m)?;
        tests.push(if m.neq { Test::Not(Box::new(t)) } else { t });
    }
    let test = if tests.len() == 1 {
        tests.pop().expect("one test")
    } else if m.all {
        Test::All(tests)
    } else {
        Test::Any(tests)
    };
    Ok(ItemTest {
        test,
        fieldref: None,
    })
}

fn plain(v: &SigmaValue) -> Result<String, String> {
    match v {
        SigmaValue::String(s) => Ok(s.original.clone()),
        SigmaValue::Integer(n) => Ok(n.to_string()),
        SigmaValue::Float(n) => Ok(n.to_string()),
        SigmaValue::Bool(b) => Ok(b.to_string()),
        SigmaValue::Null => Err("null where a string is needed".into()),
    }
}

fn compile_value(v: &SigmaValue, m: &Mods) -> Result<Test, String> {
    if let SigmaValue::Null = v {
        return Ok(Test::Null);
    }
    if m.re {
        let pattern = plain(v)?;
        // The same syntax as the regex crate parses (with the same flags), for the text
        // every match requires; none if it cannot be read (the regex's error is the one to
        // report).
        let hir = regex_syntax::ParserBuilder::new()
            .case_insensitive(m.re_i)
            .multi_line(m.re_m)
            .dot_matches_new_line(m.re_s)
            .build()
            .parse(&pattern)
            .ok();
        let re = RegexBuilder::new(&pattern)
            .case_insensitive(m.re_i)
            .multi_line(m.re_m)
            .dot_matches_new_line(m.re_s)
            .build()
            .map_err(|e| {
                // The regex crate's message spans lines: one line, as every rule issue.
                let e = e
                    .to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                format!("bad regular expression {pattern:?}: {e}")
            })?;
        return Ok(Test::Regex(Pattern::new(re, hir.as_ref())));
    }
    if m.cidr {
        return Ok(Test::Cidr(Cidr::parse(&plain(v)?)?));
    }
    if let Some(op) = m.num {
        let n = match v {
            SigmaValue::Integer(n) => *n as f64,
            SigmaValue::Float(f) => *f,
            other => plain(other)?
                .trim()
                .parse()
                .map_err(|_| format!("{op:?} needs a number"))?,
        };
        return Ok(Test::Num(op, n));
    }
    let string_mods = m.op.is_some() || m.base64 || m.base64offset || m.windash || m.wide;
    let s = match v {
        SigmaValue::Integer(n) if !string_mods => return Ok(Test::Num(NumOp::Eq, *n as f64)),
        SigmaValue::Float(f) if !string_mods => return Ok(Test::Num(NumOp::Eq, *f)),
        SigmaValue::Bool(b) if !string_mods => return Ok(Test::Bool(*b)),
        SigmaValue::String(s) => s.clone(),
        other => SigmaString::from_raw(&plain(other)?),
    };
    if m.base64 || m.base64offset || m.wide {
        let Some(text) = s.as_plain() else {
            return Err("base64 and wide encodings need a value without wildcards".into());
        };
        let mut bytes = text.into_bytes();
        if m.wide {
            bytes = String::from_utf8_lossy(&bytes)
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect();
        }
        if m.base64offset {
            return Ok(Test::Any(
                base64_offsets(&bytes)
                    .into_iter()
                    .map(|p| str_value(&p, StrOp::Contains, m.cased))
                    .collect(),
            ));
        }
        if m.base64 {
            return Ok(str_value(
                &BASE64.encode(&bytes),
                m.op.unwrap_or(StrOp::Equals),
                m.cased,
            ));
        }
        return Err("|wide needs |base64 or |base64offset".into());
    }
    let op = m.op.unwrap_or(StrOp::Equals);
    if m.windash {
        let variants = windash(&s);
        return Ok(Test::Any(
            variants
                .iter()
                .map(|v| sigma_string(v, op, m.cased))
                .collect::<Result<_, _>>()?,
        ));
    }
    sigma_string(&s, op, m.cased)
}

fn str_value(text: &str, op: StrOp, cased: bool) -> Test {
    Test::Str {
        op,
        needle: if cased {
            text.to_owned()
        } else {
            text.to_lowercase()
        },
        cased,
    }
}

/// A Sigma string: a plain comparison, or a regex for its wildcards.
fn sigma_string(s: &SigmaString, op: StrOp, cased: bool) -> Result<Test, String> {
    if let Some(text) = s.as_plain() {
        return Ok(str_value(&text, op, cased));
    }
    let mut pattern = String::from("(?s)");
    if !cased {
        pattern.push_str("(?i)");
    }
    if matches!(op, StrOp::Equals | StrOp::StartsWith) {
        pattern.push('^');
    }
    for part in &s.parts {
        match part {
            StringPart::Plain(t) => pattern.push_str(&regex::escape(t)),
            StringPart::Special(SpecialChar::WildcardMulti) => pattern.push_str(".*"),
            StringPart::Special(SpecialChar::WildcardSingle) => pattern.push('.'),
        }
    }
    if matches!(op, StrOp::Equals | StrOp::EndsWith) {
        pattern.push('$');
    }
    let hir = regex_syntax::Parser::new().parse(&pattern).ok();
    Regex::new(&pattern)
        .map(|re| Test::Regex(Pattern::new(re, hir.as_ref())))
        .map_err(|e| format!("value {:?}: {e}", s.original))
}

/// The three base64 spellings of `bytes` at each offset in a longer encoded text (pySigma's
/// `base64offset`).
fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(bytes);
            let enc = BASE64.encode(&padded);
            let end = enc.len() - END[(bytes.len() + i) % 3];
            enc[START[i].min(end)..end].to_owned()
        })
        .collect()
}

/// `|windash`: every `-` that starts a word also as `/`, en dash, em dash and horizontal bar.
fn windash(s: &SigmaString) -> Vec<SigmaString> {
    const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
    let mut out = vec![Vec::<StringPart>::new()];
    let mut prev_space = true;
    for part in &s.parts {
        match part {
            StringPart::Plain(t) => {
                for ch in t.chars() {
                    let variants: Vec<char> = if ch == '-' && prev_space {
                        DASHES.to_vec()
                    } else {
                        vec![ch]
                    };
                    prev_space = ch.is_whitespace();
                    out = out
                        .into_iter()
                        .flat_map(|parts| {
                            variants.iter().map(move |c| {
                                let mut p = parts.clone();
                                match p.last_mut() {
                                    Some(StringPart::Plain(last)) => last.push(*c),
                                    _ => p.push(StringPart::Plain(c.to_string())),
                                }
                                p
                            })
                        })
                        .collect();
                }
            }
            special => {
                prev_space = false;
                out.iter_mut().for_each(|p| p.push(special.clone()));
            }
        }
    }
    out.into_iter()
        .map(|parts| SigmaString {
            original: s.original.clone(),
            parts,
        })
        .collect()
}

#[cfg(test)]
mod tests;
