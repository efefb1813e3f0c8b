//! Prometheus metrics.
//!
//! Two kinds of series:
//! - operator-wide ones, whose labels are bounded sets (error kinds, Route 53 operations and
//!   outcomes, roles, health states): never object names or error messages;
//! - per-object ones in the style of kube-state-metrics (`route53_failover_record_*`), labelled with
//!   the `namespace` and `name` of one FailoverRecord: a fixed number of series per object
//!   ([`SERIES_PER_RECORD`] at most), removed when the object is deleted, released or no longer this
//!   installation's, and all of them when the replica stops leading. Their cardinality is the number
//!   of FailoverRecords this installation handles.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::crd::{Health, Role};

/// Most series one FailoverRecord adds: 2 active-role, 6 endpoint-health, 3 ready, 1 last-failover
/// and 1 last-full-sync series.
pub const SERIES_PER_RECORD: usize = 13;

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

/// Label set of Route 53 call latency: the API operation (a fixed set of names).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// API operation.
    pub operation: &'static str,
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

/// Label set of `build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// The crate version.
    pub version: &'static str,
}

/// Which FailoverRecord a per-object series is about.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    /// Namespace of the FailoverRecord.
    pub namespace: String,
    /// Name of the FailoverRecord.
    pub name: String,
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
    /// When the active role last changed (Unix seconds), as written in status.
    pub last_failover: Option<i64>,
}

