//! Coalescing of record changes: [`Batched`] sends the change lists that callers submit for one hosted
//! zone within a batching window as one ChangeResourceRecordSets call.
//!
//! Each reconcile writes its FailoverRecord's PRIMARY/SECONDARY pair in its own transactional change
//! list. After a bulk create or a restart there are thousands of them, and Route 53 allows 5 requests
//! per second for the whole account. [`Batched`] wraps any [`Route53`] (in production the SDK adapter)
//! and delegates every call to it, except [`Route53::change_record_sets`]:
//!
//! - The change lists a zone receives within the window (counted from the oldest one waiting) are
//!   combined into as few calls as Route 53's limits allow ([`BatchLimits`]), in arrival order. A
//!   caller's own list is never split across calls: its changes stay one transaction. Two lists that
//!   touch the same record set (name, type, SetIdentifier) never share a call, so each applies to the
//!   state the earlier one left.
//! - Every member of a call that succeeds gets its [`ChangeInfo`]: the change id is the whole batch's,
//!   and its INSYNC means every member's changes are INSYNC.
//! - A refusal that one member may have caused (Conflict, Invalid, a missing health check) is not
//!   anyone's answer: the call is split in halves and each half is sent again (bisection), down to
//!   single members, so every caller gets the answer its own changes get. Errors that concern every
//!   member (throttling, transient and transport errors, a write refused by the leader's fence, access
//!   errors, a missing zone) are every member's answer, without further calls.
//! - One task per zone sends that zone's calls one after the other (the inner adapter also holds its
//!   per-zone lock while a call is in flight; no lock of this module is held across a call, so the two
//!   cannot deadlock). Callers only wait for their answer: a caller whose future is dropped (a
//!   cancelled reconcile) leaves the others untouched, and its changes are not sent if the call has not
//!   started yet.
//!
//! A window of zero passes every call straight through.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{
    Change, ChangeInfo, HealthCheck, HealthCheckConfig, R53Result, RecordSet, Route53,
    Route53Error, Route53ErrorKind, Zone, fqdn,
};
use crate::metrics::Metrics;
use crate::naming::{MAX_COMMENT_OR_TAG_VALUE, bounded};

/// The default batching window.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(200);

/// Bounds of one ChangeResourceRecordSets call (Route 53 quotas, with a margin on the number of
/// changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    /// `Change` elements per call.
    pub max_changes: usize,
    /// `ResourceRecord` elements per call (Route 53: 1,000), an `UPSERT` counting twice. An alias
    /// counts as one element, to stay on the safe side.
    pub max_records: usize,
    /// Characters of all `Value` elements per call (Route 53: 32,000), an `UPSERT` counting twice.
    pub max_value_chars: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_changes: 500,
            max_records: 1000,
            max_value_chars: 32_000,
        }
    }
}

/// What one change list weighs against [`BatchLimits`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Weight {
    changes: usize,
    records: usize,
    chars: usize,
}

impl Weight {
    fn of(changes: &[Change]) -> Weight {
        let mut w = Weight::default();
        for ch in changes {
            let times = if matches!(ch, Change::Upsert(_)) {
                2
            } else {
                1
            };
            let rs = ch.record();
            w.changes += 1;
            w.records += times * rs.values.len().max(1);
            w.chars += times * rs.values.iter().map(|v| v.chars().count()).sum::<usize>();
        }
        w
    }

    fn plus(self, o: Weight) -> Weight {
        Weight {
            changes: self.changes + o.changes,
            records: self.records + o.records,
            chars: self.chars + o.chars,
        }
    }

    fn within(self, l: &BatchLimits) -> bool {
        self.changes <= l.max_changes
            && self.records <= l.max_records
            && self.chars <= l.max_value_chars
    }
}

/// Identity of a record set in a zone.
type SetKey = (String, String, Option<String>);

fn set_key(rs: &RecordSet) -> SetKey {
    (fqdn(&rs.name), rs.rtype.clone(), rs.set_identifier.clone())
}

/// One caller's change list, waiting for its answer.
struct Member {
    comment: String,
    changes: Vec<Change>,
    arrived: Instant,
    reply: oneshot::Sender<R53Result<ChangeInfo>>,
}

