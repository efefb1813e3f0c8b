//! Reconcile tests: the whole Route 53 pipeline (read → plan → apply → observe) against the in-memory
//! fake, with status carried from one reconcile to the next as the controller does.

use k8s_openapi::jiff::Timestamp;

use super::*;
use crate::crd::{FailoverRecordSpec, FailoverRecordStatus, Health, Role};
use crate::health::{HealthView, Reading};
use crate::naming;
use crate::route53::fake::FakeRoute53;
use crate::route53::{Change, RecordSet, Route53Error, Route53ErrorKind};
use crate::status::{READY, find_condition, next_status};
use std::collections::HashMap;

const OWNER: &str = "test-owner";
const UID: &str = "11111111-2222-4333-8444-555555555555";

struct Harness {
    r53: FakeRoute53,
    zone: String,
    status: Option<FailoverRecordStatus>,
    generation: i64,
    spec: FailoverRecordSpec,
}

fn spec(yaml: &str) -> FailoverRecordSpec {
    serde_yaml::from_str(yaml).expect("spec")
}

const BASIC: &str = r#"
hostedZone: {name: example.com}
name: app.example.com
type: A
primary:
  values: ["52.94.76.10"]
  healthCheck: {type: HTTP, resourcePath: /healthz, requestInterval: 10, failureThreshold: 2}
secondary:
  values: ["52.94.76.20"]
  healthCheck: {type: TCP, port: 443}
"#;

impl Harness {
    fn new(yaml: &str) -> Harness {
        let r53 = FakeRoute53::new();
        let zone = r53.add_zone("example.com");
        Harness {
            r53,
            zone,
            status: None,
            generation: 1,
            spec: spec(yaml),
        }
    }

    /// A sync with a health monitor that has just read every check.
    async fn run(&mut self, full: bool) -> SyncOutcome {
        let out = self.sync_with(full, &self.r53).await;
        self.absorb(&out);
        out
    }

    async fn run_with(&mut self, full: bool, health: &dyn HealthView) -> SyncOutcome {
        let out = self.sync_with(full, health).await;
        self.absorb(&out);
        out
    }

    fn absorb(&mut self, out: &SyncOutcome) {
        if let Some(obs) = &out.observation {
            self.status = Some(next_status(
                self.status.as_ref(),
                obs,
                Timestamp::now(),
                std::time::Duration::from_secs(300),
            ));
        }
    }

    /// The finalizer's cleanup of this object; `pending` as the controller hands it on.
    async fn cleanup(&self, pending: Option<&str>) -> Result<Vec<Note>, Error> {
        cleanup(
            &self.r53,
            OWNER,
            UID,
            self.generation,
            &self.spec,
            self.status.as_ref(),
            pending,
        )
        .await
    }

    async fn sync_with(&self, full: bool, health: &dyn HealthView) -> SyncOutcome {
        sync(
            &self.r53,
            SyncInput {
                owner: OWNER,
                uid: UID,
                generation: self.generation,
                object_ref: "default/app",
                spec: &self.spec,
                status: self.status.as_ref(),
                full,
                check_tags: full,
                health,
            },
        )
        .await
    }

    /// Our record of a role in the fake.
    fn record(&self, role: Role) -> RecordSet {
        self.ours()
            .into_iter()
            .find(|r| r.failover == Some(role))
            .expect("record of the role")
    }

    /// The health check id status reports for a role.
    fn hc_id(&self, role: Role) -> String {
        self.status
            .as_ref()
            .and_then(|s| s.endpoint(role))
            .and_then(|e| e.health_check_id.clone())
            .expect("health check id in status")
    }

    fn ours(&self) -> Vec<RecordSet> {
        self.r53
            .records(&self.zone)
            .into_iter()
            .filter(|r| r.name == "app.example.com.")
            .collect()
    }

    fn ready(&self) -> (String, String) {
        let c = find_condition(self.status.as_ref(), READY).expect("Ready present");
        (c.status.clone(), c.reason.clone())
    }

    fn set_spec(&mut self, yaml: &str) {
        self.spec = spec(yaml);
        self.generation += 1;
    }
}

#[tokio::test]
async fn create_writes_exact_route53_state_and_settles_to_ready() {
    let mut h = Harness::new(BASIC);
    let out = h.run(true).await;
    assert_eq!(
        out.result.as_ref().ok(),
        Some(&true),
        "change pending: {:?}",
        out.result
    );
    assert_eq!(h.ready(), ("False".into(), "Propagating".into()));
    let checks = h.r53.health_checks();
    assert_eq!(checks.len(), 2, "one check per endpoint");
    let records = h.ours();
    assert_eq!(records.len(), 2);
    let p = records
        .iter()
        .find(|r| r.failover == Some(Role::Primary))
        .expect("primary");
    let s = records
        .iter()
        .find(|r| r.failover == Some(Role::Secondary))
        .expect("secondary");
    assert_eq!(p.values, vec!["52.94.76.10"]);
    assert_eq!(p.ttl, Some(60));
    assert_eq!(
        p.set_identifier.as_deref(),
        Some(format!("{OWNER}:{UID}:primary").as_str())
    );
    let pc = checks
        .iter()
        .find(|c| Some(&c.id) == p.health_check_id.as_ref())
        .expect("primary check");
    let cfg = pc.config.as_ref().expect("config");
    assert_eq!(
        (
            cfg.ip_address.as_deref(),
            cfg.port,
            cfg.request_interval,
            cfg.failure_threshold
        ),
        (Some("52.94.76.10"), 80, 10, 2)
    );
    assert_eq!(
        naming::owned_role(OWNER, UID, &pc.caller_reference, None, 1),
        Some(Role::Primary)
    );
    assert!(
        h.r53
            .tags(&pc.id)
            .iter()
            .any(|(k, v)| k == "route53-failover-operator/uid" && v == UID)
    );
    assert!(s.health_check_id.is_some());

    h.r53.settle();
    for id in [p.health_check_id.clone(), s.health_check_id.clone()]
        .into_iter()
        .flatten()
    {
        h.r53.set_health(&id, true);
    }
    let out = h.run(true).await;
    assert_eq!(out.result.as_ref().ok(), Some(&false));
    assert_eq!(h.ready(), ("True".into(), "Synced".into()));
    let st = h.status.clone().expect("status");
    assert_eq!(st.active_role, Some(Role::Primary));
    assert_eq!(
        st.primary
            .as_ref()
            .map(|e| (e.health, e.checkers_healthy, e.checkers_total)),
        Some((Health::Healthy, 3, 3))
    );
    assert_eq!(
        st.change.as_ref().map(|c| c.status.as_str()),
        Some("INSYNC")
    );
}

#[tokio::test]
async fn steady_state_makes_no_writes_and_no_status_change() {
    let mut h = Harness::new(BASIC);
    h.r53.auto_insync();
    h.run(true).await;
    h.run(true).await;
    let before = h.status.clone();
    h.r53.reset_calls();
    for _ in 0..5 {
        let out = h.run(true).await;
        assert!(out.notes.is_empty(), "{:?}", out.notes);
    }
    assert_eq!(h.r53.write_calls(), 0, "{:?}", h.r53.calls());
    assert_eq!(h.status, before, "status unchanged: nothing to patch");
    // Reconciles triggered by a health reading make no Route 53 call at all.
    h.r53.reset_calls();
    h.run(false).await;
    assert!(h.r53.calls().is_empty(), "{:?}", h.r53.calls());
}

