//! The real Route 53 adapter (`AwsRoute53`) against the local Route 53 double: normalisation, paging,
//! error classification, the shared caches and the API budget.

mod support;

use std::sync::Arc;
use std::time::Duration;

use route53_failover_operator::Error;
use route53_failover_operator::crd::{FailoverRecordSpec, FailoverRecordStatus};
use route53_failover_operator::crd::{Health, Role};
use route53_failover_operator::health::{HealthSource, Reading};
use route53_failover_operator::metrics::Metrics;
use route53_failover_operator::reconcile::{self, SyncInput, SyncOutcome};
use route53_failover_operator::route53::aws::AwsRoute53;
use route53_failover_operator::route53::batch::Batched;
use route53_failover_operator::route53::budget::Budget;
use route53_failover_operator::route53::{
    Alias, Change, HealthCheckConfig, RecordSet, Route53, Route53ErrorKind,
};
use route53_failover_operator::status::next_status;
use route53_failover_operator::telemetry;
use std::collections::HashMap;
use support::r53::{PUBLIC, R53World, tcp};

async fn adapter(w: &R53World, rate: f64) -> (AwsRoute53, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    let a = AwsRoute53::new(
        w.client().await,
        Arc::new(Budget::new(rate, rate.max(1.0))),
        metrics.clone(),
    );
    (a, metrics)
}

fn a_record(name: &str, set_id: &str, role: Role, value: &str, hc: Option<String>) -> RecordSet {
    RecordSet {
        name: name.into(),
        rtype: "A".into(),
        set_identifier: Some(set_id.into()),
        failover: Some(role),
        ttl: Some(60),
        values: vec![value.into()],
        alias: None,
        health_check_id: hc,
    }
}

#[tokio::test]
async fn zones_are_found_by_name_and_id_and_cached() {
    let w = R53World::start();
    let id = w.create_zone("example.test").await;
    w.create_zone("example2.test").await;
    w.create_zone("aaa.test").await;
    let (a, _) = adapter(&w, 0.0).await;
    let zones = a.find_hosted_zones("Example.Test").await.expect("find");
    assert_eq!(zones.len(), 1);
    assert_eq!(
        (zones[0].id.as_str(), zones[0].name.as_str()),
        (id.as_str(), "example.test.")
    );
    assert!(
        a.find_hosted_zones("nothere.test")
            .await
            .expect("find")
            .is_empty()
    );
    assert_eq!(
        a.get_hosted_zone(&id).await.expect("get").map(|z| z.name),
        Some("example.test.".into())
    );
    assert_eq!(
        a.get_hosted_zone("ZNOPE123")
            .await
            .expect("missing is None"),
        None
    );
    w.reset_counters();
    for _ in 0..5 {
        a.find_hosted_zones("example.test").await.expect("find");
        a.get_hosted_zone(&id).await.expect("get");
    }
    assert_eq!(w.counter("requests", "ListHostedZonesByName"), 0, "cached");
    assert_eq!(w.counter("requests", "GetHostedZone"), 0, "cached");
    // Concurrent reconciles on a cold cache share one lookup.
    let (cold, _) = adapter(&w, 0.0).await;
    let cold = Arc::new(cold);
    let lookups: Vec<_> = (0..10)
        .map(|_| {
            let a = cold.clone();
            tokio::spawn(async move { a.find_hosted_zones("example.test").await })
        })
        .collect();
    for l in lookups {
        assert_eq!(l.await.expect("join").expect("find").len(), 1);
    }
    assert_eq!(
        w.counter("requests", "ListHostedZonesByName"),
        1,
        "one lookup"
    );
}

#[tokio::test]
async fn record_sets_round_trip_normalised_and_paged() {
    let w = R53World::start();
    let zone = w.create_zone("example.test").await;
    let (a, _) = adapter(&w, 0.0).await;
    let hc = a
        .create_health_check("ref-p", &tcp(1), &[])
        .await
        .expect("hc");
    let p = a_record(
        "app.example.test.",
        "o:u:primary",
        Role::Primary,
        "52.94.76.1",
        Some(hc.id.clone()),
    );
    let s = RecordSet {
        alias: Some(Alias {
            dns_name: "other.example.test.".into(),
            hosted_zone_id: zone.clone(),
            evaluate_target_health: true,
        }),
        ttl: None,
        values: Vec::new(),
        ..a_record(
            "app.example.test.",
            "o:u:secondary",
            Role::Secondary,
            "",
            None,
        )
    };
    let other = a_record(
        "other.example.test.",
        "x",
        Role::Secondary,
        "52.94.76.9",
        None,
    );
    let info = a
        .change_record_sets(
            &zone,
            "test",
            &[
                Change::Create(other.clone()),
                Change::Create(p.clone()),
                Change::Create(s.clone()),
            ],
        )
        .await
        .expect("create");
    assert!(!info.insync, "PENDING first");
    // 150 unrelated names sort before ours: paging has to walk past them, and stop at ours.
    let mut filler = Vec::new();
    for i in 0..150 {
        filler.push(Change::Create(RecordSet {
            set_identifier: None,
            failover: None,
            ..a_record(
                &format!("aaa{i:03}.example.test."),
                "",
                Role::Primary,
                "52.94.76.5",
                None,
            )
        }));
    }
    a.change_record_sets(&zone, "filler", &filler)
        .await
        .expect("filler");
    let got = a
        .list_record_sets(&zone, "APP.example.test")
        .await
        .expect("list");
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.contains(&p), "{got:?}");
    let gs = got
        .iter()
        .find(|r| r.failover == Some(Role::Secondary))
        .expect("s");
    assert_eq!(
        gs.alias, s.alias,
        "alias normalised (trailing dot, bare zone id)"
    );
    // Exact-match DELETE with the values read back.
    a.change_record_sets(
        &zone,
        "delete",
        &[
            Change::Delete(got[0].clone()),
            Change::Delete(got[1].clone()),
        ],
    )
    .await
    .expect("delete exact");
    assert!(
        a.list_record_sets(&zone, "app.example.test")
            .await
            .expect("list")
            .is_empty()
    );
    // CREATE of an existing set is a conflict.
    let err = a
        .change_record_sets(&zone, "again", &[Change::Create(other)])
        .await
        .expect_err("exists");
    assert_eq!(err.kind, Route53ErrorKind::Conflict);
    assert!(err.message.contains("already exists"), "{err}");
    // GetChange reaches INSYNC.
    support::eventually(
        "INSYNC",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || async { a.get_change(&info.id).await.ok().filter(|c| c.insync) },
    )
    .await;
}

