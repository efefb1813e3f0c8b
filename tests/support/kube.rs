//! Harness for the Kubernetes API double (`tests/world/k8s_server.py`): one server per test, a kubeconfig
//! pointing at it, and helpers for the real `kubectl` and the `/_world/` control API.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use super::{Proc, http, spawn_world_server, tool};

/// A running Kubernetes API double with its own temporary directory (kubeconfig, kubectl cache, logs).
pub struct KubeWorld {
    proc: Proc,
    port: u16,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    args: Vec<String>,
}

impl KubeWorld {
    /// Start with no extra arguments.
    pub fn start() -> KubeWorld {
        Self::start_with(&[])
    }

    /// Start with extra server arguments, e.g. `["--crd", path]` or `["--bookmark-interval", "1"]`.
    pub fn start_with(args: &[&str]) -> KubeWorld {
        Self::start_with_crds(&[], args)
    }

    /// Start with CRD manifests (YAML or JSON text) preloaded: each is written into the world's
    /// tempdir and passed as `--crd`, so [`KubeWorld::restart`] loads them again.
    pub fn start_with_crds(crds: &[&str], args: &[&str]) -> KubeWorld {
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        let mut all: Vec<String> = vec!["--kubeconfig".into(), path_str(&kubeconfig)];
        for (i, crd) in crds.iter().enumerate() {
            let path = dir.path().join(format!("crd-{i}.yaml"));
            std::fs::write(&path, crd).expect("write crd");
            all.extend(["--crd".into(), path_str(&path)]);
        }
        all.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let (proc, port) = spawn_world_server("k8s_server.py", &refs, &[], dir.path());
        KubeWorld {
            proc,
            port,
            dir,
            kubeconfig,
            args: all,
        }
    }

    /// SIGKILL the server and start a fresh one (empty state, same CRDs and flags) on the same port.
    pub fn restart(&mut self) {
        self.proc.kill();
        let port = self.port.to_string();
        let mut refs: Vec<&str> = self.args.iter().map(String::as_str).collect();
        refs.extend(["--port", port.as_str()]); // the last --port wins over the harness's `--port 0`
        let (proc, port) = spawn_world_server("k8s_server.py", &refs, &[], self.dir.path());
        assert_eq!(port, self.port, "restarted on another port");
        self.proc = proc;
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.kubeconfig.clone()
    }

    /// The test's temporary directory (also `HOME` and `KUBECACHEDIR` for kubectl).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// A `kube::Client` built from the world's kubeconfig.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("read kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("kube config");
        kube::Client::try_from(config).expect("kube client")
    }

    fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(tool("kubectl"));
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("kube-cache"))
            .env("HOME", self.dir.path());
        cmd
    }

    /// Run `kubectl ARGS` against the world.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    /// Run `kubectl ARGS` with `stdin` piped in (e.g. `apply -f -`).
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .kubectl_cmd(args)
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
        self.kubectl_cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kubectl")
    }

    /// `GET /_world/stats`: `{"requests": {"PATCH widgets/status": 3, ...}, "resourceVersion": "..."}`.
    pub fn stats(&self) -> serde_json::Value {
        let (code, body) = http("GET", self.port, "/_world/stats", None);
        assert_eq!(code, 200, "stats: {body}");
        serde_json::from_str(&body).expect("stats json")
    }

    /// Count of requests for one `"VERB resource[/sub]"` key (0 when absent).
    pub fn requests(&self, key: &str) -> u64 {
        self.stats()["requests"][key].as_u64().unwrap_or(0)
    }

    /// `POST /_world/stats/reset`.
    pub fn reset_stats(&self) {
        let (code, body) = http("POST", self.port, "/_world/stats/reset", Some("{}"));
        assert_eq!(code, 200, "reset stats: {body}");
    }

    /// `POST /_world/compact`: drop watch history (older RVs now get 410) and close open watches.
    pub fn compact(&self) {
        let (code, body) = http("POST", self.port, "/_world/compact", Some("{}"));
        assert_eq!(code, 200, "compact: {body}");
    }

    /// Server log so far.
    pub fn log(&self) -> String {
        self.proc.log_text()
    }

    /// SIGKILL the server (for restart tests).
    pub fn kill(&mut self) {
        self.proc.kill();
    }
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
