//! Endpoint targets from Kubernetes objects, against the local world: the real operator binary (with
//! the chart's RBAC) on a real kube-apiserver, and the Route 53 double. No cloud controller runs, so
//! a load balancer's address is written by patching the object's status subresource, as one would.
//!
//! - a Service address appearing late (`TargetPending`, nothing written) → records and the owned
//!   health check follow it; a change of address is one ChangeResourceRecordSets and the health
//!   check is updated in place; the Service deleted → `TargetLost`, records untouched;
//! - an Ingress with an ALB host name and a Gateway with an NLB host name → aliases to the zones of
//!   the operator's table (the Gateway API CRD fetched by `scripts/localenv install`);
//! - bad input: a forbidden namespace, a missing one, a Service that is not a LoadBalancer, an
//!   address of the wrong family, a Gateway without the Gateway API → `Ready=False` with its reason
//!   and no Route 53 write.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use route53_failover_operator::crd::FailoverRecord;
use route53_failover_operator::status::find_condition;
use serde_json::{Value, json};
use support::kube::{KubeWorld, ok};
use support::operator::Operator;
use support::r53::R53World;
use support::{eventually, localenv_home};

const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);
const FIRST_IP: &str = "52.94.76.30";
const SECOND_IP: &str = "52.94.76.31";
const SECONDARY_IP: &str = "52.94.76.40";

struct World {
    r53: R53World,
    zone: String,
    kube: KubeWorld,
    client: kube::Client,
}

async fn world() -> World {
    let r53 = R53World::start();
    let kube = KubeWorld::with_crd();
    let zone = r53.create_zone("example.test").await;
    for ip in [FIRST_IP, SECOND_IP, SECONDARY_IP] {
        r53.route(ip, "127.0.0.1");
    }
    let client = kube.client().await;
    World {
        r53,
        zone,
        kube,
        client,
    }
}

fn writes(w: &World) -> u64 {
    [
        "ChangeResourceRecordSets",
        "CreateHealthCheck",
        "UpdateHealthCheck",
        "DeleteHealthCheck",
    ]
    .iter()
    .map(|op| w.r53.counter("requests", op))
    .sum()
}

/// Wait `quiet` and assert that Route 53 saw no write (of [`writes`]) so far; `when` completes the
/// message "nothing is written …".
async fn assert_no_writes_for(w: &World, quiet: Duration, when: &str) {
    tokio::time::sleep(quiet).await;
    assert_eq!(writes(w), 0, "nothing is written {when}");
}

fn apply(w: &World, yaml: &str) {
    ok(&w
        .kube
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], yaml));
}

async fn create_namespace(w: &World, name: &str) {
    let api: Api<Namespace> = Api::all(w.client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
}

/// A Service `name` in `ns` of `type_` (LoadBalancer or ClusterIP), without status.
async fn create_service(w: &World, ns: &str, name: &str, type_: &str) {
    let api: Api<Service> = Api::namespaced(w.client.clone(), ns);
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"type": type_, "ports": [{"port": 80}], "selector": {"app": name}}
    }))
    .expect("service");
    api.create(&PostParams::default(), &svc)
        .await
        .expect("create service");
}

/// Set a Service's `status.loadBalancer.ingress` as a cloud controller would.
async fn set_service_ingress(w: &World, ns: &str, name: &str, ingress: Value) {
    let api: Api<Service> = Api::namespaced(w.client.clone(), ns);
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"loadBalancer": {"ingress": ingress}}})),
    )
    .await
    .expect("patch service status");
}

/// An Ingress `name` in `default` (backend: Service `web`) whose load balancer has `hostname`, as
/// the AWS Load Balancer Controller would set it.
async fn create_ingress(w: &World, name: &str, hostname: &str) {
    let api: Api<Ingress> = Api::namespaced(w.client.clone(), "default");
    let ing: Ingress = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}
    }))
    .expect("ingress");
    api.create(&PostParams::default(), &ing)
        .await
        .expect("ingress");
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}})),
    )
    .await
    .expect("ingress status");
}

async fn record(w: &World, name: &str) -> FailoverRecord {
    let api: Api<FailoverRecord> = Api::namespaced(w.client.clone(), "default");
    api.get(name).await.expect("get record")
}

