//! The lake's root: a local directory or `s3://bucket/prefix`, reached through object_store,
//! holding one folder per table and `_trailsql/` for trailsql's own state.

use std::path::PathBuf;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::partition::object_path;
use crate::schema::Table;
use crate::{Error, Result};

/// S3 stores are built by trailsql-store (credentials, per-bucket settings, request counts).
pub use trailsql_store::s3_store;

/// How long a local staging file must be left untouched before it is taken for a killed
/// write's: an ingest writes each file in one go, in well under this.
pub const STAGING_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// An opened lake.
#[derive(Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    /// The store whose root is the bucket's (or the file system's) root, and where the lake
    /// root is in it: what Delta and DataFusion address objects by.
    root_store: Arc<dyn ObjectStore>,
    root_prefix: String,
    root_url: url::Url,
    /// The location as the user gave it, made absolute (for messages and other tools).
    pub url: String,
    /// The directory, when the lake is local.
    pub local_root: Option<PathBuf>,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake").field("url", &self.url).finish()
    }
}

impl Lake {
    /// Open (creating when local) the lake at `location`.
    pub fn open(location: &str) -> Result<Lake> {
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let s3 =
                s3_store(bucket).map_err(|e| Error::InvalidLake(location.into(), e.to_string()))?;
            let store: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
                s3.clone()
            } else {
                Arc::new(PrefixStore::new(s3.clone(), prefix.trim_matches('/')))
            };
            let root_prefix = prefix.trim_matches('/').to_owned();
            let root_url = if root_prefix.is_empty() {
                url::Url::parse(&format!("s3://{bucket}/"))
            } else {
                url::Url::parse(&format!("s3://{bucket}/{root_prefix}/"))
            }
            .map_err(|e| Error::InvalidLake(location.into(), e.to_string()))?;
            return Ok(Lake {
                store,
                root_store: s3,
                root_prefix,
                root_url,
                url: location.trim_end_matches('/').to_owned(),
                local_root: None,
            });
        }
        let path = location.strip_prefix("file://").unwrap_or(location);
        std::fs::create_dir_all(path)
            .map_err(|e| Error::InvalidLake(location.into(), e.to_string()))?;
        let root = std::fs::canonicalize(path)
            .map_err(|e| Error::InvalidLake(location.into(), e.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(&root)?;
        let root_url = url::Url::from_directory_path(&root)
            .map_err(|()| Error::InvalidLake(location.into(), "not an absolute path".into()))?;
        let root_prefix = Path::from_filesystem_path(&root)
            .map_err(|e| Error::InvalidLake(location.into(), e.to_string()))?
            .to_string();
        Ok(Lake {
            store: Arc::new(store),
            root_store: Arc::new(LocalFileSystem::new()),
            root_prefix,
            root_url,
            url: root.display().to_string(),
            local_root: Some(root),
        })
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The store of the bucket (or file system) the lake is in.
    pub fn root_store(&self) -> &Arc<dyn ObjectStore> {
        &self.root_store
    }

    /// The lake root as a URL with a trailing slash (`file:///abs/lake/`, `s3://b/prefix/`).
    pub fn root_url(&self) -> &url::Url {
        &self.root_url
    }

    /// Scheme and authority of [`Lake::root_store`] (`file:///`, `s3://bucket`).
    pub fn store_url(&self) -> String {
        match self.root_url.scheme() {
            "file" => "file:///".to_owned(),
            scheme => format!("{scheme}://{}", self.root_url.host_str().unwrap_or("")),
        }
    }

    /// A lake path (below the root) as a path in [`Lake::root_store`].
    pub fn root_path(&self, path: &str) -> Result<Path> {
        if self.root_prefix.is_empty() {
            object_path(path)
        } else {
            object_path(&format!("{}/{path}", self.root_prefix))
        }
    }

    pub async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(&object_path(path)?, PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    pub async fn get(&self, path: &str) -> Result<bytes::Bytes> {
        Ok(self.store.get(&object_path(path)?).await?.bytes().await?)
    }

    pub async fn delete(&self, path: &str) -> Result<()> {
        match self.store.delete(&object_path(path)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every object below `prefix` (relative paths).
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let p = Path::from(prefix);
        let metas: Vec<_> = self.store.list(Some(&p)).try_collect().await?;
        Ok(metas
            .into_iter()
            .map(|m| (m.location.to_string(), m.size))
            .collect())
    }

    /// Remove the staging files a killed local write leaves next to its target
    /// (`name.parquet#N`); object stores never show them, so they are found on disk. Only
    /// those untouched for [`STAGING_AGE`]: a younger one may be a concurrent ingest's write
    /// in progress.
    pub fn remove_local_staging(&self) -> Result<usize> {
        let Some(root) = &self.local_root else {
            return Ok(0);
        };
        let mut removed = 0;
        let mut stack: Vec<PathBuf> = Table::ALL.iter().map(|t| root.join(t.name())).collect();
        stack.push(root.join("_trailsql"));
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(path);
                } else if let Some(name) = path.file_name().and_then(|n| n.to_str())
                    && let Some((_, suffix)) = name.rsplit_once('#')
                    && !suffix.is_empty()
                    && suffix.bytes().all(|b| b.is_ascii_digit())
                    && entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age >= STAGING_AGE)
                {
                    std::fs::remove_file(&path)?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}
