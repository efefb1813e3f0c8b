//! The operator and its manifests against a real kube-apiserver (the local world's control plane):
//! the CRD as generated is accepted (CEL cost budget included) and explained, every manifest in
//! `deploy/` and every example applies with server-side apply, and the faults a real server gives
//! for free — a restart, a compacted etcd, an outage, a second field manager on status — neither
//! stall the operator nor make it write to Route 53.

mod support;

use std::time::{Duration, Instant};

use kube::Api;
use kube::api::{Patch, PatchParams};
use route53_failover_operator::crd::FailoverRecord;
use route53_failover_operator::status::find_condition;
use serde_json::{Value, json};
use support::kube::{KubeWorld, ok};
use support::operator::Operator;
use support::r53::R53World;
use support::{Backend, eventually, http, repo_root};

const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);
const PRIMARY_IP: &str = "52.94.76.20";
const SECONDARY_IP: &str = "52.94.76.21";

#[test]
fn the_generated_crd_is_accepted_served_and_explained() {
    let kube = KubeWorld::with_crd();
    let crd: Value = serde_json::from_str(&ok(&kube.kubectl(&[
        "get",
        "crd",
        "failoverrecords.route53.failover.io",
        "-o",
        "json",
    ])))
    .expect("crd json");
    let established = crd["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .any(|c| c["type"] == "Established" && c["status"] == "True");
    assert!(established, "{crd}");
    // The published OpenAPI v3 (what kubectl explain reads) describes every spec field.
    // The aggregated OpenAPI is republished a moment after the CRD is Established.
    let deadline = Instant::now() + WAIT;
    let openapi: Value = loop {
        let out = kube.kubectl(&[
            "get",
            "--raw",
            "/openapi/v3/apis/route53.failover.io/v1alpha1",
        ]);
        if out.status.success() {
            break serde_json::from_slice(&out.stdout).expect("openapi json");
        }
        assert!(
            Instant::now() < deadline,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(POLL);
    };
    let schema = &openapi["components"]["schemas"]["io.failover.route53.v1alpha1.FailoverRecord"];
    assert!(schema.is_object(), "FailoverRecord not published");
    let mut missing = Vec::new();
    support::undescribed(&schema["properties"]["spec"], "spec", &mut missing);
    support::undescribed(&schema["properties"]["status"], "status", &mut missing);
    assert!(
        missing.is_empty(),
        "spec and status fields without a description: {missing:?}"
    );
    let explain = ok(&kube.kubectl(&["explain", "failoverrecord.spec"]));
    for field in ["hostedZone", "name", "type", "primary", "secondary", "ttl"] {
        assert!(explain.contains(field), "{field} missing in:\n{explain}");
    }
    let explain = ok(&kube.kubectl(&["explain", "failoverrecord.spec.primary.healthCheck"]));
    assert!(explain.contains("DESCRIPTION"), "{explain}");
    assert!(explain.contains("failureThreshold"), "{explain}");
}

/// `deploy/` (the kustomization: namespace + rendered chart) and every example apply with server-side
/// apply, as a GitOps tool would, with no warnings from Pod Security admission.
#[test]
fn deploy_and_every_example_apply_server_side() {
    let kube = KubeWorld::start();
    let root = repo_root();
    let out = kube.kubectl(&[
        "apply",
        "--server-side",
        "-k",
        &root.join("deploy/kustomize").to_string_lossy(),
    ]);
    let stdout = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for kind in [
        "namespace/route53-failover-operator",
        "customresourcedefinition.apiextensions.k8s.io/failoverrecords.route53.failover.io",
        "deployment.apps/rfo-route53-failover-operator",
        "clusterrole.rbac.authorization.k8s.io/rfo-route53-failover-operator",
    ] {
        assert!(stdout.contains(kind), "{kind} not applied:\n{stdout}");
    }
    assert!(
        !stderr.to_lowercase().contains("warning"),
        "warnings: {stderr}"
    );
    ok(&kube.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/failoverrecords.route53.failover.io",
    ]));
    let mut examples: Vec<_> = std::fs::read_dir(root.join("deploy/examples"))
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 5, "{examples:?}");
    for ex in &examples {
        let out = kube.kubectl(&["apply", "--server-side", "-f", &ex.to_string_lossy()]);
        assert!(
            out.status.success(),
            "{} rejected: {}",
            ex.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A second apply of everything is a no-op for the API server (unchanged, no new generation).
    let again = ok(&kube.kubectl(&[
        "apply",
        "--server-side",
        "-k",
        &root.join("deploy/kustomize").to_string_lossy(),
    ]));
    assert!(again.contains("serverside-applied"), "{again}");
}

// --- faults -------------------------------------------------------------------------------------------

struct World {
    r53: R53World,
    zone: String,
    kube: KubeWorld,
    _primary: Backend,
    _secondary: Backend,
    primary_port: u16,
    secondary_port: u16,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tmp");
    let r53 = R53World::start();
    let kube = KubeWorld::with_crd();
    let zone = r53.create_zone("example.test").await;
    r53.route(PRIMARY_IP, "127.0.0.1");
    r53.route(SECONDARY_IP, "127.0.0.1");
    std::fs::create_dir_all(dir.path().join("p")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("s")).expect("mkdir");
    let primary = Backend::start(&dir.path().join("p"));
    let secondary = Backend::start(&dir.path().join("s"));
    World {
        primary_port: primary.port,
        secondary_port: secondary.port,
        r53,
        zone,
        kube,
        _primary: primary,
        _secondary: secondary,
        _dir: dir,
    }
}

fn manifest(w: &World, name: &str, secondary_value: &str) -> String {
    support::record_manifest(
        name,
        "example.test",
        (
            "52.94.76.120",
            &support::http_check(PRIMARY_IP, w.primary_port, ""),
        ),
        (
            secondary_value,
            &support::http_check(SECONDARY_IP, w.secondary_port, ""),
        ),
    )
}

fn apply(w: &World, yaml: &str) {
    ok(&w
        .kube
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], yaml));
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

