//! The manual failover switch with hold (`spec.failover`): pure decisions.
//!
//! The switch acts through Route 53 itself. The PRIMARY record carries a CALCULATED health check
//! of the object's own, the *gate*, instead of the primary's check; the gate's only child is the
//! primary's own check (owned or `existingHealthCheckId`), or none for an alias primary that relies
//! on target health. Its HealthThreshold decides (API reference, `HealthThreshold`: 0 is always
//! healthy, more than the number of children always unhealthy):
//!
//! | gate state | threshold | Route 53 answers with |
//! |---|---|---|
//! | `RouteByHealth` | number of children (1 or 0) | the primary while its own check (and alias target) is healthy |
//! | `ForcePrimary` | 0 | the primary, whatever its check says (an alias target must still be healthy) |
//! | `ForceSecondary` | children + 1 | the secondary (while it is healthy) |
//! | `Held` | children + 1 | the secondary, after a failover, until acknowledged |
//!
//! A flip is one UpdateHealthCheck of the gate; the records do not change.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
use k8s_openapi::jiff::Timestamp;

use crate::crd::{Failback, FailoverSwitch, Health, SwitchMode, SwitchStatus};
use crate::route53::{HealthCheck, HealthCheckConfig};

/// The field manager of the `switch` and `ack` subcommands.
pub const FIELD_MANAGER: &str = "route53-failover-operator-switch";
/// Annotation naming the user who last ran `switch` (the subcommand's `--by`, default `$USER`).
pub const SWITCHED_BY_ANNOTATION: &str = "route53.failover.io/switched-by";

/// Who last set `spec.failover.mode` and when, from `metadata.managedFields`: the field manager
/// that owns the field (with the user of [`SWITCHED_BY_ANNOTATION`] when it is the `switch`
/// subcommand) and the time of its last write. `None` when no manager owns it (e.g. the mode is
/// defaulted).
pub fn who_set_mode(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<(String, Option<Time>)> {
    let entry = meta
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| owns_mode(m))
        .max_by_key(|m| m.time.as_ref().map(|t| t.0))?;
    let manager = entry.manager.clone().unwrap_or_else(|| "unknown".into());
    let by = match meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(SWITCHED_BY_ANNOTATION))
    {
        Some(user) if manager == FIELD_MANAGER => format!("{user} (via {FIELD_MANAGER})"),
        _ => manager,
    };
    Some((by, entry.time.clone()))
}

/// Where `spec.failover.mode` is in a managedFields entry's `fieldsV1`.
const MODE_FIELD: &str = "/f:spec/f:failover/f:mode";

fn owns_mode(entry: &ManagedFieldsEntry) -> bool {
    entry
        .fields_v1
        .as_ref()
        .and_then(|f| f.0.pointer(MODE_FIELD))
        .is_some()
}

/// What [`who_set_mode`] needs of one `metadata.managedFields` entry: `None` when the entry does
/// not own `spec.failover.mode`, otherwise its manager, operation, subresource and time with a
/// `fieldsV1` of that one field. The watch keeps only these (see [`crate::watched`]): the full
/// field sets of every manager of every object are most of an object's memory.
pub fn mode_entry(entry: ManagedFieldsEntry) -> Option<ManagedFieldsEntry> {
    if !owns_mode(&entry) {
        return None;
    }
    Some(ManagedFieldsEntry {
        api_version: None,
        fields_type: None,
        fields_v1: Some(FieldsV1(
            serde_json::json!({"f:spec": {"f:failover": {"f:mode": {}}}}),
        )),
        manager: entry.manager,
        operation: entry.operation,
        subresource: entry.subresource,
        time: entry.time,
    })
}

/// The merge patch of `switch --to MODE --by USER`: the mode, and who set it.
pub fn switch_patch(mode: SwitchMode, by: &str) -> serde_json::Value {
    serde_json::json!({
        "metadata": {"annotations": {SWITCHED_BY_ANNOTATION: by}},
        "spec": {"failover": {"mode": mode.to_string()}},
    })
}

