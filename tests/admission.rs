//! Admission by the real kube-apiserver: the CRD as generated is accepted (CEL cost budget included),
//! every valid example is admitted, and every CEL rule and OpenAPI constraint of the CRD rejects the
//! input it is for, with the rule's own message — the same cases `tests/crd.rs` evaluates with
//! kube's client-side CEL and check-jsonschema (faster, kept too).

mod support;

use std::collections::BTreeSet;

use kube::Api;
use kube::api::{ApiResource, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use route53_failover_operator::crd::FailoverRecord;
use serde_json::{Value, json};
use support::crd_cases::{
    NOT_PUBLIC, PUBLIC, VALID, checking, immutable_cases, invalid_cases, object, openapi_cases,
    valid_examples, yaml,
};
use support::kube::KubeWorld;

fn resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("route53.failover.io", "v1alpha1", "FailoverRecord"),
        "failoverrecords",
    )
}

fn dynamic(spec: &Value, name: &str) -> DynamicObject {
    let mut obj = object(spec);
    obj["metadata"]["name"] = json!(name);
    serde_json::from_value(obj).expect("dynamic object")
}

/// Create `spec` (dry run unless `persist`): Ok, or the API server's message.
async fn admit(
    api: &Api<DynamicObject>,
    spec: &Value,
    name: &str,
    persist: bool,
) -> Result<(), String> {
    let pp = PostParams {
        dry_run: !persist,
        ..PostParams::default()
    };
    api.create(&pp, &dynamic(spec, name))
        .await
        .map(|_| ())
        .map_err(|e| match e {
            kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
            other => other.to_string(),
        })
}

/// Every `x-kubernetes-validations` message in the generated CRD.
fn rule_messages() -> BTreeSet<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                if let Some(rules) = m.get("x-kubernetes-validations").and_then(Value::as_array) {
                    for r in rules {
                        if let Some(msg) = r["message"].as_str() {
                            out.insert(msg.to_string());
                        }
                    }
                }
                m.values().for_each(|c| walk(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let crd =
        serde_json::to_value(<FailoverRecord as kube::CustomResourceExt>::crd()).expect("crd");
    let mut out = BTreeSet::new();
    walk(&crd, &mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_admits_valid_specs_and_rejects_each_rule_with_its_message() {
    let kube = KubeWorld::with_crd();
    let api: Api<DynamicObject> = Api::namespaced_with(kube.client().await, "default", &resource());
    let mut failures = Vec::new();

    for (i, spec) in valid_examples().iter().enumerate() {
        if let Err(e) = admit(&api, spec, &format!("valid-{i}"), false).await {
            failures.push(format!("valid example {i} rejected: {e}\n{spec}"));
        }
    }

    // CEL rules: rejected with the rule's message. Collect which rule messages were seen.
    let messages = rule_messages();
    let mut seen = BTreeSet::new();
    for (name, spec, fragment) in invalid_cases() {
        match admit(&api, &spec, "invalid", false).await {
            Ok(()) => failures.push(format!("{name}: admitted")),
            Err(e) if !e.contains(fragment) => {
                failures.push(format!("{name}: message lacks {fragment:?}: {e}"))
            }
            Err(e) => seen.extend(messages.iter().filter(|m| e.contains(m.as_str())).cloned()),
        }
    }

    // The public-address rules: every special-use range refused, by ipAddress and as the first value.
    for ip in NOT_PUBLIC {
        for by_default in [false, true] {
            match admit(&api, &checking(ip, by_default), "address", false).await {
                Ok(()) => failures.push(format!("{ip} (first value: {by_default}): admitted")),
                Err(e) => seen.extend(messages.iter().filter(|m| e.contains(m.as_str())).cloned()),
            }
        }
    }
    for ip in PUBLIC {
        for by_default in [false, true] {
            if let Err(e) = admit(&api, &checking(ip, by_default), "address", false).await {
                failures.push(format!("{ip} (first value: {by_default}) rejected: {e}"));
            }
        }
    }

    // OpenAPI constraints (enums, ranges, patterns, lengths): rejected, naming the field.
    for (name, spec, field) in openapi_cases() {
        match admit(&api, &spec, "openapi", false).await {
            Ok(()) => failures.push(format!("{name}: admitted")),
            Err(e) if !e.contains(field) => {
                failures.push(format!("{name}: message does not name {field:?}: {e}"))
            }
            Err(_) => {}
        }
    }

    // Transition rules: an object that exists cannot change its zone, name or type.
    let base = yaml(VALID);
    admit(&api, &base, "existing", true)
        .await
        .expect("create the base object");
    for (field, new) in immutable_cases(&base) {
        let mut obj = dynamic(&new, "existing");
        let current = api.get("existing").await.expect("get");
        obj.metadata.resource_version = current.metadata.resource_version;
        match api
            .replace(
                "existing",
                &PostParams {
                    dry_run: true,
                    ..PostParams::default()
                },
                &obj,
            )
            .await
        {
            Ok(_) => failures.push(format!("changing {field} was admitted")),
            Err(kube::Error::Api(s)) if s.message.contains("immutable") => {
                seen.extend(
                    messages
                        .iter()
                        .filter(|m| s.message.contains(m.as_str()))
                        .cloned(),
                );
            }
            Err(e) => failures.push(format!("changing {field}: unexpected {e}")),
        }
    }
    // Everything else may change.
    let mut new = base.clone();
    new["ttl"] = json!(30);
    let mut obj = dynamic(&new, "existing");
    obj.metadata.resource_version = api
        .get("existing")
        .await
        .expect("get")
        .metadata
        .resource_version;
    if let Err(e) = api.replace("existing", &PostParams::default(), &obj).await {
        failures.push(format!("a ttl change was rejected: {e}"));
    }

    let unexercised: Vec<_> = messages.difference(&seen).collect();
    if !unexercised.is_empty() {
        failures.push(format!(
            "CEL rules no case made the API server apply: {unexercised:#?}"
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
