//! The Route 53 half of a reconcile: read Route 53 → plan (pure, [`crate::plan`]) → apply → observe.
//!
//! This module knows nothing about Kubernetes: it takes the spec and the previous status and returns an
//! [`Observation`] to write back, so it is tested against the in-memory Route 53 fake. The Kubernetes
//! half (finalizer, status patch, Events) is in [`crate::controller`].

use crate::crd::{FailoverRecordSpec, FailoverRecordStatus, Role};
use std::time::Duration;

use crate::crd::Health;
use crate::desired::{Desired, DesiredHealth, Target, ZoneRef, in_zone};
use crate::error::Error;
use crate::health::{EndpointHealth, HealthView, Reading};
use crate::naming;
use crate::plan::{self, HealthCheckAction, RecordPlan};
use crate::route53::{
    Change, ChangeInfo, HealthCheck, HealthCheckConfig, RecordSet, Route53, Route53ErrorKind, fqdn,
};
use crate::status::{Observation, Readiness};
use crate::switch::{self, GateAction};

/// What a reconcile needs besides Route 53.
#[derive(Clone)]
pub struct SyncInput<'a> {
    /// The operator's owner id (written into SetIdentifiers and CallerReferences).
    pub owner: &'a str,
    /// The object's uid.
    pub uid: &'a str,
    /// metadata.generation.
    pub generation: i64,
    /// `namespace/name`, for health check tags.
    pub object_ref: &'a str,
    /// The spec.
    pub spec: &'a FailoverRecordSpec,
    /// The current status.
    pub status: Option<&'a FailoverRecordStatus>,
    /// Read and repair records and health check settings (otherwise only status is refreshed).
    pub full: bool,
    /// With `full`: also read the tags of the owned checks in use and add what is missing (a crash
    /// between CreateHealthCheck and its tagging leaves a check untagged). One ListTagsForResources
    /// call; the controller asks for it on the first full reconcile of an object after start and
    /// after each spec change, not on every resync. A full reconcile that only confirms an object in
    /// sync (see `confirm`) reads no tags.
    pub check_tags: bool,
    /// The latest health readings ([`crate::health::monitor::Monitor`]): a reconcile never reads
    /// health itself, so it never waits for the health budget. A check not read yet keeps the last
    /// reading in status (where it is for the same check) until the monitor has read it.
    pub health: &'a dyn HealthView,
}

/// Something worth an Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Warning (true) or Normal.
    pub warning: bool,
    /// CamelCase reason.
    pub reason: &'static str,
    /// Message.
    pub message: String,
}

impl Note {
    /// Merge notes of the same reason into one (messages joined, first-seen order): Kubernetes
    /// aggregates Events of one reason into a series that keeps only the first message, so two
    /// separate notes would lose the second.
    pub fn merged(notes: &[Note]) -> Vec<Note> {
        let mut out: Vec<Note> = Vec::new();
        for n in notes {
            match out
                .iter_mut()
                .find(|o| o.reason == n.reason && o.warning == n.warning)
            {
                Some(o) => {
                    o.message.push_str("; ");
                    o.message.push_str(&n.message);
                }
                None => out.push(n.clone()),
            }
        }
        out
    }

    fn normal(reason: &'static str, message: impl Into<String>) -> Note {
        Note {
            warning: false,
            reason,
            message: message.into(),
        }
    }
}

/// The result of a sync.
#[derive(Debug)]
pub struct SyncOutcome {
    /// What to write into status (absent for transient errors: status stays as it was).
    pub observation: Option<Observation>,
    /// `Ok(pending)`, where `pending` means a change is still propagating; or the error to hand to
    /// `error_policy`.
    pub result: Result<bool, Error>,
    /// Events to publish.
    pub notes: Vec<Note>,
}

/// `Ready=False` with `reason` for `error`, nothing else observed; the hosted zone id is `zone`
/// (`None`: status keeps the one it had).
pub(crate) fn failed(
    generation: i64,
    reason: &'static str,
    error: Error,
    zone: Option<String>,
) -> SyncOutcome {
    SyncOutcome {
        observation: Some(Observation {
            generation: Some(generation),
            readiness: Readiness::failed(reason, &error),
            hosted_zone_id: zone,
            endpoints: [None, None],
            change: None,
            unobservable: [false, false],
            switch: None,
            stale: [None, None],
        }),
        result: Err(error),
        notes: Vec::new(),
    }
}

/// Read Route 53, make it match the spec, and observe health.
pub async fn sync<R: Route53>(r53: &R, input: SyncInput<'_>) -> SyncOutcome {
    sync_mode(r53, input, false).await
}

/// Observe-only mode (`run --observe-only`): read Route 53 and plan exactly as [`sync`] does, but
/// write nothing. Status holds what Route 53 holds (the health checks its records carry) and, when
/// Route 53 differs from the spec, `Ready=False` with reason `ObserveOnly` and the planned changes in
/// the message (and an `ObserveOnly` Event); `Ready=True` only when there is nothing to change.
pub async fn sync_observe<R: Route53>(r53: &R, input: SyncInput<'_>) -> SyncOutcome {
    sync_mode(r53, input, true).await
}

/// What a full reconcile of `input` would change in Route 53, from the same reads and the same plan
/// as [`sync`], without writing anything (the `plan` subcommand). Conflicts, a missing zone or
/// `existingHealthCheckId`, and an invalid spec are errors, as they stop a reconcile.
pub async fn preview<R: Route53>(r53: &R, input: &SyncInput<'_>) -> Result<Preview, Error> {
    let desired = Desired::from_spec(input.spec, input.owner, input.uid)
        .map_err(|errs| Error::InvalidSpec(errs.join("; ")))?;
    let zone_id = resolve_zone(r53, &desired).await?;
    let survey = survey(r53, input, &desired, &zone_id, true).await?;
    preview_of(input, &desired, zone_id, survey)
}

/// Stands for the id of a health check a reconcile would create, in a [`Preview`].
pub const NEW_HEALTH_CHECK: &str = "(new)";

/// What a full reconcile would change in Route 53 (see [`preview`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// The hosted zone.
    pub zone_id: String,
    /// The record name (normalised).
    pub name: String,
    /// The record type.
    pub rtype: &'static str,
    /// Health checks to create or update, before the records are written.
    pub health_checks: Vec<HealthCheckAction>,
    /// The current settings of the owned health checks (for the diff of an update).
    pub current_checks: Vec<HealthCheck>,
    /// Tags to add to owned checks in use.
    pub tag_repairs: Vec<TagRepair>,
    /// The record batch (empty: both records match); a health check to be created is carried as
    /// [`NEW_HEALTH_CHECK`].
    pub records: Vec<Change>,
    /// This object's records as Route 53 holds them now (primary, secondary).
    pub current_records: [Option<RecordSet>; 2],
    /// Owned health checks no longer used, deleted once no record carries them and the record
    /// change is INSYNC.
    pub deletes: Vec<String>,
    /// The failover switch's gate: what would be created, updated or deleted, one line each.
    pub gate: Vec<String>,
}