/// The merge patch of `ack`: a new `spec.failover.acknowledge` value (the time, RFC 3339).
pub fn ack_patch(now: Timestamp) -> serde_json::Value {
    serde_json::json!({"spec": {"failover": {"acknowledge": now.to_string()}}})
}

/// Patch a FailoverRecord with `patch` (a JSON merge patch) as [`FIELD_MANAGER`], from the
/// kubeconfig's context; returns the namespace used.
pub async fn patch_record(
    name: &str,
    namespace: Option<&str>,
    patch: &serde_json::Value,
) -> Result<String, crate::Error> {
    let client = kube::Client::try_default()
        .await
        .map_err(crate::Error::Kube)?;
    let ns = namespace
        .map(str::to_string)
        .unwrap_or_else(|| client.default_namespace().to_string());
    let api: kube::Api<crate::crd::FailoverRecord> = kube::Api::namespaced(client, &ns);
    api.patch(
        name,
        &kube::api::PatchParams::apply(FIELD_MANAGER),
        &kube::api::Patch::Merge(patch),
    )
    .await
    .map_err(crate::Error::Kube)?;
    Ok(ns)
}

/// What the gate makes Route 53 do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateState {
    /// The primary's own health decides.
    RouteByHealth,
    /// Always healthy: the primary answers.
    ForcePrimary,
    /// Always unhealthy: the secondary answers.
    ForceSecondary,
    /// Always unhealthy after a failover, until acknowledged (`failback: Manual`).
    Held,
}

impl GateState {
    /// Status spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            GateState::RouteByHealth => "RouteByHealth",
            GateState::ForcePrimary => "ForcePrimary",
            GateState::ForceSecondary => "ForceSecondary",
            GateState::Held => "Held",
        }
    }

    /// Parse the status spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "RouteByHealth" => GateState::RouteByHealth,
            "ForcePrimary" => GateState::ForcePrimary,
            "ForceSecondary" => GateState::ForceSecondary,
            "Held" => GateState::Held,
            _ => return None,
        })
    }

    /// The gate's HealthThreshold for `children` child checks.
    pub fn threshold(self, children: usize) -> i32 {
        let n = i32::try_from(children).unwrap_or(i32::MAX - 1);
        match self {
            GateState::RouteByHealth => n,
            GateState::ForcePrimary => 0,
            GateState::ForceSecondary | GateState::Held => n + 1,
        }
    }

    /// The primary record's health as Route 53 judges it through the gate, given the health of the
    /// gate's child (`Unknown` when there is none, or no data yet: Route 53 counts a check without
    /// data as healthy).
    pub fn primary_health(self, child: Health) -> Health {
        match self {
            GateState::RouteByHealth => child,
            GateState::ForcePrimary => Health::Healthy,
            GateState::ForceSecondary | GateState::Held => Health::Unhealthy,
        }
    }
}

/// The switch's decision for one reconcile.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Gate state to have in Route 53.
    pub state: GateState,
    /// Since when a failover is held (kept from status while it lasts).
    pub held_since: Option<Time>,
    /// The acknowledge value in force when the hold began.
    pub held_acknowledge: Option<String>,
    /// A hold was released by a new acknowledge value this time.
    pub released: bool,
}

