//! The `FailoverRecord` custom resource: one object for a Route 53 PRIMARY/SECONDARY failover pair
//! and the health checks that guard it.
//!
//! Every Route 53 rule that can be decided from the object alone is a CEL rule (or an OpenAPI
//! constraint) in the generated CRD, so the API server rejects bad input at admission. The same
//! rules are checked again by [`crate::desired::Desired::from_spec`] before anything is written, because a
//! CRD can be installed without its rules (or an older one may be installed).

// `printcolumn(type_ = ...)` repeats per column, which clippy mistakes for a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of the resource.
pub const GROUP: &str = "route53.failover.io";
/// The finalizer of versions before owner ids were in its name; see
/// [`crate::ownership::finalizer_name`] for the one each installation uses now.
pub const FINALIZER: &str = crate::ownership::LEGACY_FINALIZER;
/// Default TTL of non-alias records.
pub const DEFAULT_TTL: i64 = 60;
/// CloudFront's canonical hosted zone id: aliases to it cannot evaluate target health.
pub const CLOUDFRONT_ZONE_ID: &str = "Z2FDTNDATAQYW2";

/// The special-use networks of [`crate::desired::SPECIAL_USE_NETWORKS`] as a CEL list literal, for the
/// public-address rules. `::ffff:0:0/96` (IPv4-mapped) is left out: the Kubernetes CEL library refuses
/// such addresses in `ip()`/`cidr()` already, so `isIP()` is false for them and the field's own rule
/// rejects them. A constant literal keeps the rule's estimated cost small and fixed: 27 `cidr()`
/// parses of short constants and 27 `containsIP()` calls on a string of at most 45 characters.
macro_rules! special_use_cidrs {
    () => {
        "[cidr('0.0.0.0/8'), cidr('10.0.0.0/8'), cidr('100.64.0.0/10'), cidr('127.0.0.0/8'), \
         cidr('169.254.0.0/16'), cidr('172.16.0.0/12'), cidr('192.0.0.0/24'), cidr('192.0.2.0/24'), \
         cidr('192.88.99.0/24'), cidr('192.168.0.0/16'), cidr('198.18.0.0/15'), cidr('198.51.100.0/24'), \
         cidr('203.0.113.0/24'), cidr('224.0.0.0/4'), cidr('240.0.0.0/4'), cidr('::/128'), cidr('::1/128'), \
         cidr('::/96'), cidr('fe80::/10'), cidr('fec0::/10'), cidr('fc00::/7'), cidr('2001::/23'), \
         cidr('2001:db8::/32'), cidr('2002::/16'), cidr('3ffe::/16'), cidr('5f00::/8'), cidr('ff00::/8')]"
    };
}

/// Which addresses Route 53 refuses to health-check, for the public-address rules' messages.
macro_rules! not_public {
    () => {
        "Route 53 cannot check local, private (RFC 1918), shared (RFC 6598), loopback, link-local, \
         documentation, benchmarking, multicast, reserved or other special-use addresses (RFC 5735, RFC 5156)"
    };
}

