//! The `Delivery` of planned events as CloudTrail log files: which file each record lands in,
//! the S3 key layout, gzip encoding, and the Insights and digest files that accompany them.
//!
//! CloudTrail delivers one file per account and region roughly every five minutes, named after
//! the delivery time; records arrive a few minutes after they happen, a few arrive hours or
//! days late, and a few are delivered twice in different files. All of that is reproduced here.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};

use crate::GenConfig;
use crate::clock::Clock;
use crate::identity::SessInfo;
use crate::json::{J, obj};
use crate::render::Renderer;
use crate::rng::{Rng, derive};

/// Seconds between CloudTrail deliveries for one account and region.
const WINDOW: i64 = 300;

/// One copy of one event placed in a file.
#[derive(Clone, Copy, Debug)]
struct Placement {
    stream: u32,
    window: i64,
    sort_t: i64,
    event: u32,
}

/// A log file about to be written.
#[derive(Debug)]
pub(crate) struct LogFile {
    pub account: usize,
    pub region: usize,
    pub delivered: i64,
    /// S3 object key, relative to the bucket (and to the output directory).
    pub key: String,
    pub oldest: i64,
    pub newest: i64,
    range: std::ops::Range<usize>,
}

/// Totals of what was written.
#[derive(Debug, Default)]
pub(crate) struct Written {
    pub files: u64,
    pub events: u64,
    pub duplicates: u64,
    pub insight_files: u64,
    pub insights_events: u64,
    pub digest_files: u64,
    pub bytes: u64,
}

fn gzip(json: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    out.clear();
    // A fixed header (no name, mtime 0) and level keep the bytes reproducible.
    let mut enc = GzBuilder::new()
        .mtime(0)
        .write(std::mem::take(out), Compression::new(6));
    enc.write_all(json)?;
    *out = enc.finish()?;
    Ok(())
}

fn write_file(root: &Path, key: &str, bytes: &[u8]) -> io::Result<u64> {
    let path: PathBuf = root.join(key);
    std::fs::write(&path, bytes)?;
    Ok(bytes.len() as u64)
}

fn log_key(
    clock: &Clock,
    account: &str,
    kind: &str,
    region: &str,
    delivered: i64,
    suffix: &str,
) -> String {
    format!(
        "AWSLogs/{account}/{kind}/{region}/{}/{account}_{kind}_{region}_{}_{suffix}.json.gz",
        clock.folder(delivered),
        clock.file_minute(delivered)
    )
}

/// Marks `round(n * rate)` of `n` items, at least one in runs of 100 or more when the rate is
/// positive, so that even the small sample shows the phenomenon. Floyd's algorithm: exact
/// count, no rejection loop.
fn choose(n: usize, rate: f64, rng: &mut Rng) -> Vec<bool> {
    let mut k = ((n as f64 * rate).round() as usize).min(n);
    if rate > 0.0 && n >= 100 {
        k = k.max(1);
    }
    let mut chosen = vec![false; n];
    for j in n - k..n {
        let t = rng.index(j + 1);
        if chosen[t] {
            chosen[j] = true;
        } else {
            chosen[t] = true;
        }
    }
    chosen
}

/// Decides the files: every event gets a file, some late, some twice.
fn place(r: &Renderer<'_>, cfg: &GenConfig) -> (Vec<Placement>, u64) {
    let nregions = r.world.regions.len() as u32;
    let n = r.plan.events.len();
    let late = choose(n, cfg.late_rate, &mut Rng::new(derive(cfg.seed, &[0x1A7E])));
    let twice = choose(
        n,
        cfg.duplicate_rate,
        &mut Rng::new(derive(cfg.seed, &[0xD0B1])),
    );
    let mut out = Vec::with_capacity(n + n / 500 + 16);
    let mut duplicates = 0;
    for (i, ev) in r.plan.events.iter().enumerate() {
        let s = &r.plan.sessions[ev.session as usize];
        let stream = s.account as u32 * nregions + ev.region as u32;
        let mut rng = Rng::new(derive(ev.seed, &[2]));
        let mut window = ev.t.div_euclid(WINDOW);
        // Events near a window's end often miss it and ride in the next file.
        if ev.t.rem_euclid(WINDOW) > WINDOW - 40 && rng.chance(0.5) {
            window += 1;
        }
        if late[i] {
            // Late deliveries: an hour to two days, most of them short.
            let delay = (3600.0 * 48f64.powf(rng.f64())) as i64;
            window = (ev.t + delay).div_euclid(WINDOW);
        }
        let sort_t = ev.t + rng.range(0, 45);
        out.push(Placement {
            stream,
            window,
            sort_t,
            event: i as u32,
        });
        if twice[i] {
            duplicates += 1;
            out.push(Placement {
                stream,
                window: window + rng.range(1, 13),
                sort_t,
                event: i as u32,
            });
        }
    }
    out.sort_unstable_by_key(|p| (p.stream, p.window, p.sort_t, p.event));
    (out, duplicates)
}

