//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several replicas only one writes to
//! Route 53 and Kubernetes.
//!
//! The algorithm is client-go's: the holder renews `renewTime` every retry period; a candidate takes the
//! lease when its record has not changed for `leaseDurationSeconds` *as observed on the candidate's own
//! clock* (so clock skew between nodes does not matter); every write is a replace guarded by the
//! resourceVersion, so two candidates cannot both win. On graceful shutdown the holder releases the lease
//! (empty holder, 1 s duration) and a standby takes over at its next retry instead of waiting for expiry.
//!
//! Fencing: every Lease call has a deadline, and a holder that has not renewed within its renew
//! deadline (two thirds of the lease duration, counted from the *start* of its last successful renewal)
//! steps down. Writers check the [`Fence`] immediately before every Route 53 write: it is valid only
//! until that same deadline, which comes before any other replica can see the Lease as expired.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Namespace of the Lease (the operator's own).
    pub namespace: String,
    /// Lease name.
    pub name: String,
    /// This replica's identity (pod name).
    pub identity: String,
    /// How long a lease is valid without renewal.
    pub lease_duration: Duration,
    /// How often the holder renews and candidates retry.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// How long after the start of its last successful renewal a holder may still write: two thirds of
    /// the lease duration (client-go's 10 s of 15 s), leaving a third as margin for clock rates and
    /// requests in flight.
    pub fn renew_deadline(&self) -> Duration {
        self.lease_duration.mul_f64(2.0 / 3.0)
    }

    /// Deadline of one Lease call: the retry period, at least one second, at most the renew deadline.
    fn call_deadline(&self) -> Duration {
        self.retry_period
            .max(Duration::from_secs(1))
            .min(self.renew_deadline())
    }
}

/// Proof of leadership that writers check immediately before every write: valid until the renew
/// deadline of the last successful renewal, revoked on step-down. Also the elector's heartbeat, so
/// `/livez` can tell a wedged elector.
#[derive(Debug)]
pub struct Fence {
    epoch: Instant,
    /// Milliseconds since `epoch` until which writes are allowed (0: never; `u64::MAX`: always).
    until_ms: AtomicU64,
    /// Milliseconds since `epoch` of the elector's last completed round.
    beat_ms: AtomicU64,
    /// Whether that round reached the API server (won, renewed or saw another holder).
    round_ok: std::sync::atomic::AtomicBool,
}

/// Why a write was refused by the [`Fence`].
#[derive(Debug, thiserror::Error)]
#[error("not the leader (or the Lease could not be renewed in time): refusing to write")]
pub struct NotLeader;

