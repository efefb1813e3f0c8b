//! Namespace policy: which hosted zones and record names each namespace's FailoverRecords may
//! claim (`--namespace-policy FILE`).
//!
//! The file (YAML or JSON) is read and validated once at start-up:
//!
//! ```yaml
//! namespaces:
//!   team-a:
//!     zones: ["example.com", "Z0123456789ABCDEFGHIJ"]  # zone names or ids; "*": any zone
//!     names: ["a.example.com", "*.a.example.com"]      # exact names or "*." suffixes; "*": any name
//!   team-b:                                            # or a list of rules: any one may allow
//!   - {zones: [example.com], names: ["*.b.example.com"]}
//!   - {zones: [example.org], names: ["*.b.example.org"]}
//! default: deny   # namespaces not listed: `deny`, `allow` (anything), or a rule {zones, names}
//! ```
//!
//! An object is allowed when one rule of its namespace (or the default) allows both its name and
//! its zone. Names are compared as the operator writes them ([`crate::route53::fqdn`]: lower case,
//! one trailing dot); `*.a.example.com` matches names below `a.example.com` at any depth, not
//! `a.example.com` itself. A zone entry spelt like a zone id (`Z` and upper-case letters or digits,
//! optionally `/hostedzone/Z...`) is an id, anything else a zone name. A zone given in the spec the
//! way the rule lists it (by name, or by id) is matched directly; otherwise the zone is first
//! resolved (read-only, through the same cached lookup the reconcile uses: `GetHostedZone` for an
//! id, `ListHostedZonesByName` for a name, which must be unambiguous), and its id and name are
//! matched. Nothing is written to Route 53 before the policy has allowed the object.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde_yaml::Value;

use crate::crd::FailoverRecordSpec;
use crate::desired::{Desired, ZoneRef, in_zone, valid_dns_name, valid_zone_id};
use crate::error::Error;
use crate::reconcile::SyncOutcome;
use crate::route53::{Route53, Zone, fqdn, strip_id};

/// Ready condition reason of an object the namespace policy does not allow.
pub const NOT_ALLOWED: &str = "NotAllowed";

/// A zone entry of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ZonePattern {
    Any,
    Id(String),
    /// Normalised with a trailing dot.
    Name(String),
}

/// A name entry of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
enum NamePattern {
    Any,
    /// Normalised with a trailing dot.
    Exact(String),
    /// `*.suffix`: strictly below the suffix (normalised with a trailing dot).
    Below(String),
}

/// One rule: the zones and names it allows, and where it is in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    source: String,
    zones: Vec<ZonePattern>,
    names: Vec<NamePattern>,
}

/// The validated namespace policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespacePolicy {
    namespaces: BTreeMap<String, Vec<Rule>>,
    /// Rules of namespaces not listed; empty for `deny`.
    default: Vec<Rule>,
}

/// What the policy says about one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The object may claim its name in its zone.
    Allowed,
    /// It may not; the message names the rule.
    NotAllowed(String),
    /// The name is allowed, and the zone can only be judged by its resolved id or name.
    ResolveZone,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    zones: Vec<String>,
    names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    namespaces: BTreeMap<String, Value>,
    default: Option<Value>,
}

impl NamespacePolicy {
    /// Read and validate a policy file; the error names the file and what is wrong.
    pub fn load(path: &Path) -> Result<NamespacePolicy, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("namespace policy {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("namespace policy {}: {e}", path.display()))
    }

