//! trailsql-gen: a deterministic generator of realistic synthetic AWS CloudTrail logs.
//!
//! [`generate`] writes a tree shaped exactly like a CloudTrail trail's S3 bucket
//! (`AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<stamp>_<rand>.json.gz`,
//! plus `CloudTrail-Insight/` and `CloudTrail-Digest/` trees); [`events`] yields the same events
//! as JSON values without touching the disk. The same [`GenConfig`] always produces the same
//! bytes.
//!
//! What makes the data useful is that it behaves like a real estate: a fixed set of accounts,
//! principals and resources (see `world`), activity in sessions with per-principal API mixes
//! (`plan`), every `userIdentity` type in its real shape (`identity`), service-specific
//! request/response shapes (`catalog`), ~5% errors, late and duplicate deliveries (`writer`).

use std::io;
use std::path::Path;

mod catalog;
mod clock;
mod identity;
mod json;
mod plan;
mod render;
mod rng;
mod world;
mod writer;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GenConfig {
    /// Distinct events (management and data) to generate, across all files.
    pub events: u64,
    /// Days of activity, starting at `start` 00:00 UTC.
    pub days: u32,
    /// Number of AWS accounts; the first are 111122223333, 444455556666, 777788889999.
    pub accounts: u32,
    /// Regions the trail logs; the first is the main one (and the trail's home region).
    pub regions: Vec<String>,
    pub seed: u64,
    /// The first day, UTC.
    pub start: chrono::NaiveDate,
    /// Also write CloudTrail Insights events (`CloudTrail-Insight/`).
    pub insights: bool,
    /// Fraction of events delivered a second time in another file.
    pub duplicate_rate: f64,
    /// Fraction of events delivered between an hour and two days late.
    pub late_rate: f64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            events: 1000,
            days: 3,
            accounts: 2,
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            seed: 42,
            start: chrono::NaiveDate::from_ymd_opt(2024, 3, 1).expect("valid date"),
            insights: true,
            duplicate_rate: 0.001,
            late_rate: 0.005,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenSummary {
    /// Log files holding a `Records` array: CloudTrail files plus Insights files.
    pub files: u64,
    /// Distinct eventIDs written in CloudTrail files (Insights events not included).
    pub events: u64,
    /// Extra copies written: records delivered a second time, same eventID, another file.
    pub duplicates: u64,
    /// Insights files (included in `files`).
    pub insight_files: u64,
    /// Insights events (Start and End records).
    pub insights_events: u64,
    pub digest_files: u64,
    /// Bytes of all files written, digests included.
    pub bytes: u64,
}

impl GenSummary {
    /// One line of JSON with the fields in declaration order.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"files\":{},\"events\":{},\"duplicates\":{},\"insight_files\":{},\"insights_events\":{},\"digest_files\":{},\"bytes\":{}}}",
            self.files,
            self.events,
            self.duplicates,
            self.insight_files,
            self.insights_events,
            self.digest_files,
            self.bytes
        )
    }
}

/// Everything a run derives from its configuration before writing.
struct Run {
    world: world::World,
    clock: clock::Clock,
    actions: Vec<catalog::Action>,
    plan: plan::Plan,
}

impl Run {
    fn new(cfg: &GenConfig) -> io::Result<Run> {
        validate(cfg)?;
        let world = world::World::new(cfg.seed, cfg.accounts, &cfg.regions);
        let clock = clock::Clock::new(cfg.start);
        let actions = catalog::actions();
        let plan = plan::plan(cfg, &world, &actions, clock.weekday(0) as i64);
        Ok(Run {
            world,
            clock,
            actions,
            plan,
        })
    }

    fn renderer(&self) -> render::Renderer<'_> {
        render::Renderer {
            world: &self.world,
            clock: &self.clock,
            actions: &self.actions,
            plan: &self.plan,
        }
    }
}

fn validate(cfg: &GenConfig) -> io::Result<()> {
    let bad = |msg: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, msg.to_string()));
    if cfg.regions.is_empty() || cfg.regions.len() > 32 {
        return bad("between 1 and 32 regions are required");
    }
    if cfg
        .regions
        .iter()
        .any(|r| r.is_empty() || r.contains(['/', '_']))
    {
        return bad("region names must be non-empty and contain no '/' or '_'");
    }
    if cfg.accounts == 0 || cfg.accounts > 1000 {
        return bad("accounts must be between 1 and 1000");
    }
    if cfg.days == 0 || cfg.days > 3660 {
        return bad("days must be between 1 and 3660");
    }
    if cfg.events > u32::MAX as u64 / 2 {
        return bad("too many events");
    }
    if !(0.0..=1.0).contains(&cfg.duplicate_rate) || !(0.0..=1.0).contains(&cfg.late_rate) {
        return bad("duplicate_rate and late_rate must be within 0..=1");
    }
    Ok(())
}

/// Generates the logs under `out_dir` (created if missing) and reports what was written.
pub fn generate(cfg: &GenConfig, out_dir: &Path) -> io::Result<GenSummary> {
    let run = Run::new(cfg)?;
    std::fs::create_dir_all(out_dir)?;
    let w = writer::deliver(&run.renderer(), cfg, out_dir)?;
    Ok(GenSummary {
        files: w.files + w.insight_files,
        events: w.events,
        duplicates: w.duplicates,
        insight_files: w.insight_files,
        insights_events: w.insights_events,
        digest_files: w.digest_files,
        bytes: w.bytes,
    })
}

/// The distinct CloudTrail events of a run, in eventTime order, as JSON values — the records
/// [`generate`] writes, without duplicates, delivery or Insights.
pub fn events(cfg: &GenConfig) -> io::Result<Events> {
    Ok(Events {
        run: Run::new(cfg)?,
        next: 0,
    })
}

/// Iterator returned by [`events`].
pub struct Events {
    run: Run,
    next: usize,
}

impl Iterator for Events {
    type Item = serde_json::Value;

    fn next(&mut self) -> Option<serde_json::Value> {
        let ev = self.run.plan.events.get(self.next)?;
        self.next += 1;
        let r = self.run.renderer();
        let info = r.session_info(ev.session);
        Some(r.record(ev, &info).to_value())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.run.plan.events.len() - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Events {}

#[cfg(test)]
mod tests;