impl Preview {
    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        self.health_checks.is_empty()
            && self.tag_repairs.is_empty()
            && self.records.is_empty()
            && self.deletes.is_empty()
            && self.gate.is_empty()
    }

    /// One line per change, in the order a reconcile makes them: `+ CREATE`, `~ UPDATE`, `~ TAG`,
    /// `+ CREATE`/`~ UPSERT` of records, `- DELETE`.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for action in &self.health_checks {
            match action {
                HealthCheckAction::Create { role, config, .. } => out.push(format!(
                    "+ CREATE health check ({}): {}",
                    role.short(),
                    describe_check(config)
                )),
                HealthCheckAction::Update {
                    role, id, config, ..
                } => {
                    let before = self
                        .current_checks
                        .iter()
                        .find(|h| &h.id == id)
                        .and_then(|h| h.config.as_ref());
                    let diff = before
                        .map(|b| check_diff(b, config))
                        .unwrap_or_else(|| describe_check(config));
                    out.push(format!(
                        "~ UPDATE health check {id} ({}): {diff}",
                        role.short()
                    ));
                }
            }
        }
        out.extend(self.gate.iter().cloned());
        for t in &self.tag_repairs {
            let keys: Vec<&str> = t.missing.iter().map(|(k, _)| k.as_str()).collect();
            out.push(format!(
                "~ TAG health check {} ({}): add {}",
                t.id,
                t.role.short(),
                keys.join(", ")
            ));
        }
        for c in &self.records {
            let rs = c.record();
            let sign = match c {
                Change::Create(_) => "+",
                Change::Upsert(_) => "~",
                Change::Delete(_) => "-",
            };
            let mut line = format!("{sign} {} {}", c.action(), describe_record(rs));
            let before = rs
                .failover
                .and_then(|role| self.current_records[role.index()].as_ref());
            if let (Change::Upsert(_), Some(b)) = (c, before) {
                line.push_str(&format!(" (was: {})", describe_record_target(b)));
            }
            out.push(line);
        }
        for id in &self.deletes {
            out.push(format!(
                "- DELETE health check {id} (no longer used; once no record carries it and the record change is INSYNC)"
            ));
        }
        out
    }
}

/// `HTTPS 52.94.76.10:443/health every 30s, threshold 3`, for plan output.
fn describe_check(c: &HealthCheckConfig) -> String {
    if !c.check_type.is_endpoint() {
        return describe_signal_check(c);
    }
    let host = c
        .ip_address
        .clone()
        .or_else(|| c.fqdn.clone())
        .unwrap_or_default();
    let mut s = format!(
        "{} {host}:{}{}",
        c.check_type.as_str(),
        c.port,
        c.resource_path.as_deref().unwrap_or("")
    );
    if let (Some(ip), Some(f)) = (&c.ip_address, &c.fqdn) {
        s.push_str(&format!(" (host {f}, address {ip})"));
    }
    if let Some(m) = &c.search_string {
        s.push_str(&format!(" matching {m:?}"));
    }
    s.push_str(&format!(
        " every {}s, threshold {}",
        c.request_interval, c.failure_threshold
    ));
    if c.inverted {
        s.push_str(", inverted");
    }
    s
}

/// `CLOUDWATCH_METRIC alarm eu-west-1/db-down, insufficient data LastKnownStatus` or
/// `RECOVERY_CONTROL arn:...`, for plan output.
fn describe_signal_check(c: &HealthCheckConfig) -> String {
    let mut s = c.check_type.as_str().to_string();
    if let (Some(region), Some(name)) = (&c.alarm_region, &c.alarm_name) {
        s.push_str(&format!(" alarm {region}/{name}"));
    }
    if let Some(status) = c.insufficient_data_health_status {
        s.push_str(&format!(", insufficient data {}", status.as_str()));
    }
    if let Some(arn) = &c.routing_control_arn {
        s.push_str(&format!(" {arn}"));
    }
    if c.inverted {
        s.push_str(", inverted");
    }
    s
}

/// The settings that differ, `field old -> new`.
fn check_diff(before: &HealthCheckConfig, after: &HealthCheckConfig) -> String {
    fn opt(v: &Option<String>) -> String {
        v.clone().unwrap_or_else(|| "-".into())
    }
    let mut d = Vec::new();
    let mut cmp = |field: &str, a: String, b: String| {
        if a != b {
            d.push(format!("{field} {a} -> {b}"));
        }
    };
    cmp("ipAddress", opt(&before.ip_address), opt(&after.ip_address));
    cmp("fqdn", opt(&before.fqdn), opt(&after.fqdn));
    cmp("port", before.port.to_string(), after.port.to_string());
    cmp(
        "resourcePath",
        opt(&before.resource_path),
        opt(&after.resource_path),
    );
    cmp(
        "searchString",
        opt(&before.search_string),
        opt(&after.search_string),
    );
    cmp(
        "failureThreshold",
        before.failure_threshold.to_string(),
        after.failure_threshold.to_string(),
    );
    if !after.regions.is_empty() && before.regions != after.regions {
        cmp(
            "regions",
            format!("{:?}", before.regions),
            format!("{:?}", after.regions),
        );
    }
    cmp(
        "inverted",
        before.inverted.to_string(),
        after.inverted.to_string(),
    );
    cmp(
        "enableSNI",
        before.enable_sni.to_string(),
        after.enable_sni.to_string(),
    );
    let alarm = |c: &HealthCheckConfig| match (&c.alarm_region, &c.alarm_name) {
        (Some(r), Some(n)) => format!("{r}/{n}"),
        _ => "-".into(),
    };
    cmp("alarm", alarm(before), alarm(after));
    cmp(
        "insufficientDataHealthStatus",
        before
            .insufficient_data_health_status
            .map_or("-", |s| s.as_str())
            .to_string(),
        after
            .insufficient_data_health_status
            .map_or("-", |s| s.as_str())
            .to_string(),
    );
    if d.is_empty() {
        describe_check(after)
    } else {
        d.join(", ")
    }
}

/// `A www.example.com. PRIMARY 192.0.2.10 ttl 60, health check abc`, for plan output.
fn describe_record(rs: &RecordSet) -> String {
    format!(
        "{} {} {} {}",
        rs.rtype,
        rs.name,
        rs.failover.map(Role::failover).unwrap_or("-"),
        describe_record_target(rs)
    )
}

fn describe_record_target(rs: &RecordSet) -> String {
    let target = match &rs.alias {
        Some(a) => format!(
            "alias {} (zone {}, evaluateTargetHealth {})",
            a.dns_name, a.hosted_zone_id, a.evaluate_target_health
        ),
        None => format!(
            "{} ttl {}",
            rs.values.join(","),
            rs.ttl.map(|t| t.to_string()).unwrap_or_else(|| "-".into())
        ),
    };
    format!(
        "{target}, health check {}",
        rs.health_check_id.as_deref().unwrap_or("none")
    )
}

/// The preview of a survey: the record batch with the health check ids the plan gives (a check to
/// be created stands as [`NEW_HEALTH_CHECK`]), and the retired checks no record would carry.
fn preview_of(
    input: &SyncInput<'_>,
    desired: &Desired,
    zone_id: String,
    survey: Survey,
) -> Result<Preview, Error> {
    let mut ids = survey.hplan.ids.clone();
    for action in &survey.hplan.actions {
        if let HealthCheckAction::Create { role, .. } = action {
            ids[role.index()] = Some(NEW_HEALTH_CHECK.to_string());
        }
    }
    let step = gate_step(input, &survey.gates, ids[0].as_deref());
    let mut gate = Vec::new();
    let state = step
        .decision
        .as_ref()
        .map(|d| d.state.as_str())
        .unwrap_or_default();
    match &step.action {
        Some(GateAction::Keep(id)) => ids[0] = Some(id.clone()),
        Some(GateAction::Update { id, config, .. }) => {
            gate.push(format!(
                "~ UPDATE gate health check {id} (failover switch): {state}, HealthThreshold {} of {} children",
                config.health_threshold,
                config.child_health_checks.len()
            ));
            ids[0] = Some(id.clone());
        }
        Some(GateAction::Create(config)) => {
            gate.push(format!(
                "+ CREATE gate health check (failover switch): CALCULATED, {state}, HealthThreshold {} of {} children",
                config.health_threshold,
                config.child_health_checks.len()
            ));
            ids[0] = Some(NEW_HEALTH_CHECK.to_string());
        }
        None => {}
    }
    for id in plan::retire_health_checks(&step.retired, &r53_now(desired, &ids), false) {
        gate.push(format!(
            "- DELETE gate health check {id} (failover switch removed; once no record carries it and the record change is INSYNC)"
        ));
    }
    let records = match plan::plan_records(desired, &ids, &survey.observed) {
        RecordPlan::Conflict(msg) => return Err(Error::Conflict(msg)),
        RecordPlan::Changes(changes) => changes,
        // `spec.adopt`: DELETE theirs and CREATE ours in one batch.
        RecordPlan::Adopt(adoption) => adoption.changes,
        RecordPlan::InSync => Vec::new(),
    };
    let deletes = plan::retire_health_checks(&survey.hplan.retired, &r53_now(desired, &ids), false);
    let current_records =
        Role::ALL.map(|role| plan::our_record(desired, role, &survey.observed).cloned());
    Ok(Preview {
        zone_id,
        name: desired.name.clone(),
        rtype: desired.rtype.as_str(),
        health_checks: survey.hplan.actions,
        current_checks: survey.owned,
        tag_repairs: survey.tag_repairs,
        records,
        current_records,
        deletes,
        gate,
    })
}