/// Decide the gate state from the spec, the primary's own health (`child`: its check's reading,
/// `Unknown` for none or no data) and the previous status.
///
/// Hold (`mode: Automatic`, `failback: Manual`): when the primary's own check is unhealthy, Route 53
/// has failed over; the gate is then forced unhealthy so that the primary's recovery does not bring
/// traffic back. It stays so until `acknowledge` differs from the value it had when the hold began.
/// A hold released while the primary is still unhealthy starts again at once (with the new value):
/// an acknowledgment returns traffic only to a healthy primary. A forcing mode clears any hold.
pub fn decide(
    switch: &FailoverSwitch,
    child: Health,
    prev: Option<&SwitchStatus>,
    now: Timestamp,
) -> Decision {
    let ack = switch.acknowledge.clone();
    let mut d = Decision {
        state: GateState::RouteByHealth,
        held_since: None,
        held_acknowledge: None,
        released: false,
    };
    match (switch.mode, switch.failback) {
        (SwitchMode::Primary, _) => d.state = GateState::ForcePrimary,
        (SwitchMode::Secondary, _) => d.state = GateState::ForceSecondary,
        (SwitchMode::Automatic, Failback::Automatic) => {}
        (SwitchMode::Automatic, Failback::Manual) => {
            let held = prev.filter(|p| p.held_since.is_some() && p.mode == SwitchMode::Automatic);
            match held {
                Some(p) if p.held_acknowledge == ack => {
                    d.state = GateState::Held;
                    d.held_since = p.held_since.clone();
                    d.held_acknowledge = p.held_acknowledge.clone();
                }
                _ => {
                    d.released = held.is_some();
                    if child == Health::Unhealthy {
                        d.state = GateState::Held;
                        d.held_since = Some(Time(now));
                        d.held_acknowledge = ack;
                    }
                }
            }
        }
    }
    d
}

/// The gate's settings: children (the primary's own check, if any) and the state's threshold.
pub fn gate_config(child: Option<&str>, state: GateState) -> HealthCheckConfig {
    let children: Vec<String> = child.map(str::to_string).into_iter().collect();
    let threshold = state.threshold(children.len());
    HealthCheckConfig::calculated(children, threshold, false)
}

/// What to do with the gate in Route 53.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GateAction {
    /// The gate is as wanted.
    Keep(String),
    /// UpdateHealthCheck of the gate (a flip, or a new child): one call.
    Update {
        /// Gate id.
        id: String,
        /// Its HealthCheckVersion.
        version: i64,
        /// Wanted settings.
        config: HealthCheckConfig,
    },
    /// CreateHealthCheck of a new gate.
    Create(HealthCheckConfig),
}

