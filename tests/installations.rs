//! Two installations (distinct `--owner-id`s) watching the same objects in one cluster and writing to
//! one Route 53 zone: each handles only the objects it claims, and never touches the other's status,
//! finalizers, health checks or records.

mod support;

use std::time::Duration;

use aws_sdk_route53::types::ResourceRecordSet;
use kube::{Api, ResourceExt};
use route53_failover_operator::crd::FailoverRecord;
use route53_failover_operator::status::find_condition;
use serde_json::Value;
use support::kube::{KubeWorld, OPERATOR_LEASE, ok};
use support::operator::Operator;
use support::r53::R53World;
use support::{Backend, eventually};

const PRIMARY_IP: &str = "52.94.76.10";
const SECONDARY_IP: &str = "52.94.76.11";
const WAIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(200);

fn manifest(name: &str, annotations: &str, p: u16, s: u16) -> String {
    format!(
        r#"apiVersion: route53.failover.io/v1alpha1
kind: FailoverRecord
metadata:
  name: {name}
  namespace: default
{annotations}spec:
  hostedZone: {{name: example.test}}
  name: {name}.example.test
  type: A
  primary:
    values: ["192.0.2.10"]
    healthCheck: {{type: HTTP, ipAddress: {PRIMARY_IP}, port: {p}, resourcePath: /health, requestInterval: 10, failureThreshold: 1}}
  secondary:
    values: ["192.0.2.20"]
    healthCheck: {{type: HTTP, ipAddress: {SECONDARY_IP}, port: {s}, resourcePath: /health, requestInterval: 10, failureThreshold: 1}}
"#
    )
}

fn synced(o: &FailoverRecord) -> bool {
    find_condition(o.status.as_ref(), "Ready").is_some_and(|c| c.status == "True")
        && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
}

async fn wait_synced(api: &Api<FailoverRecord>, name: &str) -> FailoverRecord {
    eventually(&format!("{name} Ready"), WAIT, POLL, || {
        let api = api.clone();
        async move { api.get_opt(name).await.ok().flatten().filter(synced) }
    })
    .await
}

async fn record_sets(r53: &R53World, zone: &str, name: &str) -> Vec<ResourceRecordSet> {
    let out = r53
        .client()
        .await
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .expect("list");
    let mut v: Vec<ResourceRecordSet> = out
        .resource_record_sets()
        .iter()
        .filter(|r| r.name() == format!("{name}.example.test."))
        .cloned()
        .collect();
    v.sort_by(|a, b| a.set_identifier().cmp(&b.set_identifier()));
    v
}