fn synced(o: &FailoverRecord) -> bool {
    find_condition(o.status.as_ref(), "Ready")
        .is_some_and(|c| c.status == "True" && c.reason == "Synced")
        && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
}

async fn wait_synced(w: &World, name: &str, generation: i64) -> FailoverRecord {
    let api: Api<FailoverRecord> = Api::namespaced(w.kube.client().await, "default");
    eventually(
        &format!("{name} generation {generation} Ready"),
        WAIT,
        POLL,
        || {
            let api = api.clone();
            async move {
                api.get_opt(name)
                    .await
                    .ok()
                    .flatten()
                    .filter(|o| o.metadata.generation == Some(generation) && synced(o))
            }
        },
    )
    .await
}

/// The secondary record's value in Route 53.
async fn secondary_value(w: &World, name: &str) -> Option<String> {
    let out = w
        .r53
        .client()
        .await
        .list_resource_record_sets()
        .hosted_zone_id(&w.zone)
        .send()
        .await
        .ok()?;
    out.resource_record_sets()
        .iter()
        .find(|r| {
            r.name() == format!("{name}.example.test.")
                && r.failover().map(|f| f.as_str()) == Some("SECONDARY")
        })
        .and_then(|r| r.resource_records().first())
        .map(|v| v.value().to_string())
}

fn readyz(op: &Operator) -> u16 {
    http("GET", op.admin_port, "/readyz", None).0
}

/// The API server restarts under a running operator: the watch is re-established (a change made
/// afterwards reaches Route 53) and the restart itself causes no Route 53 write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_restart_reestablishes_the_watch_without_writes() {
    let w = world().await;
    let op = Operator::start(&w.kube, &w.r53, &[]);
    apply(&w, &manifest(&w, "restart", "52.94.76.121"));
    wait_synced(&w, "restart", 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    w.r53.reset_counters();
    let t = Instant::now();
    w.kube.restart_apiserver();
    println!("api server restarted in {:?}", t.elapsed());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(writes(&w), 0, "a restart wrote: {}", w.r53.counters());
    apply(&w, &manifest(&w, "restart", "52.94.76.122"));
    let t = Instant::now();
    wait_synced(&w, "restart", 2).await;
    println!("change after restart reached Route 53 in {:?}", t.elapsed());
    assert_eq!(
        secondary_value(&w, "restart").await.as_deref(),
        Some("52.94.76.122")
    );
    assert_eq!(readyz(&op), 200);
}