/// Desired state of a Route 53 failover record pair.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "route53.failover.io",
    version = "v1alpha1",
    kind = "FailoverRecord",
    namespaced,
    status = "FailoverRecordStatus",
    shortname = "frec",
    category = "route53",
    derive = "PartialEq",
    doc = "A Route 53 failover record pair (PRIMARY and SECONDARY record sets) with the health checks that decide which one Route 53 answers with.",
    printcolumn(
        name = "Record",
        type_ = "string",
        json_path = ".spec.name",
        description = "DNS name of the record pair"
    ),
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = ".spec.type",
        description = "Record type"
    ),
    printcolumn(
        name = "Active",
        type_ = "string",
        json_path = ".status.activeRole",
        description = "The endpoint Route 53 answers with"
    ),
    printcolumn(
        name = "Primary",
        type_ = "string",
        json_path = ".status.primary.health",
        description = "Route 53's view of the primary endpoint"
    ),
    printcolumn(
        name = "Secondary",
        type_ = "string",
        json_path = ".status.secondary.health",
        description = "Route 53's view of the secondary endpoint"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "Route 53 matches the spec"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#,
        description = "Why Ready is what it is (kubectl get -o wide)",
        priority = 1
    ),
    printcolumn(
        name = "Mode",
        type_ = "string",
        json_path = ".spec.failover.mode",
        description = "Manual failover switch mode, when the object declares one (kubectl get -o wide)",
        priority = 1
    ),
    printcolumn(
        name = "Zone",
        type_ = "string",
        json_path = ".status.hostedZoneId",
        description = "Hosted zone id (kubectl get -o wide)",
        priority = 1
    ),
    printcolumn(
        name = "Last Failover",
        type_ = "date",
        json_path = ".status.lastFailoverTime",
        description = "When the active role last changed (kubectl get -o wide)",
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.hostedZone == oldSelf.hostedZone").message("hostedZone is immutable: create a new FailoverRecord to move the record to another zone").reason(Reason::FieldValueForbidden),
    validation = Rule::new("self.name == oldSelf.name").message("name is immutable: create a new FailoverRecord for another record name").reason(Reason::FieldValueForbidden),
    validation = Rule::new("has(self.awsRoleArn) == has(oldSelf.awsRoleArn) && (!has(self.awsRoleArn) || self.awsRoleArn == oldSelf.awsRoleArn)").message("awsRoleArn is immutable: create a new FailoverRecord to move the record to another account").reason(Reason::FieldValueForbidden),
    validation = Rule::new("self.type == oldSelf.type").message("type is immutable: create a new FailoverRecord for another record type").reason(Reason::FieldValueForbidden),
    validation = Rule::new("!has(self.ttl) || !has(self.primary.alias) || !has(self.secondary.alias)").message("ttl cannot be set when both endpoints are aliases (Route 53 uses the alias target's TTL)"),
    validation = Rule::new("has(self.primary.alias) || has(self.primary.target) || has(self.primary.healthCheck) || has(self.primary.existingHealthCheckId)").message("a non-alias primary needs a health check (healthCheck or existingHealthCheckId): Route 53 rejects a non-alias PRIMARY without one"),
    validation = Rule::new("!has(self.primary.values) || self.type != 'A' || self.primary.values.all(v, isIP(v) && ip(v).family() == 4)").message("values of an A record must be IPv4 addresses").field_path(".primary"),
    validation = Rule::new("!has(self.secondary.values) || self.type != 'A' || self.secondary.values.all(v, isIP(v) && ip(v).family() == 4)").message("values of an A record must be IPv4 addresses").field_path(".secondary"),
    validation = Rule::new("!has(self.primary.values) || self.type != 'AAAA' || self.primary.values.all(v, isIP(v) && ip(v).family() == 6)").message("values of an AAAA record must be IPv6 addresses").field_path(".primary"),
    validation = Rule::new("!has(self.secondary.values) || self.type != 'AAAA' || self.secondary.values.all(v, isIP(v) && ip(v).family() == 6)").message("values of an AAAA record must be IPv6 addresses").field_path(".secondary"),
    validation = Rule::new("!has(self.primary.values) || self.type != 'CNAME' || (self.primary.values.size() == 1 && self.primary.values.all(v, v.matches('^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\\\\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\\\\.?$')))").message("a CNAME endpoint has exactly one value, a lower-case host name").field_path(".primary"),
    validation = Rule::new("!has(self.secondary.values) || self.type != 'CNAME' || (self.secondary.values.size() == 1 && self.secondary.values.all(v, v.matches('^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\\\\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\\\\.?$')))").message("a CNAME endpoint has exactly one value, a lower-case host name").field_path(".secondary"),
    validation = Rule::new("!has(self.primary.values) || !has(self.secondary.values) || self.primary.values != self.secondary.values").message("primary and secondary must differ"),
    validation = Rule::new("!has(self.primary.alias) || !has(self.secondary.alias) || self.primary.alias.dnsName != self.secondary.alias.dnsName").message("primary and secondary must differ"),
    validation = Rule::new("!has(self.primary.alias) || ![self.primary.alias.dnsName.lowerAscii(), self.primary.alias.dnsName.lowerAscii() + '.'].exists(a, [self.name, self.name + '.'].exists(n, a == n))").message("an alias cannot point at the record itself").field_path(".primary"),
    validation = Rule::new("!has(self.secondary.alias) || ![self.secondary.alias.dnsName.lowerAscii(), self.secondary.alias.dnsName.lowerAscii() + '.'].exists(a, [self.name, self.name + '.'].exists(n, a == n))").message("an alias cannot point at the record itself").field_path(".secondary"),
    validation = Rule::new("!has(self.primary.healthCheck) || !has(self.primary.healthCheck.fqdn) || ![self.primary.healthCheck.fqdn.lowerAscii(), self.primary.healthCheck.fqdn.lowerAscii() + '.'].exists(a, [self.name, self.name + '.'].exists(n, a == n))").message("a health check whose fqdn is the record name itself gives unpredictable results: check each endpoint by its own name or IP").field_path(".primary"),
    validation = Rule::new("!has(self.secondary.healthCheck) || !has(self.secondary.healthCheck.fqdn) || ![self.secondary.healthCheck.fqdn.lowerAscii(), self.secondary.healthCheck.fqdn.lowerAscii() + '.'].exists(a, [self.name, self.name + '.'].exists(n, a == n))").message("a health check whose fqdn is the record name itself gives unpredictable results: check each endpoint by its own name or IP").field_path(".secondary"),
    validation = Rule::new("!has(self.primary.healthCheck) || !(self.primary.healthCheck.type in ['HTTP', 'HTTPS', 'HTTP_STR_MATCH', 'HTTPS_STR_MATCH', 'TCP']) || has(self.primary.healthCheck.ipAddress) || has(self.primary.healthCheck.fqdn) || has(self.primary.target) || (has(self.primary.values) && self.type != 'CNAME')").message("a health check needs ipAddress or fqdn unless the endpoint has A/AAAA values (the first value is then checked) or a target (its address is then checked)").field_path(".primary"),
    validation = Rule::new("!has(self.secondary.healthCheck) || !(self.secondary.healthCheck.type in ['HTTP', 'HTTPS', 'HTTP_STR_MATCH', 'HTTPS_STR_MATCH', 'TCP']) || has(self.secondary.healthCheck.ipAddress) || has(self.secondary.healthCheck.fqdn) || has(self.secondary.target) || (has(self.secondary.values) && self.type != 'CNAME')").message("a health check needs ipAddress or fqdn unless the endpoint has A/AAAA values (the first value is then checked) or a target (its address is then checked)").field_path(".secondary"),
    validation = Rule::new(concat!("!has(self.primary.healthCheck) || !(self.primary.healthCheck.type in ['HTTP', 'HTTPS', 'HTTP_STR_MATCH', 'HTTPS_STR_MATCH', 'TCP']) || has(self.primary.healthCheck.ipAddress) || has(self.primary.healthCheck.fqdn) || !has(self.primary.values) || self.type == 'CNAME' || !isIP(self.primary.values[0]) || (ip(self.primary.values[0]).isGlobalUnicast() && !", special_use_cidrs!(), ".exists(c, c.containsIP(self.primary.values[0])))")).message(concat!("the health check would probe the first value, which is not a public address: ", not_public!(), "; set healthCheck.ipAddress or fqdn")).field_path(".primary"),
    validation = Rule::new(concat!("!has(self.secondary.healthCheck) || !(self.secondary.healthCheck.type in ['HTTP', 'HTTPS', 'HTTP_STR_MATCH', 'HTTPS_STR_MATCH', 'TCP']) || has(self.secondary.healthCheck.ipAddress) || has(self.secondary.healthCheck.fqdn) || !has(self.secondary.values) || self.type == 'CNAME' || !isIP(self.secondary.values[0]) || (ip(self.secondary.values[0]).isGlobalUnicast() && !", special_use_cidrs!(), ".exists(c, c.containsIP(self.secondary.values[0])))")).message(concat!("the health check would probe the first value, which is not a public address: ", not_public!(), "; set healthCheck.ipAddress or fqdn")).field_path(".secondary"),
    validation = Rule::new("!has(self.hostedZone.name) || [self.name, self.name + '.'].exists(n, [self.hostedZone.name, self.hostedZone.name + '.'].exists(z, n == z || n.endsWith('.' + z)))").message("name must be inside the hosted zone"),
    validation = Rule::new("self.type != 'CNAME' || !has(self.hostedZone.name) || ![self.name, self.name + '.'].exists(n, [self.hostedZone.name, self.hostedZone.name + '.'].exists(z, n == z))").message("a CNAME cannot be created at the zone apex")
)]
pub struct FailoverRecordSpec {
    /// The hosted zone that holds the record, by `id` or by `name`. Immutable.
    pub hosted_zone: HostedZoneRef,

