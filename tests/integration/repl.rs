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
