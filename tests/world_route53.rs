//! The local Route 53 double (`tests/world/r53_server.py`), exercised through the real
//! aws-sdk-route53 client: the divergences from moto that it fixes, paging, counters, quota and
//! fault injection, the refusal of special-use health-check addresses, and health checks that really
//! probe loopback backends through the double's routing table.
mod support;

use std::time::{Duration, Instant};

use aws_sdk_route53::Client;
use aws_sdk_route53::config::BehaviorVersion;
use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, HealthCheckConfig,
    HealthCheckRegion, HealthCheckType, ResettableElementName, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, RrType,
};
use serde_json::json;
use support::r53::{R53World, create_hc, hc_config, hc_observations};
use support::{Backend, eventually};

// ------------------------------------------------------------------------------------ helpers

/// The error code of a failed call ("<none>" if the response had none).
fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    e.code().unwrap_or("<none>").to_string()
}

fn status<E>(e: &SdkError<E>) -> u16 {
    e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}

fn message<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    e.message().unwrap_or_default().to_string()
}

/// The public address the health checks of these tests check; probing tests route it to a loopback
/// backend with `w.route(PUBLIC, "127.0.0.1")`.
const PUBLIC: &str = "52.94.76.10";

/// An endpoint health check on [`PUBLIC`]:`port` (RequestInterval 10, FailureThreshold 3).
fn hc(
    kind: HealthCheckType,
    port: i32,
) -> aws_sdk_route53::types::builders::HealthCheckConfigBuilder {
    let b = HealthCheckConfig::builder()
        .r#type(kind.clone())
        .ip_address(PUBLIC)
        .port(port)
        .request_interval(10)
        .failure_threshold(3);
    if kind == HealthCheckType::Tcp {
        b
    } else {
        b.resource_path("/health")
    }
}

/// An A record set; `set` = (SetIdentifier, failover role, health check id).
fn a_set(name: &str, ip: &str, set: Option<(&str, &str, Option<&str>)>) -> ResourceRecordSet {
    let mut b = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::A)
        .ttl(60)
        .resource_records(ResourceRecord::builder().value(ip).build().expect("record"));
    if let Some((id, role, hc)) = set {
        b = b
            .set_identifier(id)
            .failover(ResourceRecordSetFailover::from(role))
            .set_health_check_id(hc.map(str::to_string));
    }
    b.build().expect("rrset")
}

fn change(action: ChangeAction, set: ResourceRecordSet) -> Change {
    Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .expect("change")
}

async fn apply(
    c: &Client,
    zone: &str,
    changes: Vec<Change>,
) -> Result<
    aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput,
    SdkError<
        aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError,
    >,
> {
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .build()
        .expect("batch");
    c.change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
}

