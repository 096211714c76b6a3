//! A data file of the lake: how a partition's rows are encoded as Parquet (our sort order,
//! per-column compression and dictionaries, statistics, row groups) and read back.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::{SortColumn, concat, interleave_record_batch, lexsort_to_indices};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{ParquetMetaData, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::schema::Table;
use crate::{Error, Result};

/// Rows per row group: small enough that a one-hour window skips most of a day's file by
/// statistics, large enough for efficient column scans.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The identity of an event in its partition: a hash of its eventID.
pub fn event_key(event_id: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128_with_seed(event_id.as_bytes(), 0)
}

/// Leaf columns that hold a different value for (nearly) every event: no dictionary (it
/// never pays for itself, and the encoder would build one up to its size limit before
/// falling back to plain), and zstd.
const UNIQUE_COLUMNS: &[&str] = &[
    "eventid",
    "requestid",
    "eventtime",
    "sharedeventid",
    "requestparameters",
    "responseelements",
    "additionaleventdata",
    "sourceindex",
];

/// Other leaf columns worth compressing: free text and values with many distinct forms. The
/// rest (names, types, codes, account IDs: dictionary-encoded, a few bytes a row) are left
/// uncompressed, so reading one costs no decompression context: measured, creating zstd
/// contexts was 6% of a GROUP BY over the lake, and these columns are what queries read most.
const TEXT_COLUMNS: &[&str] = &[
    "sourceobject",
    "unmappedfields",
    "useragent",
    "errormessage",
    "serviceeventdetails",
    "insightdetails",
    "useridentity.principalid",
    "useridentity.accesskeyid",
    "useridentity.sessioncontext.attributes.creationdate",
    "useridentity.sessioncontext.webidfederationdata.attributes",
    "resources.list.item.arn",
    "tlsdetails.clientprovidedhostheader",
];

fn writer_properties(table: Table) -> Result<WriterProperties> {
    let schema = table.schema();
    let descr = ArrowSchemaConverter::new().convert(&schema)?;
    // The sort columns are top-level strings and a timestamp: each is one leaf, found by name.
    let sorting: Vec<SortingColumn> = table
        .sort_indices()
        .into_iter()
        .map(|i| {
            let name = schema.field(i).name();
            let leaf = (0..descr.num_columns())
                .find(|&l| descr.column(l).path().string() == *name)
                .expect("a sort column is a leaf column");
            SortingColumn {
                column_idx: leaf as i32,
                descending: false,
                nulls_first: true,
            }
        })
        .collect();
    let mut props = WriterProperties::builder();
    for i in 0..descr.num_columns() {
        let path = descr.column(i).path().clone();
        let name = path.string();
        if UNIQUE_COLUMNS.contains(&name.as_str()) {
            props = props.set_column_dictionary_enabled(path, false);
        } else if !TEXT_COLUMNS.contains(&name.as_str()) {
            props = props.set_column_compression(path, Compression::UNCOMPRESSED);
        }
    }
    Ok(props
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(sorting))
        .set_created_by(format!("trailsql {}", env!("CARGO_PKG_VERSION")))
        .build())
}

/// Rows taken from a partition's batches, in sorted order, per write to the encoder.
const ENCODE_SLICE_ROWS: usize = 8192;

