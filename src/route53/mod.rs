//! The narrow seam between the reconciler and Route 53.
//!
//! [`Route53`] carries exactly the calls the operator makes, in domain types (no SDK types leak out),
//! so the planner and reconciler can be tested against the in-memory `fake::FakeRoute53` (feature `test-util`) and the
//! real adapter ([`aws::AwsRoute53`]) is tested against the local Route 53 double. [`crate::health::HealthSource`]
//! (in [`crate::health`]) is separate, so a CloudWatch-metric source can replace `GetHealthCheckStatus`.

pub mod aws;
pub mod batch;
pub mod budget;
#[cfg(any(test, feature = "test-util"))]
pub mod fake;
pub mod readonly;
pub mod snapshot;

use std::future::Future;

use crate::crd::{HealthCheckRegion, HealthCheckType, InsufficientDataHealthStatus, Role};

/// A record set as Route 53 holds it, normalised: lower-case names with a trailing dot, zone ids
/// without the `/hostedzone/` prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSet {
    /// Fully qualified name with a trailing dot.
    pub name: String,
    /// Record type (`A`, `AAAA`, `CNAME`, `TXT`, ...).
    pub rtype: String,
    /// SetIdentifier, for routing-policy records.
    pub set_identifier: Option<String>,
    /// Failover role, for failover records.
    pub failover: Option<Role>,
    /// TTL of non-alias records.
    pub ttl: Option<i64>,
    /// Values of non-alias records, in Route 53's order.
    pub values: Vec<String>,
    /// Alias target.
    pub alias: Option<Alias>,
    /// Attached health check.
    pub health_check_id: Option<String>,
}

/// An alias target, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    /// Lower-case DNS name with a trailing dot.
    pub dns_name: String,
    /// Zone id without prefix.
    pub hosted_zone_id: String,
    /// EvaluateTargetHealth.
    pub evaluate_target_health: bool,
}

/// One change in a ChangeResourceRecordSets batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Create a set that must not exist yet.
    Create(RecordSet),
    /// Create or replace the set with the same name, type and SetIdentifier.
    Upsert(RecordSet),
    /// Delete a set; the values must be exactly the current ones.
    Delete(RecordSet),
}

impl Change {
    /// The record set the change carries.
    pub fn record(&self) -> &RecordSet {
        match self {
            Change::Create(r) | Change::Upsert(r) | Change::Delete(r) => r,
        }
    }

    /// Route 53's action name.
    pub fn action(&self) -> &'static str {
        match self {
            Change::Create(_) => "CREATE",
            Change::Upsert(_) => "UPSERT",
            Change::Delete(_) => "DELETE",
        }
    }
}

/// Propagation state of a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeInfo {
    /// Change id without the `/change/` prefix.
    pub id: String,
    /// `true` once INSYNC.
    pub insync: bool,
}

/// A hosted zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    /// Zone id without prefix.
    pub id: String,
    /// Lower-case name with a trailing dot.
    pub name: String,
    /// Private hosted zone.
    pub private: bool,
}

/// The settings of a health check the operator manages, normalised for comparison.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HealthCheckConfig {
    /// Check type.
    pub check_type: HealthCheckType,
    /// Address checked.
    pub ip_address: Option<String>,
    /// Domain name checked / Host header.
    pub fqdn: Option<String>,
    /// Port.
    pub port: i32,
    /// Path (HTTP types).
    pub resource_path: Option<String>,
    /// String to match (STR_MATCH types).
    pub search_string: Option<String>,
    /// 10 or 30 seconds.
    pub request_interval: i32,
    /// 1–10.
    pub failure_threshold: i32,
    /// Checker regions, sorted; empty means Route 53's default (all).
    pub regions: Vec<HealthCheckRegion>,
    /// Inverted.
    pub inverted: bool,
    /// SNI (HTTPS types).
    pub enable_sni: bool,
    /// Latency measurement.
    pub measure_latency: bool,
    /// CLOUDWATCH_METRIC: the region of the alarm (`AlarmIdentifier.Region`).
    pub alarm_region: Option<String>,
    /// CLOUDWATCH_METRIC: the alarm's name (`AlarmIdentifier.Name`).
    pub alarm_name: Option<String>,
    /// CLOUDWATCH_METRIC: the status while the alarm has insufficient data.
    pub insufficient_data_health_status: Option<InsufficientDataHealthStatus>,
    /// RECOVERY_CONTROL: the routing control's ARN (cannot be changed in place).
    pub routing_control_arn: Option<String>,
    /// Child health checks of a CALCULATED check, sorted; empty for endpoint checks.
    pub child_health_checks: Vec<String>,
    /// HealthThreshold of a CALCULATED check (0–256): healthy when at least this many children
    /// are. 0 is always healthy; more than the number of children is always unhealthy. 0 for
    /// endpoint checks.
    pub health_threshold: i32,
}

