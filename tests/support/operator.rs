//! The real operator binary, run against a [`KubeWorld`] and an [`R53World`] through the standard
//! environment only (`KUBECONFIG`, `AWS_ENDPOINT_URL_ROUTE_53`, test credentials). It runs as the
//! chart's ServiceAccount with the chart's RBAC (a token kubeconfig), never as admin, and with
//! `POD_NAMESPACE` set to the chart's namespace as the Deployment's downward API would.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::kube::KubeWorld;
use super::r53::R53World;
use super::{Proc, http};

/// A running operator process (killed on drop).
pub struct Operator {
    proc: Proc,
    /// Port of the admin server (/livez, /readyz, /metrics).
    pub admin_port: u16,
}

/// Fast timings for tests: health every 500 ms, changes every 300 ms, resync every 5 s, a 3 s Lease
/// renewed every 500 ms.
pub const FAST: &[&str] = &[
    "--health-poll-interval",
    "500ms",
    // The Route 53 double publishes HealthCheckStatus once per scaled minute (60 s x 0.05).
    "--health-metric-period",
    "3s",
    "--change-poll-interval",
    "300ms",
    "--resync-interval",
    "5s",
    "--slow-retry-interval",
    "2s",
    "--owner-id",
    "e2e",
    "--leader-election-lease-duration",
    "3s",
    "--leader-election-renew-interval",
    "500ms",
    // The chart's Role allows only this Lease.
    "--leader-election-lease",
    super::kube::OPERATOR_LEASE,
];

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Operator {
    /// Start `route53-failover-operator run` with [`FAST`] timings plus `extra` flags (later flags win).
    pub fn start(kube: &KubeWorld, r53: &R53World, extra: &[&str]) -> Operator {
        Self::start_with(kube, r53, &kube.operator_kubeconfig(), extra, &[])
    }

    /// Like [`Operator::start`], with another kubeconfig (e.g. one through a proxy) and extra
    /// environment (which wins over the Route 53 world's).
    pub fn start_with(
        kube: &KubeWorld,
        r53: &R53World,
        kubeconfig: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Operator {
        let mut args: Vec<String> = vec!["run".into()];
        // FAST is flag/value pairs; a flag given again in `extra` drops the pair.
        for pair in FAST.chunks(2) {
            if !extra.contains(&pair[0]) {
                args.extend(pair.iter().map(|f| f.to_string()));
            }
        }
        if !extra.contains(&"--log-level") {
            args.extend([
                "--log-level".into(),
                "info,route53_failover_operator=debug".into(),
            ]);
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        Self::start_exact(kube, r53, kubeconfig, &args, env)
    }

    /// Start the binary with exactly `args` (plus `--admin-address` on a free loopback port, replacing
    /// any given), the given kubeconfig and extra environment, e.g. the arguments of a Deployment.
    pub fn start_exact(
        kube: &KubeWorld,
        r53: &R53World,
        kubeconfig: &std::path::Path,
        args: &[String],
        env: &[(&str, &str)],
    ) -> Operator {
        let admin_port = free_port();
        let log = kube.dir().join(format!("operator-{admin_port}.log"));
        let logf = std::fs::File::create(&log).expect("operator log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_route53-failover-operator"));
        let mut skip = false;
        for a in args {
            if skip {
                skip = false;
            } else if a == "--admin-address" {
                skip = true;
            } else if !a.starts_with("--admin-address=") {
                cmd.arg(a);
            }
        }
        cmd.args(["--admin-address", &format!("127.0.0.1:{admin_port}")])
            .env("POD_NAMESPACE", super::kube::OPERATOR_NAMESPACE)
            .env("KUBECONFIG", kubeconfig)
            .env_remove("AWS_PROFILE")
            .env_remove("WATCH_NAMESPACE")
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("log"))
            .stderr(logf);
        for (k, v) in r53.aws_env() {
            cmd.env(k, v);
        }
        // The caller's environment wins (e.g. another AWS access key id to tell replicas apart).
        cmd.envs(env.iter().copied());
        let child = cmd.spawn().expect("spawn operator");
        let mut op = Operator {
            proc: Proc {
                child,
                name: "operator".into(),
                log,
            },
            admin_port,
        };
        op.wait_ready(Duration::from_secs(60));
        op
    }

    /// Wait until `/readyz` answers 200.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.proc.child.try_wait() {
                panic!("operator exited ({st}):\n{}", self.log());
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.admin_port)).is_ok()
                && http("GET", self.admin_port, "/readyz", None).0 == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "operator not ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET /metrics` body.
    pub fn metrics(&self) -> String {
        let (code, body) = http("GET", self.admin_port, "/metrics", None);
        assert_eq!(code, 200);
        body
    }

    /// SIGKILL: no cleanup, no lease release.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// SIGTERM and wait (graceful shutdown); returns whether it exited within `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.proc.pid().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.proc.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The operator's log so far.
    pub fn log(&self) -> String {
        self.proc.log_text()
    }
}
