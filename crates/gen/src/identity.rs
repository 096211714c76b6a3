//! The caller of an event: a `Session` (one principal's burst of activity) and the
//! `userIdentity` shapes CloudTrail records for each kind of principal.
//!
//! A session has a main principal and, for federated access, an issuer that obtained the
//! credentials first (a `WebIdentityUser` calling `AssumeRoleWithWebIdentity`, an
//! `IdentityCenterUser` fetching role credentials, `lambda.amazonaws.com` assuming the function's
//! role...). Everything session-wide (addresses, keys, session names, tool versions) is derived
//! from the session's seed, so any event of the session can be rendered on its own.

use crate::json::{J, obj};
use crate::rng::Rng;
use crate::world::{
    Account, Agent, Function, Instance, Role, RoleKind, SsoUser, User, World, aws_ip, public_ip,
};

/// Who drives a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Actor {
    UserCli { user: u16 },
    UserConsole { user: u16 },
    Root,
    Ec2 { instance: u16 },
    Lambda { function: u16 },
    Sso { user: u16, role: u16, console: bool },
    GithubCi { repo: u16 },
    Saml { role: u16, user: u16 },
    Federated { user: u16 },
    ServiceLinked { role: u16 },
    AwsService { svc: u8 },
    CrossAccountS3 { ext: u16 },
    Audit { ext: u16 },
    Cognito,
    Incident { user: u16 },
}

/// AWS service principals that act under their own `AWSService` identity.
pub(crate) const AWS_SERVICES: [&str; 7] = [
    "lambda.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "apigateway.amazonaws.com",
    "events.amazonaws.com",
    "s3.amazonaws.com",
    "cloudtrail.amazonaws.com",
    "AWS Internal",
];

#[derive(Clone, Copy, Debug)]
pub(crate) struct Session {
    pub account: u16,
    pub region: u8,
    pub actor: Actor,
    pub seed: u64,
    pub start: i64,
}

/// Which principal of the session made a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Who {
    Main,
    /// The principal that obtained the main principal's credentials.
    Issuer,
    /// The main principal signing in to the console (`ConsoleLogin`).
    Login,
}

/// How a caller's user agent string is made.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ua {
    Tool(Agent),
    /// A service calling on someone's behalf: the user agent is the service's host name.
    Service(&'static str),
    /// API calls the console makes for a signed-in user.
    Console,
}

/// Everything about a session that stays the same across its events.
#[derive(Debug)]
pub(crate) struct SessInfo<'w> {
    pub acct: &'w Account,
    pub actor: Actor,
    pub region: usize,
    /// When the session's credentials were issued.
    pub created: i64,
    pub ip: String,
    pub ua: Ua,
    pub issuer_ip: String,
    pub issuer_ua: Ua,
    pub browser: Agent,
    pub tls12: bool,
    pub mfa: bool,
    /// Calls from instances in a VPC reach S3 through a gateway endpoint.
    pub vpce: bool,
    pub key: String,
    pub role: Option<&'w Role>,
    pub role_session: String,
    pub user: Option<&'w User>,
    pub instance: Option<&'w Instance>,
    pub function: Option<&'w Function>,
    pub sso: Option<&'w SsoUser>,
    pub ext: Option<&'w crate::world::External>,
    pub service: &'static str,
    pub repo: &'w str,
    pub web_subject: String,
    pub saml_user: String,
    /// Identity Center's opaque credential ID.
    pub credential_id: String,
}

fn asia(rng: &mut Rng) -> String {
    format!("ASIA{}", rng.upper_alnum(16))
}

