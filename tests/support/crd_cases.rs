//! The FailoverRecord admission cases shared by `tests/crd.rs` (kube's client-side CEL,
//! check-jsonschema, the operator's own validation) and `tests/admission.rs` (the real API server):
//! valid specs, specs each CEL rule must reject with its message, specs the OpenAPI constraints must
//! reject, addresses the public-address rules refuse or accept, and changes the transition rules
//! must refuse.

use serde_json::{Value, json};

pub const VALID: &str = r#"
hostedZone: {name: example.com}
name: app.example.com
type: A
primary:
  values: ["52.94.76.10"]
  healthCheck: {type: HTTPS, resourcePath: /healthz, port: 443, regions: [us-east-1, eu-west-1, ap-southeast-1]}
secondary:
  values: ["52.94.76.20"]
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

/// Cases CEL must reject, with a fragment of the expected message; the operator's own validation must
/// reject them too (the public-address rule has its own tests below).
pub fn invalid_cases() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        (
            "zone id and name",
            edit(|v| v["hostedZone"]["id"] = json!("Z123")),
            "exactly one of hostedZone.id and hostedZone.name",
        ),
        (
            "no zone",
            edit(|v| v["hostedZone"] = json!({})),
            "exactly one of hostedZone.id and hostedZone.name",
        ),
        (
            "name outside zone",
            edit(|v| v["name"] = json!("app.example.org")),
            "inside the hosted zone",
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
        ),
        (
            "ttl with two aliases",
            edit(|v| {
                v["ttl"] = json!(60);
                v["primary"] = json!({"alias": {"dnsName": "a.elb.amazonaws.com", "hostedZoneId": "Z35SXDOTRQ7X7K"}});
                v["secondary"] = json!({"alias": {"dnsName": "b.elb.amazonaws.com", "hostedZoneId": "Z35SXDOTRQ7X7K"}});
            }),
            "ttl cannot be set",
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
        ),
        (
            "A value not IPv4",
            edit(|v| v["secondary"]["values"] = json!(["2600:1f18::1"])),
            "IPv4",
        ),
        (
            "AAAA value not IPv6",
            edit(|v| {
                v["type"] = json!("AAAA");
                v["primary"]["values"] = json!(["2600:1f18::10"]);
                v["primary"]["healthCheck"]["ipAddress"] = json!("2600:1f18::1");
            }),
            "IPv6",
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
        ),
        (
            "same values",
            edit(|v| v["secondary"]["values"] = json!(["52.94.76.10"])),
            "must differ",
        ),
        (
            "values and alias",
            edit(|v| {
                v["secondary"]["alias"] = json!({"dnsName": "x.example.com", "hostedZoneId": "Z1"})
            }),
            "exactly one of values, alias and target",
        ),
        (
            "neither values nor alias",
            edit(|v| {
                v["secondary"] = json!({});
            }),
            "exactly one of values, alias and target",
        ),
        (
            "target of two kinds",
            edit(|v| {
                v["secondary"] =
                    json!({"target": {"service": {"name": "web"}, "ingress": {"name": "web"}}})
            }),
            "exactly one of target.service, target.ingress and target.gateway",
        ),
        (
            "values and target",
            edit(|v| v["secondary"]["target"] = json!({"service": {"name": "web"}})),
            "exactly one of values, alias and target",
        ),
        (
            "check and existing check",
            edit(|v| v["primary"]["existingHealthCheckId"] = json!("abc")),
            "at most one of healthCheck and existingHealthCheckId",
        ),
        (
            "STR_MATCH without searchString",
            edit(|v| v["primary"]["healthCheck"]["type"] = json!("HTTPS_STR_MATCH")),
            "searchString is required",
        ),
        (
            "searchString on HTTP",
            edit(|v| v["primary"]["healthCheck"]["searchString"] = json!("ok")),
            "searchString is required",
        ),
        (
            "TCP with path",
            edit(|v| v["primary"]["healthCheck"]["type"] = json!("TCP")),
            "resourcePath is not allowed",
        ),
        (
            "TCP without port",
            edit(|v| v["primary"]["healthCheck"] = json!({"type": "TCP"})),
            "needs a port",
        ),
        (
            "SNI on HTTP",
            edit(|v| {
                v["primary"]["healthCheck"]["type"] = json!("HTTP");
                v["primary"]["healthCheck"]["enableSNI"] = json!(true);
            }),
            "enableSNI applies only",
        ),
        (
            "fqdn is the record",
            edit(|v| v["primary"]["healthCheck"]["fqdn"] = json!("app.example.com.")),
            "unpredictable",
        ),
        (
            "alias to itself",
            edit(|v| {
                v["secondary"] =
                    json!({"alias": {"dnsName": "APP.example.com.", "hostedZoneId": "Z1"}})
            }),
            "cannot point at the record itself",
        ),
        (
            "CloudFront with target health",
            edit(
                |v| v["secondary"] = json!({"alias": {"dnsName": "d1.cloudfront.net", "hostedZoneId": "Z2FDTNDATAQYW2"}}),
            ),
            "CloudFront",
        ),
        (
            "failover alias without target health",
            edit(
                |v| v["secondary"] = json!({"alias": {"dnsName": "lb.example.net", "hostedZoneId": "Z35SXDOTRQ7X7K", "evaluateTargetHealth": false}}),
            ),
            "must evaluate target health",
        ),
        (
            "CNAME endpoint checked by its value",
            edit(|v| {
                v["type"] = json!("CNAME");
                v["primary"]["values"] = json!(["a.example.net"]);
                v["secondary"]["values"] = json!(["b.example.net"]);
            }),
            "needs ipAddress or fqdn",
        ),
        (
            "bad ipAddress",
            edit(|v| v["primary"]["healthCheck"]["ipAddress"] = json!("not-an-ip")),
            "IPv4 or IPv6 address",
        ),
        (
            "CLOUDWATCH_METRIC without an alarm",
            edit(|v| v["primary"]["healthCheck"] = json!({"type": "CLOUDWATCH_METRIC"})),
            "alarm is required for CLOUDWATCH_METRIC and not allowed for other types",
        ),
        (
            "alarm on an HTTPS check",
            edit(|v| {
                v["primary"]["healthCheck"]["alarm"] = json!({"region": "eu-west-1", "name": "x"})
            }),
            "alarm is required for CLOUDWATCH_METRIC and not allowed for other types",
        ),
        (
            "insufficientDataHealthStatus on an HTTPS check",
            edit(|v| {
                v["primary"]["healthCheck"]["insufficientDataHealthStatus"] = json!("Healthy")
            }),
            "insufficientDataHealthStatus applies only to CLOUDWATCH_METRIC",
        ),
        (
            "RECOVERY_CONTROL without a routing control",
            edit(|v| v["primary"]["healthCheck"] = json!({"type": "RECOVERY_CONTROL"})),
            "routingControlArn is required for RECOVERY_CONTROL and not allowed for other types",
        ),
        (
            "CALCULATED without children",
            edit(|v| {
                v["primary"]["healthCheck"] = json!({"type": "CALCULATED", "healthThreshold": 1})
            }),
            "children are required for CALCULATED and not allowed for other types",
        ),
        (
            "CALCULATED without a threshold",
            edit(|v| {
                v["primary"]["healthCheck"] = json!({"type": "CALCULATED", "children": ["a1"]})
            }),
            "healthThreshold is required for CALCULATED and not allowed for other types",
        ),
        (
            "endpoint settings on a CLOUDWATCH_METRIC check",
            edit(|v| {
                v["primary"]["healthCheck"] = json!({"type": "CLOUDWATCH_METRIC", "port": 443,
                    "alarm": {"region": "eu-west-1", "name": "x"}})
            }),
            "contacts no endpoint",
        ),
    ]
}

