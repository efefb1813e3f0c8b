//! AWS accounts per namespace: which IAM role each namespace's FailoverRecords use
//! (`--namespace-roles FILE`, chart `operator.namespaceRoles`), and the Route 53 stack of each.
//!
//! The file (YAML or JSON) is read and validated once at start-up:
//!
//! ```yaml
//! namespaces:
//!   team-a:                                   # one role
//!     arn: arn:aws:iam::111111111111:role/route53-failover-team-a
//!     externalId: team-a                      # when the role's trust policy requires one
//!   team-b:                                   # or a list: the first is used unless the object
//!   - arn: arn:aws:iam::222222222222:role/dns-b   # picks another one with spec.awsRoleArn
//!   - installation                            # the installation's own credentials
//! default: deny   # namespaces not listed: `deny` (the default), `installation`, a role or a list
//! ```
//!
//! A role is only ever chosen by the operator's administrator: a FailoverRecord's `spec.awsRoleArn`
//! can pick one of the roles its namespace is allowed, never name another. An object whose
//! namespace has no role (not listed, default `deny`), or that names a role its namespace may not
//! use, gets `Ready=False` with reason [`ROLE_NOT_ALLOWED`] and a Warning Event, and no Route 53
//! call is made for it. Without a mapping every object uses the installation's credentials
//! (`--assume-role-arn` or the environment's) and `spec.awsRoleArn` is refused.
//!
//! Each role is assumed (STS `AssumeRole`, with its external id) from the installation's
//! credentials, and gets its own Route 53 client stack: its own request budget (Route 53's quota
//! is per account), batcher, zone snapshots and caches, and its own health source
//! ([`PerAccount`]) for the health checks of the objects that use it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_yaml::Value;

use crate::error::Error;
use crate::health::{HealthSource, Reading};
use crate::policy::valid_namespace;
use crate::route53::R53Result;

/// Ready condition reason of an object whose namespace may not use the role it would use.
pub const ROLE_NOT_ALLOWED: &str = "RoleNotAllowed";

/// The account key of the installation's own credentials (see [`Account::key`]).
pub const INSTALLATION: &str = "installation";

/// An IAM role a namespace may use.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleRef {
    /// The role's ARN.
    pub arn: String,
    /// The external id its trust policy requires, if any.
    pub external_id: Option<String>,
}

/// Whose credentials an object's Route 53 calls are signed with.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// The installation's own (`--assume-role-arn`, or the environment's).
    Installation,
    /// A role assumed from the installation's credentials.
    Role(RoleRef),
}

impl Target {
    /// The key of this target's Route 53 stack: [`INSTALLATION`] or the role's ARN.
    pub fn key(&self) -> &str {
        match self {
            Target::Installation => INSTALLATION,
            Target::Role(r) => &r.arn,
        }
    }
}

/// The validated namespace-to-role mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceRoles {
    namespaces: BTreeMap<String, Vec<Target>>,
    /// Targets of namespaces not listed; empty for `deny`.
    default: Vec<Target>,
}

impl NamespaceRoles {
    /// Read and validate a mapping file; the error names the file and the place of the problem.
    pub fn load(path: &Path) -> Result<NamespaceRoles, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("namespace roles {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("namespace roles {}: {e}", path.display()))
    }

    /// Parse and validate a mapping (YAML or JSON).
    pub fn parse(text: &str) -> Result<NamespaceRoles, String> {
        let value: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let Value::Mapping(top) = value else {
            return Err("expected a mapping with `namespaces` and `default`".into());
        };
        let mut namespaces = BTreeMap::new();
        let mut default = Vec::new();
        for (k, v) in top {
            match k.as_str() {
                Some("namespaces") => {
                    let Value::Mapping(m) = v else {
                        return Err("namespaces: expected a mapping of namespace to roles".into());
                    };
                    for (ns, v) in m {
                        let Some(ns) = ns.as_str().map(str::to_string) else {
                            return Err(format!("namespaces: the key {ns:?} is not a string"));
                        };
                        if !valid_namespace(&ns) {
                            return Err(format!(
                                "namespaces: {ns:?} is not a namespace name (lower-case letters, digits and '-', at most 63)"
                            ));
                        }
                        let targets = targets(&format!("namespaces.{ns}"), v, false)?;
                        namespaces.insert(ns, targets);
                    }
                }
                Some("default") => default = targets("default", v, true)?,
                _ => {
                    return Err(format!(
                        "unknown field {k:?}: expected `namespaces` and `default`"
                    ));
                }
            }
        }
        let roles = NamespaceRoles {
            namespaces,
            default,
        };
        // One role, one stack: the same ARN with two external ids would be two identities.
        let mut seen: HashMap<&str, &Option<String>> = HashMap::new();
        for t in roles.namespaces.values().chain([&roles.default]).flatten() {
            if let Target::Role(r) = t {
                if let Some(prev) = seen.insert(&r.arn, &r.external_id) {
                    if prev != &r.external_id {
                        return Err(format!("{}: listed with two different external ids", r.arn));
                    }
                }
            }
        }
        Ok(roles)
    }

