//! Decoding source objects into partition batches: a [`Chunk`] is the rows of a run of
//! objects, with what each object held. Small objects are fetched whole and decoded in memory
//! ([`crate::shape`]); an object too large for that is fetched and decoded as a stream
//! ([`crate::stream`]) and its rows come out in several chunks, so memory holds a piece of
//! it at a time, not all of it.

use std::collections::BTreeMap;
use std::io::Read;

use arrow::array::RecordBatch;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use serde_json::value::RawValue;

use trailsql_lake::PartitionKey;

use crate::rows::{self, Rows};
use crate::shape::{self, BadRecord, Verdict};
use crate::source::SourceObject;
use crate::stream;
use crate::time::Micros;
use crate::{Error, Result};
use trailsql_lake::state::SourceStatus;

pub(crate) type Window = Option<(Option<Micros>, Option<Micros>)>;

/// What decoding one object produced (its rows are in its [`Chunk`]'s parts).
pub(crate) struct Decoded {
    pub obj: SourceObject,
    pub status: SourceStatus,
    pub detail: Option<String>,
    pub quarantine: Vec<u8>,
    pub quarantined: u64,
    pub first_quarantine_reason: Option<String>,
    pub records: u64,
    pub outside_window: u64,
    /// Events older than `ingest --retain`'s window.
    pub older_than_retention: u64,
    pub bytes_read: u64,
    pub json_bytes: u64,
    /// Envelopes or wrapped events with nothing for the lake, by reason.
    pub skipped_messages: BTreeMap<&'static str, u64>,
}

/// Objects decoded together: CloudTrail files are small (a few dozen events), and one Arrow
/// batch per partition for a run of them costs far less than one per object.
pub(crate) struct Chunk {
    pub objects: Vec<Decoded>,
    /// Rows by partition, in source order, with their dedup keys.
    pub parts: Vec<(PartitionKey, RecordBatch, Vec<u128>)>,
    /// Rows of an object that is not finished: its [`Decoded`] comes in a later chunk, which
    /// must not commit it before these rows are written.
    pub partial: bool,
    /// Quarantined records of a partial chunk (a finished object carries its own).
    pub quarantine: Vec<u8>,
}

/// How objects are decoded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecodeOptions {
    pub window: Window,
    /// Events before this time are older than the retention window: counted, not kept.
    pub retain_since: Option<Micros>,
    /// An object whose decompressed size passes this is stopped there.
    pub max_object_bytes: u64,
    /// JSON bytes decoded into a chunk before it is handed on.
    pub piece_bytes: u64,
    /// Objects that decompress to more than this are decoded as a stream.
    pub stream_json_bytes: u64,
}

/// At most this many objects, or this many compressed bytes, per chunk.
const CHUNK_OBJECTS: usize = 64;
const CHUNK_BYTES: u64 = 256 << 10;

/// Objects larger than this are fetched as a stream rather than whole.
const STREAM_OBJECT_BYTES: u64 = 8 << 20;

/// An object's content as fetched: whole when small, else a stream of its body.
pub(crate) enum Fetched {
    Whole(bytes::Bytes),
    Stream(ChannelRead),
    Failed(String),
}

/// The body of an object being downloaded, read from a blocking thread.
pub(crate) struct ChannelRead {
    rx: tokio::sync::mpsc::Receiver<std::result::Result<bytes::Bytes, String>>,
    current: bytes::Bytes,
}

impl Read for ChannelRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        bytes::Buf::advance(&mut self.current, n);
        Ok(n)
    }
}

/// Fetch an object: read whole up to [`STREAM_OBJECT_BYTES`], else its body is forwarded to
/// a [`Read`] for [`decode_chunk`] (at most a few blocks ahead of the decoder).
pub(crate) async fn fetch(obj: &SourceObject) -> Fetched {
    let got = match obj.store.get(&obj.location).await {
        Ok(g) => g,
        Err(e) => return Fetched::Failed(e.to_string()),
    };
    if obj.size <= STREAM_OBJECT_BYTES {
        return match got.bytes().await {
            Ok(b) => Fetched::Whole(b),
            Err(e) => Fetched::Failed(e.to_string()),
        };
    }
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut body = got.into_stream();
    tokio::spawn(async move {
        while let Some(part) = body.next().await {
            let stop = part.is_err();
            if tx.send(part.map_err(|e| e.to_string())).await.is_err() || stop {
                break;
            }
        }
    });
    Fetched::Stream(ChannelRead {
        rx,
        current: bytes::Bytes::new(),
    })
}

