//! The catalog of API `Action`s the generator can emit, each with the service-specific shape of
//! its `requestParameters`, `responseElements`, `resources` and `additionalEventData`.
//!
//! Shapes follow what CloudTrail really records (field names, nulls, empty objects, Java-style
//! dates, string-encoded policy documents), so that queries written against the samples work on
//! real logs too.

use crate::clock::Clock;
use crate::identity::{Actor, SessInfo, Who};
use crate::json::{J, arr, obj};
use crate::rng::Rng;
use crate::world::{Account, Bucket, BucketKind, Instance, Regional, RoleKind, World};

/// Which region an action's events are logged in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The region the caller works in.
    Regional,
    /// Global services (IAM, sign-in, Organizations, Route 53) log in us-east-1.
    Global,
    /// Identity Center logs in its home region, the first configured one.
    Home,
}

/// The `eventType` / `eventCategory` family of an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Api,
    Data,
    SignIn,
    ServiceEvent,
}

/// What a builder returns; the renderer adds the common fields around it.
pub(crate) struct Body<'w> {
    pub req: J<'w>,
    pub resp: J<'w>,
    pub resources: Option<J<'w>>,
    pub additional: Option<J<'w>>,
    pub service_details: Option<J<'w>>,
    /// S3 `bytesTransferredIn` / `bytesTransferredOut`.
    pub bytes: (i64, i64),
    /// A service calling on the principal's behalf (KMS via S3, ...).
    pub invoked_by: Option<&'static str>,
    pub shared_event_id: bool,
    /// The TLS host header when it is not `<service>.<region>.amazonaws.com`.
    pub host: Option<String>,
    /// The resource an AccessDenied message names.
    pub denied_on: Option<String>,
}

impl<'w> Body<'w> {
    pub(crate) fn new(req: J<'w>, resp: J<'w>) -> Self {
        Body {
            req,
            resp,
            resources: None,
            additional: None,
            service_details: None,
            bytes: (0, 0),
            invoked_by: None,
            shared_event_id: false,
            host: None,
            denied_on: None,
        }
    }

    fn null() -> Self {
        Body::new(J::Null, J::Null)
    }

    fn req(req: J<'w>) -> Self {
        Body::new(req, J::Null)
    }

    fn res(mut self, r: Vec<J<'w>>) -> Self {
        self.resources = Some(J::Arr(r));
        self
    }

    fn denied(mut self, on: String) -> Self {
        self.denied_on = Some(on);
        self
    }
}

/// What a builder can see: the world, the session and the event's own random stream.
pub(crate) struct Ctx<'w, 's> {
    pub rng: Rng,
    pub clock: &'w Clock,
    pub world: &'w World,
    pub acct: &'w Account,
    pub ri: usize,
    pub region: &'w str,
    pub t: i64,
    pub s: &'s SessInfo<'w>,
    pub who: Who,
}

impl<'w> Ctx<'w, '_> {
    fn reg(&self) -> &'w Regional {
        &self.acct.regional[self.ri]
    }

    fn uuid(&mut self) -> String {
        self.rng.uuid()
    }

    fn instance(&mut self) -> &'w Instance {
        if let Some(i) = self.s.instance
            && self.s.region == self.ri
            && self.rng.chance(0.7)
        {
            return i;
        }
        let reg = self.reg();
        &reg.instances[self.rng.index(reg.instances.len())]
    }

    fn bucket(&mut self) -> &'w Bucket {
        let acct = self.acct;
        acct.bucket_in(&mut self.rng, self.ri)
    }

    fn kms_key(&mut self) -> &'w str {
        let reg = self.reg();
        &reg.kms_keys[self.rng.index(reg.kms_keys.len())]
    }

    fn kms_arn(&mut self) -> String {
        let k = self.kms_key();
        format!("arn:aws:kms:{}:{}:key/{}", self.region, self.acct.id, k)
    }

    fn res(&self, arn: impl Into<J<'w>>, ty: &'static str) -> J<'w> {
        obj! { "accountId" => &self.acct.id, "type" => ty, "ARN" => arn }
    }

    fn sg(&mut self) -> &'w str {
        let reg = self.reg();
        &reg.sgs[self.rng.index(reg.sgs.len())].0
    }

    fn function(&mut self) -> &'w crate::world::Function {
        if let Some(f) = self.s.function {
            return f;
        }
        let fns = &self.acct.functions;
        let local: Vec<&crate::world::Function> =
            fns.iter().filter(|f| f.region == self.ri).collect();
        if local.is_empty() {
            &fns[self.rng.index(fns.len())]
        } else {
            local[self.rng.index(local.len())]
        }
    }

    fn fn_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region, self.acct.id, name
        )
    }

    fn user_name(&mut self) -> &'w str {
        let users = &self.acct.users;
        &users[self.rng.index(users.len())].name
    }

    fn role_name(&mut self) -> &'w str {
        let roles = &self.acct.roles;
        &roles[self.rng.index(roles.len())].name
    }

    fn log_group(&mut self) -> String {
        match self.rng.below(4) {
            0 | 1 => format!("/aws/lambda/{}", self.function().name),
            2 => "/ecs/web-app".to_string(),
            _ => format!("/aws/rds/instance/{}/postgresql", self.acct.db_instances[0]),
        }
    }

    fn creds(&mut self, key: String, secs: i64) -> J<'w> {
        obj! {
            "accessKeyId" => key,
            "sessionToken" => format!("IQoJb3JpZ2luX2VjE{}", self.rng.base64(220)),
            "expiration" => self.clock.java(self.t + secs, true),
        }
    }

    fn date_path(&self) -> String {
        let c = self.clock.civil(self.t);
        format!("year={}/month={:02}/day={:02}", c.y, c.mo, c.d)
    }

    /// An object key that fits the bucket's purpose, and a plausible size for it.
    fn object(&mut self, b: &Bucket) -> (String, i64) {
        let c = self.clock.civil(self.t);
        let r = &mut self.rng;
        match b.kind {
            BucketKind::Assets => match r.below(3) {
                0 => (
                    format!("static/js/app.{}.js", r.hex(8)),
                    r.range(20_000, 600_000),
                ),
                1 => (
                    format!("images/products/{}.jpg", r.range(1000, 99_999)),
                    r.range(30_000, 900_000),
                ),
                _ => (
                    format!("static/css/main.{}.css", r.hex(8)),
                    r.range(5_000, 90_000),
                ),
            },
            BucketKind::DataLake => {
                let table = *r.pick(&["orders", "customers", "clickstream", "payments"]);
                let part = r.range(0, 64);
                let id = r.uuid();
                (
                    format!(
                        "raw/{table}/{}/part-{part:05}-{id}.c000.snappy.parquet",
                        self.date_path()
                    ),
                    self.rng.range(1_000_000, 128_000_000),
                )
            }
            BucketKind::Backups => {
                let db = &self.acct.db_instances[0];
                (
                    format!(
                        "rds/{db}/{:04}-{:02}-{:02}/{db}-{:04}{:02}{:02}-0300.dump.gz",
                        c.y, c.mo, c.d, c.y, c.mo, c.d
                    ),
                    r.range(50_000_000, 2_000_000_000),
                )
            }
            BucketKind::Logs => (
                format!(
                    "AWSLogs/{}/elasticloadbalancing/{}/{:04}/{:02}/{:02}/{}_elasticloadbalancing_{}_app.web-alb.{}_{}_{}.log.gz",
                    self.acct.id,
                    self.region,
                    c.y,
                    c.mo,
                    c.d,
                    self.acct.id,
                    self.region,
                    r.hex(16),
                    self.clock.file_minute(self.t),
                    r.alnum(8).to_lowercase()
                ),
                self.rng.range(10_000, 500_000),
            ),
            BucketKind::TfState => (
                format!(
                    "env/{}/{}/terraform.tfstate",
                    self.acct.env,
                    r.pick(&["network", "compute", "data", "iam", "dns"])
                ),
                r.range(20_000, 300_000),
            ),
            BucketKind::Uploads => (
                format!(
                    "uploads/{}/{}",
                    r.uuid(),
                    r.pick(&["invoice.pdf", "avatar.png", "report.xlsx", "photo.jpg"])
                ),
                r.range(50_000, 5_000_000),
            ),
        }
    }
}

pub(crate) type Build = for<'w, 's> fn(&mut Ctx<'w, 's>) -> Body<'w>;

pub(crate) struct Action {
    /// `eventSource`, e.g. `ec2.amazonaws.com`.
    pub source: &'static str,
    /// The IAM service prefix used in authorization messages.
    pub prefix: &'static str,
    pub name: &'static str,
    pub read_only: bool,
    pub kind: Kind,
    pub scope: Scope,
    pub version: &'static str,
    /// A service-specific failure (code, message) and how often it happens.
    pub miss: Option<(&'static str, &'static str, f64)>,
    pub build: Build,
}

