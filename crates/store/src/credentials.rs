//! The AWS credential chain behind object_store's `CredentialProvider`, cached. aws-config
//! resolves credentials as the AWS CLI does; its providers do not cache (the SDK clients
//! wrap them in an identity cache that object_store does not have), so without a cache every
//! S3 request would run a `credential_process` or call STS. The answer is kept until shortly
//! before it expires: a long backfill outlives a one-hour role session.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::Region;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::CredentialProvider;
use object_store::aws::AwsCredential;
use tokio::sync::{Mutex, OnceCell};

/// Credentials are renewed this long before they expire (the AWS SDKs' default buffer), or
/// after half their lifetime when they are shorter-lived than twice that.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// Credentials of a profile (or of the default chain), fetched on first use and cached.
pub struct CachedChain {
    /// The profile as named; `None`: the default chain.
    profile: Option<String>,
    region: String,
    /// For messages: which store these credentials serve.
    store: String,
    provider: OnceCell<SharedCredentialsProvider>,
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    credential: Arc<AwsCredential>,
    /// When to fetch again; `None`: never (static keys).
    refresh_at: Option<SystemTime>,
}

impl std::fmt::Debug for CachedChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials themselves.
        f.debug_struct("CachedChain")
            .field("profile", &self.profile)
            .field("store", &self.store)
            .finish()
    }
}

impl CachedChain {
    pub fn new(profile: Option<String>, region: String, store: String) -> Self {
        CachedChain {
            profile,
            region,
            store,
            provider: OnceCell::new(),
            cached: Mutex::new(None),
        }
    }

    async fn provider(&self) -> &SharedCredentialsProvider {
        self.provider
            .get_or_init(|| async {
                let config = ProviderConfig::default()
                    .with_region(Some(Region::new(self.region.clone())))
                    .with_http_client(crate::s3::aws_http_client());
                match &self.profile {
                    // A profile that is asked for wins over credentials in the environment,
                    // as the AWS CLI's `--profile` does.
                    Some(p) => SharedCredentialsProvider::new(
                        ProfileFileCredentialsProvider::builder()
                            .configure(&config)
                            .profile_name(p)
                            .build(),
                    ),
                    None => SharedCredentialsProvider::new(
                        DefaultCredentialsChain::builder()
                            .configure(config)
                            .build()
                            .await,
                    ),
                }
            })
            .await
    }

    fn describe(&self) -> String {
        match &self.profile {
            Some(p) => format!("credentials for {} (profile {p:?})", self.store),
            None => format!("credentials for {}", self.store),
        }
    }
}

/// When credentials that expire at `expiry`, fetched at `now`, are fetched again.
pub fn refresh_at(now: SystemTime, expiry: SystemTime) -> SystemTime {
    let lifetime = expiry.duration_since(now).unwrap_or_default();
    expiry - REFRESH_BEFORE.min(lifetime / 2)
}

#[async_trait::async_trait]
impl CredentialProvider for CachedChain {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        // One fetch at a time: requests that find the cache stale wait for its answer.
        let mut cached = self.cached.lock().await;
        let now = SystemTime::now();
        if let Some(c) = cached.as_ref()
            && c.refresh_at.is_none_or(|at| now < at)
        {
            return Ok(c.credential.clone());
        }
        let creds = self
            .provider()
            .await
            .provide_credentials()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: format!("{}: {}", self.describe(), chain(&e)).into(),
            })?;
        let credential = Arc::new(AwsCredential {
            key_id: creds.access_key_id().to_owned(),
            secret_key: creds.secret_access_key().to_owned(),
            token: creds.session_token().map(str::to_owned),
        });
        *cached = Some(Cached {
            credential: credential.clone(),
            refresh_at: creds.expiry().map(|e| refresh_at(now, e)),
        });
        Ok(credential)
    }
}

/// An error and its causes on one line (aws-config's errors put the reason in their causes).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshed_five_minutes_before_expiry_or_at_half_life() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = now + Duration::from_secs(3600);
        assert_eq!(refresh_at(now, hour), hour - Duration::from_secs(300));
        let short = now + Duration::from_secs(4);
        assert_eq!(refresh_at(now, short), now + Duration::from_secs(2));
        let expired = now - Duration::from_secs(1);
        assert_eq!(refresh_at(now, expired), expired);
    }
}
