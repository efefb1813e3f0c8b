//! Endpoints that follow a Kubernetes object (`endpoint.target`): from the addresses a Service of
//! type LoadBalancer, an Ingress or a Gateway publishes to record values or an alias. Pure: the
//! Kubernetes side (reading the objects, watching them) is in [`crate::target_watch`].
//!
//! The rules, for the record type of the pair:
//! - an IP address of the record type's family (IPv4 for A, IPv6 for AAAA) is a value; all such
//!   addresses of the object are the values, sorted;
//! - an AWS load balancer host name (classic ELB, ALB, NLB) is an alias (A or AAAA) to the load
//!   balancer's canonical hosted zone, from [`canonical_zone`] (the table external-dns keeps, by
//!   region and load-balancer kind) or the user's `aliasHostedZoneId`;
//! - any other host name is a CNAME value (only for type CNAME);
//! - anything else (an IP of the other family only, an IP for a CNAME, a host name that is not an
//!   AWS load balancer for A/AAAA) is `WrongAddressFamily` or `UnsupportedTarget`, and nothing is
//!   written.

use std::net::IpAddr;

use crate::crd::{AliasTarget, Endpoint, FailoverRecordSpec, KubernetesTarget, RecordType, Role};

/// Ready reason: the referenced object does not exist yet or has no address yet.
pub const TARGET_PENDING: &str = "TargetPending";
/// Ready reason: the referenced object (or its address) is gone after records were written; they
/// are kept as they are.
pub const TARGET_LOST: &str = "TargetLost";
/// Ready reason: the reference names a namespace the operator does not allow.
pub const TARGET_NOT_ALLOWED: &str = "TargetNotAllowed";
/// Ready reason: the referenced Service is not of type LoadBalancer.
pub const NOT_LOAD_BALANCER: &str = "NotLoadBalancer";
/// Ready reason: the object's addresses are not of the record type's family.
pub const WRONG_ADDRESS_FAMILY: &str = "WrongAddressFamily";
/// Ready reason: the address cannot be used for the record type (a host name for A/AAAA that is
/// not an AWS load balancer), or the Gateway API is not installed.
pub const UNSUPPORTED_TARGET: &str = "UnsupportedTarget";

/// Which kind of object a target references.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// core/v1 Service (type LoadBalancer).
    Service,
    /// networking.k8s.io/v1 Ingress.
    Ingress,
    /// gateway.networking.k8s.io/v1 Gateway.
    Gateway,
}

impl TargetKind {
    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Service => "Service",
            TargetKind::Ingress => "Ingress",
            TargetKind::Gateway => "Gateway",
        }
    }
}

/// A target reference, with its namespace filled in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TargetRef {
    /// Kind.
    pub kind: TargetKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for TargetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

/// The object a target names, in the FailoverRecord's namespace unless it says another.
pub fn target_ref(target: &KubernetesTarget, record_namespace: &str) -> Option<TargetRef> {
    let (kind, r) = match (&target.service, &target.ingress, &target.gateway) {
        (Some(r), None, None) => (TargetKind::Service, r),
        (None, Some(r), None) => (TargetKind::Ingress, r),
        (None, None, Some(r)) => (TargetKind::Gateway, r),
        _ => return None,
    };
    Some(TargetRef {
        kind,
        namespace: r
            .namespace
            .clone()
            .unwrap_or_else(|| record_namespace.to_string()),
        name: r.name.clone(),
    })
}

/// The targets of a spec, per role.
pub fn spec_targets(spec: &FailoverRecordSpec, record_namespace: &str) -> [Option<TargetRef>; 2] {
    Role::ALL.map(|role| {
        endpoint_of(spec, role)
            .target
            .as_ref()
            .and_then(|t| target_ref(t, record_namespace))
    })
}

fn endpoint_of(spec: &FailoverRecordSpec, role: Role) -> &Endpoint {
    match role {
        Role::Primary => &spec.primary,
        Role::Secondary => &spec.secondary,
    }
}

/// One address an object publishes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Address {
    /// An IP address.
    Ip(IpAddr),
    /// A host name (lower case, no trailing dot).
    Host(String),
}

