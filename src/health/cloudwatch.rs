//! CloudWatch's `AWS/Route53` `HealthCheckStatus` metric as a [`HealthSource`]: one `GetMetricData`
//! call reads up to 500 checks.
//!
//! Route 53 publishes, once a minute and in us-east-1 only, `HealthCheckStatus` (1 healthy, 0
//! unhealthy, Route 53's own verdict over all checkers) for every health check, including calculated
//! ones that `GetHealthCheckStatus` cannot read. This is the way AWS documents for watching health
//! checks in production; `GetHealthCheckStatus` (1 request/s per account) is meant for troubleshooting.
//! The metric has no per-checker detail, so `checkersHealthy`/`checkersTotal` are not reported (0) and
//! there is no failure reason.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StatusCode,
};

use super::{EndpointHealth, HealthSource, Reading};
use crate::crd::Health;
use crate::metrics::Metrics;
use crate::route53::{R53Result, Route53Error, Route53ErrorKind};

/// CloudWatch answers at most 500 metrics per `GetMetricData`.
pub const MAX_METRICS_PER_CALL: usize = 500;

/// Reads `HealthCheckStatus` for many checks per call.
#[derive(Clone, Debug)]
pub struct CloudWatchHealth {
    client: Client,
    period: Duration,
    metrics: Arc<Metrics>,
}

impl CloudWatchHealth {
    /// A source reading datapoints of `period` (Route 53 publishes one a minute: 60 s).
    pub fn new(client: Client, period: Duration, metrics: Arc<Metrics>) -> Self {
        CloudWatchHealth {
            client,
            period,
            metrics,
        }
    }

    /// A client from the standard AWS environment (`AWS_ENDPOINT_URL_CLOUDWATCH`, ...), always in
    /// us-east-1, where Route 53 publishes its metrics.
    pub async fn client_from_env() -> Client {
        Self::client(&crate::route53::aws::sdk_config_from_env().await)
    }

    /// A client from an already loaded configuration, always in us-east-1.
    pub fn client(shared: &aws_config::SdkConfig) -> Client {
        let config = aws_sdk_cloudwatch::config::Builder::from(shared)
            .region(aws_sdk_cloudwatch::config::Region::new("us-east-1"))
            .build();
        Client::from_conf(config)
    }

    fn query(&self, i: usize, id: &str) -> MetricDataQuery {
        let metric = Metric::builder()
            .namespace("AWS/Route53")
            .metric_name("HealthCheckStatus")
            .dimensions(Dimension::builder().name("HealthCheckId").value(id).build())
            .build();
        MetricDataQuery::builder()
            .id(format!("q{i}"))
            .metric_stat(
                MetricStat::builder()
                    .metric(metric)
                    .period(self.period.as_secs().max(1) as i32)
                    .stat("Minimum")
                    .build(),
            )
            .return_data(true)
            .build()
    }
}

fn error(e: &(impl ProvideErrorMetadata + std::fmt::Display)) -> Route53Error {
    let code = e.code().unwrap_or("Unknown").to_string();
    let kind = match code.as_str() {
        "Throttling" | "ThrottlingException" | "LimitExceeded" | "LimitExceededException" => {
            Route53ErrorKind::Throttled
        }
        "Unknown" | "InternalServiceError" | "InternalServiceFault" | "ServiceUnavailable" => {
            Route53ErrorKind::Transient
        }
        c => Route53Error::kind_for_code(c),
    };
    let message = e
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| e.to_string());
    Route53Error::new("GetMetricData", kind, code, message)
}

fn health(value: f64) -> EndpointHealth {
    EndpointHealth {
        health: if value >= 1.0 {
            Health::Healthy
        } else {
            Health::Unhealthy
        },
        healthy: 0,
        total: 0,
        last_failure: None,
    }
}

impl HealthSource for CloudWatchHealth {
    fn batch_limit(&self) -> usize {
        MAX_METRICS_PER_CALL
    }

    async fn read(&self, ids: &[String]) -> R53Result<HashMap<String, Reading>> {
        let now = SystemTime::now();
        // Five periods back: the latest datapoint is enough, but a late one must still be seen.
        let start = now - self.period * 5;
        let mut out = HashMap::new();
        let mut latest: HashMap<String, (i64, u32)> = HashMap::new();
        let mut token: Option<String> = None;
        loop {
            let res = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(
                    ids.iter()
                        .enumerate()
                        .map(|(i, id)| self.query(i, id))
                        .collect(),
                ))
                .start_time(DateTime::from(start))
                .end_time(DateTime::from(now))
                .scan_by(ScanBy::TimestampDescending)
                .set_next_token(token.take())
                .send()
                .await;
            let page = match res {
                Ok(page) => {
                    self.metrics.cloudwatch_call("GetMetricData", "success");
                    page
                }
                Err(e) => {
                    let e = match e.as_service_error() {
                        Some(_) => error(&e),
                        None => Route53Error::new(
                            "GetMetricData",
                            Route53ErrorKind::Transient,
                            "Transport",
                            crate::text::bounded(&e.to_string(), 512),
                        ),
                    };
                    self.metrics.cloudwatch_call(
                        "GetMetricData",
                        crate::route53::aws::outcome_label(e.kind),
                    );
                    return Err(e);
                }
            };
            for r in page.metric_data_results() {
                let Some(i) = r
                    .id()
                    .and_then(|q| q.strip_prefix('q'))
                    .and_then(|n| n.parse::<usize>().ok())
                else {
                    continue;
                };
                let Some(id) = ids.get(i) else { continue };
                // Asked for newest first, but the answer is not trusted to be ordered: the value with
                // the latest timestamp wins, across pages too.
                let newest = r
                    .timestamps()
                    .iter()
                    .zip(r.values())
                    .max_by_key(|(t, _)| (t.secs(), t.subsec_nanos()));
                if let Some((t, v)) = newest {
                    let at = (t.secs(), t.subsec_nanos());
                    if latest.get(id).is_none_or(|prev| *prev < at) {
                        latest.insert(id.clone(), at);
                        out.insert(id.clone(), Reading::Health(health(*v)));
                    }
                }
                if r.status_code() == Some(&StatusCode::Forbidden) {
                    return Err(Route53Error::new(
                        "GetMetricData",
                        Route53ErrorKind::AccessDenied,
                        "Forbidden",
                        "CloudWatch refused to read HealthCheckStatus",
                    ));
                }
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_healthy_anything_less_is_not() {
        assert_eq!(health(1.0).health, Health::Healthy);
        assert_eq!(health(0.0).health, Health::Unhealthy);
        assert_eq!(health(0.5).health, Health::Unhealthy);
    }
}