/// Most child health checks of a CALCULATED check, and the largest HealthThreshold (API reference).
pub const MAX_CHILD_HEALTH_CHECKS: usize = 256;

impl HealthCheckConfig {
    /// A CALCULATED check of `children` (sorted here) and `threshold`. The endpoint fields are
    /// zero/empty, as the adapters normalise a calculated check they read.
    pub fn calculated(mut children: Vec<String>, threshold: i32, inverted: bool) -> Self {
        children.sort();
        children.dedup();
        HealthCheckConfig {
            check_type: HealthCheckType::Calculated,
            ip_address: None,
            fqdn: None,
            port: 0,
            resource_path: None,
            search_string: None,
            request_interval: 0,
            failure_threshold: 0,
            regions: Vec::new(),
            inverted,
            enable_sni: false,
            measure_latency: false,
            alarm_region: None,
            alarm_name: None,
            insufficient_data_health_status: None,
            routing_control_arn: None,
            child_health_checks: children,
            health_threshold: threshold,
        }
    }

    /// A TCP check of `ip`:`port` with Route 53's defaults (RequestInterval 30, FailureThreshold 3,
    /// every region), for tests.
    #[cfg(any(test, feature = "test-util"))]
    pub fn tcp(ip: &str, port: i32) -> Self {
        HealthCheckConfig {
            check_type: HealthCheckType::TCP,
            ip_address: Some(ip.to_string()),
            fqdn: None,
            port,
            resource_path: None,
            search_string: None,
            request_interval: 30,
            failure_threshold: 3,
            regions: Vec::new(),
            inverted: false,
            enable_sni: false,
            measure_latency: false,
            alarm_region: None,
            alarm_name: None,
            insufficient_data_health_status: None,
            routing_control_arn: None,
            child_health_checks: Vec::new(),
            health_threshold: 0,
        }
    }

    /// The part of the config Route 53 cannot change in place: the check type (which includes string
    /// matching), the request interval, latency measurement, whether the endpoint is specified by IP
    /// address or by domain name only, and a routing control's ARN (UpdateHealthCheck has no
    /// `RoutingControlArn`). A difference here means create-new, repoint, delete-old.
    pub fn immutable_key(&self) -> String {
        if self.check_type == HealthCheckType::Calculated {
            // ChildHealthChecks, HealthThreshold and Inverted are all updatable in place
            // (UpdateHealthCheck); only the type is not.
            return self.check_type.as_str().to_string();
        }
        format!(
            "{}|{}|{}|{}|{}",
            self.check_type.as_str(),
            self.request_interval,
            self.measure_latency,
            if self.ip_address.is_some() {
                "ip"
            } else {
                "name"
            },
            self.routing_control_arn.as_deref().unwrap_or("")
        )
    }

    /// A CLOUDWATCH_METRIC or RECOVERY_CONTROL config with every endpoint setting cleared (zero
    /// port, interval and threshold, no address, path, string, regions, SNI or latency), the form
    /// in which the operator wants and compares such checks whatever Route 53 echoes for them.
    pub fn without_endpoint_settings(mut self) -> Self {
        if !self.check_type.is_endpoint() {
            self.ip_address = None;
            self.fqdn = None;
            self.port = 0;
            self.resource_path = None;
            self.search_string = None;
            self.request_interval = 0;
            self.failure_threshold = 0;
            self.regions.clear();
            self.enable_sni = false;
            self.measure_latency = false;
        }
        self
    }

    /// Whether `observed` can be turned into `self` with UpdateHealthCheck.
    pub fn updatable_from(&self, observed: &HealthCheckConfig) -> bool {
        self.immutable_key() == observed.immutable_key()
    }

    /// Equal for reconciliation purposes: Route 53 may report all regions where none were requested.
    pub fn matches(&self, observed: &HealthCheckConfig) -> bool {
        let regions_match = self.regions.is_empty() || self.regions == observed.regions;
        let mut a = self.clone();
        let mut b = observed.clone();
        a.regions.clear();
        b.regions.clear();
        regions_match && a == b
    }
}

/// A health check as Route 53 reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// Id.
    pub id: String,
    /// CallerReference given at creation: carries the ownership proof (see [`crate::naming`]).
    pub caller_reference: String,
    /// HealthCheckVersion, for optimistic concurrency on update.
    pub version: i64,
    /// Settings, when the type is one the operator understands.
    pub config: Option<HealthCheckConfig>,
}