/// Health-checked addresses Route 53 refuses (RFC 1918, RFC 5735, RFC 6598, RFC 5156), one or more
/// per range.
pub const NOT_PUBLIC: &[&str] = &[
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "100.64.0.1",
    "127.0.0.1",
    "169.254.1.1",
    "192.0.0.9",
    "192.0.2.10",
    "192.88.99.1",
    "198.51.100.7",
    "203.0.113.5",
    "198.18.0.1",
    "198.19.0.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "0.1.2.3",
    "0.0.0.0",
    "::",
    "::1",
    "::10.1.2.3",
    "fe80::1",
    "fec0::1",
    "fc00::1",
    "fd12:3456::1",
    "2001:db8::1",
    "2001:10::1",
    "2001::1",
    "2002:c000:204::1",
    "3ffe::1",
    "5f00::1",
    "ff02::1",
];

/// Ordinary public addresses, including neighbours of the refused ranges.
pub const PUBLIC: &[&str] = &[
    "52.94.76.10",
    "8.8.8.8",
    "54.239.28.85",
    "172.15.255.254",
    "172.32.0.1",
    "100.63.255.254",
    "100.128.0.1",
    "198.17.255.254",
    "198.20.0.1",
    "223.255.255.254",
    "2600:1f18::1",
    "2a05:d018::1",
    "2001:4860::8888",
];