impl Member {
    /// Nobody waits for the answer any more.
    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn answer(self, res: R53Result<ChangeInfo>) {
        // The caller may have gone in the meantime: nothing to do then.
        let _ = self.reply.send(res);
    }
}

struct Shared<R> {
    inner: Arc<R>,
    window: Duration,
    limits: BatchLimits,
    metrics: Arc<Metrics>,
    /// Zones with a sending task, and what waits for it. A zone is in the map exactly while its task
    /// runs.
    zones: Mutex<HashMap<String, Vec<Member>>>,
}

impl<R> Shared<R> {
    fn zones(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Member>>> {
        self.zones.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A [`Route53`] that combines the record changes of one zone arriving within a window into shared
/// ChangeResourceRecordSets calls (see the [module documentation](self)).
pub struct Batched<R> {
    shared: Arc<Shared<R>>,
}

impl<R> Clone for Batched<R> {
    fn clone(&self) -> Self {
        Batched {
            shared: self.shared.clone(),
        }
    }
}

impl<R: Route53> Batched<R> {
    /// Batch `inner`'s record changes over `window` (zero: no batching) within the default
    /// [`BatchLimits`].
    pub fn new(inner: Arc<R>, window: Duration, metrics: Arc<Metrics>) -> Self {
        Self::with_limits(inner, window, BatchLimits::default(), metrics)
    }

    /// Like [`Batched::new`] with explicit limits.
    pub fn with_limits(
        inner: Arc<R>,
        window: Duration,
        limits: BatchLimits,
        metrics: Arc<Metrics>,
    ) -> Self {
        Batched {
            shared: Arc::new(Shared {
                inner,
                window,
                limits,
                metrics,
                zones: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The wrapped adapter.
    pub fn inner(&self) -> &Arc<R> {
        &self.shared.inner
    }

    /// The batching window.
    pub fn window(&self) -> Duration {
        self.shared.window
    }
}

/// Whether a refused combined call may owe its refusal to one member (so the members must be asked
/// separately), rather than concern them all.
fn member_specific(e: &Route53Error) -> bool {
    match e.kind {
        Route53ErrorKind::Conflict | Route53ErrorKind::Invalid => true,
        // NoSuchHealthCheck names one member's health check; NoSuchHostedZone is everyone's.
        Route53ErrorKind::NotFound => e.code != "NoSuchHostedZone",
        Route53ErrorKind::Throttled
        | Route53ErrorKind::Transient
        | Route53ErrorKind::AccessDenied
        | Route53ErrorKind::Other => false,
    }
}

/// One comment for a combined call, within Route 53's 256 characters: `N batched: c1; c2 … +k more`.
fn combined_comment(comments: &[&str]) -> String {
    if let [only] = comments {
        return bounded(only, MAX_COMMENT_OR_TAG_VALUE);
    }
    let n = comments.len();
    let mut out = format!("{n} batched:");
    let mut taken = 0;
    for (i, c) in comments.iter().enumerate() {
        let sep = if i == 0 { " " } else { "; " };
        let left = n - i - 1;
        let more = if left > 0 {
            format!(" … +{left} more")
        } else {
            String::new()
        };
        let len = out.chars().count() + sep.len() + c.chars().count() + more.chars().count();
        if len > MAX_COMMENT_OR_TAG_VALUE {
            break;
        }
        out.push_str(sep);
        out.push_str(c);
        taken += 1;
    }
    if taken < n {
        out.push_str(&format!(" … +{} more", n - taken));
    }
    bounded(&out, MAX_COMMENT_OR_TAG_VALUE)
}

/// Split what waits into calls: arrival order, each within `limits` (a single list that exceeds them
/// goes alone, and gets Route 53's answer), and no record set touched twice in one call.
fn pack(members: Vec<Member>, limits: &BatchLimits) -> Vec<Vec<Member>> {
    let mut calls: Vec<Vec<Member>> = Vec::new();
    let mut weight = Weight::default();
    let mut keys: HashSet<SetKey> = HashSet::new();
    for m in members {
        let w = Weight::of(&m.changes);
        let mk: Vec<SetKey> = m.changes.iter().map(|c| set_key(c.record())).collect();
        let fits = calls.last().is_some_and(|c| !c.is_empty())
            && weight.plus(w).within(limits)
            && !mk.iter().any(|k| keys.contains(k));
        if !fits {
            calls.push(Vec::new());
            weight = Weight::default();
            keys.clear();
        }
        weight = weight.plus(w);
        keys.extend(mk);
        if let Some(c) = calls.last_mut() {
            c.push(m);
        }
    }
    calls
}

impl<R: Route53> Shared<R> {
    /// The task sending one zone's calls: wait until the oldest list's window has passed, take
    /// everything waiting, send it, and again until nothing waits.
    async fn run_zone(self: Arc<Self>, zone: String) {
        let mut guard = ZoneTask {
            shared: &self,
            zone: &zone,
            done: false,
        };
        loop {
            let oldest = {
                let mut zones = self.zones();
                match zones.get(&zone).and_then(|q| q.first()) {
                    Some(m) => m.arrived,
                    None => {
                        zones.remove(&zone);
                        guard.done = true;
                        return;
                    }
                }
            };
            tokio::time::sleep_until(oldest + self.window).await;
            let waiting = {
                let mut zones = self.zones();
                zones.get_mut(&zone).map(std::mem::take).unwrap_or_default()
            };
            let live: Vec<Member> = waiting.into_iter().filter(|m| !m.abandoned()).collect();
            for call in pack(live, &self.limits) {
                self.send(&zone, call).await;
            }
        }
    }

    /// Send one call; on a refusal that may be one member's doing, bisect until every member has its
    /// own answer.
    async fn send(&self, zone: &str, call: Vec<Member>) {
        let mut todo = vec![call];
        while let Some(group) = todo.pop() {
            let mut group: Vec<Member> = group.into_iter().filter(|m| !m.abandoned()).collect();
            if group.is_empty() {
                continue;
            }
            let (comment, changes) = if let [m] = group.as_slice() {
                (m.comment.clone(), m.changes.clone())
            } else {
                let comments: Vec<&str> = group.iter().map(|m| m.comment.as_str()).collect();
                let changes: Vec<Change> = group
                    .iter()
                    .flat_map(|m| m.changes.iter().cloned())
                    .collect();
                (combined_comment(&comments), changes)
            };
            self.metrics
                .route53_change_batch(group.len(), changes.len());
            let res = self
                .inner
                .change_record_sets(zone, &comment, &changes)
                .await;
            match res {
                Err(e) if group.len() > 1 && member_specific(&e) => {
                    tracing::debug!(
                        zone,
                        members = group.len(),
                        code = %e.code,
                        "combined record change refused: asking its halves separately"
                    );
                    self.metrics.route53_change_batch_splits.inc();
                    let second = group.split_off(group.len() / 2);
                    // Depth first, first half first: arrival order is kept.
                    todo.push(second);
                    todo.push(group);
                }
                res => {
                    for m in group {
                        m.answer(res.clone());
                    }
                }
            }
        }
    }
}

/// Ends a zone's task: when it stops without having emptied its queue (a panic, a runtime shutting
/// down), its waiting callers are answered (by dropping their reply) and the zone is freed for a new
/// task.
struct ZoneTask<'a, R> {
    shared: &'a Shared<R>,
    zone: &'a str,
    done: bool,
}

impl<R> Drop for ZoneTask<'_, R> {
    fn drop(&mut self) {
        if !self.done {
            self.shared.zones().remove(self.zone);
        }
    }
}

impl<R: Route53> Route53 for Batched<R> {
    async fn get_hosted_zone(&self, id: &str) -> R53Result<Option<Zone>> {
        self.shared.inner.get_hosted_zone(id).await
    }

    async fn find_hosted_zones(&self, name: &str) -> R53Result<Vec<Zone>> {
        self.shared.inner.find_hosted_zones(name).await
    }

    async fn list_record_sets(&self, zone_id: &str, name: &str) -> R53Result<Vec<RecordSet>> {
        self.shared.inner.list_record_sets(zone_id, name).await
    }

    async fn list_record_sets_cached(
        &self,
        zone_id: &str,
        name: &str,
    ) -> R53Result<Vec<RecordSet>> {
        self.shared
            .inner
            .list_record_sets_cached(zone_id, name)
            .await
    }

    async fn change_record_sets(
        &self,
        zone_id: &str,
        comment: &str,
        changes: &[Change],
    ) -> R53Result<ChangeInfo> {
        if self.shared.window.is_zero() {
            return self
                .shared
                .inner
                .change_record_sets(zone_id, comment, changes)
                .await;
        }
        let (tx, rx) = oneshot::channel();
        let member = Member {
            comment: comment.to_string(),
            changes: changes.to_vec(),
            arrived: Instant::now(),
            reply: tx,
        };
        let start = {
            let mut zones = self.shared.zones();
            let start = !zones.contains_key(zone_id);
            zones.entry(zone_id.to_string()).or_default().push(member);
            start
        };
        if start {
            tokio::spawn(self.shared.clone().run_zone(zone_id.to_string()));
        }
        rx.await.unwrap_or_else(|_| {
            Err(Route53Error::new(
                "ChangeResourceRecordSets",
                Route53ErrorKind::Transient,
                "BatchLost",
                "the task sending this zone's record changes stopped before answering",
            ))
        })
    }

    async fn get_change(&self, id: &str) -> R53Result<ChangeInfo> {
        self.shared.inner.get_change(id).await
    }

    async fn list_health_checks(&self, prefix: &str) -> R53Result<Vec<HealthCheck>> {
        self.shared.inner.list_health_checks(prefix).await
    }

    async fn list_health_checks_fresh(&self, prefix: &str) -> R53Result<Vec<HealthCheck>> {
        self.shared.inner.list_health_checks_fresh(prefix).await
    }

    async fn get_health_check(&self, id: &str) -> R53Result<Option<HealthCheck>> {
        self.shared.inner.get_health_check(id).await
    }

    async fn get_health_check_cached(&self, id: &str) -> R53Result<Option<HealthCheck>> {
        self.shared.inner.get_health_check_cached(id).await
    }

    async fn create_health_check(
        &self,
        caller_reference: &str,
        config: &HealthCheckConfig,
        tags: &[(String, String)],
    ) -> R53Result<HealthCheck> {
        self.shared
            .inner
            .create_health_check(caller_reference, config, tags)
            .await
    }

    async fn update_health_check(
        &self,
        id: &str,
        version: i64,
        config: &HealthCheckConfig,
    ) -> R53Result<HealthCheck> {
        self.shared
            .inner
            .update_health_check(id, version, config)
            .await
    }

    async fn delete_health_check(&self, id: &str) -> R53Result<()> {
        self.shared.inner.delete_health_check(id).await
    }

    async fn health_check_tags(
        &self,
        ids: &[String],
    ) -> R53Result<std::collections::HashMap<String, Vec<(String, String)>>> {
        self.shared.inner.health_check_tags(ids).await
    }

    async fn tag_health_check(&self, id: &str, tags: &[(String, String)]) -> R53Result<()> {
        self.shared.inner.tag_health_check(id, tags).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::route53::fake::FakeRoute53;

    const OP: &str = "ChangeResourceRecordSets";

    fn rec(name: &str, value: &str) -> RecordSet {
        RecordSet {
            name: format!("{name}.example.test."),
            rtype: "A".into(),
            set_identifier: None,
            failover: None,
            ttl: Some(60),
            values: vec![value.into()],
            alias: None,
            health_check_id: None,
        }
    }

    /// A pair of records for caller `i`, like a FailoverRecord's.
    fn pair(i: usize) -> Vec<Change> {
        vec![
            Change::Create(rec(&format!("app{i}"), "192.0.2.1")),
            Change::Create(rec(&format!("app{i}-b"), "192.0.2.2")),
        ]
    }

    fn setup(
        window_ms: u64,
        limits: BatchLimits,
    ) -> (Arc<FakeRoute53>, String, Batched<FakeRoute53>) {
        let fake = Arc::new(FakeRoute53::new());
        let zone = fake.add_zone("example.test");
        let b = Batched::with_limits(
            fake.clone(),
            Duration::from_millis(window_ms),
            limits,
            Arc::new(Metrics::default()),
        );
        (fake, zone, b)
    }

    /// Every caller's change list submitted at once, each from its own task; the answers in order.
    async fn submit_all(
        b: &Batched<FakeRoute53>,
        zone: &str,
        lists: Vec<Vec<Change>>,
    ) -> Vec<R53Result<ChangeInfo>> {
        let tasks: Vec<_> = lists
            .into_iter()
            .enumerate()
            .map(|(i, changes)| {
                let (b, zone) = (b.clone(), zone.to_string());
                tokio::spawn(async move {
                    b.change_record_sets(
                        &zone,
                        &format!("route53-failover-operator default/app{i}"),
                        &changes,
                    )
                    .await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn fifty_concurrent_callers_in_one_zone_make_one_call() {
        let (fake, zone, b) = setup(200, BatchLimits::default());
        let start = Instant::now();
        let res = submit_all(&b, &zone, (0..50).map(pair).collect()).await;
        assert_eq!(fake.call_count(OP), 1);
        let ids: HashSet<String> = res.into_iter().map(|r| r.unwrap().id).collect();
        assert_eq!(ids.len(), 1, "every caller gets the batch's change id");
        assert_eq!(fake.records(&zone).len(), 100);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_millis(250),
            "{waited:?}"
        );
        // The zone's task has ended: the next caller starts a new window.
        assert!(b.shared.zones().is_empty());
        b.change_record_sets(&zone, "later", &pair(50))
            .await
            .unwrap();
        assert_eq!(fake.call_count(OP), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn limits_make_more_calls_and_never_split_a_caller() {
        // 10 changes per call: 5 pairs.
        let limits = BatchLimits {
            max_changes: 10,
            ..BatchLimits::default()
        };
        let (fake, zone, b) = setup(200, limits);
        let res = submit_all(&b, &zone, (0..50).map(pair).collect()).await;
        assert!(res.iter().all(Result::is_ok));
        assert_eq!(fake.call_count(OP), 10);
        // A caller with a list larger than the limits goes alone, whole.
        let big: Vec<Change> = (0..12)
            .map(|i| Change::Create(rec(&format!("big{i}"), "192.0.2.3")))
            .collect();
        let mut lists = vec![pair(100), big, pair(101)];
        lists.push(pair(102));
        fake.reset_calls();
        let res = submit_all(&b, &zone, lists).await;
        assert!(res.iter().all(Result::is_ok));
        assert_eq!(fake.call_count(OP), 3, "[pair] [big] [pair, pair]");
        assert_eq!(fake.records(&zone).len(), 100 + 12 + 6);
    }

    #[tokio::test(start_paused = true)]
    async fn upserts_count_twice_against_route53s_element_limit() {
        let (fake, zone, b) = setup(200, BatchLimits::default());
        // Single-value pairs: 4 elements each as UPSERT, so 250 pairs per call of 1,000 elements.
        let upsert_pair = |i: usize| -> Vec<Change> {
            pair(i)
                .into_iter()
                .map(|c| Change::Upsert(c.record().clone()))
                .collect()
        };
        let res = submit_all(&b, &zone, (0..300).map(upsert_pair).collect()).await;
        assert!(res.iter().all(Result::is_ok));
        assert_eq!(fake.call_count(OP), 2, "250 + 50");
        assert_eq!(fake.records(&zone).len(), 600);
        // As CREATEs, 500 pairs of 2 elements would fit, but 500 changes per call is the cap.
        fake.reset_calls();
        let res = submit_all(&b, &zone, (1000..1300).map(pair).collect()).await;
        assert!(res.iter().all(Result::is_ok));
        assert_eq!(fake.call_count(OP), 2, "250 pairs (500 changes) + 50");
    }

    #[test]
    fn weights_follow_route53s_counting() {
        let mut long = rec("a", "x");
        long.rtype = "TXT".into();
        long.values = vec!["v".repeat(255), "w".repeat(100)];
        let w = Weight::of(&[Change::Upsert(long.clone()), Change::Delete(long)]);
        assert_eq!(
            w,
            Weight {
                changes: 2,
                records: 2 * 2 + 2,
                chars: 2 * 355 + 355
            }
        );
        let mut alias = rec("b", "x");
        alias.values.clear();
        assert_eq!(Weight::of(&[Change::Create(alias)]).records, 1);
        // 32,000 characters: the CNAME-like worst case fits far fewer callers than the element limit.
        let l = BatchLimits::default();
        let cname_pair = Weight {
            changes: 2,
            records: 4,
            chars: 2 * 2 * 255,
        };
        let mut total = Weight::default();
        let mut n = 0;
        while total.plus(cname_pair).within(&l) {
            total = total.plus(cname_pair);
            n += 1;
        }
        assert_eq!(n, 31);
    }

    #[tokio::test(start_paused = true)]
    async fn callers_in_two_zones_get_separate_calls() {
        let (fake, z1, b) = setup(200, BatchLimits::default());
        let z2 = fake.add_zone("example2.test");
        let (a, c) = tokio::join!(
            submit_all(&b, &z1, (0..10).map(pair).collect()),
            submit_all(&b, &z2, (10..25).map(pair).collect()),
        );
        assert!(a.iter().chain(&c).all(Result::is_ok));
        assert_eq!(fake.call_count(OP), 2);
        assert_eq!(fake.records(&z1).len(), 20);
        assert_eq!(fake.records(&z2).len(), 30);
        assert_ne!(a[0].as_ref().unwrap().id, c[0].as_ref().unwrap().id);
    }

    #[tokio::test(start_paused = true)]
    async fn one_bad_caller_fails_alone_and_the_others_are_written() {
        let (fake, zone, b) = setup(200, BatchLimits::default());
        fake.put_record(&zone, rec("app7", "192.0.2.1"));
        let mut lists: Vec<Vec<Change>> = (0..32).map(pair).collect();
        // Caller 20 deletes a record that does not exist; caller 7 creates one that does.
        lists[20] = vec![Change::Delete(rec("nothere", "192.0.2.9"))];
        let res = submit_all(&b, &zone, lists).await;
        for (i, r) in res.iter().enumerate() {
            match i {
                7 | 20 => {
                    let e = r.as_ref().expect_err("refused");
                    assert_eq!(e.kind, Route53ErrorKind::Conflict, "{e}");
                    let want = if i == 7 { "app7." } else { "nothere." };
                    assert!(e.message.contains(want), "its own refusal: {e}");
                }
                _ => assert!(r.is_ok(), "caller {i}: {r:?}"),
            }
        }
        let names: HashSet<String> = fake.records(&zone).into_iter().map(|r| r.name).collect();
        for i in (0..32).filter(|i| ![7, 20].contains(i)) {
            assert!(names.contains(&format!("app{i}.example.test.")), "app{i}");
            assert!(
                names.contains(&format!("app{i}-b.example.test.")),
                "app{i}-b"
            );
        }
        assert!(
            !names.contains("app7-b.example.test."),
            "caller 7's pair is all or nothing"
        );
        // Bisection: 1 combined call, then at most 2 per level for each bad caller (32 = 2^5).
        let calls = fake.call_count(OP);
        assert!(calls <= 1 + 2 * 2 * 5, "{calls} calls");
        assert!(calls < 32, "{calls} calls: fewer than one per caller");
    }

    /// An adoption: DELETE their failover pair and CREATE ours at the same name, one caller's list.
    fn adoption(i: usize, check: &str) -> (Vec<RecordSet>, Vec<Change>) {
        let set = |id: &str, role: crate::crd::Role, value: &str| RecordSet {
            set_identifier: Some(id.into()),
            failover: Some(role),
            // Route 53 wants a health check on a non-alias PRIMARY.
            health_check_id: (role == crate::crd::Role::Primary).then(|| check.to_string()),
            ..rec(&format!("adopt{i}"), value)
        };
        let theirs = vec![
            set("their-primary", crate::crd::Role::Primary, "192.0.2.10"),
            set("their-secondary", crate::crd::Role::Secondary, "192.0.2.20"),
        ];
        let changes = vec![
            Change::Delete(theirs[0].clone()),
            Change::Delete(theirs[1].clone()),
            Change::Create(set("ours:primary", crate::crd::Role::Primary, "192.0.2.11")),
            Change::Create(set(
                "ours:secondary",
                crate::crd::Role::Secondary,
                "192.0.2.21",
            )),
        ];
        (theirs, changes)
    }

    #[tokio::test(start_paused = true)]
    async fn an_adoption_stays_one_call_through_packing_and_bisection() {
        // Tight limits (7 changes per call) and a bad caller in the adoption's call: packing and
        // bisection separate callers, never the adoption's DELETEs from its CREATEs.
        let limits = BatchLimits {
            max_changes: 7,
            ..BatchLimits::default()
        };
        let (fake, zone, b) = setup(200, limits);
        let check =
            fake.add_foreign_health_check("theirs", &HealthCheckConfig::tcp("52.94.76.10", 443));
        let (theirs, adopt) = adoption(1, &check);
        for rs in &theirs {
            fake.put_record(&zone, rs.clone());
        }
        let lists = vec![
            adopt.clone(),
            vec![Change::Delete(rec("nothere", "192.0.2.9"))],
            pair(0),
            pair(2),
        ];
        let res = submit_all(&b, &zone, lists).await;
        assert!(res[0].is_ok(), "{:?}", res[0]);
        assert!(res[1].is_err());
        assert!(res[2].is_ok() && res[3].is_ok());
        assert!(
            fake.call_count(OP) >= 4,
            "the first call was refused and bisected"
        );
        let with_adoption: Vec<Vec<Change>> = fake
            .committed_batches()
            .into_iter()
            .filter(|batch| batch.iter().any(|c| adopt.contains(c)))
            .collect();
        assert_eq!(with_adoption.len(), 1, "{with_adoption:?}");
        assert!(
            adopt.iter().all(|c| with_adoption[0].contains(c)),
            "every change of the adoption in that one call: {with_adoption:?}"
        );
        let names: Vec<String> = fake
            .records(&zone)
            .into_iter()
            .filter(|r| r.name.starts_with("adopt1."))
            .filter_map(|r| r.set_identifier)
            .collect();
        assert_eq!(names, vec!["ours:primary", "ours:secondary"]);
    }

    #[tokio::test(start_paused = true)]
    async fn errors_that_concern_every_caller_are_everyones_without_retries() {
        let (fake, zone, b) = setup(200, BatchLimits::default());
        fake.fail_next(
            OP,
            Route53Error::new(
                OP,
                Route53ErrorKind::Throttled,
                "Throttling",
                "Rate exceeded",
            ),
        );
        let res = submit_all(&b, &zone, (0..10).map(pair).collect()).await;
        for r in &res {
            assert_eq!(
                r.as_ref().expect_err("throttled").kind,
                Route53ErrorKind::Throttled
            );
        }
        assert_eq!(fake.call_count(OP), 1);
        assert!(fake.records(&zone).is_empty());
        // A missing zone is everyone's too.
        fake.reset_calls();
        let res = submit_all(&b, "ZNOPE", (0..10).map(pair).collect()).await;
        for r in &res {
            let e = r.as_ref().expect_err("no zone");
            assert_eq!(
                (e.kind, e.code.as_str()),
                (Route53ErrorKind::NotFound, "NoSuchHostedZone")
            );
        }
        assert_eq!(fake.call_count(OP), 1);
        // As is a write refused by the fence (the adapter reports it as transient).
        fake.reset_calls();
        fake.fail_next(
            OP,
            Route53Error::new(OP, Route53ErrorKind::Transient, "NotLeader", "fenced"),
        );
        let res = submit_all(&b, &zone, (0..10).map(pair).collect()).await;
        assert!(
            res.iter()
                .all(|r| r.as_ref().is_err_and(|e| e.code == "NotLeader"))
        );
        assert_eq!(fake.call_count(OP), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_window_passes_every_call_through() {
        let (fake, zone, b) = setup(0, BatchLimits::default());
        let start = Instant::now();
        let res = submit_all(&b, &zone, (0..5).map(pair).collect()).await;
        assert!(res.iter().all(Result::is_ok));
        assert_eq!(fake.call_count(OP), 5);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(b.shared.zones().is_empty(), "no task");
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_caller_does_not_hurt_the_others() {
        let (fake, zone, b) = setup(200, BatchLimits::default());
        let others = {
            let b = b.clone();
            let zone = zone.clone();
            tokio::spawn(async move { submit_all(&b, &zone, (0..10).map(pair).collect()).await })
        };
        // A reconcile cancelled before the window ends: its changes are not sent.
        let cancelled = tokio::time::timeout(
            Duration::from_millis(50),
            b.change_record_sets(&zone, "gone", &pair(99)),
        )
        .await;
        assert!(cancelled.is_err());
        // A caller whose task is aborted while waiting.
        let aborted = {
            let b = b.clone();
            let zone = zone.clone();
            tokio::spawn(async move { b.change_record_sets(&zone, "aborted", &pair(98)).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        aborted.abort();
        let res = others.await.unwrap();
        assert!(res.iter().all(Result::is_ok), "{res:?}");
        assert_eq!(fake.call_count(OP), 1);
        let names: HashSet<String> = fake.records(&zone).into_iter().map(|r| r.name).collect();
        assert_eq!(names.len(), 20);
        assert!(!names.contains("app99.example.test."));
        assert!(!names.contains("app98.example.test."));
    }

    #[tokio::test(start_paused = true)]
    async fn changes_of_one_record_set_by_two_callers_go_in_order_in_separate_calls() {
        let (fake, zone, b) = setup(200, BatchLimits::default());
        let lists = vec![
            vec![Change::Upsert(rec("x", "192.0.2.1"))],
            pair(1),
            vec![Change::Upsert(rec("x", "192.0.2.2"))],
            pair(2),
        ];
        let res = submit_all(&b, &zone, lists).await;
        assert!(res.iter().all(Result::is_ok));
        assert_eq!(fake.call_count(OP), 2, "[x=1, pair] [x=2, pair]");
        let x: Vec<RecordSet> = fake
            .records(&zone)
            .into_iter()
            .filter(|r| r.name == "x.example.test.")
            .collect();
        assert_eq!(x.len(), 1);
        assert_eq!(x[0].values, ["192.0.2.2"]);
    }

    #[tokio::test(start_paused = true)]
    async fn callers_within_the_window_share_a_call_and_later_ones_the_next() {
        let (fake, zone, b) = setup(200, BatchLimits::default());
        let first = submit_all(&b, &zone, (0..5).map(pair).collect());
        let later = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            submit_all(&b, &zone, (5..10).map(pair).collect()).await
        };
        let much_later = async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            submit_all(&b, &zone, (10..20).map(pair).collect()).await
        };
        let (a, l, m) = tokio::join!(first, later, much_later);
        assert!(a.iter().chain(&l).chain(&m).all(Result::is_ok));
        // t=200 ms: the first 10 (the later ones were within the first one's window); t=450 ms: 10 more.
        assert_eq!(fake.call_count(OP), 2);
        assert_eq!(a[0].as_ref().unwrap().id, l[0].as_ref().unwrap().id);
        assert_ne!(a[0].as_ref().unwrap().id, m[0].as_ref().unwrap().id);
    }

    #[test]
    fn combined_comments_fit_route53s_limit() {
        assert_eq!(combined_comment(&["one"]), "one");
        assert_eq!(combined_comment(&["a", "b"]), "2 batched: a; b");
        let many: Vec<String> = (0..50)
            .map(|i| format!("route53-failover-operator default/app{i}"))
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let c = combined_comment(&refs);
        assert!(c.chars().count() <= MAX_COMMENT_OR_TAG_VALUE, "{c}");
        assert!(
            c.starts_with("50 batched: route53-failover-operator default/app0; "),
            "{c}"
        );
        assert!(c.ends_with(" more"), "{c}");
        let long = "é".repeat(400);
        let c = combined_comment(&[&long, &long]);
        assert!(c.chars().count() <= MAX_COMMENT_OR_TAG_VALUE, "{c}");
        assert_eq!(c, "2 batched: … +2 more");
        assert!(combined_comment(&[&long]).chars().count() <= MAX_COMMENT_OR_TAG_VALUE);
    }
}
