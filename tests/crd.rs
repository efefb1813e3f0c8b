//! The generated CRD: the committed copies are current, and its admission rules (CEL, evaluated with
//! kube's client-side CEL; OpenAPI constraints, checked with check-jsonschema) reject every input that
//! breaks a Route 53 rule — and the operator's own validation agrees.

mod support;

use kube::CustomResourceExt;
use route53_failover_operator::crd::{FailoverRecord, FailoverRecordSpec, crd_yaml};
use route53_failover_operator::desired::{Desired, SPECIAL_USE_NETWORKS, special_use_network};
use serde_json::{Value, json};

fn schema() -> Value {
    let crd = serde_json::to_value(FailoverRecord::crd()).expect("crd json");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

#[test]
fn committed_crd_is_current() {
    let generated = crd_yaml().expect("yaml");
    let path = "crds/failoverrecord.yaml";
    let committed = std::fs::read_to_string(support::repo_root().join(path)).unwrap_or_default();
    assert!(
        committed == generated,
        "{path} is stale: run `cargo run -- crd > {path}` and commit it"
    );
}

const VALID: &str = r#"
hostedZone: {name: example.com}
name: app.example.com
type: A
primary:
  values: ["52.94.76.10"]
  healthCheck: {type: HTTPS, resourcePath: /healthz, port: 443, regions: [us-east-1, eu-west-1, ap-southeast-1]}
secondary:
  values: ["52.94.76.20"]
"#;

fn object(spec: &Value) -> Value {
    json!({
        "apiVersion": "route53.failover.io/v1alpha1",
        "kind": "FailoverRecord",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": spec,
    })
}

fn yaml(s: &str) -> Value {
    serde_yaml::from_str(s).expect("yaml")
}

/// Apply a JSON-merge-style edit to the valid spec.
fn edit(f: impl FnOnce(&mut Value)) -> Value {
    let mut v = yaml(VALID);
    f(&mut v);
    v
}

fn cel(spec: &Value, old: Option<&Value>) -> Result<(), String> {
    let old = old.map(object);
    kube::core::cel::Validator::new()
        .validate(&schema(), &object(spec), old.as_ref())
        .map_err(|e| format!("{e:?}"))
}

fn operator(spec: &Value) -> Result<(), String> {
    let spec: FailoverRecordSpec =
        serde_json::from_value(spec.clone()).map_err(|e| e.to_string())?;
    Desired::from_spec(&spec, "owner", "uid")
        .map(|_| ())
        .map_err(|e| e.join("; "))
}

/// Cases CEL must reject, with a fragment of the expected message; the operator's own validation must
/// reject them too (the public-address rule has its own tests below).
fn invalid_cases() -> Vec<(&'static str, Value, &'static str)> {
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
            "exactly one of values and alias",
        ),
        (
            "neither values nor alias",
            edit(|v| {
                v["secondary"] = json!({});
            }),
            "exactly one of values and alias",
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
    ]
}

#[test]
fn valid_examples_pass_admission_and_operator_validation() {
    let examples = [
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
        // CloudFront secondary.
        edit(
            |v| v["secondary"] = json!({"alias": {"dnsName": "d111111abcdef8.cloudfront.net", "hostedZoneId": "Z2FDTNDATAQYW2", "evaluateTargetHealth": false}}),
        ),
    ];
    for spec in &examples {
        cel(spec, None).unwrap_or_else(|e| panic!("CEL rejected a valid spec {spec}: {e}"));
        operator(spec).unwrap_or_else(|e| panic!("operator rejected a valid spec {spec}: {e}"));
    }
}