#[tokio::test]
async fn health_check_inventory_is_listed_once_and_kept_in_step() {
    let w = R53World::start();
    let (a, _) = adapter(&w, 0.0).await;
    let one = a
        .create_health_check("frec1-uid-a-p-1", &tcp(1), &[("k".into(), "v".into())])
        .await
        .expect("create");
    let again = a
        .create_health_check("frec1-uid-a-p-1", &tcp(1), &[])
        .await
        .expect("idempotent");
    assert_eq!(one.id, again.id);
    let err = a
        .create_health_check("frec1-uid-a-p-1", &tcp(2), &[])
        .await
        .expect_err("other settings");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (Route53ErrorKind::Conflict, "HealthCheckAlreadyExists")
    );
    a.create_health_check("frec1-uid-b-p-1", &tcp(3), &[])
        .await
        .expect("b");
    a.create_health_check("someone-else", &tcp(4), &[])
        .await
        .expect("foreign");
    w.reset_counters();
    let mine = a.list_health_checks("frec1-uid-a-").await.expect("list");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].config.as_ref().map(|c| c.port), Some(1));
    assert_eq!(
        a.list_health_checks("frec1-uid-b-")
            .await
            .expect("list")
            .len(),
        1
    );
    assert_eq!(
        w.counter("requests", "ListHealthChecks"),
        1,
        "one listing serves every object"
    );
    // Our own writes keep the cached inventory right without listing again.
    let updated = a
        .update_health_check(&mine[0].id, mine[0].version, &tcp(9))
        .await
        .expect("update");
    assert_eq!(updated.version, mine[0].version + 1);
    assert_eq!(
        a.list_health_checks("frec1-uid-a-").await.expect("list")[0]
            .config
            .as_ref()
            .map(|c| c.port),
        Some(9)
    );
    a.delete_health_check(&mine[0].id).await.expect("delete");
    a.delete_health_check(&mine[0].id)
        .await
        .expect("deleting a missing check is not an error");
    assert!(
        a.list_health_checks("frec1-uid-a-")
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(w.counter("requests", "ListHealthChecks"), 1);
    // A stale version is a conflict.
    let b = a
        .list_health_checks("frec1-uid-b-")
        .await
        .expect("list")
        .remove(0);
    let err = a
        .update_health_check(&b.id, b.version + 5, &tcp(8))
        .await
        .expect_err("stale");
    assert_eq!(err.code, "HealthCheckVersionMismatch");
}

/// `existingHealthCheckId`: a check made elsewhere that many records share is found in the inventory
/// that the objects' own listings keep, not read with one GetHealthCheck per reconcile; a check the
/// inventory does not list (made since, or never) is still asked of Route 53.
#[tokio::test]
async fn an_existing_check_listed_in_the_inventory_is_not_read_again() {
    let w = R53World::start();
    let (a, _) = adapter(&w, 0.0).await;
    let shared = a
        .create_health_check("made-elsewhere", &tcp(5), &[])
        .await
        .expect("create");
    // A listing of our own checks (as every survey makes) fills the inventory of the account.
    assert!(
        a.list_health_checks("frec1-uid-x-")
            .await
            .expect("list")
            .is_empty()
    );
    w.reset_counters();
    for _ in 0..50 {
        let hc = a.get_health_check_cached(&shared.id).await.expect("read");
        assert_eq!(hc.map(|h| h.id), Some(shared.id.clone()));
    }
    assert_eq!(w.counter("requests", "GetHealthCheck"), 0);
    // Not in the inventory: Route 53 answers, absent or present.
    assert_eq!(
        a.get_health_check_cached("00000000-0000-0000-0000-000000000000")
            .await
            .expect("read"),
        None
    );
    assert_eq!(w.counter("requests", "GetHealthCheck"), 1);
    let other = w
        .client()
        .await
        .create_health_check()
        .caller_reference("made-after-the-listing")
        .health_check_config(
            aws_sdk_route53::types::HealthCheckConfig::builder()
                .r#type(aws_sdk_route53::types::HealthCheckType::Tcp)
                .ip_address(PUBLIC)
                .port(6)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("create behind the adapter's back");
    let id = other
        .health_check()
        .map(|h| h.id().to_string())
        .expect("id");
    assert!(
        a.get_health_check_cached(&id)
            .await
            .expect("read")
            .is_some()
    );
    assert_eq!(w.counter("requests", "GetHealthCheck"), 2);
}

#[tokio::test]
async fn a_private_health_check_address_is_invalid_input() {
    let w = R53World::start();
    let (a, _) = adapter(&w, 0.0).await;
    for ip in ["10.1.2.3", "127.0.0.1", "fd00::1"] {
        let cfg = HealthCheckConfig {
            ip_address: Some(ip.into()),
            ..tcp(443)
        };
        let err = a
            .create_health_check(&format!("private-{ip}"), &cfg, &[])
            .await
            .expect_err(ip);
        assert_eq!(
            (err.kind, err.code.as_str()),
            (Route53ErrorKind::Invalid, "InvalidInput"),
            "{ip}: {err:?}"
        );
    }
}

#[tokio::test]
async fn health_status_comes_from_real_probes() {
    let w = R53World::start();
    let dir = tempfile::tempdir().expect("tmp");
    let mut backend = support::Backend::start(dir.path());
    w.route(PUBLIC, "127.0.0.1");
    let (a, _) = adapter(&w, 0.0).await;
    let hc = a
        .create_health_check("ref", &tcp(i32::from(backend.port)), &[])
        .await
        .expect("hc");
    support::eventually(
        "healthy",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let obs = a.health_status(&hc.id).await.expect("status");
            (!obs.is_empty() && obs.iter().all(|o| o.healthy)).then_some(())
        },
    )
    .await;
    backend.kill();
    support::eventually(
        "unhealthy",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let obs = a.health_status(&hc.id).await.expect("status");
            obs.iter()
                .all(|o| !o.healthy && o.report.starts_with("Failure"))
                .then_some(())
        },
    )
    .await;
    // As a health source: one check per call, Route 53's aggregate, and Missing once deleted.
    assert_eq!(a.batch_limit(), 1);
    let read = a.read(std::slice::from_ref(&hc.id)).await.expect("read");
    match read.get(&hc.id) {
        Some(Reading::Health(h)) => assert_eq!(h.health, Health::Unhealthy, "{h:?}"),
        other => panic!("{other:?}"),
    }
    a.delete_health_check(&hc.id).await.expect("delete");
    let read = a.read(std::slice::from_ref(&hc.id)).await.expect("read");
    assert_eq!(read.get(&hc.id), Some(&Reading::Missing));
}

