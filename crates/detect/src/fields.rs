//! Where a Sigma field lives in the lake's `cloudtrail` table: the one module that knows the
//! table's schema (`trailsql_lake::schema`).
//!
//! CloudTrail's own paths (`userIdentity.sessionContext.sessionIssuer.type`) map to the typed
//! columns case-insensitively (`useridentity.sessioncontext.sessionissuer.type`); a path that
//! enters a JSON-text column (`requestParameters.bucketName`) continues inside its JSON; a
//! field the schema does not know is looked up in `unmappedfields`, where ingest keeps every
//! part of a record that the typed columns do not hold.

pub use trailsql_lake::schema::{CLOUDTRAIL, Kind, Spec, UNMAPPED, column_name};

/// The columns a finding reports, by their lake names.
pub mod columns {
    pub const EVENTTIME: &str = "eventtime";
    pub const EVENTID: &str = "eventid";
    pub const EVENTSOURCE: &str = "eventsource";
    pub const EVENTNAME: &str = "eventname";
    pub const ACCOUNT: &str = "recipientaccountid";
    pub const REGION: &str = "awsregion";
    pub const SOURCEIP: &str = "sourceipaddress";
    pub const SOURCEOBJECT: &str = "sourceobject";
    /// The principal's ARN: a struct field.
    pub const PRINCIPAL_SQL: &str = "get_field(useridentity, 'arn')";
}

/// Where a field's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A typed text column (its SQL expression).
    Column { sql: String },
    /// A path inside a JSON-text column (an empty path: the whole document).
    Json { sql: String, path: Vec<String> },
    /// A text field of the structs of a list column (`resources.ARN`).
    ListField { sql: String, field: String },
    /// A field the schema does not know: its path, looked up in `unmappedfields`.
    Unmapped { path: Vec<String> },
    /// Every string value of the event (keyword detections): [`keywords_sql`].
    Keywords,
}

impl Source {
    /// The SQL argument the matcher reads.
    pub fn arg_sql(&self) -> String {
        match self {
            Source::Column { sql } | Source::Json { sql, .. } | Source::ListField { sql, .. } => {
                sql.clone()
            }
            Source::Unmapped { .. } => UNMAPPED.to_owned(),
            Source::Keywords => keywords_sql(),
        }
    }

    /// The top-level column this source reads (to report what rules read).
    pub fn column(&self) -> String {
        let sql = self.arg_sql();
        match sql.strip_prefix("get_field(") {
            Some(rest) => rest
                .split([',', ')'])
                .next()
                .unwrap_or("")
                .trim()
                .to_owned(),
            None => sql,
        }
    }

    /// True for the `eventName` column: the lake's files are sorted by it.
    pub fn is_eventname(&self) -> bool {
        matches!(self, Source::Column { sql } if sql == columns::EVENTNAME)
    }

