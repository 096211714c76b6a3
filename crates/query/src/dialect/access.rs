//! Field access written after an expression, rewritten on the parsed statement before
//! planning:
//!
//! - `<json column>.<key>[.<key>...]` and `<json column>['key']`, on the columns that hold
//!   JSON text (`requestparameters`, `responseelements`, `additionaleventdata`,
//!   `serviceeventdetails`, `edgedevicedetails`, `insightdetails`,
//!   `useridentity.sessioncontext.webidfederationdata.attributes`), become
//!   `json_field(column, '$["key"]...')`: the value at that path as text, null when absent.
//!   AWS's published queries read these columns as maps (CloudTrail Lake types them so) or
//!   structs; the lake keeps them as the JSON text Athena has.
//! - `<expr>.<field>` where the expression is not a column (`element_at(resources, 1).arn`,
//!   `(...).a.b`, `resources[1].arn`) becomes a named field access, which DataFusion's planner
//!   takes only with the field as a string.
//!
//! An unaliased SELECT item so rewritten keeps the text the query wrote as its name.

use std::sync::OnceLock;

use datafusion::common::Result;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, Query, SelectItem,
    SetExpr, Statement, Subscript, Value, VisitMut, VisitorMut,
};
use std::ops::ControlFlow;
use trailsql_lake::schema::{self, Kind, Spec};

/// Rewrite every field access of a statement in place.
pub fn rewrite_access(statement: &mut Statement) -> Result<()> {
    let _ = statement.visit(&mut Access);
    Ok(())
}

/// Rewrites each access from the outside in (a JSON path's column is inside it), and gives
/// an unaliased SELECT item so rewritten the text the query wrote as its name, so the
/// result's column reads `requestParameters.bucketName`, not the function call it became.
struct Access;

impl VisitorMut for Access {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Some(new) = rewritten(e) {
            *e = new;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(e) = item
                    && rewritten(e).is_some()
                {
                    let alias = Ident::with_quote('"', e.to_string());
                    *item = SelectItem::ExprWithAlias {
                        expr: e.clone(),
                        alias,
                    };
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// The column paths (lower case) of every column that holds JSON text.
fn json_columns() -> &'static [Vec<String>] {
    static COLUMNS: OnceLock<Vec<Vec<String>>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        fn walk(specs: &[Spec], prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
            for s in specs {
                prefix.push(schema::column_name(s.key));
                match s.kind {
                    Kind::Json => out.push(prefix.clone()),
                    Kind::Struct(inner) => walk(inner, prefix, out),
                    _ => {}
                }
                prefix.pop();
            }
        }
        let mut out = Vec::new();
        walk(schema::CLOUDTRAIL, &mut Vec::new(), &mut out);
        walk(schema::INSIGHTS, &mut Vec::new(), &mut out);
        out.sort();
        out.dedup();
        out
    })
}

/// How many leading identifiers name a JSON-text column, when more follow: the column alone
/// or after a table qualifier.
fn json_column_prefix(idents: &[Ident]) -> Option<usize> {
    for qualifier in 0..=1 {
        for col in json_columns() {
            let end = qualifier + col.len();
            if idents.len() > end
                && idents[qualifier..end]
                    .iter()
                    .zip(col)
                    .all(|(i, c)| i.value.eq_ignore_ascii_case(c))
            {
                return Some(end);
            }
        }
    }
    None
}

/// One step into a JSON document.
enum Step {
    Key(String),
    /// 0-based.
    Index(i64),
}

