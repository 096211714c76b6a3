//! Rows of one table partition under construction: a tree of Arrow builders shaped by the
//! schema's [`Spec`]s, filled one CloudTrail record at a time, and the reverse operation,
//! rebuilding the original record from a row.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Builder, ListArray, NullBufferBuilder, RecordBatch,
    StringBuilder, StructArray, TimestampMicrosecondBuilder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, FieldRef, Fields, TimestampMicrosecondType};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::json::{self, JsonType, Pairs};
use crate::time::{self, Micros};
use trailsql_lake::PartitionKey;
use trailsql_lake::schema::{Kind, Spec, Table, struct_fields};

/// The deduplication key of a record: its eventID, or, for the odd record without one, its
/// whole text (so only byte-identical copies collapse).
pub fn dedup_key(event_id: Option<&str>, raw: &str) -> u128 {
    match event_id {
        Some(id) => trailsql_lake::file::event_key(id),
        None => xxhash_rust::xxh3::xxh3_128_with_seed(json::compact(raw).as_bytes(), 1),
    }
}

/// Why a record cannot be placed in a table.
pub type QuarantineReason = String;

/// A record's routing facts, read before its row is built.
#[derive(Debug)]
pub struct Placed<'a> {
    pub key: PartitionKey,
    pub time: Micros,
    pub dedup: u128,
    pub pairs: Pairs<'a>,
}

/// Read the facts that place a record: table, time, region, dedup key.
pub fn place(raw: &RawValue) -> Result<Placed<'_>, QuarantineReason> {
    let Some(pairs) = json::object(raw) else {
        return Err("record is not a JSON object".into());
    };
    let insight = pairs.has("insightDetails")
        || pairs
            .get("eventType")
            .and_then(json::string)
            .is_some_and(|t| t == "AwsCloudTrailInsight");
    let table = if insight {
        Table::Insights
    } else {
        Table::CloudTrail
    };
    let time = match pairs.get("eventTime") {
        None => return Err("no eventTime".into()),
        Some(v) => match json::string(v) {
            Some(s) => {
                time::parse_event_time(&s).ok_or_else(|| format!("unparseable eventTime {s:?}"))?
            }
            None => return Err(format!("eventTime is not a string: {}", v.get())),
        },
    };
    let region = pairs.get("awsRegion").and_then(json::string);
    let event_id = pairs
        .get("eventID")
        .map(|v| json::string(v).unwrap_or(Cow::Borrowed(v.get())));
    let dedup = dedup_key(event_id.as_deref(), raw.get());
    let key = PartitionKey::new(table, time::utc_date(time), region.as_deref());
    Ok(Placed {
        key,
        time,
        dedup,
        pairs,
    })
}

/// Parts of a record the typed columns cannot reproduce, by JSON Pointer.
#[derive(Default)]
struct Unmapped {
    entries: Vec<(String, String)>,
}

impl Unmapped {
    fn push(&mut self, path: &str, token: &str, raw: &str) {
        let mut p = path.to_owned();
        json::push_pointer(&mut p, token);
        self.entries.push((p, json::compact(raw).into_owned()));
    }

    fn to_json(&self) -> Option<String> {
        if self.entries.is_empty() {
            return None;
        }
        let mut out = String::from("{");
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(k).expect("string serializes"));
            out.push(':');
            out.push_str(v);
        }
        out.push('}');
        Some(out)
    }
}

enum Col {
    Str(StringBuilder),
    Time(TimestampMicrosecondBuilder),
    Struct {
        fields: Fields,
        children: Vec<Col>,
        nulls: NullBufferBuilder,
    },
    List {
        field: FieldRef,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        child: Box<Col>,
    },
}

