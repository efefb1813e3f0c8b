//! The Kubernetes API double (`tests/world/k8s_server.py`) checked through real clients: the `kube` crate
//! and the real `kubectl`. Each test starts its own server; every wait is bounded.
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, Namespace};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event as RecorderEvent, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::watcher;
use kube::{CustomResource, CustomResourceExt, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::eventually;
use support::kube::{KubeWorld, ok};

const WAIT: Duration = Duration::from_secs(20);
const TICK: Duration = Duration::from_millis(50);

/// The test CRD: namespaced, status subresource, short name `wd`, a Ready printer column.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
#[kube(
    group = "world.test.io",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus",
    shortname = "wd",
    printcolumn = r#"{"name":"Size","type":"integer","jsonPath":".spec.size"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Detail","type":"string","jsonPath":".status.detail.reason","priority":1}"#
)]
pub struct WidgetSpec {
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct WidgetStatus {
    #[serde(default)]
    pub conditions: Vec<Cond>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Detail>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Detail {
    pub reason: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Cond {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
}

/// A server with the Widget CRD preloaded through `--crd`.
fn world_with(extra: &[&str]) -> KubeWorld {
    let crd = serde_yaml::to_string(&Widget::crd()).expect("crd yaml");
    KubeWorld::start_with_crds(&[&crd], extra)
}

fn world() -> KubeWorld {
    world_with(&[])
}

async fn widgets(w: &KubeWorld) -> Api<Widget> {
    Api::namespaced(w.client().await, "default")
}

fn widget(name: &str, size: i64) -> Widget {
    Widget::new(name, WidgetSpec { size, color: None })
}

fn rv(o: &impl Resource) -> u64 {
    o.meta()
        .resource_version
        .as_deref()
        .expect("resourceVersion")
        .parse()
        .expect("numeric resourceVersion")
}

fn gen_of(o: &impl Resource) -> i64 {
    o.meta().generation.expect("generation")
}

fn code_reason(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn ready(status: &str) -> serde_json::Value {
    json!({"status": {"conditions": [{"type": "Ready", "status": status}]}})
}

/// Collect raw watch events until `n` arrived or `within` passed.
async fn collect_watch(
    api: &Api<Widget>,
    wp: &WatchParams,
    from: &str,
    n: usize,
    within: Duration,
) -> Vec<WatchEvent<Widget>> {
    let stream = api.watch(wp, from).await.expect("watch");
    let mut out = Vec::new();
    let mut stream = Box::pin(stream);
    let _ = tokio::time::timeout(within, async {
        while let Some(ev) = stream.next().await {
            out.push(ev.expect("watch event"));
            if out.len() >= n {
                break;
            }
        }
    })
    .await;
    out
}

// ---------------------------------------------------------------------------------------------------------
// Object metadata, writes and errors through kube
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn metadata_rv_uid_timestamp_and_generation_on_spec_change_only() {
    let w = world();
    let api = widgets(&w).await;
    let a = api
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .expect("create");
    assert!(a.metadata.uid.is_some() && a.metadata.creation_timestamp.is_some());
    assert_eq!(gen_of(&a), 1);
    let b = api
        .create(&PostParams::default(), &widget("b", 1))
        .await
        .expect("create b");
    assert!(
        rv(&b) > rv(&a),
        "global RV counter is monotonic across objects"
    );

    let pp = PatchParams::default();
    let spec = api
        .patch("a", &pp, &Patch::Merge(json!({"spec": {"size": 2}})))
        .await
        .expect("spec");
    assert_eq!((gen_of(&spec), rv(&spec) > rv(&b)), (2, true));
    let labels = api
        .patch(
            "a",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .expect("labels");
    assert_eq!(
        gen_of(&labels),
        2,
        "metadata changes do not bump generation"
    );
    assert!(rv(&labels) > rv(&spec));
    let st = api
        .patch_status("a", &pp, &Patch::Merge(ready("True")))
        .await
        .expect("status");
    assert_eq!(gen_of(&st), 2, "status changes do not bump generation");
    assert!(rv(&st) > rv(&labels));
    assert_eq!(st.metadata.uid, a.metadata.uid);
    assert_eq!(
        st.metadata.creation_timestamp,
        a.metadata.creation_timestamp
    );

    // the delete that only sets deletionTimestamp is a write too
    api.patch(
        "a",
        &pp,
        &Patch::Merge(json!({"metadata": {"finalizers": ["world.test.io/hold"]}})),
    )
    .await
    .expect("finalizer");
    let before = api.get("a").await.expect("get");
    api.delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    let after = api.get("a").await.expect("still there while finalized");
    assert!(after.metadata.deletion_timestamp.is_some());
    assert!(
        rv(&after) > rv(&before),
        "setting deletionTimestamp bumps the RV"
    );
}

#[tokio::test]
async fn status_subresource_is_isolated_both_ways() {
    let w = world();
    let api = widgets(&w).await;
    let mut created = widget("iso", 1);
    created.status = Some(WidgetStatus {
        phase: Some("ignored-on-create".into()),
        ..Default::default()
    });
    let c = api
        .create(&PostParams::default(), &created)
        .await
        .expect("create");
    assert!(c.status.is_none(), "status is dropped on create");

    let pp = PatchParams::default();
    let main = api
        .patch(
            "iso",
            &pp,
            &Patch::Merge(json!({"spec": {"size": 5}, "status": {"phase": "main"}})),
        )
        .await
        .expect("main patch");
    assert_eq!(main.spec.size, 5);
    assert!(main.status.is_none(), "main endpoint ignores status");

    let st = api
        .patch_status(
            "iso",
            &pp,
            &Patch::Merge(json!({"spec": {"size": 99}, "status": {"phase": "st"}})),
        )
        .await
        .expect("status patch");
    assert_eq!(st.spec.size, 5, "/status ignores spec");
    assert_eq!(
        st.status.as_ref().and_then(|s| s.phase.clone()).as_deref(),
        Some("st")
    );

    // PUT is routed for both endpoints and isolated the same way
    let mut cur = api.get("iso").await.expect("get");
    cur.spec.size = 6;
    cur.status = Some(WidgetStatus {
        phase: Some("put-main".into()),
        ..Default::default()
    });
    let put = api
        .replace("iso", &PostParams::default(), &cur)
        .await
        .expect("replace");
    assert_eq!(put.spec.size, 6);
    assert_eq!(
        put.status.as_ref().and_then(|s| s.phase.clone()).as_deref(),
        Some("st")
    );

    let mut cur = put.clone();
    cur.spec.size = 77;
    cur.status = Some(WidgetStatus {
        phase: Some("put-status".into()),
        ..Default::default()
    });
    let put = api
        .replace_status("iso", &PostParams::default(), &cur)
        .await
        .expect("replace_status");
    assert_eq!(put.spec.size, 6, "replace_status ignores spec");
    assert_eq!(
        put.status.and_then(|s| s.phase).as_deref(),
        Some("put-status")
    );
}

#[tokio::test]
async fn standard_status_reasons_and_optimistic_concurrency() {
    let w = world();
    let api = widgets(&w).await;
    assert!(api.get_opt("missing").await.expect("get_opt").is_none());
    assert_eq!(
        code_reason(api.get("missing").await.expect_err("404")),
        (404, "NotFound".into())
    );

    let a = api
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .expect("create");
    let dup = api
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .expect_err("dup");
    assert_eq!(code_reason(dup), (409, "AlreadyExists".into()));

    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 2}})),
    )
    .await
    .expect("bump");
    let stale = a.resource_version().expect("rv");
    let e = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"resourceVersion": stale}, "spec": {"size": 3}})),
        )
        .await
        .expect_err("stale patch");
    assert_eq!(code_reason(e), (409, "Conflict".into()));
    let mut old = a.clone();
    old.spec.size = 4;
    let e = api
        .replace("a", &PostParams::default(), &old)
        .await
        .expect_err("stale put");
    assert_eq!(code_reason(e), (409, "Conflict".into()));

    let bad = serde_json::from_value(json!([{"op": "test", "path": "/spec/size", "value": 12345}]))
        .expect("patch");
    let e = api
        .patch("a", &PatchParams::default(), &Patch::Json::<()>(bad))
        .await
        .expect_err("test op");
    assert_eq!(code_reason(e), (422, "Invalid".into()));
    assert_eq!(api.get("a").await.expect("get").spec.size, 2);
    let e = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"size": 9}})),
        )
        .await
        .expect_err("strategic merge on a custom resource");
    assert_eq!(code_reason(e), (415, "UnsupportedMediaType".into()));
    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            resource_version: Some(stale.clone()),
            uid: None,
        }),
        ..Default::default()
    };
    let e = api
        .delete("a", &dp)
        .await
        .expect_err("stale delete precondition");
    assert_eq!(code_reason(e), (409, "Conflict".into()));
}