type Permit = tokio::sync::OwnedSemaphorePermit;

/// A read started early: the object's content (or why not), and its share of the read-ahead.
type EarlyRead = tokio::task::JoinHandle<(Fetched, Permit)>;

/// Reads started while the listing goes on, by URI: the first objects are read while the
/// rest of a bucket is listed. `max_requests` GETs at a time (shared with the reads that
/// follow the listing), and at most `budget_bytes` read ahead (objects beyond it are read
/// after the listing, in order).
pub(crate) struct Prefetch {
    started: std::collections::HashMap<String, EarlyRead>,
    requests: std::sync::Arc<tokio::sync::Semaphore>,
    bytes: std::sync::Arc<tokio::sync::Semaphore>,
    budget_kib: u64,
}

impl Prefetch {
    pub(crate) fn new(max_requests: usize, budget_bytes: u64) -> Self {
        let budget_kib = (budget_bytes / 1024).clamp(1024, u32::MAX as u64 / 2);
        Prefetch {
            started: std::collections::HashMap::new(),
            requests: std::sync::Arc::new(tokio::sync::Semaphore::new(max_requests.max(1))),
            bytes: std::sync::Arc::new(tokio::sync::Semaphore::new(budget_kib as usize)),
            budget_kib,
        }
    }

    /// Start reading `obj`, if the read-ahead budget has room for it.
    pub(crate) fn start(&mut self, obj: SourceObject) {
        if self.started.contains_key(&obj.uri) {
            return;
        }
        let need = obj
            .size
            .min(STREAM_OBJECT_BYTES)
            .div_ceil(1024)
            .clamp(1, self.budget_kib) as u32;
        let Ok(permit) = self.bytes.clone().try_acquire_many_owned(need) else {
            return;
        };
        let requests = self.requests.clone();
        let uri = obj.uri.clone();
        let task = tokio::spawn(async move {
            let _slot = requests.acquire_owned().await.expect("never closed");
            (fetch(&obj).await, permit)
        });
        self.started.insert(uri, task);
    }
}

/// How objects are read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reading {
    /// GETs in flight at once: reading many small objects is bound by round trips.
    pub max_requests: usize,
    /// Bytes read and not yet decoded, at most (at least 1 MiB; an object larger than half of
    /// it is read alone, and one too large to fetch whole is streamed).
    pub budget_bytes: u64,
    /// Chunks decoded ahead of the consumer.
    pub ahead: usize,
}

/// Read `objects` with up to `max_requests` GETs in flight and decode them in chunks on the
/// blocking pool. The chunks come out in the objects' order (the first copy of a duplicated
/// event in source order is the one kept, so a run resumed after a crash keeps the copies an
/// uninterrupted run keeps); a large object's rows come out in several chunks as it is
/// streamed.
pub(crate) fn read_and_decode(
    objects: Vec<SourceObject>,
    opts: DecodeOptions,
    reading: Reading,
    prefetch: Prefetch,
) -> impl futures::Stream<Item = Result<Chunk>> {
    const KIB: u64 = 1024;
    let budget_kib = (reading.budget_bytes / KIB).clamp(1024, u32::MAX as u64 / 2);
    let budget = std::sync::Arc::new(tokio::sync::Semaphore::new(budget_kib as usize));
    // Each entry is one chunk's receiver: the consumer drains them in order.
    let (tx, rx) = tokio::sync::mpsc::channel(reading.ahead.max(1));
    let Prefetch {
        mut started,
        requests,
        ..
    } = prefetch;
    tokio::spawn(async move {
        let mut fetched = futures::stream::iter(objects)
            .map(|obj| {
                let budget = budget.clone();
                let requests = requests.clone();
                let early = started.remove(&obj.uri);
                async move {
                    if let Some(task) = early
                        && let Ok((data, permit)) = task.await
                    {
                        return ((obj, data), permit);
                    }
                    // At most half the budget: the chunk being filled holds the other half
                    // at most (CHUNK_BYTES, or one object), so the next object always fits
                    // once the chunks handed off are decoded. A streamed object holds a few
                    // parts in memory, not its size.
                    let need = obj
                        .size
                        .min(STREAM_OBJECT_BYTES)
                        .div_ceil(KIB)
                        .clamp(1, budget_kib / 2) as u32;
                    let permit = budget.acquire_many_owned(need).await.expect("never closed");
                    let _slot = requests.acquire_owned().await.expect("never closed");
                    let data = fetch(&obj).await;
                    ((obj, data), permit)
                }
            })
            .buffered(reading.max_requests.max(1));
        let mut chunk: Vec<(SourceObject, Fetched)> = Vec::new();
        let mut permits = Vec::new();
        let mut bytes = 0;
        loop {
            let next = fetched.next().await;
            let full = next.as_ref().is_none_or(|((o, _), _)| {
                chunk.len() >= CHUNK_OBJECTS || bytes + o.size > CHUNK_BYTES
            });
            if full && !chunk.is_empty() {
                let objs = std::mem::take(&mut chunk);
                let held = std::mem::take(&mut permits);
                let (ctx, crx) = tokio::sync::mpsc::channel(1);
                if tx.send(crx).await.is_err() {
                    return; // the run stopped
                }
                tokio::spawn(async move {
                    let emit = ctx.clone();
                    let done = tokio::task::spawn_blocking(move || {
                        decode_chunk(objs, opts, &mut |c| {
                            // The receiver is gone only when the run has failed.
                            let _ = emit.blocking_send(Ok(c));
                        });
                        drop(held);
                    })
                    .await;
                    if let Err(e) = done {
                        let _ = ctx.send(Err(Error::Task(e.to_string()))).await;
                    }
                });
                bytes = 0;
            }
            let Some((f, permit)) = next else { return };
            bytes += f.0.size;
            chunk.push(f);
            permits.push(permit);
        }
    });
    receiver_stream(rx).flat_map(receiver_stream)
}