    /// Which target an object of `namespace` uses, given the role its spec picks (if any): the
    /// picked one when the namespace may use it, else the namespace's first (or the default's
    /// first). The error says why none may be used.
    pub fn choose(&self, namespace: &str, requested: Option<&str>) -> Result<&Target, String> {
        let (allowed, whose) = match self.namespaces.get(namespace) {
            Some(t) => (t, format!("namespace {namespace}")),
            None => (
                &self.default,
                format!("namespace {namespace} (not listed: the default)"),
            ),
        };
        if allowed.is_empty() {
            return Err(format!(
                "{whose} has no AWS role in the operator's namespace-role mapping"
            ));
        }
        match requested {
            None => Ok(&allowed[0]),
            Some(arn) => allowed
                .iter()
                .find(|t| matches!(t, Target::Role(r) if r.arn == arn))
                .ok_or_else(|| {
                    format!(
                        "spec.awsRoleArn {arn} is not one of the roles {whose} may use ({})",
                        list(allowed)
                    )
                }),
        }
    }

    /// Every distinct role of the mapping (each gets a Route 53 stack).
    pub fn roles(&self) -> Vec<RoleRef> {
        let set: BTreeSet<&RoleRef> = self
            .namespaces
            .values()
            .chain([&self.default])
            .flatten()
            .filter_map(|t| match t {
                Target::Role(r) => Some(r),
                Target::Installation => None,
            })
            .collect();
        set.into_iter().cloned().collect()
    }

    /// One line for the start-up log.
    pub fn summary(&self) -> String {
        format!(
            "{} namespace(s), {} role(s), default: {}",
            self.namespaces.len(),
            self.roles().len(),
            if self.default.is_empty() {
                "deny".to_string()
            } else {
                list(&self.default)
            }
        )
    }
}

