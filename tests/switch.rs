//! The manual failover switch (issue 10 item 2) against the local world.
//!
//! First the Route 53 layer it stands on: CALCULATED health checks through the real adapter
//! (`AwsRoute53`) and the double's evaluation of them (`GET /_world/resolve`: the record Route 53
//! would answer with now, health included). Then the switch itself, operator and all.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use route53_failover_operator::crd::FailoverRecord;
use route53_failover_operator::crd::Role;
use route53_failover_operator::health::cloudwatch::CloudWatchHealth;
use route53_failover_operator::health::{HealthSource, Reading};
use route53_failover_operator::metrics::Metrics;
use route53_failover_operator::route53::aws::AwsRoute53;
use route53_failover_operator::route53::budget::Budget;
use route53_failover_operator::route53::{
    Alias, Change, HealthCheckConfig, RecordSet, Route53, Route53ErrorKind,
};
use route53_failover_operator::status::find_condition;
use support::kube::{KubeWorld, ok};
use support::operator::Operator;
use support::r53::{PUBLIC, R53World, tcp};
use support::{Backend, eventually};

/// A loopback port nothing listens on: a check routed to it fails.
const CLOSED: &str = "127.0.0.1:1";

async fn adapter(w: &R53World) -> AwsRoute53 {
    AwsRoute53::new(
        w.client().await,
        Arc::new(Budget::new(0.0, 1.0)),
        Arc::new(Metrics::default()),
    )
}

fn record(name: &str, role: Role, value: &str, hc: Option<String>) -> RecordSet {
    RecordSet {
        name: name.into(),
        rtype: "A".into(),
        set_identifier: Some(role.short().into()),
        failover: Some(role),
        ttl: Some(60),
        values: vec![value.into()],
        alias: None,
        health_check_id: hc,
    }
}

async fn role_becomes(w: &R53World, zone: &str, name: &str, want: &str) {
    eventually(
        &format!("Route 53 answers {name} with {want}"),
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async { (w.answering_role(zone, name, "A").as_deref() == Some(want)).then_some(()) },
    )
    .await;
}

// ------------------------------------------------------------------ Route 53 layer

