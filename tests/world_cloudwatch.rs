//! The CloudWatch side of the local Route 53 double (`tests/world/r53/metrics.py`): the AWS/Route53
//! `HealthCheckStatus` and `HealthCheckPercentageHealthy` metrics of every live health check, read
//! through the real aws-sdk-cloudwatch client from the double's own port, with real loopback
//! backends behind the checks.
mod support;

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_sdk_route53::config::BehaviorVersion;
use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType};
use serde_json::json;
use support::r53::{R53World, create_hc};
use support::{Backend, eventually};

/// The public address the checks of these tests check, routed to loopback by `w.route`.
const PUBLIC: &str = "52.94.76.10";
/// A loopback port nothing listens on: a check of it fails.
const CLOSED: i32 = 1;

/// An HTTP check of [`PUBLIC`]:`port`; with hc_scale 0.05, RequestInterval 10 probes every 0.5 s and
/// 30 every 1.5 s; FailureThreshold 1 flips on the first opposite result.
fn http_check(port: i32, interval: i32) -> HealthCheckConfig {
    HealthCheckConfig::builder()
        .r#type(HealthCheckType::Http)
        .ip_address(PUBLIC)
        .port(port)
        .resource_path("/health")
        .request_interval(interval)
        .failure_threshold(1)
        .build()
        .expect("health check config")
}

/// A MetricStat query of an AWS/Route53 metric of one check, period 60.
fn query(id: &str, hc_id: &str, metric: &str, stat: &str) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace("AWS/Route53")
        .metric_name(metric)
        .dimensions(
            Dimension::builder()
                .name("HealthCheckId")
                .value(hc_id)
                .build(),
        )
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(60)
                .stat(stat)
                .build(),
        )
        .build()
}

fn secs_ago(s: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(s)
}

/// GetMetricData from `since` to a minute from now: {query id: values}. With period 60 and a window
/// shorter than a minute, each query has at most one value: the statistic over every datapoint
/// published since `since`.
async fn get(
    cw: &aws_sdk_cloudwatch::Client,
    queries: Vec<MetricDataQuery>,
    since: SystemTime,
) -> std::collections::BTreeMap<String, Vec<f64>> {
    let out = cw
        .get_metric_data()
        .set_metric_data_queries(Some(queries))
        .start_time(DateTime::from(since))
        .end_time(DateTime::from(SystemTime::now() + Duration::from_secs(60)))
        .send()
        .await
        .expect("GetMetricData");
    out.metric_data_results()
        .iter()
        .map(|r| (r.id().unwrap_or_default().to_string(), r.values().to_vec()))
        .collect()
}

/// The statistic of one metric of one check over the last `window` seconds (None: no datapoint).
async fn recent(
    cw: &aws_sdk_cloudwatch::Client,
    hc_id: &str,
    metric: &str,
    stat: &str,
    window: u64,
) -> Option<f64> {
    let got = get(cw, vec![query("q", hc_id, metric, stat)], secs_ago(window)).await;
    got["q"].first().copied()
}

/// Wait until the statistic of `metric` over the last 2 s equals `want`.
async fn wait_for(
    cw: &aws_sdk_cloudwatch::Client,
    hc_id: &str,
    metric: &str,
    stat: &str,
    want: f64,
) {
    let what = format!("{stat} of {metric} of {hc_id} over the last 2 s == {want}");
    eventually(
        &what,
        Duration::from_secs(20),
        Duration::from_millis(200),
        || async { (recent(cw, hc_id, metric, stat, 2).await == Some(want)).then_some(()) },
    )
    .await;
}

// ------------------------------------------------------------------------------------- tests