#[tokio::test]
async fn a_resync_of_an_object_in_sync_only_confirms_from_the_zone_snapshot() {
    let mut h = Harness::new(BASIC);
    h.r53.auto_insync();
    h.run(true).await;
    h.run(true).await;
    assert_eq!(h.ready().0, "True");
    h.r53.reset_calls();
    let out = h.run(true).await;
    assert_eq!(out.result.as_ref().ok(), Some(&false), "{:?}", out.result);
    let calls = h.r53.calls();
    assert_eq!(calls.get("Snapshot"), Some(&1), "{calls:?}");
    for op in [
        "ListResourceRecordSets",
        "GetHealthCheck",
        "ListTagsForResources",
        "GetChange",
    ] {
        assert_eq!(h.r53.call_count(op), 0, "{op}: {calls:?}");
    }
    assert_eq!(h.r53.write_calls(), 0, "{calls:?}");
    // An out-of-band edit of a check's settings: the confirmation sees it in the inventory, and the
    // full path reads the check again (GetHealthCheck) before updating it.
    let p = h.hc_id(Role::Primary);
    let mut edited = h
        .r53
        .health_checks()
        .into_iter()
        .find(|c| c.id == p)
        .and_then(|c| c.config)
        .expect("primary config");
    edited.failure_threshold = 7;
    h.r53
        .update_health_check(&p, 1, &edited)
        .await
        .expect("edit");
    h.r53.reset_calls();
    let out = h.run(true).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert!(
        h.r53.call_count("GetHealthCheck") >= 1,
        "{:?}",
        h.r53.calls()
    );
    assert_eq!(
        h.r53.call_count("UpdateHealthCheck"),
        1,
        "{:?}",
        h.r53.calls()
    );
    let repaired = h
        .r53
        .health_checks()
        .into_iter()
        .find(|c| c.id == p)
        .and_then(|c| c.config)
        .expect("primary config");
    assert_eq!(repaired.failure_threshold, 2);
}

#[tokio::test]
async fn polling_our_propagating_change_reads_no_record_again() {
    let mut h = Harness::new(BASIC);
    h.run(true).await;
    assert_eq!(h.ready(), ("False".into(), "Propagating".into()));
    h.r53.reset_calls();
    let out = h.run(true).await;
    assert_eq!(out.result.as_ref().ok(), Some(&true), "{:?}", out.result);
    let calls = h.r53.calls();
    assert_eq!(h.r53.call_count("GetChange"), 1, "{calls:?}");
    assert_eq!(h.r53.call_count("ListResourceRecordSets"), 0, "{calls:?}");
    assert_eq!(h.r53.write_calls(), 0, "{calls:?}");
    h.r53.settle();
    h.run(true).await;
    assert_eq!(h.ready(), ("True".into(), "Synced".into()));
}

#[tokio::test]
async fn failover_and_failback_follow_route53_health() {
    let mut h = Harness::new(BASIC);
    h.r53.auto_insync();
    h.run(true).await;
    let st = h.status.clone().expect("status");
    let p = st.primary.and_then(|e| e.health_check_id).expect("p id");
    let s = st.secondary.and_then(|e| e.health_check_id).expect("s id");
    h.r53.set_health(&p, true);
    h.r53.set_health(&s, true);
    h.run(false).await;
    assert_eq!(
        h.status.as_ref().and_then(|s| s.active_role),
        Some(Role::Primary)
    );
    h.r53.set_health(&p, false);
    h.run(false).await;
    let st = h.status.clone().expect("status");
    assert_eq!(st.active_role, Some(Role::Secondary));
    assert!(st.last_failover_time.is_some());
    assert_eq!(
        st.primary.as_ref().map(|e| e.health),
        Some(Health::Unhealthy)
    );
    assert!(
        st.primary
            .and_then(|e| e.last_failure_reason)
            .is_some_and(|r| r.contains("Failure"))
    );
    // Both unhealthy: Route 53 answers with the primary.
    h.r53.set_health(&s, false);
    h.run(false).await;
    assert_eq!(
        h.status.as_ref().and_then(|s| s.active_role),
        Some(Role::Primary)
    );
}

#[tokio::test]
async fn mutable_change_updates_in_place_immutable_change_replaces_without_leak() {
    let mut h = Harness::new(BASIC);
    h.r53.auto_insync();
    h.run(true).await;
    let original = h.hc_id(Role::Primary);

    // failureThreshold is mutable: same check, new version.
    h.set_spec(&BASIC.replace("failureThreshold: 2", "failureThreshold: 4"));
    h.run(true).await;
    let checks = h.r53.health_checks();
    assert_eq!(checks.len(), 2);
    let c = checks
        .iter()
        .find(|c| c.id == original)
        .expect("same check kept");
    assert_eq!(
        (c.version, c.config.as_ref().map(|c| c.failure_threshold)),
        (2, Some(4))
    );
    assert_eq!(h.r53.call_count("CreateHealthCheck"), 2);

    // requestInterval is immutable: create new → repoint → delete old, never two for long.
    h.set_spec(
        &BASIC
            .replace("requestInterval: 10", "requestInterval: 30")
            .replace("failureThreshold: 2", "failureThreshold: 4"),
    );
    let out = h.run(true).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    let primary_rs = h.record(Role::Primary);
    let new_id = primary_rs.health_check_id.clone().expect("hc");
    assert_ne!(new_id, original, "record repointed to the replacement");
    let ids: Vec<String> = h.r53.health_checks().into_iter().map(|c| c.id).collect();
    assert!(
        !ids.contains(&original),
        "old check deleted after repointing (change INSYNC): {ids:?}"
    );
    assert_eq!(ids.len(), 2);
    assert!(out.notes.iter().any(|n| n.reason == "HealthCheckDeleted"));
}

#[tokio::test]
async fn replaced_check_is_kept_until_the_repointing_change_is_insync() {
    let mut h = Harness::new(BASIC);
    h.run(true).await;
    h.r53.settle();
    h.run(true).await;
    let original = h.hc_id(Role::Primary);
    h.set_spec(&BASIC.replace("type: HTTP,", "type: HTTPS,"));
    h.run(true).await;
    assert!(
        h.r53.health_checks().iter().any(|c| c.id == original),
        "kept while PENDING"
    );
    assert_eq!(h.r53.health_checks().len(), 3);
    h.r53.settle();
    h.run(true).await;
    assert!(
        !h.r53.health_checks().iter().any(|c| c.id == original),
        "deleted once INSYNC"
    );
    assert_eq!(h.r53.health_checks().len(), 2);
}

#[tokio::test]
async fn crash_after_health_check_create_never_duplicates() {
    let mut h = Harness::new(BASIC);
    // The record write fails after both checks were created (as if the process died there).
    h.r53.fail_next(
        "ChangeResourceRecordSets",
        Route53Error::new(
            "ChangeResourceRecordSets",
            Route53ErrorKind::Transient,
            "InternalError",
            "boom",
        ),
    );
    let out = h.run(true).await;
    assert!(out.result.is_err());
    assert!(
        out.observation.is_none(),
        "transient errors leave status alone"
    );
    assert_eq!(h.r53.health_checks().len(), 2);
    // Retry from scratch (no status, like a restarted operator): the same checks are reused.
    h.status = None;
    let out = h.run(true).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(h.r53.health_checks().len(), 2, "no duplicate health checks");
    assert_eq!(
        h.r53.call_count("CreateHealthCheck"),
        2,
        "found by CallerReference, not created again"
    );
    assert_eq!(h.ours().len(), 2);
}

#[tokio::test]
async fn lost_list_response_is_caught_by_caller_reference_idempotency() {
    let mut h = Harness::new(BASIC);
    h.run(true).await;
    let before: Vec<_> = h.r53.health_checks();
    // Simulate a listing that missed our checks (eventual consistency): the planner asks to create again
    // with the same deterministic CallerReference, and Route 53 returns the existing check.
    let desired = crate::desired::Desired::from_spec(&h.spec, OWNER, UID).expect("valid");
    let plan =
        crate::plan::plan_health_checks(&desired, &[], &[None, None], OWNER, UID, h.generation);
    for a in plan.actions {
        if let crate::plan::HealthCheckAction::Create {
            caller_reference,
            config,
            ..
        } = a
        {
            let hc = h
                .r53
                .create_health_check(&caller_reference, &config, &[])
                .await
                .expect("idempotent");
            assert!(before.iter().any(|b| b.id == hc.id));
        }
    }
    assert_eq!(h.r53.health_checks().len(), 2);
}

#[tokio::test]
async fn foreign_record_is_a_conflict_and_nothing_is_written() {
    let mut h = Harness::new(BASIC);
    let foreign = RecordSet {
        name: "app.example.com.".into(),
        rtype: "A".into(),
        set_identifier: None,
        failover: None,
        ttl: Some(300),
        values: vec!["54.239.28.7".into()],
        alias: None,
        health_check_id: None,
    };
    h.r53.put_record(&h.zone.clone(), foreign.clone());
    let out = h.run(true).await;
    assert!(
        matches!(out.result, Err(Error::Conflict(_))),
        "{:?}",
        out.result
    );
    assert_eq!(h.ready(), ("False".into(), "Conflict".into()));
    assert_eq!(h.ours(), vec![foreign], "foreign record untouched");
    assert!(
        h.r53.health_checks().is_empty(),
        "no health check created for a conflicting name"
    );
    assert_eq!(h.r53.write_calls(), 0);
}

