//! Criterion benchmarks of the hot paths of `trailsql ingest` and of the JSONPath functions
//! queries spend their time in, on a trail generated at start-up (see `trailsql_benches`).
//!
//! - `decode`: the JSON text of CloudTrail log files to placed records (`read_contents`, then
//!   `rows::place` on each record): throughput in bytes of JSON.
//! - `batch_build`: placed records to Arrow record batches, one `Rows` per partition for each
//!   file and for each chunk of 64 files as ingest builds them: throughput in records.
//! - `encode_partition`: the largest partition's batches (of 64 files each) to one Parquet
//!   file (concatenate, sort by time and eventid, zstd-encode): throughput in rows.
//! - `jsonpath`: parsing JSONPath strings, selecting with a parsed path, and the
//!   `json_extract_scalar` / `json_extract` functions over the `requestparameters` column as
//!   DataFusion calls them: throughput in rows (documents).
//!
//! `cargo bench -p trailsql-benches` runs them on a day of one account in four regions
//! (20,000 events in 938 files, about 21 records a file as in a real trail);
//! under `cargo test` each runs once on a few hundred events.

use std::hint::black_box;
use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use datafusion::config::ConfigOptions;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use trailsql_benches::{Corpus, FILES_PER_BATCH, bench_mode, build_batches, partitions, place};
use trailsql_gen::GenConfig;
use trailsql_lake::file::encode_partition;
use trailsql_lake::schema::Table;
use trailsql_query::dialect::{self, JsonPath};

fn config() -> GenConfig {
    GenConfig {
        events: if bench_mode() { 20_000 } else { 300 },
        days: 1,
        accounts: 1,
        regions: ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"]
            .map(String::from)
            .to_vec(),
        seed: 1,
        insights: false,
        ..GenConfig::default()
    }
}

/// The trail every benchmark reads, generated once.
fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| Corpus::generate(&config()).expect("generate the bench trail"))
}

fn ingest_stages(c: &mut Criterion) {
    let corpus = corpus();
    let contents = corpus.contents();
    let records: u64 = contents.iter().map(|c| c.records.len() as u64).sum();

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(corpus.json_bytes()));
    g.bench_function("records", |b| {
        b.iter(|| {
            let mut n = 0;
            for f in &corpus.files {
                let contents = trailsql_ingest::shape::read_contents(&f.name, &f.json);
                n += black_box(place(&contents)).len();
            }
            n
        })
    });
    g.finish();

    let placed: Vec<_> = contents.iter().map(place).collect();
    let mut g = c.benchmark_group("batch_build");
    g.throughput(Throughput::Elements(records));
    // One batch per partition for each file, and for each chunk of files as ingest does.
    for files in [1, FILES_PER_BATCH] {
        g.bench_function(BenchmarkId::new("files_per_batch", files), |b| {
            b.iter(|| {
                let mut n = 0;
                for (chunk, placed) in corpus.files.chunks(files).zip(placed.chunks(files)) {
                    n += black_box(build_batches(chunk, placed)).len();
                }
                n
            })
        });
    }
    g.finish();

    let parts = partitions(corpus);
    let rows_of =
        |batches: &[RecordBatch]| batches.iter().map(RecordBatch::num_rows).sum::<usize>();
    let (_, biggest) = parts
        .iter()
        .filter(|(k, _)| k.table == Table::CloudTrail)
        .max_by_key(|(_, b)| rows_of(b))
        .expect("at least one partition");
    let rows = rows_of(biggest);
    let mut g = c.benchmark_group("encode_partition");
    g.throughput(Throughput::Elements(rows as u64));
    g.bench_function(BenchmarkId::new("parquet", rows), |b| {
        b.iter(|| encode_partition(Table::CloudTrail, biggest).expect("encode"))
    });
    g.finish();
}

/// Paths in the forms queries write them: dotted, bracketed with a key no dotted path can
/// spell, an array index, a wildcard.
const PATHS: [&str; 4] = [
    "$.bucketName",
    "$[\"x-amz-copy-source\"]",
    "$.instancesSet.items[0].instanceId",
    "$.instancesSet.items[*].instanceId",
];

fn jsonpath(c: &mut Criterion) {
    let docs = request_parameters(corpus());
    let rows = docs.len();

    let mut g = c.benchmark_group("jsonpath");
    g.throughput(Throughput::Elements(PATHS.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| {
            PATHS
                .iter()
                .map(|p| JsonPath::parse(black_box(p)).expect("valid path"))
                .collect::<Vec<_>>()
        })
    });

    let values: Vec<serde_json::Value> = docs
        .iter()
        .flatten()
        .map(|d| serde_json::from_str(d).expect("requestparameters is JSON"))
        .collect();
    let path = JsonPath::parse("$.bucketName").expect("valid path");
    g.throughput(Throughput::Elements(values.len() as u64));
    g.bench_function("select", |b| {
        b.iter(|| values.iter().filter(|v| !path.select(v).is_empty()).count())
    });

    let ctx = SessionContext::new();
    dialect::register(&ctx);
    let docs: ArrayRef = Arc::new(docs);
    g.throughput(Throughput::Elements(rows as u64));
    for (name, path) in [
        ("json_extract_scalar", "$.bucketName"),
        ("json_extract", "$.instancesSet"),
    ] {
        let udf = ctx.udf(name).expect("registered by the dialect");
        g.bench_function(name, |b| {
            b.iter(|| call(&udf, &docs, path).expect("function runs"))
        });
    }
    g.finish();
}

/// `requestparameters` of every generated record, as the lake stores it (compact JSON text,
/// null when the record has none).
fn request_parameters(corpus: &Corpus) -> StringArray {
    let idx = Table::CloudTrail
        .schema()
        .index_of("requestparameters")
        .expect("a cloudtrail column");
    let mut all: Vec<Option<String>> = Vec::new();
    for batch in partitions(corpus).into_values().flatten() {
        let col = batch.column(idx).as_string::<i32>();
        all.extend(col.iter().map(|v| v.map(str::to_owned)));
    }
    StringArray::from(all)
}

/// One call of a JSON function with a constant path over a column, as a projection does.
fn call(udf: &ScalarUDF, docs: &ArrayRef, path: &str) -> datafusion::error::Result<ColumnarValue> {
    let args = vec![
        ColumnarValue::Array(docs.clone()),
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(path.to_owned()))),
    ];
    udf.invoke_with_args(ScalarFunctionArgs {
        args,
        arg_fields: vec![
            Arc::new(Field::new("doc", DataType::Utf8, true)),
            Arc::new(Field::new("path", DataType::Utf8, false)),
        ],
        number_rows: docs.len(),
        return_field: Arc::new(Field::new(udf.name(), DataType::Utf8, true)),
        config_options: Arc::new(ConfigOptions::default()),
    })
}

criterion_group!(benches, ingest_stages, jsonpath);
criterion_main!(benches);
