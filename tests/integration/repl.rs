//! REPL sessions driven through piped stdin: statements over several lines, meta-commands,
//! errors that do not end the session.

use crate::common::*;

fn session(lake: &std::path::Path, input: &str) -> (i32, String, String) {
    let mut cmd = bin();
    cmd.arg("--lake")
        .arg(lake)
        .env("TRAILSQL_HISTORY", lake.join("history"));
    run_with_stdin(cmd, input)
}

#[test]
fn piped_repl_session() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    crate::shapes::shapes_dir(&src);
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&src], &[]);
    let script = tmp.path().join("s.sql");
    std::fs::write(
        &script,
        "SELECT count(*) AS insights FROM cloudtrail_insights;",
    )
    .unwrap();

    let input = format!(
        "\\format csv\n\\timing off\nSELECT eventname\n  FROM cloudtrail\n  WHERE eventsource = 'signin.amazonaws.com';\n\
         SELECT nope FROM cloudtrail;\n\\bogus\n\\i {}\n\\d cloudtrail_insights\n\\q\nSELECT 'after quit';\n",
        script.display()
    );
    let (code, out, err) = session(&lake, &input);
    assert_eq!(
        out,
        "timing is off\neventname\nConsoleLogin\ninsights\n2\n\
         eventversion                   string\neventtime                      timestamp with time zone\n\
         awsregion                      string\neventid                        string\neventtype                      string\n\
         recipientaccountid             string\nsharedeventid                  string\ninsightdetails                 string\n\
         eventcategory                  string\nunmappedfields                 string\nsourceobject                   string\n\
         sourceindex                    int64\ndate                           string\nregion                         string\n"
    );
    let errors: Vec<&str> = err.lines().collect();
    assert_eq!(errors.len(), 2, "one line per error: {err}");
    assert!(errors[0].starts_with("error: ") && errors[0].contains("nope"));
    assert!(errors[1].contains("\\bogus"));
    assert_eq!(
        code, 1,
        "a failed statement makes a scripted session exit 1"
    );

    let (code, out, _) = session(&lake, "\\timing off\nSELECT 1 AS one;\n");
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "timing is off\n+-----+\n| one |\n+-----+\n| 1   |\n+-----+\n1 row\n"
        )
    );
}

#[test]
fn wide_results_fit_the_width_and_expand_into_records() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    crate::shapes::shapes_dir(&src);
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&src], &[]);
    let columns = trailsql_lake::schema::Table::CloudTrail
        .schema()
        .fields()
        .len()
        + 2;
    let select = "SELECT * FROM cloudtrail WHERE eventname = 'PutObject';\n";

    // The table keeps the first and last columns and says how many it hides.
    let mut cmd = bin();
    cmd.arg("--lake")
        .arg(&lake)
        .env("TRAILSQL_HISTORY", lake.join("history"))
        .env("COLUMNS", "100");
    let (code, out, err) = run_with_stdin(cmd, &format!("\\timing off\n{select}"));
    assert_eq!(code, 0, "{err}");
    for line in out.lines() {
        assert!(
            line.chars().count() <= 100,
            "wider than 100: {line:?}\n{out}"
        );
    }
    let header = out.lines().nth(2).unwrap();
    assert!(header.starts_with("| eventversion "), "{out}");
    assert!(
        header.trim_end_matches(['|', ' ']).ends_with("| region"),
        "{out}"
    );
    let shown = header.split('|').count() - 3;
    let hidden = columns - shown;
    assert!(hidden > 0 && shown >= 3, "{out}");
    assert!(header.contains(&format!("… {hidden} more")), "{out}");
    assert!(
        out.ends_with(&format!(
            "1 row, {columns} columns ({hidden} hidden: \\x shows every field)\n"
        )),
        "{out}"
    );

    // Expanded: one line per field, nulls inside structs as `null`; \width sets the width.
    let (code, out, err) = session(
        &lake,
        &format!(
            "\\timing off\n\\width 100\n\\x on\n{select}\\x auto\nSELECT eventname FROM cloudtrail WHERE eventname = 'PutObject';\n\\x off\n"
        ),
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(lines[0], "width is 100");
    assert_eq!(lines[1], "expanded display is on");
    assert!(lines[2].starts_with("-[ RECORD 1 ]-"), "{out}");
    let record = &lines[3..3 + columns];
    assert!(
        record[0].starts_with("eventversion ") && record[0].ends_with("| 1.09"),
        "{out}"
    );
    assert!(
        record
            .iter()
            .any(|l| l.starts_with("eventname ") && l.ends_with("| PutObject")),
        "{out}"
    );
    let identity = record
        .iter()
        .find(|l| l.starts_with("useridentity "))
        .unwrap();
    assert!(identity.contains("username: null"), "{identity}");
    assert!(
        !identity.contains(": ,") && !identity.contains(": }"),
        "{identity}"
    );
    assert_eq!(lines[3 + columns], "1 row");
    assert_eq!(lines[4 + columns], "expanded display is auto");
    // auto: a table when it fits.
    assert!(lines[5 + columns].starts_with("+---"), "{out}");
    assert_eq!(lines.last(), Some(&"expanded display is off"));
}