fn list(targets: &[Target]) -> String {
    targets
        .iter()
        .map(|t| t.key().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One entry or a list of entries at `source`; `deny` only where `default` may say it.
fn targets(source: &str, value: Value, is_default: bool) -> Result<Vec<Target>, String> {
    match value {
        Value::String(s) if is_default && s == "deny" => Ok(Vec::new()),
        Value::Sequence(items) if items.is_empty() => Err(format!(
            "{source}: an empty list (list roles, or leave the namespace out)"
        )),
        Value::Sequence(items) => {
            let mut out: Vec<Target> = Vec::new();
            for (i, v) in items.into_iter().enumerate() {
                let t = target(&format!("{source}[{i}]"), v)?;
                if out.contains(&t) {
                    return Err(format!("{source}[{i}]: listed twice"));
                }
                out.push(t);
            }
            Ok(out)
        }
        v => Ok(vec![target(source, v)?]),
    }
}

fn target(source: &str, value: Value) -> Result<Target, String> {
    match value {
        Value::String(s) if s == INSTALLATION => Ok(Target::Installation),
        Value::Mapping(m) => {
            let mut arn = None;
            let mut external_id = None;
            for (k, v) in m {
                let field = k.as_str().unwrap_or_default().to_string();
                let text = v
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{source}.{field}: expected a string"))?;
                match field.as_str() {
                    "arn" => arn = Some(text),
                    "externalId" => external_id = Some(text),
                    _ => {
                        return Err(format!(
                            "{source}: unknown field {k:?} (expected `arn` and `externalId`)"
                        ));
                    }
                }
            }
            let arn = arn.ok_or_else(|| format!("{source}.arn: missing"))?;
            if !valid_role_arn(&arn) {
                return Err(format!(
                    "{source}.arn: {arn:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"
                ));
            }
            if let Some(id) = &external_id {
                if !valid_external_id(id) {
                    return Err(format!(
                        "{source}.externalId: 2 to 1224 characters of letters, digits and +=,.@:/-"
                    ));
                }
            }
            Ok(Target::Role(RoleRef { arn, external_id }))
        }
        other => Err(format!(
            "{source}: expected {{arn, externalId}} or `installation`, not {}",
            serde_yaml::to_string(&other).unwrap_or_default().trim_end()
        )),
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME` (IAM's limits: a name of at most 64 characters).
pub fn valid_role_arn(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let Some(path) = resource.strip_prefix("role/") else {
        return false;
    };
    let name = path.rsplit('/').next().unwrap_or_default();
    partition.starts_with("aws")
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && name.len() <= 64
        && arn.len() <= 2048
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
}

/// What STS accepts as an external id.
fn valid_external_id(id: &str) -> bool {
    (2..=1224).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/-_".contains(&b))
}

/// The account an object uses: its key (for the health source) and its Route 53 stack.
pub struct Account<R> {
    /// [`INSTALLATION`] or the role's ARN.
    pub key: String,
    /// The account's Route 53 stack.
    pub route53: Arc<R>,
}

/// The Route 53 stack of every account, and the namespace-to-role mapping that picks one.
pub struct Accounts<R> {
    mapping: Option<Arc<NamespaceRoles>>,
    installation: Arc<R>,
    roles: BTreeMap<String, Arc<R>>,
    checks: Arc<CheckAccounts>,
}

impl<R> Accounts<R> {
    /// One account for every object (no mapping): the installation's.
    pub fn single(route53: Arc<R>) -> Self {
        Accounts {
            mapping: None,
            installation: route53,
            roles: BTreeMap::new(),
            checks: Arc::new(CheckAccounts::default()),
        }
    }

    /// Per-namespace accounts: `roles` has a stack for every role of `mapping` (keyed by ARN);
    /// `checks` is shared with the [`PerAccount`] health source.
    pub fn new(
        installation: Arc<R>,
        mapping: Arc<NamespaceRoles>,
        roles: BTreeMap<String, Arc<R>>,
        checks: Arc<CheckAccounts>,
    ) -> Result<Self, String> {
        if let Some(missing) = mapping.roles().iter().find(|r| !roles.contains_key(&r.arn)) {
            return Err(format!("no Route 53 stack for role {}", missing.arn));
        }
        Ok(Accounts {
            mapping: Some(mapping),
            installation,
            roles,
            checks,
        })
    }

    /// The account of an object of `namespace` whose spec picks `requested` (`spec.awsRoleArn`):
    /// [`Error::RoleNotAllowed`] when the mapping gives it none, or not that one.
    pub fn for_namespace(
        &self,
        namespace: &str,
        requested: Option<&str>,
    ) -> Result<Account<R>, Error> {
        let Some(mapping) = &self.mapping else {
            return match requested {
                None => Ok(Account {
                    key: INSTALLATION.into(),
                    route53: self.installation.clone(),
                }),
                Some(arn) => Err(Error::RoleNotAllowed(format!(
                    "spec.awsRoleArn {arn}: this installation has no namespace-role mapping \
                     (--namespace-roles), so every object uses its own credentials"
                ))),
            };
        };
        let target = mapping
            .choose(namespace, requested)
            .map_err(Error::RoleNotAllowed)?;
        let route53 =
            match target {
                Target::Installation => self.installation.clone(),
                Target::Role(r) => self.roles.get(&r.arn).cloned().ok_or_else(|| {
                    Error::RoleNotAllowed(format!("no client for role {}", r.arn))
                })?,
            };
        Ok(Account {
            key: target.key().to_string(),
            route53,
        })
    }

    /// Which account each health check in use belongs to (read by the [`PerAccount`] source).
    pub fn checks(&self) -> &CheckAccounts {
        &self.checks
    }
}

/// Which account each health check in use is in, by the object that uses it.
#[derive(Debug, Default)]
pub struct CheckAccounts {
    inner: Mutex<CheckInner>,
}

#[derive(Debug, Default)]
struct CheckInner {
    by_id: HashMap<String, String>,
    by_user: HashMap<String, Vec<String>>,
}

impl CheckAccounts {
    /// `user` (an object uid) uses exactly these checks, in `account`.
    pub fn set(&self, user: &str, account: &str, ids: Vec<String>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(before) = inner.by_user.remove(user) {
            for id in before {
                inner.by_id.remove(&id);
            }
        }
        for id in &ids {
            inner.by_id.insert(id.clone(), account.to_string());
        }
        if !ids.is_empty() {
            inner.by_user.insert(user.to_string(), ids);
        }
    }

    /// `user` uses no checks any more.
    pub fn forget(&self, user: &str) {
        self.set(user, "", Vec::new());
    }

    /// The account key of a check, if an object uses it.
    pub fn account_of(&self, id: &str) -> Option<String> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_id
            .get(id)
            .cloned()
    }
}

/// A health source per account: each check is read through the source of the account its object
/// uses ([`CheckAccounts`]); a check of no known account through the installation's.
pub struct PerAccount<S> {
    sources: BTreeMap<String, S>,
    checks: Arc<CheckAccounts>,
}

impl<S: HealthSource> PerAccount<S> {
    /// `sources` keyed like [`Account::key`] (it must hold [`INSTALLATION`]).
    pub fn new(sources: BTreeMap<String, S>, checks: Arc<CheckAccounts>) -> Self {
        PerAccount { sources, checks }
    }
}

impl<S: HealthSource> HealthSource for PerAccount<S> {
    fn batch_limit(&self) -> usize {
        self.sources
            .values()
            .map(HealthSource::batch_limit)
            .min()
            .unwrap_or(1)
    }

    async fn read(&self, ids: &[String]) -> R53Result<HashMap<String, Reading>> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in ids {
            let account = self
                .checks
                .account_of(id)
                .filter(|a| self.sources.contains_key(a))
                .unwrap_or_else(|| INSTALLATION.to_string());
            groups.entry(account).or_default().push(id.clone());
        }
        let mut out = HashMap::new();
        let mut failed = None;
        for (account, ids) in groups {
            let Some(source) = self.sources.get(&account) else {
                continue;
            };
            match source.read(&ids).await {
                Ok(r) => out.extend(r),
                Err(e) => {
                    tracing::warn!(account = %account, error = %crate::text::for_log(&e.to_string()), "health read failed for one account");
                    failed = Some(e);
                }
            }
        }
        // One account failing leaves its checks unread (read again next round); the error only
        // when nothing could be read.
        match failed {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const A: &str = "arn:aws:iam::111111111111:role/route53-failover-team-a";
    const B: &str = "arn:aws:iam::222222222222:role/dns/b";

    fn mapping() -> NamespaceRoles {
        NamespaceRoles::parse(&format!(
            "namespaces:\n  team-a: {{arn: {A}, externalId: team-a}}\n  team-b:\n  - {{arn: {B}}}\n  - installation\n"
        ))
        .unwrap()
    }

    #[test]
    fn nsroles_parse_reads_roles_lists_and_the_default() {
        let m = mapping();
        assert_eq!(
            m.roles(),
            vec![
                RoleRef {
                    arn: A.into(),
                    external_id: Some("team-a".into())
                },
                RoleRef {
                    arn: B.into(),
                    external_id: None
                }
            ]
        );
        assert_eq!(m.default, Vec::new(), "no default: deny");
        let d = NamespaceRoles::parse("default: installation").unwrap();
        assert_eq!(d.default, vec![Target::Installation]);
        let d = NamespaceRoles::parse(&format!("default: {{arn: {B}}}")).unwrap();
        assert_eq!(d.choose("any", None).unwrap().key(), B);
        // JSON is YAML.
        let j = NamespaceRoles::parse(&format!(r#"{{"namespaces": {{"x": {{"arn": "{A}"}}}}}}"#))
            .unwrap();
        assert_eq!(j.choose("x", None).unwrap().key(), A);
    }

    #[test]
    fn nsroles_lookup_takes_the_first_role_or_the_one_the_spec_picks() {
        let m = mapping();
        assert_eq!(m.choose("team-a", None).unwrap().key(), A);
        assert_eq!(m.choose("team-a", Some(A)).unwrap().key(), A);
        assert_eq!(m.choose("team-b", None).unwrap().key(), B);
        assert_eq!(m.choose("team-b", Some(B)).unwrap().key(), B);
    }

    #[test]
    fn nsroles_refuse_a_role_outside_the_namespace_and_an_unlisted_namespace() {
        let m = mapping();
        let e = m.choose("team-a", Some(B)).unwrap_err();
        assert!(e.contains(B) && e.contains("team-a"), "{e}");
        let e = m.choose("team-c", None).unwrap_err();
        assert!(e.contains("team-c") && e.contains("no AWS role"), "{e}");
        // A listed ARN of another namespace is no more allowed than an unknown one.
        assert!(m.choose("team-c", Some(A)).is_err());
        let deny = NamespaceRoles::parse("namespaces: {}\ndefault: deny").unwrap();
        assert!(deny.choose("x", None).is_err());
    }

    #[test]
    fn nsroles_bad_files_say_where() {
        for (text, place) in [
            ("namespaces:\n  Team: installation", "\"Team\""),
            ("namespaces:\n  a: {arn: nope}", "namespaces.a.arn"),
            ("namespaces:\n  a: []", "namespaces.a: an empty list"),
            (
                &format!("namespaces:\n  a:\n  - {{arn: {A}}}\n  - {{arn: {A}, foo: x}}"),
                "namespaces.a[1]: unknown field",
            ),
            (
                &format!("namespaces:\n  a: {{arn: {A}, externalId: x}}"),
                "namespaces.a.externalId",
            ),
            ("namespaces:\n  a: deny", "namespaces.a: expected"),
            ("default: allow", "default: expected"),
            ("defaults: deny", "unknown field"),
            (
                &format!(
                    "namespaces:\n  a: {{arn: {A}, externalId: one}}\n  b: {{arn: {A}, externalId: two}}"
                ),
                "two different external ids",
            ),
            (
                &format!("namespaces:\n  a: [{{arn: {A}}}, {{arn: {A}}}]"),
                "namespaces.a[1]: listed twice",
            ),
        ] {
            let e = NamespaceRoles::parse(text).unwrap_err();
            assert!(e.contains(place), "{text:?}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roles.yaml");
        std::fs::write(&path, "namespaces:\n  a: {arn: nope}").unwrap();
        let e = NamespaceRoles::load(&path).unwrap_err();
        assert!(
            e.contains(&path.display().to_string()) && e.contains("namespaces.a.arn"),
            "{e}"
        );
    }

    #[test]
    fn nsroles_role_arns_are_checked() {
        assert!(valid_role_arn(A));
        assert!(valid_role_arn(B));
        assert!(valid_role_arn("arn:aws-cn:iam::123456789012:role/x"));
        for bad in [
            "arn:aws:iam::12345678901:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:sts::123456789012:role/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a b",
        ] {
            assert!(!valid_role_arn(bad), "{bad}");
        }
    }

    #[test]
    fn nsroles_accounts_pick_the_stack_of_the_namespace() {
        let m = Arc::new(mapping());
        let roles: BTreeMap<String, Arc<&str>> = [
            (A.to_string(), Arc::new("a")),
            (B.to_string(), Arc::new("b")),
        ]
        .into();
        let acc = Accounts::new(
            Arc::new("installation"),
            m.clone(),
            roles,
            Arc::new(CheckAccounts::default()),
        )
        .unwrap();
        assert_eq!(*acc.for_namespace("team-a", None).unwrap().route53, "a");
        assert_eq!(*acc.for_namespace("team-b", None).unwrap().route53, "b");
        let inst = acc.for_namespace("team-b", None).map(|a| a.key).unwrap();
        assert_eq!(inst, B);
        assert!(matches!(
            acc.for_namespace("team-c", None),
            Err(Error::RoleNotAllowed(_))
        ));
        // A mapping without a stack for one of its roles is refused at start-up.
        assert!(
            Accounts::new(
                Arc::new("i"),
                m,
                BTreeMap::new(),
                Arc::new(CheckAccounts::default())
            )
            .is_err()
        );
        // Without a mapping: the installation's, and no role may be named.
        let single = Accounts::single(Arc::new("i"));
        assert_eq!(single.for_namespace("x", None).unwrap().key, INSTALLATION);
        assert!(matches!(
            single.for_namespace("x", Some(A)),
            Err(Error::RoleNotAllowed(_))
        ));
    }

    #[tokio::test]
    async fn nsroles_health_reads_go_to_the_account_of_the_check() {
        struct Src(&'static str, std::sync::Mutex<Vec<Vec<String>>>);
        impl HealthSource for Src {
            fn batch_limit(&self) -> usize {
                if self.0 == "a" { 2 } else { 5 }
            }
            async fn read(&self, ids: &[String]) -> R53Result<HashMap<String, Reading>> {
                self.1.lock().unwrap().push(ids.to_vec());
                Ok(ids.iter().map(|i| (i.clone(), Reading::Missing)).collect())
            }
        }
        let checks = Arc::new(CheckAccounts::default());
        checks.set("uid-a", A, vec!["ha".into()]);
        checks.set("uid-i", INSTALLATION, vec!["hi".into()]);
        let src = PerAccount::new(
            [
                (A.to_string(), Src("a", Default::default())),
                (INSTALLATION.to_string(), Src("i", Default::default())),
            ]
            .into(),
            checks.clone(),
        );
        assert_eq!(src.batch_limit(), 2);
        let got = src
            .read(&["ha".into(), "hi".into(), "unknown".into()])
            .await
            .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(
            *src.sources[A].1.lock().unwrap(),
            vec![vec!["ha".to_string()]]
        );
        assert_eq!(
            *src.sources[INSTALLATION].1.lock().unwrap(),
            vec![vec!["hi".to_string(), "unknown".to_string()]]
        );
        checks.forget("uid-a");
        assert_eq!(checks.account_of("ha"), None);
        assert_eq!(checks.account_of("hi").as_deref(), Some(INSTALLATION));
    }
}
