//! From a `FailoverRecord` to the validated, normalised state the planner wants in Route 53.
//!
//! [`Desired::from_spec`] repeats the CRD's admission rules (a CRD may be installed without them) so
//! that an invalid object never reaches Route 53: it becomes `Ready=False reason=InvalidSpec` instead.
//! That includes the public-address rule: a health-checked address in one of the
//! [`SPECIAL_USE_NETWORKS`] is refused, as Route 53 refuses it (the local test world routes public
//! addresses to loopback backends instead).

use std::net::IpAddr;

use crate::crd::{
    AliasTarget, CLOUDFRONT_ZONE_ID, DEFAULT_TTL, DeletionPolicy, Endpoint, FailoverRecordSpec,
    HealthCheckSpec, RecordType, Role,
};
use crate::naming;
use crate::route53::{Alias, HealthCheckConfig, RecordSet, fqdn};

/// How the hosted zone is named in the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneRef {
    /// By id.
    Id(String),
    /// By name (normalised, trailing dot).
    Name(String),
}

/// What a record points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Values (normalised, sorted).
    Values(Vec<String>),
    /// Alias target (normalised).
    Alias(Alias),
}

/// How an endpoint's health is judged.
// Two per Desired and short-lived: boxing the config would buy nothing but indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DesiredHealth {
    /// No health check (secondary, or alias relying on target health).
    None,
    /// A health check managed elsewhere.
    Existing(String),
    /// A health check this object owns.
    Managed(HealthCheckConfig),
}

/// One desired record of the pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredEndpoint {
    /// Which record.
    pub role: Role,
    /// SetIdentifier carrying the ownership proof.
    pub set_identifier: String,
    /// Values or alias.
    pub target: Target,
    /// Health check.
    pub health: DesiredHealth,
}

/// The validated desired state of one FailoverRecord.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// Hosted zone.
    pub zone: ZoneRef,
    /// Record name (normalised).
    pub name: String,
    /// Record type.
    pub rtype: RecordType,
    /// TTL of non-alias records.
    pub ttl: i64,
    /// Primary, then secondary.
    pub endpoints: [DesiredEndpoint; 2],
    /// What to do on delete.
    pub deletion_policy: DeletionPolicy,
    /// Take over a failover pair made outside the operator ([`crate::plan::plan_records`]).
    pub adopt: bool,
}

impl Desired {
    /// Validate and normalise a spec. `owner` is the operator's owner id and `uid` the object's uid.
    pub fn from_spec(
        spec: &FailoverRecordSpec,
        owner: &str,
        uid: &str,
    ) -> Result<Desired, Vec<String>> {
        let mut errs = Vec::new();
        let zone = match (&spec.hosted_zone.id, &spec.hosted_zone.name) {
            (Some(id), None) => {
                if !valid_zone_id(id) {
                    errs.push(format!("hostedZone.id {id:?} is not a hosted zone id (Z followed by 1-31 upper-case letters or digits)"));
                }
                ZoneRef::Id(id.clone())
            }
            (None, Some(name)) => {
                if !valid_dns_name(name) {
                    errs.push(format!(
                        "hostedZone.name {name:?} is not a lower-case DNS name"
                    ));
                }
                ZoneRef::Name(fqdn(name))
            }
            _ => {
                errs.push("set exactly one of hostedZone.id and hostedZone.name".into());
                ZoneRef::Id(String::new())
            }
        };
        let name = fqdn(&spec.name);
        if !valid_dns_name(&spec.name) {
            errs.push(format!(
                "name {:?} is not a lower-case DNS name of at most 253 characters",
                spec.name
            ));
        }
        if let ZoneRef::Name(zone_name) = &zone {
            if !in_zone(&name, zone_name) {
                errs.push(format!(
                    "name {name} is not inside the hosted zone {zone_name}"
                ));
            } else if spec.record_type == RecordType::CNAME && &name == zone_name {
                errs.push("a CNAME cannot be created at the zone apex".into());
            }
        }
        let both_alias = spec.primary.alias.is_some() && spec.secondary.alias.is_some();
        if spec.ttl.is_some() && both_alias {
            errs.push("ttl cannot be set when both endpoints are aliases (Route 53 uses the alias target's TTL)".into());
        }
        let ttl = spec.ttl.unwrap_or(DEFAULT_TTL);
        if !(0..=2_147_483_647).contains(&ttl) {
            errs.push(format!("ttl {ttl} is out of range 0..2147483647"));
        }
        if spec.primary.alias.is_none()
            && spec.primary.health_check.is_none()
            && spec.primary.existing_health_check_id.is_none()
        {
            errs.push("a non-alias primary needs a health check (healthCheck or existingHealthCheckId): Route 53 rejects a non-alias PRIMARY without one".into());
        }
        if let (Some(a), Some(b)) = (&spec.primary.values, &spec.secondary.values) {
            if sorted(
                a.iter()
                    .map(|v| normalise_value(spec.record_type, v))
                    .collect(),
            ) == sorted(
                b.iter()
                    .map(|v| normalise_value(spec.record_type, v))
                    .collect(),
            ) {
                errs.push("primary and secondary must differ".into());
            }
        }
        if let (Some(a), Some(b)) = (&spec.primary.alias, &spec.secondary.alias) {
            if fqdn(&a.dns_name) == fqdn(&b.dns_name) {
                errs.push("primary and secondary must differ".into());
            }
        }
        let endpoints = Role::ALL.map(|role| {
            let ep = match role {
                Role::Primary => &spec.primary,
                Role::Secondary => &spec.secondary,
            };
            endpoint(spec.record_type, &name, owner, uid, role, ep, &mut errs)
        });
        if errs.is_empty() {
            Ok(Desired {
                zone,
                name,
                rtype: spec.record_type,
                ttl,
                endpoints,
                deletion_policy: spec.deletion_policy,
                adopt: spec.adopt,
            })
        } else {
            errs.dedup();
            Err(errs)
        }
    }

