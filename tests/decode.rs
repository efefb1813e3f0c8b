//! Decoding on a real API server: a status written by someone else never makes an object
//! undecodable, an object whose spec does not decode can still be deleted, and the messages about
//! it stay bounded. Undecodable objects are made the way they arise in clusters: written under a
//! looser copy of the CRD (no enums), then the real CRD applied again.

mod support;

use std::time::Duration;

use aws_sdk_route53::types::ResourceRecordSet;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use route53_failover_operator::crd::{FailoverRecord, Role};
use route53_failover_operator::status::find_condition;
use serde_json::Value;
use support::kube::{KubeWorld, ok};
use support::operator::Operator;
use support::r53::R53World;
use support::{Backend, eventually};

const CRD: &str = include_str!("../crds/failoverrecord.yaml");
const PRIMARY_IP: &str = "52.94.76.10";
const SECONDARY_IP: &str = "52.94.76.11";
const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

struct World {
    r53: R53World,
    kube: KubeWorld,
    primary: Backend,
    secondary: Backend,
    zone: String,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tmp");
    let r53 = R53World::start();
    let zone = r53.create_zone("example.test").await;
    r53.route(PRIMARY_IP, "127.0.0.1");
    r53.route(SECONDARY_IP, "127.0.0.1");
    let mk = |n: &str| {
        let p = dir.path().join(n);
        std::fs::create_dir_all(&p).expect("mkdir");
        p
    };
    let primary = Backend::start(&mk("p"));
    let secondary = Backend::start(&mk("s"));
    World {
        r53,
        kube: KubeWorld::with_crd(),
        primary,
        secondary,
        zone,
        dir,
    }
}

/// The CRD without any `enum:` (the looser schema an older version might have had).
fn loose_crd() -> String {
    let mut out = Vec::new();
    let mut skip_indent: Option<usize> = None;
    for line in CRD.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(i) = skip_indent {
            if indent >= i && line.trim_start().starts_with("- ") {
                continue;
            }
            skip_indent = None;
        }
        if line.trim() == "enum:" {
            skip_indent = Some(indent);
            continue;
        }
        out.push(line);
    }
    let loose = out.join("\n") + "\n";
    assert!(!loose.contains("enum:") && loose.len() < CRD.len());
    loose
}

fn apply(w: &World, yaml: &str) {
    ok(&w.kube.kubectl_stdin(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        yaml,
    ));
}

/// Run `f` while the looser CRD is installed, then install the real one again.
fn under_loose_crd(w: &World, f: impl FnOnce()) {
    apply(w, &loose_crd());
    ok(&w.kube.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/failoverrecords.route53.failover.io",
    ]));
    f();
    apply(w, CRD);
}

fn manifest(w: &World, name: &str) -> String {
    support::record_manifest(
        name,
        "example.test",
        (
            "192.0.2.10",
            &support::http_check(PRIMARY_IP, w.primary.port, ""),
        ),
        (
            "192.0.2.20",
            &support::http_check(SECONDARY_IP, w.secondary.port, ""),
        ),
    )
}

/// `kubectl patch` with a merge patch read from a file (patches larger than an argument may be).
fn patch(w: &World, name: &str, subresource: Option<&str>, patch: &Value) {
    let file = w.dir.path().join("patch.json");
    std::fs::write(&file, patch.to_string()).expect("write patch");
    let file = file.to_string_lossy().to_string();
    let mut args = vec!["patch", "frec", name, "--type=merge", "--patch-file", &file];
    let sub;
    if let Some(s) = subresource {
        sub = format!("--subresource={s}");
        args.push(&sub);
    }
    ok(&w.kube.kubectl(&args));
}

