use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use prometheus_client::registry::Registry;
use route53_failover_operator::accounts::{
    self, Accounts, CheckAccounts, NamespaceRoles, PerAccount,
};
use route53_failover_operator::admin::{self, AdminState};
use route53_failover_operator::cli::{Cli, Command, HealthSourceKind, PlanArgs, RunArgs};
use route53_failover_operator::controller::{self, Context, Settings};
use route53_failover_operator::health::Source;
use route53_failover_operator::health::cloudwatch::CloudWatchHealth;
use route53_failover_operator::leader::{Fence, LeaderElector, LeaseConfig, default_identity};
use route53_failover_operator::metrics::Metrics;
use route53_failover_operator::policy::NamespacePolicy;
use route53_failover_operator::route53::aws::{self, AwsRoute53};
use route53_failover_operator::route53::batch::Batched;
use route53_failover_operator::route53::budget::Budget;
use route53_failover_operator::route53::readonly::ReadOnly;
use route53_failover_operator::{crd, plan_command, process_metrics, secure_metrics, telemetry};
use tokio::sync::{oneshot, watch};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crd => crd::crd_yaml()
            .map(|y| print!("{y}"))
            .map_err(|e| e.to_string().into()),
        Command::Run(args) => run(*args).await,
        Command::Plan(args) => return std::process::ExitCode::from(plan(args).await),
        Command::Switch(a) => {
            let by =
                a.by.clone()
                    .or_else(|| std::env::var("USER").ok())
                    .unwrap_or_else(|| "unknown".into());
            let patch = route53_failover_operator::switch::switch_patch(a.to.mode(), &by);
            route53_failover_operator::switch::patch_record(&a.record, a.namespace.as_deref(), &patch)
                .await
                .map(|ns| {
                    println!(
                        "failoverrecord {ns}/{} switched to {} by {by}: the operator sets the gate in one UpdateHealthCheck (see status.failover)",
                        a.record,
                        a.to.mode()
                    )
                })
                .map_err(|e| e.to_string().into())
        }
        Command::Ack(a) => {
            let patch =
                route53_failover_operator::switch::ack_patch(k8s_openapi::jiff::Timestamp::now());
            route53_failover_operator::switch::patch_record(&a.record, a.namespace.as_deref(), &patch)
                .await
                .map(|ns| {
                    println!(
                        "failoverrecord {ns}/{} acknowledged: a held failover is released once the primary is healthy",
                        a.record
                    )
                })
                .map_err(|e| e.to_string().into())
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `plan`: read the manifests, plan each object against Route 53 through a wrapper that refuses
/// every write, print the plan; the exit status says whether anything would change.
async fn plan(args: PlanArgs) -> u8 {
    let text = if args.filename == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map(|_| s)
    } else {
        std::fs::read_to_string(&args.filename)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.filename);
            return plan_command::EXIT_ERROR;
        }
    };
    let route53 = ReadOnly::new(Arc::new(AwsRoute53::new(
        AwsRoute53::client_from_env().await,
        Arc::new(Budget::new(4.0, 10.0)),
        Arc::new(Metrics::default()),
    )));
    let namespace_policy = match &args.namespace_policy {
        Some(path) => match NamespacePolicy::load(path) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("error: {e}");
                return plan_command::EXIT_ERROR;
            }
        },
        None => None,
    };
    let settings = plan_command::PlanSettings {
        owner_id: args.owner.owner_id,
        claim_unannotated: args.owner.claim_unannotated,
        namespace_policy,
    };
    let (out, code) = plan_command::plan_text(&route53, &settings, &text).await;
    print!("{out}");
    code
}

