//! Pure planning: what to do in Route 53, given what is desired and what Route 53 holds.
//!
//! Nothing here does IO. The reconciler reads Route 53, calls these functions, applies their output and
//! writes status. Planning happens in three steps because record sets need the ids of health checks that
//! may not exist yet:
//!
//! 1. [`plan_health_checks`]: which owned health checks to create, update in place, keep, or retire;
//! 2. [`plan_records`]: the one transactional batch that makes both record sets match (or a conflict);
//! 3. [`retire_health_checks`]: which retired checks can be deleted now (no record references them and no
//!    change is still propagating).
//!
//! [`plan_deletion`] plans the finalizer's cleanup.

use crate::crd::Role;
use crate::desired::{Desired, DesiredHealth};
use crate::naming;
use crate::route53::{Change, HealthCheck, HealthCheckConfig, RecordSet, fqdn};

/// One health check action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthCheckAction {
    /// CreateHealthCheck with a deterministic CallerReference.
    Create {
        /// Which endpoint.
        role: Role,
        /// Deterministic, idempotent CallerReference.
        caller_reference: String,
        /// Settings.
        config: HealthCheckConfig,
    },
    /// UpdateHealthCheck in place.
    Update {
        /// Which endpoint.
        role: Role,
        /// Health check id.
        id: String,
        /// HealthCheckVersion read from Route 53.
        version: i64,
        /// New settings.
        config: HealthCheckConfig,
    },
}

/// Output of [`plan_health_checks`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthCheckPlan {
    /// Creates and updates to run before the records are written.
    pub actions: Vec<HealthCheckAction>,
    /// The health check id each record should carry, where already known (primary, secondary). A role
    /// with a `Create` action gets its id when the create returns.
    pub ids: [Option<String>; 2],
    /// Owned checks that are no longer wanted: deleted once nothing references them.
    pub retired: Vec<String>,
}

/// Decide what to do with the health checks this object owns.
///
/// `owned` are the checks whose CallerReference proves they belong to this object (any role); `attached`
/// are the ids currently carried by this object's records in Route 53 (primary, secondary). A check that
/// can reach the desired settings with UpdateHealthCheck is kept (the attached one first); otherwise a new
/// one is created and the old one retired after the records are repointed.
pub fn plan_health_checks(
    desired: &Desired,
    owned: &[HealthCheck],
    attached: &[Option<String>; 2],
    owner: &str,
    uid: &str,
    generation: i64,
) -> HealthCheckPlan {
    let mut plan = HealthCheckPlan::default();
    let mut kept: Vec<&str> = Vec::new();
    for (i, role) in Role::ALL.into_iter().enumerate() {
        match &desired.endpoint(role).health {
            DesiredHealth::None => {}
            DesiredHealth::Existing(id) => plan.ids[i] = Some(id.clone()),
            DesiredHealth::Managed(config) => {
                let mut candidates: Vec<&HealthCheck> = owned
                    .iter()
                    .filter(|hc| owned_role(owner, uid, generation, hc) == Some(role))
                    .filter(|hc| hc.config.as_ref().is_some_and(|c| config.updatable_from(c)))
                    .collect();
                // Prefer the check the record already carries, then a stable order.
                candidates.sort_by_key(|hc| {
                    (
                        attached[i].as_deref() != Some(hc.id.as_str()),
                        hc.id.clone(),
                    )
                });
                match candidates.first() {
                    Some(hc) => {
                        kept.push(&hc.id);
                        plan.ids[i] = Some(hc.id.clone());
                        if !hc.config.as_ref().is_some_and(|c| config.matches(c)) {
                            plan.actions.push(HealthCheckAction::Update {
                                role,
                                id: hc.id.clone(),
                                version: hc.version,
                                config: config.clone(),
                            });
                        }
                    }
                    None => plan.actions.push(HealthCheckAction::Create {
                        role,
                        caller_reference: naming::caller_reference(
                            owner,
                            uid,
                            role,
                            &config.immutable_key(),
                            generation,
                        ),
                        config: config.clone(),
                    }),
                }
            }
        }
    }
    plan.retired = owned
        .iter()
        .filter(|hc| owned_role(owner, uid, generation, hc).is_some())
        .filter(|hc| !kept.contains(&hc.id.as_str()))
        .map(|hc| hc.id.clone())
        .collect();
    plan.retired.sort();
    plan
}