fn raw(w: &World, name: &str) -> Option<Value> {
    let out = w.kube.kubectl(&["get", "frec", name, "-o", "json"]);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

async fn wait_for(
    w: &World,
    name: &str,
    what: &str,
    pred: impl Fn(&FailoverRecord) -> bool,
) -> FailoverRecord {
    let api: Api<FailoverRecord> = Api::namespaced(w.kube.client().await, "default");
    eventually(what, WAIT, POLL, || {
        let api = api.clone();
        let pred = &pred;
        async move { api.get_opt(name).await.ok().flatten().filter(|o| pred(o)) }
    })
    .await
}

fn synced(o: &FailoverRecord) -> bool {
    find_condition(o.status.as_ref(), "Ready")
        .is_some_and(|c| c.status == "True" && c.reason == "Synced")
        && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
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

fn live_checks(w: &World) -> usize {
    let all = w.r53.health_checks();
    all.as_array()
        .cloned()
        .or_else(|| all["health_checks"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|c| !c["deleted"].as_bool().unwrap_or(false))
        .count()
}

/// Delete `name` without waiting, then wait until it is gone (its finalizer released).
async fn delete_and_wait_gone(w: &World, name: &str) {
    ok(&w.kube.kubectl(&["delete", "frec", name, "--wait=false"]));
    eventually("the object is gone", WAIT, POLL, || async {
        raw(w, name).is_none().then_some(())
    })
    .await;
}

/// A status written by someone else with a value the operator does not know (`activeRole: Tertiary`)
/// is ignored and overwritten: the object is reconciled to Ready with the operator's own status, and
/// when such a status is there again at deletion, cleanup still runs and the finalizer is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_status_is_overwritten_and_does_not_block_deletion() {
    let w = world().await;
    let mut op = Operator::start(&w.kube, &w.r53, &[]);
    apply(&w, &manifest(&w, "app"));
    wait_for(&w, "app", "Ready", synced).await;
    assert_eq!(record_sets(&w, "app").await.len(), 2);
    op.kill();

    let garbage = serde_json::json!({"status": {"activeRole": "Tertiary"}});
    under_loose_crd(&w, || patch(&w, "app", Some("status"), &garbage));
    assert_eq!(
        raw(&w, "app").expect("app")["status"]["activeRole"],
        "Tertiary"
    );
    let mut op = Operator::start(&w.kube, &w.r53, &[]);
    let obj = wait_for(&w, "app", "Ready with the operator's status", |o| {
        synced(o)
            && o.status
                .as_ref()
                .is_some_and(|s| s.active_role == Some(Role::Primary) && s.hosted_zone_id.is_some())
    })
    .await;
    assert_eq!(
        obj.status.and_then(|s| s.hosted_zone_id),
        Some(w.zone.trim_start_matches("/hostedzone/").to_string())
    );
    op.kill();

    under_loose_crd(&w, || patch(&w, "app", Some("status"), &garbage));
    ok(&w.kube.kubectl(&["delete", "frec", "app", "--wait=false"]));
    let _op = Operator::start(&w.kube, &w.r53, &[]);
    eventually("the object is gone", WAIT, POLL, || async {
        raw(&w, "app").is_none().then_some(())
    })
    .await;
    assert!(record_sets(&w, "app").await.is_empty(), "records deleted");
    assert_eq!(live_checks(&w), 0, "health checks deleted");
}

/// A spec that stops decoding (an unknown region, 1 MB long) is reported with a bounded message —
/// in the Ready condition, the Event and the log — and the object can still be deleted: what it owns
/// in Route 53 is found by its uid and name, deleted, and the finalizer released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_whose_spec_does_not_decode_is_reported_briefly_and_can_be_deleted() {
    let w = world().await;
    let op = Operator::start(&w.kube, &w.r53, &[]);
    apply(&w, &manifest(&w, "app"));
    wait_for(&w, "app", "Ready", synced).await;
    assert_eq!(record_sets(&w, "app").await.len(), 2);
    assert_eq!(live_checks(&w), 2);

    let huge = format!("mars-{}", "x".repeat(1_000_000));
    let bad = serde_json::json!({"spec": {"primary": {"healthCheck": {
        "regions": ["us-east-1", "us-west-1", huge],
    }}}});
    under_loose_crd(&w, || patch(&w, "app", None, &bad));
    let (v, message) = eventually("InvalidSpec reported", WAIT, POLL, || async {
        let v = raw(&w, "app")?;
        let ready = v["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Ready" && c["reason"] == "InvalidSpec")
            .cloned()?;
        let message = ready["message"].as_str()?.to_string();
        Some((v, message))
    })
    .await;
    assert!(message.len() <= 1024, "{} bytes", message.len());
    assert!(message.contains("mars-xxx"), "{message}");
    assert!(message.contains("truncated"), "{message}");
    assert!(
        v["status"]["hostedZoneId"].is_string(),
        "kept for cleanup: {v}"
    );
    let events: Api<Event> = Api::namespaced(w.kube.client().await, "default");
    let note = eventually("an InvalidSpec Event", WAIT, POLL, || async {
        events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("InvalidSpec"))?
            .note
    })
    .await;
    assert!(note.len() <= 1024, "{} bytes", note.len());
    let longest = op.log().lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 8 * 1024, "a log line of {longest} bytes");

    delete_and_wait_gone(&w, "app").await;
    assert!(record_sets(&w, "app").await.is_empty(), "records deleted");
    assert_eq!(live_checks(&w), 0, "health checks deleted");
}
