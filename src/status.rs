//! Pure status computation: Route 53's health view of each endpoint, the role Route 53 answers with,
//! and standard conditions.
//!
//! Besides `Ready`, the status carries the two conditions of kstatus
//! (`sigs.k8s.io/cli-utils/pkg/kstatus`), which Flux, Argo CD and `kubectl wait` read: `Reconciling`
//! while the operator is still working towards the spec, `Stalled` when it cannot get there without a
//! change of the spec or of something outside (abnormal-true polarity: each is present, with status
//! `True`, only while so, and never both). Which one a failure gives follows the error's retry class
//! ([`Progress::of_error`]).

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::crd::{EndpointStatus, FailoverRecordStatus, Health, Role};
use crate::error::{Error, Retry};
pub use crate::health::{EndpointHealth, HEALTHY_CHECKER_PERCENT, aggregate};

/// Condition type: Route 53 matches the spec and the last change is INSYNC.
pub const READY: &str = "Ready";
/// Condition type (kstatus): the operator is working towards the spec (a change is propagating, a
/// write is still to be made, a transient failure is retried, a hosted zone is still missing within
/// its grace period). Present only while `True`.
pub const RECONCILING: &str = "Reconciling";
/// Condition type (kstatus): the operator cannot reach the spec without a change of the spec or of
/// something outside it (invalid spec, conflict, namespace policy, missing health check, access
/// denied, a hosted zone missing beyond its grace period). Present only while `True`.
pub const STALLED: &str = "Stalled";
/// Condition type: Route 53's view of the primary.
pub const PRIMARY_HEALTHY: &str = "PrimaryHealthy";
/// Condition type: Route 53's view of the secondary.
pub const SECONDARY_HEALTHY: &str = "SecondaryHealthy";
/// Reason of an endpoint's health condition whose status is the last reading, kept while the
/// health source (CloudWatch, or GetHealthCheckStatus) fails.
pub const HEALTH_STALE: &str = "HealthStale";

/// The record Route 53 answers with, by its documented rules:
/// primary healthy (or without data, which Route 53 counts as healthy) → primary; primary unhealthy and
/// secondary without a health check → secondary, whatever its real state; primary unhealthy and secondary
/// healthy → secondary; both unhealthy → primary.
pub fn active_role(primary: Health, secondary: Health, secondary_has_check: bool) -> Role {
    match (primary, secondary, secondary_has_check) {
        (Health::Healthy | Health::Unknown, _, _) => Role::Primary,
        (Health::Unhealthy, _, false) => Role::Secondary,
        (Health::Unhealthy, Health::Healthy | Health::Unknown, true) => Role::Secondary,
        (Health::Unhealthy, Health::Unhealthy, true) => Role::Primary,
    }
}

/// Where the reconcile of the observed generation stands, in kstatus terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Route 53 matches the spec: neither `Reconciling` nor `Stalled` (kstatus `Current`).
    Current,
    /// Still working towards the spec: `Reconciling=True` (kstatus `InProgress`).
    Reconciling,
    /// Cannot progress without a change of the spec or of something outside: `Stalled=True`
    /// (kstatus `Failed`).
    Stalled,
    /// `Reconciling=True` at first; `Stalled=True` once `Reconciling` has been `True` for the grace
    /// period given to [`next_status`], or while `Stalled` already is `True` for the same reason. A
    /// missing hosted zone: another tool of the same GitOps sync may be about to create it.
    StalledAfterGrace,
}

impl Progress {
    /// The progress of a reconcile that failed with `error`, from its retry class
    /// ([`Error::retry`]): an error that waits for a spec change ([`Retry::AwaitChange`]) or for
    /// external state a person has to change ([`Retry::Slow`]: a conflict, a missing
    /// `existingHealthCheckId`, access denied, invalid input Route 53 refused) stalls; one that is
    /// retried with backoff ([`Retry::Backoff`]: throttling, transient failures, a change still
    /// propagating) is still reconciling. A missing hosted zone ([`Error::Zone`]) stalls after the
    /// grace period.
    pub fn of_error(error: &Error) -> Progress {
        match error.inner() {
            Error::Zone(_) => Progress::StalledAfterGrace,
            // The address is expected to appear by itself (a load balancer being provisioned).
            Error::Target(t) if t.reason == crate::targets::TARGET_PENDING => Progress::Reconciling,
            e => match e.retry() {
                Retry::AwaitChange | Retry::Slow => Progress::Stalled,
                Retry::Backoff => Progress::Reconciling,
            },
        }
    }
}

