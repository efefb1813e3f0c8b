//! Memory per FailoverRecord: builds, for N objects, what the controller holds per object and prints
//! the heap bytes (and allocations) each part takes, counted by the global allocator.
//!
//! ```text
//! cargo run --example memory --features test-util -- --objects 10000
//! ```
//!
//! (`--release` runs faster.)
//!
//! The objects are the benchmark's (`scripts/bench`: a TCP-checked primary, an unchecked secondary),
//! as the API server sends them once the operator has reconciled them: `managedFields` of
//! `kubectl apply --server-side`, of the operator's finalizer patch and of its status apply, a
//! `kubectl.kubernetes.io/last-applied-configuration` annotation (left by an earlier client-side
//! `kubectl apply`), and a `Ready` status. Heap bytes are what the program asked for; the allocator
//! adds about 8 to 16 bytes per allocation, and RSS adds what it does not give back. Asserts nothing.

use std::alloc::System;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_route53::types as t;
use kube::runtime::reflector::ObjectRef;
use route53_failover_operator::accounts::INSTALLATION;
use route53_failover_operator::controller::{Context, Settings, Watched};
use route53_failover_operator::crd::{FailoverRecordStatus, Health, Role};
use route53_failover_operator::health::{EndpointHealth, HealthSource, Reading};
use route53_failover_operator::metrics::{Metrics, ObjectLabels, RecordState};
use route53_failover_operator::naming;
use route53_failover_operator::route53::R53Result;
use route53_failover_operator::route53::aws::AwsRoute53;
use route53_failover_operator::route53::budget::Budget;
use route53_failover_operator::route53::fake::FakeRoute53;
use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const OWNER: &str = "bench";
const ZONE_ID: &str = "Z0123456789ABCDEFGHIJ";

/// Live heap bytes and allocations now.
fn live() -> (i64, i64) {
    let s = GLOBAL.stats();
    (
        // A reallocation is counted in `bytes_allocated` or `bytes_deallocated` too.
        s.bytes_allocated as i64 - s.bytes_deallocated as i64,
        s.allocations as i64 - s.deallocations as i64,
    )
}

struct Meter {
    n: usize,
    total: (i64, i64),
}

impl Meter {
    /// Build `f`'s structures, print what they hold per object, and keep them alive.
    fn part<T>(&mut self, name: &str, f: impl FnOnce() -> T) -> T {
        let before = live();
        let kept = f();
        let after = live();
        let (bytes, allocs) = (after.0 - before.0, after.1 - before.1);
        self.total = (self.total.0 + bytes, self.total.1 + allocs);
        self.line(name, bytes, allocs);
        kept
    }

    fn line(&self, name: &str, bytes: i64, allocs: i64) {
        let n = self.n as f64;
        println!(
            "{name:<52} {:>9.0} B/object {:>7.1} allocations/object {:>8.1} MiB at {}",
            bytes as f64 / n,
            allocs as f64 / n,
            bytes as f64 / 1024.0 / 1024.0,
            self.n
        );
    }
}

fn uid(i: usize) -> String {
    format!("6f1c{i:04x}-9a7e-4b2c-8d3f-{i:012x}")
}

/// A `Ready` status as the operator writes it for a benchmark object.
fn status(i: usize, uid: &str) -> Value {
    let t = "2026-11-27T04:02:11Z";
    let cond = |ty: &str, reason: &str, message: &str| {
        json!({"type": ty, "status": "True", "reason": reason, "message": message,
               "observedGeneration": 1, "lastTransitionTime": t})
    };
    json!({
        "observedGeneration": 1,
        "activeRole": "Primary",
        "hostedZoneId": ZONE_ID,
        "primary": {"setIdentifier": naming::set_identifier(OWNER, uid, Role::Primary),
                    "healthCheckId": hc_id(i), "health": "Healthy",
                    "checkersHealthy": 16, "checkersTotal": 16},
        "secondary": {"setIdentifier": naming::set_identifier(OWNER, uid, Role::Secondary),
                      "health": "Unknown", "checkersHealthy": 0, "checkersTotal": 0},
        "change": {"id": format!("C{:020}", i / 10), "status": "INSYNC"},
        "conditions": [
            cond("Ready", "Synced", "Route 53 matches the spec and the last change is INSYNC"),
            cond("PrimaryHealthy", "Healthy", "16/16 Route 53 checkers report healthy"),
            {"type": "SecondaryHealthy", "status": "Unknown", "reason": "NoHealthCheck",
             "message": "the secondary endpoint has no health check", "observedGeneration": 1,
             "lastTransitionTime": t},
        ],
    })
}