#[tokio::test]
async fn json_patch_test_of_missing_path_against_null_passes() {
    let w = world();
    let api = widgets(&w).await;
    api.create(&PostParams::default(), &widget("a", 1))
        .await
        .expect("create");
    let patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["world.test.io/f"]}
    ]))
    .expect("patch");
    let out = api
        .patch("a", &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .expect("patch");
    assert_eq!(out.finalizers(), ["world.test.io/f"]);
}

#[tokio::test]
async fn server_side_apply_creates_then_prunes_fields_the_manager_dropped() {
    let w = world();
    let api = widgets(&w).await;
    let pp = PatchParams::apply("world-test").force();
    let first = json!({"apiVersion": "world.test.io/v1", "kind": "Widget", "metadata": {"name": "ssa",
        "labels": {"keep": "1", "drop": "1"}}, "spec": {"size": 1, "color": "red"}});
    let created = api
        .patch("ssa", &pp, &Patch::Apply(&first))
        .await
        .expect("apply creates");
    assert_eq!(created.spec.color.as_deref(), Some("red"));
    assert_eq!(gen_of(&created), 1);

    // another client's field survives; the manager's own dropped fields go
    api.patch(
        "ssa",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"other": "x"}}})),
    )
    .await
    .expect("merge");
    let second = json!({"apiVersion": "world.test.io/v1", "kind": "Widget", "metadata": {"name": "ssa",
        "labels": {"keep": "1"}}, "spec": {"size": 2}});
    let out = api
        .patch("ssa", &pp, &Patch::Apply(&second))
        .await
        .expect("apply again");
    assert_eq!(out.spec.size, 2);
    assert_eq!(
        out.spec.color, None,
        "field applied before but omitted now is removed"
    );
    let labels = out.labels();
    assert!(
        labels.contains_key("keep") && labels.contains_key("other") && !labels.contains_key("drop")
    );

    // apply to /status touches status only; re-applying the same thing is a no-op
    let st =
        json!({"apiVersion": "world.test.io/v1", "kind": "Widget", "status": {"phase": "Applied"}});
    let a = api
        .patch_status("ssa", &pp, &Patch::Apply(&st))
        .await
        .expect("apply status");
    let b = api
        .patch_status("ssa", &pp, &Patch::Apply(&st))
        .await
        .expect("apply status again");
    assert_eq!(a.resource_version(), b.resource_version());
    assert_eq!(b.spec.size, 2);

    // the manager's main-endpoint fields are tracked apart from its /status fields
    let third = json!({"apiVersion": "world.test.io/v1", "kind": "Widget", "metadata": {"name": "ssa"},
        "spec": {"size": 2}});
    let c = api
        .patch("ssa", &pp, &Patch::Apply(&third))
        .await
        .expect("apply without labels");
    assert!(!c.labels().contains_key("keep") && c.labels().contains_key("other"));
    assert_eq!(c.status.and_then(|s| s.phase).as_deref(), Some("Applied"));
    let missing = api
        .patch_status("nope", &pp, &Patch::Apply(&st))
        .await
        .expect_err("apply to /status of a missing object");
    assert_eq!(code_reason(missing).0, 404);
}

#[tokio::test]
async fn lists_carry_kind_api_version_rv_and_honour_label_selectors() {
    let w = world();
    let api = widgets(&w).await;
    for (name, tier) in [("a", "web"), ("b", "db"), ("c", "web")] {
        let mut o = widget(name, 1);
        o.metadata.labels = Some([("tier".to_string(), tier.to_string())].into());
        api.create(&PostParams::default(), &o)
            .await
            .expect("create");
    }
    let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
        w.client().await,
        "default",
        &kube::api::ApiResource::erase::<Widget>(&()),
    );
    let list = raw.list(&ListParams::default()).await.expect("list");
    assert_eq!(list.items.len(), 3);
    assert!(
        list.metadata
            .resource_version
            .is_some_and(|r| !r.is_empty())
    );
    let (code, body) = support::http(
        "GET",
        w.port(),
        "/apis/world.test.io/v1/namespaces/default/widgets",
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (code, v["kind"].as_str(), v["apiVersion"].as_str()),
        (200, Some("WidgetList"), Some("world.test.io/v1"))
    );

    let names = |l: kube::core::ObjectList<Widget>| {
        l.items.iter().map(|o| o.name_any()).collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("tier=web"))
                .await
                .expect("eq")
        ),
        ["a", "c"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("tier!=web"))
                .await
                .expect("ne")
        ),
        ["b"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=b"))
                .await
                .expect("field")
        ),
        ["b"]
    );
}