/// The role of a listed health check of this object if its CallerReference proves it is this
/// installation's (see [`naming::owned_role`]); `None` for another installation's checks.
pub fn owned_role(owner: &str, uid: &str, generation: i64, hc: &HealthCheck) -> Option<Role> {
    let key = hc.config.as_ref().map(|c| c.immutable_key());
    naming::owned_role(owner, uid, &hc.caller_reference, key.as_deref(), generation)
}

/// Split health checks listed under the object's CallerReference prefix into this installation's
/// (`.0`) and the legacy-format ones it cannot prove its own (`.1`: another installation's, left alone
/// and reported). Current-format checks of other installations are in neither.
pub fn owned_health_checks(
    owner: &str,
    uid: &str,
    generation: i64,
    listed: &[HealthCheck],
) -> (Vec<HealthCheck>, Vec<HealthCheck>) {
    let mut ours = Vec::new();
    let mut unproved = Vec::new();
    for hc in listed {
        if owned_role(owner, uid, generation, hc).is_some() {
            ours.push(hc.clone());
        } else if naming::is_legacy_reference(uid, &hc.caller_reference) {
            unproved.push(hc.clone());
        }
    }
    (ours, unproved)
}

/// Output of [`plan_records`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordPlan {
    /// Both records match: nothing to write.
    InSync,
    /// Write this batch (CREATE for missing records, UPSERT for our drifted ones).
    Changes(Vec<Change>),
    /// Take over a failover pair made outside the operator (`spec.adopt`): one batch that DELETEs
    /// theirs (with the exact values Route 53 holds) and CREATEs ours, so no moment exists where the
    /// name has no answer. It must go to Route 53 as one ChangeResourceRecordSets call.
    Adopt(Adoption),
    /// Record sets that are not ours occupy the name: nothing is written.
    Conflict(String),
}

/// A takeover of a failover pair made outside the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adoption {
    /// DELETE of each of their record sets, then CREATE (or UPSERT) of ours: one transaction.
    pub changes: Vec<Change>,
    /// Their record sets as Route 53 held them, PRIMARY first.
    pub taken: Vec<RecordSet>,
}

impl Adoption {
    /// One line per taken record set: role, SetIdentifier, values or alias, health check, and what
    /// becomes of that check (`ids`: the health check ids our records carry from now on).
    pub fn describe(&self, ids: &[Option<String>; 2]) -> String {
        let parts: Vec<String> = self
            .taken
            .iter()
            .map(|rs| {
                let role = rs.failover.map(Role::failover).unwrap_or("?");
                let target = match &rs.alias {
                    Some(a) => format!("alias {}", a.dns_name),
                    None => rs.values.join(" "),
                };
                let check = match &rs.health_check_id {
                    Some(id) if ids.iter().flatten().any(|k| k == id) => {
                        format!("health check {id} kept on our record")
                    }
                    Some(id) => format!("health check {id} left in Route 53, no longer attached"),
                    None => "no health check".to_string(),
                };
                format!(
                    "{role} {:?} ({target}; {check})",
                    rs.set_identifier.as_deref().unwrap_or_default()
                )
            })
            .collect();
        parts.join(", ")
    }
}

/// Whether two record sets would clash at the same name: same type, or either is a CNAME.
fn clashes(a: &str, b: &str) -> bool {
    a == b || a == "CNAME" || b == "CNAME"
}

/// Whether `rs` is this object's record for `role`: its type, and the SetIdentifier that carries the
/// owner id and uid.
fn is_ours(desired: &Desired, role: Role, rs: &RecordSet) -> bool {
    rs.rtype == desired.rtype.as_str()
        && rs.set_identifier.as_deref() == Some(desired.endpoint(role).set_identifier.as_str())
}

/// This object's record for `role` among `observed`, if Route 53 holds it.
pub fn our_record<'a>(
    desired: &Desired,
    role: Role,
    observed: &'a [RecordSet],
) -> Option<&'a RecordSet> {
    observed.iter().find(|rs| is_ours(desired, role, rs))
}

/// Why a foreign record set cannot be taken over with `spec.adopt`; `None` when it can: a failover
/// record of the desired type that no FailoverRecord made.
pub fn not_adoptable(desired: &Desired, rs: &RecordSet) -> Option<String> {
    let rtype = desired.rtype.as_str();
    if rs.rtype != rtype {
        return Some(format!(
            "a {} record set, not {rtype}: only a failover pair of the same type is taken over",
            rs.rtype
        ));
    }
    match (&rs.set_identifier, rs.failover) {
        (None, _) => Some("a plain record (no routing policy): never taken over".to_string()),
        (Some(_), None) => Some(
            "a record set of another routing policy (weighted, latency, geolocation, ...): never taken over"
                .to_string(),
        ),
        (Some(id), Some(_)) if naming::is_set_identifier(id) => Some(
            "a record of another FailoverRecord (its SetIdentifier carries an owner id and uid): never taken over"
                .to_string(),
        ),
        (Some(_), Some(_)) => None,
    }
}

