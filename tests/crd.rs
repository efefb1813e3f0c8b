//! The generated CRD: the committed copies are current, and its admission rules (CEL, evaluated with
//! kube's client-side CEL; OpenAPI constraints, checked with check-jsonschema) reject every input that
//! breaks a Route 53 rule — and the operator's own validation agrees.

mod support;

use kube::CustomResourceExt;
use route53_failover_operator::crd::{FailoverRecord, FailoverRecordSpec, crd_yaml};
use route53_failover_operator::desired::Desired;
use serde_json::{Value, json};
use support::crd_cases::{
    VALID, edit, immutable_cases, invalid_cases, object, openapi_cases, valid_examples, yaml,
};

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