#[tokio::test]
async fn budget_keeps_a_burst_under_the_account_quota() {
    let w = R53World::start();
    w.configure(serde_json::json!({"quota": {"rate": 5, "burst": 5}}));
    let (a, metrics) = adapter(&w, 4.0).await;
    let a = Arc::new(a);
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move { a.get_change("C123NOPE").await }));
    }
    for t in tasks {
        let err = t.await.expect("join").expect_err("no such change");
        assert_eq!(err.kind, Route53ErrorKind::NotFound, "{err}");
    }
    assert_eq!(w.counter("throttled", "GetChange"), 0, "{}", w.counters());
    let mut text = String::new();
    let mut reg = prometheus_client::registry::Registry::default();
    metrics.register(&mut reg);
    prometheus_client::encoding::text::encode(&mut text, &reg).expect("encode");
    assert!(text.contains("route53_failover_route53_requests_total{operation=\"GetChange\",outcome=\"not_found\"} 12"), "{text}");
}

#[tokio::test]
async fn throttling_is_classified() {
    let w = R53World::start();
    w.configure(serde_json::json!({"quota": {"rate": 0.1, "burst": 1}}));
    let metrics = Arc::new(Metrics::default());
    let a = AwsRoute53::new(
        w.client_max_attempts(1).await,
        Arc::new(Budget::new(0.0, 1.0)),
        metrics,
    );
    let _ = a.get_change("C1").await;
    let err = a.get_change("C1").await.expect_err("throttled");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (Route53ErrorKind::Throttled, "Throttling")
    );
    assert!(err.is_retryable());
}

/// A `MakeWriter` collecting log lines in memory.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// Debug logs of a few SDK calls with credentials whose access key id is `key`, through `filter`.
async fn sdk_debug_logs(
    endpoint: &str,
    key: &str,
    filter: tracing_subscriber::EnvFilter,
) -> String {
    use aws_sdk_route53::config::{BehaviorVersion, Credentials, Region};
    let out = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(out.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(key, "secret", None, None, "test"))
        .http_client(support::r53::http_client())
        .load()
        .await;
    let a = AwsRoute53::new(
        aws_sdk_route53::Client::new(&conf),
        Arc::new(Budget::new(0.0, 1.0)),
        Arc::new(Metrics::default()),
    );
    for _ in 0..2 {
        let _ = a.get_change("C1").await;
    }
    out.text()
}