/// Plan the gate from this object's gates listed in Route 53 (`gates`, by CallerReference): keep
/// or update one (the lowest id), create one when there is none. Any other gate is returned to be
/// retired once no record carries it.
pub fn plan_gate(gates: &[HealthCheck], want: &HealthCheckConfig) -> (GateAction, Vec<String>) {
    let mut sorted: Vec<&HealthCheck> = gates.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let Some(first) = sorted.first() else {
        return (GateAction::Create(want.clone()), Vec::new());
    };
    let extra = sorted[1..].iter().map(|h| h.id.clone()).collect();
    let action = match &first.config {
        Some(c) if c == want => GateAction::Keep(first.id.clone()),
        _ => GateAction::Update {
            id: first.id.clone(),
            version: first.version,
            config: want.clone(),
        },
    };
    (action, extra)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sw(mode: SwitchMode, failback: Failback, ack: Option<&str>) -> FailoverSwitch {
        FailoverSwitch {
            mode,
            failback,
            acknowledge: ack.map(str::to_string),
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[test]
    fn thresholds_force_or_follow_the_child() {
        let child = Some("c1");
        assert_eq!(
            gate_config(child, GateState::RouteByHealth).health_threshold,
            1
        );
        assert_eq!(
            gate_config(child, GateState::ForcePrimary).health_threshold,
            0
        );
        assert_eq!(
            gate_config(child, GateState::ForceSecondary).health_threshold,
            2
        );
        assert_eq!(gate_config(child, GateState::Held).health_threshold, 2);
        // An alias primary without a check: no child; 0 lets target health decide, 1 forces.
        assert_eq!(
            gate_config(None, GateState::RouteByHealth).health_threshold,
            0
        );
        assert_eq!(
            gate_config(None, GateState::ForceSecondary).health_threshold,
            1
        );
        assert_eq!(
            gate_config(child, GateState::RouteByHealth).child_health_checks,
            vec!["c1".to_string()]
        );
    }

    #[test]
    fn modes_force_and_automatic_follows() {
        for (mode, want) in [
            (SwitchMode::Primary, GateState::ForcePrimary),
            (SwitchMode::Secondary, GateState::ForceSecondary),
            (SwitchMode::Automatic, GateState::RouteByHealth),
        ] {
            let d = decide(
                &sw(mode, Failback::Automatic, None),
                Health::Unhealthy,
                None,
                now(),
            );
            assert_eq!(d.state, want, "{mode}");
            assert_eq!(d.held_since, None);
        }
        // Primary forced while the primary is down: the gate says healthy.
        assert_eq!(
            GateState::ForcePrimary.primary_health(Health::Unhealthy),
            Health::Healthy
        );
        assert_eq!(
            GateState::RouteByHealth.primary_health(Health::Unhealthy),
            Health::Unhealthy
        );
    }

    #[test]
    fn a_failover_is_held_until_acknowledged() {
        let manual = sw(SwitchMode::Automatic, Failback::Manual, Some("a1"));
        // Healthy primary: nothing held.
        let d0 = decide(&manual, Health::Healthy, None, now());
        assert_eq!(d0.state, GateState::RouteByHealth);
        // The primary fails: held, with the acknowledge value of that moment.
        let d1 = decide(&manual, Health::Unhealthy, None, now());
        assert_eq!(d1.state, GateState::Held);
        assert_eq!(d1.held_acknowledge.as_deref(), Some("a1"));
        let prev = SwitchStatus {
            mode: SwitchMode::Automatic,
            held_since: d1.held_since.clone(),
            held_acknowledge: d1.held_acknowledge.clone(),
            ..SwitchStatus::default()
        };
        // It recovers: still held.
        let d2 = decide(&manual, Health::Healthy, Some(&prev), now());
        assert_eq!(d2.state, GateState::Held);
        assert_eq!(d2.held_since, d1.held_since);
        // Acknowledged: released, back to health routing.
        let acked = sw(SwitchMode::Automatic, Failback::Manual, Some("a2"));
        let d3 = decide(&acked, Health::Healthy, Some(&prev), now());
        assert_eq!(d3.state, GateState::RouteByHealth);
        assert!(d3.released);
        // Acknowledged while still down: held again under the new value.
        let d4 = decide(&acked, Health::Unhealthy, Some(&prev), now());
        assert_eq!(d4.state, GateState::Held);
        assert_eq!(d4.held_acknowledge.as_deref(), Some("a2"));
        // Failback Automatic never holds.
        let auto = sw(SwitchMode::Automatic, Failback::Automatic, Some("a1"));
        assert_eq!(
            decide(&auto, Health::Healthy, Some(&prev), now()).state,
            GateState::RouteByHealth
        );
        // A forcing mode clears the hold.
        let forced = sw(SwitchMode::Secondary, Failback::Manual, Some("a1"));
        let d5 = decide(&forced, Health::Healthy, Some(&prev), now());
        assert_eq!((d5.state, d5.held_since), (GateState::ForceSecondary, None));
    }

    #[test]
    fn the_gate_is_kept_updated_or_created() {
        let want = gate_config(Some("c1"), GateState::ForceSecondary);
        let (a, extra) = plan_gate(&[], &want);
        assert_eq!(a, GateAction::Create(want.clone()));
        assert!(extra.is_empty());
        let hc = |id: &str, cfg: HealthCheckConfig| HealthCheck {
            id: id.into(),
            caller_reference: "r".into(),
            version: 3,
            config: Some(cfg),
        };
        let auto = gate_config(Some("c1"), GateState::RouteByHealth);
        let (a, _) = plan_gate(&[hc("g1", auto)], &want);
        assert_eq!(
            a,
            GateAction::Update {
                id: "g1".into(),
                version: 3,
                config: want.clone()
            }
        );
        let (a, extra) = plan_gate(&[hc("g2", want.clone()), hc("g1", want.clone())], &want);
        assert_eq!(a, GateAction::Keep("g1".into()));
        assert_eq!(extra, vec!["g2".to_string()]);
    }
}