#[tokio::test]
async fn invalid_spec_writes_nothing() {
    let mut h = Harness::new(&BASIC.replace("type: TCP, port: 443", "type: TCP"));
    let out = h.run(true).await;
    assert!(
        matches!(&out.result, Err(Error::InvalidSpec(m)) if m.contains("needs a port")),
        "{:?}",
        out.result
    );
    assert_eq!(h.ready(), ("False".into(), "InvalidSpec".into()));
    assert_eq!(h.r53.calls().len(), 0, "Route 53 not even read");
}

#[tokio::test]
async fn special_use_health_check_address_is_invalid_and_writes_nothing() {
    // An object that bypassed admission (CRD installed without its rules) with private, loopback and
    // documentation addresses to check: refused before Route 53 is even read.
    for (from, to) in [
        ("[\"52.94.76.10\"]", "[\"10.1.2.3\"]"),
        ("[\"52.94.76.10\"]", "[\"127.0.0.1\"]"),
        ("[\"52.94.76.10\"]", "[\"192.0.2.10\"]"),
    ] {
        let spec = BASIC.replacen(from, to, 1);
        assert_ne!(spec, BASIC, "{from} is in BASIC");
        let mut h = Harness::new(&spec);
        let out = h.run(true).await;
        assert!(
            matches!(&out.result, Err(Error::InvalidSpec(m)) if m.contains("not a public address")),
            "{to}: {:?}",
            out.result
        );
        assert_eq!(h.ready(), ("False".into(), "InvalidSpec".into()));
        assert_eq!(h.r53.calls().len(), 0, "Route 53 not even read");
    }
}

#[tokio::test]
async fn missing_zone_is_reported() {
    let mut h = Harness::new(
        &BASIC
            .replace("{name: example.com}", "{name: missing.test}")
            .replace("app.example.com", "app.missing.test"),
    );
    let out = h.run(true).await;
    assert!(matches!(out.result, Err(Error::Zone(_))));
    assert_eq!(h.ready(), ("False".into(), "ZoneNotFound".into()));
    assert_eq!(h.r53.write_calls(), 0);
}

#[tokio::test]
async fn drift_is_repaired_on_full_sync() {
    let mut h = Harness::new(BASIC);
    h.r53.auto_insync();
    h.run(true).await;
    // Someone edits our secondary out of band.
    let zone = h.zone.clone();
    let mut s = h.record(Role::Secondary);
    s.values = vec!["54.239.29.66".into()];
    h.r53
        .change_record_sets(&zone, "drift", &[Change::Upsert(s)])
        .await
        .expect("drift");
    let out = h.run(true).await;
    assert!(out.notes.iter().any(|n| n.reason == "RecordsChanged"));
    let s = h.record(Role::Secondary);
    assert_eq!(s.values, vec!["52.94.76.20"]);
}

#[tokio::test]
async fn throttling_is_retryable_and_leaves_status() {
    let mut h = Harness::new(BASIC);
    h.r53.fail_next(
        "ListResourceRecordSets",
        Route53Error::new(
            "ListResourceRecordSets",
            Route53ErrorKind::Throttled,
            "Throttling",
            "Rate exceeded",
        ),
    );
    let out = h.run(true).await;
    let err = out.result.expect_err("throttled");
    assert_eq!(err.retry(), crate::error::Retry::Backoff);
    assert!(out.observation.is_none());
}

#[tokio::test]
async fn cleanup_deletes_records_then_checks_and_spares_foreign_and_existing() {
    let mut h = Harness::new(BASIC);
    h.r53.auto_insync();
    h.run(true).await;
    let other = RecordSet {
        name: "other.example.com.".into(),
        rtype: "A".into(),
        set_identifier: None,
        failover: None,
        ttl: Some(60),
        values: vec!["54.239.28.1".into()],
        alias: None,
        health_check_id: None,
    };
    let zone = h.zone.clone();
    h.r53.put_record(&zone, other.clone());
    let notes = h.cleanup(None).await.expect("cleanup");
    assert!(h.ours().is_empty());
    assert!(h.r53.health_checks().is_empty());
    assert!(h.r53.records(&zone).contains(&other));
    assert_eq!(
        notes
            .iter()
            .filter(|n| n.reason == "HealthCheckDeleted")
            .count(),
        2
    );
    // Idempotent: a second cleanup (after a crash) has nothing left to do and succeeds.
    h.cleanup(None).await.expect("again");
}

#[tokio::test]
async fn existing_health_check_is_attached_and_never_deleted() {
    let r53 = FakeRoute53::new();
    let zone = r53.add_zone("example.com");
    let d = crate::desired::Desired::from_spec(&spec(BASIC), OWNER, UID).expect("valid");
    let crate::desired::DesiredHealth::Managed(cfg) = d.endpoint(Role::Primary).health.clone()
    else {
        panic!()
    };
    let ext = r53.add_foreign_health_check("terraform-123", &cfg);
    let mut h = Harness { r53, zone, status: None, generation: 1, spec: spec(&BASIC.replace(
        "healthCheck: {type: HTTP, resourcePath: /healthz, requestInterval: 10, failureThreshold: 2}",
        &format!("existingHealthCheckId: {ext}"),
    )) };
    h.r53.auto_insync();
    h.run(true).await;
    let p = h.record(Role::Primary);
    assert_eq!(p.health_check_id.as_deref(), Some(ext.as_str()));
    h.cleanup(None).await.expect("cleanup");
    assert!(
        h.r53.health_checks().iter().any(|c| c.id == ext),
        "foreign check survives"
    );
}

#[tokio::test]
async fn alias_secondary_without_check() {
    let mut h = Harness::new(
        r#"
hostedZone: {name: example.com}
name: www.example.com
type: A
primary:
  values: ["52.94.76.10"]
  healthCheck: {type: HTTP}
secondary:
  alias: {dnsName: static.example.com, hostedZoneId: Z000001FAKE}
"#,
    );
    h.r53.auto_insync();
    let out = h.run(true).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    let recs: Vec<_> = h
        .r53
        .records(&h.zone.clone())
        .into_iter()
        .filter(|r| r.name == "www.example.com.")
        .collect();
    let s = recs
        .iter()
        .find(|r| r.failover == Some(Role::Secondary))
        .expect("s");
    assert_eq!(s.ttl, None);
    assert_eq!(
        s.alias.as_ref().map(|a| a.dns_name.as_str()),
        Some("static.example.com.")
    );
    let p_id = h.hc_id(Role::Primary);
    h.r53.set_health(&p_id, false);
    h.run(false).await;
    // The primary is unhealthy; Route 53 answers with the secondary only if its alias target is
    // healthy (evaluateTargetHealth), which cannot be read: no guess.
    let st = h.status.clone().expect("status");
    assert_eq!(st.active_role, None, "unobservable secondary");
    let c = crate::status::find_condition(Some(&st), crate::status::SECONDARY_HEALTHY)
        .expect("SecondaryHealthy");
    assert_eq!(c.reason, "TargetHealthNotObservable");
}

