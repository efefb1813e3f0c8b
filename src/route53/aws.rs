//! The real Route 53 adapter over `aws-sdk-route53`.
//!
//! Every call waits for the shared [`Budget`], is counted in metrics by operation and outcome, and has its
//! error classified into a [`Route53ErrorKind`]. Names and ids are normalised on the way in and out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_route53::Client;
use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53::types as t;

use super::budget::Budget;
use super::snapshot::{Lookup, ZoneSnapshots};
use super::{
    Alias, Change, ChangeInfo, HealthCheck, HealthCheckConfig, R53Result, RecordSet, Route53,
    Route53Error, Route53ErrorKind, Zone, fqdn, strip_id, unescape_name,
};
use crate::crd::{HealthCheckRegion, HealthCheckType, InsufficientDataHealthStatus, Role};
use crate::leader::Fence;
use crate::metrics::Metrics;

/// Route 53 through the AWS SDK.
#[derive(Clone)]
pub struct AwsRoute53 {
    client: Client,
    budget: Arc<Budget>,
    metrics: Arc<Metrics>,
    cache: Arc<Caches>,
    /// Checked immediately before every write is sent (after the budget's wait); `None` writes freely.
    fence: Option<Arc<Fence>>,
    /// Attempts per call (the SDK's configured `max_attempts`), made by [`AwsRoute53::call`].
    max_attempts: u32,
    /// How long a PENDING GetChange answer serves other polls of the same change.
    change_share: Duration,
}

/// How long a PENDING GetChange answer serves other polls of the same change, unless
/// [`AwsRoute53::with_change_share`] says otherwise.
const CHANGE_POLL_SHARE: Duration = Duration::from_secs(1);
/// Remembered GetChange answers (cleared when full).
const CHANGE_CACHE_LIMIT: usize = 10_000;

/// Route 53 operations that change something: refused without a valid [`Fence`].
const WRITES: &[&str] = &[
    "ChangeResourceRecordSets",
    "CreateHealthCheck",
    "UpdateHealthCheck",
    "DeleteHealthCheck",
    "ChangeTagsForResource",
];

/// Shared read caches, so reads cost the account budget once per TTL rather than once per object:
/// hosted zones that exist (immutable for our purposes; a missing zone is never cached) and the account's health check inventory (listing it is
/// paginated over every check in the account). The inventory is updated in place by our own
/// creates, updates and deletes, and dropped whenever Route 53 contradicts it. Zone snapshots
/// ([`super::snapshot`]) serve [`Route53::list_record_sets_cached`].
struct Caches {
    ttl: Duration,
    /// TTL of the health check inventory (and of zone snapshots, which keep their own).
    inventory_ttl: Duration,
    snapshots: Mutex<ZoneSnapshots>,
    /// GetChange answers: INSYNC for good, PENDING for [`AwsRoute53::with_change_share`].
    changes: Mutex<HashMap<String, (Instant, bool)>>,
    /// Held while a zone is listed, so concurrent reconciles wait for one listing.
    zone_listing: tokio::sync::Mutex<()>,
    zones_by_name: Mutex<HashMap<String, (Instant, Vec<Zone>)>>,
    zones_by_id: Mutex<HashMap<String, (Instant, Option<Zone>)>>,
    /// Held while a zone is looked up, so concurrent reconciles wait for one lookup.
    zone_lookup: tokio::sync::Mutex<()>,
    inventory: tokio::sync::Mutex<Inventory>,
}

#[derive(Default)]
struct Inventory {
    fetched: Option<Instant>,
    checks: HashMap<String, HealthCheck>,
}

impl Inventory {
    /// Replace the inventory with a listing made now.
    fn store(&mut self, all: Vec<HealthCheck>) {
        self.checks = all.into_iter().map(|hc| (hc.id.clone(), hc)).collect();
        self.fetched = Some(Instant::now());
    }
}

impl Caches {
    fn fresh(&self, at: Instant) -> bool {
        at.elapsed() < self.ttl
    }
}

impl AwsRoute53 {
    /// Wrap an SDK client.
    pub fn new(client: Client, budget: Arc<Budget>, metrics: Arc<Metrics>) -> Self {
        Self::with_cache_ttl(client, budget, metrics, Duration::from_secs(60))
    }

    /// Like [`AwsRoute53::new`], with the TTL of the zone and health check inventory caches.
    pub fn with_cache_ttl(
        client: Client,
        budget: Arc<Budget>,
        metrics: Arc<Metrics>,
        ttl: Duration,
    ) -> Self {
        Self::with_ttls(client, budget, metrics, ttl, ttl)
    }

    /// Like [`AwsRoute53::new`], with the TTL of the zone cache (`ttl`) and, separately, the TTL of
    /// the health check inventory and of zone snapshots (`snapshot_ttl`): the age of what a
    /// steady-state resync confirms, so the controller sets it from its resync interval.
    pub fn with_ttls(
        client: Client,
        budget: Arc<Budget>,
        metrics: Arc<Metrics>,
        ttl: Duration,
        snapshot_ttl: Duration,
    ) -> Self {
        // Retries are made by `call`, through the budget and the fence; the SDK makes one attempt.
        let max_attempts = client
            .config()
            .retry_config()
            .map_or(3, |r| r.max_attempts())
            .max(1);
        let client = Client::from_conf(
            client
                .config()
                .to_builder()
                .retry_config(
                    aws_sdk_route53::config::retry::RetryConfig::standard().with_max_attempts(1),
                )
                .build(),
        );
        AwsRoute53 {
            max_attempts,
            client,
            budget,
            metrics,
            cache: Arc::new(Caches {
                ttl,
                inventory_ttl: snapshot_ttl,
                snapshots: Mutex::new(ZoneSnapshots::new(snapshot_ttl)),
                changes: Mutex::new(HashMap::new()),
                zone_listing: tokio::sync::Mutex::new(()),
                zones_by_name: Mutex::new(HashMap::new()),
                zones_by_id: Mutex::new(HashMap::new()),
                zone_lookup: tokio::sync::Mutex::new(()),
                inventory: tokio::sync::Mutex::new(Inventory::default()),
            }),
            fence: None,
            change_share: CHANGE_POLL_SHARE,
        }
    }

