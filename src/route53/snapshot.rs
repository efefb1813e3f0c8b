//! Zone snapshots: the record sets of a whole hosted zone from one paginated `ListResourceRecordSets`,
//! kept for a TTL, so that confirming thousands of records in sync costs a few listing pages per zone
//! instead of one read per record (external-dns lists each zone once per interval the same way).
//!
//! A snapshot only ever *confirms* that nothing needs to change: the reconciler reads the name again
//! with [`super::Route53::list_record_sets`] before anything that could lead to a write.
//!
//! Listing a zone pays off only when enough of its names are asked for: a zone of 300,000 records that
//! holds ten of ours is cheaper to read per name. Each zone therefore counts the distinct names asked
//! for in the current TTL window (and remembers the previous window's count); a listing is made when
//! that demand reaches twice the number of pages the last listing took ([`FIRST_LISTING_DEMAND`] names
//! before the first listing), otherwise the caller reads the name on its own.
//!
//! Our own successful changes are applied to the snapshot, so it stays true for what we wrote; a
//! failed change (which may still have committed) and a write that raced a listing mark the names
//! dirty, and a dirty name is read on its own (and the answer put back) until the next listing.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::{Change, RecordSet};

/// Distinct names asked for in a zone before its first listing is made.
pub const FIRST_LISTING_DEMAND: usize = 16;

/// Record sets of one zone, by name.
#[derive(Debug, Default)]
struct Snapshot {
    fetched: Option<Instant>,
    by_name: HashMap<String, Vec<RecordSet>>,
    dirty: HashSet<String>,
}

/// One zone's snapshot and the demand that decides whether listing it pays off.
#[derive(Debug)]
struct ZoneEntry {
    snapshot: Snapshot,
    /// Pages the last listing took.
    pages: Option<usize>,
    /// Distinct names asked for since `window_start`.
    demand: HashSet<String>,
    /// Distinct names asked for in the previous window.
    previous_demand: usize,
    window_start: Instant,
    /// When each name was last written by us, to find writes that raced a listing.
    written: HashMap<String, Instant>,
}

impl ZoneEntry {
    fn new(now: Instant) -> Self {
        ZoneEntry {
            snapshot: Snapshot::default(),
            pages: None,
            demand: HashSet::new(),
            previous_demand: 0,
            window_start: now,
            written: HashMap::new(),
        }
    }
}

/// What the cache says about a name.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The record sets from a snapshot younger than the TTL (possibly none).
    Hit(Vec<RecordSet>),
    /// List the whole zone now (then [`ZoneSnapshots::store_listing`]).
    ListZone,
    /// Read this name on its own (then [`ZoneSnapshots::store_name`]).
    ReadName,
}

/// The snapshots of every zone the operator reads (see the module docs).
#[derive(Debug)]
pub struct ZoneSnapshots {
    ttl: Duration,
    zones: HashMap<String, ZoneEntry>,
}

impl ZoneSnapshots {
    /// Snapshots younger than `ttl` are served; `ttl` is also the demand window.
    pub fn new(ttl: Duration) -> Self {
        ZoneSnapshots {
            ttl,
            zones: HashMap::new(),
        }
    }

    /// Look a name up at `now`, counting it as demand for its zone.
    pub fn lookup(&mut self, zone_id: &str, name: &str, now: Instant) -> Lookup {
        let ttl = self.ttl;
        let z = self
            .zones
            .entry(zone_id.to_string())
            .or_insert_with(|| ZoneEntry::new(now));
        if now.duration_since(z.window_start) >= ttl {
            z.previous_demand = z.demand.len();
            z.demand.clear();
            z.window_start = now;
        }
        z.demand.insert(name.to_string());
        let fresh = z
            .snapshot
            .fetched
            .is_some_and(|at| now.duration_since(at) < ttl);
        if fresh {
            if z.snapshot.dirty.contains(name) {
                return Lookup::ReadName;
            }
            return Lookup::Hit(z.snapshot.by_name.get(name).cloned().unwrap_or_default());
        }
        let demand = z.demand.len().max(z.previous_demand);
        let threshold = z.pages.map_or(FIRST_LISTING_DEMAND, |p| 2 * p.max(1));
        if demand >= threshold {
            Lookup::ListZone
        } else {
            Lookup::ReadName
        }
    }

    /// Whether the zone has a snapshot younger than the TTL (another task listed it meanwhile).
    pub fn is_fresh(&self, zone_id: &str, now: Instant) -> bool {
        self.zones
            .get(zone_id)
            .and_then(|z| z.snapshot.fetched)
            .is_some_and(|at| now.duration_since(at) < self.ttl)
    }

    /// Store a listing of the whole zone that started at `started` and took `pages` pages. Names we
    /// wrote since `started` may be missing from it: they are marked dirty.
    pub fn store_listing(
        &mut self,
        zone_id: &str,
        sets: Vec<RecordSet>,
        pages: usize,
        started: Instant,
    ) {
        let z = self
            .zones
            .entry(zone_id.to_string())
            .or_insert_with(|| ZoneEntry::new(started));
        let mut by_name: HashMap<String, Vec<RecordSet>> = HashMap::new();
        for rs in sets {
            by_name.entry(rs.name.clone()).or_default().push(rs);
        }
        z.written.retain(|_, at| *at >= started);
        z.snapshot = Snapshot {
            fetched: Some(started),
            by_name,
            dirty: z.written.keys().cloned().collect(),
        };
        z.pages = Some(pages);
    }