/// Sort a partition's batches by [`Table::sort_indices`] and encode them as Parquet. Only the
/// sort keys are concatenated: the rows are taken in sorted order a slice at a time, so the
/// memory this needs beyond its input is a slice and the encoder's pages, not a sorted copy
/// of the partition (which grew with the partition: 4x the events, 4x the peak).
pub fn encode_partition(table: Table, batches: &[RecordBatch]) -> Result<Encoded> {
    let schema = table.schema();
    let keys = |i: usize| -> Result<ArrayRef> {
        let cols: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
        Ok(concat(&cols)?)
    };
    let sort = table
        .sort_indices()
        .into_iter()
        .map(|i| {
            Ok(SortColumn {
                values: keys(i)?,
                options: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let indices = lexsort_to_indices(&sort, None)?;
    let stats = table
        .sort_indices()
        .into_iter()
        .zip(&sort)
        .map(|(i, c)| ColumnStats::of(schema.field(i).name(), &c.values))
        .collect();
    drop(sort);
    // Where each batch starts among the partition's rows (an empty batch starts where the
    // next one does, so the last batch starting at or before a row is the one holding it).
    let starts: Vec<usize> = batches
        .iter()
        .scan(0, |acc, b| {
            let start = *acc;
            *acc += b.num_rows();
            Some(start)
        })
        .collect();
    let rows = indices.len();
    let input: Vec<&RecordBatch> = batches.iter().collect();
    let size: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
    let mut buf = Vec::with_capacity(size / 8);
    // No embedded Arrow schema: the Parquet types say the same (UTC timestamps, UTF-8
    // strings, the lists' item names), and every reader of every file would decode and
    // verify it. Measured: 4% of a GROUP BY over the lake.
    let options = ArrowWriterOptions::new()
        .with_properties(writer_properties(table)?)
        .with_skip_arrow_metadata(true);
    let mut writer = ArrowWriter::try_new_with_options(&mut buf, schema, options)?;
    for slice in indices.values().chunks(ENCODE_SLICE_ROWS) {
        let at: Vec<(usize, usize)> = slice
            .iter()
            .map(|&row| {
                let row = row as usize;
                let b = starts.partition_point(|&s| s <= row) - 1;
                (b, row - starts[b])
            })
            .collect();
        writer.write(&interleave_record_batch(&input, &at)?)?;
    }
    writer.close()?;
    Ok(Encoded {
        data: buf,
        rows: rows as u64,
        stats,
    })
}

/// A partition's rows encoded as one data file, with the statistics its log entry carries.
#[derive(Debug)]
pub struct Encoded {
    pub data: Vec<u8>,
    pub rows: u64,
    /// Of the sort columns (eventsource, eventname, eventtime, eventid where the table has
    /// them).
    pub stats: Vec<ColumnStats>,
}

/// Min, max and null count of one column of a file, as Delta's statistics record them.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnStats {
    pub column: String,
    pub min: Option<serde_json::Value>,
    pub max: Option<serde_json::Value>,
    pub nulls: u64,
}

/// Longer strings get no min/max: a truncated max would be below the values it stands for.
const MAX_STAT_CHARS: usize = 256;

impl ColumnStats {
    fn of(column: &str, values: &ArrayRef) -> ColumnStats {
        use arrow::datatypes::{DataType, TimestampMicrosecondType};
        let (min, max) = match values.data_type() {
            DataType::Utf8 => {
                let s = values.as_string::<i32>();
                let keep = |v: Option<&str>| {
                    v.filter(|v| v.len() <= MAX_STAT_CHARS)
                        .map(|v| serde_json::Value::from(v.to_owned()))
                };
                (
                    keep(arrow::compute::min_string(s)),
                    keep(arrow::compute::max_string(s)),
                )
            }
            // Milliseconds, as Delta writers record timestamps: the min rounded down and the
            // max up, so a reader that compares at either precision never skips a match.
            DataType::Timestamp(..) => {
                let t = values.as_primitive::<TimestampMicrosecondType>();
                (
                    arrow::compute::min(t).map(|m| stat_time(m.div_euclid(1000) * 1000)),
                    arrow::compute::max(t).map(|m| stat_time((m + 999).div_euclid(1000) * 1000)),
                )
            }
            _ => (None, None),
        };
        ColumnStats {
            column: column.to_owned(),
            min,
            max,
            nulls: values.null_count() as u64,
        }
    }
}

fn stat_time(micros: i64) -> serde_json::Value {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
        .into()
}

/// Parse a timestamp as [`ColumnStats`] writes it (or any RFC 3339 time), in microseconds.
pub fn parse_stat_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// Delta's `stats` JSON of an add action.
pub fn delta_stats(rows: u64, stats: &[ColumnStats]) -> String {
    let mut min = serde_json::Map::new();
    let mut max = serde_json::Map::new();
    let mut nulls = serde_json::Map::new();
    for c in stats {
        if let Some(v) = &c.min {
            min.insert(c.column.clone(), v.clone());
        }
        if let Some(v) = &c.max {
            max.insert(c.column.clone(), v.clone());
        }
        nulls.insert(c.column.clone(), c.nulls.into());
    }
    serde_json::json!({
        "numRecords": rows,
        "minValues": min,
        "maxValues": max,
        "nullCount": nulls,
    })
    .to_string()
}

/// Row count and the statistics of the sort columns, from a file's footer alone (the
/// row groups' min/max/null counts): what a log entry carries, for files written before the
/// lake had a Delta log. A bound the footer only gives truncated is left out.
pub fn footer_stats(table: Table, meta: &ParquetMetaData) -> (u64, Vec<ColumnStats>) {
    use parquet::file::statistics::Statistics;
    let schema = table.schema();
    let descr = meta.file_metadata().schema_descr();
    let rows = meta.file_metadata().num_rows().max(0) as u64;
    let mut out = Vec::new();
    for i in table.sort_indices() {
        let name = schema.field(i).name();
        let Some(leaf) =
            (0..descr.num_columns()).find(|&l| descr.column(l).path().string() == *name)
        else {
            continue;
        };
        let mut stats = ColumnStats {
            column: name.clone(),
            min: None,
            max: None,
            nulls: 0,
        };
        let (mut min, mut max): (Option<serde_json::Value>, Option<serde_json::Value>) =
            (None, None);
        let mut complete = meta.num_row_groups() > 0;
        for rg in meta.row_groups() {
            let Some(st) = rg.column(leaf).statistics() else {
                complete = false;
                continue;
            };
            stats.nulls += st.null_count_opt().unwrap_or(0);
            let (lo, hi) = match st {
                Statistics::Int64(s) => (
                    s.min_opt().map(|m| m.div_euclid(1000) * 1000),
                    s.max_opt().map(|m| (m + 999).div_euclid(1000) * 1000),
                ),
                Statistics::ByteArray(s) => {
                    let text = |b: Option<&parquet::data_type::ByteArray>, exact: bool| {
                        b.filter(|_| exact)
                            .and_then(|b| std::str::from_utf8(b.data()).ok())
                            .filter(|v| v.len() <= MAX_STAT_CHARS)
                            .map(|v| serde_json::Value::from(v.to_owned()))
                    };
                    let (lo, hi) = (
                        text(s.min_opt(), s.min_is_exact()),
                        text(s.max_opt(), s.max_is_exact()),
                    );
                    if rg.num_rows() > 0 && st.null_count_opt() != Some(rg.num_rows() as u64) {
                        complete &= lo.is_some() && hi.is_some();
                    }
                    min = pick(min, lo, std::cmp::Ordering::Less);
                    max = pick(max, hi, std::cmp::Ordering::Greater);
                    continue;
                }
                _ => (None, None),
            };
            if rg.num_rows() > 0 && st.null_count_opt() != Some(rg.num_rows() as u64) {
                complete &= lo.is_some() && hi.is_some();
            }
            min = pick(min, lo.map(stat_time), std::cmp::Ordering::Less);
            max = pick(max, hi.map(stat_time), std::cmp::Ordering::Greater);
        }
        if complete {
            stats.min = min;
            stats.max = max;
        }
        out.push(stats);
    }
    (rows, out)
}

/// The smaller (`Less`) or larger (`Greater`) of two statistics values: strings, or times
/// as [`stat_time`] writes them (which compare as strings too).
fn pick(
    a: Option<serde_json::Value>,
    b: Option<serde_json::Value>,
    keep: std::cmp::Ordering,
) -> Option<serde_json::Value> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let ord = a.as_str().unwrap_or("").cmp(b.as_str().unwrap_or(""));
            Some(if ord == keep { a } else { b })
        }
        (a, None) => a,
        (None, b) => b,
    }
}

