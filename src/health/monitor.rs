//! The health monitor: reads the health of every health check in use, on its own schedule, so a
//! reconcile never waits for a health read (status first, health later).
//!
//! Objects tell the monitor which checks they use ([`Monitor::watch`]); the monitor reads them in
//! batches as large as the [`HealthSource`] allows, checks never read before first, then the one read
//! longest ago. A check is due again one poll interval after its last read; when there are more checks
//! than the source's budget can read in one interval, a round simply takes longer (it fits the quota
//! instead of fighting it), and [`Monitor::round_seconds`] says how long. When a reading changes, the
//! objects that use the check are handed to `changed`, which triggers their reconcile; the reconcile
//! takes the reading from [`HealthView::reading`] without a call.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::{HealthSource, HealthView, Reading, Stale};
use crate::metrics::Metrics;
use crate::text;

/// The shortest age at which a reading kept through source failures is called stale (it is
/// otherwise three poll intervals).
const STALE_AFTER_MIN: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Entry<K> {
    users: Users<K>,
    reading: Option<Reading>,
    read_at: Option<Instant>,
}

/// The objects that use one check: nearly always one, kept without a set of its own (a set of one
/// key costs a table of four).
#[derive(Debug)]
enum Users<K> {
    One(K),
    Many(HashSet<K>),
}

impl<K: Eq + Hash> Users<K> {
    /// Remove `user`; whether no user is left.
    fn remove(&mut self, user: &K) -> bool {
        match self {
            Users::One(only) => only == user,
            Users::Many(set) => {
                set.remove(user);
                set.is_empty()
            }
        }
    }
}

impl<K: Clone + Eq + Hash> Users<K> {
    fn insert(&mut self, user: K) {
        match self {
            Users::One(only) if *only == user => {}
            Users::One(only) => *self = Users::Many(HashSet::from([only.clone(), user])),
            Users::Many(set) => {
                set.insert(user);
            }
        }
    }

    fn add_to(&self, out: &mut HashSet<K>) {
        match self {
            Users::One(only) => {
                out.insert(only.clone());
            }
            Users::Many(set) => out.extend(set.iter().cloned()),
        }
    }
}

#[derive(Debug)]
struct Inner<K> {
    checks: HashMap<String, Entry<K>>,
    uses: HashMap<K, Vec<String>>,
    round_seconds: Option<f64>,
    /// Checks whose reading is older than the monitor's `stale_after` while the source fails: when it
    /// was taken and the source's error (empty while the source answers).
    stale: HashMap<String, Stale>,
}

/// Health readings shared by every reconcile, kept fresh by [`Monitor::run`].
#[derive(Debug)]
pub struct Monitor<K> {
    inner: Mutex<Inner<K>>,
    wake: Notify,
    poll: Duration,
    stale_after: Duration,
}