impl Address {
    /// Parse an `ip` or `hostname` field (an IP written in a hostname field is an IP).
    pub fn parse(s: &str) -> Option<Address> {
        let s = s.trim().trim_end_matches('.');
        if s.is_empty() {
            return None;
        }
        Some(match s.parse::<IpAddr>() {
            Ok(ip) => Address::Ip(ip),
            Err(_) => Address::Host(s.to_ascii_lowercase()),
        })
    }
}

/// Kinds of AWS load balancer, which have different canonical hosted zones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadBalancerKind {
    /// Classic ELB or ALB (`name-id.REGION.elb.amazonaws.com`): they share a zone per region.
    ClassicOrApplication,
    /// NLB (`name-id.elb.REGION.amazonaws.com`).
    Network,
}

/// The kind and region of an AWS load balancer host name, if it is one (`dualstack.` and
/// `internal-` prefixes included; China's `amazonaws.com.cn` too).
pub fn aws_load_balancer(host: &str) -> Option<(LoadBalancerKind, String)> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let labels: Vec<&str> = rest.split('.').collect();
    let n = labels.len();
    if n < 3 {
        return None;
    }
    // name-id.REGION.elb / name-id.elb.REGION
    if labels[n - 1] == "elb" && is_region(labels[n - 2]) {
        return Some((
            LoadBalancerKind::ClassicOrApplication,
            labels[n - 2].to_string(),
        ));
    }
    if labels[n - 2] == "elb" && is_region(labels[n - 1]) {
        return Some((LoadBalancerKind::Network, labels[n - 1].to_string()));
    }
    None
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Canonical hosted zones of classic ELBs and ALBs by region (AWS's "Elastic Load Balancing
/// endpoints and quotas" table, as external-dns keeps it in its AWS provider).
pub const ELB_ZONES: &[(&str, &str)] = &[
    ("us-east-2", "Z3AADJGX6KTTL2"),
    ("us-east-1", "Z35SXDOTRQ7X7K"),
    ("us-west-1", "Z368ELLRRE2KJ0"),
    ("us-west-2", "Z1H1FL5HABSF5"),
    ("ca-central-1", "ZQSVJUPU6J1EY"),
    ("af-south-1", "Z268VQBMOI5EKX"),
    ("ap-east-1", "Z3DQVH9N71FHZ0"),
    ("ap-south-1", "ZP97RAFLXTNZK"),
    ("ap-northeast-1", "Z14GRHDCWA56QT"),
    ("ap-northeast-2", "ZWKZPGTI48KDX"),
    ("ap-northeast-3", "Z5LXEXXYW11ES"),
    ("ap-southeast-1", "Z1LMS91P8CMLE5"),
    ("ap-southeast-2", "Z1GM3OXH4ZPM65"),
    ("eu-central-1", "Z215JYRZR1TBD5"),
    ("eu-west-1", "Z32O12XQLNTSW2"),
    ("eu-west-2", "ZHURV8PSTC4K8"),
    ("eu-west-3", "Z3Q77PNBQS71R4"),
    ("eu-north-1", "Z23TAZ6LKFMNIO"),
    ("eu-south-1", "Z3ULH7SSC9OV64"),
    ("me-south-1", "ZS929ML54UICD"),
    ("sa-east-1", "Z2P70J7HTTTPLU"),
    ("cn-north-1", "Z1GDH35T77C1KE"),
    ("cn-northwest-1", "ZM7IZAIOVVDZF"),
    ("us-gov-west-1", "Z33AYJ8TM3BH4J"),
    ("us-gov-east-1", "Z166TLBEWOO7G0"),
];

/// Canonical hosted zones of NLBs by region (same sources as [`ELB_ZONES`]).
pub const NLB_ZONES: &[(&str, &str)] = &[
    ("us-east-2", "ZLMOA37VPKANP"),
    ("us-east-1", "Z26RNL4JYFTOTI"),
    ("us-west-1", "Z24FKFUX50B4VW"),
    ("us-west-2", "Z18D5FSROUN65G"),
    ("ca-central-1", "Z2EPGBW3API2WT"),
    ("af-south-1", "Z203XCE67M25HM"),
    ("ap-east-1", "Z12Y7K3UBGUAD1"),
    ("ap-south-1", "ZVDDRBQ08TROA"),
    ("ap-northeast-1", "Z31USIVHYNEOWT"),
    ("ap-northeast-2", "ZIBE1TIR4HY56"),
    ("ap-northeast-3", "Z1GWIQ4HH19I5X"),
    ("ap-southeast-1", "ZKVM4W9LS7TM"),
    ("ap-southeast-2", "ZCT6FZBF4DROD"),
    ("eu-central-1", "Z3F0SRJ5LGBH90"),
    ("eu-west-1", "Z2IFOLAFXWLO4F"),
    ("eu-west-2", "ZD4D7Y8KGAS4G"),
    ("eu-west-3", "Z1CMS0P5QUZ6D5"),
    ("eu-north-1", "Z1UDT6IFJ4EJM"),
    ("eu-south-1", "Z23146JA1KNAFP"),
    ("me-south-1", "Z3QSRYVP46NYYV"),
    ("sa-east-1", "ZTK26PT1VY4CU"),
    ("cn-north-1", "Z3QFB96KMJ7ED6"),
    ("cn-northwest-1", "ZQEIKTCZ8352D"),
];

/// The canonical hosted zone of a load balancer kind in a region, if the table has it.
pub fn canonical_zone(kind: LoadBalancerKind, region: &str) -> Option<&'static str> {
    let table = match kind {
        LoadBalancerKind::ClassicOrApplication => ELB_ZONES,
        LoadBalancerKind::Network => NLB_ZONES,
    };
    table.iter().find(|(r, _)| *r == region).map(|(_, z)| *z)
}

