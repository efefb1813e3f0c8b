//! The local Route 53 double (`tests/world/r53_server.py`: moto + shim) and AWS SDK clients for it.
//!
//! Each [`R53World`] is its own server process on an OS-chosen loopback port, killed on drop.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_route53::config::retry::RetryConfig;
use aws_sdk_route53::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_route53::error::ProvideErrorMetadata;
use aws_sdk_route53::types as sdk;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use route53_failover_operator::crd::HealthCheckType;
use route53_failover_operator::route53::HealthCheckConfig;

use super::{Proc, http, spawn_world_server};

/// The public address the endpoint checks of the tests check (routed to loopback backends).
pub const PUBLIC: &str = "52.94.76.10";

/// A TCP check of [`PUBLIC`]:`port` that flips fast: RequestInterval 10, FailureThreshold 1.
pub fn tcp(port: i32) -> HealthCheckConfig {
    HealthCheckConfig {
        check_type: HealthCheckType::TCP,
        ip_address: Some(PUBLIC.into()),
        fqdn: None,
        port,
        resource_path: None,
        search_string: None,
        request_interval: 10,
        failure_threshold: 1,
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

/// A running Route 53 double.
pub struct R53World {
    proc: Proc,
    port: u16,
    dir: tempfile::TempDir,
}

/// The HTTP client the operator uses: hyper 1 + rustls on ring.
pub fn http_client() -> aws_sdk_route53::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// CreateHealthCheck of `cfg` under `reference` through the SDK: the new check's id, or the error
/// as `Code: message`.
pub async fn try_create_hc(
    c: &aws_sdk_route53::Client,
    reference: &str,
    cfg: sdk::HealthCheckConfig,
) -> Result<String, String> {
    c.create_health_check()
        .caller_reference(reference)
        .health_check_config(cfg)
        .send()
        .await
        .map(|o| o.health_check().expect("health check").id().to_string())
        .map_err(|e| {
            format!(
                "{}: {}",
                e.code().unwrap_or("<none>"),
                e.message().unwrap_or("")
            )
        })
}

/// [`try_create_hc`] that must succeed: the new check's id.
pub async fn create_hc(
    c: &aws_sdk_route53::Client,
    reference: &str,
    cfg: sdk::HealthCheckConfig,
) -> String {
    try_create_hc(c, reference, cfg)
        .await
        .unwrap_or_else(|e| panic!("CreateHealthCheck: {e}"))
}

/// GetHealthCheck through the SDK: the check's config.
pub async fn hc_config(c: &aws_sdk_route53::Client, id: &str) -> sdk::HealthCheckConfig {
    c.get_health_check()
        .health_check_id(id)
        .send()
        .await
        .expect("GetHealthCheck")
        .health_check()
        .and_then(|h| h.health_check_config())
        .cloned()
        .expect("HealthCheckConfig")
}

/// GetHealthCheckStatus through the SDK: every checker's observation.
pub async fn hc_observations(
    c: &aws_sdk_route53::Client,
    id: &str,
) -> Vec<sdk::HealthCheckObservation> {
    c.get_health_check_status()
        .health_check_id(id)
        .send()
        .await
        .expect("GetHealthCheckStatus")
        .health_check_observations()
        .to_vec()
}

impl R53World {
    /// Health checks probe 20x faster than configured (`--hc-scale 0.05`); changes stay PENDING 1 s.
    pub fn start() -> R53World {
        R53World::start_with(&["--hc-scale", "0.05", "--change-delay", "1"], &[])
    }

    /// Start with extra CLI `args` (after `--host/--port/--port-file`) and environment.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> R53World {
        let dir = tempfile::tempdir().expect("tempdir");
        let (proc, port) = spawn_world_server("r53_server.py", args, env, dir.path());
        R53World { proc, port, dir }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Scratch directory of this world (server log: `r53_server.py.log`).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Server log so far (for assertion messages).
    pub fn log(&self) -> String {
        self.proc.log_text()
    }

    /// A client with static test credentials in us-east-1 and the SDK's default retry policy.
    /// Everything else comes from the standard AWS environment (e.g. `AWS_MAX_ATTEMPTS`).
    pub async fn client(&self) -> aws_sdk_route53::Client {
        self.build_client(None).await
    }

    /// As [`R53World::client`], but with `n` attempts per call (1 = no retries).
    pub async fn client_max_attempts(&self, n: u32) -> aws_sdk_route53::Client {
        self.build_client(Some(n)).await
    }

    async fn build_client(&self, attempts: Option<u32>) -> aws_sdk_route53::Client {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "r53-world",
            ))
            .http_client(http_client());
        if let Some(n) = attempts {
            loader = loader.retry_config(RetryConfig::standard().with_max_attempts(n));
        }
        aws_sdk_route53::Client::new(&loader.load().await)
    }

    /// A CloudWatch client for the double's port (its AWS/Route53 health-check metrics), with the
    /// same static credentials, us-east-1 and `n` attempts per call (1 = no retries). The operator's
    /// own client is configured only by the environment: see [`R53World::aws_env`].
    pub async fn cloudwatch_client(&self, attempts: u32) -> aws_sdk_cloudwatch::Client {
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "r53-world",
            ))
            .http_client(http_client())
            .retry_config(RetryConfig::standard().with_max_attempts(attempts))
            .load()
            .await;
        aws_sdk_cloudwatch::Client::new(&conf)
    }

    /// The environment a spawned operator process needs to reach this world (Route 53, and
    /// CloudWatch for the health checks' AWS/Route53 metrics).
    pub fn aws_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL_ROUTE_53", self.endpoint()),
            ("AWS_ENDPOINT_URL_CLOUDWATCH", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The test `name` of the running test binary as a child process whose AWS settings are
    /// exactly `env` (no AWS_* variable, config or credentials file of this process leaks in).
    pub fn child_test(&self, name: &str, env: Vec<(String, String)>) -> std::process::Command {
        let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
        cmd.args([name, "--exact", "--nocapture", "--test-threads=1"]);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
            cmd.env_remove(k);
        }
        cmd.envs(env)
            .env("AWS_CONFIG_FILE", self.dir().join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir().join("no-aws-credentials"),
            );
        cmd
    }

    fn control(&self, method: &str, path: &str, body: Option<&str>) -> serde_json::Value {
        let (status, text) = http(method, self.port, path, body);
        assert_eq!(status, 200, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: bad JSON ({e}): {text}"))
    }

    /// `{"requests": {Op: n}, "throttled": {Op: n}, "faults": {Op: n}}`.
    pub fn counters(&self) -> serde_json::Value {
        self.control("GET", "/_world/counters", None)
    }

    /// `counters()[kind][op]`, 0 when absent.
    pub fn counter(&self, kind: &str, op: &str) -> u64 {
        self.counters()[kind][op].as_u64().unwrap_or(0)
    }

    /// The double's request log: `[{"time": unix seconds, "operation", "access_key"}, ...]`.
    pub fn request_log(&self) -> Vec<serde_json::Value> {
        self.control("GET", "/_world/requests", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// For every (name, type) a committed ChangeResourceRecordSets touched, in commit order: the
    /// sets left and what a resolver would get (`answer`, null when nothing answers), from
    /// `GET /_world/answers`.
    pub fn answers(&self) -> Vec<serde_json::Value> {
        self.control("GET", "/_world/answers", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn reset_answers(&self) {
        self.control("POST", "/_world/answers/reset", Some("{}"));
    }

    pub fn reset_counters(&self) {
        self.control("POST", "/_world/counters/reset", Some("{}"));
    }

    /// Partial update of quota / faults / hc_scale / change_delay; returns the new settings.
    pub fn configure(&self, cfg: serde_json::Value) -> serde_json::Value {
        self.control("POST", "/_world/config", Some(&cfg.to_string()))
    }

    /// Seconds between two datapoints of each check's CloudWatch metrics (`None`: back to the
    /// default, 60 x hc_scale, one per scaled minute).
    pub fn set_metric_period(&self, seconds: Option<f64>) {
        self.configure(serde_json::json!({ "metric_period": seconds }));
    }

    pub fn config(&self) -> serde_json::Value {
        self.control("GET", "/_world/config", None)
    }

    /// Every health check ever created: id, CallerReference, config, status, deleted flag.
    pub fn health_checks(&self) -> serde_json::Value {
        self.control("GET", "/_world/healthchecks", None)
    }

    /// Make the given checker regions report failure for health check `id` (empty = clear).
    pub fn force_failing_checkers(&self, id: &str, regions: &[&str]) {
        let body = serde_json::json!({"id": id, "failing_regions": regions});
        self.control("POST", "/_world/checkers", Some(&body.to_string()));
    }

    /// Merge one route into the double's routing table (`POST /_world/routes`): probes of `addr`
    /// (an IP or FQDN, optionally `:port`, `[v6]:port`) connect to `to` (`"127.0.0.1"` keeps the
    /// check's port, `"127.0.0.1:41234"` replaces it). Targets must be loopback addresses.
    pub fn route(&self, addr: &str, to: &str) {
        self.routes(&[(addr, to)]);
    }

    /// Merge several routes at once (see [`R53World::route`]); returns the whole table.
    pub fn routes(&self, map: &[(&str, &str)]) -> serde_json::Value {
        let routes: serde_json::Map<String, serde_json::Value> = map
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        let body = serde_json::json!({ "routes": routes });
        self.control("POST", "/_world/routes", Some(&body.to_string()))["routes"].clone()
    }

    /// Replace the whole routing table (`PUT /_world/routes`); returns it.
    pub fn set_routes(&self, map: &[(&str, &str)]) -> serde_json::Value {
        let routes: serde_json::Map<String, serde_json::Value> = map
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        let body = serde_json::json!({ "routes": routes });
        self.control("PUT", "/_world/routes", Some(&body.to_string()))["routes"].clone()
    }

    /// The routing table (`GET /_world/routes`), as `{"<addr>[:port]": "127.0.0.1[:port]"}`.
    pub fn route_table(&self) -> serde_json::Value {
        self.control("GET", "/_world/routes", None)["routes"].clone()
    }

    /// What Route 53 would answer now for `name`/`rtype` in `zone`, health included
    /// (`GET /_world/resolve`): `{"role": "PRIMARY"|"SECONDARY"|null, "answer": [...], "healthy",
    /// "records": [...]}`.
    pub fn resolve(&self, zone: &str, name: &str, rtype: &str) -> serde_json::Value {
        self.control(
            "GET",
            &format!("/_world/resolve?zone={zone}&name={name}&type={rtype}"),
            None,
        )
    }

    /// The failover role Route 53 would answer with now (see [`R53World::resolve`]).
    pub fn answering_role(&self, zone: &str, name: &str, rtype: &str) -> Option<String> {
        self.resolve(zone, name, rtype)["role"]
            .as_str()
            .map(str::to_string)
    }

    /// Set the health EvaluateTargetHealth sees for an alias target outside the zone (an ELB
    /// name, say): `POST /_world/targets`.
    pub fn set_target_health(&self, dns_name: &str, healthy: bool) {
        let body = serde_json::json!({"dnsName": dns_name, "healthy": healthy});
        self.control("POST", "/_world/targets", Some(&body.to_string()));
    }

    /// Create a public hosted zone; returns its id without the `/hostedzone/` prefix.
    pub async fn create_zone(&self, name: &str) -> String {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let reference = format!("zone-{name}-{}", SEQ.fetch_add(1, Ordering::Relaxed));
        let out = self
            .client()
            .await
            .create_hosted_zone()
            .name(name)
            .caller_reference(reference)
            .send()
            .await
            .expect("CreateHostedZone");
        let id = out.hosted_zone().expect("zone").id();
        id.trim_start_matches("/hostedzone/").to_string()
    }
}