#[tokio::test]
async fn a_calculated_check_is_created_read_and_updated_in_place() {
    let w = R53World::start();
    let a = adapter(&w).await;
    let child = a
        .create_health_check("child-1", &tcp(443), &[])
        .await
        .expect("child");
    let want = HealthCheckConfig::calculated(vec![child.id.clone()], 1, false);
    let gate = a
        .create_health_check("gate-1", &want, &[("owner".into(), "t".into())])
        .await
        .expect("gate");
    assert_eq!(gate.config.as_ref(), Some(&want), "{gate:?}");
    // CallerReference idempotency holds for calculated checks too.
    let again = a
        .create_health_check("gate-1", &want, &[])
        .await
        .expect("same ref, same config");
    assert_eq!(again.id, gate.id);

    // Threshold and children change in place (UpdateHealthCheck), the version moves on.
    let forced = HealthCheckConfig::calculated(vec![child.id.clone()], 2, false);
    assert!(forced.updatable_from(&want));
    let up = a
        .update_health_check(&gate.id, gate.version, &forced)
        .await
        .expect("threshold");
    assert_eq!(up.version, gate.version + 1);
    assert_eq!(up.config.as_ref(), Some(&forced));
    let empty = HealthCheckConfig::calculated(Vec::new(), 0, false);
    let up2 = a
        .update_health_check(&gate.id, up.version, &empty)
        .await
        .expect("no children");
    assert_eq!(
        up2.config.as_ref(),
        Some(&empty),
        "ResetElements clears them"
    );
    let read = a
        .get_health_check(&gate.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(read.config.as_ref(), Some(&empty));
    // A calculated check never turns into an endpoint check in place.
    assert!(!tcp(443).updatable_from(&empty));
}

#[tokio::test]
async fn the_double_refuses_what_route_53_refuses_for_calculated_checks() {
    let w = R53World::start();
    let a = adapter(&w).await;
    let child = a.create_health_check("c", &tcp(443), &[]).await.unwrap();
    for (why, cfg) in [
        (
            "threshold above 256",
            HealthCheckConfig::calculated(vec![child.id.clone()], 257, false),
        ),
        (
            "negative threshold",
            HealthCheckConfig::calculated(vec![child.id.clone()], -1, false),
        ),
        (
            "a child that does not exist",
            HealthCheckConfig::calculated(vec!["no-such-check".into()], 1, false),
        ),
    ] {
        let err = a
            .create_health_check(&format!("bad-{why}"), &cfg, &[])
            .await
            .expect_err(why);
        assert_eq!(err.kind, Route53ErrorKind::Invalid, "{why}: {err:?}");
    }
    let gate = a
        .create_health_check(
            "g",
            &HealthCheckConfig::calculated(vec![child.id.clone()], 1, false),
            &[],
        )
        .await
        .unwrap();
    // GetHealthCheckStatus does not report calculated checks (API reference).
    let err = a.health_status(&gate.id).await.expect_err("calculated");
    assert_eq!(err.kind, Route53ErrorKind::Invalid, "{err:?}");
    // Nor can an update point a check at itself.
    let err = a
        .update_health_check(
            &gate.id,
            gate.version,
            &HealthCheckConfig::calculated(vec![gate.id.clone()], 1, false),
        )
        .await
        .expect_err("own child");
    assert_eq!(err.kind, Route53ErrorKind::Invalid, "{err:?}");
}

#[tokio::test]
async fn the_answer_follows_a_calculated_gate_in_front_of_the_primary() {
    let w = R53World::start();
    let dir = tempfile::tempdir().unwrap();
    let backend = support::Backend::start(dir.path());
    w.route(PUBLIC, &format!("127.0.0.1:{}", backend.port));
    let zone = w.create_zone("switch.test").await;
    let a = adapter(&w).await;
    let child = a
        .create_health_check("child", &tcp(443), &[])
        .await
        .unwrap();
    let gate = a
        .create_health_check(
            "gate",
            &HealthCheckConfig::calculated(vec![child.id.clone()], 1, false),
            &[],
        )
        .await
        .unwrap();
    let name = "app.switch.test.";
    a.change_record_sets(
        &zone,
        "pair",
        &[
            Change::Create(record(
                name,
                Role::Primary,
                "192.0.2.10",
                Some(gate.id.clone()),
            )),
            Change::Create(record(name, Role::Secondary, "192.0.2.20", None)),
        ],
    )
    .await
    .expect("pair");
    role_becomes(&w, &zone, name, "PRIMARY").await;
    let r = w.resolve(&zone, name, "A");
    assert_eq!(r["answer"], serde_json::json!(["192.0.2.10"]), "{r}");

    // Threshold above the number of children: always unhealthy, the secondary answers at once.
    let g = a
        .update_health_check(
            &gate.id,
            gate.version,
            &HealthCheckConfig::calculated(vec![child.id.clone()], 2, false),
        )
        .await
        .unwrap();
    assert_eq!(
        w.answering_role(&zone, name, "A").as_deref(),
        Some("SECONDARY")
    );
    // Threshold 0: always healthy, even with the child failing.
    w.route(PUBLIC, CLOSED);
    let g = a
        .update_health_check(
            &gate.id,
            g.version,
            &HealthCheckConfig::calculated(vec![child.id.clone()], 0, false),
        )
        .await
        .unwrap();
    eventually(
        "the child check fails",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let hcs = w.health_checks();
            let c = hcs
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["id"] == child.id.as_str())
                .cloned()
                .unwrap();
            (c["healthy"] == false).then_some(())
        },
    )
    .await;
    assert_eq!(
        w.answering_role(&zone, name, "A").as_deref(),
        Some("PRIMARY")
    );
    // Threshold 1: the child decides again; it is failing, so the secondary answers.
    a.update_health_check(
        &gate.id,
        g.version,
        &HealthCheckConfig::calculated(vec![child.id.clone()], 1, false),
    )
    .await
    .unwrap();
    assert_eq!(
        w.answering_role(&zone, name, "A").as_deref(),
        Some("SECONDARY")
    );
    // And it recovers with the child.
    w.route(PUBLIC, &format!("127.0.0.1:{}", backend.port));
    role_becomes(&w, &zone, name, "PRIMARY").await;
    let gate_view = w
        .health_checks()
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == gate.id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(gate_view["healthy_children"], 1, "{gate_view}");
}