#[test]
fn cel_rejects_route53_rule_violations_and_the_operator_agrees() {
    let mut failures = Vec::new();
    for (name, spec, fragment) in invalid_cases() {
        both_reject(name, &spec, fragment, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Record a failure unless CEL and the operator both reject `spec` with `fragment` in the message.
fn both_reject(name: &str, spec: &Value, fragment: &str, failures: &mut Vec<String>) {
    match cel(spec, None) {
        Ok(()) => failures.push(format!("{name}: CEL accepted it")),
        Err(e) if !e.contains(fragment) => {
            failures.push(format!("{name}: CEL message lacks {fragment:?}: {e}"))
        }
        Err(_) => {}
    }
    match operator(spec) {
        Ok(()) => failures.push(format!("{name}: operator accepted it")),
        Err(e) if !e.contains(fragment) && !e.contains("unknown variant") => {
            failures.push(format!("{name}: operator message lacks {fragment:?}: {e}"))
        }
        Err(_) => {}
    }
}

/// Health-checked addresses Route 53 refuses (RFC 1918, RFC 5735, RFC 6598, RFC 5156), one or more
/// per range.
const NOT_PUBLIC: &[&str] = &[
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
const PUBLIC: &[&str] = &[
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
fn checking(ip: &str, by_default: bool) -> Value {
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

#[test]
fn public_address_rule_refuses_every_special_use_range_and_the_operator_agrees() {
    let mut failures = Vec::new();
    for ip in NOT_PUBLIC {
        both_reject(
            &format!("ipAddress {ip}"),
            &checking(ip, false),
            "is not a public address",
            &mut failures,
        );
        both_reject(
            &format!("first value {ip}"),
            &checking(ip, true),
            "would probe the first value",
            &mut failures,
        );
    }
    // Every network of the operator's table, by its first address, whatever the message: the
    // IPv4-mapped block is refused by `isIP()` in CEL, which does not accept such addresses at all.
    for (cidr, _) in SPECIAL_USE_NETWORKS {
        let first = cidr.split('/').next().unwrap_or_default();
        let spec = checking(first, false);
        if cel(&spec, None).is_ok() {
            failures.push(format!("{cidr}: CEL accepted {first}"));
        }
        if operator(&spec).is_ok() {
            failures.push(format!("{cidr}: operator accepted {first}"));
        }
    }
    for ip in PUBLIC {
        for by_default in [false, true] {
            let spec = checking(ip, by_default);
            if let Err(e) = cel(&spec, None) {
                failures.push(format!("{ip} (default {by_default}): CEL rejected it: {e}"));
            }
            if let Err(e) = operator(&spec) {
                failures.push(format!(
                    "{ip} (default {by_default}): operator rejected it: {e}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The CEL rules list no network the operator's table lacks, and both public-address rules list the
/// same networks.
#[test]
fn cel_networks_match_the_operator_table() {
    let crd = serde_json::to_string(&FailoverRecord::crd()).expect("json");
    let mut lists = Vec::new();
    for rule in crd.split("\"rule\":\"").skip(1) {
        let rule = rule.split("\",\"").next().unwrap_or_default();
        if rule.contains("containsIP") {
            let cidrs: Vec<String> = rule
                .split("cidr('")
                .skip(1)
                .filter_map(|c| c.split('\'').next().map(str::to_string))
                .collect();
            lists.push(cidrs);
        }
    }
    // The first-value rule on the spec, and the ipAddress rule in each endpoint's healthCheck.
    assert_eq!(lists.len(), 3, "three public-address rules");
    assert!(lists.iter().all(|l| *l == lists[0]), "{lists:?}");
    for cidr in &lists[0] {
        let (net, _) = cidr.split_once('/').expect(cidr);
        let net: std::net::IpAddr = net.parse().expect(cidr);
        let hit = special_use_network(net);
        assert!(hit.is_some(), "{cidr} is in CEL only");
    }
    // The other direction (every network of the table is refused by CEL) is checked, by each
    // network's first address, in the test above.
}

/// The public-address rules stay cheap for the API server's cost estimator: every string they parse is
/// bounded (a `cidr()` list literal of constants, `ipAddress` of at most 45 characters, values of at
/// most 255), and they touch only `values[0]`, never the whole list (kube-cel's own estimator assumes
/// 1,000 items for every comprehension, even over a two-element literal, so it cannot judge these).
#[test]
fn public_address_rules_only_parse_bounded_strings() {
    let spec = &schema()["properties"]["spec"]["properties"];
    for role in ["primary", "secondary"] {
        let ep = &spec[role]["properties"];
        assert_eq!(ep["values"]["maxItems"], 400);
        assert_eq!(ep["values"]["items"]["maxLength"], 255);
        assert_eq!(
            ep["healthCheck"]["properties"]["ipAddress"]["maxLength"],
            45
        );
    }
}

#[test]
fn zone_name_and_type_are_immutable() {
    let old = yaml(VALID);
    for (field, value) in [
        ("name", json!("www.example.com")),
        ("type", json!("AAAA")),
        ("hostedZone", json!({"id": "Z999"})),
    ] {
        let mut new = old.clone();
        new[field] = value;
        let err = cel(&new, Some(&old)).expect_err(field);
        assert!(err.contains("immutable"), "{field}: {err}");
    }
    // Everything else may change.
    let mut new = old.clone();
    new["ttl"] = json!(30);
    new["primary"]["healthCheck"]["requestInterval"] = json!(10);
    cel(&new, Some(&old)).expect("mutable fields");
}

/// OpenAPI constraints (enums, ranges, patterns, lengths) checked by check-jsonschema against the
/// CRD's schema, as the API server would before CEL runs.
#[test]
fn openapi_constraints_reject_out_of_range_values() {
    let dir = tempfile::tempdir().expect("tmp");
    let schema_path = dir.path().join("schema.json");
    std::fs::write(
        &schema_path,
        serde_json::to_string(&schema()).expect("json"),
    )
    .expect("write");
    let cases: Vec<(&str, Value)> = vec![
        ("type", edit(|v| v["type"] = json!("MX"))),
        (
            "zone id",
            edit(|v| v["hostedZone"] = json!({"id": "/hostedzone/Z1"})),
        ),
        ("name", edit(|v| v["name"] = json!("App.Example.com"))),
        ("ttl", edit(|v| v["ttl"] = json!(-1))),
        (
            "port",
            edit(|v| v["primary"]["healthCheck"]["port"] = json!(70000)),
        ),
        (
            "interval",
            edit(|v| v["primary"]["healthCheck"]["requestInterval"] = json!(20)),
        ),
        (
            "threshold",
            edit(|v| v["primary"]["healthCheck"]["failureThreshold"] = json!(11)),
        ),
        (
            "regions count",
            edit(|v| v["primary"]["healthCheck"]["regions"] = json!(["us-east-1", "eu-west-1"])),
        ),
        (
            "region name",
            edit(|v| {
                v["primary"]["healthCheck"]["regions"] = json!(["us-east-1", "eu-west-1", "mars-1"])
            }),
        ),
        (
            "path",
            edit(|v| v["primary"]["healthCheck"]["resourcePath"] = json!("healthz")),
        ),
        (
            "search string",
            edit(|v| v["primary"]["healthCheck"]["searchString"] = json!("x".repeat(256))),
        ),
        (
            "check type",
            edit(|v| v["primary"]["healthCheck"]["type"] = json!("CALCULATED")),
        ),
        (
            "deletion policy",
            edit(|v| v["deletionPolicy"] = json!("Orphan")),
        ),
    ];
    let tool = support::localenv_home().join("venv/bin/check-jsonschema");
    assert!(tool.exists(), "run scripts/localenv install");
    let mut files = Vec::new();
    for (i, (_, spec)) in cases.iter().enumerate() {
        let p = dir.path().join(format!("case{i}.json"));
        std::fs::write(&p, serde_json::to_string(&object(spec)).expect("json")).expect("write");
        files.push(p);
    }
    let valid = dir.path().join("valid.json");
    std::fs::write(
        &valid,
        serde_json::to_string(&object(&yaml(VALID))).expect("json"),
    )
    .expect("write");
    let ok = std::process::Command::new(&tool)
        .arg("--schemafile")
        .arg(&schema_path)
        .arg(&valid)
        .output()
        .expect("run check-jsonschema");
    assert!(
        ok.status.success(),
        "valid spec rejected: {}",
        String::from_utf8_lossy(&ok.stdout)
    );
    for (i, (name, spec)) in cases.iter().enumerate() {
        let out = std::process::Command::new(&tool)
            .arg("--schemafile")
            .arg(&schema_path)
            .arg(&files[i])
            .output()
            .expect("run check-jsonschema");
        assert!(!out.status.success(), "{name}: schema accepted {spec}");
        // The operator rejects the same input (as a parse error or a validation error).
        assert!(operator(spec).is_err(), "{name}: operator accepted {spec}");
    }
}

/// The example in the README passes admission and the operator's validation.
#[test]
fn readme_example_is_valid() {
    let readme = std::fs::read_to_string(support::repo_root().join("README.md")).expect("README");
    let section = readme
        .split("## The FailoverRecord resource")
        .nth(1)
        .expect("section");
    let block = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("yaml block");
    let obj: Value = serde_yaml::from_str(block).expect("yaml");
    let spec = obj["spec"].clone();
    cel(&spec, None).expect("README example passes CEL");
    operator(&spec).expect("README example passes the operator's validation");
}