/// etcd compacted past the operator's resourceVersion, then the API server restarted (its watch cache
/// starts empty): the operator's watch cannot resume from a version that is gone, so it re-lists —
/// counted by the API server itself — and carries on without a Route 53 write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_history_gives_410_and_the_operator_relists() {
    let w = world().await;
    let _op = Operator::start(&w.kube, &w.r53, &[]);
    apply(&w, &manifest(&w, "gone", "52.94.76.131"));
    wait_synced(&w, "gone", 1).await;
    // Move etcd's revision on with objects the operator does not watch, then compact them away.
    for i in 0..5 {
        ok(&w.kube.kubectl(&[
            "create",
            "configmap",
            &format!("churn-{i}"),
            "--from-literal=k=v",
        ]));
    }
    let rev = w.kube.compact_etcd();
    println!("etcd compacted at revision {rev}");
    w.kube.reset_stats();
    w.r53.reset_counters();
    w.kube.restart_apiserver();
    eventually(
        "the operator re-lists FailoverRecords",
        WAIT,
        POLL,
        || async { (w.kube.requests("LIST failoverrecords") >= 1).then_some(()) },
    )
    .await;
    assert_eq!(writes(&w), 0, "{}", w.r53.counters());
    apply(&w, &manifest(&w, "gone", "52.94.76.132"));
    wait_synced(&w, "gone", 2).await;
    assert_eq!(
        secondary_value(&w, "gone").await.as_deref(),
        Some("52.94.76.132")
    );
}

/// The API server down for 30 s: the operator stays alive, `/readyz` turns false while it cannot list
/// FailoverRecords and true again after, nothing is written to Route 53 because of the outage, and a
/// change made right after the outage reaches Route 53 within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_down_for_30s_is_survived_without_writes() {
    let w = world().await;
    let op = Operator::start(&w.kube, &w.r53, &[]);
    apply(&w, &manifest(&w, "outage", "52.94.76.141"));
    wait_synced(&w, "outage", 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    w.r53.reset_counters();
    w.kube.stop_apiserver();
    let down = Instant::now();
    let t = eventually("readyz false", Duration::from_secs(30), POLL, || async {
        (readyz(&op) != 200).then(|| down.elapsed())
    })
    .await;
    println!("readyz false {t:?} after the API server stopped");
    while down.elapsed() < Duration::from_secs(30) {
        assert_eq!(http("GET", op.admin_port, "/livez", None).0, 200, "livez");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    w.kube.start_apiserver();
    let up = Instant::now();
    eventually("readyz true again", WAIT, POLL, || async {
        (readyz(&op) == 200).then_some(())
    })
    .await;
    println!(
        "readyz true {:?} after the API server came back",
        up.elapsed()
    );
    assert_eq!(writes(&w), 0, "the outage wrote: {}", w.r53.counters());
    apply(&w, &manifest(&w, "outage", "52.94.76.142"));
    wait_synced(&w, "outage", 2).await;
    let lag = up.elapsed();
    println!("change made after the outage in Route 53 {lag:?} after the API server came back");
    assert_eq!(
        secondary_value(&w, "outage").await.as_deref(),
        Some("52.94.76.142")
    );
}

/// Another field manager writes the operator's status fields with server-side apply: the operator
/// takes them back under its own manager (force) at its next reconcile, without an error loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_field_manager_on_status_is_overwritten() {
    let w = world().await;
    let _op = Operator::start(&w.kube, &w.r53, &[]);
    apply(&w, &manifest(&w, "owned", "52.94.76.151"));
    let before = wait_synced(&w, "owned", 1).await;
    let api: Api<FailoverRecord> = Api::namespaced(w.kube.client().await, "default");
    let intruder = json!({
        "apiVersion": "route53.failover.io/v1alpha1",
        "kind": "FailoverRecord",
        "metadata": {"name": "owned", "namespace": "default"},
        "status": {"activeRole": "Secondary", "conditions": [{
            "type": "Ready", "status": "False", "reason": "Intruder", "message": "written by someone else",
            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1
        }]}
    });
    api.patch_status(
        "owned",
        &PatchParams::apply("intruder").force(),
        &Patch::Apply(&intruder),
    )
    .await
    .expect("intruder applies status");
    let managers = |o: &FailoverRecord| -> Vec<String> {
        o.metadata
            .managed_fields
            .iter()
            .flatten()
            .filter(|m| m.subresource.as_deref() == Some("status"))
            .filter_map(|m| m.manager.clone())
            .collect()
    };
    // A spec change makes the operator reconcile (and re-apply its whole status).
    apply(&w, &manifest(&w, "owned", "52.94.76.152"));
    let after = wait_synced(&w, "owned", 2).await;
    let status = after.status.clone().expect("status");
    assert_eq!(
        status.active_role,
        before.status.as_ref().and_then(|s| s.active_role),
        "the operator's view is back"
    );
    let ready = find_condition(Some(&status), "Ready").expect("Ready");
    assert_eq!(ready.reason, "Synced");
    let m = managers(&after);
    assert!(
        m.iter().any(|m| m == "route53-failover-operator"),
        "operator manages status: {m:?}"
    );
}
