//! The S3 store of a bucket, configured as the AWS CLI would be for it: the bucket's profile
//! (see [`crate::S3Settings`]) gives credentials, region and endpoint; the environment's
//! `AWS_REGION` and `AWS_ENDPOINT_URL[_S3]` win over the profile, as in the CLI.

use std::sync::{Arc, LazyLock};

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_types::sdk_config::SharedHttpClient;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};

use crate::credentials::CachedChain;
use crate::profile::profile_info;
use crate::requests::CountingConnector;
use crate::{Error, Result};

/// The region when neither the environment nor the profile names one (the AWS CLI has no
/// default; S3 answers a request to the wrong region with the right one in a redirect).
pub(crate) const DEFAULT_REGION: &str = "us-east-1";

/// aws-config's HTTP client (STS, SSO, IMDS, ECS): rustls on ring, the TLS stack object_store's
/// reqwest already uses, instead of aws-config's default rustls on aws-lc-rs.
pub(crate) fn aws_http_client() -> SharedHttpClient {
    static CLIENT: LazyLock<SharedHttpClient> = LazyLock::new(|| {
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https()
    });
    CLIENT.clone()
}

pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// An S3 store for `bucket`, with its requests counted under `s3://bucket`.
pub fn s3_store(bucket: &str) -> Result<Arc<dyn ObjectStore>> {
    let opts = crate::settings().for_bucket(bucket);
    let info = profile_info(opts.profile.as_deref())?;
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or(info.region)
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    let endpoint = env("AWS_ENDPOINT_URL_S3")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or(info.endpoint_url);
    let label = format!("s3://{bucket}");
    // from_env keeps object_store's own settings (AWS_ALLOW_HTTP, AWS_SKIP_SIGNATURE, ...);
    // the credentials it would read are replaced by the chain's.
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_region(&region)
        .with_credentials(Arc::new(CachedChain::new(
            opts.profile.clone(),
            region.clone(),
            label.clone(),
        )))
        .with_http_connector(CountingConnector::new(&label));
    if let Some(endpoint) = endpoint {
        if endpoint.starts_with("http://") {
            b = b.with_allow_http(true);
        }
        b = b
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false);
    }
    if opts.sse_kms {
        b = match &opts.sse_kms_key_id {
            Some(key) => b.with_sse_kms_encryption(key),
            None => b.with_config(
                "aws_server_side_encryption"
                    .parse::<AmazonS3ConfigKey>()
                    .expect("object_store's own key"),
                "aws:kms",
            ),
        };
    }
    let store = b.build().map_err(|e| Error::Build {
        bucket: bucket.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Arc::new(store))
}
