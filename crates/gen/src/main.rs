//! The `trailsql-gen` command: parses its arguments by hand (the crate takes no CLI
//! dependency), runs the generator and prints the summary as one line of JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use trailsql_gen::{GenConfig, generate};

const USAGE: &str = "\
usage: trailsql-gen --out DIR [--events N] [--days D] [--accounts A]
                    [--regions r1,r2,...] [--seed S] [--start YYYY-MM-DD]
                    [--no-insights] [--duplicate-rate F] [--late-rate F]

Writes synthetic CloudTrail logs under DIR/AWSLogs/... exactly as CloudTrail
delivers them to S3, and prints a one-line JSON summary. Same arguments, same bytes.
Defaults: --events 1000 --days 3 --accounts 2 --regions us-east-1,eu-west-1
          --seed 42 --start 2024-03-01 --duplicate-rate 0.001 --late-rate 0.005";

fn parse(args: &[String]) -> Result<(GenConfig, PathBuf), String> {
    let mut cfg = GenConfig::default();
    let mut out = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (flag.as_str(), None),
        };
        if name == "--no-insights" {
            cfg.insights = false;
            continue;
        }
        if name == "-h" || name == "--help" {
            return Err(String::new());
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))?,
        };
        let num = |v: &str| {
            v.replace('_', "")
                .parse::<u64>()
                .map_err(|e| format!("{name} {v}: {e}"))
        };
        let rate = |v: &str| v.parse::<f64>().map_err(|e| format!("{name} {v}: {e}"));
        match name {
            "--events" => cfg.events = num(&value)?,
            "--days" => cfg.days = num(&value)?.try_into().map_err(|_| "--days too large")?,
            "--accounts" => {
                cfg.accounts = num(&value)?
                    .try_into()
                    .map_err(|_| "--accounts too large")?
            }
            "--regions" => {
                cfg.regions = value
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(String::from)
                    .collect()
            }
            "--seed" => cfg.seed = num(&value)?,
            "--start" => {
                cfg.start = chrono::NaiveDate::parse_from_str(&value, "%Y-%m-%d")
                    .map_err(|e| format!("--start {value}: {e}"))?
            }
            "--duplicate-rate" => cfg.duplicate_rate = rate(&value)?,
            "--late-rate" => cfg.late_rate = rate(&value)?,
            "--out" => out = Some(PathBuf::from(value)),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let out = out.ok_or("--out DIR is required")?;
    Ok((cfg, out))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cfg, out) = match parse(&args) {
        Ok(v) => v,
        Err(msg) => {
            if msg.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("trailsql-gen: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match generate(&cfg, &out) {
        Ok(summary) => {
            println!("{}", summary.to_json());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trailsql-gen: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_every_flag() {
        let (cfg, out) = parse(&args(
            "--events 400 --days 3 --accounts 2 --regions us-east-1,eu-west-1,ap-southeast-2 \
             --seed 7 --start 2024-03-01 --out samples --late-rate=0.01 --no-insights",
        ))
        .unwrap();
        assert_eq!(out, PathBuf::from("samples"));
        assert_eq!(cfg.events, 400);
        assert_eq!(cfg.days, 3);
        assert_eq!(cfg.accounts, 2);
        assert_eq!(cfg.regions, ["us-east-1", "eu-west-1", "ap-southeast-2"]);
        assert_eq!(cfg.seed, 7);
        assert_eq!(
            cfg.start,
            chrono::NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()
        );
        assert_eq!(cfg.late_rate, 0.01);
        assert!(!cfg.insights);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(&args("--events 10")).is_err());
        assert!(parse(&args("--out x --events ten")).is_err());
        assert!(parse(&args("--out x --start 2024-13-01")).is_err());
        assert!(parse(&args("--out x --bogus 1")).is_err());
        assert!(parse(&args("--out x --days")).is_err());
        assert_eq!(parse(&args("--help")).unwrap_err(), "");
    }
}