/// A receiver as a stream.
fn receiver_stream<T>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Rows being built for a chunk.
struct Builder<'e> {
    opts: DecodeOptions,
    builders: BTreeMap<PartitionKey, Rows>,
    /// JSON bytes of the rows in `builders`.
    json: u64,
    done: Vec<Decoded>,
    emit: &'e mut dyn FnMut(Chunk),
}

impl Builder<'_> {
    fn take_parts(&mut self) -> Vec<(PartitionKey, RecordBatch, Vec<u128>)> {
        self.json = 0;
        std::mem::take(&mut self.builders)
            .into_iter()
            .map(|(k, rows)| {
                let (batch, keys) = rows.finish();
                (k, batch, keys)
            })
            .collect()
    }

    /// Hand on the finished objects and their rows.
    fn flush(&mut self) {
        if self.done.is_empty() && self.builders.is_empty() {
            return;
        }
        let parts = self.take_parts();
        let objects = std::mem::take(&mut self.done);
        (self.emit)(Chunk {
            objects,
            parts,
            partial: false,
            quarantine: Vec::new(),
        });
    }

    /// Hand on the rows of the object being streamed, before it is finished.
    fn flush_partial(&mut self, d: &mut Decoded) {
        let parts = self.take_parts();
        let quarantine = std::mem::take(&mut d.quarantine);
        (self.emit)(Chunk {
            objects: Vec::new(),
            parts,
            partial: true,
            quarantine,
        });
    }

    fn quarantine(&mut self, d: &mut Decoded, index: u64, reason: &str, text: &str) {
        let line = serde_json::json!({"source": d.obj.uri, "index": index, "reason": reason, "text": text});
        serde_json::to_writer(&mut d.quarantine, &line).expect("in-memory write");
        d.quarantine.push(b'\n');
        d.quarantined += 1;
        d.records += 1;
        if d.first_quarantine_reason.is_none() {
            d.first_quarantine_reason = Some(format!("record {index}: {reason}"));
        }
    }

    fn record(&mut self, d: &mut Decoded, index: u64, raw: &RawValue) {
        match rows::place(raw) {
            Err(reason) => self.quarantine(d, index, &reason, raw.get()),
            Ok(placed) => {
                d.records += 1;
                if self.opts.retain_since.is_some_and(|s| placed.time < s) {
                    d.older_than_retention += 1;
                    return;
                }
                if let Some((since, until)) = self.opts.window
                    && (since.is_some_and(|s| placed.time < s)
                        || until.is_some_and(|u| placed.time >= u))
                {
                    d.outside_window += 1;
                    return;
                }
                self.json += raw.get().len() as u64;
                self.builders
                    .entry(placed.key.clone())
                    .or_insert_with(|| Rows::new(placed.key.table))
                    .append(&placed, &d.obj.uri, index);
            }
        }
    }
}

