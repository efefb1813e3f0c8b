//! End to end: the real operator binary against the local world (Route 53 double with real health
//! probes, a real kube-apiserver with the CRD's admission rules), run as the chart's ServiceAccount,
//! driven with the real kubectl and checked through the AWS SDK.

mod support;

use std::time::Duration;

use aws_sdk_route53::types::{ResourceRecordSet, ResourceRecordSetFailover};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use route53_failover_operator::crd::{FailoverRecord, Health, Role};
use route53_failover_operator::status::find_condition;
use serde_json::Value;
use support::kube::{KubeWorld, ok};
use support::operator::Operator;
use support::r53::R53World;
use support::{Backend, eventually};

const CRD: &str = include_str!("../crds/failoverrecord.yaml");
/// Public addresses the health checks point at; the Route 53 double routes them to loopback backends
/// (it never sends a packet to them).
const PRIMARY_IP: &str = "52.94.76.10";
const SECONDARY_IP: &str = "52.94.76.11";
const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

struct World {
    r53: R53World,
    kube: KubeWorld,
    zone: String,
    primary: Backend,
    secondary: Backend,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    world_with(KubeWorld::with_crd()).await
}

async fn world_with(kube: KubeWorld) -> World {
    let dir = tempfile::tempdir().expect("tmp");
    let r53 = R53World::start();
    let zone = r53.create_zone("example.test").await;
    r53.route(PRIMARY_IP, "127.0.0.1");
    r53.route(SECONDARY_IP, "127.0.0.1");
    let primary = Backend::start(&dir.path().join("p").tap_mkdir());
    let secondary = Backend::start(&dir.path().join("s").tap_mkdir());
    World {
        r53,
        kube,
        zone,
        primary,
        secondary,
        _dir: dir,
    }
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}
impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).expect("mkdir");
        self
    }
}

fn manifest(w: &World, name: &str, extra_primary: &str, spec_extra: &str) -> String {
    let mut yaml = support::record_manifest(
        name,
        "example.test",
        (
            "192.0.2.10",
            &support::http_check(PRIMARY_IP, w.primary.port, extra_primary),
        ),
        (
            "192.0.2.20",
            &support::http_check(SECONDARY_IP, w.secondary.port, ""),
        ),
    );
    yaml.push_str(spec_extra);
    yaml
}

fn apply(w: &World, yaml: &str) {
    ok(&w
        .kube
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], yaml));
}

async fn api(w: &World) -> Api<FailoverRecord> {
    Api::namespaced(w.kube.client().await, "default")
}

async fn wait_for(
    w: &World,
    name: &str,
    what: &str,
    pred: impl Fn(&FailoverRecord) -> bool,
) -> FailoverRecord {
    let api = api(w).await;
    eventually(what, WAIT, POLL, || {
        let api = api.clone();
        let pred = &pred;
        async move { api.get_opt(name).await.ok().flatten().filter(|o| pred(o)) }
    })
    .await
}

fn ready(o: &FailoverRecord) -> Option<(String, String)> {
    find_condition(o.status.as_ref(), "Ready").map(|c| (c.status.clone(), c.reason.clone()))
}