    /// How long a PENDING GetChange answer serves the other polls of the same change. The controller
    /// sets its change poll interval: every object of a batched change polls it that often anyway,
    /// so Route 53 is asked about each change at most once per interval, not once per object.
    pub fn with_change_share(mut self, share: Duration) -> Self {
        self.change_share = share;
        self
    }

    /// Refuse every write unless `fence` is valid at the moment the request would be sent: a leader
    /// that could not renew its Lease in time writes nothing more.
    pub fn with_fence(mut self, fence: Arc<Fence>) -> Self {
        self.fence = Some(fence);
        self
    }

    /// Fill the health-check inventory as a `ListHealthChecks` listing of `listing` would (used
    /// by `examples/memory.rs` to measure it).
    #[cfg(feature = "test-util")]
    pub async fn store_inventory_listing(&self, listing: &[t::HealthCheck]) {
        let all = listing.iter().map(health_check_from).collect();
        self.cache.inventory.lock().await.store(all);
    }

    /// Fill the zone snapshot of `zone_id` as a `ListResourceRecordSets` listing of `listing`
    /// would, with every name asked for once before (used by `examples/memory.rs`).
    #[cfg(feature = "test-util")]
    pub fn store_zone_listing(&self, zone_id: &str, listing: &[t::ResourceRecordSet]) {
        let sets: Vec<RecordSet> = listing.iter().map(record_from).collect();
        let mut snapshots = lock(&self.cache.snapshots);
        let now = Instant::now();
        for rs in &sets {
            snapshots.lookup(zone_id, &rs.name, now);
        }
        snapshots.store_listing(zone_id, sets, listing.len().div_ceil(300), now);
    }

    /// Drop the cached health-check inventory (a check it lists was deleted out of band).
    pub(crate) async fn forget_inventory(&self) {
        self.cache.inventory.lock().await.fetched = None;
    }

    /// A client from an already loaded [`aws_config::SdkConfig`] (see [`sdk_config`]).
    pub fn client(shared: &aws_config::SdkConfig) -> Client {
        Client::new(shared)
    }

    /// Build an SDK client from the standard AWS environment (credentials chain, region,
    /// `AWS_ENDPOINT_URL_ROUTE_53`, `AWS_MAX_ATTEMPTS`, ...), with rustls on ring.
    pub async fn client_from_env() -> Client {
        Client::new(&sdk_config_from_env().await)
    }

    /// One Route 53 call: every attempt (the first and each retry of a throttled or transient
    /// failure, up to the SDK's configured `max_attempts`, `AWS_MAX_ATTEMPTS`) waits for the
    /// budget and, for a write, checks the fence, so retries never bypass either. The SDK itself
    /// makes one attempt per request (see [`AwsRoute53::with_ttls`]).
    pub(crate) async fn call<T, E, F, Fut>(&self, operation: &'static str, f: F) -> R53Result<T>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<
                Output = Result<T, SdkError<E, aws_sdk_route53::config::http::HttpResponse>>,
            >,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut attempt = 1;
        loop {
            match self.attempt(operation, &f).await {
                Err(e)
                    if e.is_retryable() && e.code != "NotLeader" && attempt < self.max_attempts =>
                {
                    tokio::time::sleep(retry_delay(attempt)).await;
                    attempt += 1;
                }
                res => return res,
            }
        }
    }

    async fn attempt<T, E, F, Fut>(&self, operation: &'static str, f: &F) -> R53Result<T>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<
                Output = Result<T, SdkError<E, aws_sdk_route53::config::http::HttpResponse>>,
            >,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.budget.acquire(operation).await;
        // A write may not outlive the fence: checked now, and the attempt is abandoned at the
        // fence's deadline, so nothing is sent after it.
        let mut limit = None;
        if let Some(fence) = &self.fence {
            if WRITES.contains(&operation) {
                if let Err(e) = fence.check() {
                    self.metrics.route53_call(operation, "fenced", 0.0);
                    return Err(fenced(operation, &e.to_string()));
                }
                limit = fence.remaining();
            }
        }
        let start = Instant::now();
        let fut = f(self.client.clone());
        let res = match limit {
            None => fut.await.map_err(|e| classify(operation, e)),
            Some(limit) => match tokio::time::timeout(limit, fut).await {
                Ok(r) => r.map_err(|e| classify(operation, e)),
                Err(_) => {
                    self.metrics
                        .route53_call(operation, "fenced", start.elapsed().as_secs_f64());
                    return Err(fenced(
                        operation,
                        "the Lease's renew deadline passed during the call: no further attempt is sent",
                    ));
                }
            },
        };
        let outcome = match &res {
            Ok(_) => "success",
            Err(e) => outcome_label(e.kind),
        };
        self.metrics
            .route53_call(operation, outcome, start.elapsed().as_secs_f64());
        if let Err(e) = &res {
            tracing::debug!(operation, code = %e.code, error = %e.message, "Route 53 call failed");
        }
        res
    }
}

/// The pause before retry `attempt + 1` of a throttled or transient failure: the project's
/// full-jitter backoff ([`crate::error::backoff`]) from 250 ms, doubling, at most 5 s, so callers
/// throttled together do not retry together.
fn retry_delay(attempt: u32) -> Duration {
    crate::error::backoff(attempt, Duration::from_millis(250), Duration::from_secs(5))
}

