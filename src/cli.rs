//! Command line: `crd` prints the CRD, `run` starts the controller, `plan` prints what the controller
//! would change in Route 53 for a manifest. Every `run` flag can also be set by an environment
//! variable.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Kubernetes operator that reconciles FailoverRecords into Route 53 health checks and failover records.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the FailoverRecord CustomResourceDefinition as YAML.
    Crd,
    /// Run the controller (Route 53 is configured by the standard AWS environment, e.g. AWS_REGION,
    /// AWS_ENDPOINT_URL_ROUTE_53, IRSA or Pod Identity credentials).
    Run(Box<RunArgs>),
    /// Print what the operator would change in Route 53 for FailoverRecord manifests, reading Route
    /// 53 only (the standard AWS environment, as `run`). Exit status: 0 no changes, 2 changes, 1 an
    /// error or a conflict (like `terraform plan -detailed-exitcode`).
    Plan(PlanArgs),
    /// Flip the manual failover switch of a FailoverRecord (`spec.failover.mode`), from the
    /// kubeconfig's context: one merge patch, which the operator turns into one UpdateHealthCheck.
    Switch(SwitchArgs),
    /// Acknowledge a held failover (`spec.failover.failback: Manual`): sets
    /// `spec.failover.acknowledge` to a new value, so traffic returns to a healthy primary.
    Ack(AckArgs),
}

/// Flags of `switch`.
#[derive(Parser, Debug, Clone)]
pub struct SwitchArgs {
    /// The FailoverRecord's name.
    pub record: String,
    /// The mode to set.
    #[arg(long = "to", value_enum)]
    pub to: SwitchTo,
    /// Namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Who flips it, recorded in the `route53.failover.io/switched-by` annotation and shown in
    /// `status.failover.setBy` (default: `$USER`).
    #[arg(long)]
    pub by: Option<String>,
}

/// Flags of `ack`.
#[derive(Parser, Debug, Clone)]
pub struct AckArgs {
    /// The FailoverRecord's name.
    pub record: String,
    /// Namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

/// `switch --to`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchTo {
    /// Force the primary.
    Primary,
    /// Force the secondary.
    Secondary,
    /// Let Route 53 decide by health.
    Automatic,
}

impl SwitchTo {
    /// The `spec.failover.mode` value.
    pub fn mode(self) -> crate::crd::SwitchMode {
        match self {
            SwitchTo::Primary => crate::crd::SwitchMode::Primary,
            SwitchTo::Secondary => crate::crd::SwitchMode::Secondary,
            SwitchTo::Automatic => crate::crd::SwitchMode::Automatic,
        }
    }
}

/// Which FailoverRecords, records and checks an installation handles: the flags `run` and `plan`
/// share (`plan` describes them as the planned installation's).
#[derive(clap::Args, Debug, Clone)]
pub struct OwnerArgs {
    /// Owner id written into Route 53 SetIdentifiers and health check references. Must be stable and unique
    /// per installation: records and checks carrying another owner id are never touched.
    #[arg(long, env = "OWNER_ID", default_value = "route53-failover-operator", value_parser = parse_owner)]
    pub owner_id: String,

    /// Handle FailoverRecords without the `route53.failover.io/owner` annotation. Set it on exactly one
    /// installation per cluster; the others handle only objects annotated with their owner id.
    #[arg(
        long,
        env = "CLAIM_UNANNOTATED",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub claim_unannotated: bool,
}

/// Flags of `plan`.
#[derive(Parser, Debug, Clone)]
#[command(
    mut_arg("owner_id", |a| a.help("Owner id of the installation whose view is planned (as `run --owner-id`)")),
    mut_arg("claim_unannotated", |a| a.help("Whether that installation handles FailoverRecords without the owner annotation (as `run --claim-unannotated`)")),
)]
pub struct PlanArgs {
    /// FailoverRecord manifest(s): a YAML file of one or more documents (or a `kind: List`, as
    /// `kubectl get -o yaml` prints), `-` for stdin. Ownership identifiers need the object's
    /// `metadata.uid`: without one, the object is planned as a new one (only a create is right).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filename: String,