#[tokio::test]
async fn delete_without_finalizers_is_immediate_and_with_finalizers_waits_for_the_last_one() {
    let w = world();
    let api = widgets(&w).await;
    api.create(&PostParams::default(), &widget("plain", 1))
        .await
        .expect("create");
    api.delete("plain", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(api.get_opt("plain").await.expect("get_opt").is_none());

    let mut held = widget("held", 1);
    held.metadata.finalizers = Some(vec!["a/one".into(), "a/two".into()]);
    let held = api
        .create(&PostParams::default(), &held)
        .await
        .expect("create held");
    let list_rv = held.resource_version().expect("rv");
    api.delete("held", &DeleteParams::default())
        .await
        .expect("delete held");
    let pp = PatchParams::default();
    api.patch(
        "held",
        &pp,
        &Patch::Merge(json!({"metadata": {"finalizers": ["a/two"]}})),
    )
    .await
    .expect("drop one");
    assert!(api.get_opt("held").await.expect("get").is_some());
    let e = api
        .patch(
            "held",
            &pp,
            &Patch::Merge(json!({"metadata": {"finalizers": ["a/two", "a/new"]}})),
        )
        .await
        .expect_err("no new finalizers while deleting");
    assert_eq!(code_reason(e).0, 422);
    api.patch(
        "held",
        &pp,
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("drop last");
    assert!(api.get_opt("held").await.expect("get").is_none());

    let evs = collect_watch(
        &api,
        &WatchParams::default().fields("metadata.name=held"),
        &list_rv,
        3,
        Duration::from_secs(5),
    )
    .await;
    let kinds: Vec<&str> = evs
        .iter()
        .map(|e| match e {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            WatchEvent::Bookmark(_) => "BOOKMARK",
            WatchEvent::Error(_) => "ERROR",
        })
        .collect();
    assert_eq!(
        kinds,
        ["MODIFIED", "MODIFIED", "DELETED"],
        "deletionTimestamp, finalizer drop, delete"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Watch semantics
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn watch_from_a_resource_version_sends_only_newer_events() {
    let w = world();
    let api = widgets(&w).await;
    api.create(&PostParams::default(), &widget("old", 1))
        .await
        .expect("create");
    let list = api.list(&ListParams::default()).await.expect("list");
    let from = list.metadata.resource_version.expect("list rv");
    api.create(&PostParams::default(), &widget("new", 1))
        .await
        .expect("create new");
    let evs = collect_watch(
        &api,
        &WatchParams::default().disable_bookmarks(),
        &from,
        2,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(matches!(&evs[0], WatchEvent::Added(o) if o.name_any() == "new"));
}

#[tokio::test]
async fn no_op_patch_keeps_rv_and_emits_no_event() {
    let w = world();
    let api = widgets(&w).await;
    let a = api
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .expect("create");
    let pp = PatchParams::default();
    let same = api
        .patch("a", &pp, &Patch::Merge(json!({"spec": {"size": 1}})))
        .await
        .expect("noop");
    assert_eq!(same.resource_version(), a.resource_version());
    let s1 = api
        .patch_status("a", &pp, &Patch::Merge(ready("True")))
        .await
        .expect("status");
    let s2 = api
        .patch_status("a", &pp, &Patch::Merge(ready("True")))
        .await
        .expect("status again");
    assert_eq!(s1.resource_version(), s2.resource_version());
    let mut put = s2.clone();
    put.metadata.managed_fields = None;
    let s3 = api
        .replace("a", &PostParams::default(), &put)
        .await
        .expect("same put");
    assert_eq!(s3.resource_version(), s2.resource_version());

    let from = a.resource_version().expect("rv");
    let evs = collect_watch(
        &api,
        &WatchParams::default().disable_bookmarks(),
        &from,
        2,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(evs.len(), 1, "only the real status change: {evs:?}");
    assert_eq!(w.requests("PATCH widgets/status"), 2);
}

#[tokio::test]
async fn bookmarks_are_sent_periodically_when_allowed() {
    let w = world_with(&["--bookmark-interval", "0.3"]);
    let api = widgets(&w).await;
    api.create(&PostParams::default(), &widget("a", 1))
        .await
        .expect("create");
    let rv_now = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let evs = collect_watch(
        &api,
        &WatchParams::default(),
        &rv_now,
        2,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(evs.len(), 2);
    for e in &evs {
        match e {
            WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, rv_now),
            other => panic!("expected a bookmark, got {other:?}"),
        }
    }
    let none = collect_watch(
        &api,
        &WatchParams::default().disable_bookmarks(),
        &rv_now,
        1,
        Duration::from_secs(1),
    )
    .await;
    assert!(
        none.is_empty(),
        "no bookmarks unless allowWatchBookmarks=true"
    );
}

#[tokio::test]
async fn timeout_seconds_ends_the_watch_on_the_server() {
    let w = world();
    let api = widgets(&w).await;
    let started = Instant::now();
    let stream = api
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .expect("watch");
    let ended = tokio::time::timeout(Duration::from_secs(15), stream.try_collect::<Vec<_>>()).await;
    assert!(ended.is_ok(), "the watch stream should end by itself");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn watch_from_a_compacted_rv_gets_410_expired_and_the_watcher_relists() {
    let w = world();
    let api = widgets(&w).await;
    let a = api
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .expect("create");
    let old = a.resource_version().expect("rv");

    // the kube watcher: Init … InitDone, then after compaction a 410, then a second full re-list
    let stream = watcher(api.clone(), watcher::Config::default());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut stream = Box::pin(stream);
        while let Some(ev) = stream.next().await {
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    let mut inits = 0;
    let mut gone = 0;
    let mut compacted = false;
    let deadline = Instant::now() + WAIT;
    while inits < 2 {
        let ev = tokio::time::timeout_at(deadline.into(), rx.recv())
            .await
            .expect("watcher events")
            .expect("open");
        match ev {
            Ok(watcher::Event::InitDone) => {
                inits += 1;
                if !compacted {
                    compacted = true;
                    w.compact();
                }
            }
            Ok(_) => {}
            Err(watcher::Error::WatchError(s)) => {
                assert_eq!((s.code, s.reason.as_str()), (410, "Expired"));
                gone += 1;
            }
            Err(e) => panic!("unexpected watcher error {e:?}"),
        }
    }
    task.abort();
    assert_eq!(gone, 1, "exactly one 410 before the re-list");

    // and raw: an ERROR event carrying a 410 Status
    let evs = collect_watch(
        &api,
        &WatchParams::default(),
        &old,
        1,
        Duration::from_secs(5),
    )
    .await;
    match evs.first() {
        Some(WatchEvent::Error(s)) => assert_eq!((s.code, s.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410 ERROR event, got {other:?}"),
    }
}

#[tokio::test]
async fn history_window_bounds_how_far_back_a_watch_can_resume() {
    let w = world_with(&["--history", "2"]);
    let api = widgets(&w).await;
    let a = api
        .create(&PostParams::default(), &widget("a", 1))
        .await
        .expect("a");
    let b = api
        .create(&PostParams::default(), &widget("b", 1))
        .await
        .expect("b");
    for n in ["c", "d"] {
        api.create(&PostParams::default(), &widget(n, 1))
            .await
            .expect("create");
    }
    // the last 2 changes (c, d) are kept: resuming from b's RV works, from a's RV is 410
    let wp = WatchParams::default().disable_bookmarks();
    let from_b = b.resource_version().expect("rv");
    let evs = collect_watch(&api, &wp, &from_b, 2, Duration::from_secs(5)).await;
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert!(evs.iter().all(|e| matches!(e, WatchEvent::Added(_))));
    let from_a = a.resource_version().expect("rv");
    let evs = collect_watch(&api, &wp, &from_a, 1, Duration::from_secs(5)).await;
    assert!(
        matches!(evs.first(), Some(WatchEvent::Error(s)) if s.code == 410),
        "{evs:?}"
    );
}

#[tokio::test]
async fn send_initial_events_replays_then_marks_the_end_with_a_bookmark() {
    let w = world();
    let api = widgets(&w).await;
    for n in ["a", "b"] {
        api.create(&PostParams::default(), &widget(n, 1))
            .await
            .expect("create");
    }
    let evs = collect_watch(
        &api,
        &WatchParams::streaming_lists(),
        "",
        3,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(evs.len(), 3);
    assert!(matches!(&evs[0], WatchEvent::Added(_)) && matches!(&evs[1], WatchEvent::Added(_)));
    match &evs[2] {
        WatchEvent::Bookmark(b) => {
            assert_eq!(
                b.metadata
                    .annotations
                    .get("k8s.io/initial-events-end")
                    .map(String::as_str),
                Some("true")
            )
        }
        other => panic!("expected the initial-events-end bookmark, got {other:?}"),
    }
    // kube's StreamingList strategy works on it
    let stream = watcher(api.clone(), watcher::Config::default().streaming_lists());
    let seen = tokio::time::timeout(WAIT, async {
        let mut stream = Box::pin(stream);
        let mut applied = 0;
        while let Some(ev) = stream.next().await {
            match ev.expect("no watcher errors") {
                watcher::Event::InitApply(_) => applied += 1,
                watcher::Event::InitDone => return applied,
                _ => {}
            }
        }
        applied
    })
    .await
    .expect("InitDone");
    assert_eq!(seen, 2);
}

#[tokio::test]
async fn kube_watcher_sees_changes_without_errors() {
    let w = world_with(&["--bookmark-interval", "0.5"]);
    let api = widgets(&w).await;
    let stream = watcher(api.clone(), watcher::Config::default().timeout(2));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut stream = Box::pin(stream);
        while let Some(ev) = stream.next().await {
            let _ = tx.send(ev);
        }
    });
    api.create(&PostParams::default(), &widget("a", 1))
        .await
        .expect("create");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 2}})),
    )
    .await
    .expect("patch");
    // survive at least one server-side timeout (2 s) and resume from the bookmark RV
    tokio::time::sleep(Duration::from_secs(3)).await;
    api.delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    let mut saw_delete = false;
    let mut sizes = vec![];
    let deadline = Instant::now() + WAIT;
    while !saw_delete {
        let ev = tokio::time::timeout_at(deadline.into(), rx.recv())
            .await
            .expect("event")
            .expect("open");
        match ev.expect("no watcher errors") {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => sizes.push(o.spec.size),
            watcher::Event::Delete(o) => saw_delete = o.name_any() == "a",
            _ => {}
        }
    }
    task.abort();
    assert_eq!(sizes.last(), Some(&2));
}

#[tokio::test]
async fn after_a_server_restart_the_reflector_relists_and_drops_vanished_objects() {
    let mut w = world();
    let api = widgets(&w).await;
    api.create(&PostParams::default(), &widget("before", 1))
        .await
        .expect("create");
    let (reader, writer) = kube::runtime::reflector::store::<Widget>();
    let stream = kube::runtime::reflector(writer, watcher(api.clone(), watcher::Config::default()))
        .default_backoff();
    let task = tokio::spawn(stream.for_each(|_| futures::future::ready(())));
    let names = |r: &kube::runtime::reflector::Store<Widget>| {
        let mut v: Vec<String> = r.state().iter().map(|o| o.name_any()).collect();
        v.sort();
        v
    };
    eventually("reflector holds `before`", WAIT, TICK, || async {
        (names(&reader) == ["before"]).then_some(())
    })
    .await;
    w.restart(); // empty state; RVs restart above every old one, so the resumed watch gets 410
    api.create(&PostParams::default(), &widget("after", 1))
        .await
        .expect("create after restart");
    eventually("reflector re-listed", WAIT, TICK, || async {
        (names(&reader) == ["after"]).then_some(())
    })
    .await;
    task.abort();
}

// ---------------------------------------------------------------------------------------------------------
// Controller, finalizer, Recorder, Lease
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
#[error("reconcile failed: {0}")]
struct ReconcileError(String);

const FINALIZER: &str = "world.test.io/cleanup";

#[tokio::test]
async fn controller_with_finalizer_helper_adds_and_removes_the_finalizer() {
    let w = world();
    let client = w.client().await;
    let api = widgets(&w).await;
    let cleanups = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ctx = Arc::new((api.clone(), cleanups.clone()));
    let controller = Controller::new(Api::<Widget>::all(client.clone()), watcher::Config::default()).run(
        |obj: Arc<Widget>, ctx: Arc<(Api<Widget>, Arc<std::sync::atomic::AtomicUsize>)>| async move {
            let api: Api<Widget> = Api::namespaced(ctx.0.clone().into_client(), &obj.namespace().expect("ns"));
            finalizer(&api, FINALIZER, obj, |ev| async {
                match ev {
                    FinalizerEvent::Apply(o) => {
                        api.patch_status(&o.name_any(), &PatchParams::default(), &Patch::Merge(ready("True")))
                            .await
                            .map_err(|e| ReconcileError(e.to_string()))?;
                        Ok(Action::await_change())
                    }
                    FinalizerEvent::Cleanup(_) => {
                        ctx.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        Ok::<_, ReconcileError>(Action::await_change())
                    }
                }
            })
            .await
            .map_err(|e| ReconcileError(e.to_string()))
        },
        |_, _, _| Action::requeue(Duration::from_millis(200)),
        ctx,
    );
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let errs = errors.clone();
    let task = tokio::spawn(controller.for_each(move |r| {
        if let Err(e) = r {
            errs.lock().expect("lock").push(format!("{e:?}"));
        }
        futures::future::ready(())
    }));

    api.create(&PostParams::default(), &widget("ctl", 1))
        .await
        .expect("create");
    let reconciled = eventually("finalizer added and status Ready", WAIT, TICK, || async {
        let o = api.get("ctl").await.ok()?;
        let ok = o.finalizers().iter().any(|f| f == FINALIZER)
            && o.status
                .as_ref()
                .is_some_and(|s| s.conditions.iter().any(|c| c.status == "True"));
        ok.then_some(o)
    })
    .await;
    assert_eq!(gen_of(&reconciled), 1);
    api.delete("ctl", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("object gone after cleanup", WAIT, TICK, || async {
        api.get_opt("ctl").await.ok()?.is_none().then_some(())
    })
    .await;
    task.abort();
    assert_eq!(cleanups.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(
        errors.lock().expect("lock").is_empty(),
        "reconcile errors: {:?}",
        errors.lock()
    );
}

#[tokio::test]
async fn recorder_publishes_events_and_core_events_are_stored() {
    let w = world();
    let client = w.client().await;
    let api = widgets(&w).await;
    let o = api
        .create(&PostParams::default(), &widget("ev", 1))
        .await
        .expect("create");
    let recorder = Recorder::new(client.clone(), Reporter::from("world-test"));
    let ev = RecorderEvent {
        type_: EventType::Normal,
        reason: "Tested".into(),
        note: Some("hello".into()),
        action: "Test".into(),
        secondary: None,
    };
    recorder
        .publish(&ev, &o.object_ref(&()))
        .await
        .expect("publish");
    recorder
        .publish(&ev, &o.object_ref(&()))
        .await
        .expect("publish again (patch with series)");
    let events: Api<K8sEvent> = Api::namespaced(client.clone(), "default");
    let list = events.list(&ListParams::default()).await.expect("list");
    assert_eq!(list.items.len(), 1);
    let e = &list.items[0];
    assert_eq!(e.reason.as_deref(), Some("Tested"));
    assert_eq!(e.series.as_ref().map(|s| s.count), Some(2));
    assert_eq!(
        e.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("ev")
    );

    let core: Api<CoreEvent> = Api::namespaced(client, "default");
    let ce = CoreEvent {
        metadata: kube::api::ObjectMeta {
            generate_name: Some("ev.".into()),
            ..Default::default()
        },
        reason: Some("Core".into()),
        involved_object: o.object_ref(&()),
        ..Default::default()
    };
    let ce = core
        .create(&PostParams::default(), &ce)
        .await
        .expect("core event");
    core.patch(
        &ce.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"count": 3})),
    )
    .await
    .expect("patch core event");
    let got = core.list(&ListParams::default()).await.expect("list core");
    assert_eq!(got.items.len(), 1);
    assert_eq!(got.items[0].count, Some(3));
}

#[tokio::test]
async fn lease_create_get_replace_with_optimistic_concurrency() {
    let w = KubeWorld::start();
    let leases: Api<Lease> = Api::namespaced(w.client().await, "default");
    let lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("leader".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("a".into()),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }),
    };
    let created = leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("create");
    let mut mine = leases.get("leader").await.expect("get");
    mine.spec.as_mut().expect("spec").holder_identity = Some("b".into());
    let took = leases
        .replace("leader", &PostParams::default(), &mine)
        .await
        .expect("replace");
    assert!(rv(&took) > rv(&created));
    let mut stale = created.clone();
    stale.spec.as_mut().expect("spec").holder_identity = Some("c".into());
    let e = leases
        .replace("leader", &PostParams::default(), &stale)
        .await
        .expect_err("stale");
    assert_eq!(code_reason(e), (409, "Conflict".into()));
    let now = leases.get("leader").await.expect("get");
    assert_eq!(
        now.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("b")
    );
}

#[tokio::test]
async fn namespaces_are_served_and_stats_count_by_verb_and_resource() {
    let w = world();
    let nss: Api<Namespace> = Api::all(w.client().await);
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert!(names.contains(&"default".to_string()), "{names:?}");
    let api = widgets(&w).await;
    w.reset_stats();
    api.create(&PostParams::default(), &widget("a", 1))
        .await
        .expect("create");
    api.get("a").await.expect("get");
    api.list(&ListParams::default()).await.expect("list");
    for _ in 0..3 {
        api.patch_status("a", &PatchParams::default(), &Patch::Merge(ready("True")))
            .await
            .expect("status");
    }
    let stats = w.stats();
    let req = &stats["requests"];
    assert_eq!(req["CREATE widgets"], 1, "{stats}");
    assert_eq!(req["GET widgets"], 1, "{stats}");
    assert_eq!(req["LIST widgets"], 1, "{stats}");
    assert_eq!(req["PATCH widgets/status"], 3, "{stats}");
    w.reset_stats();
    assert_eq!(w.stats()["requests"], json!({}));
}

#[tokio::test]
async fn crd_created_at_runtime_through_kube_is_served_with_discovery() {
    let w = KubeWorld::start();
    let client = w.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Widget::crd())
        .await
        .expect("create crd");
    let api: Api<Widget> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &widget("a", 1))
        .await
        .expect("create cr");
    let (code, body) = support::http("GET", w.port(), "/apis/world.test.io/v1", None);
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let res = v["resources"].as_array().expect("resources");
    let main = res
        .iter()
        .find(|r| r["name"] == "widgets")
        .expect("widgets");
    assert_eq!(main["shortNames"], json!(["wd"]));
    assert_eq!(main["namespaced"], json!(true));
    assert!(
        main["verbs"]
            .as_array()
            .expect("verbs")
            .contains(&json!("watch"))
    );
    let status = res
        .iter()
        .find(|r| r["name"] == "widgets/status")
        .expect("widgets/status");
    assert!(
        status
            .get("shortNames")
            .is_none_or(|s| s.as_array().is_none_or(|a| a.is_empty()))
    );
    let crd = crds.get("widgets.world.test.io").await.expect("get crd");
    let established = crd.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        established
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
}