/// What the metrics remember of one FailoverRecord (by uid): every per-object series is rendered
/// from it on each scrape ([`RecordSeries`]), so an object costs one entry, not one labelled series
/// (with its own copies of the namespace and name) per series.
#[derive(Clone, Debug)]
struct Tracked {
    object: ObjectLabels,
    state: Option<RecordState>,
    /// When its last full sync succeeded (Unix seconds).
    last_full_sync: Option<f64>,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

const ROLES: [&str; 2] = ["primary", "secondary"];
const HEALTHS: [&str; 3] = ["healthy", "unhealthy", "unknown"];
const READY_STATUSES: [&str; 3] = ["True", "False", "Unknown"];

/// All metrics of the operator.
#[derive(Debug)]
pub struct Metrics {
    /// Reconciles started.
    pub reconciles: Counter,
    /// Reconciles running now (kube-runtime's scheduler does not expose its queue; this is the
    /// part of it that is being worked on, at most `--max-concurrent-reconciles`).
    pub reconciles_in_flight: Gauge,
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
    /// Route 53 call latency (seconds) by operation.
    pub route53_call_duration: HistogramFamily<OperationLabels>,
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
    /// Distinct Route 53 changes waited for to be INSYNC (each polled once per
    /// `--change-poll-interval`, whatever the number of objects in it).
    pub changes_propagating: Gauge,
    /// Seconds between the last two reads of one check: the poll interval when the health budget
    /// allows it, longer when it does not.
    pub health_read_interval: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Always 1, labelled with the version.
    pub build_info: Family<BuildLabels, Gauge>,
    /// The records with per-object series (`record_*`, rendered by [`RecordSeries`]), by uid.
    records: Mutex<HashMap<String, Tracked>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            reconciles: Counter::default(),
            reconciles_in_flight: Gauge::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: latency_histogram(),
            route53_calls: Family::default(),
            cloudwatch_calls: Family::default(),
            snapshot_lookups: Family::default(),
            route53_call_duration: Family::new_with_constructor(latency_histogram),
            route53_change_batch_members: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            route53_change_batch_changes: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            route53_change_batch_splits: Counter::default(),
            failovers: Family::default(),
            records_active: Family::default(),
            endpoints: Family::default(),
            records_ready: Family::default(),
            leader: Gauge::default(),
            health_checks_monitored: Gauge::default(),
            changes_propagating: Gauge::default(),
            health_read_interval: Gauge::default(),
            build_info: Family::default(),
            records: Mutex::new(HashMap::new()),
        };
        m.build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        m
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
        r.register(
            "build_info",
            "Always 1; the operator's version is in the version label",
            self.build_info.clone(),
        );
        r.register("reconciles", "Reconciles started", self.reconciles.clone());
        r.register(
            "reconciles_in_flight",
            "Reconciles running now (at most --max-concurrent-reconciles)",
            self.reconciles_in_flight.clone(),
        );
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
            "Route 53 API request latency by operation",
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
            "changes_propagating",
            "Distinct Route 53 changes waited for to be INSYNC, each polled once per --change-poll-interval",
            self.changes_propagating.clone(),
        );
        r.register(
            "health_read_interval_seconds",
            "Seconds between two reads of the health of one check (longer than the poll interval when the health budget cannot read every check within it)",
            self.health_read_interval.clone(),
        );
        r.register_collector(Box::new(RecordSeries(self.clone())));
    }

    /// Start timing a reconcile; the duration is observed, and the in-flight count lowered, when the
    /// guard drops.
    pub fn reconcile_timer(&self) -> ReconcileTimer<'_> {
        self.reconciles.inc();
        self.reconciles_in_flight.inc();
        ReconcileTimer {
            metrics: self,
            start: Instant::now(),
        }
    }

    /// Count a Route 53 call and observe its latency.
    pub fn route53_call(&self, operation: &'static str, outcome: &'static str, seconds: f64) {
        self.route53_calls
            .get_or_create(&CallLabels { operation, outcome })
            .inc();
        self.route53_call_duration
            .get_or_create(&OperationLabels { operation })
            .observe(seconds);
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tracked>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record one record's state: its per-object series and the counts of records in each state.
    pub fn set_record_state(&self, uid: &str, object: &ObjectLabels, state: RecordState) {
        let mut records = self.lock();
        let tracked = records.entry(uid.to_string()).or_insert_with(|| Tracked {
            object: object.clone(),
            state: None,
            last_full_sync: None,
        });
        if tracked.state == Some(state) && tracked.object == *object {
            return;
        }
        if tracked.object != *object {
            tracked.object = object.clone();
        }
        tracked.state = Some(state);
        self.recount(&records);
    }

    /// A full sync of the record succeeded at `unix_seconds`.
    pub fn record_full_sync(&self, uid: &str, object: &ObjectLabels, unix_seconds: f64) {
        let mut records = self.lock();
        let tracked = records.entry(uid.to_string()).or_insert_with(|| Tracked {
            object: object.clone(),
            state: None,
            last_full_sync: None,
        });
        if tracked.object != *object {
            tracked.object = object.clone();
        }
        tracked.last_full_sync = Some(unix_seconds);
    }

    /// Forget a record (deleted, released, or not this installation's): every series of it is
    /// removed and the counts refreshed.
    pub fn forget_record(&self, uid: &str) {
        let mut records = self.lock();
        if records.remove(uid).is_none() {
            return;
        }
        self.recount(&records);
    }

    /// The uids of the records that have series now.
    pub fn tracked_records(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Forget every record (the replica stopped leading: another one reports them now).
    pub fn forget_all_records(&self) {
        let mut records = self.lock();
        records.clear();
        self.recount(&records);
    }

    /// Refresh the counts of records by state from every record's state.
    fn recount(&self, records: &HashMap<String, Tracked>) {
        let mut active: HashMap<&'static str, i64> = HashMap::new();
        let mut endpoints: HashMap<(&'static str, &'static str), i64> = HashMap::new();
        let mut ready: HashMap<&'static str, i64> = HashMap::new();
        for s in records.values().filter_map(|t| t.state.as_ref()) {
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
        for role in ROLES {
            self.records_active
                .get_or_create(&RoleLabels { role })
                .set(active.get(role).copied().unwrap_or(0));
            for health in HEALTHS {
                self.endpoints
                    .get_or_create(&EndpointLabels { role, health })
                    .set(endpoints.get(&(role, health)).copied().unwrap_or(0));
            }
        }
        for r in READY_STATUSES {
            self.records_ready
                .get_or_create(&ReadyLabels { ready: r })
                .set(ready.get(r).copied().unwrap_or(0));
        }
    }
}

/// The per-object series (`route53_failover_record_*`), rendered on each scrape from the tracked
/// records: at most [`SERIES_PER_RECORD`] per record, gone as soon as the record is forgotten.
#[derive(Debug)]
struct RecordSeries(std::sync::Arc<Metrics>);

/// The `namespace` and `name` labels of a record's series.
fn object(o: &ObjectLabels) -> [(&'static str, &str); 2] {
    [
        ("namespace", o.namespace.as_str()),
        ("name", o.name.as_str()),
    ]
}

impl Collector for RecordSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let records = self.0.lock();
        let mut tracked: Vec<&Tracked> = records.values().collect();
        tracked.sort_by(|a, b| {
            (&a.object.namespace, &a.object.name).cmp(&(&b.object.namespace, &b.object.name))
        });
        let states = || {
            tracked
                .iter()
                .filter_map(|t| Some((&t.object, t.state.as_ref()?)))
        };
        {
            let mut family = encoder.encode_descriptor(
                "record_active_role",
                "Per FailoverRecord and role: 1 for the role Route 53 answers with, else 0",
                None,
                MetricType::Gauge,
            )?;
            for (o, s) in states() {
                for role in Role::ALL {
                    let [ns, name] = object(o);
                    let labels = [ns, name, ("role", role.short())];
                    ConstGauge::new(i64::from(s.active == Some(role)))
                        .encode(family.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "record_endpoint_health",
                "Per FailoverRecord, endpoint role and health state: 1 for the endpoint's Route 53 health, else 0",
                None,
                MetricType::Gauge,
            )?;
            for (o, s) in states() {
                for (i, role) in Role::ALL.into_iter().enumerate() {
                    let current = health_label(s.health[i]);
                    for health in HEALTHS {
                        let [ns, name] = object(o);
                        let labels = [ns, name, ("role", role.short()), ("health", health)];
                        ConstGauge::new(i64::from(health == current))
                            .encode(family.encode_family(&labels)?)?;
                    }
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "record_ready",
                "Per FailoverRecord and status: 1 for the status of its Ready condition, else 0",
                None,
                MetricType::Gauge,
            )?;
            for (o, s) in states() {
                for status in READY_STATUSES {
                    let [ns, name] = object(o);
                    let labels = [ns, name, ("status", status)];
                    ConstGauge::new(i64::from(status == s.ready))
                        .encode(family.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "record_last_failover_timestamp_seconds",
                "Per FailoverRecord: when the active role last changed (Unix seconds, from status.lastFailoverTime)",
                None,
                MetricType::Gauge,
            )?;
            for (o, s) in states() {
                if let Some(t) = s.last_failover {
                    ConstGauge::new(t as f64).encode(family.encode_family(&object(o))?)?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "record_last_full_sync_timestamp_seconds",
                "Per FailoverRecord: when its last full sync with Route 53 succeeded in this process (Unix seconds)",
                None,
                MetricType::Gauge,
            )?;
            for t in &tracked {
                if let Some(at) = t.last_full_sync {
                    ConstGauge::new(at).encode(family.encode_family(&object(&t.object))?)?;
                }
            }
        }
        Ok(())
    }
}

/// Observes the reconcile duration and lowers the in-flight count on drop.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics.reconciles_in_flight.dec();
        self.metrics
            .reconcile_duration
            .observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn registered() -> (Arc<Metrics>, Registry) {
        let m = Arc::new(Metrics::default());
        let mut reg = Registry::default();
        m.register(&mut reg);
        (m, reg)
    }

    fn scrape(reg: &Registry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, reg).expect("encode");
        out
    }

    /// Sample lines (not comments) that mention `needle`.
    fn samples<'a>(out: &'a str, needle: &str) -> Vec<&'a str> {
        out.lines()
            .filter(|l| !l.starts_with('#') && l.contains(needle))
            .collect()
    }

    fn object(namespace: &str, name: &str) -> ObjectLabels {
        ObjectLabels {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    const FAILED_OVER: RecordState = RecordState {
        active: Some(Role::Secondary),
        health: [Health::Unhealthy, Health::Healthy],
        ready: "True",
        last_failover: Some(1_700_000_000),
    };

    #[test]
    fn state_gauges_count_records() {
        let (m, reg) = registered();
        m.set_record_state("uid-1", &object("a", "one"), FAILED_OVER);
        m.set_record_state("uid-2", &object("b", "two"), FAILED_OVER);
        m.failover(Role::Secondary);
        let out = scrape(&reg);
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
        assert!(!out.contains("uid-1"), "uids are never labels");
        m.forget_record("uid-1");
        m.forget_record("uid-2");
        let out = scrape(&reg);
        assert!(
            out.contains("route53_failover_records_active{role=\"secondary\"} 0"),
            "{out}"
        );
    }

    #[test]
    fn per_object_series_follow_the_state_and_are_removed_when_forgotten() {
        let (m, reg) = registered();
        let one = object("apps", "one");
        m.set_record_state("uid-1", &one, FAILED_OVER);
        m.record_full_sync("uid-1", &one, 1_700_000_100.5);
        m.set_record_state(
            "uid-2",
            &object("apps", "two"),
            RecordState {
                active: Some(Role::Primary),
                health: [Health::Healthy, Health::Unknown],
                ready: "False",
                last_failover: None,
            },
        );
        let out = scrape(&reg);
        for line in [
            "route53_failover_record_active_role{namespace=\"apps\",name=\"one\",role=\"secondary\"} 1",
            "route53_failover_record_active_role{namespace=\"apps\",name=\"one\",role=\"primary\"} 0",
            "route53_failover_record_endpoint_health{namespace=\"apps\",name=\"one\",role=\"primary\",health=\"unhealthy\"} 1",
            "route53_failover_record_endpoint_health{namespace=\"apps\",name=\"one\",role=\"primary\",health=\"healthy\"} 0",
            "route53_failover_record_endpoint_health{namespace=\"apps\",name=\"one\",role=\"secondary\",health=\"healthy\"} 1",
            "route53_failover_record_ready{namespace=\"apps\",name=\"one\",status=\"True\"} 1",
            "route53_failover_record_ready{namespace=\"apps\",name=\"one\",status=\"False\"} 0",
            "route53_failover_record_last_failover_timestamp_seconds{namespace=\"apps\",name=\"one\"} 1700000000.0",
            "route53_failover_record_last_full_sync_timestamp_seconds{namespace=\"apps\",name=\"one\"} 1700000100.5",
            "route53_failover_record_active_role{namespace=\"apps\",name=\"two\",role=\"primary\"} 1",
            "route53_failover_record_endpoint_health{namespace=\"apps\",name=\"two\",role=\"secondary\",health=\"unknown\"} 1",
            "route53_failover_record_ready{namespace=\"apps\",name=\"two\",status=\"False\"} 1",
            "route53_failover_records_ready{ready=\"True\"} 1",
            "route53_failover_records_ready{ready=\"False\"} 1",
        ] {
            assert!(out.contains(line), "missing {line}:\n{out}");
        }
        // The documented cardinality: SERIES_PER_RECORD series for a record with every timestamp.
        assert_eq!(
            samples(&out, "name=\"one\"").len(),
            SERIES_PER_RECORD,
            "{out}"
        );
        assert_eq!(
            samples(&out, "name=\"two\"").len(),
            SERIES_PER_RECORD - 2,
            "{out}"
        );

        // A failback: the values move, the series stay.
        m.set_record_state(
            "uid-1",
            &one,
            RecordState {
                active: Some(Role::Primary),
                health: [Health::Healthy, Health::Healthy],
                ready: "True",
                last_failover: Some(1_700_000_200),
            },
        );
        let out = scrape(&reg);
        assert!(out.contains("route53_failover_record_active_role{namespace=\"apps\",name=\"one\",role=\"primary\"} 1"), "{out}");
        assert!(out.contains("route53_failover_record_active_role{namespace=\"apps\",name=\"one\",role=\"secondary\"} 0"), "{out}");
        assert!(out.contains("route53_failover_record_last_failover_timestamp_seconds{namespace=\"apps\",name=\"one\"} 1700000200.0"), "{out}");

        // Deleted: not one series of it is left; the other record's stay.
        m.forget_record("uid-1");
        let out = scrape(&reg);
        assert_eq!(samples(&out, "name=\"one\""), Vec::<&str>::new(), "{out}");
        assert_eq!(samples(&out, "name=\"two\"").len(), SERIES_PER_RECORD - 2);
        assert!(
            out.contains("route53_failover_records_ready{ready=\"True\"} 0"),
            "{out}"
        );
        // Forgetting twice, or something never seen, is harmless.
        m.forget_record("uid-1");
        m.forget_record("never-seen");

        // A replica that stops leading drops them all.
        m.forget_all_records();
        let out = scrape(&reg);
        assert_eq!(samples(&out, "namespace=").len(), 0, "{out}");
        assert!(
            out.contains("route53_failover_records_ready{ready=\"False\"} 0"),
            "{out}"
        );
    }

    /// The per-object series are rendered from one entry per record (not kept as labelled
    /// series): every family is described once, as a gauge, with or without records.
    #[test]
    fn per_object_families_are_described_once_as_gauges() {
        let (m, reg) = registered();
        for out in [scrape(&reg), {
            m.set_record_state("uid-1", &object("apps", "one"), FAILED_OVER);
            m.record_full_sync("uid-1", &object("apps", "one"), 2.5);
            scrape(&reg)
        }] {
            for family in [
                "record_active_role",
                "record_endpoint_health",
                "record_ready",
                "record_last_failover_timestamp_seconds",
                "record_last_full_sync_timestamp_seconds",
            ] {
                let ty = format!("# TYPE route53_failover_{family} gauge");
                assert_eq!(out.lines().filter(|l| *l == ty).count(), 1, "{out}");
                let help = format!("# HELP route53_failover_{family} Per FailoverRecord");
                assert_eq!(
                    out.lines().filter(|l| l.starts_with(&help)).count(),
                    1,
                    "{out}"
                );
            }
        }
        assert!(
            scrape(&reg).contains(
                "route53_failover_record_last_full_sync_timestamp_seconds{namespace=\"apps\",name=\"one\"} 2.5"
            )
        );
    }

    #[test]
    fn a_record_forgotten_after_only_a_full_sync_leaves_nothing() {
        let (m, reg) = registered();
        m.record_full_sync("uid-1", &object("apps", "one"), 1.0);
        assert_eq!(samples(&scrape(&reg), "name=\"one\"").len(), 1);
        m.forget_record("uid-1");
        assert_eq!(samples(&scrape(&reg), "name=\"one\"").len(), 0);
    }

    #[test]
    fn build_info_in_flight_and_latency_by_operation() {
        let (m, reg) = registered();
        let out = scrape(&reg);
        assert!(
            out.contains(&format!(
                "route53_failover_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            )),
            "{out}"
        );
        {
            let _a = m.reconcile_timer();
            let _b = m.reconcile_timer();
            assert!(scrape(&reg).contains("route53_failover_reconciles_in_flight 2"));
        }
        let out = scrape(&reg);
        assert!(
            out.contains("route53_failover_reconciles_in_flight 0"),
            "{out}"
        );
        assert!(
            out.contains("route53_failover_reconcile_duration_seconds_count 2"),
            "{out}"
        );
        m.route53_call("GetChange", "success", 0.004);
        m.route53_call("GetChange", "throttled", 0.3);
        m.route53_call("ChangeResourceRecordSets", "success", 0.7);
        let out = scrape(&reg);
        for line in [
            "route53_failover_route53_request_duration_seconds_count{operation=\"GetChange\"} 2",
            "route53_failover_route53_request_duration_seconds_bucket{le=\"0.005\",operation=\"GetChange\"} 1",
            "route53_failover_route53_request_duration_seconds_count{operation=\"ChangeResourceRecordSets\"} 1",
            "route53_failover_route53_request_duration_seconds_bucket{le=\"0.64\",operation=\"ChangeResourceRecordSets\"} 0",
            "route53_failover_route53_requests_total{operation=\"GetChange\",outcome=\"throttled\"} 1",
        ] {
            assert!(out.contains(line), "missing {line}:\n{out}");
        }
    }
}