/// Observe: survey and plan, write nothing. The ids are those the records carry in Route 53; the
/// change is the one status holds (polled while PENDING).
async fn observe<R: Route53>(
    r53: &R,
    input: &SyncInput<'_>,
    desired: &Desired,
    zone_id: &str,
) -> Result<(Applied, Preview), Error> {
    let survey = survey(r53, input, desired, zone_id, true).await?;
    let mut ids = survey.attached.clone();
    if input.spec.failover.is_some() {
        // The PRIMARY record carries the gate; status reports the primary's own check.
        ids[0] = survey.hplan.ids[0].clone();
    }
    let preview = preview_of(input, desired, zone_id.to_string(), survey)?;
    let change = poll_change(r53, input.status.and_then(|s| s.change.as_ref())).await?;
    Ok(((ids, change), preview))
}

/// Whether the switch needs a write that only a full reconcile makes: a hold starting or ending
/// (the primary's health changed, read by the health monitor), or a switch added or removed.
fn switch_wants_write(input: &SyncInput<'_>) -> bool {
    let prev = input.status.and_then(|s| s.failover.as_ref());
    match (&input.spec.failover, prev) {
        (None, None) => false,
        (Some(sw), Some(prev)) => {
            let child = input
                .status
                .and_then(|s| s.primary.as_ref())
                .and_then(|p| p.health_check_id.clone());
            let d = switch::decide(
                sw,
                child_health(input, child.as_deref()),
                Some(prev),
                k8s_openapi::jiff::Timestamp::now(),
            );
            d.released
                || d.state.as_str() != prev.gate_state
                || d.held_since.is_some() != prev.held_since.is_some()
        }
        _ => true,
    }
}