/// Run in a child process of its own: `tracing` caches each log site's interest per process, so a
/// test running at the same time in another thread without a subscriber can silence the SDK's
/// debug logs here (it made this test flaky).
#[tokio::test]
async fn debug_logging_never_shows_the_access_key_id() {
    let w = R53World::start();
    let mut cmd = w.child_test("debug_logging_child", w.aws_env());
    cmd.env("R53_DEBUG_LOG_CHILD", w.endpoint());
    let out = cmd.output().expect("run child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The child of [`debug_logging_never_shows_the_access_key_id`] (does nothing unless run as that
/// child).
#[tokio::test(flavor = "current_thread")]
async fn debug_logging_child() {
    let Some(endpoint) = std::env::var_os("R53_DEBUG_LOG_CHILD") else {
        return;
    };
    let endpoint = endpoint.to_string_lossy().to_string();
    let w = &endpoint;
    let key = "AKIATESTKEYID0000042";
    let raw = sdk_debug_logs(w, key, tracing_subscriber::EnvFilter::new("trace")).await;
    assert!(
        raw.contains(key),
        "the unfiltered SDK logs the key id (else this test proves nothing)"
    );
    for level in ["debug", "trace"] {
        let logs = sdk_debug_logs(w, key, telemetry::filter(level)).await;
        assert!(!logs.contains(key), "{level}: {logs}");
        assert!(logs.contains("Route 53 call failed"), "{level}: {logs}");
    }
}

#[tokio::test]
async fn a_missing_zone_is_not_cached() {
    let w = R53World::start();
    let (a, _) = adapter(&w, 0.0).await;
    assert!(
        a.find_hosted_zones("late.test")
            .await
            .expect("find")
            .is_empty()
    );
    assert_eq!(a.get_hosted_zone("ZLATE00001").await.expect("get"), None);
    // Created after the first look: found at the very next look, not after a cache TTL, so the
    // controller's --slow-retry-interval alone decides when a missing zone is re-checked.
    let id = w.create_zone("late.test").await;
    assert_eq!(
        a.find_hosted_zones("late.test").await.expect("find").len(),
        1
    );
    assert!(a.get_hosted_zone(&id).await.expect("get").is_some());
    w.reset_counters();
    a.find_hosted_zones("late.test").await.expect("find");
    assert_eq!(
        w.counter("requests", "ListHostedZonesByName"),
        0,
        "found zones stay cached"
    );
}

// ----- the reconcile pipeline through the real adapter -------------------------------------------

const OWNER: &str = "adapter-test";

/// One FailoverRecord's Route 53 side, its status carried from sync to sync as the controller does.
struct Obj {
    uid: String,
    object_ref: String,
    spec: FailoverRecordSpec,
    status: Option<FailoverRecordStatus>,
}

impl Obj {
    fn new(i: usize, object_ref: &str, name: &str) -> Obj {
        let yaml = format!(
            r#"
hostedZone: {{name: example.test}}
name: {name}
type: A
primary:
  values: ["52.94.76.31"]
  healthCheck: {{type: TCP, port: 1, requestInterval: 10}}
secondary:
  values: ["52.94.76.32"]
  healthCheck: {{type: TCP, port: 2, requestInterval: 10}}
"#
        );
        Obj {
            uid: format!("0b6a6f2c-8a43-4c1e-9d7a-{i:012}"),
            object_ref: object_ref.to_string(),
            spec: serde_yaml::from_str(&yaml).expect("spec"),
            status: None,
        }
    }

    async fn sync(&mut self, a: &AwsRoute53, full: bool) -> SyncOutcome {
        // These tests are about records and checks under faults; health comes from the monitor,
        // which is tested on its own.
        self.sync_seeing(a, full, &HashMap::new()).await
    }

    /// Create, then sync until Ready (the change INSYNC).
    async fn create_and_settle(&mut self, a: &AwsRoute53) {
        self.sync(a, true).await.result.expect("create");
        for _ in 0..50 {
            if self.ready().0 == "True" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.sync(a, true).await.result.expect("settle");
        }
        assert_eq!(self.ready(), ("True".into(), "Synced".into()));
    }

    /// A sync that sees these health readings.
    async fn sync_seeing(
        &mut self,
        a: &AwsRoute53,
        full: bool,
        health: &HashMap<String, Reading>,
    ) -> SyncOutcome {
        let out = reconcile::sync(
            a,
            SyncInput {
                owner: OWNER,
                uid: &self.uid,
                generation: 1,
                object_ref: &self.object_ref,
                spec: &self.spec,
                status: self.status.as_ref(),
                full,
                check_tags: full,
                health,
            },
        )
        .await;
        if let Some(obs) = &out.observation {
            self.status = Some(next_status(
                self.status.as_ref(),
                obs,
                k8s_openapi::jiff::Timestamp::now(),
                std::time::Duration::from_secs(300),
            ));
        }
        out
    }

    fn ready(&self) -> (String, String) {
        let c = route53_failover_operator::status::find_condition(
            self.status.as_ref(),
            route53_failover_operator::status::READY,
        )
        .expect("Ready");
        (c.status.clone(), c.reason.clone())
    }

    /// The finalizer: cleanup retried until it succeeds.
    async fn delete(&self, a: &AwsRoute53) {
        let mut last = None;
        let mut pending: Option<String> = None;
        for _ in 0..40 {
            match reconcile::cleanup(
                a,
                OWNER,
                &self.uid,
                1,
                &self.spec,
                self.status.as_ref(),
                pending.as_deref(),
            )
            .await
            {
                Ok(_) => return,
                Err(e) => {
                    // As the controller does: a DELETE still propagating is waited for next time.
                    if let Error::ChangePending { change_id, .. } = &e {
                        pending = Some(change_id.clone());
                    }
                    last = Some(e);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("cleanup of {} never succeeded: {last:?}", self.uid);
    }
}

/// Live health checks the operator created (CallerReference `frec1-`), from the double's own view.
fn live_operator_checks(w: &R53World) -> Vec<serde_json::Value> {
    w.health_checks()
        .as_array()
        .expect("list")
        .iter()
        .filter(|h| !h["deleted"].as_bool().unwrap_or(false))
        .filter(|h| {
            h["CallerReference"]
                .as_str()
                .is_some_and(|r| r.starts_with("frec1-"))
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn long_kubernetes_names_fit_route53_comment_and_tag_limits() {
    let w = R53World::start();
    let zone = w.create_zone("example.test").await;
    let (a, _) = adapter(&w, 0.0).await;
    // The double refuses what Route 53 refuses.
    let err = a
        .create_health_check("ref-long", &tcp(1), &[("k".into(), "v".repeat(257))])
        .await
        .expect_err("tag value of 257 characters");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (Route53ErrorKind::Invalid, "InvalidInput")
    );
    let err = a
        .change_record_sets(
            &zone,
            &"c".repeat(257),
            &[Change::Create(a_record(
                "x.example.test.",
                "x",
                Role::Secondary,
                "192.0.2.1",
                None,
            ))],
        )
        .await
        .expect_err("comment of 257 characters");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (Route53ErrorKind::Invalid, "InvalidInput")
    );
    // A 63-character namespace, a 253-character name and a 252-character record name.
    let object_ref = format!("{}/{}", "n".repeat(63), "m".repeat(253));
    let name = format!(
        "{0}.{0}.{0}.{1}.example.test",
        "x".repeat(63),
        "y".repeat(47)
    );
    assert_eq!(name.len(), 252);
    let mut o = Obj::new(7, &object_ref, &name);
    let out = o.sync(&a, true).await;
    assert!(matches!(out.result, Ok(true)), "{:?}", out.result);
    let client = w.client().await;
    for hc in live_operator_checks(&w) {
        let id = hc["id"].as_str().expect("id").to_string();
        let tags = client
            .list_tags_for_resource()
            .resource_type(aws_sdk_route53::types::TagResourceType::Healthcheck)
            .resource_id(&id)
            .send()
            .await
            .expect("tags");
        let tags = tags.resource_tag_set().expect("set").tags().to_vec();
        assert_eq!(tags.len(), 5, "{tags:?}");
        for t in &tags {
            assert!(t.value().unwrap_or_default().len() <= 256, "{t:?}");
        }
        assert!(
            tags.iter()
                .any(|t| t.key() == Some("route53-failover-operator/object")
                    && t.value().is_some_and(|v| v.starts_with(&"n".repeat(63))))
        );
    }
}

#[tokio::test]
async fn no_health_check_leaks_when_objects_are_deleted_right_after_a_faulty_create() {
    let w = R53World::start_with(&["--hc-scale", "0.05", "--change-delay", "0.3"], &[]);
    w.create_zone("example.test").await;
    let a = Arc::new(AwsRoute53::new(
        w.client_max_attempts(2).await,
        Arc::new(Budget::new(0.0, 1.0)),
        Arc::new(Metrics::default()),
    ));
    // Warm the shared inventory, as a running operator has it.
    a.list_health_checks("frec1-").await.expect("list");
    // Answers of committed writes lost half the time (the SDK retries once), and an account quota.
    w.configure(serde_json::json!({
        "quota": {"rate": 20, "burst": 10},
        "faults": {"error_rate": 0.5, "after_commit": true,
                   "operations": ["CreateHealthCheck", "ChangeTagsForResource", "ChangeResourceRecordSets"]},
    }));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let mut o = Obj::new(
                i,
                &format!("default/app{i}"),
                &format!("app{i}.example.test"),
            );
            let _ = o.sync(&a, true).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            o.delete(&a).await;
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    w.configure(serde_json::json!({"quota": null, "faults": null}));
    let c = w.counters();
    assert!(
        c["faults"]["CreateHealthCheck"].as_u64().unwrap_or(0)
            + c["faults"]["ChangeTagsForResource"].as_u64().unwrap_or(0)
            > 0,
        "faults were injected: {c}"
    );
    let left = live_operator_checks(&w);
    assert!(left.is_empty(), "leaked health checks: {left:#?}");
}

#[tokio::test]
async fn lost_answer_to_a_committed_record_create_is_not_a_conflict() {
    let w = R53World::start();
    w.create_zone("example.test").await;
    let a = AwsRoute53::new(
        w.client_max_attempts(2).await,
        Arc::new(Budget::new(0.0, 1.0)),
        Arc::new(Metrics::default()),
    );
    // The CREATE batch is committed, its answer lost; the SDK's retry meets "already exists".
    w.configure(serde_json::json!({
        "faults": {"error_rate": 1.0, "after_commit": true, "remaining": 1,
                   "operations": ["ChangeResourceRecordSets"]},
    }));
    let mut o = Obj::new(1, "default/app", "app.example.test");
    let out = o.sync(&a, true).await;
    assert_eq!(w.counter("faults", "ChangeResourceRecordSets"), 1);
    assert!(
        matches!(out.result, Ok(true)),
        "recognised as ours, waiting for INSYNC: {:?}",
        out.result
    );
    assert_eq!(o.ready(), ("False".into(), "Propagating".into()));
    assert!(!out.notes.iter().any(|n| n.warning), "{:?}", out.notes);
}

#[tokio::test]
async fn health_check_deleted_out_of_band_is_recreated_against_route53() {
    let w = R53World::start();
    w.create_zone("example.test").await;
    let (a, _) = adapter(&w, 0.0).await;
    let mut o = Obj::new(3, "default/app", "app.example.test");
    o.create_and_settle(&a).await;
    let first: Vec<String> = live_operator_checks(&w)
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(first.len(), 2);
    // Deleted in the console; Route 53 then refuses its CallerReference.
    w.client()
        .await
        .delete_health_check()
        .health_check_id(&first[0])
        .send()
        .await
        .expect("delete");
    // The health monitor's next read of it says Missing, which triggers a reconcile.
    let readings = a.read(&first[..1]).await.expect("read");
    assert_eq!(readings.get(&first[0]), Some(&Reading::Missing));
    let out = o.sync_seeing(&a, false, &readings).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(o.ready(), ("False".into(), "HealthCheckNotFound".into()));
    let out = o.sync(&a, true).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert!(
        out.notes.iter().any(|n| n.reason == "HealthCheckRecreated"),
        "{:?}",
        out.notes
    );
    let now = live_operator_checks(&w);
    assert_eq!(now.len(), 2, "no duplicates: {now:#?}");
    assert!(!now.iter().any(|h| h["id"] == first[0].as_str()));
    let records = a
        .list_record_sets(
            o.status
                .as_ref()
                .and_then(|s| s.hosted_zone_id.as_deref())
                .expect("zone"),
            "app.example.test",
        )
        .await
        .expect("records");
    assert!(
        records
            .iter()
            .all(|r| r.health_check_id.as_deref() != Some(first[0].as_str())),
        "repointed: {records:?}"
    );
}

/// An out-of-band edit of an owned check's settings is repaired by the next full reconcile, even
/// while the adapter's health check inventory cache (60 s) still holds the old settings.
#[tokio::test]
async fn health_check_edited_out_of_band_is_repaired_on_the_next_resync() {
    let w = R53World::start();
    w.create_zone("example.test").await;
    // A resync confirms from the inventory while it is younger than the snapshot TTL (the controller
    // sets half its resync interval): 1 s here.
    let a = AwsRoute53::with_ttls(
        w.client().await,
        Arc::new(Budget::new(0.0, 1.0)),
        Arc::new(Metrics::default()),
        Duration::from_secs(60),
        Duration::from_secs(1),
    );
    let mut o = Obj::new(4, "default/app", "app.example.test");
    o.create_and_settle(&a).await;
    let ids: Vec<String> = live_operator_checks(&w)
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    // Fill the inventory cache now, then edit a check behind the adapter's back.
    assert_eq!(a.list_health_checks("").await.expect("list").len(), 2);
    let client = w.client().await;
    let threshold = |id: &str| {
        let client = client.clone();
        let id = id.to_string();
        async move {
            client
                .get_health_check()
                .health_check_id(id)
                .send()
                .await
                .expect("get")
                .health_check()
                .and_then(|h| h.health_check_config())
                .and_then(|c| c.failure_threshold())
        }
    };
    let before = threshold(&ids[0]).await;
    client
        .update_health_check()
        .health_check_id(&ids[0])
        .failure_threshold(7)
        .send()
        .await
        .expect("edit");
    assert_eq!(threshold(&ids[0]).await, Some(7));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let out = o.sync(&a, true).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(threshold(&ids[0]).await, before, "repaired");
    assert_eq!(live_operator_checks(&w).len(), 2, "updated in place");
}

/// A check left untagged (a crash between CreateHealthCheck and ChangeTagsForResource, so no status
/// was written for it) gets its tags back on the next full reconcile that checks tags; a person's
/// own tags stay. (A confirmation of an object in sync reads no tags.)
#[tokio::test]
async fn missing_tags_of_owned_checks_are_added_and_foreign_tags_kept() {
    use aws_sdk_route53::types::{Tag, TagResourceType};
    let w = R53World::start();
    w.create_zone("example.test").await;
    let (a, _) = adapter(&w, 0.0).await;
    let mut o = Obj::new(4, "default/tagged", "tagged.example.test");
    o.sync(&a, true).await.result.expect("create");
    let ids: Vec<String> = live_operator_checks(&w)
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    let c = w.client().await;
    let tags = |id: String| {
        let c = c.clone();
        async move {
            let out = c
                .list_tags_for_resource()
                .resource_type(TagResourceType::Healthcheck)
                .resource_id(id)
                .send()
                .await
                .expect("tags");
            let mut v: Vec<(String, String)> = out
                .resource_tag_set()
                .map(|s| {
                    s.tags()
                        .iter()
                        .map(|t| {
                            (
                                t.key().unwrap_or_default().to_string(),
                                t.value().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        }
    };
    let before = tags(ids[0].clone()).await;
    assert!(
        before
            .iter()
            .any(|(k, _)| k == "route53-failover-operator/uid"),
        "{before:?}"
    );
    c.change_tags_for_resource()
        .resource_type(TagResourceType::Healthcheck)
        .resource_id(&ids[0])
        .set_remove_tag_keys(Some(before.iter().map(|(k, _)| k.clone()).collect()))
        .add_tags(Tag::builder().key("team").value("payments").build())
        .send()
        .await
        .expect("untag");
    o.status = None;
    let out = o.sync(&a, true).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert!(
        out.notes
            .iter()
            .any(|n| n.reason == "HealthCheckTagsRepaired"),
        "{:?}",
        out.notes
    );
    let after = tags(ids[0].clone()).await;
    for t in &before {
        assert!(after.contains(t), "{t:?} missing: {after:?}");
    }
    assert!(after.contains(&("team".into(), "payments".into())));
    // The creating reconcile tagged with the creation and read no tags; the second read both
    // checks' tags in one call.
    assert_eq!(w.counter("requests", "ListTagsForResources"), 1);
}

fn simple(name: &str, value: &str) -> RecordSet {
    RecordSet {
        set_identifier: None,
        failover: None,
        ..a_record(name, "", Role::Primary, value, None)
    }
}

/// Caller `i`'s pair of records, created in one transactional list.
fn pair(i: usize) -> Vec<Change> {
    vec![
        Change::Create(simple(&format!("app{i}.example.test."), "52.94.76.1")),
        Change::Create(simple(&format!("app{i}-b.example.test."), "52.94.76.2")),
    ]
}

/// Every list submitted concurrently through `b`; the answers in order.
async fn submit_all(
    b: &Arc<Batched<AwsRoute53>>,
    zone: &str,
    lists: Vec<Vec<Change>>,
) -> Vec<Result<String, Route53ErrorKind>> {
    let tasks: Vec<_> = lists
        .into_iter()
        .enumerate()
        .map(|(i, changes)| {
            let (b, zone) = (b.clone(), zone.to_string());
            tokio::spawn(async move {
                b.change_record_sets(&zone, &format!("test default/app{i}"), &changes)
                    .await
                    .map(|info| info.id)
                    .map_err(|e| e.kind)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("join"));
    }
    out
}

/// How many record sets each caller's two names hold.
async fn pairs_in(a: &AwsRoute53, zone: &str, n: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for i in 0..n {
        let first = a
            .list_record_sets(zone, &format!("app{i}.example.test"))
            .await;
        let second = a
            .list_record_sets(zone, &format!("app{i}-b.example.test"))
            .await;
        out.push((first.expect("list").len(), second.expect("list").len()));
    }
    out
}

#[tokio::test]
async fn batched_writes_make_few_calls_and_every_record_exists() {
    let w = R53World::start();
    let zone = w.create_zone("example.test").await;
    // The account's quota, and the operator's budget below it.
    w.configure(serde_json::json!({"quota": {"rate": 5, "burst": 5}}));
    let (a, metrics) = adapter(&w, 4.0).await;
    let a = Arc::new(a);
    let b = Arc::new(Batched::new(
        a.clone(),
        Duration::from_millis(200),
        metrics.clone(),
    ));
    w.reset_counters();
    // 200 FailoverRecord-like callers at once, while the adapter itself also writes to the zone
    // (holding its per-zone lock): no deadlock, nothing throttled.
    let direct = {
        let a = a.clone();
        let zone = zone.clone();
        tokio::spawn(async move {
            for i in 0..3 {
                let ch = [Change::Create(simple(
                    &format!("direct{i}.example.test."),
                    "52.94.76.3",
                ))];
                a.change_record_sets(&zone, "direct", &ch)
                    .await
                    .expect("direct write");
            }
        })
    };
    let res = tokio::time::timeout(
        Duration::from_secs(60),
        submit_all(&b, &zone, (0..200).map(pair).collect()),
    )
    .await
    .expect("no deadlock");
    direct.await.expect("join");
    assert!(res.iter().all(Result::is_ok), "{res:?}");
    let calls = w.counter("requests", "ChangeResourceRecordSets");
    assert!(
        calls <= 3 + 3,
        "200 lists in a few calls (plus 3 direct): {calls}"
    );
    assert_eq!(
        w.counter("throttled", "ChangeResourceRecordSets"),
        0,
        "{}",
        w.counters()
    );
    eprintln!("200 change lists + 3 direct writes: {calls} ChangeResourceRecordSets calls");
    // Read back without the quota (400 reads at 4/s would take 100 s).
    w.configure(serde_json::json!({"quota": null}));
    let (reader, _) = adapter(&w, 0.0).await;
    assert!(
        pairs_in(&reader, &zone, 200)
            .await
            .iter()
            .all(|p| *p == (1, 1))
    );
    let mut text = String::new();
    let mut reg = prometheus_client::registry::Registry::default();
    metrics.register(&mut reg);
    prometheus_client::encoding::text::encode(&mut text, &reg).expect("encode");
    assert!(
        text.contains("route53_failover_route53_change_batch_members_sum 200"),
        "{text}"
    );
}

#[tokio::test]
async fn a_conflicting_member_fails_alone_against_route53() {
    let w = R53World::start();
    let zone = w.create_zone("example.test").await;
    let (a, metrics) = adapter(&w, 0.0).await;
    let a = Arc::new(a);
    // Someone else's record where caller 11 wants to create its own.
    a.change_record_sets(
        &zone,
        "foreign",
        &[Change::Create(simple("app11.example.test.", "52.94.76.9"))],
    )
    .await
    .expect("foreign record");
    let b = Arc::new(Batched::new(a.clone(), Duration::from_millis(200), metrics));
    w.reset_counters();
    let mut lists: Vec<Vec<Change>> = (0..40).map(pair).collect();
    // Caller 30's A record is not an IPv4 address: InvalidChangeBatch too.
    lists[30][1] = Change::Create(simple("app30-b.example.test.", "not-an-address"));
    let res = submit_all(&b, &zone, lists).await;
    for (i, r) in res.iter().enumerate() {
        match i {
            11 | 30 => assert_eq!(r, &Err(Route53ErrorKind::Conflict), "caller {i}"),
            _ => assert!(r.is_ok(), "caller {i}: {r:?}"),
        }
    }
    for (i, p) in pairs_in(&a, &zone, 40).await.into_iter().enumerate() {
        let want = match i {
            11 => (1, 0), // the foreign record only: the pair is all or nothing
            30 => (0, 0),
            _ => (1, 1),
        };
        assert_eq!(p, want, "caller {i}");
    }
    let calls = w.counter("requests", "ChangeResourceRecordSets");
    eprintln!("40 change lists, 2 refused: {calls} ChangeResourceRecordSets calls");
    assert!(calls < 40, "fewer calls than callers: {calls}");
}

/// A steady-state resync of many records in one zone: a few names are read on their own, then the
/// zone is listed once (300 record sets per page) and every other name is served from that snapshot;
/// our own writes are applied to it, a failed one makes its name read again.
#[tokio::test]
async fn records_in_sync_are_confirmed_from_one_zone_listing_not_a_read_per_name() {
    use route53_failover_operator::route53::snapshot::FIRST_LISTING_DEMAND;
    let w = R53World::start();
    let zone = w.create_zone("example.test").await;
    let (a, metrics) = adapter(&w, 0.0).await;
    const N: usize = 200;
    // A non-alias primary needs a health check (the double refuses it otherwise, as Route 53 does).
    let hc = a
        .create_health_check("frec1-snapshot", &tcp(1), &[])
        .await
        .expect("check")
        .id;
    let pair_of = |i: usize, value: &str| {
        let name = format!("app{i}.example.test.");
        vec![
            Change::Create(a_record(
                &name,
                &format!("o:{i}:primary"),
                Role::Primary,
                value,
                Some(hc.clone()),
            )),
            Change::Create(a_record(
                &name,
                &format!("o:{i}:secondary"),
                Role::Secondary,
                "52.94.76.2",
                None,
            )),
        ]
    };
    for chunk in (0..N).collect::<Vec<_>>().chunks(50) {
        let changes: Vec<Change> = chunk
            .iter()
            .flat_map(|i| pair_of(*i, "52.94.76.1"))
            .collect();
        a.change_record_sets(&zone, "seed", &changes)
            .await
            .expect("seed");
    }
    w.reset_counters();
    for i in 0..N {
        let sets = a
            .list_record_sets_cached(&zone, &format!("app{i}.example.test"))
            .await
            .expect("lookup");
        assert_eq!(sets.len(), 2, "app{i}");
    }
    // 2 × 200 pairs + SOA + NS = 402 sets: two pages.
    let reads = w.counter("requests", "ListResourceRecordSets");
    assert_eq!(
        reads as usize,
        (FIRST_LISTING_DEMAND - 1) + 2,
        "per-name reads, then one listing"
    );
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
    assert!(
        text.contains(&format!(
            "route53_failover_route53_zone_snapshot_lookups_total{{result=\"hit\"}} {}",
            N - FIRST_LISTING_DEMAND + 1
        )),
        "{text}"
    );
    // Our own committed write is applied to the snapshot: no read to see it.
    let mut p = a_record(
        "app0.example.test.",
        "o:0:primary",
        Role::Primary,
        "52.94.76.9",
        Some(hc.clone()),
    );
    a.change_record_sets(&zone, "edit", &[Change::Upsert(p.clone())])
        .await
        .expect("upsert");
    w.reset_counters();
    let sets = a
        .list_record_sets_cached(&zone, "app0.example.test")
        .await
        .expect("lookup");
    assert!(sets.contains(&p), "{sets:?}");
    assert_eq!(w.counter("requests", "ListResourceRecordSets"), 0);
    // A refused batch changes nothing; a batch whose outcome is unknown makes the name read again.
    p.values = vec!["52.94.76.10".into()];
    a.change_record_sets(&zone, "dup", &[Change::Create(p.clone())])
        .await
        .expect_err("exists");
    a.list_record_sets_cached(&zone, "app0.example.test")
        .await
        .expect("lookup");
    assert_eq!(w.counter("requests", "ListResourceRecordSets"), 0);
}

/// Every object of a batched change polls the same change: a PENDING answer serves the polls of the
/// next second, and INSYNC (final) is never asked again.
#[tokio::test]
async fn polls_of_one_change_are_shared() {
    let w = R53World::start();
    w.configure(serde_json::json!({"change_delay": 2.0}));
    let zone = w.create_zone("example.test").await;
    let (a, _) = adapter(&w, 0.0).await;
    let info = a
        .change_record_sets(
            &zone,
            "one",
            &[Change::Create(simple("one.example.test.", "52.94.76.1"))],
        )
        .await
        .expect("create");
    assert!(!info.insync);
    w.reset_counters();
    for _ in 0..10 {
        assert!(!a.get_change(&info.id).await.expect("poll").insync);
    }
    assert_eq!(
        w.counter("requests", "GetChange"),
        1,
        "ten polls within a second, one call"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(a.get_change(&info.id).await.expect("poll").insync);
    for _ in 0..10 {
        assert!(a.get_change(&info.id).await.expect("poll").insync);
    }
    assert_eq!(w.counter("requests", "GetChange"), 2, "INSYNC is final");
    // With the controller's change poll interval as the share window, the objects of one batch
    // polling it over several seconds still cost one call per interval.
    w.configure(serde_json::json!({"change_delay": 4.0}));
    let a = a.with_change_share(Duration::from_secs(3));
    let info = a
        .change_record_sets(
            &zone,
            "two",
            &[Change::Create(simple("two.example.test.", "52.94.76.2"))],
        )
        .await
        .expect("create");
    w.reset_counters();
    for _ in 0..10 {
        assert!(!a.get_change(&info.id).await.expect("poll").insync);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        w.counter("requests", "GetChange"),
        1,
        "ten polls within the 3 s window, one call"
    );
}

/// The SDK makes one attempt per request; `AwsRoute53::call` retries throttled attempts itself, each
/// through the budget (and the fence for writes), so every request Route 53 sees was counted.
#[tokio::test]
async fn retries_of_throttled_calls_go_through_the_budget() {
    let w = R53World::start();
    let zone = w.create_zone("example.test").await;
    w.configure(serde_json::json!({"quota": {"rate": 1.0, "burst": 1}}));
    let metrics = Arc::new(Metrics::default());
    let a = AwsRoute53::new(
        w.client_max_attempts(6).await,
        Arc::new(Budget::new(0.0, 1.0)),
        metrics.clone(),
    );
    w.reset_counters();
    // The first call takes the only token; the second is throttled, retried and answered.
    let first = a.list_record_sets(&zone, "a.example.test").await;
    let second = a.list_record_sets(&zone, "b.example.test").await;
    assert!(first.is_ok() && second.is_ok(), "{first:?} {second:?}");
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
    let counted = |outcome: &str| -> u64 {
        text.lines()
            .find(|l| {
                l.starts_with("route53_failover_route53_requests_total{")
                    && l.contains("operation=\"ListResourceRecordSets\"")
                    && l.contains(&format!("outcome=\"{outcome}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(counted("throttled") >= 1, "{text}");
    assert_eq!(
        counted("success") + counted("throttled"),
        w.counter("requests", "ListResourceRecordSets"),
        "every request Route 53 saw was an attempt of ours: {text}"
    );
}

/// `--assume-role-arn`: every Route 53 call is signed with the credentials of the assumed role (STS
/// `AssumeRole` from the environment's credentials, through `AWS_ENDPOINT_URL_STS`), never with the
/// environment's own. Run as a child process whose AWS settings are exactly the world's.
#[tokio::test]
async fn an_assumed_role_signs_every_route53_call() {
    let w = R53World::start();
    w.create_zone("assumed.test").await;
    let mut env = w.aws_env();
    env.push(("AWS_ENDPOINT_URL_STS".into(), w.endpoint()));
    let mut cmd = w.child_test("assume_role_child", env);
    cmd.env("R53_ASSUME_ROLE_CHILD", "1");
    let out = cmd.output().expect("run child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = w.request_log();
    let keys = |op: &str| -> Vec<String> {
        log.iter()
            .filter(|r| r["operation"] == op)
            .map(|r| r["access_key"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let route53 = keys("ListHostedZonesByName");
    assert_eq!(route53.len(), 1, "{log:?}");
    assert!(
        !route53[0].is_empty() && route53[0] != "testing",
        "Route 53 was called with the environment's own key, not the assumed role's: {log:?}"
    );
    assert!(
        log.iter()
            .any(|r| r["service"] == "sts" && r["access_key"] == "testing"),
        "AssumeRole itself is signed with the environment's credentials: {log:?}"
    );
}

/// The child of [`an_assumed_role_signs_every_route53_call`] (does nothing unless run as that child).
#[tokio::test]
async fn assume_role_child() {
    if std::env::var_os("R53_ASSUME_ROLE_CHILD").is_none() {
        return;
    }
    let role = route53_failover_operator::route53::aws::AssumeRole {
        arn: "arn:aws:iam::123456789012:role/dns-failover".into(),
        external_id: Some("cluster-a".into()),
        session_name: "route53-failover-operator-test".into(),
    };
    let shared = route53_failover_operator::route53::aws::sdk_config(Some(&role)).await;
    let a = AwsRoute53::new(
        AwsRoute53::client(&shared),
        Arc::new(Budget::new(0.0, 1.0)),
        Arc::new(Metrics::default()),
    );
    let zones = a.find_hosted_zones("assumed.test").await.expect("find");
    assert_eq!(zones.len(), 1);
}
