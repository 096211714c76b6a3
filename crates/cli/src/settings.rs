//! The S3 (and CloudWatch Logs) settings of a run, from the command line's profile flags.

use crate::args::S3Args;

/// The bucket of an `s3://bucket/...` location.
fn bucket_of(location: &str) -> Option<&str> {
    let rest = location.strip_prefix("s3://")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// The settings key of a `cwl://GROUP[?prefix=...]` source: `cwl://GROUP` (also what
/// `--bucket-profile cwl://GROUP=PROFILE` names).
fn log_group_of(source: &str) -> Option<&str> {
    source
        .starts_with("cwl://")
        .then(|| source.split('?').next().unwrap_or(source))
}

/// The S3 settings of the run: profiles per bucket, and SSE-KMS on the lake's bucket.
pub(crate) fn s3_settings(
    a: &S3Args,
    lake: &str,
    sources: &[String],
) -> Result<trailsql_store::S3Settings, String> {
    let mut s = trailsql_store::S3Settings::default();
    s.default.profile = a.profile.clone();
    if let Some(p) = &a.source_profile {
        for b in sources
            .iter()
            .filter_map(|s| bucket_of(s).or_else(|| log_group_of(s)))
        {
            s.set_profile(b, p).map_err(|e| e.to_string())?;
        }
    }
    if let (Some(p), Some(b)) = (&a.lake_profile, bucket_of(lake)) {
        s.set_profile(b, p).map_err(|e| e.to_string())?;
    }
    for bp in &a.bucket_profiles {
        let Some((b, p)) = bp
            .split_once('=')
            .filter(|(b, p)| !b.is_empty() && !p.is_empty())
        else {
            return Err(format!("--bucket-profile {bp:?}: expected BUCKET=PROFILE"));
        };
        s.buckets.entry(b.to_owned()).or_default().profile = Some(p.to_owned());
    }
    if a.sse_kms || a.sse_kms_key_id.is_some() {
        let Some(b) = bucket_of(lake) else {
            return Err("--sse-kms and --sse-kms-key-id apply to an s3:// lake".into());
        };
        s.set_sse_kms(b, a.sse_kms_key_id.as_deref());
    }
    Ok(s)
}

/// The S3 requests made since `before`, on stderr.
pub(crate) fn print_requests(before: &trailsql_store::RequestStats) {
    let stats = trailsql_store::request_stats().since(before);
    let mut lines = String::new();
    stats
        .write_lines(&mut lines, "requests: ")
        .expect("write to a String");
    if stats.is_empty() {
        lines.push_str("requests: none to S3\n");
    }
    eprint!("{lines}");
}
