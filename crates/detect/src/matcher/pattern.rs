//! A compiled pattern: a `|re` regular expression, or a value with wildcards, with the
//! literal text every match must contain, looked for first.
//!
//! Sigma's regular expressions are searched anywhere in the value, and rules often wrap the
//! part they look for in `.+` or `.*` (`'.+:assumed-role/aws:.+'`). The regex crate then runs
//! its automaton over the whole value from each place a match could start; looking for the
//! required text first rejects almost every value with one substring search (on the
//! benchmark, SigmaHQ's rule above tested a million principals, 646,357 of them assumed
//! roles, none matching).

use memchr::memmem::Finder;
use regex::Regex;
use regex_syntax::hir::{Hir, HirKind};

/// A regular expression and the literal pieces of text in every match of it.
#[derive(Debug, Clone)]
pub struct Pattern {
    re: Regex,
    required: Vec<Finder<'static>>,
}

impl Pattern {
    /// `re`, whose syntax is `hir` (parsed with the same flags).
    pub fn new(re: Regex, hir: Option<&Hir>) -> Pattern {
        let mut pieces = Vec::new();
        if let Some(h) = hir {
            required(h, &mut pieces);
        }
        Pattern {
            re,
            required: pieces.iter().map(|p| Finder::new(p).into_owned()).collect(),
        }
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.required
            .iter()
            .all(|f| f.find(text.as_bytes()).is_some())
            && self.re.is_match(text)
    }
}

/// The literal texts every match of `h` contains: the literals of a concatenation (through
/// groups and repetitions of at least one), nothing from alternations, classes (a
/// case-insensitive literal is one) or optional parts.
fn required(h: &Hir, out: &mut Vec<Vec<u8>>) {
    match h.kind() {
        HirKind::Literal(lit) if !lit.0.is_empty() => out.push(lit.0.to_vec()),
        HirKind::Concat(hs) => hs.iter().for_each(|h| required(h, out)),
        HirKind::Capture(c) => required(&c.sub, out),
        HirKind::Repetition(r) if r.min >= 1 => required(&r.sub, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(re: &str, case_insensitive: bool) -> Pattern {
        let compiled = regex::RegexBuilder::new(re)
            .case_insensitive(case_insensitive)
            .build()
            .unwrap();
        let hir = regex_syntax::ParserBuilder::new()
            .case_insensitive(case_insensitive)
            .build()
            .parse(re)
            .unwrap();
        Pattern::new(compiled, Some(&hir))
    }

    fn pieces(p: &Pattern) -> Vec<&[u8]> {
        p.required.iter().map(|f| f.needle()).collect()
    }

    #[test]
    fn required_text_is_what_every_match_contains() {
        let p = pattern(".+:assumed-role/aws:.+", false);
        assert_eq!(pieces(&p), [b":assumed-role/aws:".as_slice()]);
        let p = pattern(
            "^arn:(aws|aws-cn):iam::[0-9]{12}:(user|role)/(x+y)+$",
            false,
        );
        assert_eq!(
            pieces(&p),
            [b"arn:".as_slice(), b":iam::", b":", b"/", b"x", b"y"]
        );
        // Nothing is required of optional or alternative parts, nor of a literal that
        // matches in any case.
        assert!(pieces(&pattern("a?|b", false)).is_empty());
        assert!(pieces(&pattern("(abc)*d{0,3}", false)).is_empty());
        assert!(pieces(&pattern("abc", true)).is_empty());
        assert!(pieces(&pattern("(?i)abc", false)).is_empty());
    }

    #[test]
    fn a_pattern_matches_as_its_regex_does() {
        let cases = [
            (".+:assumed-role/aws:.+", false),
            (
                "^arn:(aws|aws-cn):iam::[0-9]{12}:(user|role)/(x+y)+$",
                false,
            ),
            ("a?|b", false),
            ("Ünï.ode", false),
            ("ünïCODE", true),
            ("^$", false),
        ];
        let texts = [
            "",
            "arn:aws:sts::111122223333:assumed-role/aws:ec2-infrastructure/i-1",
            "arn:aws:sts::111122223333:assumed-role/admin/alice",
            ":assumed-role/aws:",
            "x:assumed-role/aws:y",
            "arn:aws:iam::111122223333:user/xxy",
            "arn:aws-cn:iam::111122223333:role/xyxy",
            "arn:aws:iam::11112222333:user/xy",
            "b",
            "c",
            "ÜNÏCODE and Ünïcode",
        ];
        for (re, i) in cases {
            let p = pattern(re, i);
            let plain = regex::RegexBuilder::new(re)
                .case_insensitive(i)
                .build()
                .unwrap();
            for t in texts {
                assert_eq!(p.is_match(t), plain.is_match(t), "{re:?} on {t:?}");
            }
        }
    }
}