#[tokio::test]
async fn health_check_status_follows_the_backend() {
    let w = R53World::start();
    // Default period: one datapoint per scaled minute, 60 x 0.05 = 3 s.
    assert_eq!(w.config()["metric_period_effective"], json!(3.0));
    w.route(PUBLIC, "127.0.0.1");
    let c = w.client().await;
    let cw = w.cloudwatch_client(3).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut backend = Backend::start(dir.path());
    let id = create_hc(&c, "flip", http_check(i32::from(backend.port), 10)).await;

    // The first datapoint comes one (scaled) minute after the check is created.
    eventually(
        "a first HealthCheckStatus datapoint",
        Duration::from_secs(10),
        Duration::from_millis(200),
        || async { recent(&cw, &id, "HealthCheckStatus", "Minimum", 60).await },
    )
    .await;
    assert_eq!(
        recent(&cw, &id, "HealthCheckStatus", "Minimum", 60).await,
        Some(1.0)
    );
    assert_eq!(
        recent(&cw, &id, "HealthCheckPercentageHealthy", "Minimum", 60).await,
        Some(100.0)
    );

    // Short periods from here on, so the last 2 s always hold several datapoints.
    w.set_metric_period(Some(0.25));
    backend.kill();
    wait_for(&cw, &id, "HealthCheckStatus", "Maximum", 0.0).await;
    wait_for(&cw, &id, "HealthCheckPercentageHealthy", "Maximum", 0.0).await;
    assert_eq!(w.health_checks()[0]["healthy"], false);

    backend.restart();
    wait_for(&cw, &id, "HealthCheckStatus", "Minimum", 1.0).await;
    wait_for(&cw, &id, "HealthCheckPercentageHealthy", "Minimum", 100.0).await;
    assert_eq!(w.health_checks()[0]["healthy"], true);
}

#[tokio::test]
async fn percentage_healthy_counts_checkers_and_status_needs_more_than_18_percent() {
    let w = R53World::start();
    w.set_metric_period(Some(0.25));
    w.route(PUBLIC, "127.0.0.1");
    let c = w.client().await;
    let cw = w.cloudwatch_client(3).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start(dir.path());
    let id = create_hc(&c, "regions", http_check(i32::from(backend.port), 10)).await;

    // 6 of the 8 default checkers fail: 25% healthy, more than 18%, so still healthy overall.
    let six = [
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
    ];
    w.force_failing_checkers(&id, &six);
    wait_for(&cw, &id, "HealthCheckPercentageHealthy", "Maximum", 25.0).await;
    wait_for(&cw, &id, "HealthCheckPercentageHealthy", "Minimum", 25.0).await;
    assert_eq!(
        recent(&cw, &id, "HealthCheckStatus", "Minimum", 2).await,
        Some(1.0)
    );

    // 7 of 8: 12.5% healthy, unhealthy overall.
    let mut seven = six.to_vec();
    seven.push("sa-east-1");
    w.force_failing_checkers(&id, &seven);
    wait_for(&cw, &id, "HealthCheckPercentageHealthy", "Minimum", 12.5).await;
    wait_for(&cw, &id, "HealthCheckStatus", "Maximum", 0.0).await;
}

#[tokio::test]
async fn one_call_reads_many_checks() {
    let w = R53World::start();
    w.set_metric_period(Some(0.5));
    w.route(PUBLIC, "127.0.0.1");
    let c = w.client().await;
    let cw = w.cloudwatch_client(3).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start(dir.path());
    // 16 checks of the live backend, 16 of a closed port; RequestInterval 30: a probe every 1.5 s.
    let mut checks = Vec::new();
    for i in 0..32 {
        let (port, want) = if i % 2 == 0 {
            (i32::from(backend.port), 1.0)
        } else {
            (CLOSED, 0.0)
        };
        let id = create_hc(&c, &format!("many-{i}"), http_check(port, 30)).await;
        checks.push((format!("m{i}"), id, want));
    }
    let queries = || {
        checks
            .iter()
            .map(|(q, id, _)| query(q, id, "HealthCheckStatus", "Maximum"))
            .collect::<Vec<_>>()
    };
    w.reset_counters();
    let mut calls = 0;
    let got = eventually(
        "every one of 32 checks has its HealthCheckStatus in one GetMetricData call",
        Duration::from_secs(20),
        Duration::from_millis(300),
        || {
            calls += 1;
            let queries = queries();
            let cw = &cw;
            let checks = &checks;
            async move {
                let got = get(cw, queries, secs_ago(2)).await;
                checks
                    .iter()
                    .all(|(q, _, want)| got.get(q).is_some_and(|v| v == &[*want]))
                    .then_some(got)
            }
        },
    )
    .await;
    assert_eq!(got.len(), 32, "{got:?}");
    assert_eq!(w.counter("requests", "GetMetricData"), calls);
}

