//! Harness for the real Kubernetes control plane of the local world (`tests/world/kube_server.py`:
//! etcd, kube-apiserver and optionally kube-controller-manager, built by `scripts/localenv install`).
//! One control plane per test, with its own etcd data, PKI, kubeconfig and loopback ports.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use super::{Proc, http, localenv_home, repo_root, spawn_world_server, tool};

/// The FailoverRecord CRD as generated (`crds/failoverrecord.yaml`).
pub const CRD_PATH: &str = "crds/failoverrecord.yaml";
/// Namespace the chart installs into (the rendered snapshot's release namespace).
pub const OPERATOR_NAMESPACE: &str = "route53-failover-operator";
/// The chart's ServiceAccount name (rendered snapshot, release `rfo`).
pub const OPERATOR_SERVICE_ACCOUNT: &str = "rfo-route53-failover-operator";
/// The Lease the chart's Role lets that ServiceAccount use (rendered snapshot).
pub const OPERATOR_LEASE: &str = "rfo-route53-failover-operator";

/// A running control plane with its own temporary directory (kubeconfig, kubectl cache, logs).
pub struct KubeWorld {
    proc: Proc,
    port: u16,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    operator_kubeconfig: std::sync::OnceLock<PathBuf>,
}

/// Options of [`KubeWorld::start_opts`].
#[derive(Default)]
pub struct KubeOpts<'a> {
    /// CRD manifests (paths relative to the repository root, or absolute) applied and Established
    /// before the world is handed out.
    pub crds: Vec<&'a str>,
    /// Also run kube-controller-manager (namespace deletion, garbage collection, SA tokens).
    pub controller_manager: bool,
    /// Extra kube-apiserver flags.
    pub apiserver_args: Vec<&'a str>,
}

impl KubeWorld {
    /// A control plane with no CRDs.
    pub fn start() -> KubeWorld {
        Self::start_opts(KubeOpts::default())
    }

    /// A control plane with the FailoverRecord CRD installed and Established.
    pub fn with_crd() -> KubeWorld {
        Self::start_opts(KubeOpts {
            crds: vec![CRD_PATH],
            ..Default::default()
        })
    }

    /// A control plane with the given options.
    pub fn start_opts(opts: KubeOpts) -> KubeWorld {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("cluster");
        let bin = localenv_home().join("kube-bin");
        assert!(
            bin.join("kube-apiserver").exists(),
            "{} missing: run `scripts/localenv install` first",
            bin.display()
        );
        let mut args: Vec<String> = vec![
            "--dir".into(),
            path_str(&state),
            "--bin".into(),
            path_str(&bin),
            "--kubectl".into(),
            path_str(&tool("kubectl")),
        ];
        for crd in &opts.crds {
            let p = std::path::Path::new(crd);
            let p = if p.is_absolute() {
                p.to_path_buf()
            } else {
                repo_root().join(p)
            };
            args.extend(["--crd".into(), path_str(&p)]);
        }
        if opts.controller_manager {
            args.push("--controller-manager".into());
        }
        for a in &opts.apiserver_args {
            args.push(format!("--apiserver-arg={a}"));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (proc, port) = spawn_world_server("kube_server.py", &refs, &[], dir.path());
        KubeWorld {
            proc,
            port,
            kubeconfig: state.join("kubeconfig"),
            dir,
            operator_kubeconfig: std::sync::OnceLock::new(),
        }
    }

    /// Port of the launcher's control API (`/_world/...`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin kubeconfig (client certificate in `system:masters`).
    pub fn kubeconfig(&self) -> PathBuf {
        self.kubeconfig.clone()
    }

    /// The test's temporary directory (also `HOME` and `KUBECACHEDIR` for kubectl and helm).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// `https://127.0.0.1:PORT` of the API server.
    pub fn server(&self) -> String {
        self.status()["server"]
            .as_str()
            .expect("server")
            .to_string()
    }

    /// `GET /_world/status`: pids, ports and start-up figures.
    pub fn status(&self) -> serde_json::Value {
        let (code, body) = http("GET", self.port, "/_world/status", None);
        assert_eq!(code, 200, "status: {body}");
        serde_json::from_str(&body).expect("status json")
    }

    /// A `kube::Client` (admin) built from the world's kubeconfig.
    pub async fn client(&self) -> kube::Client {
        client_from(&self.kubeconfig).await
    }

    /// Write a kubeconfig for `namespace/name` (a token minted by the TokenRequest API, valid one
    /// hour) into the test directory and return its path: the client then has exactly that service
    /// account's RBAC.
    pub fn sa_kubeconfig(&self, namespace: &str, name: &str) -> PathBuf {
        let body = format!(r#"{{"namespace": "{namespace}", "name": "{name}", "seconds": 3600}}"#);
        let (code, text) = http(
            "POST",
            self.port,
            "/_world/serviceaccount-kubeconfig",
            Some(&body),
        );
        assert_eq!(code, 200, "serviceaccount kubeconfig: {text}");
        let path = self.dir().join(format!("kubeconfig-{namespace}-{name}"));
        std::fs::write(&path, text).expect("write sa kubeconfig");
        path
    }

    /// Apply the chart's RBAC as rendered (`deploy/rendered`): the operator namespace, ServiceAccount,
    /// ClusterRole(Binding) and the leader-election Role(Binding). Returns a kubeconfig of that
    /// ServiceAccount, for running the operator with exactly the chart's permissions.
    pub fn install_operator_rbac(&self) -> PathBuf {
        let rendered = std::fs::read_to_string(
            repo_root().join("deploy/rendered/route53-failover-operator.yaml"),
        )
        .expect("rendered chart");
        let mut docs = vec![format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {OPERATOR_NAMESPACE}\n"
        )];
        for doc in rendered.split("\n---") {
            let kind = doc
                .lines()
                .find_map(|l| l.strip_prefix("kind: "))
                .unwrap_or_default()
                .trim();
            if matches!(
                kind,
                "ServiceAccount" | "ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding"
            ) {
                docs.push(doc.trim_start_matches('-').to_string());
            }
        }
        ok(&self.kubectl_stdin(
            &["apply", "--server-side", "-f", "-"],
            &docs.join("\n---\n"),
        ));
        self.sa_kubeconfig(OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT)
    }

    /// The operator's kubeconfig: the chart's RBAC installed once ([`KubeWorld::install_operator_rbac`])
    /// and a token of its ServiceAccount.
    pub fn operator_kubeconfig(&self) -> PathBuf {
        self.operator_kubeconfig
            .get_or_init(|| self.install_operator_rbac())
            .clone()
    }

    fn env_cmd(&self, program: PathBuf, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("kube-cache"))
            .env("HELM_CACHE_HOME", self.dir.path().join("helm-cache"))
            .env("HELM_CONFIG_HOME", self.dir.path().join("helm-config"))
            .env("HELM_DATA_HOME", self.dir.path().join("helm-data"))
            .env("HOME", self.dir.path());
        cmd
    }