/// Deadlines of every AWS call: connecting, each attempt, and the whole call with the SDK's retries.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
/// See [`CONNECT_TIMEOUT`].
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// See [`CONNECT_TIMEOUT`].
pub const CALL_TIMEOUT: Duration = Duration::from_secs(45);

/// The shared AWS configuration from the standard environment (credentials chain, region,
/// `AWS_ENDPOINT_URL_ROUTE_53`, `AWS_ENDPOINT_URL_CLOUDWATCH`, `AWS_MAX_ATTEMPTS`, ...), with rustls
/// on ring and a deadline on every call. Route 53 is a global service whose endpoint lives in
/// us-east-1, which is the region when none is configured.
pub async fn sdk_config_from_env() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(CALL_TIMEOUT)
        .build();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts);
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        loader = loader.region(aws_config::Region::new("us-east-1"));
    }
    loader.load().await
}

/// An IAM role the whole installation assumes (`--assume-role-arn`), e.g. in the account that owns
/// the hosted zones, from the credentials of the standard environment (IRSA, Pod Identity, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumeRole {
    /// The role's ARN.
    pub arn: String,
    /// The external id the role's trust policy requires, if any.
    pub external_id: Option<String>,
    /// The STS session name (shows in CloudTrail).
    pub session_name: String,
}

/// The shared AWS configuration ([`sdk_config_from_env`]), with the credentials of `role` when one
/// is given: STS `AssumeRole` from the environment's credentials (honouring `AWS_ENDPOINT_URL_STS`),
/// refreshed before they expire. Every client (Route 53, CloudWatch) is built from it.
pub async fn sdk_config(role: Option<&AssumeRole>) -> aws_config::SdkConfig {
    let base = sdk_config_from_env().await;
    match role {
        Some(role) => assume(&base, role).await,
        None => base,
    }
}

/// `base` with the credentials of `role`, assumed (STS `AssumeRole`, with its external id) with
/// `base`'s own credentials and refreshed before they expire: the installation's role for
/// [`sdk_config`], or a namespace's role ([`crate::accounts`]) assumed from the installation's.
pub async fn assume(base: &aws_config::SdkConfig, role: &AssumeRole) -> aws_config::SdkConfig {
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(role.arn.clone())
        .session_name(role.session_name.clone())
        .configure(base);
    if let Some(id) = &role.external_id {
        builder = builder.external_id(id.clone());
    }
    let provider = builder.build().await;
    base.clone()
        .into_builder()
        .credentials_provider(aws_sdk_route53::config::SharedCredentialsProvider::new(
            provider,
        ))
        .build()
}

/// A write refused (or abandoned) by the leader's fence.
fn fenced(operation: &'static str, why: &str) -> Route53Error {
    Route53Error::new(operation, Route53ErrorKind::Transient, "NotLeader", why)
}

pub(crate) fn outcome_label(kind: Route53ErrorKind) -> &'static str {
    match kind {
        Route53ErrorKind::Throttled => "throttled",
        Route53ErrorKind::Transient => "transient",
        Route53ErrorKind::Conflict => "conflict",
        Route53ErrorKind::NotFound => "not_found",
        Route53ErrorKind::Invalid => "invalid",
        Route53ErrorKind::AccessDenied => "access_denied",
        Route53ErrorKind::Other => "error",
    }
}

/// Classify an SDK error. Route 53 answers `Throttling` (not `ThrottlingException`), which the SDK
/// surfaces as an unmodelled error with that code.
fn classify<E>(
    operation: &'static str,
    err: SdkError<E, aws_sdk_route53::config::http::HttpResponse>,
) -> Route53Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or("Unknown").to_string();
            let message = se.err().message().unwrap_or_default().to_string();
            let mut kind = Route53Error::kind_for_code(&code);
            if kind == Route53ErrorKind::Other {
                kind = match status {
                    403 => Route53ErrorKind::AccessDenied,
                    404 => Route53ErrorKind::NotFound,
                    429 => Route53ErrorKind::Throttled,
                    500..=599 => Route53ErrorKind::Transient,
                    _ => Route53ErrorKind::Other,
                };
            }
            Route53Error::new(operation, kind, code, message)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Route53Error::new(
                operation,
                Route53ErrorKind::Transient,
                "Transport",
                aws_sdk_route53::error::DisplayErrorContext(&err).to_string(),
            )
        }
        _ => Route53Error::new(
            operation,
            Route53ErrorKind::Other,
            "Client",
            aws_sdk_route53::error::DisplayErrorContext(&err).to_string(),
        ),
    }
}

fn build_err(operation: &'static str, e: impl std::fmt::Display) -> Route53Error {
    Route53Error::new(
        operation,
        Route53ErrorKind::Invalid,
        "BuildError",
        e.to_string(),
    )
}

fn zone_from(z: &t::HostedZone) -> Zone {
    Zone {
        id: strip_id(z.id()),
        name: fqdn(&unescape_name(z.name())),
        private: z.config().map(|c| c.private_zone()).unwrap_or(false),
    }
}

fn record_from(rs: &t::ResourceRecordSet) -> RecordSet {
    RecordSet {
        name: fqdn(&unescape_name(rs.name())),
        rtype: rs.r#type().as_str().to_string(),
        set_identifier: rs.set_identifier().map(str::to_string),
        failover: rs.failover().and_then(|f| match f {
            t::ResourceRecordSetFailover::Primary => Some(Role::Primary),
            t::ResourceRecordSetFailover::Secondary => Some(Role::Secondary),
            _ => None,
        }),
        ttl: rs.ttl(),
        values: rs
            .resource_records()
            .iter()
            .map(|r| r.value().to_string())
            .collect(),
        alias: rs.alias_target().map(|a| Alias {
            dns_name: fqdn(a.dns_name()),
            hosted_zone_id: strip_id(a.hosted_zone_id()),
            evaluate_target_health: a.evaluate_target_health(),
        }),
        health_check_id: rs.health_check_id().map(str::to_string),
    }
}

