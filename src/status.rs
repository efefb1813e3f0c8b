//! Pure status computation: Route 53's health view of each endpoint, the role Route 53 answers with,
//! and standard conditions.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::crd::{EndpointStatus, FailoverRecordStatus, Health, Role};
pub use crate::health::{EndpointHealth, HEALTHY_CHECKER_PERCENT, aggregate};

/// Condition type: Route 53 matches the spec and the last change is INSYNC.
pub const READY: &str = "Ready";
/// Condition type: Route 53's view of the primary.
pub const PRIMARY_HEALTHY: &str = "PrimaryHealthy";
/// Condition type: Route 53's view of the secondary.
pub const SECONDARY_HEALTHY: &str = "SecondaryHealthy";

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

/// The `Ready` condition's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// True / False / Unknown.
    pub status: &'static str,
    /// CamelCase reason.
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl Readiness {
    /// Ready=True.
    pub fn ready(message: impl Into<String>) -> Self {
        Readiness {
            status: "True",
            reason: "Synced",
            message: message.into(),
        }
    }

    /// Ready=False with a reason.
    pub fn not_ready(reason: &'static str, message: impl Into<String>) -> Self {
        Readiness {
            status: "False",
            reason,
            message: message.into(),
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
}

/// Build the next status from the previous one and an observation. Transition times and
/// `lastFailoverTime` are carried over unless something really changed, so the result is stable and
/// writing it again is a no-op.
pub fn next_status(
    prev: Option<&FailoverRecordStatus>,
    obs: &Observation,
    now: Timestamp,
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
    let active = match (&obs.endpoints[0], &obs.endpoints[1]) {
        // Route 53 answers by the target's health, which cannot be read: no guess.
        (Some(_), Some(_)) if obs.unobservable[0] => None,
        (Some((_, _, p)), Some(_)) if obs.unobservable[1] && p.health == Health::Unhealthy => None,
        (Some((_, _, p)), Some((_, shc, s))) => {
            Some(active_role(p.health, s.health, shc.is_some()))
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
    }
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
        }
    }

    #[test]
    fn status_is_stable_and_failover_is_timestamped() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let t1: Timestamp = "2026-01-01T00:05:00Z".parse().expect("ts");
        let s0 = next_status(None, &observation(Health::Healthy, Health::Healthy), t0);
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
                t1
            ),
            s0
        );
        // Primary fails: the active role flips and the time is recorded.
        let s1 = next_status(
            Some(&s0),
            &observation(Health::Unhealthy, Health::Healthy),
            t1,
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
        let s0 = next_status(None, &observation(Health::Healthy, Health::Healthy), t0);
        let bad = Observation {
            generation: Some(3),
            readiness: Readiness::not_ready("InvalidSpec", "bad"),
            hosted_zone_id: None,
            endpoints: [None, None],
            change: None,
            unobservable: [false, false],
        };
        let s1 = next_status(Some(&s0), &bad, t0);
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
        o.readiness = Readiness::not_ready("InvalidSpec", huge.clone());
        if let Some((_, _, h)) = &mut o.endpoints[0] {
            h.last_failure = Some(huge.clone());
        }
        let next = next_status(None, &o, t0);
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
}