fn group(r: &Renderer<'_>, cfg: &GenConfig, placements: &[Placement]) -> Vec<LogFile> {
    let nregions = r.world.regions.len();
    let mut files = Vec::new();
    let mut i = 0;
    while i < placements.len() {
        let p = placements[i];
        let mut j = i + 1;
        while j < placements.len()
            && placements[j].stream == p.stream
            && placements[j].window == p.window
        {
            j += 1;
        }
        let account = p.stream as usize / nregions;
        let region = p.stream as usize % nregions;
        let mut rng = Rng::new(derive(
            cfg.seed,
            &[0xF11E, p.stream as u64, p.window as u64],
        ));
        let delivered = (p.window + 1) * WINDOW + if rng.chance(0.2) { WINDOW } else { 0 };
        // Now and then CloudTrail splits a delivery into two files with the same stamp.
        let cuts = if j - i >= 2 && rng.chance(0.03) {
            vec![i, i + (j - i) / 2, j]
        } else {
            vec![i, j]
        };
        for w in cuts.windows(2) {
            let range = w[0]..w[1];
            let times = placements[range.clone()]
                .iter()
                .map(|p| r.plan.events[p.event as usize].t);
            let oldest = times.clone().min().unwrap_or(0);
            let newest = times.max().unwrap_or(0);
            let acct = &r.world.accounts[account];
            let key = log_key(
                r.clock,
                &acct.id,
                "CloudTrail",
                &r.world.regions[region],
                delivered,
                &rng.alnum(16),
            );
            files.push(LogFile {
                account,
                region,
                delivered,
                key,
                oldest,
                newest,
                range,
            });
        }
        i = j;
    }
    files
}

fn render_file(r: &Renderer<'_>, placements: &[Placement], json: &mut Vec<u8>) {
    json.clear();
    json.extend_from_slice(b"{\"Records\":[");
    let mut cached: Option<(u32, SessInfo<'_>)> = None;
    for (k, p) in placements.iter().enumerate() {
        if k > 0 {
            json.push(b',');
        }
        let ev = &r.plan.events[p.event as usize];
        if cached.as_ref().is_none_or(|(sid, _)| *sid != ev.session) {
            cached = Some((ev.session, r.session_info(ev.session)));
        }
        if let Some((_, info)) = &cached {
            r.record(ev, info).write(json);
        }
    }
    json.extend_from_slice(b"]}");
}

/// Writes the CloudTrail log files, spreading the work over threads. Each file's bytes depend
/// only on its own events, so the thread count does not change the output.
fn write_logs(
    r: &Renderer<'_>,
    root: &Path,
    placements: &[Placement],
    files: &[LogFile],
) -> io::Result<u64> {
    let dirs: BTreeSet<&str> = files
        .iter()
        .filter_map(|f| f.key.rsplit_once('/').map(|(d, _)| d))
        .collect();
    for d in dirs {
        std::fs::create_dir_all(root.join(d))?;
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(files.len().max(1));
    let results: Vec<io::Result<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|w| {
                scope.spawn(move || -> io::Result<u64> {
                    let mut json = Vec::with_capacity(1 << 16);
                    let mut gz = Vec::with_capacity(1 << 14);
                    let mut bytes = 0;
                    for f in files.iter().skip(w).step_by(threads) {
                        render_file(r, &placements[f.range.clone()], &mut json);
                        gzip(&json, &mut gz)?;
                        bytes += write_file(root, &f.key, &gz)?;
                    }
                    Ok(bytes)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("writer thread panicked")))
            })
            .collect()
    });
    let mut total = 0;
    for res in results {
        total += res?;
    }
    Ok(total)
}

/// Insights files: each Start or End event is delivered 5–25 minutes after its time; events of
/// one account and region delivered in the same window share a file.
fn write_insights(
    r: &Renderer<'_>,
    cfg: &GenConfig,
    root: &Path,
    w: &mut Written,
) -> io::Result<()> {
    let mut files: BTreeMap<(u16, u8, i64), Vec<J<'_>>> = BTreeMap::new();
    for ins in &r.plan.insights {
        let mut rng = Rng::new(derive(ins.seed, &[3]));
        for (t, rec) in r.insight_pair(ins) {
            let window = (t + rng.range(5 * 60, 25 * 60)).div_euclid(WINDOW);
            files
                .entry((ins.account, ins.region, window))
                .or_default()
                .push(rec);
            w.insights_events += 1;
        }
    }
    let mut json = Vec::new();
    let mut gz = Vec::new();
    for ((account, region, window), recs) in files {
        let acct = &r.world.accounts[account as usize];
        let mut rng = Rng::new(derive(
            cfg.seed,
            &[0x1A5, account as u64, region as u64, window as u64],
        ));
        let delivered = (window + 1) * WINDOW;
        let key = log_key(
            r.clock,
            &acct.id,
            "CloudTrail-Insight",
            &r.world.regions[region as usize],
            delivered,
            &rng.alnum(16),
        );
        json.clear();
        json.extend_from_slice(b"{\"Records\":[");
        for (i, rec) in recs.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            rec.write(&mut json);
        }
        json.extend_from_slice(b"]}");
        gzip(&json, &mut gz)?;
        if let Some((dir, _)) = key.rsplit_once('/') {
            std::fs::create_dir_all(root.join(dir))?;
        }
        w.bytes += write_file(root, &key, &gz)?;
        w.insight_files += 1;
    }
    Ok(())
}

