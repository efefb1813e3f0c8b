//! `spec.adopt` against the Route 53 double: a failover pair made the way the README's AWS CLI
//! example makes it is taken over by the README's FailoverRecord (`deploy/examples/adopt-cli-pair.yaml`)
//! in one ChangeResourceRecordSets call, with no committed state in which the name has no answer;
//! without the opt-in it is a Conflict with no write, and plain or weighted records are never taken.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_route53::types as t;
use route53_failover_operator::Error;
use route53_failover_operator::crd::{FailoverRecordSpec, FailoverRecordStatus};
use route53_failover_operator::health::Reading;
use route53_failover_operator::metrics::Metrics;
use route53_failover_operator::reconcile::{self, SyncInput, SyncOutcome};
use route53_failover_operator::route53::aws::AwsRoute53;
use route53_failover_operator::route53::batch::Batched;
use route53_failover_operator::route53::budget::Budget;
use route53_failover_operator::route53::{Change, Route53, Route53ErrorKind};
use route53_failover_operator::status::next_status;
use serde_json::Value;
use support::r53::R53World;

const OWNER: &str = "adopt-test";
const UID: &str = "3d0c7a4e-5b1f-4c2a-9e8d-7f6a5b4c3d2e";
const NAME: &str = "checkout.example.com.";
/// Operations that change Route 53.
const WRITES: [&str; 5] = [
    "ChangeResourceRecordSets",
    "CreateHealthCheck",
    "UpdateHealthCheck",
    "DeleteHealthCheck",
    "ChangeTagsForResource",
];

fn readme_section() -> String {
    let text = std::fs::read_to_string(support::repo_root().join("README.md")).expect("README");
    text.split("## Taking over an existing pair")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README section 'Taking over an existing pair'")
        .to_string()
}

/// The README's `--health-check-config Type=HTTP,IPAddress=...` shorthand and `--caller-reference`.
fn readme_health_check() -> (String, HashMap<String, String>) {
    let section = readme_section();
    let word_after = |flag: &str| {
        section
            .split(flag)
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("{flag} in the README example"))
            .to_string()
    };
    let config = word_after("--health-check-config")
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (word_after("--caller-reference"), config)
}