/// The `Ready` condition's content, and where the reconcile stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// True / False / Unknown.
    pub status: &'static str,
    /// CamelCase reason (also the reason of `Reconciling` or `Stalled`).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Which kstatus condition goes with it.
    pub progress: Progress,
}

impl Readiness {
    /// Ready=True.
    pub fn ready(message: impl Into<String>) -> Self {
        Readiness {
            status: "True",
            reason: "Synced",
            message: message.into(),
            progress: Progress::Current,
        }
    }

    /// Ready=False with a reason, while the operator is still working on it (`Reconciling=True`).
    pub fn in_progress(reason: &'static str, message: impl Into<String>) -> Self {
        Readiness {
            status: "False",
            reason,
            message: message.into(),
            progress: Progress::Reconciling,
        }
    }

    /// Ready=False with a reason, for a reconcile that failed with `error`: its message, and the
    /// progress its retry class gives ([`Progress::of_error`]).
    pub fn failed(reason: &'static str, error: &Error) -> Self {
        Readiness {
            status: "False",
            reason,
            message: error.to_string(),
            progress: Progress::of_error(error),
        }
    }
}

/// Everything the reconciler learned, from which the status is built.
#[derive(Clone, Debug)]
pub struct Observation {
    /// metadata.generation.
    pub generation: Option<i64>,
    /// Ready condition.
    pub readiness: Readiness,
    /// Zone id, when resolved.
    pub hosted_zone_id: Option<String>,
    /// Per endpoint (primary, secondary): SetIdentifier, health check id, health. `None` when unknown
    /// (e.g. the spec is invalid).
    pub endpoints: [Option<(String, Option<String>, EndpointHealth)>; 2],
    /// The last change and whether it is INSYNC.
    pub change: Option<(String, bool)>,
    /// Per endpoint (primary, secondary): Route 53 judges its health by evaluating its alias
    /// target (`evaluateTargetHealth` without a health check), which the operator cannot read.
    pub unobservable: [bool; 2],
    /// The manual switch as Route 53 has it now (`spec.failover`); `None` without one.
    pub switch: Option<crate::crd::SwitchStatus>,
    /// Per endpoint (primary, secondary): its health is the last reading, kept while the health
    /// source fails ([`crate::health::HealthView::stale`]).
    pub stale: [Option<crate::health::Stale>; 2],
}

/// What to write after a reconcile that failed without an observation (a transient failure:
/// throttling, a Route 53 or Kubernetes error retried with backoff). Nothing when the status already
/// describes this generation: it stays as it was, so a throttled resync writes nothing. Otherwise
/// `Ready=False` with the error's bounded label as reason and `Reconciling=True` (or what the error's
/// retry class gives, [`Progress::of_error`]), for this generation: without it, kstatus would take a
/// new object that has no status yet for Current (it cannot tell it from a type that reports none),
/// and a spec change would keep the old generation's conditions. What is known of Route 53 (zone,
/// endpoints, change) is kept.
pub fn retrying(
    prev: Option<&FailoverRecordStatus>,
    generation: i64,
    error: &Error,
) -> Option<Observation> {
    if prev.and_then(|p| p.observed_generation) == Some(generation) {
        return None;
    }
    Some(Observation {
        generation: Some(generation),
        readiness: Readiness::failed(error.metric_label(), error),
        hosted_zone_id: None,
        endpoints: [None, None],
        change: None,
        unobservable: [false, false],
        switch: None,
        stale: [None, None],
    })
}

