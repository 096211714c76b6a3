//! The `Renderer`: turns planned events into complete CloudTrail records, adding the fields
//! every record shares (IDs, TLS details, error fields, S3 extras) around an action's body,
//! and renders Insights events.

use std::borrow::Cow;

use crate::catalog::{Action, Body, Ctx, Kind};
use crate::clock::Clock;
use crate::identity::{Actor, SessInfo, Ua, Who};
use crate::json::{J, arr, obj};
use crate::plan::{EventPlan, Force, InsightPlan, Plan};
use crate::rng::{Rng, derive};
use crate::world::{Agent, BROWSERS, World};

pub(crate) struct Renderer<'w> {
    pub world: &'w World,
    pub clock: &'w Clock,
    pub actions: &'w [Action],
    pub plan: &'w Plan,
}

/// How often each kind of principal hits an error (before service-specific misses).
fn error_rate(actor: Actor) -> f64 {
    match actor {
        Actor::UserCli { .. } => 0.05,
        Actor::UserConsole { .. } | Actor::Sso { .. } | Actor::Saml { .. } => 0.04,
        Actor::Federated { .. } | Actor::GithubCi { .. } => 0.035,
        Actor::Root => 0.02,
        Actor::Ec2 { .. } | Actor::Lambda { .. } | Actor::Cognito => 0.025,
        Actor::ServiceLinked { .. } => 0.015,
        Actor::AwsService { .. } => 0.002,
        Actor::CrossAccountS3 { .. } => 0.08,
        Actor::Audit { .. } => 0.10,
        Actor::Incident { .. } => 0.2,
    }
}

fn machine(actor: Actor) -> bool {
    matches!(
        actor,
        Actor::Ec2 { .. }
            | Actor::Lambda { .. }
            | Actor::ServiceLinked { .. }
            | Actor::GithubCi { .. }
            | Actor::Audit { .. }
            | Actor::CrossAccountS3 { .. }
    )
}

/// The name the AWS CLI uses for a service (`aws s3api ...`, `aws cloudwatch ...`).
fn cli_service(prefix: &str) -> &str {
    match prefix {
        "s3" => "s3api",
        "monitoring" => "cloudwatch",
        "elasticloadbalancing" => "elbv2",
        p => p,
    }
}

fn kebab(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 4);
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                s.push('-');
            }
            s.push(ch.to_ascii_lowercase());
        } else {
            s.push(ch);
        }
    }
    s
}

fn user_agent<'w>(ua: Ua, a: &Action) -> Cow<'w, str> {
    let api = cli_service(a.prefix);
    match ua {
        Ua::Service(s) => Cow::Borrowed(s),
        Ua::Console => {
            if a.prefix == "s3" {
                Cow::Borrowed(
                    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10.215-181.850.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.372-b08 java/1.8.0_372 vendor/Oracle_Corporation cfg/retry-mode/standard]",
                )
            } else {
                Cow::Borrowed("AWS Internal")
            }
        }
        Ua::Tool(agent) => Cow::Owned(match agent {
            Agent::Cli { minor, patch, mac } => {
                let command = match (a.prefix, a.name) {
                    ("s3", "GetObject" | "PutObject") => "s3.cp".to_string(),
                    ("s3", "ListObjects") => "s3.ls".to_string(),
                    ("s3", "DeleteObject") => "s3.rm".to_string(),
                    _ => format!("{api}.{}", kebab(a.iam_action())),
                };
                let (os, distrib) = if mac {
                    ("os/macos#23.3.0 md/arch#arm64", "")
                } else {
                    (
                        "os/linux#6.5.0-1016-aws md/arch#x86_64",
                        " md/distrib#ubuntu.22",
                    )
                };
                format!(
                    "aws-cli/2.{minor}.{patch} md/awscrt#0.19.19 ua/2.0 {os} lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe{distrib} md/prompt#off md/command#{command}"
                )
            }
            Agent::Boto3 { patch, lambda } => {
                let env = if lambda {
                    " exec-env/AWS_Lambda_python3.12"
                } else {
                    ""
                };
                format!(
                    "Boto3/1.34.{patch} md/Botocore#1.34.{patch} ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython{env} cfg/retry-mode#legacy Botocore/1.34.{patch}"
                )
            }
            Agent::Terraform { patch } => format!(
                "APN/1.0 HashiCorp/1.0 Terraform/1.7.{patch} (+https://www.terraform.io) terraform-provider-aws/5.40.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.25.2 os/linux lang/go#1.21.8 md/GOOS#linux md/GOARCH#amd64 api/{}#1.{}.0",
                kebab(api).replace('-', ""),
                20 + patch * 3
            ),
            Agent::GoSdk { patch } => format!("aws-sdk-go/1.50.{patch} (go1.21.7; linux; amd64)"),
            Agent::JavaSdk { patch } => format!(
                "aws-sdk-java/2.25.{patch} Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy"
            ),
            Agent::JsSdk { minor } => format!(
                "aws-sdk-js/3.{minor}.0 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 lang/js md/nodejs#20.11.1 api/{}#3.{minor}.0",
                kebab(api).replace('-', "")
            ),
            Agent::PowerShell { patch } => format!(
                "AWSPowerShell.Common/4.1.{patch}.0 .NET_Core/6.0.27 OS/Microsoft_Windows_10.0.20348 PowerShellCore/7.4 ClientAsync"
            ),
            Agent::Ssm { patch } => format!(
                "aws-sdk-go/1.44.{} (go1.21.6; linux; amd64) amazon-ssm-agent/3.3.{}.0",
                260 + patch,
                1000 + patch * 7
            ),
            Agent::Browser { which } => BROWSERS[which as usize % BROWSERS.len()].to_string(),
        }),
    }
}