#[tokio::test]
async fn an_alias_primary_judged_by_target_health_has_no_guessed_active_role() {
    let mut h = Harness::new(
        r#"
hostedZone: {name: example.com}
name: www.example.com
type: A
primary:
  alias: {dnsName: lb-1.eu-west-1.elb.amazonaws.com, hostedZoneId: Z32O12XQLNTSW2, evaluateTargetHealth: true}
secondary:
  values: ["52.94.76.20"]
  healthCheck: {type: TCP, port: 443}
"#,
    );
    h.r53.auto_insync();
    h.run(true).await;
    h.run(true).await;
    let st = h.status.clone().expect("status");
    assert_eq!(h.ready().0, "True");
    assert_eq!(
        st.active_role, None,
        "Route 53 answers by the target's health: unknown"
    );
    let c = crate::status::find_condition(Some(&st), crate::status::PRIMARY_HEALTHY)
        .expect("PrimaryHealthy");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("Unknown", "TargetHealthNotObservable")
    );
    // Without evaluateTargetHealth (a CloudFront alias) Route 53 treats the alias as healthy: the
    // primary answers.
    h.set_spec(
        r#"
hostedZone: {name: example.com}
name: www.example.com
type: A
primary:
  alias: {dnsName: d111111abcdef8.cloudfront.net, hostedZoneId: Z2FDTNDATAQYW2, evaluateTargetHealth: false}
secondary:
  values: ["52.94.76.20"]
  healthCheck: {type: TCP, port: 443}
"#,
    );
    h.run(true).await;
    assert_eq!(
        h.status.as_ref().and_then(|s| s.active_role),
        Some(Role::Primary)
    );
}

#[tokio::test]
async fn a_reconcile_never_reads_health_and_keeps_the_last_reading_until_the_monitor_has_one() {
    let mut h = Harness::new(BASIC);
    h.r53.auto_insync();
    // Status first: the records are written and Ready without a single health read.
    let nothing: HashMap<String, Reading> = HashMap::new();
    h.run_with(true, &nothing).await;
    let p = h.hc_id(Role::Primary);
    assert_eq!(h.r53.call_count("GetHealthCheckStatus"), 0);
    assert_eq!(h.ready(), ("True".into(), "Synced".into()));
    let endpoint = |h: &Harness| {
        h.status
            .as_ref()
            .and_then(|s| s.primary.as_ref())
            .expect("primary status")
            .health
    };
    assert_eq!(endpoint(&h), Health::Unknown);
    // The monitor's reading arrives: the next (non-full) reconcile shows it.
    h.r53.set_health(&p, false);
    h.run(false).await;
    assert_eq!(endpoint(&h), Health::Unhealthy);
    // No reading for a while (the monitor has not re-read it): the last one stays.
    h.run_with(false, &nothing).await;
    assert_eq!(endpoint(&h), Health::Unhealthy);
    assert_eq!(h.r53.call_count("GetHealthCheckStatus"), 0);
}

#[tokio::test]
async fn tags_lost_to_a_crash_after_create_are_added_and_foreign_tags_kept() {
    let mut h = Harness::new(BASIC);
    h.r53.auto_insync();
    h.run(true).await;
    h.run(true).await;
    let p = h.hc_id(Role::Primary);
    let tagged = h.r53.tags(&p);
    assert!(
        tagged
            .iter()
            .any(|(k, _)| k == "route53-failover-operator/uid")
    );
    // As after a crash between CreateHealthCheck and ChangeTagsForResource (so no status was
    // written for it), plus a tag of a person.
    h.r53.set_tags(&p, &[("team".into(), "payments".into())]);
    h.status = None;
    h.r53.reset_calls();
    let out = h.run(true).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(
        h.r53.call_count("ListTagsForResources"),
        1,
        "one call for both checks"
    );
    assert_eq!(
        h.r53.call_count("ChangeTagsForResource"),
        1,
        "only the untagged one"
    );
    assert!(
        out.notes
            .iter()
            .any(|n| n.reason == "HealthCheckTagsRepaired"),
        "{:?}",
        out.notes
    );
    let now = h.r53.tags(&p);
    for t in &tagged {
        assert!(now.contains(t), "{t:?} missing from {now:?}");
    }
    assert!(now.contains(&("team".into(), "payments".into())));
    // In step now: read, nothing written.
    h.r53.reset_calls();
    h.run(true).await;
    assert_eq!(h.r53.call_count("ChangeTagsForResource"), 0);
    assert_eq!(h.r53.write_calls(), 0);
}

#[test]
fn notes_of_one_reason_are_merged_so_no_message_is_lost() {
    let notes = vec![
        Note {
            warning: false,
            reason: "HealthCheckCreated",
            message: "a".into(),
        },
        Note {
            warning: false,
            reason: "RecordsChanged",
            message: "r".into(),
        },
        Note {
            warning: false,
            reason: "HealthCheckCreated",
            message: "b".into(),
        },
    ];
    let merged = Note::merged(&notes);
    assert_eq!(merged.len(), 2);
    assert_eq!(merged[0].message, "a; b");
    assert_eq!(merged[1].reason, "RecordsChanged");
}

