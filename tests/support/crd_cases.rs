//! The FailoverRecord admission cases shared by `tests/crd.rs` (kube's client-side CEL,
//! check-jsonschema, the operator's own validation) and `tests/admission.rs` (the real API server):
//! valid specs, specs each CEL rule must reject with its message, specs the OpenAPI constraints must
//! reject, and changes the transition rules must refuse.

use serde_json::{Value, json};

pub const VALID: &str = r#"
hostedZone: {name: example.com}
name: app.example.com
type: A
primary:
  values: ["203.0.113.10"]
  healthCheck: {type: HTTPS, resourcePath: /healthz, port: 443, regions: [us-east-1, eu-west-1, ap-southeast-1]}
secondary:
  values: ["198.51.100.20"]
"#;

pub fn object(spec: &Value) -> Value {
    json!({
        "apiVersion": "route53.failover.io/v1alpha1",
        "kind": "FailoverRecord",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": spec,
    })
}

pub fn yaml(s: &str) -> Value {
    serde_yaml::from_str(s).expect("yaml")
}

/// Apply a JSON-merge-style edit to the valid spec.
pub fn edit(f: impl FnOnce(&mut Value)) -> Value {
    let mut v = yaml(VALID);
    f(&mut v);
    v
}

/// Cases CEL must reject, with a fragment of the expected message. The last flag says whether the
/// operator's own validation must also reject it (all but the public-address rules, which Route 53
/// itself enforces and the local test world must be able to bypass).
pub fn invalid_cases() -> Vec<(&'static str, Value, &'static str, bool)> {
    vec![
        (
            "zone id and name",
            edit(|v| v["hostedZone"]["id"] = json!("Z123")),
            "exactly one of hostedZone.id and hostedZone.name",
            true,
        ),
        (
            "no zone",
            edit(|v| v["hostedZone"] = json!({})),
            "exactly one of hostedZone.id and hostedZone.name",
            true,
        ),
        (
            "name outside zone",
            edit(|v| v["name"] = json!("app.example.org")),
            "inside the hosted zone",
            true,
        ),
        (
            "cname at apex",
            edit(|v| {
                v["name"] = json!("example.com");
                v["type"] = json!("CNAME");
                v["primary"]["values"] = json!(["a.example.net"]);
                v["primary"]["healthCheck"] =
                    json!({"type": "TCP", "port": 443, "fqdn": "a.example.net"});
                v["secondary"]["values"] = json!(["b.example.net"]);
            }),
            "zone apex",
            true,
        ),
        (
            "ttl with two aliases",
            edit(|v| {
                v["ttl"] = json!(60);
                v["primary"] = json!({"alias": {"dnsName": "a.elb.amazonaws.com", "hostedZoneId": "Z35SXDOTRQ7X7K"}});
                v["secondary"] = json!({"alias": {"dnsName": "b.elb.amazonaws.com", "hostedZoneId": "Z35SXDOTRQ7X7K"}});
            }),
            "ttl cannot be set",
            true,
        ),
        (
            "primary without health check",
            edit(|v| {
                v["primary"]
                    .as_object_mut()
                    .map(|o| o.remove("healthCheck"))
                    .map(|_| ())
                    .unwrap_or(())
            }),
            "non-alias primary needs a health check",
            true,
        ),
        (
            "A value not IPv4",
            edit(|v| v["secondary"]["values"] = json!(["2001:db8::1"])),
            "IPv4",
            true,
        ),
        (
            "AAAA value not IPv6",
            edit(|v| {
                v["type"] = json!("AAAA");
                v["primary"]["values"] = json!(["2001:db8::10"]);
                v["primary"]["healthCheck"]["ipAddress"] = json!("2600:1f18::1");
            }),
            "IPv6",
            true,
        ),
        (
            "CNAME with two values",
            edit(|v| {
                v["type"] = json!("CNAME");
                v["primary"]["values"] = json!(["a.example.net", "b.example.net"]);
                v["primary"]["healthCheck"]["fqdn"] = json!("a.example.net");
                v["secondary"]["values"] = json!(["c.example.net"]);
            }),
            "exactly one value",
            true,
        ),
        (
            "same values",
            edit(|v| v["secondary"]["values"] = json!(["203.0.113.10"])),
            "must differ",
            true,
        ),
        (
            "values and alias",
            edit(|v| {
                v["secondary"]["alias"] = json!({"dnsName": "x.example.com", "hostedZoneId": "Z1"})
            }),
            "exactly one of values and alias",
            true,
        ),
        (
            "neither values nor alias",
            edit(|v| {
                v["secondary"] = json!({});
            }),
            "exactly one of values and alias",
            true,
        ),
        (
            "check and existing check",
            edit(|v| v["primary"]["existingHealthCheckId"] = json!("abc")),
            "at most one of healthCheck and existingHealthCheckId",
            true,
        ),
        (
            "STR_MATCH without searchString",
            edit(|v| v["primary"]["healthCheck"]["type"] = json!("HTTPS_STR_MATCH")),
            "searchString is required",
            true,
        ),
        (
            "searchString on HTTP",
            edit(|v| v["primary"]["healthCheck"]["searchString"] = json!("ok")),
            "searchString is required",
            true,
        ),
        (
            "TCP with path",
            edit(|v| v["primary"]["healthCheck"]["type"] = json!("TCP")),
            "resourcePath is not allowed",
            true,
        ),
        (
            "TCP without port",
            edit(|v| v["primary"]["healthCheck"] = json!({"type": "TCP"})),
            "needs a port",
            true,
        ),
        (
            "SNI on HTTP",
            edit(|v| {
                v["primary"]["healthCheck"]["type"] = json!("HTTP");
                v["primary"]["healthCheck"]["enableSNI"] = json!(true);
            }),
            "enableSNI applies only",
            true,
        ),
        (
            "fqdn is the record",
            edit(|v| v["primary"]["healthCheck"]["fqdn"] = json!("app.example.com.")),
            "unpredictable",
            true,
        ),
        (
            "alias to itself",
            edit(|v| {
                v["secondary"] =
                    json!({"alias": {"dnsName": "APP.example.com.", "hostedZoneId": "Z1"}})
            }),
            "cannot point at the record itself",
            true,
        ),
        (
            "CloudFront with target health",
            edit(
                |v| v["secondary"] = json!({"alias": {"dnsName": "d1.cloudfront.net", "hostedZoneId": "Z2FDTNDATAQYW2"}}),
            ),
            "CloudFront",
            true,
        ),
        (
            "failover alias without target health",
            edit(
                |v| v["secondary"] = json!({"alias": {"dnsName": "lb.example.net", "hostedZoneId": "Z35SXDOTRQ7X7K", "evaluateTargetHealth": false}}),
            ),
            "must evaluate target health",
            true,
        ),
        (
            "CNAME endpoint checked by its value",
            edit(|v| {
                v["type"] = json!("CNAME");
                v["primary"]["values"] = json!(["a.example.net"]);
                v["secondary"]["values"] = json!(["b.example.net"]);
            }),
            "needs ipAddress or fqdn",
            true,
        ),
        (
            "private check address",
            edit(|v| v["primary"]["healthCheck"]["ipAddress"] = json!("10.1.2.3")),
            "cannot check private",
            false,
        ),
        (
            "loopback check address",
            edit(|v| v["primary"]["healthCheck"]["ipAddress"] = json!("127.0.0.1")),
            "cannot check private",
            false,
        ),
        (
            "private value checked by default",
            edit(|v| v["primary"]["values"] = json!(["192.168.1.10"])),
            "not a public address",
            false,
        ),
        (
            "bad ipAddress",
            edit(|v| v["primary"]["healthCheck"]["ipAddress"] = json!("not-an-ip")),
            "IPv4 or IPv6 address",
            true,
        ),
    ]
}