impl<K: Clone + Eq + Hash + Send + 'static> Monitor<K> {
    /// A monitor that reads each check once per `poll` (or as often as the source's budget allows).
    pub fn new(poll: Duration) -> Self {
        Monitor {
            inner: Mutex::new(Inner {
                checks: HashMap::new(),
                uses: HashMap::new(),
                round_seconds: None,
                stale: HashMap::new(),
            }),
            wake: Notify::new(),
            poll,
            stale_after: (poll * 3).max(STALE_AFTER_MIN),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `user` uses exactly these checks now (replacing what it used before). A check not read yet is
    /// read next.
    pub fn watch(&self, user: &K, ids: impl IntoIterator<Item = String>) {
        let ids: Vec<String> = ids.into_iter().collect();
        let mut fresh = false;
        {
            let mut inner = self.lock();
            if inner.uses.get(user) == Some(&ids) {
                return;
            }
            let before = inner.uses.insert(user.clone(), ids.clone());
            release(&mut inner, user, before.unwrap_or_default(), &ids);
            for id in &ids {
                match inner.checks.entry(id.clone()) {
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(Entry {
                            users: Users::One(user.clone()),
                            reading: None,
                            read_at: None,
                        });
                        fresh = true;
                    }
                    std::collections::hash_map::Entry::Occupied(mut o) => {
                        let e = o.get_mut();
                        fresh |= e.read_at.is_none();
                        e.users.insert(user.clone());
                    }
                }
            }
        }
        if fresh {
            self.wake.notify_one();
        }
    }

    /// `user` uses no checks any more.
    pub fn forget(&self, user: &K) {
        let mut inner = self.lock();
        if let Some(before) = inner.uses.remove(user) {
            release(&mut inner, user, before, &[]);
        }
    }

    /// Number of checks being monitored.
    pub fn len(&self) -> usize {
        self.lock().checks.len()
    }

    /// Whether no check is monitored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The time between the last two reads of the check read last: the poll interval when the
    /// source's budget reads every check within it, longer when it cannot.
    pub fn round_seconds(&self) -> Option<f64> {
        self.lock().round_seconds
    }

    /// The next checks to read (at most `limit`): never-read checks first, then those due, oldest
    /// reading first, then (when at least one is due) those due within the next half interval, so
    /// checks that started at different times fall into one read per interval instead of one read
    /// each. Empty with the time the next one is due.
    fn due(&self, limit: usize) -> (Vec<String>, Option<Instant>) {
        let inner = self.lock();
        let now = Instant::now();
        let horizon = now + self.poll / 2;
        let mut due: Vec<(Option<Instant>, &String)> = Vec::new();
        let mut early: Vec<(Instant, &String)> = Vec::new();
        let mut next: Option<Instant> = None;
        for (id, e) in &inner.checks {
            match e.read_at.map(|at| at + self.poll) {
                Some(at) if at > now => {
                    next = Some(next.map_or(at, |n| n.min(at)));
                    if at <= horizon {
                        early.push((at, id));
                    }
                }
                at => due.push((at, id)),
            }
        }
        if due.is_empty() {
            return (Vec::new(), next);
        }
        // `None` (never read) sorts first.
        due.sort();
        early.sort();
        let ids: Vec<String> = due
            .into_iter()
            .map(|(_, id)| id)
            .chain(early.into_iter().map(|(_, id)| id))
            .take(limit)
            .cloned()
            .collect();
        (ids, next)
    }

    /// Store readings for `ids` (a check left out of `readings` has no data yet) and return the users
    /// of every check whose reading changed.
    fn record(&self, ids: &[String], mut readings: HashMap<String, Reading>) -> Vec<K> {
        let mut inner = self.lock();
        let now = Instant::now();
        let mut changed: HashSet<K> = HashSet::new();
        let mut round = None;
        for id in ids {
            let Some(e) = inner.checks.get_mut(id) else {
                continue;
            };
            if let Some(prev) = e.read_at.replace(now) {
                round = Some(now.duration_since(prev).as_secs_f64());
            }
            let new = readings.remove(id);
            if new.is_some() && new != e.reading {
                e.users.add_to(&mut changed);
                e.reading = new;
            }
            if inner.stale.remove(id).is_some() {
                // Current again: its users' status drops the staleness.
                if let Some(e) = inner.checks.get(id) {
                    e.users.add_to(&mut changed);
                }
            }
        }
        if round.is_some() {
            inner.round_seconds = round;
        }
        changed.into_iter().collect()
    }

    /// After a failed read: every check whose reading is older than `stale_after` (and was taken at
    /// all) becomes stale; returns the users of those that were not stale yet.
    fn mark_stale(&self, error: &str) -> Vec<K> {
        let mut inner = self.lock();
        let now = Instant::now();
        let wall = k8s_openapi::jiff::Timestamp::now();
        let mut changed: HashSet<K> = HashSet::new();
        let Inner { checks, stale, .. } = &mut *inner;
        for (id, e) in checks.iter() {
            let Some(at) = e.read_at else { continue };
            let age = now.duration_since(at);
            if age <= self.stale_after || stale.contains_key(id) {
                continue;
            }
            let read_at =
                k8s_openapi::jiff::Timestamp::from_second(wall.as_second() - age.as_secs() as i64)
                    .unwrap_or(wall);
            stale.insert(
                id.clone(),
                Stale {
                    read_at,
                    error: error.to_string(),
                },
            );
            e.users.add_to(&mut changed);
        }
        changed.into_iter().collect()
    }

    /// Read health until the process ends (spawn it; abort it to stop). `changed` receives the users
    /// of every check whose reading changed.
    pub async fn run<S: HealthSource>(
        self: Arc<Self>,
        source: Arc<S>,
        metrics: Option<Arc<Metrics>>,
        changed: impl Fn(Vec<K>),
    ) {
        let limit = source.batch_limit().max(1);
        let mut failures: u32 = 0;
        loop {
            let (ids, next) = self.due(limit);
            if ids.is_empty() {
                let wait = next.map_or(Duration::from_secs(3600), |n| {
                    n.saturating_duration_since(Instant::now())
                });
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
            match source.read(&ids).await {
                Ok(readings) => {
                    failures = 0;
                    let users = self.record(&ids, readings);
                    if let Some(m) = &metrics {
                        m.health_checks_monitored.set(self.len() as i64);
                        if let Some(r) = self.round_seconds() {
                            m.health_read_interval.set(r);
                        }
                    }
                    if !users.is_empty() {
                        debug!(checks = ids.len(), objects = users.len(), "health changed");
                        changed(users);
                    }
                }
                Err(e) => {
                    let users = self.mark_stale(&text::for_log(&e.to_string()));
                    if !users.is_empty() {
                        warn!(
                            objects = users.len(),
                            "health readings are stale: the health source fails"
                        );
                        changed(users);
                    }
                    failures = failures.saturating_add(1);
                    let wait = Duration::from_millis(500)
                        .saturating_mul(1 << failures.min(6))
                        .min(Duration::from_secs(30));
                    warn!(error = %text::for_log(&e.to_string()), retry_in = ?wait, "health read failed");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

fn release<K: Eq + Hash>(inner: &mut Inner<K>, user: &K, before: Vec<String>, keep: &[String]) {
    for id in before {
        if keep.contains(&id) {
            continue;
        }
        if let Some(e) = inner.checks.get_mut(&id) {
            if e.users.remove(user) {
                inner.checks.remove(&id);
                inner.stale.remove(&id);
            }
        }
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> HealthView for Monitor<K> {
    fn reading(&self, id: &str) -> Option<Reading> {
        self.lock().checks.get(id).and_then(|e| e.reading.clone())
    }

    fn stale(&self, id: &str) -> Option<Stale> {
        self.lock().stale.get(id).cloned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crd::Health;
    use crate::health::EndpointHealth;
    use crate::route53::{R53Result, Route53Error, Route53ErrorKind};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A source with settable health, counting calls, `limit` checks per call.
    struct Source {
        limit: usize,
        healthy: Mutex<HashMap<String, bool>>,
        calls: AtomicUsize,
        fail: Mutex<bool>,
    }

    impl Source {
        fn new(limit: usize) -> Arc<Self> {
            Arc::new(Source {
                limit,
                healthy: Mutex::new(HashMap::new()),
                calls: AtomicUsize::new(0),
                fail: Mutex::new(false),
            })
        }
        fn set(&self, id: &str, healthy: bool) {
            self.healthy.lock().unwrap().insert(id.into(), healthy);
        }
    }

    fn reading(healthy: bool) -> Reading {
        Reading::Health(EndpointHealth {
            health: if healthy {
                Health::Healthy
            } else {
                Health::Unhealthy
            },
            healthy: healthy as i32,
            total: 1,
            last_failure: None,
        })
    }

    impl HealthSource for Source {
        fn batch_limit(&self) -> usize {
            self.limit
        }
        async fn read(&self, ids: &[String]) -> R53Result<HashMap<String, Reading>> {
            assert!(ids.len() <= self.limit, "{} > {}", ids.len(), self.limit);
            self.calls.fetch_add(1, Ordering::SeqCst);
            // One call per second, like GetHealthCheckStatus's bucket.
            tokio::time::sleep(Duration::from_secs(1)).await;
            if *self.fail.lock().unwrap() {
                return Err(Route53Error::new(
                    "GetHealthCheckStatus",
                    Route53ErrorKind::Throttled,
                    "Throttling",
                    "slow down",
                ));
            }
            let h = self.healthy.lock().unwrap();
            Ok(ids
                .iter()
                .filter_map(|id| h.get(id).map(|v| (id.clone(), reading(*v))))
                .collect())
        }
    }

    fn spawn(
        m: &Arc<Monitor<&'static str>>,
        s: &Arc<Source>,
    ) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Vec<&'static str>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(m.clone().run(s.clone(), None, move |users| {
            log.lock().unwrap().extend(users);
        }));
        (task, seen)
    }

    /// A check's users are kept without a set while there is one, and the check goes with its last
    /// user, whichever order they leave in.
    #[test]
    fn a_check_is_kept_while_any_user_uses_it() {
        let m: Monitor<&'static str> = Monitor::new(Duration::from_secs(30));
        m.watch(&"a", ["hc-1".to_string()]);
        assert!(matches!(m.lock().checks["hc-1"].users, Users::One("a")));
        m.watch(&"a", ["hc-1".to_string(), "hc-2".to_string()]);
        m.watch(&"b", ["hc-1".to_string()]);
        assert!(
            matches!(&m.lock().checks["hc-1"].users, Users::Many(s) if *s == HashSet::from(["a", "b"]))
        );
        // A user that never used the check changes nothing.
        m.forget(&"c");
        m.forget(&"a");
        assert_eq!(m.len(), 1, "hc-2 went with a, hc-1 stays for b");
        m.watch(&"b", ["hc-2".to_string()]);
        assert_eq!(m.len(), 1);
        assert!(matches!(m.lock().checks["hc-2"].users, Users::One("b")));
        m.forget(&"b");
        assert!(m.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_check_is_read_at_once_and_its_users_told() {
        let m = Arc::new(Monitor::new(Duration::from_secs(30)));
        let s = Source::new(1);
        let (task, seen) = spawn(&m, &s);
        s.set("hc-1", true);
        m.watch(&"a", ["hc-1".to_string()]);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(m.reading("hc-1"), Some(reading(true)));
        assert_eq!(*seen.lock().unwrap(), vec!["a"]);
        // Unchanged readings tell nobody; a change tells every user of the check.
        m.watch(&"b", ["hc-1".to_string()]);
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert_eq!(seen.lock().unwrap().len(), 1);
        s.set("hc-1", false);
        tokio::time::sleep(Duration::from_secs(31)).await;
        let mut users = seen.lock().unwrap()[1..].to_vec();
        users.sort();
        assert_eq!(users, vec!["a", "b"]);
        assert_eq!(m.reading("hc-1"), Some(reading(false)));
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn new_checks_jump_the_queue_and_rounds_stretch_to_fit_the_budget() {
        let m = Arc::new(Monitor::new(Duration::from_secs(10)));
        let s = Source::new(1);
        for i in 0..40 {
            let id = format!("hc-{i}");
            s.set(&id, true);
            let key: &'static str = format!("o{i}").leak();
            m.watch(&key, [id]);
        }
        let (task, _) = spawn(&m, &s);
        // 40 checks at one call per second: a round takes 40 s, not the 10 s poll interval.
        tokio::time::sleep(Duration::from_secs(60)).await;
        s.set("new", true);
        m.watch(&"newcomer", ["new".to_string()]);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(m.reading("new"), Some(reading(true)), "read within 2 calls");
        tokio::time::sleep(Duration::from_secs(60)).await;
        let round = m.round_seconds().expect("a round finished");
        assert!((39.0..=43.0).contains(&round), "{round}");
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn batches_cover_many_checks_per_call() {
        let m = Arc::new(Monitor::new(Duration::from_secs(60)));
        let s = Source::new(500);
        for i in 0..1200 {
            let id = format!("hc-{i}");
            s.set(&id, i % 2 == 0);
            let key: &'static str = format!("o{i}").leak();
            m.watch(&key, [id]);
        }
        let (task, seen) = spawn(&m, &s);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(s.calls.load(Ordering::SeqCst), 3, "1,200 checks in 3 calls");
        assert_eq!(seen.lock().unwrap().len(), 1200);
        assert_eq!(m.reading("hc-7"), Some(reading(false)));
        task.abort();
    }

    /// Checks that started one by one (objects created over time) are read together once they are
    /// known: one call per interval for all of them, not one call per check.
    #[tokio::test(start_paused = true)]
    async fn checks_started_at_different_times_share_one_read_per_interval() {
        let m = Arc::new(Monitor::new(Duration::from_secs(30)));
        let s = Source::new(500);
        let (task, _) = spawn(&m, &s);
        for i in 0..30 {
            let id = format!("hc-{i}");
            s.set(&id, true);
            let key: &'static str = format!("o{i}").leak();
            m.watch(&key, [id]);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // Each new check is read at once; then the staggered checks fall into step.
        tokio::time::sleep(Duration::from_secs(90)).await;
        let before = s.calls.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(300)).await;
        let calls = s.calls.load(Ordering::SeqCst) - before;
        assert!(
            calls <= 11,
            "{calls} calls in 10 intervals of 30 s for 30 checks (one per check would be 300)"
        );
        for i in 0..30 {
            assert_eq!(m.reading(&format!("hc-{i}")), Some(reading(true)));
        }
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn forgotten_checks_are_dropped_and_errors_keep_the_last_reading() {
        let m = Arc::new(Monitor::new(Duration::from_secs(10)));
        let s = Source::new(1);
        s.set("hc-1", true);
        s.set("hc-2", true);
        m.watch(&"a", ["hc-1".to_string(), "hc-2".to_string()]);
        let (task, _) = spawn(&m, &s);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(m.len(), 2);
        m.watch(&"a", ["hc-2".to_string()]);
        assert_eq!(m.len(), 1);
        assert_eq!(m.reading("hc-1"), None);
        *s.fail.lock().unwrap() = true;
        s.set("hc-2", false);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            m.reading("hc-2"),
            Some(reading(true)),
            "kept while reads fail"
        );
        *s.fail.lock().unwrap() = false;
        tokio::time::sleep(Duration::from_secs(45)).await;
        assert_eq!(m.reading("hc-2"), Some(reading(false)));
        m.forget(&"a");
        assert!(m.is_empty());
        task.abort();
    }

    /// While the source fails, a reading is kept; once it is older than three poll intervals it is
    /// reported stale (once: its users are triggered to show it), with when it was taken and the
    /// source's error; the next successful read makes it current again and triggers them again.
    #[tokio::test(start_paused = true)]
    async fn readings_kept_through_failures_become_stale_and_current_again() {
        let m = Arc::new(Monitor::new(Duration::from_secs(10)));
        let s = Source::new(10);
        s.set("hc-1", true);
        m.watch(&"a", ["hc-1".to_string()]);
        let (task, seen) = spawn(&m, &s);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(m.reading("hc-1"), Some(reading(true)));
        assert_eq!(m.stale("hc-1"), None);
        let read_at = k8s_openapi::jiff::Timestamp::now();
        seen.lock().unwrap().clear();
        *s.fail.lock().unwrap() = true;
        // Two intervals of failures: kept, not stale yet.
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(m.stale("hc-1"), None);
        assert!(seen.lock().unwrap().is_empty());
        tokio::time::sleep(Duration::from_secs(60)).await;
        let st = m.stale("hc-1").expect("stale after three intervals");
        assert!(st.error.contains("Throttling"), "{st:?}");
        // Taken at the last successful read, about 1 s in; marked stale once older than 30 s (the
        // wall clock does not move with the paused test clock: only the age is virtual).
        let ago = read_at.as_second() - st.read_at.as_second();
        assert!(
            (28..=60).contains(&ago),
            "read {ago} s before it was marked stale"
        );
        assert_eq!(
            m.reading("hc-1"),
            Some(reading(true)),
            "the reading is kept"
        );
        assert_eq!(*seen.lock().unwrap(), vec!["a"], "its user is told once");
        seen.lock().unwrap().clear();
        *s.fail.lock().unwrap() = false;
        tokio::time::sleep(Duration::from_secs(45)).await;
        assert_eq!(m.stale("hc-1"), None);
        assert_eq!(
            *seen.lock().unwrap(),
            vec!["a"],
            "and told when it is current again"
        );
        task.abort();
    }
}