async fn sync_mode<R: Route53>(r53: &R, input: SyncInput<'_>, observe_only: bool) -> SyncOutcome {
    let input = if !input.full && !observe_only && switch_wants_write(&input) {
        SyncInput {
            full: true,
            ..input
        }
    } else {
        input
    };
    let generation = input.generation;
    let desired = match Desired::from_spec(input.spec, input.owner, input.uid) {
        Ok(d) => d,
        Err(errs) => {
            return failed(
                generation,
                "InvalidSpec",
                Error::InvalidSpec(errs.join("; ")),
                None,
            );
        }
    };
    let known_zone = input.status.and_then(|s| s.hosted_zone_id.clone());
    let zone_id = match (&known_zone, input.full) {
        (Some(z), false) => z.clone(),
        _ => match resolve_zone(r53, &desired).await {
            Ok(z) => z,
            Err(e @ (Error::Zone(_) | Error::InvalidSpec(_))) => {
                let reason = if matches!(e, Error::Zone(_)) {
                    "ZoneNotFound"
                } else {
                    "InvalidSpec"
                };
                return failed(generation, reason, e, None);
            }
            Err(e) => return transient(e),
        },
    };
    let mut notes = Vec::new();
    let prev_change = input.status.and_then(|s| s.change.clone());
    let mut planned: Option<Vec<String>> = None;
    // The switch as Route 53 has it: written by a full reconcile, else as status last had it.
    let mut switch_now = input
        .spec
        .failover
        .as_ref()
        .and(input.status.and_then(|s| s.failover.clone()));
    let (ids, change) = if input.full {
        let res = if observe_only {
            observe(r53, &input, &desired, &zone_id)
                .await
                .map(|(applied, preview)| {
                    if !preview.is_empty() {
                        planned = Some(preview.lines());
                    }
                    applied
                })
        } else {
            apply(r53, &input, &desired, &zone_id, &mut notes, &mut switch_now).await
        };
        match res {
            Ok(v) => v,
            Err(e) => {
                return match &e {
                    Error::Conflict(_) | Error::HealthCheckNotFound(_) => {
                        let reason = if matches!(e, Error::Conflict(_)) {
                            "Conflict"
                        } else {
                            "HealthCheckNotFound"
                        };
                        let mut out = failed(generation, reason, e, Some(zone_id));
                        out.notes = notes;
                        out
                    }
                    Error::Route53(r)
                        if !r.is_retryable() && r.kind != Route53ErrorKind::Conflict =>
                    {
                        let mut out = failed(generation, "Route53Error", e, Some(zone_id));
                        out.notes = notes;
                        out
                    }
                    _ => SyncOutcome {
                        observation: None,
                        result: Err(e),
                        notes,
                    },
                };
            }
        }
    } else {
        let ids = Role::ALL.map(|r| {
            input
                .status
                .and_then(|s| s.endpoint(r))
                .and_then(|e| e.health_check_id.clone())
        });
        (ids, prev_change.map(|c| (c.id, c.status == "INSYNC")))
    };

    let pending = change.as_ref().is_some_and(|(_, insync)| !insync);
    let mut missing: Vec<String> = Vec::new();
    let mut endpoints: [Option<(String, Option<String>, EndpointHealth)>; 2] = [None, None];
    for (i, role) in Role::ALL.into_iter().enumerate() {
        let previous = input
            .status
            .and_then(|s| s.endpoint(role))
            .filter(|e| e.health_check_id == ids[i]);
        let kept = || {
            previous
                .map(|e| EndpointHealth {
                    health: e.health,
                    healthy: e.checkers_healthy,
                    total: e.checkers_total,
                    last_failure: e.last_failure_reason.clone(),
                })
                .unwrap_or_else(EndpointHealth::unknown)
        };
        let health = match &ids[i] {
            Some(id) => match input.health.reading(id) {
                Some(Reading::Health(h)) => h,
                Some(Reading::Missing) => {
                    // Deleted out of band: not Ready, so the next reconcile is a full one, which
                    // recreates an owned check or reports a missing existingHealthCheckId.
                    missing.push(id.clone());
                    EndpointHealth::unknown()
                }
                None => kept(),
            },
            None => EndpointHealth::unknown(),
        };
        endpoints[i] = Some((
            desired.endpoint(role).set_identifier.clone(),
            ids[i].clone(),
            health,
        ));
    }
    // The switch's status from what Route 53 has now (not in observe-only mode, which writes
    // nothing and so keeps what status had).
    let switch_now = match (&input.spec.failover, switch_now) {
        (Some(sw), Some(known)) if !observe_only => {
            let d = switch::decide(
                sw,
                child_health(&input, ids[0].as_deref()),
                input.status.and_then(|s| s.failover.as_ref()),
                k8s_openapi::jiff::Timestamp::now(),
            );
            let gate = known.gate_health_check_id.clone().unwrap_or_default();
            let mut st = switch_status(&input, &d, &gate, ids[0].as_deref(), &mut notes);
            st.records_digest = known.records_digest;
            Some(st)
        }
        (Some(_), known) => known,
        (None, _) => None,
    };
    let readiness = match &change {
        // The next full reconcile recreates an owned check (or finds a missing
        // existingHealthCheckId, which stalls then).
        _ if !missing.is_empty() => Readiness::in_progress(
            "HealthCheckNotFound",
            format!(
                "health check {} attached to the records no longer exists in Route 53",
                missing.join(", ")
            ),
        ),
        _ if planned.is_some() => {
            let message = format!(
                "observe-only mode: Route 53 differs from the spec; the operator would: {}",
                planned
                    .iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            notes.push(Note::normal("ObserveOnly", message.clone()));
            // Nothing changes until the mode does: Stalled, not Reconciling.
            Readiness {
                status: "False",
                reason: "ObserveOnly",
                message,
                progress: crate::status::Progress::Stalled,
            }
        }
        Some((id, false)) => Readiness::in_progress(
            "Propagating",
            format!("waiting for Route 53 change {id} to reach all name servers (INSYNC)"),
        ),
        _ if observe_only => Readiness::ready(
            "Route 53 records and health checks match the spec (observe-only mode: nothing is written)",
        ),
        _ => Readiness::ready("Route 53 records and health checks match the spec"),
    };
    SyncOutcome {
        observation: Some(Observation {
            generation: Some(generation),
            readiness,
            hosted_zone_id: Some(zone_id),
            endpoints,
            change,
            unobservable: Role::ALL.map(|role| {
                let e = desired.endpoint(role);
                matches!(&e.target, Target::Alias(a) if a.evaluate_target_health)
                    && e.health == DesiredHealth::None
            }),
            switch: switch_now,
            stale: ids
                .each_ref()
                .map(|id| id.as_deref().and_then(|id| input.health.stale(id))),
        }),
        result: Ok(pending),
        notes,
    }
}

fn transient(e: Error) -> SyncOutcome {
    SyncOutcome {
        observation: None,
        result: Err(e),
        notes: Vec::new(),
    }
}

/// Whether a full reconcile may start as a confirmation ([`confirm`]): the status says this
/// generation was written, and either its last change is INSYNC and the object is Ready (a periodic
/// resync, the first pass after a restart) or that change is still propagating (its poll).
fn confirmable(input: &SyncInput<'_>) -> bool {
    let Some(status) = input.status else {
        return false;
    };
    let ready = crate::status::find_condition(Some(status), crate::status::READY);
    status.observed_generation == Some(input.generation)
        && match status.change.as_ref() {
            Some(c) if c.status == "INSYNC" => ready.is_some_and(|r| r.status == "True"),
            // Our own change of this generation is propagating: the snapshot holds what it wrote,
            // and only GetChange is needed.
            Some(_) => ready.is_some_and(|r| r.reason == "Propagating"),
            None => false,
        }
}

/// Confirm that Route 53 still matches, from the zone snapshot
/// ([`Route53::list_record_sets_cached`]) and the health check inventory, with no read of this object's
/// own: `Some` when nothing needs to change. Anything else (a difference, a check to update or retire)
/// returns `None`, and the full path reads the name and the checks again before deciding a write, so
/// a stale snapshot can delay a repair by up to its TTL but never cause a wrong write. Tags are not
/// read here: a confirmed object's checks were tagged by the reconcile that created them.
async fn confirm<R: Route53>(
    r53: &R,
    input: &SyncInput<'_>,
    desired: &Desired,
    zone_id: &str,
) -> Result<Option<Applied>, Error> {
    let observed = r53.list_record_sets_cached(zone_id, &desired.name).await?;
    let prefix = naming::caller_reference_object_prefix(input.uid);
    let listed = r53.list_health_checks(&prefix).await?;
    let owned = owned_checks(input, &listed);
    let (_, hplan) = check_plan(input, desired, &owned, &observed);
    if !hplan.actions.is_empty() || !hplan.retired.is_empty() {
        return Ok(None);
    }
    let step = gate_step(input, &gates_of(input, &listed), hplan.ids[0].as_deref());
    let mut record_ids = hplan.ids.clone();
    match &step.action {
        _ if !step.retired.is_empty() => return Ok(None),
        Some(GateAction::Keep(id)) => record_ids[0] = Some(id.clone()),
        Some(_) => return Ok(None),
        None => {}
    }
    // A hold that starts or ends changes status even when the gate is as it was.
    if step.decision.as_ref().is_some_and(|d| {
        d.released
            || input
                .status
                .and_then(|s| s.failover.as_ref())
                .map(|p| &p.gate_state)
                != Some(&d.state.as_str().to_string())
    }) {
        return Ok(None);
    }
    if plan::plan_records(desired, &record_ids, &observed) != RecordPlan::InSync {
        return Ok(None);
    }
    let change = poll_change(r53, input.status.and_then(|s| s.change.as_ref())).await?;
    Ok(Some((hplan.ids, change)))
}

/// The last change as status holds it, polled with GetChange while PENDING (a change Route 53 no
/// longer knows is long INSYNC).
async fn poll_change<R: Route53>(
    r53: &R,
    prev: Option<&crate::crd::ChangeStatus>,
) -> Result<Option<(String, bool)>, Error> {
    Ok(match prev {
        Some(c) if c.status != "INSYNC" => match r53.get_change(&c.id).await {
            Ok(info) => Some((info.id, info.insync)),
            Err(e) if e.kind == Route53ErrorKind::NotFound => Some((c.id.clone(), true)),
            Err(e) => return Err(e.into()),
        },
        Some(c) => Some((c.id.clone(), true)),
        None => None,
    })
}

/// The owned health checks among `listed` (checks that look like ours but are not proven are
/// reported), as the plan takes them.
fn owned_checks(input: &SyncInput<'_>, listed: &[HealthCheck]) -> Vec<HealthCheck> {
    let (owned, unproved) =
        plan::owned_health_checks(input.owner, input.uid, input.generation, listed);
    report_unproved(&unproved);
    owned
}

/// The health check ids our records carry in `observed`, and the health check plan.
fn check_plan(
    input: &SyncInput<'_>,
    desired: &Desired,
    owned: &[HealthCheck],
    observed: &[RecordSet],
) -> ([Option<String>; 2], plan::HealthCheckPlan) {
    let attached = Role::ALL.map(|role| {
        plan::our_record(desired, role, observed).and_then(|rs| rs.health_check_id.clone())
    });
    let hplan = plan::plan_health_checks(
        desired,
        owned,
        &attached,
        input.owner,
        input.uid,
        input.generation,
    );
    (attached, hplan)
}

/// Resolve the hosted zone id, checking the record name is inside the zone.
async fn resolve_zone<R: Route53>(r53: &R, desired: &Desired) -> Result<String, Error> {
    let zone = match &desired.zone {
        ZoneRef::Id(id) => r53
            .get_hosted_zone(id)
            .await?
            .ok_or_else(|| Error::Zone(format!("hosted zone {id} does not exist")))?,
        ZoneRef::Name(name) => {
            let mut zones = r53.find_hosted_zones(name).await?;
            match zones.len() {
                0 => return Err(Error::Zone(format!("no hosted zone named {name}"))),
                1 => zones.remove(0),
                n => {
                    return Err(Error::Zone(format!(
                        "{n} hosted zones are named {name} (public and private?): set hostedZone.id"
                    )));
                }
            }
        }
    };
    if !in_zone(&desired.name, &zone.name) {
        return Err(Error::InvalidSpec(format!(
            "name {} is not inside the hosted zone {} ({})",
            desired.name, zone.name, zone.id
        )));
    }
    Ok(zone.id)
}

type Applied = ([Option<String>; 2], Option<(String, bool)>);

/// What a full reconcile reads from Route 53 and decides before it writes anything: the same
/// reads and the same pure plan for applying ([`sync`]), observing ([`sync_observe`]) and the
/// `plan` subcommand ([`preview`]).
struct Survey {
    /// Every record set at the name.
    observed: Vec<RecordSet>,
    /// The owned health checks, as they are now.
    owned: Vec<HealthCheck>,
    /// The health check ids this object's records carry in Route 53 (primary, secondary).
    attached: [Option<String>; 2],
    /// The health check plan.
    hplan: plan::HealthCheckPlan,
    /// Tags the owned checks in use lack (with [`SyncInput::check_tags`]).
    tag_repairs: Vec<TagRepair>,
    /// This object's switch gates (calculated checks of `spec.failover`), as they are now.
    gates: Vec<HealthCheck>,
}

/// Tags an owned health check in use lacks (or carries with another value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagRepair {
    /// Which endpoint.
    pub role: Role,
    /// Health check id.
    pub id: String,
    /// Tags to add or overwrite.
    pub missing: Vec<(String, String)>,
}

