//! Chaos, bounded: rounds of create / modify / delete batches against the real API server while the
//! Route 53 double throttles (an emulated account quota) and loses answers to committed writes, and
//! the operator is SIGKILLed at a random point of every round. Then the faults stop and everything
//! must converge: every live object Ready at its generation with exactly one health check per
//! endpoint, every deleted object gone with nothing left in Route 53, and the foreign record sets and
//! health check untouched byte for byte. Prints its figures.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, ResourceRecord,
    ResourceRecordSet, ResourceRecordSetFailover, RrType,
};
use kube::Api;
use kube::api::DeleteParams;
use route53_failover_operator::crd::FailoverRecord;
use route53_failover_operator::status::find_condition;
use serde_json::{Value, json};
use support::kube::{KubeWorld, ok};
use support::operator::Operator;
use support::r53::R53World;
use support::{Backend, eventually};

const ROUNDS: usize = 4;
const NEW_PER_ROUND: usize = 5;
const CHECK_IP: &str = "52.94.77.10";

fn manifest(name: &str, port: u16, secondary: &str, interval: u32) -> String {
    let check = |interval: u32| {
        format!(
            "{{type: TCP, ipAddress: {CHECK_IP}, port: {port}, requestInterval: {interval}, failureThreshold: 1}}"
        )
    };
    support::record_manifest(
        name,
        "chaos.test",
        ("52.94.78.1", &check(interval)),
        (secondary, &check(30)),
    )
}

/// Every record set of the zone, as text (for byte-for-byte comparison), by (name, type, id).
async fn record_sets(r53: &R53World, zone: &str) -> BTreeMap<String, String> {
    let c = r53.client().await;
    let mut out = BTreeMap::new();
    let mut next: Option<(String, RrType, Option<String>)> = None;
    loop {
        let mut req = c.list_resource_record_sets().hosted_zone_id(zone);
        if let Some((n, t, id)) = next.take() {
            req = req
                .start_record_name(n)
                .start_record_type(t)
                .set_start_record_identifier(id);
        }
        let page = req.send().await.expect("list record sets");
        for r in page.resource_record_sets() {
            let key = format!(
                "{} {} {}",
                r.name(),
                r.r#type().as_str(),
                r.set_identifier().unwrap_or("-")
            );
            out.insert(key, format!("{r:?}"));
        }
        if !page.is_truncated() {
            return out;
        }
        next = Some((
            page.next_record_name().unwrap_or_default().to_string(),
            page.next_record_type().cloned().expect("next type"),
            page.next_record_identifier().map(str::to_string),
        ));
    }
}

fn live_checks(r53: &R53World) -> Vec<Value> {
    r53.health_checks()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !c["deleted"].as_bool().unwrap_or(false))
        .collect()
}

async fn change(r53: &R53World, zone: &str, set: ResourceRecordSet) {
    r53.client()
        .await
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Create)
                        .resource_record_set(set)
                        .build()
                        .expect("change"),
                )
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("foreign record");
}

