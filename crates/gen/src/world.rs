//! The `World`: the synthetic AWS estate the events happen in — accounts, their principals
//! (IAM users, roles, Identity Center users, federation providers) and resources (buckets,
//! instances, keys, functions...).
//!
//! It is generated once per configuration from the seed, so every event that names a bucket or a
//! role names one that exists and recurs, which is what makes joins and group-bys on the data
//! meaningful.

use crate::rng::{Rng, derive};

/// Account IDs handed out in order; the first two are the ones AWS documentation uses.
const FIXED_ACCOUNTS: [&str; 3] = ["111122223333", "444455556666", "777788889999"];
const COMPANIES: [&str; 6] = ["acme", "globex", "initech", "umbrella", "hooli", "vandelay"];
const ENVS: [&str; 6] = ["prod", "dev", "staging", "shared", "security", "sandbox"];
pub(crate) const PEOPLE_NAMES: [&str; 16] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "oscar", "peggy", "trent", "victor",
];
const SERVICE_USERS: [&str; 5] = [
    "ci-deploy",
    "backup-agent",
    "grafana-readonly",
    "legacy-etl",
    "datadog-integration",
];
const FUNCTIONS: [(&str, &str); 6] = [
    ("orders-processor", "python3.12"),
    ("thumbnail-generator", "nodejs20.x"),
    ("nightly-report", "python3.11"),
    ("slack-notifier", "python3.12"),
    ("auth-token-refresher", "java17"),
    ("invoice-renderer", "nodejs18.x"),
];
const SG_NAMES: [&str; 5] = ["default", "web-alb-sg", "app-sg", "bastion-sg", "db-sg"];
const EC2_ROLES: [&str; 3] = ["web-app-ec2-role", "batch-worker-role", "bastion-host-role"];

/// How a principal's tool identifies itself; versions are fixed per principal, the per-call
/// parts (CLI command, API name) are filled in per event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Agent {
    Cli { minor: u16, patch: u16, mac: bool },
    Boto3 { patch: u16, lambda: bool },
    Terraform { patch: u16 },
    GoSdk { patch: u16 },
    JavaSdk { patch: u16 },
    JsSdk { minor: u16 },
    PowerShell { patch: u16 },
    Ssm { patch: u16 },
    Browser { which: u8 },
}

impl Agent {
    pub(crate) fn random_tool(rng: &mut Rng) -> Agent {
        match rng.weighted(&[45, 20, 10, 8, 6, 6, 3]) {
            0 => Agent::Cli {
                minor: rng.range(13, 18) as u16,
                patch: rng.range(0, 40) as u16,
                mac: rng.chance(0.5),
            },
            1 => Agent::Boto3 {
                patch: rng.range(20, 80) as u16,
                lambda: false,
            },
            2 => Agent::Terraform {
                patch: rng.range(0, 6) as u16,
            },
            3 => Agent::GoSdk {
                patch: rng.range(0, 55) as u16,
            },
            4 => Agent::JavaSdk {
                patch: rng.range(0, 30) as u16,
            },
            5 => Agent::JsSdk {
                minor: rng.range(400, 600) as u16,
            },
            _ => Agent::PowerShell {
                patch: rng.range(500, 600) as u16,
            },
        }
    }

    pub(crate) fn browser(rng: &mut Rng) -> Agent {
        Agent::Browser {
            which: rng.below(BROWSERS.len() as u64) as u8,
        }
    }
}

pub(crate) const BROWSERS: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.66",
];