/// Read what the plan needs and plan: foreign records first (nothing is planned over them), then
/// `existingHealthCheckId`s, owned checks, tags. `observing` (nothing will be written): a plan that
/// creates a check is made again from a listing made now, since a check another process created
/// is not in a cached inventory yet (a writing reconcile finds it by its CallerReference instead).
async fn survey<R: Route53>(
    r53: &R,
    input: &SyncInput<'_>,
    desired: &Desired,
    zone_id: &str,
    observing: bool,
) -> Result<Survey, Error> {
    let survey = survey_once(r53, input, desired, zone_id, false).await?;
    let creates = survey
        .hplan
        .actions
        .iter()
        .any(|a| matches!(a, HealthCheckAction::Create { .. }));
    if observing && creates {
        return survey_once(r53, input, desired, zone_id, true).await;
    }
    Ok(survey)
}

async fn survey_once<R: Route53>(
    r53: &R,
    input: &SyncInput<'_>,
    desired: &Desired,
    zone_id: &str,
    fresh: bool,
) -> Result<Survey, Error> {
    let observed = r53.list_record_sets(zone_id, &desired.name).await?;
    // Check for foreign records before creating anything.
    if let RecordPlan::Conflict(msg) = plan::plan_records(desired, &[None, None], &observed) {
        return Err(Error::Conflict(msg));
    }
    let prefix = naming::caller_reference_object_prefix(input.uid);
    let listed = if fresh {
        r53.list_health_checks_fresh(&prefix).await?
    } else {
        r53.list_health_checks(&prefix).await?
    };
    // A health check managed elsewhere must exist before a record is pointed at it (the inventory,
    // listed just now, answers for most).
    for role in Role::ALL {
        match &desired.endpoint(role).health {
            DesiredHealth::Existing(id) => check_existing(r53, role, id).await?,
            DesiredHealth::Managed(cfg) if !cfg.child_health_checks.is_empty() => {
                check_children(r53, input, role, &cfg.child_health_checks).await?
            }
            _ => {}
        }
    }
    let mut owned = owned_checks(input, &listed);
    let mut gates = gates_of(input, &listed);
    if input.full {
        // A full reconcile (a resync, a spec change, a failure) reads each owned check as it is now
        // (GetHealthCheck per owned check, not a listing of the account), so an out-of-band edit is
        // repaired on the resync after it, not when the inventory cache expires.
        let mut now = Vec::with_capacity(owned.len());
        for hc in &owned {
            if let Some(current) = r53.get_health_check(&hc.id).await? {
                now.push(current);
            }
        }
        owned = now;
        let mut now = Vec::with_capacity(gates.len());
        for hc in &gates {
            if let Some(current) = r53.get_health_check(&hc.id).await? {
                now.push(current);
            }
        }
        gates = now;
    }
    let (attached, hplan) = check_plan(input, desired, &owned, &observed);
    let tag_repairs = if input.check_tags {
        missing_tags(r53, input, desired, &hplan).await?
    } else {
        Vec::new()
    };
    Ok(Survey {
        observed,
        owned,
        attached,
        hplan,
        tag_repairs,
        gates,
    })
}

/// Make Route 53 match: health checks, then the record batch, then retire old checks.
async fn apply<R: Route53>(
    r53: &R,
    input: &SyncInput<'_>,
    desired: &Desired,
    zone_id: &str,
    notes: &mut Vec<Note>,
    switch_out: &mut Option<crate::crd::SwitchStatus>,
) -> Result<Applied, Error> {
    if confirmable(input) {
        if let Some(applied) = confirm(r53, input, desired, zone_id).await? {
            *switch_out = input
                .spec
                .failover
                .as_ref()
                .and(input.status.and_then(|s| s.failover.clone()));
            return Ok(applied);
        }
    }
    let Survey {
        observed,
        owned,
        attached,
        hplan,
        tag_repairs,
        gates,
    } = survey(r53, input, desired, zone_id, false).await?;
    let prefix = naming::caller_reference_object_prefix(input.uid);
    let mut ids = hplan.ids.clone();
    for action in &hplan.actions {
        match action {
            HealthCheckAction::Create {
                role,
                caller_reference,
                config,
            } => {
                let tags = health_check_tags(input, desired, *role);
                let hc = create_check(r53, input, &prefix, *role, caller_reference, config, &tags)
                    .await?;
                // The record carried a check of ours that Route 53 no longer has.
                let lost = attached[role.index()]
                    .as_ref()
                    .filter(|id| *id != &hc.id && !owned.iter().any(|h| &h.id == *id));
                notes.push(match lost {
                    Some(old) => Note {
                        warning: true,
                        reason: "HealthCheckRecreated",
                        message: format!(
                            "health check {old} of the {} endpoint was deleted outside the operator; created {} and repointed the record",
                            role.short(),
                            hc.id
                        ),
                    },
                    None => Note::normal(
                        "HealthCheckCreated",
                        format!(
                            "created {} health check {} for the {} endpoint",
                            config.check_type.as_str(),
                            hc.id,
                            role.short()
                        ),
                    ),
                });
                ids[role.index()] = Some(hc.id);
            }
            HealthCheckAction::Update {
                role,
                id,
                version,
                config,
            } => {
                let hc = r53.update_health_check(id, *version, config).await?;
                notes.push(Note::normal(
                    "HealthCheckUpdated",
                    format!(
                        "updated health check {} of the {} endpoint (version {})",
                        hc.id,
                        role.short(),
                        hc.version
                    ),
                ));
            }
        }
    }
    for repair in tag_repairs {
        r53.tag_health_check(&repair.id, &repair.missing).await?;
        let keys: Vec<&str> = repair.missing.iter().map(|(k, _)| k.as_str()).collect();
        notes.push(Note::normal(
            "HealthCheckTagsRepaired",
            format!(
                "health check {} of the {} endpoint lacked the tags {}: added",
                repair.id,
                repair.role.short(),
                keys.join(", ")
            ),
        ));
    }
    // The switch: its gate is set before the records, which then carry it on the PRIMARY.
    let step = gate_step(input, &gates, ids[0].as_deref());
    let mut record_ids = ids.clone();
    if let (Some(action), Some(d)) = (&step.action, &step.decision) {
        let gate_id = match action {
            GateAction::Keep(id) => id.clone(),
            GateAction::Update {
                id,
                version,
                config,
            } => {
                let hc = r53.update_health_check(id, *version, config).await?;
                notes.push(switch_note(input, d, &hc.id, config));
                hc.id
            }
            GateAction::Create(config) => {
                let hc = create_gate(r53, input, desired, config).await?;
                notes.push(switch_note(input, d, &hc.id, config));
                hc.id
            }
        };
        *switch_out = Some(crate::crd::SwitchStatus {
            gate_health_check_id: Some(gate_id.clone()),
            ..Default::default()
        });
        record_ids[0] = Some(gate_id);
    }
    let ids_for_status = ids;
    let ids = record_ids;
    let prev_change = input.status.and_then(|s| s.change.clone());
    let change = match plan::plan_records(desired, &ids, &observed) {
        RecordPlan::Conflict(msg) => return Err(Error::Conflict(msg)),
        RecordPlan::Changes(changes) => {
            let info = write_records(r53, input, desired, zone_id, &ids, &changes, notes).await?;
            Some((info.id, info.insync))
        }
        RecordPlan::Adopt(adoption) => {
            // DELETE theirs and CREATE ours in one call: never split (Batched keeps a caller's
            // list in one call), so the name answers throughout.
            let info =
                write_records(r53, input, desired, zone_id, &ids, &adoption.changes, notes).await?;
            notes.push(Note::normal(
                "Adopted",
                format!(
                    "took over the failover pair {} {} made outside the operator, in change {}: {}",
                    desired.name,
                    desired.rtype.as_str(),
                    info.id,
                    adoption.describe(&ids)
                ),
            ));
            Some((info.id, info.insync))
        }
        // Status does not hold the change that made the records what they are (a crash between the
        // record write and the status write, or a first sight): only an identical UPSERT tells when
        // they are INSYNC, and nothing is retired or reported Ready before that.
        RecordPlan::InSync
            if (prev_change.is_none()
                || input.status.and_then(|s| s.observed_generation) != Some(input.generation))
                && !records_unchanged(input, desired, &ids) =>
        {
            let comment = record_comment(input);
            let info = reassert(r53, zone_id, &comment, desired, &ids).await?;
            Some((info.id, info.insync))
        }
        RecordPlan::InSync => poll_change(r53, prev_change.as_ref()).await?,
    };
    let pending = change.as_ref().is_some_and(|(_, insync)| !insync);
    let now_observed = if pending {
        observed
    } else {
        r53_now(desired, &ids)
    };
    if let Some(sw) = switch_out.as_mut() {
        sw.records_digest = Some(records_digest(desired, &ids));
    }
    // Gates first: a retired gate may still list a retired check as its child.
    for id in plan::retire_health_checks(&step.retired, &now_observed, pending) {
        r53.delete_health_check(&id).await?;
        notes.push(Note::normal(
            "HealthCheckDeleted",
            format!("deleted the failover switch's gate health check {id}, no longer used"),
        ));
    }
    for id in plan::retire_health_checks(&hplan.retired, &now_observed, pending) {
        r53.delete_health_check(&id).await?;
        notes.push(Note::normal(
            "HealthCheckDeleted",
            format!("deleted health check {id}, no longer used"),
        ));
    }
    Ok((ids_for_status, change))
}