    /// Fully qualified DNS name of the record pair, inside the hosted zone (lower case; a trailing dot is
    /// optional). Immutable.
    #[schemars(
        length(min = 1, max = 253),
        regex(
            pattern = r"^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?$"
        )
    )]
    pub name: String,

    /// Record type of both records. Immutable.
    #[serde(rename = "type")]
    pub record_type: RecordType,

    /// TTL in seconds of non-alias records (default 60; Route 53 recommends 60 or less for health-checked
    /// records). Not allowed when both endpoints are aliases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub ttl: Option<i64>,

    /// The endpoint Route 53 answers with while it is healthy (the PRIMARY record).
    pub primary: Endpoint,

    /// The endpoint Route 53 answers with when the primary is unhealthy (the SECONDARY record).
    pub secondary: Endpoint,

    /// What happens in Route 53 when this object is deleted: `Delete` removes both records and the health
    /// checks this object created; `Retain` leaves Route 53 untouched.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Take over a failover pair made outside the operator (`false` by default: such records are a
    /// `Conflict` and nothing is written). With `true`, when the record sets of this name and type
    /// that are not this object's are failover records (at most a PRIMARY and a SECONDARY, made by
    /// hand, the AWS CLI or another tool, not by a FailoverRecord), they are replaced by this object's
    /// pair in one ChangeResourceRecordSets call (DELETE theirs and CREATE ours together, so the name
    /// never goes without an answer), and an `Adopted` Event lists what was taken over. Their health
    /// checks are left in Route 53 and never deleted by the operator; the new records carry what
    /// `healthCheck` or `existingHealthCheckId` says (set `existingHealthCheckId` to their check's id
    /// to keep it). A plain record, weighted or other routing sets, a failover pair of another type
    /// that clashes (a CNAME), or another FailoverRecord's records are never taken over.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,

    /// The AWS IAM role (ARN) whose account holds the hosted zone, when the operator's namespace-role
    /// mapping (`--namespace-roles`, chart `operator.namespaceRoles`) lets this namespace use more
    /// than one. It only picks among the roles the mapping allows for the namespace: any other role
    /// (or any role at all without a mapping) is refused with `Ready=False`, reason
    /// `RoleNotAllowed`, and nothing is written to Route 53. Unset: the namespace's first role, or
    /// the mapping's default. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 20, max = 2048))]
    pub aws_role_arn: Option<String>,

    /// A manual failover switch with hold. Without it Route 53 alone decides which record answers
    /// (the primary's health check or alias target health). With it the operator puts a calculated
    /// health check of its own (the "gate": one extra CreateHealthCheck per object, only for
    /// objects that set this) in front of the primary, whose threshold it sets: `mode` forces
    /// either record or leaves Route 53 to decide, and `failback: Manual` keeps traffic on the
    /// secondary after a failover until acknowledged. A flip is one UpdateHealthCheck call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<FailoverSwitch>,
}

/// The manual failover switch (`spec.failover`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct FailoverSwitch {
    /// `Automatic` (default): Route 53 answers with the primary while it is healthy. `Primary`:
    /// the primary answers even while its health check fails (for an alias primary with
    /// `evaluateTargetHealth`, Route 53 still requires the alias target to be healthy).
    /// `Secondary`: the secondary answers whatever the primary's health (while the secondary is
    /// healthy: when both are unhealthy Route 53 answers with the primary).
    #[serde(default)]
    pub mode: SwitchMode,

    /// What happens when the primary recovers after Route 53 failed over in `Automatic` mode:
    /// `Automatic` (default): traffic returns to the primary. `Manual`: the operator holds traffic
    /// on the secondary (the gate is forced unhealthy) until `acknowledge` changes.
    #[serde(default)]
    pub failback: Failback,

    /// Any new value (e.g. a timestamp) acknowledges a held failover: traffic returns to the
    /// primary if it is healthy. `route53-failover-operator ack` sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub acknowledge: Option<String>,
}

/// Which record the switch makes Route 53 answer with.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SwitchMode {
    /// Route 53 decides by health (with `failback: Manual`, a failover is held).
    #[default]
    Automatic,
    /// Force the primary.
    Primary,
    /// Force the secondary.
    Secondary,
}