impl Action {
    fn new(
        source: &'static str,
        prefix: &'static str,
        name: &'static str,
        ro: bool,
        build: Build,
    ) -> Self {
        let version = match prefix {
            "s3" | "ec2" => "1.10",
            "signin" | "sts" | "kms" | "lambda" => "1.08",
            _ => "1.09",
        };
        let scope = match prefix {
            "iam" | "signin" | "organizations" | "route53" | "health" => Scope::Global,
            "sso" => Scope::Home,
            _ => Scope::Regional,
        };
        Action {
            source,
            prefix,
            name,
            read_only: ro,
            kind: Kind::Api,
            scope,
            version,
            miss: None,
            build,
        }
    }

    fn data(mut self) -> Self {
        self.kind = Kind::Data;
        self
    }

    fn kind(mut self, k: Kind) -> Self {
        self.kind = k;
        self
    }

    fn miss(mut self, code: &'static str, msg: &'static str, rate: f64) -> Self {
        self.miss = Some((code, msg, rate));
        self
    }

    /// The IAM action name: Lambda's versioned event names (`GetFunction20150331v2`) drop the
    /// version.
    pub(crate) fn iam_action(&self) -> &'static str {
        let n = self.name;
        let bytes = n.as_bytes();
        let mut end = n.len();
        if end > 2 && bytes[end - 2] == b'v' && bytes[end - 1].is_ascii_digit() {
            end -= 2;
        }
        let digits = bytes[..end]
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 8 { &n[..end - 8] } else { n }
    }

    /// The action named in IAM policies, where it differs from the API name.
    pub(crate) fn permission(&self) -> &'static str {
        match (self.prefix, self.name) {
            ("lambda", "Invoke") => "InvokeFunction",
            _ => self.iam_action(),
        }
    }
}

/// The backdoor user an incident creates and then equips with keys, a password and admin rights.
const INCIDENT_USER: &str = "support-temp";

const R: bool = true;
const W: bool = false;

macro_rules! act {
    ($svc:literal, $name:literal, $ro:expr, $build:expr) => {
        Action::new(concat!($svc, ".amazonaws.com"), $svc, $name, $ro, $build)
    };
}

fn policy_statement_json(effect: &str, action: &str, resource: &str) -> String {
    format!(
        "{{\n    \"Version\": \"2012-10-17\",\n    \"Statement\": [\n        {{\n            \"Effect\": \"{effect}\",\n            \"Action\": \"{action}\",\n            \"Resource\": \"{resource}\"\n        }}\n    ]\n}}"
    )
}

fn trust_policy_json(principal_kind: &str, principal: &str) -> String {
    format!(
        "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"{principal_kind}\":\"{principal}\"}},\"Action\":\"sts:AssumeRole\"}}]}}"
    )
}

const MANAGED_POLICIES: [&str; 6] = [
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "arn:aws:iam::aws:policy/AmazonS3FullAccess",
    "arn:aws:iam::aws:policy/AmazonEC2FullAccess",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
];

fn s3_req<'w>(c: &mut Ctx<'w, '_>, b: &'w Bucket, key: Option<String>) -> J<'w> {
    let mut req = obj! {
        "bucketName" => &b.name,
        "Host" => format!("{}.s3.{}.amazonaws.com", b.name, c.region),
    };
    if let Some(k) = key {
        req.push("key", k);
    }
    req
}

fn s3_object_resources<'w>(c: &Ctx<'w, '_>, b: &'w Bucket, key: &str) -> Vec<J<'w>> {
    vec![
        obj! { "type" => "AWS::S3::Object", "ARN" => format!("{}/{}", b.arn, key) },
        c.res(&b.arn, "AWS::S3::Bucket"),
    ]
}

fn s3_bucket_op<'w>(c: &mut Ctx<'w, '_>, sub: &'static str) -> Body<'w> {
    let b = c.bucket();
    let mut req = s3_req(c, b, None);
    req.push(sub, "");
    let mut body = Body::req(req).res(vec![c.res(&b.arn, "AWS::S3::Bucket")]);
    body.host = Some(format!("{}.s3.{}.amazonaws.com", b.name, c.region));
    body.bytes = (0, c.rng.range(200, 2000));
    body.denied_on = Some(b.arn.clone());
    body
}

/// EC2's private DNS name: `ip-10-0-1-2.ec2.internal` in us-east-1, `.<region>.compute.internal`
/// elsewhere.
fn private_dns(ip: &str, region: &str) -> String {
    let host = ip.replace('.', "-");
    if region == "us-east-1" {
        format!("ip-{host}.ec2.internal")
    } else {
        format!("ip-{host}.{region}.compute.internal")
    }
}

fn filter<'w>(name: &'static str, value: impl Into<J<'w>>) -> J<'w> {
    obj! { "items" => arr![obj! { "name" => name, "valueSet" => obj! { "items" => arr![obj! { "value" => value }] } }] }
}

fn instance_item<'w>(id: &'w str) -> J<'w> {
    obj! { "items" => arr![obj! { "instanceId" => id }] }
}

fn state_change<'w>(id: &'w str, cur: (i64, &'static str), prev: (i64, &'static str)) -> J<'w> {
    obj! {
        "requestId" => J::Null,
        "instancesSet" => obj! { "items" => arr![obj! {
            "instanceId" => id,
            "currentState" => obj! { "code" => cur.0, "name" => cur.1 },
            "previousState" => obj! { "code" => prev.0, "name" => prev.1 },
        }] },
    }
}

fn ec2_return<'w>(c: &mut Ctx<'w, '_>) -> J<'w> {
    obj! { "requestId" => c.uuid(), "_return" => true }
}