/// Errors from Route 53 calls, classified for retry decisions.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Route 53 {operation} failed ({kind:?}, {code}): {message}")]
pub struct Route53Error {
    /// API operation name.
    pub operation: &'static str,
    /// Classification.
    pub kind: Route53ErrorKind,
    /// Route 53 error code, or a short description for transport errors.
    pub code: String,
    /// Route 53's message.
    pub message: String,
}

/// How a Route 53 error should be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route53ErrorKind {
    /// Rate limits (`Throttling`, `PriorRequestNotComplete`): retry with backoff.
    Throttled,
    /// Timeouts, 5xx, connection errors: retry with backoff.
    Transient,
    /// The request conflicts with Route 53's state (`InvalidChangeBatch`, `HealthCheckAlreadyExists`,
    /// `HealthCheckVersionMismatch`).
    Conflict,
    /// The resource does not exist (`NoSuchHostedZone`, `NoSuchHealthCheck`, `NoSuchChange`).
    NotFound,
    /// Route 53 rejected the input (`InvalidInput`, ...): retrying the same request cannot help.
    Invalid,
    /// Credentials or permissions.
    AccessDenied,
    /// Anything else.
    Other,
}

impl Route53Error {
    /// Build an error.
    pub fn new(
        operation: &'static str,
        kind: Route53ErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Route53Error {
            operation,
            kind,
            code: code.into(),
            message: message.into(),
        }
    }

    /// Classify a Route 53 error code.
    pub fn kind_for_code(code: &str) -> Route53ErrorKind {
        match code {
            "Throttling"
            | "ThrottlingException"
            | "PriorRequestNotComplete"
            | "RequestLimitExceeded" => Route53ErrorKind::Throttled,
            "InvalidChangeBatch"
            | "HealthCheckAlreadyExists"
            | "HealthCheckVersionMismatch"
            | "ConflictingDomainExists"
            | "HealthCheckInUse" => Route53ErrorKind::Conflict,
            "NoSuchHostedZone" | "NoSuchHealthCheck" | "NoSuchChange" => Route53ErrorKind::NotFound,
            "InvalidInput" | "InvalidArgument" | "InvalidDomainName" | "TooManyHealthChecks" => {
                Route53ErrorKind::Invalid
            }
            "AccessDenied"
            | "AccessDeniedException"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "UnrecognizedClientException" => Route53ErrorKind::AccessDenied,
            "InternalError" | "InternalFailure" | "ServiceUnavailable" | "RequestTimeout" => {
                Route53ErrorKind::Transient
            }
            _ => Route53ErrorKind::Other,
        }
    }

    /// Whether a retry of the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            Route53ErrorKind::Throttled | Route53ErrorKind::Transient
        )
    }
}

/// Result of Route 53 calls.
pub type R53Result<T> = Result<T, Route53Error>;

