//! `--namespace-roles`: each namespace's FailoverRecords reach Route 53 (and CloudWatch, for their
//! health) with the credentials of the IAM role the operator's mapping gives that namespace, each
//! role assumed through moto's STS with its external id; a namespace without a role, or an object
//! naming a role its namespace may not use, gets `Ready=False RoleNotAllowed` and a Warning Event
//! and causes no Route 53 call.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use route53_failover_operator::crd::FailoverRecord;
use route53_failover_operator::status::find_condition;
use serde_json::Value;
use support::kube::{KubeWorld, ok};
use support::operator::Operator;
use support::r53::R53World;
use support::{Backend, eventually};

const PRIMARY_IP: &str = "52.94.76.10";
const SECONDARY_IP: &str = "52.94.76.11";
const WAIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(200);
const ROLE_A: &str = "arn:aws:iam::123456789012:role/dns-team-a";
const ROLE_B: &str = "arn:aws:iam::123456789012:role/dns-team-b";

fn manifest(name: &str, namespace: &str, extra: &str, p: u16, s: u16) -> String {
    format!(
        r#"apiVersion: route53.failover.io/v1alpha1
kind: FailoverRecord
metadata:
  name: {name}
  namespace: {namespace}
spec:
  hostedZone: {{name: example.test}}
  name: {name}.example.test
  type: A
{extra}  primary:
    values: ["192.0.2.10"]
    healthCheck: {{type: HTTP, ipAddress: {PRIMARY_IP}, port: {p}, resourcePath: /health, requestInterval: 10, failureThreshold: 1}}
  secondary:
    values: ["192.0.2.20"]
    healthCheck: {{type: HTTP, ipAddress: {SECONDARY_IP}, port: {s}, resourcePath: /health, requestInterval: 10, failureThreshold: 1}}
"#
    )
}

fn ready(o: &FailoverRecord, status: &str, reason: &str) -> bool {
    find_condition(o.status.as_ref(), "Ready")
        .is_some_and(|c| c.status == status && c.reason == reason)
        && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
}

async fn wait_ready(
    kube: &KubeWorld,
    ns: &str,
    name: &str,
    status: &str,
    reason: &str,
) -> FailoverRecord {
    let api: Api<FailoverRecord> = Api::namespaced(kube.client().await, ns);
    eventually(
        &format!("{ns}/{name} Ready={status} {reason}"),
        WAIT,
        POLL,
        || {
            let api = api.clone();
            async move {
                api.get_opt(name)
                    .await
                    .ok()
                    .flatten()
                    .filter(|o| ready(o, status, reason))
            }
        },
    )
    .await
}

/// Live health checks whose CallerReference carries `uid`.
fn checks_of(r53: &R53World, uid: &str) -> usize {
    r53.health_checks()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|c| !c["deleted"].as_bool().unwrap_or(false))
        .filter(|c| {
            c["CallerReference"]
                .as_str()
                .is_some_and(|r| r.contains(uid))
        })
        .count()
}