fn json_path(steps: &[Step]) -> String {
    let mut path = String::from("$");
    for s in steps {
        match s {
            Step::Key(k) => {
                path.push_str("[\"");
                for c in k.chars() {
                    if c == '"' || c == '\\' {
                        path.push('\\');
                    }
                    path.push(c);
                }
                path.push_str("\"]");
            }
            Step::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn integer_literal(e: &Expr) -> Option<i64> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// A step of the access chain after a JSON column: `.key`, `."Key"`, `['key']`, `[1]`
/// (1-based, as SQL arrays are).
fn json_step(a: &AccessExpr) -> Option<Step> {
    match a {
        AccessExpr::Dot(Expr::Identifier(id)) => Some(Step::Key(id.value.clone())),
        AccessExpr::Dot(e) => string_literal(e).map(|s| Step::Key(s.to_owned())),
        AccessExpr::Subscript(Subscript::Index { index }) => match string_literal(index) {
            Some(s) => Some(Step::Key(s.to_owned())),
            None => integer_literal(index)
                .filter(|i| *i >= 1)
                .map(|i| Step::Index(i - 1)),
        },
        AccessExpr::Subscript(_) => None,
    }
}

/// `json_field(column, 'path')`.
fn json_field(column: Expr, steps: &[Step]) -> Expr {
    let mut call = super::rewrite::parse_expr("json_field(x, 'p')").expect("a valid template");
    if let Expr::Function(f) = &mut call
        && let FunctionArguments::List(list) = &mut f.args
    {
        list.args = vec![
            FunctionArg::Unnamed(FunctionArgExpr::Expr(column)),
            FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(
                Value::SingleQuotedString(json_path(steps)).into(),
            ))),
        ];
    }
    call
}

fn column(idents: &[Ident]) -> Expr {
    if idents.len() == 1 {
        Expr::Identifier(idents[0].clone())
    } else {
        Expr::CompoundIdentifier(idents.to_vec())
    }
}

/// A field named by an identifier, as the planner takes it: a string, lower case unless
/// quoted (as DataFusion folds unquoted names).
fn field_name(a: &mut AccessExpr) {
    if let AccessExpr::Dot(Expr::Identifier(id)) = a {
        let name = if id.quote_style.is_some() {
            id.value.clone()
        } else {
            id.value.to_ascii_lowercase()
        };
        *a = AccessExpr::Dot(Expr::Value(Value::SingleQuotedString(name).into()));
    }
}

/// What `e` becomes, if it is an access this module rewrites.
fn rewritten(e: &Expr) -> Option<Expr> {
    match e {
        Expr::CompoundIdentifier(idents) => {
            let end = json_column_prefix(idents)?;
            let steps: Vec<Step> = idents[end..]
                .iter()
                .map(|i| Step::Key(i.value.clone()))
                .collect();
            Some(json_field(column(&idents[..end]), &steps))
        }
        Expr::CompoundFieldAccess { root, access_chain } => {
            // The identifiers the planner itself resolves as a column path.
            let mut idents = Vec::new();
            if let Expr::Identifier(id) = root.as_ref() {
                idents.push(id.clone());
                for a in access_chain {
                    match a {
                        AccessExpr::Dot(Expr::Identifier(id)) => idents.push(id.clone()),
                        _ => break,
                    }
                }
            } else if let Expr::CompoundIdentifier(ids) = root.as_ref() {
                idents.extend(ids.iter().cloned());
            }
            let from_chain = idents.len()
                - match root.as_ref() {
                    Expr::Identifier(_) => 1,
                    Expr::CompoundIdentifier(ids) => ids.len(),
                    _ => 0,
                };
            let json_end = json_column_prefix(&idents).or_else(|| {
                // `requestparameters['k']`: the column and nothing after it in `idents`.
                let whole = idents.len();
                (whole > 0 && from_chain < access_chain.len()).then_some(())?;
                let mut with_next = idents.clone();
                with_next.push(Ident::new("_"));
                json_column_prefix(&with_next).filter(|e| *e == whole)
            });
            if let Some(end) = json_end {
                let mut steps: Vec<Step> = idents[end..]
                    .iter()
                    .map(|i| Step::Key(i.value.clone()))
                    .collect();
                for a in &access_chain[from_chain..] {
                    steps.push(json_step(a)?);
                }
                return Some(json_field(column(&idents[..end]), &steps));
            }
            let mut chain = access_chain.clone();
            let before = chain.clone();
            for a in &mut chain[from_chain..] {
                field_name(a);
            }
            (chain != before).then(|| Expr::CompoundFieldAccess {
                root: root.clone(),
                access_chain: chain,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn rw(sql: &str) -> String {
        let mut st = Parser::parse_sql(&GenericDialect {}, sql)
            .unwrap()
            .remove(0);
        rewrite_access(&mut st).unwrap();
        st.to_string()
    }

    #[test]
    fn json_columns_come_from_the_schema() {
        let cols: Vec<String> = json_columns().iter().map(|c| c.join(".")).collect();
        for c in [
            "requestparameters",
            "responseelements",
            "additionaleventdata",
            "serviceeventdetails",
            "edgedevicedetails",
            "insightdetails",
            "useridentity.sessioncontext.webidfederationdata.attributes",
        ] {
            assert!(cols.contains(&c.to_owned()), "{c} in {cols:?}");
        }
    }

    #[test]
    fn dotted_json_access() {
        assert_eq!(
            rw("SELECT requestParameters.bucketName FROM t"),
            r#"SELECT json_field(requestParameters, '$["bucketName"]') AS "requestParameters.bucketName" FROM t"#
        );
        assert_eq!(
            rw("SELECT x FROM t WHERE t.ADDITIONALEVENTDATA.a.\"b.c\" = '1'"),
            r#"SELECT x FROM t WHERE json_field(t.ADDITIONALEVENTDATA, '$["a"]["b.c"]') = '1'"#
        );
        assert_eq!(
            rw("SELECT requestParameters['bucketName'] AS b FROM t"),
            r#"SELECT json_field(requestParameters, '$["bucketName"]') AS b FROM t"#
        );
        assert_eq!(
            rw("SELECT 1 FROM t WHERE responseelements.items[2].id = 'x'"),
            r#"SELECT 1 FROM t WHERE json_field(responseelements, '$["items"][1]["id"]') = 'x'"#
        );
        // Struct columns are left to the planner.
        assert_eq!(
            rw("SELECT useridentity.sessioncontext.sessionissuer.arn FROM t"),
            "SELECT useridentity.sessioncontext.sessionissuer.arn FROM t"
        );
    }

    #[test]
    fn field_of_an_expression() {
        assert_eq!(
            rw("SELECT element_at(resources, 1).ARN AS a FROM t"),
            "SELECT element_at(resources, 1).'arn' AS a FROM t"
        );
        assert_eq!(
            rw("SELECT (x).a.\"B\" AS a FROM t"),
            "SELECT (x).'a'.'B' AS a FROM t"
        );
    }
}