    /// The desired endpoint of a role.
    pub fn endpoint(&self, role: Role) -> &DesiredEndpoint {
        &self.endpoints[role.index()]
    }

    /// The record set Route 53 should hold for `role`, given the health check id it should carry.
    pub fn record_set(&self, role: Role, health_check_id: Option<String>) -> RecordSet {
        let ep = self.endpoint(role);
        let (ttl, values, alias) = match &ep.target {
            Target::Values(v) => (Some(self.ttl), v.clone(), None),
            Target::Alias(a) => (None, Vec::new(), Some(a.clone())),
        };
        RecordSet {
            name: self.name.clone(),
            rtype: self.rtype.as_str().to_string(),
            set_identifier: Some(ep.set_identifier.clone()),
            failover: Some(role),
            ttl,
            values,
            alias,
            health_check_id,
        }
    }
}

fn endpoint(
    rtype: RecordType,
    name: &str,
    owner: &str,
    uid: &str,
    role: Role,
    ep: &Endpoint,
    errs: &mut Vec<String>,
) -> DesiredEndpoint {
    let r = role.short();
    if let Some(t) = &ep.target {
        if crate::targets::target_ref(t, "").is_none() {
            errs.push(format!(
                "{r}: set exactly one of target.service, target.ingress and target.gateway"
            ));
        }
    }
    if ep.target.is_some() && (ep.values.is_some() || ep.alias.is_some()) {
        errs.push(format!("{r}: set exactly one of values, alias and target"));
    }
    let target = match (&ep.values, &ep.alias) {
        (Some(values), None) => {
            if values.is_empty() || values.len() > 400 {
                errs.push(format!("{r}.values must hold 1 to 400 values"));
            }
            for v in values {
                if let Some(e) = check_value(rtype, v) {
                    errs.push(format!("{r}.values: {e}"));
                }
            }
            if rtype == RecordType::CNAME && values.len() != 1 {
                errs.push(format!("{r}: a CNAME endpoint has exactly one value"));
            }
            Target::Values(sorted(
                values.iter().map(|v| normalise_value(rtype, v)).collect(),
            ))
        }
        (None, Some(alias)) => Target::Alias(check_alias(name, r, alias, errs)),
        (None, None) if ep.target.is_some() => {
            errs.push(format!(
                "{r}.target: a Kubernetes target is resolved by the controller from the live object, not here"
            ));
            Target::Values(Vec::new())
        }
        _ => {
            errs.push(format!("{r}: set exactly one of values, alias and target"));
            Target::Values(Vec::new())
        }
    };
    let health = match (&ep.health_check, &ep.existing_health_check_id) {
        (Some(_), Some(_)) => {
            errs.push(format!(
                "{r}: set at most one of healthCheck and existingHealthCheckId"
            ));
            DesiredHealth::None
        }
        (None, Some(id)) if id.is_empty() || id.len() > 64 => {
            errs.push(format!(
                "{r}.existingHealthCheckId must hold 1 to 64 characters"
            ));
            DesiredHealth::None
        }
        (None, Some(id)) => DesiredHealth::Existing(id.clone()),
        (Some(hc), None) => match health_check_config(rtype, name, ep, hc) {
            Ok(c) => DesiredHealth::Managed(c),
            Err(e) => {
                errs.extend(e.into_iter().map(|e| format!("{r}.healthCheck: {e}")));
                DesiredHealth::None
            }
        },
        (None, None) => DesiredHealth::None,
    };
    DesiredEndpoint {
        role,
        set_identifier: naming::set_identifier(owner, uid, role),
        target,
        health,
    }
}