/// The README's change batch (`app-pair.json`).
fn readme_change_batch() -> Value {
    let section = readme_section();
    let block = section
        .split("```json\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("json block");
    serde_json::from_str(block).expect("README change batch is JSON")
}

/// The README's FailoverRecord, from the example file it points at.
fn example_spec() -> FailoverRecordSpec {
    let text =
        std::fs::read_to_string(support::repo_root().join("deploy/examples/adopt-cli-pair.yaml"))
            .expect("example");
    let obj: Value = serde_yaml::from_str(&text).expect("yaml");
    assert!(
        readme_section().contains("deploy/examples/adopt-cli-pair.yaml"),
        "the README points at the example"
    );
    serde_json::from_value(obj["spec"].clone()).expect("spec")
}

/// Make the pair as the README's AWS CLI commands do, through the AWS SDK: CreateHealthCheck, then
/// one ChangeResourceRecordSets with the README's batch. Returns their health check id.
async fn make_cli_pair(w: &R53World, zone: &str) -> String {
    let client = w.client().await;
    let (reference, cfg) = readme_health_check();
    let num = |k: &str| cfg[k].parse::<i32>().expect(k);
    let config = t::HealthCheckConfig::builder()
        .r#type(t::HealthCheckType::from(cfg["Type"].as_str()))
        .ip_address(&cfg["IPAddress"])
        .port(num("Port"))
        .resource_path(&cfg["ResourcePath"])
        .request_interval(num("RequestInterval"))
        .failure_threshold(num("FailureThreshold"))
        .build()
        .expect("config");
    let hc = client
        .create_health_check()
        .caller_reference(reference)
        .health_check_config(config)
        .send()
        .await
        .expect("CreateHealthCheck");
    let hc_id = hc.health_check().expect("check").id().to_string();
    let batch = readme_change_batch();
    let mut changes = Vec::new();
    for ch in batch["Changes"].as_array().expect("Changes") {
        let rr = &ch["ResourceRecordSet"];
        let s = |k: &str| rr[k].as_str().map(str::to_string);
        let mut b = t::ResourceRecordSet::builder()
            .name(s("Name").expect("Name"))
            .r#type(t::RrType::from(rr["Type"].as_str().expect("Type")))
            .set_set_identifier(s("SetIdentifier"))
            .set_failover(s("Failover").map(|f| t::ResourceRecordSetFailover::from(f.as_str())))
            .set_ttl(rr["TTL"].as_i64())
            .set_health_check_id(s("HealthCheckId").map(|_| hc_id.clone()));
        for v in rr["ResourceRecords"].as_array().expect("ResourceRecords") {
            b = b.resource_records(
                t::ResourceRecord::builder()
                    .value(v["Value"].as_str().expect("Value"))
                    .build()
                    .expect("record"),
            );
        }
        changes.push(
            t::Change::builder()
                .action(t::ChangeAction::from(
                    ch["Action"].as_str().expect("Action"),
                ))
                .resource_record_set(b.build().expect("set"))
                .build()
                .expect("change"),
        );
    }
    client
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            t::ChangeBatch::builder()
                .comment(batch["Comment"].as_str().unwrap_or_default())
                .set_changes(Some(changes))
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("the README's change batch");
    hc_id
}

async fn adapter(w: &R53World) -> Arc<AwsRoute53> {
    Arc::new(AwsRoute53::new(
        w.client().await,
        Arc::new(Budget::new(0.0, 1.0)),
        Arc::new(Metrics::default()),
    ))
}

/// One object's reconciles, its status carried over as the controller does.
struct Obj {
    spec: FailoverRecordSpec,
    status: Option<FailoverRecordStatus>,
}

impl Obj {
    async fn sync<R: Route53>(&mut self, r53: &R) -> SyncOutcome {
        let out = reconcile::sync(
            r53,
            SyncInput {
                owner: OWNER,
                uid: UID,
                generation: 1,
                object_ref: "default/checkout",
                spec: &self.spec,
                status: self.status.as_ref(),
                full: true,
                check_tags: true,
                health: &HashMap::<String, Reading>::new(),
            },
        )
        .await;
        if let Some(obs) = &out.observation {
            self.status = Some(next_status(
                self.status.as_ref(),
                obs,
                k8s_openapi::jiff::Timestamp::now(),
                std::time::Duration::from_secs(300),
            ));
        }
        out
    }
}

fn writes(w: &R53World) -> u64 {
    WRITES.iter().map(|op| w.counter("requests", op)).sum()
}

/// The entries of `/_world/answers` for the name (type A).
fn answers_for_name(w: &R53World) -> Vec<Value> {
    w.answers()
        .into_iter()
        .filter(|a| a["name"] == NAME && a["type"] == "A")
        .collect()
}

#[tokio::test]
async fn a_cli_made_pair_is_taken_over_in_one_change_and_the_name_always_answers() {
    let w = R53World::start();
    let zone = w.create_zone("example.com").await;
    let their_hc = make_cli_pair(&w, &zone).await;
    let a = adapter(&w).await;
    let theirs = a.list_record_sets(&zone, NAME).await.expect("list");
    let theirs: Vec<_> = theirs.into_iter().filter(|r| r.rtype == "A").collect();
    assert_eq!(theirs.len(), 2, "{theirs:?}");
    assert_eq!(
        answers_for_name(&w).last().map(|e| e["answer"].clone()),
        Some(serde_json::json!(["52.94.76.11"]))
    );

    // From here on the double refuses any batch that would leave the name without its PRIMARY, so a
    // takeover in two steps cannot pass unnoticed: DELETE theirs first leaves no answer (Route 53
    // itself would accept it), CREATE ours first makes a second PRIMARY (Route 53 refuses that too).
    w.configure(serde_json::json!({"refuse_answer_gaps": true}));
    let spec = example_spec();
    assert!(spec.adopt);
    let ours = route53_failover_operator::desired::Desired::from_spec(&spec, OWNER, UID)
        .expect("valid example");
    let deletes: Vec<Change> = theirs.iter().cloned().map(Change::Delete).collect();
    let e = a
        .change_record_sets(&zone, "two-step takeover, step 1", &deletes)
        .await
        .expect_err("a DELETE of their pair alone leaves the name empty");
    assert_eq!(e.kind, Route53ErrorKind::Conflict, "{e}");
    assert!(e.message.contains("refuse_answer_gaps"), "{e}");
    let creates: Vec<Change> = route53_failover_operator::crd::Role::ALL
        .into_iter()
        .map(|role| Change::Create(ours.record_set(role, Some(their_hc.clone()))))
        .collect();
    let e = a
        .change_record_sets(&zone, "two-step takeover, step 1 the other way", &creates)
        .await
        .expect_err("a CREATE of ours beside theirs makes a second PRIMARY");
    assert!(e.message.contains("PRIMARY failover RRSet"), "{e}");

    w.reset_counters();
    w.reset_answers();
    let batched = Batched::new(
        a.clone(),
        Duration::from_millis(200),
        Arc::new(Metrics::default()),
    );
    let mut obj = Obj { spec, status: None };
    let out = obj.sync(&batched).await;
    assert!(out.result.is_ok(), "{:?}\n{}", out.result, w.log());
    let counters = w.counters();
    eprintln!("Route 53 calls of the adoption: {}", counters["requests"]);
    assert_eq!(w.counter("requests", "ChangeResourceRecordSets"), 1);
    assert_eq!(w.counter("requests", "CreateHealthCheck"), 1);
    assert_eq!(w.counter("requests", "DeleteHealthCheck"), 0);
    assert_eq!(w.counter("requests", "ListResourceRecordSets"), 1);
    assert_eq!(
        counters["requests"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum::<u64>()),
        Some(6),
        "ListHostedZonesByName, ListResourceRecordSets, ListHealthChecks, CreateHealthCheck, \
         ChangeTagsForResource, ChangeResourceRecordSets: {counters}"
    );
    // The one committed change left our pair and an answer; nothing in between was committed.
    let after = answers_for_name(&w);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["answer"], serde_json::json!(["52.94.76.11"]));
    let ids: Vec<&str> = after[0]["sets"]
        .as_array()
        .expect("sets")
        .iter()
        .filter_map(|s| s["SetIdentifier"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            format!("{OWNER}:{UID}:primary"),
            format!("{OWNER}:{UID}:secondary")
        ]
    );
    let adopted = out
        .notes
        .iter()
        .find(|n| n.reason == "Adopted")
        .expect("Adopted event");
    for part in [
        "PRIMARY \"checkout-primary\" (52.94.76.11",
        "SECONDARY \"checkout-secondary\" (52.94.76.21; no health check)",
        &format!("health check {their_hc} left in Route 53"),
    ] {
        assert!(
            adopted.message.contains(part),
            "{part}: {}",
            adopted.message
        );
    }
    let changed = out
        .notes
        .iter()
        .find(|n| n.reason == "RecordsChanged")
        .expect("RecordsChanged");
    assert!(
        changed
            .message
            .contains("DELETE PRIMARY, DELETE SECONDARY, CREATE PRIMARY, CREATE SECONDARY"),
        "{}",
        changed.message
    );

    // Settles to Ready with no further record write; their check is still there, never deleted.
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let out = obj.sync(&batched).await;
        assert!(out.result.is_ok(), "{:?}", out.result);
        if out.result.as_ref().ok() == Some(&false) {
            break;
        }
    }
    assert_eq!(w.counter("requests", "ChangeResourceRecordSets"), 1);
    let live: Vec<String> = w
        .health_checks()
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["deleted"] != true)
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    assert!(live.contains(&their_hc), "{live:?}");
    assert_eq!(live.len(), 2, "theirs and ours: {live:?}");
}