fn tls_host(a: &Action, region: &str, rng: &mut Rng) -> String {
    match a.prefix {
        "iam" => "iam.amazonaws.com".into(),
        "route53" => "route53.amazonaws.com".into(),
        "signin" => "signin.aws.amazon.com".into(),
        "sso" => format!("portal.sso.{region}.amazonaws.com"),
        "sts" if rng.chance(0.2) => "sts.amazonaws.com".into(),
        p => format!("{p}.{region}.amazonaws.com"),
    }
}

fn iam_prefix(prefix: &str) -> &str {
    match prefix {
        "monitoring" => "cloudwatch",
        p => p,
    }
}

impl<'w> Renderer<'w> {
    pub(crate) fn session_info(&self, session: u32) -> SessInfo<'w> {
        SessInfo::new(self.world, &self.plan.sessions[session as usize])
    }

    /// The error code and message an event carries, if any.
    fn error(
        &self,
        ev: &EventPlan,
        a: &Action,
        s: &SessInfo<'w>,
        body: &Body<'w>,
        rng: &mut Rng,
    ) -> Option<(&'static str, String)> {
        if matches!(a.kind, Kind::SignIn | Kind::ServiceEvent) {
            return None;
        }
        let code = match ev.force {
            Force::NoError | Force::LoginFailure => return None,
            Force::Error(code) => code,
            Force::Random => {
                if let Some((code, msg, rate)) = a.miss
                    && rng.chance(rate)
                {
                    return Some((code, msg.replace("{account}", &s.acct.id)));
                }
                if !rng.chance(error_rate(s.actor)) {
                    return None;
                }
                let throttle = if machine(s.actor) { 0.45 } else { 0.12 };
                if rng.chance(throttle) {
                    "Throttling"
                } else if a.prefix == "ec2" {
                    "Client.UnauthorizedOperation"
                } else {
                    "AccessDenied"
                }
            }
        };
        let arn = s.arn(ev.who);
        let action = a.permission();
        let prefix = iam_prefix(a.prefix);
        Some(match code {
            "Throttling" => match a.prefix {
                "ec2" => ("Client.RequestLimitExceeded", "Request limit exceeded.".into()),
                "s3" => ("SlowDown", "Please reduce your request rate.".into()),
                "iam" => ("Throttling", "Rate exceeded".into()),
                "kms" => (
                    "ThrottlingException",
                    "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.".into(),
                ),
                _ => ("ThrottlingException", "Rate exceeded".into()),
            },
            "Client.UnauthorizedOperation" => {
                let msg = match (&body.denied_on, a.read_only) {
                    (Some(on), false) => format!(
                        "You are not authorized to perform this operation. User: {arn} is not authorized to perform: ec2:{action} on resource: {on} because no identity-based policy allows the ec2:{action} action. Encoded authorization failure message: {}",
                        rng.base64(180).replace(['+', '/'], "-")
                    ),
                    _ => format!(
                        "You are not authorized to perform this operation. User: {arn} is not authorized to perform: ec2:{action} because no identity-based policy allows the ec2:{action} action"
                    ),
                };
                ("Client.UnauthorizedOperation", msg)
            }
            _ if a.prefix == "s3" || arn.is_empty() => ("AccessDenied", "Access Denied".into()),
            _ => {
                let on = body.denied_on.as_deref().unwrap_or("*");
                let why = if a.prefix == "sts" {
                    String::new()
                } else {
                    format!(" because no identity-based policy allows the {prefix}:{action} action")
                };
                (
                    "AccessDenied",
                    format!("User: {arn} is not authorized to perform: {prefix}:{action} on resource: {on}{why}"),
                )
            }
        })
    }

    /// The full record of a planned event. Rendering is a pure function of the plan entry,
    /// so a duplicate delivery renders byte-identical JSON.
    pub(crate) fn record(&self, ev: &EventPlan, s: &SessInfo<'w>) -> J<'w> {
        let a = &self.actions[ev.action as usize];
        let ri = ev.region as usize;
        let region = self.world.regions[ri].as_str();
        let acct = s.acct;
        let clock = self.clock;
        let mut rng = Rng::new(ev.seed);
        let mut ctx = Ctx {
            rng: Rng::new(derive(ev.seed, &[1])),
            clock,
            world: self.world,
            acct,
            ri,
            region,
            t: ev.t,
            s,
            who: ev.who,
        };
        let mut body = (a.build)(&mut ctx);
        let error = self.error(ev, a, s, &body, &mut rng);
        let login_failed = ev.force == Force::LoginFailure;
        let service_event = a.kind == Kind::ServiceEvent;
        // A service-linked role already names its service in userIdentity.
        let invoked_by = if matches!(s.actor, Actor::ServiceLinked { .. }) {
            None
        } else {
            body.invoked_by
        };

        let identity = if service_event {
            obj! { "accountId" => &acct.id, "invokedBy" => "AWS Internal" }
        } else {
            s.user_identity(ev.who, clock, login_failed, invoked_by)
        };
        let (ip, ua): (Cow<'w, str>, Cow<'w, str>) = if service_event {
            ("AWS Internal".into(), "AWS Internal".into())
        } else if let Some(svc) = invoked_by {
            (svc.into(), svc.into())
        } else {
            (
                Cow::Owned(s.source_ip(ev.who).to_string()),
                user_agent(s.ua(ev.who), a),
            )
        };
        let via_service = service_event || invoked_by.is_some() || s.via_service(ev.who);

        let mut rec = obj! {
            "eventVersion" => a.version,
            "userIdentity" => identity,
            "eventTime" => clock.iso(ev.t),
            "eventSource" => a.source,
            "eventName" => a.name,
            "awsRegion" => region,
            "sourceIPAddress" => ip,
            "userAgent" => J::Str(ua),
        };
        if let Some((code, msg)) = &error {
            rec.push("errorCode", *code);
            if !msg.is_empty() {
                rec.push("errorMessage", msg.clone());
            }
        }
        if login_failed {
            rec.push("errorMessage", "Failed authentication");
            body.resp = obj! { "ConsoleLogin" => "Failure" };
            if let Some(add) = &mut body.additional
                && let J::Obj(fields) = add
            {
                fields.retain(|(k, _)| *k != "MFAIdentifier" && *k != "MFAUsed");
                fields.push(("MFAUsed", J::from("No")));
            }
        }
        rec.push(
            "requestParameters",
            std::mem::replace(&mut body.req, J::Null),
        );
        let resp = if error.is_some() {
            J::Null
        } else {
            std::mem::replace(&mut body.resp, J::Null)
        };
        rec.push("responseElements", resp);

        let s3 = a.prefix == "s3";
        let tls12 = s.tls12 && !s.console();
        let cipher = if tls12 {
            "ECDHE-RSA-AES128-GCM-SHA256"
        } else {
            "TLS_AES_128_GCM_SHA256"
        };
        if s3 {
            let (bin, bout) = if error.is_some() {
                (0, rng.range(200, 400))
            } else {
                body.bytes
            };
            rec.push(
                "additionalEventData",
                obj! {
                    "SignatureVersion" => "SigV4",
                    "CipherSuite" => cipher,
                    "bytesTransferredIn" => bin,
                    "AuthenticationMethod" => "AuthHeader",
                    "x-amz-id-2" => format!("{}=", rng.base64(75)),
                    "bytesTransferredOut" => bout,
                },
            );
        } else if let Some(add) = body.additional.take() {
            rec.push("additionalEventData", add);
        }
        match a.kind {
            Kind::SignIn | Kind::ServiceEvent => {}
            _ if s3 => rec.push("requestID", rng.upper_alnum(16)),
            _ => rec.push("requestID", rng.uuid()),
        }
        rec.push("eventID", rng.uuid());
        rec.push("readOnly", a.read_only);
        if let Some(res) = body.resources.take() {
            rec.push("resources", res);
        }
        rec.push(
            "eventType",
            match a.kind {
                Kind::SignIn => "AwsConsoleSignIn",
                Kind::ServiceEvent => "AwsServiceEvent",
                _ => "AwsApiCall",
            },
        );
        rec.push("managementEvent", a.kind != Kind::Data);
        rec.push("recipientAccountId", &acct.id);
        if body.shared_event_id || matches!(s.actor, Actor::CrossAccountS3 { .. }) {
            rec.push("sharedEventID", rng.uuid());
        }
        if s3 && s.vpce && ev.who == Who::Main && invoked_by.is_none() {
            rec.push("vpcEndpointId", &acct.regional[ri].vpce);
            rec.push("vpcEndpointAccountId", &acct.id);
        }
        if let Some(details) = body.service_details.take() {
            rec.push("serviceEventDetails", details);
        }
        rec.push(
            "eventCategory",
            if a.kind == Kind::Data {
                "Data"
            } else {
                "Management"
            },
        );
        if !via_service {
            let host = match body.host.take() {
                Some(h) => h,
                None => tls_host(a, region, &mut rng),
            };
            rec.push(
                "tlsDetails",
                obj! {
                    "tlsVersion" => if tls12 { "TLSv1.2" } else { "TLSv1.3" },
                    "cipherSuite" => cipher,
                    "clientProvidedHostHeader" => host,
                },
            );
        }
        if s.console() && ev.who == Who::Main && a.kind != Kind::SignIn {
            rec.push("sessionCredentialFromConsole", "true");
        }
        rec
    }

    /// The Start and End Insights events of one insight, with their delivery-relevant times.
    pub(crate) fn insight_pair(&self, ins: &InsightPlan) -> [(i64, J<'w>); 2] {
        let a = &self.actions[ins.action as usize];
        let acct = &self.world.accounts[ins.account as usize];
        let region = self.world.regions[ins.region as usize].as_str();
        let mut rng = Rng::new(ins.seed);
        let shared = rng.uuid();
        let s = self.session_info(ins.session);
        let arn = s.arn(Who::Main);
        let ua = user_agent(s.ua(Who::Main), a).into_owned();
        let insight_avg = (ins.count as f64 / ins.minutes as f64 * 1000.0).round() / 1000.0;
        let baseline_avg = (rng.f64() * 0.05 * 1e10).round() / 1e10;
        let baseline_minutes = rng.range(6 * 1440, 9 * 1440);
        let error_value = ins.error.unwrap_or("null");
        let attr = |attribute: &'static str, value: String| {
            obj! {
                "attribute" => attribute,
                "insight" => arr![obj! { "value" => value.clone(), "average" => insight_avg }],
                "baseline" => arr![obj! { "value" => value, "average" => baseline_avg }],
            }
        };
        let end = ins.start + ins.minutes * 60;
        let make = |state: &'static str, rng: &mut Rng| {
            let mut stats = obj! {
                "baseline" => obj! { "average" => baseline_avg },
                "insight" => obj! { "average" => insight_avg },
            };
            if state == "End" {
                stats.push("insightDuration", ins.minutes);
            }
            stats.push("baselineDuration", baseline_minutes);
            let mut details = obj! {
                "state" => state,
                "eventSource" => a.source,
                "eventName" => a.name,
                "insightType" => if ins.error.is_some() { "ApiErrorRateInsight" } else { "ApiCallRateInsight" },
            };
            if let Some(code) = ins.error {
                details.push("errorCode", code);
            }
            details.push(
                "insightContext",
                obj! {
                    "statistics" => stats,
                    "attributions" => arr![
                        attr("userIdentityArn", arn.clone()),
                        attr("userAgent", ua.clone()),
                        attr("errorCode", error_value.to_string()),
                    ],
                },
            );
            obj! {
                "eventVersion" => "1.08",
                "eventTime" => self.clock.iso(if state == "Start" { ins.start } else { end }),
                "awsRegion" => region,
                "eventID" => rng.uuid(),
                "eventType" => "AwsCloudTrailInsight",
                "recipientAccountId" => &acct.id,
                "sharedEventID" => shared.clone(),
                "insightDetails" => details,
                "eventCategory" => "Insight",
            }
        };
        let start = make("Start", &mut rng);
        let stop = make("End", &mut rng);
        [(ins.start, start), (end, stop)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_cases_api_names() {
        assert_eq!(kebab("DescribeInstances"), "describe-instances");
        assert_eq!(kebab("GetCallerIdentity"), "get-caller-identity");
    }
}