/// Route 53 (or CloudWatch) requests of `service` by operation and signing role: the role whose
/// `AssumeRole` issued the request's access key id, `environment` for the world's own key.
fn calls_by_role(log: &[Value], service: &str) -> BTreeMap<(String, String), usize> {
    let issued: BTreeMap<&str, &str> = log
        .iter()
        .filter(|r| r["service"] == "sts" && r["action"] == "AssumeRole")
        .filter_map(|r| Some((r["issued_key"].as_str()?, r["role_arn"].as_str()?)))
        .collect();
    let mut out = BTreeMap::new();
    for r in log.iter().filter(|r| r["service"] == service) {
        let key = r["access_key"].as_str().unwrap_or_default();
        let role = match issued.get(key) {
            Some(role) => role.to_string(),
            None if key == "testing" => "environment".to_string(),
            None => format!("unknown key {key}"),
        };
        let op = r["operation"].as_str().unwrap_or_default().to_string();
        *out.entry((role, op)).or_insert(0) += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsroles_each_namespace_signs_with_its_own_role() {
    let dir = tempfile::tempdir().expect("tmp");
    let r53 = R53World::start();
    let kube = KubeWorld::with_crd();
    r53.create_zone("example.test").await;
    // The world's own calls (the zone above) are not the operator's.
    let start = r53.request_log().len();
    r53.route(PRIMARY_IP, "127.0.0.1");
    r53.route(SECONDARY_IP, "127.0.0.1");
    let (pd, sd) = (dir.path().join("p"), dir.path().join("s"));
    std::fs::create_dir_all(&pd).expect("mkdir");
    std::fs::create_dir_all(&sd).expect("mkdir");
    let primary = Backend::start(&pd);
    let secondary = Backend::start(&sd);
    for ns in ["team-a", "team-b", "team-c"] {
        ok(&kube.kubectl(&["create", "namespace", ns]));
    }
    let roles = dir.path().join("namespace-roles.yaml");
    std::fs::write(
        &roles,
        format!(
            "namespaces:\n  team-a: {{arn: {ROLE_A}, externalId: team-a-ext}}\n  team-b:\n  - arn: {ROLE_B}\n"
        ),
    )
    .expect("write mapping");
    let sts = r53.endpoint();
    let mut op = Operator::start_with(
        &kube,
        &r53,
        &kube.operator_kubeconfig(),
        &["--namespace-roles", roles.to_str().expect("utf-8 path")],
        &[("AWS_ENDPOINT_URL_STS", &sts)],
    );

    let apply = |yaml: &str| ok(&kube.kubectl_stdin(&["apply", "--server-side", "-f", "-"], yaml));
    let (p, s) = (primary.port, secondary.port);
    apply(&manifest("a", "team-a", "", p, s));
    apply(&manifest("b", "team-b", "", p, s));
    // team-c is not in the mapping, and there is no default.
    apply(&manifest("c", "team-c", "", p, s));
    // team-b's author names team-a's role: refused, whoever wrote the spec.
    apply(&manifest(
        "d",
        "team-b",
        &format!("  awsRoleArn: {ROLE_A}\n"),
        p,
        s,
    ));

    let a = wait_ready(&kube, "team-a", "a", "True", "Synced").await;
    let b = wait_ready(&kube, "team-b", "b", "True", "Synced").await;
    let c = wait_ready(&kube, "team-c", "c", "False", "RoleNotAllowed").await;
    let d = wait_ready(&kube, "team-b", "d", "False", "RoleNotAllowed").await;
    let msg = |o: &FailoverRecord| {
        find_condition(o.status.as_ref(), "Ready")
            .map(|c| c.message.clone())
            .unwrap_or_default()
    };
    assert!(msg(&c).contains("namespace team-c"), "{}", msg(&c));
    for o in [&c, &d] {
        assert!(
            find_condition(o.status.as_ref(), "Stalled")
                .is_some_and(|s| s.status == "True" && s.reason == "RoleNotAllowed"),
            "waits for a spec or mapping change: {:?}",
            o.status
        );
    }
    assert!(
        msg(&d).contains(ROLE_A) && msg(&d).contains("team-b"),
        "{}",
        msg(&d)
    );
    for (ns, name) in [("team-c", "c"), ("team-b", "d")] {
        let api: Api<Event> = Api::namespaced(kube.client().await, ns);
        eventually(
            &format!("a RoleNotAllowed Warning for {ns}/{name}"),
            WAIT,
            POLL,
            || {
                let api = api.clone();
                async move {
                    api.list(&ListParams::default())
                        .await
                        .ok()?
                        .items
                        .into_iter()
                        .find(|e| {
                            e.reason.as_deref() == Some("RoleNotAllowed")
                                && e.type_.as_deref() == Some("Warning")
                                && e.regarding.as_ref().and_then(|r| r.name.as_deref())
                                    == Some(name)
                        })
                }
            },
        )
        .await;
    }
    // Health comes through each role's CloudWatch too (the default health source).
    eventually("health read as each role", WAIT, POLL, || async {
        let calls = calls_by_role(&r53.request_log(), "cloudwatch");
        [ROLE_A, ROLE_B]
            .iter()
            .all(|role| calls.keys().any(|(r, _)| r == role))
            .then_some(())
    })
    .await;

    let log = r53.request_log().split_off(start);
    // Each role was assumed with the environment's credentials, team-a's with its external id.
    let assumed: BTreeMap<String, BTreeSet<Option<String>>> = log
        .iter()
        .filter(|r| r["service"] == "sts" && r["action"] == "AssumeRole")
        .fold(BTreeMap::new(), |mut m, r| {
            assert_eq!(r["access_key"], "testing", "{r}");
            m.entry(r["role_arn"].as_str().unwrap_or_default().to_string())
                .or_default()
                .insert(r["external_id"].as_str().map(str::to_string));
            m
        });
    assert_eq!(
        assumed,
        BTreeMap::from([
            (
                ROLE_A.to_string(),
                BTreeSet::from([Some("team-a-ext".into())])
            ),
            (ROLE_B.to_string(), BTreeSet::from([None])),
        ]),
        "{log:?}"
    );
    // Every Route 53 call was signed by a namespace's role: none with the environment's key, none
    // for team-c (no role) or for d (refused before any call). Each role created exactly the two
    // health checks of its namespace's one admitted object and wrote its records.
    let calls = calls_by_role(&log, "route53");
    assert!(
        calls
            .keys()
            .all(|(role, _)| role == ROLE_A || role == ROLE_B),
        "{calls:?}"
    );
    for role in [ROLE_A, ROLE_B] {
        let n = |op: &str| calls.get(&(role.to_string(), op.to_string())).copied();
        assert_eq!(n("CreateHealthCheck"), Some(2), "{role}: {calls:?}");
        assert!(
            n("ChangeResourceRecordSets").unwrap_or(0) >= 1,
            "{role}: {calls:?}"
        );
    }
    let uid = |o: &FailoverRecord| o.uid().expect("uid");
    assert_eq!(checks_of(&r53, &uid(&a)), 2);
    assert_eq!(checks_of(&r53, &uid(&b)), 2);
    assert_eq!(checks_of(&r53, &uid(&c)), 0);
    assert_eq!(checks_of(&r53, &uid(&d)), 0);

    // Deletion: the refused object never wrote anything and goes at once; team-a's object is
    // cleaned up with team-a's role (its credentials are cached: the keys issued above).
    let keys_a: BTreeSet<String> = log
        .iter()
        .filter(|r| r["role_arn"] == ROLE_A)
        .filter_map(|r| r["issued_key"].as_str().map(str::to_string))
        .collect();
    let before = start + log.len();
    ok(&kube.kubectl(&["delete", "frec", "c", "-n", "team-c", "--wait=false"]));
    ok(&kube.kubectl(&["delete", "frec", "a", "-n", "team-a", "--wait=false"]));
    for (ns, name) in [("team-c", "c"), ("team-a", "a")] {
        let api: Api<FailoverRecord> = Api::namespaced(kube.client().await, ns);
        eventually(&format!("{ns}/{name} deleted"), WAIT, POLL, || {
            let api = api.clone();
            async move { matches!(api.get_opt(name).await, Ok(None)).then_some(()) }
        })
        .await;
    }
    assert_eq!(checks_of(&r53, &uid(&a)), 0);
    assert_eq!(checks_of(&r53, &uid(&b)), 2, "team-b's checks stay");
    let log = r53.request_log();
    let deletes: Vec<&Value> = log[before.min(log.len())..]
        .iter()
        .filter(|r| r["operation"] == "DeleteHealthCheck")
        .collect();
    assert_eq!(deletes.len(), 2, "{log:?}");
    for r in deletes {
        assert!(
            keys_a.contains(r["access_key"].as_str().unwrap_or_default()),
            "team-a's check deleted with another identity: {r} (team-a's keys {keys_a:?})"
        );
    }
    op.kill();
}

/// Role chaining and `default: installation`: with `--assume-role-arn`, each namespace role is
/// assumed with the installation role's credentials (not the environment's), and a namespace the
/// mapping sends to the installation uses the installation role itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsroles_namespace_roles_are_assumed_from_the_installation_role() {
    const INSTALLATION: &str = "arn:aws:iam::123456789012:role/route53-failover-operator";
    let dir = tempfile::tempdir().expect("tmp");
    let r53 = R53World::start();
    let kube = KubeWorld::with_crd();
    r53.create_zone("example.test").await;
    let start = r53.request_log().len();
    r53.route(PRIMARY_IP, "127.0.0.1");
    r53.route(SECONDARY_IP, "127.0.0.1");
    let (pd, sd) = (dir.path().join("p"), dir.path().join("s"));
    std::fs::create_dir_all(&pd).expect("mkdir");
    std::fs::create_dir_all(&sd).expect("mkdir");
    let primary = Backend::start(&pd);
    let secondary = Backend::start(&sd);
    for ns in ["team-a", "team-c"] {
        ok(&kube.kubectl(&["create", "namespace", ns]));
    }
    let roles = dir.path().join("namespace-roles.yaml");
    std::fs::write(
        &roles,
        format!("namespaces:\n  team-a: {{arn: {ROLE_A}}}\ndefault: installation\n"),
    )
    .expect("write mapping");
    let sts = r53.endpoint();
    let mut op = Operator::start_with(
        &kube,
        &r53,
        &kube.operator_kubeconfig(),
        &[
            "--namespace-roles",
            roles.to_str().expect("utf-8 path"),
            "--assume-role-arn",
            INSTALLATION,
            "--assume-role-external-id",
            "cluster-x",
        ],
        &[("AWS_ENDPOINT_URL_STS", &sts)],
    );
    let apply = |yaml: &str| ok(&kube.kubectl_stdin(&["apply", "--server-side", "-f", "-"], yaml));
    let (p, s) = (primary.port, secondary.port);
    apply(&manifest("a", "team-a", "", p, s));
    apply(&manifest("c", "team-c", "", p, s));
    wait_ready(&kube, "team-a", "a", "True", "Synced").await;
    wait_ready(&kube, "team-c", "c", "True", "Synced").await;

    let log = r53.request_log().split_off(start);
    let assume: Vec<&Value> = log
        .iter()
        .filter(|r| r["service"] == "sts" && r["action"] == "AssumeRole")
        .collect();
    let keys_of = |role: &str| -> BTreeSet<String> {
        assume
            .iter()
            .filter(|r| r["role_arn"] == role)
            .filter_map(|r| r["issued_key"].as_str().map(str::to_string))
            .collect()
    };
    let installation_keys = keys_of(INSTALLATION);
    assert!(!installation_keys.is_empty(), "{log:?}");
    for r in &assume {
        if r["role_arn"] == INSTALLATION {
            assert_eq!(r["access_key"], "testing", "{r}");
            assert_eq!(r["external_id"], "cluster-x", "{r}");
        } else {
            assert_eq!(r["role_arn"], ROLE_A, "{r}");
            assert!(
                installation_keys.contains(r["access_key"].as_str().unwrap_or_default()),
                "team-a's role must be assumed with the installation role's credentials: {r}"
            );
        }
    }
    let calls = calls_by_role(&log, "route53");
    for role in [ROLE_A, INSTALLATION] {
        assert_eq!(
            calls.get(&(role.to_string(), "CreateHealthCheck".to_string())),
            Some(&2),
            "{role}: {calls:?}"
        );
    }
    assert!(
        calls
            .keys()
            .all(|(role, _)| role == ROLE_A || role == INSTALLATION),
        "{calls:?}"
    );
    op.kill();
}

/// A bad mapping stops the start-up before anything else runs, naming the file and the place of
/// the error (no Kubernetes or AWS is reached: there is none here).
#[test]
fn nsroles_a_bad_mapping_stops_the_start_up() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("namespace-roles.yaml");
    std::fs::write(
        &file,
        format!(
            "namespaces:\n  team-a:\n  - {{arn: {ROLE_A}}}\n  - {{arn: arn:aws:iam::1:role/x}}\n"
        ),
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_route53-failover-operator"))
        .args(["run", "--namespace-roles"])
        .arg(&file)
        .env("KUBECONFIG", dir.path().join("no-kubeconfig"))
        .output()
        .expect("run the operator");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("namespace roles {}", file.display()))
            && stderr.contains("namespaces.team-a[1].arn"),
        "{stderr}"
    );
    let missing = dir.path().join("absent.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_route53-failover-operator"))
        .args(["run", "--namespace-roles"])
        .arg(&missing)
        .env("KUBECONFIG", dir.path().join("no-kubeconfig"))
        .output()
        .expect("run the operator");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
}
