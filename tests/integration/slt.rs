//! SQL behaviour as sqllogictest-style files (`tests/slt/*.slt`), run against a lake
//! ingested from the shapes fixtures:
//!
//! ```text
//! # comment
//! query
//! SELECT ...
//! ----
//! value<TAB>value      (one line per row, NULL for null)
//!
//! statement error SUBSTRING
//! SELECT ...
//! ```

use std::path::Path;

use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::common::*;

struct Record {
    line: usize,
    sql: String,
    expected: Result<Vec<String>, String>,
}

fn parse(text: &str) -> Vec<Record> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_end();
        if l.is_empty() || l.starts_with('#') {
            i += 1;
            continue;
        }
        let line = i + 1;
        let error = l
            .strip_prefix("statement error")
            .map(|s| s.trim().to_owned());
        assert!(
            l == "query" || error.is_some(),
            "line {line}: expected `query` or `statement error`, got {l:?}"
        );
        i += 1;
        let mut sql = Vec::new();
        while i < lines.len() && lines[i].trim_end() != "----" && !lines[i].trim().is_empty() {
            sql.push(lines[i]);
            i += 1;
        }
        let expected = match error {
            Some(e) => Err(e),
            None => {
                assert!(
                    i < lines.len() && lines[i].trim_end() == "----",
                    "line {line}: query without ----"
                );
                i += 1;
                let mut rows = Vec::new();
                while i < lines.len() && !lines[i].trim().is_empty() {
                    rows.push(lines[i].trim_end().to_owned());
                    i += 1;
                }
                Ok(rows)
            }
        };
        out.push(Record {
            line,
            sql: sql.join("\n"),
            expected,
        });
    }
    out
}

async fn run(ctx: &datafusion::prelude::SessionContext, sql: &str) -> Result<Vec<String>, String> {
    let batches = trailsql_query::query(ctx, sql)
        .await
        .map_err(|e| e.to_string())?;
    let opts = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in &batches {
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            rows.push(
                fmts.iter()
                    .map(|f| f.value(r).to_string())
                    .collect::<Vec<_>>()
                    .join("\t"),
            );
        }
    }
    Ok(rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slt_files() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    crate::shapes::shapes_dir(&src);
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&src], &[]);
    let ctx = trailsql_query::open_session(lake.to_str().unwrap())
        .await
        .unwrap();

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/slt");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let mut count = 0;
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "slt"))
    {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for rec in parse(&std::fs::read_to_string(f).unwrap()) {
            count += 1;
            let got = run(&ctx, &rec.sql).await;
            let ok = match (&rec.expected, &got) {
                (Ok(want), Ok(have)) => want == have,
                (Err(want), Err(have)) => have.contains(want.as_str()),
                _ => false,
            };
            if !ok {
                failures.push(format!(
                    "{name}:{}: {}\n  expected: {:?}\n  got:      {:?}",
                    rec.line, rec.sql, rec.expected, got
                ));
            }
        }
    }
    assert!(count > 50, "only {count} records");
    assert!(
        failures.is_empty(),
        "{} of {count} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