fn check_alias(name: &str, r: &str, alias: &AliasTarget, errs: &mut Vec<String>) -> Alias {
    if !valid_zone_id(&alias.hosted_zone_id) {
        errs.push(format!(
            "{r}.alias.hostedZoneId {:?} is not a hosted zone id",
            alias.hosted_zone_id
        ));
    }
    if alias.dns_name.is_empty() || alias.dns_name.len() > 255 {
        errs.push(format!("{r}.alias.dnsName must hold 1 to 255 characters"));
    }
    let dns_name = fqdn(&alias.dns_name);
    if dns_name == name {
        errs.push(format!("{r}.alias cannot point at the record itself"));
    }
    let cloudfront = alias.hosted_zone_id == CLOUDFRONT_ZONE_ID;
    if cloudfront && alias.evaluate_target_health {
        errs.push(format!("{r}.alias: CloudFront alias targets cannot evaluate target health: set evaluateTargetHealth to false"));
    }
    if !cloudfront && !alias.evaluate_target_health {
        errs.push(format!("{r}.alias: a failover alias must evaluate target health (evaluateTargetHealth: true), or Route 53 cannot fail over away from it"));
    }
    Alias {
        dns_name,
        hosted_zone_id: alias.hosted_zone_id.clone(),
        evaluate_target_health: alias.evaluate_target_health,
    }
}