    /// Put a fresh read of one name into the zone's snapshot (when it has one), clearing it from dirty.
    pub fn store_name(&mut self, zone_id: &str, name: &str, sets: &[RecordSet], read_at: Instant) {
        let Some(z) = self.zones.get_mut(zone_id) else {
            return;
        };
        if z.snapshot.fetched.is_none() || z.written.get(name).is_some_and(|w| *w > read_at) {
            return;
        }
        z.snapshot.dirty.remove(name);
        if sets.is_empty() {
            z.snapshot.by_name.remove(name);
        } else {
            z.snapshot.by_name.insert(name.to_string(), sets.to_vec());
        }
    }

    /// Apply our own change batch: committed → the snapshot follows it; failed (it may still have
    /// committed) → its names are dirty.
    pub fn apply(&mut self, zone_id: &str, changes: &[Change], committed: bool, now: Instant) {
        let Some(z) = self.zones.get_mut(zone_id) else {
            return;
        };
        for c in changes {
            z.written.insert(c.record().name.clone(), now);
        }
        if z.snapshot.fetched.is_none() {
            return;
        }
        for c in changes {
            let rs = c.record();
            if !committed {
                z.snapshot.dirty.insert(rs.name.clone());
                continue;
            }
            let sets = z.snapshot.by_name.entry(rs.name.clone()).or_default();
            sets.retain(|s| !(s.rtype == rs.rtype && s.set_identifier == rs.set_identifier));
            if !matches!(c, Change::Delete(_)) {
                sets.push(rs.clone());
            }
            if sets.is_empty() {
                z.snapshot.by_name.remove(&rs.name);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crd::Role;

    fn rs(name: &str, role: Role, value: &str) -> RecordSet {
        RecordSet {
            name: name.to_string(),
            rtype: "A".to_string(),
            set_identifier: Some(format!("{name}-{}", role.short())),
            failover: Some(role),
            ttl: Some(60),
            values: vec![value.to_string()],
            alias: None,
            health_check_id: None,
        }
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("r{i}.example.com.")).collect()
    }

    #[test]
    fn a_zone_is_listed_once_demand_pays_for_it_and_then_served_from_the_snapshot() {
        let ttl = Duration::from_secs(150);
        let mut s = ZoneSnapshots::new(ttl);
        let t0 = Instant::now();
        let names = names(40);
        for n in &names[..FIRST_LISTING_DEMAND - 1] {
            assert_eq!(s.lookup("Z1", n, t0), Lookup::ReadName, "{n}");
        }
        assert_eq!(
            s.lookup("Z1", &names[FIRST_LISTING_DEMAND - 1], t0),
            Lookup::ListZone
        );
        let sets: Vec<RecordSet> = names
            .iter()
            .flat_map(|n| {
                [
                    rs(n, Role::Primary, "192.0.2.1"),
                    rs(n, Role::Secondary, "192.0.2.2"),
                ]
            })
            .collect();
        s.store_listing("Z1", sets, 1, t0);
        let t1 = t0 + Duration::from_secs(10);
        assert!(s.is_fresh("Z1", t1));
        for n in &names {
            match s.lookup("Z1", n, t1) {
                Lookup::Hit(v) => assert_eq!(v.len(), 2, "{n}"),
                other => panic!("{n}: {other:?}"),
            }
        }
        assert_eq!(
            s.lookup("Z1", "absent.example.com.", t1),
            Lookup::Hit(vec![])
        );
        // Expired: the previous window's demand (41 names) pays for one page at once.
        let t2 = t0 + ttl + Duration::from_secs(1);
        assert_eq!(s.lookup("Z1", &names[0], t2), Lookup::ListZone);
    }

    #[test]
    fn a_big_zone_with_few_of_our_names_is_read_per_name() {
        let mut s = ZoneSnapshots::new(Duration::from_secs(150));
        let t0 = Instant::now();
        s.store_listing("Z1", vec![], 1000, t0);
        let later = t0 + Duration::from_secs(151);
        for n in names(100) {
            assert_eq!(s.lookup("Z1", &n, later), Lookup::ReadName);
        }
    }

    #[test]
    fn our_changes_are_applied_and_failed_or_racing_ones_make_names_dirty() {
        let mut s = ZoneSnapshots::new(Duration::from_secs(150));
        let t0 = Instant::now();
        let a = "a.example.com.";
        let b = "b.example.com.";
        s.lookup("Z1", a, t0);
        // A write during the listing (which started at t0) makes its name dirty.
        s.apply(
            "Z1",
            &[Change::Create(rs(b, Role::Primary, "192.0.2.9"))],
            true,
            t0 + Duration::from_millis(5),
        );
        s.store_listing("Z1", vec![rs(a, Role::Primary, "192.0.2.1")], 1, t0);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(s.lookup("Z1", b, t1), Lookup::ReadName);
        s.store_name("Z1", b, &[rs(b, Role::Primary, "192.0.2.9")], t1);
        assert_eq!(
            s.lookup("Z1", b, t1),
            Lookup::Hit(vec![rs(b, Role::Primary, "192.0.2.9")])
        );
        // A committed UPSERT replaces the set with the same identifier; a DELETE removes it.
        s.apply(
            "Z1",
            &[Change::Upsert(rs(a, Role::Primary, "192.0.2.7"))],
            true,
            t1,
        );
        assert_eq!(
            s.lookup("Z1", a, t1),
            Lookup::Hit(vec![rs(a, Role::Primary, "192.0.2.7")])
        );
        s.apply(
            "Z1",
            &[Change::Delete(rs(a, Role::Primary, "192.0.2.7"))],
            true,
            t1,
        );
        assert_eq!(s.lookup("Z1", a, t1), Lookup::Hit(vec![]));
        // A failed change may have committed: the name is read on its own until the next listing.
        s.apply(
            "Z1",
            &[Change::Create(rs(a, Role::Secondary, "192.0.2.3"))],
            false,
            t1,
        );
        assert_eq!(s.lookup("Z1", a, t1), Lookup::ReadName);
    }
}