/// Failback policy after a failover in `Automatic` mode.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Failback {
    /// Return to the primary as soon as it is healthy.
    #[default]
    Automatic,
    /// Stay on the secondary until acknowledged.
    Manual,
}

impl std::fmt::Display for SwitchMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SwitchMode::Automatic => "Automatic",
            SwitchMode::Primary => "Primary",
            SwitchMode::Secondary => "Secondary",
        })
    }
}

/// Which hosted zone holds the record: exactly one of `id` and `name`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.id) != has(self.name)").message("set exactly one of hostedZone.id and hostedZone.name"))]
pub struct HostedZoneRef {
    /// Hosted zone id, e.g. `Z0123456789ABCDEFGHIJ` (without the `/hostedzone/` prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 32), regex(pattern = r"^Z[A-Z0-9]{1,31}$"))]
    pub id: Option<String>,

    /// Hosted zone name, e.g. `example.com`; the operator looks its id up. When several zones share the name
    /// (public and private), set `id` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(
            pattern = r"^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?$"
        )
    )]
    pub name: Option<String>,
}

/// Record types supported for failover pairs.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// IPv4 address record.
    A,
    /// IPv6 address record.
    #[allow(clippy::upper_case_acronyms)]
    AAAA,
    /// Canonical name record.
    #[allow(clippy::upper_case_acronyms)]
    CNAME,
}

impl RecordType {
    /// The Route 53 spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::AAAA => "AAAA",
            RecordType::CNAME => "CNAME",
        }
    }
}

/// What to do in Route 53 when the object is deleted.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeletionPolicy {
    /// Delete both records, then the health checks this object created.
    #[default]
    Delete,
    /// Leave records and health checks in Route 53.
    Retain,
}

/// One side of the pair: record values or an alias target, and how Route 53 judges its health.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("[has(self.values), has(self.alias), has(self.target)].filter(x, x).size() == 1").message("set exactly one of values, alias and target"),
    validation = Rule::new("!has(self.healthCheck) || !has(self.existingHealthCheckId)").message("set at most one of healthCheck and existingHealthCheckId")
)]
pub struct Endpoint {
    /// Record values: IPv4 addresses for A, IPv6 addresses for AAAA, one host name for CNAME. When the
    /// endpoint's health check has neither `ipAddress` nor `fqdn`, it checks the first value, which must
    /// then be a public address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 400), inner(length(min = 1, max = 255)))]
    pub values: Option<Vec<String>>,

    /// Alias target instead of values (an AWS resource or another record in the same zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<AliasTarget>,

    /// A Kubernetes object whose load-balancer address this endpoint follows, instead of `values` or
    /// `alias`: a Service of type LoadBalancer, an Ingress or a Gateway API Gateway. An IP address
    /// becomes a value (A for IPv4, AAAA for IPv6), an AWS load balancer host name an alias to its
    /// canonical hosted zone, any other host name a CNAME value. Until the object exists and has an
    /// address the object is `Ready=False reason=TargetPending` and nothing is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<KubernetesTarget>,

    /// A health check that this object creates, keeps in sync and deletes. With `target` and
    /// neither `ipAddress` nor `fqdn`, it checks the target's resolved address (its IP, or its host
    /// name as `fqdn`) and follows it when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckSpec>,

    /// The id of a health check managed elsewhere: it is attached to the record, read for status, and never
    /// changed or deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub existing_health_check_id: Option<String>,
}

/// The Kubernetes object an endpoint follows: exactly one of `service`, `ingress` and `gateway`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("[has(self.service), has(self.ingress), has(self.gateway)].filter(x, x).size() == 1").message("set exactly one of target.service, target.ingress and target.gateway")
)]
pub struct KubernetesTarget {
    /// A Service of type LoadBalancer: its `status.loadBalancer.ingress` is followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<TargetObjectRef>,

    /// An Ingress (networking.k8s.io/v1): its `status.loadBalancer.ingress` is followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<TargetObjectRef>,

    /// A Gateway (gateway.networking.k8s.io/v1): its `status.addresses` are followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<TargetObjectRef>,

    /// Canonical hosted zone id of the alias made from an AWS load balancer host name, instead of
    /// the one the operator's table gives for the host name's region and load-balancer kind (e.g.
    /// for a region the table does not know yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 32), regex(pattern = r"^Z[A-Z0-9]{1,31}$"))]
    pub alias_hosted_zone_id: Option<String>,
}

/// A namespaced object by name.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TargetObjectRef {
    /// Name of the object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,

    /// Namespace of the object (default: the FailoverRecord's). Another namespace must be allowed
    /// by the operator (`run --target-namespace`, chart `operator.targetNamespaces`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// An alias target.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.hostedZoneId != 'Z2FDTNDATAQYW2' || !self.evaluateTargetHealth").message("CloudFront alias targets cannot evaluate target health: set evaluateTargetHealth to false"),
    validation = Rule::new("self.hostedZoneId == 'Z2FDTNDATAQYW2' || self.evaluateTargetHealth").message("a failover alias must evaluate target health (evaluateTargetHealth: true), or Route 53 cannot fail over away from it")
)]
pub struct AliasTarget {
    /// DNS name of the target, e.g. an ELB's DNS name or another record in the same zone.
    #[schemars(length(min = 1, max = 255))]
    pub dns_name: String,

    /// Hosted zone id of the target: the canonical zone of the AWS resource (e.g. an ELB's
    /// CanonicalHostedZoneId), or this zone's id for a record in the same zone.
    #[schemars(length(min = 2, max = 32), regex(pattern = r"^Z[A-Z0-9]{1,31}$"))]
    pub hosted_zone_id: String,

