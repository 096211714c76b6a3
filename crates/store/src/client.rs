//! The settings of an AWS SDK client (CloudWatch Logs for `cwl://` sources), resolved as
//! [`crate::s3_store`] resolves a bucket's: the profile gives credentials, region and
//! endpoint; the environment's `AWS_REGION` and `AWS_ENDPOINT_URL[_SERVICE]` win over the
//! profile, as in the AWS CLI. The SDK client caches the credentials itself.

use aws_config::Region;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_types::sdk_config::SharedHttpClient;

use crate::Result;
use crate::profile::profile_info;
use crate::s3::{DEFAULT_REGION, aws_http_client, env};

/// What an SDK client needs to reach a service.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub region: String,
    /// An endpoint other than AWS's (a local server in tests).
    pub endpoint: Option<String>,
    pub credentials: SharedCredentialsProvider,
    /// rustls on ring, as every other client of trailsql.
    pub http_client: SharedHttpClient,
}

/// The settings for a client of `service_env` (the service's suffix of
/// `AWS_ENDPOINT_URL_<SERVICE>`, e.g. `CLOUDWATCH_LOGS`) under `profile` (`None`: the
/// default chain).
pub async fn client_settings(profile: Option<&str>, service_env: &str) -> Result<ClientSettings> {
    let info = profile_info(profile)?;
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or(info.region)
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    let endpoint = env(&format!("AWS_ENDPOINT_URL_{service_env}"))
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or(info.endpoint_url);
    let config = ProviderConfig::default()
        .with_region(Some(Region::new(region.clone())))
        .with_http_client(aws_http_client());
    let credentials = match profile {
        // A profile that is asked for wins over credentials in the environment, as the AWS
        // CLI's `--profile` does.
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
    };
    Ok(ClientSettings {
        region,
        endpoint,
        credentials,
        http_client: aws_http_client(),
    })
}