/// A spec whose primary health check checks `ip`: by `ipAddress`, or by default as the first value.
pub fn checking(ip: &str, by_default: bool) -> Value {
    let v6 = ip.contains(':');
    edit(|v| {
        if v6 {
            v["type"] = json!("AAAA");
            v["secondary"]["values"] = json!(["2600:1f18::99"]);
        }
        if by_default {
            v["primary"]["values"] = json!([ip]);
        } else {
            v["primary"]["values"] = json!([if v6 { "2600:1f18::10" } else { "52.94.76.11" }]);
            v["primary"]["healthCheck"]["ipAddress"] = json!(ip);
        }
    })
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
secondary: {values: ["2600:1f18::20"], healthCheck: {type: TCP, port: 443, ipAddress: "2600:1f18::20"}}
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
        // The manual switch with hold.
        edit(
            |v| v["failover"] = json!({"mode": "Secondary", "failback": "Manual", "acknowledge": "2026-12-02T15:00:00Z"}),
        ),
        // CloudFront secondary.
        edit(
            |v| v["secondary"] = json!({"alias": {"dnsName": "d111111abcdef8.cloudfront.net", "hostedZoneId": "Z2FDTNDATAQYW2", "evaluateTargetHealth": false}}),
        ),
        // Private values behind a CloudWatch alarm (a private hosted zone).
        yaml(
            r#"
hostedZone: {id: Z0123456789ABCDEFGHIJ}
name: db.corp.internal
type: A
primary: {values: ["10.0.1.15"], healthCheck: {type: CLOUDWATCH_METRIC, alarm: {region: eu-west-1, name: db-down}, insufficientDataHealthStatus: Unhealthy}}
secondary: {values: ["10.0.2.15"]}
"#,
        ),
        // A CALCULATED primary of two checks made elsewhere.
        yaml(
            r#"
hostedZone: {name: example.com}
name: calc.example.com
type: A
primary: {values: ["10.0.1.15"], healthCheck: {type: CALCULATED, children: [0b9c6f1e-1111-2222-3333-444455556666, 1c9c6f1e-1111-2222-3333-444455556666], healthThreshold: 1}}
secondary: {values: ["10.0.2.15"]}
"#,
        ),
        // A CNAME behind an ARC routing control.
        yaml(
            r#"
hostedZone: {name: example.com}
name: shop.example.com
type: CNAME
primary: {values: [shop-eu.example.net], healthCheck: {type: RECOVERY_CONTROL, routingControlArn: "arn:aws:route53-recovery-control::111122223333:controlpanel/abc/routingcontrol/def"}}
secondary: {values: [shop-us.example.net]}
"#,
        ),
    ]
}

/// Specs the OpenAPI constraints reject: (name, spec, the field the API server's message names).
pub fn openapi_cases() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        ("type", edit(|v| v["type"] = json!("MX")), "spec.type"),
        (
            "switch mode",
            edit(|v| v["failover"] = json!({"mode": "Sideways"})),
            "spec.failover.mode",
        ),
        (
            "failback policy",
            edit(|v| v["failover"] = json!({"failback": "Never"})),
            "spec.failover.failback",
        ),
        (
            "zone id",
            edit(|v| v["hostedZone"] = json!({"id": "/hostedzone/Z1"})),
            "spec.hostedZone.id",
        ),
        (
            "name",
            edit(|v| v["name"] = json!("App.Example.com")),
            "spec.name",
        ),
        ("ttl", edit(|v| v["ttl"] = json!(-1)), "spec.ttl"),
        (
            "alarm region Route 53 cannot use",
            edit(|v| {
                v["primary"]["healthCheck"] = json!({"type": "CLOUDWATCH_METRIC",
                    "alarm": {"region": "moon-east-1", "name": "x"}})
            }),
            "spec.primary.healthCheck.alarm.region",
        ),
        (
            "routing control ARN",
            edit(|v| {
                v["primary"]["healthCheck"] = json!({"type": "RECOVERY_CONTROL",
                    "routingControlArn": "arn:aws:s3:::bucket"})
            }),
            "spec.primary.healthCheck.routingControlArn",
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
            edit(|v| v["primary"]["healthCheck"]["type"] = json!("SMTP")),
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
        ("awsRoleArn", json!("arn:aws:iam::123456789012:role/team-b")),
    ]
    .into_iter()
    .map(|(field, value)| {
        let mut new = old.clone();
        new[field] = value;
        (field, new)
    })
    .collect()
}