/// Wait until the record's Ready condition for its current generation has `status` and `reason`.
async fn wait_ready(w: &World, name: &str, status: &str, reason: &str) -> FailoverRecord {
    let api: Api<FailoverRecord> = Api::namespaced(w.client.clone(), "default");
    eventually(
        &format!("{name} Ready={status} reason={reason}"),
        WAIT,
        POLL,
        || {
            let api = api.clone();
            async move {
                api.get_opt(name).await.ok().flatten().filter(|o| {
                    find_condition(o.status.as_ref(), "Ready").is_some_and(|c| {
                        c.status == status
                            && c.reason == reason
                            && c.observed_generation == o.metadata.generation
                    })
                })
            }
        },
    )
    .await
}

/// The record set of `name.example.test.` with failover `role` (PRIMARY or SECONDARY), as JSON:
/// `{"values": [...]}` or `{"alias": [dnsName, zoneId]}`, and its health check id.
async fn record_set(w: &World, name: &str, role: &str) -> Option<(Value, Option<String>)> {
    let out = w
        .r53
        .client()
        .await
        .list_resource_record_sets()
        .hosted_zone_id(&w.zone)
        .send()
        .await
        .ok()?;
    let r = out.resource_record_sets().iter().find(|r| {
        r.name() == format!("{name}.example.test.")
            && r.failover().map(|f| f.as_str()) == Some(role)
    })?;
    let v = match r.alias_target() {
        Some(a) => json!({"alias": [a.dns_name(), a.hosted_zone_id()]}),
        None => {
            json!({"values": r.resource_records().iter().map(|v| v.value()).collect::<Vec<_>>()})
        }
    };
    Some((v, r.health_check_id().map(str::to_string)))
}

async fn health_check_ip(w: &World, id: &str) -> Option<String> {
    let out = w
        .r53
        .client()
        .await
        .get_health_check()
        .health_check_id(id)
        .send()
        .await
        .ok()?;
    out.health_check()?
        .health_check_config()?
        .ip_address()
        .map(str::to_string)
}

/// A FailoverRecord whose primary follows `target` (YAML flow) with an HTTP check without address,
/// and whose secondary is a plain value.
fn target_record(name: &str, rtype: &str, target: &str, secondary: &str) -> String {
    format!(
        r#"apiVersion: route53.failover.io/v1alpha1
kind: FailoverRecord
metadata:
  name: {name}
  namespace: default
spec:
  hostedZone: {{name: example.test}}
  name: {name}.example.test
  type: {rtype}
  primary:
    target: {target}
    healthCheck: {{type: HTTP, port: 8080, resourcePath: /health, requestInterval: 10, failureThreshold: 1}}
  secondary:
{secondary}
"#
    )
}

fn plain_secondary() -> String {
    format!(
        "    values: [\"{SECONDARY_IP}\"]\n    healthCheck: {{type: HTTP, ipAddress: {SECONDARY_IP}, port: 8080, resourcePath: /health}}"
    )
}