/// Valid specs: admitted, and accepted by the operator's validation.
pub fn valid_examples() -> Vec<Value> {
    vec![
        yaml(VALID),
        // Alias primary (no check needed), secondary by value with a check, zone by id.
        yaml(
            r#"
hostedZone: {id: Z0123456789ABCDEFGHIJ}
name: api.example.com.
type: AAAA
primary: {alias: {dnsName: dualstack.my-lb.us-east-1.elb.amazonaws.com, hostedZoneId: Z35SXDOTRQ7X7K}}
secondary: {values: ["2001:db8::20"], healthCheck: {type: TCP, port: 443, ipAddress: "2600:1f18::20"}}
"#,
        ),
        // CNAME pair checked by name.
        yaml(
            r#"
hostedZone: {name: example.com.}
name: shop.example.com
type: CNAME
ttl: 30
primary: {values: [shop-eu.example.net], healthCheck: {type: HTTPS_STR_MATCH, fqdn: shop-eu.example.net, searchString: OK, enableSNI: true, requestInterval: 10, failureThreshold: 2, inverted: false}}
secondary: {values: [shop-us.example.net], existingHealthCheckId: 0b9c6f1e-1111-2222-3333-444455556666}
"#,
        ),
        // CloudFront secondary.
        edit(
            |v| v["secondary"] = json!({"alias": {"dnsName": "d111111abcdef8.cloudfront.net", "hostedZoneId": "Z2FDTNDATAQYW2", "evaluateTargetHealth": false}}),
        ),
    ]
}

