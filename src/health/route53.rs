//! `GetHealthCheckStatus` as a [`HealthSource`]: one call per check, per-checker observations.
//!
//! Route 53 allows one such call per second per account (burst 4) and documents the operation for
//! troubleshooting, not production polling: a round over N checks takes N seconds.

use std::collections::HashMap;

use super::{CheckerObservation, HealthSource, Reading, reading_of};
use crate::route53::aws::AwsRoute53;
use crate::route53::{R53Result, Route53ErrorKind};

impl HealthSource for AwsRoute53 {
    fn batch_limit(&self) -> usize {
        1
    }

    async fn read(&self, ids: &[String]) -> R53Result<HashMap<String, Reading>> {
        let mut out = HashMap::new();
        for id in ids {
            if let Some(r) = reading_of(self.health_status(id).await)? {
                out.insert(id.clone(), r);
            }
        }
        Ok(out)
    }
}

impl AwsRoute53 {
    /// GetHealthCheckStatus: what each checker reports now.
    pub async fn health_status(&self, health_check_id: &str) -> R53Result<Vec<CheckerObservation>> {
        let id = health_check_id.to_string();
        let out = match self
            .call("GetHealthCheckStatus", |c| {
                c.get_health_check_status().health_check_id(&id).send()
            })
            .await
        {
            Ok(out) => out,
            Err(e) => {
                if e.kind == Route53ErrorKind::NotFound {
                    // Deleted out of band: the cached inventory is wrong about it.
                    self.forget_inventory().await;
                }
                return Err(e);
            }
        };
        Ok(out
            .health_check_observations()
            .iter()
            .map(|o| {
                let report = o
                    .status_report()
                    .and_then(|r| r.status())
                    .unwrap_or_default()
                    .to_string();
                CheckerObservation {
                    region: o
                        .region()
                        .map(|r| r.as_str().to_string())
                        .unwrap_or_else(|| "unknown".into()),
                    healthy: report.starts_with("Success"),
                    report,
                }
            })
            .collect())
    }
}