// ---------------------------------------------------------------------------------------------------------
// The real kubectl
// ---------------------------------------------------------------------------------------------------------

/// Wait until a client (kubectl) has opened a watch on widgets, so later changes are seen live.
async fn until_watching(w: &KubeWorld) {
    eventually("kubectl opened its watch", WAIT, TICK, || async {
        (w.requests("WATCH widgets") > 0).then_some(())
    })
    .await;
}

const WIDGET_YAML: &str =
    "apiVersion: world.test.io/v1\nkind: Widget\nmetadata:\n  name: k1\nspec:\n  size: 3\n";

#[tokio::test]
async fn kubectl_apply_get_printer_columns_and_yaml_without_disabling_validation() {
    let w = world();
    ok(&w.kubectl_stdin(&["apply", "-f", "-"], WIDGET_YAML));
    let again = ok(&w.kubectl_stdin(
        &["apply", "-f", "-"],
        &WIDGET_YAML.replace("size: 3", "size: 4"),
    ));
    assert!(again.contains("configured"), "{again}");
    let api = widgets(&w).await;
    assert_eq!(gen_of(&api.get("k1").await.expect("get")), 2);
    api.patch_status("k1", &PatchParams::default(), &Patch::Merge(ready("True")))
        .await
        .expect("status");
    let table = ok(&w.kubectl(&["get", "wd"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "SIZE", "READY", "AGE"],
        "{table}"
    );
    assert_eq!(
        lines[1].split_whitespace().take(3).collect::<Vec<_>>(),
        ["k1", "4", "True"],
        "{table}"
    );
    // priority-1 columns (here `.status.detail.reason`) only show with -o wide
    api.patch_status(
        "k1",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"detail": {"reason": "AllGood"}}})),
    )
    .await
    .expect("detail");
    let wide = ok(&w.kubectl(&["get", "wd", "-o", "wide"]));
    let lines: Vec<&str> = wide.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "SIZE", "READY", "AGE", "DETAIL"],
        "{wide}"
    );
    assert_eq!(
        lines[1].split_whitespace().last(),
        Some("AllGood"),
        "{wide}"
    );
    let yaml = ok(&w.kubectl(&["get", "widget", "k1", "-o", "yaml"]));
    let v: serde_json::Value = serde_yaml::from_str(&yaml).expect("yaml");
    assert_eq!(v["spec"]["size"], 4);
    assert_eq!(v["metadata"]["generation"], 2);
    let versions = ok(&w.kubectl(&["version", "-o", "json"]));
    let v: serde_json::Value = serde_json::from_str(&versions).expect("json");
    assert_eq!(v["serverVersion"]["minor"], "35");
}

