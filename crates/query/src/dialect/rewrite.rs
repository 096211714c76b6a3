//! Rewrites of Presto/Athena syntax that DataFusion's planner rejects, done on the parsed
//! statement before planning:
//!
//! - `FROM t CROSS JOIN UNNEST(t.resources) AS u (r)` (and `FROM t, UNNEST(...) u (r)`)
//!   becomes `FROM (SELECT t.*, unnest(t.resources) AS r FROM t) AS t`, with `u.r` read as
//!   `t.r`: DataFusion plans `unnest` in a projection but not as a lateral table.
//! - `count_if(x)` becomes `count(CASE WHEN x THEN 1 END)`; `arbitrary(x)` becomes
//!   `any_value(x)`; `try(x)` becomes `x`; `date(x)` becomes `CAST(x AS DATE)`.
//! - Athena's manual-partition columns (`year`, `month`, `day`, partition projection's
//!   `timestamp`) in WHERE become expressions of the `date` partition, so they prune.
//! - `eventtime` used as a string (LIKE, substr...) becomes CloudTrail's text of it.
//! - field access after an expression and into the JSON-text columns (see [`super::access`]).

use std::ops::ControlFlow;

use datafusion::common::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, JoinOperator, ObjectName, Query,
    Select, SetExpr, Statement, TableFactor, TableWithJoins, VisitMut, VisitorMut,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Rewrite a statement in place.
pub fn rewrite(statement: &mut Statement) -> Result<()> {
    let mut unnest = UnnestRewriter { error: None };
    let _ = statement.visit(&mut unnest);
    if let Some(e) = unnest.error {
        return Err(e);
    }
    super::access::rewrite_access(statement)?;
    let mut error = None;
    let _ = visit_expressions_mut(statement, |expr| {
        eventtime_as_text(expr);
        if let Err(e) = rewrite_function(expr) {
            error = Some(e);
            return ControlFlow::Break(());
        }
        ControlFlow::<()>::Continue(())
    });
    error.map_or(Ok(()), Err)
}

pub(super) fn parse_expr(sql: &str) -> Result<Expr> {
    Parser::new(&GenericDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| DataFusionError::Plan(format!("rewriting {sql}: {e}")))
}

fn function_args(f: &datafusion::sql::sqlparser::ast::Function) -> Vec<String> {
    match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => e.to_string(),
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn is_eventtime(e: &Expr) -> bool {
    match e {
        Expr::Identifier(id) => id.value.eq_ignore_ascii_case("eventtime"),
        Expr::CompoundIdentifier(parts) => {
            parts.len() == 2 && parts[1].value.eq_ignore_ascii_case("eventtime")
        }
        _ => false,
    }
}

/// `eventtime` is a string in Athena's table: where a query uses it as one (LIKE, substr,
/// split_part, concat...), give it the text CloudTrail wrote.
fn eventtime_as_text(expr: &mut Expr) {
    let wrap = |e: &mut Box<Expr>| {
        if is_eventtime(e)
            && let Ok(new) = parse_expr(&format!("to_char({e}, '%Y-%m-%dT%H:%M:%SZ')"))
        {
            **e = new;
        }
    };
    match expr {
        Expr::Like { expr, .. } | Expr::ILike { expr, .. } | Expr::Substring { expr, .. } => {
            wrap(expr)
        }
        Expr::Function(f) => {
            let name = f.name.to_string().to_ascii_lowercase();
            if !matches!(
                name.as_str(),
                "substr"
                    | "substring"
                    | "split_part"
                    | "strpos"
                    | "length"
                    | "concat"
                    | "regexp_like"
                    | "starts_with"
                    | "regexp_extract"
                    | "replace"
                    | "lower"
                    | "upper"
            ) {
                return;
            }
            if let FunctionArguments::List(list) = &mut f.args {
                for a in &mut list.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = a
                        && is_eventtime(e)
                        && let Ok(new) = parse_expr(&format!("to_char({e}, '%Y-%m-%dT%H:%M:%SZ')"))
                    {
                        *e = new;
                    }
                }
            }
        }
        _ => {}
    }
}