/// What a target resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// Record values (IP addresses of the record type's family, sorted; or one CNAME host name).
    Values(Vec<String>),
    /// An alias to an AWS load balancer.
    Alias {
        /// The load balancer's host name.
        dns_name: String,
        /// Its canonical hosted zone.
        hosted_zone_id: String,
    },
}

/// Why a target cannot be used: a `Ready=False` reason and a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TargetError {
    /// CamelCase reason ([`TARGET_PENDING`], [`WRONG_ADDRESS_FAMILY`], ...).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl TargetError {
    /// A new error.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        TargetError {
            reason,
            message: message.into(),
        }
    }
}

/// Resolve the addresses an object publishes for a record of type `rtype`. `what` names the
/// object in messages; `zone_override` is the user's `aliasHostedZoneId`. No address at all is
/// [`TARGET_PENDING`] (the caller turns it into [`TARGET_LOST`] when records were written).
pub fn resolve(
    rtype: RecordType,
    what: &str,
    addresses: &[Address],
    zone_override: Option<&str>,
) -> Result<Resolved, TargetError> {
    if addresses.is_empty() {
        return Err(TargetError::new(
            TARGET_PENDING,
            format!("{what} has no address yet"),
        ));
    }
    let mut ips: Vec<IpAddr> = addresses
        .iter()
        .filter_map(|a| match a {
            Address::Ip(ip) => Some(*ip),
            Address::Host(_) => None,
        })
        .collect();
    let mut hosts: Vec<&str> = addresses
        .iter()
        .filter_map(|a| match a {
            Address::Host(h) => Some(h.as_str()),
            Address::Ip(_) => None,
        })
        .collect();
    ips.sort();
    ips.dedup();
    hosts.sort();
    hosts.dedup();
    let shown = |v: &[IpAddr]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match rtype {
        RecordType::A | RecordType::AAAA => {
            let v4 = rtype == RecordType::A;
            let family: Vec<String> = ips
                .iter()
                .filter(|ip| ip.is_ipv4() == v4)
                .map(ToString::to_string)
                .collect();
            if !family.is_empty() {
                return Ok(Resolved::Values(family));
            }
            if let Some(host) = hosts.first() {
                return alias_of(rtype, what, host, zone_override);
            }
            Err(TargetError::new(
                WRONG_ADDRESS_FAMILY,
                format!(
                    "{what} has only {} addresses ({}): a record of type {} needs {}",
                    if v4 { "IPv6" } else { "IPv4" },
                    shown(&ips),
                    rtype.as_str(),
                    if v4 { "IPv4" } else { "IPv6" },
                ),
            ))
        }
        RecordType::CNAME => match hosts.first() {
            Some(host) => Ok(Resolved::Values(vec![crate::route53::fqdn(host)])),
            None => Err(TargetError::new(
                WRONG_ADDRESS_FAMILY,
                format!(
                    "{what} has only IP addresses ({}): a record of type CNAME needs a host name (use type A or AAAA)",
                    shown(&ips)
                ),
            )),
        },
    }
}