/// Specs the OpenAPI constraints reject: (name, spec, the field the API server's message names).
pub fn openapi_cases() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        ("type", edit(|v| v["type"] = json!("MX")),
            "spec.type",
        ),
        (
            "zone id",
            edit(|v| v["hostedZone"] = json!({"id": "/hostedzone/Z1"})),
            "spec.hostedZone.id",
        ),
        ("name", edit(|v| v["name"] = json!("App.Example.com")),
            "spec.name",
        ),
        ("ttl", edit(|v| v["ttl"] = json!(-1)),
            "spec.ttl",
        ),
        (
            "port",
            edit(|v| v["primary"]["healthCheck"]["port"] = json!(70000)),
            "spec.primary.healthCheck.port",
        ),
        (
            "interval",
            edit(|v| v["primary"]["healthCheck"]["requestInterval"] = json!(20)),
            "spec.primary.healthCheck.requestInterval",
        ),
        (
            "threshold",
            edit(|v| v["primary"]["healthCheck"]["failureThreshold"] = json!(11)),
            "spec.primary.healthCheck.failureThreshold",
        ),
        (
            "regions count",
            edit(|v| v["primary"]["healthCheck"]["regions"] = json!(["us-east-1", "eu-west-1"])),
            "spec.primary.healthCheck.regions",
        ),
        (
            "region name",
            edit(|v| {
                v["primary"]["healthCheck"]["regions"] = json!(["us-east-1", "eu-west-1", "mars-1"])
            }),
            "spec.primary.healthCheck.regions",
        ),
        (
            "path",
            edit(|v| v["primary"]["healthCheck"]["resourcePath"] = json!("healthz")),
            "spec.primary.healthCheck.resourcePath",
        ),
        (
            "search string",
            edit(|v| v["primary"]["healthCheck"]["searchString"] = json!("x".repeat(256))),
            "spec.primary.healthCheck.searchString",
        ),
        (
            "check type",
            edit(|v| v["primary"]["healthCheck"]["type"] = json!("CALCULATED")),
            "spec.primary.healthCheck.type",
        ),
        (
            "deletion policy",
            edit(|v| v["deletionPolicy"] = json!("Orphan")),
            "spec.deletionPolicy",
        ),
    ]
}

/// Changes of an existing object that the transition rules refuse: (field, new spec).
pub fn immutable_cases(old: &Value) -> Vec<(&'static str, Value)> {
    [
        ("name", json!("www.example.com")),
        ("type", json!("AAAA")),
        ("hostedZone", json!({"id": "Z999"})),
    ]
    .into_iter()
    .map(|(field, value)| {
        let mut new = old.clone();
        new[field] = value;
        (field, new)
    })
    .collect()
}