fn record_to(rs: &RecordSet) -> Result<t::ResourceRecordSet, Route53Error> {
    let op = "ChangeResourceRecordSets";
    let mut b = t::ResourceRecordSet::builder()
        .name(&rs.name)
        .r#type(t::RrType::from(rs.rtype.as_str()))
        .set_set_identifier(rs.set_identifier.clone())
        .set_health_check_id(rs.health_check_id.clone())
        .set_failover(rs.failover.map(|r| match r {
            Role::Primary => t::ResourceRecordSetFailover::Primary,
            Role::Secondary => t::ResourceRecordSetFailover::Secondary,
        }));
    if let Some(a) = &rs.alias {
        b = b.alias_target(
            t::AliasTarget::builder()
                .dns_name(&a.dns_name)
                .hosted_zone_id(&a.hosted_zone_id)
                .evaluate_target_health(a.evaluate_target_health)
                .build()
                .map_err(|e| build_err(op, e))?,
        );
    } else {
        b = b.set_ttl(rs.ttl);
        for v in &rs.values {
            b = b.resource_records(
                t::ResourceRecord::builder()
                    .value(v)
                    .build()
                    .map_err(|e| build_err(op, e))?,
            );
        }
    }
    b.build().map_err(|e| build_err(op, e))
}

fn health_check_from(hc: &t::HealthCheck) -> HealthCheck {
    let config = hc.health_check_config().and_then(|c| {
        let check_type = HealthCheckType::parse(c.r#type().as_str())?;
        if check_type == HealthCheckType::Calculated {
            // Endpoint fields mean nothing for a calculated check: normalised away, as
            // HealthCheckConfig::calculated leaves them.
            return Some(HealthCheckConfig::calculated(
                c.child_health_checks().to_vec(),
                c.health_threshold().unwrap_or(0),
                c.inverted().unwrap_or(false),
            ));
        }
        let mut regions: Vec<HealthCheckRegion> = c
            .regions()
            .iter()
            .filter_map(|r| region_from(r.as_str()))
            .collect();
        regions.sort();
        Some(
            HealthCheckConfig {
                check_type,
                ip_address: c.ip_address().map(str::to_string),
                fqdn: c
                    .fully_qualified_domain_name()
                    .map(|f| f.trim_end_matches('.').to_ascii_lowercase()),
                port: c
                    .port()
                    .unwrap_or(if check_type.is_https() { 443 } else { 80 }),
                resource_path: c.resource_path().map(str::to_string),
                search_string: c.search_string().map(str::to_string),
                request_interval: c.request_interval().unwrap_or(30),
                failure_threshold: c.failure_threshold().unwrap_or(3),
                regions,
                inverted: c.inverted().unwrap_or(false),
                enable_sni: c.enable_sni().unwrap_or(false),
                measure_latency: c.measure_latency().unwrap_or(false),
                alarm_region: c
                    .alarm_identifier()
                    .map(|a| a.region().as_str().to_string()),
                alarm_name: c.alarm_identifier().map(|a| a.name().to_string()),
                insufficient_data_health_status: c
                    .insufficient_data_health_status()
                    .and_then(|s| InsufficientDataHealthStatus::parse(s.as_str())),
                routing_control_arn: c.routing_control_arn().map(str::to_string),
                child_health_checks: Vec::new(),
                health_threshold: 0,
            }
            .without_endpoint_settings(),
        )
    });
    HealthCheck {
        id: hc.id().to_string(),
        caller_reference: hc.caller_reference().to_string(),
        version: hc.health_check_version(),
        config,
    }
}

/// The HealthCheck of an answer to `op`; an error when Route 53 sent none.
fn health_check_answer(op: &'static str, hc: Option<&t::HealthCheck>) -> R53Result<HealthCheck> {
    hc.map(health_check_from)
        .ok_or_else(|| missing_in_answer(op, "HealthCheck"))
}

/// The ChangeInfo of an answer to `op`; an error when Route 53 sent none.
fn change_info_answer(op: &'static str, info: Option<&t::ChangeInfo>) -> R53Result<ChangeInfo> {
    let info = info.ok_or_else(|| missing_in_answer(op, "ChangeInfo"))?;
    Ok(ChangeInfo {
        id: strip_id(info.id()),
        insync: info.status() == &t::ChangeStatus::Insync,
    })
}

/// The error for an answer to `op` without its `element` (code `No{element}`).
fn missing_in_answer(op: &'static str, element: &str) -> Route53Error {
    Route53Error::new(
        op,
        Route53ErrorKind::Other,
        format!("No{element}"),
        format!("no {element} in response"),
    )
}

fn region_from(s: &str) -> Option<HealthCheckRegion> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

fn sdk_type(t: HealthCheckType) -> t::HealthCheckType {
    t::HealthCheckType::from(t.as_str())
}

impl AwsRoute53 {
    /// Checks whose CallerReference starts with `prefix`, sorted by id, from the shared inventory:
    /// re-listed from Route 53 when `fresh` is asked for or the inventory is older than its TTL. The
    /// lock is held across the listing, so concurrent reconciles wait for one listing instead of each
    /// paging through the account.
    async fn owned_from_inventory(&self, prefix: &str, fresh: bool) -> R53Result<Vec<HealthCheck>> {
        let mut inv = self.cache.inventory.lock().await;
        if fresh
            || inv
                .fetched
                .is_none_or(|at| at.elapsed() >= self.cache.inventory_ttl)
        {
            let all = self.raw_list_health_checks("").await?;
            inv.store(all);
        }
        let mut found: Vec<HealthCheck> = inv
            .checks
            .values()
            .filter(|hc| hc.caller_reference.starts_with(prefix))
            .cloned()
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }

    async fn raw_get_hosted_zone(&self, id: &str) -> R53Result<Option<Zone>> {
        let id = id.to_string();
        match self
            .call("GetHostedZone", |c| c.get_hosted_zone().id(&id).send())
            .await
        {
            Ok(out) => Ok(out.hosted_zone().map(zone_from)),
            Err(e) if e.kind == Route53ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn raw_find_hosted_zones(&self, name: &str) -> R53Result<Vec<Zone>> {
        let want = fqdn(name);
        let mut found = Vec::new();
        let mut next: Option<(String, Option<String>)> = Some((want.clone(), None));
        while let Some((dns, zone_id)) = next.take() {
            let out = self
                .call("ListHostedZonesByName", |c| {
                    c.list_hosted_zones_by_name()
                        .dns_name(&dns)
                        .set_hosted_zone_id(zone_id.clone())
                        .max_items(100)
                        .send()
                })
                .await?;
            let past = take_named(
                out.hosted_zones().iter().map(zone_from),
                |z| &z.name,
                &want,
                &mut found,
            );
            if !past && out.is_truncated() {
                if let Some(n) = out.next_dns_name() {
                    next = Some((n.to_string(), out.next_hosted_zone_id().map(str::to_string)));
                }
            }
        }
        Ok(found)
    }

    async fn raw_list_health_checks(&self, prefix: &str) -> R53Result<Vec<HealthCheck>> {
        let mut found = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let m = marker.take();
            let out = self
                .call("ListHealthChecks", |c| {
                    c.list_health_checks()
                        .set_marker(m.clone())
                        .max_items(1000)
                        .send()
                })
                .await?;
            found.extend(
                out.health_checks()
                    .iter()
                    .filter(|hc| hc.caller_reference().starts_with(prefix))
                    .map(health_check_from),
            );
            match (out.is_truncated(), out.next_marker()) {
                (true, Some(n)) => marker = Some(n.to_string()),
                _ => break,
            }
        }
        Ok(found)
    }

    async fn raw_create_health_check(
        &self,
        caller_reference: &str,
        config: &HealthCheckConfig,
        tags: &[(String, String)],
    ) -> R53Result<HealthCheck> {
        let op = "CreateHealthCheck";
        let cfg = if config.check_type == HealthCheckType::Calculated {
            t::HealthCheckConfig::builder()
                .r#type(sdk_type(config.check_type))
                .set_child_health_checks(Some(config.child_health_checks.clone()))
                .health_threshold(config.health_threshold)
                .inverted(config.inverted)
                .build()
                .map_err(|e| build_err(op, e))?
        } else if config.check_type.is_endpoint() {
            endpoint_check_config(op, config)?
        } else {
            t::HealthCheckConfig::builder()
                .r#type(sdk_type(config.check_type))
                .inverted(config.inverted)
                .set_alarm_identifier(alarm_identifier(op, config)?)
                .set_insufficient_data_health_status(
                    config
                        .insufficient_data_health_status
                        .map(|s| t::InsufficientDataHealthStatus::from(s.as_str())),
                )
                .set_routing_control_arn(config.routing_control_arn.clone())
                .build()
                .map_err(|e| build_err(op, e))?
        };
        let reference = caller_reference.to_string();
        let out = self
            .call(op, |c| {
                c.create_health_check()
                    .caller_reference(&reference)
                    .health_check_config(cfg.clone())
                    .send()
            })
            .await?;
        let hc = health_check_answer(op, out.health_check())?;
        self.raw_tag_health_check(&hc.id, tags).await?;
        Ok(hc)
    }
}

/// The AlarmIdentifier of a CLOUDWATCH_METRIC config, `None` for other types.
fn alarm_identifier(
    op: &'static str,
    config: &HealthCheckConfig,
) -> R53Result<Option<t::AlarmIdentifier>> {
    match (&config.alarm_region, &config.alarm_name) {
        (Some(region), Some(name)) => t::AlarmIdentifier::builder()
            .region(t::CloudWatchRegion::from(region.as_str()))
            .name(name)
            .build()
            .map(Some)
            .map_err(|e| build_err(op, e)),
        _ => Ok(None),
    }
}

/// The HealthCheckConfig of an endpoint check (HTTP, HTTPS, STR_MATCH types, TCP).
fn endpoint_check_config(
    op: &'static str,
    config: &HealthCheckConfig,
) -> R53Result<t::HealthCheckConfig> {
    t::HealthCheckConfig::builder()
        .r#type(sdk_type(config.check_type))
        .set_ip_address(config.ip_address.clone())
        .set_fully_qualified_domain_name(config.fqdn.clone())
        .port(config.port)
        .set_resource_path(config.resource_path.clone())
        .set_search_string(config.search_string.clone())
        .request_interval(config.request_interval)
        .failure_threshold(config.failure_threshold)
        .set_regions(if config.regions.is_empty() {
            None
        } else {
            Some(
                config
                    .regions
                    .iter()
                    .map(|r| t::HealthCheckRegion::from(r.as_str()))
                    .collect(),
            )
        })
        .inverted(config.inverted)
        .set_enable_sni(if config.check_type.is_https() {
            Some(config.enable_sni)
        } else {
            None
        })
        .measure_latency(config.measure_latency)
        .build()
        .map_err(|e| build_err(op, e))
}

impl AwsRoute53 {
    async fn raw_tag_health_check(&self, id: &str, tags: &[(String, String)]) -> R53Result<()> {
        if tags.is_empty() {
            return Ok(());
        }
        let sdk_tags: Vec<t::Tag> = tags
            .iter()
            .map(|(k, v)| t::Tag::builder().key(k).value(v).build())
            .collect();
        let id = id.to_string();
        self.call("ChangeTagsForResource", |c| {
            c.change_tags_for_resource()
                .resource_type(t::TagResourceType::Healthcheck)
                .resource_id(&id)
                .set_add_tags(Some(sdk_tags.clone()))
                .send()
        })
        .await?;
        Ok(())
    }

    async fn raw_update_health_check(
        &self,
        id: &str,
        version: i64,
        config: &HealthCheckConfig,
    ) -> R53Result<HealthCheck> {
        let op = "UpdateHealthCheck";
        if config.check_type == HealthCheckType::Calculated {
            return self.raw_update_calculated(id, version, config).await;
        }
        if !config.check_type.is_endpoint() {
            return self.update_signal_check(id, version, config).await;
        }
        let mut reset = Vec::new();
        if config.fqdn.is_none() {
            reset.push(t::ResettableElementName::FullyQualifiedDomainName);
        }
        if config.resource_path.is_none() && config.check_type != HealthCheckType::TCP {
            reset.push(t::ResettableElementName::ResourcePath);
        }
        if config.regions.is_empty() {
            reset.push(t::ResettableElementName::Regions);
        }
        let c2 = config.clone();
        let id = id.to_string();
        let out = self
            .call(op, |c| {
                c.update_health_check()
                    .health_check_id(&id)
                    .health_check_version(version)
                    .set_ip_address(c2.ip_address.clone())
                    .set_fully_qualified_domain_name(c2.fqdn.clone())
                    .port(c2.port)
                    .set_resource_path(c2.resource_path.clone())
                    .set_search_string(c2.search_string.clone())
                    .failure_threshold(c2.failure_threshold)
                    .inverted(c2.inverted)
                    .set_enable_sni(if c2.check_type.is_https() {
                        Some(c2.enable_sni)
                    } else {
                        None
                    })
                    .set_regions(if c2.regions.is_empty() {
                        None
                    } else {
                        Some(
                            c2.regions
                                .iter()
                                .map(|r| t::HealthCheckRegion::from(r.as_str()))
                                .collect(),
                        )
                    })
                    .set_reset_elements(if reset.is_empty() {
                        None
                    } else {
                        Some(reset.clone())
                    })
                    .send()
            })
            .await?;
        health_check_answer(op, out.health_check())
    }

    /// UpdateHealthCheck of a CLOUDWATCH_METRIC or RECOVERY_CONTROL check: only what applies to it
    /// (Inverted; the alarm and InsufficientDataHealthStatus of a CLOUDWATCH_METRIC check).
    async fn update_signal_check(
        &self,
        id: &str,
        version: i64,
        config: &HealthCheckConfig,
    ) -> R53Result<HealthCheck> {
        let op = "UpdateHealthCheck";
        let alarm = alarm_identifier(op, config)?;
        let status = config
            .insufficient_data_health_status
            .map(|s| t::InsufficientDataHealthStatus::from(s.as_str()));
        let inverted = config.inverted;
        let id = id.to_string();
        let out = self
            .call(op, |c| {
                c.update_health_check()
                    .health_check_id(&id)
                    .health_check_version(version)
                    .inverted(inverted)
                    .set_alarm_identifier(alarm.clone())
                    .set_insufficient_data_health_status(status.clone())
                    .send()
            })
            .await?;
        health_check_answer(op, out.health_check())
    }

    /// UpdateHealthCheck of a CALCULATED check: children, threshold and Inverted, in one call. An
    /// empty child list is sent as ResetElements=ChildHealthChecks (an empty element would be
    /// ignored as "unchanged").
    async fn raw_update_calculated(
        &self,
        id: &str,
        version: i64,
        config: &HealthCheckConfig,
    ) -> R53Result<HealthCheck> {
        let op = "UpdateHealthCheck";
        let children = config.child_health_checks.clone();
        let threshold = config.health_threshold;
        let inverted = config.inverted;
        let id = id.to_string();
        let out = self
            .call(op, |c| {
                let req = c
                    .update_health_check()
                    .health_check_id(&id)
                    .health_check_version(version)
                    .health_threshold(threshold)
                    .inverted(inverted);
                if children.is_empty() {
                    req.reset_elements(t::ResettableElementName::ChildHealthChecks)
                        .send()
                } else {
                    req.set_child_health_checks(Some(children.clone())).send()
                }
            })
            .await?;
        health_check_answer(op, out.health_check())
    }

    async fn raw_delete_health_check(&self, id: &str) -> R53Result<()> {
        let id = id.to_string();
        match self
            .call("DeleteHealthCheck", |c| {
                c.delete_health_check().health_check_id(&id).send()
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind == Route53ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// GetChange, uncached.
    async fn raw_get_change(&self, id: &str) -> R53Result<ChangeInfo> {
        let id = id.to_string();
        let out = self
            .call("GetChange", |c| c.get_change().id(&id).send())
            .await?;
        change_info_answer("GetChange", out.change_info())
    }

    /// Every record set of a zone (ListResourceRecordSets, 300 per page) and the number of pages.
    async fn raw_list_zone(&self, zone_id: &str) -> R53Result<(Vec<RecordSet>, usize)> {
        let mut sets = Vec::new();
        let mut pages = 0;
        let mut start: Option<(String, Option<t::RrType>, Option<String>)> = None;
        loop {
            let zone = zone_id.to_string();
            let from = start.take();
            let out = self
                .call("ListResourceRecordSets", |c| {
                    let mut req = c
                        .list_resource_record_sets()
                        .hosted_zone_id(&zone)
                        .max_items(300);
                    if let Some((name, rtype, id)) = from.clone() {
                        req = req
                            .start_record_name(name)
                            .set_start_record_type(rtype)
                            .set_start_record_identifier(id);
                    }
                    req.send()
                })
                .await?;
            pages += 1;
            sets.extend(out.resource_record_sets().iter().map(record_from));
            match (out.is_truncated(), out.next_record_name()) {
                (true, Some(n)) => {
                    start = Some((
                        n.to_string(),
                        out.next_record_type().cloned(),
                        out.next_record_identifier().map(str::to_string),
                    ))
                }
                _ => return Ok((sets, pages)),
            }
        }
    }

    /// Read one name on its own and put the answer into the zone's snapshot.
    async fn read_name_into_snapshot(
        &self,
        zone_id: &str,
        name: &str,
    ) -> R53Result<Vec<RecordSet>> {
        let read_at = Instant::now();
        let sets = self.list_record_sets(zone_id, name).await?;
        lock(&self.cache.snapshots).store_name(zone_id, name, &sets, read_at);
        Ok(sets)
    }

    /// Keep the inventory in step with our own writes; forget it when a write failed.
    async fn remember(&self, res: &R53Result<HealthCheck>) {
        let mut inv = self.cache.inventory.lock().await;
        match res {
            Ok(hc) => {
                inv.checks.insert(hc.id.clone(), hc.clone());
            }
            // A failed write may still have been committed (a lost answer, or a create whose tagging
            // failed): only a new listing knows.
            Err(_) => inv.fetched = None,
        }
    }
}

/// Route 53 lists in name order starting at the requested name: append the leading items named `want`
/// and say whether another name was reached, which ends the listing.
fn take_named<T>(
    items: impl IntoIterator<Item = T>,
    name: impl Fn(&T) -> &str,
    want: &str,
    out: &mut Vec<T>,
) -> bool {
    for item in items {
        if name(&item) != want {
            return true;
        }
        out.push(item);
    }
    false
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Route53 for AwsRoute53 {
    async fn list_record_sets(&self, zone_id: &str, name: &str) -> R53Result<Vec<RecordSet>> {
        let want = fqdn(name);
        let mut out_sets = Vec::new();
        let mut start: Option<(String, Option<t::RrType>, Option<String>)> =
            Some((want.clone(), None, None));
        while let Some((sname, stype, sid)) = start.take() {
            let zone = zone_id.to_string();
            let out = self
                .call("ListResourceRecordSets", |c| {
                    c.list_resource_record_sets()
                        .hosted_zone_id(&zone)
                        .start_record_name(&sname)
                        .set_start_record_type(stype.clone())
                        .set_start_record_identifier(sid.clone())
                        .max_items(100)
                        .send()
                })
                .await?;
            let past = take_named(
                out.resource_record_sets().iter().map(record_from),
                |r| &r.name,
                &want,
                &mut out_sets,
            );
            if !past && out.is_truncated() {
                if let Some(n) = out.next_record_name() {
                    start = Some((
                        n.to_string(),
                        out.next_record_type().cloned(),
                        out.next_record_identifier().map(str::to_string),
                    ));
                }
            }
        }
        Ok(out_sets)
    }

    async fn list_record_sets_cached(
        &self,
        zone_id: &str,
        name: &str,
    ) -> R53Result<Vec<RecordSet>> {
        let want = fqdn(name);
        let decision = lock(&self.cache.snapshots).lookup(zone_id, &want, Instant::now());
        match decision {
            Lookup::Hit(sets) => {
                self.metrics.snapshot_lookup("hit");
                Ok(sets)
            }
            Lookup::ReadName => {
                self.metrics.snapshot_lookup("read");
                self.read_name_into_snapshot(zone_id, &want).await
            }
            Lookup::ListZone => {
                {
                    let _one_listing = self.cache.zone_listing.lock().await;
                    if !lock(&self.cache.snapshots).is_fresh(zone_id, Instant::now()) {
                        self.metrics.snapshot_lookup("list");
                        let started = Instant::now();
                        let (sets, pages) = self.raw_list_zone(zone_id).await?;
                        lock(&self.cache.snapshots).store_listing(zone_id, sets, pages, started);
                    }
                }
                let again = lock(&self.cache.snapshots).lookup(zone_id, &want, Instant::now());
                match again {
                    Lookup::Hit(sets) => {
                        self.metrics.snapshot_lookup("hit");
                        Ok(sets)
                    }
                    _ => {
                        self.metrics.snapshot_lookup("read");
                        self.read_name_into_snapshot(zone_id, &want).await
                    }
                }
            }
        }
    }

    async fn change_record_sets(
        &self,
        zone_id: &str,
        comment: &str,
        changes: &[Change],
    ) -> R53Result<ChangeInfo> {
        let op = "ChangeResourceRecordSets";
        let mut sdk_changes = Vec::with_capacity(changes.len());
        for ch in changes {
            let action = match ch {
                Change::Create(_) => t::ChangeAction::Create,
                Change::Upsert(_) => t::ChangeAction::Upsert,
                Change::Delete(_) => t::ChangeAction::Delete,
            };
            sdk_changes.push(
                t::Change::builder()
                    .action(action)
                    .resource_record_set(record_to(ch.record())?)
                    .build()
                    .map_err(|e| build_err(op, e))?,
            );
        }
        let batch = t::ChangeBatch::builder()
            .comment(comment)
            .set_changes(Some(sdk_changes))
            .build()
            .map_err(|e| build_err(op, e))?;
        let zone_lock = self.budget.zone_lock(zone_id);
        let _serialised = zone_lock.lock().await;
        let zone = zone_id.to_string();
        let res = self
            .call(op, |c| {
                c.change_resource_record_sets()
                    .hosted_zone_id(&zone)
                    .change_batch(batch.clone())
                    .send()
            })
            .await;
        // Refused outright (Route 53 validated the batch and said no): nothing committed. Any other
        // failure may have committed (a lost answer), so its names are read again.
        let committed = match &res {
            Ok(_) => Some(true),
            Err(e)
                if matches!(
                    e.kind,
                    Route53ErrorKind::Conflict | Route53ErrorKind::Invalid
                ) =>
            {
                None
            }
            Err(_) => Some(false),
        };
        if let Some(committed) = committed {
            lock(&self.cache.snapshots).apply(zone_id, changes, committed, Instant::now());
        }
        let out = res?;
        change_info_answer(op, out.change_info())
    }

    async fn get_change(&self, id: &str) -> R53Result<ChangeInfo> {
        // A batched change is polled by every object in it: INSYNC is final and is remembered; a
        // PENDING answer serves the other objects' polls for `change_share`.
        let known = lock(&self.cache.changes).get(id).copied();
        match known {
            Some((_, true)) => {
                return Ok(ChangeInfo {
                    id: id.to_string(),
                    insync: true,
                });
            }
            Some((at, false)) if at.elapsed() < self.change_share => {
                return Ok(ChangeInfo {
                    id: id.to_string(),
                    insync: false,
                });
            }
            _ => {}
        }
        let info = self.raw_get_change(id).await?;
        let mut changes = lock(&self.cache.changes);
        if changes.len() >= CHANGE_CACHE_LIMIT {
            changes.clear();
        }
        changes.insert(info.id.clone(), (Instant::now(), info.insync));
        Ok(info)
    }

    async fn get_hosted_zone(&self, id: &str) -> R53Result<Option<Zone>> {
        let cached = || {
            lock(&self.cache.zones_by_id)
                .get(id)
                .filter(|(at, _)| self.cache.fresh(*at))
                .map(|(_, z)| z.clone())
        };
        if let Some(z) = cached() {
            return Ok(z);
        }
        let _one_lookup = self.cache.zone_lookup.lock().await;
        if let Some(z) = cached() {
            return Ok(z);
        }
        let z = self.raw_get_hosted_zone(id).await?;
        // "Not found" is not cached: the controller re-checks a missing zone on its own schedule
        // (`--slow-retry-interval`), and the next look must ask Route 53.
        if z.is_some() {
            lock(&self.cache.zones_by_id).insert(id.to_string(), (Instant::now(), z.clone()));
        }
        Ok(z)
    }

    async fn find_hosted_zones(&self, name: &str) -> R53Result<Vec<Zone>> {
        let key = fqdn(name);
        let cached = || {
            lock(&self.cache.zones_by_name)
                .get(&key)
                .filter(|(at, _)| self.cache.fresh(*at))
                .map(|(_, z)| z.clone())
        };
        if let Some(z) = cached() {
            return Ok(z);
        }
        let _one_lookup = self.cache.zone_lookup.lock().await;
        if let Some(z) = cached() {
            return Ok(z);
        }
        let z = self.raw_find_hosted_zones(&key).await?;
        if !z.is_empty() {
            lock(&self.cache.zones_by_name).insert(key, (Instant::now(), z.clone()));
        }
        Ok(z)
    }

    async fn list_health_checks(&self, prefix: &str) -> R53Result<Vec<HealthCheck>> {
        self.owned_from_inventory(prefix, false).await
    }

    async fn list_health_checks_fresh(&self, prefix: &str) -> R53Result<Vec<HealthCheck>> {
        self.owned_from_inventory(prefix, true).await
    }

    async fn get_health_check(&self, id: &str) -> R53Result<Option<HealthCheck>> {
        let hc_id = id.to_string();
        match self
            .call("GetHealthCheck", |c| {
                c.get_health_check().health_check_id(&hc_id).send()
            })
            .await
        {
            Ok(out) => Ok(out.health_check().map(health_check_from)),
            Err(e) if e.kind == Route53ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_health_check_cached(&self, id: &str) -> R53Result<Option<HealthCheck>> {
        {
            let inv = self.cache.inventory.lock().await;
            let fresh = inv
                .fetched
                .is_some_and(|at| at.elapsed() < self.cache.inventory_ttl);
            if let Some(hc) = inv.checks.get(id).filter(|_| fresh) {
                return Ok(Some(hc.clone()));
            }
        }
        self.get_health_check(id).await
    }

    async fn create_health_check(
        &self,
        caller_reference: &str,
        config: &HealthCheckConfig,
        tags: &[(String, String)],
    ) -> R53Result<HealthCheck> {
        let res = self
            .raw_create_health_check(caller_reference, config, tags)
            .await;
        self.remember(&res).await;
        res
    }

    async fn update_health_check(
        &self,
        id: &str,
        version: i64,
        config: &HealthCheckConfig,
    ) -> R53Result<HealthCheck> {
        let res = self.raw_update_health_check(id, version, config).await;
        self.remember(&res).await;
        res
    }

    async fn delete_health_check(&self, id: &str) -> R53Result<()> {
        self.raw_delete_health_check(id).await?;
        self.cache.inventory.lock().await.checks.remove(id);
        Ok(())
    }

    async fn health_check_tags(
        &self,
        ids: &[String],
    ) -> R53Result<HashMap<String, Vec<(String, String)>>> {
        let mut out = HashMap::new();
        // ListTagsForResources takes at most 10 resource ids.
        for chunk in ids.chunks(10) {
            let chunk = chunk.to_vec();
            let res = self
                .call("ListTagsForResources", |c| {
                    c.list_tags_for_resources()
                        .resource_type(t::TagResourceType::Healthcheck)
                        .set_resource_ids(Some(chunk.clone()))
                        .send()
                })
                .await?;
            for set in res.resource_tag_sets() {
                let Some(id) = set.resource_id() else {
                    continue;
                };
                let tags = set
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect();
                out.insert(id.to_string(), tags);
            }
        }
        Ok(out)
    }

    async fn tag_health_check(&self, id: &str, tags: &[(String, String)]) -> R53Result<()> {
        self.raw_tag_health_check(id, tags).await
    }
}