#[tokio::test]
async fn an_alias_primary_is_healthy_only_when_its_check_and_its_target_are() {
    let w = R53World::start();
    let zone = w.create_zone("alias.test").await;
    let a = adapter(&w).await;
    // No children: threshold 0 always healthy, threshold 1 always unhealthy.
    let gate = a
        .create_health_check(
            "gate",
            &HealthCheckConfig::calculated(Vec::new(), 0, false),
            &[],
        )
        .await
        .unwrap();
    let name = "www.alias.test.";
    let lb = "primary-lb-1.us-east-1.elb.amazonaws.com.";
    let primary = RecordSet {
        ttl: None,
        values: Vec::new(),
        alias: Some(Alias {
            dns_name: lb.into(),
            hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
            evaluate_target_health: true,
        }),
        ..record(name, Role::Primary, "", Some(gate.id.clone()))
    };
    a.change_record_sets(
        &zone,
        "pair",
        &[
            Change::Create(primary),
            Change::Create(record(name, Role::Secondary, "192.0.2.20", None)),
        ],
    )
    .await
    .expect("pair");
    assert_eq!(
        w.answering_role(&zone, name, "A").as_deref(),
        Some("PRIMARY")
    );
    // The target's health alone decides while the gate lets everything through.
    w.set_target_health(lb, false);
    assert_eq!(
        w.answering_role(&zone, name, "A").as_deref(),
        Some("SECONDARY")
    );
    w.set_target_health(lb, true);
    assert_eq!(
        w.answering_role(&zone, name, "A").as_deref(),
        Some("PRIMARY")
    );
    // A healthy target does not help a failing gate.
    a.update_health_check(
        &gate.id,
        gate.version,
        &HealthCheckConfig::calculated(Vec::new(), 1, false),
    )
    .await
    .unwrap();
    assert_eq!(
        w.answering_role(&zone, name, "A").as_deref(),
        Some("SECONDARY")
    );
    let r = w.resolve(&zone, name, "A");
    assert_eq!(r["answer"], serde_json::json!(["192.0.2.20"]), "{r}");
}

#[tokio::test]
async fn cloudwatch_has_the_status_of_a_calculated_check() {
    let w = R53World::start();
    w.set_metric_period(Some(0.25));
    let a = adapter(&w).await;
    let healthy = a
        .create_health_check(
            "up",
            &HealthCheckConfig::calculated(Vec::new(), 0, false),
            &[],
        )
        .await
        .unwrap();
    let down = a
        .create_health_check(
            "down",
            &HealthCheckConfig::calculated(Vec::new(), 1, false),
            &[],
        )
        .await
        .unwrap();
    let cw = CloudWatchHealth::new(
        w.cloudwatch_client(3).await,
        Duration::from_secs(60),
        Arc::new(Metrics::default()),
    );
    let ids = vec![healthy.id.clone(), down.id.clone()];
    let got = eventually(
        "HealthCheckStatus of both calculated checks",
        Duration::from_secs(20),
        Duration::from_millis(250),
        || async {
            let r = cw.read(&ids).await.ok()?;
            (r.len() == 2).then_some(r)
        },
    )
    .await;
    let health = |id: &str| match &got[id] {
        Reading::Health(h) => h.health,
        Reading::Missing => panic!("missing"),
    };
    use route53_failover_operator::crd::Health;
    assert_eq!(health(&healthy.id), Health::Healthy);
    assert_eq!(health(&down.id), Health::Unhealthy);
}

// ------------------------------------------------------------------ the switch, end to end