/// Build the next status from the previous one and an observation. Transition times and
/// `lastFailoverTime` are carried over unless something really changed, so the result is stable and
/// writing it again is a no-op. `zone_grace` is how long a missing hosted zone is `Reconciling`
/// before it is `Stalled` ([`Progress::StalledAfterGrace`]).
pub fn next_status(
    prev: Option<&FailoverRecordStatus>,
    obs: &Observation,
    now: Timestamp,
    zone_grace: Duration,
) -> FailoverRecordStatus {
    let prev_conditions = prev.map(|p| p.conditions.as_slice()).unwrap_or(&[]);
    let endpoint_status = |i: usize| {
        obs.endpoints[i]
            .as_ref()
            .map(|(set_id, hc, h)| EndpointStatus {
                set_identifier: set_id.clone(),
                health_check_id: hc.clone(),
                health: h.health,
                checkers_healthy: h.healthy,
                checkers_total: h.total,
                last_failure_reason: h.last_failure.clone(),
            })
    };
    let primary = endpoint_status(0);
    let secondary = endpoint_status(1);
    // With the switch, the PRIMARY record carries the gate: Route 53 judges the primary by it.
    let gate = obs
        .switch
        .as_ref()
        .and_then(|s| crate::switch::GateState::parse(&s.gate_state));
    let forced_down = matches!(
        gate,
        Some(crate::switch::GateState::ForceSecondary | crate::switch::GateState::Held)
    );
    let active = match (&obs.endpoints[0], &obs.endpoints[1]) {
        // Route 53 answers by the target's health, which cannot be read: no guess (unless the
        // gate makes the primary unhealthy whatever its target).
        (Some(_), Some(_)) if obs.unobservable[0] && !forced_down => None,
        (Some((_, _, p)), Some((_, shc, s))) => {
            let primary = gate.map_or(p.health, |g| g.primary_health(p.health));
            if obs.unobservable[1] && primary == Health::Unhealthy {
                None
            } else {
                Some(active_role(primary, s.health, shc.is_some()))
            }
        }
        _ => prev.and_then(|p| p.active_role),
    };
    let prev_active = prev.and_then(|p| p.active_role);
    let last_failover_time = match (prev_active, active) {
        (Some(a), Some(b)) if a != b => Some(Time(now)),
        _ => prev.and_then(|p| p.last_failover_time.clone()),
    };
    let mut conditions = vec![condition(
        prev_conditions,
        READY,
        obs.readiness.status,
        obs.readiness.reason,
        &obs.readiness.message,
        obs.generation,
        now,
    )];
    conditions.extend(progress_condition(
        prev_conditions,
        &obs.readiness,
        obs.generation,
        now,
        zone_grace,
    ));
    for (i, (ctype, role)) in [
        (PRIMARY_HEALTHY, Role::Primary),
        (SECONDARY_HEALTHY, Role::Secondary),
    ]
    .into_iter()
    .enumerate()
    {
        if obs.endpoints[i].is_none() {
            // Not observed this time (e.g. invalid spec): keep what was last known.
            if let Some(c) = prev_conditions.iter().find(|c| c.type_ == ctype) {
                conditions.push(Condition {
                    observed_generation: obs.generation,
                    ..c.clone()
                });
                continue;
            }
        }
        let (status, reason, message) = match &obs.endpoints[i] {
            None => (
                "Unknown",
                "NotObserved",
                format!(
                    "the {} endpoint has not been observed",
                    role.to_string().to_lowercase()
                ),
            ),
            Some((_, None, _)) if obs.unobservable[i] => (
                "Unknown",
                "TargetHealthNotObservable",
                "alias with evaluateTargetHealth and no health check: Route 53 judges the alias \
                 target's health itself, which cannot be read (activeRole stays unset); add a \
                 health check to observe it"
                    .to_string(),
            ),
            Some((_, None, _)) => (
                "Unknown",
                "NoHealthCheck",
                "no health check: Route 53 treats the endpoint as healthy".to_string(),
            ),
            Some((_, Some(_), h)) => match h.health {
                Health::Healthy => (
                    "True",
                    "Healthy",
                    format!("{}/{} Route 53 checkers report healthy", h.healthy, h.total),
                ),
                Health::Unhealthy => (
                    "False",
                    "Unhealthy",
                    format!(
                        "{}/{} Route 53 checkers report healthy{}",
                        h.healthy,
                        h.total,
                        h.last_failure
                            .as_ref()
                            .map(|f| format!("; {f}"))
                            .unwrap_or_default()
                    ),
                ),
                Health::Unknown => (
                    "Unknown",
                    "NoData",
                    "Route 53 has no health data yet".to_string(),
                ),
            },
        };
        // A reading kept while the health source fails: the same status, with its age and why.
        let (reason, message) = match (&obs.endpoints[i], &obs.stale[i]) {
            (Some((_, Some(_), _)), Some(st)) => (
                HEALTH_STALE,
                format!(
                    "last read at {}: {message}; not current: the health source fails ({})",
                    st.read_at, st.error
                ),
            ),
            _ => (reason, message),
        };
        conditions.push(condition(
            prev_conditions,
            ctype,
            status,
            reason,
            &message,
            obs.generation,
            now,
        ));
    }
    FailoverRecordStatus {
        observed_generation: obs.generation,
        conditions,
        active_role: active,
        hosted_zone_id: obs
            .hosted_zone_id
            .clone()
            .or_else(|| prev.and_then(|p| p.hosted_zone_id.clone())),
        primary: primary.or_else(|| prev.and_then(|p| p.primary.clone())),
        secondary: secondary.or_else(|| prev.and_then(|p| p.secondary.clone())),
        change: obs
            .change
            .as_ref()
            .map(|(id, insync)| crate::crd::ChangeStatus {
                id: id.clone(),
                status: if *insync { "INSYNC" } else { "PENDING" }.to_string(),
            })
            .or_else(|| prev.and_then(|p| p.change.clone())),
        last_failover_time,
        // Not observed this time (a failure before Route 53 was read): keep what was known.
        failover: if obs.endpoints[0].is_none() {
            prev.and_then(|p| p.failover.clone())
        } else {
            obs.switch.clone()
        },
    }
}