#[tokio::test]
async fn kubectl_api_resources_lists_core_and_crd_kinds() {
    let w = world();
    let out = ok(&w.kubectl(&["api-resources"]));
    for needle in [
        "namespaces",
        "events",
        "leases",
        "customresourcedefinitions",
        "widgets",
    ] {
        assert!(out.contains(needle), "{needle} missing:\n{out}");
    }
    let wd = out
        .lines()
        .find(|l| l.starts_with("widgets"))
        .expect("widgets row");
    assert_eq!(
        wd.split_whitespace().collect::<Vec<_>>(),
        ["widgets", "wd", "world.test.io/v1", "true", "Widget"]
    );
    assert!(
        !String::from_utf8_lossy(&w.kubectl(&["get", "wd"]).stderr).contains("could also match")
    );
}

#[tokio::test]
async fn kubectl_applies_a_crd_then_its_resources() {
    let w = KubeWorld::start();
    let crd = serde_yaml::to_string(&Widget::crd()).expect("yaml");
    ok(&w.kubectl_stdin(&["apply", "-f", "-"], &crd));
    ok(&w.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.world.test.io",
        "--timeout=10s",
    ]));
    ok(&w.kubectl_stdin(&["apply", "-f", "-"], WIDGET_YAML));
    let ssa = WIDGET_YAML.replace("k1", "k2");
    ok(&w.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &ssa));
    ok(&w.kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        &ssa.replace("size: 3", "size: 5"),
    ));
    let names = ok(&w.kubectl(&["get", "widgets", "-o", "name"]));
    assert_eq!(
        names.split_whitespace().collect::<Vec<_>>(),
        ["widget.world.test.io/k1", "widget.world.test.io/k2"]
    );
    let size = ok(&w.kubectl(&["get", "wd", "k2", "-o", "jsonpath={.spec.size}"]));
    assert_eq!(size, "5");
    assert!(ok(&w.kubectl(&["get", "crd"])).contains("widgets.world.test.io"));
}

