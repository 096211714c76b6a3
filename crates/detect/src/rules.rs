//! The rule set: Sigma YAML files read from `--rules` paths (files, or directories searched
//! recursively for `.yml`/`.yaml`) or, when none is given, the rules trailsql ships (embedded
//! from `crates/detect/rules/`). Every document is accounted for: a rule for CloudTrail, a
//! rule for another log source (skipped, counted), or one that cannot be read (an issue with
//! its path and the reason).

use std::path::{Path, PathBuf};

use rsigma_parser::{CorrelationRule, SigmaRule};

use crate::{Error, Result};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/rules.rs"));
}

/// A rule's body.
#[derive(Debug, Clone)]
pub enum Body {
    Detection(Box<SigmaRule>),
    Correlation(Box<CorrelationRule>),
}

/// One rule and what a finding reports about it.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's `id`, or its file name when it has none.
    pub id: String,
    /// The rule's `name` (correlations may reference rules by it).
    pub name: Option<String>,
    pub title: String,
    pub level: String,
    pub status: String,
    pub tags: Vec<String>,
    pub author: String,
    /// The file it came from (`builtin:NAME` for a shipped rule).
    pub path: String,
    pub body: Body,
}

impl Rule {
    /// The ATT&CK tactics among the tags (`attack.persistence` -> `persistence`).
    pub fn tactics(&self) -> Vec<String> {
        self.tags
            .iter()
            .filter_map(|t| t.strip_prefix("attack."))
            .filter(|t| !is_technique(t) && !t.starts_with('g') && !t.starts_with('s'))
            .map(str::to_owned)
            .collect()
    }
}

fn is_technique(t: &str) -> bool {
    t.len() > 1 && t.starts_with('t') && t[1..].chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// A document that could not be used, with where it is and why.
#[derive(Debug, Clone)]
pub struct RuleIssue {
    pub path: String,
    /// The rule's id (or title) when it got that far.
    pub rule: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for RuleIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.rule {
            Some(r) => write!(f, "{}: rule {r}: {}", self.path, self.reason),
            None => write!(f, "{}: {}", self.path, self.reason),
        }
    }
}

/// What loading found.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Rules for another log source than AWS CloudTrail: (path, id).
    pub skipped: Vec<(String, String)>,
    pub issues: Vec<RuleIssue>,
    /// Files read.
    pub files: usize,
}