/// The kstatus condition of a readiness (`Reconciling=True` or `Stalled=True`), or none when the
/// reconcile is done. Its reason and message are the `Ready` condition's.
pub fn progress_condition(
    prev: &[Condition],
    readiness: &Readiness,
    generation: Option<i64>,
    now: Timestamp,
    zone_grace: Duration,
) -> Option<Condition> {
    let true_since = |type_: &str| {
        prev.iter()
            .find(|c| c.type_ == type_ && c.status == "True")
            .map(|c| c.last_transition_time.0)
    };
    let type_ = match readiness.progress {
        Progress::Current => return None,
        Progress::Reconciling => RECONCILING,
        Progress::Stalled => STALLED,
        Progress::StalledAfterGrace => {
            let stalled_already = prev
                .iter()
                .any(|c| c.type_ == STALLED && c.status == "True" && c.reason == readiness.reason);
            let grace_over = true_since(RECONCILING).is_some_and(|since| {
                now.duration_since(since).unsigned_abs() >= zone_grace && now >= since
            });
            if stalled_already || grace_over {
                STALLED
            } else {
                RECONCILING
            }
        }
    };
    Some(condition(
        prev,
        type_,
        "True",
        readiness.reason,
        &readiness.message,
        generation,
        now,
    ))
}

fn condition(
    prev: &[Condition],
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let last_transition_time = prev
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: crate::text::bounded(message, crate::text::CONDITION_MESSAGE_MAX).into_owned(),
        observed_generation: generation,
        last_transition_time,
    }
}