impl<'w> SessInfo<'w> {
    pub(crate) fn new(world: &'w World, s: &Session) -> SessInfo<'w> {
        let acct = &world.accounts[s.account as usize];
        let region = s.region as usize;
        let mut rng = Rng::new(s.seed);
        let browser = Agent::browser(&mut rng);
        let mut info = SessInfo {
            acct,
            actor: s.actor,
            region,
            created: s.start - rng.range(5, 900),
            ip: public_ip(&mut rng),
            ua: Ua::Tool(Agent::random_tool(&mut rng)),
            issuer_ip: String::new(),
            issuer_ua: Ua::Console,
            browser,
            tls12: rng.chance(0.12),
            mfa: false,
            vpce: false,
            key: asia(&mut rng),
            role: None,
            role_session: String::new(),
            user: None,
            instance: None,
            function: None,
            sso: None,
            ext: None,
            service: "",
            repo: "",
            web_subject: String::new(),
            saml_user: String::new(),
            credential_id: String::new(),
        };
        match s.actor {
            Actor::UserCli { user } | Actor::Incident { user } => {
                let u = &acct.users[user as usize];
                info.user = Some(u);
                info.key = u.access_key.clone();
                info.ua = Ua::Tool(u.agent);
                if matches!(s.actor, Actor::UserCli { .. }) {
                    info.ip = rng.pick(&u.ips).clone();
                } else {
                    // Leaked keys used from hosting providers and anonymising networks.
                    info.ip = format!(
                        "{}.{}.{}.{}",
                        rng.pick(&[185u8, 45, 193, 91, 194]),
                        rng.range(1, 255),
                        rng.range(0, 256),
                        rng.range(1, 255)
                    );
                    info.ua = Ua::Tool(Agent::Boto3 {
                        patch: rng.range(20, 80) as u16,
                        lambda: false,
                    });
                }
            }
            Actor::UserConsole { user } => {
                let u = &acct.users[user as usize];
                info.user = Some(u);
                info.ip = rng.pick(&u.ips).clone();
                info.ua = Ua::Console;
                info.mfa = u.mfa;
                info.created = s.start;
            }
            Actor::Root => {
                info.ua = Ua::Console;
                info.mfa = rng.chance(0.8);
                info.created = s.start;
            }
            Actor::Ec2 { instance } => {
                let inst = &acct.regional[region].instances[instance as usize];
                info.instance = Some(inst);
                info.role = Some(&acct.roles[inst.role]);
                info.role_session = inst.id.clone();
                info.vpce = rng.chance(0.6);
                info.ip = if info.vpce {
                    inst.private_ip.clone()
                } else {
                    inst.public_ip.clone()
                };
                info.ua = Ua::Tool(if rng.chance(0.5) {
                    Agent::Ssm {
                        patch: inst.ssm_patch,
                    }
                } else {
                    Agent::Cli {
                        minor: 15,
                        patch: inst.ssm_patch % 40,
                        mac: false,
                    }
                });
                info.created = s.start - rng.range(60, 6 * 3600);
            }
            Actor::Lambda { function } => {
                let f = &acct.functions[function as usize];
                info.function = Some(f);
                info.role = Some(&acct.roles[f.role]);
                info.role_session = f.name.clone();
                info.ip = aws_ip(&mut rng);
                info.ua = Ua::Tool(f.agent);
                info.issuer_ip = "lambda.amazonaws.com".into();
                info.issuer_ua = Ua::Service("lambda.amazonaws.com");
                info.service = "lambda.amazonaws.com";
                info.created = s.start - rng.range(1, 60);
            }
            Actor::Sso {
                user,
                role,
                console,
            } => {
                let su = &acct.sso_users[user as usize];
                info.sso = Some(su);
                info.credential_id = format!("{}_{}", rng.alnum(28), rng.alnum(26));
                info.role = Some(&acct.roles[role as usize]);
                info.role_session = su.email.clone();
                info.ip = su.ip.clone();
                info.issuer_ip = su.ip.clone();
                info.browser = su.agent;
                info.issuer_ua = Ua::Tool(su.agent);
                info.ua = if console {
                    Ua::Console
                } else {
                    Ua::Tool(Agent::Cli {
                        minor: 15,
                        patch: (user * 7 % 40),
                        mac: true,
                    })
                };
                info.created = s.start - rng.range(1, 30);
            }
            Actor::GithubCi { repo } => {
                info.repo = &acct.repos[repo as usize];
                info.role = Some(&acct.roles[acct.role_of(RoleKind::GithubCi)]);
                info.role_session = format!("GitHubActions-{}", rng.digits(10));
                info.web_subject = format!("repo:{}:ref:refs/heads/main", info.repo);
                info.ip = public_ip(&mut rng);
                info.issuer_ip = info.ip.clone();
                info.issuer_ua = Ua::Tool(Agent::JsSdk { minor: 540 });
                info.ua = Ua::Tool(Agent::Terraform { patch: repo % 5 });
                info.created = s.start - rng.range(1, 10);
            }
            Actor::Saml { role, user } => {
                let name = crate::world::PEOPLE_NAMES[user as usize % 16];
                info.saml_user = format!("{name}@{}.com", acct.company);
                info.role = Some(&acct.roles[role as usize]);
                info.role_session = info.saml_user.clone();
                info.issuer_ip = info.ip.clone();
                info.issuer_ua = Ua::Tool(info.browser);
                info.ua = Ua::Console;
                info.created = s.start - rng.range(1, 20);
            }
            Actor::Federated { user } => {
                let u = &acct.users[user as usize];
                info.user = Some(u);
                info.role_session = format!("{}-{}", u.name, rng.digits(6));
                info.ip = rng.pick(&u.ips).clone();
                info.issuer_ip = info.ip.clone();
                info.ua = Ua::Tool(u.agent);
                info.issuer_ua = Ua::Tool(u.agent);
                info.created = s.start - rng.range(1, 30);
            }
            Actor::ServiceLinked { role } => {
                let r = &acct.roles[role as usize];
                info.role = Some(r);
                info.service = match r.kind {
                    RoleKind::ServiceLinked(svc) => svc,
                    _ => "config.amazonaws.com",
                };
                info.role_session = match info.service {
                    "config.amazonaws.com" => "AWSConfig-Describe".to_string(),
                    "autoscaling.amazonaws.com" => "AutoScaling".to_string(),
                    "elasticloadbalancing.amazonaws.com" => "ElasticLoadBalancing".to_string(),
                    "trustedadvisor.amazonaws.com" => {
                        format!("TrustedAdvisor_{}_{}", acct.id, rng.uuid())
                    }
                    _ => format!("access-analyzer-{}", rng.digits(13)),
                };
                info.ip = info.service.into();
                info.ua = Ua::Service(info.service);
                info.created = s.start - rng.range(60, 3000);
            }
            Actor::AwsService { svc } => {
                info.service = AWS_SERVICES[svc as usize % AWS_SERVICES.len()];
                info.ip = info.service.into();
                info.ua = Ua::Service(info.service);
            }
            Actor::CrossAccountS3 { ext } | Actor::Audit { ext } => {
                let e = &world.external[ext as usize % world.external.len()];
                info.ext = Some(e);
                info.ip = e.ip.clone();
                info.issuer_ip = e.ip.clone();
                info.ua = Ua::Tool(Agent::Boto3 {
                    patch: 51,
                    lambda: false,
                });
                info.issuer_ua = info.ua;
                if matches!(s.actor, Actor::Audit { .. }) {
                    info.role = Some(&acct.roles[acct.role_of(RoleKind::CrossAccountAudit)]);
                    info.role_session = format!("prowler-{}", rng.digits(10));
                    info.ua = Ua::Tool(Agent::Boto3 {
                        patch: 69,
                        lambda: false,
                    });
                }
            }
            Actor::Cognito => {
                info.role = Some(&acct.roles[acct.role_of(RoleKind::Cognito)]);
                info.role_session = "CognitoIdentityCredentials".into();
                info.web_subject = format!("{}:{}", world.regions[0], rng.uuid());
                info.issuer_ip = info.ip.clone();
                info.issuer_ua = Ua::Tool(Agent::JsSdk { minor: 500 });
                info.ua = info.issuer_ua;
            }
        }
        if info.issuer_ip.is_empty() {
            info.issuer_ip = info.ip.clone();
        }
        info
    }

    /// Calls from an AWS service host name carry no TLS details.
    pub(crate) fn via_service(&self, who: Who) -> bool {
        let ip = match who {
            Who::Issuer => &self.issuer_ip,
            _ => &self.ip,
        };
        ip.ends_with(".amazonaws.com") || ip == "AWS Internal"
    }

    pub(crate) fn source_ip(&self, who: Who) -> &str {
        match who {
            Who::Issuer => &self.issuer_ip,
            _ => &self.ip,
        }
    }

    pub(crate) fn ua(&self, who: Who) -> Ua {
        match who {
            Who::Issuer => self.issuer_ua,
            Who::Login => Ua::Tool(self.browser),
            Who::Main => self.ua,
        }
    }

    /// Whether the main principal works through the console (`sessionCredentialFromConsole`).
    pub(crate) fn console(&self) -> bool {
        matches!(self.ua, Ua::Console)
    }

    fn attributes(&self, clock: &crate::clock::Clock) -> J<'w> {
        obj! {
            "creationDate" => clock.iso(self.created),
            "mfaAuthenticated" => if self.mfa { "true" } else { "false" },
        }
    }