#[derive(Debug)]
pub(crate) struct User {
    pub name: String,
    pub arn: String,
    pub principal_id: String,
    pub access_key: String,
    pub human: bool,
    pub mfa: bool,
    pub agent: Agent,
    pub ips: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RoleKind {
    OrgAccess,
    Sso,
    Ec2,
    Lambda,
    GithubCi,
    Saml,
    Cognito,
    CrossAccountAudit,
    ServiceLinked(&'static str),
}

#[derive(Debug)]
pub(crate) struct Role {
    pub name: String,
    pub arn: String,
    pub principal_id: String,
    pub kind: RoleKind,
}

#[derive(Debug)]
pub(crate) struct SsoUser {
    pub user_id: String,
    pub email: String,
    pub agent: Agent,
    pub ip: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BucketKind {
    Assets,
    DataLake,
    Backups,
    Logs,
    TfState,
    Uploads,
}

#[derive(Debug)]
pub(crate) struct Bucket {
    pub name: String,
    pub arn: String,
    pub region: usize,
    pub kind: BucketKind,
}

#[derive(Debug)]
pub(crate) struct Function {
    pub name: String,
    pub runtime: &'static str,
    pub region: usize,
    pub role: usize,
    pub agent: Agent,
}

#[derive(Debug)]
pub(crate) struct Instance {
    pub id: String,
    pub role: usize,
    pub private_ip: String,
    pub public_ip: String,
    pub az: String,
    pub volume: String,
    pub ssm_patch: u16,
}

/// Resources that exist once per account and region.
#[derive(Debug)]
pub(crate) struct Regional {
    pub vpc: String,
    pub subnets: Vec<String>,
    pub sgs: Vec<(String, &'static str)>,
    pub instances: Vec<Instance>,
    pub kms_keys: Vec<String>,
    pub ami: String,
    pub detector: String,
    pub vpce: String,
    pub digest_fingerprint: String,
    pub digest_offset: i64,
}

#[derive(Debug)]
pub(crate) struct Account {
    pub id: String,
    pub company: &'static str,
    pub env: &'static str,
    /// UTC offset in hours of the people working in this account.
    pub tz: i64,
    pub users: Vec<User>,
    pub roles: Vec<Role>,
    pub sso_users: Vec<SsoUser>,
    pub identity_store: String,
    pub saml_provider: &'static str,
    pub saml_issuer_id: String,
    pub oidc_provider: String,
    pub repos: Vec<String>,
    pub regional: Vec<Regional>,
    pub buckets: Vec<Bucket>,
    pub functions: Vec<Function>,
    pub db_instances: Vec<String>,
    pub tables: Vec<&'static str>,
    pub secrets: Vec<String>,
    pub params: Vec<String>,
    pub trail_name: &'static str,
    pub trail_bucket: String,
    pub cognito_pool: String,
}

/// A principal in an account outside the generated set (auditors, partners, attackers).
#[derive(Debug)]
pub(crate) struct External {
    pub account: String,
    pub principal_id: String,
    pub ip: String,
}

#[derive(Debug)]
pub(crate) struct World {
    pub regions: Vec<String>,
    /// Where IAM, Organizations and other global services log (us-east-1 when configured).
    pub global_region: usize,
    pub accounts: Vec<Account>,
    pub external: Vec<External>,
}

/// A public IPv4 address outside private, reserved and documentation ranges.
pub(crate) fn public_ip(rng: &mut Rng) -> String {
    const FIRST: [u8; 24] = [
        24, 31, 37, 45, 50, 62, 66, 68, 71, 73, 76, 81, 84, 86, 89, 92, 98, 108, 136, 151, 174,
        176, 188, 212,
    ];
    format!(
        "{}.{}.{}.{}",
        rng.pick(&FIRST),
        rng.range(1, 255),
        rng.range(0, 256),
        rng.range(1, 255)
    )
}

/// An address in the EC2 public ranges, as seen for calls from instances without a VPC endpoint.
pub(crate) fn aws_ip(rng: &mut Rng) -> String {
    const FIRST: [u8; 7] = [3, 18, 34, 35, 44, 52, 54];
    format!(
        "{}.{}.{}.{}",
        rng.pick(&FIRST),
        rng.range(0, 256),
        rng.range(0, 256),
        rng.range(1, 255)
    )
}

fn private_ip(rng: &mut Rng, region: usize) -> String {
    format!(
        "10.{}.{}.{}",
        region * 16 + rng.index(3),
        rng.range(0, 64),
        rng.range(4, 255)
    )
}

fn account_id(idx: usize, seed: u64) -> String {
    if let Some(id) = FIXED_ACCOUNTS.get(idx) {
        return id.to_string();
    }
    let mut r = Rng::derived(seed, &[0xACC7, idx as u64]);
    format!("{}{}", r.range(1, 10), r.digits(11))
}

fn role(rng: &mut Rng, account: &str, path: &str, name: &str, kind: RoleKind) -> Role {
    Role {
        arn: format!("arn:aws:iam::{account}:role{path}{name}"),
        name: name.to_string(),
        principal_id: format!("AROA{}", rng.upper_alnum(17)),
        kind,
    }
}

impl World {
    pub(crate) fn new(seed: u64, accounts: u32, regions: &[String]) -> World {
        let global_region = regions.iter().position(|r| r == "us-east-1").unwrap_or(0);
        let mut rng = Rng::derived(seed, &[0xE7E2]);
        let external = (0..4)
            .map(|i| External {
                account: match i {
                    0 => "999988887777".to_string(),
                    1 => "210987654321".to_string(),
                    _ => format!("{}{}", rng.range(1, 10), rng.digits(11)),
                },
                principal_id: format!("AIDA{}", rng.upper_alnum(17)),
                ip: if i < 2 {
                    aws_ip(&mut rng)
                } else {
                    public_ip(&mut rng)
                },
            })
            .collect();
        let accounts = (0..accounts.max(1) as usize)
            .map(|i| Account::new(seed, i, regions))
            .collect();
        World {
            regions: regions.to_vec(),
            global_region,
            accounts,
            external,
        }
    }
}

impl Account {
    fn new(seed: u64, idx: usize, regions: &[String]) -> Account {
        let mut rng = Rng::new(derive(seed, &[0xACC0, idx as u64]));
        let id = account_id(idx, seed);
        let company = COMPANIES[idx % COMPANIES.len()];
        let env = ENVS[idx % ENVS.len()];
        let tz = *rng.pick(&[-8i64, -5, -5, 0, 1, 1, 2, 10]);

        // People: a handful of humans and a couple of service users with long-term keys.
        let mut people: Vec<&str> = PEOPLE_NAMES.to_vec();
        let n_people = rng.range(5, 9) as usize;
        let mut users = Vec::new();
        for _ in 0..n_people {
            let name = people.remove(rng.index(people.len()));
            users.push(User {
                name: name.to_string(),
                arn: format!("arn:aws:iam::{id}:user/{name}"),
                principal_id: format!("AIDA{}", rng.upper_alnum(17)),
                access_key: format!("AKIA{}", rng.upper_alnum(16)),
                human: true,
                mfa: rng.chance(0.7),
                agent: Agent::random_tool(&mut rng),
                ips: vec![public_ip(&mut rng), public_ip(&mut rng)],
            });
        }
        for su in SERVICE_USERS.iter().take(rng.range(2, 5) as usize) {
            let agent = match *su {
                "ci-deploy" => Agent::Terraform {
                    patch: rng.range(0, 6) as u16,
                },
                "grafana-readonly" | "datadog-integration" => Agent::GoSdk {
                    patch: rng.range(0, 55) as u16,
                },
                "backup-agent" => Agent::JavaSdk {
                    patch: rng.range(0, 30) as u16,
                },
                _ => Agent::Boto3 {
                    patch: rng.range(20, 80) as u16,
                    lambda: false,
                },
            };
            users.push(User {
                name: su.to_string(),
                arn: format!("arn:aws:iam::{id}:user/{su}"),
                principal_id: format!("AIDA{}", rng.upper_alnum(17)),
                access_key: format!("AKIA{}", rng.upper_alnum(16)),
                human: false,
                mfa: false,
                agent,
                ips: vec![aws_ip(&mut rng)],
            });
        }

        let mut roles = vec![role(
            &mut rng,
            &id,
            "/",
            "OrganizationAccountAccessRole",
            RoleKind::OrgAccess,
        )];
        for ps in ["AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess"] {
            let name = format!("AWSReservedSSO_{ps}_{}", rng.hex(16));
            // Identity Center puts its home region in the path unless that is us-east-1.
            let path = match regions.first().map(String::as_str) {
                None | Some("us-east-1") => "/aws-reserved/sso.amazonaws.com/".to_string(),
                Some(r) => format!("/aws-reserved/sso.amazonaws.com/{r}/"),
            };
            roles.push(role(&mut rng, &id, &path, &name, RoleKind::Sso));
        }
        for name in EC2_ROLES {
            roles.push(role(&mut rng, &id, "/", name, RoleKind::Ec2));
        }
        roles.push(role(
            &mut rng,
            &id,
            "/",
            "github-actions-deploy",
            RoleKind::GithubCi,
        ));
        for name in ["ADFS-Admins", "ADFS-ReadOnly"] {
            roles.push(role(&mut rng, &id, "/", name, RoleKind::Saml));
        }
        roles.push(role(
            &mut rng,
            &id,
            "/",
            "Cognito_MobileAppAuth_Role",
            RoleKind::Cognito,
        ));
        roles.push(role(
            &mut rng,
            &id,
            "/",
            "SecurityAuditRole",
            RoleKind::CrossAccountAudit,
        ));
        for svc in [
            "config.amazonaws.com",
            "autoscaling.amazonaws.com",
            "elasticloadbalancing.amazonaws.com",
            "trustedadvisor.amazonaws.com",
            "access-analyzer.amazonaws.com",
        ] {
            let name = match svc {
                "config.amazonaws.com" => "AWSServiceRoleForConfig",
                "autoscaling.amazonaws.com" => "AWSServiceRoleForAutoScaling",
                "elasticloadbalancing.amazonaws.com" => "AWSServiceRoleForElasticLoadBalancing",
                "trustedadvisor.amazonaws.com" => "AWSServiceRoleForTrustedAdvisor",
                _ => "AWSServiceRoleForAccessAnalyzer",
            };
            let path = format!("/aws-service-role/{svc}/");
            roles.push(role(
                &mut rng,
                &id,
                &path,
                name,
                RoleKind::ServiceLinked(svc),
            ));
        }

        let mut functions = Vec::new();
        let n_fn = rng.range(3, 6) as usize;
        for (i, (name, runtime)) in FUNCTIONS.iter().take(n_fn).enumerate() {
            let role_name = format!("{name}-role-{}", rng.alnum(8).to_lowercase());
            let r = role(
                &mut rng,
                &id,
                "/service-role/",
                &role_name,
                RoleKind::Lambda,
            );
            roles.push(r);
            let agent = if runtime.starts_with("python") {
                Agent::Boto3 {
                    patch: rng.range(20, 80) as u16,
                    lambda: true,
                }
            } else if runtime.starts_with("node") {
                Agent::JsSdk {
                    minor: rng.range(400, 600) as u16,
                }
            } else {
                Agent::JavaSdk {
                    patch: rng.range(0, 30) as u16,
                }
            };
            functions.push(Function {
                name: name.to_string(),
                runtime,
                region: i % regions.len(),
                role: roles.len() - 1,
                agent,
            });
        }

        let ec2_roles: Vec<usize> = roles
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kind == RoleKind::Ec2)
            .map(|(i, _)| i)
            .collect();
        let regional = regions
            .iter()
            .enumerate()
            .map(|(ri, region)| {
                let azs: Vec<String> = ["a", "b", "c"]
                    .iter()
                    .map(|z| format!("{region}{z}"))
                    .collect();
                let n_inst = if ri == 0 {
                    rng.range(4, 8)
                } else {
                    rng.range(1, 4)
                };
                let instances = (0..n_inst)
                    .map(|_| Instance {
                        id: format!("i-0{}", rng.hex(16)),
                        role: *rng.pick(&ec2_roles),
                        private_ip: private_ip(&mut rng, ri),
                        public_ip: aws_ip(&mut rng),
                        az: rng.pick(&azs).clone(),
                        volume: format!("vol-0{}", rng.hex(16)),
                        ssm_patch: rng.range(0, 60) as u16,
                    })
                    .collect();
                Regional {
                    vpc: format!("vpc-0{}", rng.hex(16)),
                    subnets: (0..3).map(|_| format!("subnet-0{}", rng.hex(16))).collect(),
                    sgs: SG_NAMES
                        .iter()
                        .map(|n| (format!("sg-0{}", rng.hex(16)), *n))
                        .collect(),
                    instances,
                    kms_keys: (0..2).map(|_| rng.uuid()).collect(),
                    ami: format!("ami-0{}", rng.hex(16)),
                    detector: rng.hex(32),
                    vpce: format!("vpce-0{}", rng.hex(16)),
                    digest_fingerprint: rng.hex(32),
                    digest_offset: rng.range(0, 3600),
                }
            })
            .collect();

        let mut buckets = Vec::new();
        let mut add_bucket = |name: String, region: usize, kind: BucketKind| {
            buckets.push(Bucket {
                arn: format!("arn:aws:s3:::{name}"),
                name,
                region,
                kind,
            });
        };
        add_bucket(format!("{company}-{env}-assets"), 0, BucketKind::Assets);
        add_bucket(
            format!("{company}-{env}-data-lake-{id}"),
            0,
            BucketKind::DataLake,
        );
        add_bucket(
            format!("{company}-terraform-state-{id}"),
            0,
            BucketKind::TfState,
        );
        add_bucket(format!("{company}-{env}-logs"), 0, BucketKind::Logs);
        for (ri, region) in regions.iter().enumerate() {
            add_bucket(
                format!("{company}-{env}-backups-{region}"),
                ri,
                BucketKind::Backups,
            );
            add_bucket(
                format!("{company}-{env}-uploads-{region}"),
                ri,
                BucketKind::Uploads,
            );
        }

        let sso_users = PEOPLE_NAMES
            .iter()
            .take(rng.range(3, 7) as usize)
            .map(|p| SsoUser {
                user_id: format!(
                    "{}-{}-{}-{}-{}",
                    rng.hex(8),
                    rng.hex(4),
                    rng.hex(4),
                    rng.hex(4),
                    rng.hex(12)
                ),
                email: format!("{p}@{company}.com"),
                agent: Agent::browser(&mut rng),
                ip: public_ip(&mut rng),
            })
            .collect();

        let region0 = regions.first().map_or("us-east-1", String::as_str);
        Account {
            company,
            env,
            tz,
            users,
            roles,
            sso_users,
            identity_store: format!("d-{}", rng.hex(10)),
            saml_provider: if idx.is_multiple_of(2) {
                "ADFS"
            } else {
                "Okta"
            },
            saml_issuer_id: format!("{}=", rng.base64(27)),
            oidc_provider: format!(
                "arn:aws:iam::{id}:oidc-provider/token.actions.githubusercontent.com"
            ),
            repos: ["infrastructure", "web-app", "data-pipelines"]
                .iter()
                .map(|r| format!("{company}/{r}"))
                .collect(),
            regional,
            buckets,
            functions,
            db_instances: vec![
                format!("{env}-postgres-1"),
                format!("{env}-mysql-reporting"),
            ],
            tables: vec!["orders", "sessions", "terraform-locks"],
            secrets: ["db/postgres", "api/stripe", "slack/webhook"]
                .iter()
                .map(|s| format!("{env}/{s}"))
                .collect(),
            params: ["db_host", "feature_flags", "api_url", "cache_ttl"]
                .iter()
                .map(|p| format!("/{env}/app/{p}"))
                .collect(),
            trail_name: "management-events",
            trail_bucket: format!("aws-cloudtrail-logs-{id}-{}", rng.hex(8)),
            cognito_pool: format!("{region0}:{}", rng.uuid()),
            id,
        }
    }

    pub(crate) fn roles_of(&self, kind: RoleKind) -> impl Iterator<Item = usize> + '_ {
        self.roles
            .iter()
            .enumerate()
            .filter(move |(_, r)| r.kind == kind)
            .map(|(i, _)| i)
    }

    pub(crate) fn role_of(&self, kind: RoleKind) -> usize {
        self.roles_of(kind).next().unwrap_or(0)
    }

    pub(crate) fn service_linked(&self) -> Vec<usize> {
        self.roles
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r.kind, RoleKind::ServiceLinked(_)))
            .map(|(i, _)| i)
            .collect()
    }

    pub(crate) fn humans(&self) -> Vec<usize> {
        (0..self.users.len())
            .filter(|&u| self.users[u].human)
            .collect()
    }

    pub(crate) fn machines(&self) -> Vec<usize> {
        (0..self.users.len())
            .filter(|&u| !self.users[u].human)
            .collect()
    }

    /// A bucket living in `region`, preferring the account's main buckets in the first region.
    pub(crate) fn bucket_in(&self, rng: &mut Rng, region: usize) -> &Bucket {
        let local: Vec<&Bucket> = self.buckets.iter().filter(|b| b.region == region).collect();
        local[rng.index(local.len())]
    }

    pub(crate) fn trail_arn(&self, home_region: &str) -> String {
        format!(
            "arn:aws:cloudtrail:{home_region}:{}:trail/{}",
            self.id, self.trail_name
        )
    }
}