fn health_check_config(
    rtype: RecordType,
    name: &str,
    ep: &Endpoint,
    hc: &HealthCheckSpec,
) -> Result<HealthCheckConfig, Vec<String>> {
    let t = hc.check_type;
    if !t.is_endpoint() {
        return signal_check_config(hc);
    }
    let mut errs = Vec::new();
    if hc.alarm.is_some() {
        errs.push(ALARM_ONLY.to_string());
    }
    if hc.insufficient_data_health_status.is_some() {
        errs.push(INSUFFICIENT_DATA_ONLY.to_string());
    }
    if hc.routing_control_arn.is_some() {
        errs.push(ARN_ONLY.to_string());
    }
    if !hc.children.is_empty() {
        errs.push(CHILDREN_ONLY.to_string());
    }
    if hc.health_threshold.is_some() {
        errs.push(THRESHOLD_ONLY.to_string());
    }
    if t.is_str_match() != hc.search_string.is_some() {
        errs.push("searchString is required for HTTP_STR_MATCH and HTTPS_STR_MATCH and not allowed for other types".to_string());
    }
    if let Some(s) = &hc.search_string {
        if s.is_empty() || s.len() > 255 {
            errs.push("searchString must hold 1 to 255 characters".into());
        }
    }
    if t == crate::crd::HealthCheckType::TCP {
        if hc.resource_path.is_some() {
            errs.push("resourcePath is not allowed for TCP health checks".into());
        }
        if hc.port.is_none() {
            errs.push("a TCP health check needs a port".into());
        }
    }
    if let Some(p) = &hc.resource_path {
        if !p.starts_with('/') || p.len() > 255 {
            errs.push("resourcePath must start with / and hold at most 255 characters".into());
        }
    }
    if hc.enable_sni == Some(true) && !t.is_https() {
        errs.push("enableSNI applies only to HTTPS and HTTPS_STR_MATCH".into());
    }
    let port = hc.port.unwrap_or(if t.is_https() { 443 } else { 80 });
    if !(1..=65535).contains(&port) {
        errs.push(format!("port {port} is out of range 1..65535"));
    }
    if hc.request_interval != 10 && hc.request_interval != 30 {
        errs.push(format!(
            "requestInterval must be 10 or 30, not {}",
            hc.request_interval
        ));
    }
    if !(1..=10).contains(&hc.failure_threshold) {
        errs.push(format!(
            "failureThreshold must be 1 to 10, not {}",
            hc.failure_threshold
        ));
    }
    let mut regions = hc.regions.clone();
    regions.sort();
    regions.dedup();
    if !hc.regions.is_empty() && (regions.len() != hc.regions.len() || regions.len() < 3) {
        errs.push("regions must list at least 3 distinct checker regions".into());
    }
    if let Some(ip) = &hc.ip_address {
        match ip.parse::<IpAddr>() {
            Err(_) => errs.push(format!("ipAddress {ip:?} is not an IPv4 or IPv6 address")),
            Ok(addr) => {
                if let Some(why) = not_public(addr) {
                    errs.push(format!("ipAddress {addr} is not a public address: {why}"));
                }
            }
        }
    }
    let fqdn_name = hc
        .fqdn
        .as_ref()
        .map(|f| f.trim_end_matches('.').to_ascii_lowercase());
    if let Some(f) = &fqdn_name {
        if f.is_empty() || f.len() > 255 {
            errs.push("fqdn must hold 1 to 255 characters".into());
        }
        if fqdn(f) == name {
            errs.push("a health check whose fqdn is the record name itself gives unpredictable results: check each endpoint by its own name or IP".into());
        }
    }
    // Default the checked address to the endpoint's first A/AAAA value, in the spec's order.
    let ip_address = hc.ip_address.clone().or_else(|| {
        if fqdn_name.is_some() || rtype == RecordType::CNAME {
            return None;
        }
        ep.values
            .as_ref()
            .and_then(|v| v.first())
            .map(|v| normalise_value(rtype, v))
    });
    if hc.ip_address.is_none() {
        // The check probes the first value: it must be public too (same rule, other message).
        if let Some(addr) = ip_address.as_ref().and_then(|v| v.parse::<IpAddr>().ok()) {
            if let Some(why) = not_public(addr) {
                errs.push(format!("the health check would probe the first value {addr}, which is not a public address: {why}; set healthCheck.ipAddress or fqdn"));
            }
        }
    }
    if ip_address.is_none() && fqdn_name.is_none() {
        errs.push("a health check needs ipAddress or fqdn unless the endpoint has A/AAAA values (the first value is then checked)".into());
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(HealthCheckConfig {
        check_type: t,
        ip_address: ip_address.map(|ip| ip.parse::<IpAddr>().map(|a| a.to_string()).unwrap_or(ip)),
        fqdn: fqdn_name,
        port,
        resource_path: if t == crate::crd::HealthCheckType::TCP {
            None
        } else {
            Some(hc.resource_path.clone().unwrap_or_else(|| "/".into()))
        },
        search_string: hc.search_string.clone(),
        request_interval: hc.request_interval,
        failure_threshold: hc.failure_threshold,
        regions,
        inverted: hc.inverted,
        enable_sni: t.is_https() && hc.enable_sni.unwrap_or(hc.fqdn.is_some()),
        measure_latency: hc.measure_latency,
        alarm_region: None,
        alarm_name: None,
        insufficient_data_health_status: None,
        routing_control_arn: None,
        child_health_checks: Vec::new(),
        health_threshold: 0,
    })
}

/// The CRD's messages for the kind-specific fields, repeated by the operator.
const ALARM_ONLY: &str = "alarm is required for CLOUDWATCH_METRIC and not allowed for other types";
const INSUFFICIENT_DATA_ONLY: &str =
    "insufficientDataHealthStatus applies only to CLOUDWATCH_METRIC";
const ARN_ONLY: &str =
    "routingControlArn is required for RECOVERY_CONTROL and not allowed for other types";
const CHILDREN_ONLY: &str = "children are required for CALCULATED and not allowed for other types";
const THRESHOLD_ONLY: &str =
    "healthThreshold is required for CALCULATED and not allowed for other types";

/// A check that follows a signal instead of contacting the endpoint: `CLOUDWATCH_METRIC` (an alarm),
/// `RECOVERY_CONTROL` (a routing control) or `CALCULATED` (other health checks, whose ids are
/// checked against Route 53 by the reconciler before anything is written). The same rules as the CRD's, plus Route 53's alarm
/// regions; `requestInterval` and `failureThreshold` are ignored (they have defaults in the schema).
fn signal_check_config(hc: &HealthCheckSpec) -> Result<HealthCheckConfig, Vec<String>> {
    use crate::crd::HealthCheckType;
    let t = hc.check_type;
    let mut errs = Vec::new();
    if hc.ip_address.is_some()
        || hc.fqdn.is_some()
        || hc.port.is_some()
        || hc.resource_path.is_some()
        || hc.search_string.is_some()
        || !hc.regions.is_empty()
        || hc.enable_sni == Some(true)
        || hc.measure_latency
    {
        errs.push(format!("a {} check contacts no endpoint: ipAddress, fqdn, port, resourcePath, searchString, regions, enableSNI and measureLatency are not allowed", t.as_str()));
    }
    let calculated = t == HealthCheckType::Calculated;
    if calculated == hc.children.is_empty() {
        errs.push(CHILDREN_ONLY.into());
    }
    if calculated != hc.health_threshold.is_some() {
        errs.push(THRESHOLD_ONLY.into());
    }
    if hc.children.len() > crate::route53::MAX_CHILD_HEALTH_CHECKS {
        errs.push(format!(
            "children must list at most {} health checks",
            crate::route53::MAX_CHILD_HEALTH_CHECKS
        ));
    }
    for child in &hc.children {
        if !valid_health_check_id(child) {
            errs.push(format!(
                "children: {child:?} is not a Route 53 health check id"
            ));
        }
    }
    let mut unique = hc.children.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != hc.children.len() {
        errs.push("children must not repeat a health check".into());
    }
    if let Some(n) = hc.health_threshold {
        if !(0..=crate::route53::MAX_CHILD_HEALTH_CHECKS as i32).contains(&n) {
            errs.push(format!("healthThreshold must be 0 to 256, not {n}"));
        }
    }
    let cloudwatch = t == HealthCheckType::CloudwatchMetric;
    let recovery = t == HealthCheckType::RecoveryControl;
    match (&hc.alarm, cloudwatch) {
        (None, true) | (Some(_), false) => errs.push(ALARM_ONLY.into()),
        (Some(a), true) => {
            if !crate::crd::CLOUDWATCH_REGIONS.contains(&a.region.as_str()) {
                errs.push(format!(
                    "alarm.region {:?} is not a region Route 53 can read CloudWatch alarms in",
                    a.region
                ));
            }
            if a.name.is_empty() || a.name.chars().count() > 256 {
                errs.push("alarm.name must hold 1 to 256 characters".into());
            }
        }
        (None, false) => {}
    }
    if hc.insufficient_data_health_status.is_some() && !cloudwatch {
        errs.push(INSUFFICIENT_DATA_ONLY.into());
    }
    match (&hc.routing_control_arn, recovery) {
        (None, true) | (Some(_), false) => errs.push(ARN_ONLY.into()),
        (Some(arn), true) if !valid_routing_control_arn(arn) => errs.push(format!(
            "routingControlArn {arn:?} is not a routing control ARN (arn:aws:route53-recovery-control::ACCOUNT:controlpanel/ID/routingcontrol/ID, at most 255 characters)"
        )),
        _ => {}
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    if calculated {
        return Ok(HealthCheckConfig::calculated(
            hc.children.clone(),
            hc.health_threshold.unwrap_or(0),
            hc.inverted,
        ));
    }
    Ok(HealthCheckConfig {
        check_type: t,
        ip_address: None,
        fqdn: None,
        port: 0,
        resource_path: None,
        search_string: None,
        request_interval: 0,
        failure_threshold: 0,
        regions: Vec::new(),
        inverted: hc.inverted,
        enable_sni: false,
        measure_latency: false,
        alarm_region: hc.alarm.as_ref().map(|a| a.region.clone()),
        alarm_name: hc.alarm.as_ref().map(|a| a.name.clone()),
        insufficient_data_health_status: cloudwatch
            .then(|| hc.insufficient_data_health_status.unwrap_or_default()),
        routing_control_arn: hc.routing_control_arn.clone(),
        child_health_checks: Vec::new(),
        health_threshold: 0,
    })
}

/// A Route 53 health check id as `existingHealthCheckId` and `children` take it: 1–64 letters,
/// digits and dashes.
pub fn valid_health_check_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// `arn:aws[-partition]:route53-recovery-control::<12 digits>:controlpanel/<id>/routingcontrol/<id>`,
/// at most 255 characters (the CRD's pattern).
pub fn valid_routing_control_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws") else {
        return false;
    };
    let Some((partition, rest)) = rest.split_once(":route53-recovery-control::") else {
        return false;
    };
    let Some((account, rest)) = rest.split_once(':') else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    arn.len() <= 255
        && partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && parts.len() == 4
        && parts[0] == "controlpanel"
        && parts[2] == "routingcontrol"
        && !parts[1].is_empty()
        && !parts[3].is_empty()
}