/// A Service's address appears late, changes, and disappears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_address_is_followed_from_pending_to_lost() {
    let w = world().await;
    // No resync within the test: every step is triggered by the watch of the Service.
    let _op = Operator::start(&w.kube, &w.r53, &["--resync-interval", "10m"]);
    create_service(&w, "default", "web", "LoadBalancer").await;
    apply(
        &w,
        &target_record("web", "A", "{service: {name: web}}", &plain_secondary()),
    );
    // No address yet: TargetPending, Reconciling, nothing written.
    let pending = wait_ready(&w, "web", "False", "TargetPending").await;
    let cond = find_condition(pending.status.as_ref(), "Ready").expect("Ready");
    assert!(
        cond.message
            .contains("Service default/web has no address yet"),
        "{}",
        cond.message
    );
    assert!(
        find_condition(pending.status.as_ref(), "Reconciling").is_some_and(|c| c.status == "True"),
        "TargetPending is Reconciling: {:?}",
        pending.status
    );
    assert_no_writes_for(&w, Duration::from_secs(2), "while the target is pending").await;
    assert!(record_set(&w, "web", "PRIMARY").await.is_none());

    // The load balancer gets its address: the watch of the Service triggers the reconcile.
    set_service_ingress(&w, "default", "web", json!([{"ip": FIRST_IP}])).await;
    wait_ready(&w, "web", "True", "Synced").await;
    let (v, hc) = record_set(&w, "web", "PRIMARY").await.expect("primary");
    assert_eq!(v, json!({"values": [FIRST_IP]}));
    let hc = hc.expect("primary health check");
    assert_eq!(health_check_ip(&w, &hc).await.as_deref(), Some(FIRST_IP));

    // A new address: one UPSERT, the owned check changed in place (same id, new IPAddress).
    w.r53.reset_counters();
    set_service_ingress(&w, "default", "web", json!([{"ip": SECOND_IP}])).await;
    eventually(
        "the primary follows the new address",
        WAIT,
        POLL,
        || async {
            record_set(&w, "web", "PRIMARY")
                .await
                .filter(|(v, _)| *v == json!({"values": [SECOND_IP]}))
        },
    )
    .await;
    wait_ready(&w, "web", "True", "Synced").await;
    let (_, hc2) = record_set(&w, "web", "PRIMARY").await.expect("primary");
    assert_eq!(
        hc2.as_deref(),
        Some(hc.as_str()),
        "the check is updated in place"
    );
    assert_eq!(health_check_ip(&w, &hc).await.as_deref(), Some(SECOND_IP));
    assert_eq!(w.r53.counter("requests", "ChangeResourceRecordSets"), 1);
    assert_eq!(w.r53.counter("requests", "UpdateHealthCheck"), 1);
    assert_eq!(w.r53.counter("requests", "CreateHealthCheck"), 0);
    assert_eq!(w.r53.counter("requests", "DeleteHealthCheck"), 0);

    // The Service disappears: TargetLost (condition and Event), records and check untouched.
    w.r53.reset_counters();
    let api: Api<Service> = Api::namespaced(w.client.clone(), "default");
    api.delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    let lost = wait_ready(&w, "web", "False", "TargetLost").await;
    let cond = find_condition(lost.status.as_ref(), "Ready").expect("Ready");
    assert!(cond.message.contains("does not exist"), "{}", cond.message);
    assert!(cond.message.contains("kept"), "{}", cond.message);
    let events =
        ok(&w
            .kube
            .kubectl(&["get", "events.events.k8s.io", "-n", "default", "-o", "json"]));
    assert!(
        events.contains("\"TargetLost\""),
        "a TargetLost Event is published: {events}"
    );
    assert_no_writes_for(&w, Duration::from_secs(3), "when the target is lost").await;
    let (v, hc3) = record_set(&w, "web", "PRIMARY")
        .await
        .expect("primary kept");
    assert_eq!(v, json!({"values": [SECOND_IP]}));
    assert_eq!(hc3.as_deref(), Some(hc.as_str()));
    let status = record(&w, "web").await.status.expect("status");
    assert!(status.primary.is_some() && status.hosted_zone_id.is_some());

    // It comes back with the same address: Ready again without a write.
    create_service(&w, "default", "web", "LoadBalancer").await;
    set_service_ingress(&w, "default", "web", json!([{"ip": SECOND_IP}])).await;
    wait_ready(&w, "web", "True", "Synced").await;
    assert_eq!(writes(&w), 0);
}

fn gateway_api() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "Gateway"),
        "gateways",
    )
}