#[tokio::test]
async fn kubectl_get_watch_streams_changes_made_through_kube() {
    let w = world();
    let api = widgets(&w).await;
    api.create(&PostParams::default(), &widget("w1", 1))
        .await
        .expect("create");
    w.reset_stats();
    let child = w.kubectl_spawn(&["get", "wd", "-w", "--request-timeout=6s"]);
    until_watching(&w).await;
    api.patch_status("w1", &PatchParams::default(), &Patch::Merge(ready("True")))
        .await
        .expect("status");
    api.create(&PostParams::default(), &widget("w2", 7))
        .await
        .expect("create w2");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("kubectl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().take(3).eq(["w1", "1", "True"])),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("w2 ")), "{text}");
}

#[tokio::test]
async fn kubectl_wait_for_condition_while_kube_patches_status() {
    let w = world();
    let api = widgets(&w).await;
    api.create(&PostParams::default(), &widget("x", 1))
        .await
        .expect("create");
    w.reset_stats();
    let child = w.kubectl_spawn(&["wait", "--for=condition=Ready", "wd/x", "--timeout=15s"]);
    until_watching(&w).await;
    api.patch_status("x", &PatchParams::default(), &Patch::Merge(ready("False")))
        .await
        .expect("false");
    tokio::time::sleep(Duration::from_millis(300)).await;
    api.patch_status("x", &PatchParams::default(), &Patch::Merge(ready("True")))
        .await
        .expect("true");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("kubectl");
    let text = ok(&out);
    assert!(text.contains("condition met"), "{text}");
}

#[tokio::test]
async fn kubectl_delete_waits_for_a_finalizer_removed_by_kube() {
    let w = world();
    let api = widgets(&w).await;
    let mut o = widget("fin", 1);
    o.metadata.finalizers = Some(vec!["world.test.io/hold".into()]);
    api.create(&PostParams::default(), &o)
        .await
        .expect("create");
    w.reset_stats();
    let mut child = w.kubectl_spawn(&["delete", "wd", "fin", "--timeout=15s"]);
    eventually("deletionTimestamp set", WAIT, TICK, || async {
        api.get("fin")
            .await
            .ok()?
            .metadata
            .deletion_timestamp
            .map(|_| ())
    })
    .await;
    until_watching(&w).await;
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "kubectl delete must wait for the finalizer"
    );
    api.patch(
        "fin",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("remove finalizer");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("kubectl");
    let text = ok(&out);
    assert!(text.contains("deleted"), "{text}");
    assert!(api.get_opt("fin").await.expect("get").is_none());
}

#[tokio::test]
async fn kubectl_wait_for_delete() {
    let w = world();
    let api = widgets(&w).await;
    api.create(&PostParams::default(), &widget("gone", 1))
        .await
        .expect("create");
    w.reset_stats();
    let child = w.kubectl_spawn(&["wait", "--for=delete", "wd/gone", "--timeout=15s"]);
    until_watching(&w).await;
    api.delete("gone", &DeleteParams::default())
        .await
        .expect("delete");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("kubectl");
    ok(&out);
}

// ---------------------------------------------------------------------------------------------------------
// Built-in kinds and the project's own manifests
// ---------------------------------------------------------------------------------------------------------

const NAMESPACE_YAML: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/kustomize/namespace.yaml"
);
const RENDERED_YAML: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/rendered/route53-failover-operator.yaml"
);
const OPERATOR_NS: &str = "route53-failover-operator";
const RELEASE: &str = "rfo-route53-failover-operator";

