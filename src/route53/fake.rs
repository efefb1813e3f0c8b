//! An in-memory Route 53 for unit and reconcile tests: transactional batches keyed by name, type and
//! SetIdentifier, exact-match DELETE, CREATE-of-existing failure, CallerReference idempotency (including
//! references of deleted checks), HealthCheckVersion, PENDING→INSYNC changes, settable health, per-call
//! counters and injectable failures.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use super::{
    Change, ChangeInfo, HealthCheck, HealthCheckConfig, R53Result, RecordSet, Route53,
    Route53Error, Zone, fqdn,
};
use crate::health::{CheckerObservation, HealthSource, HealthView, Reading, reading_of};
use crate::plan::same_record;

#[derive(Default)]
struct State {
    zones: BTreeMap<String, Zone>,
    records: BTreeMap<String, Vec<RecordSet>>,
    checks: BTreeMap<String, HealthCheck>,
    deleted_refs: HashSet<String>,
    tags: HashMap<String, Vec<(String, String)>>,
    changes: HashMap<String, bool>,
    health: HashMap<String, Vec<CheckerObservation>>,
    calls: BTreeMap<&'static str, usize>,
    batches: Vec<Vec<Change>>,
    failures: HashMap<&'static str, VecDeque<Route53Error>>,
    next_id: u64,
    auto_insync: bool,
    target_health: HashMap<String, bool>,
}

/// In-memory Route 53.
#[derive(Default)]
pub struct FakeRoute53 {
    state: Mutex<State>,
}

impl FakeRoute53 {
    /// An empty account. Changes are reported PENDING until [`FakeRoute53::settle`].
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Report every change INSYNC immediately from now on.
    pub fn auto_insync(&self) {
        self.lock().auto_insync = true;
    }

    /// Add a hosted zone; returns its id.
    pub fn add_zone(&self, name: &str) -> String {
        let mut s = self.lock();
        s.next_id += 1;
        let id = format!("Z{:06}FAKE", s.next_id);
        s.zones.insert(
            id.clone(),
            Zone {
                id: id.clone(),
                name: fqdn(name),
                private: false,
            },
        );
        s.records.insert(id.clone(), Vec::new());
        id
    }

    /// Put a record set directly (e.g. a foreign record), bypassing the API.
    pub fn put_record(&self, zone_id: &str, rs: RecordSet) {
        self.lock()
            .records
            .entry(zone_id.to_string())
            .or_default()
            .push(rs);
    }

    /// All record sets of a zone.
    pub fn records(&self, zone_id: &str) -> Vec<RecordSet> {
        self.lock()
            .records
            .get(zone_id)
            .cloned()
            .unwrap_or_default()
    }

    /// All live health checks.
    pub fn health_checks(&self) -> Vec<HealthCheck> {
        self.lock().checks.values().cloned().collect()
    }

    /// Tags of a health check.
    pub fn tags(&self, id: &str) -> Vec<(String, String)> {
        self.lock().tags.get(id).cloned().unwrap_or_default()
    }

    /// Mark every change INSYNC.
    pub fn settle(&self) {
        for v in self.lock().changes.values_mut() {
            *v = true;
        }
    }

    /// Replace the tags of a health check (an out-of-band edit, or a lost tagging call).
    pub fn set_tags(&self, id: &str, tags: &[(String, String)]) {
        self.lock().tags.insert(id.to_string(), tags.to_vec());
    }

    /// Set what every checker of a health check reports.
    pub fn set_health(&self, id: &str, healthy: bool) {
        let report = if healthy {
            "Success: HTTP Status Code 200, OK"
        } else {
            "Failure: Connection refused"
        };
        let obs = ["us-east-1", "eu-west-1", "ap-southeast-1"]
            .iter()
            .map(|r| CheckerObservation {
                region: r.to_string(),
                healthy,
                report: report.to_string(),
            })
            .collect();
        self.lock().health.insert(id.to_string(), obs);
    }

    /// Make the next call of `operation` fail with `error`.
    pub fn fail_next(&self, operation: &'static str, error: Route53Error) {
        self.lock()
            .failures
            .entry(operation)
            .or_default()
            .push_back(error);
    }