fn ready_message(o: &FailoverRecord) -> String {
    find_condition(o.status.as_ref(), "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

fn ready_is(o: &FailoverRecord, status: &str, reason: &str) -> bool {
    ready(o).is_some_and(|(s, r)| s == status && r == reason)
        && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
}

async fn events(w: &World, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(w.kube.client().await, "default");
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

async fn wait_event(w: &World, reason: &str) -> Event {
    eventually(
        &format!("an Event with reason {reason}"),
        WAIT,
        POLL,
        || async { events(w, reason).await.into_iter().next() },
    )
    .await
}

async fn record_sets(w: &World, name: &str) -> Vec<ResourceRecordSet> {
    let out = w
        .r53
        .client()
        .await
        .list_resource_record_sets()
        .hosted_zone_id(&w.zone)
        .send()
        .await
        .expect("list");
    out.resource_record_sets()
        .iter()
        .filter(|r| r.name() == format!("{name}.example.test."))
        .cloned()
        .collect()
}

fn live_checks(w: &World) -> Vec<Value> {
    let all = w.r53.health_checks();
    let list = all
        .as_array()
        .cloned()
        .or_else(|| all["health_checks"].as_array().cloned())
        .unwrap_or_default();
    list.into_iter()
        .filter(|c| !c["deleted"].as_bool().unwrap_or(false))
        .collect()
}

fn writes(w: &World) -> u64 {
    [
        "ChangeResourceRecordSets",
        "CreateHealthCheck",
        "UpdateHealthCheck",
        "DeleteHealthCheck",
    ]
    .iter()
    .map(|op| w.r53.counter("requests", op))
    .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_failover_failback_and_delete() {
    let mut w = world().await;
    let op = Operator::start(&w.kube, &w.r53, &[]);
    apply(&w, &manifest(&w, "app", "", ""));
    ok(&w
        .kube
        .kubectl(&["wait", "--for=condition=Ready", "frec/app", "--timeout=60s"]));
    let obj = wait_for(&w, "app", "Ready and primary healthy", |o| {
        ready_is(o, "True", "Synced")
            && o.status
                .as_ref()
                .and_then(|s| s.primary.as_ref())
                .is_some_and(|p| p.health == Health::Healthy)
    })
    .await;
    let uid = obj.metadata.uid.clone().expect("uid");
    let st = obj.status.clone().expect("status");
    assert_eq!(st.active_role, Some(Role::Primary));
    assert_eq!(
        st.change.as_ref().map(|c| c.status.as_str()),
        Some("INSYNC")
    );

    // Exact Route 53 state: the pair, owned identifiers, TTL, values, one check per endpoint.
    let sets = record_sets(&w, "app").await;
    assert_eq!(sets.len(), 2, "{sets:?}");
    for (role, value, failover) in [
        ("primary", "192.0.2.10", ResourceRecordSetFailover::Primary),
        (
            "secondary",
            "192.0.2.20",
            ResourceRecordSetFailover::Secondary,
        ),
    ] {
        let rs = sets
            .iter()
            .find(|r| r.failover() == Some(&failover))
            .expect(role);
        assert_eq!(
            rs.set_identifier(),
            Some(format!("e2e:{uid}:{role}").as_str())
        );
        assert_eq!(rs.ttl(), Some(60));
        assert_eq!(
            rs.resource_records()
                .iter()
                .map(|r| r.value())
                .collect::<Vec<_>>(),
            vec![value]
        );
        assert!(rs.health_check_id().is_some());
    }
    let checks = live_checks(&w);
    assert_eq!(checks.len(), 2, "{checks:?}");
    for c in &checks {
        let reference = c["caller_reference"]
            .as_str()
            .or(c["CallerReference"].as_str())
            .unwrap_or_default();
        assert!(reference.starts_with(&format!("frec1-{uid}-")), "{c}");
    }

    // Printer columns through kubectl.
    let table = ok(&w.kube.kubectl(&["get", "frec", "app"]));
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        vec![
            "NAME",
            "RECORD",
            "TYPE",
            "ACTIVE",
            "PRIMARY",
            "SECONDARY",
            "READY",
            "AGE"
        ],
        "{table}"
    );
    assert!(
        table.contains("app.example.test")
            && table.contains("Primary")
            && table.contains("Healthy"),
        "{table}"
    );
    // `-o wide` adds the Ready reason, the switch mode, the zone and the last failover.
    let wide = ok(&w.kube.kubectl(&["get", "frec", "app", "-o", "wide"]));
    let header = wide.lines().next().unwrap_or_default();
    let at: Vec<Option<usize>> = ["AGE", "REASON", "MODE", "ZONE", "LAST FAILOVER"]
        .iter()
        .map(|c| header.find(c))
        .collect();
    assert!(
        at.iter().all(Option::is_some) && at.windows(2).all(|p| p[0] < p[1]),
        "{wide}"
    );
    assert!(wide.contains("Synced"), "{wide}");

    // Kill the primary backend: Route 53 marks it unhealthy and the secondary serves.
    w.primary.kill();
    let failed = wait_for(&w, "app", "activeRole Secondary", |o| {
        o.status.as_ref().and_then(|s| s.active_role) == Some(Role::Secondary)
    })
    .await;
    let fst = failed.status.expect("status");
    assert_eq!(
        fst.primary.as_ref().map(|p| p.health),
        Some(Health::Unhealthy)
    );
    assert!(fst.last_failover_time.is_some());
    // Health came from CloudWatch's HealthCheckStatus metric, never from GetHealthCheckStatus.
    assert_eq!(w.r53.counter("requests", "GetHealthCheckStatus"), 0);
    assert!(w.r53.counter("requests", "GetMetricData") > 0);
    assert!(
        op.metrics().contains(
            "route53_failover_cloudwatch_requests_total{operation=\"GetMetricData\",outcome=\"success\"}"
        ),
        "{}",
        op.metrics()
    );
    let ev = wait_event(&w, "FailedOver").await;
    assert!(
        ev.note.as_deref().unwrap_or_default().contains("secondary"),
        "{ev:?}"
    );
    let pc = fst
        .conditions
        .iter()
        .find(|c| c.type_ == "PrimaryHealthy")
        .expect("cond");
    assert_eq!(pc.status, "False");
    assert!(
        op.metrics()
            .contains("route53_failover_failovers_total{role=\"secondary\"} 1"),
        "{}",
        op.metrics()
    );
    // The per-record series show the failover (the status is written after the gauges are set).
    let text = op.metrics();
    let failover_at = fst.last_failover_time.as_ref().expect("time").0.as_second();
    for line in [
        "route53_failover_record_active_role{namespace=\"default\",name=\"app\",role=\"secondary\"} 1".to_string(),
        "route53_failover_record_active_role{namespace=\"default\",name=\"app\",role=\"primary\"} 0".to_string(),
        "route53_failover_record_endpoint_health{namespace=\"default\",name=\"app\",role=\"primary\",health=\"unhealthy\"} 1".to_string(),
        "route53_failover_record_endpoint_health{namespace=\"default\",name=\"app\",role=\"secondary\",health=\"healthy\"} 1".to_string(),
        format!("route53_failover_record_last_failover_timestamp_seconds{{namespace=\"default\",name=\"app\"}} {failover_at}.0"),
    ] {
        assert!(text.contains(&line), "missing {line}:\n{text}");
    }

    // Restore it: back to the primary.
    w.primary.restart();
    wait_for(&w, "app", "activeRole Primary again", |o| {
        o.status.as_ref().and_then(|s| s.active_role) == Some(Role::Primary)
    })
    .await;
    wait_event(&w, "FailedBack").await;

    // Delete: records first, then the checks; the object goes once cleanup is done.
    ok(&w
        .kube
        .kubectl(&["delete", "frec", "app", "--wait=true", "--timeout=60s"]));
    assert!(record_sets(&w, "app").await.is_empty());
    assert!(live_checks(&w).is_empty(), "{:?}", live_checks(&w));
    assert!(api(&w).await.get_opt("app").await.expect("get").is_none());
    // No series of the deleted record is left.
    let text = op.metrics();
    assert!(!text.contains("name=\"app\""), "{text}");
    assert!(
        text.contains("route53_failover_records_active{role=\"secondary\"} 0"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_health_check_status_source_reports_checkers_and_the_failure_reason() {
    let mut w = world().await;
    let _op = Operator::start(&w.kube, &w.r53, &["--health-source", "route53"]);
    apply(&w, &manifest(&w, "app", "", ""));
    wait_for(&w, "app", "primary healthy", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.primary.as_ref())
            .is_some_and(|p| p.health == Health::Healthy && p.checkers_total > 0)
    })
    .await;
    w.primary.kill();
    let failed = wait_for(&w, "app", "activeRole Secondary", |o| {
        o.status.as_ref().and_then(|s| s.active_role) == Some(Role::Secondary)
    })
    .await;
    let p = failed.status.and_then(|s| s.primary).expect("primary");
    assert_eq!(p.health, Health::Unhealthy);
    assert!(
        p.checkers_total > 0 && p.checkers_healthy < p.checkers_total,
        "{p:?}"
    );
    assert!(p.last_failure_reason.is_some(), "{p:?}");
    assert_eq!(w.r53.counter("requests", "GetMetricData"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_change_in_place_and_by_replacement() {
    let w = world().await;
    let _op = Operator::start(&w.kube, &w.r53, &[]);
    apply(&w, &manifest(&w, "chg", "", ""));
    let obj = wait_for(&w, "chg", "Ready", |o| ready_is(o, "True", "Synced")).await;
    let first = obj
        .status
        .and_then(|s| s.primary)
        .and_then(|p| p.health_check_id)
        .expect("hc");

    // failureThreshold is mutable: updated in place, same id.
    apply(
        &w,
        &manifest(&w, "chg", "", "")
            .replace(
                "failureThreshold: 1}}\n  secondary",
                "failureThreshold: 3}}\n  secondary",
            )
            .replace(
                "failureThreshold: 1}\n  secondary",
                "failureThreshold: 3}\n  secondary",
            ),
    );
    let obj = wait_for(&w, "chg", "Ready at generation 2", |o| {
        o.metadata.generation == Some(2) && ready_is(o, "True", "Synced")
    })
    .await;
    assert_eq!(
        obj.status
            .and_then(|s| s.primary)
            .and_then(|p| p.health_check_id),
        Some(first.clone())
    );
    let cfg = w
        .r53
        .client()
        .await
        .get_health_check()
        .health_check_id(&first)
        .send()
        .await
        .expect("get");
    let hc = cfg.health_check().expect("hc");
    assert_eq!(
        hc.health_check_config().and_then(|c| c.failure_threshold()),
        Some(3)
    );
    assert!(hc.health_check_version() >= 2);
    assert!(w.r53.counter("requests", "UpdateHealthCheck") >= 1);

    // requestInterval is immutable: a replacement is created, the record repointed, the old one deleted.
    apply(
        &w,
        &manifest(&w, "chg", "", "").replace(
            "requestInterval: 10, failureThreshold: 1}\n  secondary",
            "requestInterval: 30, failureThreshold: 1}\n  secondary",
        ),
    );
    let obj = wait_for(&w, "chg", "replacement in place", |o| {
        o.metadata.generation == Some(3)
            && ready_is(o, "True", "Synced")
            && o.status
                .as_ref()
                .and_then(|s| s.primary.as_ref())
                .and_then(|p| p.health_check_id.clone())
                .is_some_and(|id| id != first)
    })
    .await;
    let second = obj
        .status
        .and_then(|s| s.primary)
        .and_then(|p| p.health_check_id)
        .expect("hc");
    let p = record_sets(&w, "chg")
        .await
        .into_iter()
        .find(|r| r.failover() == Some(&ResourceRecordSetFailover::Primary))
        .expect("p");
    assert_eq!(p.health_check_id(), Some(second.as_str()));
    eventually("old check deleted", WAIT, POLL, || async {
        let live = live_checks(&w);
        (live.len() == 2
            && !live.iter().any(|c| {
                c["id"].as_str() == Some(first.as_str()) || c["Id"].as_str() == Some(first.as_str())
            }))
        .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_record_is_a_conflict_and_untouched() {
    let w = world().await;
    let client = w.r53.client().await;
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, RrType};
    let foreign = ResourceRecordSet::builder()
        .name("taken.example.test")
        .r#type(RrType::A)
        .ttl(300)
        .resource_records(
            ResourceRecord::builder()
                .value("198.51.100.7")
                .build()
                .expect("rr"),
        )
        .build()
        .expect("rrset");
    client
        .change_resource_record_sets()
        .hosted_zone_id(&w.zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Create)
                        .resource_record_set(foreign)
                        .build()
                        .expect("change"),
                )
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("create foreign");
    let _op = Operator::start(&w.kube, &w.r53, &[]);
    w.r53.reset_counters();
    apply(&w, &manifest(&w, "taken", "", ""));
    let obj = wait_for(&w, "taken", "Ready=False Conflict", |o| {
        ready_is(o, "False", "Conflict")
    })
    .await;
    let msg = ready_message(&obj);
    assert!(msg.contains("not owned"), "{msg}");
    wait_event(&w, "Conflict").await;
    let sets = record_sets(&w, "taken").await;
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].resource_records()[0].value(), "198.51.100.7");
    assert_eq!(writes(&w), 0, "nothing written: {}", w.r53.counters());
}

/// `adopt: true` through the real operator: a failover pair made with the AWS SDK (as the README's
/// CLI example does) is taken over in one ChangeResourceRecordSets; the double, told to refuse any
/// batch that would leave the name without its PRIMARY, never saw the name without an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_made_pair_is_adopted_in_one_change() {
    let w = world().await;
    let client = w.r53.client().await;
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, ResourceRecord,
        RrType,
    };
    let theirs_hc = client
        .create_health_check()
        .caller_reference("cli-adopted-primary")
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Http)
                .ip_address(PRIMARY_IP)
                .port(i32::from(w.primary.port))
                .resource_path("/health")
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("their check")
        .health_check()
        .expect("check")
        .id()
        .to_string();
    let set = |id: &str, role: ResourceRecordSetFailover, value: &str, hc: Option<&str>| {
        Change::builder()
            .action(ChangeAction::Create)
            .resource_record_set(
                ResourceRecordSet::builder()
                    .name("adopted.example.test")
                    .r#type(RrType::A)
                    .set_identifier(id)
                    .failover(role)
                    .ttl(60)
                    .set_health_check_id(hc.map(str::to_string))
                    .resource_records(ResourceRecord::builder().value(value).build().expect("rr"))
                    .build()
                    .expect("rrset"),
            )
            .build()
            .expect("change")
    };
    client
        .change_resource_record_sets()
        .hosted_zone_id(&w.zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(set(
                    "adopted-primary",
                    ResourceRecordSetFailover::Primary,
                    "192.0.2.11",
                    Some(&theirs_hc),
                ))
                .changes(set(
                    "adopted-secondary",
                    ResourceRecordSetFailover::Secondary,
                    "192.0.2.21",
                    None,
                ))
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("their pair");
    w.r53
        .configure(serde_json::json!({"refuse_answer_gaps": true}));
    let _op = Operator::start(&w.kube, &w.r53, &[]);
    w.r53.reset_counters();
    w.r53.reset_answers();
    apply(&w, &manifest(&w, "adopted", "", "  adopt: true\n"));
    wait_for(&w, "adopted", "Ready=True", |o| {
        ready_is(o, "True", "Synced")
    })
    .await;
    let ev = wait_event(&w, "Adopted").await;
    let note = ev.note.unwrap_or_default();
    for part in [
        "PRIMARY \"adopted-primary\" (192.0.2.11",
        "SECONDARY \"adopted-secondary\" (192.0.2.21; no health check)",
        &format!("health check {theirs_hc} left in Route 53"),
    ] {
        assert!(note.contains(part), "{part}: {note}");
    }
    assert_eq!(
        w.r53.counter("requests", "ChangeResourceRecordSets"),
        1,
        "{}",
        w.r53.counters()
    );
    let states: Vec<Value> = w
        .r53
        .answers()
        .into_iter()
        .filter(|a| a["name"] == "adopted.example.test." && a["type"] == "A")
        .collect();
    assert_eq!(states.len(), 1, "{states:?}");
    assert_eq!(states[0]["answer"], serde_json::json!(["192.0.2.10"]));
    let sets = record_sets(&w, "adopted").await;
    assert_eq!(sets.len(), 2);
    assert!(
        sets.iter().all(|r| !r
            .set_identifier()
            .unwrap_or_default()
            .starts_with("adopted-")),
        "{sets:?}"
    );
    assert!(
        live_checks(&w)
            .iter()
            .any(|c| c["id"] == theirs_hc.as_str()),
        "their check is left in Route 53"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_spec_is_reported_and_nothing_is_written() {
    let w = world().await;
    let _op = Operator::start(&w.kube, &w.r53, &[]);
    w.r53.reset_counters();
    // Admission refuses what it can see (the next assertion); a name outside a zone given by id
    // passes admission and only the operator, which reads the zone's name, can refuse it.
    let refused = manifest(&w, "bad", "", "").replace(
        ", resourcePath: /health, requestInterval: 10, failureThreshold: 1}\n  secondary",
        ", requestInterval: 20, failureThreshold: 1}\n  secondary",
    );
    let err = support::kube::fails(
        &w.kube
            .kubectl_stdin(&["apply", "--server-side", "-f", "-"], &refused),
    );
    assert!(
        err.contains("spec.primary.healthCheck.requestInterval"),
        "{err}"
    );
    let bad = manifest(&w, "bad", "", "")
        .replace(
            "hostedZone: {name: example.test}",
            &format!("hostedZone: {{id: {}}}", w.zone),
        )
        .replace("name: bad.example.test", "name: bad.elsewhere.test");
    apply(&w, &bad);
    let obj = wait_for(&w, "bad", "Ready=False InvalidSpec", |o| {
        ready_is(o, "False", "InvalidSpec")
    })
    .await;
    let msg = ready_message(&obj);
    assert!(msg.contains("is not inside the hosted zone"), "{msg}");
    wait_event(&w, "InvalidSpec").await;
    assert_eq!(writes(&w), 0, "{}", w.r53.counters());
    assert!(record_sets(&w, "bad").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_leaves_route53_untouched() {
    let w = world().await;
    let _op = Operator::start(&w.kube, &w.r53, &[]);
    apply(&w, &manifest(&w, "keep", "", "  deletionPolicy: Retain\n"));
    wait_for(&w, "keep", "Ready", |o| ready_is(o, "True", "Synced")).await;
    ok(&w
        .kube
        .kubectl(&["delete", "frec", "keep", "--wait=true", "--timeout=60s"]));
    assert_eq!(record_sets(&w, "keep").await.len(), 2);
    assert_eq!(live_checks(&w).len(), 2);
    wait_event(&w, "Retained").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_killed_mid_create_leaves_exactly_one_check_per_endpoint() {
    let w = world().await;
    // Hold record writes so the operator dies after creating health checks and before the records land.
    w.r53.configure(serde_json::json!({"faults": {"latency_ms": 4000, "error_rate": 0.0, "operations": ["ChangeResourceRecordSets"]}}));
    let mut op = Operator::start(&w.kube, &w.r53, &[]);
    apply(&w, &manifest(&w, "crash", "", ""));
    eventually("both health checks created", WAIT, POLL, || async {
        (live_checks(&w).len() == 2).then_some(())
    })
    .await;
    op.kill();
    w.r53.configure(serde_json::json!({"faults": null}));
    let _op2 = Operator::start(&w.kube, &w.r53, &[]);
    wait_for(&w, "crash", "Ready after restart", |o| {
        ready_is(o, "True", "Synced")
    })
    .await;
    let live = live_checks(&w);
    assert_eq!(
        live.len(),
        2,
        "exactly one health check per endpoint: {live:?}"
    );
    assert_eq!(record_sets(&w, "crash").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_makes_no_route53_writes_and_no_status_patches() {
    let w = world().await;
    let _op = Operator::start(&w.kube, &w.r53, &["--resync-interval", "1h"]);
    apply(&w, &manifest(&w, "calm", "", ""));
    wait_for(&w, "calm", "Ready and healthy", |o| {
        ready_is(o, "True", "Synced")
            && o.status
                .as_ref()
                .and_then(|s| s.secondary.as_ref())
                .is_some_and(|p| p.health == Health::Healthy)
            && o.status
                .as_ref()
                .and_then(|s| s.primary.as_ref())
                .is_some_and(|p| p.health == Health::Healthy)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    w.r53.reset_counters();
    w.kube.reset_stats();
    // Several health polls (every 500 ms) pass.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(writes(&w), 0, "{}", w.r53.counters());
    // Health is read from CloudWatch, several checks per call, every poll.
    assert!(
        w.r53.counter("requests", "GetMetricData") >= 4,
        "health is polled: {}",
        w.r53.counters()
    );
    assert_eq!(w.r53.counter("requests", "GetHealthCheckStatus"), 0);
    // The API server's own request counters: no write to FailoverRecords (spec, status, finalizers)
    // nor Events. (It also counts its own endpoint reconciler and the operator's Lease renewals.)
    let stats = w.kube.stats();
    let writes: u64 = stats["requests"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    let verb = k.split(' ').next().unwrap_or_default();
                    !matches!(verb, "GET" | "LIST" | "WATCH")
                        && (k.contains("failoverrecords") || k.contains("events"))
                })
                .map(|(_, v)| v.as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(writes, 0, "no status writes when nothing changed: {stats}");
}

/// Objects whose records went out in one batch wait for its change without a reconcile each per
/// poll: one change watch polls the change and reconciles them once it is INSYNC. With a resync of
/// an hour, nothing else would bring them to `Ready`. (The Route 53 budget is raised so that a
/// reconcile per object per poll, as before the watch, would show: about 80 in the window.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_waiting_for_one_change_cost_one_poll_per_round_and_no_reconciles() {
    const N: usize = 8;
    let w = world().await;
    w.r53.configure(serde_json::json!({"change_delay": 15.0}));
    let op = Operator::start(
        &w.kube,
        &w.r53,
        &[
            "--resync-interval",
            "1h",
            "--route53-rate",
            "200",
            "--route53-burst",
            "200",
        ],
    );
    let yaml: Vec<String> = (0..N)
        .map(|i| manifest(&w, &format!("batch{i}"), "", ""))
        .collect();
    apply(&w, &yaml.join("---\n"));
    let healthy = |e: Option<&route53_failover_operator::crd::EndpointStatus>| {
        e.is_some_and(|e| e.health == Health::Healthy)
    };
    for i in 0..N {
        wait_for(&w, &format!("batch{i}"), "Propagating and healthy", |o| {
            ready_is(o, "False", "Propagating")
                && o.status
                    .as_ref()
                    .is_some_and(|s| healthy(s.primary.as_ref()) && healthy(s.secondary.as_ref()))
        })
        .await;
    }
    let changes = w.r53.counter("requests", "ChangeResourceRecordSets");
    let before = reconciles(&op);
    w.r53.reset_counters();
    // Ten change polls (300 ms) pass while every object waits.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = reconciles(&op) - before;
    let polls = w.r53.counter("requests", "GetChange");
    let lists = w.r53.counter("requests", "ListResourceRecordSets");
    eprintln!(
        "{during} reconciles, {polls} GetChange and {lists} ListResourceRecordSets calls in 3 s for {N} objects waiting for {changes} changes"
    );
    assert!(
        during <= N as u64 / 2,
        "{during} reconciles while {N} objects waited for their change"
    );
    assert!(
        polls <= changes * 11,
        "{polls} GetChange calls for {changes} changes in ten poll rounds"
    );
    for i in 0..N {
        wait_for(
            &w,
            &format!("batch{i}"),
            "Ready once the change is INSYNC",
            |o| {
                ready_is(o, "True", "Synced")
                    && o.status
                        .as_ref()
                        .and_then(|s| s.change.as_ref())
                        .is_some_and(|c| c.status == "INSYNC")
            },
        )
        .await;
    }
    eventually("no change left to watch", WAIT, POLL, || async {
        op.metrics()
            .lines()
            .any(|l| l.trim() == "route53_failover_changes_propagating 0")
            .then_some(())
    })
    .await;
}

/// CloudWatch down: status keeps the last known health, the endpoint conditions say it is stale
/// (since when, and why), the active role stays, and nothing is written to Route 53 because of it;
/// once CloudWatch answers again the readings are current again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_goes_stale_while_cloudwatch_is_down_and_nothing_is_written() {
    let w = world().await;
    let _op = Operator::start(&w.kube, &w.r53, &[]);
    apply(&w, &manifest(&w, "dim", "", ""));
    let condition = |o: &FailoverRecord, t: &str| {
        find_condition(o.status.as_ref(), t)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    wait_for(&w, "dim", "Ready and healthy", |o| {
        ready_is(o, "True", "Synced")
            && condition(o, "PrimaryHealthy").is_some_and(|c| c.1 == "Healthy")
            && condition(o, "SecondaryHealthy").is_some_and(|c| c.1 == "Healthy")
    })
    .await;
    w.r53.reset_counters();
    w.r53.configure(serde_json::json!({"faults": {
        "error_rate": 1.0, "operations": ["GetMetricData"], "code": "ServiceUnavailable"}}));
    let o = wait_for(&w, "dim", "health stale", |o| {
        condition(o, "PrimaryHealthy").is_some_and(|c| c.1 == "HealthStale")
            && condition(o, "SecondaryHealthy").is_some_and(|c| c.1 == "HealthStale")
    })
    .await;
    let (status, _, message) = condition(&o, "PrimaryHealthy").expect("condition");
    assert_eq!(status, "True", "the last known health: {message}");
    assert!(
        message.contains("last read at") && message.contains("health source fails"),
        "{message}"
    );
    assert!(ready_is(&o, "True", "Synced"), "Route 53 is still in sync");
    assert_eq!(
        o.status.as_ref().and_then(|s| s.active_role),
        Some(Role::Primary)
    );
    assert!(w.r53.counter("faults", "GetMetricData") > 0);
    assert_eq!(writes(&w), 0, "{}", w.r53.counters());
    w.r53.configure(serde_json::json!({"faults": null}));
    wait_for(&w, "dim", "health current again", |o| {
        condition(o, "PrimaryHealthy").is_some_and(|c| c.1 == "Healthy")
            && condition(o, "SecondaryHealthy").is_some_and(|c| c.1 == "Healthy")
    })
    .await;
    assert_eq!(writes(&w), 0, "{}", w.r53.counters());
}

fn is_leader(op: &Operator) -> bool {
    op.metrics()
        .lines()
        .any(|l| l.trim() == "route53_failover_leader 1")
}

fn reconciles(op: &Operator) -> u64 {
    op.metrics()
        .lines()
        .find_map(|l| l.strip_prefix("route53_failover_reconciles_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn wait_leader<'a>(ops: &'a [&'a Operator], timeout: Duration) -> usize {
    eventually(
        "exactly one leader",
        timeout,
        Duration::from_millis(100),
        || async {
            let leaders: Vec<usize> = (0..ops.len()).filter(|i| is_leader(ops[*i])).collect();
            (leaders.len() == 1).then(|| leaders[0])
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_leader_writes_and_a_standby_takes_over() {
    let w = world().await;
    let a = Operator::start(&w.kube, &w.r53, &[]);
    let b = Operator::start(&w.kube, &w.r53, &[]);
    let ops = [&a, &b];
    let leader = wait_leader(&ops, Duration::from_secs(10)).await;
    apply(&w, &manifest(&w, "ha", "", ""));
    wait_for(&w, "ha", "Ready", |o| ready_is(o, "True", "Synced")).await;
    assert!(reconciles(ops[leader]) > 0);
    assert_eq!(
        reconciles(ops[1 - leader]),
        0,
        "the standby never reconciles"
    );
    let lease: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(w.kube.client().await, support::kube::OPERATOR_NAMESPACE);
    let l = lease
        .get(support::kube::OPERATOR_LEASE)
        .await
        .expect("lease");
    assert!(l.spec.and_then(|s| s.holder_identity).is_some());

    // SIGKILL the leader: the standby takes over once the 3 s lease runs out (observed on its own
    // clock, checked every 500 ms), then reconciles a spec change.
    let (mut a, mut b) = (a, b);
    let (dead, alive) = if leader == 0 {
        (&mut a, &b)
    } else {
        (&mut b, &a)
    };
    dead.kill();
    let killed = std::time::Instant::now();
    eventually(
        "standby leads",
        Duration::from_secs(15),
        Duration::from_millis(100),
        || async { is_leader(alive).then_some(()) },
    )
    .await;
    let takeover = killed.elapsed();
    println!("takeover after SIGKILL: {takeover:?} (lease 3 s, retry 500 ms)");
    assert!(
        takeover <= Duration::from_secs(3) + Duration::from_millis(1500),
        "{takeover:?}"
    );
    apply(
        &w,
        &manifest(&w, "ha", "", "").replace("192.0.2.20", "192.0.2.21"),
    );
    wait_for(&w, "ha", "new leader reconciles generation 2", |o| {
        o.metadata.generation == Some(2) && ready_is(o, "True", "Synced")
    })
    .await;
    assert!(reconciles(alive) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_hands_the_lease_over_quickly() {
    let w = world().await;
    let mut a = Operator::start(
        &w.kube,
        &w.r53,
        &["--leader-election-lease-duration", "20s"],
    );
    eventually("a leads", Duration::from_secs(10), POLL, || async {
        is_leader(&a).then_some(())
    })
    .await;
    let b = Operator::start(
        &w.kube,
        &w.r53,
        &["--leader-election-lease-duration", "20s"],
    );
    assert!(!is_leader(&b));
    let t = std::time::Instant::now();
    assert!(
        a.terminate(Duration::from_secs(10)),
        "SIGTERM exits within 10 s"
    );
    assert!(a.log().contains("released the lease"), "{}", a.log());
    eventually(
        "b leads",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async { is_leader(&b).then_some(()) },
    )
    .await;
    let handover = t.elapsed();
    println!("hand-over after SIGTERM: {handover:?} (lease 20 s)");
    assert!(
        handover < Duration::from_secs(5),
        "released, not expired: {handover:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_probes_answer() {
    let w = world().await;
    let op = Operator::start(&w.kube, &w.r53, &[]);
    apply(&w, &manifest(&w, "obs", "", ""));
    wait_for(&w, "obs", "Ready", |o| ready_is(o, "True", "Synced")).await;
    assert_eq!(support::http("GET", op.admin_port, "/livez", None).0, 200);
    assert_eq!(support::http("GET", op.admin_port, "/readyz", None).0, 200);
    let text = op.metrics();
    for needle in [
        "route53_failover_reconciles_total",
        "route53_failover_route53_requests_total{operation=\"CreateHealthCheck\",outcome=\"success\"}",
        "route53_failover_route53_request_duration_seconds_bucket",
        "route53_failover_records_active{role=\"primary\"} 1",
        "route53_failover_endpoints{role=\"primary\",health=",
        "route53_failover_records_ready{ready=\"True\"} 1",
        "route53_failover_leader 1",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
    // Object names appear only in the per-record series (namespace and name labels).
    for line in text.lines().filter(|l| l.contains("name=\"obs\"")) {
        assert!(
            line.starts_with("route53_failover_record_"),
            "an object name outside the per-record series: {line}"
        );
    }
    assert!(
        !text.contains("obs.example.test"),
        "no record names in labels"
    );
    for needle in [
        "route53_failover_record_ready{namespace=\"default\",name=\"obs\",status=\"True\"} 1",
        "route53_failover_record_active_role{namespace=\"default\",name=\"obs\",role=\"primary\"} 1",
        "route53_failover_record_last_full_sync_timestamp_seconds{namespace=\"default\",name=\"obs\"}",
        "route53_failover_route53_request_duration_seconds_count{operation=\"CreateHealthCheck\"}",
        "route53_failover_build_info{version=",
        "route53_failover_reconciles_in_flight ",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "process_start_time_seconds ",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
    let mut child = std::process::Command::new(support::tool("promtool"))
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // OpenMetrics is served to scrapers that ask for it.
    let (code, om) = support::http_with_headers(
        "GET",
        op.admin_port,
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    );
    assert_eq!(code, 200);
    assert!(om.trim_end().ends_with("# EOF"), "{om}");

    // A record that vanishes without a successful cleanup (Route 53 fails every call, and its
    // finalizer is removed by hand while the cleanup retries) loses its series too.
    w.r53
        .configure(serde_json::json!({"faults": {"error_rate": 1.0, "code": "InternalError"}}));
    ok(&w.kube.kubectl(&["delete", "frec", "obs", "--wait=false"]));
    wait_for(&w, "obs", "deletion pending", |o| {
        o.metadata.deletion_timestamp.is_some()
    })
    .await;
    assert!(
        op.metrics().contains("name=\"obs\""),
        "still tracked while its cleanup fails"
    );
    ok(&w.kube.kubectl(&[
        "patch",
        "frec",
        "obs",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]));
    eventually(
        "the vanished record's series are removed",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || async { (!op.metrics().contains("name=\"obs\"")).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_band_edit_of_our_record_is_repaired() {
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord};
    let w = world().await;
    let _op = Operator::start(&w.kube, &w.r53, &[]);
    apply(&w, &manifest(&w, "drift", "", ""));
    wait_for(&w, "drift", "Ready", |o| ready_is(o, "True", "Synced")).await;
    let secondary = record_sets(&w, "drift")
        .await
        .into_iter()
        .find(|r| r.failover() == Some(&ResourceRecordSetFailover::Secondary))
        .expect("secondary");
    let mut edited = secondary.clone();
    edited.resource_records = Some(vec![
        ResourceRecord::builder()
            .value("203.0.113.66")
            .build()
            .expect("rr"),
    ]);
    w.r53
        .client()
        .await
        .change_resource_record_sets()
        .hosted_zone_id(&w.zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(edited)
                        .build()
                        .expect("change"),
                )
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("edit out of band");
    // The resync interval is 5 s in tests: the operator puts its value back.
    eventually("drift repaired", WAIT, POLL, || async {
        record_sets(&w, "drift")
            .await
            .into_iter()
            .find(|r| r.failover() == Some(&ResourceRecordSetFailover::Secondary))
            .filter(|r| r.resource_records().first().map(|v| v.value()) == Some("192.0.2.20"))
            .map(|_| ())
    })
    .await;
    wait_event(&w, "RecordsChanged").await;
}

/// The packaged install for real: `helm install` of the chart into the API server, then two replicas
/// run with exactly the Deployment's arguments, downward-API environment and its ServiceAccount's token
/// (no kubelet here: the test plays it). One leads, the other takes over when it is killed, and
/// `kubectl wait` sees a FailoverRecord become Ready. Then `helm upgrade` with a values change and a
/// CRD change (applied the documented way, since Helm never upgrades `crds/`), and `helm uninstall`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_upgrade_and_uninstall() {
    let w = world_with(KubeWorld::start()).await;
    let chart = support::repo_root().join("charts/route53-failover-operator");
    let chart = chart.to_string_lossy();
    let ns = support::kube::OPERATOR_NAMESPACE;
    let out = ok(&w.kube.helm(&[
        "install",
        "rfo",
        &chart,
        "--namespace",
        ns,
        "--create-namespace",
    ]));
    assert!(out.contains("STATUS: deployed"), "{out}");
    ok(&w.kube.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/failoverrecords.route53.failover.io",
    ]));
    let deployment = |w: &World| -> Value {
        serde_json::from_str(&ok(&w.kube.kubectl(&[
            "get",
            "deployment",
            "-n",
            ns,
            "rfo-route53-failover-operator",
            "-o",
            "json",
        ])))
        .expect("deployment json")
    };
    let dep = deployment(&w);
    let replicas = dep["spec"]["replicas"].as_u64().expect("replicas");
    assert_eq!(replicas, 2);
    let pod = &dep["spec"]["template"]["spec"];
    let sa = pod["serviceAccountName"]
        .as_str()
        .expect("serviceAccountName");
    let container = &pod["containers"][0];
    let args: Vec<String> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap_or_default()
                .replace("$(POD_NAMESPACE)", ns)
        })
        .collect();
    // Literal env values of the pod spec (the downward-API ones are set per replica below).
    let literal_env: Vec<(String, String)> = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect();
    let lease_name = args
        .iter()
        .skip_while(|a| *a != "--leader-election-lease")
        .nth(1)
        .cloned()
        .expect("lease flag");
    let token = w.kube.sa_kubeconfig(ns, sa);
    let ops: Vec<Operator> = (0..replicas)
        .map(|i| {
            let pod = format!("rfo-route53-failover-operator-{i}");
            let mut env: Vec<(&str, &str)> = literal_env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            env.extend([("POD_NAME", pod.as_str()), ("POD_NAMESPACE", ns)]);
            Operator::start_exact(&w.kube, &w.r53, &token, &args, &env)
        })
        .collect();
    let refs: Vec<&Operator> = ops.iter().collect();
    let leader = wait_leader(&refs, Duration::from_secs(20)).await;
    let lease: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(w.kube.client().await, ns);
    let holder = lease
        .get(&lease_name)
        .await
        .expect("lease in the operator's namespace")
        .spec
        .and_then(|s| s.holder_identity);
    assert_eq!(
        holder,
        Some(format!("rfo-route53-failover-operator-{leader}"))
    );

    apply(&w, &manifest(&w, "chart", "", ""));
    ok(&w.kube.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "frec/chart",
        "--timeout=90s",
    ]));
    assert!(reconciles(refs[leader]) > 0);
    assert_eq!(reconciles(refs[1 - leader]), 0, "only the leader writes");

    // Kill the leader: the standby takes over once the Lease has gone unrenewed for its duration
    // (15 s, counted from the last renewal it saw) at its next retry (every 2 s), and reconciles.
    let mut ops = ops;
    let standby = 1 - leader;
    ops[leader].kill();
    let t = std::time::Instant::now();
    eventually(
        "standby leads",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async { is_leader(&ops[standby]).then_some(()) },
    )
    .await;
    let takeover = t.elapsed();
    println!("chart defaults: takeover after SIGKILL {takeover:?}");
    assert!(takeover <= Duration::from_secs(15 + 2 * 2), "{takeover:?}");
    apply(
        &w,
        &manifest(&w, "chart", "", "").replace("192.0.2.20", "192.0.2.22"),
    );
    wait_for(
        &w,
        "chart",
        "generation 2 Ready under the new leader",
        |o| o.metadata.generation == Some(2) && ready_is(o, "True", "Synced"),
    )
    .await;
    // The chart asks for JSON logs: one object per line, reconciles inside a `reconcile` span.
    let log = ops[standby].log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().all(|l| l["level"].is_string()), "{log}");
    assert!(
        lines.iter().any(|l| l["span"]["name"] == "reconcile"),
        "no reconcile span in:\n{log}"
    );
    drop(ops);

    // helm upgrade: a values change reaches the Deployment (revision 2).
    let out = ok(&w.kube.helm(&[
        "upgrade",
        "rfo",
        &chart,
        "--namespace",
        ns,
        "--reuse-values",
        "--set",
        "operator.logLevel=debug",
    ]));
    assert!(out.contains("REVISION: 2"), "{out}");
    let dep = deployment(&w);
    let args = dep["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(args.contains("\"debug\""), "{args}");
    // A CRD change: a copy of the chart whose CRD has one more printer column. Helm leaves CRDs
    // alone on upgrade, so the chart README's step applies it; the existing object is untouched.
    let copy = w.kube.dir().join("chart-v2");
    copy_dir(
        &support::repo_root().join("charts/route53-failover-operator"),
        &copy,
    );
    let crd_path = copy.join("crds/failoverrecord.yaml");
    let crd = std::fs::read_to_string(&crd_path).expect("crd");
    let column =
        "    - jsonPath: .metadata.generation\n      name: Generation\n      type: integer\n";
    let crd2 = crd.replacen(
        "  - additionalPrinterColumns:\n",
        &format!("  - additionalPrinterColumns:\n{column}"),
        1,
    );
    assert_ne!(crd, crd2, "printer columns moved");
    std::fs::write(&crd_path, &crd2).expect("write crd");
    ok(&w.kube.helm(&[
        "upgrade",
        "rfo",
        &copy.to_string_lossy(),
        "--namespace",
        ns,
        "--reuse-values",
    ]));
    let served = ok(&w.kube.kubectl(&[
        "get",
        "crd",
        "failoverrecords.route53.failover.io",
        "-o",
        "yaml",
    ]));
    assert!(
        !served.contains("name: Generation"),
        "helm does not upgrade CRDs"
    );
    ok(&w.kube.kubectl(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        &crd_path.to_string_lossy(),
    ]));
    let table = ok(&w.kube.kubectl(&["get", "frec", "chart"]));
    assert!(table.contains("GENERATION"), "{table}");
    wait_for(&w, "chart", "still Ready after the upgrade", |o| {
        ready_is(o, "True", "Synced")
    })
    .await;

    // helm uninstall removes what it installed and keeps the CRD (and so every FailoverRecord).
    ok(&w
        .kube
        .helm(&["uninstall", "rfo", "--namespace", ns, "--wait"]));
    let left = ok(&w.kube.kubectl(&[
        "get",
        "deployment,serviceaccount,role,rolebinding",
        "-n",
        ns,
        "-o",
        "name",
    ]));
    assert!(!left.contains("rfo-route53-failover-operator"), "{left}");
    assert!(
        w.kube
            .kubectl(&["get", "clusterrole", "rfo-route53-failover-operator"])
            .status
            .code()
            != Some(0)
    );
    ok(&w.kube.kubectl(&["get", "frec", "chart"]));
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// A record that doesn't decode: created while an older, looser CRD (no enum on `spec.type`) was
/// installed, then the CRD narrowed — the API server keeps serving it. The operator still starts (its
/// start-up check lists metadata only), reports it on its own status and reconciles the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_record_is_isolated_and_reported() {
    let w = world_with(KubeWorld::start()).await;
    let enum_block = "                enum:\n                - A\n                - AAAA\n                - CNAME\n";
    assert!(CRD.contains(enum_block), "the record type enum moved");
    apply(&w, &CRD.replace(enum_block, ""));
    ok(&w.kube.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/failoverrecords.route53.failover.io",
    ]));
    // "bad" sorts before "fine": the first object any list returns does not decode.
    apply(
        &w,
        &manifest(&w, "bad", "", "").replace("  type: A\n", "  type: MX\n"),
    );
    apply(&w, CRD);
    let _op = Operator::start(&w.kube, &w.r53, &[]);
    w.r53.reset_counters();
    apply(&w, &manifest(&w, "fine", "", ""));
    wait_for(&w, "fine", "the valid record is Ready", |o| {
        ready_is(o, "True", "Synced")
    })
    .await;
    let (v, ready) = eventually("bad reported", WAIT, POLL, || async {
        let out = w.kube.kubectl(&["get", "frec", "bad", "-o", "json"]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        let ready = v["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .cloned()?;
        Some((v, ready))
    })
    .await;
    assert_eq!(ready["status"], "False", "{v}");
    assert_eq!(ready["reason"], "InvalidSpec", "{v}");
    assert!(
        ready["message"].as_str().unwrap_or_default().contains("MX"),
        "{v}"
    );
    // kstatus: Stalled (it waits for a spec change), as `kubectl wait` sees it.
    let stalled = v["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Stalled"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(stalled["status"], "True", "{v}");
    assert_eq!(stalled["reason"], "InvalidSpec", "{v}");
    assert_eq!(
        stalled["observedGeneration"], v["metadata"]["generation"],
        "{v}"
    );
    ok(&w.kube.kubectl(&[
        "wait",
        "--for=condition=Stalled",
        "frec/bad",
        "--timeout=10s",
    ]));
    let ev = wait_event(&w, "InvalidSpec").await;
    assert!(ev.note.unwrap_or_default().contains("cannot be decoded"));
    assert!(
        record_sets(&w, "bad").await.is_empty(),
        "nothing written for it"
    );
}

/// Split brain, prevented: the leader's connection to the API server hangs (a TCP proxy that stops
/// forwarding: packets dropped, not refused) while the standby reaches it directly. The cut-off
/// leader cannot renew its Lease, so its fence expires at its renew deadline (2 s of the 3 s lease)
/// and it sends no Route 53 write after that — measured from the Route 53 double's request log, where
/// each replica signs with its own access key — while the standby takes over, repairs an
/// out-of-band edit and applies a spec change the cut-off leader cannot see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_api_server_stops_writing_before_its_lease_can_be_taken() {
    let w = world().await;
    let token = w.kube.operator_kubeconfig();
    let server = w.kube.server();
    let api_port = server.rsplit(':').next().expect("port").to_string();
    let (proxy, proxy_port) = support::spawn_world_server(
        "tcp_proxy.py",
        &["--target", &format!("127.0.0.1:{api_port}")],
        &[],
        &w.kube.dir(),
    );
    let via_proxy = w.kube.dir().join("kubeconfig-via-proxy");
    std::fs::write(
        &via_proxy,
        std::fs::read_to_string(&token)
            .expect("kubeconfig")
            .replace(&server, &format!("https://127.0.0.1:{proxy_port}")),
    )
    .expect("write kubeconfig");
    let a = Operator::start_with(
        &w.kube,
        &w.r53,
        &via_proxy,
        &[],
        &[
            ("AWS_ACCESS_KEY_ID", "replica-a"),
            ("POD_NAME", "replica-a"),
        ],
    );
    eventually("a leads", WAIT, POLL, || async {
        is_leader(&a).then_some(())
    })
    .await;
    let b = Operator::start_with(
        &w.kube,
        &w.r53,
        &token,
        &[],
        &[
            ("AWS_ACCESS_KEY_ID", "replica-b"),
            ("POD_NAME", "replica-b"),
        ],
    );
    apply(&w, &manifest(&w, "split", "", ""));
    wait_for(&w, "split", "Ready", |o| ready_is(o, "True", "Synced")).await;
    assert!(!is_leader(&b));

    // Cut a off. From now on a's fence can only run out.
    let _ = std::process::Command::new("kill")
        .args(["-USR1", &proxy.pid().to_string()])
        .status();
    let cut = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    // Something for both to want to write: an out-of-band edit of the secondary (a repairs it on its
    // next resync if it still may, b once it leads) and a spec change only b can see.
    let client = w.r53.client().await;
    let mut sec = record_sets(&w, "split")
        .await
        .into_iter()
        .find(|r| r.failover() == Some(&ResourceRecordSetFailover::Secondary))
        .expect("secondary");
    sec.ttl = Some(12);
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch};
    client
        .change_resource_record_sets()
        .hosted_zone_id(&w.zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(sec)
                        .build()
                        .expect("change"),
                )
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("out-of-band edit");
    apply(
        &w,
        &manifest(&w, "split", "", "").replace("192.0.2.20", "192.0.2.23"),
    );
    eventually("b leads", WAIT, POLL, || async {
        is_leader(&b).then_some(())
    })
    .await;
    wait_for(&w, "split", "generation 2 Ready under b", |o| {
        o.metadata.generation == Some(2) && ready_is(o, "True", "Synced")
    })
    .await;
    // Give a every chance to write late: two more resyncs (5 s each).
    tokio::time::sleep(Duration::from_secs(10)).await;

    let writes_of = |key: &str| -> Vec<f64> {
        w.r53
            .request_log()
            .iter()
            .filter(|r| r["access_key"] == key)
            .filter(|r| {
                matches!(
                    r["operation"].as_str().unwrap_or_default(),
                    "ChangeResourceRecordSets"
                        | "CreateHealthCheck"
                        | "UpdateHealthCheck"
                        | "DeleteHealthCheck"
                        | "ChangeTagsForResource"
                )
            })
            .filter_map(|r| r["time"].as_f64())
            .filter(|t| *t > cut)
            .map(|t| t - cut)
            .collect()
    };
    let a_writes = writes_of("replica-a");
    let b_writes = writes_of("replica-b");
    let last_a = a_writes.iter().cloned().fold(f64::NAN, f64::max);
    let first_b = b_writes.iter().cloned().fold(f64::NAN, f64::min);
    println!(
        "after the cut: replica a wrote {} times (last at +{last_a:.2} s), replica b {} times (first at +{first_b:.2} s)",
        a_writes.len(),
        b_writes.len()
    );
    // a's last renewal started before the cut, so its fence ran out before cut + 2 s; allow the
    // request's own transit.
    assert!(
        a_writes.iter().all(|t| *t < 2.2),
        "the cut-off leader wrote after its renew deadline: {a_writes:?}"
    );
    assert!(!b_writes.is_empty(), "b took over and wrote");
    assert!(
        a_writes.iter().all(|t| *t < first_b),
        "overlapping writers: a {a_writes:?}, b {b_writes:?}"
    );
    assert_eq!(
        record_sets(&w, "split")
            .await
            .into_iter()
            .find(|r| r.failover() == Some(&ResourceRecordSetFailover::Secondary))
            .map(|r| (r.ttl(), r.resource_records()[0].value().to_string())),
        Some((Some(60), "192.0.2.23".to_string())),
        "b's view won: the spec change applied and the edit repaired"
    );
    let fenced: Vec<String> = a
        .metrics()
        .lines()
        .filter(|l| l.contains("outcome=\"fenced\""))
        .map(str::to_string)
        .collect();
    println!("replica a's writes refused by its fence: {fenced:?}");
    // a stepped down and knows it cannot reach the API server.
    assert!(!is_leader(&a), "a still believes it leads");
    assert_ne!(support::http("GET", a.admin_port, "/readyz", None).0, 200);
    let _ = std::process::Command::new("kill")
        .args(["-USR2", &proxy.pid().to_string()])
        .status();
}

fn not_allowed_errors(op: &Operator) -> u64 {
    op.metrics()
        .lines()
        .find_map(|l| {
            l.strip_prefix("route53_failover_reconcile_errors_total{error=\"NotAllowed\"} ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `--namespace-policy`: namespace `default` may claim names below `a.example.test` in the zone
/// `example.test` (listed by name; the allowed object names it by id, so the zone is resolved
/// first), other namespaces nothing. A name outside the rule and an unlisted namespace get
/// `Ready=False NotAllowed` and a Warning Event; Route 53 sees no write for them, they are judged
/// again on a spec change only (no retry loop), and they can be deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_policy_refuses_names_a_namespace_may_not_claim() {
    let w = world().await;
    let policy = w._dir.path().join("namespace-policy.yaml");
    std::fs::write(
        &policy,
        "namespaces:\n  default:\n    zones: [Example.test.]\n    names: ['*.a.example.test']\ndefault: deny\n",
    )
    .expect("policy file");
    let op = Operator::start(
        &w.kube,
        &w.r53,
        &["--namespace-policy", policy.to_str().expect("utf-8")],
    );
    let by_id = format!("hostedZone: {{id: {}}}", w.zone);
    apply(
        &w,
        &manifest(&w, "app", "", "")
            .replace("hostedZone: {name: example.test}", &by_id)
            .replace("name: app.example.test", "name: app.a.example.test"),
    );
    wait_for(&w, "app", "the allowed record is Ready", |o| {
        ready_is(o, "True", "Synced")
    })
    .await;
    assert_eq!(record_sets(&w, "app.a").await.len(), 2);

    w.r53.reset_counters();
    apply(&w, &manifest(&w, "other", "", ""));
    ok(&w.kube.kubectl(&["create", "namespace", "team-b"]));
    apply(
        &w,
        &manifest(&w, "app", "", "")
            .replace("namespace: default", "namespace: team-b")
            .replace("name: app.example.test", "name: b.a.example.test"),
    );
    let obj = wait_for(&w, "other", "Ready=False NotAllowed", |o| {
        ready_is(o, "False", "NotAllowed")
    })
    .await;
    let msg = ready_message(&obj);
    assert!(
        msg.contains("namespace default may not claim the name other.example.test: namespaces.default allows names *.a.example.test"),
        "{msg}"
    );
    let ev = wait_event(&w, "NotAllowed").await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    let team_b: Api<FailoverRecord> = Api::namespaced(w.kube.client().await, "team-b");
    let obj = eventually("team-b refused", WAIT, POLL, || async {
        team_b
            .get_opt("app")
            .await
            .ok()
            .flatten()
            .filter(|o| ready_is(o, "False", "NotAllowed"))
    })
    .await;
    let msg = ready_message(&obj);
    assert!(
        msg.contains("namespace team-b is not listed in the namespace policy"),
        "{msg}"
    );

    // Judged again on a spec change, and not in a loop in between.
    ok(&w.kube.kubectl(&[
        "patch",
        "frec",
        "other",
        "--type=merge",
        "-p",
        r#"{"spec":{"ttl":120}}"#,
    ]));
    wait_for(&w, "other", "generation 2 refused", |o| {
        ready_is(o, "False", "NotAllowed") && o.metadata.generation == Some(2)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let errors = not_allowed_errors(&op);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(not_allowed_errors(&op), errors, "no retry loop");
    assert!(errors <= 12, "{errors} NotAllowed reconciles");

    for (ns, name) in [("default", "other"), ("team-b", "app")] {
        ok(&w.kube.kubectl(&[
            "delete",
            "frec",
            name,
            "-n",
            ns,
            "--wait=true",
            "--timeout=60s",
        ]));
    }
    for op_name in ["ChangeResourceRecordSets", "CreateHealthCheck"] {
        assert_eq!(
            w.r53.counter("requests", op_name),
            0,
            "{op_name}: {}",
            w.r53.counters()
        );
    }
    assert_eq!(writes(&w), 0, "{}", w.r53.counters());
    assert!(record_sets(&w, "other").await.is_empty());
    assert_eq!(
        record_sets(&w, "app.a").await.len(),
        2,
        "the allowed pair stays"
    );
    assert_eq!(live_checks(&w).len(), 2);
}

/// A namespace policy that cannot be read or is not valid stops the start-up with a clear message.
#[test]
fn a_bad_namespace_policy_stops_the_start_up() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("policy.yaml");
    std::fs::write(
        &bad,
        "namespaces: {team-a: {zones: [example.com]}}\ndefault: deny\n",
    )
    .expect("write");
    for (file, want) in [
        (bad.clone(), "namespaces.team-a: missing field `names`"),
        (dir.path().join("missing.yaml"), "No such file"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_route53-failover-operator"))
            .args(["run", "--namespace-policy"])
            .arg(&file)
            .env("KUBECONFIG", dir.path().join("no-kubeconfig"))
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("error: namespace policy {}: ", file.display()))
                && stderr.contains(want),
            "{stderr}"
        );
    }
}

/// The bearer token of a kubeconfig written by [`KubeWorld::sa_kubeconfig`].
fn token_of(kubeconfig: &std::path::Path) -> String {
    let text = std::fs::read_to_string(kubeconfig).expect("kubeconfig");
    let v: Value = serde_yaml::from_str(&text).expect("kubeconfig yaml");
    v["users"][0]["user"]["token"]
        .as_str()
        .expect("token")
        .to_string()
}

/// `curl` an HTTPS URL of the operator: (exit code, HTTP status, body).
fn curl_https(port: u16, path: &str, token: Option<&str>, insecure: bool) -> (i32, u16, String) {
    let body = tempfile::NamedTempFile::new().expect("tmp");
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "--max-time", "20", "-o"])
        .arg(body.path())
        .args(["-w", "%{http_code}"]);
    if insecure {
        cmd.arg("-k");
    }
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl");
    let code = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (
        out.status.code().unwrap_or(-1),
        code,
        std::fs::read_to_string(body.path()).unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_metrics_need_a_token_the_api_server_authorizes() {
    let w = world().await;
    // The chart's RBAC with metrics.secure on: the operator may create TokenReviews and
    // SubjectAccessReviews, and the metrics-reader ClusterRole exists.
    let kubeconfig = w.kube.operator_kubeconfig();
    let out = w.kube.helm(&[
        "template",
        "rfo",
        &support::repo_root()
            .join("charts/route53-failover-operator")
            .to_string_lossy(),
        "--namespace",
        support::kube::OPERATOR_NAMESPACE,
        "--set",
        "metrics.secure=true",
    ]);
    let rendered = ok(&out);
    let rbac: Vec<String> = rendered
        .split("\n---")
        .filter(|d| {
            d.lines()
                .any(|l| l == "kind: ClusterRole" || l == "kind: ClusterRoleBinding")
        })
        .map(|d| d.trim_start_matches('-').to_string())
        .collect();
    assert!(
        rendered.contains("name: rfo-route53-failover-operator-metrics-reader"),
        "{rendered}"
    );
    ok(&w.kube.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        &rbac.join("\n---\n"),
    ));
    // A reader bound to the chart's metrics-reader role, and a service account without it.
    ok(&w.kube.kubectl(&["create", "serviceaccount", "reader"]));
    ok(&w.kube.kubectl(&["create", "serviceaccount", "stranger"]));
    ok(&w.kube.kubectl(&[
        "create",
        "clusterrolebinding",
        "test-metrics-reader",
        "--clusterrole=rfo-route53-failover-operator-metrics-reader",
        "--serviceaccount=default:reader",
    ]));
    let reader = token_of(&w.kube.sa_kubeconfig("default", "reader"));
    let stranger = token_of(&w.kube.sa_kubeconfig("default", "stranger"));

    let port = support::operator::free_port();
    let address = format!("127.0.0.1:{port}");
    let op = Operator::start_with(
        &w.kube,
        &w.r53,
        &kubeconfig,
        &["--metrics-secure", "--metrics-address", &address],
        &[],
    );
    let (_, code, body) = curl_https(port, "/metrics", Some(&reader), true);
    assert_eq!(code, 200, "{body}\n{}", op.log());
    assert!(body.contains("route53_failover_build_info"), "{body}");
    assert_eq!(curl_https(port, "/metrics", Some(&stranger), true).1, 403);
    assert_eq!(curl_https(port, "/metrics", None, true).1, 401);
    assert_eq!(
        curl_https(port, "/metrics", Some("not-a-token"), true).1,
        401
    );
    // A second scrape by the reader (a cached verdict) is still allowed.
    assert_eq!(curl_https(port, "/metrics", Some(&reader), true).1, 200);
    // Only HTTPS, with the self-signed certificate: not trusted without -k.
    let (exit, _, _) = curl_https(port, "/metrics", Some(&reader), false);
    assert_eq!(exit, 60, "curl: the certificate is self-signed");
    // The plain admin server keeps the probes and no longer serves /metrics.
    assert_eq!(support::http("GET", op.admin_port, "/readyz", None).0, 200);
    assert_eq!(support::http("GET", op.admin_port, "/metrics", None).0, 404);
}