/// The Route 53 calls the operator makes.
pub trait Route53: Send + Sync + 'static {
    /// GetHostedZone; `None` when it does not exist.
    fn get_hosted_zone(&self, id: &str) -> impl Future<Output = R53Result<Option<Zone>>> + Send;

    /// Zones with exactly this name (ListHostedZonesByName from the name).
    fn find_hosted_zones(&self, name: &str) -> impl Future<Output = R53Result<Vec<Zone>>> + Send;

    /// Every record set with this exact name, of any type (ListResourceRecordSets from the name).
    fn list_record_sets(
        &self,
        zone_id: &str,
        name: &str,
    ) -> impl Future<Output = R53Result<Vec<RecordSet>>> + Send;

    /// The record sets with this exact name as a recent snapshot of the zone has them (see
    /// [`snapshot`]): up to the adapter's snapshot TTL old, with our own writes applied. Only for
    /// confirming that nothing needs to change; anything that may lead to a write reads the name
    /// again with [`Route53::list_record_sets`]. Adapters without snapshots read the name.
    fn list_record_sets_cached(
        &self,
        zone_id: &str,
        name: &str,
    ) -> impl Future<Output = R53Result<Vec<RecordSet>>> + Send {
        self.list_record_sets(zone_id, name)
    }

    /// ChangeResourceRecordSets: one transactional batch.
    fn change_record_sets(
        &self,
        zone_id: &str,
        comment: &str,
        changes: &[Change],
    ) -> impl Future<Output = R53Result<ChangeInfo>> + Send;

    /// GetChange.
    fn get_change(&self, id: &str) -> impl Future<Output = R53Result<ChangeInfo>> + Send;

    /// Health checks whose CallerReference starts with `prefix` (ListHealthChecks, paginated).
    fn list_health_checks(
        &self,
        prefix: &str,
    ) -> impl Future<Output = R53Result<Vec<HealthCheck>>> + Send;

    /// Like [`Route53::list_health_checks`], but always from a listing made now (never from a cache):
    /// for decisions that must see every check, such as releasing a finalizer.
    fn list_health_checks_fresh(
        &self,
        prefix: &str,
    ) -> impl Future<Output = R53Result<Vec<HealthCheck>>> + Send;

    /// GetHealthCheck; `None` when it does not exist.
    fn get_health_check(
        &self,
        id: &str,
    ) -> impl Future<Output = R53Result<Option<HealthCheck>>> + Send;

    /// A health check that a recent inventory (the one [`Route53::list_health_checks`] keeps, at most
    /// the adapter's TTL old and kept in step with our own writes) lists, else GetHealthCheck. Only
    /// to learn that a check made elsewhere (`existingHealthCheckId`) exists before a record is
    /// pointed at it: a check deleted since the listing is reported by the health reads, and Route 53
    /// refuses a record that names a check it does not have. Adapters without an inventory call
    /// GetHealthCheck.
    fn get_health_check_cached(
        &self,
        id: &str,
    ) -> impl Future<Output = R53Result<Option<HealthCheck>>> + Send {
        self.get_health_check(id)
    }

    /// CreateHealthCheck (idempotent on `caller_reference`), then tag it.
    fn create_health_check(
        &self,
        caller_reference: &str,
        config: &HealthCheckConfig,
        tags: &[(String, String)],
    ) -> impl Future<Output = R53Result<HealthCheck>> + Send;

    /// UpdateHealthCheck guarded by `version`.
    fn update_health_check(
        &self,
        id: &str,
        version: i64,
        config: &HealthCheckConfig,
    ) -> impl Future<Output = R53Result<HealthCheck>> + Send;

    /// DeleteHealthCheck; a missing check is not an error.
    fn delete_health_check(&self, id: &str) -> impl Future<Output = R53Result<()>> + Send;

    /// The tags of health checks (ListTagsForResources, at most 10 ids per call); a check without
    /// tags maps to an empty list.
    fn health_check_tags(
        &self,
        ids: &[String],
    ) -> impl Future<Output = R53Result<std::collections::HashMap<String, Vec<(String, String)>>>> + Send;

    /// Add or overwrite tags of a health check (ChangeTagsForResource); other tags stay.
    fn tag_health_check(
        &self,
        id: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = R53Result<()>> + Send;
}

/// Lower-case with exactly one trailing dot.
pub fn fqdn(name: &str) -> String {
    let mut n = name.trim().to_ascii_lowercase();
    if !n.ends_with('.') {
        n.push('.');
    }
    n
}

/// Strip `/hostedzone/`, `/change/` or `/healthcheck/` prefixes.
pub fn strip_id(id: &str) -> String {
    id.rsplit('/').next().unwrap_or(id).to_string()
}

/// Route 53 returns `*` and other characters outside `[a-z0-9-_.]` as `\ooo` octal escapes.
pub fn unescape_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let oct = &bytes[i + 1..i + 4];
            if oct.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let digits = std::str::from_utf8(oct).unwrap_or("");
                if let Ok(v) = u8::from_str_radix(digits, 8) {
                    out.push(v as char);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        assert_eq!(fqdn("App.Example.com"), "app.example.com.");
        assert_eq!(fqdn("app.example.com."), "app.example.com.");
        assert_eq!(strip_id("/hostedzone/Z123"), "Z123");
        assert_eq!(strip_id("Z123"), "Z123");
        assert_eq!(unescape_name("\\052.example.com."), "*.example.com.");
        assert_eq!(unescape_name("a\\"), "a\\");
    }

    #[test]
    fn error_codes_are_classified() {
        for (code, kind) in [
            ("Throttling", Route53ErrorKind::Throttled),
            ("PriorRequestNotComplete", Route53ErrorKind::Throttled),
            ("InvalidChangeBatch", Route53ErrorKind::Conflict),
            ("HealthCheckAlreadyExists", Route53ErrorKind::Conflict),
            ("NoSuchHealthCheck", Route53ErrorKind::NotFound),
            ("InvalidInput", Route53ErrorKind::Invalid),
            ("AccessDenied", Route53ErrorKind::AccessDenied),
            ("InternalError", Route53ErrorKind::Transient),
            ("SomethingNew", Route53ErrorKind::Other),
        ] {
            assert_eq!(Route53Error::kind_for_code(code), kind, "{code}");
        }
    }
}
