//! `trailsql lookup`: the console's Event history filters, combined.

use crate::common::*;

#[test]
fn lookup_combines_the_console_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    crate::shapes::shapes_dir(&src);
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&src], &[]);
    let lookup = |args: &[&str]| -> Vec<String> {
        let o = bin()
            .arg("--lake")
            .arg(&lake)
            .args([
                "lookup",
                "--since",
                "2024-01-01",
                "--until",
                "2025-01-01",
                "--format",
                "csv",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap().to_owned())
            .collect()
    };
    // alice: her own calls, and bob's federated session she issued; newest first.
    assert_eq!(
        lookup(&["--username", "alice"]),
        [
            "CreateAccessKey",
            "StopLogging",
            "CreateUser",
            "DescribeInstances"
        ]
    );
    assert_eq!(
        lookup(&["--username", "alice", "--event-name", "CreateAccessKey"]),
        ["CreateAccessKey"]
    );
    assert_eq!(
        lookup(&[
            "--event-source",
            "iam.amazonaws.com",
            "--read-only",
            "false"
        ]),
        ["CreateAccessKey", "CreateUser"]
    );
    assert_eq!(lookup(&["--resource-type", "AWS::KMS::Key"]), ["Decrypt"]);
    assert_eq!(
        lookup(&["--resource-name", "example-artifacts"]),
        ["PutObject"]
    );
    assert_eq!(
        lookup(&[
            "--access-key-id",
            "AKIAEXAMPLEKEY1",
            "--event-name",
            "DescribeInstances"
        ]),
        ["DescribeInstances"]
    );
    assert_eq!(
        lookup(&["--event-id", "e0000009-0000-4000-8000-000000000009"]),
        ["GetObject"]
    );
}
