//! Shared harness for tests that run against the local test world (see `scripts/localenv`).
//!
//! Every test binary starts its own servers on OS-chosen loopback ports, so tests never share state.
//! Servers are child processes killed when their handle is dropped.
#![allow(dead_code)]

pub mod crd_cases;
pub mod kube;
pub mod operator;
pub mod r53;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Repository root (the crate manifest directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run a command in the repository root, optionally feeding `stdin`; its output captured.
pub fn run(cmd: &mut Command, stdin: Option<&str>) -> Output {
    cmd.current_dir(repo_root())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("wait")
}

/// A command's stdout and then its stderr, as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Where `scripts/localenv install` put the venv and binaries.
pub fn localenv_home() -> PathBuf {
    std::env::var_os("LOCALENV_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".localenv"))
}

/// The Python interpreter of the local world's venv.
pub fn python() -> PathBuf {
    let p = localenv_home().join("venv/bin/python");
    assert!(
        p.exists(),
        "{} missing: run `scripts/localenv install` first",
        p.display()
    );
    p
}

/// Path of a binary installed by localenv (`kubectl`, `helm`).
pub fn tool(name: &str) -> PathBuf {
    let p = localenv_home().join("bin").join(name);
    assert!(
        p.exists(),
        "{} missing: run `scripts/localenv install` first",
        p.display()
    );
    p
}

/// A child process that is killed (and reaped) on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL the process now and wait for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Contents of the process log so far (stdout and stderr).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Start a Python server script from `tests/world/` with `--host 127.0.0.1 --port 0 --port-file F`
/// plus `args`, and wait until it has written its port. Returns the process and the port.
pub fn spawn_world_server(
    script: &str,
    args: &[&str],
    envs: &[(&str, &str)],
    dir: &Path,
) -> (Proc, u16) {
    let port_file = dir.join(format!("{script}.port"));
    let log = dir.join(format!("{script}.log"));
    let _ = std::fs::remove_file(&port_file);
    let logf = std::fs::File::create(&log).expect("create server log");
    let mut cmd = Command::new(python());
    cmd.arg(repo_root().join("tests/world").join(script))
        .args(["--host", "127.0.0.1", "--port", "0", "--port-file"])
        .arg(&port_file)
        .args(args)
        .stdin(Stdio::null())
        .stdout(logf.try_clone().expect("clone log"))
        .stderr(logf);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn world server");
    let mut proc = Proc {
        child,
        name: script.to_string(),
        log: log.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(s) = std::fs::read_to_string(&port_file) {
            if let Ok(port) = s.trim().parse::<u16>() {
                return (proc, port);
            }
        }
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!(
                "{script} exited early ({status}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{script} did not start within 60s:\n{}",
            proc.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A minimal blocking HTTP/1.1 client for the worlds' `/_world/...` control endpoints
/// (no extra dependencies). Returns (status, body).
pub fn http(method: &str, port: u16, path: &str, body: Option<&str>) -> (u16, String) {
    request(method, port, path, body, &[])
}

/// Like [`http`], with extra request headers (no body).
pub fn http_with_headers(
    method: &str,
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    request(method, port, path, None, headers)
}

fn request(
    method: &str,
    port: u16,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let body = body.unwrap_or("");
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Poll `f` every `every` until it returns `Some`, or panic with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, every: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(every).await;
    }
}

/// A tiny loopback HTTP backend whose health can be switched, and which can be killed and restarted
/// on the same port (for health-check flips). Serves `GET <any>` → 200 "OK healthy" while up.
pub struct Backend {
    pub port: u16,
    proc: Option<Proc>,
    dir: PathBuf,
}

impl Backend {
    /// Start on an OS-chosen port.
    pub fn start(dir: &Path) -> Backend {
        let (proc, port) = spawn_world_server("backend.py", &[], &[], dir);
        Backend {
            port,
            proc: Some(proc),
            dir: dir.to_path_buf(),
        }
    }

    /// Kill the backend process: the port then refuses connections.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Start again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.port.to_string();
        let port_file = self.dir.join("backend.py.port");
        let _ = std::fs::remove_file(&port_file);
        let log = self.dir.join("backend.py.log");
        let logf = std::fs::File::create(&log).expect("log");
        let child = Command::new(python())
            .arg(repo_root().join("tests/world/backend.py"))
            .args(["--host", "127.0.0.1", "--port", &port, "--port-file"])
            .arg(&port_file)
            .stdout(logf.try_clone().expect("clone"))
            .stderr(logf)
            .spawn()
            .expect("spawn backend");
        let mut proc = Proc {
            child,
            name: "backend.py".into(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !port_file.exists() {
            if let Ok(Some(st)) = proc.child.try_wait() {
                panic!("backend restart failed ({st}): {}", proc.log_text());
            }
            assert!(Instant::now() < deadline, "backend restart timed out");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.proc = Some(proc);
    }
}

/// A FailoverRecord `name` in namespace `default` at `<name>.<zone>`, each endpoint a value and a
/// `healthCheck` in YAML flow style (see [`http_check`]).
pub fn record_manifest(
    name: &str,
    zone: &str,
    primary: (&str, &str),
    secondary: (&str, &str),
) -> String {
    format!(
        r#"apiVersion: route53.failover.io/v1alpha1
kind: FailoverRecord
metadata:
  name: {name}
  namespace: default
spec:
  hostedZone: {{name: {zone}}}
  name: {name}.{zone}
  type: A
  primary:
    values: ["{pv}"]
    healthCheck: {pc}
  secondary:
    values: ["{sv}"]
    healthCheck: {sc}
"#,
        pv = primary.0,
        pc = primary.1,
        sv = secondary.0,
        sc = secondary.1,
    )
}

/// An HTTP check of `ip:port/health` every 10 s with a threshold of 1; `extra` adds fields (`, k: v`).
pub fn http_check(ip: &str, port: u16, extra: &str) -> String {
    format!(
        "{{type: HTTP, ipAddress: {ip}, port: {port}, resourcePath: /health, requestInterval: 10, failureThreshold: 1{extra}}}"
    )
}

/// Every property under `schema` (recursively) has a description; returns the paths that lack one.
pub fn undescribed(schema: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    if let Some(props) = schema["properties"].as_object() {
        for (name, sub) in props {
            let p = format!("{path}.{name}");
            if sub["description"]
                .as_str()
                .unwrap_or_default()
                .trim()
                .is_empty()
            {
                out.push(p.clone());
            }
            undescribed(sub, &p, out);
        }
    }
    if schema["items"].is_object() {
        undescribed(&schema["items"], &format!("{path}[]"), out);
    }
}