/// (`Kind.version.group` for `kubectl get`, name, namespace) of every object in the rendered manifest.
fn rendered_objects() -> Vec<(String, String, Option<String>)> {
    let text = std::fs::read_to_string(RENDERED_YAML).expect("read rendered manifest");
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde_json::Value::deserialize(doc).expect("yaml document"))
        .filter(|v| v.is_object())
        .map(|v| {
            let api = v["apiVersion"].as_str().expect("apiVersion");
            let (group, version) = api.split_once('/').unwrap_or(("", api));
            let meta = &v["metadata"];
            (
                format!("{}.{version}.{group}", v["kind"].as_str().expect("kind")),
                meta["name"].as_str().expect("name").to_string(),
                meta["namespace"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// A world with the operator's namespace and the rendered manifest applied by kubectl, validation on.
fn world_with_operator_applied() -> KubeWorld {
    let w = KubeWorld::start();
    ok(&w.kubectl(&["apply", "-f", NAMESPACE_YAML]));
    let out = ok(&w.kubectl(&["apply", "-f", RENDERED_YAML]));
    assert_eq!(
        out.lines().filter(|l| l.ends_with(" created")).count(),
        rendered_objects().len(),
        "{out}"
    );
    w
}

fn deployment_json(w: &KubeWorld) -> serde_json::Value {
    let out = ok(&w.kubectl(&["get", "deploy", RELEASE, "-n", OPERATOR_NS, "-o", "json"]));
    serde_json::from_str(&out).expect("deployment json")
}

#[tokio::test]
async fn kubectl_applies_the_rendered_manifest_with_validation_and_reapplies_unchanged() {
    let w = world_with_operator_applied();
    let objects = rendered_objects();
    for kind in [
        "CustomResourceDefinition.v1.apiextensions.k8s.io",
        "PodDisruptionBudget.v1.policy",
        "ServiceAccount.v1.",
        "ClusterRole.v1.rbac.authorization.k8s.io",
        "ClusterRoleBinding.v1.rbac.authorization.k8s.io",
        "Role.v1.rbac.authorization.k8s.io",
        "RoleBinding.v1.rbac.authorization.k8s.io",
        "Service.v1.",
        "Deployment.v1.apps",
    ] {
        assert!(
            objects.iter().any(|(k, ..)| k == kind),
            "{kind} not rendered"
        );
    }
    for (kind, name, ns) in &objects {
        let mut args = vec!["get", kind.as_str(), name.as_str(), "-o", "json"];
        if let Some(ns) = ns {
            args.extend(["-n", ns.as_str()]);
        }
        let v: serde_json::Value = serde_json::from_str(&ok(&w.kubectl(&args))).expect("json");
        assert_eq!(v["metadata"]["name"], name.as_str(), "{kind}");
        assert_eq!(v["kind"], kind.split('.').next().expect("kind"), "{kind}");
        assert_eq!(v["metadata"]["namespace"].as_str(), ns.as_deref(), "{kind}");
    }
    let listed = ok(&w.kubectl(&[
        "get",
        "deploy,sa,svc,role,rolebinding,pdb",
        "-n",
        OPERATOR_NS,
        "-o",
        "name",
    ]));
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        [
            format!("deployment.apps/{RELEASE}"),
            format!("serviceaccount/{RELEASE}"),
            format!("service/{RELEASE}"),
            format!("role.rbac.authorization.k8s.io/{RELEASE}-leader-election"),
            format!("rolebinding.rbac.authorization.k8s.io/{RELEASE}-leader-election"),
            format!("poddisruptionbudget.policy/{RELEASE}"),
        ],
        "{listed}"
    );
    let cluster = ok(&w.kubectl(&["get", "clusterrole,clusterrolebinding"]));
    assert_eq!(
        cluster.lines().filter(|l| l.contains(RELEASE)).count(),
        2,
        "{cluster}"
    );
    let deploy = deployment_json(&w);
    assert_eq!(deploy["metadata"]["generation"], 1);
    assert_eq!(deploy["spec"]["replicas"], 2);
    // a re-apply is a three-way merge with nothing to change: no write reaches the store
    let rv_before = w.stats()["resourceVersion"].clone();
    let again = ok(&w.kubectl(&["apply", "-f", RENDERED_YAML]));
    for line in again.lines() {
        if line.starts_with("poddisruptionbudget.policy/") {
            // kubectl always sends the PDB's `patchStrategy: replace` selector, so it prints `configured`
            // against a real cluster too; the server sees a no-op patch
            assert!(line.ends_with(" configured"), "{again}");
        } else {
            assert!(line.ends_with(" unchanged"), "{again}");
        }
    }
    assert_eq!(again.lines().count(), objects.len(), "{again}");
    assert_eq!(w.stats()["resourceVersion"], rv_before, "{again}");
}

#[tokio::test]
async fn deployment_generation_bumps_on_spec_and_annotation_changes_not_on_labels_or_status() {
    let w = world_with_operator_applied();
    // kubectl apply of a new image: a strategic merge patch that merges `containers` by name
    let text = std::fs::read_to_string(RENDERED_YAML).expect("read rendered manifest");
    let bumped = text.replace(
        "route53-failover-operator:0.1.0\"",
        "route53-failover-operator:0.2.0\"",
    );
    assert_ne!(
        bumped, text,
        "image line not found in the rendered manifest"
    );
    let out = ok(&w.kubectl_stdin(&["apply", "-f", "-"], &bumped));
    assert!(
        out.contains(&format!("deployment.apps/{RELEASE} configured")),
        "{out}"
    );
    let d = deployment_json(&w);
    assert_eq!(d["metadata"]["generation"], 2);
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "{containers:?}");
    assert_eq!(
        containers[0]["image"],
        "ghcr.io/example/route53-failover-operator:0.2.0"
    );
    assert_eq!(containers[0]["ports"][0]["containerPort"], 8080);
    assert_eq!(
        containers[0]["readinessProbe"]["httpGet"]["path"],
        "/readyz"
    );
    assert!(!d.to_string().contains("$setElementOrder"), "{d}");
    // labels and annotations are metadata: no bump
    ok(&w.kubectl(&[
        "label",
        "deploy",
        RELEASE,
        "-n",
        OPERATOR_NS,
        "world.test.io/touched=yes",
    ]));
    let d = deployment_json(&w);
    assert_eq!(d["metadata"]["labels"]["world.test.io/touched"], "yes");
    assert_eq!(d["metadata"]["generation"], 2);
    // annotations are metadata too, but Deployments copy them to ReplicaSets: the apps strategy bumps
    ok(&w.kubectl(&[
        "annotate",
        "deploy",
        RELEASE,
        "-n",
        OPERATOR_NS,
        "world.test.io/note=hi",
    ]));
    assert_eq!(deployment_json(&w)["metadata"]["generation"], 3);
    // /status is not spec: no bump, and the main endpoint keeps it
    let api: Api<Deployment> = Api::namespaced(w.client().await, OPERATOR_NS);
    api.patch_status(
        RELEASE,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"replicas": 2, "observedGeneration": 3}})),
    )
    .await
    .expect("status");
    let got = api.get(RELEASE).await.expect("get");
    assert_eq!(gen_of(&got), 3);
    assert_eq!(got.status.and_then(|s| s.replicas), Some(2));
    // `kubectl scale` goes through /scale, which changes spec.replicas: a bump
    let out = ok(&w.kubectl(&[
        "scale",
        "deploy",
        RELEASE,
        "-n",
        OPERATOR_NS,
        "--replicas=3",
    ]));
    assert!(out.contains("scaled"), "{out}");
    let scale = api.get_scale(RELEASE).await.expect("scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(3));
    let status = scale.status.expect("scale status");
    assert_eq!(status.replicas, 2);
    assert_eq!(
        status.selector.as_deref(),
        Some("app.kubernetes.io/instance=rfo,app.kubernetes.io/name=route53-failover-operator")
    );
    assert_eq!(gen_of(&api.get(RELEASE).await.expect("get")), 4);
}

