//! The table schema: one tree of [`Spec`]s per table says, for every CloudTrail field we know,
//! its JSON key, its Athena column name (the key in lower case) and how it is stored. The same
//! tree drives decoding (JSON -> Arrow), the Arrow/Parquet schema and rebuilding a record
//! from its row, so the three can never disagree.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// How a known field is stored.
#[derive(Debug)]
pub enum Kind {
    /// A JSON string, stored as text.
    Str,
    /// Any JSON value, stored as its compact JSON text (Athena's `STRING` for free-form fields).
    Json,
    /// A JSON boolean, stored as the text `true` / `false` (Athena types `readonly` as STRING).
    Bool,
    /// The event time: a UTC timestamp in microseconds.
    Time,
    /// A nested object with known fields.
    Struct(&'static [Spec]),
    /// An array of objects with known fields.
    List(&'static [Spec]),
}

/// One known field: its JSON key as CloudTrail spells it, and how it is stored.
#[derive(Debug)]
pub struct Spec {
    pub key: &'static str,
    pub kind: Kind,
}

const fn f(key: &'static str, kind: Kind) -> Spec {
    Spec { key, kind }
}
const fn s(key: &'static str) -> Spec {
    f(key, Kind::Str)
}

const SESSION_ISSUER: &[Spec] = &[
    s("type"),
    s("principalId"),
    s("arn"),
    s("accountId"),
    s("userName"),
];
const SESSION_ATTRIBUTES: &[Spec] = &[s("mfaAuthenticated"), s("creationDate")];
const WEB_ID_FEDERATION: &[Spec] = &[s("federatedProvider"), f("attributes", Kind::Json)];
const SESSION_CONTEXT: &[Spec] = &[
    f("attributes", Kind::Struct(SESSION_ATTRIBUTES)),
    f("sessionIssuer", Kind::Struct(SESSION_ISSUER)),
    f("webIdFederationData", Kind::Struct(WEB_ID_FEDERATION)),
    s("sourceIdentity"),
    s("ec2RoleDelivery"),
    s("ec2IssuedInVPC"),
    s("assumedRoot"),
];
const ON_BEHALF_OF: &[Spec] = &[s("userId"), s("identityStoreArn")];
const IN_SCOPE_OF: &[Spec] = &[
    s("issuerType"),
    s("credentialsIssuedTo"),
    s("sourceArn"),
    s("sourceAccount"),
];
const USER_IDENTITY: &[Spec] = &[
    s("type"),
    s("principalId"),
    s("arn"),
    s("accountId"),
    s("invokedBy"),
    s("accessKeyId"),
    s("userName"),
    f("onBehalfOf", Kind::Struct(ON_BEHALF_OF)),
    f("inScopeOf", Kind::Struct(IN_SCOPE_OF)),
    f("sessionContext", Kind::Struct(SESSION_CONTEXT)),
    s("identityProvider"),
    s("credentialId"),
];
const RESOURCE: &[Spec] = &[s("ARN"), s("accountId"), s("type")];
const ADDENDUM: &[Spec] = &[
    s("reason"),
    s("updatedFields"),
    s("originalRequestID"),
    s("originalEventID"),
];
const TLS_DETAILS: &[Spec] = &[
    s("tlsVersion"),
    s("cipherSuite"),
    s("clientProvidedHostHeader"),
];

/// The `cloudtrail` table, in Athena's column order.
pub const CLOUDTRAIL: &[Spec] = &[
    s("eventVersion"),
    f("userIdentity", Kind::Struct(USER_IDENTITY)),
    f("eventTime", Kind::Time),
    s("eventSource"),
    s("eventName"),
    s("awsRegion"),
    s("sourceIPAddress"),
    s("userAgent"),
    s("errorCode"),
    s("errorMessage"),
    f("requestParameters", Kind::Json),
    f("responseElements", Kind::Json),
    f("additionalEventData", Kind::Json),
    s("requestID"),
    s("eventID"),
    f("resources", Kind::List(RESOURCE)),
    s("eventType"),
    s("apiVersion"),
    f("readOnly", Kind::Bool),
    s("recipientAccountId"),
    f("serviceEventDetails", Kind::Json),
    s("sharedEventID"),
    s("vpcEndpointId"),
    s("vpcEndpointAccountId"),
    s("eventCategory"),
    f("addendum", Kind::Struct(ADDENDUM)),
    s("sessionCredentialFromConsole"),
    f("edgeDeviceDetails", Kind::Json),
    f("tlsDetails", Kind::Struct(TLS_DETAILS)),
    // Not in Athena's DDL, but on every modern event and queried by CloudTrail Lake users.
    f("managementEvent", Kind::Bool),
];

/// The `cloudtrail_insights` table.
pub const INSIGHTS: &[Spec] = &[
    s("eventVersion"),
    f("eventTime", Kind::Time),
    s("awsRegion"),
    s("eventID"),
    s("eventType"),
    s("recipientAccountId"),
    s("sharedEventID"),
    f("insightDetails", Kind::Json),
    s("eventCategory"),
];

/// Column holding, as a JSON object keyed by JSON Pointer, every part of the input record
/// that the typed columns cannot reproduce exactly: unknown fields, explicit nulls, values of
/// an unexpected JSON type, an `eventTime` not in canonical form. Null when there is none.
pub const UNMAPPED: &str = "unmappedfields";
/// Column holding the URI of the source object the row came from.
pub const SOURCE_OBJECT: &str = "sourceobject";
/// Column holding the position (0-based) of the record within its source object.
pub const SOURCE_INDEX: &str = "sourceindex";
/// Hive partition columns, in path order. They live in directory names, not in the files.
pub const PARTITION_COLUMNS: [&str; 2] = ["date", "region"];

/// A table of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    CloudTrail,
    Insights,
}

impl Table {
    pub const ALL: [Table; 2] = [Table::CloudTrail, Table::Insights];