    /// Calls made per operation.
    pub fn calls(&self) -> BTreeMap<&'static str, usize> {
        self.lock().calls.clone()
    }

    /// Calls of one operation.
    pub fn call_count(&self, operation: &str) -> usize {
        self.lock().calls.get(operation).copied().unwrap_or(0)
    }

    /// Total calls that change Route 53.
    pub fn write_calls(&self) -> usize {
        let c = self.lock().calls.clone();
        [
            "ChangeResourceRecordSets",
            "CreateHealthCheck",
            "UpdateHealthCheck",
            "DeleteHealthCheck",
            "ChangeTagsForResource",
        ]
        .iter()
        .map(|op| c.get(op).copied().unwrap_or(0))
        .sum()
    }

    /// The change lists of the ChangeResourceRecordSets calls that committed, in order: one entry
    /// per call, so a test sees which changes shared a transaction.
    pub fn committed_batches(&self) -> Vec<Vec<Change>> {
        self.lock().batches.clone()
    }

    /// Reset the call counters.
    pub fn reset_calls(&self) {
        self.lock().calls.clear();
    }

    /// The record sets named `name`, counted (and failed, when injected) as `counted_as`.
    fn records_named(
        &self,
        counted_as: &'static str,
        zone_id: &str,
        name: &str,
    ) -> R53Result<Vec<RecordSet>> {
        let mut s = self.lock();
        self.enter(&mut s, counted_as)?;
        let sets = s
            .records
            .get(zone_id)
            .ok_or_else(|| err("ListResourceRecordSets", "NoSuchHostedZone", zone_id))?;
        Ok(sets
            .iter()
            .filter(|r| fqdn(&r.name) == fqdn(name))
            .cloned()
            .collect())
    }

    fn enter(&self, s: &mut State, op: &'static str) -> R53Result<()> {
        *s.calls.entry(op).or_default() += 1;
        match s.failures.get_mut(op).and_then(VecDeque::pop_front) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// What GetHealthCheckStatus answers for `id`. Route 53 refuses it for a calculated check (its
/// status is in CloudWatch and the console only).
fn observations(s: &State, id: &str) -> R53Result<Vec<CheckerObservation>> {
    if !s.checks.contains_key(id) && !s.health.contains_key(id) {
        return Err(err("GetHealthCheckStatus", "NoSuchHealthCheck", id));
    }
    if is_calculated(s, id) {
        return Err(err(
            "GetHealthCheckStatus",
            "InvalidInput",
            format!(
                "health check {id} is a calculated health check: GetHealthCheckStatus does not report calculated checks"
            ),
        ));
    }
    Ok(s.health.get(id).cloned().unwrap_or_default())
}

/// The API reference's rules for a CALCULATED config: HealthThreshold 0–256, at most 256 children,
/// each an existing health check.
fn check_calculated(s: &State, op: &'static str, c: &HealthCheckConfig) -> R53Result<()> {
    if c.check_type != crate::crd::HealthCheckType::Calculated {
        return Ok(());
    }
    if !(0..=256).contains(&c.health_threshold) {
        return Err(err(op, "InvalidInput", "HealthThreshold must be 0 to 256"));
    }
    if c.child_health_checks.len() > super::MAX_CHILD_HEALTH_CHECKS {
        return Err(err(op, "InvalidInput", "at most 256 ChildHealthChecks"));
    }
    if let Some(missing) = c
        .child_health_checks
        .iter()
        .find(|id| !s.checks.contains_key(id.as_str()))
    {
        return Err(err(
            op,
            "InvalidInput",
            format!("child health check {missing} does not exist"),
        ));
    }
    Ok(())
}

fn is_calculated(s: &State, id: &str) -> bool {
    s.checks
        .get(id)
        .and_then(|h| h.config.as_ref())
        .is_some_and(|c| c.check_type == crate::crd::HealthCheckType::Calculated)
}

/// Route 53's judgement of a check: an endpoint check is healthy when more than 18% of its
/// checkers say so (healthy before any data, as a new check is); a calculated check when at least
/// HealthThreshold children are healthy; Inverted flips either. `depth` guards against cycles.
fn check_healthy(s: &State, id: &str, depth: usize) -> bool {
    let Some(hc) = s.checks.get(id) else {
        return false;
    };
    let Some(cfg) = hc.config.as_ref() else {
        return true;
    };
    if cfg.check_type == crate::crd::HealthCheckType::Calculated {
        if depth > 8 {
            return false;
        }
        let healthy = cfg
            .child_health_checks
            .iter()
            .filter(|c| check_healthy(s, c, depth + 1))
            .count();
        let met = i64::try_from(healthy).unwrap_or(i64::MAX) >= i64::from(cfg.health_threshold);
        return met != cfg.inverted;
    }
    let obs = s.health.get(id).cloned().unwrap_or_default();
    if obs.is_empty() {
        return true;
    }
    let up = obs.iter().filter(|o| o.healthy).count();
    // set_health already reports what Inverted would make of the endpoint.
    up * 100 > obs.len() * 18
}

fn err(op: &'static str, code: &str, msg: impl Into<String>) -> Route53Error {
    Route53Error::new(op, Route53Error::kind_for_code(code), code, msg)
}

fn key(rs: &RecordSet) -> (String, String, Option<String>) {
    (fqdn(&rs.name), rs.rtype.clone(), rs.set_identifier.clone())
}

impl Route53 for FakeRoute53 {
    async fn get_hosted_zone(&self, id: &str) -> R53Result<Option<Zone>> {
        let mut s = self.lock();
        self.enter(&mut s, "GetHostedZone")?;
        Ok(s.zones.get(id).cloned())
    }

    async fn find_hosted_zones(&self, name: &str) -> R53Result<Vec<Zone>> {
        let mut s = self.lock();
        self.enter(&mut s, "ListHostedZonesByName")?;
        Ok(s.zones
            .values()
            .filter(|z| z.name == fqdn(name))
            .cloned()
            .collect())
    }

    async fn list_record_sets(&self, zone_id: &str, name: &str) -> R53Result<Vec<RecordSet>> {
        self.records_named("ListResourceRecordSets", zone_id, name)
    }

    /// The fake has no snapshot: it answers from its records like [`Route53::list_record_sets`], but
    /// counts the lookup as `Snapshot` so tests can tell a confirmation from a fresh read.
    async fn list_record_sets_cached(
        &self,
        zone_id: &str,
        name: &str,
    ) -> R53Result<Vec<RecordSet>> {
        self.records_named("Snapshot", zone_id, name)
    }

    async fn change_record_sets(
        &self,
        zone_id: &str,
        _comment: &str,
        changes: &[Change],
    ) -> R53Result<ChangeInfo> {
        const OP: &str = "ChangeResourceRecordSets";
        let mut s = self.lock();
        self.enter(&mut s, OP)?;
        let known_checks: HashSet<String> = s.checks.keys().cloned().collect();
        let mut sets = s
            .records
            .get(zone_id)
            .cloned()
            .ok_or_else(|| err(OP, "NoSuchHostedZone", zone_id))?;
        // Apply to a copy: the batch is all or nothing.
        for ch in changes {
            let rs = ch.record();
            let k = key(rs);
            let pos = sets.iter().position(|r| key(r) == k);
            let desc = format!(
                "[name='{}', type='{}', set-identifier='{}']",
                k.0,
                k.1,
                k.2.clone().unwrap_or_default()
            );
            if let Some(id) = &rs.health_check_id {
                if !matches!(ch, Change::Delete(_)) && !known_checks.contains(id) {
                    return Err(err(
                        OP,
                        "InvalidChangeBatch",
                        format!("Invalid request: HealthCheck {id} does not exist"),
                    ));
                }
            }
            if rs.failover == Some(crate::crd::Role::Primary)
                && rs.alias.is_none()
                && rs.health_check_id.is_none()
                && !matches!(ch, Change::Delete(_))
            {
                return Err(err(
                    OP,
                    "InvalidChangeBatch",
                    "A non-alias primary ResourceRecordSet must have an associated health check",
                ));
            }
            match (ch, pos) {
                (Change::Create(_), Some(_)) => {
                    return Err(err(
                        OP,
                        "InvalidChangeBatch",
                        format!("Tried to create resource record set {desc} but it already exists"),
                    ));
                }
                (Change::Create(r), None) | (Change::Upsert(r), None) => sets.push(r.clone()),
                (Change::Upsert(r), Some(i)) => sets[i] = r.clone(),
                (Change::Delete(_), None) => {
                    return Err(err(
                        OP,
                        "InvalidChangeBatch",
                        format!("Tried to delete resource record set {desc} but it was not found"),
                    ));
                }
                (Change::Delete(r), Some(i)) => {
                    if !same_record(&sets[i], r) {
                        return Err(err(
                            OP,
                            "InvalidChangeBatch",
                            format!(
                                "Tried to delete resource record set {desc} but the values provided do not match the current values"
                            ),
                        ));
                    }
                    sets.remove(i);
                }
            }
        }
        // Route 53 keeps at most one PRIMARY and one SECONDARY per failover name and type: a batch
        // that would leave two (say, CREATE ours before the DELETE of theirs) is refused.
        for ch in changes {
            let rs = ch.record();
            for role in crate::crd::Role::ALL {
                let same = sets
                    .iter()
                    .filter(|r| {
                        fqdn(&r.name) == fqdn(&rs.name)
                            && r.rtype == rs.rtype
                            && r.failover == Some(role)
                    })
                    .count();
                if same > 1 {
                    return Err(err(
                        OP,
                        "InvalidChangeBatch",
                        format!(
                            "RRSet with DNS name {}, type {} cannot be created because a {} failover RRSet with the same name and type already exists",
                            fqdn(&rs.name),
                            rs.rtype,
                            role.failover()
                        ),
                    ));
                }
            }
        }
        s.records.insert(zone_id.to_string(), sets);
        s.batches.push(changes.to_vec());
        s.next_id += 1;
        let id = format!("C{:010}", s.next_id);
        let insync = s.auto_insync;
        s.changes.insert(id.clone(), insync);
        Ok(ChangeInfo { id, insync })
    }

    async fn get_change(&self, id: &str) -> R53Result<ChangeInfo> {
        let mut s = self.lock();
        self.enter(&mut s, "GetChange")?;
        match s.changes.get(id) {
            Some(insync) => Ok(ChangeInfo {
                id: id.to_string(),
                insync: *insync,
            }),
            None => Err(err("GetChange", "NoSuchChange", id)),
        }
    }

    async fn list_health_checks(&self, prefix: &str) -> R53Result<Vec<HealthCheck>> {
        let mut s = self.lock();
        self.enter(&mut s, "ListHealthChecks")?;
        Ok(s.checks
            .values()
            .filter(|h| h.caller_reference.starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn list_health_checks_fresh(&self, prefix: &str) -> R53Result<Vec<HealthCheck>> {
        self.list_health_checks(prefix).await
    }

    async fn get_health_check(&self, id: &str) -> R53Result<Option<HealthCheck>> {
        let mut s = self.lock();
        self.enter(&mut s, "GetHealthCheck")?;
        Ok(s.checks.get(id).cloned())
    }

    async fn create_health_check(
        &self,
        caller_reference: &str,
        config: &HealthCheckConfig,
        tags: &[(String, String)],
    ) -> R53Result<HealthCheck> {
        const OP: &str = "CreateHealthCheck";
        let mut s = self.lock();
        self.enter(&mut s, OP)?;
        if let Some(why) = signal_refusal(config) {
            return Err(err(OP, "InvalidInput", why));
        }
        check_calculated(&s, OP, config)?;
        if s.deleted_refs.contains(caller_reference) {
            return Err(err(
                OP,
                "HealthCheckAlreadyExists",
                "CallerReference of a deleted health check",
            ));
        }
        if let Some(existing) = s
            .checks
            .values()
            .find(|h| h.caller_reference == caller_reference)
        {
            return if existing.config.as_ref() == Some(config) {
                Ok(existing.clone())
            } else {
                Err(err(
                    OP,
                    "HealthCheckAlreadyExists",
                    "same CallerReference, different settings",
                ))
            };
        }
        s.next_id += 1;
        let id = format!("{:08x}-fake-4000-8000-{:012x}", s.next_id, s.next_id);
        let hc = HealthCheck {
            id: id.clone(),
            caller_reference: caller_reference.to_string(),
            version: 1,
            config: Some(config.clone()),
        };
        s.checks.insert(id.clone(), hc.clone());
        *s.calls.entry("ChangeTagsForResource").or_default() += usize::from(!tags.is_empty());
        s.tags.insert(id, tags.to_vec());
        Ok(hc)
    }

    async fn update_health_check(
        &self,
        id: &str,
        version: i64,
        config: &HealthCheckConfig,
    ) -> R53Result<HealthCheck> {
        const OP: &str = "UpdateHealthCheck";
        let mut s = self.lock();
        self.enter(&mut s, OP)?;
        check_calculated(&s, OP, config)?;
        let hc = s
            .checks
            .get_mut(id)
            .ok_or_else(|| err(OP, "NoSuchHealthCheck", id))?;
        if hc.version != version {
            return Err(err(OP, "HealthCheckVersionMismatch", "version mismatch"));
        }
        if let Some(why) = signal_refusal(config) {
            return Err(err(OP, "InvalidInput", why));
        }
        if hc
            .config
            .as_ref()
            .is_some_and(|c| !config.updatable_from(c))
        {
            return Err(err(
                OP,
                "InvalidInput",
                "cannot change an immutable health check setting",
            ));
        }
        hc.version += 1;
        hc.config = Some(config.clone());
        Ok(hc.clone())
    }

    async fn health_check_tags(
        &self,
        ids: &[String],
    ) -> R53Result<HashMap<String, Vec<(String, String)>>> {
        let mut s = self.lock();
        for _ in ids.chunks(10) {
            self.enter(&mut s, "ListTagsForResources")?;
        }
        Ok(ids
            .iter()
            .map(|id| (id.clone(), s.tags.get(id).cloned().unwrap_or_default()))
            .collect())
    }

    async fn tag_health_check(&self, id: &str, tags: &[(String, String)]) -> R53Result<()> {
        let mut s = self.lock();
        self.enter(&mut s, "ChangeTagsForResource")?;
        if !s.checks.contains_key(id) {
            return Err(err("ChangeTagsForResource", "NoSuchHealthCheck", id));
        }
        let have = s.tags.entry(id.to_string()).or_default();
        for (k, v) in tags {
            match have.iter_mut().find(|(hk, _)| hk == k) {
                Some(t) => t.1 = v.clone(),
                None => have.push((k.clone(), v.clone())),
            }
        }
        Ok(())
    }

    async fn delete_health_check(&self, id: &str) -> R53Result<()> {
        let mut s = self.lock();
        self.enter(&mut s, "DeleteHealthCheck")?;
        if let Some(hc) = s.checks.remove(id) {
            s.deleted_refs.insert(hc.caller_reference);
            s.health.remove(id);
        }
        Ok(())
    }
}

impl HealthSource for FakeRoute53 {
    fn batch_limit(&self) -> usize {
        100
    }

    async fn read(&self, ids: &[String]) -> R53Result<HashMap<String, Reading>> {
        let mut out = HashMap::new();
        for id in ids {
            if let Some(r) = reading_of(self.health_status(id).await)? {
                out.insert(id.clone(), r);
            }
        }
        Ok(out)
    }
}

impl HealthView for FakeRoute53 {
    /// What a monitor that has just read every check would hold.
    fn reading(&self, id: &str) -> Option<Reading> {
        reading_of(observations(&self.lock(), id)).ok().flatten()
    }
}

impl FakeRoute53 {
    /// GetHealthCheckStatus.
    pub async fn health_status(&self, id: &str) -> R53Result<Vec<CheckerObservation>> {
        let mut s = self.lock();
        self.enter(&mut s, "GetHealthCheckStatus")?;
        observations(&s, id)
    }
}

impl FakeRoute53 {
    /// Route 53's judgement of a health check right now (see [`check_healthy`]); calculated
    /// checks are evaluated from their children.
    pub fn is_healthy(&self, id: &str) -> bool {
        check_healthy(&self.lock(), id, 0)
    }

    /// Set the health of an alias target that is an AWS resource (an ELB name, say), as
    /// EvaluateTargetHealth would see it; targets not set are healthy.
    pub fn set_target_health(&self, dns_name: &str, healthy: bool) {
        self.lock().target_health.insert(fqdn(dns_name), healthy);
    }

    /// The failover record Route 53 would answer `name`/`rtype` with now: the PRIMARY while it is
    /// healthy, else the SECONDARY while that is healthy, else the PRIMARY (both unhealthy). A
    /// record is healthy when its health check (if any) is, and, with EvaluateTargetHealth, its
    /// alias target is too (a record of the same zone by that record's own answer, another target
    /// by [`FakeRoute53::set_target_health`]). `None` when the name has no failover record.
    pub fn answer(&self, zone_id: &str, name: &str, rtype: &str) -> Option<crate::crd::Role> {
        let s = self.lock();
        answer_in(&s, zone_id, name, rtype, 0).map(|(role, _)| role)
    }
}

/// The answering role and its health, for [`FakeRoute53::answer`].
fn answer_in(
    s: &State,
    zone_id: &str,
    name: &str,
    rtype: &str,
    depth: usize,
) -> Option<(crate::crd::Role, bool)> {
    use crate::crd::Role;
    let sets = s.records.get(zone_id)?;
    let healthy = |r: &RecordSet| -> bool {
        let check = r
            .health_check_id
            .as_ref()
            .is_none_or(|id| check_healthy(s, id, 0));
        let target = match &r.alias {
            Some(a) if a.evaluate_target_health => {
                if a.hosted_zone_id == zone_id && depth < 8 {
                    answer_in(s, zone_id, &a.dns_name, rtype, depth + 1).is_some_and(|(_, h)| h)
                } else {
                    s.target_health
                        .get(&fqdn(&a.dns_name))
                        .copied()
                        .unwrap_or(true)
                }
            }
            _ => true,
        };
        check && target
    };
    let of = |role: Role| {
        sets.iter()
            .find(|r| fqdn(&r.name) == fqdn(name) && r.rtype == rtype && r.failover == Some(role))
    };
    match (of(Role::Primary), of(Role::Secondary)) {
        (Some(p), _) if healthy(p) => Some((Role::Primary, true)),
        (Some(_), Some(sec)) if healthy(sec) => Some((Role::Secondary, true)),
        (Some(_), _) => Some((Role::Primary, false)),
        (None, Some(sec)) => Some((Role::Secondary, healthy(sec))),
        (None, None) => None,
    }
}

impl FakeRoute53 {
    /// Add a health check created outside the operator (for `existingHealthCheckId`).
    pub fn add_foreign_health_check(
        &self,
        caller_reference: &str,
        config: &HealthCheckConfig,
    ) -> String {
        let mut s = self.lock();
        s.next_id += 1;
        let id = format!("{:08x}-ext0-4000-8000-{:012x}", s.next_id, s.next_id);
        s.checks.insert(
            id.clone(),
            HealthCheck {
                id: id.clone(),
                caller_reference: caller_reference.into(),
                version: 1,
                config: Some(config.clone()),
            },
        );
        id
    }
}

/// What Route 53 refuses in a CLOUDWATCH_METRIC or RECOVERY_CONTROL config (API reference,
/// HealthCheckConfig): a missing alarm or routing control ARN, an alarm region outside
/// CloudWatchRegion, an alarm name or ARN of the wrong length.
fn signal_refusal(config: &HealthCheckConfig) -> Option<&'static str> {
    use crate::crd::{CLOUDWATCH_REGIONS, HealthCheckType};
    match config.check_type {
        HealthCheckType::CloudwatchMetric => match (&config.alarm_region, &config.alarm_name) {
            (Some(region), Some(name)) => {
                if !CLOUDWATCH_REGIONS.contains(&region.as_str()) {
                    Some("AlarmIdentifier.Region is not a CloudWatchRegion")
                } else if name.is_empty() || name.chars().count() > 256 {
                    Some("AlarmIdentifier.Name must hold 1 to 256 characters")
                } else {
                    None
                }
            }
            _ => Some("AlarmIdentifier is required for CLOUDWATCH_METRIC"),
        },
        HealthCheckType::RecoveryControl => match &config.routing_control_arn {
            Some(arn) if !arn.is_empty() && arn.len() <= 255 => None,
            Some(_) => Some("RoutingControlArn must hold 1 to 255 characters"),
            None => Some("RoutingControlArn is required for RECOVERY_CONTROL"),
        },
        _ => None,
    }
}
