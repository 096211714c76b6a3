//! Public keys: the RSA keys CloudTrail signs digest files with, read from the output of
//! `aws cloudtrail list-public-keys` so that validation runs offline.

use std::collections::HashMap;

use base64::Engine;
use chrono::{DateTime, Utc};
use rsa::RsaPublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use serde_json::Value;

use crate::{Error, Result};

/// One public key and the time it was in use.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub fingerprint: String,
    pub key: RsaPublicKey,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
}

/// The keys a digest may name, by fingerprint.
#[derive(Debug, Clone, Default)]
pub struct PublicKeys {
    by_fingerprint: HashMap<String, PublicKey>,
}

/// Why no key could check a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    Unknown,
    NotValidAt {
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    },
}

impl PublicKeys {
    /// Read keys files. Each holds `{"PublicKeyList": [...]}` (the CLI's output), a bare array
    /// of keys, or one key object. Times may be RFC 3339 text or epoch seconds.
    pub fn load<P: AsRef<std::path::Path>>(paths: &[P]) -> Result<PublicKeys> {
        let mut keys = PublicKeys::default();
        for path in paths {
            let path = path.as_ref();
            let err = |reason: String| Error::PublicKeys {
                file: path.display().to_string(),
                reason,
            };
            let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
            keys.add_json(&text).map_err(err)?;
        }
        Ok(keys)
    }

    pub fn add_json(&mut self, text: &str) -> std::result::Result<(), String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let list = match &v {
            Value::Object(o) if o.contains_key("PublicKeyList") => match &o["PublicKeyList"] {
                Value::Array(a) => a.clone(),
                _ => return Err("PublicKeyList is not an array".into()),
            },
            Value::Array(a) => a.clone(),
            Value::Object(_) => vec![v.clone()],
            _ => return Err("expected the output of `aws cloudtrail list-public-keys`".into()),
        };
        if list.is_empty() {
            return Err("no public keys in the file".into());
        }
        for (i, k) in list.iter().enumerate() {
            let key = parse_key(k).map_err(|e| format!("key {i}: {e}"))?;
            self.insert(key);
        }
        Ok(())
    }

    pub fn insert(&mut self, key: PublicKey) {
        self.by_fingerprint.insert(key.fingerprint.clone(), key);
    }

    pub fn len(&self) -> usize {
        self.by_fingerprint.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_fingerprint.is_empty()
    }

    /// The key with `fingerprint`, if it was valid at `at`. AWS's algorithm asks for the keys
    /// valid over the digest's time, so a key used outside its validity does not count.
    pub fn lookup(
        &self,
        fingerprint: &str,
        at: DateTime<Utc>,
    ) -> std::result::Result<&PublicKey, KeyProblem> {
        let k = self
            .by_fingerprint
            .get(fingerprint)
            .ok_or(KeyProblem::Unknown)?;
        let after_start = k.valid_from.is_none_or(|f| at >= f);
        let before_end = k.valid_to.is_none_or(|t| at <= t);
        if after_start && before_end {
            Ok(k)
        } else {
            Err(KeyProblem::NotValidAt {
                from: k.valid_from,
                to: k.valid_to,
            })
        }
    }
}

fn parse_key(k: &Value) -> std::result::Result<PublicKey, String> {
    let field = |name: &str| k.get(name).filter(|v| !v.is_null());
    let fingerprint = field("Fingerprint")
        .and_then(Value::as_str)
        .ok_or("no Fingerprint")?
        .to_owned();
    let value = field("Value")
        .and_then(Value::as_str)
        .ok_or("no Value (base64 DER key)")?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| format!("Value is not base64: {e}"))?;
    let key = RsaPublicKey::from_pkcs1_der(&der)
        .or_else(|_| RsaPublicKey::from_public_key_der(&der))
        .map_err(|e| format!("Value is not a DER RSA public key: {e}"))?;
    let time = |name: &str| -> std::result::Result<Option<DateTime<Utc>>, String> {
        match field(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .and_then(|s| DateTime::from_timestamp_micros((s * 1e6) as i64))
                .map(Some)
                .ok_or_else(|| format!("{name} is out of range")),
            Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .or_else(|_| {
                    crate::time::parse_time_or_date(s)
                        .and_then(DateTime::from_timestamp_micros)
                        .map(Some)
                        .ok_or(())
                })
                .map_err(|_| format!("{name} is not a time: {s:?}")),
            Some(_) => Err(format!("{name} is not a time")),
        }
    };
    Ok(PublicKey {
        fingerprint,
        key,
        valid_from: time("ValidityStartTime")?,
        valid_to: time("ValidityEndTime")?,
    })
}