impl Col {
    fn new(spec: &Spec) -> Col {
        match spec.kind {
            Kind::Str | Kind::Json | Kind::Bool => Col::Str(StringBuilder::new()),
            Kind::Time => Col::Time(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
            Kind::Struct(children) => Col::new_struct(children),
            Kind::List(children) => {
                let item = Col::new_struct(children);
                let Col::Struct { fields, .. } = &item else {
                    unreachable!()
                };
                let field = Arc::new(arrow::datatypes::Field::new(
                    "item",
                    DataType::Struct(fields.clone()),
                    true,
                ));
                Col::List {
                    field,
                    offsets: vec![0],
                    nulls: NullBufferBuilder::new(0),
                    child: Box::new(item),
                }
            }
        }
    }

    fn new_struct(children: &[Spec]) -> Col {
        Col::Struct {
            fields: struct_fields(children),
            children: children.iter().map(Col::new).collect(),
            nulls: NullBufferBuilder::new(0),
        }
    }

    fn append_null(&mut self) {
        match self {
            Col::Str(b) => b.append_null(),
            Col::Time(b) => b.append_null(),
            Col::Struct {
                children, nulls, ..
            } => {
                children.iter_mut().for_each(Col::append_null);
                nulls.append_null();
            }
            Col::List { offsets, nulls, .. } => {
                offsets.push(*offsets.last().expect("offsets start at 0"));
                nulls.append_null();
            }
        }
    }

    fn str(&mut self, v: &str) {
        match self {
            Col::Str(b) => b.append_value(v),
            _ => unreachable!("string value for a non-string column"),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Col::Str(b) => Arc::new(b.finish()),
            Col::Time(b) => Arc::new(b.finish()),
            Col::Struct {
                fields,
                children,
                nulls,
            } => {
                let arrays = children.iter_mut().map(Col::finish).collect();
                Arc::new(StructArray::new(fields.clone(), arrays, nulls.finish()))
            }
            Col::List {
                field,
                offsets,
                nulls,
                child,
            } => {
                let offs = OffsetBuffer::new(std::mem::replace(offsets, vec![0]).into());
                Arc::new(ListArray::new(
                    field.clone(),
                    offs,
                    child.finish(),
                    nulls.finish(),
                ))
            }
        }
    }
}

/// Rows of one table under construction.
pub struct Rows {
    table: Table,
    cols: Vec<Col>,
    unmapped: StringBuilder,
    source: StringBuilder,
    index: Int64Builder,
    /// Dedup key of each row, in row order.
    pub keys: Vec<u128>,
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("table", &self.table)
            .field("len", &self.keys.len())
            .finish()
    }
}

