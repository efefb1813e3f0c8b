//! Where endpoint health comes from: Route 53's own view of each health check, and the rule that
//! turns per-checker observations into an endpoint's health.

pub mod cloudwatch;
pub mod monitor;
pub mod route53;

use std::collections::HashMap;
use std::future::Future;

use crate::crd::Health;
use crate::route53::R53Result;

/// One checker's latest observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckerObservation {
    /// Checker region.
    pub region: String,
    /// Whether the checker reports success.
    pub healthy: bool,
    /// The checker's status report.
    pub report: String,
}

/// What a health source says about one health check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reading {
    /// Route 53's view of the endpoint.
    Health(EndpointHealth),
    /// Route 53 says the check does not exist (deleted out of band).
    Missing,
}

/// Where endpoint health comes from, read in batches by the [`monitor::Monitor`].
pub trait HealthSource: Send + Sync + 'static {
    /// The most checks one [`HealthSource::read`] covers.
    fn batch_limit(&self) -> usize;

    /// The current health of `ids` (at most [`HealthSource::batch_limit`]); a check the source has
    /// no data for yet is left out of the answer.
    fn read(
        &self,
        ids: &[String],
    ) -> impl Future<Output = R53Result<HashMap<String, Reading>>> + Send;
}

/// The health source chosen at start-up (`--health-source`).
pub enum Source {
    /// CloudWatch's `HealthCheckStatus` metric, 500 checks per call.
    CloudWatch(cloudwatch::CloudWatchHealth),
    /// `GetHealthCheckStatus`, one check per call, 1 call/s per account.
    Route53(std::sync::Arc<crate::route53::aws::AwsRoute53>),
}

impl HealthSource for Source {
    fn batch_limit(&self) -> usize {
        match self {
            Source::CloudWatch(s) => s.batch_limit(),
            Source::Route53(s) => s.batch_limit(),
        }
    }

    async fn read(&self, ids: &[String]) -> R53Result<HashMap<String, Reading>> {
        match self {
            Source::CloudWatch(s) => s.read(ids).await,
            Source::Route53(s) => s.read(ids).await,
        }
    }
}

/// One `GetHealthCheckStatus` answer as a reading: `None` while Route 53 has no observations yet,
/// [`Reading::Missing`] when the check does not exist, other errors as they are.
pub fn reading_of(answer: R53Result<Vec<CheckerObservation>>) -> R53Result<Option<Reading>> {
    match answer {
        Ok(obs) if obs.is_empty() => Ok(None),
        Ok(obs) => Ok(Some(Reading::Health(aggregate(&obs)))),
        Err(e) if e.kind == crate::route53::Route53ErrorKind::NotFound => {
            Ok(Some(Reading::Missing))
        }
        Err(e) => Err(e),
    }
}

/// The latest readings, as a reconcile sees them (no call is made).
pub trait HealthView: Send + Sync {
    /// The latest reading of a check, if it was read.
    fn reading(&self, id: &str) -> Option<Reading>;

    /// When the latest reading is no longer current (the health source has failed since it was
    /// taken, for longer than a few poll intervals): when it was taken and why it could not be
    /// taken again. `None` while readings are current.
    fn stale(&self, _id: &str) -> Option<Stale> {
        None
    }
}

/// A reading kept while the health source fails: status shows it with its age, not as current.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stale {
    /// When the reading was taken (whole seconds, so that the status built from it is stable).
    pub read_at: k8s_openapi::jiff::Timestamp,
    /// The health source's error since.
    pub error: String,
}

impl HealthView for HashMap<String, Reading> {
    fn reading(&self, id: &str) -> Option<Reading> {
        self.get(id).cloned()
    }
}

/// Route 53 treats an endpoint as healthy when more than 18% of its checkers report it healthy.
pub const HEALTHY_CHECKER_PERCENT: usize = 18;

/// Aggregate health of one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointHealth {
    /// Aggregate.
    pub health: Health,
    /// Checkers reporting healthy.
    pub healthy: i32,
    /// Checkers reporting.
    pub total: i32,
    /// A failing checker's report, while not healthy.
    pub last_failure: Option<String>,
}

impl EndpointHealth {
    /// No health check or no data.
    pub fn unknown() -> Self {
        EndpointHealth {
            health: Health::Unknown,
            healthy: 0,
            total: 0,
            last_failure: None,
        }
    }
}

/// Aggregate per-checker observations the way Route 53 does (> 18% healthy ⇒ healthy).
pub fn aggregate(observations: &[CheckerObservation]) -> EndpointHealth {
    if observations.is_empty() {
        return EndpointHealth::unknown();
    }
    let total = observations.len();
    let healthy = observations.iter().filter(|o| o.healthy).count();
    let health = if healthy * 100 > total * HEALTHY_CHECKER_PERCENT {
        Health::Healthy
    } else {
        Health::Unhealthy
    };
    let last_failure = if health == Health::Healthy {
        None
    } else {
        observations
            .iter()
            .find(|o| !o.healthy)
            .map(|o| crate::text::bounded(&format!("{}: {}", o.region, o.report), 512).into_owned())
    };
    EndpointHealth {
        health,
        healthy: healthy as i32,
        total: total as i32,
        last_failure,
    }
}
