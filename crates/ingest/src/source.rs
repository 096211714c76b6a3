//! Source objects: what a SOURCE argument (a file, a directory, a glob, `s3://bucket/prefix`)
//! names, listed through object_store so local and S3 sources take the same path.

use std::sync::Arc;

use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use crate::{Error, Result};

/// One object to ingest.
#[derive(Clone)]
pub struct SourceObject {
    pub store: Arc<dyn ObjectStore>,
    pub location: Path,
    /// Stable identity of the object: `file:///abs/path` or `s3://bucket/key`.
    pub uri: String,
    pub size: u64,
    /// Last modification, milliseconds since the epoch.
    pub modified: i64,
    pub etag: Option<String>,
}

impl std::fmt::Debug for SourceObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceObject")
            .field("uri", &self.uri)
            .field("size", &self.size)
            .finish()
    }
}

impl SourceObject {
    /// The path as a user reads it (no `file://`).
    pub fn display(&self) -> &str {
        self.uri.strip_prefix("file://").unwrap_or(&self.uri)
    }

    /// Recognised by name alone as not event data: CloudTrail digest files.
    pub fn skip_by_name(&self) -> Option<&'static str> {
        let key = self.location.as_ref();
        if key.contains("/CloudTrail-Digest/") || key.contains("_CloudTrail-Digest_") {
            return Some("CloudTrail digest file");
        }
        if key.ends_with("ConfigWritabilityCheckFile") {
            return Some("AWS Config file");
        }
        None
    }

    /// The delivery date in a CloudTrail object key (`.../YYYY/MM/DD/ACCOUNT_CloudTrail_...`).
    pub fn delivery_date(&self) -> Option<NaiveDate> {
        key_delivery_date(self.location.as_ref())
    }
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

fn hidden(key: &str) -> bool {
    key.split('/').any(|part| part.starts_with('.'))
}

/// Delivery days to list: `[first, last]`.
pub type Days = (NaiveDate, NaiveDate);

/// What to list of a trail's layout (`AWSLogs/[o-org/]ACCOUNT/CloudTrail*/REGION/YYYY/MM/DD/`).
#[derive(Debug, Clone)]
pub struct Listing {
    /// Only these delivery days: an S3 bucket is then listed by day prefix, in parallel,
    /// instead of in full.
    pub days: Option<Days>,
    /// Only these accounts (empty: all).
    pub accounts: Vec<String>,
    /// Only these regions (empty: all).
    pub regions: Vec<String>,
    /// Also list `CloudTrail-Digest/` (integrity validation needs it; ingest does not).
    pub digests: bool,
    /// LIST requests in flight at once.
    pub concurrency: usize,
    /// Objects of `s3://` sources are sent here as soon as their prefix is listed (the ones
    /// the filters keep), so that reading can start while the listing goes on.
    pub listed: Option<tokio::sync::mpsc::UnboundedSender<SourceObject>>,
}

/// The delivery days to list for a time window `[since, until)`: from the day before `since`
/// (a file holds events from before its delivery) to the day after `until` (deliveries come
/// within minutes; later ones are not looked for). Without `since`, no day limit.
pub fn window_days(
    since: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<Days> {
    let day = chrono::Duration::days(1);
    since.map(|s| {
        let last = until.map_or_else(
            || chrono::Utc::now().date_naive(),
            |u| (u - chrono::Duration::microseconds(1) + day).date_naive(),
        );
        ((s - day).date_naive(), last)
    })
}

impl Listing {
    /// Whether an object key passes the account and region filters. Keys outside CloudTrail's
    /// layout are kept: they cannot be attributed.
    pub fn keeps(&self, key: &str) -> bool {
        let Some(parts) = layout_parts(key) else {
            return true;
        };
        (self.accounts.is_empty() || self.accounts.iter().any(|a| a == parts.account))
            && (parts.region.is_none()
                || self.regions.is_empty()
                || self
                    .regions
                    .iter()
                    .any(|r| Some(r.as_str()) == parts.region))
    }
}

impl Default for Listing {
    fn default() -> Self {
        Listing {
            days: None,
            accounts: Vec::new(),
            regions: Vec::new(),
            digests: false,
            concurrency: 64,
            listed: None,
        }
    }
}

struct LayoutParts<'a> {
    account: &'a str,
    region: Option<&'a str>,
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The account and region of a key in CloudTrail's layout.
fn layout_parts(key: &str) -> Option<LayoutParts<'_>> {
    let at = key.find("AWSLogs/")?;
    let mut it = key[at + "AWSLogs/".len()..].split('/');
    let mut account = it.next()?;
    if account.starts_with("o-") {
        account = it.next()?;
    }
    if !is_account(account) {
        return None;
    }
    let kind = it.next();
    let region = match (kind, it.next(), it.next()) {
        (Some(k), Some(r), Some(_)) if k.starts_with("CloudTrail") => Some(r),
        _ => None,
    };
    Some(LayoutParts { account, region })
}