/// Every record set of the zone as (name, type, SetIdentifier, values).
async fn sets(c: &Client, zone: &str) -> Vec<(String, String, Option<String>, Vec<String>)> {
    let out = c
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .expect("ListResourceRecordSets");
    assert!(!out.is_truncated());
    out.resource_record_sets()
        .iter()
        .map(|s| {
            (
                s.name().to_string(),
                s.r#type().as_str().to_string(),
                s.set_identifier().map(str::to_string),
                s.resource_records()
                    .iter()
                    .map(|r| r.value().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// A zone `example.test` with a failover pair `app.example.test` A: primary (52.94.76.1, with a
/// health check) and secondary (52.94.76.2). Returns (zone id, health check id).
async fn zone_with_pair(w: &R53World, c: &Client, reference: &str) -> (String, String) {
    let zone = w.create_zone("example.test").await;
    let hc_id = create_hc(
        c,
        reference,
        hc(HealthCheckType::Http, 1).build().expect("cfg"),
    )
    .await;
    apply(
        c,
        &zone,
        vec![
            change(
                ChangeAction::Create,
                a_set(
                    "app.example.test",
                    "52.94.76.1",
                    Some(("primary", "PRIMARY", Some(&hc_id))),
                ),
            ),
            change(
                ChangeAction::Create,
                a_set(
                    "app.example.test",
                    "52.94.76.2",
                    Some(("secondary", "SECONDARY", None)),
                ),
            ),
        ],
    )
    .await
    .expect("create failover pair");
    (zone, hc_id)
}

async fn observations(c: &Client, id: &str) -> Vec<(String, String)> {
    hc_observations(c, id)
        .await
        .iter()
        .map(|o| {
            let report = o.status_report().expect("StatusReport");
            assert!(report.checked_time().is_some(), "CheckedTime missing");
            (
                o.region()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
                report.status().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Wait until every checker's status starts with `prefix` and contains `detail`.
async fn wait_all(c: &Client, id: &str, prefix: &str, detail: &str) -> Vec<(String, String)> {
    let what = format!("every checker of {id} reports {prefix:?} containing {detail:?}");
    eventually(
        &what,
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let obs = observations(c, id).await;
            let all = !obs.is_empty()
                && obs
                    .iter()
                    .all(|(_, s)| s.starts_with(prefix) && s.contains(detail));
            all.then_some(obs)
        },
    )
    .await
}

// ------------------------------------------------------------------------- environment wiring

/// Runs only as a child of `client_configured_only_by_environment_reaches_the_server`.
#[tokio::test]
async fn env_only_child() {
    if std::env::var_os("R53_ENV_ONLY_CHILD").is_none() {
        return;
    }
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .http_client(support::r53::http_client())
        .load()
        .await;
    let out = Client::new(&conf)
        .list_hosted_zones_by_name()
        .send()
        .await
        .expect("ListHostedZonesByName via AWS_ENDPOINT_URL_ROUTE_53");
    let names: Vec<_> = out.hosted_zones().iter().map(|z| z.name()).collect();
    assert_eq!(names, ["envonly.test."]);
}

#[tokio::test]
async fn client_configured_only_by_environment_reaches_the_server() {
    let w = R53World::start();
    w.create_zone("envonly.test").await;
    let mut cmd = w.child_test("env_only_child", w.aws_env());
    cmd.env("R53_ENV_ONLY_CHILD", "1");
    let out = cmd.output().expect("run child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(w.counter("requests", "ListHostedZonesByName"), 1);
}

// ------------------------------------------------------------------------------ health checks

#[tokio::test]
async fn caller_reference_is_idempotent() {
    let w = R53World::start();
    let c = w.client().await;
    let cfg = hc(HealthCheckType::Http, 8080).build().expect("cfg");
    let first = create_hc(&c, "ref-1", cfg.clone()).await;

    // Same reference, same config: the existing check comes back.
    assert_eq!(create_hc(&c, "ref-1", cfg.clone()).await, first);

    // Same reference, different config: 409 HealthCheckAlreadyExists.
    let other = hc(HealthCheckType::Http, 8081).build().expect("cfg");
    let e = c
        .create_health_check()
        .caller_reference("ref-1")
        .health_check_config(other)
        .send()
        .await
        .expect_err("different config must be rejected");
    assert!(
        e.as_service_error()
            .is_some_and(|s| s.is_health_check_already_exists()),
        "{e:?}"
    );
    assert_eq!(status(&e), 409);

    // The reference of a deleted check stays taken.
    c.delete_health_check()
        .health_check_id(&first)
        .send()
        .await
        .expect("delete");
    let e = c
        .create_health_check()
        .caller_reference("ref-1")
        .health_check_config(cfg)
        .send()
        .await
        .expect_err("reused reference of a deleted check");
    assert_eq!(code(&e), "HealthCheckAlreadyExists");

    let all = w.health_checks();
    let all = all.as_array().expect("list");
    assert_eq!(all.len(), 1, "exactly one check was ever created: {all:?}");
    assert_eq!(all[0]["CallerReference"], "ref-1");
    assert_eq!(all[0]["deleted"], true);
    assert_eq!(all[0]["config"]["Port"], 8080);
}

#[tokio::test]
async fn health_check_version_and_reset_elements() {
    let w = R53World::start();
    let c = w.client().await;
    let id = create_hc(
        &c,
        "ver",
        hc(HealthCheckType::Http, 8080)
            .regions(HealthCheckRegion::UsEast1)
            .regions(HealthCheckRegion::UsWest2)
            .regions(HealthCheckRegion::SaEast1)
            .build()
            .expect("cfg"),
    )
    .await;

    let out = c
        .update_health_check()
        .health_check_id(&id)
        .health_check_version(1)
        .port(8081)
        .reset_elements(ResettableElementName::ResourcePath)
        .send()
        .await
        .expect("update at version 1");
    let h = out.health_check().expect("hc");
    assert_eq!(h.health_check_version(), 2);
    let cfg = h.health_check_config().expect("config");
    assert_eq!(cfg.port(), Some(8081));
    assert_eq!(
        cfg.resource_path(),
        None,
        "ResetElements=ResourcePath resets it"
    );

    let e = c
        .update_health_check()
        .health_check_id(&id)
        .health_check_version(1)
        .port(8082)
        .send()
        .await
        .expect_err("stale version");
    assert!(
        e.as_service_error()
            .is_some_and(|s| s.is_health_check_version_mismatch()),
        "{e:?}"
    );
    assert_eq!(status(&e), 409);

    let out = c
        .update_health_check()
        .health_check_id(&id)
        .failure_threshold(2)
        .send()
        .await;
    let h = out
        .expect("update without a version")
        .health_check()
        .cloned()
        .expect("hc");
    assert_eq!(h.health_check_version(), 3);
    let cfg = hc_config(&c, &id).await;
    assert_eq!((cfg.port(), cfg.failure_threshold()), (Some(8081), Some(2)));
    assert_eq!(
        cfg.regions().len(),
        3,
        "updates keep Regions they don't mention"
    );

    let out = c
        .update_health_check()
        .health_check_id(&id)
        .reset_elements(ResettableElementName::Regions)
        .send()
        .await
        .expect("reset Regions");
    let cfg = out
        .health_check()
        .and_then(|h| h.health_check_config())
        .expect("cfg");
    assert!(
        cfg.regions().is_empty(),
        "ResetElements=Regions resets them"
    );
    assert_eq!(
        observations(&c, &id).await.len(),
        8,
        "default checker regions"
    );

    let e = c
        .update_health_check()
        .health_check_id(&id)
        .failure_threshold(11)
        .send()
        .await
        .expect_err("FailureThreshold 11");
    assert_eq!(code(&e), "InvalidInput");
}

#[tokio::test]
async fn missing_health_checks_are_no_such_health_check() {
    let w = R53World::start();
    let c = w.client().await;
    let id = create_hc(
        &c,
        "gone",
        hc(HealthCheckType::Http, 8080).build().expect("cfg"),
    )
    .await;
    c.delete_health_check()
        .health_check_id(&id)
        .send()
        .await
        .expect("delete");
    let e = c
        .delete_health_check()
        .health_check_id(&id)
        .send()
        .await
        .expect_err("twice");
    assert!(
        e.as_service_error()
            .is_some_and(|s| s.is_no_such_health_check()),
        "{e:?}"
    );
    assert_eq!(status(&e), 404);

    let e = c
        .list_tags_for_resource()
        .resource_type("healthcheck".into())
        .resource_id(&id)
        .send()
        .await
        .expect_err("tags of a missing check");
    assert_eq!(code(&e), "NoSuchHealthCheck");
    let e = c
        .change_tags_for_resource()
        .resource_type("healthcheck".into())
        .resource_id("no-such-id")
        .add_tags(
            aws_sdk_route53::types::Tag::builder()
                .key("k")
                .value("v")
                .build(),
        )
        .send()
        .await
        .expect_err("tag a missing check");
    assert_eq!(code(&e), "NoSuchHealthCheck");
    let e = c
        .get_health_check_status()
        .health_check_id(&id)
        .send()
        .await
        .expect_err("status");
    assert_eq!(code(&e), "NoSuchHealthCheck");
}

#[tokio::test]
async fn health_check_config_validation() {
    let w = R53World::start();
    let c = w.client().await;
    let http = || hc(HealthCheckType::Http, 8080);
    let cases: Vec<(&str, HealthCheckConfig)> = vec![
        ("port 0", http().port(0).build().expect("cfg")),
        ("port 70000", http().port(70000).build().expect("cfg")),
        (
            "FailureThreshold 0",
            http().failure_threshold(0).build().expect("cfg"),
        ),
        (
            "FailureThreshold 11",
            http().failure_threshold(11).build().expect("cfg"),
        ),
        (
            "RequestInterval 20",
            http().request_interval(20).build().expect("cfg"),
        ),
        (
            "two regions",
            http()
                .regions(HealthCheckRegion::UsEast1)
                .regions(HealthCheckRegion::UsWest1)
                .build()
                .expect("cfg"),
        ),
        (
            "unknown region",
            http()
                .regions(HealthCheckRegion::UsEast1)
                .regions(HealthCheckRegion::UsWest1)
                .regions(HealthCheckRegion::from("mars-north-1"))
                .build()
                .expect("cfg"),
        ),
        (
            "ResourcePath without /",
            http().resource_path("health").build().expect("cfg"),
        ),
        (
            "ResourcePath of 256",
            http()
                .resource_path(format!("/{}", "a".repeat(255)))
                .build()
                .expect("cfg"),
        ),
        (
            "SearchString of 256",
            hc(HealthCheckType::HttpStrMatch, 8080)
                .search_string("s".repeat(256))
                .build()
                .expect("cfg"),
        ),
        (
            "STR_MATCH without SearchString",
            hc(HealthCheckType::HttpStrMatch, 8080)
                .build()
                .expect("cfg"),
        ),
        (
            "Type BOGUS",
            http()
                .r#type(HealthCheckType::from("BOGUS"))
                .build()
                .expect("cfg"),
        ),
        (
            "IPAddress not-an-ip",
            http().ip_address("not-an-ip").build().expect("cfg"),
        ),
        (
            "no IPAddress nor FQDN",
            http().set_ip_address(None).build().expect("cfg"),
        ),
    ];
    for (i, (label, cfg)) in cases.into_iter().enumerate() {
        let e = c
            .create_health_check()
            .caller_reference(format!("invalid-{i}"))
            .health_check_config(cfg)
            .send()
            .await
            .expect_err(label);
        assert_eq!(code(&e), "InvalidInput", "{label}: {e:?}");
        assert_eq!(status(&e), 400, "{label}");
    }
    assert_eq!(
        w.health_checks().as_array().map(Vec::len),
        Some(0),
        "nothing was created"
    );
}

#[tokio::test]
async fn list_health_checks_pages_with_marker() {
    let w = R53World::start();
    let c = w.client().await;
    for i in 0..3 {
        create_hc(
            &c,
            &format!("page-{i}"),
            hc(HealthCheckType::Http, 8080 + i).build().expect("cfg"),
        )
        .await;
    }
    let first = c
        .list_health_checks()
        .max_items(2)
        .send()
        .await
        .expect("page 1");
    assert_eq!(first.health_checks().len(), 2);
    assert!(first.is_truncated());
    let marker = first.next_marker().expect("NextMarker").to_string();
    let second = c
        .list_health_checks()
        .max_items(2)
        .marker(&marker)
        .send()
        .await
        .expect("page 2");
    assert_eq!(second.health_checks().len(), 1);
    assert!(!second.is_truncated());
    assert_eq!(second.health_checks()[0].id(), marker);
    let mut ids: Vec<_> = first
        .health_checks()
        .iter()
        .chain(second.health_checks())
        .map(|h| h.id())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    let count = c
        .get_health_check_count()
        .send()
        .await
        .expect("GetHealthCheckCount");
    assert_eq!(count.health_check_count(), 3);
}

// ------------------------------------------------------------------------------- record sets

#[tokio::test]
async fn delete_must_match_the_exact_current_values() {
    let w = R53World::start();
    let c = w.client().await;
    let (zone, hc_id) = zone_with_pair(&w, &c, "del").await;
    let api_hc = create_hc(
        &c,
        "del-api",
        hc(HealthCheckType::Http, 2).build().expect("cfg"),
    )
    .await;
    // Another name with the same SetIdentifier.
    let api = a_set(
        "api.example.test",
        "52.94.76.5",
        Some(("primary", "PRIMARY", Some(&api_hc))),
    );
    apply(&c, &zone, vec![change(ChangeAction::Create, api)])
        .await
        .expect("api primary");
    let before = sets(&c, &zone).await;

    let stale = [
        a_set(
            "app.example.test",
            "52.94.76.9",
            Some(("primary", "PRIMARY", Some(&hc_id))),
        ),
        a_set(
            "app.example.test",
            "52.94.76.1",
            Some(("primary", "PRIMARY", Some(&api_hc))),
        ),
        a_set(
            "app.example.test",
            "52.94.76.1",
            Some(("primary", "SECONDARY", None)),
        ),
        ResourceRecordSet::builder()
            .name("app.example.test")
            .r#type(RrType::A)
            .ttl(300)
            .resource_records(
                ResourceRecord::builder()
                    .value("52.94.76.1")
                    .build()
                    .expect("rr"),
            )
            .set_identifier("primary")
            .failover(ResourceRecordSetFailover::Primary)
            .health_check_id(&hc_id)
            .build()
            .expect("rrset"),
    ];
    for s in stale {
        let e = apply(&c, &zone, vec![change(ChangeAction::Delete, s)])
            .await
            .expect_err("stale DELETE");
        assert!(
            e.as_service_error()
                .is_some_and(|s| s.is_invalid_change_batch()),
            "{e:?}"
        );
        assert_eq!(
            message(&e),
            "[Tried to delete resource record set [name='app.example.test.', type='A', \
             set-identifier='primary'] but the values provided do not match the current values]"
        );
    }
    assert_eq!(sets(&c, &zone).await, before, "nothing was deleted");

    let exact = a_set(
        "app.example.test",
        "52.94.76.1",
        Some(("primary", "PRIMARY", Some(&hc_id))),
    );
    apply(&c, &zone, vec![change(ChangeAction::Delete, exact.clone())])
        .await
        .expect("exact DELETE");
    let after = sets(&c, &zone).await;
    assert_eq!(after.len(), before.len() - 1);
    assert!(
        after
            .iter()
            .any(|s| s.0 == "api.example.test." && s.2.as_deref() == Some("primary"))
    );
    assert!(
        after
            .iter()
            .any(|s| s.0 == "app.example.test." && s.2.as_deref() == Some("secondary"))
    );

    let e = apply(&c, &zone, vec![change(ChangeAction::Delete, exact)])
        .await
        .expect_err("again");
    assert_eq!(
        message(&e),
        "[Tried to delete resource record set [name='app.example.test.', type='A', \
         set-identifier='primary'] but it was not found]"
    );
}

#[tokio::test]
async fn create_of_an_existing_set_fails_and_upsert_replaces() {
    let w = R53World::start();
    let c = w.client().await;
    let (zone, hc_id) = zone_with_pair(&w, &c, "dup").await;
    for ip in ["52.94.76.1", "52.94.76.7"] {
        let s = a_set(
            "app.example.test",
            ip,
            Some(("primary", "PRIMARY", Some(&hc_id))),
        );
        let e = apply(&c, &zone, vec![change(ChangeAction::Create, s)])
            .await
            .expect_err("dup CREATE");
        assert_eq!(code(&e), "InvalidChangeBatch");
        assert_eq!(
            message(&e),
            "[Tried to create resource record set [name='app.example.test.', type='A', \
             set-identifier='primary'] but it already exists]"
        );
    }
    let s = a_set(
        "app.example.test",
        "52.94.76.3",
        Some(("primary", "PRIMARY", Some(&hc_id))),
    );
    apply(&c, &zone, vec![change(ChangeAction::Upsert, s)])
        .await
        .expect("UPSERT");
    let primaries: Vec<_> = sets(&c, &zone)
        .await
        .into_iter()
        .filter(|s| s.2.as_deref() == Some("primary"))
        .collect();
    assert_eq!(primaries.len(), 1);
    assert_eq!(primaries[0].3, ["52.94.76.3"]);
}

#[tokio::test]
async fn change_batches_are_all_or_nothing() {
    let w = R53World::start();
    let c = w.client().await;
    let zone = w.create_zone("example.test").await;
    let before = sets(&c, &zone).await;
    let good = || {
        change(
            ChangeAction::Create,
            a_set("atomic.example.test", "52.94.76.1", None),
        )
    };
    let bad_batches = [
        change(
            ChangeAction::Delete,
            a_set("nope.example.test", "52.94.76.1", None),
        ),
        change(
            ChangeAction::Create,
            a_set("www.other.test", "52.94.76.1", None),
        ),
        change(
            ChangeAction::Create,
            a_set("bad.example.test", "not-an-ip", None),
        ),
    ];
    for bad in bad_batches {
        let e = apply(&c, &zone, vec![good(), bad])
            .await
            .expect_err("batch with a bad change");
        assert_eq!(code(&e), "InvalidChangeBatch", "{e:?}");
        assert_eq!(
            sets(&c, &zone).await,
            before,
            "no part of the batch was applied"
        );
    }
    apply(&c, &zone, vec![good()])
        .await
        .expect("the good change alone");
    // Every problem of a batch is reported, in one "[msg1, msg2]" message.
    let e = apply(
        &c,
        &zone,
        vec![
            good(),
            change(
                ChangeAction::Delete,
                a_set("nope.example.test", "52.94.76.1", None),
            ),
        ],
    )
    .await
    .expect_err("two problems");
    assert_eq!(
        message(&e),
        "[Tried to create resource record set [name='atomic.example.test.', type='A'] but it \
         already exists, Tried to delete resource record set [name='nope.example.test.', \
         type='A'] but it was not found]"
    );
}

#[tokio::test]
async fn changes_are_pending_then_insync() {
    let w = R53World::start();
    let c = w.client().await;
    let zone = w.create_zone("example.test").await;
    let mut ids = Vec::new();
    for name in ["one.example.test", "two.example.test"] {
        let out = apply(
            &c,
            &zone,
            vec![change(
                ChangeAction::Create,
                a_set(name, "52.94.76.1", None),
            )],
        )
        .await
        .expect("change");
        let info = out.change_info().expect("ChangeInfo");
        assert_eq!(info.status(), &ChangeStatus::Pending);
        assert!(info.id().starts_with("/change/C"), "{}", info.id());
        ids.push(info.id().to_string());
    }
    assert_ne!(ids[0], ids[1], "change ids are unique");
    let now = c.get_change().id(&ids[0]).send().await.expect("GetChange");
    assert_eq!(
        now.change_info().map(|i| i.status().clone()),
        Some(ChangeStatus::Pending)
    );
    for id in &ids {
        eventually(
            "change INSYNC",
            Duration::from_secs(15),
            Duration::from_millis(200),
            || async {
                let out = c.get_change().id(id).send().await.expect("GetChange");
                let info = out.change_info().expect("info");
                assert_eq!(info.id(), id);
                (info.status() == &ChangeStatus::Insync).then_some(())
            },
        )
        .await;
    }
    let e = c
        .get_change()
        .id("CNOSUCHCHANGE1")
        .send()
        .await
        .expect_err("unknown change");
    assert!(
        e.as_service_error().is_some_and(|s| s.is_no_such_change()),
        "{e:?}"
    );
    assert_eq!(status(&e), 404);
}

#[tokio::test]
async fn record_set_validation() {
    let w = R53World::start();
    let c = w.client().await;
    let (zone, hc_id) = zone_with_pair(&w, &c, "val").await;
    let before = sets(&c, &zone).await;
    let base = |name: &str| {
        ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::A)
            .ttl(60)
            .resource_records(
                ResourceRecord::builder()
                    .value("52.94.76.1")
                    .build()
                    .expect("rr"),
            )
    };
    let alias = AliasTarget::builder()
        .hosted_zone_id(&zone)
        .dns_name("app.example.test")
        .evaluate_target_health(true)
        .build()
        .expect("alias");
    let cases: Vec<(&str, ResourceRecordSet, &str, &str)> = vec![
        (
            "A value not IPv4",
            a_set("x.example.test", "not-an-ip", None),
            "InvalidChangeBatch",
            "ARRDATAIllegalIPv4Address",
        ),
        (
            "AAAA value not IPv6",
            base("x.example.test")
                .r#type(RrType::Aaaa)
                .build()
                .expect("rrset"),
            "InvalidChangeBatch",
            "AAAARRDATAIllegalIPv6Address",
        ),
        (
            "non-alias primary without health check",
            a_set("x.example.test", "52.94.76.1", Some(("p", "PRIMARY", None))),
            "InvalidChangeBatch",
            "A non-alias primary ResourceRecordSet must have an associated health check",
        ),
        (
            "unknown HealthCheckId",
            a_set(
                "x.example.test",
                "52.94.76.1",
                Some(("p", "PRIMARY", Some("no-such-check"))),
            ),
            "NoSuchHealthCheck",
            "no-such-check",
        ),
        (
            "failover without SetIdentifier",
            base("x.example.test")
                .failover(ResourceRecordSetFailover::Secondary)
                .build()
                .expect("rrset"),
            "InvalidInput",
            "Missing field 'SetIdentifier'",
        ),
        (
            "second PRIMARY",
            a_set(
                "app.example.test",
                "52.94.76.4",
                Some(("primary-2", "PRIMARY", Some(&hc_id))),
            ),
            "InvalidChangeBatch",
            "PRIMARY",
        ),
        (
            "simple set next to a failover pair",
            a_set("app.example.test", "52.94.76.4", None),
            "InvalidChangeBatch",
            "cannot be created",
        ),
        (
            "alias with TTL",
            ResourceRecordSet::builder()
                .name("x.example.test")
                .r#type(RrType::A)
                .ttl(60)
                .alias_target(alias.clone())
                .build()
                .expect("rrset"),
            "InvalidInput",
            "found more than one",
        ),
        (
            "no TTL",
            base("x.example.test").set_ttl(None).build().expect("rrset"),
            "InvalidInput",
            "found none",
        ),
        (
            "no records",
            base("x.example.test")
                .set_resource_records(None)
                .build()
                .expect("rrset"),
            "InvalidInput",
            "found none",
        ),
        (
            "negative TTL",
            base("x.example.test").ttl(-5).build().expect("rrset"),
            "InvalidInput",
            "tTL",
        ),
        (
            "name outside the zone",
            a_set("www.other.test", "52.94.76.1", None),
            "InvalidChangeBatch",
            "is not permitted in zone example.test.",
        ),
        (
            "type BOGUS",
            base("x.example.test")
                .r#type(RrType::from("BOGUS"))
                .build()
                .expect("rrset"),
            "InvalidInput",
            "BOGUS",
        ),
        (
            "CNAME at the apex",
            ResourceRecordSet::builder()
                .name("example.test")
                .r#type(RrType::Cname)
                .ttl(60)
                .resource_records(
                    ResourceRecord::builder()
                        .value("app.example.test")
                        .build()
                        .expect("rr"),
                )
                .build()
                .expect("rrset"),
            "InvalidChangeBatch",
            "apex",
        ),
    ];
    for (label, set, want_code, want_text) in cases {
        let e = apply(&c, &zone, vec![change(ChangeAction::Create, set)])
            .await
            .expect_err(label);
        assert_eq!(code(&e), want_code, "{label}: {e:?}");
        assert!(
            message(&e).contains(want_text),
            "{label}: {:?}",
            message(&e)
        );
    }
    // The alias alone is fine.
    let ok = ResourceRecordSet::builder()
        .name("www.example.test")
        .r#type(RrType::A)
        .alias_target(alias)
        .build()
        .expect("rrset");
    assert_eq!(
        sets(&c, &zone).await,
        before,
        "no invalid change was applied"
    );
    apply(&c, &zone, vec![change(ChangeAction::Create, ok)])
        .await
        .expect("alias record");
}

#[tokio::test]
async fn failover_pair_pages_with_max_items_one() {
    let w = R53World::start();
    let c = w.client().await;
    let (zone, _) = zone_with_pair(&w, &c, "page").await;

    let page = c
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .start_record_name("app.example.test")
        .start_record_type(RrType::A)
        .max_items(1)
        .send()
        .await
        .expect("page 1");
    assert_eq!(
        page.resource_record_sets()[0].set_identifier(),
        Some("primary")
    );
    assert!(page.is_truncated());
    assert_eq!(page.next_record_name(), Some("app.example.test."));
    assert_eq!(page.next_record_type(), Some(&RrType::A));
    assert_eq!(page.next_record_identifier(), Some("secondary"));
    let page = c
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .start_record_name("app.example.test.")
        .start_record_type(RrType::A)
        .start_record_identifier("secondary")
        .max_items(1)
        .send()
        .await
        .expect("page 2");
    assert_eq!(
        page.resource_record_sets()[0].set_identifier(),
        Some("secondary")
    );
    assert!(!page.is_truncated());

    // A full walk with MaxItems=1 terminates and sees every set exactly once.
    let mut seen = Vec::new();
    let mut start: Option<(String, RrType, Option<String>)> = None;
    for _ in 0..20 {
        let mut req = c
            .list_resource_record_sets()
            .hosted_zone_id(&zone)
            .max_items(1);
        if let Some((name, ty, ident)) = start.take() {
            req = req
                .start_record_name(name)
                .start_record_type(ty)
                .set_start_record_identifier(ident);
        }
        let out = req.send().await.expect("page");
        for s in out.resource_record_sets() {
            seen.push(format!(
                "{} {} {:?}",
                s.name(),
                s.r#type().as_str(),
                s.set_identifier()
            ));
        }
        if !out.is_truncated() {
            break;
        }
        start = Some((
            out.next_record_name().expect("NextRecordName").to_string(),
            out.next_record_type().expect("NextRecordType").clone(),
            out.next_record_identifier().map(str::to_string),
        ));
    }
    assert!(start.is_none(), "paging did not terminate: {seen:?}");
    assert_eq!(
        seen,
        [
            "example.test. NS None",
            "example.test. SOA None",
            "app.example.test. A Some(\"primary\")",
            "app.example.test. A Some(\"secondary\")",
        ]
    );
}

#[tokio::test]
async fn list_hosted_zones_by_name_starts_at_dns_name() {
    let w = R53World::start();
    let c = w.client().await;
    for name in ["zzz.test", "example.test", "example.org", "a.test"] {
        w.create_zone(name).await;
    }
    let names = |out: &aws_sdk_route53::operation::list_hosted_zones_by_name::ListHostedZonesByNameOutput| {
        out.hosted_zones().iter().map(|z| z.name().to_string()).collect::<Vec<_>>()
    };
    let all = c.list_hosted_zones_by_name().send().await.expect("all");
    // Sorted by name with the labels reversed: org.example, test.a, test.example, test.zzz.
    assert_eq!(
        names(&all),
        ["example.org.", "a.test.", "example.test.", "zzz.test."]
    );
    assert!(!all.is_truncated());

    let first = c
        .list_hosted_zones_by_name()
        .dns_name("example.test")
        .max_items(1)
        .send()
        .await
        .expect("page 1");
    assert_eq!(names(&first), ["example.test."]);
    assert!(first.is_truncated());
    assert_eq!(first.max_items(), 1);
    assert_eq!(first.next_dns_name(), Some("zzz.test."));
    let next_id = first
        .next_hosted_zone_id()
        .expect("NextHostedZoneId")
        .to_string();
    let second = c
        .list_hosted_zones_by_name()
        .dns_name("zzz.test.")
        .hosted_zone_id(&next_id)
        .max_items(1)
        .send()
        .await
        .expect("page 2");
    assert_eq!(names(&second), ["zzz.test."]);
    assert!(!second.is_truncated());

    // A name between zones starts at the next one.
    let mid = c
        .list_hosted_zones_by_name()
        .dns_name("b.test")
        .send()
        .await
        .expect("mid");
    assert_eq!(names(&mid), ["example.test.", "zzz.test."]);
}

// ------------------------------------------------------------------- counters, quota, faults

#[tokio::test]
async fn counters_count_every_operation() {
    let w = R53World::start();
    let c = w.client().await;
    let zone = w.create_zone("example.test").await;
    w.reset_counters();
    let id = create_hc(
        &c,
        "count",
        hc(HealthCheckType::Http, 1).build().expect("cfg"),
    )
    .await;
    create_hc(
        &c,
        "count",
        hc(HealthCheckType::Http, 1).build().expect("cfg"),
    )
    .await;
    c.get_health_check_status()
        .health_check_id(&id)
        .send()
        .await
        .expect("status");
    let out = apply(
        &c,
        &zone,
        vec![change(
            ChangeAction::Create,
            a_set("c.example.test", "52.94.76.1", None),
        )],
    )
    .await
    .expect("change");
    c.get_change()
        .id(out.change_info().expect("info").id())
        .send()
        .await
        .expect("GetChange");
    for _ in 0..3 {
        sets(&c, &zone).await;
    }
    let _ = c.get_change().id("CNOSUCH").send().await;
    let counters = w.counters();
    assert_eq!(
        counters["requests"],
        json!({"CreateHealthCheck": 2, "GetHealthCheckStatus": 1, "ChangeResourceRecordSets": 1,
               "GetChange": 2, "ListResourceRecordSets": 3}),
        "{counters}"
    );
    assert_eq!(counters["throttled"], json!({}));
    w.reset_counters();
    assert_eq!(w.counters()["requests"], json!({}));
}

#[tokio::test]
async fn quota_throttles_like_route53() {
    let w = R53World::start();
    let c = w.client_max_attempts(1).await;
    w.reset_counters();
    w.configure(json!({"quota": {"rate": 1, "burst": 3}}));
    let mut throttled = 0;
    for _ in 0..15 {
        if let Err(e) = c.list_health_checks().send().await {
            assert_eq!(code(&e), "Throttling", "{e:?}");
            assert_eq!(message(&e), "Rate exceeded");
            assert_eq!(status(&e), 400);
            throttled += 1;
        }
    }
    assert!(
        throttled >= 5,
        "expected throttling, got {throttled} errors"
    );
    assert_eq!(w.counter("throttled", "ListHealthChecks"), throttled);
    assert_eq!(w.counter("requests", "ListHealthChecks"), 15);

    // A per-operation bucket throttles only its operation.
    w.configure(
        json!({"quota": {"per_operation": {"CreateHealthCheck": {"rate": 0.01, "burst": 1}}}}),
    );
    create_hc(&c, "q1", hc(HealthCheckType::Http, 1).build().expect("cfg")).await;
    let e = c
        .create_health_check()
        .caller_reference("q2")
        .health_check_config(hc(HealthCheckType::Http, 2).build().expect("cfg"))
        .send()
        .await
        .expect_err("second create throttled");
    assert_eq!(code(&e), "Throttling");
    for _ in 0..10 {
        c.list_health_checks()
            .send()
            .await
            .expect("other operations are not limited");
    }

    w.configure(json!({"quota": null}));
    assert_eq!(w.config()["quota"], serde_json::Value::Null);
    for _ in 0..15 {
        c.list_health_checks().send().await.expect("quota off");
    }
}

#[tokio::test]
async fn quota_from_environment() {
    let w = R53World::start_with(&[], &[("R53_QUOTA_RATE", "0.5"), ("R53_QUOTA_BURST", "2")]);
    let c = w.client_max_attempts(1).await;
    let results: Vec<_> =
        futures::future::join_all((0..6).map(|_| c.list_health_checks().send())).await;
    let throttled = results
        .iter()
        .filter(|r| r.as_ref().is_err_and(|e| code(e) == "Throttling"))
        .count();
    assert!(throttled >= 3, "{results:?}");
    assert_eq!(w.config()["quota"], json!({"rate": 0.5, "burst": 2.0}));
}

#[tokio::test]
async fn fault_injection_errors_and_latency() {
    let w = R53World::start();
    let c = w.client_max_attempts(1).await;
    let zone = w.create_zone("example.test").await;
    w.configure(json!({"faults": {"error_rate": 1.0, "operations": ["ListHealthChecks"]}}));
    let e = c
        .list_health_checks()
        .send()
        .await
        .expect_err("injected fault");
    assert_eq!(code(&e), "InternalError");
    assert_eq!(status(&e), 500);
    c.get_health_check_count()
        .send()
        .await
        .expect("other operations unaffected");
    assert_eq!(w.counter("faults", "ListHealthChecks"), 1);

    w.configure(
        json!({"faults": {"error_rate": 1.0, "code": "PriorRequestNotComplete",
                                  "operations": ["ChangeResourceRecordSets"]}}),
    );
    let e = apply(
        &c,
        &zone,
        vec![change(
            ChangeAction::Create,
            a_set("f.example.test", "52.94.76.1", None),
        )],
    )
    .await
    .expect_err("PriorRequestNotComplete");
    assert!(
        e.as_service_error()
            .is_some_and(|s| s.is_prior_request_not_complete()),
        "{e:?}"
    );
    assert_eq!(status(&e), 400);

    w.configure(json!({"faults": {"latency_ms": 400}}));
    let t = Instant::now();
    c.list_health_checks().send().await.expect("slow but fine");
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );

    w.configure(json!({"faults": null}));
    c.list_health_checks().send().await.expect("faults off");
    // The default client retries a transient fault; with error_rate 1.0 it still surfaces.
    w.configure(json!({"faults": {"error_rate": 1.0, "operations": ["GetHealthCheckCount"]}}));
    let retrying = w.client().await;
    let before = w.counter("requests", "GetHealthCheckCount");
    let e = retrying
        .get_health_check_count()
        .send()
        .await
        .expect_err("still failing");
    assert_eq!(code(&e), "InternalError");
    assert_eq!(
        w.counter("requests", "GetHealthCheckCount") - before,
        3,
        "3 attempts by default"
    );
}

// ------------------------------------------------------------------------ real health probing

#[tokio::test]
async fn http_check_follows_the_backend() {
    let w = R53World::start();
    w.route(PUBLIC, "127.0.0.1");
    let c = w.client().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut backend = Backend::start(dir.path());
    let cfg = hc(HealthCheckType::Http, i32::from(backend.port))
        .build()
        .expect("cfg");
    let id = create_hc(&c, "flip", cfg).await;

    let obs = wait_all(&c, &id, "Success:", "HTTP Status Code 200").await;
    // No Regions configured: one observation per default checker region.
    assert_eq!(obs.len(), 8, "{obs:?}");

    backend.kill();
    let t = Instant::now();
    wait_all(&c, &id, "Failure:", "").await;
    let failed_after = t.elapsed();
    let lfr = c
        .get_health_check_last_failure_reason()
        .health_check_id(&id)
        .send()
        .await
        .expect("GetHealthCheckLastFailureReason");
    assert!(!lfr.health_check_observations().is_empty());

    backend.restart();
    wait_all(&c, &id, "Success:", "HTTP Status Code 200").await;
    let hcs = w.health_checks();
    assert_eq!(hcs[0]["healthy"], true, "{hcs}");
    eprintln!("kill -> Failure after {failed_after:?}");
}

#[tokio::test]
async fn new_check_is_healthy_until_it_has_data() {
    let w = R53World::start();
    w.route(PUBLIC, "127.0.0.1");
    let c = w.client().await;
    // Nothing listens on port 1; RequestInterval 30 x 0.05 = 1.5 s, so 3 failures take >= 3 s.
    let cfg = hc(HealthCheckType::Tcp, 1)
        .request_interval(30)
        .build()
        .expect("cfg");
    let id = create_hc(&c, "fresh", cfg).await;
    let obs = observations(&c, &id).await;
    assert!(
        obs.iter().all(|(_, s)| s.starts_with("Success:")),
        "{obs:?}"
    );
    wait_all(&c, &id, "Failure:", "ConnectionRefused").await;
}

#[tokio::test]
async fn tcp_check_follows_the_backend() {
    let w = R53World::start();
    w.route(PUBLIC, "127.0.0.1");
    let c = w.client().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut backend = Backend::start(dir.path());
    let cfg = hc(HealthCheckType::Tcp, i32::from(backend.port))
        .build()
        .expect("cfg");
    let id = create_hc(&c, "tcp", cfg).await;
    wait_all(&c, &id, "Success:", "TCP connection established").await;
    backend.kill();
    wait_all(&c, &id, "Failure:", "").await;
}

#[tokio::test]
async fn string_match_looks_at_the_body() {
    let w = R53World::start();
    w.route(PUBLIC, "127.0.0.1");
    let c = w.client().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start(dir.path());
    let port = i32::from(backend.port);
    let present = hc(HealthCheckType::HttpStrMatch, port)
        .search_string("healthy")
        .failure_threshold(1);
    let absent = hc(HealthCheckType::HttpStrMatch, port)
        .search_string("no-such-text")
        .failure_threshold(1);
    let present = create_hc(&c, "str-present", present.build().expect("cfg")).await;
    let absent = create_hc(&c, "str-absent", absent.build().expect("cfg")).await;
    wait_all(&c, &absent, "Failure:", "search string not found").await;
    wait_all(&c, &present, "Success:", "HTTP Status Code 200").await;
}

#[tokio::test]
async fn inverted_and_disabled_checks() {
    let w = R53World::start();
    w.route(PUBLIC, "127.0.0.1");
    let c = w.client().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start(dir.path());
    let up = hc(HealthCheckType::Http, i32::from(backend.port))
        .inverted(true)
        .failure_threshold(1);
    let inverted = create_hc(&c, "inverted", up.build().expect("cfg")).await;
    wait_all(&c, &inverted, "Failure:", "HTTP Status Code 200").await;

    // Disabled: always healthy, never probed (port 1 is closed).
    let down = hc(HealthCheckType::Http, 1)
        .disabled(true)
        .failure_threshold(1);
    let disabled = create_hc(&c, "disabled", down.build().expect("cfg")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let obs = observations(&c, &disabled).await;
    assert!(
        obs.iter()
            .all(|(_, s)| s.starts_with("Success:") && s.contains("disabled")),
        "{obs:?}"
    );
    let all = w.health_checks();
    let d = all
        .as_array()
        .expect("list")
        .iter()
        .find(|h| h["id"] == disabled.as_str())
        .expect("listed");
    assert_eq!(d["probes"], 0, "a disabled check sends no probes: {d}");
}

#[tokio::test]
async fn checker_regions_report_separately() {
    let w = R53World::start();
    w.route(PUBLIC, "127.0.0.1");
    let c = w.client().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start(dir.path());
    let cfg = hc(HealthCheckType::Http, i32::from(backend.port))
        .regions(HealthCheckRegion::UsEast1)
        .regions(HealthCheckRegion::EuWest1)
        .regions(HealthCheckRegion::ApSoutheast2)
        .failure_threshold(1)
        .build()
        .expect("cfg");
    let id = create_hc(&c, "regions", cfg).await;
    let obs = wait_all(&c, &id, "Success:", "200").await;
    let mut regions: Vec<_> = obs.iter().map(|(r, _)| r.as_str()).collect();
    regions.sort();
    assert_eq!(regions, ["ap-southeast-2", "eu-west-1", "us-east-1"]);

    w.force_failing_checkers(&id, &["us-east-1"]);
    eventually(
        "us-east-1 alone reports Failure",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let obs = observations(&c, &id).await;
            obs.iter()
                .all(|(r, s)| {
                    s.starts_with(if r == "us-east-1" {
                        "Failure:"
                    } else {
                        "Success:"
                    })
                })
                .then_some(())
        },
    )
    .await;
    // 2 of 3 checkers healthy (> 18%): the check as a whole stays healthy.
    assert_eq!(w.health_checks()[0]["healthy"], true);
    w.force_failing_checkers(&id, &[]);
    wait_all(&c, &id, "Success:", "200").await;
}

#[tokio::test]
async fn endpoints_without_a_route_are_never_probed() {
    let w = R53World::start();
    let c = w.client().await;
    // A public address and a name with no route: unreachable, with no connection and no DNS lookup.
    let by_ip = hc(HealthCheckType::Http, 80).failure_threshold(1);
    let by_ip = create_hc(&c, "unrouted-ip", by_ip.build().expect("cfg")).await;
    let by_name = HealthCheckConfig::builder()
        .r#type(HealthCheckType::Tcp)
        .fully_qualified_domain_name("unrouted.example.net")
        .port(443)
        .request_interval(10)
        .failure_threshold(1)
        .build()
        .expect("cfg");
    let by_name = create_hc(&c, "unrouted-name", by_name).await;
    wait_all(&c, &by_ip, "Failure:", "No route to 52.94.76.10 port 80").await;
    wait_all(
        &c,
        &by_name,
        "Failure:",
        "No route to unrouted.example.net port 443",
    )
    .await;
}

#[tokio::test]
async fn special_use_addresses_are_refused_like_route53() {
    let w = R53World::start();
    let c = w.client().await;
    let refused = [
        ("10.1.2.3", "10.0.0.0/8 (private, RFC 1918)"),
        ("172.16.0.1", "172.16.0.0/12"),
        ("192.168.1.1", "192.168.0.0/16"),
        (
            "100.64.0.1",
            "100.64.0.0/10 (shared address space, RFC 6598)",
        ),
        ("127.0.0.1", "127.0.0.0/8 (loopback"),
        ("169.254.1.1", "169.254.0.0/16"),
        ("192.0.2.10", "192.0.2.0/24 (documentation"),
        ("198.51.100.7", "198.51.100.0/24"),
        ("203.0.113.5", "203.0.113.0/24"),
        ("198.18.0.1", "198.18.0.0/15 (benchmarking"),
        ("224.0.0.1", "224.0.0.0/4 (multicast"),
        ("240.0.0.1", "240.0.0.0/4"),
        ("255.255.255.255", "240.0.0.0/4"),
        ("0.1.2.3", "0.0.0.0/8"),
        ("::1", "::1/128 (loopback"),
        ("::", "::/128"),
        ("fe80::1", "fe80::/10 (link-local"),
        ("fc00::1", "fc00::/7 (unique local"),
        ("2001:db8::1", "2001:db8::/32 (documentation"),
        ("2001:10::1", "2001:10::/28 (ORCHID"),
        ("ff02::1", "ff00::/8 (multicast"),
    ];
    for (ip, fragment) in refused {
        let cfg = hc(HealthCheckType::Http, 80)
            .ip_address(ip)
            .build()
            .expect("cfg");
        let e = c
            .create_health_check()
            .caller_reference(format!("refused-{ip}"))
            .health_check_config(cfg)
            .send()
            .await
            .expect_err(ip);
        assert_eq!(
            (status(&e), code(&e).as_str()),
            (400, "InvalidInput"),
            "{ip}: {e:?}"
        );
        let m = message(&e);
        assert!(
            m.contains(fragment) && m.contains("local, private, non-routable, or multicast"),
            "{ip}: {m}"
        );
    }
    assert_eq!(w.health_checks(), json!([]), "nothing was created");

    // Ordinary public addresses are accepted; UpdateHealthCheck refuses the same ranges.
    let mut ids = Vec::new();
    for ip in ["52.94.76.10", "8.8.8.8", "2600:1f18::1"] {
        let cfg = hc(HealthCheckType::Http, 80)
            .ip_address(ip)
            .build()
            .expect("cfg");
        ids.push(create_hc(&c, &format!("public-{ip}"), cfg).await);
    }
    let e = c
        .update_health_check()
        .health_check_id(&ids[0])
        .ip_address("10.0.0.1")
        .send()
        .await
        .expect_err("update to a private address");
    assert_eq!(code(&e), "InvalidInput");
    assert!(message(&e).contains("10.0.0.0/8"), "{}", message(&e));
    c.update_health_check()
        .health_check_id(&ids[0])
        .ip_address("52.94.76.11")
        .send()
        .await
        .expect("update to another public address");
}

#[tokio::test]
async fn routing_table_api() {
    let w = R53World::start();
    assert_eq!(w.route_table(), json!({}));
    let table = w.set_routes(&[
        ("52.94.76.10", "127.0.0.1"),
        ("App-EU.Example.NET.:443", "127.0.0.1:41234"),
        ("2600:1f18::1", "::1"),
        ("[2600:1f18::2]:80", "127.0.0.1:8080"),
    ]);
    assert_eq!(
        table,
        json!({
            "52.94.76.10": "127.0.0.1",
            "app-eu.example.net:443": "127.0.0.1:41234",
            "2600:1f18::1": "::1",
            "[2600:1f18::2]:80": "127.0.0.1:8080",
        })
    );
    // POST merges; PUT replaces.
    w.route("54.239.28.85", "127.0.0.2");
    assert_eq!(w.route_table()["54.239.28.85"], "127.0.0.2");
    assert_eq!(w.route_table().as_object().map(|m| m.len()), Some(5));
    w.set_routes(&[("54.239.28.86", "127.0.0.1")]);
    assert_eq!(w.route_table(), json!({"54.239.28.86": "127.0.0.1"}));
    // Targets must be loopback addresses: the double never sends a packet anywhere else.
    for (key, target) in [
        ("52.94.76.10", "52.94.76.11"),
        ("52.94.76.10", "localhost"),
        ("52.94.76.10", "10.0.0.1:80"),
        ("52.94.76.10:0", "127.0.0.1"),
    ] {
        let body = json!({"routes": {key: target}}).to_string();
        let (code, text) = support::http("POST", w.port(), "/_world/routes", Some(&body));
        assert_eq!(code, 400, "{key} -> {target}: {text}");
    }
    assert_eq!(
        w.route_table(),
        json!({"54.239.28.86": "127.0.0.1"}),
        "a refused update changes nothing"
    );
}

#[tokio::test]
async fn a_route_with_a_port_keeps_the_host_header_of_the_endpoint() {
    let w = R53World::start();
    let c = w.client().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start(dir.path());
    // The check names 52.94.76.12:80; the probe connects to the backend's port, and the Host header
    // stays the endpoint's (no ":80" for port 80, as Route 53 sends it).
    w.route("52.94.76.12:80", &format!("127.0.0.1:{}", backend.port));
    let cfg = HealthCheckConfig::builder()
        .r#type(HealthCheckType::HttpStrMatch)
        .ip_address("52.94.76.12")
        .port(80)
        .resource_path("/health")
        .search_string("Host: 52.94.76.12\n")
        .request_interval(10)
        .failure_threshold(1)
        .build()
        .expect("cfg");
    let id = create_hc(&c, "routed-port", cfg).await;
    wait_all(&c, &id, "Success:", "Resolved IP: 52.94.76.12").await;
    // Another port of the same address has no route.
    let other = hc(HealthCheckType::Tcp, 81)
        .ip_address("52.94.76.12")
        .failure_threshold(1);
    let other = create_hc(&c, "routed-other-port", other.build().expect("cfg")).await;
    wait_all(&c, &other, "Failure:", "No route to 52.94.76.12 port 81").await;
}

#[tokio::test]
async fn fqdn_is_probed_through_its_route_with_its_host_header() {
    let w = R53World::start();
    let c = w.client().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = Backend::start(dir.path());
    w.route("app-eu.example.net", "127.0.0.1");
    let cfg = HealthCheckConfig::builder()
        .r#type(HealthCheckType::HttpStrMatch)
        .fully_qualified_domain_name("app-eu.example.net")
        .port(i32::from(backend.port))
        .resource_path("/health")
        .search_string(format!("Host: app-eu.example.net:{}\n", backend.port))
        .request_interval(10)
        .failure_threshold(1)
        .build()
        .expect("cfg");
    let id = create_hc(&c, "fqdn", cfg).await;
    wait_all(&c, &id, "Success:", "Resolved IP: 127.0.0.1").await;
}

/// Hosted zone ids start with `Z`, as Route 53's do (the CRD's `hostedZone.id` pattern relies on it).
#[tokio::test]
async fn hosted_zone_ids_start_with_z() {
    let world = R53World::start();
    for i in 0..20 {
        let id = world.create_zone(&format!("z{i}.example.test")).await;
        assert!(id.starts_with('Z'), "{id}");
    }
}