/// Public addresses of the endpoint checks (routed to loopback backends by the double).
const PRIMARY_IP: &str = "52.94.76.10";
const SECONDARY_IP: &str = "52.94.76.11";
const WAIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(200);
const LB: &str = "primary-lb-1.us-east-1.elb.amazonaws.com";

struct World {
    r53: R53World,
    kube: KubeWorld,
    zone: String,
    primary: Backend,
    _secondary: Backend,
    _op: Operator,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let kube = KubeWorld::with_crd();
    let r53 = R53World::start();
    let zone = r53.create_zone("example.test").await;
    r53.route(PRIMARY_IP, "127.0.0.1");
    r53.route(SECONDARY_IP, "127.0.0.1");
    let pdir = dir.path().join("p");
    let sdir = dir.path().join("s");
    std::fs::create_dir_all(&pdir).unwrap();
    std::fs::create_dir_all(&sdir).unwrap();
    let primary = Backend::start(&pdir);
    let secondary = Backend::start(&sdir);
    let op = Operator::start(&kube, &r53, &[]);
    World {
        r53,
        kube,
        zone,
        primary,
        _secondary: secondary,
        _op: op,
        _dir: dir,
    }
}

fn manifest(w: &World, failover: &str) -> String {
    let mut yaml = support::record_manifest(
        "app",
        "example.test",
        (
            "192.0.2.10",
            &support::http_check(PRIMARY_IP, w.primary.port, ""),
        ),
        (
            "192.0.2.20",
            &support::http_check(SECONDARY_IP, w._secondary.port, ""),
        ),
    );
    yaml.push_str(&format!("  failover: {failover}\n"));
    yaml
}

fn alias_manifest(w: &World, failover: &str) -> String {
    format!(
        r#"apiVersion: route53.failover.io/v1alpha1
kind: FailoverRecord
metadata:
  name: app
  namespace: default
spec:
  hostedZone: {{name: example.test}}
  name: app.example.test
  type: A
  primary:
    alias: {{dnsName: {LB}, hostedZoneId: Z35SXDOTRQ7X7K, evaluateTargetHealth: true}}
  secondary:
    values: ["192.0.2.20"]
    healthCheck: {check}
  failover: {failover}
"#,
        check = support::http_check(SECONDARY_IP, w._secondary.port, "")
    )
}

fn apply(w: &World, yaml: &str) {
    ok(&w
        .kube
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], yaml));
}