    /// Parse and validate a policy (YAML or JSON).
    pub fn parse(text: &str) -> Result<NamespacePolicy, String> {
        let file: PolicyFile = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let mut namespaces = BTreeMap::new();
        for (ns, value) in file.namespaces {
            if !valid_namespace(&ns) {
                return Err(format!(
                    "namespaces: {ns:?} is not a namespace name (lower-case letters, digits and '-', at most 63)"
                ));
            }
            let source = format!("namespaces.{ns}");
            let rules = match value {
                Value::Sequence(items) if items.is_empty() => {
                    return Err(format!("{source}: an empty list of rules"));
                }
                Value::Sequence(items) => items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| rule(&format!("{source}[{i}]"), v))
                    .collect::<Result<Vec<_>, _>>()?,
                v => vec![rule(&source, v)?],
            };
            namespaces.insert(ns, rules);
        }
        let default = match file.default {
            None => {
                return Err(
                    "default: missing; say what namespaces not listed may do: `deny`, `allow`, or a rule {zones, names}"
                        .into(),
                );
            }
            Some(Value::String(s)) if s == "deny" => Vec::new(),
            Some(Value::String(s)) if s == "allow" => vec![Rule {
                source: "default (allow)".into(),
                zones: vec![ZonePattern::Any],
                names: vec![NamePattern::Any],
            }],
            Some(v @ Value::Mapping(_)) => vec![rule("default", v)?],
            Some(_) => {
                return Err("default: must be `deny`, `allow` or a rule {zones, names}".into());
            }
        };
        Ok(NamespacePolicy {
            namespaces,
            default,
        })
    }

    /// One line for the start-up log.
    pub fn summary(&self) -> String {
        let default = match self.default.first() {
            None => "deny",
            Some(r) if r.source.starts_with("default (") => "allow",
            Some(_) => "a rule",
        };
        format!(
            "{} namespace(s) listed, default {default}",
            self.namespaces.len()
        )
    }

    /// Judge a record `name` in `zone` for `namespace`. Both are taken as [`Desired`] normalises
    /// them (a zone name and the record name with a trailing dot). `resolved` is the zone looked up
    /// in Route 53, when [`Verdict::ResolveZone`] asked for it.
    pub fn judge(
        &self,
        namespace: &str,
        zone: &ZoneRef,
        name: &str,
        resolved: Option<&Zone>,
    ) -> Verdict {
        let name = fqdn(name);
        let rules = match self.namespaces.get(namespace) {
            Some(r) => r.as_slice(),
            None if self.default.is_empty() => {
                return Verdict::NotAllowed(format!(
                    "namespace {namespace} is not listed in the namespace policy, and its default is deny"
                ));
            }
            None => self.default.as_slice(),
        };
        let for_name: Vec<&Rule> = rules
            .iter()
            .filter(|r| r.names.iter().any(|p| p.matches(&name)))
            .collect();
        if for_name.is_empty() {
            let allowed = rules
                .iter()
                .map(|r| format!("{} allows names {}", r.source, list(&r.names)))
                .collect::<Vec<_>>()
                .join("; ");
            return Verdict::NotAllowed(format!(
                "namespace {namespace} may not claim the name {}: {allowed}",
                shown(&name)
            ));
        }
        let direct = |p: &ZonePattern| match (p, zone) {
            (ZonePattern::Any, _) => true,
            (ZonePattern::Id(a), ZoneRef::Id(b)) => a == b,
            (ZonePattern::Name(a), ZoneRef::Name(b)) => *a == fqdn(b),
            _ => false,
        };
        if for_name.iter().any(|r| r.zones.iter().any(direct)) {
            return Verdict::Allowed;
        }
        let other_kind = |p: &ZonePattern| {
            matches!(
                (p, zone),
                (ZonePattern::Name(_), ZoneRef::Id(_)) | (ZonePattern::Id(_), ZoneRef::Name(_))
            )
        };
        let needs_lookup = for_name.iter().any(|r| r.zones.iter().any(other_kind));
        match resolved {
            None if needs_lookup => return Verdict::ResolveZone,
            Some(z) => {
                let by_resolved = |p: &ZonePattern| match p {
                    ZonePattern::Any => true,
                    ZonePattern::Id(id) => *id == strip_id(&z.id),
                    ZonePattern::Name(n) => *n == fqdn(&z.name),
                };
                if for_name.iter().any(|r| r.zones.iter().any(by_resolved)) {
                    return Verdict::Allowed;
                }
            }
            None => {}
        }
        let zone_shown = match (zone, resolved) {
            (ZoneRef::Id(id), Some(z)) => format!("{} ({id})", shown(&z.name)),
            (ZoneRef::Name(n), Some(z)) => format!("{} ({})", shown(n), strip_id(&z.id)),
            (ZoneRef::Id(id), None) => id.clone(),
            (ZoneRef::Name(n), None) => shown(n),
        };
        let allowed = for_name
            .iter()
            .map(|r| format!("{} allows zones {}", r.source, list(&r.zones)))
            .collect::<Vec<_>>()
            .join("; ");
        Verdict::NotAllowed(format!(
            "namespace {namespace} may not use the hosted zone {zone_shown} for {}: {allowed}",
            shown(&name)
        ))
    }
}

/// The policy gate of a reconcile, before anything is written to (or read for writing from) Route
/// 53: `None` when the object may go on to [`crate::reconcile::sync`], otherwise the outcome to
/// report: `Ready=False reason=NotAllowed` (an error that waits for a spec change), `ZoneNotFound`
/// when the zone the policy must judge cannot be resolved, or a retryable Route 53 error.
///
/// A spec that is not valid is left to the reconcile, which reports it as `InvalidSpec` and writes
/// nothing.
pub async fn gate<R: Route53>(
    policy: &NamespacePolicy,
    r53: &R,
    namespace: &str,
    spec: &FailoverRecordSpec,
    owner: &str,
    uid: &str,
    generation: i64,
) -> Option<SyncOutcome> {
    let desired = Desired::from_spec(spec, owner, uid).ok()?;
    let verdict = match policy.judge(namespace, &desired.zone, &desired.name, None) {
        Verdict::ResolveZone => {
            let zone = match &desired.zone {
                ZoneRef::Id(id) => match r53.get_hosted_zone(id).await {
                    Ok(Some(z)) => z,
                    Ok(None) => {
                        return Some(refused(
                            generation,
                            "ZoneNotFound",
                            Error::Zone(format!("hosted zone {id} does not exist")),
                        ));
                    }
                    Err(e) => return Some(retry(e.into())),
                },
                ZoneRef::Name(name) => match r53.find_hosted_zones(name).await {
                    Ok(mut zones) if zones.len() == 1 => zones.remove(0),
                    Ok(zones) if zones.is_empty() => {
                        return Some(refused(
                            generation,
                            "ZoneNotFound",
                            Error::Zone(format!("no hosted zone named {name}")),
                        ));
                    }
                    Ok(zones) => {
                        return Some(refused(
                            generation,
                            "ZoneNotFound",
                            Error::Zone(format!(
                                "{} hosted zones are named {name} (public and private?): set hostedZone.id",
                                zones.len()
                            )),
                        ));
                    }
                    Err(e) => return Some(retry(e.into())),
                },
            };
            policy.judge(namespace, &desired.zone, &desired.name, Some(&zone))
        }
        v => v,
    };
    match verdict {
        Verdict::Allowed => None,
        Verdict::NotAllowed(why) => Some(refused(generation, NOT_ALLOWED, Error::NotAllowed(why))),
        // Not returned once the zone is resolved; refuse rather than write if it ever were.
        Verdict::ResolveZone => Some(refused(
            generation,
            NOT_ALLOWED,
            Error::NotAllowed(format!(
                "namespace {namespace}: the hosted zone could not be judged"
            )),
        )),
    }
}