/// The delivery date in an object key (`.../YYYY/MM/DD/ACCOUNT_CloudTrail...`).
pub fn key_delivery_date(key: &str) -> Option<NaiveDate> {
    let parts: Vec<&str> = key.split('/').collect();
    if parts.len() < 4 {
        return None;
    }
    let n = parts.len();
    let (y, m, d) = (parts[n - 4], parts[n - 3], parts[n - 2]);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 || !parts[n - 1].contains("_CloudTrail") {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// An entry of a local source tree that cannot be read as a file: a symlink loop, a dangling
/// link, a directory or file that cannot be opened, a FIFO or device. Reported with its path,
/// never a reason to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub path: String,
    pub reason: String,
}

/// What a SOURCE argument names: the objects to read and the entries that cannot be read.
#[derive(Debug, Default)]
pub struct Resolved {
    pub objects: Vec<SourceObject>,
    pub unreadable: Vec<Unreadable>,
}

/// List the objects a SOURCE argument names, as `listing` filters them.
pub async fn resolve(arg: &str, listing: &Listing) -> Result<Resolved> {
    let mut out = resolve_all(arg, listing).await?;
    out.objects.retain(|o| listing.keeps(o.location.as_ref()));
    Ok(out)
}

async fn resolve_all(arg: &str, listing: &Listing) -> Result<Resolved> {
    let days = listing.days;
    if let Some(rest) = arg.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let store = trailsql_store::s3_store(bucket)?;
        let (list_prefix, pattern) = split_glob(prefix);
        let matcher = pattern.map(|p| compile_glob(arg, &p)).transpose()?;
        let prefix_path = Path::from(list_prefix.trim_end_matches('/'));
        let uri = |key: &str| format!("s3://{bucket}/{key}");
        let notify = |metas: &[ObjectMeta]| {
            let Some(tx) = &listing.listed else { return };
            for m in metas {
                let key = m.location.as_ref();
                if !hidden(key) && listing.keeps(key) {
                    let _ = tx.send(object(&store, m.clone(), uri(key)));
                }
            }
        };
        let metas: Vec<ObjectMeta> = match matcher {
            None => list_layout(&store, &prefix_path, days, listing, &notify).await?,
            Some(_) => store.list(Some(&prefix_path)).try_collect().await?,
        };
        let mut out = Vec::new();
        for m in metas {
            let key = m.location.to_string();
            if hidden(&key) || matcher.as_ref().is_some_and(|g| !g.is_match(&key)) {
                continue;
            }
            out.push(object(&store, m, uri(&key)));
        }
        return Ok(Resolved {
            objects: out,
            unreadable: Vec::new(),
        });
    }
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
    let path = arg.strip_prefix("file://").unwrap_or(arg);
    let (base, pattern) = if has_glob(path) {
        let (b, p) = split_glob(path);
        (
            if b.is_empty() { ".".to_owned() } else { b },
            Some(p.unwrap_or_default()),
        )
    } else {
        (path.to_owned(), None)
    };
    let abs = std::fs::canonicalize(&base).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound(base.clone().into()),
        _ => Error::InvalidSource {
            source_arg: arg.into(),
            reason: e.to_string(),
        },
    })?;
    let loc = Path::from_filesystem_path(&abs).map_err(|e| Error::InvalidSource {
        source_arg: arg.into(),
        reason: e.to_string(),
    })?;
    if abs.is_file() {
        let m = store.head(&loc).await?;
        return Ok(Resolved {
            objects: vec![object(&store, m, file_uri(&abs.display().to_string()))],
            unreadable: Vec::new(),
        });
    }
    let matcher = match pattern {
        Some(p) => {
            let full = format!("{}/{}", abs.display(), p);
            Some(compile_glob(arg, &full)?)
        }
        None => None,
    };
    let walk_root = abs.clone();
    let (metas, unreadable) = tokio::task::spawn_blocking(move || walk(&walk_root))
        .await
        .map_err(|e| Error::Task(e.to_string()))?;
    let mut out = Vec::new();
    for m in metas {
        let fs = format!("/{}", m.location);
        if matcher.as_ref().is_some_and(|g| !g.is_match(&fs)) {
            continue;
        }
        let uri = file_uri(&fs);
        out.push(object(&store, m, uri));
    }
    // Under a glob, only the entries it names are reported: a loop among directories is not
    // a file the pattern asks for.
    let mut unreadable = unreadable;
    unreadable.retain(|u| matcher.as_ref().is_none_or(|g| g.is_match(&u.path)));
    Ok(Resolved {
        objects: out,
        unreadable,
    })
}