/// Load the rules of `paths`, or the shipped ones when `paths` is empty.
pub fn load(paths: &[PathBuf]) -> Result<RuleSet> {
    let mut set = RuleSet::default();
    if paths.is_empty() {
        for (name, text) in embedded::BUILTIN {
            set.add_text(&format!("builtin:{name}"), text);
        }
        return Ok(set);
    }
    for p in paths {
        let mut files = Vec::new();
        walk(p, &mut files)?;
        files.sort();
        for f in files {
            let path = f.display().to_string();
            match std::fs::read_to_string(&f) {
                Ok(text) => set.add_text(&path, &text),
                Err(e) => set.issues.push(RuleIssue {
                    path,
                    rule: None,
                    reason: format!("cannot read: {e}"),
                }),
            }
        }
    }
    Ok(set)
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::metadata(p).map_err(|e| Error::Rules {
        path: p.display().to_string(),
        reason: e.to_string(),
    })?;
    if meta.is_file() {
        out.push(p.to_owned());
        return Ok(());
    }
    let rd = std::fs::read_dir(p).map_err(|e| Error::Rules {
        path: p.display().to_string(),
        reason: e.to_string(),
    })?;
    for e in rd.flatten() {
        let path = e.path();
        let hidden = e.file_name().to_string_lossy().starts_with('.');
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("yml") || x.eq_ignore_ascii_case("yaml"))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn level_str(l: Option<rsigma_parser::Level>) -> String {
    l.map_or("medium", |l| l.as_str()).to_owned()
}

fn status_str(s: Option<rsigma_parser::Status>) -> String {
    s.map_or_else(
        || "unknown".to_owned(),
        |s| format!("{s:?}").to_ascii_lowercase(),
    )
}

impl RuleSet {
    /// Parse one file's documents.
    pub fn add_text(&mut self, path: &str, text: &str) {
        self.files += 1;
        let stem = Path::new(path.trim_start_matches("builtin:"))
            .file_stem()
            .map_or_else(|| path.to_owned(), |s| s.to_string_lossy().into_owned());
        let coll = match rsigma_parser::parse_sigma_yaml(text) {
            Ok(c) => c,
            Err(e) => {
                self.issues.push(RuleIssue {
                    path: path.to_owned(),
                    rule: None,
                    reason: format!("not a Sigma rule: {e}"),
                });
                return;
            }
        };
        for e in &coll.errors {
            self.issues.push(RuleIssue {
                path: path.to_owned(),
                rule: None,
                reason: e.clone(),
            });
        }
        if coll.is_empty() && coll.errors.is_empty() {
            self.issues.push(RuleIssue {
                path: path.to_owned(),
                rule: None,
                reason: "no Sigma rule in the file".into(),
            });
        }
        for r in coll.rules {
            let id = r.id.clone().unwrap_or_else(|| stem.clone());
            let ls = &r.logsource;
            let is = |v: &Option<String>, want: &str| {
                v.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(want))
            };
            if !(is(&ls.product, "aws") && is(&ls.service, "cloudtrail")) {
                self.skipped.push((path.to_owned(), id));
                continue;
            }
            self.rules.push(Rule {
                id,
                name: r.name.clone(),
                title: r.title.clone(),
                level: level_str(r.level),
                status: status_str(r.status),
                tags: r.tags.clone(),
                author: r.author.clone().unwrap_or_default(),
                path: path.to_owned(),
                body: Body::Detection(Box::new(r)),
            });
        }
        for c in coll.correlations {
            self.rules.push(Rule {
                id: c.id.clone().unwrap_or_else(|| stem.clone()),
                name: c.name.clone(),
                title: c.title.clone(),
                level: level_str(c.level),
                status: status_str(c.status),
                tags: c.tags.clone(),
                author: c.author.clone().unwrap_or_default(),
                path: path.to_owned(),
                body: Body::Correlation(Box::new(c)),
            });
        }
        if !coll.filters.is_empty() {
            self.issues.push(RuleIssue {
                path: path.to_owned(),
                rule: None,
                reason: "Sigma filters are not supported".into(),
            });
        }
    }
}

/// Sigma's levels, lowest first.
pub const LEVELS: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

/// The rank of a level (`info` is `informational`); `None` for an unknown one.
pub fn level_rank(level: &str) -> Option<usize> {
    let l = level.to_ascii_lowercase();
    let l = if l == "info" {
        "informational".into()
    } else {
        l
    };
    LEVELS.iter().position(|x| *x == l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_rules_skipped_or_issues() {
        let mut set = RuleSet::default();
        set.add_text(
            "a.yml",
            "title: T\nid: 11111111-1111-1111-1111-111111111111\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    eventName: X\n  condition: sel\nlevel: high\ntags:\n  - attack.persistence\n  - attack.t1098\nauthor: Someone\n",
        );
        set.add_text(
            "b.yml",
            "title: W\nlogsource:\n  product: windows\ndetection:\n  sel:\n    EventID: 1\n  condition: sel\n",
        );
        set.add_text("c.yml", "title: [unclosed\n");
        set.add_text("d.yml", "just: a map\n");
        assert_eq!(set.rules.len(), 1);
        let r = &set.rules[0];
        assert_eq!(r.level, "high");
        assert_eq!(r.author, "Someone");
        assert_eq!(r.tactics(), ["persistence"]);
        assert_eq!(set.skipped, [("b.yml".to_string(), "b".to_string())]);
        let paths: Vec<_> = set.issues.iter().map(|i| i.path.as_str()).collect();
        assert!(paths.contains(&"c.yml"), "{:?}", set.issues);
        assert!(paths.contains(&"d.yml"), "{:?}", set.issues);
    }

    #[test]
    fn shipped_rules_load_without_issues() {
        let set = load(&[]).unwrap();
        assert!(set.issues.is_empty(), "{:?}", set.issues);
        assert!(set.skipped.is_empty());
        assert!(set.rules.len() >= 10);
    }
}