    /// Whether Route 53 also judges this endpoint by the health of the alias target (default true).
    #[serde(default = "default_true")]
    pub evaluate_target_health: bool,
}

fn default_true() -> bool {
    true
}

/// Health check types supported for endpoints.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum HealthCheckType {
    /// HTTP request; healthy on a 2xx/3xx status.
    HTTP,
    /// HTTPS request (certificates are not validated); healthy on a 2xx/3xx status.
    HTTPS,
    /// HTTP request; healthy when `searchString` is in the first 5,120 bytes of the body.
    #[serde(rename = "HTTP_STR_MATCH")]
    HttpStrMatch,
    /// HTTPS request; healthy when `searchString` is in the first 5,120 bytes of the body.
    #[serde(rename = "HTTPS_STR_MATCH")]
    HttpsStrMatch,
    /// TCP connection.
    TCP,
    /// Route 53 follows a CloudWatch alarm (`alarm`): healthy while it is `OK`, unhealthy in
    /// `ALARM`, `insufficientDataHealthStatus` while it has too little data. No checker contacts
    /// the endpoint, so it works for private endpoints and private hosted zones.
    #[serde(rename = "CLOUDWATCH_METRIC")]
    CloudwatchMetric,
    /// Route 53 follows a Route 53 Application Recovery Controller routing control
    /// (`routingControlArn`): healthy while it is `On`, unhealthy while it is `Off`.
    #[serde(rename = "RECOVERY_CONTROL")]
    RecoveryControl,
    /// A calculated check: healthy while at least `healthThreshold` of its `children` (other
    /// Route 53 health checks) are healthy. Contacts no endpoint.
    #[serde(rename = "CALCULATED")]
    Calculated,
}

impl HealthCheckType {
    /// The Route 53 spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthCheckType::HTTP => "HTTP",
            HealthCheckType::HTTPS => "HTTPS",
            HealthCheckType::HttpStrMatch => "HTTP_STR_MATCH",
            HealthCheckType::HttpsStrMatch => "HTTPS_STR_MATCH",
            HealthCheckType::TCP => "TCP",
            HealthCheckType::CloudwatchMetric => "CLOUDWATCH_METRIC",
            HealthCheckType::RecoveryControl => "RECOVERY_CONTROL",
            HealthCheckType::Calculated => "CALCULATED",
        }
    }

    /// Parse the Route 53 spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "HTTP" => HealthCheckType::HTTP,
            "HTTPS" => HealthCheckType::HTTPS,
            "HTTP_STR_MATCH" => HealthCheckType::HttpStrMatch,
            "HTTPS_STR_MATCH" => HealthCheckType::HttpsStrMatch,
            "TCP" => HealthCheckType::TCP,
            "CLOUDWATCH_METRIC" => HealthCheckType::CloudwatchMetric,
            "RECOVERY_CONTROL" => HealthCheckType::RecoveryControl,
            "CALCULATED" => HealthCheckType::Calculated,
            _ => return None,
        })
    }

    /// HTTPS or HTTPS_STR_MATCH.
    pub fn is_https(self) -> bool {
        matches!(
            self,
            HealthCheckType::HTTPS | HealthCheckType::HttpsStrMatch
        )
    }

    /// A string-matching type.
    pub fn is_str_match(self) -> bool {
        matches!(
            self,
            HealthCheckType::HttpStrMatch | HealthCheckType::HttpsStrMatch
        )
    }

    /// A type whose checkers contact an endpoint (HTTP, HTTPS, the STR_MATCH types, TCP): only
    /// these have an address, port, path, interval, threshold, regions, SNI and latency settings.
    pub fn is_endpoint(self) -> bool {
        !matches!(
            self,
            HealthCheckType::Calculated
                | HealthCheckType::CloudwatchMetric
                | HealthCheckType::RecoveryControl
        )
    }
}

/// The regions a `CLOUDWATCH_METRIC` health check's alarm can be in: Route 53's `CloudWatchRegion`
/// enum (API reference, `AlarmIdentifier.Region`; the same list as aws-sdk-route53 1.132 and the
/// Route 53 double's botocore model). An alarm anywhere else is refused at admission (the CRD's
/// `alarm.region` enum), by [`crate::desired::Desired::from_spec`] and by Route 53.
pub const CLOUDWATCH_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-isoe-west-1",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isob-west-1",
    "us-isof-east-1",
    "us-isof-south-1",
    "us-west-1",
    "us-west-2",
];

fn alarm_region_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    serde_json::from_value(serde_json::json!({
        "type": "string",
        "description": "The region the CloudWatch alarm was created in: one of the regions Route 53 accepts \
            for alarms (its CloudWatchRegion list).",
        "enum": CLOUDWATCH_REGIONS,
    }))
    .unwrap_or_default()
}

/// The CloudWatch alarm a `CLOUDWATCH_METRIC` health check follows (Route 53's `AlarmIdentifier`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct AlarmRef {
    /// The region the alarm was created in, one of those Route 53 accepts for alarms.
    #[schemars(schema_with = "alarm_region_schema")]
    pub region: String,
    /// The alarm's name (1 to 256 characters). Route 53 supports alarms on standard-resolution
    /// metrics with the statistics Average, Minimum, Maximum, Sum or SampleCount.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
}

/// What a `CLOUDWATCH_METRIC` health check reports while its alarm has too little data
/// (`INSUFFICIENT_DATA`).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum InsufficientDataHealthStatus {
    /// Healthy.
    Healthy,
    /// Unhealthy.
    Unhealthy,
    /// The status from the last time the alarm had enough data (healthy for a new check); Route
    /// 53's default.
    #[default]
    LastKnownStatus,
}