/// Every action the generator knows. Indices into this vector identify actions in plans.
pub(crate) fn actions() -> Vec<Action> {
    vec![
        // ---- EC2 ------------------------------------------------------------------------------
        act!("ec2", "DescribeInstances", R, |c| {
            let req = if c.rng.chance(0.3) {
                let i = c.instance();
                obj! { "instancesSet" => instance_item(&i.id), "filterSet" => J::empty() }
            } else if c.rng.chance(0.3) {
                obj! { "instancesSet" => J::empty(), "filterSet" => filter("instance-state-name", "running") }
            } else {
                obj! { "instancesSet" => J::empty(), "filterSet" => J::empty() }
            };
            Body::req(req)
        }),
        act!("ec2", "DescribeSecurityGroups", R, |c| {
            let req = if c.rng.chance(0.4) {
                let sg = c.sg();
                obj! {
                    "securityGroupSet" => J::empty(),
                    "securityGroupIdSet" => obj! { "items" => arr![obj! { "groupId" => sg }] },
                    "filterSet" => J::empty(),
                }
            } else {
                obj! { "securityGroupSet" => J::empty(), "securityGroupIdSet" => J::empty(), "filterSet" => J::empty() }
            };
            Body::req(req)
        }),
        act!("ec2", "DescribeVpcs", R, |_c| Body::req(
            obj! { "vpcSet" => J::empty(), "filterSet" => J::empty() }
        )),
        act!("ec2", "DescribeSubnets", R, |c| {
            let vpc = &c.reg().vpc;
            Body::req(obj! { "subnetSet" => J::empty(), "filterSet" => filter("vpc-id", vpc) })
        }),
        act!("ec2", "DescribeVolumes", R, |c| {
            let req = if c.rng.chance(0.5) {
                let i = c.instance();
                obj! { "volumeSet" => J::empty(), "filterSet" => filter("attachment.instance-id", &i.id) }
            } else {
                obj! { "volumeSet" => J::empty(), "filterSet" => J::empty() }
            };
            Body::req(req)
        }),
        act!("ec2", "DescribeInstanceStatus", R, |c| {
            let all = c.rng.chance(0.5);
            Body::req(obj! {
                "instancesSet" => J::empty(),
                "filterSet" => J::empty(),
                "includeAllInstances" => all,
            })
        }),
        act!("ec2", "DescribeRegions", R, |_c| Body::req(
            obj! { "regionSet" => J::empty() }
        )),
        act!("ec2", "DescribeImages", R, |_c| Body::req(obj! {
            "executableBySet" => J::empty(),
            "imagesSet" => J::empty(),
            "ownersSet" => obj! { "items" => arr![obj! { "owner" => "self" }] },
            "filterSet" => J::empty(),
        })),
        act!("ec2", "DescribeSnapshots", R, |_c| Body::req(obj! {
            "snapshotSet" => J::empty(),
            "ownersSet" => obj! { "items" => arr![obj! { "owner" => "self" }] },
            "restorableBySet" => J::empty(),
            "filterSet" => J::empty(),
            "maxResults" => 1000,
        })),
        act!("ec2", "DescribeNetworkInterfaces", R, |c| {
            let vpc = &c.reg().vpc;
            Body::req(obj! { "networkInterfaceIdSet" => J::empty(), "filterSet" => filter("vpc-id", vpc) })
        }),
        act!("ec2", "DescribeKeyPairs", R, |_c| Body::req(
            obj! { "keySet" => J::empty(), "filterSet" => J::empty() }
        )),
        act!("ec2", "RunInstances", W, |c| {
            let reg = c.reg();
            let subnet = c.rng.pick(&reg.subnets).as_str();
            let itype = *c.rng.pick(&["t3.medium", "m5.large", "c6i.4xlarge", "p3.2xlarge", "t4g.small"]);
            let id = format!("i-0{}", c.rng.hex(16));
            let private = format!("10.{}.{}.{}", c.ri * 16, c.rng.range(0, 64), c.rng.range(4, 255));
            let az = format!("{}{}", c.region, c.rng.pick(&["a", "b", "c"]));
            let token = c.uuid();
            let req = obj! {
                "instancesSet" => obj! { "items" => arr![obj! { "imageId" => &reg.ami, "minCount" => 1, "maxCount" => 1 }] },
                "instanceType" => itype,
                "blockDeviceMapping" => J::empty(),
                "monitoring" => obj! { "enabled" => false },
                "subnetId" => subnet,
                "disableApiTermination" => false,
                "disableApiStop" => false,
                "clientToken" => token,
                "tagSpecificationSet" => obj! { "items" => arr![obj! {
                    "resourceType" => "instance",
                    "tags" => arr![obj! { "key" => "Name", "value" => format!("{}-worker", c.acct.env) }],
                }] },
            };
            let resp = obj! {
                "requestId" => c.uuid(),
                "reservationId" => format!("r-0{}", c.rng.hex(16)),
                "ownerId" => &c.acct.id,
                "groupSet" => J::empty(),
                "instancesSet" => obj! { "items" => arr![obj! {
                    "instanceId" => id,
                    "imageId" => &reg.ami,
                    "instanceState" => obj! { "code" => 0, "name" => "pending" },
                    "privateDnsName" => private_dns(&private, c.region),
                    "amiLaunchIndex" => 0,
                    "productCodes" => J::empty(),
                    "instanceType" => itype,
                    "launchTime" => c.clock.millis(c.t),
                    "placement" => obj! { "availabilityZone" => az, "tenancy" => "default" },
                    "monitoring" => obj! { "state" => "disabled" },
                    "subnetId" => subnet,
                    "vpcId" => &reg.vpc,
                    "privateIpAddress" => private,
                    "stateReason" => obj! { "code" => "pending", "message" => "pending" },
                    "architecture" => "x86_64",
                    "rootDeviceType" => "ebs",
                    "rootDeviceName" => "/dev/xvda",
                    "virtualizationType" => "hvm",
                    "hypervisor" => "xen",
                    "ebsOptimized" => false,
                    "enaSupport" => true,
                }] },
            };
            let on = format!("arn:aws:ec2:{}:{}:instance/*", c.region, c.acct.id);
            Body::new(req, resp).denied(on)
        }),
        act!("ec2", "StartInstances", W, |c| {
            let i = c.instance();
            Body::new(obj! { "instancesSet" => instance_item(&i.id) }, state_change(&i.id, (0, "pending"), (80, "stopped")))
                .denied(format!("arn:aws:ec2:{}:{}:instance/{}", c.region, c.acct.id, i.id))
        }),
        act!("ec2", "StopInstances", W, |c| {
            let i = c.instance();
            Body::new(
                obj! { "instancesSet" => instance_item(&i.id), "force" => false },
                state_change(&i.id, (64, "stopping"), (16, "running")),
            )
            .denied(format!("arn:aws:ec2:{}:{}:instance/{}", c.region, c.acct.id, i.id))
        }),
        act!("ec2", "TerminateInstances", W, |c| {
            let i = c.instance();
            Body::new(obj! { "instancesSet" => instance_item(&i.id) }, state_change(&i.id, (32, "shutting-down"), (16, "running")))
                .denied(format!("arn:aws:ec2:{}:{}:instance/{}", c.region, c.acct.id, i.id))
        }),
        act!("ec2", "CreateTags", W, |c| {
            let i = c.instance();
            let v = *c.rng.pick(&["platform", "data", "web", "batch"]);
            let req = obj! {
                "resourcesSet" => obj! { "items" => arr![obj! { "resourceId" => &i.id }] },
                "tagSet" => obj! { "items" => arr![obj! { "key" => "team", "value" => v }] },
            };
            let resp = ec2_return(c);
            Body::new(req, resp).denied(format!("arn:aws:ec2:{}:{}:instance/{}", c.region, c.acct.id, i.id))
        }),
        act!("ec2", "AuthorizeSecurityGroupIngress", W, |c| {
            let sg = c.sg();
            let incident = matches!(c.s.actor, Actor::Incident { .. });
            let port = if incident { 22 } else { *c.rng.pick(&[22i64, 22, 3389, 443, 5432, 8080]) };
            let cidr = if incident || c.rng.chance(0.7) {
                "0.0.0.0/0".to_string()
            } else {
                format!("{}/32", crate::world::public_ip(&mut c.rng))
            };
            let rule = format!("sgr-0{}", c.rng.hex(16));
            let req = obj! {
                "groupId" => sg,
                "ipPermissions" => obj! { "items" => arr![obj! {
                    "ipProtocol" => "tcp",
                    "fromPort" => port,
                    "toPort" => port,
                    "groups" => J::empty(),
                    "ipRanges" => obj! { "items" => arr![obj! { "cidrIp" => cidr.clone() }] },
                    "ipv6Ranges" => J::empty(),
                    "prefixListIds" => J::empty(),
                }] },
            };
            let resp = obj! {
                "requestId" => c.uuid(),
                "_return" => true,
                "securityGroupRuleSet" => obj! { "items" => arr![obj! {
                    "groupOwnerId" => &c.acct.id,
                    "groupId" => sg,
                    "securityGroupRuleId" => rule,
                    "isEgress" => false,
                    "ipProtocol" => "tcp",
                    "fromPort" => port,
                    "toPort" => port,
                    "cidrIpv4" => cidr,
                }] },
            };
            Body::new(req, resp).denied(format!("arn:aws:ec2:{}:{}:security-group/{}", c.region, c.acct.id, sg))
        })
        .miss("Client.InvalidPermission.Duplicate", "the specified rule \"peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW\" already exists", 0.05),
        act!("ec2", "CreateSnapshot", W, |c| {
            let i = c.instance();
            let req = obj! { "volumeId" => &i.volume, "description" => format!("nightly backup of {}", i.id) };
            let resp = obj! {
                "requestId" => c.uuid(),
                "snapshotId" => format!("snap-0{}", c.rng.hex(16)),
                "volumeId" => &i.volume,
                "status" => "pending",
                "startTime" => c.clock.millis(c.t),
                "progress" => "",
                "ownerId" => &c.acct.id,
                "volumeSize" => *c.rng.pick(&[8i64, 20, 50, 100, 500]),
                "encrypted" => true,
            };
            Body::new(req, resp)
        }),
        // ---- S3 data events ---------------------------------------------------------------------
        act!("s3", "GetObject", R, |c| {
            let b = c.bucket();
            let (key, size) = c.object(b);
            let mut body = Body::req(s3_req(c, b, Some(key.clone()))).res(s3_object_resources(c, b, &key));
            body.bytes = (0, size);
            body.host = Some(format!("{}.s3.{}.amazonaws.com", b.name, c.region));
            body.denied_on = Some(format!("{}/{}", b.arn, key));
            body
        })
        .data()
        .miss("NoSuchKey", "The specified key does not exist.", 0.01),
        act!("s3", "PutObject", W, |c| {
            let b = c.bucket();
            let (key, size) = c.object(b);
            let resp = if c.rng.chance(0.3) {
                let k = c.kms_arn();
                obj! {
                    "x-amz-server-side-encryption-aws-kms-key-id" => k,
                    "x-amz-server-side-encryption" => "aws:kms",
                    "x-amz-server-side-encryption-bucket-key-enabled" => "true",
                }
            } else {
                obj! { "x-amz-server-side-encryption" => "AES256" }
            };
            let mut body = Body::new(s3_req(c, b, Some(key.clone())), resp).res(s3_object_resources(c, b, &key));
            body.bytes = (size.min(5_242_880), 0);
            body.host = Some(format!("{}.s3.{}.amazonaws.com", b.name, c.region));
            body.denied_on = Some(format!("{}/{}", b.arn, key));
            body
        })
        .data(),
        act!("s3", "HeadObject", R, |c| {
            let b = c.bucket();
            let (key, _) = c.object(b);
            let mut body = Body::req(s3_req(c, b, Some(key.clone()))).res(s3_object_resources(c, b, &key));
            body.host = Some(format!("{}.s3.{}.amazonaws.com", b.name, c.region));
            body
        })
        .data()
        .miss("NoSuchKey", "The specified key does not exist.", 0.03),
        act!("s3", "DeleteObject", W, |c| {
            let b = c.bucket();
            let (key, _) = c.object(b);
            let mut body = Body::req(s3_req(c, b, Some(key.clone()))).res(s3_object_resources(c, b, &key));
            body.host = Some(format!("{}.s3.{}.amazonaws.com", b.name, c.region));
            body
        })
        .data(),
        act!("s3", "ListObjects", R, |c| {
            let b = c.bucket();
            let prefix = match b.kind {
                BucketKind::DataLake => "raw/",
                BucketKind::Backups => "rds/",
                BucketKind::Logs => "AWSLogs/",
                BucketKind::TfState => "env/",
                _ => "",
            };
            let req = obj! {
                "list-type" => "2",
                "bucketName" => &b.name,
                "encoding-type" => "url",
                "prefix" => prefix,
                "delimiter" => "/",
                "Host" => format!("{}.s3.{}.amazonaws.com", b.name, c.region),
            };
            let mut body = Body::req(req).res(vec![c.res(&b.arn, "AWS::S3::Bucket")]);
            body.bytes = (0, c.rng.range(300, 40_000));
            body.host = Some(format!("{}.s3.{}.amazonaws.com", b.name, c.region));
            body.denied_on = Some(b.arn.clone());
            body
        })
        .data(),
        // ---- S3 management ----------------------------------------------------------------------
        act!("s3", "ListBuckets", R, |c| {
            let host = format!("s3.{}.amazonaws.com", c.region);
            let mut body = Body::req(obj! { "Host" => host.clone() });
            body.host = Some(host);
            body.bytes = (0, c.rng.range(300, 3000));
            body
        }),
        act!("s3", "GetBucketLocation", R, |c| s3_bucket_op(c, "location")),
        act!("s3", "GetBucketAcl", R, |c| s3_bucket_op(c, "acl")),
        act!("s3", "GetBucketPolicy", R, |c| s3_bucket_op(c, "policy"))
            .miss("NoSuchBucketPolicy", "The bucket policy does not exist", 0.35),
        act!("s3", "GetBucketEncryption", R, |c| s3_bucket_op(c, "encryption")),
        act!("s3", "GetBucketVersioning", R, |c| s3_bucket_op(c, "versioning")),
        act!("s3", "GetBucketPublicAccessBlock", R, |c| s3_bucket_op(c, "publicAccessBlock"))
            .miss("NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found", 0.2),
        act!("s3", "PutBucketPolicy", W, |c| {
            let mut body = s3_bucket_op(c, "policy");
            let b = c.acct.buckets.iter().find(|b| Some(b.arn.as_str()) == body.denied_on.as_deref());
            let arn = b.map_or(String::new(), |b| b.arn.clone());
            let public = c.rng.chance(0.5);
            let stmt = if public {
                obj! {
                    "Sid" => "PublicRead",
                    "Effect" => "Allow",
                    "Principal" => "*",
                    "Action" => "s3:GetObject",
                    "Resource" => format!("{arn}/*"),
                }
            } else {
                obj! {
                    "Sid" => "DenyInsecureTransport",
                    "Effect" => "Deny",
                    "Principal" => "*",
                    "Action" => "s3:*",
                    "Resource" => arr![arn.clone(), format!("{arn}/*")],
                    "Condition" => obj! { "Bool" => obj! { "aws:SecureTransport" => "false" } },
                }
            };
            body.req.push("bucketPolicy", obj! { "Version" => "2012-10-17", "Statement" => arr![stmt] });
            body
        }),
        act!("s3", "PutBucketAcl", W, |c| {
            let mut body = s3_bucket_op(c, "acl");
            let owner = c.rng.hex(64);
            if c.rng.chance(0.5) {
                body.req.push("x-amz-acl", arr!["public-read"]);
            } else {
                body.req.push("AccessControlPolicy", obj! {
                    "AccessControlList" => obj! { "Grant" => arr![
                        obj! {
                            "Grantee" => obj! {
                                "xsi:type" => "CanonicalUser",
                                "xmlns:xsi" => "http://www.w3.org/2001/XMLSchema-instance",
                                "ID" => owner.clone(),
                            },
                            "Permission" => "FULL_CONTROL",
                        },
                        obj! {
                            "Grantee" => obj! {
                                "xsi:type" => "Group",
                                "xmlns:xsi" => "http://www.w3.org/2001/XMLSchema-instance",
                                "URI" => "http://acs.amazonaws.com/groups/global/AllUsers",
                            },
                            "Permission" => "READ",
                        },
                    ] },
                    "xmlns" => "http://s3.amazonaws.com/doc/2006-03-01/",
                    "Owner" => obj! { "ID" => owner },
                });
            }
            body
        }),
        act!("s3", "PutBucketPublicAccessBlock", W, |c| {
            let mut body = s3_bucket_op(c, "publicAccessBlock");
            let on = c.rng.chance(0.6);
            body.req.push("PublicAccessBlockConfiguration", obj! {
                "xmlns" => "http://s3.amazonaws.com/doc/2006-03-01/",
                "RestrictPublicBuckets" => on,
                "BlockPublicPolicy" => on,
                "BlockPublicAcls" => on,
                "IgnorePublicAcls" => on,
            });
            body
        }),
        act!("s3", "DeleteBucketPolicy", W, |c| s3_bucket_op(c, "policy")),
        // ---- STS ---------------------------------------------------------------------------------
        act!("sts", "GetCallerIdentity", R, |_c| Body::null()),
        act!("sts", "AssumeRole", R, |c| {
            let (role_arn, role_name, role_pid, session, key, acct_id): (String, String, String, String, String, &str) =
                if c.who == Who::Issuer && let Some(r) = c.s.role {
                    (r.arn.clone(), r.name.clone(), r.principal_id.clone(), c.s.role_session.clone(), c.s.key.clone(), &c.acct.id)
                } else {
                    let acct = c.acct;
                    let (r, sess) = match c.s.actor {
                        Actor::AwsService { .. } if c.s.service == "ecs-tasks.amazonaws.com" => {
                            let r = acct.roles_of(RoleKind::Ec2).nth(1).unwrap_or(0);
                            (&acct.roles[r], c.rng.hex(32))
                        }
                        Actor::AwsService { .. } => {
                            let f = &acct.functions[c.rng.index(acct.functions.len())];
                            (&acct.roles[f.role], f.name.clone())
                        }
                        _ => {
                            // People and scripts hop into the admin role or a workload role.
                            let cands: Vec<usize> =
                                acct.roles_of(RoleKind::OrgAccess).chain(acct.roles_of(RoleKind::Ec2)).collect();
                            let r = &acct.roles[cands[c.rng.index(cands.len())]];
                            let sess = match c.s.user {
                                Some(u) => format!("{}-{}", u.name, c.rng.digits(10)),
                                None => format!("botocore-session-{}", c.rng.digits(10)),
                            };
                            (r, sess)
                        }
                    };
                    let key = format!("ASIA{}", c.rng.upper_alnum(16));
                    (r.arn.clone(), r.name.clone(), r.principal_id.clone(), sess, key, &c.acct.id)
                };
            let dur = if matches!(c.s.actor, Actor::Lambda { .. }) || c.s.service == "lambda.amazonaws.com" { 43_200 } else { 3600 };
            let req = obj! {
                "roleArn" => role_arn.clone(),
                "roleSessionName" => session.clone(),
                "durationSeconds" => dur,
            };
            let creds = c.creds(key, dur);
            let resp = obj! {
                "credentials" => creds,
                "assumedRoleUser" => obj! {
                    "assumedRoleId" => format!("{role_pid}:{session}"),
                    "arn" => format!("arn:aws:sts::{acct_id}:assumed-role/{role_name}/{session}"),
                },
            };
            let mut body = Body::new(req, resp).res(vec![c.res(role_arn.clone(), "AWS::IAM::Role")]);
            body.shared_event_id = matches!(c.s.actor, Actor::Audit { .. });
            body.denied_on = Some(role_arn);
            body
        }),
        act!("sts", "AssumeRoleWithWebIdentity", R, |c| {
            let role = c.s.role.unwrap_or(&c.acct.roles[0]);
            let session = c.s.role_session.clone();
            let github = matches!(c.s.actor, Actor::GithubCi { .. });
            let req = obj! {
                "roleArn" => &role.arn,
                "roleSessionName" => session.clone(),
                "durationSeconds" => 3600,
            };
            let creds = c.creds(c.s.key.clone(), 3600);
            let resp = obj! {
                "credentials" => creds,
                "subjectFromWebIdentityToken" => c.s.web_subject.clone(),
                "assumedRoleUser" => obj! {
                    "assumedRoleId" => format!("{}:{session}", role.principal_id),
                    "arn" => format!("arn:aws:sts::{}:assumed-role/{}/{session}", c.acct.id, role.name),
                },
                "provider" => if github { J::from(&c.acct.oidc_provider) } else { J::from("cognito-identity.amazonaws.com") },
                "audience" => if github { J::from("sts.amazonaws.com") } else { J::from(&c.acct.cognito_pool) },
            };
            Body::new(req, resp).res(vec![c.res(&role.arn, "AWS::IAM::Role")])
        }),
        act!("sts", "AssumeRoleWithSAML", R, |c| {
            let role = c.s.role.unwrap_or(&c.acct.roles[0]);
            let provider = format!("arn:aws:iam::{}:saml-provider/{}", c.acct.id, c.acct.saml_provider);
            let issuer = if c.acct.saml_provider == "ADFS" {
                format!("http://adfs.{}.com/adfs/services/trust", c.acct.company)
            } else {
                format!("http://www.okta.com/exk{}", c.rng.alnum(17))
            };
            let req = obj! {
                "sAMLAssertionID" => format!("_{}", c.rng.hex(32)),
                "roleSessionName" => c.s.role_session.clone(),
                "durationSeconds" => 3600,
                "roleArn" => &role.arn,
                "principalArn" => provider.clone(),
            };
            let creds = c.creds(c.s.key.clone(), 3600);
            let resp = obj! {
                "credentials" => creds,
                "assumedRoleUser" => obj! {
                    "assumedRoleId" => format!("{}:{}", role.principal_id, c.s.role_session),
                    "arn" => format!("arn:aws:sts::{}:assumed-role/{}/{}", c.acct.id, role.name, c.s.role_session),
                },
                "packedPolicySize" => 6,
                "subject" => c.s.saml_user.clone(),
                "subjectType" => "persistent",
                "issuer" => issuer,
                "audience" => "https://signin.aws.amazon.com/saml",
                "nameQualifier" => c.acct.saml_issuer_id.as_str(),
            };
            Body::new(req, resp).res(vec![
                c.res(&role.arn, "AWS::IAM::Role"),
                c.res(provider, "AWS::IAM::SAMLProvider"),
            ])
        }),
        act!("sts", "GetFederationToken", R, |c| {
            let name = c.s.role_session.clone();
            let req = obj! {
                "name" => name.clone(),
                "durationSeconds" => 43_200,
                "policy" => policy_statement_json("Allow", "s3:GetObject", "*"),
            };
            let creds = c.creds(c.s.key.clone(), 43_200);
            let resp = obj! {
                "credentials" => creds,
                "federatedUser" => obj! {
                    "federatedUserId" => format!("{}:{name}", c.acct.id),
                    "arn" => format!("arn:aws:sts::{}:federated-user/{name}", c.acct.id),
                },
                "packedPolicySize" => 9,
            };
            Body::new(req, resp)
        }),
        act!("sts", "GetSessionToken", R, |c| {
            let req = match c.s.user {
                Some(u) if u.mfa => obj! {
                    "durationSeconds" => 43_200,
                    "serialNumber" => format!("arn:aws:iam::{}:mfa/{}", c.acct.id, u.name),
                },
                _ => obj! { "durationSeconds" => 43_200 },
            };
            let key = format!("ASIA{}", c.rng.upper_alnum(16));
            let creds = c.creds(key, 43_200);
            Body::new(req, obj! { "credentials" => creds })
        }),
        // ---- KMS ---------------------------------------------------------------------------------
        act!("kms", "Decrypt", R, |c| {
            let key = c.kms_arn();
            let (ctx, via) = kms_context(c);
            let mut body = Body::req(obj! { "encryptionAlgorithm" => "SYMMETRIC_DEFAULT", "encryptionContext" => ctx })
                .res(vec![c.res(key.clone(), "AWS::KMS::Key")])
                .denied(key);
            body.invoked_by = via;
            body
        }),
        act!("kms", "GenerateDataKey", R, |c| {
            let key = c.kms_arn();
            let (ctx, via) = kms_context(c);
            let mut body = Body::req(obj! { "keyId" => key.clone(), "encryptionContext" => ctx, "keySpec" => "AES_256" })
                .res(vec![c.res(key.clone(), "AWS::KMS::Key")])
                .denied(key);
            body.invoked_by = via;
            body
        }),
        act!("kms", "Encrypt", R, |c| {
            let key = c.kms_arn();
            Body::req(obj! { "keyId" => format!("alias/{}-{}-data", c.acct.company, c.acct.env), "encryptionAlgorithm" => "SYMMETRIC_DEFAULT" })
                .res(vec![c.res(key.clone(), "AWS::KMS::Key")])
                .denied(key)
        }),
        act!("kms", "DescribeKey", R, |c| {
            let key = c.kms_arn();
            Body::req(obj! { "keyId" => key.clone() }).res(vec![c.res(key, "AWS::KMS::Key")])
        }),
        act!("kms", "ListAliases", R, |_c| Body::null()),
        act!("kms", "ScheduleKeyDeletion", W, |c| {
            let id = c.kms_key();
            let arn = format!("arn:aws:kms:{}:{}:key/{}", c.region, c.acct.id, id);
            let days = *c.rng.pick(&[7i64, 7, 30]);
            Body::new(
                obj! { "keyId" => id, "pendingWindowInDays" => days },
                obj! {
                    "keyId" => arn.clone(),
                    "deletionDate" => c.clock.java((c.t / 86_400 + days + 1) * 86_400, true),
                    "keyState" => "PendingDeletion",
                    "pendingWindowInDays" => days,
                },
            )
            .res(vec![c.res(arn.clone(), "AWS::KMS::Key")])
            .denied(arn)
        }),
        act!("kms", "CreateKey", W, |c| {
            let id = c.uuid();
            let arn = format!("arn:aws:kms:{}:{}:key/{}", c.region, c.acct.id, id);
            let req = obj! {
                "keyUsage" => "ENCRYPT_DECRYPT",
                "keySpec" => "SYMMETRIC_DEFAULT",
                "description" => format!("{} application data key", c.acct.env),
                "origin" => "AWS_KMS",
                "bypassPolicyLockoutSafetyCheck" => false,
                "multiRegion" => false,
            };
            let resp = obj! { "keyMetadata" => obj! {
                "aWSAccountId" => &c.acct.id,
                "keyId" => id,
                "arn" => arn.clone(),
                "creationDate" => c.clock.java(c.t, true),
                "enabled" => true,
                "keyUsage" => "ENCRYPT_DECRYPT",
                "keyState" => "Enabled",
                "origin" => "AWS_KMS",
                "keyManager" => "CUSTOMER",
                "customerMasterKeySpec" => "SYMMETRIC_DEFAULT",
                "keySpec" => "SYMMETRIC_DEFAULT",
                "encryptionAlgorithms" => arr!["SYMMETRIC_DEFAULT"],
                "multiRegion" => false,
            } };
            Body::new(req, resp).res(vec![c.res(arn, "AWS::KMS::Key")])
        }),
        act!("kms", "RotateKey", W, |c| {
            let id = c.kms_key();
            let arn = format!("arn:aws:kms:{}:{}:key/{}", c.region, c.acct.id, id);
            let mut body = Body::null().res(vec![c.res(arn, "AWS::KMS::Key")]);
            body.service_details = Some(obj! { "keyId" => id });
            body
        })
        .kind(Kind::ServiceEvent),
        // ---- IAM ---------------------------------------------------------------------------------
        act!("iam", "ListRoles", R, |c| {
            let on = format!("arn:aws:iam::{}:role/", c.acct.id);
            Body::null().denied(on)
        }),
        act!("iam", "ListUsers", R, |c| {
            let on = format!("arn:aws:iam::{}:user/", c.acct.id);
            Body::null().denied(on)
        }),
        act!("iam", "ListPolicies", R, |_c| Body::req(
            obj! { "scope" => "Local", "onlyAttached" => false, "maxItems" => 100 }
        )),
        act!("iam", "GetRole", R, |c| {
            let r = c.role_name();
            Body::req(obj! { "roleName" => r })
        }),
        act!("iam", "GetUser", R, |c| {
            let u = c.user_name();
            Body::req(obj! { "userName" => u })
        })
        .miss("NoSuchEntityException", "The user with name svc-reporting cannot be found.", 0.03),
        act!("iam", "GetPolicy", R, |c| {
            let p = *c.rng.pick(&MANAGED_POLICIES);
            Body::req(obj! { "policyArn" => p })
        }),
        act!("iam", "GetPolicyVersion", R, |c| {
            let p = *c.rng.pick(&MANAGED_POLICIES);
            let v = format!("v{}", c.rng.range(1, 9));
            Body::req(obj! { "policyArn" => p, "versionId" => v })
        }),
        act!("iam", "ListAttachedRolePolicies", R, |c| {
            let r = c.role_name();
            Body::req(obj! { "roleName" => r })
        }),
        act!("iam", "ListAccessKeys", R, |c| {
            let u = c.user_name();
            Body::req(obj! { "userName" => u })
        }),
        act!("iam", "ListMFADevices", R, |c| {
            let u = c.user_name();
            Body::req(obj! { "userName" => u })
        }),
        act!("iam", "GetAccountSummary", R, |_c| Body::null()),
        act!("iam", "GetAccountPasswordPolicy", R, |_c| Body::null())
            .miss("NoSuchEntityException", "The Password Policy with domain name {account} cannot be found.", 0.5),
        act!("iam", "CreateUser", W, |c| {
            let name = if matches!(c.s.actor, Actor::Incident { .. }) {
                INCIDENT_USER.to_string()
            } else {
                format!("{}-{}", c.rng.pick(&["svc", "app", "etl"]), c.rng.pick(&["reporting", "billing", "sync", "export"]))
            };
            let uid = format!("AIDA{}", c.rng.upper_alnum(17));
            let arn = format!("arn:aws:iam::{}:user/{name}", c.acct.id);
            Body::new(
                obj! { "userName" => name.clone() },
                obj! { "user" => obj! {
                    "path" => "/",
                    "userName" => name,
                    "userId" => uid,
                    "arn" => arn.clone(),
                    "createDate" => c.clock.java(c.t, false),
                } },
            )
            .denied(arn)
        }),
        act!("iam", "CreateAccessKey", W, |c| {
            let u = match c.s.actor {
                Actor::Incident { .. } => INCIDENT_USER,
                _ => c.user_name(),
            };
            Body::new(
                obj! { "userName" => u },
                obj! { "accessKey" => obj! {
                    "userName" => u,
                    "accessKeyId" => format!("AKIA{}", c.rng.upper_alnum(16)),
                    "status" => "Active",
                    "createDate" => c.clock.java(c.t, false),
                } },
            )
            .denied(format!("arn:aws:iam::{}:user/{u}", c.acct.id))
        }),
        act!("iam", "DeleteAccessKey", W, |c| {
            let users = &c.acct.users;
            let u = &users[c.rng.index(users.len())];
            Body::req(obj! { "userName" => &u.name, "accessKeyId" => format!("AKIA{}", c.rng.upper_alnum(16)) })
        }),
        act!("iam", "AttachRolePolicy", W, |c| {
            let r = c.role_name();
            let p = *c.rng.pick(&MANAGED_POLICIES);
            Body::req(obj! { "roleName" => r, "policyArn" => p })
                .denied(format!("arn:aws:iam::{}:role/{r}", c.acct.id))
        }),
        act!("iam", "AttachUserPolicy", W, |c| {
            let u = match c.s.actor {
                Actor::Incident { .. } => INCIDENT_USER,
                _ => c.user_name(),
            };
            let p = if matches!(c.s.actor, Actor::Incident { .. }) { MANAGED_POLICIES[0] } else { *c.rng.pick(&MANAGED_POLICIES) };
            Body::req(obj! { "userName" => u, "policyArn" => p })
                .denied(format!("arn:aws:iam::{}:user/{u}", c.acct.id))
        }),
        act!("iam", "UpdateAssumeRolePolicy", W, |c| {
            let r = c.role_name();
            let principal = if c.rng.chance(0.5) {
                format!("arn:aws:iam::{}:root", c.world.external[c.rng.index(c.world.external.len())].account)
            } else {
                format!("arn:aws:iam::{}:root", c.acct.id)
            };
            Body::req(obj! { "roleName" => r, "policyDocument" => trust_policy_json("AWS", &principal) })
                .denied(format!("arn:aws:iam::{}:role/{r}", c.acct.id))
        }),
        act!("iam", "CreateRole", W, |c| {
            let name = format!("{}-{}-role", c.acct.env, c.rng.pick(&["reporting", "etl", "ingest", "scheduler"]));
            let doc = trust_policy_json("Service", "lambda.amazonaws.com");
            let rid = format!("AROA{}", c.rng.upper_alnum(17));
            let arn = format!("arn:aws:iam::{}:role/{name}", c.acct.id);
            Body::new(
                obj! { "roleName" => name.clone(), "assumeRolePolicyDocument" => doc.clone() },
                obj! { "role" => obj! {
                    "path" => "/",
                    "roleName" => name,
                    "roleId" => rid,
                    "arn" => arn,
                    "createDate" => c.clock.java(c.t, false),
                    "assumeRolePolicyDocument" => doc.replace('"', "%22").replace(['{', '}'], "%7B"),
                } },
            )
        }),
        act!("iam", "PutRolePolicy", W, |c| {
            let r = c.role_name();
            let b = c.bucket();
            Body::req(obj! {
                "roleName" => r,
                "policyName" => "inline-s3-access",
                "policyDocument" => policy_statement_json("Allow", "s3:*", &format!("{}/*", b.arn)),
            })
        }),
        act!("iam", "CreateLoginProfile", W, |c| {
            let u = match c.s.actor {
                Actor::Incident { .. } => INCIDENT_USER,
                _ => c.user_name(),
            };
            Body::new(
                obj! { "userName" => u, "passwordResetRequired" => false },
                obj! { "loginProfile" => obj! {
                    "userName" => u,
                    "createDate" => c.clock.java(c.t, false),
                    "passwordResetRequired" => false,
                } },
            )
        }),
        // ---- Lambda ------------------------------------------------------------------------------
        act!("lambda", "ListFunctions20150331", R, |_c| Body::null()),
        act!("lambda", "GetFunction20150331v2", R, |c| {
            let f = c.function();
            Body::req(obj! { "functionName" => &f.name })
        }),
        act!("lambda", "GetPolicy20150331v2", R, |c| {
            let f = c.function();
            Body::req(obj! { "functionName" => &f.name })
        })
        .miss("ResourceNotFoundException", "The resource you requested does not exist.", 0.3),
        act!("lambda", "UpdateFunctionCode20150331v2", W, |c| {
            let f = c.function();
            let arn = c.fn_arn(&f.name);
            let role = &c.acct.roles[f.role].arn;
            let resp = obj! {
                "functionName" => &f.name,
                "functionArn" => arn.clone(),
                "runtime" => f.runtime,
                "role" => role,
                "handler" => "app.handler",
                "codeSize" => c.rng.range(2_000, 9_000_000),
                "description" => "",
                "timeout" => 30,
                "memorySize" => 512,
                "lastModified" => c.clock.iso_millis_offset(c.t),
                "codeSha256" => format!("{}=", c.rng.base64(43)),
                "version" => "$LATEST",
                "tracingConfig" => obj! { "mode" => "PassThrough" },
                "revisionId" => c.uuid(),
                "state" => "Active",
                "lastUpdateStatus" => "InProgress",
                "packageType" => "Zip",
                "architectures" => arr!["x86_64"],
            };
            Body::new(obj! { "functionName" => arn.clone(), "publish" => false, "dryRun" => false }, resp).denied(arn)
        }),
        act!("lambda", "Invoke", W, |c| {
            let f = c.function();
            let arn = c.fn_arn(&f.name);
            let mut body = Body::req(obj! { "functionName" => arn.clone() })
                .res(vec![c.res(arn.clone(), "AWS::Lambda::Function")]);
            body.additional = Some(obj! { "functionVersion" => format!("{arn}:$LATEST") });
            body.denied_on = Some(arn);
            body
        })
        .data(),
        // ---- CloudWatch Logs -------------------------------------------------------------------
        act!("logs", "DescribeLogGroups", R, |c| {
            if c.rng.chance(0.5) {
                Body::req(obj! { "logGroupNamePrefix" => "/aws/lambda/" })
            } else {
                Body::null()
            }
        }),
        act!("logs", "DescribeLogStreams", R, |c| {
            let g = c.log_group();
            Body::req(obj! { "logGroupName" => g, "orderBy" => "LastEventTime", "descending" => true })
        }),
        act!("logs", "FilterLogEvents", R, |c| {
            let g = c.log_group();
            let end = c.clock.millis(c.t);
            let pat = *c.rng.pick(&["ERROR", "?Exception ?Timeout", "\"status\": 500", ""]);
            Body::req(obj! {
                "logGroupName" => g,
                "startTime" => end - 3_600_000,
                "endTime" => end,
                "filterPattern" => pat,
                "interleaved" => true,
            })
        }),
        act!("logs", "GetLogEvents", R, |c| {
            let g = c.log_group();
            let c2 = c.clock.civil(c.t);
            let stream = format!("{:04}/{:02}/{:02}/[$LATEST]{}", c2.y, c2.mo, c2.d, c.rng.hex(32));
            Body::req(obj! { "logGroupName" => g, "logStreamName" => stream, "startFromHead" => false })
        }),
        act!("logs", "CreateLogStream", W, |c| {
            let f = c.function();
            let c2 = c.clock.civil(c.t);
            let stream = format!("{:04}/{:02}/{:02}/[$LATEST]{}", c2.y, c2.mo, c2.d, c.rng.hex(32));
            Body::req(obj! { "logGroupName" => format!("/aws/lambda/{}", f.name), "logStreamName" => stream })
        }),
        act!("logs", "CreateLogGroup", W, |c| {
            let f = c.function();
            Body::req(obj! { "logGroupName" => format!("/aws/lambda/{}", f.name) })
        })
        .miss("ResourceAlreadyExistsException", "The specified log group already exists", 0.4),
        act!("logs", "PutRetentionPolicy", W, |c| {
            let g = c.log_group();
            let d = *c.rng.pick(&[7i64, 14, 30, 90, 365]);
            Body::req(obj! { "logGroupName" => g, "retentionInDays" => d })
        }),
        // ---- CloudWatch ------------------------------------------------------------------------
        act!("monitoring", "GetMetricData", R, |c| {
            let i = c.instance();
            Body::req(obj! {
                "metricDataQueries" => arr![obj! {
                    "id" => "m1",
                    "metricStat" => obj! {
                        "metric" => obj! {
                            "namespace" => "AWS/EC2",
                            "metricName" => "CPUUtilization",
                            "dimensions" => arr![obj! { "name" => "InstanceId", "value" => &i.id }],
                        },
                        "period" => 300,
                        "stat" => "Average",
                    },
                    "returnData" => true,
                }],
                "startTime" => c.clock.java(c.t - 3 * 3600, true),
                "endTime" => c.clock.java(c.t, true),
            })
        }),
        act!("monitoring", "DescribeAlarms", R, |c| {
            if c.rng.chance(0.4) {
                Body::req(obj! { "stateValue" => "ALARM" })
            } else {
                Body::req(obj! { "maxRecords" => 100 })
            }
        }),
        act!("monitoring", "ListMetrics", R, |c| {
            let ns = *c.rng.pick(&["AWS/EC2", "AWS/Lambda", "AWS/RDS", "AWS/ApplicationELB"]);
            Body::req(obj! { "namespace" => ns })
        }),
        act!("monitoring", "GetMetricStatistics", R, |c| {
            let f = c.function();
            Body::req(obj! {
                "namespace" => "AWS/Lambda",
                "metricName" => "Errors",
                "dimensions" => arr![obj! { "name" => "FunctionName", "value" => &f.name }],
                "startTime" => c.clock.java(c.t - 3600, true),
                "endTime" => c.clock.java(c.t, true),
                "period" => 60,
                "statistics" => arr!["Sum"],
            })
        }),
        act!("monitoring", "PutMetricAlarm", W, |c| {
            let i = c.instance();
            Body::req(obj! {
                "alarmName" => format!("high-cpu-{}", i.id),
                "metricName" => "CPUUtilization",
                "namespace" => "AWS/EC2",
                "statistic" => "Average",
                "dimensions" => arr![obj! { "name" => "InstanceId", "value" => &i.id }],
                "period" => 300,
                "evaluationPeriods" => 2,
                "threshold" => 80.0,
                "comparisonOperator" => "GreaterThanThreshold",
                "alarmActions" => arr![format!("arn:aws:sns:{}:{}:ops-alerts", c.region, c.acct.id)],
            })
        }),
        // ---- RDS / DynamoDB ----------------------------------------------------------------------
        act!("rds", "DescribeDBInstances", R, |c| {
            if c.rng.chance(0.5) {
                let db = c.rng.pick(&c.acct.db_instances).clone();
                Body::req(obj! { "dBInstanceIdentifier" => db })
            } else {
                Body::null()
            }
        }),
        act!("rds", "DescribeDBClusters", R, |_c| Body::req(obj! { "includeShared" => false })),
        act!("rds", "DescribeDBSnapshots", R, |c| {
            let db = &c.acct.db_instances[0];
            Body::req(obj! { "dBInstanceIdentifier" => db, "snapshotType" => "automated", "includeShared" => false, "includePublic" => false })
        }),
        act!("rds", "CreateDBSnapshot", W, |c| {
            let db = &c.acct.db_instances[0];
            let c2 = c.clock.civil(c.t);
            let snap = format!("{db}-manual-{:04}{:02}{:02}{:02}{:02}", c2.y, c2.mo, c2.d, c2.h, c2.mi);
            let arn = format!("arn:aws:rds:{}:{}:snapshot:{snap}", c.region, c.acct.id);
            Body::new(
                obj! { "dBSnapshotIdentifier" => snap.clone(), "dBInstanceIdentifier" => db },
                obj! {
                    "dBSnapshotIdentifier" => snap,
                    "dBInstanceIdentifier" => db,
                    "engine" => "postgres",
                    "allocatedStorage" => 200,
                    "status" => "creating",
                    "port" => 5432,
                    "availabilityZone" => format!("{}a", c.region),
                    "vpcId" => &c.reg().vpc,
                    "instanceCreateTime" => c.clock.java(c.t - 200 * 86_400, true),
                    "masterUsername" => "postgres",
                    "engineVersion" => "16.1",
                    "snapshotType" => "manual",
                    "encrypted" => true,
                    "dBSnapshotArn" => arn,
                },
            )
        }),
        act!("rds", "ModifyDBInstance", W, |c| {
            let db = c.rng.pick(&c.acct.db_instances).clone();
            Body::req(obj! { "dBInstanceIdentifier" => db, "applyImmediately" => true, "allocatedStorage" => 400 })
        }),
        act!("dynamodb", "DescribeTable", R, |c| {
            let t = *c.rng.pick(&c.acct.tables);
            let arn = format!("arn:aws:dynamodb:{}:{}:table/{t}", c.region, c.acct.id);
            Body::req(obj! { "tableName" => t }).res(vec![c.res(arn, "AWS::DynamoDB::Table")])
        }),
        act!("dynamodb", "ListTables", R, |_c| Body::null()),
        // ---- SSM / Secrets Manager -------------------------------------------------------------
        act!("ssm", "GetParameter", R, |c| {
            let p = c.rng.pick(&c.acct.params).clone();
            Body::req(obj! { "name" => p, "withDecryption" => true })
        })
        .miss("ParameterNotFound", "", 0.02),
        act!("ssm", "GetParameters", R, |c| {
            let ps: Vec<J> = c.acct.params.iter().take(c.rng.range(2, 4) as usize).map(J::from).collect();
            Body::req(obj! { "names" => J::Arr(ps), "withDecryption" => true })
        }),
        act!("ssm", "DescribeInstanceInformation", R, |_c| Body::req(obj! { "maxResults" => 50 })),
        act!("ssm", "UpdateInstanceInformation", W, |c| {
            let i = c.instance();
            Body::req(obj! {
                "instanceId" => &i.id,
                "agentVersion" => format!("3.3.{}.0", 1000 + i.ssm_patch as i64 * 7),
                "agentStatus" => "Active",
                "platformType" => "Linux",
                "platformName" => "Amazon Linux",
                "platformVersion" => "2023",
                "iPAddress" => &i.private_ip,
                "computerName" => private_dns(&i.private_ip, c.region),
                "agentName" => "amazon-ssm-agent",
                "availabilityZone" => &i.az,
                "sSMConnectionChannel" => "ssmmessages",
            })
        }),
        act!("ssm", "SendCommand", W, |c| {
            let i = c.instance();
            let cmd = c.uuid();
            Body::new(
                obj! {
                    "instanceIds" => arr![&i.id],
                    "documentName" => "AWS-RunShellScript",
                    "parameters" => "HIDDEN_DUE_TO_SECURITY_REASONS",
                    "interactive" => false,
                },
                obj! { "command" => obj! {
                    "commandId" => cmd,
                    "documentName" => "AWS-RunShellScript",
                    "documentVersion" => "$DEFAULT",
                    "instanceIds" => arr![&i.id],
                    "requestedDateTime" => c.clock.java(c.t, true),
                    "status" => "Pending",
                    "targetCount" => 1,
                    "interactive" => false,
                } },
            )
        }),
        act!("ssm", "StartSession", W, |c| {
            let i = c.instance();
            let who = c.s.user.map_or("session", |u| u.name.as_str());
            let sid = format!("{who}-0{}", c.rng.hex(16));
            Body::new(
                obj! { "target" => &i.id },
                obj! {
                    "sessionId" => sid.clone(),
                    "tokenValue" => "Value hidden due to security reasons.",
                    "streamUrl" => format!("wss://ssmmessages.{}.amazonaws.com/v1/data-channel/{sid}?role=publish_subscribe&cell-number=AAEAAQ", c.region),
                },
            )
        }),
        act!("secretsmanager", "GetSecretValue", R, |c| {
            let s = c.rng.pick(&c.acct.secrets).clone();
            Body::req(obj! { "secretId" => s })
        }),
        act!("secretsmanager", "DescribeSecret", R, |c| {
            let s = c.rng.pick(&c.acct.secrets).clone();
            Body::req(obj! { "secretId" => s })
        }),
        act!("secretsmanager", "ListSecrets", R, |_c| Body::null()),
        // ---- CloudTrail / GuardDuty ------------------------------------------------------------
        act!("cloudtrail", "DescribeTrails", R, |_c| Body::req(
            obj! { "trailNameList" => J::Arr(vec![]), "includeShadowTrails" => true }
        )),
        act!("cloudtrail", "GetTrailStatus", R, |c| {
            let arn = c.acct.trail_arn(&c.world.regions[0]);
            Body::req(obj! { "name" => arn })
        }),
        act!("cloudtrail", "LookupEvents", R, |c| {
            let (k, v) = *c.rng.pick(&[("EventName", "ConsoleLogin"), ("EventName", "StopLogging"), ("Username", "root"), ("ReadOnly", "false")]);
            Body::req(obj! {
                "maxResults" => 50,
                "lookupAttributes" => arr![obj! { "attributeKey" => k, "attributeValue" => v }],
            })
        }),
        act!("cloudtrail", "StopLogging", W, |c| {
            let arn = c.acct.trail_arn(&c.world.regions[0]);
            Body::req(obj! { "name" => arn.clone() }).denied(arn)
        }),
        act!("cloudtrail", "PutEventSelectors", W, |c| {
            let arn = c.acct.trail_arn(&c.world.regions[0]);
            let sel = arr![obj! {
                "readWriteType" => "All",
                "includeManagementEvents" => false,
                "dataResources" => J::Arr(vec![]),
                "excludeManagementEventSources" => J::Arr(vec![]),
            }];
            Body::new(
                obj! { "trailName" => arn.clone(), "eventSelectors" => sel.clone() },
                obj! { "trailARN" => arn.clone(), "eventSelectors" => sel },
            )
            .denied(arn)
        }),
        act!("guardduty", "ListDetectors", R, |_c| Body::null()),
        act!("guardduty", "GetDetector", R, |c| {
            let d = &c.reg().detector;
            Body::req(obj! { "detectorId" => d })
        }),
        act!("guardduty", "ListFindings", R, |c| {
            let d = &c.reg().detector;
            Body::req(obj! {
                "detectorId" => d,
                "maxResults" => 50,
                "findingCriteria" => obj! { "criterion" => obj! { "service.archived" => obj! { "eq" => arr!["false"] } } },
                "sortCriteria" => obj! { "attributeName" => "severity", "orderBy" => "DESC" },
            })
        }),
        act!("guardduty", "DeleteDetector", W, |c| {
            let d = &c.reg().detector;
            let on = format!("arn:aws:guardduty:{}:{}:detector/{d}", c.region, c.acct.id);
            Body::req(obj! { "detectorId" => d }).denied(on)
        }),
        // ---- Sign-in / Identity Center ---------------------------------------------------------
        act!("signin", "ConsoleLogin", W, |c| {
            let dest = *c.rng.pick(&[
                "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_6b4e3f8e6a3c4d5f",
                "https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1",
                "https://console.aws.amazon.com/s3/buckets",
                "https://console.aws.amazon.com/iam/home",
            ]);
            let mut add = obj! { "LoginTo" => dest, "MobileVersion" => "No" };
            match c.s.actor {
                Actor::Saml { .. } => {
                    add.push("MFAUsed", "No");
                    add.push("SamlProviderArn", format!("arn:aws:iam::{}:saml-provider/{}", c.acct.id, c.acct.saml_provider));
                }
                _ => {
                    add.push("MFAUsed", if c.s.mfa { "Yes" } else { "No" });
                    if c.s.mfa && let Some(u) = c.s.user {
                        add.push("MFAIdentifier", format!("arn:aws:iam::{}:mfa/{}", c.acct.id, u.name));
                    }
                }
            }
            let mut body = Body::new(J::Null, obj! { "ConsoleLogin" => "Success" });
            body.additional = Some(add);
            body.host = Some("signin.aws.amazon.com".into());
            body
        })
        .kind(Kind::SignIn),
        act!("sso", "ListAccounts", R, |_c| Body::null()),
        act!("sso", "ListAccountRoles", R, |c| Body::req(obj! { "accountId" => &c.acct.id })),
        act!("sso", "GetRoleCredentials", R, |c| {
            let ps = c.s.role.map_or("AdministratorAccess", |r| {
                r.name.trim_start_matches("AWSReservedSSO_").split('_').next().unwrap_or("")
            });
            Body::req(obj! { "roleName" => ps.to_string(), "accountId" => &c.acct.id })
        }),
        act!("sso", "Federate", R, |c| {
            let ps = c.s.role.map_or("AdministratorAccess", |r| {
                r.name.trim_start_matches("AWSReservedSSO_").split('_').next().unwrap_or("")
            });
            Body::req(obj! { "roleName" => ps.to_string(), "accountId" => &c.acct.id })
        }),
        // ---- Long tail ---------------------------------------------------------------------------
        act!("elasticloadbalancing", "DescribeLoadBalancers", R, |_c| Body::null()),
        act!("elasticloadbalancing", "DescribeTargetHealth", R, |c| {
            let arn = format!(
                "arn:aws:elasticloadbalancing:{}:{}:targetgroup/web-app-tg/{}",
                c.region, c.acct.id, c.rng.hex(16)
            );
            Body::req(obj! { "targetGroupArn" => arn })
        }),
        act!("autoscaling", "DescribeAutoScalingGroups", R, |_c| Body::req(obj! { "maxRecords" => 100 })),
        act!("ecr", "GetAuthorizationToken", R, |_c| Body::null()),
        act!("organizations", "DescribeOrganization", R, |_c| Body::null()),
        act!("route53", "ListHostedZones", R, |_c| Body::null()),
        act!("cloudformation", "DescribeStacks", R, |c| {
            if c.rng.chance(0.5) {
                let name = format!("{}-{}", c.acct.env, c.rng.pick(&["network", "web-app", "data-pipeline"]));
                Body::req(obj! { "stackName" => name })
            } else {
                Body::null()
            }
        }),
        act!("cloudformation", "ListStacks", R, |_c| Body::null()),
        act!("config", "DescribeConfigRules", R, |_c| Body::null()),
        act!("health", "DescribeEventAggregates", R, |_c| Body::req(obj! {
            "filter" => obj! { "eventStatusCodes" => arr!["open", "upcoming"] },
            "aggregateField" => "eventTypeCategory",
        })),
    ]
}

