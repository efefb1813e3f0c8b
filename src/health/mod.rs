//! Where endpoint health comes from: Route 53's own view of each health check, and the rule that
//! turns per-checker observations into an endpoint's health.

pub mod route53;

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

/// Where endpoint health comes from.
pub trait HealthSource: Send + Sync + 'static {
    /// Per-checker observations of a health check (GetHealthCheckStatus).
    fn health_status(
        &self,
        health_check_id: &str,
    ) -> impl Future<Output = R53Result<Vec<CheckerObservation>>> + Send;
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
