//! A data file of the lake: how a partition's rows are encoded as Parquet (our sort order,
//! per-column compression and dictionaries, statistics, row groups) and read back.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::{SortColumn, concat, interleave_record_batch, lexsort_to_indices};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
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
pub fn encode_partition(table: Table, batches: &[RecordBatch]) -> Result<(Vec<u8>, usize)> {
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
    Ok((buf, rows))
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
        let (data, rows) = encode_partition(Table::CloudTrail, &batches).unwrap();
        assert_eq!(rows, 2 * n);
        let got = read_rows(data);
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
        let (data, _) = encode_partition(Table::CloudTrail, &[batch(&rows)]).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(data)).unwrap();
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
}