    /// Directory name under the lake root, and SQL table name.
    pub fn name(self) -> &'static str {
        match self {
            Table::CloudTrail => "cloudtrail",
            Table::Insights => "cloudtrail_insights",
        }
    }

    /// The table whose folder is `name`.
    pub fn by_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn specs(self) -> &'static [Spec] {
        match self {
            Table::CloudTrail => CLOUDTRAIL,
            Table::Insights => INSIGHTS,
        }
    }

    /// The schema of the Parquet files (without the partition columns).
    pub fn schema(self) -> SchemaRef {
        static CT: OnceLock<SchemaRef> = OnceLock::new();
        static INS: OnceLock<SchemaRef> = OnceLock::new();
        let cell = match self {
            Table::CloudTrail => &CT,
            Table::Insights => &INS,
        };
        cell.get_or_init(|| {
            let mut fields: Vec<Field> = self.specs().iter().map(spec_field).collect();
            fields.push(Field::new(UNMAPPED, DataType::Utf8, true));
            fields.push(Field::new(SOURCE_OBJECT, DataType::Utf8, false));
            fields.push(Field::new(SOURCE_INDEX, DataType::Int64, false));
            Arc::new(Schema::new(fields))
        })
        .clone()
    }

    /// Index of the `eventtime` column in [`Table::schema`].
    pub fn eventtime_index(self) -> usize {
        column_index(self.specs(), "eventTime")
    }

    /// Index of the `eventid` column in [`Table::schema`].
    pub fn eventid_index(self) -> usize {
        column_index(self.specs(), "eventID")
    }

    /// The columns a partition's rows are sorted by, in [`Table::schema`]: the
    /// [`CLUSTER_KEYS`] first (where the table has them), then time and ID.
    pub fn sort_indices(self) -> Vec<usize> {
        CLUSTER_KEYS
            .iter()
            .chain(&["eventTime", "eventID"])
            .filter_map(|k| self.specs().iter().position(|s| s.key == *k))
            .collect()
    }
}

/// The keys a lake file's rows are sorted by first: the service and the call. Almost every
/// CloudTrail question names one, and rows of one call sit together, so row groups and pages
/// carry narrow min/max ranges for them and similar JSON compresses together.
pub const CLUSTER_KEYS: &[&str] = &["eventSource", "eventName"];

fn column_index(specs: &[Spec], key: &str) -> usize {
    specs
        .iter()
        .position(|s| s.key == key)
        .expect("every table has this column")
}

/// The Athena column name of a JSON key.
pub fn column_name(key: &str) -> String {
    key.to_ascii_lowercase()
}

/// The event time type: microseconds, UTC (what Spark, Trino and DuckDB all read as an
/// instant).
pub fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub fn struct_fields(specs: &[Spec]) -> Fields {
    specs.iter().map(spec_field).collect()
}

fn spec_field(spec: &Spec) -> Field {
    let dt = match spec.kind {
        Kind::Str | Kind::Json | Kind::Bool => DataType::Utf8,
        Kind::Time => time_type(),
        Kind::Struct(children) => DataType::Struct(struct_fields(children)),
        Kind::List(children) => DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(struct_fields(children)),
            true,
        ))),
    };
    // eventtime is never null: a record without one is quarantined, not written.
    let nullable = !matches!(spec.kind, Kind::Time);
    Field::new(column_name(spec.key), dt, nullable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudtrail_schema_uses_athena_names_and_nesting() {
        let schema = Table::CloudTrail.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            &names[..4],
            &["eventversion", "useridentity", "eventtime", "eventsource"]
        );
        assert!(names.contains(&"requestparameters"));
        assert!(names.contains(&"tlsdetails"));
        let DataType::Struct(ui) = schema.field_with_name("useridentity").unwrap().data_type()
        else {
            panic!("useridentity is a struct")
        };
        let DataType::Struct(sc) = ui.find("sessioncontext").unwrap().1.data_type() else {
            panic!("sessioncontext is a struct")
        };
        assert!(sc.find("sessionissuer").is_some());
        assert_eq!(
            schema.field(Table::CloudTrail.eventtime_index()).name(),
            "eventtime"
        );
        assert_eq!(
            schema.field(Table::CloudTrail.eventid_index()).name(),
            "eventid"
        );
        assert_eq!(
            Table::Insights
                .schema()
                .field(Table::Insights.eventid_index())
                .name(),
            "eventid"
        );
    }
}