#[tokio::test(start_paused = true)]
async fn cleanup_keeps_health_checks_until_the_record_delete_is_insync() {
    let mut h = Harness::new(BASIC);
    h.run(true).await;
    h.r53.settle();
    h.run(true).await;
    let r53 = &h.r53;
    let clean = h.cleanup(None);
    let watch = async {
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        assert_eq!(
            r53.call_count("DeleteHealthCheck"),
            0,
            "deleted while PENDING"
        );
        assert_eq!(r53.health_checks().len(), 2);
        r53.settle();
    };
    let (res, ()) = tokio::join!(clean, watch);
    res.expect("cleanup");
    assert!(r53.health_checks().is_empty());
    assert!(h.ours().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_delete_still_pending_after_one_attempt_is_waited_for_by_the_next() {
    let mut h = Harness::new(BASIC);
    h.run(true).await;
    h.r53.settle();
    h.run(true).await;
    // The DELETE stays PENDING beyond one attempt's wait: the attempt hands its change id on.
    let first = h.cleanup(None).await;
    let change = match first {
        Err(Error::ChangePending { change_id, .. }) => change_id,
        other => panic!("{other:?}"),
    };
    assert!(h.ours().is_empty(), "records deleted");
    assert_eq!(h.r53.health_checks().len(), 2, "checks kept while PENDING");
    // The next attempt finds no records to delete, but still waits for that change.
    let second = h.cleanup(Some(&change)).await;
    assert!(
        matches!(second, Err(Error::ChangePending { .. })),
        "{second:?}"
    );
    assert_eq!(h.r53.health_checks().len(), 2);
    assert_eq!(h.r53.call_count("DeleteHealthCheck"), 0);
    h.r53.settle();
    h.cleanup(Some(&change)).await.expect("cleanup");
    assert!(h.r53.health_checks().is_empty());
}

#[tokio::test]
async fn crash_between_record_write_and_status_write_waits_for_insync() {
    // (b) Create: the records were written, the status write never happened.
    let mut h = Harness::new(BASIC);
    h.run(true).await;
    h.status = None;
    let out = h.run(true).await;
    assert_eq!(out.result.as_ref().ok(), Some(&true), "{:?}", out.result);
    assert_eq!(h.ready(), ("False".into(), "Propagating".into()));
    h.r53.settle();
    h.run(true).await;
    assert_eq!(h.ready(), ("True".into(), "Synced".into()));

    // (a) Replacement: the UPSERT repointing to the new check committed, status kept the old change.
    let original = h.hc_id(Role::Primary);
    let before = h.status.clone();
    h.set_spec(&BASIC.replace("type: HTTP,", "type: HTTPS,"));
    h.run(true).await;
    assert_ne!(
        h.record(Role::Primary).health_check_id,
        Some(original.clone())
    );
    h.status = before;
    let out = h.run(true).await;
    assert_eq!(out.result.as_ref().ok(), Some(&true), "{:?}", out.result);
    assert!(
        h.r53.health_checks().iter().any(|c| c.id == original),
        "old check kept while the repointing change may be PENDING"
    );
    h.r53.settle();
    h.run(true).await;
    assert!(!h.r53.health_checks().iter().any(|c| c.id == original));
    assert_eq!(h.r53.health_checks().len(), 2);
    // Once status holds the change, steady state writes nothing.
    h.r53.reset_calls();
    h.run(true).await;
    assert_eq!(h.r53.write_calls(), 0);
}

#[tokio::test]
async fn health_check_deleted_out_of_band_is_recreated_under_a_new_reference() {
    let mut h = Harness::new(BASIC);
    h.r53.auto_insync();
    h.run(true).await;
    h.run(true).await;
    assert_eq!(h.ready(), ("True".into(), "Synced".into()));
    let lost = h.hc_id(Role::Primary);
    let lost_ref = h
        .r53
        .health_checks()
        .into_iter()
        .find(|c| c.id == lost)
        .map(|c| c.caller_reference)
        .expect("check");
    // Someone deletes the check in the console: Route 53 keeps refusing its CallerReference.
    h.r53.delete_health_check(&lost).await.expect("delete");
    // A health-only reconcile notices: not Ready, so the controller's next reconcile is a full one.
    let out = h.run(false).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(h.ready(), ("False".into(), "HealthCheckNotFound".into()));
    let out = h.run(true).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    let now = h.record(Role::Primary).health_check_id.expect("attached");
    assert_ne!(now, lost, "record repointed");
    let checks = h.r53.health_checks();
    assert_eq!(checks.len(), 2, "no duplicates: {checks:?}");
    let new = checks.iter().find(|c| c.id == now).expect("new check");
    assert_ne!(new.caller_reference, lost_ref);
    assert_eq!(
        naming::owned_role(OWNER, UID, &new.caller_reference, None, 1),
        Some(Role::Primary)
    );
    assert!(
        out.notes
            .iter()
            .any(|n| n.reason == "HealthCheckRecreated" && n.message.contains(&lost)),
        "{:?}",
        out.notes
    );
    h.run(true).await;
    assert_eq!(h.ready(), ("True".into(), "Synced".into()));
    // Deterministic and crash-safe: a restarted operator with no status walks the same sequence
    // and gets the same check back.
    h.status = None;
    h.r53.reset_calls();
    h.run(true).await;
    assert_eq!(h.r53.health_checks().len(), 2);
    assert_eq!(h.record(Role::Primary).health_check_id, Some(now));
}

#[tokio::test]
async fn missing_or_malformed_existing_health_check_is_reported_and_nothing_written() {
    for id in ["4a5b6c7d-0000-4000-8000-000000000000", "ünï"] {
        let mut h = Harness::new(&BASIC.replace(
            "healthCheck: {type: HTTP, resourcePath: /healthz, requestInterval: 10, failureThreshold: 2}",
            &format!("existingHealthCheckId: \"{id}\""),
        ));
        let out = h.run(true).await;
        assert!(
            matches!(&out.result, Err(Error::HealthCheckNotFound(_))),
            "{id}: {:?}",
            out.result
        );
        assert_eq!(h.ready(), ("False".into(), "HealthCheckNotFound".into()));
        assert_eq!(h.r53.write_calls(), 0, "{id}: nothing written");
        assert_eq!(
            out.result.as_ref().err().map(Error::retry),
            Some(crate::error::Retry::Slow)
        );
    }
}

/// One sync of `owner` against the shared fake (another installation watching the same object).
async fn sync_as(
    r53: &FakeRoute53,
    owner: &str,
    spec: &FailoverRecordSpec,
    status: &mut Option<FailoverRecordStatus>,
) -> SyncOutcome {
    let out = sync(
        r53,
        SyncInput {
            owner,
            uid: UID,
            generation: 1,
            object_ref: "default/app",
            spec,
            status: status.as_ref(),
            full: true,
            check_tags: true,
            health: r53,
        },
    )
    .await;
    if let Some(obs) = &out.observation {
        *status = Some(next_status(
            status.as_ref(),
            obs,
            Timestamp::now(),
            std::time::Duration::from_secs(300),
        ));
    }
    out
}

fn managed_config(spec: &FailoverRecordSpec, role: Role) -> crate::route53::HealthCheckConfig {
    let d = crate::desired::Desired::from_spec(spec, OWNER, UID).expect("valid");
    match &d.endpoint(role).health {
        crate::desired::DesiredHealth::Managed(c) => c.clone(),
        other => panic!("not managed: {other:?}"),
    }
}

#[tokio::test]
async fn another_owners_health_checks_are_never_reused_updated_or_deleted() {
    let mut h = Harness::new(BASIC);
    h.r53.auto_insync();
    // Installation B handles the same object (same uid) at another name, with other settings.
    let theirs_spec = spec(
        &BASIC
            .replace("app.example.com", "b.example.com")
            .replace("failureThreshold: 2", "failureThreshold: 5"),
    );
    let mut theirs_status = None;
    let out = sync_as(&h.r53, "cluster-b", &theirs_spec, &mut theirs_status).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    // And a legacy-format check made by B's owner id (before owner ids were in the prefix).
    let key = managed_config(&h.spec, Role::Primary).immutable_key();
    let legacy_b = naming::legacy_caller_reference("cluster-b", UID, Role::Primary, &key, 1, 0);
    h.r53
        .add_foreign_health_check(&legacy_b, &managed_config(&h.spec, Role::Primary));
    let before = h.r53.health_checks();
    assert_eq!(before.len(), 3);

    // Installation A (OWNER): creates its own two checks, touches none of B's.
    h.r53.reset_calls();
    let out = h.run(true).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    h.run(true).await;
    assert_eq!(h.ready(), ("True".into(), "Synced".into()));
    assert_eq!(h.r53.call_count("CreateHealthCheck"), 2);
    assert_eq!(h.r53.call_count("UpdateHealthCheck"), 0);
    assert_eq!(h.r53.call_count("DeleteHealthCheck"), 0);
    let after = h.r53.health_checks();
    for b in &before {
        assert!(after.contains(b), "B's check changed or gone: {b:?}");
        assert_ne!(Some(b.id.clone()), h.record(Role::Primary).health_check_id);
    }
    for role in Role::ALL {
        let id = h.hc_id(role);
        let c = after.iter().find(|c| c.id == id).expect("our check");
        assert!(
            c.caller_reference
                .starts_with(&naming::caller_reference_owner_prefix(OWNER, UID))
        );
    }

    // A's cleanup deletes A's records and checks only.
    h.cleanup(None).await.expect("cleanup");
    assert!(h.ours().is_empty());
    assert_eq!(h.r53.health_checks(), before, "B's checks untouched");
    assert_eq!(
        h.r53
            .records(&h.zone)
            .iter()
            .filter(|r| r.name == "b.example.com.")
            .count(),
        2,
        "B's records untouched"
    );
}

#[tokio::test]
async fn another_owners_records_at_the_name_stay_a_conflict() {
    let mut h = Harness::new(BASIC);
    h.r53.auto_insync();
    let mut theirs_status = None;
    let spec_b = h.spec.clone();
    sync_as(&h.r53, "cluster-b", &spec_b, &mut theirs_status).await;
    let records_before = h.r53.records(&h.zone);
    let checks_before = h.r53.health_checks();
    h.r53.reset_calls();
    let out = h.run(true).await;
    assert!(
        matches!(out.result, Err(Error::Conflict(_))),
        "{:?}",
        out.result
    );
    assert_eq!(h.ready(), ("False".into(), "Conflict".into()));
    assert_eq!(h.r53.write_calls(), 0);
    h.cleanup(None).await.expect("cleanup");
    assert_eq!(h.r53.records(&h.zone), records_before);
    assert_eq!(h.r53.health_checks(), checks_before);
}

#[tokio::test]
async fn legacy_checks_of_our_owner_are_kept_and_reused() {
    let mut h = Harness::new(BASIC);
    h.r53.auto_insync();
    let config = managed_config(&h.spec, Role::Primary);
    let legacy =
        naming::legacy_caller_reference(OWNER, UID, Role::Primary, &config.immutable_key(), 1, 0);
    let id = h.r53.add_foreign_health_check(&legacy, &config);
    h.r53.reset_calls();
    let out = h.run(true).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(h.hc_id(Role::Primary), id, "the legacy check is reused");
    assert_eq!(h.r53.call_count("CreateHealthCheck"), 1, "secondary only");
    h.cleanup(None).await.expect("cleanup");
    assert!(h.r53.health_checks().is_empty(), "ours, so deleted");
}

// ----- adoption (spec.adopt) ----------------------------------------------------------------------

const ADOPT: &str = r#"
hostedZone: {name: example.com}
name: app.example.com
type: A
adopt: true
primary:
  values: ["52.94.76.10"]
  healthCheck: {type: HTTP, resourcePath: /healthz}
secondary:
  values: ["52.94.76.20"]
"#;

/// A failover pair made outside the operator (as the README's AWS CLI example does), with a health
/// check of theirs on the primary; returns their records and their check's id.
async fn their_pair(h: &Harness) -> (Vec<RecordSet>, String) {
    let cfg = crate::route53::HealthCheckConfig {
        check_type: crate::crd::HealthCheckType::HTTP,
        resource_path: Some("/".into()),
        ..crate::route53::HealthCheckConfig::tcp("52.94.76.11", 80)
    };
    let hc = h
        .r53
        .create_health_check("cli-app-primary-1", &cfg, &[])
        .await
        .expect("their check");
    let rec = |id: &str, role: Role, value: &str, hc: Option<String>| RecordSet {
        name: "app.example.com.".into(),
        rtype: "A".into(),
        set_identifier: Some(id.into()),
        failover: Some(role),
        ttl: Some(60),
        values: vec![value.into()],
        alias: None,
        health_check_id: hc,
    };
    let theirs = vec![
        rec(
            "app-primary",
            Role::Primary,
            "52.94.76.11",
            Some(hc.id.clone()),
        ),
        rec("app-secondary", Role::Secondary, "52.94.76.21", None),
    ];
    for rs in &theirs {
        h.r53.put_record(&h.zone, rs.clone());
    }
    h.r53.reset_calls();
    (theirs, hc.id)
}

#[tokio::test]
async fn adopt_takes_over_a_cli_pair_in_one_change_and_reports_what_it_took() {
    let mut h = Harness::new(ADOPT);
    let (theirs, their_hc) = their_pair(&h).await;
    let out = h.run(true).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    // One ChangeResourceRecordSets carried the DELETEs of theirs and the CREATEs of ours.
    assert_eq!(h.r53.call_count("ChangeResourceRecordSets"), 1);
    let batches = h.r53.committed_batches();
    assert_eq!(batches.len(), 1);
    let actions: Vec<&str> = batches[0].iter().map(Change::action).collect();
    assert_eq!(actions, ["DELETE", "DELETE", "CREATE", "CREATE"]);
    assert_eq!(batches[0][0], Change::Delete(theirs[0].clone()));
    assert_eq!(batches[0][1], Change::Delete(theirs[1].clone()));
    // Only our pair is left; ours carries our new check, theirs stays in Route 53.
    let now = h.ours();
    assert_eq!(now.len(), 2);
    assert!(now.iter().all(|r| {
        r.set_identifier
            .as_deref()
            .is_some_and(|s| s.starts_with(&format!("{OWNER}:{UID}:")))
    }));
    assert_ne!(
        h.record(Role::Primary).health_check_id,
        Some(their_hc.clone())
    );
    assert!(h.r53.health_checks().iter().any(|c| c.id == their_hc));
    let adopted = out
        .notes
        .iter()
        .find(|n| n.reason == "Adopted")
        .expect("Adopted event");
    assert!(!adopted.warning);
    for part in [
        "PRIMARY \"app-primary\" (52.94.76.11",
        "SECONDARY \"app-secondary\" (52.94.76.21; no health check)",
        &format!("health check {their_hc} left in Route 53, no longer attached"),
    ] {
        assert!(
            adopted.message.contains(part),
            "{part}: {}",
            adopted.message
        );
    }
    // Settled: Ready, and the next reconcile has nothing to take over or write.
    h.r53.settle();
    h.run(true).await.result.expect("settle");
    assert_eq!(h.ready(), ("True".into(), "Synced".into()));
    h.r53.reset_calls();
    let again = h.run(true).await;
    assert!(again.notes.iter().all(|n| n.reason != "Adopted"));
    assert_eq!(h.r53.write_calls(), 0);
    // Cleanup deletes our records and our check; their check is not ours to delete.
    h.r53.auto_insync();
    h.cleanup(None).await.expect("cleanup");
    assert!(h.ours().is_empty());
    let left: Vec<String> = h.r53.health_checks().into_iter().map(|c| c.id).collect();
    assert_eq!(left, vec![their_hc]);
}

#[tokio::test]
async fn adopt_keeps_their_health_check_when_the_spec_names_it() {
    let mut h = Harness::new(ADOPT);
    let (_, their_hc) = their_pair(&h).await;
    h.spec = spec(&ADOPT.replace(
        "healthCheck: {type: HTTP, resourcePath: /healthz}",
        &format!("existingHealthCheckId: {their_hc}"),
    ));
    let out = h.run(true).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(h.r53.call_count("CreateHealthCheck"), 0);
    assert_eq!(
        h.record(Role::Primary).health_check_id,
        Some(their_hc.clone())
    );
    let adopted = out
        .notes
        .iter()
        .find(|n| n.reason == "Adopted")
        .expect("event");
    assert!(
        adopted
            .message
            .contains(&format!("health check {their_hc} kept on our record")),
        "{}",
        adopted.message
    );
    h.r53.auto_insync();
    h.cleanup(None).await.expect("cleanup");
    assert!(h.ours().is_empty());
    assert_eq!(
        h.r53.health_checks().len(),
        1,
        "their check survives cleanup"
    );
}

#[tokio::test]
async fn without_adopt_a_cli_pair_stays_a_conflict_with_no_write() {
    let mut h = Harness::new(&ADOPT.replace("adopt: true\n", ""));
    let (theirs, _) = their_pair(&h).await;
    let out = h.run(true).await;
    let Err(Error::Conflict(msg)) = &out.result else {
        panic!("{:?}", out.result)
    };
    assert!(msg.contains("set spec.adopt to true"), "{msg}");
    assert_eq!(h.ready(), ("False".into(), "Conflict".into()));
    assert_eq!(h.r53.write_calls(), 0);
    assert_eq!(h.ours(), theirs);
}

#[tokio::test]
async fn adopt_never_takes_a_plain_record_or_weighted_sets() {
    let set = |id: Option<&str>, value: &str| RecordSet {
        name: "app.example.com.".into(),
        rtype: "A".into(),
        set_identifier: id.map(Into::into),
        failover: None,
        ttl: Some(60),
        values: vec![value.into()],
        alias: None,
        health_check_id: None,
    };
    let plain = vec![set(None, "52.94.76.11")];
    let weighted = vec![
        set(Some("blue"), "52.94.76.11"),
        set(Some("green"), "52.94.76.21"),
    ];
    for (what, present) in [("plain", plain), ("weighted", weighted)] {
        let mut h = Harness::new(ADOPT);
        for r in &present {
            h.r53.put_record(&h.zone, r.clone());
        }
        let out = h.run(true).await;
        let Err(Error::Conflict(msg)) = &out.result else {
            panic!("{what}: {:?}", out.result)
        };
        assert!(msg.contains("adopt cannot take over"), "{what}: {msg}");
        assert_eq!(h.r53.write_calls(), 0, "{what}");
        assert_eq!(h.ours(), present, "{what}");
    }
}

#[tokio::test]
async fn a_refused_adoption_batch_leaves_their_pair_and_is_retried() {
    let mut h = Harness::new(ADOPT);
    let (theirs, _) = their_pair(&h).await;
    // Route 53 refuses the batch (say, they changed a value between our read and our write).
    h.r53.fail_next(
        "ChangeResourceRecordSets",
        Route53Error::new(
            "ChangeResourceRecordSets",
            Route53ErrorKind::Conflict,
            "InvalidChangeBatch",
            "Tried to delete resource record set but the values provided do not match the current values",
        ),
    );
    let out = h.run(true).await;
    assert!(
        matches!(&out.result, Err(Error::Route53(e)) if e.kind == Route53ErrorKind::Conflict),
        "{:?}",
        out.result
    );
    assert!(out.notes.iter().all(|n| n.reason != "Adopted"));
    assert_eq!(h.ours(), theirs, "nothing of theirs was removed");
    // The next attempt takes the pair over.
    let out = h.run(true).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert!(out.notes.iter().any(|n| n.reason == "Adopted"));
}

/// Observe-only and `plan` share the reads and the plan of a full reconcile: against the plain fake
/// (no read-only wrapper) they write nothing, and what they list is what the writing reconcile
/// then does: a tag repair, an in-place update, a replacement with its record repointed and the old
/// check deleted.
#[tokio::test]
async fn observe_and_preview_write_nothing_and_list_what_apply_then_does() {
    let mut h = Harness::new(BASIC);
    h.r53.auto_insync();
    h.run(true).await;
    let (p, s) = (h.hc_id(Role::Primary), h.hc_id(Role::Secondary));
    h.r53.set_tags(&p, &[]);
    h.spec = spec(
        &BASIC
            .replace("failureThreshold: 2", "failureThreshold: 3")
            .replace(
                "{type: TCP, port: 443}",
                "{type: TCP, port: 443, requestInterval: 10}",
            ),
    );
    h.generation = 2;
    h.r53.reset_calls();
    let health: HashMap<String, Reading> = HashMap::new();
    let input = SyncInput {
        owner: OWNER,
        uid: UID,
        generation: h.generation,
        object_ref: "default/app",
        spec: &h.spec,
        status: h.status.as_ref(),
        full: true,
        check_tags: true,
        health: &health,
    };
    let lines = preview(&h.r53, &input).await.expect("preview").lines();
    let observed = sync_observe(&h.r53, input).await;
    assert_eq!(h.r53.write_calls(), 0, "{:?}", h.r53.calls());
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l.split(" (").next().unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        [
            format!("~ UPDATE health check {p}"),
            "+ CREATE health check".to_string(),
            format!("~ TAG health check {p}"),
            // Only the repointed record: the primary keeps its (updated) check.
            "~ UPSERT A app.example.com. SECONDARY 52.94.76.20 ttl 60, health check".to_string(),
            format!("- DELETE health check {s}"),
        ],
        "{lines:#?}"
    );
    let obs = observed.observation.expect("observation");
    assert_eq!(
        (obs.readiness.status, obs.readiness.reason),
        ("False", "ObserveOnly")
    );
    assert!(
        obs.readiness.message.ends_with(&lines.join("; ")),
        "{}",
        obs.readiness.message
    );
    assert!(lines[3].contains(&format!(
        "health check {NEW_HEALTH_CHECK} (was: 52.94.76.20 ttl 60, health check {s})"
    )));
    assert_eq!(
        obs.endpoints.clone().map(|e| e.and_then(|e| e.1)),
        [Some(p.clone()), Some(s.clone())],
        "status shows the checks the records carry"
    );

    // The writing reconcile does exactly that (the old check goes on the next one, once INSYNC).
    let out = h.run(true).await;
    let reasons: Vec<&str> = out.notes.iter().map(|n| n.reason).collect();
    assert_eq!(
        reasons,
        [
            "HealthCheckUpdated",
            "HealthCheckCreated",
            "HealthCheckTagsRepaired",
            "RecordsChanged",
            "HealthCheckDeleted"
        ]
    );
    assert_ne!(h.hc_id(Role::Secondary), s);
    assert!(h.r53.health_checks().iter().all(|hc| hc.id != s));
    let input = SyncInput {
        owner: OWNER,
        uid: UID,
        generation: h.generation,
        object_ref: "default/app",
        spec: &h.spec,
        status: h.status.as_ref(),
        full: true,
        check_tags: true,
        health: &health,
    };
    assert!(preview(&h.r53, &input).await.expect("preview").is_empty());
}

// ------------------------------------------------------------------ the failover switch

#[allow(clippy::unwrap_used)]
mod switch {
    use super::*;
    use crate::crd::{SwitchMode, SwitchStatus};

    fn with_switch(base: &str, failover: &str) -> String {
        format!("{base}failover: {failover}\n")
    }

    const ALIAS: &str = r#"
hostedZone: {name: example.com}
name: app.example.com
type: A
primary:
  alias: {dnsName: primary-lb.us-east-1.elb.amazonaws.com, hostedZoneId: Z35SXDOTRQ7X7K}
secondary:
  values: ["52.94.76.20"]
"#;

    fn sw(h: &Harness) -> SwitchStatus {
        h.status
            .as_ref()
            .and_then(|s| s.failover.clone())
            .expect("status.failover")
    }

    fn gate_id(h: &Harness) -> String {
        sw(h).gate_health_check_id.expect("gate id")
    }

    fn answer(h: &Harness) -> Option<Role> {
        h.r53.answer(&h.zone, "app.example.com.", "A")
    }

    #[tokio::test]
    async fn the_gate_fronts_the_primary_and_a_flip_is_one_update() {
        let mut h = Harness::new(&with_switch(BASIC, "{mode: Automatic}"));
        h.r53.auto_insync();
        let out = h.run(true).await;
        assert!(out.result.is_ok(), "{:?}", out.result);
        let gate = gate_id(&h);
        let child = h.hc_id(Role::Primary);
        // The PRIMARY record carries the gate; status reports the primary's own check.
        assert_eq!(
            h.record(Role::Primary).health_check_id.as_deref(),
            Some(gate.as_str())
        );
        assert_ne!(gate, child);
        let cfg = h
            .r53
            .health_checks()
            .into_iter()
            .find(|c| c.id == gate)
            .and_then(|c| c.config)
            .expect("gate config");
        assert_eq!(cfg.child_health_checks, vec![child.clone()]);
        assert_eq!(cfg.health_threshold, 1);
        assert!(naming::is_gate_reference(
            OWNER,
            UID,
            &h.r53
                .health_checks()
                .into_iter()
                .find(|c| c.id == gate)
                .unwrap()
                .caller_reference
        ));
        let tags = h.r53.tags(&gate);
        assert!(tags.contains(&("route53-failover-operator/owner".into(), OWNER.into())));
        assert!(tags.contains(&("route53-failover-operator/role".into(), "gate".into())));
        assert_eq!(sw(&h).gate_state, "RouteByHealth");
        assert_eq!(answer(&h), Some(Role::Primary));
        assert_eq!(h.status.as_ref().unwrap().active_role, Some(Role::Primary));

        // Flip: exactly one Route 53 write, an UpdateHealthCheck of the gate.
        h.r53.reset_calls();
        h.set_spec(&with_switch(BASIC, "{mode: Secondary}"));
        let out = h.run(true).await;
        assert!(out.result.is_ok(), "{:?}", out.result);
        assert_eq!(h.r53.write_calls(), 1, "{:?}", h.r53.calls());
        assert_eq!(h.r53.call_count("UpdateHealthCheck"), 1);
        assert_eq!(answer(&h), Some(Role::Secondary));
        let st = h.status.as_ref().unwrap();
        assert_eq!(
            st.active_role,
            Some(Role::Secondary),
            "status agrees with Route 53"
        );
        assert_eq!(sw(&h).mode, SwitchMode::Secondary);
        assert_eq!(sw(&h).gate_state, "ForceSecondary");
        assert_eq!(sw(&h).health_threshold, 2);
        assert!(
            out.notes.iter().any(|n| n.reason == "FailoverSwitched"),
            "{:?}",
            out.notes
        );

        // And back: one write again.
        h.r53.reset_calls();
        h.set_spec(&with_switch(BASIC, "{mode: Automatic}"));
        h.run(true).await.result.expect("back");
        assert_eq!(h.r53.write_calls(), 1, "{:?}", h.r53.calls());
        assert_eq!(answer(&h), Some(Role::Primary));
        assert_eq!(h.status.as_ref().unwrap().active_role, Some(Role::Primary));
        // In sync: a confirmation writes nothing.
        h.r53.reset_calls();
        h.run(true).await.result.expect("resync");
        assert_eq!(h.r53.write_calls(), 0, "{:?}", h.r53.calls());
    }

    #[tokio::test]
    async fn a_failover_is_held_until_acknowledged() {
        let manual = "{mode: Automatic, failback: Manual, acknowledge: a1}";
        let mut h = Harness::new(&with_switch(BASIC, manual));
        h.r53.auto_insync();
        h.run(true).await.result.expect("create");
        let child = h.hc_id(Role::Primary);
        // The primary fails: the health monitor triggers a (not full) reconcile.
        h.r53.set_health(&child, false);
        let out = h.run(false).await;
        assert!(out.result.is_ok(), "{:?}", out.result);
        assert_eq!(answer(&h), Some(Role::Secondary));
        assert_eq!(sw(&h).gate_state, "Held");
        assert!(sw(&h).held_since.is_some());
        assert!(
            out.notes.iter().any(|n| n.reason == "FailoverHeld"),
            "{:?}",
            out.notes
        );
        // It recovers: Route 53 keeps answering with the secondary.
        h.r53.set_health(&child, true);
        h.run(false).await.result.expect("recovered");
        h.run(true).await.result.expect("resync");
        assert_eq!(answer(&h), Some(Role::Secondary), "held");
        assert_eq!(
            h.status.as_ref().unwrap().active_role,
            Some(Role::Secondary)
        );
        // Acknowledged: one write, back to the primary.
        h.r53.reset_calls();
        h.set_spec(&with_switch(
            BASIC,
            "{mode: Automatic, failback: Manual, acknowledge: a2}",
        ));
        let out = h.run(true).await;
        assert!(out.result.is_ok(), "{:?}", out.result);
        assert_eq!(h.r53.write_calls(), 1, "{:?}", h.r53.calls());
        assert_eq!(answer(&h), Some(Role::Primary));
        assert_eq!(sw(&h).gate_state, "RouteByHealth");
        assert!(out.notes.iter().any(|n| n.reason == "FailbackAcknowledged"));
        assert_eq!(h.status.as_ref().unwrap().active_role, Some(Role::Primary));
    }

    #[tokio::test]
    async fn without_a_hold_the_primary_comes_back_by_itself() {
        let mut h = Harness::new(&with_switch(BASIC, "{failback: Automatic}"));
        h.r53.auto_insync();
        h.run(true).await.result.expect("create");
        let child = h.hc_id(Role::Primary);
        h.r53.set_health(&child, false);
        h.r53.reset_calls();
        h.run(false).await.result.expect("down");
        assert_eq!(h.r53.write_calls(), 0, "Route 53 fails over by itself");
        assert_eq!(answer(&h), Some(Role::Secondary));
        assert_eq!(
            h.status.as_ref().unwrap().active_role,
            Some(Role::Secondary)
        );
        h.r53.set_health(&child, true);
        h.run(false).await.result.expect("up");
        assert_eq!(answer(&h), Some(Role::Primary));
    }

    #[tokio::test]
    async fn primary_mode_forces_an_unhealthy_primary_and_says_so() {
        let mut h = Harness::new(&with_switch(BASIC, "{mode: Primary}"));
        h.r53.auto_insync();
        h.run(true).await.result.expect("create");
        let child = h.hc_id(Role::Primary);
        h.r53.set_health(&child, false);
        let out = h.run(true).await;
        assert!(out.result.is_ok(), "{:?}", out.result);
        assert_eq!(answer(&h), Some(Role::Primary), "forced");
        let st = h.status.as_ref().unwrap();
        assert_eq!(st.active_role, Some(Role::Primary));
        assert_eq!(st.primary.as_ref().unwrap().health, Health::Unhealthy);
        assert_eq!(sw(&h).gate_state, "ForcePrimary");
        assert!(
            sw(&h).message.contains("unhealthy but forced"),
            "{}",
            sw(&h).message
        );
        assert!(
            out.notes
                .iter()
                .any(|n| n.reason == "PrimaryForced" && n.warning),
            "{:?}",
            out.notes
        );
    }

    #[tokio::test]
    async fn an_existing_check_becomes_the_gates_child() {
        let cfg = crate::route53::HealthCheckConfig::tcp("52.94.76.10", 443);
        let r53 = FakeRoute53::new();
        let existing = r53.add_foreign_health_check("theirs", &cfg);
        let yaml = format!(
            r#"
hostedZone: {{name: example.com}}
name: app.example.com
type: A
primary:
  values: ["52.94.76.10"]
  existingHealthCheckId: {existing}
secondary:
  values: ["52.94.76.20"]
failover: {{mode: Secondary}}
"#
        );
        let mut h = Harness::new(&yaml);
        h.zone = r53.add_zone("example.com");
        h.r53 = r53;
        h.r53.auto_insync();
        h.run(true).await.result.expect("create");
        let gate = h
            .r53
            .health_checks()
            .into_iter()
            .find(|c| c.id == gate_id(&h))
            .and_then(|c| c.config)
            .unwrap();
        assert_eq!(gate.child_health_checks, vec![existing.clone()]);
        assert_eq!(answer(&h), Some(Role::Secondary));
        assert_eq!(h.hc_id(Role::Primary), existing);
        // The existing check is never touched; the gate goes with the object, before the others.
        h.cleanup(None).await.expect("cleanup");
        let left: Vec<String> = h.r53.health_checks().into_iter().map(|c| c.id).collect();
        assert_eq!(left, vec![existing]);
    }

    #[tokio::test]
    async fn an_alias_primary_is_switched_through_a_gate_without_children() {
        let mut h = Harness::new(&with_switch(ALIAS, "{mode: Automatic}"));
        h.r53.auto_insync();
        h.run(true).await.result.expect("create");
        let gate = h
            .r53
            .health_checks()
            .into_iter()
            .find(|c| c.id == gate_id(&h))
            .and_then(|c| c.config)
            .unwrap();
        assert!(gate.child_health_checks.is_empty());
        assert_eq!(gate.health_threshold, 0, "target health decides");
        assert_eq!(answer(&h), Some(Role::Primary));
        h.r53
            .set_target_health("primary-lb.us-east-1.elb.amazonaws.com", false);
        assert_eq!(answer(&h), Some(Role::Secondary));
        // Target health cannot be read: no guess while Route 53 routes by it.
        assert_eq!(h.status.as_ref().unwrap().active_role, None);
        h.r53
            .set_target_health("primary-lb.us-east-1.elb.amazonaws.com", true);
        h.set_spec(&with_switch(ALIAS, "{mode: Secondary}"));
        h.r53.reset_calls();
        h.run(true).await.result.expect("flip");
        assert_eq!(h.r53.write_calls(), 1, "{:?}", h.r53.calls());
        assert_eq!(answer(&h), Some(Role::Secondary));
        // Forced unhealthy whatever the target: status knows.
        assert_eq!(
            h.status.as_ref().unwrap().active_role,
            Some(Role::Secondary)
        );
    }

    #[tokio::test]
    async fn removing_the_switch_repoints_the_primary_and_deletes_the_gate() {
        let mut h = Harness::new(&with_switch(BASIC, "{mode: Secondary}"));
        h.r53.auto_insync();
        h.run(true).await.result.expect("create");
        let gate = gate_id(&h);
        h.set_spec(BASIC);
        let out = h.run(true).await;
        assert!(out.result.is_ok(), "{:?}", out.result);
        let child = h.hc_id(Role::Primary);
        assert_eq!(h.record(Role::Primary).health_check_id, Some(child));
        assert!(h.r53.health_checks().iter().all(|c| c.id != gate));
        assert!(h.status.as_ref().unwrap().failover.is_none());
        assert_eq!(answer(&h), Some(Role::Primary));
    }

    async fn preview_lines(h: &Harness) -> Vec<String> {
        let input = SyncInput {
            owner: OWNER,
            uid: UID,
            generation: h.generation,
            object_ref: "default/app",
            spec: &h.spec,
            status: h.status.as_ref(),
            full: true,
            check_tags: false,
            health: &h.r53,
        };
        preview(&h.r53, &input).await.expect("preview").lines()
    }

    #[tokio::test]
    async fn the_plan_shows_the_gate() {
        let mut h = Harness::new(&with_switch(BASIC, "{mode: Automatic}"));
        h.r53.auto_insync();
        let lines = preview_lines(&h).await;
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("+ CREATE gate health check")),
            "{lines:?}"
        );
        h.run(true).await.result.expect("create");
        assert!(preview_lines(&h).await.is_empty(), "in sync");
        h.set_spec(&with_switch(BASIC, "{mode: Secondary}"));
        let lines = preview_lines(&h).await;
        assert_eq!(lines.len(), 1, "a flip is one change: {lines:?}");
        assert!(
            lines[0].starts_with("~ UPDATE gate health check"),
            "{lines:?}"
        );
        assert!(
            lines[0].contains("ForceSecondary, HealthThreshold 2"),
            "{lines:?}"
        );
    }

    #[tokio::test]
    async fn deleting_the_object_removes_the_gate_after_the_records() {
        let mut h = Harness::new(&with_switch(BASIC, "{mode: Automatic}"));
        h.r53.auto_insync();
        h.run(true).await.result.expect("create");
        h.cleanup(None).await.expect("cleanup");
        assert!(h.r53.health_checks().is_empty());
        assert!(h.ours().is_empty());
    }
}
