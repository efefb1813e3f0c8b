//! The health-check kinds that contact no endpoint (issue 11 item 3): `CLOUDWATCH_METRIC` (a
//! CloudWatch alarm, the AWS answer for private endpoints and private hosted zones) and
//! `RECOVERY_CONTROL` (a Route 53 ARC routing control).
//!
//! First the Route 53 double itself through the real aws-sdk-route53 client (what it accepts,
//! refuses and how such checks turn healthy and unhealthy), then the real operator binary against
//! the local world: failover and failback driven by an alarm and by a routing control, and bad
//! input refused at admission.
mod support;

use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_route53::Client;
use aws_sdk_route53::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_route53::error::ProvideErrorMetadata;
use aws_sdk_route53::types::{
    AlarmIdentifier, CloudWatchRegion, HealthCheckConfig, HealthCheckType,
    InsufficientDataHealthStatus, ResourceRecordSetFailover,
};
use kube::Api;
use route53_failover_operator::crd::{FailoverRecord, Health, Role};
use route53_failover_operator::status::find_condition;
use serde_json::{Value, json};
use support::eventually;
use support::kube::{KubeWorld, fails, ok};
use support::operator::Operator;
use support::r53::{R53World, hc_config, hc_observations, try_create_hc};

const ARN: &str =
    "arn:aws:route53-recovery-control::123456789012:controlpanel/0123abcd/routingcontrol/4567cdef";
const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

// ------------------------------------------------------------------------------------ helpers

/// A CloudWatch client of the double's port in `region` (alarms live in their own region).
async fn cloudwatch(w: &R53World, region: &str) -> aws_sdk_cloudwatch::Client {
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(w.endpoint())
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "kinds"))
        .http_client(support::r53::http_client())
        .load()
        .await;
    aws_sdk_cloudwatch::Client::new(&conf)
}

/// A standard-resolution alarm `name` in the client's region (moto creates it `OK`).
async fn put_alarm(cw: &aws_sdk_cloudwatch::Client, name: &str) {
    cw.put_metric_alarm()
        .alarm_name(name)
        .namespace("App")
        .metric_name("Errors")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("PutMetricAlarm");
}

async fn set_alarm(cw: &aws_sdk_cloudwatch::Client, name: &str, state: StateValue) {
    cw.set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason("test")
        .send()
        .await
        .expect("SetAlarmState");
}

fn routing_control(w: &R53World, arn: &str, state: &str) {
    let (code, body) = support::http(
        "POST",
        w.port(),
        "/_world/routing-controls",
        Some(&json!({ arn: state }).to_string()),
    );
    assert_eq!(code, 200, "{body}");
}

fn alarm_check(
    region: &str,
    name: &str,
    status: Option<InsufficientDataHealthStatus>,
) -> HealthCheckConfig {
    HealthCheckConfig::builder()
        .r#type(HealthCheckType::CloudwatchMetric)
        .alarm_identifier(
            AlarmIdentifier::builder()
                .region(CloudWatchRegion::from(region))
                .name(name)
                .build()
                .expect("alarm"),
        )
        .set_insufficient_data_health_status(status)
        .build()
        .expect("config")
}