impl InsufficientDataHealthStatus {
    /// The Route 53 spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            InsufficientDataHealthStatus::Healthy => "Healthy",
            InsufficientDataHealthStatus::Unhealthy => "Unhealthy",
            InsufficientDataHealthStatus::LastKnownStatus => "LastKnownStatus",
        }
    }

    /// Parse the Route 53 spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Healthy" => InsufficientDataHealthStatus::Healthy,
            "Unhealthy" => InsufficientDataHealthStatus::Unhealthy,
            "LastKnownStatus" => InsufficientDataHealthStatus::LastKnownStatus,
            _ => return None,
        })
    }
}

/// Route 53 health checker regions.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
pub enum HealthCheckRegion {
    /// US East (N. Virginia).
    #[serde(rename = "us-east-1")]
    UsEast1,
    /// US West (N. California).
    #[serde(rename = "us-west-1")]
    UsWest1,
    /// US West (Oregon).
    #[serde(rename = "us-west-2")]
    UsWest2,
    /// Europe (Ireland).
    #[serde(rename = "eu-west-1")]
    EuWest1,
    /// Asia Pacific (Singapore).
    #[serde(rename = "ap-southeast-1")]
    ApSoutheast1,
    /// Asia Pacific (Sydney).
    #[serde(rename = "ap-southeast-2")]
    ApSoutheast2,
    /// Asia Pacific (Tokyo).
    #[serde(rename = "ap-northeast-1")]
    ApNortheast1,
    /// South America (São Paulo).
    #[serde(rename = "sa-east-1")]
    SaEast1,
}

impl HealthCheckRegion {
    /// The Route 53 spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthCheckRegion::UsEast1 => "us-east-1",
            HealthCheckRegion::UsWest1 => "us-west-1",
            HealthCheckRegion::UsWest2 => "us-west-2",
            HealthCheckRegion::EuWest1 => "eu-west-1",
            HealthCheckRegion::ApSoutheast1 => "ap-southeast-1",
            HealthCheckRegion::ApSoutheast2 => "ap-southeast-2",
            HealthCheckRegion::ApNortheast1 => "ap-northeast-1",
            HealthCheckRegion::SaEast1 => "sa-east-1",
        }
    }
}

/// A Route 53 health check owned by the FailoverRecord: an endpoint check (HTTP, HTTPS, the STR_MATCH
/// types, TCP), a CloudWatch-alarm check (`CLOUDWATCH_METRIC`, for private endpoints), a routing
/// control check (`RECOVERY_CONTROL`) or a check of other checks (`CALCULATED`). Changes to `type`, `requestInterval`, `measureLatency`,
/// `routingControlArn`, or between checking by IP and by name only, replace the check (Route 53 cannot change
/// them in place): the operator creates the new check, repoints the record, then deletes the old one.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(self.type == 'HTTP_STR_MATCH' || self.type == 'HTTPS_STR_MATCH') == has(self.searchString)").message("searchString is required for HTTP_STR_MATCH and HTTPS_STR_MATCH and not allowed for other types"),
    validation = Rule::new("self.type != 'TCP' || !has(self.resourcePath)").message("resourcePath is not allowed for TCP health checks"),
    validation = Rule::new("self.type != 'TCP' || has(self.port)").message("a TCP health check needs a port"),
    validation = Rule::new("!has(self.enableSNI) || !self.enableSNI || self.type == 'HTTPS' || self.type == 'HTTPS_STR_MATCH'").message("enableSNI applies only to HTTPS and HTTPS_STR_MATCH"),
    validation = Rule::new(concat!("!has(self.ipAddress) || !isIP(self.ipAddress) || (ip(self.ipAddress).isGlobalUnicast() && !", special_use_cidrs!(), ".exists(c, c.containsIP(self.ipAddress)))")).message(concat!("ipAddress is not a public address: ", not_public!())),
    validation = Rule::new("(self.type == 'CLOUDWATCH_METRIC') == has(self.alarm)").message("alarm is required for CLOUDWATCH_METRIC and not allowed for other types"),
    validation = Rule::new("!has(self.insufficientDataHealthStatus) || self.type == 'CLOUDWATCH_METRIC'").message("insufficientDataHealthStatus applies only to CLOUDWATCH_METRIC"),
    validation = Rule::new("(self.type == 'RECOVERY_CONTROL') == has(self.routingControlArn)").message("routingControlArn is required for RECOVERY_CONTROL and not allowed for other types"),
    validation = Rule::new("self.type in ['HTTP', 'HTTPS', 'HTTP_STR_MATCH', 'HTTPS_STR_MATCH', 'TCP'] || !(has(self.ipAddress) || has(self.fqdn) || has(self.port) || has(self.resourcePath) || has(self.regions) || (has(self.enableSNI) && self.enableSNI) || (has(self.measureLatency) && self.measureLatency))").message("a CLOUDWATCH_METRIC, RECOVERY_CONTROL or CALCULATED check contacts no endpoint: ipAddress, fqdn, port, resourcePath, regions, enableSNI and measureLatency are not allowed"),
    validation = Rule::new("(self.type == 'CALCULATED') == has(self.children)").message("children are required for CALCULATED and not allowed for other types"),
    validation = Rule::new("(self.type == 'CALCULATED') == has(self.healthThreshold)").message("healthThreshold is required for CALCULATED and not allowed for other types")
)]
pub struct HealthCheckSpec {
    /// How Route 53 checks the endpoint.
    #[serde(rename = "type")]
    pub check_type: HealthCheckType,

