//! A JSONPath, the subset Presto/Athena's JSON functions take: `$`, `.key`, `["key"]`,
//! `['key']`, `[0]`, `[*]`, `.*`. Keys may hold `-`, `:` and other characters in the
//! bracket form.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(i64),
    Wildcard,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

impl JsonPath {
    pub fn parse(path: &str) -> Result<JsonPath, String> {
        let p = path.trim();
        let mut rest = p
            .strip_prefix('$')
            .ok_or_else(|| format!("invalid JSON path {path:?}: must start with $"))?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                if let Some(r2) = r.strip_prefix('*') {
                    steps.push(Step::Wildcard);
                    rest = r2;
                    continue;
                }
                if r.starts_with('"') {
                    let (key, r2) =
                        quoted(r, '"').ok_or_else(|| format!("invalid JSON path {path:?}"))?;
                    steps.push(Step::Key(key));
                    rest = r2;
                    continue;
                }
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end == 0 {
                    return Err(format!("invalid JSON path {path:?}: empty key"));
                }
                steps.push(Step::Key(r[..end].to_owned()));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let r = r.trim_start();
                let (step, r2) = if r.starts_with('"') || r.starts_with('\'') {
                    let q = r.chars().next().expect("non-empty");
                    let (key, r2) =
                        quoted(r, q).ok_or_else(|| format!("invalid JSON path {path:?}"))?;
                    (Step::Key(key), r2)
                } else if let Some(r2) = r.strip_prefix('*') {
                    (Step::Wildcard, r2)
                } else {
                    let end = r
                        .find(']')
                        .ok_or_else(|| format!("invalid JSON path {path:?}: missing ]"))?;
                    let idx: i64 = r[..end]
                        .trim()
                        .parse()
                        .map_err(|_| format!("invalid JSON path {path:?}: bad index"))?;
                    (Step::Index(idx), &r[end..])
                };
                rest = r2
                    .trim_start()
                    .strip_prefix(']')
                    .ok_or_else(|| format!("invalid JSON path {path:?}: missing ]"))?;
                steps.push(step);
            } else {
                return Err(format!("invalid JSON path {path:?} at {rest:?}"));
            }
        }
        Ok(JsonPath { steps })
    }

    /// The values the path selects (several only with a wildcard).
    pub fn select<'a>(&self, v: &'a Value) -> Vec<&'a Value> {
        let mut cur = vec![v];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in cur {
                match (step, v) {
                    (Step::Key(k), Value::Object(o)) => next.extend(o.get(k)),
                    (Step::Index(i), Value::Array(a)) => {
                        let i = if *i < 0 { a.len() as i64 + i } else { *i };
                        if i >= 0 {
                            next.extend(a.get(i as usize));
                        }
                    }
                    (Step::Wildcard, Value::Array(a)) => next.extend(a.iter()),
                    (Step::Wildcard, Value::Object(o)) => next.extend(o.values()),
                    _ => {}
                }
            }
            cur = next;
        }
        cur
    }

    pub fn has_wildcard(&self) -> bool {
        self.steps.contains(&Step::Wildcard)
    }

    /// The single value selected, or, with a wildcard, the array of all selected.
    pub fn extract(&self, v: &Value) -> Option<Value> {
        let found = self.select(v);
        if self.has_wildcard() {
            return Some(Value::Array(found.into_iter().cloned().collect()));
        }
        found.first().map(|v| (*v).clone())
    }
}

fn quoted(s: &str, q: char) -> Option<(String, &str)> {
    let body = &s[1..];
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            if let Some((_, n)) = chars.next() {
                out.push(n);
            }
        } else if c == q {
            return Some((out, &body[i + 1..]));
        } else {
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let v: Value = serde_json::from_str(
            r#"{"a":{"b":[10,{"c":"x"}]},"x-amz-copy-source":"bkt/k","aws:Src":1,"k":{"m":2,"n":3}}"#,
        )
        .unwrap();
        let get = |p: &str| JsonPath::parse(p).unwrap().extract(&v);
        assert_eq!(get("$.a.b[0]"), Some(Value::from(10)));
        assert_eq!(get("$.a.b[1].c"), Some(Value::from("x")));
        assert_eq!(get("$.a.b[-1].c"), Some(Value::from("x")));
        assert_eq!(get("$[\"x-amz-copy-source\"]"), Some(Value::from("bkt/k")));
        assert_eq!(get("$['aws:Src']"), Some(Value::from(1)));
        assert_eq!(get("$.a.nope"), None);
        assert_eq!(get("$.k.*"), Some(serde_json::json!([2, 3])));
        assert_eq!(get("$"), Some(v.clone()));
        assert!(JsonPath::parse("a.b").is_err());
        assert!(JsonPath::parse("$.a[").is_err());
    }
}
