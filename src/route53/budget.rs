//! One Route 53 API budget for the whole process.
//!
//! Route 53 limits API requests per account with token buckets: an account-wide one (5 requests/s
//! historically, 10/s since 2026) and, on top, one per operation (`GetHealthCheckStatus` 1/s with a
//! burst of 4, `CreateHealthCheck` 0.5/s, ...). Every caller in the account shares them. All calls of the
//! operator take tokens from local copies of those buckets, set below the account limit, so a burst of
//! reconciles slows down instead of being throttled; and ChangeResourceRecordSets calls are serialised
//! per hosted zone (Route 53 answers `PriorRequestNotComplete` to a second change for a zone still
//! processing the first).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket whose waiters are served first come, first served: the waiter at the head of the
/// queue sleeps until its token is there, the others wait behind it (tokio's mutex is fair), so a
/// reconcile that asked first is never overtaken by one that happened to wake up first.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
    queue: tokio::sync::Mutex<()>,
}

impl Bucket {
    fn new(rate: f64, burst: f64) -> Bucket {
        let burst = burst.max(1.0);
        Bucket {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
            queue: tokio::sync::Mutex::new(()),
        }
    }

    /// Take a token, or say how long until one is there.
    fn try_take(&self) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(s.1).as_secs_f64() * self.rate;
        s.0 = (s.0 + refill).min(self.burst);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - s.0) / self.rate))
        }
    }

    async fn take(&self) {
        if self.rate <= 0.0 {
            return;
        }
        let _head = self.queue.lock().await;
        while let Err(wait) = self.try_take() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Route 53's per-operation buckets (rate per second, burst), documented next to the account-wide
/// one: every request takes a token from both. Operations not listed share only the account bucket.
pub const ROUTE53_OPERATION_LIMITS: &[(&str, f64, f64)] = &[
    ("CreateHealthCheck", 0.5, 50.0),
    ("DeleteHealthCheck", 3.0, 15.0),
    ("GetHealthCheckStatus", 1.0, 4.0),
    ("GetHealthCheckLastFailureReason", 1.0, 4.0),
];

/// The process-wide Route 53 budget: one account-wide bucket plus per-operation buckets, and the
/// per-zone serialisation of record changes.
#[derive(Debug)]
pub struct Budget {
    account: Bucket,
    operations: HashMap<&'static str, Bucket>,
    zones: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Budget {
    /// `rate` requests per second, bursts of `burst`, for all operations together. A rate of 0 or less
    /// disables every limit (for tests).
    pub fn new(rate: f64, burst: f64) -> Budget {
        let limits = if rate > 0.0 {
            ROUTE53_OPERATION_LIMITS
        } else {
            &[]
        };
        Budget::with_operation_limits(rate, burst, limits)
    }

    /// Like [`Budget::new`] with explicit per-operation limits.
    pub fn with_operation_limits(
        rate: f64,
        burst: f64,
        limits: &[(&'static str, f64, f64)],
    ) -> Budget {
        Budget {
            account: Bucket::new(rate, burst),
            operations: limits
                .iter()
                .map(|(op, r, b)| (*op, Bucket::new(*r, *b)))
                .collect(),
            zones: Mutex::new(HashMap::new()),
        }
    }

    /// Wait for one request's tokens: the operation's bucket first (so a slow operation does not hold
    /// account tokens while it waits), then the account's.
    pub async fn acquire(&self, operation: &str) {
        if let Some(b) = self.operations.get(operation) {
            b.take().await;
        }
        self.account.take().await;
    }

    /// The lock that serialises record changes in one hosted zone.
    pub fn zone_lock(&self, zone_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        zones.entry(zone_id.to_string()).or_default().clone()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_burst_then_paces_at_rate() {
        let b = Budget::new(4.0, 2.0);
        let start = Instant::now();
        for _ in 0..10 {
            b.acquire("GetChange").await;
        }
        // 2 from the burst, 8 more at 4/s = 2 s of (virtual) time.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(1990) && took <= Duration::from_millis(2100),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn zero_rate_is_unlimited() {
        let b = Budget::new(0.0, 1.0);
        let start = Instant::now();
        for _ in 0..100 {
            b.acquire("GetHealthCheckStatus").await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn per_operation_buckets_apply_on_top_of_the_account_bucket() {
        let b = Budget::new(10.0, 10.0);
        let start = Instant::now();
        for _ in 0..8 {
            b.acquire("GetHealthCheckStatus").await;
        }
        // 4 from GetHealthCheckStatus's burst, then 1/s: 4 s, although the account allows 10/s.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(3990) && took <= Duration::from_millis(4100),
            "{took:?}"
        );
        // Other operations only wait for the account bucket (2 of its 10 tokens are left).
        let start = Instant::now();
        b.acquire("GetChange").await;
        b.acquire("GetChange").await;
        assert!(start.elapsed() < Duration::from_millis(10));
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_in_arrival_order() {
        let b = Arc::new(Budget::new(1.0, 1.0));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..20 {
            let (b, order) = (b.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                b.acquire("ChangeResourceRecordSets").await;
                order.lock().unwrap().push(i);
            }));
            // Each arrives a little after the previous one, all long before their turn.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn zone_locks_are_shared_per_zone() {
        let b = Budget::new(1.0, 1.0);
        assert!(Arc::ptr_eq(&b.zone_lock("Z1"), &b.zone_lock("Z1")));
        assert!(!Arc::ptr_eq(&b.zone_lock("Z1"), &b.zone_lock("Z2")));
    }
}
