//! `route53-failover-operator plan` (the real binary) and the observe-only reconcile against the
//! local Route 53 double: create, update, no-op and conflict plans, each checked against the
//! double's request counters (no write call of any kind), and the plan checked against what a real
//! reconcile then does.
mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use aws_sdk_route53::types::{
    Change as SdkChange, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use route53_failover_operator::crd::{FailoverRecord, Role};
use route53_failover_operator::health::Reading;
use route53_failover_operator::metrics::Metrics;
use route53_failover_operator::plan_command::parse_manifests;
use route53_failover_operator::reconcile::{self, SyncInput, SyncOutcome};
use route53_failover_operator::route53::Route53;
use route53_failover_operator::route53::aws::AwsRoute53;
use route53_failover_operator::route53::budget::Budget;
use route53_failover_operator::route53::readonly::ReadOnly;
use route53_failover_operator::status::next_status;
use std::collections::HashMap;
use support::r53::R53World;

const OWNER: &str = "plan-test";
const UID: &str = "6f1c1a52-7d0e-4a8e-9a55-2f4b5c6d7e01";
const PRIMARY_IP: &str = "52.94.76.10";
const SECONDARY_IP: &str = "52.94.76.11";
const NAME: &str = "plan.example.test.";

/// A FailoverRecord `plan` at plan.example.test: the primary `value` checked on `port`, the
/// secondary 192.0.2.20 checked on 8081 with `secondary_extra` check fields; with `uid` in its
/// metadata, as `kubectl get -o yaml` prints it.
fn manifest(uid: Option<&str>, value: &str, port: u16, secondary_extra: &str) -> String {
    let yaml = support::record_manifest(
        "plan",
        "example.test",
        (value, &support::http_check(PRIMARY_IP, port, "")),
        (
            "192.0.2.20",
            &support::http_check(SECONDARY_IP, 8081, secondary_extra),
        ),
    );
    match uid {
        Some(uid) => yaml.replace(
            "  namespace: default\n",
            &format!("  namespace: default\n  uid: {uid}\n  generation: 1\n"),
        ),
        None => yaml,
    }
}

fn object(yaml: &str) -> FailoverRecord {
    parse_manifests(yaml).expect("manifest").remove(0)
}

/// Every write call the double counted (any operation that changes Route 53).
fn writes(w: &R53World) -> Vec<(String, u64)> {
    let counters = w.counters();
    let mut out: Vec<(String, u64)> = counters["requests"]
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|(op, _)| {
            ["Change", "Create", "Update", "Delete"]
                .iter()
                .any(|p| op.starts_with(p))
        })
        .map(|(op, n)| (op, n.as_u64().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    out.sort();
    out
}

/// `plan -f <file or -> --owner-id plan-test` with exactly the world's AWS environment: (stdout,
/// exit code).
fn plan(w: &R53World, yaml: &str, stdin: bool) -> (String, i32) {
    plan_as(w, yaml, stdin, OWNER)
}

fn plan_as(w: &R53World, yaml: &str, stdin: bool, owner: &str) -> (String, i32) {
    plan_with(w, yaml, stdin, owner, &[])
}

fn plan_with(w: &R53World, yaml: &str, stdin: bool, owner: &str, extra: &[&str]) -> (String, i32) {
    let file = w.dir().join("plan-input.yaml");
    std::fs::write(&file, yaml).expect("write manifest");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_route53-failover-operator"));
    cmd.arg("plan")
        .arg("-f")
        .arg(if stdin { "-".into() } else { file.clone() })
        .args(["--owner-id", owner])
        .args(extra);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
        cmd.env_remove(k);
    }
    cmd.envs(w.aws_env())
        .env("AWS_CONFIG_FILE", w.dir().join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            w.dir().join("no-aws-credentials"),
        )
        .env_remove("OWNER_ID")
        .env_remove("CLAIM_UNANNOTATED")
        .env_remove("NAMESPACE_POLICY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn plan");
    if let Some(mut i) = child.stdin.take() {
        if stdin {
            i.write_all(yaml.as_bytes()).expect("stdin");
        }
    }
    let out = child.wait_with_output().expect("plan output");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let code = out.status.code().unwrap_or(-1);
    eprintln!("plan exit {code}\n{stdout}{stderr}");
    (stdout, code)
}

async fn adapter(w: &R53World) -> Arc<AwsRoute53> {
    Arc::new(AwsRoute53::new(
        w.client().await,
        Arc::new(Budget::new(0.0, 1.0)),
        Arc::new(Metrics::default()),
    ))
}

/// One full reconcile of `obj` (uid [`UID`]) as the controller makes it, applying (`observe`
/// false) or observing; the status it leaves is kept in `status`.
async fn reconcile<R: Route53>(
    r53: &R,
    obj: &FailoverRecord,
    status: &mut Option<route53_failover_operator::crd::FailoverRecordStatus>,
    observe: bool,
) -> SyncOutcome {
    let health: HashMap<String, Reading> = HashMap::new();
    let input = SyncInput {
        owner: OWNER,
        uid: UID,
        generation: 1,
        object_ref: "default/plan",
        spec: &obj.spec,
        status: status.as_ref(),
        full: true,
        check_tags: true,
        health: &health,
    };
    let out = if observe {
        reconcile::sync_observe(r53, input).await
    } else {
        reconcile::sync(r53, input).await
    };
    if let Some(obs) = &out.observation {
        *status = Some(next_status(
            status.as_ref(),
            obs,
            k8s_openapi::jiff::Timestamp::now(),
            std::time::Duration::from_secs(300),
        ));
    }
    out
}

/// The object applied by a real reconcile; returns the health check ids its records carry.
async fn applied(w: &R53World, yaml: &str) -> [String; 2] {
    let a = adapter(w).await;
    let mut status = None;
    let out = reconcile(a.as_ref(), &object(yaml), &mut status, false).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    let s = status.expect("status");
    Role::ALL.map(|r| {
        s.endpoint(r)
            .and_then(|e| e.health_check_id.clone())
            .expect("health check id")
    })
}

/// The change lines of a plan block (those after the header and notes).
fn changes(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| {
            ["  + ", "  ~ ", "  - ", "  = ", "  ! "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_of_a_new_object_lists_the_creates_and_writes_nothing() {
    let w = R53World::start();
    let zone = w.create_zone("example.test").await;
    w.reset_counters();
    let yaml = manifest(Some(UID), "192.0.2.10", 8080, "");
    let (out, code) = plan(&w, &yaml, false);
    assert_eq!(code, 2, "changes: exit 2");
    assert!(
        out.starts_with(&format!(
            "FailoverRecord default/plan: {NAME} A in hosted zone {zone} (owner id {OWNER})\n"
        )),
        "{out}"
    );
    assert_eq!(
        changes(&out),
        [
            format!(
                "  + CREATE health check (primary): HTTP {PRIMARY_IP}:8080/health every 10s, threshold 1"
            ),
            format!(
                "  + CREATE health check (secondary): HTTP {SECONDARY_IP}:8081/health every 10s, threshold 1"
            ),
            format!("  + CREATE A {NAME} PRIMARY 192.0.2.10 ttl 60, health check (new)"),
            format!("  + CREATE A {NAME} SECONDARY 192.0.2.20 ttl 60, health check (new)"),
        ]
    );
    assert!(out.ends_with("Plan: 1 with changes, 0 without, 0 with errors or conflicts.\n"));
    assert_eq!(writes(&w), Vec::new(), "plan wrote to Route 53");
    assert!(
        w.counter("requests", "ListResourceRecordSets") >= 1,
        "it read the records"
    );
    assert!(
        w.counter("requests", "ListHealthChecks") >= 1,
        "it read the checks"
    );

    // From stdin, without a uid: the same plan, and a note that it is a new object's.
    let (stdin_out, stdin_code) = plan(&w, &manifest(None, "192.0.2.10", 8080, ""), true);
    assert_eq!(stdin_code, 2);
    assert_eq!(changes(&stdin_out), changes(&out));
    assert!(stdin_out.contains("note: the manifest has no metadata.uid: planned as a new object"));
    assert_eq!(writes(&w), Vec::new(), "plan wrote to Route 53");

    // What a reconcile then does is what was planned: two checks, two records.
    let ids = applied(&w, &yaml).await;
    let records = w
        .client()
        .await
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .send()
        .await
        .expect("list");
    let ours: Vec<(String, Option<String>)> = records
        .resource_record_sets()
        .iter()
        .filter(|r| r.name() == NAME)
        .map(|r| {
            (
                r.resource_records()
                    .iter()
                    .map(|v| v.value().to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                r.health_check_id().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert!(ours.contains(&("192.0.2.10".into(), Some(ids[0].clone()))));
    assert!(ours.contains(&("192.0.2.20".into(), Some(ids[1].clone()))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_of_an_object_in_sync_says_no_changes() {
    let w = R53World::start();
    w.create_zone("example.test").await;
    let yaml = manifest(Some(UID), "192.0.2.10", 8080, "");
    applied(&w, &yaml).await;
    w.reset_counters();
    let (out, code) = plan(&w, &yaml, false);
    assert_eq!(code, 0, "no changes: exit 0");
    assert_eq!(changes(&out), ["  = no changes"]);
    assert!(out.ends_with("Plan: 0 with changes, 1 without, 0 with errors or conflicts.\n"));
    assert_eq!(writes(&w), Vec::new(), "plan wrote to Route 53");
    assert!(
        w.counter("requests", "GetHealthCheck") >= 2,
        "it read each owned check"
    );
    assert!(
        w.counter("requests", "ListTagsForResources") >= 1,
        "it read the tags"
    );

    // Another installation's view: its owner id proves none of this its own.
    let other = out.clone();
    let (out, code) = {
        let yaml_annotated = yaml.replace(
            "  namespace: default\n",
            "  namespace: default\n  annotations: {route53.failover.io/owner: someone-else}\n",
        );
        plan(&w, &yaml_annotated, false)
    };
    assert_eq!(code, 0, "{other}");
    assert!(
        out.contains(&format!("  = no changes: not handled by owner id {OWNER}")),
        "{out}"
    );
    assert_eq!(writes(&w), Vec::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_of_a_changed_spec_lists_updates_and_is_what_the_reconcile_does() {
    let w = R53World::start();
    let zone = w.create_zone("example.test").await;
    let ids = applied(&w, &manifest(Some(UID), "192.0.2.10", 8080, "")).await;
    w.reset_counters();
    // Primary: a new value and port (updated in place). Secondary: another request interval, which
    // Route 53 cannot change in place (a new check, the record repointed, the old check deleted).
    let changed = manifest(Some(UID), "192.0.2.11", 8090, "").replace(
        &format!("{SECONDARY_IP}, port: 8081, resourcePath: /health, requestInterval: 10"),
        &format!("{SECONDARY_IP}, port: 8081, resourcePath: /health, requestInterval: 30"),
    );
    let (out, code) = plan(&w, &changed, false);
    assert_eq!(code, 2, "changes: exit 2");
    let (p, s) = (&ids[0], &ids[1]);
    assert_eq!(
        changes(&out),
        [
            format!("  ~ UPDATE health check {p} (primary): port 8080 -> 8090"),
            format!(
                "  + CREATE health check (secondary): HTTP {SECONDARY_IP}:8081/health every 30s, threshold 1"
            ),
            format!(
                "  ~ UPSERT A {NAME} PRIMARY 192.0.2.11 ttl 60, health check {p} (was: 192.0.2.10 ttl 60, health check {p})"
            ),
            format!(
                "  ~ UPSERT A {NAME} SECONDARY 192.0.2.20 ttl 60, health check (new) (was: 192.0.2.20 ttl 60, health check {s})"
            ),
            format!(
                "  - DELETE health check {s} (no longer used; once no record carries it and the record change is INSYNC)"
            ),
        ]
    );
    assert_eq!(writes(&w), Vec::new(), "plan wrote to Route 53");

    // The reconcile does exactly that.
    let a = adapter(&w).await;
    let mut status = None;
    let out = reconcile(a.as_ref(), &object(&changed), &mut status, false).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    let primary = a
        .get_health_check(p)
        .await
        .expect("GetHealthCheck")
        .and_then(|h| h.config)
        .expect("primary check");
    assert_eq!(primary.port, 8090);
    let new_secondary = status
        .as_ref()
        .and_then(|s| s.endpoint(Role::Secondary))
        .and_then(|e| e.health_check_id.clone())
        .expect("secondary check");
    assert_ne!(&new_secondary, s);
    let notes: Vec<&str> = out.notes.iter().map(|n| n.reason).collect();
    assert!(notes.contains(&"HealthCheckCreated"), "{notes:?}");
    assert!(notes.contains(&"HealthCheckUpdated"), "{notes:?}");
    assert!(notes.contains(&"RecordsChanged"), "{notes:?}");
    let records = a.list_record_sets(&zone, NAME).await.expect("records");
    assert!(
        records.iter().any(|r| r.values == ["192.0.2.11"]),
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_reports_conflicts_and_errors_with_exit_1() {
    let w = R53World::start();
    let zone = w.create_zone("example.test").await;
    // A plain record of someone else at the name.
    let foreign = ResourceRecordSet::builder()
        .name(NAME)
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
    w.client()
        .await
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    SdkChange::builder()
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
        .expect("foreign record");
    w.reset_counters();
    let yaml = manifest(Some(UID), "192.0.2.10", 8080, "");
    let (out, code) = plan(&w, &yaml, false);
    assert_eq!(code, 1, "conflict: exit 1");
    assert_eq!(
        changes(&out),
        [format!(
            "  ! conflict: record sets not owned by this FailoverRecord exist at the name: {NAME} A; nothing was overwritten"
        )]
    );
    assert_eq!(writes(&w), Vec::new(), "plan wrote to Route 53");

    // A second object planned with it: one error makes the exit status 1, whatever the others.
    let other = yaml
        .replace("name: plan\n", "name: plan2\n")
        .replace("name: plan.example.test", "name: plan2.example.test");
    let (out, code) = plan(&w, &format!("{yaml}---\n{other}"), false);
    assert_eq!(code, 1);
    assert!(
        out.ends_with("Plan: 1 with changes, 0 without, 1 with errors or conflicts.\n"),
        "{out}"
    );

    // No such zone: an error, exit 1.
    let (out, code) = plan(
        &w,
        &yaml
            .replace("{name: example.test}", "{name: nowhere.test}")
            .replace("plan.example.test", "plan.nowhere.test"),
        false,
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("  ! error: hosted zone: no hosted zone named nowhere.test."),
        "{out}"
    );
    // Not a FailoverRecord at all.
    let (out, code) = plan(&w, "apiVersion: v1\nkind: ConfigMap\n", false);
    assert_eq!(code, 1);
    assert!(out.contains("is not FailoverRecord"), "{out}");
    assert_eq!(writes(&w), Vec::new(), "plan wrote to Route 53");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_judges_the_namespace_policy_like_the_controller() {
    let w = R53World::start();
    let zone = w.create_zone("example.test").await;
    let deny = w.dir().join("deny.yaml");
    std::fs::write(
        &deny,
        "namespaces:\n  team-a: {zones: [example.test], names: [\"*.example.test\"]}\ndefault: deny\n",
    )
    .expect("policy");
    // The zone given by id, the policy listing it by name: resolved read-only, then judged.
    let allow = w.dir().join("allow.yaml");
    std::fs::write(
        &allow,
        "namespaces:\n  default: {zones: [example.test], names: [\"*.example.test\"]}\ndefault: deny\n",
    )
    .expect("policy");
    w.reset_counters();
    let yaml = manifest(Some(UID), "192.0.2.10", 8080, "");
    let policy =
        |p: &std::path::Path| vec!["--namespace-policy".to_string(), p.display().to_string()];
    let args = policy(&deny);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, code) = plan_with(&w, &yaml, false, OWNER, &args);
    assert_eq!(code, 1, "not allowed: exit 1");
    assert_eq!(
        changes(&out),
        ["  ! not allowed: namespace default is not listed in the namespace policy, and its default is deny"
            .to_string()],
        "{out}"
    );
    let by_id = yaml.replace("{name: example.test}", &format!("{{id: {zone}}}"));
    let args = policy(&allow);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, code) = plan_with(&w, &by_id, false, OWNER, &args);
    assert_eq!(code, 2, "allowed: the plan");
    assert!(
        out.contains(&format!("  + CREATE A {NAME} PRIMARY")),
        "{out}"
    );
    // A policy file the controller would refuse stops the plan too.
    let (_, code) = plan_with(
        &w,
        &yaml,
        false,
        OWNER,
        &["--namespace-policy", "/nonexistent"],
    );
    assert_eq!(code, 1);
    assert_eq!(writes(&w), Vec::new(), "plan wrote to Route 53");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_without_uid_of_an_existing_object_is_a_conflict_not_a_takeover() {
    let w = R53World::start();
    w.create_zone("example.test").await;
    applied(&w, &manifest(Some(UID), "192.0.2.10", 8080, "")).await;
    w.reset_counters();
    let (out, code) = plan(&w, &manifest(None, "192.0.2.10", 8080, ""), false);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("note: the manifest has no metadata.uid"),
        "{out}"
    );
    assert!(
        out.contains("  ! conflict: record sets not owned by this FailoverRecord"),
        "{out}"
    );
    assert_eq!(writes(&w), Vec::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_only_reconcile_reports_what_would_change_and_writes_nothing() {
    let w = R53World::start();
    let zone = w.create_zone("example.test").await;
    let a = adapter(&w).await;
    let ro = ReadOnly::new(a.clone());
    let yaml = manifest(Some(UID), "192.0.2.10", 8080, "");
    w.reset_counters();

    // Nothing in Route 53 yet: not Ready, the planned creates in the message and an Event.
    let mut status = None;
    let out = reconcile(&ro, &object(&yaml), &mut status, true).await;
    assert!(matches!(out.result, Ok(false)), "{:?}", out.result);
    let obs = out.observation.as_ref().expect("observation");
    assert_eq!(
        (obs.readiness.status, obs.readiness.reason),
        ("False", "ObserveOnly")
    );
    assert!(
        obs.readiness.message.contains(&format!(
            "+ CREATE A {NAME} PRIMARY 192.0.2.10 ttl 60, health check (new)"
        )),
        "{}",
        obs.readiness.message
    );
    assert!(
        obs.readiness
            .message
            .contains("+ CREATE health check (primary)")
    );
    assert_eq!(obs.endpoints[0].as_ref().and_then(|e| e.1.clone()), None);
    assert!(
        out.notes
            .iter()
            .any(|n| n.reason == "ObserveOnly" && n.message == obs.readiness.message),
        "{:?}",
        out.notes
    );
    assert_eq!(writes(&w), Vec::new(), "observe-only wrote to Route 53");
    assert!(w.counter("requests", "ListResourceRecordSets") >= 1);

    // Applied by another process (a writing reconcile with its own adapter): observe-only then says
    // Ready, with Route 53's check ids, although its own inventory cache listed no check a moment
    // ago.
    let ids = applied(&w, &yaml).await;
    w.reset_counters();
    let mut status = None;
    let out = reconcile(&ro, &object(&yaml), &mut status, true).await;
    let obs = out.observation.as_ref().expect("observation");
    assert_eq!(obs.readiness.status, "True", "{:?}", obs.readiness);
    assert!(obs.readiness.message.contains("observe-only"));
    assert_eq!(
        obs.endpoints.clone().map(|e| e.and_then(|e| e.1)),
        [Some(ids[0].clone()), Some(ids[1].clone())]
    );
    assert!(out.notes.is_empty(), "{:?}", out.notes);

    // The spec changes: not Ready (Route 53 differs), the records still carry what they carry.
    let changed = manifest(Some(UID), "192.0.2.11", 8080, "");
    let out = reconcile(&ro, &object(&changed), &mut status, true).await;
    let obs = out.observation.as_ref().expect("observation");
    assert_eq!(
        (obs.readiness.status, obs.readiness.reason),
        ("False", "ObserveOnly"),
        "{:?}",
        obs.readiness
    );
    assert!(
        obs.readiness.message.contains(&format!(
            "~ UPSERT A {NAME} PRIMARY 192.0.2.11 ttl 60, health check {}",
            ids[0]
        )),
        "{}",
        obs.readiness.message
    );
    assert_eq!(
        status
            .as_ref()
            .and_then(|s| route53_failover_operator::status::find_condition(Some(s), "Ready"))
            .map(|c| c.status.clone()),
        Some("False".into())
    );
    assert_eq!(writes(&w), Vec::new(), "observe-only wrote to Route 53");
    // Route 53 is as the writing reconcile left it.
    let records = a.list_record_sets(&zone, NAME).await.expect("records");
    assert!(
        records.iter().any(|r| r.values == ["192.0.2.10"]) && records.len() == 2,
        "{records:?}"
    );
}

// ------------------------------------------------------------ the operator binary, end to end

mod operator_world {
    use super::*;
    use k8s_openapi::api::events::v1::Event;
    use kube::Api;
    use kube::api::ListParams;
    use route53_failover_operator::status::find_condition;
    use std::time::Duration;
    use support::eventually;
    use support::kube::{KubeWorld, ok};
    use support::operator::Operator;

    const WAIT: Duration = Duration::from_secs(60);
    const POLL: Duration = Duration::from_millis(200);

    async fn ready_is(kube: &KubeWorld, status: &str, reason: &str, contains: &str) -> String {
        let api: Api<FailoverRecord> = Api::namespaced(kube.client().await, "default");
        let what = format!("Ready={status} {reason} with {contains:?}");
        eventually(&what, WAIT, POLL, || {
            let api = api.clone();
            async move {
                let o = api.get_opt("plan").await.ok().flatten()?;
                let c = find_condition(o.status.as_ref(), "Ready")?;
                let current =
                    o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation;
                (current
                    && c.status == status
                    && c.reason == reason
                    && c.message.contains(contains))
                .then(|| c.message.clone())
            }
        })
        .await
    }

    async fn event_with(kube: &KubeWorld, reason: &str, contains: &str) -> String {
        let api: Api<Event> = Api::namespaced(kube.client().await, "default");
        eventually(
            &format!("an Event {reason} with {contains:?}"),
            WAIT,
            POLL,
            || {
                let api = api.clone();
                async move {
                    api.list(&ListParams::default())
                        .await
                        .ok()?
                        .items
                        .into_iter()
                        .filter(|e| e.reason.as_deref() == Some(reason))
                        .filter_map(|e| e.note)
                        .find(|n| n.contains(contains))
                }
            },
        )
        .await
    }

    /// `run --observe-only`: status and Events say what would change, Route 53 is never written
    /// (not on create, on a spec change, or on delete) and no finalizer is added or released; `plan`
    /// of `kubectl get -o yaml` output (the uid included) matches what the writing operator did.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn observe_only_operator_reports_and_never_writes_and_plan_reads_kubectl_output() {
        let r53 = R53World::start();
        let zone = r53.create_zone("example.test").await;
        let kube = KubeWorld::with_crd();
        let yaml = manifest(None, "192.0.2.10", 8080, "");
        r53.reset_counters();

        // 1. Observe-only: nothing in Route 53 yet.
        let mut observer = Operator::start(&kube, &r53, &["--observe-only"]);
        ok(&kube.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &yaml));
        let message = ready_is(
            &kube,
            "False",
            "ObserveOnly",
            "+ CREATE A plan.example.test.",
        )
        .await;
        assert!(
            message.contains("+ CREATE health check (primary)"),
            "{message}"
        );
        event_with(&kube, "ObserveOnly", "+ CREATE A plan.example.test.").await;
        assert_eq!(
            writes(&r53),
            Vec::new(),
            "observe-only wrote: {}",
            observer.log()
        );
        let finalizers = ok(&kube.kubectl(&[
            "get",
            "frec",
            "plan",
            "-o",
            "jsonpath={.metadata.finalizers}",
        ]));
        assert_eq!(finalizers.trim(), "", "observe-only added a finalizer");
        observer.kill();

        // 2. The writing operator applies it; then `plan` of what kubectl prints (uid included)
        //    has nothing to do.
        let mut writer = Operator::start(&kube, &r53, &[]);
        ready_is(&kube, "True", "Synced", "").await;
        writer.kill();
        r53.reset_counters();
        let printed = ok(&kube.kubectl(&["get", "frec", "plan", "-o", "yaml"]));
        assert!(printed.contains("uid: "), "{printed}");
        let (out, code) = plan_as(&r53, &printed, true, "e2e");
        assert_eq!(
            (code, changes(&out)),
            (0, vec!["  = no changes".to_string()]),
            "{out}"
        );
        assert_eq!(writes(&r53), Vec::new(), "plan wrote");

        // 3. Observe-only again: in sync, Ready says so; a spec change is reported, not made.
        let mut observer = Operator::start(&kube, &r53, &["--observe-only"]);
        ready_is(&kube, "True", "Synced", "observe-only").await;
        ok(&kube.kubectl_stdin(
            &["apply", "--server-side", "-f", "-"],
            &manifest(None, "192.0.2.11", 8080, ""),
        ));
        let message = ready_is(
            &kube,
            "False",
            "ObserveOnly",
            "~ UPSERT A plan.example.test. PRIMARY 192.0.2.11",
        )
        .await;
        assert!(message.contains("(was: 192.0.2.10"), "{message}");
        // 4. Deleted: observe-only neither cleans up nor releases the writing installation's
        //    finalizer (same owner id, same finalizer name); that installation then cleans up.
        ok(&kube.kubectl(&["delete", "frec", "plan", "--wait=false"]));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let held = ok(&kube.kubectl(&[
            "get",
            "frec",
            "plan",
            "-o",
            "jsonpath={.metadata.deletionTimestamp} {.metadata.finalizers}",
        ]));
        assert!(held.contains("route53.failover.io/cleanup-e2e"), "{held}");
        assert_eq!(
            writes(&r53),
            Vec::new(),
            "observe-only wrote: {}",
            observer.log()
        );
        let a = adapter(&r53).await;
        let records = a.list_record_sets(&zone, NAME).await.expect("records");
        assert_eq!(records.len(), 2, "{records:?}");
        assert!(
            records.iter().any(|r| r.values == ["192.0.2.10"]),
            "{records:?}"
        );
        observer.kill();
        let _writer = Operator::start(&kube, &r53, &[]);
        ok(&kube.kubectl(&["wait", "--for=delete", "frec/plan", "--timeout=60s"]));
        let records = a.list_record_sets(&zone, NAME).await.expect("records");
        assert_eq!(records, Vec::new(), "the writing installation cleaned up");
    }
}

/// A failover pair made outside the operator: `plan` of a FailoverRecord with `adopt: true` lists the
/// one batch that takes it over (DELETE theirs, CREATE ours) and writes nothing; without `adopt` it is
/// a conflict.
#[tokio::test]
async fn plan_of_an_adoption_lists_the_takeover_batch_and_writes_nothing() {
    let w = R53World::start();
    let zone = w.create_zone("example.test").await;
    let client = w.client().await;
    let hc = client
        .create_health_check()
        .caller_reference("cli-made")
        .health_check_config(
            aws_sdk_route53::types::HealthCheckConfig::builder()
                .r#type(aws_sdk_route53::types::HealthCheckType::Tcp)
                .ip_address(PRIMARY_IP)
                .port(8080)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("their health check")
        .health_check()
        .map(|h| h.id().to_string())
        .expect("id");
    let theirs = |set_id: &str,
                  role: aws_sdk_route53::types::ResourceRecordSetFailover,
                  value: &str,
                  hc: Option<&str>| {
        SdkChange::builder()
            .action(ChangeAction::Create)
            .resource_record_set(
                ResourceRecordSet::builder()
                    .name(NAME)
                    .r#type(RrType::A)
                    .ttl(60)
                    .set_identifier(set_id)
                    .failover(role)
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
        .hosted_zone_id(&zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(theirs(
                    "cli-primary",
                    aws_sdk_route53::types::ResourceRecordSetFailover::Primary,
                    "198.51.100.1",
                    Some(&hc),
                ))
                .changes(theirs(
                    "cli-secondary",
                    aws_sdk_route53::types::ResourceRecordSetFailover::Secondary,
                    "198.51.100.2",
                    None,
                ))
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("their pair");
    w.reset_counters();
    let yaml = manifest(Some(UID), "192.0.2.10", 8080, "");
    let (out, code) = plan(&w, &yaml, false);
    assert_eq!(code, 1, "without adopt: a conflict\n{out}");
    let adopting = yaml.replacen("spec:\n", "spec:\n  adopt: true\n", 1);
    assert_ne!(adopting, yaml, "spec: line found");
    let (out, code) = plan(&w, &adopting, false);
    assert_eq!(code, 2, "changes: exit 2\n{out}");
    let lines = changes(&out);
    let has = |prefix: &str, value: &str| {
        lines
            .iter()
            .any(|l| l.trim_start().starts_with(prefix) && l.contains(value))
    };
    assert!(
        has(&format!("- DELETE A {NAME} PRIMARY"), "198.51.100.1"),
        "{lines:?}"
    );
    assert!(
        has(&format!("- DELETE A {NAME} SECONDARY"), "198.51.100.2"),
        "{lines:?}"
    );
    assert!(
        has(&format!("+ CREATE A {NAME} PRIMARY"), "192.0.2.10"),
        "{lines:?}"
    );
    assert!(
        has(&format!("+ CREATE A {NAME} SECONDARY"), "192.0.2.20"),
        "{lines:?}"
    );
    assert_eq!(writes(&w), Vec::new(), "plan wrote to Route 53");
}
