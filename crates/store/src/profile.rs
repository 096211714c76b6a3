//! What the AWS config files say about a profile that a store needs before any request: that
//! the profile exists, its region and its endpoint. Read as the AWS CLI reads them
//! (`~/.aws/config`, `~/.aws/credentials`, `AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`),
//! through aws-config's own parser.

use std::borrow::Cow;

use aws_config::profile::ProfileSet;
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_types::os_shim_internal::{Env, Fs};

use crate::{Error, Result};

/// A profile's settings that matter before the first request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProfileInfo {
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

/// The config files, parsed, with `profile` (or `AWS_PROFILE`, or `default`) selected.
fn load(profile: Option<&str>) -> Result<ProfileSet> {
    let files = EnvConfigFiles::default();
    let selected = profile.map(|p| Cow::Owned(p.to_owned()));
    // aws-config's loader reads the files with blocking std::fs calls inside an async fn
    // (os_shim_internal::Fs::read_to_end): it completes on first poll, off any runtime.
    futures::executor::block_on(aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &files,
        selected,
    ))
    .map_err(|e| Error::Profile {
        profile: profile.unwrap_or("default").to_owned(),
        reason: crate::credentials::chain(&e),
    })
}

/// The settings of `profile`; `None` picks `AWS_PROFILE` or `default`, which may be absent
/// (the chain then goes on to web identity, ECS and IMDS). A profile that was named and is
/// in neither file is an error, as in the AWS CLI.
pub fn profile_info(profile: Option<&str>) -> Result<ProfileInfo> {
    let named = profile
        .map(str::to_owned)
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
    let set = load(named.as_deref())?;
    let Some(p) = set.get_profile(set.selected_profile()) else {
        return match named {
            Some(name) => Err(Error::Profile {
                profile: name,
                reason: format!("not found in {}", config_files()),
            }),
            None => Ok(ProfileInfo::default()),
        };
    };
    Ok(ProfileInfo {
        region: p.get("region").map(str::to_owned),
        endpoint_url: p.get("endpoint_url").map(str::to_owned),
    })
}

/// The config files as a user would look for them, for messages.
fn config_files() -> String {
    let config = std::env::var("AWS_CONFIG_FILE").unwrap_or_else(|_| "~/.aws/config".into());
    let creds = std::env::var("AWS_SHARED_CREDENTIALS_FILE")
        .unwrap_or_else(|_| "~/.aws/credentials".into());
    format!("{config} or {creds}")
}