    /// Run `kubectl ARGS` against the world as admin.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.env_cmd(tool("kubectl"), args)
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    /// Run `kubectl ARGS` with another kubeconfig (e.g. a service account's).
    pub fn kubectl_as(&self, kubeconfig: &std::path::Path, args: &[&str]) -> Output {
        self.env_cmd(tool("kubectl"), args)
            .env("KUBECONFIG", kubeconfig)
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    /// Run `helm ARGS` against the world as admin.
    pub fn helm(&self, args: &[&str]) -> Output {
        self.env_cmd(tool("helm"), args)
            .stdin(Stdio::null())
            .output()
            .expect("run helm")
    }

    /// Run `kubectl ARGS` with `stdin` piped in (e.g. `apply -f -`).
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .env_cmd(tool("kubectl"), args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write kubectl stdin");
        child.wait_with_output().expect("wait kubectl")
    }

    /// Start `kubectl ARGS` in the background (for `get -w`, `wait`, `delete` that block).
    pub fn kubectl_spawn(&self, args: &[&str]) -> std::process::Child {
        self.env_cmd(tool("kubectl"), args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl")
    }

    /// Requests the API server served since the last [`KubeWorld::reset_stats`], from its own
    /// `apiserver_request_total`: `{"requests": {"PATCH failoverrecords/status": 3, ...}}`.
    pub fn stats(&self) -> serde_json::Value {
        let (code, body) = http("GET", self.port, "/_world/stats", None);
        assert_eq!(code, 200, "stats: {body}");
        serde_json::from_str(&body).expect("stats json")
    }

    /// Count of requests for one `"VERB resource[/sub]"` key (0 when absent).
    pub fn requests(&self, key: &str) -> u64 {
        self.stats()["requests"][key].as_u64().unwrap_or(0)
    }

    /// Start counting requests from now.
    pub fn reset_stats(&self) {
        self.control("stats/reset");
    }

    /// Compact etcd at its current revision: any older resourceVersion is now gone (410).
    pub fn compact_etcd(&self) -> u64 {
        self.control("etcd/compact")["revision"]
            .as_u64()
            .expect("revision")
    }

    /// Stop the API server (etcd keeps the data; the port then refuses connections).
    pub fn stop_apiserver(&self) {
        self.control("apiserver/stop");
    }

    /// Start the API server again on the same port; returns once `/readyz` answers.
    pub fn start_apiserver(&self) {
        self.control("apiserver/start");
    }

    /// Stop and start the API server (same port, same etcd, same certificates).
    pub fn restart_apiserver(&self) {
        self.control("apiserver/restart");
    }

    /// SIGSTOP the API server: connections are accepted by the kernel but nothing answers (a hang).
    pub fn pause_apiserver(&self) {
        self.control("apiserver/pause");
    }

    /// SIGCONT after [`KubeWorld::pause_apiserver`].
    pub fn resume_apiserver(&self) {
        self.control("apiserver/resume");
    }

    fn control(&self, what: &str) -> serde_json::Value {
        let (code, body) = http("POST", self.port, &format!("/_world/{what}"), Some("{}"));
        assert_eq!(code, 200, "{what}: {body}");
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null)
    }

    /// Launcher log so far (start-up figures).
    pub fn log(&self) -> String {
        self.proc.log_text()
    }

    /// The API server's own log so far.
    pub fn apiserver_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cluster/apiserver.log")).unwrap_or_default()
    }
}

/// A `kube::Client` from a kubeconfig file.
pub async fn client_from(path: &std::path::Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(path).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kube config");
    kube::Client::try_from(config).expect("kube client")
}

fn path_str(p: &std::path::Path) -> String {
    p.to_str().expect("utf-8 tempdir path").to_string()
}

/// stdout of a finished command, panicking with stderr when it failed.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr of a command that must have failed, panicking when it succeeded.
pub fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "command succeeded but should have failed:\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}