#[tokio::test]
async fn deleted_checks_stop_publishing_and_unknown_ids_have_no_data() {
    let w = R53World::start();
    w.set_metric_period(Some(0.25));
    let c = w.client().await;
    let cw = w.cloudwatch_client(3).await;
    // No route: both checks fail, and still publish.
    let gone = create_hc(&c, "gone", http_check(CLOSED, 10)).await;
    let kept = create_hc(&c, "kept", http_check(CLOSED, 10)).await;
    eventually(
        "a datapoint of the check to delete",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async { recent(&cw, &gone, "HealthCheckStatus", "SampleCount", 60).await },
    )
    .await;
    c.delete_health_check()
        .health_check_id(&gone)
        .send()
        .await
        .expect("DeleteHealthCheck");
    // GetMetricData's StartTime has whole seconds: start 2 s after the delete answered.
    let since = SystemTime::now() + Duration::from_secs(2);
    let both = || {
        vec![
            query("gone", &gone, "HealthCheckStatus", "SampleCount"),
            query("kept", &kept, "HealthCheckStatus", "SampleCount"),
        ]
    };
    // The live check is the clock: once it has 4 datapoints since then, the deleted one had 4 chances.
    let got = eventually(
        "4 datapoints of the live check after the delete",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || async {
            let got = get(&cw, both(), since).await;
            got["kept"]
                .first()
                .is_some_and(|n| *n >= 4.0)
                .then_some(got)
        },
    )
    .await;
    assert_eq!(
        got["gone"],
        Vec::<f64>::new(),
        "deleted check published: {got:?}"
    );
    // Its datapoints from before the delete are still there.
    let old = get(&cw, both(), secs_ago(60)).await;
    assert!(old["gone"].first().is_some_and(|n| *n >= 1.0), "{old:?}");

    // A check id that never existed: a Complete result without values, not an error.
    let out = cw
        .get_metric_data()
        .metric_data_queries(query(
            "never",
            "00000000-0000-0000-0000-000000000000",
            "HealthCheckStatus",
            "Minimum",
        ))
        .start_time(DateTime::from(secs_ago(600)))
        .end_time(DateTime::from(SystemTime::now()))
        .send()
        .await
        .expect("GetMetricData of an unknown check");
    let r = &out.metric_data_results()[0];
    assert_eq!(r.id(), Some("never"));
    assert!(r.values().is_empty(), "{r:?}");
    assert_eq!(
        r.status_code().map(|s| s.as_str()),
        Some("Complete"),
        "{r:?}"
    );
}

