//! S3 settings: which AWS profile reaches which bucket, and how trailsql's writes are
//! encrypted. Installed once per process by the binary (as the AWS SDKs read their
//! configuration once), so every part that opens a bucket (sources, the lake, queries)
//! finds the same answer without passing it along.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::{Error, Result};

/// How one bucket is reached and written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    /// The AWS profile whose credentials, region and endpoint are used. `None`: the default
    /// chain (environment, `AWS_PROFILE` or `default`, web identity, ECS, IMDS).
    pub profile: Option<String>,
    /// Objects written are encrypted with SSE-KMS (`x-amz-server-side-encryption: aws:kms`).
    pub sse_kms: bool,
    /// With [`Self::sse_kms`]: this KMS key (id, ARN or alias); `None` leaves the choice to
    /// the bucket's default key (or `aws/s3`).
    pub sse_kms_key_id: Option<String>,
}

/// The options of every bucket: a default, and per bucket.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub default: S3Options,
    pub buckets: BTreeMap<String, S3Options>,
}

impl S3Settings {
    /// The options for `bucket`: its own, where it has them, over the defaults.
    pub fn for_bucket(&self, bucket: &str) -> S3Options {
        let Some(own) = self.buckets.get(bucket) else {
            return self.default.clone();
        };
        S3Options {
            profile: own.profile.clone().or_else(|| self.default.profile.clone()),
            sse_kms: own.sse_kms || self.default.sse_kms,
            sse_kms_key_id: own
                .sse_kms_key_id
                .clone()
                .or_else(|| self.default.sse_kms_key_id.clone()),
        }
    }

    /// Give `bucket` a profile of its own. Two different profiles for one bucket are an error
    /// (a source and the lake in one bucket, each with its own `--*-profile`).
    pub fn set_profile(&mut self, bucket: &str, profile: &str) -> Result<()> {
        let own = self.buckets.entry(bucket.to_owned()).or_default();
        match &own.profile {
            Some(p) if p != profile => Err(Error::Settings(format!(
                "bucket {bucket:?} is given two AWS profiles: {p:?} and {profile:?}"
            ))),
            _ => {
                own.profile = Some(profile.to_owned());
                Ok(())
            }
        }
    }

    /// Encrypt what is written to `bucket` with SSE-KMS (`key`: a KMS key, or the bucket's
    /// default key when `None`).
    pub fn set_sse_kms(&mut self, bucket: &str, key: Option<&str>) {
        let own = self.buckets.entry(bucket.to_owned()).or_default();
        own.sse_kms = true;
        own.sse_kms_key_id = key.map(str::to_owned);
    }
}

static SETTINGS: OnceLock<S3Settings> = OnceLock::new();

/// Install the process's S3 settings (once, before any store is built). A second call is
/// an error: stores already built would disagree with the new settings.
pub fn install_settings(settings: S3Settings) -> Result<()> {
    SETTINGS
        .set(settings)
        .map_err(|_| Error::Settings("S3 settings were already installed".into()))
}

/// The process's S3 settings (the defaults when none were installed).
pub fn settings() -> &'static S3Settings {
    SETTINGS.get_or_init(S3Settings::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_takes_its_own_profile_over_the_default() {
        let mut s = S3Settings {
            default: S3Options {
                profile: Some("analyst".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        s.set_profile("trail", "log-archive").unwrap();
        s.set_sse_kms("lake", Some("alias/lake"));
        assert_eq!(
            s.for_bucket("trail").profile.as_deref(),
            Some("log-archive")
        );
        assert_eq!(s.for_bucket("other").profile.as_deref(), Some("analyst"));
        let lake = s.for_bucket("lake");
        assert_eq!(lake.profile.as_deref(), Some("analyst"));
        assert!(lake.sse_kms);
        assert_eq!(lake.sse_kms_key_id.as_deref(), Some("alias/lake"));
        assert!(!s.for_bucket("trail").sse_kms);
        // The same profile twice is fine; another one is not.
        s.set_profile("trail", "log-archive").unwrap();
        let e = s.set_profile("trail", "security").unwrap_err().to_string();
        assert!(e.contains("\"log-archive\" and \"security\""), "{e}");
    }
}