fn check_value(rtype: RecordType, v: &str) -> Option<String> {
    match rtype {
        RecordType::A if v.parse::<std::net::Ipv4Addr>().is_err() => {
            Some(format!("{v:?} is not an IPv4 address"))
        }
        RecordType::AAAA if v.parse::<std::net::Ipv6Addr>().is_err() => {
            Some(format!("{v:?} is not an IPv6 address"))
        }
        RecordType::CNAME if !valid_dns_name(v) => {
            Some(format!("{v:?} is not a lower-case host name"))
        }
        _ => None,
    }
}

/// Values in the form Route 53 returns them: canonical IPv6 text, host names with a trailing dot.
pub fn normalise_value(rtype: RecordType, v: &str) -> String {
    match rtype {
        RecordType::A => v.trim().to_string(),
        RecordType::AAAA => v
            .trim()
            .parse::<std::net::Ipv6Addr>()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| v.trim().to_string()),
        RecordType::CNAME => fqdn(v),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Z followed by 1–31 upper-case letters or digits.
pub fn valid_zone_id(id: &str) -> bool {
    id.len() >= 2
        && id.len() <= 32
        && id.starts_with('Z')
        && id[1..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Lower-case DNS name, labels of 1–63 of `[a-z0-9_-]` not starting or ending with `-`, at most 253
/// characters, optional trailing dot.
pub fn valid_dns_name(name: &str) -> bool {
    let n = name.strip_suffix('.').unwrap_or(name);
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

/// Whether `name` (normalised) is the zone apex or below it.
pub fn in_zone(name: &str, zone: &str) -> bool {
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// The networks Route 53 refuses to health-check ("local, private, non-routable, or multicast ranges",
/// API reference, `HealthCheckConfig.IPAddress`), as (CIDR, kind): RFC 1918, RFC 5735, RFC 6598 and the
/// special-use IPv6 blocks of RFC 5156. The CRD's CEL rules list the same networks (see
/// `special_use_cidrs!` in `crd.rs`); the Route 53 double has the same table in
/// `tests/world/r53/addresses.py`. More specific networks come first, so the kind reported is the
/// most precise one.
pub const SPECIAL_USE_NETWORKS: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this\" network, RFC 5735"),
    ("10.0.0.0/8", "private, RFC 1918"),
    ("100.64.0.0/10", "shared address space, RFC 6598"),
    ("127.0.0.0/8", "loopback, RFC 5735"),
    ("169.254.0.0/16", "link-local, RFC 5735"),
    ("172.16.0.0/12", "private, RFC 1918"),
    ("192.0.0.0/24", "IETF protocol assignments, RFC 5735"),
    ("192.0.2.0/24", "documentation (TEST-NET-1), RFC 5735"),
    ("192.88.99.0/24", "6to4 relay anycast, RFC 5735"),
    ("192.168.0.0/16", "private, RFC 1918"),
    ("198.18.0.0/15", "benchmarking, RFC 5735"),
    ("198.51.100.0/24", "documentation (TEST-NET-2), RFC 5735"),
    ("203.0.113.0/24", "documentation (TEST-NET-3), RFC 5735"),
    ("224.0.0.0/4", "multicast, RFC 5735"),
    ("240.0.0.0/4", "reserved or limited broadcast, RFC 5735"),
    ("::/128", "unspecified, RFC 5156"),
    ("::1/128", "loopback, RFC 5156"),
    ("::ffff:0:0/96", "IPv4-mapped, RFC 5156"),
    ("::/96", "IPv4-compatible, RFC 5156"),
    ("fe80::/10", "link-local, RFC 5156"),
    ("fec0::/10", "site-local, RFC 5156"),
    ("fc00::/7", "unique local, RFC 5156"),
    ("2001:10::/28", "ORCHID, RFC 5156"),
    ("2001::/32", "Teredo, RFC 5156"),
    ("2001::/23", "IANA special-purpose block, RFC 5156"),
    ("2001:db8::/32", "documentation, RFC 5156"),
    ("2002::/16", "6to4, RFC 5156"),
    ("3ffe::/16", "former 6bone, RFC 5156"),
    ("5f00::/8", "former 6bone, RFC 5156"),
    ("ff00::/8", "multicast, RFC 5156"),
];

/// The special-use network (CIDR, kind) that holds `addr`, if any.
pub fn special_use_network(addr: IpAddr) -> Option<(&'static str, &'static str)> {
    SPECIAL_USE_NETWORKS
        .iter()
        .copied()
        .find(|(cidr, _)| cidr_contains(cidr, addr))
}

/// Why Route 53 would refuse to health-check `addr`, or `None` for a public address.
pub fn not_public(addr: IpAddr) -> Option<String> {
    special_use_network(addr).map(|(cidr, kind)| {
        format!("it is in {cidr} ({kind}); Route 53 cannot check local, private, loopback, link-local, documentation, benchmarking, multicast, reserved or other special-use addresses")
    })
}

fn cidr_contains(cidr: &str, addr: IpAddr) -> bool {
    let Some((net, len)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod special_use_tests {
    use super::*;

    #[test]
    fn special_use_ranges_are_refused_and_public_addresses_pass() {
        for a in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "169.254.1.1",
            "192.0.0.8",
            "192.0.2.10",
            "192.88.99.1",
            "198.51.100.7",
            "203.0.113.5",
            "198.18.0.1",
            "198.19.255.1",
            "224.0.0.1",
            "239.1.1.1",
            "240.0.0.1",
            "255.255.255.255",
            "0.1.2.3",
            "0.0.0.0",
            "::",
            "::1",
            "::ffff:52.94.76.10",
            "::52.94.76.10",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fdff::1",
            "2001:db8::1",
            "2001:10::1",
            "2001::1",
            "2001:1ff::1",
            "2002:c000:204::1",
            "3ffe::1",
            "5f00::1",
            "ff02::1",
        ] {
            let ip: IpAddr = a.parse().expect(a);
            assert!(not_public(ip).is_some(), "{a} must be refused");
        }
        for a in [
            "52.94.76.10",
            "8.8.8.8",
            "1.1.1.1",
            "54.239.28.85",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "192.0.1.1",
            "192.0.3.1",
            "2600:1f18::1",
            "2a05:d018::1",
            "2001:200::1",
            "2001:4860::8888",
        ] {
            let ip: IpAddr = a.parse().expect(a);
            assert_eq!(not_public(ip), None, "{a} is public");
        }
    }

    #[test]
    fn every_network_parses() {
        for (cidr, _) in SPECIAL_USE_NETWORKS {
            let (net, len) = cidr.split_once('/').expect(cidr);
            let net: IpAddr = net.parse().expect(cidr);
            let len: u32 = len.parse().expect(cidr);
            assert!(len <= if net.is_ipv4() { 32 } else { 128 }, "{cidr}");
            assert!(cidr_contains(cidr, net), "{cidr}");
        }
    }
}

#[cfg(test)]
mod kinds_tests {
    use super::*;
    use crate::crd::{HealthCheckType, InsufficientDataHealthStatus};

    const ARN: &str = "arn:aws:route53-recovery-control::123456789012:controlpanel/0123abcd/routingcontrol/4567cdef";

    fn desired(check: &str) -> Result<Desired, Vec<String>> {
        let spec: FailoverRecordSpec = serde_yaml::from_str(&format!(
            "hostedZone: {{name: corp.internal}}\nname: db.corp.internal\ntype: CNAME\nprimary:\n  values: [db-a.corp.internal]\n  healthCheck: {check}\nsecondary:\n  values: [db-b.corp.internal]\n"
        ))
        .expect("spec yaml");
        Desired::from_spec(&spec, "owner", "uid")
    }

    fn managed(d: &Desired) -> HealthCheckConfig {
        match &d.endpoint(Role::Primary).health {
            DesiredHealth::Managed(c) => c.clone(),
            other => panic!("not managed: {other:?}"),
        }
    }

    #[test]
    fn kinds_alarm_check_of_a_cname_has_no_endpoint_settings_and_defaults_to_last_known_status() {
        let d = desired("{type: CLOUDWATCH_METRIC, alarm: {region: eu-west-1, name: db-down}}")
            .expect("valid");
        let c = managed(&d);
        assert_eq!(c.check_type, HealthCheckType::CloudwatchMetric);
        assert_eq!(c.alarm_region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.alarm_name.as_deref(), Some("db-down"));
        assert_eq!(
            c.insufficient_data_health_status,
            Some(InsufficientDataHealthStatus::LastKnownStatus)
        );
        assert_eq!((c.port, c.request_interval, c.failure_threshold), (0, 0, 0));
        assert_eq!(
            (c.ip_address.as_ref(), c.resource_path.as_ref()),
            (None, None)
        );
        // What Route 53 echoes, normalised, matches what is wanted.
        let mut echoed = c.clone();
        echoed.port = 80;
        echoed.request_interval = 30;
        echoed.failure_threshold = 3;
        assert!(c.matches(&echoed.without_endpoint_settings()));
    }

    #[test]
    fn kinds_private_first_value_is_fine_for_an_alarm_check() {
        let spec: FailoverRecordSpec = serde_yaml::from_str(
            "hostedZone: {name: corp.internal}\nname: db.corp.internal\ntype: A\nprimary:\n  values: [\"10.0.0.10\"]\n  healthCheck: {type: CLOUDWATCH_METRIC, alarm: {region: us-east-1, name: db}}\nsecondary:\n  values: [\"10.0.1.10\"]\n",
        )
        .expect("spec");
        Desired::from_spec(&spec, "owner", "uid").expect("a private endpoint behind an alarm");
    }

    #[test]
    fn kinds_bad_input_is_refused_with_the_reason() {
        for (check, needle) in [
            (
                "{type: CLOUDWATCH_METRIC}",
                "alarm is required for CLOUDWATCH_METRIC",
            ),
            (
                "{type: CLOUDWATCH_METRIC, alarm: {region: moon-east-1, name: x}}",
                "alarm.region \"moon-east-1\" is not a region Route 53 can read CloudWatch alarms in",
            ),
            (
                "{type: CLOUDWATCH_METRIC, alarm: {region: eu-west-1, name: \"\"}}",
                "alarm.name must hold 1 to 256 characters",
            ),
            (
                "{type: CLOUDWATCH_METRIC, alarm: {region: eu-west-1, name: x}, port: 443}",
                "contacts no endpoint",
            ),
            (
                "{type: RECOVERY_CONTROL, routingControlArn: \"arn:aws:s3:::b\"}",
                "is not a routing control ARN",
            ),
            ("{type: RECOVERY_CONTROL}", "routingControlArn is required"),
            (
                "{type: RECOVERY_CONTROL, routingControlArn: x, insufficientDataHealthStatus: Healthy}",
                "insufficientDataHealthStatus applies only to CLOUDWATCH_METRIC",
            ),
            (
                "{type: HTTP, fqdn: db.example.com, alarm: {region: eu-west-1, name: x}}",
                "alarm is required for CLOUDWATCH_METRIC and not allowed for other types",
            ),
            (
                "{type: HTTP, fqdn: db.example.com, routingControlArn: x}",
                "routingControlArn is required for RECOVERY_CONTROL and not allowed for other types",
            ),
        ] {
            let errs = desired(check).expect_err(check);
            assert!(errs.iter().any(|e| e.contains(needle)), "{check}: {errs:?}");
        }
    }

    #[test]
    fn kinds_routing_control_arn_is_immutable_and_the_alarm_is_not() {
        let a = managed(
            &desired(&format!(
                "{{type: RECOVERY_CONTROL, routingControlArn: \"{ARN}\"}}"
            ))
            .expect("a"),
        );
        let b = managed(
            &desired(&format!(
                "{{type: RECOVERY_CONTROL, routingControlArn: \"{}\"}}",
                ARN.replace("4567cdef", "89ab")
            ))
            .expect("b"),
        );
        assert!(!b.updatable_from(&a), "a new ARN replaces the check");
        let x = managed(
            &desired("{type: CLOUDWATCH_METRIC, alarm: {region: eu-west-1, name: x}}").expect("x"),
        );
        let y = managed(
            &desired("{type: CLOUDWATCH_METRIC, alarm: {region: us-east-2, name: y}, insufficientDataHealthStatus: Unhealthy}")
                .expect("y"),
        );
        assert!(
            y.updatable_from(&x),
            "alarm and insufficient-data status update in place"
        );
        assert!(!x.matches(&y));
        assert!(!y.updatable_from(&a), "a type change replaces the check");
    }

    #[test]
    fn kinds_calculated_check_of_children_and_threshold() {
        let c = managed(
            &desired(
                "{type: CALCULATED, children: [b-2, a-1], healthThreshold: 1, inverted: true}",
            )
            .expect("valid"),
        );
        assert_eq!(
            c,
            HealthCheckConfig::calculated(vec!["a-1".into(), "b-2".into()], 1, true)
        );
        for (check, needle) in [
            (
                "{type: CALCULATED, healthThreshold: 1}",
                "children are required",
            ),
            (
                "{type: CALCULATED, children: [a]}",
                "healthThreshold is required",
            ),
            (
                "{type: CALCULATED, children: [a, a], healthThreshold: 1}",
                "must not repeat",
            ),
            (
                "{type: CALCULATED, children: [\"not an id\"], healthThreshold: 1}",
                "is not a Route 53 health check id",
            ),
            (
                "{type: CALCULATED, children: [a], healthThreshold: 257}",
                "healthThreshold must be 0 to 256",
            ),
            (
                "{type: CALCULATED, children: [a], healthThreshold: 1, port: 80}",
                "contacts no endpoint",
            ),
            (
                "{type: TCP, port: 5432, fqdn: db.example.com, children: [a], healthThreshold: 1}",
                "children are required for CALCULATED and not allowed for other types",
            ),
        ] {
            let errs = desired(check).expect_err(check);
            assert!(errs.iter().any(|e| e.contains(needle)), "{check}: {errs:?}");
        }
    }

    #[test]
    fn kinds_routing_control_arns() {
        assert!(valid_routing_control_arn(ARN));
        assert!(valid_routing_control_arn(
            "arn:aws-us-gov:route53-recovery-control::123456789012:controlpanel/a/routingcontrol/b"
        ));
        for bad in [
            "arn:aws:route53-recovery-control::1234:controlpanel/a/routingcontrol/b",
            "arn:aws:route53-recovery-control::123456789012:controlpanel/a",
            "arn:aws:route53-recovery-control::123456789012:controlpanel//routingcontrol/b",
            "arn:aws:s3:::bucket",
        ] {
            assert!(!valid_routing_control_arn(bad), "{bad}");
        }
    }
}
