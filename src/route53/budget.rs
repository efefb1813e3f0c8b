//! One Route 53 API budget for the whole process.
//!
//! Route 53 limits API requests per account (5 requests/s historically, token buckets since 2026), and
//! every caller in the account shares that budget. All calls of the operator go through one token bucket
//! set below the account limit, so a burst of reconciles slows down instead of being throttled, and
//! ChangeResourceRecordSets calls are serialised per hosted zone (Route 53 answers
//! `PriorRequestNotComplete` to a second change for a zone still processing the first).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket shared by every Route 53 call.
#[derive(Debug)]
pub struct Budget {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
    zones: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Budget {
    /// `rate` requests per second, bursts of `burst`. A rate of 0 or less disables the limit.
    pub fn new(rate: f64, burst: f64) -> Budget {
        let burst = burst.max(1.0);
        Budget {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
            zones: Mutex::new(HashMap::new()),
        }
    }

    /// Wait for one request's token.
    pub async fn acquire(&self) {
        if self.rate <= 0.0 {
            return;
        }
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let refill = now.duration_since(s.1).as_secs_f64() * self.rate;
                s.0 = (s.0 + refill).min(self.burst);
                s.1 = now;
                if s.0 >= 1.0 {
                    s.0 -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - s.0) / self.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The lock that serialises record changes in one hosted zone.
    pub fn zone_lock(&self, zone_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        zones.entry(zone_id.to_string()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_burst_then_paces_at_rate() {
        let b = Budget::new(4.0, 2.0);
        let start = Instant::now();
        for _ in 0..10 {
            b.acquire().await;
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
            b.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[test]
    fn zone_locks_are_shared_per_zone() {
        let b = Budget::new(1.0, 1.0);
        assert!(Arc::ptr_eq(&b.zone_lock("Z1"), &b.zone_lock("Z1")));
        assert!(!Arc::ptr_eq(&b.zone_lock("Z1"), &b.zone_lock("Z2")));
    }
}