#[tokio::test]
async fn cloudwatch_calls_are_counted_and_take_no_route53_tokens() {
    let w = R53World::start();
    let c = w.client_max_attempts(1).await;
    let cw = w.cloudwatch_client(1).await;
    let id = create_hc(&c, "counted", http_check(CLOSED, 10)).await;
    w.reset_counters();
    w.configure(json!({"quota": {"rate": 0.001, "burst": 2}}));
    for _ in 0..5 {
        get(
            &cw,
            vec![query("q", &id, "HealthCheckStatus", "Minimum")],
            secs_ago(60),
        )
        .await;
    }
    cw.list_metrics()
        .namespace("AWS/Route53")
        .send()
        .await
        .expect("ListMetrics");
    // The Route 53 bucket still holds both tokens.
    for _ in 0..2 {
        c.list_health_checks()
            .send()
            .await
            .expect("Route 53 tokens left");
    }
    let e = c
        .list_health_checks()
        .send()
        .await
        .expect_err("bucket empty");
    assert_eq!(e.code(), Some("Throttling"));
    let counters = w.counters();
    assert_eq!(
        counters["requests"],
        json!({"GetMetricData": 5, "ListMetrics": 1, "ListHealthChecks": 3}),
        "{counters}"
    );
    assert_eq!(counters["throttled"], json!({"ListHealthChecks": 1}));
    let log = w.request_log();
    let cw_ops: Vec<_> = log
        .iter()
        .filter(|r| r["service"] == "cloudwatch")
        .map(|r| r["operation"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(cw_ops.len(), 6, "{log:?}");
    assert_eq!(cw_ops.iter().filter(|o| **o == "GetMetricData").count(), 5);
    assert!(log.iter().all(|r| r["access_key"] == "testing"), "{log:?}");

    // CloudWatch's own (optional) bucket throttles CloudWatch only, like CloudWatch does.
    w.configure(json!({"quota": null, "cloudwatch_quota": {"rate": 0.001, "burst": 1}}));
    let one = || {
        cw.get_metric_data()
            .metric_data_queries(query("q", &id, "HealthCheckStatus", "Minimum"))
            .start_time(DateTime::from(secs_ago(60)))
            .end_time(DateTime::from(SystemTime::now()))
            .send()
    };
    one().await.expect("first GetMetricData");
    let e = one().await.expect_err("CloudWatch bucket empty");
    assert_eq!(e.code(), Some("Throttling"), "{e:?}");
    assert_eq!(e.message(), Some("Rate exceeded"));
    c.list_health_checks()
        .send()
        .await
        .expect("Route 53 unaffected");
    assert_eq!(w.counter("throttled", "GetMetricData"), 1);

    // Faults without an operation list are Route 53's; CloudWatch is faulted only when named.
    w.configure(json!({"cloudwatch_quota": null, "faults": {"error_rate": 1.0}}));
    one()
        .await
        .expect("an unnamed fault leaves CloudWatch alone");
    c.list_health_checks()
        .send()
        .await
        .expect_err("Route 53 faulted");
    w.configure(json!({"faults": {"error_rate": 1.0, "operations": ["GetMetricData"]}}));
    let e = one().await.expect_err("named CloudWatch fault");
    assert_eq!(e.code(), Some("InternalError"), "{e:?}");
    assert_eq!(w.counter("faults", "GetMetricData"), 1);
}

// ------------------------------------------------------------------------- environment wiring

/// Runs only as a child of `cloudwatch_client_configured_only_by_environment_reaches_the_double`:
/// a client built from the standard environment alone (as the operator's) reads a check's status.
#[tokio::test]
async fn env_only_cloudwatch_child() {
    let Some(hc_id) = std::env::var_os("R53_CW_CHILD_HC") else {
        return;
    };
    let hc_id = hc_id.to_string_lossy().to_string();
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .http_client(support::r53::http_client())
        .load()
        .await;
    let cw = aws_sdk_cloudwatch::Client::new(&conf);
    eventually(
        "HealthCheckStatus through the environment's endpoint",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async { recent(&cw, &hc_id, "HealthCheckStatus", "Minimum", 60).await },
    )
    .await;
}

#[tokio::test]
async fn cloudwatch_client_configured_only_by_environment_reaches_the_double() {
    let w = R53World::start();
    w.set_metric_period(Some(0.25));
    let id = create_hc(&w.client().await, "env", http_check(CLOSED, 10)).await;
    // aws_env() (AWS_ENDPOINT_URL_CLOUDWATCH), then the generic AWS_ENDPOINT_URL alone.
    let generic: Vec<(String, String)> = w
        .aws_env()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ENDPOINT_URL"))
        .chain([("AWS_ENDPOINT_URL".to_string(), w.endpoint())])
        .collect();
    for env in [w.aws_env(), generic] {
        let mut cmd = w.child_test("env_only_cloudwatch_child", env.clone());
        cmd.env("R53_CW_CHILD_HC", &id);
        let before = w.counter("requests", "GetMetricData");
        let out = cmd.output().expect("run child test");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child with {env:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(w.counter("requests", "GetMetricData") > before, "{env:?}");
    }
}