fn rewrite_function(expr: &mut Expr) -> Result<()> {
    let Expr::Function(f) = expr else {
        return Ok(());
    };
    let name = f.name.to_string().to_ascii_lowercase();
    let new = match name.as_str() {
        "count_if" => {
            let args = function_args(f);
            if args.len() != 1 {
                return Err(DataFusionError::Plan("count_if takes one argument".into()));
            }
            format!("count(CASE WHEN {} THEN 1 END)", args[0])
        }
        "arbitrary" => format!("any_value({})", function_args(f).join(", ")),
        // Presto's try() turns errors into NULL; the functions here already give NULL for
        // bad input where Presto would, so the argument stands for itself.
        "try" if function_args(f).len() == 1 => format!("({})", function_args(f)[0]),
        "date" if function_args(f).len() == 1 => format!("CAST({} AS DATE)", function_args(f)[0]),
        _ => return Ok(()),
    };
    *expr = parse_expr(&new)?;
    Ok(())
}

struct UnnestRewriter {
    error: Option<DataFusionError>,
}

impl VisitorMut for UnnestRewriter {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut()
            && let Some(selection) = select.selection.as_mut()
        {
            let _ = visit_expressions_mut(selection, |e| {
                manual_partition(e);
                ControlFlow::<()>::Continue(())
            });
        }
        if let SetExpr::Select(select) = query.body.as_mut() {
            match rewrite_select(select) {
                Ok(renames) if !renames.is_empty() => {
                    let _ = visit_expressions_mut(query, |e| {
                        rename_qualifiers(e, &renames);
                        ControlFlow::<()>::Continue(())
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    self.error = Some(e);
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Athena's manual-partition columns `year`, `month`, `day` (zero-padded strings), read
/// from the `date` partition so that they prune as it does.
fn manual_partition(e: &mut Expr) {
    let name = match e {
        Expr::Identifier(id) if id.quote_style.is_none() => id.value.to_ascii_lowercase(),
        Expr::CompoundIdentifier(parts) if parts.len() == 2 && parts[1].quote_style.is_none() => {
            parts[1].value.to_ascii_lowercase()
        }
        _ => return,
    };
    let qualifier = match e {
        Expr::CompoundIdentifier(parts) => format!("{}.", parts[0]),
        _ => String::new(),
    };
    if name == "timestamp" {
        // Athena's partition-projection tables call the day `timestamp`, as `yyyy/MM/dd`.
        if let Ok(new) = parse_expr(&format!("replace({qualifier}\"date\", '-', '/')")) {
            *e = new;
        }
        return;
    }
    let (start, len) = match name.as_str() {
        "year" => (1, 4),
        "month" => (6, 2),
        "day" => (9, 2),
        _ => return,
    };
    if let Ok(new) = parse_expr(&format!("substr({qualifier}\"date\", {start}, {len})")) {
        *e = new;
    }
}

fn is_unnest(f: &TableFactor) -> bool {
    matches!(f, TableFactor::UNNEST { .. })
}

/// Fold every UNNEST joined to the first FROM item into a derived table. Returns the
/// (unnest alias -> table alias) renames for qualified references.
fn rewrite_select(select: &mut Select) -> Result<Vec<(String, String)>> {
    // `FROM t, UNNEST(...) u (r)`: the comma form is a cross join.
    let comma: Vec<usize> = (1..select.from.len())
        .filter(|&i| is_unnest(&select.from[i].relation))
        .collect();
    for i in comma.into_iter().rev() {
        let twj = select.from.remove(i);
        let join = datafusion::sql::sqlparser::ast::Join {
            relation: twj.relation,
            global: false,
            join_operator: JoinOperator::CrossJoin(
                datafusion::sql::sqlparser::ast::JoinConstraint::None,
            ),
        };
        select.from[0].joins.push(join);
    }
    let mut renames = Vec::new();
    for twj in &mut select.from {
        let has_unnest = twj.joins.iter().any(|j| {
            is_unnest(&j.relation) && matches!(j.join_operator, JoinOperator::CrossJoin(_))
        });
        if !has_unnest {
            continue;
        }
        renames.extend(fold_unnests(twj)?);
    }
    Ok(renames)
}

fn fold_unnests(twj: &mut TableWithJoins) -> Result<Vec<(String, String)>> {
    let (base_sql, alias) = match &twj.relation {
        TableFactor::Table { name, alias, .. } => {
            let a = alias
                .as_ref()
                .map(|a| a.name.value.clone())
                .unwrap_or_else(|| last_ident(name));
            (name.to_string(), a)
        }
        TableFactor::Derived {
            subquery,
            alias: Some(alias),
            ..
        } => (format!("({subquery})"), alias.name.value.clone()),
        _ => {
            return Err(DataFusionError::NotImplemented(
                "CROSS JOIN UNNEST after this kind of FROM item".into(),
            ));
        }
    };
    let mut items = Vec::new();
    let mut renames = Vec::new();
    let mut kept = Vec::new();
    for (n, join) in std::mem::take(&mut twj.joins).into_iter().enumerate() {
        match (&join.relation, &join.join_operator) {
            (
                TableFactor::UNNEST {
                    alias: ualias,
                    array_exprs,
                    with_offset,
                    with_ordinality,
                    ..
                },
                JoinOperator::CrossJoin(_),
            ) if !with_offset && !with_ordinality => {
                let cols: Vec<String> = ualias
                    .as_ref()
                    .map(|a| a.columns.iter().map(|c| c.name.to_string()).collect())
                    .unwrap_or_default();
                for (k, e) in array_exprs.iter().enumerate() {
                    let col = cols.get(k).cloned().unwrap_or_else(|| {
                        ualias
                            .as_ref()
                            .map(|a| a.name.to_string())
                            .unwrap_or_else(|| format!("unnest_{n}_{k}"))
                    });
                    items.push(format!("unnest({e}) AS {col}"));
                }
                if let Some(a) = ualias {
                    renames.push((a.name.value.clone(), alias.clone()));
                }
            }
            _ => kept.push(join),
        }
    }
    let sql = format!(
        "SELECT * FROM (SELECT {alias}.*, {} FROM {base_sql} AS {alias}) AS {alias}",
        items.join(", ")
    );
    let parsed = Parser::parse_sql(&GenericDialect {}, &sql)
        .map_err(|e| DataFusionError::Plan(format!("rewriting UNNEST: {e}")))?;
    let Some(Statement::Query(q)) = parsed.into_iter().next() else {
        return Err(DataFusionError::Plan("rewriting UNNEST".into()));
    };
    let SetExpr::Select(sel) = *q.body else {
        return Err(DataFusionError::Plan("rewriting UNNEST".into()));
    };
    let relation = sel.from.into_iter().next().expect("one FROM item").relation;
    twj.relation = relation;
    twj.joins = kept;
    Ok(renames)
}

fn last_ident(name: &ObjectName) -> String {
    name.0
        .last()
        .map(|p| p.to_string().trim_matches('"').to_owned())
        .unwrap_or_default()
}

fn rename_qualifiers(e: &mut Expr, renames: &[(String, String)]) {
    if let Expr::CompoundIdentifier(parts) = e
        && parts.len() >= 2
        && let Some((_, to)) = renames
            .iter()
            .find(|(from, _)| parts[0].value.eq_ignore_ascii_case(from))
    {
        parts[0] = Ident::new(to.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(sql: &str) -> String {
        let mut st = Parser::parse_sql(&GenericDialect {}, sql)
            .unwrap()
            .remove(0);
        rewrite(&mut st).unwrap();
        st.to_string()
    }

    #[test]
    fn unnest_forms() {
        assert_eq!(
            rw("SELECT u.r.arn FROM cloudtrail t CROSS JOIN UNNEST(t.resources) AS u (r)"),
            "SELECT t.r.arn FROM (SELECT t.*, unnest(t.resources) AS r FROM cloudtrail AS t) AS t"
        );
        assert_eq!(
            rw(
                "SELECT resources_entry.arn FROM cloudtrail_logs CROSS JOIN UNNEST(resources) unnested (resources_entry)"
            ),
            "SELECT resources_entry.arn FROM (SELECT cloudtrail_logs.*, unnest(resources) AS resources_entry FROM cloudtrail_logs AS cloudtrail_logs) AS cloudtrail_logs"
        );
        assert!(rw("SELECT r FROM t, UNNEST(t.a) AS u (r)").contains("unnest(t.a) AS r"));
    }

    #[test]
    fn manual_partition_columns() {
        assert_eq!(
            rw("SELECT year FROM cloudtrail WHERE year = '2024' AND t.month = '03' AND day = '01'"),
            "SELECT year FROM cloudtrail WHERE SUBSTR(\"date\", 1, 4) = '2024' AND SUBSTR(t.\"date\", 6, 2) = '03' AND SUBSTR(\"date\", 9, 2) = '01'"
        );
    }

    #[test]
    fn presto_aggregates() {
        assert_eq!(
            rw("SELECT count_if(errorcode IS NOT NULL) FROM t"),
            "SELECT count(CASE WHEN errorcode IS NOT NULL THEN 1 END) FROM t"
        );
        assert_eq!(
            rw("SELECT arbitrary(x) FROM t"),
            "SELECT any_value(x) FROM t"
        );
    }
}
