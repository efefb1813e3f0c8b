//! Prometheus metrics. Labels are bounded: error kinds, Route 53 operations and outcomes, roles and
//! health states — never object names or error messages. Per-record health and role are exported as
//! counts of records in each state.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::crd::{Health, Role};

/// Label set of reconcile errors.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// Error kind (see `Error::metric_label`).
    pub error: &'static str,
}

/// Label set of Route 53 calls.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// API operation.
    pub operation: &'static str,
    /// `success` or the error kind.
    pub outcome: &'static str,
}

/// Label set of zone snapshot lookups.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SnapshotLabels {
    /// `hit` (served from a zone snapshot), `list` (the zone was listed) or `read` (the name was
    /// read on its own).
    pub result: &'static str,
}

/// Label set of failovers.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabels {
    /// `primary` or `secondary`.
    pub role: &'static str,
}

/// Label set of endpoint health counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// `primary` or `secondary`.
    pub role: &'static str,
    /// `healthy`, `unhealthy` or `unknown`.
    pub health: &'static str,
}

/// Label set of readiness counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyLabels {
    /// `True`, `False` or `Unknown`.
    pub ready: &'static str,
}

/// What one record contributes to the state gauges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordState {
    /// Active role.
    pub active: Option<Role>,
    /// Health of primary and secondary.
    pub health: [Health; 2],
    /// Ready status.
    pub ready: &'static str,
}

/// All metrics of the operator.
#[derive(Debug)]
pub struct Metrics {
    /// Reconciles started.
    pub reconciles: Counter,
    /// Reconcile failures by error kind.
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// Reconcile duration.
    pub reconcile_duration: Histogram,
    /// Route 53 calls by operation and outcome.
    pub route53_calls: Family<CallLabels, Counter>,
    /// CloudWatch calls (health reads) by operation and outcome.
    pub cloudwatch_calls: Family<CallLabels, Counter>,
    /// Steady-state record lookups by how they were served (see `route53::snapshot`).
    pub snapshot_lookups: Family<SnapshotLabels, Counter>,
    /// Route 53 call latency (seconds), all operations.
    pub route53_call_duration: Histogram,
    /// Callers' change lists per ChangeResourceRecordSets call sent by the batcher.
    pub route53_change_batch_members: Histogram,
    /// Changes per ChangeResourceRecordSets call sent by the batcher.
    pub route53_change_batch_changes: Histogram,
    /// Combined ChangeResourceRecordSets calls refused for a reason one member may have caused, and
    /// split to find out whose.
    pub route53_change_batch_splits: Counter,
    /// Failovers (changes of the active role) by the role now active.
    pub failovers: Family<RoleLabels, Counter>,
    /// Records by active role.
    pub records_active: Family<RoleLabels, Gauge>,
    /// Endpoints by role and health.
    pub endpoints: Family<EndpointLabels, Gauge>,
    /// Records by Ready status.
    pub records_ready: Family<ReadyLabels, Gauge>,
    /// 1 while this replica holds the leader Lease.
    pub leader: Gauge,
    /// Health checks whose health the monitor reads.
    pub health_checks_monitored: Gauge,
    /// Seconds between the last two reads of one check: the poll interval when the health budget
    /// allows it, longer when it does not.
    pub health_read_interval: Gauge<f64, std::sync::atomic::AtomicU64>,
    states: Mutex<HashMap<String, RecordState>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            reconciles: Counter::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            route53_calls: Family::default(),
            cloudwatch_calls: Family::default(),
            snapshot_lookups: Family::default(),
            route53_call_duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            route53_change_batch_members: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            route53_change_batch_changes: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            route53_change_batch_splits: Counter::default(),
            failovers: Family::default(),
            records_active: Family::default(),
            endpoints: Family::default(),
            records_ready: Family::default(),
            leader: Gauge::default(),
            health_checks_monitored: Gauge::default(),
            health_read_interval: Gauge::default(),
            states: Mutex::new(HashMap::new()),
        }
    }
}

fn health_label(h: Health) -> &'static str {
    match h {
        Health::Healthy => "healthy",
        Health::Unhealthy => "unhealthy",
        Health::Unknown => "unknown",
    }
}

impl Metrics {
    /// Register everything under the `route53_failover` prefix.
    pub fn register(self: &std::sync::Arc<Self>, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("route53_failover");
        r.register("reconciles", "Reconciles started", self.reconciles.clone());
        r.register(
            "reconcile_errors",
            "Reconcile failures by error kind",
            self.reconcile_errors.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            self.reconcile_duration.clone(),
        );
        r.register(
            "route53_requests",
            "Route 53 API requests by operation and outcome",
            self.route53_calls.clone(),
        );
        r.register(
            "cloudwatch_requests",
            "CloudWatch API requests (health reads) by operation and outcome",
            self.cloudwatch_calls.clone(),
        );
        r.register(
            "route53_zone_snapshot_lookups",
            "Steady-state record lookups: served from a zone snapshot (hit), by listing the zone (list) or by reading the name (read)",
            self.snapshot_lookups.clone(),
        );
        r.register(
            "route53_request_duration_seconds",
            "Route 53 API request latency",
            self.route53_call_duration.clone(),
        );
        r.register(
            "route53_change_batch_members",
            "Callers' change lists combined into one ChangeResourceRecordSets call",
            self.route53_change_batch_members.clone(),
        );
        r.register(
            "route53_change_batch_changes",
            "Changes per ChangeResourceRecordSets call of the batcher",
            self.route53_change_batch_changes.clone(),
        );
        r.register(
            "route53_change_batch_splits",
            "Combined ChangeResourceRecordSets calls refused and split to give each caller its own answer",
            self.route53_change_batch_splits.clone(),
        );
        r.register(
            "failovers",
            "Changes of the active role, by the role now active",
            self.failovers.clone(),
        );
        r.register(
            "records_active",
            "FailoverRecords by the role Route 53 answers with",
            self.records_active.clone(),
        );
        r.register(
            "endpoints",
            "Endpoints by role and Route 53 health",
            self.endpoints.clone(),
        );
        r.register(
            "records_ready",
            "FailoverRecords by Ready condition status",
            self.records_ready.clone(),
        );
        r.register(
            "leader",
            "1 while this replica holds the leader Lease",
            self.leader.clone(),
        );
        r.register(
            "health_checks_monitored",
            "Health checks whose health is read",
            self.health_checks_monitored.clone(),
        );
        r.register(
            "health_read_interval_seconds",
            "Seconds between two reads of the health of one check (longer than the poll interval when the health budget cannot read every check within it)",
            self.health_read_interval.clone(),
        );
    }

