//! [`ReadOnly`]: the one place where observe-only mode (`run --observe-only`) and the `plan`
//! subcommand refuse every Route 53 write.
//!
//! Reads pass through to the wrapped implementation; each write (record changes, health check
//! create, update, delete and tagging) fails with a [`Route53Error`] of code `ObserveOnly` before
//! any request is made. The reconciler's observe-only path never calls a write, so a refused write
//! is a bug that shows up as an error in status, never as a change in Route 53.

use std::collections::HashMap;
use std::sync::Arc;

use super::{
    Change, ChangeInfo, HealthCheck, HealthCheckConfig, R53Result, RecordSet, Route53,
    Route53Error, Route53ErrorKind, Zone,
};

/// Error code of a refused write.
pub const REFUSED_CODE: &str = "ObserveOnly";

/// A [`Route53`] that reads through `R` and refuses every write (when enabled).
pub struct ReadOnly<R> {
    inner: Arc<R>,
    refuse: bool,
}

impl<R> ReadOnly<R> {
    /// Wrap `inner`, refusing every write.
    pub fn new(inner: Arc<R>) -> Self {
        ReadOnly {
            inner,
            refuse: true,
        }
    }

    /// Wrap `inner`, refusing every write when `observe_only` (otherwise writes pass through): one
    /// type for both modes of the controller.
    pub fn when(observe_only: bool, inner: Arc<R>) -> Self {
        ReadOnly {
            inner,
            refuse: observe_only,
        }
    }

    /// Whether writes are refused.
    pub fn refuses_writes(&self) -> bool {
        self.refuse
    }

    /// The wrapped implementation.
    pub fn inner(&self) -> &Arc<R> {
        &self.inner
    }
}

fn refused(operation: &'static str) -> Route53Error {
    Route53Error::new(
        operation,
        Route53ErrorKind::Invalid,
        REFUSED_CODE,
        "observe-only mode: Route 53 writes are refused",
    )
}

impl<R> ReadOnly<R> {
    fn check(&self, operation: &'static str) -> R53Result<()> {
        if self.refuse {
            Err(refused(operation))
        } else {
            Ok(())
        }
    }
}

impl<R: Route53> Route53 for ReadOnly<R> {
    async fn get_hosted_zone(&self, id: &str) -> R53Result<Option<Zone>> {
        self.inner.get_hosted_zone(id).await
    }

    async fn find_hosted_zones(&self, name: &str) -> R53Result<Vec<Zone>> {
        self.inner.find_hosted_zones(name).await
    }

    async fn list_record_sets(&self, zone_id: &str, name: &str) -> R53Result<Vec<RecordSet>> {
        self.inner.list_record_sets(zone_id, name).await
    }

    async fn list_record_sets_cached(
        &self,
        zone_id: &str,
        name: &str,
    ) -> R53Result<Vec<RecordSet>> {
        self.inner.list_record_sets_cached(zone_id, name).await
    }

    async fn change_record_sets(
        &self,
        zone_id: &str,
        comment: &str,
        changes: &[Change],
    ) -> R53Result<ChangeInfo> {
        self.check("ChangeResourceRecordSets")?;
        self.inner
            .change_record_sets(zone_id, comment, changes)
            .await
    }

    async fn get_change(&self, id: &str) -> R53Result<ChangeInfo> {
        self.inner.get_change(id).await
    }

    async fn list_health_checks(&self, prefix: &str) -> R53Result<Vec<HealthCheck>> {
        self.inner.list_health_checks(prefix).await
    }

    async fn list_health_checks_fresh(&self, prefix: &str) -> R53Result<Vec<HealthCheck>> {
        self.inner.list_health_checks_fresh(prefix).await
    }

    async fn get_health_check(&self, id: &str) -> R53Result<Option<HealthCheck>> {
        self.inner.get_health_check(id).await
    }

    async fn get_health_check_cached(&self, id: &str) -> R53Result<Option<HealthCheck>> {
        self.inner.get_health_check_cached(id).await
    }