    pub fn is_eventsource(&self) -> bool {
        matches!(self, Source::Column { sql } if sql == columns::EVENTSOURCE)
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The columns holding the event's string values, in [`keyword_specs`] order, as one
/// struct: booleans are left out (a keyword matches strings only), the event time is the text
/// CloudTrail writes, `unmappedfields` comes last.
pub fn keywords_sql() -> String {
    let mut parts = Vec::new();
    for spec in keyword_specs() {
        let name = column_name(spec.key);
        let expr = match spec.kind {
            Kind::Time => format!("to_char({name}, '%Y-%m-%dT%H:%M:%SZ')"),
            _ => name.clone(),
        };
        parts.push(format!("{}, {expr}", quote(&name)));
    }
    parts.push(format!("{}, {UNMAPPED}", quote(UNMAPPED)));
    format!("named_struct({})", parts.join(", "))
}

/// The top-level fields whose values keyword detections search.
pub fn keyword_specs() -> impl Iterator<Item = &'static Spec> {
    CLOUDTRAIL.iter().filter(|s| !matches!(s.kind, Kind::Bool))
}

/// Resolve a Sigma field name (a dotted CloudTrail path) to its source.
pub fn resolve(field: &str) -> Result<Source, String> {
    let parts: Vec<String> = field.split('.').map(str::to_owned).collect();
    if parts.iter().any(String::is_empty) {
        return Err(format!("field {field:?}: empty path segment"));
    }
    let mut specs: &[Spec] = CLOUDTRAIL;
    let mut sql = String::new();
    for (i, part) in parts.iter().enumerate() {
        let Some(spec) = specs.iter().find(|s| s.key.eq_ignore_ascii_case(part)) else {
            return Ok(Source::Unmapped { path: parts });
        };
        let name = column_name(spec.key);
        sql = if i == 0 {
            name
        } else {
            format!("get_field({sql}, {})", quote(&name))
        };
        let rest = &parts[i + 1..];
        match &spec.kind {
            Kind::Str | Kind::Bool => {
                if rest.is_empty() {
                    return Ok(Source::Column { sql });
                }
                // A path below a text field: the text may hold JSON of an unexpected type,
                // which ingest keeps in unmappedfields.
                return Ok(Source::Unmapped { path: parts });
            }
            Kind::Time => {
                if rest.is_empty() {
                    // The event time compares as CloudTrail writes it.
                    return Ok(Source::Column {
                        sql: format!("to_char({sql}, '%Y-%m-%dT%H:%M:%SZ')"),
                    });
                }
                return Ok(Source::Unmapped { path: parts });
            }
            Kind::Json => {
                return Ok(Source::Json {
                    sql,
                    path: rest.to_vec(),
                });
            }
            Kind::Struct(children) => {
                if rest.is_empty() {
                    return Err(format!(
                        "field {field:?} is an object of several columns: name one of its fields"
                    ));
                }
                specs = children;
            }
            Kind::List(children) => {
                let [child] = rest else {
                    return Err(format!(
                        "field {field:?}: name one field of the {} list (e.g. {part}.{})",
                        part, children[0].key
                    ));
                };
                let Some(c) = children.iter().find(|s| s.key.eq_ignore_ascii_case(child)) else {
                    return Ok(Source::Unmapped { path: parts });
                };
                return Ok(Source::ListField {
                    sql,
                    field: column_name(c.key),
                });
            }
        }
    }
    Err(format!("field {field:?}: cannot be resolved"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudtrail_paths_resolve_case_insensitively() {
        assert_eq!(
            resolve("eventName").unwrap(),
            Source::Column {
                sql: "eventname".into()
            }
        );
        assert_eq!(
            resolve("userIdentity.sessionContext.sessionIssuer.type").unwrap(),
            Source::Column {
                sql: "get_field(get_field(get_field(useridentity, 'sessioncontext'), 'sessionissuer'), 'type')".into()
            }
        );
        assert_eq!(
            resolve("requestParameters.containerDefinitions.command").unwrap(),
            Source::Json {
                sql: "requestparameters".into(),
                path: vec!["containerDefinitions".into(), "command".into()]
            }
        );
        assert_eq!(
            resolve("responseElements").unwrap(),
            Source::Json {
                sql: "responseelements".into(),
                path: vec![]
            }
        );
        assert_eq!(
            resolve("resources.ARN").unwrap(),
            Source::ListField {
                sql: "resources".into(),
                field: "arn".into()
            }
        );
        assert_eq!(
            resolve("userIdentity.newThing").unwrap(),
            Source::Unmapped {
                path: vec!["userIdentity".into(), "newThing".into()]
            }
        );
        assert_eq!(
            resolve("brandNewField").unwrap(),
            Source::Unmapped {
                path: vec!["brandNewField".into()]
            }
        );
        assert!(resolve("userIdentity").is_err());
        assert!(resolve("a..b").is_err());
        assert!(resolve("eventName").unwrap().is_eventname());
        assert_eq!(
            resolve("userIdentity.arn").unwrap().column(),
            "useridentity"
        );
    }
}