    /// The owner id and `--claim-unannotated` of the installation whose view is planned.
    #[command(flatten)]
    pub owner: OwnerArgs,

    /// The namespace policy of that installation (as `run --namespace-policy`): an object it does
    /// not allow is reported as such, and nothing else is planned for it.
    #[arg(long, env = "NAMESPACE_POLICY", value_name = "FILE")]
    pub namespace_policy: Option<std::path::PathBuf>,
}

/// Log output format.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

/// Where endpoint health is read from.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthSourceKind {
    /// CloudWatch's `AWS/Route53` `HealthCheckStatus` metric (`GetMetricData`, 500 checks per call):
    /// what AWS documents for production.
    Cloudwatch,
    /// `GetHealthCheckStatus`, one call per check at 1 call/s per account: per-checker detail and
    /// failure reasons, for a few dozen checks.
    Route53,
}

/// Flags of `run`.
#[derive(Parser, Debug, Clone)]
pub struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,

    /// The owner id and `--claim-unannotated`.
    #[command(flatten)]
    pub owner: OwnerArgs,

    /// Where endpoint health is read from.
    #[arg(long, env = "HEALTH_SOURCE", value_enum, default_value_t = HealthSourceKind::Cloudwatch)]
    pub health_source: HealthSourceKind,

    /// Period of the `HealthCheckStatus` datapoints read from CloudWatch (Route 53 publishes one a
    /// minute; CloudWatch accepts multiples of 60 s).
    #[arg(long, env = "HEALTH_METRIC_PERIOD", default_value = "60s", value_parser = parse_duration)]
    pub health_metric_period: Duration,

    /// How often the health of each check in use is read. With `--health-source route53` a round
    /// takes at least one second per check (GetHealthCheckStatus: 1 call/s for the whole account).
    #[arg(long, env = "HEALTH_POLL_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub health_poll_interval: Duration,

    /// A YAML or JSON file saying which hosted zones and record names each namespace's
    /// FailoverRecords may claim (default: any namespace may claim any name in any zone the IAM role
    /// reaches). Read and validated at start-up.
    #[arg(long, env = "NAMESPACE_POLICY", value_name = "FILE")]
    pub namespace_policy: Option<std::path::PathBuf>,

    /// A namespace, besides its own, whose Services, Ingresses and Gateways a FailoverRecord may
    /// name as endpoint targets (repeatable, or comma-separated; `*` for any). By default an
    /// endpoint may reference objects in its FailoverRecord's namespace only.
    #[arg(
        long = "target-namespace",
        env = "TARGET_NAMESPACES",
        value_delimiter = ','
    )]
    pub target_namespaces: Vec<String>,

    /// Reconciles running at once (0: no limit). Route 53 calls queue in one fair (first come,
    /// first served) budget whatever this is; the limit bounds memory after a restart or a bulk
    /// create.
    #[arg(long, env = "MAX_CONCURRENT_RECONCILES", default_value_t = 16)]
    pub max_concurrent_reconciles: u16,

    /// How often records and health check settings are checked and drift is repaired. An object in
    /// sync is confirmed from a zone snapshot and the health check inventory at most half this old.
    #[arg(long, env = "RESYNC_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub resync_interval: Duration,

    /// How often a PENDING Route 53 change is polled until INSYNC.
    #[arg(long, env = "CHANGE_POLL_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub change_poll_interval: Duration,

    /// Retry delay for conflicts, missing zones and permission errors.
    #[arg(long, env = "SLOW_RETRY_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub slow_retry_interval: Duration,

    /// Route 53 requests per second for the whole process (the account's limit is shared by every caller).
    #[arg(long, env = "ROUTE53_RATE", default_value_t = 4.0)]
    pub route53_rate: f64,

    /// Burst of Route 53 requests.
    #[arg(long, env = "ROUTE53_BURST", default_value_t = 10.0)]
    pub route53_burst: f64,

    /// Record changes of one hosted zone submitted within this window are sent in one
    /// ChangeResourceRecordSets call (within Route 53's batch limits); `0s` sends each on its own.
    #[arg(long, env = "ROUTE53_BATCH_WINDOW", default_value = "200ms", value_parser = parse_window)]
    pub route53_batch_window: Duration,

    /// Address of the admin server (/livez, /readyz, and /metrics unless --metrics-secure).
    #[arg(long, env = "ADMIN_ADDRESS", default_value = "0.0.0.0:8080")]
    pub admin_address: SocketAddr,

    /// IAM role to assume for every AWS call (Route 53, CloudWatch), from the credentials of the
    /// standard environment (IRSA, Pod Identity, ...): e.g. a role in the account that owns the
    /// hosted zones. Unset: the environment's credentials are used as they are.
    #[arg(long, env = "ASSUME_ROLE_ARN")]
    pub assume_role_arn: Option<String>,

    /// External id to pass when assuming --assume-role-arn (when the role's trust policy requires
    /// `sts:ExternalId`).
    #[arg(long, env = "ASSUME_ROLE_EXTERNAL_ID", requires = "assume_role_arn")]
    pub assume_role_external_id: Option<String>,

    /// A YAML or JSON file mapping namespaces to the IAM roles (ARN and external id) their
    /// FailoverRecords use, each assumed from the installation's credentials, with an optional
    /// default (see the README, "Cross-account zones"). An object whose namespace has no role
    /// gets Ready=False, reason RoleNotAllowed, and no Route 53 call. Unset: every object uses the
    /// installation's credentials. Read and validated at start-up.
    #[arg(long, env = "NAMESPACE_ROLES", value_name = "FILE")]
    pub namespace_roles: Option<std::path::PathBuf>,

    /// Serve /metrics over HTTPS on --metrics-address instead of on the admin server, to callers
    /// whose bearer token the API server authenticates (TokenReview) and authorizes for `get` on
    /// the non-resource URL /metrics (SubjectAccessReview).
    #[arg(long, env = "METRICS_SECURE")]
    pub metrics_secure: bool,

    /// Address of the HTTPS metrics server (with --metrics-secure).
    #[arg(long, env = "METRICS_ADDRESS", default_value = "0.0.0.0:8443")]
    pub metrics_address: SocketAddr,

    /// Directory with tls.crt and tls.key for the HTTPS metrics server; without it a self-signed
    /// certificate is generated at start-up.
    #[arg(long, env = "METRICS_CERT_DIR")]
    pub metrics_cert_dir: Option<std::path::PathBuf>,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,

    /// Disable leader election (run a single replica only).
    #[arg(long, env = "NO_LEADER_ELECTION")]
    pub no_leader_election: bool,

    /// Namespace of the leader election Lease (default: POD_NAMESPACE, else the client's namespace).
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// Name of the leader election Lease.
    #[arg(
        long,
        env = "LEADER_ELECTION_LEASE",
        default_value = "route53-failover-operator"
    )]
    pub leader_election_lease: String,

    /// How long the Lease is valid without renewal: a crashed leader is replaced after this.
    #[arg(long, env = "LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub leader_election_lease_duration: Duration,

    /// How often the leader renews the Lease and standbys retry.
    #[arg(long, env = "LEADER_ELECTION_RENEW_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    pub leader_election_renew_interval: Duration,

    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Observe-only mode: read Route 53, write status and Events, never write Route 53 (no record
    /// change, no health check created, updated, tagged or deleted) and never add or remove a
    /// finalizer. Status says what would change (`Ready=False`, reason `ObserveOnly`).
    #[arg(
        long,
        env = "OBSERVE_ONLY",
        default_value_t = false,
        action = clap::ArgAction::Set,
        default_missing_value = "true",
        num_args = 0..=1,
        require_equals = false,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub observe_only: bool,
}

