//! The generated CRD: the committed copies are current, and its admission rules (CEL, evaluated with
//! kube's client-side CEL; OpenAPI constraints, checked with check-jsonschema) reject every input that
//! breaks a Route 53 rule — and the operator's own validation agrees.

mod support;

use kube::CustomResourceExt;
use route53_failover_operator::crd::{FailoverRecord, FailoverRecordSpec, crd_yaml};
use route53_failover_operator::desired::{Desired, SPECIAL_USE_NETWORKS, special_use_network};
use serde_json::{Value, json};
use support::crd_cases::*;

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

/// `kubectl explain` shows a description for every status field, the conditions' own fields
/// included.
#[test]
fn every_status_field_has_a_description() {
    let status = &schema()["properties"]["status"];
    assert!(status["properties"].is_object(), "{status}");
    let mut missing = Vec::new();
    support::undescribed(status, "status", &mut missing);
    assert!(
        missing.is_empty(),
        "status fields without a description: {missing:?}"
    );
    let conditions = &status["properties"]["conditions"];
    for (path, node) in [
        ("status.conditions", conditions),
        ("status.conditions[]", &conditions["items"]),
    ] {
        assert!(
            node["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{path}: {node}"
        );
    }
    let fields: Vec<&String> = conditions["items"]["properties"]
        .as_object()
        .expect("condition fields")
        .keys()
        .collect();
    assert_eq!(fields.len(), 6, "{fields:?}");
    for t in ["Ready", "Reconciling", "Stalled"] {
        assert!(
            conditions["description"]
                .as_str()
                .is_some_and(|d| d.contains(t)),
            "{t} not described"
        );
    }
}

#[test]
fn valid_examples_pass_admission_and_operator_validation() {
    let examples = valid_examples();
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
    // The first-value rule on the spec (one per endpoint), and the ipAddress rule in each endpoint's
    // healthCheck.
    assert_eq!(lists.len(), 4, "four public-address rules");
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
    // The account (spec.awsRoleArn) cannot be set, changed or removed after creation.
    let role = |arn: &str| {
        let mut v = old.clone();
        v["awsRoleArn"] = json!(arn);
        v
    };
    let a = role("arn:aws:iam::111111111111:role/a");
    let b = role("arn:aws:iam::111111111111:role/b");
    for (from, to) in [(&old, &a), (&a, &b), (&a, &old)] {
        let err = cel(to, Some(from)).expect_err("awsRoleArn");
        assert!(err.contains("awsRoleArn is immutable"), "{err}");
    }
    cel(&a, Some(&a)).expect("the same role");
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
    let cases: Vec<(&str, Value)> = openapi_cases()
        .into_iter()
        .map(|(n, v, _)| (n, v))
        .collect();
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