fn alias_of(
    rtype: RecordType,
    what: &str,
    host: &str,
    zone_override: Option<&str>,
) -> Result<Resolved, TargetError> {
    let zone = match (zone_override, aws_load_balancer(host)) {
        (Some(z), _) => z.to_string(),
        (None, Some((kind, region))) => match canonical_zone(kind, &region) {
            Some(z) => z.to_string(),
            None => {
                return Err(TargetError::new(
                    UNSUPPORTED_TARGET,
                    format!(
                        "{what}: the canonical hosted zone of {} load balancers in {region} is not in the operator's table: set target.aliasHostedZoneId",
                        match kind {
                            LoadBalancerKind::ClassicOrApplication => "classic and application",
                            LoadBalancerKind::Network => "network",
                        }
                    ),
                ));
            }
        },
        (None, None) => {
            return Err(TargetError::new(
                UNSUPPORTED_TARGET,
                format!(
                    "{what} has the host name {host}, which is not an AWS load balancer: a record of type {} cannot hold a host name (use type CNAME, or set target.aliasHostedZoneId for an alias)",
                    rtype.as_str()
                ),
            ));
        }
    };
    Ok(Resolved::Alias {
        dns_name: crate::route53::fqdn(host),
        hosted_zone_id: zone,
    })
}

