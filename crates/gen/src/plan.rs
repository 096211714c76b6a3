//! The `Plan`: every event the run will emit, decided up front as compact records (time,
//! session, action, seed) before any JSON is rendered.
//!
//! Activity is modelled as sessions — a person at the CLI or console, an EC2 instance profile, a
//! Lambda invocation, a CI pipeline, an AWS service — each a burst of calls by one principal
//! with that principal's typical mix of APIs. People work business hours in their account's
//! time zone and mostly on weekdays; machines work around the clock. This clustering is what
//! makes files, sessions and time-window queries look like real CloudTrail.

use crate::GenConfig;
use crate::catalog::{Action, Scope, find};
use crate::identity::{AWS_SERVICES, Actor, Session, Who};
use crate::rng::{Rng, derive};
use crate::world::{RoleKind, World};

/// How a planned event's error is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Force {
    /// Left to the renderer's random error model.
    Random,
    NoError,
    Error(&'static str),
    /// A `ConsoleLogin` that fails authentication.
    LoginFailure,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct EventPlan {
    pub t: i64,
    pub seed: u64,
    pub session: u32,
    pub action: u16,
    pub region: u8,
    pub who: Who,
    pub force: Force,
}

/// One Insights event pair (Start and End sharing a `sharedEventID`) and the burst of calls
/// that caused it.
#[derive(Clone, Debug)]
pub(crate) struct InsightPlan {
    pub account: u16,
    pub region: u8,
    /// Start of the unusual activity, on a minute boundary.
    pub start: i64,
    pub minutes: i64,
    pub action: u16,
    pub error: Option<&'static str>,
    pub session: u32,
    pub count: u64,
    pub seed: u64,
}

#[derive(Debug)]
pub(crate) struct Plan {
    pub sessions: Vec<Session>,
    /// Sorted by time.
    pub events: Vec<EventPlan>,
    pub insights: Vec<InsightPlan>,
}

type Profile = &'static [(&'static str, &'static str, u32)];

/// Read-mostly calls of people at a terminal. Weights are relative.
const HUMAN_CLI: Profile = &[
    ("sts", "GetCallerIdentity", 300),
    ("ec2", "DescribeInstances", 600),
    ("ec2", "DescribeSecurityGroups", 200),
    ("ec2", "DescribeVpcs", 100),
    ("ec2", "DescribeSubnets", 100),
    ("ec2", "DescribeVolumes", 80),
    ("ec2", "DescribeInstanceStatus", 80),
    ("ec2", "DescribeRegions", 60),
    ("ec2", "DescribeImages", 40),
    ("ec2", "DescribeSnapshots", 40),
    ("ec2", "DescribeKeyPairs", 30),
    ("ec2", "DescribeNetworkInterfaces", 30),
    ("s3", "ListBuckets", 200),
    ("s3", "GetBucketLocation", 100),
    ("s3", "ListObjects", 250),
    ("s3", "GetObject", 350),
    ("s3", "PutObject", 120),
    ("s3", "HeadObject", 40),
    ("s3", "GetBucketPolicy", 40),
    ("s3", "GetBucketAcl", 30),
    ("s3", "GetBucketEncryption", 20),
    ("s3", "GetBucketVersioning", 20),
    ("iam", "ListRoles", 80),
    ("iam", "ListUsers", 60),
    ("iam", "GetRole", 60),
    ("iam", "GetUser", 40),
    ("iam", "ListPolicies", 30),
    ("iam", "GetPolicy", 30),
    ("iam", "GetPolicyVersion", 30),
    ("iam", "ListAttachedRolePolicies", 40),
    ("iam", "ListAccessKeys", 30),
    ("iam", "ListMFADevices", 10),
    ("iam", "GetAccountSummary", 10),
    ("lambda", "ListFunctions20150331", 80),
    ("lambda", "GetFunction20150331v2", 50),
    ("lambda", "GetPolicy20150331v2", 10),
    ("lambda", "Invoke", 40),
    ("logs", "DescribeLogGroups", 80),
    ("logs", "DescribeLogStreams", 60),
    ("logs", "FilterLogEvents", 80),
    ("logs", "GetLogEvents", 40),
    ("monitoring", "GetMetricData", 60),
    ("monitoring", "DescribeAlarms", 50),
    ("monitoring", "ListMetrics", 30),
    ("monitoring", "GetMetricStatistics", 40),
    ("rds", "DescribeDBInstances", 60),
    ("rds", "DescribeDBClusters", 30),
    ("rds", "DescribeDBSnapshots", 20),
    ("dynamodb", "DescribeTable", 30),
    ("dynamodb", "ListTables", 30),
    ("ssm", "GetParameter", 60),
    ("ssm", "GetParameters", 20),
    ("ssm", "DescribeInstanceInformation", 20),
    ("ssm", "StartSession", 10),
    ("secretsmanager", "GetSecretValue", 40),
    ("secretsmanager", "ListSecrets", 10),
    ("secretsmanager", "DescribeSecret", 10),
    ("kms", "ListAliases", 20),
    ("kms", "DescribeKey", 20),
    ("kms", "Decrypt", 60),
    ("kms", "Encrypt", 10),
    ("cloudtrail", "DescribeTrails", 10),
    ("cloudtrail", "LookupEvents", 20),
    ("cloudtrail", "GetTrailStatus", 10),
    ("guardduty", "ListDetectors", 10),
    ("guardduty", "ListFindings", 10),
    ("elasticloadbalancing", "DescribeLoadBalancers", 30),
    ("elasticloadbalancing", "DescribeTargetHealth", 20),
    ("autoscaling", "DescribeAutoScalingGroups", 20),
    ("ecr", "GetAuthorizationToken", 40),
    ("cloudformation", "DescribeStacks", 30),
    ("cloudformation", "ListStacks", 10),
    ("sts", "AssumeRole", 60),
    ("sts", "GetSessionToken", 10),
];

/// What the console calls while a person clicks around.
const CONSOLE: Profile = &[
    ("health", "DescribeEventAggregates", 60),
    ("ec2", "DescribeInstances", 300),
    ("ec2", "DescribeInstanceStatus", 100),
    ("ec2", "DescribeSecurityGroups", 120),
    ("ec2", "DescribeVpcs", 60),
    ("ec2", "DescribeSubnets", 60),
    ("ec2", "DescribeVolumes", 60),
    ("ec2", "DescribeKeyPairs", 40),
    ("ec2", "DescribeImages", 30),
    ("ec2", "DescribeNetworkInterfaces", 40),
    ("s3", "ListBuckets", 150),
    ("s3", "GetBucketLocation", 150),
    ("s3", "GetBucketPolicy", 60),
    ("s3", "GetBucketAcl", 60),
    ("s3", "GetBucketVersioning", 50),
    ("s3", "GetBucketEncryption", 50),
    ("s3", "GetBucketPublicAccessBlock", 50),
    ("s3", "ListObjects", 120),
    ("s3", "GetObject", 60),
    ("iam", "ListRoles", 60),
    ("iam", "ListUsers", 60),
    ("iam", "GetAccountSummary", 40),
    ("iam", "ListPolicies", 30),
    ("iam", "GetRole", 40),
    ("iam", "ListAttachedRolePolicies", 40),
    ("iam", "ListMFADevices", 20),
    ("cloudtrail", "LookupEvents", 60),
    ("cloudtrail", "DescribeTrails", 20),
    ("cloudtrail", "GetTrailStatus", 20),
    ("monitoring", "DescribeAlarms", 80),
    ("monitoring", "GetMetricData", 120),
    ("logs", "DescribeLogGroups", 60),
    ("logs", "FilterLogEvents", 60),
    ("logs", "DescribeLogStreams", 40),
    ("lambda", "ListFunctions20150331", 60),
    ("lambda", "GetFunction20150331v2", 40),
    ("rds", "DescribeDBInstances", 60),
    ("rds", "DescribeDBClusters", 30),
    ("dynamodb", "ListTables", 20),
    ("kms", "ListAliases", 20),
    ("secretsmanager", "ListSecrets", 20),
    ("guardduty", "ListDetectors", 10),
    ("guardduty", "GetDetector", 10),
    ("guardduty", "ListFindings", 20),
    ("config", "DescribeConfigRules", 10),
    ("cloudformation", "ListStacks", 20),
    ("organizations", "DescribeOrganization", 10),
    ("route53", "ListHostedZones", 10),
];

/// Changes people make now and then; the risky ones are rare.
const ADMIN_WRITES: Profile = &[
    ("ec2", "StartInstances", 40),
    ("ec2", "StopInstances", 40),
    ("ec2", "CreateTags", 80),
    ("ec2", "RunInstances", 30),
    ("ec2", "TerminateInstances", 20),
    ("ec2", "AuthorizeSecurityGroupIngress", 15),
    ("ec2", "CreateSnapshot", 20),
    ("iam", "CreateUser", 8),
    ("iam", "CreateAccessKey", 10),
    ("iam", "DeleteAccessKey", 10),
    ("iam", "AttachRolePolicy", 10),
    ("iam", "AttachUserPolicy", 6),
    ("iam", "UpdateAssumeRolePolicy", 6),
    ("iam", "CreateRole", 8),
    ("iam", "PutRolePolicy", 8),
    ("iam", "CreateLoginProfile", 4),
    ("s3", "PutBucketPolicy", 6),
    ("s3", "PutBucketAcl", 4),
    ("s3", "PutBucketPublicAccessBlock", 6),
    ("s3", "DeleteBucketPolicy", 2),
    ("s3", "DeleteObject", 40),
    ("kms", "CreateKey", 4),
    ("kms", "ScheduleKeyDeletion", 2),
    ("lambda", "UpdateFunctionCode20150331v2", 30),
    ("logs", "PutRetentionPolicy", 20),
    ("logs", "CreateLogGroup", 10),
    ("monitoring", "PutMetricAlarm", 20),
    ("rds", "CreateDBSnapshot", 8),
    ("rds", "ModifyDBInstance", 5),
    ("ssm", "SendCommand", 15),
    ("cloudtrail", "StopLogging", 1),
];

const EC2_INSTANCE: Profile = &[
    ("ssm", "UpdateInstanceInformation", 250),
    ("s3", "GetObject", 300),
    ("s3", "PutObject", 150),
    ("s3", "ListObjects", 60),
    ("s3", "HeadObject", 30),
    ("kms", "Decrypt", 100),
    ("kms", "GenerateDataKey", 40),
    ("sts", "GetCallerIdentity", 40),
    ("ssm", "GetParameter", 80),
    ("ssm", "GetParameters", 30),
    ("secretsmanager", "GetSecretValue", 40),
    ("ec2", "DescribeInstances", 30),
    ("logs", "CreateLogStream", 20),
    ("ecr", "GetAuthorizationToken", 30),
];

const LAMBDA_FN: Profile = &[
    ("s3", "GetObject", 200),
    ("s3", "PutObject", 150),
    ("kms", "Decrypt", 150),
    ("kms", "GenerateDataKey", 50),
    ("secretsmanager", "GetSecretValue", 100),
    ("ssm", "GetParameter", 100),
    ("logs", "CreateLogStream", 80),
    ("dynamodb", "DescribeTable", 30),
    ("sts", "GetCallerIdentity", 20),
    ("lambda", "Invoke", 50),
];

const TERRAFORM: Profile = &[
    ("sts", "GetCallerIdentity", 100),
    ("s3", "GetObject", 80),
    ("s3", "PutObject", 40),
    ("s3", "ListObjects", 20),
    ("ec2", "DescribeInstances", 100),
    ("ec2", "DescribeSecurityGroups", 150),
    ("ec2", "DescribeVpcs", 100),
    ("ec2", "DescribeSubnets", 100),
    ("ec2", "DescribeImages", 40),
    ("ec2", "DescribeNetworkInterfaces", 40),
    ("ec2", "DescribeVolumes", 40),
    ("iam", "GetRole", 150),
    ("iam", "GetPolicy", 80),
    ("iam", "GetPolicyVersion", 80),
    ("iam", "ListAttachedRolePolicies", 80),
    ("iam", "GetUser", 20),
    ("lambda", "GetFunction20150331v2", 60),
    ("lambda", "GetPolicy20150331v2", 30),
    ("logs", "DescribeLogGroups", 50),
    ("monitoring", "DescribeAlarms", 40),
    ("rds", "DescribeDBInstances", 30),
    ("dynamodb", "DescribeTable", 40),
    ("kms", "DescribeKey", 40),
    ("secretsmanager", "DescribeSecret", 30),
    ("elasticloadbalancing", "DescribeLoadBalancers", 30),
    ("elasticloadbalancing", "DescribeTargetHealth", 10),
    ("ec2", "CreateTags", 30),
    ("ec2", "AuthorizeSecurityGroupIngress", 5),
    ("lambda", "UpdateFunctionCode20150331v2", 20),
    ("iam", "AttachRolePolicy", 5),
    ("iam", "PutRolePolicy", 5),
    ("iam", "CreateRole", 3),
    ("iam", "UpdateAssumeRolePolicy", 3),
    ("s3", "PutBucketPolicy", 3),
    ("s3", "PutBucketPublicAccessBlock", 3),
    ("logs", "PutRetentionPolicy", 5),
    ("monitoring", "PutMetricAlarm", 5),
];

const MONITORING_AGENT: Profile = &[
    ("monitoring", "GetMetricData", 300),
    ("monitoring", "ListMetrics", 100),
    ("monitoring", "GetMetricStatistics", 100),
    ("monitoring", "DescribeAlarms", 50),
    ("ec2", "DescribeInstances", 100),
    ("ec2", "DescribeRegions", 30),
    ("rds", "DescribeDBInstances", 50),
    ("elasticloadbalancing", "DescribeLoadBalancers", 30),
    ("autoscaling", "DescribeAutoScalingGroups", 30),
    ("dynamodb", "ListTables", 20),
    ("lambda", "ListFunctions20150331", 30),
];

const BACKUP_AGENT: Profile = &[
    ("s3", "PutObject", 200),
    ("s3", "ListObjects", 80),
    ("s3", "GetObject", 40),
    ("ec2", "CreateSnapshot", 40),
    ("ec2", "DescribeSnapshots", 60),
    ("ec2", "DescribeVolumes", 60),
    ("rds", "DescribeDBSnapshots", 40),
    ("rds", "CreateDBSnapshot", 10),
    ("kms", "GenerateDataKey", 40),
];

const ETL_JOB: Profile = &[
    ("s3", "GetObject", 300),
    ("s3", "PutObject", 200),
    ("s3", "ListObjects", 100),
    ("s3", "DeleteObject", 20),
    ("kms", "Decrypt", 80),
    ("kms", "GenerateDataKey", 60),
    ("sts", "GetCallerIdentity", 20),
    ("sts", "AssumeRole", 20),
    ("dynamodb", "DescribeTable", 20),
];

const CROSS_ACCOUNT_S3: Profile = &[
    ("s3", "GetObject", 500),
    ("s3", "ListObjects", 200),
    ("s3", "PutObject", 150),
    ("s3", "HeadObject", 100),
    ("s3", "GetBucketLocation", 50),
];

const AUDIT: Profile = &[
    ("iam", "ListUsers", 40),
    ("iam", "ListRoles", 40),
    ("iam", "ListPolicies", 30),
    ("iam", "GetAccountPasswordPolicy", 20),
    ("iam", "ListAccessKeys", 40),
    ("iam", "ListMFADevices", 30),
    ("iam", "GetAccountSummary", 20),
    ("s3", "ListBuckets", 20),
    ("s3", "GetBucketAcl", 40),
    ("s3", "GetBucketPolicy", 40),
    ("s3", "GetBucketEncryption", 40),
    ("s3", "GetBucketVersioning", 40),
    ("s3", "GetBucketPublicAccessBlock", 40),
    ("ec2", "DescribeSecurityGroups", 40),
    ("ec2", "DescribeInstances", 30),
    ("ec2", "DescribeVpcs", 20),
    ("ec2", "DescribeRegions", 20),
    ("ec2", "DescribeSnapshots", 20),
    ("ec2", "DescribeImages", 20),
    ("cloudtrail", "DescribeTrails", 20),
    ("cloudtrail", "GetTrailStatus", 20),
    ("guardduty", "ListDetectors", 20),
    ("guardduty", "GetDetector", 20),
    ("kms", "ListAliases", 20),
    ("kms", "DescribeKey", 20),
    ("lambda", "ListFunctions20150331", 20),
    ("lambda", "GetPolicy20150331v2", 20),
    ("rds", "DescribeDBInstances", 20),
    ("rds", "DescribeDBSnapshots", 20),
    ("logs", "DescribeLogGroups", 20),
    ("monitoring", "DescribeAlarms", 20),
    ("config", "DescribeConfigRules", 20),
    ("organizations", "DescribeOrganization", 10),
    ("secretsmanager", "ListSecrets", 20),
];

const COGNITO_APP: Profile = &[
    ("s3", "PutObject", 400),
    ("s3", "GetObject", 400),
    ("s3", "ListObjects", 50),
    ("lambda", "Invoke", 50),
];

const ROOT: Profile = &[
    ("iam", "GetAccountSummary", 40),
    ("iam", "ListUsers", 30),
    ("iam", "GetAccountPasswordPolicy", 20),
    ("iam", "ListMFADevices", 20),
    ("s3", "ListBuckets", 30),
    ("health", "DescribeEventAggregates", 30),
    ("organizations", "DescribeOrganization", 20),
    ("ec2", "DescribeRegions", 10),
    ("iam", "CreateAccessKey", 3),
];

const FEDERATED: Profile = &[
    ("s3", "GetObject", 500),
    ("s3", "ListObjects", 200),
    ("s3", "PutObject", 100),
    ("sts", "GetCallerIdentity", 50),
];

const CONFIG_RECORDER: Profile = &[
    ("ec2", "DescribeInstances", 40),
    ("ec2", "DescribeSecurityGroups", 40),
    ("ec2", "DescribeVpcs", 20),
    ("ec2", "DescribeSubnets", 20),
    ("ec2", "DescribeVolumes", 20),
    ("ec2", "DescribeNetworkInterfaces", 20),
    ("s3", "GetBucketAcl", 30),
    ("s3", "GetBucketPolicy", 30),
    ("s3", "GetBucketVersioning", 20),
    ("s3", "GetBucketEncryption", 20),
    ("s3", "GetBucketPublicAccessBlock", 20),
    ("s3", "ListBuckets", 10),
    ("iam", "GetRole", 20),
    ("iam", "ListAttachedRolePolicies", 20),
    ("iam", "GetPolicy", 10),
    ("kms", "DescribeKey", 10),
    ("lambda", "GetFunction20150331v2", 10),
    ("lambda", "GetPolicy20150331v2", 10),
    ("rds", "DescribeDBInstances", 10),
    ("cloudtrail", "DescribeTrails", 5),
    ("cloudtrail", "GetTrailStatus", 5),
];

const AUTOSCALING: Profile = &[
    ("ec2", "DescribeInstances", 60),
    ("ec2", "DescribeInstanceStatus", 60),
    ("elasticloadbalancing", "DescribeTargetHealth", 30),
    ("ec2", "CreateTags", 5),
    ("ec2", "RunInstances", 2),
    ("ec2", "TerminateInstances", 2),
];

const ELB: Profile = &[
    ("ec2", "DescribeNetworkInterfaces", 60),
    ("ec2", "DescribeSubnets", 30),
    ("ec2", "DescribeSecurityGroups", 30),
    ("ec2", "DescribeInstances", 20),
];

const TRUSTED_ADVISOR: Profile = &[
    ("ec2", "DescribeRegions", 20),
    ("ec2", "DescribeInstances", 30),
    ("ec2", "DescribeVolumes", 20),
    ("ec2", "DescribeSnapshots", 20),
    ("ec2", "DescribeSecurityGroups", 20),
    ("s3", "ListBuckets", 20),
    ("s3", "GetBucketAcl", 20),
    ("s3", "GetBucketPolicy", 20),
    ("iam", "GetAccountSummary", 10),
    ("iam", "GetAccountPasswordPolicy", 10),
    ("iam", "ListUsers", 10),
    ("cloudtrail", "DescribeTrails", 10),
    ("rds", "DescribeDBInstances", 10),
    ("rds", "DescribeDBSnapshots", 10),
];

const ACCESS_ANALYZER: Profile = &[
    ("s3", "ListBuckets", 10),
    ("s3", "GetBucketPolicy", 30),
    ("s3", "GetBucketAcl", 20),
    ("s3", "GetBucketPublicAccessBlock", 20),
    ("iam", "ListRoles", 10),
    ("iam", "GetRole", 30),
    ("kms", "ListAliases", 10),
    ("kms", "DescribeKey", 20),
    ("lambda", "GetPolicy20150331v2", 20),
    ("secretsmanager", "ListSecrets", 10),
    ("secretsmanager", "DescribeSecret", 10),
];

/// The attack chain of a leaked access key: recon, persistence, defence evasion, exposure,
/// destruction, collection. `true` marks steps that tend to be denied.
const INCIDENT: &[(&str, &str, bool)] = &[
    ("sts", "GetCallerIdentity", false),
    ("s3", "ListBuckets", false),
    ("iam", "ListUsers", false),
    ("iam", "ListRoles", true),
    ("iam", "GetAccountSummary", true),
    ("ec2", "DescribeRegions", false),
    ("ec2", "DescribeInstances", false),
    ("secretsmanager", "ListSecrets", true),
    ("iam", "CreateUser", false),
    ("iam", "CreateAccessKey", false),
    ("iam", "AttachUserPolicy", false),
    ("iam", "CreateLoginProfile", false),
    ("cloudtrail", "StopLogging", false),
    ("guardduty", "ListDetectors", false),
    ("guardduty", "DeleteDetector", true),
    ("ec2", "AuthorizeSecurityGroupIngress", false),
    ("ec2", "RunInstances", true),
    ("ec2", "RunInstances", false),
    ("s3", "ListObjects", false),
    ("s3", "GetObject", false),
    ("s3", "GetObject", false),
    ("s3", "GetObject", false),
    ("s3", "PutBucketPolicy", false),
    ("s3", "PutBucketAcl", true),
    ("kms", "ScheduleKeyDeletion", false),
    ("secretsmanager", "GetSecretValue", true),
];

/// Calls whose rate spikes produce Insights events: (service, name, error code).
const INSIGHT_CANDIDATES: &[(&str, &str, Option<&str>)] = &[
    ("ssm", "UpdateInstanceInformation", None),
    ("ec2", "CreateTags", None),
    ("logs", "CreateLogStream", None),
    ("ec2", "CreateSnapshot", None),
    (
        "ec2",
        "DescribeInstances",
        Some("Client.UnauthorizedOperation"),
    ),
    ("iam", "ListRoles", Some("AccessDenied")),
    ("kms", "Decrypt", Some("AccessDenied")),
    ("sts", "AssumeRole", Some("AccessDenied")),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SessionKind {
    Ec2,
    Lambda,
    AwsService,
    ServiceLinked,
    UserCli,
    UserConsole,
    Sso,
    GithubCi,
    Saml,
    Federated,
    CrossAccountS3,
    Audit,
    Cognito,
    Root,
}

/// (kind, weight in sessions, mean calls per session)
const KINDS: [(SessionKind, u32, f64); 14] = [
    (SessionKind::Ec2, 220, 10.0),
    (SessionKind::Lambda, 140, 6.0),
    (SessionKind::AwsService, 160, 2.0),
    (SessionKind::ServiceLinked, 80, 6.0),
    (SessionKind::UserCli, 120, 12.0),
    (SessionKind::UserConsole, 60, 20.0),
    (SessionKind::Sso, 70, 15.0),
    (SessionKind::GithubCi, 40, 35.0),
    (SessionKind::Saml, 20, 15.0),
    (SessionKind::Federated, 10, 8.0),
    (SessionKind::CrossAccountS3, 30, 10.0),
    (SessionKind::Audit, 15, 30.0),
    (SessionKind::Cognito, 30, 4.0),
    (SessionKind::Root, 3, 6.0),
];

struct Planner<'a> {
    world: &'a World,
    actions: &'a [Action],
    rng: Rng,
    horizon: i64,
    remaining: u64,
    sessions: Vec<Session>,
    events: Vec<EventPlan>,
    /// Day of week of the first day, 0 = Monday.
    day0_weekday: i64,
    profiles: Profiles,
}

fn resolve(actions: &[Action], profile: Profile) -> Vec<(u16, u32)> {
    profile
        .iter()
        .map(|&(p, n, w)| {
            let idx = find(actions, p, n).unwrap_or_else(|| panic!("unknown action {p}:{n}"));
            (idx, w)
        })
        .collect()
}

/// Profiles resolved to action indices once per run.
struct Profiles {
    human_cli: Vec<(u16, u32)>,
    console: Vec<(u16, u32)>,
    admin: Vec<(u16, u32)>,
    ec2: Vec<(u16, u32)>,
    lambda: Vec<(u16, u32)>,
    terraform: Vec<(u16, u32)>,
    monitoring: Vec<(u16, u32)>,
    backup: Vec<(u16, u32)>,
    etl: Vec<(u16, u32)>,
    cross_s3: Vec<(u16, u32)>,
    audit: Vec<(u16, u32)>,
    cognito: Vec<(u16, u32)>,
    root: Vec<(u16, u32)>,
    federated: Vec<(u16, u32)>,
    config: Vec<(u16, u32)>,
    autoscaling: Vec<(u16, u32)>,
    elb: Vec<(u16, u32)>,
    trusted_advisor: Vec<(u16, u32)>,
    access_analyzer: Vec<(u16, u32)>,
}

impl Profiles {
    fn new(a: &[Action]) -> Self {
        Profiles {
            human_cli: resolve(a, HUMAN_CLI),
            console: resolve(a, CONSOLE),
            admin: resolve(a, ADMIN_WRITES),
            ec2: resolve(a, EC2_INSTANCE),
            lambda: resolve(a, LAMBDA_FN),
            terraform: resolve(a, TERRAFORM),
            monitoring: resolve(a, MONITORING_AGENT),
            backup: resolve(a, BACKUP_AGENT),
            etl: resolve(a, ETL_JOB),
            cross_s3: resolve(a, CROSS_ACCOUNT_S3),
            audit: resolve(a, AUDIT),
            cognito: resolve(a, COGNITO_APP),
            root: resolve(a, ROOT),
            federated: resolve(a, FEDERATED),
            config: resolve(a, CONFIG_RECORDER),
            autoscaling: resolve(a, AUTOSCALING),
            elb: resolve(a, ELB),
            trusted_advisor: resolve(a, TRUSTED_ADVISOR),
            access_analyzer: resolve(a, ACCESS_ANALYZER),
        }
    }
}

/// Picks from a profile without allocating: profiles are short, a linear scan is fine.
fn pick(rng: &mut Rng, profile: &[(u16, u32)]) -> u16 {
    let total: u64 = profile.iter().map(|p| p.1 as u64).sum();
    let mut x = rng.below(total);
    for &(a, w) in profile {
        if x < w as u64 {
            return a;
        }
        x -= w as u64;
    }
    profile[profile.len() - 1].0
}

impl<'a> Planner<'a> {
    fn act(&self, p: &str, n: &str) -> u16 {
        find(self.actions, p, n).unwrap_or_else(|| panic!("unknown action {p}:{n}"))
    }

    /// The region an action's event is logged in, given the session's region.
    fn region_for(&self, action: u16, session_region: u8) -> u8 {
        match self.actions[action as usize].scope {
            Scope::Regional => session_region,
            Scope::Global => self.world.global_region as u8,
            Scope::Home => 0,
        }
    }

    fn push_session(&mut self, s: Session) -> u32 {
        self.sessions.push(s);
        (self.sessions.len() - 1) as u32
    }

    /// Adds one event if the budget and the time window allow; returns false when the
    /// session must stop.
    fn emit(&mut self, sid: u32, t: i64, action: u16, who: Who, force: Force) -> bool {
        if self.remaining == 0 || t >= self.horizon || t < 0 {
            return false;
        }
        let s = self.sessions[sid as usize];
        let seed = self.rng.next_u64();
        self.events.push(EventPlan {
            t,
            seed,
            session: sid,
            action,
            region: self.region_for(action, s.region),
            who,
            force,
        });
        self.remaining -= 1;
        true
    }

    fn region(&mut self) -> u8 {
        // The first configured region is the main one; the others see less traffic.
        let n = self.world.regions.len();
        let weights: Vec<u32> = (0..n)
            .map(|i| if i == 0 { 6 } else { (4 - i.min(3)) as u32 })
            .collect();
        self.rng.weighted(&weights) as u8
    }

    fn account(&mut self) -> u16 {
        let n = self.world.accounts.len();
        let weights: Vec<u32> = (0..n).map(|i| 100 / (i as u32 + 1) + 20).collect();
        self.rng.weighted(&weights) as u16
    }

    /// A start time during someone's working day in the account's time zone.
    fn office_time(&mut self, tz: i64, wide: bool) -> i64 {
        let days = self.horizon / 86_400;
        for _ in 0..8 {
            let d = self.rng.range(0, days.max(1));
            let weekend = (d + self.day0_weekday).rem_euclid(7) >= 5;
            if weekend && self.rng.chance(0.8) {
                continue;
            }
            let local_h = if wide {
                6.0 + self.rng.f64() * 16.0
            } else {
                8.0 + (self.rng.f64() + self.rng.f64()) * 5.0
            };
            let t = d * 86_400 + ((local_h - tz as f64) * 3600.0) as i64;
            if (0..self.horizon).contains(&t) {
                return t;
            }
        }
        self.rng.range(0, self.horizon)
    }

    fn length(&mut self, mean: f64) -> u64 {
        (1.0 + self.rng.exp(mean - 1.0)).min(mean * 5.0) as u64
    }

    fn gap(&mut self, mean: f64) -> i64 {
        (self.rng.exp(mean) as i64).clamp(0, 600)
    }
}

type Select = fn(&Profiles) -> &Vec<(u16, u32)>;

impl Planner<'_> {
    fn session(&mut self, account: u16, region: u8, actor: Actor, start: i64) -> u32 {
        let seed = self.rng.next_u64();
        self.push_session(Session {
            account,
            region,
            actor,
            seed,
            start,
        })
    }

    /// `n` calls of the main principal drawn from a profile, `admin` of them (as a
    /// probability) from the admin-writes profile. Returns the time after the last call.
    fn run(&mut self, sid: u32, mut t: i64, n: u64, sel: Select, gap: f64, admin: f64) -> i64 {
        for _ in 0..n {
            let action = if admin > 0.0 && self.rng.chance(admin) {
                pick(&mut self.rng, &self.profiles.admin)
            } else {
                pick(&mut self.rng, sel(&self.profiles))
            };
            if !self.emit(sid, t, action, Who::Main, Force::Random) {
                break;
            }
            t += 1 + self.gap(gap);
        }
        t
    }

    /// Emits a fixed call and advances time; returns None when the session cannot go on.
    fn step(
        &mut self,
        sid: u32,
        t: i64,
        p: &str,
        n: &str,
        who: Who,
        force: Force,
        gap: f64,
    ) -> Option<i64> {
        let a = self.act(p, n);
        if self.emit(sid, t, a, who, force) {
            Some(t + 1 + self.gap(gap))
        } else {
            None
        }
    }

    fn gen_session(&mut self, kind: SessionKind, mean: f64) {
        let world = self.world;
        let account = self.account();
        let acct = &world.accounts[account as usize];
        let region = self.region();
        let n = self.length(mean);
        let horizon = self.horizon;
        match kind {
            SessionKind::Ec2 => {
                let instances = acct.regional[region as usize].instances.len();
                let instance = self.rng.index(instances) as u16;
                let start = self.rng.range(0, horizon);
                let sid = self.session(account, region, Actor::Ec2 { instance }, start);
                self.run(sid, start, n, |p| &p.ec2, 6.0, 0.0);
            }
            SessionKind::Lambda => {
                let function = self.rng.index(acct.functions.len()) as u16;
                let region = acct.functions[function as usize].region as u8;
                let start = self.rng.range(0, horizon);
                let sid = self.session(account, region, Actor::Lambda { function }, start);
                let mut t = start;
                // Lambda caches role credentials; only cold starts assume the role.
                if self.rng.chance(0.35) {
                    match self.step(
                        sid,
                        t,
                        "sts",
                        "AssumeRole",
                        Who::Issuer,
                        Force::NoError,
                        0.5,
                    ) {
                        Some(next) => t = next,
                        None => return,
                    }
                }
                self.run(sid, t, n, |p| &p.lambda, 0.8, 0.0);
            }
            SessionKind::AwsService => {
                let svc = self.rng.weighted(&[30, 15, 15, 15, 10, 20, 1]) as u8;
                let (p, name) = match AWS_SERVICES[svc as usize] {
                    "lambda.amazonaws.com" | "ecs-tasks.amazonaws.com" => ("sts", "AssumeRole"),
                    "cloudtrail.amazonaws.com" => ("kms", "GenerateDataKey"),
                    "AWS Internal" => ("kms", "RotateKey"),
                    _ => ("lambda", "Invoke"),
                };
                let n = if name == "RotateKey" { 1 } else { n.min(4) };
                let start = self.rng.range(0, horizon);
                let sid = self.session(account, region, Actor::AwsService { svc }, start);
                let mut t = start;
                for _ in 0..n {
                    match self.step(sid, t, p, name, Who::Main, Force::Random, 40.0) {
                        Some(next) => t = next,
                        None => break,
                    }
                }
            }
            SessionKind::ServiceLinked => {
                let roles = acct.service_linked();
                let role = *self.rng.pick(&roles) as u16;
                let sel: Select = match acct.roles[role as usize].kind {
                    RoleKind::ServiceLinked("config.amazonaws.com") => |p| &p.config,
                    RoleKind::ServiceLinked("autoscaling.amazonaws.com") => |p| &p.autoscaling,
                    RoleKind::ServiceLinked("elasticloadbalancing.amazonaws.com") => |p| &p.elb,
                    RoleKind::ServiceLinked("trustedadvisor.amazonaws.com") => {
                        |p| &p.trusted_advisor
                    }
                    _ => |p| &p.access_analyzer,
                };
                let start = self.rng.range(0, horizon);
                let sid = self.session(account, region, Actor::ServiceLinked { role }, start);
                self.run(sid, start, n, sel, 1.5, 0.0);
            }
            SessionKind::UserCli => {
                let humans = acct.humans();
                let machines = acct.machines();
                let human = machines.is_empty() || self.rng.chance(0.65);
                let user = if human {
                    *self.rng.pick(&humans)
                } else {
                    *self.rng.pick(&machines)
                } as u16;
                if human {
                    let start = self.office_time(acct.tz, false);
                    let sid = self.session(account, region, Actor::UserCli { user }, start);
                    let mut t = start;
                    if self.rng.chance(0.3) {
                        match self.step(
                            sid,
                            t,
                            "sts",
                            "GetCallerIdentity",
                            Who::Main,
                            Force::Random,
                            5.0,
                        ) {
                            Some(next) => t = next,
                            None => return,
                        }
                    }
                    self.run(sid, t, n, |p| &p.human_cli, 25.0, 0.04);
                } else {
                    // Service users run from cron: a few seconds past a round minute.
                    let d = self.rng.range(0, (horizon / 86_400).max(1));
                    let start = d * 86_400
                        + self.rng.range(0, 24) * 3600
                        + self.rng.pick(&[0i64, 0, 15, 30, 45]) * 60
                        + self.rng.range(0, 20);
                    let sid = self.session(account, region, Actor::UserCli { user }, start);
                    let sel: Select = match acct.users[user as usize].name.as_str() {
                        "ci-deploy" => |p| &p.terraform,
                        "grafana-readonly" | "datadog-integration" => |p| &p.monitoring,
                        "backup-agent" => |p| &p.backup,
                        _ => |p| &p.etl,
                    };
                    self.run(sid, start, n, sel, 2.0, 0.0);
                }
            }
            SessionKind::UserConsole => {
                let humans = acct.humans();
                let user = *self.rng.pick(&humans) as u16;
                let start = self.office_time(acct.tz, false);
                let sid = self.session(account, region, Actor::UserConsole { user }, start);
                let mut t = start;
                if self.rng.chance(0.06) {
                    for _ in 0..self.rng.range(1, 4) {
                        match self.step(
                            sid,
                            t,
                            "signin",
                            "ConsoleLogin",
                            Who::Login,
                            Force::LoginFailure,
                            15.0,
                        ) {
                            Some(next) => t = next,
                            None => return,
                        }
                    }
                }
                let Some(t) = self.step(
                    sid,
                    t,
                    "signin",
                    "ConsoleLogin",
                    Who::Login,
                    Force::NoError,
                    10.0,
                ) else {
                    return;
                };
                self.run(sid, t, n, |p| &p.console, 20.0, 0.03);
            }
            SessionKind::Sso => {
                let user = self.rng.index(acct.sso_users.len()) as u16;
                let roles: Vec<usize> = acct.roles_of(RoleKind::Sso).collect();
                let role = roles[self.rng.weighted(&[40, 40, 20][..roles.len().min(3)])] as u16;
                let console = self.rng.chance(0.6);
                let start = self.office_time(acct.tz, false);
                let sid = self.session(
                    account,
                    region,
                    Actor::Sso {
                        user,
                        role,
                        console,
                    },
                    start,
                );
                let mut t = start;
                let calls: &[&str] = if console {
                    &["ListAccounts", "ListAccountRoles", "Federate"]
                } else {
                    &["ListAccountRoles", "GetRoleCredentials"]
                };
                for name in calls {
                    match self.step(sid, t, "sso", name, Who::Issuer, Force::NoError, 3.0) {
                        Some(next) => t = next,
                        None => return,
                    }
                }
                if console {
                    self.run(sid, t, n, |p| &p.console, 20.0, 0.02);
                } else {
                    self.run(sid, t, n, |p| &p.human_cli, 15.0, 0.02);
                }
            }
            SessionKind::GithubCi => {
                let repo = self.rng.index(acct.repos.len()) as u16;
                let start = self.office_time(acct.tz, true);
                let sid = self.session(account, region, Actor::GithubCi { repo }, start);
                let Some(t) = self.step(
                    sid,
                    start,
                    "sts",
                    "AssumeRoleWithWebIdentity",
                    Who::Issuer,
                    Force::NoError,
                    2.0,
                ) else {
                    return;
                };
                self.run(sid, t, n, |p| &p.terraform, 0.7, 0.0);
            }
            SessionKind::Saml => {
                let roles: Vec<usize> = acct.roles_of(RoleKind::Saml).collect();
                let role = *self.rng.pick(&roles) as u16;
                let user = self.rng.below(16) as u16;
                let start = self.office_time(acct.tz, false);
                let sid = self.session(account, region, Actor::Saml { role, user }, start);
                let Some(t) = self.step(
                    sid,
                    start,
                    "sts",
                    "AssumeRoleWithSAML",
                    Who::Issuer,
                    Force::NoError,
                    2.0,
                ) else {
                    return;
                };
                let Some(t) = self.step(
                    sid,
                    t,
                    "signin",
                    "ConsoleLogin",
                    Who::Login,
                    Force::NoError,
                    8.0,
                ) else {
                    return;
                };
                self.run(sid, t, n, |p| &p.console, 20.0, 0.0);
            }
            SessionKind::Federated => {
                let machines = acct.machines();
                let user = if machines.is_empty() {
                    0
                } else {
                    *self.rng.pick(&machines) as u16
                };
                let start = self.rng.range(0, horizon);
                let sid = self.session(account, region, Actor::Federated { user }, start);
                let Some(t) = self.step(
                    sid,
                    start,
                    "sts",
                    "GetFederationToken",
                    Who::Issuer,
                    Force::NoError,
                    3.0,
                ) else {
                    return;
                };
                self.run(sid, t, n, |p| &p.federated, 4.0, 0.0);
            }
            SessionKind::CrossAccountS3 => {
                let ext = self.rng.index(world.external.len()) as u16;
                let start = self.rng.range(0, horizon);
                let sid = self.session(account, region, Actor::CrossAccountS3 { ext }, start);
                self.run(sid, start, n, |p| &p.cross_s3, 2.0, 0.0);
            }
            SessionKind::Audit => {
                // A nightly security scan from the audit account.
                let d = self.rng.range(0, (horizon / 86_400).max(1));
                let start = d * 86_400 + self.rng.range(2 * 3600, 4 * 3600);
                let sid = self.session(account, region, Actor::Audit { ext: 0 }, start);
                let Some(t) = self.step(
                    sid,
                    start,
                    "sts",
                    "AssumeRole",
                    Who::Issuer,
                    Force::NoError,
                    1.0,
                ) else {
                    return;
                };
                self.run(sid, t, n, |p| &p.audit, 1.0, 0.0);
            }
            SessionKind::Cognito => {
                let start = self.office_time(acct.tz, true);
                let sid = self.session(account, region, Actor::Cognito, start);
                let Some(t) = self.step(
                    sid,
                    start,
                    "sts",
                    "AssumeRoleWithWebIdentity",
                    Who::Issuer,
                    Force::NoError,
                    2.0,
                ) else {
                    return;
                };
                self.run(sid, t, n, |p| &p.cognito, 8.0, 0.0);
            }
            SessionKind::Root => {
                let start = self.office_time(acct.tz, false);
                let sid = self.session(account, region, Actor::Root, start);
                let Some(t) = self.step(
                    sid,
                    start,
                    "signin",
                    "ConsoleLogin",
                    Who::Login,
                    Force::NoError,
                    10.0,
                ) else {
                    return;
                };
                self.run(sid, t, n, |p| &p.root, 30.0, 0.0);
            }
        }
    }

    /// A leaked access key being abused, from failed console guesses to data theft.
    fn incident(&mut self) {
        let world = self.world;
        let account = self.account();
        let acct = &world.accounts[account as usize];
        let region = self.region();
        let users: Vec<usize> = (0..acct.users.len()).collect();
        let user = *self.rng.pick(&users) as u16;
        let start = self.rng.range(0, self.horizon);
        let sid = self.session(account, region, Actor::Incident { user }, start);
        let mut t = start;
        for _ in 0..self.rng.range(2, 6) {
            match self.step(
                sid,
                t,
                "signin",
                "ConsoleLogin",
                Who::Login,
                Force::LoginFailure,
                4.0,
            ) {
                Some(next) => t = next,
                None => return,
            }
        }
        t += self.rng.range(60, 1800);
        for &(p, n, deny) in INCIDENT {
            let force = if deny && self.rng.chance(0.6) {
                Force::Error(if p == "ec2" {
                    "Client.UnauthorizedOperation"
                } else {
                    "AccessDenied"
                })
            } else {
                Force::NoError
            };
            match self.step(sid, t, p, n, Who::Main, force, 25.0) {
                Some(next) => t = next,
                None => return,
            }
        }
    }

    /// Plans `n` Insights pairs and the call bursts behind them.
    fn insights(&mut self, n: usize, total: u64) -> Vec<InsightPlan> {
        let world = self.world;
        let mut out = Vec::new();
        let per = (total / (40 * n as u64)).clamp(3, 200);
        for _ in 0..n {
            if self.remaining < per {
                break;
            }
            let (p, name, error) = *self.rng.pick(INSIGHT_CANDIDATES);
            let action = self.act(p, name);
            let account = self.account();
            let acct = &world.accounts[account as usize];
            let r = self.region();
            let region = self.region_for(action, r);
            let minutes = self.rng.range(3, 40);
            let latest = self.horizon - 3600 - minutes * 60;
            if latest <= 3600 {
                break;
            }
            let start = self.rng.range(3600, latest) / 60 * 60;
            let actor = match (p, name) {
                ("ssm", _) => Actor::Ec2 {
                    instance: self
                        .rng
                        .index(acct.regional[region as usize].instances.len())
                        as u16,
                },
                ("logs", _) | ("kms", _) => Actor::Lambda {
                    function: self.rng.index(acct.functions.len()) as u16,
                },
                _ => {
                    let machines = acct.machines();
                    let user = machines.first().copied().unwrap_or(0) as u16;
                    Actor::UserCli { user }
                }
            };
            let sid = self.session(account, region, actor, start);
            let force = error.map_or(Force::NoError, Force::Error);
            let mut count = 0;
            for _ in 0..per {
                let t = start + self.rng.range(0, minutes * 60);
                if self.emit(sid, t, action, Who::Main, force) {
                    count += 1;
                }
            }
            let seed = self.rng.next_u64();
            out.push(InsightPlan {
                account,
                region,
                start,
                minutes,
                action,
                error,
                session: sid,
                count,
                seed,
            });
        }
        out
    }
}