fn hc_id(i: usize) -> String {
    format!("0b9c{i:04x}-1e2d-4c3b-9a8f-{i:012x}")
}

/// One benchmark FailoverRecord as the API server lists it.
fn object(i: usize) -> Value {
    let uid = uid(i);
    let spec = json!({
        "hostedZone": {"name": "bench.test"},
        "name": format!("r{i}.bench.test"),
        "type": "A",
        "ttl": 60,
        "deletionPolicy": "Delete",
        "primary": {"values": [format!("192.0.2.{}", i % 250 + 1)],
                    "healthCheck": {"type": "TCP", "ipAddress": "52.94.76.10", "port": 8080,
                                    "requestInterval": 10, "failureThreshold": 1}},
        "secondary": {"values": [format!("198.51.100.{}", i % 250 + 1)]},
    });
    let last_applied = json!({
        "apiVersion": "route53.failover.io/v1alpha1", "kind": "FailoverRecord",
        "metadata": {"annotations": {}, "name": format!("r{i}"), "namespace": "default"},
        "spec": spec,
    });
    let e = json!({});
    let spec_fields = json!({"f:spec": {
        "f:hostedZone": {"f:name": e},
        "f:name": e, "f:type": e,
        "f:primary": {"f:values": e, "f:healthCheck": {"f:type": e, "f:ipAddress": e, "f:port": e,
                                                       "f:requestInterval": e, "f:failureThreshold": e}},
        "f:secondary": {"f:values": e},
    }});
    let cond_fields = json!({".": e, "f:lastTransitionTime": e, "f:message": e,
                             "f:observedGeneration": e, "f:reason": e, "f:status": e, "f:type": e});
    let endpoint_fields = json!({"f:checkersHealthy": e, "f:checkersTotal": e, "f:health": e,
                                 "f:healthCheckId": e, "f:setIdentifier": e});
    let status_fields = json!({"f:status": {
        "f:activeRole": e, "f:hostedZoneId": e, "f:observedGeneration": e,
        "f:change": {"f:id": e, "f:status": e},
        "f:primary": endpoint_fields, "f:secondary": endpoint_fields,
        "f:conditions": {
            "k:{\"type\":\"Ready\"}": cond_fields,
            "k:{\"type\":\"PrimaryHealthy\"}": cond_fields,
            "k:{\"type\":\"SecondaryHealthy\"}": cond_fields,
        },
    }});
    let finalizer = naming_finalizer();
    let mut finalizer_fields = json!({"f:metadata": {"f:finalizers": {".": e}}});
    finalizer_fields["f:metadata"]["f:finalizers"][format!("v:\"{finalizer}\"")] = e.clone();
    let time = "2026-11-27T04:01:58Z";
    json!({
        "apiVersion": "route53.failover.io/v1alpha1",
        "kind": "FailoverRecord",
        "metadata": {
            "name": format!("r{i}"),
            "namespace": "default",
            "uid": uid,
            "resourceVersion": format!("{}", 100_000 + i * 3),
            "generation": 1,
            "creationTimestamp": time,
            "finalizers": [finalizer],
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration":
                    format!("{}\n", serde_json::to_string(&last_applied).unwrap_or_default()),
            },
            "managedFields": [
                {"manager": "kubectl", "operation": "Apply", "apiVersion": "route53.failover.io/v1alpha1",
                 "time": time, "fieldsType": "FieldsV1", "fieldsV1": spec_fields},
                {"manager": "kubectl-client-side-apply", "operation": "Update",
                 "apiVersion": "route53.failover.io/v1alpha1", "time": time, "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:annotations": {".": e,
                     "f:kubectl.kubernetes.io/last-applied-configuration": e}}}},
                {"manager": "route53-failover-operator", "operation": "Update",
                 "apiVersion": "route53.failover.io/v1alpha1", "time": time, "fieldsType": "FieldsV1",
                 "fieldsV1": finalizer_fields},
                {"manager": "route53-failover-operator", "operation": "Apply",
                 "apiVersion": "route53.failover.io/v1alpha1", "time": time, "fieldsType": "FieldsV1",
                 "fieldsV1": status_fields, "subresource": "status"},
            ],
        },
        "spec": spec,
        "status": status(i, &uid),
    })
}

fn naming_finalizer() -> String {
    route53_failover_operator::ownership::finalizer_name(OWNER)
}

/// Health readings for every check asked for.
struct AllHealthy;

impl HealthSource for AllHealthy {
    fn batch_limit(&self) -> usize {
        500
    }