/// `Ready=False` with `reason`; no hosted zone id (status keeps the one it had, so a later delete
/// still finds what the object owns).
pub(crate) fn refused(generation: i64, reason: &'static str, error: Error) -> SyncOutcome {
    crate::reconcile::failed(generation, reason, error, None)
}

/// A Route 53 error while resolving the zone: status unchanged, retried by the error policy.
fn retry(error: Error) -> SyncOutcome {
    SyncOutcome {
        observation: None,
        result: Err(error),
        notes: Vec::new(),
    }
}

fn rule(source: &str, value: Value) -> Result<Rule, String> {
    let file: RuleFile = serde_yaml::from_value(value).map_err(|e| format!("{source}: {e}"))?;
    if file.zones.is_empty() {
        return Err(format!(
            "{source}.zones: empty (list zone names or ids, or \"*\" for any zone)"
        ));
    }
    if file.names.is_empty() {
        return Err(format!(
            "{source}.names: empty (list names, \"*.suffix\" patterns, or \"*\" for any name)"
        ));
    }
    let zones = file
        .zones
        .iter()
        .enumerate()
        .map(|(i, z)| zone_pattern(z).map_err(|e| format!("{source}.zones[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let names = file
        .names
        .iter()
        .enumerate()
        .map(|(i, n)| name_pattern(n).map_err(|e| format!("{source}.names[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rule {
        source: source.to_string(),
        zones,
        names,
    })
}

fn zone_pattern(entry: &str) -> Result<ZonePattern, String> {
    let e = entry.trim();
    if e == "*" {
        return Ok(ZonePattern::Any);
    }
    let id = e.strip_prefix("/hostedzone/").unwrap_or(e);
    if valid_zone_id(id) {
        return Ok(ZonePattern::Id(id.to_string()));
    }
    let name = e.to_ascii_lowercase();
    if e.starts_with("/hostedzone/") || !valid_dns_name(&name) {
        return Err(format!(
            "{entry:?} is neither a hosted zone id (Z followed by upper-case letters or digits) nor a DNS name"
        ));
    }
    Ok(ZonePattern::Name(fqdn(&name)))
}

fn name_pattern(entry: &str) -> Result<NamePattern, String> {
    let e = entry.trim().to_ascii_lowercase();
    if e == "*" {
        return Ok(NamePattern::Any);
    }
    let (below, rest) = match e.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, e.as_str()),
    };
    if !valid_dns_name(rest) {
        return Err(format!(
            "{entry:?} is not a DNS name, a \"*.\" suffix pattern or \"*\" (a `*` is allowed only as the whole first label)"
        ));
    }
    Ok(if below {
        NamePattern::Below(fqdn(rest))
    } else {
        NamePattern::Exact(fqdn(rest))
    })
}

impl NamePattern {
    fn matches(&self, name: &str) -> bool {
        match self {
            NamePattern::Any => true,
            NamePattern::Exact(n) => n == name,
            NamePattern::Below(suffix) => name != suffix && in_zone(name, suffix),
        }
    }
}

/// A normalised name as users write it: without the trailing dot.
fn shown(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_string()
}

impl fmt::Display for ZonePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZonePattern::Any => f.write_str("*"),
            ZonePattern::Id(id) => f.write_str(id),
            ZonePattern::Name(n) => f.write_str(&shown(n)),
        }
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamePattern::Any => f.write_str("*"),
            NamePattern::Exact(n) => f.write_str(&shown(n)),
            NamePattern::Below(n) => write!(f, "*.{}", shown(n)),
        }
    }
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A Kubernetes namespace name (RFC 1123 label).
pub(crate) fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 63
        && !ns.starts_with('-')
        && !ns.ends_with('-')
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