#[tokio::test]
async fn discovery_lists_built_in_kinds_with_scope_short_names_and_subresources() {
    let w = KubeWorld::start();
    let out = ok(&w.kubectl(&["api-resources"]));
    let row = |name: &str| -> Vec<String> {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{out}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    for (name, want) in [
        (
            "serviceaccounts",
            "serviceaccounts sa v1 true ServiceAccount",
        ),
        ("services", "services svc v1 true Service"),
        ("configmaps", "configmaps cm v1 true ConfigMap"),
        ("secrets", "secrets v1 true Secret"),
        ("pods", "pods po v1 true Pod"),
        ("deployments", "deployments deploy apps/v1 true Deployment"),
        ("roles", "roles rbac.authorization.k8s.io/v1 true Role"),
        (
            "rolebindings",
            "rolebindings rbac.authorization.k8s.io/v1 true RoleBinding",
        ),
        (
            "clusterroles",
            "clusterroles rbac.authorization.k8s.io/v1 false ClusterRole",
        ),
        (
            "clusterrolebindings",
            "clusterrolebindings rbac.authorization.k8s.io/v1 false ClusterRoleBinding",
        ),
        (
            "poddisruptionbudgets",
            "poddisruptionbudgets pdb policy/v1 true PodDisruptionBudget",
        ),
        (
            "networkpolicies",
            "networkpolicies netpol networking.k8s.io/v1 true NetworkPolicy",
        ),
    ] {
        assert_eq!(row(name).join(" "), want);
    }
    assert!(
        !out.contains("servicemonitors"),
        "ServiceMonitor is a CRD:\n{out}"
    );
    let apps = ok(&w.kubectl(&["get", "--raw", "/apis/apps/v1"]));
    let apps: serde_json::Value = serde_json::from_str(&apps).expect("json");
    let sub = |n: &str| {
        apps["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["name"] == n)
            .unwrap_or_else(|| panic!("{n} missing: {apps}"))
            .clone()
    };
    assert_eq!(
        sub("deployments")["verbs"].as_array().expect("verbs").len(),
        8
    );
    assert_eq!(sub("deployments/status")["kind"], "Deployment");
    let scale = sub("deployments/scale");
    assert_eq!(
        (&scale["group"], &scale["version"], &scale["kind"]),
        (&json!("autoscaling"), &json!("v1"), &json!("Scale"))
    );
    // `all` holds the workload kinds, as on a real cluster
    let all = ok(&w.kubectl(&["get", "all", "-A", "-o", "name"]));
    assert!(all.trim().is_empty(), "{all}");
}

#[tokio::test]
async fn built_in_kinds_are_served_through_kube_with_lists_and_watches() {
    let w = KubeWorld::start();
    let client = w.client().await;
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let watch = cms
        .watch(&WatchParams::default().timeout(5), "0")
        .await
        .expect("watch configmaps");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("c1".into());
    cm.data = Some([("k".to_string(), "v".to_string())].into());
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create cm");
    let mut watch = Box::pin(watch);
    let ev = tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("event in time")
        .expect("event")
        .expect("ok event");
    assert!(
        matches!(&ev, WatchEvent::Added(c) if c.metadata.name.as_deref() == Some("c1")),
        "{ev:?}"
    );
    let mut role = ClusterRole::default();
    role.metadata.name = Some("reader".into());
    role.metadata.namespace = Some("ignored".into()); // cluster-scoped: the server drops it
    let created = roles
        .create(&PostParams::default(), &role)
        .await
        .expect("create clusterrole");
    assert_eq!(created.metadata.namespace, None);
    assert_eq!(created.metadata.generation, None); // RBAC kinds track no generation
    let list = roles.list(&ListParams::default()).await.expect("list");
    assert_eq!(
        list.items.iter().map(|r| r.name_any()).collect::<Vec<_>>(),
        ["reader"]
    );
    let err = Api::<Deployment>::namespaced(client, "default")
        .get("missing")
        .await
        .expect_err("missing deployment");
    assert_eq!(code_reason(err), (404, "NotFound".to_string()));
}

#[tokio::test]
async fn strategic_merge_patch_merges_keyed_lists_and_obeys_directives() {
    let w = KubeWorld::start();
    let api: Api<Deployment> = Api::namespaced(w.client().await, "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [
                {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                 "ports": [{"containerPort": 80}]},
                {"name": "b", "image": "b:1"},
            ]}},
        },
    }))
    .expect("deployment");
    api.create(&PostParams::default(), &d)
        .await
        .expect("create");
    let patch = json!({"spec": {
        "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
        "template": {"spec": {"containers": [
            {"name": "a", "image": "a:2", "env": [{"name": "Y", "$patch": "delete"}]},
            {"name": "b", "$patch": "delete"},
        ]}},
    }});
    let got = api
        .patch("d", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .expect("strategic merge patch");
    let v = serde_json::to_value(&got).expect("json");
    assert_eq!(v["spec"]["strategy"], json!({"type": "Recreate"}));
    let containers = &v["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers,
        &json!([{"name": "a", "image": "a:2", "env": [{"name": "X", "value": "1"}],
                 "ports": [{"containerPort": 80}]}])
    );
    assert_eq!(gen_of(&got), 2);
}

#[tokio::test]
async fn typed_kubectl_create_sends_protobuf_and_gets_415() {
    // `kubectl create namespace|configmap|serviceaccount` send protobuf bodies; the double decodes JSON and YAML
    // only. client-go falls back to JSON after a 415 for CBOR, not for protobuf, so the command fails cleanly.
    let w = KubeWorld::start();
    let out = w.kubectl(&["create", "namespace", "foo"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("UnsupportedMediaType"), "{err}");
    assert!(!ok(&w.kubectl(&["get", "ns", "-o", "name"])).contains("namespace/foo"));
    // the same object through `apply` (unstructured, JSON) works
    ok(&w.kubectl_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: foo\n",
    ));
    assert!(ok(&w.kubectl(&["get", "ns", "-o", "name"])).contains("namespace/foo"));
}
