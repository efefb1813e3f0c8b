//! kstatus conditions end to end: the real operator binary against the local world (Route 53
//! double, real kube-apiserver), checked with the real `kubectl wait --for=condition=...` (what
//! GitOps pipelines run) and with Argo CD's health script (`deploy/argocd/health.lua`, through
//! `deploy/argocd/run_tests.py --object`) and kstatus itself (`tests/world/kstatus`, cli-utils'
//! `status.Compute`) on the same live objects.
//!
//! A change that is propagating is `Reconciling` (Argo CD: Progressing), then `Ready` with neither
//! kstatus condition (Healthy); an invalid spec is `Stalled` at once (Degraded) and nothing is
//! written to Route 53 for it (nor when it is deleted); a missing hosted zone is `Reconciling` for
//! its grace period (the slow retry interval), then `Stalled`, and `Ready` once the zone exists; a
//! new object whose first reconcile fails transiently is `Reconciling` (not status-less, which
//! kstatus takes for Current).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::kube::{KubeWorld, fails, ok};
use support::operator::Operator;
use support::r53::R53World;
use support::{Backend, eventually, repo_root};

const PRIMARY_IP: &str = "52.94.76.30";
const SECONDARY_IP: &str = "52.94.76.31";
/// The slow retry interval, which is also the grace period of a missing hosted zone: long enough
/// for `kubectl wait` to see `Reconciling` before `Stalled`.
const GRACE: &str = "8s";