/// The live health checks whose CallerReference carries `uid`, without the fields that change with
/// every probe (health, probes, observations).
fn checks_of(r53: &R53World, uid: &str) -> Vec<Value> {
    let all = r53.health_checks();
    let mut v: Vec<Value> = all
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !c["deleted"].as_bool().unwrap_or(false))
        .filter(|c| {
            c["CallerReference"]
                .as_str()
                .is_some_and(|r| r.contains(uid))
        })
        .map(|c| {
            serde_json::json!({
                "id": c["id"], "CallerReference": c["CallerReference"],
                "config": c["config"], "version": c["version"],
            })
        })
        .collect();
    v.sort_by_key(|c| c["id"].as_str().unwrap_or_default().to_string());
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_installations_share_a_cluster_and_a_zone() {
    let dir = tempfile::tempdir().expect("tmp");
    let r53 = R53World::start();
    let kube = KubeWorld::with_crd();
    let zone = r53.create_zone("example.test").await;
    r53.route(PRIMARY_IP, "127.0.0.1");
    r53.route(SECONDARY_IP, "127.0.0.1");
    let (pd, sd) = (dir.path().join("p"), dir.path().join("s"));
    std::fs::create_dir_all(&pd).expect("mkdir");
    std::fs::create_dir_all(&sd).expect("mkdir");
    let primary = Backend::start(&pd);
    let secondary = Backend::start(&sd);

    // Installation A claims unannotated objects and holds the chart's Lease; B only its annotated
    // ones, without a Lease (the chart's Role allows only one Lease name).
    let mut a = Operator::start(
        &kube,
        &r53,
        &[
            "--owner-id",
            "a",
            "--claim-unannotated",
            "true",
            "--leader-election-lease",
            OPERATOR_LEASE,
        ],
    );
    let mut b = Operator::start(
        &kube,
        &r53,
        &[
            "--owner-id",
            "b",
            "--claim-unannotated",
            "false",
            "--no-leader-election",
        ],
    );
    a.wait_ready(WAIT);
    b.wait_ready(WAIT);

    let apply = |yaml: &str| ok(&kube.kubectl_stdin(&["apply", "--server-side", "-f", "-"], yaml));
    apply(&manifest("one", "", primary.port, secondary.port));
    apply(&manifest(
        "two",
        "  annotations: {route53.failover.io/owner: b}\n",
        primary.port,
        secondary.port,
    ));
    // Made before finalizers carried the owner id: the legacy finalizer, unannotated, so A's.
    apply(&manifest(
        "three",
        "  finalizers: [route53.failover.io/cleanup]\n",
        primary.port,
        secondary.port,
    ));
    let api: Api<FailoverRecord> = Api::namespaced(kube.client().await, "default");
    let three = wait_synced(&api, "three").await;
    let uid_three = three.uid().expect("uid");
    assert_eq!(
        three.finalizers(),
        [
            "route53.failover.io/cleanup",
            "route53.failover.io/cleanup-a"
        ]
    );
    let one = wait_synced(&api, "one").await;
    let two = wait_synced(&api, "two").await;
    let (uid_one, uid_two) = (one.uid().expect("uid"), two.uid().expect("uid"));

    // Each object carries only its installation's finalizer; records carry its owner id.
    assert_eq!(one.finalizers(), ["route53.failover.io/cleanup-a"]);
    assert_eq!(two.finalizers(), ["route53.failover.io/cleanup-b"]);
    for (name, owner, uid) in [("one", "a", &uid_one), ("two", "b", &uid_two)] {
        let sets = record_sets(&r53, &zone, name).await;
        assert_eq!(sets.len(), 2, "{name}: {sets:?}");
        for rs in &sets {
            let id = rs.set_identifier().unwrap_or_default();
            assert!(id.starts_with(&format!("{owner}:{uid}:")), "{name}: {id}");
        }
        assert_eq!(checks_of(&r53, uid).len(), 2, "{name}");
    }

    // Steady state: neither installation rewrites either object's status (no flapping).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before: Vec<Option<String>> = {
        let mut v = Vec::new();
        for n in ["one", "two"] {
            v.push(api.get(n).await.expect("get").resource_version());
        }
        v
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    for (i, n) in ["one", "two"].iter().enumerate() {
        let now = api.get(n).await.expect("get");
        assert_eq!(now.resource_version(), before[i], "{n} was rewritten");
    }

    // Delete A's object while B runs: A's checks and records go, B's stay byte for byte.
    let b_checks = checks_of(&r53, &uid_two);
    let b_records = record_sets(&r53, &zone, "two").await;
    ok(&kube.kubectl(&[
        "delete",
        "frec",
        "one",
        "three",
        "-n",
        "default",
        "--wait=false",
    ]));
    for name in ["one", "three"] {
        eventually(&format!("{name} deleted"), WAIT, POLL, || {
            let api = api.clone();
            async move { matches!(api.get_opt(name).await, Ok(None)).then_some(()) }
        })
        .await;
    }
    for (name, uid) in [("one", &uid_one), ("three", &uid_three)] {
        assert!(record_sets(&r53, &zone, name).await.is_empty(), "{name}");
        assert!(
            checks_of(&r53, uid).is_empty(),
            "A's checks of {name} deleted"
        );
    }
    assert_eq!(checks_of(&r53, &uid_two), b_checks, "B's checks untouched");
    assert_eq!(
        record_sets(&r53, &zone, "two").await,
        b_records,
        "B's records untouched"
    );
    let two_now = api.get("two").await.expect("two");
    assert_eq!(two_now.finalizers(), ["route53.failover.io/cleanup-b"]);
    assert!(synced(&two_now));
    a.kill();
    b.kill();
}