/// Run the operator binary's `switch`/`ack` subcommand as the admin of the local cluster.
fn subcommand(w: &World, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_route53-failover-operator"))
        .args(args)
        .env("KUBECONFIG", w.kube.kubeconfig())
        .output()
        .expect("run subcommand");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn wait_for(w: &World, what: &str, pred: impl Fn(&FailoverRecord) -> bool) -> FailoverRecord {
    let api: Api<FailoverRecord> = Api::namespaced(w.kube.client().await, "default");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let got = api.get_opt("app").await.ok().flatten();
        if let Some(o) = got.as_ref().filter(|o| pred(o)) {
            return o.clone();
        }
        if std::time::Instant::now() > deadline {
            let log = w._op.log();
            let tail: String = log
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            panic!(
                "timed out waiting for: {what}\nobject status: {}\noperator log tail:\n{tail}",
                serde_json::to_string_pretty(&got.and_then(|o| o.status)).unwrap_or_default()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

fn gate_state(o: &FailoverRecord) -> Option<String> {
    o.status
        .as_ref()
        .and_then(|s| s.failover.as_ref())
        .map(|f| f.gate_state.clone())
}

fn synced(o: &FailoverRecord) -> bool {
    find_condition(o.status.as_ref(), "Ready").is_some_and(|c| c.status == "True")
        && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
}

fn active(o: &FailoverRecord) -> Option<Role> {
    o.status.as_ref().and_then(|s| s.active_role)
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
    eventually(&format!("an Event {reason}"), WAIT, POLL, || async {
        events(w, reason).await.into_iter().next()
    })
    .await
}

fn writes(w: &World) -> u64 {
    [
        "ChangeResourceRecordSets",
        "CreateHealthCheck",
        "UpdateHealthCheck",
        "DeleteHealthCheck",
        "ChangeTagsForResource",
    ]
    .iter()
    .map(|op| w.r53.counter("requests", op))
    .sum()
}

fn role(w: &World) -> Option<String> {
    w.r53.answering_role(&w.zone, "app.example.test", "A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flip_is_one_route53_call_and_status_says_who_and_when() {
    let w = world().await;
    apply(&w, &manifest(&w, "{mode: Automatic}"));
    let o = wait_for(&w, "synced with the gate", |o| {
        synced(o) && gate_state(o).as_deref() == Some("RouteByHealth")
    })
    .await;
    assert_eq!(role(&w).as_deref(), Some("PRIMARY"));
    assert_eq!(active(&o), Some(Role::Primary));
    let gate = o.status.as_ref().unwrap().failover.clone().unwrap();
    let gate_id = gate.gate_health_check_id.clone().unwrap();
    // The PRIMARY record carries the gate, whose child is the primary's own check.
    let r = w.r53.resolve(&w.zone, "app.example.test", "A");
    let primary = r["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["failover"] == "PRIMARY")
        .cloned()
        .unwrap();
    assert_eq!(primary["healthCheckId"], gate_id.as_str(), "{r}");

    w.r53.reset_counters();
    let started = std::time::Instant::now();
    let said = subcommand(
        &w,
        &[
            "switch",
            "app",
            "--to",
            "secondary",
            "--by",
            "alice",
            "-n",
            "default",
        ],
    );
    assert!(said.contains("switched to Secondary"), "{said}");
    eventually(
        "Route 53 answers with the secondary",
        WAIT,
        Duration::from_millis(50),
        || async { (role(&w).as_deref() == Some("SECONDARY")).then_some(()) },
    )
    .await;
    let took = started.elapsed();
    let o = wait_for(&w, "status shows the flip", |o| {
        synced(o) && gate_state(o).as_deref() == Some("ForceSecondary")
    })
    .await;
    assert_eq!(
        active(&o),
        Some(Role::Secondary),
        "status agrees with Route 53"
    );
    let f = o.status.as_ref().unwrap().failover.clone().unwrap();
    assert_eq!(
        f.mode,
        route53_failover_operator::crd::SwitchMode::Secondary
    );
    let by = f.set_by.clone().unwrap_or_default();
    assert!(by.contains("alice"), "{by}");
    assert!(f.set_at.is_some());
    assert_eq!(f.health_threshold, 2);
    wait_event(&w, "FailoverSwitched").await;
    // Let resyncs pass: the flip stays one call.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let counters = w.r53.counters();
    assert_eq!(writes(&w), 1, "{counters}");
    assert_eq!(
        w.r53.counter("requests", "UpdateHealthCheck"),
        1,
        "{counters}"
    );
    eprintln!(
        "flip: {} Route 53 write call(s), answer changed {:.1} s after the subcommand; requests {}",
        writes(&w),
        took.as_secs_f64(),
        counters["requests"]
    );
    assert_eq!(role(&w).as_deref(), Some("SECONDARY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_is_held_until_acknowledged() {
    let mut w = world().await;
    apply(&w, &manifest(&w, "{mode: Automatic, failback: Manual}"));
    wait_for(&w, "synced", |o| {
        synced(o) && gate_state(o).as_deref() == Some("RouteByHealth")
    })
    .await;
    assert_eq!(role(&w).as_deref(), Some("PRIMARY"));
    // Break the primary: Route 53 fails over, the operator holds it.
    w.primary.kill();
    let o = wait_for(&w, "held", |o| gate_state(o).as_deref() == Some("Held")).await;
    assert!(
        o.status
            .as_ref()
            .unwrap()
            .failover
            .as_ref()
            .unwrap()
            .held_since
            .is_some()
    );
    assert_eq!(role(&w).as_deref(), Some("SECONDARY"));
    wait_event(&w, "FailoverHeld").await;
    // Heal it: the primary is healthy again, Route 53 keeps answering with the secondary.
    w.primary.restart();
    let o = wait_for(&w, "the primary healthy again", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.primary.as_ref())
            .is_some_and(|p| p.health == route53_failover_operator::crd::Health::Healthy)
    })
    .await;
    assert_eq!(active(&o), Some(Role::Secondary), "status agrees: held");
    for _ in 0..20 {
        assert_eq!(
            role(&w).as_deref(),
            Some("SECONDARY"),
            "held until acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Acknowledge: traffic returns.
    w.r53.reset_counters();
    let said = subcommand(&w, &["ack", "app", "-n", "default"]);
    assert!(said.contains("acknowledged"), "{said}");
    eventually(
        "Route 53 answers with the primary again",
        WAIT,
        Duration::from_millis(50),
        || async { (role(&w).as_deref() == Some("PRIMARY")).then_some(()) },
    )
    .await;
    let o = wait_for(&w, "released", |o| {
        synced(o) && gate_state(o).as_deref() == Some("RouteByHealth")
    })
    .await;
    assert_eq!(active(&o), Some(Role::Primary));
    wait_event(&w, "FailbackAcknowledged").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let counters = w.r53.counters();
    assert_eq!(writes(&w), 1, "an acknowledgment is one call: {counters}");
    eprintln!(
        "acknowledgment: {} Route 53 write call(s); requests {}",
        writes(&w),
        counters["requests"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_switch_works_on_an_alias_primary() {
    let w = world().await;
    apply(&w, &alias_manifest(&w, "{mode: Automatic}"));
    wait_for(&w, "synced", |o| {
        synced(o) && gate_state(o).as_deref() == Some("RouteByHealth")
    })
    .await;
    assert_eq!(role(&w).as_deref(), Some("PRIMARY"));
    // Target health still decides through the open gate.
    w.r53.set_target_health(LB, false);
    assert_eq!(role(&w).as_deref(), Some("SECONDARY"));
    w.r53.set_target_health(LB, true);
    assert_eq!(role(&w).as_deref(), Some("PRIMARY"));
    // The switch forces the secondary with the target healthy: the README's kubectl recipe.
    w.r53.reset_counters();
    ok(&w.kube.kubectl(&[
        "patch",
        "frec",
        "app",
        "-n",
        "default",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"failover":{"mode":"Secondary"}}}"#,
    ]));
    let o = wait_for(&w, "flipped", |o| {
        synced(o) && gate_state(o).as_deref() == Some("ForceSecondary")
    })
    .await;
    let by = o
        .status
        .as_ref()
        .unwrap()
        .failover
        .as_ref()
        .unwrap()
        .set_by
        .clone();
    assert_eq!(by.as_deref(), Some("kubectl-patch"));
    assert_eq!(role(&w).as_deref(), Some("SECONDARY"));
    assert_eq!(
        active(&o),
        Some(Role::Secondary),
        "known although target health is not"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(writes(&w), 1, "{}", w.r53.counters());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_mode_forces_a_failed_primary_and_says_so() {
    let mut w = world().await;
    apply(&w, &manifest(&w, "{mode: Primary}"));
    wait_for(&w, "synced", |o| {
        synced(o) && gate_state(o).as_deref() == Some("ForcePrimary")
    })
    .await;
    w.primary.kill();
    let o = wait_for(&w, "the primary unhealthy", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.primary.as_ref())
            .is_some_and(|p| p.health == route53_failover_operator::crd::Health::Unhealthy)
            && o.status
                .as_ref()
                .and_then(|s| s.failover.as_ref())
                .is_some_and(|f| f.message.contains("forced"))
    })
    .await;
    assert_eq!(active(&o), Some(Role::Primary));
    assert_eq!(role(&w).as_deref(), Some("PRIMARY"), "forced");
    let e = wait_event(&w, "PrimaryForced").await;
    assert_eq!(e.type_.as_deref(), Some("Warning"));
}