/// Decides every event of the run.
pub(crate) fn plan(cfg: &GenConfig, world: &World, actions: &[Action], day0_weekday: i64) -> Plan {
    let horizon = cfg.days.max(1) as i64 * 86_400;
    let mut p = Planner {
        world,
        actions,
        rng: Rng::new(derive(cfg.seed, &[0x91A4])),
        horizon,
        remaining: cfg.events,
        sessions: Vec::new(),
        events: Vec::with_capacity(cfg.events as usize),
        day0_weekday,
        profiles: Profiles::new(actions),
    };
    let insights = if cfg.insights && cfg.events >= 50 && horizon >= 6 * 3600 {
        let cells = world.accounts.len() * world.regions.len() * cfg.days.max(1) as usize;
        let n = (cells / 4).clamp(1, 40).min((cfg.events / 50) as usize);
        p.insights(n, cfg.events)
    } else {
        Vec::new()
    };
    if cfg.events >= 150 {
        for _ in 0..1 + cfg.events / 250_000 {
            p.incident();
        }
    }
    if cfg.events >= 150 {
        // One short session of every kind first, so that even a small run shows every
        // identity type and sign-in flavour.
        for &(kind, _, mean) in &KINDS {
            p.gen_session(kind, mean.min(4.0));
        }
    }
    let weights: Vec<u32> = KINDS.iter().map(|k| k.1).collect();
    while p.remaining > 0 {
        let (kind, _, mean) = KINDS[p.rng.weighted(&weights)];
        p.gen_session(kind, mean);
    }
    let mut events = p.events;
    events.sort_by_key(|e| (e.t, e.seed));
    Plan {
        sessions: p.sessions,
        events,
        insights,
    }
}
