//! The generated CRD: the committed copies are current, and its admission rules (CEL, evaluated with
//! kube's client-side CEL; OpenAPI constraints, checked with check-jsonschema) reject every input that
//! breaks a Route 53 rule — and the operator's own validation agrees.

mod support;

use kube::CustomResourceExt;
use route53_failover_operator::crd::{FailoverRecord, FailoverRecordSpec, crd_yaml};
use route53_failover_operator::desired::Desired;
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
  values: ["203.0.113.10"]
  healthCheck: {type: HTTPS, resourcePath: /healthz, port: 443, regions: [us-east-1, eu-west-1, ap-southeast-1]}
secondary:
  values: ["198.51.100.20"]
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

/// Cases CEL must reject, with a fragment of the expected message. The last flag says whether the
/// operator's own validation must also reject it (all but the public-address rules, which Route 53
/// itself enforces and the local test world must be able to bypass).
fn invalid_cases() -> Vec<(&'static str, Value, &'static str, bool)> {
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
    ];
    for spec in &examples {
        cel(spec, None).unwrap_or_else(|e| panic!("CEL rejected a valid spec {spec}: {e}"));
        operator(spec).unwrap_or_else(|e| panic!("operator rejected a valid spec {spec}: {e}"));
    }
}

#[test]
fn cel_rejects_route53_rule_violations_and_the_operator_agrees() {
    let mut failures = Vec::new();
    for (name, spec, fragment, operator_too) in invalid_cases() {
        match cel(&spec, None) {
            Ok(()) => failures.push(format!("{name}: CEL accepted it")),
            Err(e) if !e.contains(fragment) => {
                failures.push(format!("{name}: CEL message lacks {fragment:?}: {e}"))
            }
            Err(_) => {}
        }
        if operator_too {
            match operator(&spec) {
                Ok(()) => failures.push(format!("{name}: operator accepted it")),
                Err(e) if !e.contains(fragment) && !e.contains("unknown variant") => {
                    failures.push(format!("{name}: operator message lacks {fragment:?}: {e}"))
                }
                Err(_) => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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