#[tokio::test]
async fn without_adopt_a_cli_pair_is_a_conflict_and_nothing_is_written() {
    let w = R53World::start();
    let zone = w.create_zone("example.com").await;
    make_cli_pair(&w, &zone).await;
    w.reset_counters();
    w.reset_answers();
    let a = adapter(&w).await;
    let mut spec = example_spec();
    spec.adopt = false;
    let mut obj = Obj { spec, status: None };
    let out = obj.sync(a.as_ref()).await;
    let Err(Error::Conflict(msg)) = &out.result else {
        panic!("{:?}", out.result)
    };
    assert!(msg.contains("set spec.adopt to true"), "{msg}");
    assert_eq!(writes(&w), 0, "{}", w.counters());
    assert!(answers_for_name(&w).is_empty());
    let left = a.list_record_sets(&zone, NAME).await.expect("list");
    let ids: Vec<Option<String>> = left
        .into_iter()
        .filter(|r| r.rtype == "A")
        .map(|r| r.set_identifier)
        .collect();
    assert_eq!(
        ids,
        [
            Some("checkout-primary".to_string()),
            Some("checkout-secondary".to_string())
        ]
    );
}

#[tokio::test]
async fn plain_and_weighted_records_are_never_taken_over() {
    let w = R53World::start();
    let zone = w.create_zone("example.com").await;
    let a = adapter(&w).await;
    let set =
        |name: &str, id: Option<&str>, value: &str| route53_failover_operator::route53::RecordSet {
            name: name.into(),
            rtype: "A".into(),
            set_identifier: id.map(Into::into),
            failover: None,
            ttl: Some(60),
            values: vec![value.into()],
            alias: None,
            health_check_id: None,
        };
    let plain = [set(NAME, None, "52.94.76.11")];
    let weighted_name = "weighted.example.com.";
    let weighted = [
        set(weighted_name, Some("blue"), "52.94.76.11"),
        set(weighted_name, Some("green"), "52.94.76.21"),
    ];
    // Weighted sets need a Weight, which the domain type does not carry: write them with the SDK.
    a.change_record_sets(
        &zone,
        "plain",
        &plain
            .iter()
            .cloned()
            .map(Change::Create)
            .collect::<Vec<_>>(),
    )
    .await
    .expect("plain record");
    let client = w.client().await;
    let mut changes = Vec::new();
    for (i, rs) in weighted.iter().enumerate() {
        changes.push(
            t::Change::builder()
                .action(t::ChangeAction::Create)
                .resource_record_set(
                    t::ResourceRecordSet::builder()
                        .name(&rs.name)
                        .r#type(t::RrType::A)
                        .set_identifier(rs.set_identifier.clone().unwrap_or_default())
                        .weight(10 * (i as i64 + 1))
                        .ttl(60)
                        .resource_records(
                            t::ResourceRecord::builder()
                                .value(&rs.values[0])
                                .build()
                                .expect("rr"),
                        )
                        .build()
                        .expect("set"),
                )
                .build()
                .expect("change"),
        );
    }
    client
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            t::ChangeBatch::builder()
                .set_changes(Some(changes))
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("weighted sets");
    for (name, what) in [
        (NAME, "a plain record"),
        (weighted_name, "another routing policy"),
    ] {
        w.reset_counters();
        let mut spec = example_spec();
        spec.name = name.trim_end_matches('.').to_string();
        assert!(spec.adopt);
        let mut obj = Obj { spec, status: None };
        let out = obj.sync(a.as_ref()).await;
        let Err(Error::Conflict(msg)) = &out.result else {
            panic!("{name}: {:?}", out.result)
        };
        assert!(
            msg.contains("adopt cannot take over") && msg.contains(what),
            "{name}: {msg}"
        );
        assert_eq!(writes(&w), 0, "{name}: {}", w.counters());
        let left = a.list_record_sets(&zone, name).await.expect("list");
        assert_eq!(
            left.iter().filter(|r| r.rtype == "A").count(),
            if name == NAME { 1 } else { 2 },
            "{name}: untouched"
        );
    }
}