    async fn read(&self, ids: &[String]) -> R53Result<HashMap<String, Reading>> {
        Ok(ids
            .iter()
            .map(|id| {
                let r = Reading::Health(EndpointHealth {
                    health: Health::Healthy,
                    healthy: 16,
                    total: 16,
                    last_failure: None,
                });
                (id.clone(), r)
            })
            .collect())
    }
}

fn objects_arg() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--objects")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = objects_arg();
    let mut m = Meter { n, total: (0, 0) };
    // Everything that is not per object is made before counting starts.
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| serde_json::to_vec(&object(i)))
        .collect::<Result<_, _>>()?;
    let client = kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse()?))?;
    let metrics = Arc::new(Metrics::default());
    let ctx = Context::new(
        client,
        Arc::new(FakeRoute53::new()),
        metrics.clone(),
        Settings::default(),
    );
    let sdk = aws_sdk_route53::Client::from_conf(
        aws_sdk_route53::Config::builder()
            .behavior_version(aws_sdk_route53::config::BehaviorVersion::latest())
            .region(aws_sdk_route53::config::Region::new("us-east-1"))
            .build(),
    );
    let aws = AwsRoute53::new(sdk, Arc::new(Budget::new(5.0, 5.0)), metrics.clone());
    let first = body_size(&bodies);
    println!(
        "{n} objects, {first:.0} bytes of JSON each; heap per object, counted by the allocator:"
    );

    let watched: Vec<Arc<Watched>> = m.part("reflector store: Watched (decoded object)", || {
        bodies
            .iter()
            .filter_map(|b| serde_json::from_slice::<Watched>(b).ok().map(Arc::new))
            .collect()
    });
    if watched.len() != n {
        return Err("an object did not decode".into());
    }
    drop(bodies);
    // What the decoded object holds, part by part (measured on copies).
    let mut parts = Meter { n, total: (0, 0) };
    let managed = parts.part("  of which metadata.managedFields", || {
        watched
            .iter()
            .map(|w| w.metadata.managed_fields.clone())
            .collect::<Vec<_>>()
    });
    let annotations = parts.part("  of which metadata.annotations", || {
        watched
            .iter()
            .map(|w| w.metadata.annotations.clone())
            .collect::<Vec<_>>()
    });
    let specs = parts.part("  of which spec", || {
        watched.iter().map(|w| w.spec.clone()).collect::<Vec<_>>()
    });
    let statuses_copy = parts.part("  of which status", || {
        watched.iter().map(|w| w.status.clone()).collect::<Vec<_>>()
    });
    let cleanup = parts.part("  of which cleanup hints", || {
        watched
            .iter()
            .map(|w| w.cleanup.clone())
            .collect::<Vec<_>>()
    });
    drop((managed, annotations, specs, statuses_copy, cleanup));

    let refs: Vec<ObjectRef<Watched>> = watched
        .iter()
        .map(|w| ObjectRef::<Watched>::from_obj(w.as_ref()))
        .collect();
    let _kube = m.part(
        "kube-runtime: store, predicate and scheduler keys (model)",
        || {
            let store: HashMap<ObjectRef<Watched>, Arc<Watched>> =
                refs.iter().cloned().zip(watched.iter().cloned()).collect();
            let predicates: HashMap<ObjectRef<Watched>, (u64, Instant)> = refs
                .iter()
                .map(|r| (r.clone(), (ctx.trigger_hash(&store[r]), Instant::now())))
                .collect();
            let scheduled: HashMap<ObjectRef<Watched>, Instant> =
                refs.iter().map(|r| (r.clone(), Instant::now())).collect();
            (store, predicates, scheduled)
        },
    );
    let uids: Vec<String> = (0..n).map(uid).collect();
    let statuses: Vec<FailoverRecordStatus> = watched
        .iter()
        .map(|w| w.status.clone().unwrap_or_default())
        .collect();
    m.part("controller Context memory (per uid)", || {
        for (u, s) in uids.iter().zip(&statuses) {
            ctx.remember_reconciled(u, s, 1);
        }
    });
    let ids: Vec<String> = (0..n).map(hc_id).collect();
    // The monitor reads every check once (its readings are part of what it keeps).
    let monitor = ctx.health.clone();
    let before = live();
    for (w, id) in watched.iter().zip(&ids) {
        // The controller's key for the monitor: namespace and name only.
        let (Some(name), Some(ns)) = (&w.metadata.name, &w.metadata.namespace) else {
            continue;
        };
        monitor.watch(&ObjectRef::new(name).within(ns), [id.clone()]);
    }
    let task = tokio::spawn(monitor.clone().run(Arc::new(AllHealthy), None, |_| {}));
    while (0..n).step_by(n.div_ceil(50).max(1)).any(|i| {
        route53_failover_operator::health::HealthView::reading(monitor.as_ref(), &ids[i]).is_none()
    }) || route53_failover_operator::health::HealthView::reading(
        monitor.as_ref(),
        &ids[n - 1],
    )
    .is_none()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let _ = task.await;
    let after = live();
    m.total = (
        m.total.0 + after.0 - before.0,
        m.total.1 + after.1 - before.1,
    );
    m.line(
        "health Monitor (checks, users, readings)",
        after.0 - before.0,
        after.1 - before.1,
    );
    m.part("accounts: CheckAccounts (check → account)", || {
        for (u, id) in uids.iter().zip(&ids) {
            ctx.accounts.checks().set(u, INSTALLATION, vec![id.clone()]);
        }
    });
    m.part("metrics: per-object series and tracked records", || {
        for (w, u) in watched.iter().zip(&uids) {
            let labels = ObjectLabels {
                namespace: w.metadata.namespace.clone().unwrap_or_default(),
                name: w.metadata.name.clone().unwrap_or_default(),
            };
            let state = RecordState {
                active: Some(Role::Primary),
                health: [Health::Healthy, Health::Unknown],
                ready: "True",
                last_failover: None,
            };
            metrics.set_record_state(u, &labels, state);
            metrics.record_full_sync(u, &labels, 1_800_000_000.0);
        }
    });
    let inventory: Vec<t::HealthCheck> = (0..n)
        .map(|i| health_check(i, &uids[i]))
        .collect::<Result<_, _>>()?;
    m.part("route53: health check inventory (ListHealthChecks)", || {
        futures::executor::block_on(aws.store_inventory_listing(&inventory))
    });
    drop(inventory);
    let listing: Vec<t::ResourceRecordSet> = (0..n)
        .flat_map(|i| {
            [Role::Primary, Role::Secondary]
                .map(|role| record_set(i, &uids[i], role))
                .into_iter()
        })
        .collect::<Result<_, _>>()?;
    m.part("route53: zone snapshot (ListResourceRecordSets)", || {
        aws.store_zone_listing(ZONE_ID, &listing)
    });
    drop(listing);
    let total = m.total;
    m.line("total", total.0, total.1);
    println!(
        "{:<52} {:>9.0} B/object (heap + 16 B per allocation)",
        "estimate with allocator overhead",
        (total.0 + 16 * total.1) as f64 / n as f64
    );
    Ok(())
}