    /// Start timing a reconcile; the duration is observed when the guard drops.
    pub fn reconcile_timer(&self) -> ReconcileTimer<'_> {
        self.reconciles.inc();
        ReconcileTimer {
            metrics: self,
            start: Instant::now(),
        }
    }

    /// Count a Route 53 call.
    pub fn route53_call(&self, operation: &'static str, outcome: &'static str, seconds: f64) {
        self.route53_calls
            .get_or_create(&CallLabels { operation, outcome })
            .inc();
        self.route53_call_duration.observe(seconds);
    }

    /// Observe one ChangeResourceRecordSets call of the batcher: `members` callers' lists, `changes`
    /// changes in all.
    pub fn route53_change_batch(&self, members: usize, changes: usize) {
        self.route53_change_batch_members.observe(members as f64);
        self.route53_change_batch_changes.observe(changes as f64);
    }

    /// Count a CloudWatch call.
    pub fn cloudwatch_call(&self, operation: &'static str, outcome: &'static str) {
        self.cloudwatch_calls
            .get_or_create(&CallLabels { operation, outcome })
            .inc();
    }

    /// Count a steady-state record lookup by how it was served.
    pub fn snapshot_lookup(&self, result: &'static str) {
        self.snapshot_lookups
            .get_or_create(&SnapshotLabels { result })
            .inc();
    }

    /// Count a failover to `to`.
    pub fn failover(&self, to: Role) {
        self.failovers
            .get_or_create(&RoleLabels { role: to.short() })
            .inc();
    }

    /// Record (or, with `None`, forget) one record's state and refresh the state gauges.
    pub fn set_record_state(&self, uid: &str, state: Option<RecordState>) {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        match state {
            Some(s) => {
                if states.get(uid) == Some(&s) {
                    return;
                }
                states.insert(uid.to_string(), s);
            }
            None => {
                if states.remove(uid).is_none() {
                    return;
                }
            }
        }
        let mut active: HashMap<&'static str, i64> = HashMap::new();
        let mut endpoints: HashMap<(&'static str, &'static str), i64> = HashMap::new();
        let mut ready: HashMap<&'static str, i64> = HashMap::new();
        for s in states.values() {
            if let Some(r) = s.active {
                *active.entry(r.short()).or_default() += 1;
            }
            for (i, r) in Role::ALL.into_iter().enumerate() {
                *endpoints
                    .entry((r.short(), health_label(s.health[i])))
                    .or_default() += 1;
            }
            *ready.entry(s.ready).or_default() += 1;
        }
        for role in ["primary", "secondary"] {
            self.records_active
                .get_or_create(&RoleLabels { role })
                .set(active.get(role).copied().unwrap_or(0));
            for health in ["healthy", "unhealthy", "unknown"] {
                self.endpoints
                    .get_or_create(&EndpointLabels { role, health })
                    .set(endpoints.get(&(role, health)).copied().unwrap_or(0));
            }
        }
        for r in ["True", "False", "Unknown"] {
            self.records_ready
                .get_or_create(&ReadyLabels { ready: r })
                .set(ready.get(r).copied().unwrap_or(0));
        }
    }
}

/// Observes the reconcile duration on drop.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .reconcile_duration
            .observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn state_gauges_count_records_not_names() {
        let m = Arc::new(Metrics::default());
        let mut reg = Registry::default();
        m.register(&mut reg);
        let s = RecordState {
            active: Some(Role::Secondary),
            health: [Health::Unhealthy, Health::Healthy],
            ready: "True",
        };
        m.set_record_state("uid-1", Some(s));
        m.set_record_state("uid-2", Some(s));
        m.failover(Role::Secondary);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).expect("encode");
        assert!(
            out.contains("route53_failover_records_active{role=\"secondary\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("route53_failover_endpoints{role=\"primary\",health=\"unhealthy\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("route53_failover_failovers_total{role=\"secondary\"} 1"),
            "{out}"
        );
        assert!(!out.contains("uid-1"));
        m.set_record_state("uid-1", None);
        m.set_record_state("uid-2", None);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).expect("encode");
        assert!(
            out.contains("route53_failover_records_active{role=\"secondary\"} 0"),
            "{out}"
        );
    }
}