fn describe_set(rs: &RecordSet) -> String {
    match &rs.set_identifier {
        Some(id) => format!("{} {} (SetIdentifier {id:?})", rs.name, rs.rtype),
        None => format!("{} {}", rs.name, rs.rtype),
    }
}

/// Plan the record batch. `observed` are all record sets at the record's name.
///
/// Record sets at the name that are not this object's and clash with its type are "theirs". Without
/// `spec.adopt` they are a [`RecordPlan::Conflict`]. With it, when every one of them is a failover
/// record of the same type that no FailoverRecord made ([`not_adoptable`]), the plan is an
/// [`RecordPlan::Adopt`]: DELETE theirs and CREATE ours in one batch; otherwise still a conflict,
/// naming why.
pub fn plan_records(
    desired: &Desired,
    ids: &[Option<String>; 2],
    observed: &[RecordSet],
) -> RecordPlan {
    let rtype = desired.rtype.as_str();
    let ours = |rs: &RecordSet, role: Role| is_ours(desired, role, rs);
    let mut foreign: Vec<&RecordSet> = observed
        .iter()
        .filter(|rs| fqdn(&rs.name) == desired.name && clashes(&rs.rtype, rtype))
        .filter(|rs| !Role::ALL.iter().any(|r| ours(rs, *r)))
        .collect();
    foreign.sort_by_key(|rs| (rs.failover.map(Role::index), rs.set_identifier.clone()));
    let refused: Vec<String> = foreign
        .iter()
        .filter_map(|rs| {
            not_adoptable(desired, rs).map(|why| format!("{}: {why}", describe_set(rs)))
        })
        .collect();
    if !foreign.is_empty() && (!desired.adopt || !refused.is_empty()) {
        let list: Vec<String> = foreign.iter().map(|rs| describe_set(rs)).collect();
        let mut msg = format!(
            "record sets not owned by this FailoverRecord exist at the name: {}; nothing was overwritten",
            list.join(", ")
        );
        if !desired.adopt && refused.is_empty() {
            msg.push_str(" (they are a failover pair: set spec.adopt to true to take it over)");
        } else if desired.adopt {
            msg.push_str(&format!("; adopt cannot take over {}", refused.join("; ")));
        }
        return RecordPlan::Conflict(msg);
    }
    let mut changes: Vec<Change> = foreign
        .iter()
        .map(|rs| Change::Delete((*rs).clone()))
        .collect();
    for (i, role) in Role::ALL.into_iter().enumerate() {
        let want = desired.record_set(role, ids[i].clone());
        match our_record(desired, role, observed) {
            None => changes.push(Change::Create(want)),
            Some(have) if !same_record(have, &want) => changes.push(Change::Upsert(want)),
            Some(_) => {}
        }
    }
    if !foreign.is_empty() {
        RecordPlan::Adopt(Adoption {
            changes,
            taken: foreign.into_iter().cloned().collect(),
        })
    } else if changes.is_empty() {
        RecordPlan::InSync
    } else {
        RecordPlan::Changes(changes)
    }
}

/// Compare a record set read from Route 53 with a desired one, ignoring representation differences
/// Route 53 introduces on read (case, trailing dots, value order).
pub fn same_record(have: &RecordSet, want: &RecordSet) -> bool {
    let norm = |rs: &RecordSet| {
        let mut values: Vec<String> = rs
            .values
            .iter()
            .map(|v| {
                if rs.rtype == "CNAME" {
                    fqdn(v)
                } else {
                    v.parse::<std::net::IpAddr>()
                        .map(|a| a.to_string())
                        .unwrap_or_else(|_| v.clone())
                }
            })
            .collect();
        values.sort();
        (
            fqdn(&rs.name),
            rs.rtype.clone(),
            rs.set_identifier.clone(),
            rs.failover,
            rs.ttl,
            values,
            rs.alias.as_ref().map(|a| {
                (
                    fqdn(&a.dns_name),
                    a.hosted_zone_id.clone(),
                    a.evaluate_target_health,
                )
            }),
            rs.health_check_id.clone(),
        )
    };
    norm(have) == norm(want)
}