fn body_size(bodies: &[Vec<u8>]) -> f64 {
    bodies.iter().map(Vec::len).sum::<usize>() as f64 / bodies.len().max(1) as f64
}

/// A benchmark object's primary check as `ListHealthChecks` returns it.
fn health_check(i: usize, uid: &str) -> Result<t::HealthCheck, Box<dyn std::error::Error>> {
    let config = t::HealthCheckConfig::builder()
        .r#type(t::HealthCheckType::Tcp)
        .ip_address("52.94.76.10")
        .port(8080)
        .request_interval(10)
        .failure_threshold(1)
        .inverted(false)
        .disabled(false)
        .measure_latency(false)
        .build()?;
    Ok(t::HealthCheck::builder()
        .id(hc_id(i))
        .caller_reference(naming::caller_reference(
            OWNER,
            uid,
            Role::Primary,
            "TCP|52.94.76.10",
            1,
        ))
        .health_check_config(config)
        .health_check_version(1)
        .build()?)
}

/// One record of a benchmark object's pair as `ListResourceRecordSets` returns it.
fn record_set(
    i: usize,
    uid: &str,
    role: Role,
) -> Result<t::ResourceRecordSet, Box<dyn std::error::Error>> {
    let (value, failover) = match role {
        Role::Primary => (
            format!("192.0.2.{}", i % 250 + 1),
            t::ResourceRecordSetFailover::Primary,
        ),
        Role::Secondary => (
            format!("198.51.100.{}", i % 250 + 1),
            t::ResourceRecordSetFailover::Secondary,
        ),
    };
    let b = t::ResourceRecordSet::builder()
        .name(format!("r{i}.bench.test."))
        .r#type(t::RrType::A)
        .set_identifier(naming::set_identifier(OWNER, uid, role))
        .failover(failover)
        .ttl(60)
        .resource_records(t::ResourceRecord::builder().value(value).build()?);
    let b = match role {
        Role::Primary => b.health_check_id(hc_id(i)),
        Role::Secondary => b,
    };
    Ok(b.build()?)
}