    /// Public IPv4 or IPv6 address to check (defaults to the endpoint's first value for A and AAAA
    /// records, which must then be public too). Route 53 refuses local, private (RFC 1918), shared
    /// (RFC 6598), loopback, link-local, documentation, benchmarking, multicast, reserved and other
    /// special-use addresses (RFC 5735, RFC 5156); so do admission and the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 45))]
    #[x_kube(validation = Rule::new("isIP(self)").message("ipAddress must be an IPv4 or IPv6 address"))]
    pub ip_address: Option<String>,

    /// Domain name to check (and the Host header / SNI name for HTTP and HTTPS checks). Without `ipAddress`,
    /// Route 53 resolves it and checks the address it gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub fqdn: Option<String>,

    /// Port to check (default 80 for HTTP types, 443 for HTTPS types; required for TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,

    /// Path requested by HTTP and HTTPS checks, starting with `/` (may include a query string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^/"))]
    pub resource_path: Option<String>,

    /// String that must appear in the first 5,120 bytes of the response body (STR_MATCH types only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub search_string: Option<String>,

    /// Seconds between checks from each checker: 10 (fast, extra charge) or 30. Changing it replaces the check.
    #[serde(default = "default_request_interval")]
    #[schemars(extend("enum" = [10, 30]))]
    pub request_interval: i32,

    /// Consecutive results needed to change the endpoint's state, 1–10.
    #[serde(default = "default_failure_threshold")]
    #[schemars(range(min = 1, max = 10))]
    pub failure_threshold: i32,

    /// Checker regions (at least 3); all regions when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 3, max = 8))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub regions: Vec<HealthCheckRegion>,

    /// Report healthy when the endpoint is unhealthy and the reverse: the way to force a failover.
    #[serde(default)]
    pub inverted: bool,

    /// Send the fqdn in the TLS handshake (HTTPS types; default true when `fqdn` is set).
    #[serde(default, rename = "enableSNI", skip_serializing_if = "Option::is_none")]
    pub enable_sni: Option<bool>,

    /// Measure latency between checker regions and the endpoint. Changing it replaces the check.
    #[serde(default)]
    pub measure_latency: bool,

    /// The CloudWatch alarm a `CLOUDWATCH_METRIC` check follows (required for that type, not allowed
    /// for others): healthy while the alarm is `OK`, unhealthy in `ALARM`. Route 53 reads the alarm
    /// itself; the operator needs no CloudWatch permission for it. `requestInterval` and
    /// `failureThreshold` do not apply (the alarm's own periods decide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<AlarmRef>,

    /// The status of a `CLOUDWATCH_METRIC` check while its alarm is `INSUFFICIENT_DATA`: `Healthy`,
    /// `Unhealthy`, or `LastKnownStatus` (Route 53's default: the last status from enough data, healthy
    /// for a new check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insufficient_data_health_status: Option<InsufficientDataHealthStatus>,

    /// The ARN of the Route 53 Application Recovery Controller routing control a `RECOVERY_CONTROL`
    /// check follows (required for that type, not allowed for others): healthy while the routing
    /// control is `On`, unhealthy while it is `Off`. Route 53 cannot change it in place: a new ARN
    /// replaces the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 255),
        regex(
            pattern = r"^arn:aws[a-z-]*:route53-recovery-control::[0-9]{12}:controlpanel/[^/]+/routingcontrol/[^/]+$"
        )
    )]
    pub routing_control_arn: Option<String>,

    /// The child health checks of a `CALCULATED` check (required for that type, not allowed for
    /// others): 1 to 256 ids of existing Route 53 health checks, for example one made elsewhere or
    /// this object's other endpoint's check (`status.secondary.healthCheckId`). Not this endpoint's
    /// own check, nor a check another FailoverRecord owns: the operator refuses those
    /// (`Ready=False reason=InvalidSpec`) and writes nothing. Changed in place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1, max = 256), inner(length(min = 1, max = 64)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub children: Vec<String>,

    /// How many `children` must be healthy for a `CALCULATED` check to be healthy (0–256; 0 is
    /// always healthy, more than the number of children always unhealthy). Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 256))]
    pub health_threshold: Option<i32>,
}

fn default_request_interval() -> i32 {
    30
}

fn default_failure_threshold() -> i32 {
    3
}

/// Which record of the pair.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The PRIMARY record.
    Primary,
    /// The SECONDARY record.
    Secondary,
}

impl Role {
    /// Both roles, primary first.
    pub const ALL: [Role; 2] = [Role::Primary, Role::Secondary];

    /// Route 53's `Failover` value.
    pub fn failover(self) -> &'static str {
        match self {
            Role::Primary => "PRIMARY",
            Role::Secondary => "SECONDARY",
        }
    }

    /// Position in `[primary, secondary]` arrays.
    pub fn index(self) -> usize {
        match self {
            Role::Primary => 0,
            Role::Secondary => 1,
        }
    }

    /// Lower-case name used in identifiers and metric labels.
    pub fn short(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Primary => "Primary",
            Role::Secondary => "Secondary",
        })
    }
}

/// Route 53's view of an endpoint's health.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Health {
    /// More than 18% of Route 53's checkers report the endpoint healthy.
    Healthy,
    /// 18% or fewer of the checkers report it healthy.
    Unhealthy,
    /// No health check, or no data yet.
    #[default]
    Unknown,
}