struct World {
    r53: R53World,
    kube: KubeWorld,
    primary: Backend,
    secondary: Backend,
    dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().expect("tmp");
        let r53 = R53World::start();
        r53.create_zone("example.test").await;
        r53.route(PRIMARY_IP, "127.0.0.1");
        r53.route(SECONDARY_IP, "127.0.0.1");
        let mkdir = |name: &str| {
            let p = dir.path().join(name);
            std::fs::create_dir_all(&p).expect("mkdir");
            p
        };
        let primary = Backend::start(&mkdir("p"));
        let secondary = Backend::start(&mkdir("s"));
        World {
            r53,
            kube: KubeWorld::with_crd(),
            primary,
            secondary,
            dir,
        }
    }

    fn manifest(&self, name: &str, zone: &str) -> String {
        support::record_manifest(
            name,
            zone,
            (
                "192.0.2.10",
                &support::http_check(PRIMARY_IP, self.primary.port, ""),
            ),
            (
                "192.0.2.20",
                &support::http_check(SECONDARY_IP, self.secondary.port, ""),
            ),
        )
    }

    fn apply(&self, yaml: &str) {
        ok(&self
            .kube
            .kubectl_stdin(&["apply", "--server-side", "-f", "-"], yaml));
    }

    /// `kubectl wait --for=condition=<condition> frec/<name>`: its output, or its error.
    fn wait(&self, name: &str, condition: &str, timeout: &str) -> Result<String, String> {
        let out = self.kube.kubectl(&[
            "wait",
            "-n",
            "default",
            &format!("--for=condition={condition}"),
            &format!("failoverrecord/{name}"),
            &format!("--timeout={timeout}"),
        ]);
        if out.status.success() {
            Ok(ok(&out))
        } else {
            Err(fails(&out))
        }
    }

    fn get(&self, name: &str) -> Value {
        serde_json::from_str(&ok(&self.kube.kubectl(&[
            "get",
            "-n",
            "default",
            "failoverrecord",
            name,
            "-o",
            "json",
        ])))
        .expect("object json")
    }

    /// Argo CD's verdict on the live object: (status, message).
    fn argocd(&self, name: &str) -> (String, String) {
        let path = self.dir.path().join(format!("{name}.json"));
        std::fs::write(&path, self.get(name).to_string()).expect("write object");
        let out = std::process::Command::new(support::python())
            .arg(repo_root().join("deploy/argocd/run_tests.py"))
            .arg("--object")
            .arg(&path)
            .output()
            .expect("run_tests.py");
        let v: Value = serde_json::from_str(&ok(&out)).expect("health json");
        (
            v["status"].as_str().unwrap_or_default().to_string(),
            v["message"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// Route 53 writes since the last counter reset.
    fn writes(&self) -> u64 {
        [
            "ChangeResourceRecordSets",
            "CreateHealthCheck",
            "UpdateHealthCheck",
            "DeleteHealthCheck",
        ]
        .iter()
        .map(|op| self.r53.counter("requests", op))
        .sum()
    }
}

/// What kstatus itself (`sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute`, built by
/// `scripts/localenv install` from `tests/world/kstatus`) says of an object: (status, message).
fn kstatus(obj: &Value) -> (String, String) {
    let bin = support::localenv_home().join("kstatus-bin/kstatus");
    assert!(
        bin.exists(),
        "{} missing: run `scripts/localenv install`",
        bin.display()
    );
    let mut child = std::process::Command::new(&bin)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kstatus");
    std::io::Write::write_all(
        &mut child.stdin.take().expect("stdin"),
        obj.to_string().as_bytes(),
    )
    .expect("write kstatus stdin");
    let out = child.wait_with_output().expect("kstatus");
    let v: Value = serde_json::from_str(&ok(&out)).expect("kstatus json");
    (
        v["status"].as_str().unwrap_or_default().to_string(),
        v["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// The kstatus conditions of an object, as (type, status, reason, observedGeneration).
fn progress(obj: &Value) -> Vec<(String, String, String, i64)> {
    obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] == "Reconciling" || c["type"] == "Stalled")
        .map(|c| {
            (
                c["type"].as_str().unwrap_or_default().to_string(),
                c["status"].as_str().unwrap_or_default().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
                c["observedGeneration"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

fn generation(obj: &Value) -> i64 {
    obj["metadata"]["generation"].as_i64().expect("generation")
}

/// The one kstatus condition of the object: (type, reason), checked to be True and of the
/// object's generation.
fn only_progress(obj: &Value) -> Option<(String, String)> {
    let p = progress(obj);
    assert!(p.len() <= 1, "both Reconciling and Stalled: {p:?}");
    p.into_iter().next().map(|(t, s, r, g)| {
        assert_eq!(s, "True", "{t} is present only while True");
        assert_eq!(g, generation(obj), "{t} of another generation");
        (t, r)
    })
}

fn pair(a: &str, b: &str) -> Option<(String, String)> {
    Some((a.to_string(), b.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_wait_and_argocd_follow_reconciling_stalled_and_ready() {
    let w = World::start().await;
    let _op = Operator::start(&w.kube, &w.r53, &["--slow-retry-interval", GRACE]);

    // 1. A change that takes a while to reach INSYNC: Reconciling, then Ready.
    w.r53.configure(json!({"change_delay": 30.0}));
    w.apply(&w.manifest("app", "example.test"));
    w.wait("app", "Reconciling", "60s")
        .expect("Reconciling while the change propagates");
    let obj = w.get("app");
    assert_eq!(only_progress(&obj), pair("Reconciling", "Propagating"));
    let (health, message) = w.argocd("app");
    assert_eq!(health, "Progressing", "{message}");
    assert!(message.contains("INSYNC"), "{message}");
    assert_eq!(kstatus(&obj).0, "InProgress");
    // Not Stalled, and not Ready yet: `kubectl wait` gives up on both.
    assert!(w.wait("app", "Stalled", "2s").is_err());
    assert!(w.wait("app", "Ready", "1s").is_err());
    w.r53.configure(json!({"change_delay": 0.0}));
    w.wait("app", "Ready", "60s").expect("Ready once INSYNC");
    let obj = w.get("app");
    assert_eq!(only_progress(&obj), None, "{}", obj["status"]);
    assert_eq!(w.argocd("app").0, "Healthy");
    assert_eq!(kstatus(&obj).0, "Current");

    // 2. An invalid spec the CRD cannot refuse (a name outside the zone given by id): Stalled at
    //    once, and nothing is written to Route 53 for it.
    let zone_id = obj["status"]["hostedZoneId"]
        .as_str()
        .expect("hostedZoneId")
        .to_string();
    w.r53.reset_counters();
    let bad = w
        .manifest("bad", "example.test")
        .replace(
            "hostedZone: {name: example.test}",
            &format!("hostedZone: {{id: {zone_id}}}"),
        )
        .replace("name: bad.example.test", "name: bad.elsewhere.test");
    w.apply(&bad);
    w.wait("bad", "Stalled", "60s")
        .expect("Stalled for an invalid spec");
    let obj = w.get("bad");
    assert_eq!(only_progress(&obj), pair("Stalled", "InvalidSpec"));
    let (health, message) = w.argocd("bad");
    assert_eq!(health, "Degraded", "{message}");
    assert!(
        message.contains("is not inside the hosted zone"),
        "{message}"
    );
    // Still stalled a moment later (it waits for a spec change), and still nothing written.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(only_progress(&w.get("bad")), pair("Stalled", "InvalidSpec"));
    assert_eq!(w.writes(), 0, "{}", w.r53.counters());
    // Name and zone are immutable: such an object is replaced. Deleting it writes nothing either.
    ok(&w.kube.kubectl(&[
        "delete",
        "-n",
        "default",
        "failoverrecord",
        "bad",
        "--timeout=60s",
    ]));
    assert_eq!(w.writes(), 0, "{}", w.r53.counters());

    // 3. A hosted zone that does not exist yet: Reconciling for the grace period, then Stalled;
    //    Ready once the zone is created. Nothing is written meanwhile.
    w.r53.reset_counters();
    w.apply(&w.manifest("later", "later.test"));
    w.wait("later", "Reconciling", "60s")
        .expect("Reconciling within the grace period");
    let obj = w.get("later");
    assert_eq!(only_progress(&obj), pair("Reconciling", "ZoneNotFound"));
    assert_eq!(w.argocd("later").0, "Progressing");
    assert_eq!(kstatus(&obj).0, "InProgress");
    w.wait("later", "Stalled", "60s")
        .expect("Stalled after the grace period");
    let obj = w.get("later");
    assert_eq!(only_progress(&obj), pair("Stalled", "ZoneNotFound"));
    let (health, message) = w.argocd("later");
    assert_eq!(health, "Degraded", "{message}");
    assert!(message.contains("later.test"), "{message}");
    assert_eq!(kstatus(&obj), ("Failed".to_string(), message));
    assert_eq!(w.writes(), 0, "{}", w.r53.counters());
    w.r53.create_zone("later.test").await;
    w.wait("later", "Ready", "60s")
        .expect("Ready once the zone exists");
    let obj = eventually(
        "later without kstatus conditions",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let obj = w.get("later");
            only_progress(&obj).is_none().then_some(obj)
        },
    )
    .await;
    assert_eq!(w.argocd("later").0, "Healthy", "{}", obj["status"]);
    assert_eq!(kstatus(&obj).0, "Current");

    // 4. A new object whose first reconcile fails transiently (Route 53 unavailable while its
    //    zone is looked up): Reconciling at once, not an object without status (which kstatus
    //    would take for Current); Ready once Route 53 answers again.
    w.r53.create_zone("flaky.test").await;
    w.r53.configure(json!({"faults": {
        "operations": ["ListHostedZonesByName", "GetHostedZone"],
        "error_rate": 1.0,
        "code": "ServiceUnavailable",
    }}));
    w.apply(&w.manifest("flaky", "flaky.test"));
    w.wait("flaky", "Reconciling", "60s")
        .expect("Reconciling while Route 53 fails");
    let obj = w.get("flaky");
    let (kind, reason) = only_progress(&obj).expect("a kstatus condition");
    assert_eq!(kind, "Reconciling", "{}", obj["status"]);
    assert!(reason.starts_with("Route53"), "{reason}");
    assert_eq!(kstatus(&obj).0, "InProgress");
    assert_eq!(w.argocd("flaky").0, "Progressing");
    w.r53.configure(json!({"faults": null}));
    w.wait("flaky", "Ready", "90s")
        .expect("Ready once Route 53 answers");
    let obj = eventually(
        "flaky without kstatus conditions",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let obj = w.get("flaky");
            only_progress(&obj).is_none().then_some(obj)
        },
    )
    .await;
    assert_eq!(kstatus(&obj).0, "Current");
}

/// Argo CD's verdict on each of its test objects (`deploy/argocd/health_test.yaml`) is kstatus'
/// own: Degraded = Failed, Progressing = InProgress, Healthy = Current. The two exceptions are
/// objects the operator has not reported on yet (no status, no `Ready`), which kstatus takes for
/// Current (it cannot tell that the type reports status) and Argo CD waits on.
#[test]
fn the_argocd_script_agrees_with_kstatus_on_its_test_objects() {
    let dir = repo_root().join("deploy/argocd");
    let tests: Value = serde_yaml::from_str(
        &std::fs::read_to_string(dir.join("health_test.yaml")).expect("health_test.yaml"),
    )
    .expect("yaml");
    let not_reported = [
        "testdata/progressing_noStatus.yaml",
        "testdata/progressing_noReadyCondition.yaml",
    ];
    let cases = tests["tests"].as_array().expect("tests");
    assert!(cases.len() >= 10, "{cases:?}");
    let mut failures = Vec::new();
    for case in cases {
        let input = case["inputPath"].as_str().expect("inputPath");
        let obj: Value =
            serde_yaml::from_str(&std::fs::read_to_string(dir.join(input)).expect("testdata"))
                .expect("testdata yaml");
        let argocd = case["healthStatus"]["status"].as_str().expect("status");
        let want = match argocd {
            _ if not_reported.contains(&input) => "Current",
            "Degraded" => "Failed",
            "Progressing" => "InProgress",
            "Healthy" => "Current",
            other => panic!("{input}: unexpected {other}"),
        };
        let (got, message) = kstatus(&obj);
        if got != want {
            failures.push(format!(
                "{input}: Argo CD {argocd}, kstatus {got} ({message})"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `kubectl explain` describes the status conditions and each of their fields.
#[test]
fn kubectl_explain_describes_the_status_conditions() {
    let kube = KubeWorld::with_crd();
    let explain = eventually_blocking(|| {
        let out = kube.kubectl(&["explain", "failoverrecord.status.conditions"]);
        out.status.success().then(|| ok(&out))
    });
    for text in ["Reconciling", "Stalled", "DESCRIPTION"] {
        assert!(explain.contains(text), "{text} missing in:\n{explain}");
    }
    for field in [
        "lastTransitionTime",
        "message",
        "observedGeneration",
        "reason",
        "status",
        "type",
    ] {
        let explain = ok(&kube.kubectl(&[
            "explain",
            &format!("failoverrecord.status.conditions.{field}"),
        ]));
        let description = explain
            .split("DESCRIPTION:")
            .nth(1)
            .unwrap_or_default()
            .trim();
        assert!(
            !description.is_empty() && !description.starts_with("<empty>"),
            "{field} has no description:\n{explain}"
        );
    }
}

/// The published OpenAPI lags the CRD's Established condition by a moment.
fn eventually_blocking<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(200));
    }
}