    async fn create_health_check(
        &self,
        caller_reference: &str,
        config: &HealthCheckConfig,
        tags: &[(String, String)],
    ) -> R53Result<HealthCheck> {
        self.check("CreateHealthCheck")?;
        self.inner
            .create_health_check(caller_reference, config, tags)
            .await
    }

    async fn update_health_check(
        &self,
        id: &str,
        version: i64,
        config: &HealthCheckConfig,
    ) -> R53Result<HealthCheck> {
        self.check("UpdateHealthCheck")?;
        self.inner.update_health_check(id, version, config).await
    }

    async fn delete_health_check(&self, id: &str) -> R53Result<()> {
        self.check("DeleteHealthCheck")?;
        self.inner.delete_health_check(id).await
    }

    async fn health_check_tags(
        &self,
        ids: &[String],
    ) -> R53Result<HashMap<String, Vec<(String, String)>>> {
        self.inner.health_check_tags(ids).await
    }

    async fn tag_health_check(&self, id: &str, tags: &[(String, String)]) -> R53Result<()> {
        self.check("ChangeTagsForResource")?;
        self.inner.tag_health_check(id, tags).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::Role;
    use crate::route53::fake::FakeRoute53;

    fn config() -> HealthCheckConfig {
        HealthCheckConfig::tcp("52.94.76.10", 443)
    }

    #[tokio::test]
    async fn every_write_is_refused_and_reads_pass_through() {
        let fake = Arc::new(FakeRoute53::new());
        let zone = fake.add_zone("example.test");
        let hc = fake
            .create_health_check("ref-1", &config(), &[])
            .await
            .expect("create through the fake itself");
        fake.reset_calls();
        let ro = ReadOnly::new(fake.clone());
        let rs = RecordSet {
            name: "www.example.test.".into(),
            rtype: "A".into(),
            set_identifier: Some("x".into()),
            failover: Some(Role::Primary),
            ttl: Some(60),
            values: vec!["192.0.2.1".into()],
            alias: None,
            health_check_id: None,
        };
        let refusals = [
            ro.change_record_sets(&zone, "c", &[Change::Create(rs)])
                .await
                .map(|_| ()),
            ro.create_health_check("ref-2", &config(), &[])
                .await
                .map(|_| ()),
            ro.update_health_check(&hc.id, hc.version, &config())
                .await
                .map(|_| ()),
            ro.delete_health_check(&hc.id).await,
            ro.tag_health_check(&hc.id, &[("k".into(), "v".into())])
                .await,
        ];
        for r in refusals {
            let e = r.expect_err("a write must be refused");
            assert_eq!(e.code, REFUSED_CODE);
            assert!(!e.is_retryable());
        }
        assert_eq!(fake.write_calls(), 0, "{:?}", fake.calls());
        assert!(fake.records(&zone).is_empty());
        assert_eq!(fake.health_checks().len(), 1);
        // Reads reach the wrapped implementation.
        let got = ro.get_health_check(&hc.id).await.expect("read");
        assert_eq!(got.map(|h| h.id), Some(hc.id.clone()));
        assert_eq!(
            ro.list_record_sets(&zone, "www.example.test.")
                .await
                .expect("read"),
            Vec::new()
        );
        assert!(fake.call_count("GetHealthCheck") >= 1, "{:?}", fake.calls());
        // The zone snapshot of the wrapped implementation is used, not a read of the name.
        ro.list_record_sets_cached(&zone, "www.example.test.")
            .await
            .expect("read");
        assert_eq!(fake.call_count("Snapshot"), 1, "{:?}", fake.calls());
    }

    #[tokio::test]
    async fn writes_pass_through_when_not_observe_only() {
        let fake = Arc::new(FakeRoute53::new());
        let rw = ReadOnly::when(false, fake.clone());
        assert!(!rw.refuses_writes());
        rw.create_health_check("ref-1", &config(), &[])
            .await
            .expect("passes through");
        assert_eq!(fake.call_count("CreateHealthCheck"), 1);
        assert!(ReadOnly::when(true, fake).refuses_writes());
    }
}