/// Observed state, written by the operator.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct FailoverRecordStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Standard conditions, each with the `metadata.generation` it describes. `Ready`: Route 53
    /// matches the spec and the last change is INSYNC. `Reconciling` (kstatus; present only while
    /// `True`): the operator is still working towards the spec, e.g. a change is propagating or a
    /// hosted zone is still missing within its grace period. `Stalled` (kstatus; present only while
    /// `True`): it cannot get there without a change of the spec or of something outside it (invalid
    /// spec, conflict, namespace policy, a missing health check or hosted zone, access denied);
    /// nothing is written to Route 53 for it. `PrimaryHealthy` and `SecondaryHealthy`: Route 53's
    /// health view of each endpoint.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,

    /// The endpoint Route 53 answers with, computed with Route 53's failover rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_role: Option<Role>,

    /// The hosted zone id the records live in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,

    /// The primary endpoint as Route 53 sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<EndpointStatus>,

    /// The secondary endpoint as Route 53 sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<EndpointStatus>,

    /// The last record change submitted to Route 53.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeStatus>,

    /// When the active role last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failover_time: Option<Time>,

    /// The manual switch as Route 53 has it (only with `spec.failover`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<SwitchStatus>,
}

/// The state of the manual switch.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SwitchStatus {
    /// The mode in force in Route 53.
    pub mode: SwitchMode,
    /// Who set the mode: the field manager that last wrote `spec.failover.mode` (with the user
    /// named by the `route53.failover.io/switched-by` annotation when the `switch` subcommand set
    /// it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
    /// When the mode was set (the time of that field manager's write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_at: Option<Time>,
    /// What the gate does now: `RouteByHealth`, `ForcePrimary`, `ForceSecondary` or `Held`
    /// (forced to the secondary after a failover, until acknowledged).
    pub gate_state: String,
    /// What the gate makes Route 53 do, in words (e.g. that a forced primary is unhealthy).
    #[serde(default)]
    pub message: String,
    /// The calculated health check (the gate) the PRIMARY record carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_health_check_id: Option<String>,
    /// The gate's HealthThreshold in Route 53 (0: always healthy; above its child count: always
    /// unhealthy).
    #[serde(default)]
    pub health_threshold: i32,
    /// Since when a failover is held (`failback: Manual`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_since: Option<Time>,
    /// The `spec.failover.acknowledge` value in force when the hold began: a different value
    /// releases it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_acknowledge: Option<String>,
    /// A digest of the record pair as `change` left it: a new generation whose records are the
    /// same (only the switch changed) needs no record write, so a flip stays one call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_digest: Option<String>,
}

impl FailoverRecordStatus {
    /// The observed endpoint of a role.
    pub fn endpoint(&self, role: Role) -> Option<&EndpointStatus> {
        match role {
            Role::Primary => self.primary.as_ref(),
            Role::Secondary => self.secondary.as_ref(),
        }
    }
}

/// One endpoint as Route 53 sees it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct EndpointStatus {
    /// SetIdentifier of the record set in Route 53.
    pub set_identifier: String,
    /// Id of the health check attached to the record, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_id: Option<String>,
    /// Route 53's aggregate health of the endpoint.
    pub health: Health,
    /// Checkers reporting the endpoint healthy.
    #[serde(default)]
    pub checkers_healthy: i32,
    /// Checkers reporting at all.
    #[serde(default)]
    pub checkers_total: i32,
    /// The most recent failure a checker reported, while the endpoint is not healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_reason: Option<String>,
}

/// A Route 53 change and its propagation state.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ChangeStatus {
    /// Route 53 change id.
    pub id: String,
    /// `PENDING` until every Route 53 name server has the change, then `INSYNC`.
    pub status: String,
}

fn conditions_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    serde_json::from_value(serde_json::json!({
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "description": "One aspect of the object's state (metav1.Condition).",
            "required": ["lastTransitionTime", "message", "reason", "status", "type"],
            "properties": {
                "lastTransitionTime": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When the condition last changed from one status to another."
                },
                "message": {
                    "type": "string",
                    "maxLength": 32768,
                    "description": "Human-readable details (cut to 1 kB, with the original length)."
                },
                "observedGeneration": {
                    "type": "integer",
                    "format": "int64",
                    "minimum": 0,
                    "description": "The metadata.generation the condition was set for: a condition with an older one is stale."
                },
                "reason": {
                    "type": "string",
                    "maxLength": 1024,
                    "minLength": 1,
                    "description": "Why, in CamelCase: Synced, Propagating, InvalidSpec, Conflict, ZoneNotFound, \
                        HealthCheckNotFound, Route53Error, NotAllowed, RoleNotAllowed, TargetPending, TargetLost, TargetNotAllowed, \
                        NotLoadBalancer, WrongAddressFamily, UnsupportedTarget (Ready, Reconciling, Stalled); Healthy, \
                        Unhealthy, NoData, NoHealthCheck, NotObserved, TargetHealthNotObservable, HealthStale (PrimaryHealthy, SecondaryHealthy)."
                },
                "status": {
                    "type": "string",
                    "enum": ["True", "False", "Unknown"],
                    "description": "True, False or Unknown."
                },
                "type": {
                    "type": "string",
                    "maxLength": 316,
                    "description": "Ready, Reconciling, Stalled, PrimaryHealthy or SecondaryHealthy."
                }
            }
        }
    }))
    .unwrap_or_default()
}

/// The CRD as YAML, as written to `crds/` (and the Helm chart's `crds/`).
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    let crd = FailoverRecord::crd();
    Ok(format!(
        "# Generated by `route53-failover-operator crd`; do not edit.\n{}",
        serde_yaml::to_string(&crd)?
    ))
}

impl Default for FailoverRecord {
    fn default() -> Self {
        FailoverRecord::new("", FailoverRecordSpec::default())
    }
}

impl Default for FailoverRecordSpec {
    fn default() -> Self {
        FailoverRecordSpec {
            hosted_zone: HostedZoneRef::default(),
            name: String::new(),
            record_type: RecordType::A,
            ttl: None,
            primary: Endpoint::default(),
            secondary: Endpoint::default(),
            deletion_policy: DeletionPolicy::Delete,
            adopt: false,
            aws_role_arn: None,
            failover: None,
        }
    }
}
