//! Inputs for trailsql's benchmarks. The main noun is the [`Corpus`]: CloudTrail log files
//! made by `trailsql-gen` at bench time and held decompressed in memory, so that a benchmark
//! measures the code under test, not the disk, gzip or the generator, and no data file is
//! committed.
//!
//! The helpers below run the ingest pipeline's stages the way `trailsql ingest` runs them
//! (`read_contents` on each object, `place` on each record, then one `Rows` per partition for
//! a chunk of objects), so each benchmark can start from the previous stage's output.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use arrow::array::RecordBatch;
use trailsql_gen::GenConfig;
use trailsql_ingest::rows::{self, Placed, Rows};
use trailsql_ingest::shape::{self, Contents};
use trailsql_lake::PartitionKey;

/// One CloudTrail log file: its key under the trail's bucket and its decompressed JSON.
#[derive(Debug)]
pub struct LogFile {
    pub name: String,
    pub json: Vec<u8>,
}

/// The CloudTrail log files (`{"Records":[...]}`) of one generated trail, decompressed.
/// Insights and digest files are left out: they are a sliver of a real trail's bytes.
#[derive(Debug)]
pub struct Corpus {
    pub files: Vec<LogFile>,
}

impl Corpus {
    /// Generates a trail with `cfg` into a temporary directory and reads its log files back.
    pub fn generate(cfg: &GenConfig) -> io::Result<Corpus> {
        let dir = tempfile::tempdir()?;
        trailsql_gen::generate(cfg, dir.path())?;
        let mut files = Vec::new();
        collect_logs(dir.path(), dir.path(), &mut files)?;
        // Directory order is the file system's: sort so every run sees the same sequence.
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Corpus { files })
    }

    /// Bytes of JSON in all files.
    pub fn json_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.json.len() as u64).sum()
    }

    /// Stage 1, record decode: the contents of every file (the records it holds, borrowed
    /// from its text).
    pub fn contents(&self) -> Vec<Contents<'_>> {
        self.files
            .iter()
            .map(|f| shape::read_contents(&f.name, &f.json))
            .collect()
    }
}

/// Stage 1, record decode (continued): the routing facts of every record of one file
/// (partition, time, dedup key and its top-level fields), in file order, with each record's
/// position. Records that cannot be placed are skipped; generated data has none.
pub fn place<'a>(contents: &'a Contents<'_>) -> Vec<(u64, Placed<'a>)> {
    contents
        .records
        .iter()
        .filter_map(|(index, rec)| rows::place(rec.raw()).ok().map(|p| (*index, p)))
        .collect()
}

/// How many files ingest turns into one Arrow batch per partition (`CHUNK_OBJECTS` in
/// `crates/ingest/src/ingest.rs`): CloudTrail files hold a few dozen records each, and builders
/// per file would cost more than the rows.
pub const FILES_PER_BATCH: usize = 64;

/// Stage 2, batch build: the rows of a run of files (`files[i]` holding `placed[i]`), one
/// Arrow batch per partition, as ingest builds them from a chunk of objects.
pub fn build_batches(
    files: &[LogFile],
    placed: &[Vec<(u64, Placed<'_>)>],
) -> Vec<(PartitionKey, RecordBatch)> {
    let mut builders: BTreeMap<PartitionKey, Rows> = BTreeMap::new();
    for (file, placed) in files.iter().zip(placed) {
        for (index, p) in placed {
            builders
                .entry(p.key.clone())
                .or_insert_with(|| Rows::new(p.key.table))
                .append(p, &file.name, *index);
        }
    }
    builders
        .into_iter()
        .map(|(k, rows)| (k, rows.finish().0))
        .collect()
}

/// Every record's row, in batches of [`FILES_PER_BATCH`] files, grouped by partition: what an
/// ingest checkpoint hands to `encode_partition`.
pub fn partitions(corpus: &Corpus) -> BTreeMap<PartitionKey, Vec<RecordBatch>> {
    let contents = corpus.contents();
    let placed: Vec<_> = contents.iter().map(place).collect();
    let mut parts: BTreeMap<PartitionKey, Vec<RecordBatch>> = BTreeMap::new();
    for (files, placed) in corpus
        .files
        .chunks(FILES_PER_BATCH)
        .zip(placed.chunks(FILES_PER_BATCH))
    {
        for (key, batch) in build_batches(files, placed) {
            parts.entry(key).or_default().push(batch);
        }
    }
    parts
}

/// True when the benchmark binary was started by `cargo bench` (criterion is given
/// `--bench`), false under `cargo test`, where criterion runs each benchmark once and small
/// inputs keep the unoptimised test build quick.
pub fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn collect_logs(root: &Path, dir: &Path, out: &mut Vec<LogFile>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_logs(root, &path, out)?;
            continue;
        }
        let name = path
            .strip_prefix(root)
            .expect("below the root")
            .to_string_lossy()
            .into_owned();
        // `AWSLogs/ACCOUNT/CloudTrail/REGION/...`: the log files, not `CloudTrail-Insight/`
        // or `CloudTrail-Digest/`.
        if !name.split('/').any(|part| part == "CloudTrail") {
            continue;
        }
        let gz = std::fs::read(&path)?;
        let (json, err) = shape::decompress(&gz);
        if let Some(err) = err {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{name}: {err}"),
            ));
        }
        out.push(LogFile {
            name,
            json: json.into_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_account_for_every_record() {
        let cfg = GenConfig {
            events: 200,
            days: 1,
            insights: false,
            ..GenConfig::default()
        };
        let corpus = Corpus::generate(&cfg).unwrap();
        assert!(!corpus.files.is_empty());
        let contents = corpus.contents();
        let records: usize = contents.iter().map(|c| c.records.len()).sum();
        let placed: usize = contents.iter().map(|c| place(c).len()).sum();
        assert_eq!(placed, records);
        let rows: usize = partitions(&corpus)
            .values()
            .flatten()
            .map(RecordBatch::num_rows)
            .sum();
        assert_eq!(rows, records);
        // The generator writes each event once plus its duplicate deliveries.
        assert!(records as u64 >= cfg.events);
    }
}