impl Rows {
    pub fn new(table: Table) -> Rows {
        Rows {
            table,
            cols: table.specs().iter().map(Col::new).collect(),
            unmapped: StringBuilder::new(),
            source: StringBuilder::new(),
            index: Int64Builder::new(),
            keys: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Append a placed record as one row.
    pub fn append(&mut self, placed: &Placed<'_>, source: &str, index: u64) {
        let mut um = Unmapped::default();
        let mut path = String::new();
        put_object(
            self.table.specs(),
            &mut self.cols,
            &placed.pairs,
            &mut path,
            &mut um,
            placed.time,
        );
        match um.to_json() {
            Some(j) => self.unmapped.append_value(j),
            None => self.unmapped.append_null(),
        }
        self.source.append_value(source);
        self.index.append_value(index as i64);
        self.keys.push(placed.dedup);
    }

    pub fn finish(mut self) -> (RecordBatch, Vec<u128>) {
        let mut arrays: Vec<ArrayRef> = self.cols.iter_mut().map(Col::finish).collect();
        arrays.push(Arc::new(self.unmapped.finish()));
        arrays.push(Arc::new(self.source.finish()));
        arrays.push(Arc::new(self.index.finish()));
        let batch = RecordBatch::try_new(self.table.schema(), arrays)
            .expect("rows match the schema by construction");
        (batch, self.keys)
    }
}

const MAX_FIELDS: usize = 40;

fn put_object(
    specs: &[Spec],
    cols: &mut [Col],
    pairs: &Pairs<'_>,
    path: &mut String,
    um: &mut Unmapped,
    time: Micros,
) {
    debug_assert!(specs.len() <= MAX_FIELDS);
    let mut found: [Option<&RawValue>; MAX_FIELDS] = [None; MAX_FIELDS];
    let n = specs.len();
    // CloudTrail writes keys in a stable order: start each search where the last one ended.
    let mut cursor = 0;
    for (k, v) in &pairs.0 {
        let hit = (0..n)
            .map(|off| (cursor + off) % n)
            .find(|&i| specs[i].key == k.0);
        match hit {
            Some(i) => {
                found[i] = Some(v);
                cursor = (i + 1) % n;
            }
            None => um.push(path, &k.0, v.get()),
        }
    }
    for (i, spec) in specs.iter().enumerate() {
        put_value(spec, &mut cols[i], found[i], path, um, time);
    }
}

fn put_value(
    spec: &Spec,
    col: &mut Col,
    v: Option<&RawValue>,
    path: &mut String,
    um: &mut Unmapped,
    time: Micros,
) {
    let Some(v) = v else {
        if let (Kind::Time, Col::Time(b)) = (&spec.kind, &mut *col) {
            b.append_value(time);
        } else {
            col.append_null();
        }
        return;
    };
    let ty = json::json_type(v);
    if ty == JsonType::Null && !matches!(spec.kind, Kind::Time) {
        col.append_null();
        um.push(path, spec.key, "null");
        return;
    }
    match &spec.kind {
        Kind::Str => match json::string(v) {
            Some(s) => col.str(&s),
            None => {
                col.str(&json::compact(v.get()));
                um.push(path, spec.key, v.get());
            }
        },
        Kind::Json => col.str(&json::compact(v.get())),
        Kind::Bool => match ty {
            JsonType::Bool => col.str(v.get()),
            _ => {
                match json::string(v) {
                    Some(s) => col.str(&s),
                    None => col.str(&json::compact(v.get())),
                }
                um.push(path, spec.key, v.get());
            }
        },
        Kind::Time => {
            let Col::Time(b) = col else { unreachable!() };
            b.append_value(time);
            let canonical = json::string(v).is_some_and(|s| time::is_canonical(&s, time));
            if !canonical {
                um.push(path, spec.key, v.get());
            }
        }
        Kind::Struct(children) => {
            let Some(pairs) = json::object(v) else {
                col.append_null();
                um.push(path, spec.key, v.get());
                return;
            };
            let Col::Struct {
                children: cols,
                nulls,
                ..
            } = col
            else {
                unreachable!()
            };
            let len = path.len();
            json::push_pointer(path, spec.key);
            put_object(children, cols, &pairs, path, um, time);
            path.truncate(len);
            nulls.append_non_null();
        }
        Kind::List(children) => {
            let items = if ty == JsonType::Array {
                serde_json::from_str::<Vec<&RawValue>>(v.get()).ok()
            } else {
                None
            };
            let Some(items) = items else {
                col.append_null();
                um.push(path, spec.key, v.get());
                return;
            };
            let Col::List {
                offsets,
                nulls,
                child,
                ..
            } = col
            else {
                unreachable!()
            };
            let Col::Struct {
                children: cols,
                nulls: item_nulls,
                ..
            } = child.as_mut()
            else {
                unreachable!()
            };
            let len = path.len();
            json::push_pointer(path, spec.key);
            for (i, item) in items.iter().enumerate() {
                match json::object(item) {
                    Some(pairs) => {
                        let l2 = path.len();
                        json::push_pointer(path, &i.to_string());
                        put_object(children, cols, &pairs, path, um, time);
                        path.truncate(l2);
                        item_nulls.append_non_null();
                    }
                    None => {
                        cols.iter_mut().for_each(Col::append_null);
                        item_nulls.append_null();
                        um.push(path, &i.to_string(), item.get());
                    }
                }
            }
            path.truncate(len);
            offsets.push(offsets.last().expect("offsets start at 0") + items.len() as i32);
            nulls.append_non_null();
        }
    }
}

/// Rebuild the JSON record a row was made from: the typed columns, then the unmapped parts
/// laid over them.
pub fn rebuild(batch: &RecordBatch, table: Table, row: usize) -> Value {
    let specs = table.specs();
    let mut obj = Map::new();
    for (i, spec) in specs.iter().enumerate() {
        if let Some(v) = rebuild_value(spec, batch.column(i).as_ref(), row) {
            obj.insert(spec.key.to_owned(), v);
        }
    }
    let mut root = Value::Object(obj);
    let unmapped = batch.column(specs.len()).as_string::<i32>();
    if unmapped.is_valid(row)
        && let Ok(Value::Object(entries)) = serde_json::from_str::<Value>(unmapped.value(row))
    {
        for (ptr, v) in entries {
            set_pointer(&mut root, &json::pointer_tokens(&ptr), v);
        }
    }
    root
}

fn rebuild_value(spec: &Spec, array: &dyn Array, row: usize) -> Option<Value> {
    if array.is_null(row) {
        return None;
    }
    Some(match &spec.kind {
        Kind::Str => Value::String(array.as_string::<i32>().value(row).to_owned()),
        Kind::Json => {
            let text = array.as_string::<i32>().value(row);
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
        Kind::Bool => Value::Bool(array.as_string::<i32>().value(row) == "true"),
        Kind::Time => Value::String(time::format_event_time(
            array.as_primitive::<TimestampMicrosecondType>().value(row),
        )),
        Kind::Struct(children) => rebuild_struct(children, array.as_struct(), row),
        Kind::List(children) => {
            let list = array.as_list::<i32>();
            let items = list.value(row);
            let items = items.as_struct();
            Value::Array(
                (0..items.len())
                    .map(|i| {
                        if items.is_null(i) {
                            Value::Null
                        } else {
                            rebuild_struct(children, items, i)
                        }
                    })
                    .collect(),
            )
        }
    })
}

fn rebuild_struct(children: &[Spec], array: &StructArray, row: usize) -> Value {
    let mut obj = Map::new();
    for (i, spec) in children.iter().enumerate() {
        if let Some(v) = rebuild_value(spec, array.column(i).as_ref(), row) {
            obj.insert(spec.key.to_owned(), v);
        }
    }
    Value::Object(obj)
}

fn set_pointer(root: &mut Value, tokens: &[String], v: Value) {
    let Some((last, parents)) = tokens.split_last() else {
        *root = v;
        return;
    };
    let mut cur = root;
    for t in parents {
        cur = match cur {
            Value::Array(items) => {
                let i: usize = t.parse().unwrap_or(items.len());
                if items.len() <= i {
                    items.resize(i + 1, Value::Null);
                }
                &mut items[i]
            }
            other => {
                if !other.is_object() {
                    *other = Value::Object(Map::new());
                }
                other
                    .as_object_mut()
                    .expect("object")
                    .entry(t.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
            }
        };
    }
    match cur {
        Value::Array(items) => {
            let i: usize = last.parse().unwrap_or(items.len());
            if items.len() <= i {
                items.resize(i + 1, Value::Null);
            }
            items[i] = v;
        }
        other => {
            if !other.is_object() {
                *other = Value::Object(Map::new());
            }
            other
                .as_object_mut()
                .expect("object")
                .insert(last.clone(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> (RecordBatch, Value) {
        let raw: &RawValue = serde_json::from_str(text).unwrap();
        let placed = place(raw).unwrap();
        let mut rows = Rows::new(placed.key.table);
        rows.append(&placed, "file:///x", 0);
        let (batch, _) = rows.finish();
        let back = rebuild(&batch, placed.key.table, 0);
        (batch, back)
    }

    #[test]
    fn typical_record_round_trips_without_unmapped() {
        let text = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA:s","arn":"arn:aws:sts::1:assumed-role/r/s","accountId":"1","accessKeyId":"ASIA","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA","arn":"arn:aws:iam::1:role/r","accountId":"1","userName":"r"},"attributes":{"creationDate":"2024-01-01T00:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2024-01-01T01:02:03Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","sourceIPAddress":"1.2.3.4","userAgent":"aws-cli","requestParameters":{"bucketName":"b","key":"k"},"responseElements":null,"additionalEventData":{"SignatureVersion":"SigV4"},"requestID":"r","eventID":"e1","readOnly":true,"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"}],"eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"1","eventCategory":"Data","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"b.s3.amazonaws.com"}}"#;
        let (batch, back) = round_trip(text);
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
        let unmapped = batch
            .column_by_name("unmappedfields")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(unmapped.value(0), r#"{"/responseElements":null}"#);
        let rp = batch
            .column_by_name("requestparameters")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(rp.value(0), r#"{"bucketName":"b","key":"k"}"#);
        assert_eq!(
            batch
                .column_by_name("readonly")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "true"
        );
    }

    #[test]
    fn odd_shapes_round_trip_through_unmapped() {
        let text = r#"{"eventTime":"2024-01-01 01:02:03","eventID":"e","recipientAccountId":123456789012,"readOnly":"false","userIdentity":{"type":"IAMUser","newField":{"a":[1,2]},"sessionContext":{"sessionIssuer":{}}},"resources":[null,{"ARN":"a","ARNPrefix":"p"}],"brandNew":1.50,"requestParameters":{
            "pretty": [1, 2]
        },"errorCode":null,"addendum":"weird"}"#;
        let (batch, back) = round_trip(text);
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
        let rp = batch
            .column_by_name("requestparameters")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(rp.value(0), r#"{"pretty":[1,2]}"#);
        let acct = batch
            .column_by_name("recipientaccountid")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(acct.value(0), "123456789012");
    }

    #[test]
    fn placement_and_quarantine_reasons() {
        let raw: &RawValue = serde_json::from_str(
            r#"{"eventTime":"2024-02-29T23:59:59+00:00","awsRegion":"us east/1"}"#,
        )
        .unwrap();
        let p = place(raw).unwrap();
        assert_eq!(p.key.dir(), "cloudtrail/date=2024-02-29/region=us east%2F1");
        let raw: &RawValue =
            serde_json::from_str(r#"{"eventTime":"2024-03-01T00:30:00+01:00"}"#).unwrap();
        assert_eq!(
            place(raw).unwrap().key.dir(),
            "cloudtrail/date=2024-02-29/region=unknown"
        );
        let raw: &RawValue = serde_json::from_str(r#"{"eventName":"X"}"#).unwrap();
        assert_eq!(place(raw).unwrap_err(), "no eventTime");
        let raw: &RawValue =
            serde_json::from_str(r#"{"eventTime":"ThisIsAWrongEventTime"}"#).unwrap();
        assert!(place(raw).unwrap_err().contains("unparseable eventTime"));
        let raw: &RawValue = serde_json::from_str(r#"{"eventTime":"2024-01-01T00:00:00Z","eventType":"AwsCloudTrailInsight","insightDetails":{"state":"Start"}}"#).unwrap();
        assert_eq!(place(raw).unwrap().key.table, Table::Insights);
    }

    #[test]
    fn dedup_key_prefers_event_id() {
        assert_eq!(
            dedup_key(Some("a"), "{\"x\":1}"),
            dedup_key(Some("a"), "{\"y\":2}")
        );
        assert_ne!(dedup_key(None, "{\"x\":1}"), dedup_key(None, "{\"x\":2}"));
        assert_eq!(dedup_key(None, "{\"x\": 1}"), dedup_key(None, "{\"x\":1}"));
    }
}
