//! One poll per propagating Route 53 change, whatever the number of objects waiting for it.
//!
//! A reconcile that wrote a change which is still PENDING hands the change to the watch
//! ([`ChangeWatch::wait`]) instead of requeueing itself every `--change-poll-interval`: with writes
//! batched per zone, hundreds of objects share one change, and a reconcile per object per poll kept
//! the controller's queue full of polls while new objects waited for their first reconcile. The
//! watch polls each distinct change once per interval (`GetChange`, in the account it was written
//! in) and, when it is INSYNC, hands the objects that wait for it to `insync`, which triggers their
//! reconcile. A change that cannot be read for a reason a retry will not mend (e.g. `NoSuchChange`)
//! triggers them too: their reconcile reads it and reports it. Throttling and transient errors keep
//! the change for the next round.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{debug, warn};

use crate::metrics::Metrics;
use crate::route53::Route53;
use crate::text;

/// Changes polled at once in one round.
const CONCURRENT_POLLS: usize = 4;

struct Waiting<R, K> {
    route53: Arc<R>,
    objects: HashSet<K>,
}

/// The propagating changes and the objects waiting for each, polled by [`ChangeWatch::run`].
pub struct ChangeWatch<R, K> {
    /// Keyed by (account, change id): a change id is only meaningful in the account it was made in.
    pending: Mutex<HashMap<(String, String), Waiting<R, K>>>,
    interval: Duration,
}

impl<R, K> ChangeWatch<R, K> {
    /// A watch that polls each change once per `interval`.
    pub fn new(interval: Duration) -> Self {
        ChangeWatch {
            pending: Mutex::new(HashMap::new()),
            interval,
        }
    }
}