/// An Ingress (ALB host name), a Gateway (NLB host name) and a Service (classic ELB host name)
/// become aliases to the canonical zones of the operator's table; a user's zone id overrides it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balancer_host_names_become_aliases_with_the_tables_zone() {
    let w = world().await;
    let crd = localenv_home().join("gateway-api-crds/gateway.networking.k8s.io_gateways.yaml");
    let crd = crd.to_str().expect("path");
    ok(&w.kube.kubectl(&["apply", "--server-side", "-f", crd]));
    ok(&w.kube.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd/gateways.gateway.networking.k8s.io",
        "--timeout=30s",
    ]));
    let _op = Operator::start(&w.kube, &w.r53, &[]);

    // The Gateway does not exist yet when the record is made.
    let alb = "k8s-web-1234567890.us-east-1.elb.amazonaws.com";
    let nlb = "k8s-gw-0123456789abcdef.elb.eu-west-1.amazonaws.com";
    create_ingress(&w, "web", alb).await;
    apply(
        &w,
        r#"apiVersion: route53.failover.io/v1alpha1
kind: FailoverRecord
metadata:
  name: lb
  namespace: default
spec:
  hostedZone: {name: example.test}
  name: lb.example.test
  type: A
  primary:
    target: {ingress: {name: web}}
  secondary:
    target: {gateway: {name: gw}}
"#,
    );
    let pending = wait_ready(&w, "lb", "False", "TargetPending").await;
    let msg = &find_condition(pending.status.as_ref(), "Ready")
        .expect("Ready")
        .message;
    assert!(msg.contains("Gateway default/gw does not exist"), "{msg}");
    assert_eq!(writes(&w), 0);

    let gw_api: Api<DynamicObject> =
        Api::namespaced_with(w.client.clone(), "default", &gateway_api());
    let gw: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": "default"},
        "spec": {"gatewayClassName": "aws", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}
    }))
    .expect("gateway");
    gw_api
        .create(&PostParams::default(), &gw)
        .await
        .expect("create gateway");
    gw_api
        .patch_status(
            "gw",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"addresses": [{"type": "Hostname", "value": nlb}]}})),
        )
        .await
        .expect("gateway status");
    wait_ready(&w, "lb", "True", "Synced").await;
    let (p, _) = record_set(&w, "lb", "PRIMARY").await.expect("primary");
    assert_eq!(p, json!({"alias": [format!("{alb}."), "Z35SXDOTRQ7X7K"]}));
    let (s, _) = record_set(&w, "lb", "SECONDARY").await.expect("secondary");
    assert_eq!(s, json!({"alias": [format!("{nlb}."), "Z2IFOLAFXWLO4F"]}));

    // A classic ELB behind a Service, with the user's zone id on the secondary.
    create_service(&w, "default", "classic", "LoadBalancer").await;
    let elb = "a1b2c3-1234.ap-southeast-2.elb.amazonaws.com";
    set_service_ingress(&w, "default", "classic", json!([{"hostname": elb}])).await;
    apply(
        &w,
        r#"apiVersion: route53.failover.io/v1alpha1
kind: FailoverRecord
metadata:
  name: classic
  namespace: default
spec:
  hostedZone: {name: example.test}
  name: classic.example.test
  type: A
  primary:
    target: {service: {name: classic}}
  secondary:
    target: {gateway: {name: gw}, aliasHostedZoneId: ZOVERRIDE123}
"#,
    );
    wait_ready(&w, "classic", "True", "Synced").await;
    let (p, _) = record_set(&w, "classic", "PRIMARY").await.expect("primary");
    assert_eq!(p, json!({"alias": [format!("{elb}."), "Z1GM3OXH4ZPM65"]}));
    let (s, _) = record_set(&w, "classic", "SECONDARY")
        .await
        .expect("secondary");
    assert_eq!(s, json!({"alias": [format!("{nlb}."), "ZOVERRIDE123"]}));

    // The README's example, as committed, with the objects it names.
    let zone = w.r53.create_zone("example.com").await;
    create_service(&w, "default", "web", "LoadBalancer").await;
    set_service_ingress(&w, "default", "web", json!([{"ip": FIRST_IP}])).await;
    let standby = "k8s-standby-99.us-west-2.elb.amazonaws.com";
    create_ingress(&w, "web-standby", standby).await;
    let example = support::repo_root().join("deploy/examples/kubernetes-targets.yaml");
    ok(&w.kube.kubectl(&[
        "apply",
        "--server-side",
        "-f",
        example.to_str().expect("path"),
    ]));
    wait_ready(&w, "web", "True", "Synced").await;
    let sets = w
        .r53
        .client()
        .await
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .send()
        .await
        .expect("list");
    let web: Vec<_> = sets
        .resource_record_sets()
        .iter()
        .filter(|r| r.name() == "web.example.com.")
        .collect();
    assert_eq!(web.len(), 2, "{web:?}");
    let primary = web
        .iter()
        .find(|r| r.failover().map(|f| f.as_str()) == Some("PRIMARY"))
        .expect("primary");
    assert_eq!(primary.resource_records()[0].value(), FIRST_IP);
    let secondary = web
        .iter()
        .find(|r| r.failover().map(|f| f.as_str()) == Some("SECONDARY"))
        .expect("secondary");
    let alias = secondary.alias_target().expect("alias");
    assert_eq!(alias.dns_name(), format!("{standby}."));
    assert_eq!(alias.hosted_zone_id(), "Z1H1FL5HABSF5", "ALBs in us-west-2");
}