/// A condition of a status by type.
pub fn find_condition<'a>(
    status: Option<&'a FailoverRecordStatus>,
    type_: &str,
) -> Option<&'a Condition> {
    status.and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::CheckerObservation;

    const GRACE: Duration = Duration::from_secs(300);

    fn obs(healthy: &[bool]) -> Vec<CheckerObservation> {
        healthy
            .iter()
            .enumerate()
            .map(|(i, h)| CheckerObservation {
                region: format!("r{i}"),
                healthy: *h,
                report: if *h {
                    "Success: HTTP Status Code 200".into()
                } else {
                    "Failure: Connection refused".into()
                },
            })
            .collect()
    }

    #[test]
    fn more_than_18_percent_healthy_is_healthy() {
        assert_eq!(aggregate(&[]).health, Health::Unknown);
        let h = aggregate(&obs(&[true, false, false, false, false]));
        assert_eq!(
            (h.health, h.healthy, h.total),
            (Health::Healthy, 1, 5),
            "20% > 18%"
        );
        let h = aggregate(&obs(&[true, false, false, false, false, false]));
        assert_eq!(h.health, Health::Unhealthy, "16.7% <= 18%");
        assert_eq!(
            h.last_failure.as_deref(),
            Some("r1: Failure: Connection refused")
        );
        assert_eq!(aggregate(&obs(&[false; 3])).health, Health::Unhealthy);
        assert_eq!(aggregate(&obs(&[true; 8])).last_failure, None);
    }

    #[test]
    fn active_role_follows_route53_rules() {
        use Health::*;
        assert_eq!(active_role(Healthy, Unhealthy, true), Role::Primary);
        assert_eq!(
            active_role(Unknown, Unhealthy, true),
            Role::Primary,
            "no data counts as healthy"
        );
        assert_eq!(active_role(Unhealthy, Healthy, true), Role::Secondary);
        assert_eq!(
            active_role(Unhealthy, Unhealthy, true),
            Role::Primary,
            "both unhealthy: primary"
        );
        assert_eq!(
            active_role(Unhealthy, Unknown, false),
            Role::Secondary,
            "secondary without a check serves when the primary is unhealthy"
        );
    }

    /// A reading kept while the health source fails keeps its status and active role; the
    /// condition says it is stale, since when and why, and the same staleness gives the same status.
    #[test]
    fn a_stale_reading_keeps_its_status_and_says_so() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let t1: Timestamp = "2026-01-01T00:05:00Z".parse().expect("ts");
        let fresh = observation(Health::Healthy, Health::Healthy);
        let s0 = next_status(None, &fresh, t0, GRACE);
        let mut stale = fresh.clone();
        stale.stale[0] = Some(crate::health::Stale {
            read_at: "2026-01-01T00:01:00Z".parse().expect("ts"),
            error: "GetMetricData: Throttling: Rate exceeded".into(),
        });
        let s1 = next_status(Some(&s0), &stale, t1, GRACE);
        assert_eq!(s1.active_role, s0.active_role);
        assert_eq!(s1.primary, s0.primary);
        let pc = find_condition(Some(&s1), PRIMARY_HEALTHY).expect("cond");
        assert_eq!(pc.status, "True", "the last known health");
        assert_eq!(pc.reason, HEALTH_STALE);
        assert!(
            pc.message.contains("2026-01-01T00:01:00Z") && pc.message.contains("Throttling"),
            "{}",
            pc.message
        );
        let sc = find_condition(Some(&s1), SECONDARY_HEALTHY).expect("cond");
        assert_eq!(sc.reason, "Healthy", "only the stale endpoint says so");
        assert_eq!(next_status(Some(&s1), &stale, t1, GRACE), s1, "stable");
        let s2 = next_status(Some(&s1), &fresh, t1, GRACE);
        let pc = find_condition(Some(&s2), PRIMARY_HEALTHY).expect("cond");
        assert_eq!(
            (pc.status.as_str(), pc.reason.as_str()),
            ("True", "Healthy")
        );
    }

    fn observation(p: Health, s: Health) -> Observation {
        let h = |health| EndpointHealth {
            health,
            healthy: if health == Health::Healthy { 3 } else { 0 },
            total: 3,
            last_failure: None,
        };
        Observation {
            generation: Some(2),
            readiness: Readiness::ready("in sync"),
            hosted_zone_id: Some("Z1".into()),
            endpoints: [
                Some(("o:u:primary".into(), Some("hc-p".into()), h(p))),
                Some(("o:u:secondary".into(), Some("hc-s".into()), h(s))),
            ],
            change: Some(("C1".into(), true)),
            unobservable: [false, false],
            switch: None,
            stale: [None, None],
        }
    }

    #[test]
    fn status_is_stable_and_failover_is_timestamped() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let t1: Timestamp = "2026-01-01T00:05:00Z".parse().expect("ts");
        let s0 = next_status(
            None,
            &observation(Health::Healthy, Health::Healthy),
            t0,
            GRACE,
        );
        assert_eq!(s0.active_role, Some(Role::Primary));
        assert_eq!(s0.last_failover_time, None);
        assert_eq!(s0.observed_generation, Some(2));
        let types: Vec<_> = s0.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, vec![READY, PRIMARY_HEALTHY, SECONDARY_HEALTHY]);
        assert!(
            s0.conditions
                .iter()
                .all(|c| c.observed_generation == Some(2))
        );
        // The same observation later gives an identical status: no write, no self-triggered loop.
        assert_eq!(
            next_status(
                Some(&s0),
                &observation(Health::Healthy, Health::Healthy),
                t1,
                GRACE
            ),
            s0
        );
        // Primary fails: the active role flips and the time is recorded.
        let s1 = next_status(
            Some(&s0),
            &observation(Health::Unhealthy, Health::Healthy),
            t1,
            GRACE,
        );
        assert_eq!(s1.active_role, Some(Role::Secondary));
        assert_eq!(s1.last_failover_time, Some(Time(t1)));
        let pc = find_condition(Some(&s1), PRIMARY_HEALTHY).expect("cond");
        assert_eq!(
            (pc.status.as_str(), pc.reason.as_str()),
            ("False", "Unhealthy")
        );
        assert_eq!(pc.last_transition_time, Time(t1));
        let ready = find_condition(Some(&s1), READY).expect("ready");
        assert_eq!(ready.last_transition_time, Time(t0), "Ready did not change");
    }

    #[test]
    fn invalid_spec_keeps_previous_endpoint_view() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let s0 = next_status(
            None,
            &observation(Health::Healthy, Health::Healthy),
            t0,
            GRACE,
        );
        let bad = Observation {
            generation: Some(3),
            readiness: Readiness::failed("InvalidSpec", &Error::InvalidSpec("bad".into())),
            hosted_zone_id: None,
            endpoints: [None, None],
            change: None,
            unobservable: [false, false],
            switch: None,
            stale: [None, None],
        };
        let s1 = next_status(Some(&s0), &bad, t0, GRACE);
        assert_eq!(s1.primary, s0.primary);
        assert_eq!(s1.active_role, s0.active_role);
        let r = find_condition(Some(&s1), READY).expect("ready");
        assert_eq!(
            (r.status.as_str(), r.reason.as_str()),
            ("False", "InvalidSpec")
        );
        assert_eq!(s1.observed_generation, Some(3));
    }

    #[test]
    fn every_condition_message_is_bounded() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let huge = format!("spec.name: {}", "ü".repeat(600_000));
        let mut o = observation(Health::Unhealthy, Health::Healthy);
        o.readiness = Readiness {
            message: huge.clone(),
            ..Readiness::failed("InvalidSpec", &Error::InvalidSpec(String::new()))
        };
        if let Some((_, _, h)) = &mut o.endpoints[0] {
            h.last_failure = Some(huge.clone());
        }
        let next = next_status(None, &o, t0, GRACE);
        for c in &next.conditions {
            assert!(
                c.message.len() <= crate::text::CONDITION_MESSAGE_MAX,
                "{}: {} bytes",
                c.type_,
                c.message.len()
            );
        }
        let ready = find_condition(Some(&next), READY).expect("ready");
        assert!(
            ready
                .message
                .ends_with(&format!("(truncated, {} bytes)", huge.len())),
            "{}",
            ready.message
        );
    }

    /// kstatus' generic rules (`checkGenericProperties` in cli-utils' `pkg/kstatus/status`): a
    /// lagging `observedGeneration` is InProgress; the first of `Reconciling=True` (InProgress) and
    /// `Stalled=True` (Failed) decides; otherwise `Ready=False` is InProgress and the rest Current.
    fn kstatus(s: &FailoverRecordStatus, generation: i64) -> &'static str {
        if s.observed_generation != Some(generation) {
            return "InProgress";
        }
        for c in &s.conditions {
            match (c.type_.as_str(), c.status.as_str()) {
                (RECONCILING, "True") => return "InProgress",
                (STALLED, "True") => return "Failed",
                _ => {}
            }
        }
        match find_condition(Some(s), READY).map(|c| c.status.as_str()) {
            Some("False") => "InProgress",
            _ => "Current",
        }
    }

    fn progress(s: &FailoverRecordStatus) -> Vec<(String, String, String)> {
        s.conditions
            .iter()
            .filter(|c| c.type_ == RECONCILING || c.type_ == STALLED)
            .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
            .collect()
    }

    fn r53(kind: crate::route53::Route53ErrorKind) -> Error {
        Error::Route53(crate::route53::Route53Error::new(
            "ChangeResourceRecordSets",
            kind,
            "Code",
            "message",
        ))
    }

    #[test]
    fn kstatus_condition_table() {
        use crate::route53::Route53ErrorKind as K;
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let reconciling = Some(RECONCILING);
        let stalled = Some(STALLED);
        let rows: Vec<(Readiness, Option<&str>, &str)> = vec![
            (Readiness::ready("in sync"), None, "Current"),
            (
                Readiness::in_progress("Propagating", "waiting for INSYNC"),
                reconciling,
                "InProgress",
            ),
            (
                Readiness::in_progress("HealthCheckNotFound", "deleted out of band: recreated"),
                reconciling,
                "InProgress",
            ),
            (
                Readiness::failed("InvalidSpec", &Error::InvalidSpec("x".into())),
                stalled,
                "Failed",
            ),
            (
                Readiness::failed("NotAllowed", &Error::NotAllowed("x".into())),
                stalled,
                "Failed",
            ),
            (
                Readiness::failed("Conflict", &Error::Conflict("x".into())),
                stalled,
                "Failed",
            ),
            (
                Readiness::failed(
                    "HealthCheckNotFound",
                    &Error::HealthCheckNotFound("x".into()),
                ),
                stalled,
                "Failed",
            ),
            (
                Readiness::failed("Route53Error", &r53(K::AccessDenied)),
                stalled,
                "Failed",
            ),
            (
                Readiness::failed("Route53Error", &r53(K::Invalid)),
                stalled,
                "Failed",
            ),
            (
                Readiness::failed("Route53Error", &r53(K::Throttled)),
                reconciling,
                "InProgress",
            ),
            (
                Readiness::failed("Route53Error", &r53(K::Other)),
                reconciling,
                "InProgress",
            ),
            (
                Readiness::failed(
                    "Propagating",
                    &Error::ChangePending {
                        change_id: "C1".into(),
                        message: "x".into(),
                    },
                ),
                reconciling,
                "InProgress",
            ),
            // A missing zone is Reconciling on first sight (its grace period is below).
            (
                Readiness::failed("ZoneNotFound", &Error::Zone("x".into())),
                reconciling,
                "InProgress",
            ),
        ];
        for (readiness, want, kstatus_want) in rows {
            let mut o = observation(Health::Healthy, Health::Healthy);
            o.readiness = readiness.clone();
            let s = next_status(None, &o, t0, GRACE);
            let got = progress(&s);
            let want: Vec<_> = want
                .map(|t| {
                    (
                        t.to_string(),
                        "True".to_string(),
                        readiness.reason.to_string(),
                    )
                })
                .into_iter()
                .collect();
            assert_eq!(got, want, "{readiness:?}");
            assert_eq!(kstatus(&s, 2), kstatus_want, "{readiness:?}");
            assert!(
                s.conditions
                    .iter()
                    .all(|c| c.observed_generation == Some(2)),
                "{readiness:?}"
            );
            // Written once, the same observation gives the same status: no write loop.
            assert_eq!(next_status(Some(&s), &o, t0, GRACE), s, "{readiness:?}");
            // A status whose observedGeneration lags is InProgress whatever it says.
            assert_eq!(kstatus(&s, 3), "InProgress");
        }
    }

    #[test]
    fn a_missing_zone_stalls_after_its_grace_period_and_recovers() {
        let at = |s: &str| -> Timestamp { s.parse().expect("ts") };
        let mut o = observation(Health::Healthy, Health::Healthy);
        o.readiness = Readiness::failed("ZoneNotFound", &Error::Zone("no zone".into()));
        let s0 = next_status(None, &o, at("2026-01-01T00:00:00Z"), GRACE);
        let r = find_condition(Some(&s0), RECONCILING).expect("reconciling");
        assert_eq!(
            (r.status.as_str(), r.reason.as_str()),
            ("True", "ZoneNotFound")
        );
        // Within the grace period: still Reconciling, since the first sight.
        let s1 = next_status(Some(&s0), &o, at("2026-01-01T00:04:59Z"), GRACE);
        assert_eq!(s1, s0);
        // Past it: Stalled, and Reconciling is gone.
        let s2 = next_status(Some(&s1), &o, at("2026-01-01T00:05:00Z"), GRACE);
        assert_eq!(
            progress(&s2),
            vec![(STALLED.into(), "True".into(), "ZoneNotFound".into())]
        );
        assert_eq!(kstatus(&s2, 2), "Failed");
        // Still missing: it stays Stalled (no flapping back to Reconciling).
        let s3 = next_status(Some(&s2), &o, at("2026-01-01T00:10:00Z"), GRACE);
        assert_eq!(s3, s2);
        // The zone appears and the records are written: Reconciling while the change propagates,
        // then Current.
        let mut p = observation(Health::Healthy, Health::Healthy);
        p.readiness = Readiness::in_progress("Propagating", "waiting");
        let s4 = next_status(Some(&s3), &p, at("2026-01-01T00:10:05Z"), GRACE);
        assert_eq!(
            progress(&s4),
            vec![(RECONCILING.into(), "True".into(), "Propagating".into())]
        );
        let s5 = next_status(
            Some(&s4),
            &observation(Health::Healthy, Health::Healthy),
            at("2026-01-01T00:10:10Z"),
            GRACE,
        );
        assert!(progress(&s5).is_empty(), "{:?}", s5.conditions);
        assert_eq!(kstatus(&s5, 2), "Current");
        // Stalled for another reason does not skip the grace period of a missing zone.
        let mut bad = observation(Health::Healthy, Health::Healthy);
        bad.readiness = Readiness::failed("InvalidSpec", &Error::InvalidSpec("x".into()));
        let s6 = next_status(Some(&s5), &bad, at("2026-01-01T00:11:00Z"), GRACE);
        let s7 = next_status(Some(&s6), &o, at("2026-01-01T00:20:00Z"), GRACE);
        assert_eq!(
            progress(&s7),
            vec![(RECONCILING.into(), "True".into(), "ZoneNotFound".into())]
        );
    }

    #[test]
    fn a_transient_failure_is_reconciling_until_the_generation_is_reported() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let throttled = r53(crate::route53::Route53ErrorKind::Throttled);
        // A new object: no status yet. Without one, kstatus would say Current.
        let o = retrying(None, 1, &throttled).expect("an observation");
        let s = next_status(None, &o, t0, GRACE);
        assert_eq!(
            progress(&s),
            vec![(RECONCILING.into(), "True".into(), "Route53Throttled".into())]
        );
        assert_eq!(kstatus(&s, 1), "InProgress");
        let ready = find_condition(Some(&s), READY).expect("ready");
        assert_eq!(
            (ready.status.as_str(), ready.observed_generation),
            ("False", Some(1))
        );
        // Once this generation is reported, a transient failure leaves the status alone.
        assert_eq!(
            retrying(Some(&s), 1, &throttled).map(|o| o.generation),
            None
        );
        let synced = next_status(
            None,
            &observation(Health::Healthy, Health::Healthy),
            t0,
            GRACE,
        );
        assert_eq!(
            retrying(Some(&synced), 2, &throttled).map(|o| o.generation),
            None
        );
        // A spec change not reported yet: Reconciling for the new generation; what is known of
        // Route 53 stays.
        let o = retrying(Some(&synced), 3, &throttled).expect("an observation");
        let s = next_status(Some(&synced), &o, t0, GRACE);
        assert_eq!(kstatus(&s, 3), "InProgress");
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(
            (&s.hosted_zone_id, &s.primary, &s.change, s.active_role),
            (
                &synced.hosted_zone_id,
                &synced.primary,
                &synced.change,
                synced.active_role
            )
        );
    }
}