/// KMS encryption context and, when a service made the call for the principal, that service.
fn kms_context<'w>(c: &mut Ctx<'w, '_>) -> (J<'w>, Option<&'static str>) {
    match c.s.actor {
        Actor::Lambda { .. } => {
            let f = c.function();
            let arn = c.fn_arn(&f.name);
            (obj! { "aws:lambda:FunctionArn" => arn }, None)
        }
        Actor::AwsService { .. } => {
            let c2 = c.clock.civil(c.t);
            let id = &c.acct.id;
            (
                obj! {
                    "aws:cloudtrail:arn" => c.acct.trail_arn(&c.world.regions[0]),
                    "aws:s3:arn" => format!(
                        "arn:aws:s3:::{}/AWSLogs/{id}/CloudTrail/{}/{:04}/{:02}/{:02}/{id}_CloudTrail_{}_{}_{}.json.gz",
                        c.acct.trail_bucket, c.region, c2.y, c2.mo, c2.d, c.region,
                        c.clock.file_minute(c.t), c.rng.alnum(16)
                    ),
                },
                None,
            )
        }
        _ => match c.rng.below(4) {
            0 | 1 => {
                let b = c.bucket();
                let (key, _) = c.object(b);
                (
                    obj! { "aws:s3:arn" => format!("{}/{}", b.arn, key) },
                    Some("s3.amazonaws.com"),
                )
            }
            2 => {
                let s = c.rng.pick(&c.acct.secrets).clone();
                let arn = format!(
                    "arn:aws:secretsmanager:{}:{}:secret:{s}-{}",
                    c.region,
                    c.acct.id,
                    c.rng.alnum(6)
                );
                (
                    obj! { "SecretARN" => arn, "SecretVersionId" => c.uuid() },
                    Some("secretsmanager.amazonaws.com"),
                )
            }
            _ => {
                // EBS decrypts volume keys through an internal service principal.
                let i = c.instance();
                (obj! { "aws:ebs:id" => &i.volume }, Some("AWS Internal"))
            }
        },
    }
}

/// Index of the action with this event source prefix and name.
pub(crate) fn find(actions: &[Action], prefix: &str, name: &str) -> Option<u16> {
    actions
        .iter()
        .position(|a| a.prefix == prefix && a.name == name)
        .map(|i| i as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_action_strips_lambda_versions() {
        let acts = actions();
        let by = |p, n| &acts[find(&acts, p, n).unwrap() as usize];
        assert_eq!(
            by("lambda", "GetFunction20150331v2").iam_action(),
            "GetFunction"
        );
        assert_eq!(
            by("lambda", "ListFunctions20150331").iam_action(),
            "ListFunctions"
        );
        assert_eq!(
            by("ec2", "DescribeInstances").iam_action(),
            "DescribeInstances"
        );
    }

    #[test]
    fn action_names_are_unique() {
        let acts = actions();
        for (i, a) in acts.iter().enumerate() {
            assert_eq!(find(&acts, a.prefix, a.name), Some(i as u16), "{}", a.name);
        }
    }
}