/// One digest file per account, region and day, chained to the previous one, listing the log
/// files delivered in its 24-hour window. Hashes and signatures are random hex: the shape is
/// real, the cryptography is not.
fn write_digests(
    r: &Renderer<'_>,
    cfg: &GenConfig,
    root: &Path,
    files: &[LogFile],
    w: &mut Written,
) -> io::Result<()> {
    let days = cfg.days.max(1) as i64;
    let home = r.world.regions[0].as_str();
    let mut json = Vec::new();
    let mut gz = Vec::new();
    for (ai, acct) in r.world.accounts.iter().enumerate() {
        for (ri, region) in r.world.regions.iter().enumerate() {
            let mine: Vec<&LogFile> = files
                .iter()
                .filter(|f| f.account == ai && f.region == ri)
                .collect();
            let offset = 23 * 3600 + acct.regional[ri].digest_offset;
            let last_delivery = mine.iter().map(|f| f.delivered).max().unwrap_or(0);
            let mut last_day = days - 1;
            while last_day * 86_400 + offset <= last_delivery {
                last_day += 1;
            }
            let mut rng = Rng::new(derive(cfg.seed, &[0xD16E, ai as u64, ri as u64]));
            let mut previous: Option<(String, String)> = None;
            for d in 0..=last_day {
                let end = d * 86_400 + offset;
                let start = end - 86_400;
                let listed: Vec<&&LogFile> = mine
                    .iter()
                    .filter(|f| f.delivered >= start && f.delivered < end)
                    .collect();
                let key = format!(
                    "AWSLogs/{id}/CloudTrail-Digest/{region}/{}/{id}_CloudTrail-Digest_{region}_{}_{home}_{}.json.gz",
                    r.clock.folder(end),
                    acct.trail_name,
                    r.clock.file_second(end),
                    id = acct.id,
                );
                let newest = listed.iter().map(|f| f.newest).max();
                let oldest = listed.iter().map(|f| f.oldest).min();
                let log_files: Vec<J<'_>> = listed
                    .iter()
                    .map(|f| {
                        obj! {
                            "s3Bucket" => &acct.trail_bucket,
                            "s3Object" => f.key.as_str(),
                            "hashValue" => rng.hex(64),
                            "hashAlgorithm" => "SHA-256",
                            "newestEventTime" => r.clock.iso(f.newest),
                            "oldestEventTime" => r.clock.iso(f.oldest),
                        }
                    })
                    .collect();
                let (prev_key, prev_sig) = match &previous {
                    Some((k, s)) => (J::from(k.clone()), J::from(s.clone())),
                    None => (J::Null, J::Null),
                };
                let first = previous.is_none();
                let digest = obj! {
                    "awsAccountId" => &acct.id,
                    "digestStartTime" => r.clock.iso(start),
                    "digestEndTime" => r.clock.iso(end),
                    "digestS3Bucket" => &acct.trail_bucket,
                    "digestS3Object" => key.clone(),
                    "digestPublicKeyFingerprint" => &acct.regional[ri].digest_fingerprint,
                    "digestSignatureAlgorithm" => "SHA256withRSA",
                    "newestEventTime" => newest.map(|t| r.clock.iso(t)),
                    "oldestEventTime" => oldest.map(|t| r.clock.iso(t)),
                    "previousDigestS3Bucket" => if first { J::Null } else { J::from(&acct.trail_bucket) },
                    "previousDigestS3Object" => prev_key,
                    "previousDigestHashValue" => if first { J::Null } else { J::from(rng.hex(64)) },
                    "previousDigestHashAlgorithm" => if first { J::Null } else { J::from("SHA-256") },
                    "previousDigestSignature" => prev_sig,
                    "logFiles" => J::Arr(log_files),
                };
                json.clear();
                digest.write(&mut json);
                gzip(&json, &mut gz)?;
                if let Some((dir, _)) = key.rsplit_once('/') {
                    std::fs::create_dir_all(root.join(dir))?;
                }
                w.bytes += write_file(root, &key, &gz)?;
                w.digest_files += 1;
                previous = Some((key, rng.hex(512)));
            }
        }
    }
    Ok(())
}

/// Writes everything under `root`.
pub(crate) fn deliver(r: &Renderer<'_>, cfg: &GenConfig, root: &Path) -> io::Result<Written> {
    let (placements, duplicates) = place(r, cfg);
    let files = group(r, cfg, &placements);
    let mut w = Written {
        files: files.len() as u64,
        events: r.plan.events.len() as u64,
        duplicates,
        ..Written::default()
    };
    w.bytes += write_logs(r, root, &placements, &files)?;
    if cfg.insights {
        write_insights(r, cfg, root, &mut w)?;
    }
    write_digests(r, cfg, root, &files, &mut w)?;
    Ok(w)
}
