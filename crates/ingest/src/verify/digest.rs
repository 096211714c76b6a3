//! Digest files: CloudTrail's hourly, signed list of the log files it delivered, their
//! SHA-256, and the signature of the digest before (AWS's "CloudTrail digest file structure").

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDateTime, Utc};
use regex::Regex;
use rsa::RsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use serde::Deserialize;
use sha2::Sha256;

/// The fields of a digest file that validation reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    #[serde(default)]
    pub aws_account_id: Option<String>,
    #[serde(default)]
    pub digest_start_time: Option<String>,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    /// AWS documents `digestPublicKeyFingerprint`; some digests spell it `publicKeyFingerprint`.
    #[serde(default, alias = "publicKeyFingerprint")]
    pub digest_public_key_fingerprint: Option<String>,
    #[serde(default)]
    pub digest_signature_algorithm: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_bucket: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_object: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_algorithm: Option<String>,
    #[serde(default)]
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<LogFile>,
}

/// A log file a digest vouches for.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFile {
    #[serde(default)]
    pub s3_bucket: Option<String>,
    pub s3_object: String,
    pub hash_value: String,
    #[serde(default)]
    pub hash_algorithm: Option<String>,
}

impl Digest {
    pub fn parse(uncompressed: &[u8]) -> Result<Digest, String> {
        serde_json::from_slice(uncompressed).map_err(|e| format!("not a digest file: {e}"))
    }

    pub fn end_time(&self) -> Option<DateTime<Utc>> {
        parse_time(&self.digest_end_time)
    }

    pub fn start_time(&self) -> Option<DateTime<Utc>> {
        self.digest_start_time.as_deref().and_then(parse_time)
    }

    /// The text CloudTrail signs: end time, `bucket/key`, the hex SHA-256 of the uncompressed
    /// digest, and the previous digest's signature (`null` for the first digest of a chain,
    /// as in AWS's Java implementation).
    pub fn string_to_sign(&self, sha256_hex: &str) -> String {
        format!(
            "{}\n{}/{}\n{}\n{}",
            self.digest_end_time,
            self.digest_s3_bucket,
            self.digest_s3_object,
            sha256_hex,
            self.previous_digest_signature.as_deref().unwrap_or("null")
        )
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Check a hex SHA256withRSA (PKCS #1 v1.5) signature over `message`.
pub fn signature_ok(key: &RsaPublicKey, message: &[u8], signature_hex: &str) -> bool {
    // CloudTrail writes hex; a base64 copy is accepted too.
    let text = signature_hex.trim();
    let Some(bytes) = hex::decode(text).ok().or_else(|| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(text).ok()
    }) else {
        return false;
    };
    let Ok(sig) = Signature::try_from(bytes.as_slice()) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(message, &sig)
        .is_ok()
}

/// What a digest's object name says: which chain it belongs to and when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestName {
    pub account: String,
    pub region: String,
    pub trail: String,
    pub home_region: String,
    pub end: DateTime<Utc>,
    pub backfill: bool,
}

static DIGEST_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(\d{12})_CloudTrail-Digest_([a-z0-9-]+)_(.+)_([a-z]{2}(?:-[a-z]+)+-\d+)_(\d{8}T\d{6}Z)(_backfill)?\.json\.gz$",
    )
    .unwrap()
});

impl DigestName {
    /// Parse the file name of a digest object key
    /// (`ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_YYYYMMDDTHHMMSSZ[_backfill].json.gz`).
    pub fn parse(key: &str) -> Option<DigestName> {
        let name = key.rsplit('/').next()?;
        let c = DIGEST_NAME.captures(name)?;
        let end = NaiveDateTime::parse_from_str(&c[5], "%Y%m%dT%H%M%SZ")
            .ok()?
            .and_utc();
        Some(DigestName {
            account: c[1].to_owned(),
            region: c[2].to_owned(),
            trail: c[3].to_owned(),
            home_region: c[4].to_owned(),
            end,
            backfill: c.get(6).is_some(),
        })
    }
}

static LOG_TIME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"_(\d{8}T\d{4})Z_").unwrap());

/// The delivery time in a log file's name (`..._CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz`).
pub fn log_time(key: &str) -> Option<DateTime<Utc>> {
    let name = key.rsplit('/').next()?;
    let c = LOG_TIME.captures(name)?;
    NaiveDateTime::parse_from_str(&format!("{}00", &c[1]), "%Y%m%dT%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_underscores_in_trail_and_backfill() {
        let n = DigestName::parse("AWSLogs/o-abc/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_my_trail-1_us-gov-west-1_20150817T150131Z_backfill.json.gz").unwrap();
        assert_eq!(n.account, "111122223333");
        assert_eq!(n.region, "us-east-2");
        assert_eq!(n.trail, "my_trail-1");
        assert_eq!(n.home_region, "us-gov-west-1");
        assert_eq!(n.end.to_rfc3339(), "2015-08-17T15:01:31+00:00");
        assert!(n.backfill);
        assert!(
            DigestName::parse("x/111122223333_CloudTrail_us-east-2_20150817T1445Z_a.json.gz")
                .is_none()
        );
    }

    #[test]
    fn log_names_give_delivery_time() {
        let t = log_time("AWSLogs/1/CloudTrail/us-east-2/2015/08/17/111122223333_CloudTrail_us-east-2_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz").unwrap();
        assert_eq!(t.to_rfc3339(), "2015-08-17T14:45:00+00:00");
        assert!(log_time("AWSLogs/evil.json.gz").is_none());
    }

    #[test]
    fn string_to_sign_uses_null_for_a_chain_start() {
        let d = Digest::parse(br#"{"digestEndTime":"2015-08-17T15:01:31Z","digestS3Bucket":"b","digestS3Object":"k","previousDigestSignature":null,"logFiles":[]}"#).unwrap();
        assert_eq!(
            d.string_to_sign("ab"),
            "2015-08-17T15:01:31Z\nb/k\nab\nnull"
        );
    }
}