/// The dedup keys of the rows of a lake file that have an eventID.
pub fn read_event_keys(table: Table, data: bytes::Bytes) -> Result<Vec<u128>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(data)?;
    let descr = builder.parquet_schema();
    let leaf = (0..descr.num_columns())
        .find(|&i| descr.column(i).path().string() == "eventid")
        .ok_or_else(|| {
            Error::CorruptState(format!("a {} file has no eventid column", table.name()))
        })?;
    let mask = ProjectionMask::leaves(descr, [leaf]);
    let reader = builder.with_projection(mask).build()?;
    let mut keys = Vec::new();
    for batch in reader {
        let batch = batch?;
        let ids = batch.column(0).as_string::<i32>();
        keys.extend(ids.iter().flatten().map(event_key));
    }
    Ok(keys)
}

/// Read back every row of a lake file (tests and tools).
pub fn read_file(data: bytes::Bytes) -> Result<Vec<RecordBatch>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(data)?.build()?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray, new_null_array};
    use std::sync::Arc;

    /// A batch of one record per (time, id), in the order given. Its service and call come
    /// from the id's index: three services, two calls each, one record in seven with neither.
    fn batch(rows: &[(String, String)]) -> RecordBatch {
        let schema = Table::CloudTrail.schema();
        let index = |id: &String| -> usize { id[2..].parse().unwrap() };
        let called = |i: usize| !i.is_multiple_of(7);
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                match f.name().as_str() {
                    "eventtime" => Arc::new(
                        TimestampMicrosecondArray::from_iter_values(rows.iter().map(|(t, _)| {
                            chrono::DateTime::parse_from_rfc3339(t)
                                .unwrap()
                                .timestamp_micros()
                        }))
                        .with_timezone("UTC"),
                    ),
                    "eventid" => {
                        Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, id)| id)))
                    }
                    "eventsource" => {
                        Arc::new(StringArray::from_iter(rows.iter().map(|(_, id)| {
                            let i = index(id);
                            called(i).then(|| format!("s{}.amazonaws.com", i % 3))
                        })))
                    }
                    "eventname" => Arc::new(StringArray::from_iter(rows.iter().map(|(_, id)| {
                        let i = index(id);
                        called(i).then(|| format!("Call{}", i % 2))
                    }))),
                    "awsregion" => Arc::new(StringArray::from_iter_values(
                        rows.iter().map(|_| "eu-west-1"),
                    )),
                    "sourceobject" => Arc::new(StringArray::from_iter_values(
                        rows.iter().map(|_| "file:///x"),
                    )),
                    "sourceindex" => Arc::new(Int64Array::from_iter_values(
                        rows.iter().map(|(_, id)| index(id) as i64),
                    )),
                    _ => new_null_array(f.data_type(), rows.len()),
                }
            })
            .collect();
        RecordBatch::try_new(schema, columns).unwrap()
    }

    type Row = (Option<String>, Option<String>, i64, String);

    fn read_rows(data: Vec<u8>) -> Vec<Row> {
        let mut got = Vec::new();
        for b in read_file(bytes::Bytes::from(data)).unwrap() {
            let col = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
            let (source, name, id) = (col("eventsource"), col("eventname"), col("eventid"));
            let t = b
                .column_by_name("eventtime")
                .unwrap()
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap()
                .clone();
            for r in 0..b.num_rows() {
                got.push((
                    source.is_valid(r).then(|| source.value(r).to_owned()),
                    name.is_valid(r).then(|| name.value(r).to_owned()),
                    t.value(r),
                    id.value(r).to_owned(),
                ));
            }
        }
        got
    }

    #[test]
    fn a_partition_is_written_sorted_by_service_call_time_and_id_across_its_batches() {
        // More rows than one slice of the encoder, over three batches (one empty), with
        // times interleaved between batches and ties broken by eventID.
        let n = ENCODE_SLICE_ROWS + 500;
        let time = |i: usize| {
            format!(
                "2024-03-01T{:02}:{:02}:{:02}Z",
                i / 3600,
                (i / 60) % 60,
                i % 60
            )
        };
        let a: Vec<(String, String)> = (0..n).map(|i| (time(i), format!("b-{i:06}"))).collect();
        let b: Vec<(String, String)> = (0..n).map(|i| (time(i), format!("a-{i:06}"))).collect();
        let batches = [batch(&a), batch(&[]), batch(&b)];
        let enc = encode_partition(Table::CloudTrail, &batches).unwrap();
        assert_eq!(enc.rows, 2 * n as u64);
        let got = read_rows(enc.data);
        // Nulls first, as the file's sorting columns declare.
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(got, sorted, "rows in (source, call, time, id) order");
        assert_eq!(got[0].0, None);
        assert!(
            got.iter()
                .any(|r| r.0.as_deref() == Some("s2.amazonaws.com"))
        );
        // Every input row once, with its own columns: the service and call its id was given,
        // and its time.
        let mut have = got;
        have.sort_by(|x, y| x.3.cmp(&y.3));
        let march_1 = 1_709_251_200_000_000_i64;
        let mut want: Vec<Row> = a
            .iter()
            .chain(&b)
            .map(|(_, id)| {
                let i: usize = id[2..].parse().unwrap();
                let called = !i.is_multiple_of(7);
                (
                    called.then(|| format!("s{}.amazonaws.com", i % 3)),
                    called.then(|| format!("Call{}", i % 2)),
                    march_1 + i as i64 * 1_000_000,
                    id.clone(),
                )
            })
            .collect();
        want.sort_by(|x, y| x.3.cmp(&y.3));
        assert_eq!(have, want);
    }

    #[test]
    fn the_file_declares_its_sort_order() {
        let rows: Vec<(String, String)> = (1..4)
            .map(|i| (format!("2024-03-01T00:00:0{i}Z"), format!("a-{i:06}")))
            .collect();
        let enc = encode_partition(Table::CloudTrail, &[batch(&rows)]).unwrap();
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(enc.data)).unwrap();
        let meta = reader.metadata();
        let descr = meta.file_metadata().schema_descr();
        let names: Vec<String> = meta
            .row_group(0)
            .sorting_columns()
            .unwrap()
            .iter()
            .map(|c| descr.column(c.column_idx as usize).path().string())
            .collect();
        assert_eq!(names, ["eventsource", "eventname", "eventtime", "eventid"]);
    }

    #[test]
    fn a_file_carries_min_max_and_null_counts_of_its_sort_columns() {
        let rows: Vec<(String, String)> = [
            ("2024-03-01T00:00:01.000250Z", "a-000007"),
            ("2024-03-01T05:00:00Z", "a-000001"),
            ("2024-03-01T02:00:00.5Z", "a-000002"),
        ]
        .iter()
        .map(|(t, i)| (t.to_string(), i.to_string()))
        .collect();
        let enc = encode_partition(Table::CloudTrail, &[batch(&rows)]).unwrap();
        let by = |c: &str| enc.stats.iter().find(|s| s.column == c).unwrap().clone();
        let t = by("eventtime");
        assert_eq!(
            t.min,
            Some("2024-03-01T00:00:01.000Z".into()),
            "rounded down"
        );
        assert_eq!(t.max, Some("2024-03-01T05:00:00.000Z".into()));
        assert_eq!(by("eventid").min, Some("a-000001".into()));
        assert_eq!(by("eventid").max, Some("a-000007".into()));
        // a-000007 has no service: one null.
        assert_eq!(by("eventsource").nulls, 1);
        assert_eq!(by("eventname").max, Some("Call1".into()));
        let json: serde_json::Value =
            serde_json::from_str(&delta_stats(enc.rows, &enc.stats)).unwrap();
        assert_eq!(json["numRecords"], 3);
        assert_eq!(json["maxValues"]["eventtime"], "2024-03-01T05:00:00.000Z");
        assert_eq!(json["nullCount"]["eventsource"], 1);
        let max = parse_stat_time("2024-03-01T00:00:01.001Z").unwrap();
        let rows = vec![(
            "2024-03-01T00:00:01.000250Z".to_string(),
            "a-000003".to_string(),
        )];
        let enc = encode_partition(Table::CloudTrail, &[batch(&rows)]).unwrap();
        let t = enc.stats.iter().find(|s| s.column == "eventtime").unwrap();
        assert_eq!(
            t.max
                .as_ref()
                .and_then(|v| v.as_str())
                .and_then(parse_stat_time),
            Some(max),
            "max rounded up"
        );
    }
}