/// Every checker's status line of GetHealthCheckStatus.
async fn statuses(c: &Client, id: &str) -> Vec<String> {
    hc_observations(c, id)
        .await
        .iter()
        .map(|o| {
            o.status_report()
                .and_then(|r| r.status())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// Whether every checker reports `Success` (`Some(true)`) or `Failure` (`Some(false)`).
async fn healthy(c: &Client, id: &str) -> Option<bool> {
    let s = statuses(c, id).await;
    if !s.is_empty() && s.iter().all(|l| l.starts_with("Success")) {
        Some(true)
    } else if !s.is_empty() && s.iter().all(|l| l.starts_with("Failure")) {
        Some(false)
    } else {
        None
    }
}

async fn wait_health(c: &Client, id: &str, want: bool) -> Duration {
    let start = Instant::now();
    eventually(
        &format!("check {id} healthy={want}"),
        WAIT,
        POLL,
        || async { (healthy(c, id).await == Some(want)).then_some(()) },
    )
    .await;
    start.elapsed()
}

// ------------------------------------------------------------------------------------ the double

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_cloudwatch_metric_check_follows_its_alarm_after_the_delay() {
    let w = R53World::start();
    w.configure(json!({"alarm_delay": 1.5}));
    let c = w.client().await;
    let cw = cloudwatch(&w, "eu-west-1").await;
    put_alarm(&cw, "db-errors").await;
    let id = try_create_hc(&c, "cw-1", alarm_check("eu-west-1", "db-errors", None))
        .await
        .expect("create");

    // GetHealthCheck echoes the alarm and no endpoint settings.
    let cfg = hc_config(&c, &id).await;
    assert_eq!(cfg.r#type(), &HealthCheckType::CloudwatchMetric);
    let alarm = cfg.alarm_identifier().expect("alarm identifier");
    assert_eq!(
        (alarm.region().as_str(), alarm.name()),
        ("eu-west-1", "db-errors")
    );
    assert_eq!(cfg.port(), None);
    assert_eq!(cfg.request_interval(), None);

    // A new check with no visible alarm data yet is healthy (LastKnownStatus, nothing known).
    assert_eq!(healthy(&c, &id).await, Some(true));
    wait_health(&c, &id, true).await;

    // ALARM -> unhealthy, but only once the state has lasted the delay.
    set_alarm(&cw, "db-errors", StateValue::Alarm).await;
    let lag = wait_health(&c, &id, false).await;
    assert!(
        lag >= Duration::from_millis(1300),
        "followed the alarm after {lag:?}"
    );
    let s = statuses(&c, &id).await;
    assert!(s[0].contains("CloudWatch alarm state is ALARM"), "{s:?}");

    // INSUFFICIENT_DATA with the default LastKnownStatus keeps the last status (unhealthy).
    set_alarm(&cw, "db-errors", StateValue::InsufficientData).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(healthy(&c, &id).await, Some(false));
    assert!(statuses(&c, &id).await[0].contains("INSUFFICIENT_DATA"));

    // OK -> healthy again.
    set_alarm(&cw, "db-errors", StateValue::Ok).await;
    wait_health(&c, &id, true).await;

    // The AWS/Route53 HealthCheckStatus metric carries the same verdict (what the operator reads).
    w.configure(json!({"alarm_delay": 0}));
    set_alarm(&cw, "db-errors", StateValue::Alarm).await;
    wait_health(&c, &id, false).await;
    let us = w.cloudwatch_client(1).await;
    eventually("a HealthCheckStatus 0 datapoint", WAIT, POLL, || {
        let us = us.clone();
        let id = id.clone();
        async move {
            let out = us
                .get_metric_statistics()
                .namespace("AWS/Route53")
                .metric_name("HealthCheckStatus")
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name("HealthCheckId")
                        .value(id)
                        .build(),
                )
                .start_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(0))
                .end_time(aws_sdk_cloudwatch::primitives::DateTime::from(
                    std::time::SystemTime::now() + Duration::from_secs(60),
                ))
                .period(1)
                .statistics(Statistic::Minimum)
                .send()
                .await
                .ok()?;
            out.datapoints()
                .iter()
                .any(|d| d.minimum() == Some(0.0))
                .then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_insufficient_data_status_healthy_unhealthy_and_a_missing_alarm() {
    let w = R53World::start();
    w.configure(json!({"alarm_delay": 0}));
    let c = w.client().await;
    let cw = cloudwatch(&w, "us-east-2").await;
    put_alarm(&cw, "quiet").await;
    set_alarm(&cw, "quiet", StateValue::InsufficientData).await;
    let h = try_create_hc(
        &c,
        "h",
        alarm_check(
            "us-east-2",
            "quiet",
            Some(InsufficientDataHealthStatus::Healthy),
        ),
    )
    .await
    .expect("h");
    let u = try_create_hc(
        &c,
        "u",
        alarm_check(
            "us-east-2",
            "quiet",
            Some(InsufficientDataHealthStatus::Unhealthy),
        ),
    )
    .await
    .expect("u");
    wait_health(&c, &h, true).await;
    wait_health(&c, &u, false).await;
    // An alarm that does not exist gives no data: the Unhealthy setting applies.
    let missing = try_create_hc(
        &c,
        "m",
        alarm_check(
            "us-east-2",
            "no-such-alarm",
            Some(InsufficientDataHealthStatus::Unhealthy),
        ),
    )
    .await
    .expect("m");
    wait_health(&c, &missing, false).await;
    // UpdateHealthCheck changes the setting in place (version 2).
    let out = c
        .update_health_check()
        .health_check_id(&u)
        .health_check_version(1)
        .insufficient_data_health_status(InsufficientDataHealthStatus::Healthy)
        .send()
        .await
        .expect("update");
    let hc = out.health_check().expect("hc");
    assert_eq!(hc.health_check_version(), 2);
    assert_eq!(
        hc.health_check_config()
            .and_then(|c| c.insufficient_data_health_status()),
        Some(&InsufficientDataHealthStatus::Healthy)
    );
    wait_health(&c, &u, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_recovery_control_check_follows_the_routing_control() {
    let w = R53World::start();
    let c = w.client().await;
    let id = try_create_hc(
        &c,
        "rc",
        HealthCheckConfig::builder()
            .r#type(HealthCheckType::RecoveryControl)
            .routing_control_arn(ARN)
            .build()
            .expect("cfg"),
    )
    .await
    .expect("create");
    assert_eq!(hc_config(&c, &id).await.routing_control_arn(), Some(ARN));
    // ARC creates routing controls Off: unhealthy until it is turned On.
    wait_health(&c, &id, false).await;
    assert!(statuses(&c, &id).await[0].contains("Routing control state is OFF"));
    routing_control(&w, ARN, "On");
    wait_health(&c, &id, true).await;
    routing_control(&w, ARN, "Off");
    wait_health(&c, &id, false).await;
    // Inverted applies as to any check.
    c.update_health_check()
        .health_check_id(&id)
        .health_check_version(1)
        .inverted(true)
        .send()
        .await
        .expect("invert");
    wait_health(&c, &id, true).await;
    // The knob takes only On and Off.
    let (code, _) = support::http(
        "POST",
        w.port(),
        "/_world/routing-controls",
        Some(&json!({ ARN: "Maybe" }).to_string()),
    );
    assert_eq!(code, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_refuses_what_route53_refuses_for_these_kinds() {
    let w = R53World::start();
    let c = w.client().await;
    let long_name = "a".repeat(257);
    let long_arn = format!("{ARN}{}", "x".repeat(256));
    let cases: Vec<(&str, HealthCheckConfig, &str)> = vec![
        (
            "no alarm",
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::CloudwatchMetric)
                .build()
                .expect("cfg"),
            "AlarmIdentifier is required",
        ),
        (
            "region Route 53 cannot use",
            alarm_check("moon-east-1", "x", None),
            "moon-east-1",
        ),
        (
            "alarm name too long",
            alarm_check("eu-west-1", &long_name, None),
            "256",
        ),
        (
            "unknown insufficient-data status",
            alarm_check(
                "eu-west-1",
                "x",
                Some(InsufficientDataHealthStatus::from("Sometimes")),
            ),
            "Sometimes",
        ),
        (
            "no routing control",
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::RecoveryControl)
                .build()
                .expect("cfg"),
            "RoutingControlArn is required",
        ),
        (
            "routing control ARN too long",
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::RecoveryControl)
                .routing_control_arn(long_arn)
                .build()
                .expect("cfg"),
            "255",
        ),
    ];
    for (i, (what, cfg, needle)) in cases.into_iter().enumerate() {
        let err = try_create_hc(&c, &format!("bad-{i}"), cfg)
            .await
            .expect_err(what);
        assert!(
            err.starts_with("InvalidInput") && err.contains(needle),
            "{what}: {err}"
        );
    }
    assert_eq!(
        c.list_health_checks()
            .send()
            .await
            .expect("list")
            .health_checks()
            .len(),
        0
    );
    // UpdateHealthCheck checks the alarm too.
    let id = try_create_hc(&c, "good", alarm_check("eu-west-1", "x", None))
        .await
        .expect("good");
    let err = c
        .update_health_check()
        .health_check_id(&id)
        .alarm_identifier(
            AlarmIdentifier::builder()
                .region(CloudWatchRegion::from("mars-1"))
                .name("x")
                .build()
                .expect("alarm"),
        )
        .send()
        .await
        .expect_err("bad region");
    assert_eq!(err.code(), Some("InvalidInput"), "{err:?}");
}

// ------------------------------------------------------------------------------------ the operator

struct World {
    r53: R53World,
    kube: KubeWorld,
}

async fn world() -> World {
    let r53 = R53World::start();
    r53.create_zone("example.test").await;
    World {
        r53,
        kube: KubeWorld::with_crd(),
    }
}

/// A pair on private addresses (as in a private hosted zone), the primary guarded by `check`
/// (a flow mapping), the secondary without a health check.
fn manifest(name: &str, check: &str) -> String {
    format!(
        r#"apiVersion: route53.failover.io/v1alpha1
kind: FailoverRecord
metadata:
  name: {name}
  namespace: default
spec:
  hostedZone: {{name: example.test}}
  name: {name}.example.test
  type: A
  primary:
    values: ["10.0.0.10"]
    healthCheck: {check}
  secondary:
    values: ["10.0.1.10"]
"#
    )
}

fn apply(w: &World, yaml: &str) {
    ok(&w
        .kube
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], yaml));
}

async fn wait_for(
    w: &World,
    name: &str,
    what: &str,
    pred: impl Fn(&FailoverRecord) -> bool,
) -> FailoverRecord {
    let api: Api<FailoverRecord> = Api::namespaced(w.kube.client().await, "default");
    eventually(what, WAIT, Duration::from_millis(200), || {
        let api = api.clone();
        let pred = &pred;
        async move { api.get_opt(name).await.ok().flatten().filter(|o| pred(o)) }
    })
    .await
}

fn ready_synced(o: &FailoverRecord) -> bool {
    find_condition(o.status.as_ref(), "Ready").is_some_and(|c| c.status == "True")
        && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
}

fn active(o: &FailoverRecord) -> Option<Role> {
    o.status.as_ref().and_then(|s| s.active_role)
}

fn primary_health(o: &FailoverRecord) -> Option<Health> {
    o.status
        .as_ref()
        .and_then(|s| s.primary.as_ref())
        .map(|p| p.health)
}

fn live_checks(w: &World) -> Vec<Value> {
    w.r53
        .health_checks()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !c["deleted"].as_bool().unwrap_or(false))
        .collect()
}

/// The primary record's health check id in Route 53.
async fn primary_check_id(w: &World, name: &str) -> String {
    let c = w.r53.client().await;
    let zones = c.list_hosted_zones().send().await.expect("zones");
    let zone = zones.hosted_zones()[0].id().to_string();
    let sets = c
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .expect("list");
    sets.resource_record_sets()
        .iter()
        .find(|r| {
            r.name() == format!("{name}.example.test.")
                && r.failover() == Some(&ResourceRecordSetFailover::Primary)
        })
        .and_then(|r| r.health_check_id())
        .expect("primary check")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_check_fails_over_on_alarm_and_back_on_ok() {
    let w = world().await;
    // Follow alarm changes after 1 s (the double's default is one scaled minute, 3 s here).
    w.r53.configure(json!({"alarm_delay": 1}));
    let cw = cloudwatch(&w.r53, "eu-west-1").await;
    put_alarm(&cw, "app-5xx").await;
    let op = Operator::start(&w.kube, &w.r53, &[]);
    apply(
        &w,
        &manifest(
            "app",
            "{type: CLOUDWATCH_METRIC, alarm: {region: eu-west-1, name: app-5xx}, insufficientDataHealthStatus: Unhealthy}",
        ),
    );
    wait_for(&w, "app", "Ready, primary healthy and active", |o| {
        ready_synced(o)
            && primary_health(o) == Some(Health::Healthy)
            && active(o) == Some(Role::Primary)
    })
    .await;
    // Route 53 holds one CLOUDWATCH_METRIC check with the alarm; the private addresses were never
    // a health-check target.
    let checks = live_checks(&w);
    assert_eq!(checks.len(), 1, "{checks:?}");
    let cfg = &checks[0]["config"];
    assert_eq!(cfg["Type"], "CLOUDWATCH_METRIC", "{cfg}");
    assert_eq!(
        cfg["AlarmIdentifier"],
        json!({"Region": "eu-west-1", "Name": "app-5xx"})
    );
    assert_eq!(cfg["InsufficientDataHealthStatus"], "Unhealthy");
    let id = primary_check_id(&w, "app").await;

    set_alarm(&cw, "app-5xx", StateValue::Alarm).await;
    let failed = wait_for(&w, "app", "failed over to the secondary", |o| {
        active(o) == Some(Role::Secondary)
    })
    .await;
    assert_eq!(primary_health(&failed), Some(Health::Unhealthy));

    set_alarm(&cw, "app-5xx", StateValue::Ok).await;
    wait_for(&w, "app", "back on the primary", |o| {
        active(o) == Some(Role::Primary)
    })
    .await;

    // insufficientDataHealthStatus: Unhealthy -> no data fails over too.
    set_alarm(&cw, "app-5xx", StateValue::InsufficientData).await;
    wait_for(&w, "app", "failed over on insufficient data", |o| {
        active(o) == Some(Role::Secondary)
    })
    .await;

    // Another alarm is an UpdateHealthCheck of the same check, not a new one.
    let cw2 = cloudwatch(&w.r53, "us-west-2").await;
    put_alarm(&cw2, "app-latency").await;
    w.r53.reset_counters();
    apply(
        &w,
        &manifest(
            "app",
            "{type: CLOUDWATCH_METRIC, alarm: {region: us-west-2, name: app-latency}, insufficientDataHealthStatus: Unhealthy}",
        ),
    );
    wait_for(&w, "app", "Ready on the new alarm, primary active", |o| {
        ready_synced(o) && active(o) == Some(Role::Primary)
    })
    .await;
    assert_eq!(primary_check_id(&w, "app").await, id, "updated in place");
    assert_eq!(
        w.r53.counter("requests", "CreateHealthCheck"),
        0,
        "{}",
        w.r53.counters()
    );
    assert!(
        w.r53.counter("requests", "UpdateHealthCheck") >= 1,
        "{}",
        w.r53.counters()
    );
    let checks = live_checks(&w);
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(
        checks[0]["config"]["AlarmIdentifier"],
        json!({"Region": "us-west-2", "Name": "app-latency"})
    );
    // Health came from CloudWatch's HealthCheckStatus metric.
    assert_eq!(w.r53.counter("requests", "GetHealthCheckStatus"), 0);
    drop(op);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_control_off_fails_over_and_on_fails_back_and_a_new_arn_replaces_the_check() {
    let w = world().await;
    let _op = Operator::start(&w.kube, &w.r53, &[]);
    routing_control(&w.r53, ARN, "On");
    apply(
        &w,
        &manifest(
            "rc",
            &format!("{{type: RECOVERY_CONTROL, routingControlArn: \"{ARN}\"}}"),
        ),
    );
    wait_for(&w, "rc", "Ready on the primary", |o| {
        ready_synced(o)
            && primary_health(o) == Some(Health::Healthy)
            && active(o) == Some(Role::Primary)
    })
    .await;
    let id = primary_check_id(&w, "rc").await;

    routing_control(&w.r53, ARN, "Off");
    let failed = wait_for(&w, "rc", "failed over", |o| {
        active(o) == Some(Role::Secondary)
    })
    .await;
    assert_eq!(primary_health(&failed), Some(Health::Unhealthy));
    routing_control(&w.r53, ARN, "On");
    wait_for(&w, "rc", "failed back", |o| {
        active(o) == Some(Role::Primary)
    })
    .await;

    // Route 53 cannot change a RoutingControlArn: another one replaces the check.
    let other = ARN.replace("4567cdef", "89abcdef");
    routing_control(&w.r53, &other, "On");
    apply(
        &w,
        &manifest(
            "rc",
            &format!("{{type: RECOVERY_CONTROL, routingControlArn: \"{other}\"}}"),
        ),
    );
    wait_for(&w, "rc", "Ready with the new routing control", |o| {
        ready_synced(o)
    })
    .await;
    let new_id = eventually("the record repointed", WAIT, POLL, || async {
        let now = primary_check_id(&w, "rc").await;
        (now != id).then_some(now)
    })
    .await;
    let checks = eventually("the old check deleted", WAIT, POLL, || async {
        let live = live_checks(&w);
        (live.len() == 1).then_some(live)
    })
    .await;
    assert_eq!(checks[0]["id"], new_id.as_str());
    assert_eq!(checks[0]["config"]["RoutingControlArn"], other.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_refuses_bad_alarm_and_routing_control_checks() {
    let w = world().await;
    for (check, needle) in [
        (
            "{type: CLOUDWATCH_METRIC}",
            "alarm is required for CLOUDWATCH_METRIC",
        ),
        (
            "{type: CLOUDWATCH_METRIC, alarm: {region: moon-east-1, name: x}}",
            "spec.primary.healthCheck.alarm.region",
        ),
        (
            "{type: HTTP, ipAddress: 52.94.76.10, alarm: {region: eu-west-1, name: x}}",
            "alarm is required for CLOUDWATCH_METRIC and not allowed for other types",
        ),
        (
            "{type: CLOUDWATCH_METRIC, alarm: {region: eu-west-1, name: x}, ipAddress: 52.94.76.10}",
            "contacts no endpoint",
        ),
        (
            "{type: HTTP, ipAddress: 52.94.76.10, insufficientDataHealthStatus: Healthy}",
            "insufficientDataHealthStatus applies only to CLOUDWATCH_METRIC",
        ),
        (
            "{type: RECOVERY_CONTROL}",
            "routingControlArn is required for RECOVERY_CONTROL",
        ),
        (
            "{type: RECOVERY_CONTROL, routingControlArn: \"arn:aws:s3:::bucket\"}",
            "spec.primary.healthCheck.routingControlArn",
        ),
        (
            "{type: CALCULATED, healthThreshold: 1}",
            "children are required for CALCULATED",
        ),
        (
            "{type: CALCULATED, children: [a], healthThreshold: 300}",
            "spec.primary.healthCheck.healthThreshold",
        ),
        (
            "{type: HTTP, ipAddress: 52.94.76.10, children: [a], healthThreshold: 1}",
            "children are required for CALCULATED and not allowed for other types",
        ),
    ] {
        let err = fails(&w.kube.kubectl_stdin(
            &["apply", "--server-side", "-f", "-"],
            &manifest("bad", check),
        ));
        assert!(err.contains(needle), "{check}: {err}");
    }
    // A CLOUDWATCH_METRIC check of a CNAME or of private values passes: there is nothing to probe.
    let ok_yaml = manifest(
        "good",
        "{type: CLOUDWATCH_METRIC, alarm: {region: eu-west-1, name: x}}",
    );
    ok(&w.kube.kubectl_stdin(
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        &ok_yaml,
    ));
}

/// A RECOVERY_CONTROL check made outside the operator (a child for calculated checks).
async fn foreign_rc_check(w: &R53World, reference: &str, arn: &str) -> String {
    try_create_hc(
        &w.client().await,
        reference,
        HealthCheckConfig::builder()
            .r#type(HealthCheckType::RecoveryControl)
            .routing_control_arn(arn)
            .build()
            .expect("cfg"),
    )
    .await
    .expect("foreign check")
}

fn ready_reason(o: &FailoverRecord) -> Option<(String, String, String)> {
    find_condition(o.status.as_ref(), "Ready")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
        .filter(|_| o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation)
}

fn calculated(children: &[&str], threshold: i32) -> String {
    format!(
        "{{type: CALCULATED, children: [{}], healthThreshold: {threshold}}}",
        children.join(", ")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calculated_check_follows_its_children_and_refuses_itself_and_other_objects_checks() {
    let w = world().await;
    let arn = |n: &str| ARN.replace("4567cdef", n);
    for n in ["c1", "c2", "c3"] {
        routing_control(&w.r53, &arn(n), "On");
    }
    let c1 = foreign_rc_check(&w.r53, "elsewhere-1", &arn("c1")).await;
    let c2 = foreign_rc_check(&w.r53, "elsewhere-2", &arn("c2")).await;
    let _op = Operator::start(&w.kube, &w.r53, &[]);

    // Both children must be healthy.
    apply(&w, &manifest("calc", &calculated(&[&c1, &c2], 2)));
    wait_for(&w, "calc", "Ready on the primary", |o| {
        ready_synced(o)
            && primary_health(o) == Some(Health::Healthy)
            && active(o) == Some(Role::Primary)
    })
    .await;
    let own = primary_check_id(&w, "calc").await;
    let cfg = live_checks(&w)
        .into_iter()
        .find(|c| c["id"] == own.as_str())
        .expect("the calculated check")["config"]
        .clone();
    assert_eq!(cfg["Type"], "CALCULATED", "{cfg}");
    assert_eq!(cfg["HealthThreshold"], 2, "{cfg}");
    routing_control(&w.r53, &arn("c1"), "Off");
    wait_for(&w, "calc", "failed over with one child down", |o| {
        active(o) == Some(Role::Secondary) && primary_health(o) == Some(Health::Unhealthy)
    })
    .await;

    // A threshold of 1 is an UpdateHealthCheck of the same check: one healthy child is enough.
    apply(&w, &manifest("calc", &calculated(&[&c1, &c2], 1)));
    wait_for(&w, "calc", "back on the primary with threshold 1", |o| {
        ready_synced(o) && active(o) == Some(Role::Primary)
    })
    .await;
    assert_eq!(primary_check_id(&w, "calc").await, own, "updated in place");
    routing_control(&w.r53, &arn("c1"), "On");

    // The endpoint's own check as a child: refused, nothing written.
    w.r53.reset_counters();
    apply(&w, &manifest("calc", &calculated(&[&c1, &own], 1)));
    let obj = wait_for(&w, "calc", "Ready=False InvalidSpec", |o| {
        ready_reason(o).is_some_and(|(s, r, _)| s == "False" && r == "InvalidSpec")
    })
    .await;
    let (_, _, msg) = ready_reason(&obj).expect("ready");
    assert!(msg.contains("own health check"), "{msg}");
    // Another object's check as a child: refused, nothing written.
    apply(&w, &manifest("other", &calculated(&[&own], 1)));
    let other = wait_for(&w, "other", "Ready=False InvalidSpec", |o| {
        ready_reason(o).is_some_and(|(s, r, _)| s == "False" && r == "InvalidSpec")
    })
    .await;
    let (_, _, msg) = ready_reason(&other).expect("ready");
    assert!(msg.contains("another FailoverRecord"), "{msg}");
    for op in [
        "CreateHealthCheck",
        "UpdateHealthCheck",
        "ChangeResourceRecordSets",
    ] {
        assert_eq!(
            w.r53.counter("requests", op),
            0,
            "{op}: {}",
            w.r53.counters()
        );
    }

    // The object's other endpoint's check is a valid child.
    let with_secondary = format!(
        r#"apiVersion: route53.failover.io/v1alpha1
kind: FailoverRecord
metadata:
  name: pair
  namespace: default
spec:
  hostedZone: {{name: example.test}}
  name: pair.example.test
  type: A
  primary:
    values: ["10.0.0.10"]
    healthCheck: {primary}
  secondary:
    values: ["10.0.1.10"]
    healthCheck: {{type: RECOVERY_CONTROL, routingControlArn: "{rc}"}}
"#,
        primary = calculated(&[&c2], 1),
        rc = arn("c3"),
    );
    apply(&w, &with_secondary);
    let pair = wait_for(&w, "pair", "Ready", ready_synced).await;
    let sid = pair
        .status
        .as_ref()
        .and_then(|s| s.secondary.as_ref())
        .and_then(|s| s.health_check_id.clone())
        .expect("secondary check id");
    apply(
        &w,
        &with_secondary.replace(&calculated(&[&c2], 1), &calculated(&[&c2, &sid], 2)),
    );
    wait_for(
        &w,
        "pair",
        "Ready with the secondary's check as a child",
        |o| ready_synced(o) && primary_health(o) == Some(Health::Healthy),
    )
    .await;
    routing_control(&w.r53, &arn("c3"), "Off");
    wait_for(
        &w,
        "pair",
        "primary unhealthy with the secondary's check down",
        |o| primary_health(o) == Some(Health::Unhealthy),
    )
    .await;
}