    fn issuer(role: &'w Role, acct: &'w Account) -> J<'w> {
        obj! {
            "type" => "Role",
            "principalId" => &role.principal_id,
            "arn" => &role.arn,
            "accountId" => &acct.id,
            "userName" => &role.name,
        }
    }

    /// The ARN the main principal acts as (what "User: ... is not authorized" names).
    pub(crate) fn arn(&self, who: Who) -> String {
        let acct = self.acct;
        match (who, self.actor) {
            (Who::Issuer, Actor::Lambda { .. }) => String::new(),
            (Who::Issuer, Actor::Federated { .. }) => {
                self.user.map(|u| u.arn.clone()).unwrap_or_default()
            }
            (_, Actor::UserCli { .. } | Actor::UserConsole { .. } | Actor::Incident { .. }) => {
                self.user.map(|u| u.arn.clone()).unwrap_or_default()
            }
            (_, Actor::Root) => format!("arn:aws:iam::{}:root", acct.id),
            (_, Actor::Federated { .. }) => format!(
                "arn:aws:sts::{}:federated-user/{}",
                acct.id, self.role_session
            ),
            (_, Actor::CrossAccountS3 { .. }) => self
                .ext
                .map(|e| format!("arn:aws:iam::{}:root", e.account))
                .unwrap_or_default(),
            (_, Actor::AwsService { .. }) => String::new(),
            _ => match self.role {
                Some(r) => format!(
                    "arn:aws:sts::{}:assumed-role/{}/{}",
                    acct.id, r.name, self.role_session
                ),
                None => String::new(),
            },
        }
    }

    /// The `userIdentity` element.
    pub(crate) fn user_identity(
        &self,
        who: Who,
        clock: &crate::clock::Clock,
        failed_login: bool,
        invoked_by: Option<&'static str>,
    ) -> J<'w> {
        let acct = self.acct;
        let mut id = match (who, self.actor) {
            (Who::Issuer, Actor::Lambda { .. }) => obj! {
                "type" => "AWSService",
                "invokedBy" => "lambda.amazonaws.com",
            },
            (Who::Issuer, Actor::Sso { .. }) => {
                let su = self.sso.expect("sso session has a user");
                obj! {
                    "type" => "IdentityCenterUser",
                    "accountId" => &acct.id,
                    "onBehalfOf" => obj! {
                        "userId" => &su.user_id,
                        "identityStoreArn" => format!(
                            "arn:aws:identitystore::{}:identitystore/{}",
                            acct.id, acct.identity_store
                        ),
                    },
                    "credentialId" => self.credential_id.clone(),
                }
            }
            (Who::Issuer, Actor::GithubCi { .. }) => obj! {
                "type" => "WebIdentityUser",
                "principalId" => format!("{}:sts.amazonaws.com:{}", acct.oidc_provider, self.web_subject),
                "userName" => self.web_subject.clone(),
                "identityProvider" => &acct.oidc_provider,
            },
            (Who::Issuer, Actor::Cognito) => obj! {
                "type" => "WebIdentityUser",
                "principalId" => format!("cognito-identity.amazonaws.com:{}:{}", acct.cognito_pool, self.web_subject),
                "userName" => self.web_subject.clone(),
                "identityProvider" => "cognito-identity.amazonaws.com",
            },
            (Who::Issuer, Actor::Saml { .. }) => obj! {
                "type" => "SAMLUser",
                "principalId" => format!("{}:{}", acct.saml_issuer_id, self.saml_user),
                "userName" => self.saml_user.clone(),
                "identityProvider" => &acct.saml_issuer_id,
            },
            (Who::Issuer, Actor::Federated { .. }) => {
                let u = self.user.expect("federated session has an issuing user");
                obj! {
                    "type" => "IAMUser",
                    "principalId" => &u.principal_id,
                    "arn" => &u.arn,
                    "accountId" => &acct.id,
                    "accessKeyId" => &u.access_key,
                    "userName" => &u.name,
                }
            }
            (Who::Issuer, Actor::Audit { .. }) => {
                let e = self.ext.expect("audit session has an external account");
                obj! {
                    "type" => "AWSAccount",
                    "principalId" => &e.principal_id,
                    "accountId" => &e.account,
                }
            }
            (Who::Login, Actor::Root) => obj! {
                "type" => "Root",
                "principalId" => &acct.id,
                "arn" => format!("arn:aws:iam::{}:root", acct.id),
                "accountId" => &acct.id,
                "accessKeyId" => "",
            },
            (
                Who::Login,
                Actor::UserConsole { .. } | Actor::Incident { .. } | Actor::UserCli { .. },
            ) => {
                let u = self.user.expect("console session has a user");
                if failed_login {
                    // A failed sign-in does not resolve the user's ARN.
                    obj! {
                        "type" => "IAMUser",
                        "principalId" => &u.principal_id,
                        "accountId" => &acct.id,
                        "accessKeyId" => "",
                        "userName" => &u.name,
                    }
                } else {
                    obj! {
                        "type" => "IAMUser",
                        "principalId" => &u.principal_id,
                        "arn" => &u.arn,
                        "accountId" => &acct.id,
                        "userName" => &u.name,
                    }
                }
            }
            (_, Actor::UserCli { .. } | Actor::Incident { .. }) => {
                let u = self.user.expect("cli session has a user");
                obj! {
                    "type" => "IAMUser",
                    "principalId" => &u.principal_id,
                    "arn" => &u.arn,
                    "accountId" => &acct.id,
                    "accessKeyId" => &u.access_key,
                    "userName" => &u.name,
                }
            }
            (_, Actor::UserConsole { .. }) => {
                let u = self.user.expect("console session has a user");
                obj! {
                    "type" => "IAMUser",
                    "principalId" => &u.principal_id,
                    "arn" => &u.arn,
                    "accountId" => &acct.id,
                    "accessKeyId" => self.key.clone(),
                    "userName" => &u.name,
                    "sessionContext" => obj! {
                        "sessionIssuer" => J::empty(),
                        "webIdFederationData" => J::empty(),
                        "attributes" => self.attributes(clock),
                    },
                }
            }
            (_, Actor::Root) => obj! {
                "type" => "Root",
                "principalId" => &acct.id,
                "arn" => format!("arn:aws:iam::{}:root", acct.id),
                "accountId" => &acct.id,
                "accessKeyId" => self.key.clone(),
                "sessionContext" => obj! {
                    "sessionIssuer" => J::empty(),
                    "webIdFederationData" => J::empty(),
                    "attributes" => self.attributes(clock),
                },
            },
            (_, Actor::Federated { .. }) => {
                let u = self.user.expect("federated session has an issuing user");
                obj! {
                    "type" => "FederatedUser",
                    "principalId" => format!("{}:{}", acct.id, self.role_session),
                    "arn" => self.arn(Who::Main),
                    "accountId" => &acct.id,
                    "accessKeyId" => self.key.clone(),
                    "sessionContext" => obj! {
                        "sessionIssuer" => obj! {
                            "type" => "IAMUser",
                            "principalId" => &u.principal_id,
                            "arn" => &u.arn,
                            "accountId" => &acct.id,
                            "userName" => &u.name,
                        },
                        "webIdFederationData" => J::empty(),
                        "attributes" => self.attributes(clock),
                    },
                }
            }
            (_, Actor::AwsService { .. }) => obj! {
                "type" => "AWSService",
                "invokedBy" => self.service,
            },
            (_, Actor::CrossAccountS3 { .. }) => {
                let e = self
                    .ext
                    .expect("cross-account session has an external account");
                obj! {
                    "type" => "AWSAccount",
                    "principalId" => &e.principal_id,
                    "accountId" => &e.account,
                }
            }
            (_, _) => {
                // Every remaining actor works through an assumed role.
                let role = self.role.expect("role session has a role");
                let web = match self.actor {
                    Actor::GithubCi { .. } => obj! {
                        "federatedProvider" => &acct.oidc_provider,
                        "attributes" => J::empty(),
                    },
                    Actor::Cognito => obj! {
                        "federatedProvider" => "cognito-identity.amazonaws.com",
                        "attributes" => obj! {
                            "cognito-identity.amazonaws.com:aud" => &acct.cognito_pool,
                            "cognito-identity.amazonaws.com:amr" => "[\"authenticated\",\"cognito-idp.amazonaws.com\"]",
                            "cognito-identity.amazonaws.com:sub" => self.web_subject.clone(),
                        },
                    },
                    _ => J::empty(),
                };
                let mut ctx = obj! {
                    "sessionIssuer" => Self::issuer(role, acct),
                    "webIdFederationData" => web,
                    "attributes" => self.attributes(clock),
                };
                if matches!(self.actor, Actor::Ec2 { .. }) {
                    ctx.push("ec2RoleDelivery", "2.0");
                }
                let mut id = obj! {
                    "type" => "AssumedRole",
                    "principalId" => format!("{}:{}", role.principal_id, self.role_session),
                    "arn" => self.arn(Who::Main),
                    "accountId" => &acct.id,
                    "accessKeyId" => if who == Who::Login { String::new() } else { self.key.clone() },
                    "sessionContext" => ctx,
                };
                if let Actor::ServiceLinked { .. } = self.actor {
                    id.push("invokedBy", self.service);
                }
                id
            }
        };
        if let Some(svc) = invoked_by {
            id.push("invokedBy", svc);
        }
        id
    }
}