/// Parse `250ms`, `30s`, `5m`, `1h` (or plain seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?} (use ms, s, m or h)"
            ));
        }
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("duration {s:?} must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Like [`parse_duration`], also accepting zero (`0`, `0s`, `0ms`).
pub fn parse_window(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let num = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let zero = matches!(num.parse::<f64>(), Ok(n) if n == 0.0);
    if zero && matches!(&t[num.len()..], "" | "ms" | "s" | "m" | "h") {
        return Ok(Duration::ZERO);
    }
    parse_duration(t)
}

fn parse_owner(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        Ok(s.to_string())
    } else {
        Err("owner id: 1-40 characters of [A-Za-z0-9._-]".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn batch_windows_parse_and_zero_disables() {
        assert_eq!(parse_window("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_window("1s"), Ok(Duration::from_secs(1)));
        for zero in ["0", "0s", "0ms", "0.0s"] {
            assert_eq!(parse_window(zero), Ok(Duration::ZERO), "{zero}");
        }
        assert!(parse_window("0x").is_err());
        assert!(parse_window("-1s").is_err());
        let window = |extra: &[&str]| {
            let mut argv = vec!["route53-failover-operator", "run"];
            argv.extend_from_slice(extra);
            match Cli::try_parse_from(argv).map(|c| c.command) {
                Ok(Command::Run(args)) => Some(args.route53_batch_window),
                _ => None,
            }
        };
        assert_eq!(window(&[]), Some(Duration::from_millis(200)));
        assert_eq!(
            window(&["--route53-batch-window", "0s"]),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn claim_unannotated_defaults_to_true_and_takes_a_value() {
        let run = |extra: &[&str]| {
            let mut argv = vec!["route53-failover-operator", "run"];
            argv.extend_from_slice(extra);
            match Cli::try_parse_from(argv).map(|c| c.command) {
                Ok(Command::Run(args)) => Some(args.owner.claim_unannotated),
                _ => None,
            }
        };
        assert_eq!(run(&[]), Some(true));
        assert_eq!(run(&["--claim-unannotated", "false"]), Some(false));
        assert_eq!(run(&["--claim-unannotated", "true"]), Some(true));
        assert_eq!(run(&["--claim-unannotated", "maybe"]), None);
    }

    #[test]
    fn observe_only_is_off_by_default_and_takes_an_optional_value() {
        let run = |extra: &[&str]| {
            let mut argv = vec!["route53-failover-operator", "run"];
            argv.extend_from_slice(extra);
            match Cli::try_parse_from(argv).map(|c| c.command) {
                Ok(Command::Run(args)) => Some(args.observe_only),
                _ => None,
            }
        };
        assert_eq!(run(&[]), Some(false));
        assert_eq!(run(&["--observe-only"]), Some(true));
        assert_eq!(run(&["--observe-only", "false"]), Some(false));
        assert_eq!(run(&["--observe-only", "true"]), Some(true));
    }

    #[test]
    fn plan_takes_a_file_and_the_owner_flags_of_run() {
        let argv = [
            "route53-failover-operator",
            "plan",
            "-f",
            "-",
            "--owner-id",
            "cluster-a",
            "--claim-unannotated",
            "false",
        ];
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Command::Plan(a)) => {
                assert_eq!(a.filename, "-");
                assert_eq!(a.owner.owner_id, "cluster-a");
                assert!(!a.owner.claim_unannotated);
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["route53-failover-operator", "plan"]).is_err());
    }

    #[test]
    fn owner_ids_are_bounded() {
        assert!(parse_owner("cluster-a").is_ok());
        assert!(parse_owner("a:b").is_err());
        assert!(parse_owner(&"x".repeat(41)).is_err());
    }
}