/// A digest of our record pair as it is with `ids` (see `SwitchStatus::records_digest`).
fn records_digest(desired: &Desired, ids: &[Option<String>; 2]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("{:?}", r53_now(desired, ids)).as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// With the switch: the records are exactly those whose INSYNC change status holds (only the
/// switch changed since), so no identical UPSERT is needed to learn when they are INSYNC.
fn records_unchanged(input: &SyncInput<'_>, desired: &Desired, ids: &[Option<String>; 2]) -> bool {
    let Some(status) = input.status else {
        return false;
    };
    input.spec.failover.is_some()
        && status.change.as_ref().is_some_and(|c| c.status == "INSYNC")
        && status
            .failover
            .as_ref()
            .and_then(|f| f.records_digest.as_deref())
            == Some(records_digest(desired, ids).as_str())
}

/// This object's switch gates among listed checks (by CallerReference).
fn gates_of(input: &SyncInput<'_>, listed: &[HealthCheck]) -> Vec<HealthCheck> {
    listed
        .iter()
        .filter(|h| naming::is_gate_reference(input.owner, input.uid, &h.caller_reference))
        .cloned()
        .collect()
}

/// The switch's part of a reconcile: what to do with the gate, the decision behind it, and the
/// gates to retire (all of them once `spec.failover` is gone).
struct GateStep {
    action: Option<GateAction>,
    decision: Option<switch::Decision>,
    retired: Vec<String>,
}

/// The health of the primary's own check (the gate's child) as last read.
fn child_health(input: &SyncInput<'_>, child: Option<&str>) -> Health {
    match child.and_then(|id| input.health.reading(id)) {
        Some(Reading::Health(h)) => h.health,
        _ => Health::Unknown,
    }
}

fn gate_step(input: &SyncInput<'_>, gates: &[HealthCheck], child: Option<&str>) -> GateStep {
    let Some(sw) = &input.spec.failover else {
        return GateStep {
            action: None,
            decision: None,
            retired: gates.iter().map(|g| g.id.clone()).collect(),
        };
    };
    let d = switch::decide(
        sw,
        child_health(input, child),
        input.status.and_then(|s| s.failover.as_ref()),
        k8s_openapi::jiff::Timestamp::now(),
    );
    let want = switch::gate_config(child, d.state);
    let (action, retired) = switch::plan_gate(gates, &want);
    GateStep {
        action: Some(action),
        decision: Some(d),
        retired,
    }
}

/// CreateHealthCheck of the gate under the deterministic reference sequence, tagged like the
/// object's other checks (role `gate`).
async fn create_gate<R: Route53>(
    r53: &R,
    input: &SyncInput<'_>,
    desired: &Desired,
    config: &HealthCheckConfig,
) -> Result<HealthCheck, Error> {
    let mut tags = health_check_tags(input, desired, Role::Primary);
    for (k, v) in tags.iter_mut() {
        if k == "route53-failover-operator/role" {
            *v = "gate".into();
        }
        if k == "Name" {
            *v = naming::bounded(
                &format!("{} gate", desired.name.trim_end_matches('.')),
                naming::MAX_COMMENT_OR_TAG_VALUE,
            );
        }
    }
    let mut last = None;
    for attempt in 0..MAX_REFERENCE_ATTEMPTS {
        let reference =
            naming::gate_caller_reference(input.owner, input.uid, input.generation, attempt);
        match r53.create_health_check(&reference, config, &tags).await {
            Ok(hc) => return Ok(hc),
            // The reference of a deleted gate stays taken: the next one of the sequence.
            Err(e) if e.code == "HealthCheckAlreadyExists" => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last
        .map(Error::from)
        .unwrap_or_else(|| Error::InvalidSpec("no CallerReference left for the gate".into())))
}

/// Which endpoint Route 53 answers with through the gate, in words.
fn gate_effect(state: switch::GateState, child: Health) -> &'static str {
    match state.primary_health(child) {
        Health::Unhealthy => "the secondary (the PRIMARY record's gate is unhealthy)",
        Health::Healthy => "the primary (the PRIMARY record's gate is healthy)",
        Health::Unknown => "the primary while its health check passes",
    }
}

/// The Event of a flip (the gate was written).
fn switch_note(
    input: &SyncInput<'_>,
    d: &switch::Decision,
    gate_id: &str,
    config: &HealthCheckConfig,
) -> Note {
    let mode = input
        .spec
        .failover
        .as_ref()
        .map(|s| s.mode)
        .unwrap_or_default();
    Note::normal(
        "FailoverSwitched",
        format!(
            "mode {mode}: gate health check {gate_id} set to {} (HealthThreshold {} of {} child checks) in one UpdateHealthCheck/CreateHealthCheck; Route 53 answers with {}",
            d.state.as_str(),
            config.health_threshold,
            config.child_health_checks.len(),
            gate_effect(d.state, Health::Unknown)
        ),
    )
}

/// The switch's status, and the Events of a hold starting, a hold released, and a forced primary
/// that is unhealthy.
fn switch_status(
    input: &SyncInput<'_>,
    d: &switch::Decision,
    gate_id: &str,
    child: Option<&str>,
    notes: &mut Vec<Note>,
) -> crate::crd::SwitchStatus {
    let prev = input.status.and_then(|s| s.failover.as_ref());
    let mode = input
        .spec
        .failover
        .as_ref()
        .map(|s| s.mode)
        .unwrap_or_default();
    let health = child_health(input, child);
    let was_held = prev.is_some_and(|p| p.held_since.is_some());
    if d.state == switch::GateState::Held && !was_held {
        notes.push(Note {
            warning: true,
            reason: "FailoverHeld",
            message: "the primary failed and Route 53 failed over to the secondary; failback is Manual: traffic stays on the secondary until spec.failover.acknowledge changes (route53-failover-operator ack)".into(),
        });
    }
    if d.released {
        notes.push(Note::normal(
            "FailbackAcknowledged",
            match d.state {
                switch::GateState::Held => "acknowledged, but the primary is still unhealthy: held again under the new acknowledge value".to_string(),
                _ => "acknowledged: the hold is released, Route 53 answers with the primary while it is healthy".to_string(),
            },
        ));
    }
    let prev_primary_down = input
        .status
        .and_then(|s| s.primary.as_ref())
        .is_some_and(|p| p.health == Health::Unhealthy);
    let forced_down = d.state == switch::GateState::ForcePrimary && health == Health::Unhealthy;
    if forced_down && (!prev_primary_down || prev.is_none_or(|p| p.gate_state != "ForcePrimary")) {
        notes.push(Note {
            warning: true,
            reason: "PrimaryForced",
            message: "mode Primary: the primary's health check reports it unhealthy, but the gate forces Route 53 to answer with it".into(),
        });
    }
    let message = if forced_down {
        "the primary is unhealthy but forced: Route 53 answers with it".to_string()
    } else {
        format!("Route 53 answers with {}", gate_effect(d.state, health))
    };
    let same_mode = prev.filter(|p| p.mode == mode);
    crate::crd::SwitchStatus {
        mode,
        set_by: same_mode.and_then(|p| p.set_by.clone()),
        set_at: same_mode.and_then(|p| p.set_at.clone()),
        gate_state: d.state.as_str().to_string(),
        message,
        gate_health_check_id: Some(gate_id.to_string()),
        health_threshold: switch::gate_config(child, d.state).health_threshold,
        held_since: d.held_since.clone(),
        held_acknowledge: d.held_acknowledge.clone(),
        records_digest: None,
    }
}

/// Submit one record batch (as one ChangeResourceRecordSets call) and note it. A batch Route 53
/// refuses for the state at the name is re-read before anything is called a conflict: our own
/// earlier attempt may have committed (an answer lost, the SDK retried), and then the records are
/// ours and in sync.
async fn write_records<R: Route53>(
    r53: &R,
    input: &SyncInput<'_>,
    desired: &Desired,
    zone_id: &str,
    ids: &[Option<String>; 2],
    changes: &[Change],
    notes: &mut Vec<Note>,
) -> Result<ChangeInfo, Error> {
    let summary: Vec<String> = changes
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c.action(),
                c.record().failover.map(Role::failover).unwrap_or("?")
            )
        })
        .collect();
    let comment = record_comment(input);
    let info = match r53.change_record_sets(zone_id, &comment, changes).await {
        Ok(info) => info,
        Err(e) if e.kind == Route53ErrorKind::Conflict => {
            let now = r53.list_record_sets(zone_id, &desired.name).await?;
            match plan::plan_records(desired, ids, &now) {
                RecordPlan::InSync => reassert(r53, zone_id, &comment, desired, ids).await?,
                RecordPlan::Conflict(msg) => return Err(Error::Conflict(msg)),
                RecordPlan::Changes(_) | RecordPlan::Adopt(_) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    notes.push(Note::normal(
        "RecordsChanged",
        format!(
            "submitted change {} ({}) for {} {}",
            info.id,
            summary.join(", "),
            desired.name,
            desired.rtype.as_str()
        ),
    ));
    Ok(info)
}

/// The change batch comment, within Route 53's 256 characters.
fn record_comment(input: &SyncInput<'_>) -> String {
    naming::bounded(
        &format!("route53-failover-operator {}", input.object_ref),
        naming::MAX_COMMENT_OR_TAG_VALUE,
    )
}

/// UPSERT our records exactly as they are: a no-op for DNS that returns a change id, whose INSYNC
/// means every earlier change of these records is INSYNC too.
async fn reassert<R: Route53>(
    r53: &R,
    zone_id: &str,
    comment: &str,
    desired: &Desired,
    ids: &[Option<String>; 2],
) -> Result<ChangeInfo, Error> {
    let changes: Vec<Change> = r53_now(desired, ids)
        .into_iter()
        .map(Change::Upsert)
        .collect();
    Ok(r53.change_record_sets(zone_id, comment, &changes).await?)
}

/// How many CallerReferences of the deterministic sequence one reconcile tries.
const MAX_REFERENCE_ATTEMPTS: u32 = 16;

/// Create a health check, or find the one an earlier attempt created. Route 53 refuses the
/// CallerReference of a deleted check for days ("HealthCheckAlreadyExists" with no live check carrying
/// it): then the next reference of the deterministic sequence is used.
async fn create_check<R: Route53>(
    r53: &R,
    input: &SyncInput<'_>,
    prefix: &str,
    role: Role,
    first_reference: &str,
    config: &HealthCheckConfig,
    tags: &[(String, String)],
) -> Result<HealthCheck, Error> {
    let mut last = None;
    for attempt in 0..MAX_REFERENCE_ATTEMPTS {
        let reference = if attempt == 0 {
            first_reference.to_string()
        } else {
            naming::caller_reference_attempt(
                input.owner,
                input.uid,
                role,
                &config.immutable_key(),
                input.generation,
                attempt,
            )
        };
        match r53.create_health_check(&reference, config, tags).await {
            Ok(hc) => return Ok(hc),
            Err(e) if e.code == "HealthCheckAlreadyExists" => {
                let listed = r53.list_health_checks_fresh(prefix).await?;
                if let Some(existing) = listed.iter().find(|h| h.caller_reference == reference) {
                    // Created by an earlier attempt with other settings: converge by update.
                    return update_to(r53, existing, config).await;
                }
                last = Some(e);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(match last {
        Some(e) => e.into(),
        None => Error::InvalidSpec("no CallerReference attempt was made".into()),
    })
}

/// An `existingHealthCheckId` must be a Route 53 health check id that exists.
async fn check_existing<R: Route53>(r53: &R, role: Role, id: &str) -> Result<(), Error> {
    let well_formed = !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !well_formed {
        return Err(Error::HealthCheckNotFound(format!(
            "existingHealthCheckId {id:?} of the {} endpoint is not a Route 53 health check id",
            role.short()
        )));
    }
    match r53.get_health_check_cached(id).await? {
        Some(_) => Ok(()),
        None => Err(Error::HealthCheckNotFound(format!(
            "existingHealthCheckId {id} of the {} endpoint does not exist in Route 53; nothing was written",
            role.short()
        ))),
    }
}

/// The children of a CALCULATED check must exist, and may be checks made elsewhere or this object's
/// other endpoint's check, but neither the endpoint's own check nor a check of another FailoverRecord
/// (which that object may replace or delete at any time).
async fn check_children<R: Route53>(
    r53: &R,
    input: &SyncInput<'_>,
    role: Role,
    children: &[String],
) -> Result<(), Error> {
    let r = role.short();
    let own = naming::caller_reference_role_prefix(input.owner, input.uid, role);
    let object = naming::caller_reference_object_prefix(input.uid);
    for child in children {
        let Some(hc) = r53.get_health_check(child).await? else {
            return Err(Error::HealthCheckNotFound(format!(
                "child health check {child} of the {r} endpoint does not exist in Route 53; nothing was written"
            )));
        };
        let reference = &hc.caller_reference;
        if reference.starts_with(&own) {
            return Err(Error::InvalidSpec(format!(
                "{r}.healthCheck.children: {child} is the {r} endpoint's own health check; a calculated check cannot be its own child"
            )));
        }
        if reference.starts_with(naming::CALLER_REFERENCE_PREFIX) && !reference.starts_with(&object)
        {
            return Err(Error::InvalidSpec(format!(
                "{r}.healthCheck.children: {child} is a health check of another FailoverRecord, which may replace or delete it; name a check made elsewhere or one of this object's"
            )));
        }
    }
    Ok(())
}

/// The tags the owned checks in use lack (or carry with another value); tags of others stay. Checks
/// a create would make are tagged with their creation and not listed.
async fn missing_tags<R: Route53>(
    r53: &R,
    input: &SyncInput<'_>,
    desired: &Desired,
    hplan: &plan::HealthCheckPlan,
) -> Result<Vec<TagRepair>, Error> {
    let check: Vec<(Role, String)> = Role::ALL
        .into_iter()
        .filter_map(|role| {
            let id = hplan.ids[role.index()].clone()?;
            let managed = matches!(desired.endpoint(role).health, DesiredHealth::Managed(_));
            managed.then_some((role, id))
        })
        .collect();
    if check.is_empty() {
        return Ok(Vec::new());
    }
    let ids_only: Vec<String> = check.iter().map(|(_, id)| id.clone()).collect();
    let have = r53.health_check_tags(&ids_only).await?;
    let mut out = Vec::new();
    for (role, id) in check {
        let want = health_check_tags(input, desired, role);
        let current = have.get(&id).cloned().unwrap_or_default();
        let missing: Vec<(String, String)> =
            want.into_iter().filter(|w| !current.contains(w)).collect();
        if !missing.is_empty() {
            out.push(TagRepair { role, id, missing });
        }
    }
    Ok(out)
}

/// The tags of a new health check, each value within Route 53's 256 characters (a namespace and name
/// may be 63 + 253 characters, a record name 253).
fn health_check_tags(
    input: &SyncInput<'_>,
    desired: &Desired,
    role: Role,
) -> Vec<(String, String)> {
    [
        (
            "Name",
            format!("{} {}", desired.name.trim_end_matches('.'), role.short()),
        ),
        ("route53-failover-operator/owner", input.owner.to_string()),
        (
            "route53-failover-operator/object",
            input.object_ref.to_string(),
        ),
        ("route53-failover-operator/uid", input.uid.to_string()),
        ("route53-failover-operator/role", role.short().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| {
        (
            k.to_string(),
            naming::bounded(&v, naming::MAX_COMMENT_OR_TAG_VALUE),
        )
    })
    .collect()
}

/// Our records as they are after a successful write (or as they were when in sync).
fn r53_now(desired: &Desired, ids: &[Option<String>; 2]) -> Vec<crate::route53::RecordSet> {
    Role::ALL
        .iter()
        .enumerate()
        .map(|(i, r)| desired.record_set(*r, ids[i].clone()))
        .collect()
}

async fn update_to<R: Route53>(
    r53: &R,
    existing: &HealthCheck,
    config: &crate::route53::HealthCheckConfig,
) -> Result<HealthCheck, Error> {
    if existing.config.as_ref().is_some_and(|c| config.matches(c)) {
        return Ok(existing.clone());
    }
    Ok(r53
        .update_health_check(&existing.id, existing.version, config)
        .await?)
}

/// Delete what this object owns in Route 53: records first (with their exact current values), then
/// health checks. A missing zone means there are no records left to delete.
pub async fn cleanup<R: Route53>(
    r53: &R,
    owner: &str,
    uid: &str,
    generation: i64,
    spec: &FailoverRecordSpec,
    status: Option<&FailoverRecordStatus>,
    pending: Option<&str>,
) -> Result<Vec<Note>, Error> {
    let zone = match status.and_then(|s| s.hosted_zone_id.clone()) {
        Some(z) => Some(z),
        None => match Desired::from_spec(spec, owner, uid) {
            Ok(d) => match resolve_zone(r53, &d).await {
                Ok(z) => Some(z),
                Err(Error::Zone(_) | Error::InvalidSpec(_)) => None,
                Err(e) => return Err(e),
            },
            Err(_) => spec.hosted_zone.id.clone(),
        },
    };
    cleanup_owned(
        r53,
        owner,
        uid,
        generation,
        zone.as_deref(),
        Some(&spec.name),
        pending,
    )
    .await
}

/// Cleanup of an object whose spec does not decode, from what could be read of it: health checks
/// are found by the object's uid, the record pair by its name in the zone (its id, or its name when
/// exactly one zone has it). What cannot be located is left alone.
pub async fn cleanup_undecodable<R: Route53>(
    r53: &R,
    owner: &str,
    uid: &str,
    generation: i64,
    hints: &crate::watched::CleanupHints,
    pending: Option<&str>,
) -> Result<Vec<Note>, Error> {
    let zone = match (&hints.zone_id, &hints.zone_name) {
        (Some(id), _) => Some(id.clone()),
        (None, Some(name)) => {
            let mut zones = r53.find_hosted_zones(name).await?;
            (zones.len() == 1).then(|| zones.remove(0).id)
        }
        (None, None) => None,
    };
    cleanup_owned(
        r53,
        owner,
        uid,
        generation,
        zone.as_deref(),
        hints.name.as_deref(),
        pending,
    )
    .await
}

/// Delete what the object owns: its records named `name` in `zone` (skipped when either is
/// unknown), then, once that DELETE is INSYNC, its health checks, found by uid. `pending` is a
/// change of an earlier attempt (its [`Error::ChangePending`]) that must be INSYNC before any
/// health check goes: the records it deleted are gone from the listing, not yet from every name
/// server.
async fn cleanup_owned<R: Route53>(
    r53: &R,
    owner: &str,
    uid: &str,
    generation: i64,
    zone: Option<&str>,
    name: Option<&str>,
    pending: Option<&str>,
) -> Result<Vec<Note>, Error> {
    let mut notes = Vec::new();
    // From a listing made now, never from a cache: a check whose create answer or tagging call was
    // lost is found by its CallerReference all the same, before the finalizer goes.
    let listed = r53
        .list_health_checks_fresh(&naming::caller_reference_object_prefix(uid))
        .await?;
    let (owned, unproved) = plan::owned_health_checks(owner, uid, generation, &listed);
    let gates: Vec<String> = listed
        .iter()
        .filter(|h| naming::is_gate_reference(owner, uid, &h.caller_reference))
        .map(|h| h.id.clone())
        .collect();
    report_unproved(&unproved);
    let observed = match (zone, name) {
        (Some(z), Some(name)) => match r53.list_record_sets(z, &fqdn(name)).await {
            Ok(v) => v,
            Err(e) if e.kind == Route53ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        },
        _ => Vec::new(),
    };
    let dplan = plan::plan_deletion(
        name.unwrap_or_default(),
        owner,
        uid,
        generation,
        &observed,
        &owned,
    );
    if let (Some(z), false) = (zone, dplan.record_deletes.is_empty()) {
        let info = r53
            .change_record_sets(
                z,
                "route53-failover-operator cleanup",
                &dplan.record_deletes,
            )
            .await?;
        notes.push(Note::normal(
            "RecordsDeleted",
            format!(
                "deleted {} record sets (change {})",
                dplan.record_deletes.len(),
                info.id
            ),
        ));
        // Name servers may answer from the records until the DELETE is INSYNC: keep their checks.
        wait_insync(r53, &info).await?;
    } else if let Some(id) = pending {
        wait_insync(
            r53,
            &ChangeInfo {
                id: id.to_string(),
                insync: false,
            },
        )
        .await?;
    }
    // The switch's gate first (it lists the primary's check as its child), after the records.
    for id in gates.iter().chain(&dplan.health_check_deletes) {
        r53.delete_health_check(id).await?;
        notes.push(Note::normal(
            "HealthCheckDeleted",
            format!("deleted health check {id}"),
        ));
    }
    Ok(notes)
}

/// Legacy-format health checks of the object that this installation cannot prove its own: another
/// installation's (or made under another owner id). They are never updated, reused or deleted.
fn report_unproved(unproved: &[HealthCheck]) {
    for hc in unproved {
        tracing::warn!(
            health_check = %hc.id,
            caller_reference = %hc.caller_reference,
            "legacy health check of this object not made under this owner id: left alone"
        );
    }
}

/// How often (backing off from a quarter second), and how long, cleanup polls a DELETE until INSYNC
/// before it deletes health checks.
const CLEANUP_POLL: Duration = Duration::from_secs(2);
/// How long one cleanup attempt waits for its DELETE to be INSYNC before it hands the change to the
/// next attempt (so a slow propagation never holds a reconcile slot for minutes).
const CLEANUP_WAIT: Duration = Duration::from_secs(15);

async fn wait_insync<R: Route53>(r53: &R, info: &ChangeInfo) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + CLEANUP_WAIT;
    let mut insync = info.insync;
    let mut poll = Duration::from_millis(250);
    while !insync {
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::ChangePending {
                change_id: info.id.clone(),
                message: format!(
                    "change {} is not INSYNC after {}s; health checks are deleted once it is",
                    info.id,
                    CLEANUP_WAIT.as_secs()
                ),
            });
        }
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(CLEANUP_POLL);
        insync = match r53.get_change(&info.id).await {
            Ok(c) => c.insync,
            Err(e) if e.kind == Route53ErrorKind::NotFound => true,
            Err(e) => return Err(e.into()),
        };
    }
    Ok(())
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