/// The spec with each target replaced by what it resolved to (`resolved[role]`, `None` for an
/// endpoint without target), so that [`crate::desired::Desired::from_spec`] and the rest of the
/// pipeline see plain values or an alias. A health check without `ipAddress` and `fqdn` checks the
/// resolved address: the first IP value as `ipAddress`, a host name as `fqdn`.
pub fn resolved_spec(
    spec: &FailoverRecordSpec,
    resolved: &[Option<Resolved>; 2],
) -> FailoverRecordSpec {
    let mut out = spec.clone();
    for role in Role::ALL {
        let Some(r) = &resolved[role.index()] else {
            continue;
        };
        let ep = match role {
            Role::Primary => &mut out.primary,
            Role::Secondary => &mut out.secondary,
        };
        ep.target = None;
        let checked = match r {
            Resolved::Values(v) => {
                ep.values = Some(v.clone());
                ep.alias = None;
                v.first().map(|first| match first.parse::<IpAddr>() {
                    Ok(ip) => (Some(ip.to_string()), None),
                    Err(_) => (None, Some(first.trim_end_matches('.').to_string())),
                })
            }
            Resolved::Alias {
                dns_name,
                hosted_zone_id,
            } => {
                ep.values = None;
                ep.alias = Some(AliasTarget {
                    dns_name: dns_name.clone(),
                    hosted_zone_id: hosted_zone_id.clone(),
                    evaluate_target_health: true,
                });
                Some((None, Some(dns_name.trim_end_matches('.').to_string())))
            }
        };
        if let (Some(hc), Some((ip, fqdn))) = (ep.health_check.as_mut(), checked) {
            if hc.check_type.is_endpoint() && hc.ip_address.is_none() && hc.fqdn.is_none() {
                hc.ip_address = ip;
                hc.fqdn = fqdn;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{HealthCheckSpec, HealthCheckType, TargetObjectRef};

    fn ip(s: &str) -> Address {
        Address::parse(s).expect(s)
    }

    #[test]
    fn aws_host_names_give_kind_and_region() {
        let cases = [
            (
                "my-lb-1234567890.us-east-1.elb.amazonaws.com",
                Some((LoadBalancerKind::ClassicOrApplication, "us-east-1")),
            ),
            (
                "dualstack.my-alb-1234.eu-west-1.elb.amazonaws.com.",
                Some((LoadBalancerKind::ClassicOrApplication, "eu-west-1")),
            ),
            (
                "internal-my-alb-1234.ap-southeast-2.elb.amazonaws.com",
                Some((LoadBalancerKind::ClassicOrApplication, "ap-southeast-2")),
            ),
            (
                "my-nlb-0123456789abcdef.elb.us-west-2.amazonaws.com",
                Some((LoadBalancerKind::Network, "us-west-2")),
            ),
            (
                "a-b.elb.cn-north-1.amazonaws.com.cn",
                Some((LoadBalancerKind::Network, "cn-north-1")),
            ),
            ("lb.example.com", None),
            ("elb.amazonaws.com", None),
            ("bucket.s3.us-east-1.amazonaws.com", None),
            ("x.elb.notaregion.amazonaws.com", None),
        ];
        for (host, want) in cases {
            let got = aws_load_balancer(host);
            assert_eq!(got.as_ref().map(|(k, r)| (*k, r.as_str())), want, "{host}");
        }
    }

    #[test]
    fn the_zone_table_distinguishes_elb_alb_and_nlb() {
        use LoadBalancerKind::*;
        assert_eq!(
            canonical_zone(ClassicOrApplication, "us-east-1"),
            Some("Z35SXDOTRQ7X7K")
        );
        assert_eq!(canonical_zone(Network, "us-east-1"), Some("Z26RNL4JYFTOTI"));
        assert_eq!(
            canonical_zone(ClassicOrApplication, "eu-west-1"),
            Some("Z32O12XQLNTSW2")
        );
        assert_eq!(canonical_zone(Network, "eu-west-1"), Some("Z2IFOLAFXWLO4F"));
        assert_eq!(canonical_zone(Network, "mars-north-1"), None);
        for table in [ELB_ZONES, NLB_ZONES] {
            let mut regions: Vec<&str> = table.iter().map(|(r, _)| *r).collect();
            regions.sort();
            let n = regions.len();
            regions.dedup();
            assert_eq!(regions.len(), n, "a region twice");
            for (r, z) in table {
                assert!(is_region(r), "{r}");
                assert!(crate::desired::valid_zone_id(z), "{z}");
            }
        }
    }

    #[test]
    fn ips_become_values_of_the_record_family() {
        let addrs = [ip("52.94.76.11"), ip("2600:1f18::1"), ip("52.94.76.10")];
        assert_eq!(
            resolve(RecordType::A, "Service a/b", &addrs, None),
            Ok(Resolved::Values(vec![
                "52.94.76.10".into(),
                "52.94.76.11".into()
            ]))
        );
        assert_eq!(
            resolve(RecordType::AAAA, "Service a/b", &addrs, None),
            Ok(Resolved::Values(vec!["2600:1f18::1".into()]))
        );
        let v6 = [ip("2600:1f18::1")];
        let e = resolve(RecordType::A, "Service a/b", &v6, None).expect_err("family");
        assert_eq!(e.reason, WRONG_ADDRESS_FAMILY);
        assert!(e.message.contains("only IPv6"), "{}", e.message);
        let e = resolve(RecordType::CNAME, "Service a/b", &addrs, None).expect_err("cname");
        assert_eq!(e.reason, WRONG_ADDRESS_FAMILY);
        let e = resolve(RecordType::A, "Service a/b", &[], None).expect_err("empty");
        assert_eq!(e.reason, TARGET_PENDING);
    }

    #[test]
    fn host_names_become_aliases_or_cname_values() {
        let elb = [ip("my-lb-1.us-east-1.elb.amazonaws.com")];
        assert_eq!(
            resolve(RecordType::A, "x", &elb, None),
            Ok(Resolved::Alias {
                dns_name: "my-lb-1.us-east-1.elb.amazonaws.com.".into(),
                hosted_zone_id: "Z35SXDOTRQ7X7K".into()
            })
        );
        let nlb = [ip("n-1.elb.eu-west-1.amazonaws.com")];
        assert_eq!(
            resolve(RecordType::AAAA, "x", &nlb, None),
            Ok(Resolved::Alias {
                dns_name: "n-1.elb.eu-west-1.amazonaws.com.".into(),
                hosted_zone_id: "Z2IFOLAFXWLO4F".into()
            })
        );
        // The user's zone wins, also for a host name the table does not know.
        assert_eq!(
            resolve(RecordType::A, "x", &nlb, Some("ZOVERRIDE1")),
            Ok(Resolved::Alias {
                dns_name: "n-1.elb.eu-west-1.amazonaws.com.".into(),
                hosted_zone_id: "ZOVERRIDE1".into()
            })
        );
        let unknown_region = [ip("n-1.elb.mars-north-1.amazonaws.com")];
        assert_eq!(
            resolve(RecordType::A, "x", &unknown_region, None)
                .expect_err("no zone")
                .reason,
            UNSUPPORTED_TARGET
        );
        let other = [ip("LB.Example.com")];
        assert_eq!(
            resolve(RecordType::CNAME, "x", &other, None),
            Ok(Resolved::Values(vec!["lb.example.com.".into()]))
        );
        assert_eq!(
            resolve(RecordType::CNAME, "x", &elb, None),
            Ok(Resolved::Values(vec![
                "my-lb-1.us-east-1.elb.amazonaws.com.".into()
            ]))
        );
        let e = resolve(RecordType::A, "x", &other, None).expect_err("host for A");
        assert_eq!(e.reason, UNSUPPORTED_TARGET);
        // An IP of the family wins over a host name.
        let both = [ip("52.94.76.10"), ip("my-lb-1.us-east-1.elb.amazonaws.com")];
        assert_eq!(
            resolve(RecordType::A, "x", &both, None),
            Ok(Resolved::Values(vec!["52.94.76.10".into()]))
        );
    }

    #[test]
    fn the_resolved_spec_has_values_or_alias_and_a_checked_address() {
        let hc = HealthCheckSpec {
            check_type: HealthCheckType::HTTP,
            ip_address: None,
            fqdn: None,
            port: None,
            resource_path: None,
            search_string: None,
            request_interval: 30,
            failure_threshold: 3,
            regions: Vec::new(),
            inverted: false,
            enable_sni: None,
            measure_latency: false,
            alarm: None,
            insufficient_data_health_status: None,
            routing_control_arn: None,
            children: Vec::new(),
            health_threshold: None,
        };
        let mut spec = FailoverRecordSpec::default();
        spec.primary.target = Some(KubernetesTarget {
            service: Some(TargetObjectRef {
                name: "web".into(),
                namespace: None,
            }),
            ..KubernetesTarget::default()
        });
        spec.primary.health_check = Some(hc.clone());
        spec.secondary.target = spec.primary.target.clone();
        spec.secondary.health_check = Some(hc);
        let out = resolved_spec(
            &spec,
            &[
                Some(Resolved::Values(vec!["52.94.76.10".into()])),
                Some(Resolved::Alias {
                    dns_name: "a.us-east-1.elb.amazonaws.com.".into(),
                    hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
                }),
            ],
        );
        assert_eq!(out.primary.target, None);
        assert_eq!(out.primary.values, Some(vec!["52.94.76.10".to_string()]));
        let phc = out.primary.health_check.expect("hc");
        assert_eq!(phc.ip_address.as_deref(), Some("52.94.76.10"));
        assert_eq!(phc.fqdn, None);
        let alias = out.secondary.alias.expect("alias");
        assert!(alias.evaluate_target_health);
        let shc = out.secondary.health_check.expect("hc");
        assert_eq!(shc.fqdn.as_deref(), Some("a.us-east-1.elb.amazonaws.com"));
        assert_eq!(
            spec_targets(&spec, "ns")[0],
            Some(TargetRef {
                kind: TargetKind::Service,
                namespace: "ns".into(),
                name: "web".into()
            })
        );
    }
}