async fn run(args: RunArgs) -> controller::anyhow_free::Result<()> {
    telemetry::init(args.log_format, &args.log_level);
    // The operator's own configuration: a bad file stops the start-up, before anything else runs.
    let namespace_policy = match &args.namespace_policy {
        Some(path) => {
            let policy = NamespacePolicy::load(path)?;
            tracing::info!(file = %path.display(), "namespace policy: {}", policy.summary());
            Some(Arc::new(policy))
        }
        None => None,
    };
    let namespace_roles = match &args.namespace_roles {
        Some(path) => {
            let roles = NamespaceRoles::load(path)?;
            tracing::info!(file = %path.display(), "namespace roles: {}", roles.summary());
            Some(Arc::new(roles))
        }
        None => None,
    };
    let metrics = Arc::new(Metrics::default());
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    process_metrics::register(&mut registry);
    let fence = if args.no_leader_election {
        Fence::always()
    } else {
        Fence::new()
    };
    let admin_state = Arc::new(AdminState {
        ready: AtomicBool::new(false),
        registry,
        // A wedged elector (no completed round for twice the lease duration, each round having a
        // deadline) fails liveness, so the kubelet restarts the process.
        elector: (!args.no_leader_election)
            .then(|| (fence.clone(), args.leader_election_lease_duration * 2)),
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown signal received");
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    // With --metrics-secure the certificate is read (or made) before anything is served: a bad
    // certificate directory stops the start-up.
    let metrics_tls = match args.metrics_secure {
        true => Some(secure_metrics::tls_config(
            args.metrics_cert_dir.as_deref(),
        )?),
        false => None,
    };
    let admin_router = match metrics_tls {
        Some(_) => admin::probes_router(admin_state.clone()),
        None => admin::router(admin_state.clone()),
    };
    let admin = tokio::spawn(admin::serve(
        args.admin_address,
        admin_router,
        stopped(stop_rx.clone()),
    ));

    let client = kube::Client::try_default().await?;
    let metrics_server = metrics_tls.map(|tls| {
        let guard = Arc::new(secure_metrics::Guard::new(client.clone()));
        tokio::spawn(secure_metrics::serve(
            args.metrics_address,
            tls,
            secure_metrics::protect(admin::metrics_router(admin_state.clone()), guard),
            stopped(stop_rx.clone()),
        ))
    });
    if !controller::preflight(
        client.clone(),
        args.namespace.as_deref(),
        stopped(stop_rx.clone()),
    )
    .await
    {
        admin.await??;
        if let Some(m) = metrics_server {
            m.await??;
        }
        return Ok(());
    }

    // Leadership: only the Lease holder reconciles; standbys are ready (healthy, waiting).
    let (lead_tx, mut lead_rx) = watch::channel(false);
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let elector = if args.no_leader_election {
        let _ = lead_tx.send(true);
        None
    } else {
        let namespace = args
            .leader_election_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| client.default_namespace().to_string());
        let cfg = LeaseConfig {
            namespace,
            name: args.leader_election_lease.clone(),
            identity: default_identity(),
            lease_duration: args.leader_election_lease_duration,
            retry_period: args.leader_election_renew_interval,
        };
        tracing::info!(lease = %cfg.name, namespace = %cfg.namespace, identity = %cfg.identity, "campaigning for leadership");
        admin_state.ready.store(true, Ordering::Release);
        let elector = LeaderElector::new(client.clone(), cfg, fence.clone());
        Some(tokio::spawn(elector.run(lead_tx, async {
            let _ = release_rx.await;
        })))
    };
    let mut target_namespaces: Vec<String> = args
        .target_namespaces
        .iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if args.namespace.is_some() && !target_namespaces.is_empty() {
        // Watching one namespace, the operator can neither watch nor read objects elsewhere.
        tracing::warn!(
            "--target-namespace is ignored with --namespace: endpoint targets must be in the watched namespace"
        );
        target_namespaces.clear();
    }
    let settings = Settings {
        owner_id: args.owner.owner_id.clone(),
        claim_unannotated: args.owner.claim_unannotated,
        health_poll: args.health_poll_interval,
        resync: args.resync_interval,
        change_poll: args.change_poll_interval,
        slow_retry: args.slow_retry_interval,
        concurrency: args.max_concurrent_reconciles,
        namespace_policy,
        observe_only: args.observe_only,
        target_namespaces: route53_failover_operator::target_watch::TargetNamespaces(
            target_namespaces,
        ),
        ..Settings::default()
    };
    if args.observe_only {
        tracing::info!("observe-only mode: Route 53 is read, never written");
    }
    let session_name: String = format!("route53-failover-operator-{}", args.owner.owner_id)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(*c))
        .take(64)
        .collect();
    let role = args.assume_role_arn.as_ref().map(|arn| aws::AssumeRole {
        arn: arn.clone(),
        external_id: args.assume_role_external_id.clone(),
        session_name: session_name.clone(),
    });
    if let Some(r) = &role {
        tracing::info!(role = %r.arn, external_id = r.external_id.is_some(), "assuming an IAM role for every AWS call");
    }
    let shared = aws::sdk_config(role.as_ref()).await;
    // One client set per AWS account: the installation's, and each role of the namespace-role
    // mapping (assumed from the installation's credentials), each with its own Route 53 budget
    // (the quota is per account).
    let clients = |config: &aws_config::SdkConfig| AccountClients {
        sdk: AwsRoute53::client(config),
        cloudwatch: CloudWatchHealth::client(config),
        budget: Arc::new(Budget::new(args.route53_rate, args.route53_burst)),
    };
    let mut account_clients = BTreeMap::new();
    account_clients.insert(accounts::INSTALLATION.to_string(), clients(&shared));
    for r in namespace_roles.iter().flat_map(|m| m.roles()) {
        tracing::info!(role = %r.arn, external_id = r.external_id.is_some(), "a namespace role: assumed from the installation's credentials");
        let config = aws::assume(
            &shared,
            &aws::AssumeRole {
                arn: r.arn.clone(),
                external_id: r.external_id.clone(),
                session_name: session_name.clone(),
            },
        )
        .await;
        account_clients.insert(r.arn.clone(), clients(&config));
    }
    // Terms of leadership: lead while the Lease is held, then go back to campaigning in the same
    // process (the fence has already stopped every write). Only a shutdown signal ends the loop.
    let mut stop = stop_rx.clone();
    loop {
        tokio::select! {
            _ = lead_rx.wait_for(|l| *l) => {}
            _ = stop.wait_for(|v| *v) => break,
        }
        metrics.leader.set(1);
        admin_state.ready.store(false, Ordering::Release);
        // Fresh caches each term: another leader may have changed Route 53 in between. Each account
        // has its own adapter (caches, zone snapshots, budget) and batcher.
        let mut sources = BTreeMap::new();
        let mut stacks = BTreeMap::new();
        for (key, c) in &account_clients {
            // What a resync confirms (zone snapshots, the health check inventory) is at most half a
            // resync interval old, so drift is repaired within one and a half resync intervals.
            let route53 = Arc::new(
                AwsRoute53::with_ttls(
                    c.sdk.clone(),
                    c.budget.clone(),
                    metrics.clone(),
                    Duration::from_secs(60),
                    args.resync_interval / 2,
                )
                .with_change_share(args.change_poll_interval)
                .with_fence(fence.clone()),
            );
            // Reconciles write through the batcher (one ChangeResourceRecordSets per zone per
            // window); the health source reads through the adapter itself. In observe-only mode
            // every write is refused here, whatever a reconcile does.
            let writes = Arc::new(ReadOnly::when(
                args.observe_only,
                Arc::new(Batched::new(
                    route53.clone(),
                    args.route53_batch_window,
                    metrics.clone(),
                )),
            ));
            // Each account's checks are read with that account's credentials.
            let source = match args.health_source {
                HealthSourceKind::Cloudwatch => Source::CloudWatch(CloudWatchHealth::new(
                    c.cloudwatch.clone(),
                    args.health_metric_period,
                    metrics.clone(),
                )),
                HealthSourceKind::Route53 => Source::Route53(route53),
            };
            sources.insert(key.clone(), source);
            stacks.insert(key.clone(), writes);
        }
        let checks = Arc::new(CheckAccounts::default());
        let installation = stacks
            .remove(accounts::INSTALLATION)
            .ok_or("no installation account")?;
        let accounts = match &namespace_roles {
            Some(m) => Accounts::new(installation, m.clone(), stacks, checks.clone())?,
            None => Accounts::single(installation),
        };
        let ctx = Arc::new(Context::with_accounts(
            client.clone(),
            accounts,
            metrics.clone(),
            settings.clone(),
        ));
        let ready_flag = admin_state.clone();
        let mut lead_watch = lead_rx.clone();
        let shutdown = {
            let stop = stopped(stop_rx.clone());
            let metrics = metrics.clone();
            async move {
                tokio::select! {
                    _ = stop => {}
                    // Not the leader from this moment (the fence already refuses writes), however
                    // long the in-flight reconciles take to drain.
                    _ = lead_watch.wait_for(|l| !*l) => { metrics.leader.set(0); }
                }
            }
        };
        let health = PerAccount::new(sources, checks);
        controller::run(
            ctx,
            Arc::new(health),
            args.namespace.clone(),
            Arc::new(move |ok| {
                if ready_flag.ready.swap(ok, Ordering::AcqRel) != ok {
                    tracing::info!(ready = ok, "readiness changed");
                }
            }),
            shutdown,
        )
        .await?;
        metrics.leader.set(0);
        // The next leader reports the records now; a standby exposes none of their series.
        metrics.forget_all_records();
        if *stop_rx.borrow() {
            break;
        }
        tracing::warn!("lost leadership: reconciles drained, campaigning again");
        admin_state.ready.store(true, Ordering::Release);
    }
    // Reconciles have drained: hand the Lease over now rather than letting it expire.
    let _ = release_tx.send(());
    if let Some(e) = elector {
        let _ = tokio::time::timeout(Duration::from_secs(5), e).await;
    }
    admin.await??;
    if let Some(m) = metrics_server {
        m.await??;
    }
    Ok(())
}

/// The AWS clients of one account, kept across terms of leadership.
struct AccountClients {
    sdk: aws_sdk_route53::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    budget: Arc<Budget>,
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