/// Bad input is `Ready=False` with a clear reason, and nothing is written to Route 53.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_targets_are_refused_with_a_reason_and_no_write() {
    let w = world().await;
    create_namespace(&w, "other").await;
    create_namespace(&w, "shared").await;
    // The operator allows "shared" (and "missing", which does not exist) besides each record's own.
    let _op = Operator::start(&w.kube, &w.r53, &["--target-namespace", "shared,missing"]);
    create_service(&w, "other", "web", "LoadBalancer").await;
    set_service_ingress(&w, "other", "web", json!([{"ip": FIRST_IP}])).await;
    create_service(&w, "shared", "web", "LoadBalancer").await;
    set_service_ingress(&w, "shared", "web", json!([{"ip": "2600:1f18::30"}])).await;
    create_service(&w, "default", "internal", "ClusterIP").await;
    let cases = [
        (
            "forbidden",
            "A",
            "{service: {name: web, namespace: other}}",
            "TargetNotAllowed",
            "namespace other is not one the operator lets FailoverRecords of default reference",
        ),
        (
            "missing",
            "A",
            "{service: {name: web, namespace: missing}}",
            "TargetPending",
            "Service missing/web does not exist",
        ),
        (
            "clusterip",
            "A",
            "{service: {name: internal}}",
            "NotLoadBalancer",
            "Service default/internal is of type ClusterIP, not LoadBalancer",
        ),
        (
            "family",
            "A",
            "{service: {name: web, namespace: shared}}",
            "WrongAddressFamily",
            "has only IPv6 addresses (2600:1f18::30): a record of type A needs IPv4",
        ),
        (
            "cname",
            "CNAME",
            "{service: {name: web, namespace: shared}}",
            "WrongAddressFamily",
            "a record of type CNAME needs a host name",
        ),
        (
            "nogateway",
            "A",
            "{gateway: {name: gw}}",
            "UnsupportedTarget",
            "the Gateway API (gateway.networking.k8s.io/v1 gateways) was not installed",
        ),
    ];
    for (name, rtype, target, _, _) in &cases {
        let secondary = if *rtype == "CNAME" {
            "    values: [\"backup.example.org\"]".to_string()
        } else {
            plain_secondary()
        };
        apply(&w, &target_record(name, rtype, target, &secondary));
    }
    for (name, _, _, reason, message) in &cases {
        let o = wait_ready(&w, name, "False", reason).await;
        let c = find_condition(o.status.as_ref(), "Ready").expect("Ready");
        assert!(c.message.contains(message), "{name}: {}", c.message);
    }
    assert_no_writes_for(&w, Duration::from_secs(3), "for any bad target").await;
    for (name, ..) in &cases {
        assert!(
            record_set(&w, name, "PRIMARY").await.is_none(),
            "{name} wrote records"
        );
    }
    // The IPv6 Service that a type A record refuses is what an AAAA record needs.
    apply(
        &w,
        &target_record(
            "v6",
            "AAAA",
            "{service: {name: web, namespace: shared}}",
            "    values: [\"2600:1f18::40\"]",
        ),
    );
    wait_ready(&w, "v6", "True", "Synced").await;
    let (v, hc) = record_set(&w, "v6", "PRIMARY").await.expect("v6 primary");
    assert_eq!(v, json!({"values": ["2600:1f18::30"]}));
    let hc = hc.expect("v6 check");
    assert_eq!(
        health_check_ip(&w, &hc).await.as_deref(),
        Some("2600:1f18::30")
    );
}