/// Without `refuse_answer_gaps` (the default) the double does what Route 53 does: a lone failover
/// record and the DELETE of a whole pair are accepted, and `/_world/answers` shows the gap.
#[tokio::test]
async fn by_default_the_double_accepts_an_answer_gap_as_route53_does() {
    let w = R53World::start();
    assert_eq!(w.config()["refuse_answer_gaps"], false);
    let zone = w.create_zone("example.com").await;
    make_cli_pair(&w, &zone).await;
    let a = adapter(&w).await;
    let theirs: Vec<_> = a
        .list_record_sets(&zone, NAME)
        .await
        .expect("list")
        .into_iter()
        .filter(|r| r.rtype == "A")
        .collect();
    // DELETE the primary alone (a lone SECONDARY is left), then the secondary (nothing is left).
    for rs in &theirs {
        a.change_record_sets(&zone, "one at a time", &[Change::Delete(rs.clone())])
            .await
            .expect("accepted, as by Route 53");
    }
    let answers: Vec<Value> = answers_for_name(&w)
        .into_iter()
        .map(|e| e["answer"].clone())
        .collect();
    assert_eq!(
        answers,
        [
            serde_json::json!(["52.94.76.11"]),
            serde_json::json!(["52.94.76.21"]),
            Value::Null
        ]
    );
}