/// Decode fetched objects, in order, handing each chunk to `emit` as it is ready: several for
/// a run of objects past `piece_bytes` of JSON, and partial ones for a streamed object.
/// Runs on a blocking thread (a streamed body is read there).
pub(crate) fn decode_chunk(
    objects: Vec<(SourceObject, Fetched)>,
    opts: DecodeOptions,
    emit: &mut dyn FnMut(Chunk),
) {
    let mut b = Builder {
        opts,
        builders: BTreeMap::new(),
        json: 0,
        done: Vec::new(),
        emit,
    };
    for (obj, data) in objects {
        let d = decode(obj, data, &mut b);
        b.done.push(d);
        if b.json >= opts.piece_bytes {
            b.flush();
        }
    }
    b.flush();
}

fn decode(obj: SourceObject, data: Fetched, b: &mut Builder<'_>) -> Decoded {
    let mut d = Decoded {
        status: SourceStatus::Ingested,
        detail: None,
        quarantine: Vec::new(),
        quarantined: 0,
        first_quarantine_reason: None,
        records: 0,
        outside_window: 0,
        older_than_retention: 0,
        bytes_read: 0,
        json_bytes: 0,
        skipped_messages: BTreeMap::new(),
        obj,
    };
    let data = match data {
        Fetched::Whole(b) => b,
        Fetched::Stream(r) => {
            d.bytes_read = d.obj.size;
            decode_stream(&mut d, r, b);
            return d;
        }
        Fetched::Failed(e) => {
            d.status = SourceStatus::Rejected;
            d.detail = Some(format!("cannot read: {e}"));
            return d;
        }
    };
    d.bytes_read = data.len() as u64;
    let limit = b.opts.stream_json_bytes.min(b.opts.max_object_bytes);
    let (plain, gz_err) = shape::decompress_prefix(&data, limit as usize + 1);
    if plain.len() as u64 > limit {
        drop(plain);
        decode_stream(&mut d, std::io::Cursor::new(data.clone()), b);
        return d;
    }
    d.json_bytes = plain.len() as u64;
    let contents = shape::read_contents(d.obj.display(), &plain);
    for bad in &contents.bad_records {
        b.quarantine(&mut d, bad.index, &bad.reason, &bad.text);
    }
    for (index, rec) in &contents.records {
        b.record(&mut d, *index, rec.raw());
    }
    d.skipped_messages = contents.skipped_messages;
    let (status, detail) = status(contents.verdict);
    (d.status, d.detail) = match (gz_err, status) {
        (None, s) => (s, detail),
        (Some(gz), SourceStatus::Ingested | SourceStatus::Damaged) if d.records > 0 => (
            SourceStatus::Damaged,
            Some(format!("{gz} ({} records before it were read)", d.records)),
        ),
        (Some(gz), _) => (SourceStatus::Rejected, Some(gz)),
    };
    d
}

fn status(v: Verdict) -> (SourceStatus, Option<String>) {
    match v {
        Verdict::Events(_) => (SourceStatus::Ingested, None),
        Verdict::Damaged(_, why) => (SourceStatus::Damaged, Some(why)),
        Verdict::Skipped(why) => (SourceStatus::Skipped, Some(why.to_owned())),
        Verdict::Rejected(why) => (SourceStatus::Rejected, Some(why)),
    }
}

/// Decode an object as a stream: the finished objects before it are handed on first, then
/// its rows a piece at a time.
fn decode_stream(d: &mut Decoded, r: impl Read, b: &mut Builder<'_>) {
    b.flush();
    struct Sink<'a, 'b, 'e> {
        d: &'a mut Decoded,
        b: &'b mut Builder<'e>,
    }
    impl stream::Sink for Sink<'_, '_, '_> {
        fn record(&mut self, index: u64, raw: &RawValue) {
            self.b.record(self.d, index, raw);
            if self.b.json >= self.b.opts.piece_bytes {
                self.b.flush_partial(self.d);
            }
        }
        fn bad(&mut self, bad: BadRecord) {
            self.b.quarantine(self.d, bad.index, &bad.reason, &bad.text);
        }
        fn skipped(&mut self, why: &'static str, n: u64) {
            *self.d.skipped_messages.entry(why).or_default() += n;
        }
    }
    let name = d.obj.display().to_owned();
    let max = b.opts.max_object_bytes;
    let out = stream::read_stream(&name, r, max, &mut Sink { d, b });
    d.json_bytes = out.json_bytes;
    (d.status, d.detail) = status(out.verdict);
}