fn a_record(name: &str, value: &str) -> aws_sdk_route53::types::builders::ResourceRecordSetBuilder {
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::A)
        .ttl(300)
        .resource_records(ResourceRecord::builder().value(value).build().expect("rr"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_ends_with_no_duplicates_no_leaks_no_orphans_and_foreign_untouched() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tmp");
    let r53 = R53World::start();
    let kube = KubeWorld::with_crd();
    let zone = r53.create_zone("chaos.test").await;
    r53.route(CHECK_IP, "127.0.0.1");
    let backend = Backend::start(dir.path());

    // Foreign things in the same zone and account: a plain record, a failover pair of another tool
    // with its own health check. They must never change.
    let foreign_check = r53
        .client()
        .await
        .create_health_check()
        .caller_reference("terraform-foreign-1")
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Tcp)
                .ip_address("52.94.79.1")
                .port(443)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("foreign check");
    let foreign_id = foreign_check.health_check().expect("hc").id().to_string();
    change(
        &r53,
        &zone,
        a_record("plain.chaos.test", "52.94.79.2")
            .build()
            .expect("set"),
    )
    .await;
    change(
        &r53,
        &zone,
        a_record("pair.chaos.test", "52.94.79.3")
            .set_identifier("terraform-primary")
            .failover(ResourceRecordSetFailover::Primary)
            .health_check_id(&foreign_id)
            .build()
            .expect("set"),
    )
    .await;
    change(
        &r53,
        &zone,
        a_record("pair.chaos.test", "52.94.79.4")
            .set_identifier("terraform-secondary")
            .failover(ResourceRecordSetFailover::Secondary)
            .build()
            .expect("set"),
    )
    .await;
    let foreign_records_before: BTreeMap<String, String> = record_sets(&r53, &zone)
        .await
        .into_iter()
        .filter(|(k, _)| !k.contains(" SOA ") && !k.contains(" NS "))
        .collect();
    let foreign_check_before = live_checks(&r53)
        .into_iter()
        .find(|c| c["id"] == foreign_id.as_str())
        .map(|c| json!({"config": c["config"], "version": c["version"], "ref": c["CallerReference"]}))
        .expect("foreign check listed");

    // The chaos: an emulated account quota (6 requests/s: the operator's bursts of 10 get throttled)
    // and 15 % of committed writes losing their answer (the SDK retries what Route 53 already did).
    r53.configure(json!({
        "quota": {"rate": 6, "burst": 6},
        "faults": {"error_rate": 0.15, "after_commit": true, "code": "InternalError",
                   "operations": ["CreateHealthCheck", "ChangeResourceRecordSets", "DeleteHealthCheck",
                                  "UpdateHealthCheck", "ChangeTagsForResource"]}
    }));
    let api: Api<FailoverRecord> = Api::namespaced(kube.client().await, "default");
    let mut live: BTreeMap<String, String> = BTreeMap::new(); // name -> secondary value
    let mut deleted: BTreeSet<String> = BTreeSet::new();
    let mut uids: BTreeMap<String, String> = BTreeMap::new();
    let (mut created, mut modified, mut kills) = (0, 0, 0);
    let mut op = Operator::start(&kube, &r53, &[]);
    let mut seq = 0;
    for round in 0..ROUNDS {
        let mut docs = Vec::new();
        for _ in 0..NEW_PER_ROUND {
            let name = format!("c{seq}");
            seq += 1;
            let value = format!("52.94.80.{seq}");
            docs.push(manifest(&name, backend.port, &value, 30));
            live.insert(name, value);
            created += 1;
        }
        // Modify two existing objects: one in place (a new secondary value), one by replacement
        // (another request interval: a new health check).
        let existing: Vec<String> = live.keys().cloned().collect();
        for (i, name) in existing.iter().take(2).enumerate() {
            let value = format!("52.94.81.{}", round * 10 + i);
            live.insert(name.clone(), value.clone());
            docs.push(manifest(
                name,
                backend.port,
                &value,
                if i == 1 { 10 } else { 30 },
            ));
            modified += 1;
        }
        ok(&kube.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &docs.join("---\n")));
        // Delete one older object.
        if round > 0 {
            if let Some(victim) = live.keys().nth(2).cloned() {
                live.remove(&victim);
                if let Ok(o) = api.get(&victim).await {
                    uids.insert(victim.clone(), o.metadata.uid.clone().unwrap_or_default());
                }
                api.delete(&victim, &DeleteParams::default())
                    .await
                    .expect("delete");
                deleted.insert(victim);
            }
        }
        // SIGKILL at a random point of the round, then start again.
        tokio::time::sleep(Duration::from_millis(500 + fastrand::u64(..4000))).await;
        op.kill();
        kills += 1;
        op = Operator::start(&kube, &r53, &[]);
    }
    let faults = r53.counters();
    r53.configure(json!({"faults": null, "quota": null}));

    // Convergence: every live object Ready at its generation, every deleted object gone.
    let converge = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut pending = Vec::new();
        for name in live.keys() {
            match api.get_opt(name).await.ok().flatten() {
                None => pending.push(format!("{name}: missing")),
                Some(o) => {
                    let ready = find_condition(o.status.as_ref(), "Ready");
                    let ok = ready.is_some_and(|c| c.status == "True" && c.reason == "Synced")
                        && o.status.as_ref().and_then(|s| s.observed_generation)
                            == o.metadata.generation;
                    if !ok {
                        pending.push(format!(
                            "{name}: {:?}",
                            ready.map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
                        ));
                    }
                }
            }
        }
        for name in &deleted {
            if let Some(o) = api.get_opt(name).await.ok().flatten() {
                pending.push(format!(
                    "{name}: not deleted ({:?})",
                    find_condition(o.status.as_ref(), "Ready").map(|c| c.message.clone())
                ));
            }
        }
        if pending.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let log = op.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            panic!(
                "not converged after 600 s:\n{}\noperator log (last lines, newest first):\n{}",
                pending.join("\n"),
                tail.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let converged_in = converge.elapsed();
    for name in live.keys() {
        let o = api.get(name).await.expect("live object");
        uids.insert(name.clone(), o.metadata.uid.clone().unwrap_or_default());
    }
    let records = record_sets(&r53, &zone).await;
    let checks = live_checks(&r53);
    let owned = |uid: &str| -> usize {
        checks
            .iter()
            .filter(|c| {
                c["CallerReference"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(uid)
            })
            .count()
    };
    let duplicates: usize = live.keys().map(|n| owned(&uids[n]).saturating_sub(2)).sum();
    let missing: usize = live
        .keys()
        .map(|n| 2usize.saturating_sub(owned(&uids[n])))
        .sum();
    let leaked_of_deleted: usize = deleted.iter().map(|n| owned(&uids[n])).sum();
    let orphaned_of_deleted = records
        .keys()
        .filter(|k| {
            deleted
                .iter()
                .any(|n| k.starts_with(&format!("{n}.chaos.test. ")))
        })
        .count();
    // Each live object's secondary carries its latest value.
    for (name, value) in &live {
        let key = records
            .iter()
            .find(|(k, v)| {
                k.starts_with(&format!("{name}.chaos.test. A ")) && v.contains("Secondary")
            })
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        assert!(
            key.contains(value),
            "{name}: secondary is not {value}: {key}"
        );
    }

    // Then delete everything that is left: nothing of ours may remain.
    for name in live.keys() {
        api.delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    eventually(
        "all deleted",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || {
            let api = api.clone();
            async move {
                api.list(&Default::default())
                    .await
                    .ok()
                    .filter(|l| l.items.is_empty())
                    .map(|_| ())
            }
        },
    )
    .await;
    let records_after: BTreeMap<String, String> = record_sets(&r53, &zone)
        .await
        .into_iter()
        .filter(|(k, _)| !k.contains(" SOA ") && !k.contains(" NS "))
        .collect();
    let checks_after = live_checks(&r53);
    let leaked = checks_after
        .iter()
        .filter(|c| c["id"] != foreign_id.as_str())
        .count();
    let orphaned = records_after
        .keys()
        .filter(|k| !foreign_records_before.contains_key(*k))
        .count();
    let foreign_changed = foreign_records_before
        .iter()
        .filter(|(k, v)| records_after.get(*k) != Some(v))
        .count()
        + usize::from(
            checks_after
                .iter()
                .find(|c| c["id"] == foreign_id.as_str())
                .map(|c| json!({"config": c["config"], "version": c["version"], "ref": c["CallerReference"]}))
                != Some(foreign_check_before.clone()),
        );
    println!(
        "chaos: {ROUNDS} rounds, {created} created, {modified} modified, {} deleted, {kills} SIGKILLs; \
         injected: {} throttled, {} lost answers; converged in {converged_in:?} after the faults stopped; \
         duplicates {duplicates}, missing checks {missing}, leaked checks {}, orphaned records {}, \
         foreign objects changed {foreign_changed}; total {:?}",
        deleted.len(),
        faults["throttled"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum::<u64>())
            .unwrap_or(0),
        faults["faults"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum::<u64>())
            .unwrap_or(0),
        leaked_of_deleted + leaked,
        orphaned_of_deleted + orphaned,
        started.elapsed()
    );
    assert_eq!(duplicates, 0, "duplicate health checks");
    assert_eq!(missing, 0, "missing health checks");
    assert_eq!(
        leaked_of_deleted + leaked,
        0,
        "leaked health checks: {checks_after:#?}"
    );
    assert_eq!(
        orphaned_of_deleted + orphaned,
        0,
        "orphaned records: {records_after:#?}"
    );
    assert_eq!(foreign_changed, 0, "foreign objects changed");
    drop(op);
}