impl<R: Route53, K: Clone + Eq + Hash + Send + 'static> ChangeWatch<R, K> {
    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), Waiting<R, K>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `object` waits for change `id`, written through `route53` in `account`.
    pub fn wait(&self, account: &str, route53: &Arc<R>, id: &str, object: K) {
        self.lock()
            .entry((account.to_string(), id.to_string()))
            .or_insert_with(|| Waiting {
                route53: route53.clone(),
                objects: HashSet::new(),
            })
            .objects
            .insert(object);
    }

    /// Distinct changes waited for.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no change is waited for.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One round: poll every change once; returns the objects whose change is INSYNC (or cannot be
    /// read for good), removed from the watch.
    pub async fn poll_once(&self) -> Vec<K> {
        use futures::StreamExt;
        let due: Vec<((String, String), Arc<R>)> = self
            .lock()
            .iter()
            .map(|(k, w)| (k.clone(), w.route53.clone()))
            .collect();
        let done: Vec<(String, String)> = futures::stream::iter(due)
            .map(|(key, route53)| async move {
                match route53.get_change(&key.1).await {
                    Ok(info) if info.insync => Some(key),
                    Ok(_) => None,
                    Err(e) if e.is_retryable() => {
                        debug!(change = %key.1, error = %text::for_log(&e.to_string()), "change poll failed; retried next round");
                        None
                    }
                    Err(e) => {
                        warn!(change = %key.1, error = %text::for_log(&e.to_string()), "change cannot be polled; its objects reconcile to report it");
                        Some(key)
                    }
                }
            })
            .buffer_unordered(CONCURRENT_POLLS)
            .filter_map(|k| async move { k })
            .collect()
            .await;
        let mut pending = self.lock();
        done.iter()
            .filter_map(|k| pending.remove(k))
            .flat_map(|w| w.objects)
            .collect()
    }

    /// Poll every `interval` until dropped, handing the objects of each INSYNC change to `insync`.
    pub async fn run(self: Arc<Self>, metrics: Option<Arc<Metrics>>, insync: impl Fn(Vec<K>)) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !self.is_empty() {
                let objects = self.poll_once().await;
                if !objects.is_empty() {
                    debug!(objects = objects.len(), "changes INSYNC");
                    insync(objects);
                }
            }
            if let Some(m) = &metrics {
                m.changes_propagating.set(self.len() as i64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route53::fake::FakeRoute53;
    use crate::route53::{Change, RecordSet, Route53Error, Route53ErrorKind};

    async fn write(r53: &FakeRoute53, zone: &str, name: &str) -> String {
        let rs = RecordSet {
            name: name.into(),
            rtype: "A".into(),
            set_identifier: None,
            failover: None,
            ttl: Some(60),
            values: vec!["192.0.2.1".into()],
            alias: None,
            health_check_id: None,
        };
        r53.change_record_sets(zone, "test", &[Change::Upsert(rs)])
            .await
            .expect("change")
            .id
    }

    #[tokio::test]
    async fn a_change_shared_by_many_objects_is_polled_once_per_round() {
        let r53 = Arc::new(FakeRoute53::new());
        let zone = r53.add_zone("example.test.");
        let id = write(&r53, &zone, "a.example.test.").await;
        let watch: ChangeWatch<FakeRoute53, u32> = ChangeWatch::new(Duration::from_secs(1));
        for n in 0..100 {
            watch.wait("acct", &r53, &id, n);
        }
        assert_eq!(watch.len(), 1);

        r53.reset_calls();
        assert!(watch.poll_once().await.is_empty());
        assert!(watch.poll_once().await.is_empty());
        assert_eq!(
            r53.call_count("GetChange"),
            2,
            "one poll per change and round, not per object"
        );

        r53.settle();
        let mut done = watch.poll_once().await;
        done.sort_unstable();
        assert_eq!(done, (0..100).collect::<Vec<_>>());
        assert!(watch.is_empty());
        assert!(watch.poll_once().await.is_empty());
        assert_eq!(r53.call_count("GetChange"), 3, "nothing left to poll");
    }

    #[tokio::test]
    async fn changes_are_kept_apart_by_account() {
        let a = Arc::new(FakeRoute53::new());
        let b = Arc::new(FakeRoute53::new());
        let zone = a.add_zone("example.test.");
        let id = write(&a, &zone, "a.example.test.").await;
        let watch: ChangeWatch<FakeRoute53, u32> = ChangeWatch::new(Duration::from_secs(1));
        watch.wait("a", &a, &id, 1);
        // The same id in another account is another change (one Route 53 does not know there).
        watch.wait("b", &b, &id, 2);
        assert_eq!(watch.len(), 2);
        assert_eq!(watch.poll_once().await, vec![2]);
        a.settle();
        assert_eq!(watch.poll_once().await, vec![1]);
    }

    #[tokio::test]
    async fn a_change_route53_does_not_know_hands_its_objects_back() {
        let r53 = Arc::new(FakeRoute53::new());
        let watch: ChangeWatch<FakeRoute53, u32> = ChangeWatch::new(Duration::from_secs(1));
        watch.wait("acct", &r53, "C-UNKNOWN", 7);
        assert_eq!(watch.poll_once().await, vec![7]);
        assert!(watch.is_empty());
    }

    #[tokio::test]
    async fn a_throttled_poll_keeps_the_change_for_the_next_round() {
        let r53 = Arc::new(FakeRoute53::new());
        let zone = r53.add_zone("example.test.");
        let id = write(&r53, &zone, "a.example.test.").await;
        let watch: ChangeWatch<FakeRoute53, u32> = ChangeWatch::new(Duration::from_secs(1));
        watch.wait("acct", &r53, &id, 1);
        r53.settle();
        r53.fail_next(
            "GetChange",
            Route53Error::new(
                "GetChange",
                Route53ErrorKind::Throttled,
                "Throttling",
                "Rate exceeded",
            ),
        );
        assert!(watch.poll_once().await.is_empty());
        assert_eq!(watch.len(), 1);
        assert_eq!(watch.poll_once().await, vec![1]);
    }
}