/// Walk a local directory as object_store's `LocalFileSystem` lists it (links followed,
/// the same locations and ETags, so a lake's record of what it read stays valid), except
/// that an entry that cannot be read is reported and the walk goes on: object_store stops
/// at the first symlink loop or unreadable directory, and passes over dangling links and
/// FIFOs without a word. Hidden files and folders are left out.
fn walk(root: &std::path::Path) -> (Vec<ObjectMeta>, Vec<Unreadable>) {
    let mut metas = Vec::new();
    let mut unreadable = Vec::new();
    let entries = walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !e.file_name().to_string_lossy().starts_with('.'));
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e
                    .path()
                    .map_or_else(|| root.display().to_string(), |p| p.display().to_string());
                let reason = match (e.loop_ancestor(), e.io_error()) {
                    (Some(a), _) => format!("symbolic link loop (points to {})", a.display()),
                    (None, Some(io)) if io.kind() == std::io::ErrorKind::NotFound => {
                        match std::fs::read_link(e.path().unwrap_or(root)) {
                            Ok(target) => format!("dangling link to {}", target.display()),
                            Err(_) => format!("cannot read: {io}"),
                        }
                    }
                    (None, Some(io)) => format!("cannot read: {io}"),
                    (None, None) => format!("cannot read: {e}"),
                };
                unreadable.push(Unreadable { path, reason });
                continue;
            }
        };
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        let path = entry.path().display().to_string();
        if !ft.is_file() {
            unreadable.push(Unreadable {
                path,
                reason: format!("not a regular file ({})", file_kind(&ft)),
            });
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                unreadable.push(Unreadable {
                    path,
                    reason: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        let location = match Path::from_absolute_path(entry.path()) {
            Ok(l) => l,
            Err(e) => {
                unreadable.push(Unreadable {
                    path,
                    reason: format!("cannot name: {e}"),
                });
                continue;
            }
        };
        // object_store's own temporary files (`name#123`) are not objects.
        if location
            .filename()
            .and_then(|f| f.split_once('#'))
            .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        metas.push(local_meta(location, &meta));
    }
    (metas, unreadable)
}

fn file_kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

/// A file's metadata as object_store's `LocalFileSystem` gives it (its ETag is
/// `{inode:x}-{mtime micros:x}-{size:x}`).
fn local_meta(location: Path, meta: &std::fs::Metadata) -> ObjectMeta {
    use std::os::unix::fs::MetadataExt;
    let modified = meta.modified().ok();
    let micros = modified
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default()
        .as_micros();
    ObjectMeta {
        location,
        last_modified: modified.map_or_else(chrono::Utc::now, Into::into),
        size: meta.len(),
        e_tag: Some(format!("{:x}-{micros:x}-{:x}", meta.ino(), meta.len())),
        version: None,
    }
}

/// List a CloudTrail-layout prefix level by level (organization, accounts, trail kinds,
/// regions), each level's prefixes at once, then each region's delivery days (all of its
/// objects without `days`), `concurrency` requests at a time: an organization's listing takes
/// a few round trips, not one per prefix. Falls back to a full listing below any level that
/// does not look like CloudTrail's layout.
async fn list_layout(
    store: &Arc<dyn ObjectStore>,
    prefix: &Path,
    days: Option<Days>,
    filter: &Listing,
    notify: &(dyn Fn(&[ObjectMeta]) + Sync),
) -> Result<Vec<ObjectMeta>> {
    use futures::StreamExt;
    let concurrency = filter.concurrency.max(1);
    // Without a day window, digests are listed like any other object (ingest counts them as
    // skipped, as it does in a local tree).
    let digests = filter.digests || days.is_none();
    // A prefix listed in full.
    const LEAF: u8 = 5;
    let mut leaves = Vec::new();
    let mut full = Vec::new();
    // (path, level): 0 above AWSLogs, 1 AWSLogs or an organization, 2 an account,
    // 3 CloudTrail or CloudTrail-Insight, 4 a region
    let mut frontier = vec![(prefix.clone(), start_level(prefix))];
    while !frontier.is_empty() {
        let listed: Vec<(u8, object_store::ListResult)> =
            futures::stream::iter(std::mem::take(&mut frontier))
                .map(|(p, level)| async move {
                    Ok::<_, Error>((level, store.list_with_delimiter(Some(&p)).await?))
                })
                .buffer_unordered(concurrency)
                .try_collect()
                .await?;
        for (level, listing) in listed {
            full.extend(listing.objects);
            for dir in listing.common_prefixes {
                let name = dir.filename().unwrap_or("").to_owned();
                let wanted = |f: &[String]| f.is_empty() || f.contains(&name);
                let next = match level {
                    0 if name == "AWSLogs" => Some(1),
                    1 if is_account(&name) && wanted(&filter.accounts) => Some(2),
                    1 if is_account(&name) => None,
                    1 if name.starts_with("o-") => Some(1),
                    2 if name == "CloudTrail-Digest" && !digests => None,
                    2 if name.starts_with("CloudTrail") => Some(3),
                    3 if wanted(&filter.regions) => Some(4),
                    3 => None,
                    // Not CloudTrail's layout here: take everything below it.
                    _ => Some(LEAF),
                };
                match next {
                    Some(4) => match days {
                        Some((first, last)) => {
                            let mut d = first;
                            while d <= last {
                                leaves.push(Path::from(format!("{dir}/{}", d.format("%Y/%m/%d"))));
                                d = d.succ_opt().expect("date in range");
                            }
                        }
                        None => leaves.push(dir),
                    },
                    Some(LEAF) => leaves.push(dir),
                    Some(l) => frontier.push((dir, l)),
                    None => {}
                }
            }
        }
    }
    let mut listed = futures::stream::iter(leaves)
        .map(|p| async move { store.list(Some(&p)).try_collect::<Vec<_>>().await })
        .buffer_unordered(concurrency);
    while let Some(metas) = listed.next().await {
        let metas = metas?;
        notify(&metas);
        full.extend(metas);
    }
    Ok(full)
}

fn start_level(prefix: &Path) -> u8 {
    match prefix.filename() {
        Some("AWSLogs") => 1,
        _ => 0,
    }
}

fn file_uri(abs: &str) -> String {
    format!("file://{abs}")
}

fn object(store: &Arc<dyn ObjectStore>, m: ObjectMeta, uri: String) -> SourceObject {
    SourceObject {
        store: store.clone(),
        location: m.location,
        uri,
        size: m.size,
        modified: m.last_modified.timestamp_millis(),
        etag: m.e_tag,
    }
}

/// Split `dir/sub/*.json.gz` into the literal directory to list and the glob below it.
fn split_glob(path: &str) -> (String, Option<String>) {
    if !has_glob(path) {
        return (path.to_owned(), None);
    }
    let parts: Vec<&str> = path.split('/').collect();
    let first = parts
        .iter()
        .position(|p| has_glob(p))
        .unwrap_or(parts.len());
    (parts[..first].join("/"), Some(parts[first..].join("/")))
}

fn compile_glob(arg: &str, pattern: &str) -> Result<globset::GlobMatcher> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::InvalidSource {
            source_arg: arg.into(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_split() {
        assert_eq!(split_glob("a/b/*.gz"), ("a/b".into(), Some("*.gz".into())));
        assert_eq!(
            split_glob("a/**/x/*.gz"),
            ("a".into(), Some("**/x/*.gz".into()))
        );
        assert_eq!(split_glob("a/b"), ("a/b".into(), None));
    }

    #[tokio::test]
    async fn resolves_dirs_files_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("x/y")).unwrap();
        std::fs::create_dir_all(d.join(".git")).unwrap();
        for f in ["x/a.json", "x/y/b.json.gz", "x/y/c.txt", ".git/config"] {
            std::fs::write(d.join(f), "{}").unwrap();
        }
        let all = resolve(d.to_str().unwrap(), &Listing::default())
            .await
            .unwrap()
            .objects;
        assert_eq!(all.len(), 3, "{all:?}");
        let gz = resolve(&format!("{}/**/*.gz", d.display()), &Listing::default())
            .await
            .unwrap()
            .objects;
        assert_eq!(gz.len(), 1);
        assert!(gz[0].uri.ends_with("/x/y/b.json.gz"));
        let one = resolve(d.join("x/a.json").to_str().unwrap(), &Listing::default())
            .await
            .unwrap()
            .objects;
        assert_eq!(one.len(), 1);
        assert!(matches!(
            resolve("/nonexistent/zzz", &Listing::default()).await,
            Err(Error::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn unreadable_entries_are_reported_and_globs_keep_those_they_name() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a")).unwrap();
        std::fs::write(d.join("a/ok.json.gz"), "{}").unwrap();
        std::os::unix::fs::symlink(d.join("nothing"), d.join("a/gone.json.gz")).unwrap();
        std::os::unix::fs::symlink(d, d.join("a/loop")).unwrap();
        let all = resolve(d.to_str().unwrap(), &Listing::default())
            .await
            .unwrap();
        assert_eq!(all.objects.len(), 1);
        let mut why: Vec<&str> = all.unreadable.iter().map(|u| u.reason.as_str()).collect();
        why.sort();
        assert_eq!(why.len(), 2, "{:?}", all.unreadable);
        assert!(why[0].starts_with("dangling link to "), "{why:?}");
        assert!(why[1].starts_with("symbolic link loop"), "{why:?}");
        let gz = resolve(
            &format!("{}/**/*.json.gz", d.display()),
            &Listing::default(),
        )
        .await
        .unwrap();
        assert_eq!(gz.objects.len(), 1);
        assert_eq!(gz.unreadable.len(), 1, "{:?}", gz.unreadable);
        assert!(gz.unreadable[0].path.ends_with("a/gone.json.gz"));
    }

    #[test]
    fn delivery_date_from_key() {
        let o = SourceObject {
            store: Arc::new(LocalFileSystem::new()),
            location: Path::from(
                "AWSLogs/1/CloudTrail/us-east-1/2024/03/02/1_CloudTrail_us-east-1_20240302T0005Z_ab.json.gz",
            ),
            uri: String::new(),
            size: 0,
            modified: 0,
            etag: None,
        };
        assert_eq!(o.delivery_date(), NaiveDate::from_ymd_opt(2024, 3, 2));
    }
}