/// Which retired health checks may be deleted now: none while a change is propagating (name servers may
/// still answer from records that reference them), and never one a record at the name still carries.
pub fn retire_health_checks(
    retired: &[String],
    observed: &[RecordSet],
    change_pending: bool,
) -> Vec<String> {
    if change_pending {
        return Vec::new();
    }
    retired
        .iter()
        .filter(|id| {
            !observed
                .iter()
                .any(|rs| rs.health_check_id.as_deref() == Some(id.as_str()))
        })
        .cloned()
        .collect()
}

/// The finalizer's plan: delete this object's records first (with their exact current values, as Route 53
/// requires), then every health check it owns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeletionPlan {
    /// One batch of DELETEs.
    pub record_deletes: Vec<Change>,
    /// Owned health checks, deleted after the records.
    pub health_check_deletes: Vec<String>,
}

/// Plan the cleanup of an object. Records are recognised by the SetIdentifier prefix that carries the
/// owner id and uid; health checks by their CallerReference (`owned`; only those [`owned_role`]
/// proves this installation's are deleted).
pub fn plan_deletion(
    name: &str,
    owner: &str,
    uid: &str,
    generation: i64,
    observed: &[RecordSet],
    owned: &[HealthCheck],
) -> DeletionPlan {
    let name = fqdn(name);
    let prefix = format!("{owner}:{uid}:");
    let mut record_deletes: Vec<Change> = observed
        .iter()
        .filter(|rs| fqdn(&rs.name) == name)
        .filter(|rs| {
            rs.set_identifier
                .as_deref()
                .is_some_and(|s| s.starts_with(&prefix))
        })
        .cloned()
        .map(Change::Delete)
        .collect();
    record_deletes.sort_by(|a, b| a.record().set_identifier.cmp(&b.record().set_identifier));
    let mut health_check_deletes: Vec<String> = owned
        .iter()
        .filter(|hc| owned_role(owner, uid, generation, hc).is_some())
        .map(|hc| hc.id.clone())
        .collect();
    health_check_deletes.sort();
    DeletionPlan {
        record_deletes,
        health_check_deletes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{FailoverRecordSpec, HealthCheckType};
    use crate::desired::Desired;
    use crate::route53::Alias;

    const OWNER: &str = "test-owner";
    const UID: &str = "6f1c2b1e-0000-4000-8000-000000000001";

    fn spec(yaml: &str) -> FailoverRecordSpec {
        serde_yaml::from_str(yaml).expect("spec yaml")
    }

    fn basic() -> Desired {
        Desired::from_spec(
            &spec(
                r#"
hostedZone: {name: example.com}
name: app.example.com
type: A
primary:
  values: ["52.94.76.10"]
  healthCheck: {type: HTTP, resourcePath: /healthz}
secondary:
  values: ["52.94.76.20"]
"#,
            ),
            OWNER,
            UID,
        )
        .expect("valid")
    }

    fn hc(id: &str, role: Role, config: &HealthCheckConfig, version: i64) -> HealthCheck {
        HealthCheck {
            id: id.into(),
            caller_reference: naming::caller_reference(
                OWNER,
                UID,
                role,
                &config.immutable_key(),
                1,
            ),
            version,
            config: Some(config.clone()),
        }
    }

    fn managed(d: &Desired, role: Role) -> HealthCheckConfig {
        match &d.endpoint(role).health {
            DesiredHealth::Managed(c) => c.clone(),
            other => panic!("not managed: {other:?}"),
        }
    }

    #[test]
    fn desired_defaults_ip_port_path_and_ttl() {
        let d = basic();
        let c = managed(&d, Role::Primary);
        assert_eq!(c.ip_address.as_deref(), Some("52.94.76.10"));
        assert_eq!(c.port, 80);
        assert_eq!(c.resource_path.as_deref(), Some("/healthz"));
        assert_eq!(c.request_interval, 30);
        assert_eq!(c.failure_threshold, 3);
        assert_eq!(d.ttl, 60);
        assert_eq!(d.name, "app.example.com.");
        assert_eq!(d.endpoint(Role::Secondary).health, DesiredHealth::None);
    }

    #[test]
    fn first_reconcile_creates_check_then_both_records() {
        let d = basic();
        let plan = plan_health_checks(&d, &[], &[None, None], OWNER, UID, 1);
        assert_eq!(plan.actions.len(), 1);
        let HealthCheckAction::Create {
            role,
            caller_reference,
            ..
        } = &plan.actions[0]
        else {
            panic!("expected create")
        };
        assert_eq!(*role, Role::Primary);
        assert_eq!(
            naming::owned_role(OWNER, UID, caller_reference, None, 1),
            Some(Role::Primary)
        );
        assert_eq!(plan.ids, [None, None]);
        assert!(plan.retired.is_empty());

        let ids = [Some("hc-1".to_string()), None];
        let RecordPlan::Changes(changes) = plan_records(&d, &ids, &[]) else {
            panic!("expected changes")
        };
        assert_eq!(changes.len(), 2);
        assert!(changes.iter().all(|c| matches!(c, Change::Create(_))));
        let p = changes[0].record();
        assert_eq!(p.failover, Some(Role::Primary));
        assert_eq!(p.health_check_id.as_deref(), Some("hc-1"));
        assert_eq!(p.ttl, Some(60));
        assert_eq!(p.values, vec!["52.94.76.10"]);
        assert_eq!(changes[1].record().health_check_id, None);
    }

    #[test]
    fn retry_after_crash_reuses_the_same_caller_reference() {
        let d = basic();
        let a = plan_health_checks(&d, &[], &[None, None], OWNER, UID, 1);
        let b = plan_health_checks(&d, &[], &[None, None], OWNER, UID, 1);
        assert_eq!(
            a, b,
            "same object, role, settings and generation: same CallerReference"
        );
    }

    #[test]
    fn in_sync_state_plans_nothing() {
        let d = basic();
        let c = managed(&d, Role::Primary);
        let owned = vec![hc("hc-1", Role::Primary, &c, 1)];
        let plan = plan_health_checks(&d, &owned, &[Some("hc-1".into()), None], OWNER, UID, 2);
        assert!(plan.actions.is_empty());
        assert_eq!(plan.ids[0].as_deref(), Some("hc-1"));
        let observed = vec![
            d.record_set(Role::Primary, Some("hc-1".into())),
            d.record_set(Role::Secondary, None),
        ];
        assert_eq!(plan_records(&d, &plan.ids, &observed), RecordPlan::InSync);
    }

    #[test]
    fn mutable_change_updates_in_place_with_version() {
        let d = basic();
        let mut old = managed(&d, Role::Primary);
        old.port = 8080;
        old.failure_threshold = 5;
        let owned = vec![hc("hc-1", Role::Primary, &old, 4)];
        let plan = plan_health_checks(&d, &owned, &[Some("hc-1".into()), None], OWNER, UID, 3);
        assert_eq!(
            plan.actions,
            vec![HealthCheckAction::Update {
                role: Role::Primary,
                id: "hc-1".into(),
                version: 4,
                config: managed(&d, Role::Primary),
            }]
        );
        assert!(plan.retired.is_empty());
    }

    #[test]
    fn immutable_change_creates_replacement_and_retires_old() {
        let d = basic();
        let mut old = managed(&d, Role::Primary);
        old.request_interval = 10;
        let owned = vec![hc("hc-old", Role::Primary, &old, 1)];
        let plan = plan_health_checks(&d, &owned, &[Some("hc-old".into()), None], OWNER, UID, 5);
        assert!(matches!(
            &plan.actions[..],
            [HealthCheckAction::Create {
                role: Role::Primary,
                ..
            }]
        ));
        assert_eq!(plan.retired, vec!["hc-old".to_string()]);
        // The old check is not deleted while a record still carries it or a change propagates.
        let observed = vec![d.record_set(Role::Primary, Some("hc-old".into()))];
        assert!(retire_health_checks(&plan.retired, &observed, false).is_empty());
        let repointed = vec![d.record_set(Role::Primary, Some("hc-new".into()))];
        assert!(retire_health_checks(&plan.retired, &repointed, true).is_empty());
        assert_eq!(
            retire_health_checks(&plan.retired, &repointed, false),
            vec!["hc-old".to_string()]
        );
        // The repointing is an UPSERT of our own record.
        let RecordPlan::Changes(changes) =
            plan_records(&d, &[Some("hc-new".into()), None], &observed)
        else {
            panic!()
        };
        assert!(
            matches!(&changes[0], Change::Upsert(r) if r.health_check_id.as_deref() == Some("hc-new"))
        );
        assert!(matches!(&changes[1], Change::Create(r) if r.failover == Some(Role::Secondary)));
    }

    #[test]
    fn duplicate_owned_checks_keep_the_attached_one_and_retire_the_rest() {
        let d = basic();
        let c = managed(&d, Role::Primary);
        let owned = vec![
            hc("hc-a", Role::Primary, &c, 1),
            hc("hc-b", Role::Primary, &c, 1),
        ];
        let plan = plan_health_checks(&d, &owned, &[Some("hc-b".into()), None], OWNER, UID, 1);
        assert_eq!(plan.ids[0].as_deref(), Some("hc-b"));
        assert_eq!(plan.retired, vec!["hc-a".to_string()]);
        assert!(plan.actions.is_empty());
    }

    #[test]
    fn removing_a_health_check_retires_it() {
        let mut s = spec(
            r#"
hostedZone: {id: Z1}
name: app.example.com
type: A
primary: {values: ["52.94.76.10"], healthCheck: {type: TCP, port: 443}}
secondary: {values: ["52.94.76.20"], healthCheck: {type: TCP, port: 443}}
"#,
        );
        let d = Desired::from_spec(&s, OWNER, UID).expect("valid");
        let sc = managed(&d, Role::Secondary);
        s.secondary.health_check = None;
        let d2 = Desired::from_spec(&s, OWNER, UID).expect("valid");
        let owned = vec![hc("hc-s", Role::Secondary, &sc, 1)];
        let plan = plan_health_checks(&d2, &owned, &[None, Some("hc-s".into())], OWNER, UID, 2);
        assert_eq!(plan.retired, vec!["hc-s".to_string()]);
        assert_eq!(plan.ids[1], None);
        assert_eq!(sc.check_type, HealthCheckType::TCP);
    }

    #[test]
    fn existing_health_check_is_used_never_owned() {
        let s = spec(
            r#"
hostedZone: {id: Z1}
name: app.example.com
type: A
primary: {values: ["52.94.76.10"], existingHealthCheckId: "abc-123"}
secondary: {values: ["52.94.76.20"]}
"#,
        );
        let d = Desired::from_spec(&s, OWNER, UID).expect("valid");
        let plan = plan_health_checks(&d, &[], &[None, None], OWNER, UID, 1);
        assert!(plan.actions.is_empty());
        assert_eq!(plan.ids[0].as_deref(), Some("abc-123"));
        assert!(plan.retired.is_empty());
    }

    #[test]
    fn foreign_records_are_a_conflict_and_nothing_is_written() {
        let d = basic();
        let simple = RecordSet {
            name: "app.example.com.".into(),
            rtype: "A".into(),
            set_identifier: None,
            failover: None,
            ttl: Some(300),
            values: vec!["54.239.28.1".into()],
            alias: None,
            health_check_id: None,
        };
        let RecordPlan::Conflict(msg) = plan_records(
            &d,
            &[Some("hc".into()), None],
            std::slice::from_ref(&simple),
        ) else {
            panic!("expected conflict")
        };
        assert!(msg.contains("app.example.com. A"), "{msg}");
        // Someone else's failover record with another SetIdentifier is foreign too.
        let mut other = simple.clone();
        other.set_identifier = Some("primary".into());
        other.failover = Some(Role::Primary);
        assert!(matches!(
            plan_records(&d, &[None, None], &[other]),
            RecordPlan::Conflict(_)
        ));
        // A CNAME at the name clashes with an A pair.
        let mut cname = simple.clone();
        cname.rtype = "CNAME".into();
        assert!(matches!(
            plan_records(&d, &[None, None], &[cname]),
            RecordPlan::Conflict(_)
        ));
        // A TXT record at the same name does not.
        let mut txt = simple;
        txt.rtype = "TXT".into();
        assert!(matches!(
            plan_records(&d, &[None, None], &[txt]),
            RecordPlan::Changes(_)
        ));
    }

    /// The pair the README's AWS CLI example makes: SetIdentifiers of its own, a health check on the
    /// primary.
    fn cli_pair() -> Vec<RecordSet> {
        let rec = |id: &str, role: Role, value: &str, hc: Option<&str>| RecordSet {
            name: "app.example.com.".into(),
            rtype: "A".into(),
            set_identifier: Some(id.into()),
            failover: Some(role),
            ttl: Some(60),
            values: vec![value.into()],
            alias: None,
            health_check_id: hc.map(Into::into),
        };
        vec![
            rec("app-secondary", Role::Secondary, "52.94.76.21", None),
            rec(
                "app-primary",
                Role::Primary,
                "52.94.76.11",
                Some("their-hc"),
            ),
        ]
    }

    fn adopting() -> Desired {
        let mut d = basic();
        d.adopt = true;
        d
    }

    #[test]
    fn a_cli_pair_without_adopt_is_a_conflict_that_names_the_opt_in() {
        let RecordPlan::Conflict(msg) = plan_records(&basic(), &[None, None], &cli_pair()) else {
            panic!("expected conflict")
        };
        assert!(
            msg.contains("\"app-primary\"") && msg.contains("\"app-secondary\""),
            "{msg}"
        );
        assert!(msg.contains("set spec.adopt to true"), "{msg}");
    }

    #[test]
    fn adopt_replaces_their_pair_in_one_batch_delete_first_with_their_exact_values() {
        let d = adopting();
        let theirs = cli_pair();
        let ids = [Some("hc-ours".to_string()), None];
        let RecordPlan::Adopt(a) = plan_records(&d, &ids, &theirs) else {
            panic!("expected adoption")
        };
        // PRIMARY first, whatever order Route 53 listed them in.
        assert_eq!(a.taken, vec![theirs[1].clone(), theirs[0].clone()]);
        assert_eq!(
            a.changes,
            vec![
                Change::Delete(theirs[1].clone()),
                Change::Delete(theirs[0].clone()),
                Change::Create(d.record_set(Role::Primary, ids[0].clone())),
                Change::Create(d.record_set(Role::Secondary, None)),
            ]
        );
        let text = a.describe(&ids);
        assert!(text.contains("PRIMARY \"app-primary\" (52.94.76.11; health check their-hc left in Route 53, no longer attached)"), "{text}");
        assert!(
            text.contains("SECONDARY \"app-secondary\" (52.94.76.21; no health check)"),
            "{text}"
        );
        // Once the batch is applied, the name holds our pair only: in sync, nothing more to take.
        let after = vec![
            d.record_set(Role::Primary, ids[0].clone()),
            d.record_set(Role::Secondary, None),
        ];
        assert_eq!(plan_records(&d, &ids, &after), RecordPlan::InSync);
    }

    #[test]
    fn adopt_keeps_their_health_check_when_the_spec_names_it() {
        let mut s = spec(
            r#"
hostedZone: {name: example.com}
name: app.example.com
type: A
adopt: true
primary: {values: ["52.94.76.10"], existingHealthCheckId: their-hc}
secondary: {values: ["52.94.76.20"]}
"#,
        );
        let d = Desired::from_spec(&s, OWNER, UID).expect("valid");
        assert!(d.adopt);
        let hplan = plan_health_checks(&d, &[], &[None, None], OWNER, UID, 1);
        assert!(hplan.actions.is_empty() && hplan.retired.is_empty());
        let RecordPlan::Adopt(a) = plan_records(&d, &hplan.ids, &cli_pair()) else {
            panic!("expected adoption")
        };
        assert!(
            matches!(&a.changes[2], Change::Create(r) if r.health_check_id.as_deref() == Some("their-hc"))
        );
        assert!(
            a.describe(&hplan.ids)
                .contains("health check their-hc kept on our record")
        );
        // Their check is never ours to delete: not in a cleanup plan either.
        let ours = [
            d.record_set(Role::Primary, hplan.ids[0].clone()),
            d.record_set(Role::Secondary, None),
        ];
        let del = plan_deletion("app.example.com", OWNER, UID, 1, &ours, &[]);
        assert_eq!(del.record_deletes.len(), 2);
        assert!(del.health_check_deletes.is_empty());
        s.adopt = false;
        let d = Desired::from_spec(&s, OWNER, UID).expect("valid");
        assert!(matches!(
            plan_records(&d, &hplan.ids, &cli_pair()),
            RecordPlan::Conflict(_)
        ));
    }

    #[test]
    fn adopt_takes_a_lone_failover_record_too() {
        let d = adopting();
        let lone = vec![cli_pair()[0].clone()];
        let RecordPlan::Adopt(a) = plan_records(&d, &[Some("hc".into()), None], &lone) else {
            panic!("expected adoption")
        };
        assert_eq!(a.changes.len(), 3);
        assert!(matches!(&a.changes[0], Change::Delete(r) if r == &lone[0]));
    }

    #[test]
    fn adopt_never_takes_a_plain_record_weighted_sets_or_a_clashing_type() {
        let d = adopting();
        let ids = [Some("hc".to_string()), None];
        let mut plain = cli_pair()[0].clone();
        plain.set_identifier = None;
        plain.failover = None;
        let mut weighted = cli_pair();
        for w in &mut weighted {
            w.failover = None;
        }
        let mut cname_pair = cli_pair();
        for c in &mut cname_pair {
            c.rtype = "CNAME".into();
            c.values = vec!["other.example.net.".into()];
        }
        for (what, observed, why) in [
            ("plain", vec![plain], "a plain record"),
            ("weighted", weighted, "another routing policy"),
            ("CNAME pair", cname_pair, "a CNAME record set, not A"),
        ] {
            let RecordPlan::Conflict(msg) = plan_records(&d, &ids, &observed) else {
                panic!("{what}: expected conflict")
            };
            assert!(
                msg.contains("adopt cannot take over") && msg.contains(why),
                "{what}: {msg}"
            );
            assert!(!msg.contains("set spec.adopt"), "{what}: {msg}");
        }
    }

    #[test]
    fn a_failover_pair_of_a_type_that_does_not_clash_is_left_alone() {
        let d = adopting();
        let mut aaaa = cli_pair();
        for r in &mut aaaa {
            r.rtype = "AAAA".into();
            r.values = vec!["2600:1f18::1".into()];
        }
        let RecordPlan::Changes(changes) = plan_records(&d, &[Some("hc".into()), None], &aaaa)
        else {
            panic!("expected our pair beside theirs")
        };
        assert!(
            changes
                .iter()
                .all(|c| matches!(c, Change::Create(r) if r.rtype == "A"))
        );
    }

    #[test]
    fn adopt_never_takes_another_failover_records_pair() {
        let d = adopting();
        let other_uid = "6f1c2b1e-0000-4000-8000-000000000002";
        let other: Vec<RecordSet> = Role::ALL
            .into_iter()
            .map(|role| RecordSet {
                set_identifier: Some(naming::set_identifier("another-owner", other_uid, role)),
                ..d.record_set(role, None)
            })
            .collect();
        let RecordPlan::Conflict(msg) = plan_records(&d, &[Some("hc".into()), None], &other) else {
            panic!("expected conflict")
        };
        assert!(msg.contains("another FailoverRecord"), "{msg}");
    }

    #[test]
    fn drift_of_our_record_is_repaired_with_upsert() {
        let d = basic();
        let mut drifted = d.record_set(Role::Secondary, None);
        drifted.values = vec!["54.239.29.99".into()];
        let observed = vec![d.record_set(Role::Primary, Some("hc-1".into())), drifted];
        let RecordPlan::Changes(changes) =
            plan_records(&d, &[Some("hc-1".into()), None], &observed)
        else {
            panic!()
        };
        assert_eq!(changes.len(), 1);
        assert!(matches!(&changes[0], Change::Upsert(r) if r.values == vec!["52.94.76.20"]));
    }

    #[test]
    fn route53_read_normalisation_is_not_drift() {
        let d = Desired::from_spec(
            &spec(
                r#"
hostedZone: {id: Z1}
name: app.example.com
type: AAAA
primary: {values: ["2600:1f18:0:0:0:0:0:1", "2600:1f18::2"], healthCheck: {type: TCP, port: 80}}
secondary: {alias: {dnsName: "Backup.Example.com", hostedZoneId: Z1}}
"#,
            ),
            OWNER,
            UID,
        )
        .expect("valid");
        let mut p = d.record_set(Role::Primary, Some("hc".into()));
        p.values = vec!["2600:1f18::2".into(), "2600:1F18::1".into()];
        p.name = "APP.example.com".into();
        let mut s = d.record_set(Role::Secondary, None);
        s.alias = Some(Alias {
            dns_name: "backup.example.com.".into(),
            hosted_zone_id: "Z1".into(),
            evaluate_target_health: true,
        });
        assert_eq!(
            plan_records(&d, &[Some("hc".into()), None], &[p, s]),
            RecordPlan::InSync
        );
    }

    #[test]
    fn deletion_removes_only_our_records_with_exact_values_then_checks() {
        let d = basic();
        let mut ours = d.record_set(Role::Primary, Some("hc-1".into()));
        ours.values = vec!["52.94.76.99".into()]; // drifted: delete must carry what Route 53 holds
        let theirs = RecordSet {
            set_identifier: Some(format!("{OWNER}:another-uid:primary")),
            ..d.record_set(Role::Primary, None)
        };
        let c = managed(&d, Role::Primary);
        let plan = plan_deletion(
            "app.example.com",
            OWNER,
            UID,
            1,
            &[ours.clone(), theirs],
            &[
                hc("hc-1", Role::Primary, &c, 1),
                HealthCheck {
                    id: "hc-other-owner".into(),
                    caller_reference: naming::caller_reference(
                        "other-owner",
                        UID,
                        Role::Primary,
                        &c.immutable_key(),
                        1,
                    ),
                    ..hc("x", Role::Primary, &c, 1)
                },
            ],
        );
        assert_eq!(plan.record_deletes, vec![Change::Delete(ours)]);
        assert_eq!(plan.health_check_deletes, vec!["hc-1".to_string()]);
    }
}
