//! The manual failover switch (issue 10 item 2) against the local world.
//!
//! First the Route 53 layer it stands on: CALCULATED health checks through the real adapter
//! (`AwsRoute53`) and the double's evaluation of them (`GET /_world/resolve`: the record Route 53
//! would answer with now, health included). Then the switch itself, operator and all.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use route53_failover_operator::crd::{HealthCheckType, Role};
use route53_failover_operator::health::cloudwatch::CloudWatchHealth;
use route53_failover_operator::health::{HealthSource, Reading};
use route53_failover_operator::metrics::Metrics;
use route53_failover_operator::route53::aws::AwsRoute53;
use route53_failover_operator::route53::budget::Budget;
use route53_failover_operator::route53::{
    Alias, Change, HealthCheckConfig, RecordSet, Route53, Route53ErrorKind,
};
use support::eventually;
use support::r53::R53World;

/// The public address the endpoint checks of these tests check (routed to loopback backends).
const PUBLIC: &str = "52.94.76.10";
/// A loopback port nothing listens on: a check routed to it fails.
const CLOSED: &str = "127.0.0.1:1";

async fn adapter(w: &R53World) -> AwsRoute53 {
    AwsRoute53::new(
        w.client().await,
        Arc::new(Budget::new(0.0, 1.0)),
        Arc::new(Metrics::default()),
    )
}

fn tcp(port: i32) -> HealthCheckConfig {
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