impl Fence {
    /// A fence that allows nothing until the elector grants it.
    pub fn new() -> Arc<Fence> {
        Arc::new(Fence {
            epoch: Instant::now(),
            until_ms: AtomicU64::new(0),
            beat_ms: AtomicU64::new(0),
            round_ok: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// A fence that always allows writes (leader election disabled: one replica by contract).
    pub fn always() -> Arc<Fence> {
        let f = Fence::new();
        f.until_ms.store(u64::MAX, Ordering::Release);
        f
    }

    fn ms(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn grant_until(&self, t: Instant) {
        self.until_ms.store(self.ms(t).max(1), Ordering::Release);
    }

    fn revoke(&self) {
        self.until_ms.store(0, Ordering::Release);
    }

    fn beat(&self, ok: bool) {
        self.beat_ms
            .store(self.ms(Instant::now()), Ordering::Release);
        self.round_ok.store(ok, Ordering::Release);
    }

    /// Whether the elector's last round reached the API server (false before the first).
    pub fn last_round_ok(&self) -> bool {
        self.round_ok.load(Ordering::Acquire)
    }

    /// Ok while this replica may write.
    pub fn check(&self) -> Result<(), NotLeader> {
        let until = self.until_ms.load(Ordering::Acquire);
        if until == u64::MAX || (until != 0 && self.ms(Instant::now()) < until) {
            Ok(())
        } else {
            Err(NotLeader)
        }
    }

    /// How long writes stay allowed from now: `None` without a limit (leader election disabled),
    /// `Some(ZERO)` when they are not allowed.
    pub fn remaining(&self) -> Option<Duration> {
        let until = self.until_ms.load(Ordering::Acquire);
        if until == u64::MAX {
            return None;
        }
        Some(Duration::from_millis(
            until.saturating_sub(self.ms(Instant::now())),
        ))
    }

    /// Time since the elector last completed a round (ok or failed); `None` before the first.
    pub fn since_last_round(&self) -> Option<Duration> {
        match self.beat_ms.load(Ordering::Acquire) {
            0 => None,
            ms => Some(
                Instant::now().saturating_duration_since(self.epoch + Duration::from_millis(ms)),
            ),
        }
    }
}

/// Campaigns for and holds a Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    cfg: LeaseConfig,
    observed: Option<(String, Instant)>,
    leading: bool,
    fence: Arc<Fence>,
}

/// What one round of the election concluded.
#[derive(Debug, PartialEq, Eq)]
enum Round {
    Leading,
    Following,
}

impl LeaderElector {
    /// A new elector that grants and revokes `fence`.
    pub fn new(client: Client, cfg: LeaseConfig, fence: Arc<Fence>) -> Self {
        LeaderElector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
            leading: false,
            fence,
        }
    }

    /// Campaign until `release` resolves: `leading` follows this replica's leadership. On `release` the
    /// lease is given up if held. Returns after releasing.
    pub async fn run(
        mut self,
        leading: watch::Sender<bool>,
        release: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(release);
        let mut last_renew = Instant::now();
        loop {
            let started = Instant::now();
            let round = tokio::time::timeout(self.cfg.call_deadline(), self.round()).await;
            self.fence.beat(matches!(round, Ok(Ok(_))));
            match round {
                Ok(Ok(Round::Leading)) => {
                    // Others count the lease from when they see this renewal, which is after `started`.
                    last_renew = started;
                    self.fence.grant_until(started + self.cfg.renew_deadline());
                    if !self.leading {
                        info!(lease = %self.cfg.name, identity = %self.cfg.identity, "became leader");
                    }
                    self.leading = true;
                }
                Ok(Ok(Round::Following)) => {
                    self.fence.revoke();
                    if self.leading {
                        warn!(lease = %self.cfg.name, "lost the lease to another replica");
                    }
                    self.leading = false;
                }
                Ok(Err(e)) => warn!(error = %e, lease = %self.cfg.name, "lease round failed"),
                Err(_) => warn!(
                    lease = %self.cfg.name,
                    deadline_ms = self.cfg.call_deadline().as_millis() as u64,
                    "lease round got no answer in time"
                ),
            }
            // Without a successful renewal within the renew deadline, others may soon take over:
            // stop writing now (the fence expired already) and step down.
            if self.leading && last_renew.elapsed() >= self.cfg.renew_deadline() {
                warn!(lease = %self.cfg.name, "could not renew the lease within its renew deadline: stepping down");
                self.fence.revoke();
                self.leading = false;
            }
            leading.send_if_modified(|l| std::mem::replace(l, self.leading) != self.leading);
            tokio::select! {
                _ = &mut release => break,
                _ = tokio::time::sleep(self.cfg.retry_period.saturating_sub(started.elapsed())) => {}
            }
        }
        self.fence.revoke();
        if self.leading {
            let _ = tokio::time::timeout(self.cfg.call_deadline(), self.release()).await;
        }
        let _ = leading.send(false);
    }

    async fn round(&mut self) -> Result<Round, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let secs = i32::try_from(self.cfg.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    namespace: Some(self.cfg.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.cfg.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Round::Leading),
                Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(Round::Following),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let rv = lease.resource_version().unwrap_or_default();
        // Observe changes on our own clock.
        if self
            .observed
            .as_ref()
            .map(|(r, _)| r != &rv)
            .unwrap_or(true)
        {
            self.observed = Some((rv.clone(), Instant::now()));
        }
        let their_duration =
            Duration::from_secs(spec.lease_duration_seconds.unwrap_or(secs).max(1) as u64);
        let expired = self
            .observed
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() >= their_duration);
        let ours = holder.as_deref() == Some(self.cfg.identity.as_str());
        if !ours && holder.is_some() && !expired {
            debug!(holder = ?holder, "lease held by another replica");
            return Ok(Round::Following);
        }
        let mut new_spec = spec.clone();
        new_spec.holder_identity = Some(self.cfg.identity.clone());
        new_spec.lease_duration_seconds = Some(secs);
        new_spec.renew_time = Some(now.clone());
        if !ours {
            new_spec.acquire_time = Some(now);
            new_spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        lease.spec = Some(new_spec);
        // Replace carries metadata.resourceVersion: a concurrent writer makes this fail with 409.
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(updated) => {
                self.observed = Some((
                    updated.resource_version().unwrap_or_default(),
                    Instant::now(),
                ));
                Ok(Round::Leading)
            }
            Err(kube::Error::Api(s)) if s.is_conflict() => Ok(Round::Following),
            Err(e) => Err(e),
        }
    }

    async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.name).await else {
            return;
        };
        let mut spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        lease.spec = Some(spec);
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => info!(lease = %self.cfg.name, "released the lease"),
            Err(e) => warn!(error = %e, "failed to release the lease"),
        }
    }
}

/// A default identity: the pod name, else the host name with a random suffix.
pub fn default_identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "route53-failover-operator".into());
        format!("{host}-{:08x}", fastrand::u32(..))
    })
}
