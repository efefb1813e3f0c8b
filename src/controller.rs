//! The Kubernetes half of the operator: the kube-runtime `Controller`, the finalizer, status writes
//! (server-side apply under one field manager, only when something changed) and Events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{Instrument, field, info, info_span, warn};

use crate::accounts::{self, Accounts};
use crate::change_watch::ChangeWatch;
use crate::crd::{FailoverRecord, FailoverRecordStatus, Role};
use crate::error::{Error, Result, Retry, backoff};
use crate::health::HealthSource;
use crate::health::monitor::Monitor;
use crate::metrics::{Metrics, ObjectLabels, RecordState};
use crate::ownership::{self, Claim, LEGACY_FINALIZER, OWNER_ANNOTATION};
use crate::policy::{self, NamespacePolicy};
use crate::reconcile::{self, Note, SyncInput};
use crate::route53::Route53;
use crate::status::{self, READY, RECONCILING, STALLED, next_status};
use crate::target_watch::{self, TargetNamespaces};
use crate::targets::TargetKind;
use crate::text;

/// Field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "route53-failover-operator";

/// Tunables of the controller.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Owner id written into Route 53 identifiers; must be stable and unique per operator installation.
    pub owner_id: String,
    /// Handle objects without the owner annotation ([`crate::ownership::OWNER_ANNOTATION`]).
    pub claim_unannotated: bool,
    /// How often endpoint health is read from Route 53.
    pub health_poll: Duration,
    /// How often records and health check settings are re-read and drift repaired.
    pub resync: Duration,
    /// How often a PENDING change is polled.
    pub change_poll: Duration,
    /// Retry delay for errors that wait on external state (conflicts, missing zones, access denied).
    pub slow_retry: Duration,
    /// Base and cap of the jittered exponential backoff for throttling and transient errors.
    pub backoff_base: Duration,
    /// Cap of the backoff.
    pub backoff_cap: Duration,
    /// Reconciles running at once (0: no limit).
    pub concurrency: u16,
    /// Which zones and names each namespace may claim (`None`: any, see [`crate::policy`]).
    pub namespace_policy: Option<Arc<NamespacePolicy>>,
    /// Observe-only mode: read Route 53 and write status and Events, never write Route 53 (see
    /// [`reconcile::sync_observe`]), and never add or remove a finalizer (deletion is left to the
    /// installation whose finalizer holds the object). The Route 53 implementation should refuse
    /// writes too ([`crate::route53::readonly::ReadOnly`]).
    pub observe_only: bool,
    /// Namespaces besides its own whose Services, Ingresses and Gateways a FailoverRecord may use as
    /// endpoint targets ([`crate::target_watch`]; `*`: any).
    pub target_namespaces: TargetNamespaces,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            owner_id: "route53-failover-operator".into(),
            claim_unannotated: true,
            health_poll: Duration::from_secs(30),
            resync: Duration::from_secs(300),
            change_poll: Duration::from_secs(5),
            slow_retry: Duration::from_secs(300),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            concurrency: 16,
            namespace_policy: None,
            observe_only: false,
            target_namespaces: TargetNamespaces::default(),
        }
    }
}

#[derive(Default)]
struct ObjectMemory {
    failures: u32,
    last_full: Option<(i64, Instant)>,
    /// The record DELETE of a cleanup that was not INSYNC yet: health checks wait for it.
    pending_delete: Option<String>,
    /// A hash of the status we last wrote: a watch event whose only news is that status is our own
    /// echo and triggers no reconcile ([`Context::trigger_hash`]).
    own_status: Option<u64>,
    /// A hash of the spec with its endpoint targets resolved, as of the last full reconcile
    /// (`None` without targets): a new address makes the next reconcile a full one.
    resolved: Option<u64>,
}

/// Shared state of all reconciles.
pub struct Context<R> {
    /// Kubernetes client.
    pub client: Client,
    /// The Route 53 stack of each AWS account, picked by the object's namespace
    /// ([`crate::accounts`]).
    pub accounts: Accounts<R>,
    /// Event recorder.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Tunables.
    pub settings: Settings,
    /// Health readings of every check in use, kept fresh by the health monitor task.
    pub health: Arc<Monitor<ObjectRef<Watched>>>,
    /// Propagating changes and the objects waiting for them, polled once per change by
    /// [`ChangeWatch::run`] (started by [`run`]).
    pub changes: Arc<ChangeWatch<R, ObjectRef<Watched>>>,
    /// Whether the Gateway API is installed (detected when [`run`] starts): Gateway targets are
    /// refused without it.
    pub gateway_api: std::sync::atomic::AtomicBool,
    memory: Mutex<HashMap<String, ObjectMemory>>,
}

impl<R> Context<R> {
    /// Build a context with one account for every object.
    pub fn new(client: Client, route53: Arc<R>, metrics: Arc<Metrics>, settings: Settings) -> Self {
        Self::with_accounts(client, Accounts::single(route53), metrics, settings)
    }

    /// Build a context whose objects use the account of their namespace.
    pub fn with_accounts(
        client: Client,
        accounts: Accounts<R>,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            accounts,
            metrics,
            health: Arc::new(Monitor::new(settings.health_poll)),
            changes: Arc::new(ChangeWatch::new(settings.change_poll)),
            settings,
            gateway_api: std::sync::atomic::AtomicBool::new(false),
            memory: Mutex::new(HashMap::new()),
        }
    }

    fn memory<T>(&self, uid: &str, f: impl FnOnce(&mut ObjectMemory) -> T) -> T {
        let mut m = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        f(m.entry(uid.to_string()).or_default())
    }

    /// Remember the status we are about to write (before the write: its watch event may arrive
    /// before the answer).
    fn writing_status(&self, uid: &str, status: &FailoverRecordStatus) {
        let h = status_hash(Some(status));
        self.memory(uid, |m| m.own_status = Some(h));
    }

    /// What a watch event must change to trigger a reconcile: generation (spec, deletion),
    /// labels, annotations (owner claim), finalizers, the deletion timestamp, and the status unless
    /// it is the one we last wrote. Our own status writes are accounted for by the reconcile that
    /// made them, so their echoes are filtered out (`predicate_filter`), while a status written
    /// by anyone else still triggers a reconcile that puts ours back.
    pub fn trigger_hash(&self, obj: &Watched) -> u64 {
        let meta = &obj.metadata;
        let status = status_hash(obj.status.as_ref());
        let ours = meta.uid.as_deref().is_some_and(|uid| {
            self.memory
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(uid)
                .is_some_and(|m| m.own_status == Some(status))
        });
        trigger_hash(
            meta,
            (!ours).then_some((status, obj.status_error.as_deref())),
        )
    }

    /// A cleanup that left its record DELETE propagating: the next attempt waits for that change.
    /// Returns its id.
    fn remember_pending_delete<T>(&self, uid: &str, res: &Result<T>) -> Option<String> {
        let Err(Error::ChangePending { change_id, .. }) = res else {
            return None;
        };
        self.memory(uid, |m| m.pending_delete = Some(change_id.clone()));
        Some(change_id.clone())
    }

    /// What a successful full reconcile of `uid` at `generation` that wrote `status` leaves in
    /// the context's memory of the object (used by `examples/memory.rs` to measure it).
    #[cfg(feature = "test-util")]
    pub fn remember_reconciled(&self, uid: &str, status: &FailoverRecordStatus, generation: i64) {
        self.writing_status(uid, status);
        self.memory(uid, |m| {
            m.last_full = Some((generation, Instant::now()));
            m.resolved = None;
            m.failures = 0;
        });
    }

    fn forget(&self, uid: &str, meta: &ObjectMeta) {
        if let Some(key) = monitor_key(meta) {
            self.health.forget(&key);
        }
        self.accounts.checks().forget(uid);
        self.memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uid);
    }
}

pub use crate::watched::Watched;

/// How the health monitor knows an object (the reconcile it triggers names the object this way).
fn monitor_key(meta: &ObjectMeta) -> Option<ObjectRef<Watched>> {
    Some(ObjectRef::new(meta.name.as_deref()?).within(meta.namespace.as_deref()?))
}

/// Reconcile one watched object: metadata, spec and status are decoded separately (see
/// [`Watched`]), so a status written by someone else never stops a reconcile, and an object whose
/// spec does not decode is reported, and can still be deleted.
pub async fn reconcile_guarded<R: Route53>(
    watched: Arc<Watched>,
    ctx: Arc<Context<R>>,
) -> Result<Action> {
    if let Claim::NotOurs(why) = claim_of(&watched.metadata, &ctx.settings) {
        tracing::debug!(object = ?watched.metadata.name, %why, "not ours: ignored");
        return Ok(Action::await_change());
    }
    if let Some(obj) = watched.record() {
        if let Some(e) = &watched.status_error {
            discard_status(&watched, e, &ctx).await?;
        }
        return reconcile(Arc::new(obj), ctx).await;
    }
    let error = match &watched.spec {
        Err(e) => text::bounded(e, text::CONDITION_MESSAGE_MAX).into_owned(),
        Ok(_) => String::new(),
    };
    let _timer = ctx.metrics.reconcile_timer();
    if watched.metadata.deletion_timestamp.is_some() {
        if ctx.settings.observe_only {
            // Deletion is left to the installation whose finalizer holds the object.
            return Ok(Action::await_change());
        }
        return release_undecodable(&watched, &ctx).await;
    }
    report_undecodable(&watched, &error, &ctx).await?;
    Err(Error::InvalidSpec(error))
}

fn dynamic_api<R>(meta: &ObjectMeta, ctx: &Context<R>) -> Result<(Api<DynamicObject>, String)> {
    let (Some(ns), Some(name)) = (meta.namespace.as_deref(), meta.name.as_deref()) else {
        return Err(Error::MissingField("metadata.name"));
    };
    let ar = ApiResource::erase::<FailoverRecord>(&());
    Ok((
        Api::namespaced_with(ctx.client.clone(), ns, &ar),
        name.to_string(),
    ))
}

/// A status the operator cannot read was written by someone else: it is removed (a merge patch of
/// the status subresource), and the reconcile that follows writes the operator's own.
async fn discard_status<R>(watched: &Watched, error: &str, ctx: &Context<R>) -> Result<()> {
    let (api, name) = dynamic_api(&watched.metadata, ctx)?;
    warn!(
        object = %name,
        error = %text::for_log(error),
        "ignoring a status the operator cannot read (written by someone else): it is replaced"
    );
    api.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": null})),
    )
    .await
    .map_err(Error::Kube)?;
    Ok(())
}

/// Deletion of an object whose spec does not decode: what it owns in Route 53 is cleaned up from
/// what can be read of it (health checks by uid, the record pair by name), unless its deletion policy
/// does not read as `Delete`; then the finalizer is released.
async fn release_undecodable<R: Route53>(watched: &Watched, ctx: &Context<R>) -> Result<Action> {
    let meta = &watched.metadata;
    // This installation's finalizer, or the legacy one on an object it claims.
    let ours = ownership::finalizer_name(&ctx.settings.owner_id);
    let mine = |f: &String| *f == ours || f == LEGACY_FINALIZER;
    if !meta.finalizers.iter().flatten().any(mine) {
        return Ok(Action::await_change());
    }
    let uid = meta
        .uid
        .clone()
        .ok_or(Error::MissingField("metadata.uid"))?;
    let (api, name) = dynamic_api(meta, ctx)?;
    let oref = undecodable_ref(meta, &name);
    let span = info_span!("cleanup", object = %format!("{}/{name}", meta.namespace.as_deref().unwrap_or_default()));
    let account = ctx.accounts.for_namespace(
        meta.namespace.as_deref().unwrap_or_default(),
        watched.cleanup.aws_role_arn.as_deref(),
    );
    let notes = if let (true, Err(e)) = (watched.cleanup.deletes(), &account) {
        no_account_cleanup(
            e,
            watched
                .status
                .as_ref()
                .is_some_and(|s| s.hosted_zone_id.is_some()),
        )?
    } else if let (true, Ok(account)) = (watched.cleanup.deletes(), &account) {
        let pending = ctx.memory(&uid, |m| m.pending_delete.clone());
        let res = reconcile::cleanup_undecodable(
            account.route53.as_ref(),
            &ctx.settings.owner_id,
            &uid,
            meta.generation.unwrap_or(1),
            &watched.cleanup,
            pending.as_deref(),
        )
        .instrument(span)
        .await;
        ctx.remember_pending_delete(&uid, &res);
        res?
    } else {
        vec![Note {
            warning: false,
            reason: "Retained",
            message: "deletionPolicy is not Delete: records and health checks left in Route 53"
                .into(),
        }]
    };
    for note in &Note::merged(&notes) {
        publish(ctx, &oref, note).await;
    }
    let rest: Vec<String> = meta
        .finalizers
        .iter()
        .flatten()
        .filter(|f| !mine(f))
        .cloned()
        .collect();
    // The resourceVersion makes the patch conditional: a concurrent finalizer change is retried.
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {
            "finalizers": rest,
            "resourceVersion": meta.resource_version,
        }})),
    )
    .await
    .map_err(Error::Kube)?;
    ctx.metrics.forget_record(&uid);
    ctx.forget(&uid, meta);
    Ok(Action::await_change())
}

fn undecodable_ref(meta: &ObjectMeta, name: &str) -> k8s_openapi::api::core::v1::ObjectReference {
    k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("route53.failover.io/v1alpha1".into()),
        kind: Some("FailoverRecord".into()),
        name: Some(name.into()),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..Default::default()
    }
}

/// An object whose spec cannot be decoded: `Ready=False` and `Stalled=True`, reason `InvalidSpec`, with the decoder's message
/// (written through the dynamic API, since the typed one cannot read the object back), and a Warning
/// Event when that message is new. Nothing is written to Route 53; a finalizer already on the object
/// stays, so deleting it still cleans up what it owns (see [`release_undecodable`]); the status keeps
/// the hosted zone id for that.
async fn report_undecodable<R>(watched: &Watched, error: &str, ctx: &Context<R>) -> Result<()> {
    let meta = &watched.metadata;
    let (api, name) = dynamic_api(meta, ctx)?;
    let name = name.as_str();
    let current = api.get_status(name).await.map_err(Error::Kube)?;
    let conditions: Vec<Condition> = current
        .data
        .pointer("/status/conditions")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default();
    let message = text::bounded(
        &format!("the object cannot be decoded: {error}"),
        text::CONDITION_MESSAGE_MAX,
    )
    .into_owned();
    // Ready=False and Stalled=True, reason InvalidSpec (it waits for a spec change); the other
    // conditions stay as they were.
    let readiness = status::Readiness {
        message: message.clone(),
        ..status::Readiness::failed("InvalidSpec", &Error::InvalidSpec(String::new()))
    };
    let now = Timestamp::now();
    let ready = Condition {
        type_: READY.into(),
        status: readiness.status.into(),
        reason: readiness.reason.into(),
        message: message.clone(),
        observed_generation: meta.generation,
        last_transition_time: conditions
            .iter()
            .find(|c| c.type_ == READY && c.status == readiness.status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)),
    };
    let progress = status::progress_condition(
        &conditions,
        &readiness,
        meta.generation,
        now,
        ctx.settings.slow_retry,
    );
    let next: Vec<Condition> = std::iter::once(ready)
        .chain(progress)
        .chain(
            conditions
                .iter()
                .filter(|c| ![READY, RECONCILING, STALLED].contains(&c.type_.as_str()))
                .cloned(),
        )
        .collect();
    let observed = current
        .data
        .pointer("/status/observedGeneration")
        .and_then(serde_json::Value::as_i64);
    if next == conditions && observed == meta.generation {
        return Ok(());
    }
    let mut status = json!({"observedGeneration": meta.generation, "conditions": next});
    if let Some(zone) = current
        .data
        .pointer("/status/hostedZoneId")
        .filter(|z| z.is_string())
    {
        status["hostedZoneId"] = zone.clone();
    }
    apply_status(&api, name, status).await?;
    let oref = undecodable_ref(meta, name);
    publish(
        ctx,
        &oref,
        &Note {
            warning: true,
            reason: "InvalidSpec",
            message,
        },
    )
    .await;
    Ok(())
}

/// Whether this installation handles the object (see [`crate::ownership`]).
fn claim_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    settings: &Settings,
) -> Claim {
    ownership::claim(
        &settings.owner_id,
        settings.claim_unannotated,
        meta.annotations
            .as_ref()
            .and_then(|a| a.get(OWNER_ANNOTATION))
            .map(String::as_str),
        meta.finalizers.iter().flatten(),
    )
}

/// Reconcile one FailoverRecord.
///
/// An object that is not this installation's is ignored: no status, finalizer or Route 53 write. One
/// that carries the legacy finalizer is cleaned up under it too, and the legacy finalizer removed then.
pub async fn reconcile<R: Route53>(
    obj: Arc<FailoverRecord>,
    ctx: Arc<Context<R>>,
) -> Result<Action> {
    let ns = obj
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    if let Claim::NotOurs(why) = claim_of(&obj.metadata, &ctx.settings) {
        tracing::debug!(object = %format!("{ns}/{}", obj.name_any()), %why, "not ours: ignored");
        if let Some(uid) = obj.uid() {
            ctx.metrics.forget_record(&uid);
            ctx.forget(&uid, &obj.metadata);
        }
        return Ok(Action::await_change());
    }
    let _timer = ctx.metrics.reconcile_timer();
    let api: Api<FailoverRecord> = Api::namespaced(ctx.client.clone(), &ns);
    let span = info_span!("reconcile", object = %format!("{ns}/{}", obj.name_any()), generation = obj.metadata.generation, full = field::Empty);
    if ctx.settings.observe_only {
        // Observe-only never adds or removes a finalizer: an installation with the same owner id
        // shares its name, and releasing it here would skip that installation's cleanup. A
        // deleted object is left to whoever holds it; a live one gets status and Events.
        if obj.metadata.deletion_timestamp.is_some() {
            tracing::debug!(object = %format!("{ns}/{}", obj.name_any()), "observe-only: deletion left to the finalizer's holder");
            return Ok(Action::await_change());
        }
        return apply(obj, &api, &ctx).instrument(span).await;
    }
    let ours = ownership::finalizer_name(&ctx.settings.owner_id);
    let has = |f: &str| obj.finalizers().iter().any(|x| x == f);
    if obj.metadata.deletion_timestamp.is_some() && has(LEGACY_FINALIZER) {
        // Made before finalizers carried the owner id: clean up, then release both finalizers.
        return async {
            let action = cleanup(obj.clone(), &ctx).await?;
            remove_finalizers(&api, &obj, &[LEGACY_FINALIZER, &ours]).await?;
            Ok(action)
        }
        .instrument(span)
        .await;
    }
    finalizer(&api, &ours, obj, |event| async {
        match event {
            Finalizer::Apply(o) => apply(o, &api, &ctx).await,
            Finalizer::Cleanup(o) => cleanup(o, &ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Remove finalizers with a merge patch carrying the object's resourceVersion, so a concurrent
/// change of the list makes the patch fail (409, retried) instead of dropping another entry.
async fn remove_finalizers(
    api: &Api<FailoverRecord>,
    obj: &FailoverRecord,
    names: &[&str],
) -> Result<()> {
    let rest: Vec<&String> = obj
        .finalizers()
        .iter()
        .filter(|f| !names.contains(&f.as_str()))
        .collect();
    let patch = json!({
        "metadata": {
            "finalizers": rest,
            "resourceVersion": obj.resource_version(),
        }
    });
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(Error::Kube)?;
    Ok(())
}

async fn apply<R: Route53>(
    obj: Arc<FailoverRecord>,
    api: &Api<FailoverRecord>,
    ctx: &Context<R>,
) -> Result<Action> {
    let uid = obj.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let generation = obj.metadata.generation.unwrap_or(0);
    let prev = obj.status.as_ref();
    let s = &ctx.settings;
    // Endpoint targets are resolved from the live Kubernetes objects before anything else: the
    // rest of the pipeline sees the spec with values or aliases in their place.
    let (spec, unresolved) = match target_watch::resolve_spec(
        &ctx.client,
        &obj.namespace().unwrap_or_default(),
        &obj.spec,
        prev,
        &s.target_namespaces,
        ctx.gateway_api.load(std::sync::atomic::Ordering::Acquire),
    )
    .await
    {
        Ok(None) => (std::borrow::Cow::Borrowed(&obj.spec), None),
        Ok(Some(resolved)) => (std::borrow::Cow::Owned(resolved), None),
        Err(Ok(e)) => (
            std::borrow::Cow::Borrowed(&obj.spec),
            Some(target_refused(generation, e)),
        ),
        Err(Err(e)) => (
            std::borrow::Cow::Borrowed(&obj.spec),
            Some(reconcile::SyncOutcome {
                observation: None,
                result: Err(Error::Kube(e)),
                notes: Vec::new(),
            }),
        ),
    };
    // A target whose address changed since the last full reconcile needs a full one now (the
    // watch of the object triggered this reconcile; waiting for the resync would delay it).
    let resolved_hash = match (&spec, &unresolved) {
        (std::borrow::Cow::Owned(r), None) => Some(spec_hash(r)),
        _ => None,
    };
    let ready_true = status::find_condition(prev, READY).is_some_and(|c| c.status == "True");
    let full = ctx.memory(&uid, |m| {
        (match m.last_full {
            Some((g, at)) => g != generation || at.elapsed() >= s.resync,
            None => true,
        }) || m.resolved != resolved_hash
    }) || !ready_true
        || prev.and_then(|p| p.observed_generation) != Some(generation)
        || prev
            .and_then(|p| p.change.as_ref())
            .is_some_and(|c| c.status != "INSYNC");
    tracing::Span::current().record("full", full);
    // Tags are checked until a full reconcile of this generation has succeeded in this process.
    let check_tags = full && ctx.memory(&uid, |m| m.last_full.is_none_or(|(g, _)| g != generation));
    let object_ref = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    // The account comes first (no Route 53 call without one the namespace may use), then an
    // endpoint target that cannot be used, then the namespace policy, judged before anything is
    // read for writing or written.
    let account = ctx.accounts.for_namespace(
        &obj.namespace().unwrap_or_default(),
        obj.spec.aws_role_arn.as_deref(),
    );
    let (out, account_key) = match account {
        Err(e) => (
            policy::refused(generation, accounts::ROLE_NOT_ALLOWED, e),
            None,
        ),
        Ok(account) => {
            let out = match unresolved {
                Some(refused) => refused,
                None => {
                    sync_in(
                        ctx,
                        &account.route53,
                        &obj,
                        &spec,
                        prev,
                        &uid,
                        generation,
                        full,
                        check_tags,
                        &object_ref,
                    )
                    .await
                }
            };
            // A change still propagating: the change watch polls it (once for every object in
            // it) and triggers this object when it is INSYNC.
            if let (Ok(true), Some((change, false)), Some(key)) = (
                &out.result,
                out.observation.as_ref().and_then(|o| o.change.as_ref()),
                monitor_key(&obj.metadata),
            ) {
                ctx.changes
                    .wait(&account.key, &account.route53, change, key);
            }
            (out, Some(account.key))
        }
    };
    // A transient failure before this generation was ever reported: Reconciling, so that kstatus
    // does not take an object without status for Current. It is retried: no Warning Event, and the
    // health monitor keeps the checks it watches.
    let retried = match (&out.observation, &out.result) {
        (None, Err(e)) => status::retrying(prev, generation, e),
        _ => None,
    };
    let announce = match retried {
        Some(_) => None,
        None => out.result.as_ref().err(),
    };
    let oref = obj.object_ref(&());
    for note in &Note::merged(&out.notes) {
        publish(ctx, &oref, note).await;
    }
    if let Some(observation) = out.observation.as_ref().or(retried.as_ref()) {
        if let (Some(key), None) = (monitor_key(&obj.metadata), &retried) {
            let ids: Vec<String> = observation
                .endpoints
                .iter()
                .flatten()
                .filter_map(|e| e.1.clone())
                .collect();
            // The health source reads each check in the account of the object that uses it.
            ctx.accounts.checks().set(
                &uid,
                account_key.as_deref().unwrap_or_default(),
                ids.clone(),
            );
            ctx.health.watch(&key, ids);
        }
        let mut observation = observation.clone();
        if let Some(sw) = observation.switch.as_mut() {
            if let Some((by, at)) = crate::switch::who_set_mode(&obj.metadata) {
                sw.set_by = Some(by);
                sw.set_at = at;
            }
        }
        let next = next_status(prev, &observation, Timestamp::now(), s.slow_retry);
        announce_transitions(ctx, &oref, prev, &next, announce).await;
        ctx.metrics
            .set_record_state(&uid, &object_labels(&obj), record_state(&next));
        if prev != Some(&next) {
            ctx.writing_status(&uid, &next);
            apply_status(api, &obj.name_any(), &next).await?;
        }
    }
    out.result?;
    ctx.memory(&uid, |m| {
        if full {
            m.last_full = Some((generation, Instant::now()));
            m.resolved = resolved_hash;
        }
        m.failures = 0;
    });
    if full {
        let now = Timestamp::now().as_millisecond() as f64 / 1000.0;
        ctx.metrics
            .record_full_sync(&uid, &object_labels(&obj), now);
    }
    // Health changes trigger a reconcile from the health monitor, and a propagating change's INSYNC
    // from the change watch; otherwise the next one is the resync.
    Ok(Action::requeue(s.resync))
}

/// One apply in the object's account: the namespace policy's gate, then the sync (or the
/// observe-only sync).
#[allow(clippy::too_many_arguments)]
async fn sync_in<R: Route53>(
    ctx: &Context<R>,
    route53: &Arc<R>,
    obj: &FailoverRecord,
    spec: &crate::crd::FailoverRecordSpec,
    prev: Option<&FailoverRecordStatus>,
    uid: &str,
    generation: i64,
    full: bool,
    check_tags: bool,
    object_ref: &str,
) -> reconcile::SyncOutcome {
    let s = &ctx.settings;
    if let Some(denied) = policy_gate(ctx, route53.as_ref(), obj, spec, uid, generation).await {
        return denied;
    }
    let input = SyncInput {
        owner: &s.owner_id,
        uid,
        generation,
        object_ref,
        spec,
        status: prev,
        full,
        check_tags,
        health: ctx.health.as_ref(),
    };
    if s.observe_only {
        reconcile::sync_observe(route53.as_ref(), input).await
    } else {
        reconcile::sync(route53.as_ref(), input).await
    }
}

/// The namespace policy's verdict ([`policy::gate`]), judged before anything is read for writing
/// or written in Route 53: `None` when there is no policy or it allows the object.
async fn policy_gate<R: Route53>(
    ctx: &Context<R>,
    route53: &R,
    obj: &FailoverRecord,
    spec: &crate::crd::FailoverRecordSpec,
    uid: &str,
    generation: i64,
) -> Option<reconcile::SyncOutcome> {
    let s = &ctx.settings;
    let p = s.namespace_policy.as_ref()?;
    let ns = obj.namespace().unwrap_or_default();
    policy::gate(p, route53, &ns, spec, &s.owner_id, uid, generation).await
}

async fn cleanup<R: Route53>(obj: Arc<FailoverRecord>, ctx: &Context<R>) -> Result<Action> {
    let uid = obj.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let oref = obj.object_ref(&());
    if obj.spec.deletion_policy == crate::crd::DeletionPolicy::Retain {
        info!("deletionPolicy Retain: leaving Route 53 untouched");
        publish(
            ctx,
            &oref,
            &Note {
                warning: false,
                reason: "Retained",
                message: "deletionPolicy Retain: records and health checks left in Route 53".into(),
            },
        )
        .await;
    } else {
        let account = match ctx.accounts.for_namespace(
            &obj.namespace().unwrap_or_default(),
            obj.spec.aws_role_arn.as_deref(),
        ) {
            Ok(a) => a,
            Err(e) => {
                let wrote = obj
                    .status
                    .as_ref()
                    .is_some_and(|s| s.hosted_zone_id.is_some());
                for note in &no_account_cleanup(&e, wrote)? {
                    publish(ctx, &oref, note).await;
                }
                ctx.metrics.forget_record(&uid);
                ctx.forget(&uid, &obj.metadata);
                return Ok(Action::await_change());
            }
        };
        // A DELETE an earlier attempt left propagating (remembered here, and in status so that a
        // restart remembers it too), or a change of the last apply still propagating.
        let pending = ctx.memory(&uid, |m| m.pending_delete.clone()).or_else(|| {
            obj.status
                .as_ref()
                .and_then(|s| s.change.as_ref())
                .filter(|c| c.status != "INSYNC")
                .map(|c| c.id.clone())
        });
        let res = reconcile::cleanup(
            account.route53.as_ref(),
            &ctx.settings.owner_id,
            &uid,
            obj.metadata.generation.unwrap_or(0),
            &obj.spec,
            obj.status.as_ref(),
            pending.as_deref(),
        )
        .await;
        if let Some(change_id) = ctx.remember_pending_delete(&uid, &res) {
            if let Some(key) = monitor_key(&obj.metadata) {
                ctx.changes
                    .wait(&account.key, &account.route53, &change_id, key);
            }
            if let (Some(ns), Some(prev)) = (obj.namespace(), obj.status.as_ref()) {
                let mut next = prev.clone();
                next.change = Some(crate::crd::ChangeStatus {
                    id: change_id.clone(),
                    status: "PENDING".into(),
                });
                let api: Api<FailoverRecord> = Api::namespaced(ctx.client.clone(), &ns);
                ctx.writing_status(&uid, &next);
                if let Err(e) = apply_status(&api, &obj.name_any(), &next).await {
                    warn!(error = %text::for_log(&e.to_string()), "could not record the pending DELETE in status");
                }
            }
        }
        let notes = res?;
        for note in &Note::merged(&notes) {
            publish(ctx, &oref, note).await;
        }
    }
    ctx.metrics.forget_record(&uid);
    ctx.forget(&uid, &obj.metadata);
    Ok(Action::await_change())
}

/// The deletion of an object whose namespace has no account it may use: when nothing was ever
/// written for it (no hosted zone id in status: it was refused from the start), the finalizer is
/// released with a note; otherwise what it owns is in an account the operator cannot reach now
/// (the mapping changed), and the error keeps the finalizer until the mapping gives it back.
fn no_account_cleanup(error: &Error, wrote: bool) -> Result<Vec<Note>> {
    if wrote {
        return Err(Error::RoleNotAllowed(format!(
            "cannot clean up Route 53: {}",
            error.inner()
        )));
    }
    Ok(vec![Note {
        warning: false,
        reason: accounts::ROLE_NOT_ALLOWED,
        message:
            "no AWS role for this object: nothing was written to Route 53, nothing to clean up"
                .into(),
    }])
}

/// An endpoint target that cannot be used (yet): `Ready=False` with the target's reason, nothing
/// written to Route 53, and what status knows of Route 53 (zone, endpoints, change) kept as it was.
fn target_refused(generation: i64, e: crate::targets::TargetError) -> reconcile::SyncOutcome {
    reconcile::failed(generation, e.reason, Error::Target(e), None)
}

/// Server-side apply of the whole status under the operator's field manager.
async fn apply_status<K>(api: &Api<K>, name: &str, status: impl serde::Serialize) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({
        "apiVersion": "route53.failover.io/v1alpha1",
        "kind": "FailoverRecord",
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::Kube)?;
    Ok(())
}

/// The labels of a record's per-object series.
fn object_labels(obj: &FailoverRecord) -> ObjectLabels {
    ObjectLabels {
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
    }
}

fn record_state(s: &FailoverRecordStatus) -> RecordState {
    RecordState {
        last_failover: s.last_failover_time.as_ref().map(|t| t.0.as_second()),
        active: s.active_role,
        health: Role::ALL.map(|r| s.endpoint(r).map(|e| e.health).unwrap_or_default()),
        ready: match status::find_condition(Some(s), READY).map(|c| c.status.as_str()) {
            Some("True") => "True",
            Some("False") => "False",
            _ => "Unknown",
        },
    }
}

/// Events for failovers and for changes of the Ready condition into a failure state.
async fn announce_transitions<R>(
    ctx: &Context<R>,
    oref: &k8s_openapi::api::core::v1::ObjectReference,
    prev: Option<&FailoverRecordStatus>,
    next: &FailoverRecordStatus,
    error: Option<&Error>,
) {
    let prev_role = prev.and_then(|p| p.active_role);
    if let (Some(from), Some(to)) = (prev_role, next.active_role) {
        if from != to {
            ctx.metrics.failover(to);
            let (reason, why) = match to {
                Role::Secondary => ("FailedOver", "the primary is unhealthy"),
                Role::Primary => (
                    "FailedBack",
                    "the primary is healthy again (or both are unhealthy)",
                ),
            };
            let detail = |e: &Option<crate::crd::EndpointStatus>| {
                e.as_ref()
                    .map(|e| format!("{:?} {}/{}", e.health, e.checkers_healthy, e.checkers_total))
                    .unwrap_or_else(|| "Unknown".into())
            };
            let message = format!(
                "Route 53 now answers with the {} endpoint: {why} (primary {}, secondary {})",
                to.short(),
                detail(&next.primary),
                detail(&next.secondary)
            );
            publish(
                ctx,
                oref,
                &Note {
                    warning: to == Role::Secondary,
                    reason,
                    message,
                },
            )
            .await;
        }
    }
    let before = status::find_condition(prev, READY);
    let after = status::find_condition(Some(next), READY);
    if let (Some(a), Some(e)) = (after, error) {
        let changed = before.is_none_or(|b| b.reason != a.reason || b.message != a.message);
        if a.status == "False" && changed {
            let reason: &'static str = match a.reason.as_str() {
                _ if matches!(e.inner(), Error::Target(_)) => match e.inner() {
                    Error::Target(t) => t.reason,
                    _ => "Target",
                },
                "InvalidSpec" => "InvalidSpec",
                "Conflict" => "Conflict",
                "ZoneNotFound" => "ZoneNotFound",
                policy::NOT_ALLOWED => policy::NOT_ALLOWED,
                accounts::ROLE_NOT_ALLOWED => accounts::ROLE_NOT_ALLOWED,
                _ => "Route53Error",
            };
            publish(
                ctx,
                oref,
                &Note {
                    warning: true,
                    reason,
                    message: a.message.clone(),
                },
            )
            .await;
        }
    }
}

async fn publish<R>(
    ctx: &Context<R>,
    oref: &k8s_openapi::api::core::v1::ObjectReference,
    note: &Note,
) {
    // Every Event is also a log line, inside the reconcile's span.
    let message = text::for_log(&note.message);
    if note.warning {
        warn!(reason = note.reason, "{message}");
    } else {
        info!(reason = note.reason, "{message}");
    }
    let ev = Event {
        type_: if note.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: note.reason.into(),
        note: Some(text::bounded(&note.message, text::EVENT_NOTE_MAX).into_owned()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, oref).await {
        warn!(error = %e, reason = note.reason, "failed to publish event");
    }
}

/// Decide when to retry a failed reconcile.
pub fn error_policy<R>(obj: Arc<Watched>, error: &Error, ctx: Arc<Context<R>>) -> Action {
    ctx.metrics
        .reconcile_errors
        .get_or_create(&crate::metrics::ErrorLabels {
            error: error.metric_label(),
        })
        .inc();
    let uid = obj.uid().unwrap_or_default();
    let s = &ctx.settings;
    let shown = text::for_log(&error.to_string()).into_owned();
    match error.retry() {
        Retry::AwaitChange => {
            warn!(object = %obj.name_any(), error = %shown, "waiting for a spec change");
            Action::await_change()
        }
        Retry::Slow => {
            warn!(object = %obj.name_any(), error = %shown, "retrying slowly");
            Action::requeue(s.slow_retry)
        }
        Retry::Backoff => {
            let n = ctx.memory(&uid, |m| {
                m.failures = m.failures.saturating_add(1);
                m.failures
            });
            let delay = backoff(n, s.backoff_base, s.backoff_cap);
            warn!(object = %obj.name_any(), error = %shown, attempt = n, ?delay, "retrying with backoff");
            Action::requeue(delay)
        }
    }
}

/// Run the controller until `shutdown` resolves.
///
/// `ready(true)` is called once the first watch list is in; `ready(false)` when the watch fails (the
/// API server is down or unreachable), and `ready(true)` again as soon as FailoverRecords can be
/// listed. The watch is retried with [`WatchBackoff`]: at most a few seconds between attempts, so
/// changes made during an API outage are seen seconds after it ends.
pub async fn run<R: Route53, S: HealthSource>(
    ctx: Arc<Context<R>>,
    health_source: Arc<S>,
    namespace: Option<String>,
    ready: Arc<dyn Fn(bool) + Send + Sync>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> anyhow_free::Result<()> {
    let api: Api<Watched> = match &namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    // The health monitor reads every check in use on its own schedule and triggers a reconcile of
    // the objects whose health changed; it lives as long as this controller.
    let (health_tx, health_rx) = futures::channel::mpsc::unbounded::<ObjectRef<Watched>>();
    let change_tx = health_tx.clone();
    let monitor = tokio::spawn(ctx.health.clone().run(
        health_source,
        Some(ctx.metrics.clone()),
        move |objects| {
            for o in objects {
                let _ = health_tx.unbounded_send(o);
            }
        },
    ));
    // The change watch polls each propagating change once and triggers the objects waiting for it
    // when it is INSYNC.
    let change_watch = tokio::spawn(ctx.changes.clone().run(
        Some(ctx.metrics.clone()),
        move |objects| {
            for o in objects {
                let _ = change_tx.unbounded_send(o);
            }
        },
    ));
    // The watch feeds the store with every event, but our own status writes (their exact
    // resourceVersion) trigger no reconcile: the reconcile that wrote one has accounted for it.
    let writer = kube::runtime::reflector::store::Writer::<Watched>::default();
    let reader = writer.as_reader();
    let echoes = ctx.clone();
    let trigger = kube::runtime::reflector(
        writer,
        watcher(api, watcher::Config::default().any_semantic()),
    )
    .applied_objects()
    .predicate_filter(
        move |obj: &Watched| Some(echoes.trigger_hash(obj)),
        kube::runtime::PredicateConfig::default(),
    );
    // Services, Ingresses and Gateways trigger the FailoverRecords whose targets name them (found
    // in the FailoverRecord store); the Gateway watch only when the Gateway API is installed.
    let gateway_api = target_watch::gateway_api_installed(&ctx.client).await;
    ctx.gateway_api
        .store(gateway_api, std::sync::atomic::Ordering::Release);
    if gateway_api {
        info!("Gateway API found: Gateway targets are watched");
    } else {
        warn!(
            "the Gateway API ({}/v1 gateways) is not installed: Gateway targets are refused until the operator restarts with it",
            target_watch::GATEWAY_GROUP
        );
    }
    let mut controller = Controller::for_stream(trigger, reader.clone())
        .watches(
            namespaced_or_all::<k8s_openapi::api::core::v1::Service>(&ctx.client, &namespace),
            watcher::Config::default(),
            mapper(reader.clone(), TargetKind::Service),
        )
        .watches(
            namespaced_or_all::<k8s_openapi::api::networking::v1::Ingress>(&ctx.client, &namespace),
            watcher::Config::default(),
            mapper(reader.clone(), TargetKind::Ingress),
        );
    if gateway_api {
        let ar = target_watch::gateway_resource();
        let api: Api<DynamicObject> = match &namespace {
            Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &ar),
            None => Api::all_with(ctx.client.clone(), &ar),
        };
        controller = controller.watches_with(
            api,
            ar,
            watcher::Config::default(),
            mapper(reader.clone(), TargetKind::Gateway),
        );
    }
    let controller = controller
        .with_config(controller::Config::default().concurrency(ctx.settings.concurrency))
        .reconcile_on(health_rx)
        .trigger_backoff(WatchBackoff::default())
        .graceful_shutdown_on(shutdown);
    let store = controller.store();
    let initial = ready.clone();
    let metrics = ctx.metrics.clone();
    let watch_ready = tokio::spawn(async move {
        // The store's readiness signal wakes only its most recent waiter (the controller's own runner
        // also waits on it), so poll with a timeout instead of waiting once.
        loop {
            match tokio::time::timeout(Duration::from_millis(200), store.wait_until_ready()).await {
                Ok(Ok(())) => {
                    initial(true);
                    break;
                }
                Ok(Err(_)) => return,
                Err(_) => {}
            }
        }
        // An object that vanished without a cleanup reconcile (its finalizer removed by hand) has
        // its series removed here. The tracked uids are read before the store: an object is in the
        // store before its first reconcile can track it, so a new object is never dropped.
        loop {
            tokio::time::sleep(METRICS_PRUNE_INTERVAL).await;
            let tracked = metrics.tracked_records();
            let live: std::collections::HashSet<String> =
                store.state().iter().filter_map(|o| o.uid()).collect();
            for uid in tracked.iter().filter(|u| !live.contains(*u)) {
                metrics.forget_record(uid);
            }
        }
    });
    // One probe task at a time re-checks, after a watch error, whether the API server lists again.
    let probing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probe_api: Api<FailoverRecord> = match &namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    info!("controller started");
    controller
        .run(reconcile_guarded, error_policy, ctx)
        .for_each(|res| {
            match res {
                Ok((o, _)) => tracing::debug!(object = %o.name, "reconciled"),
                Err(kube::runtime::controller::Error::ReconcilerFailed(e, o)) => {
                    tracing::debug!(object = %o.name, error = %text::for_log(&e.to_string()), "reconcile failed")
                }
                Err(kube::runtime::controller::Error::QueueError(e)) => {
                    warn!(error = %e, "watch failed: not ready until FailoverRecords can be listed");
                    ready(false);
                    if !probing.swap(true, std::sync::atomic::Ordering::AcqRel) {
                        let (api, ready, probing) =
                            (probe_api.clone(), ready.clone(), probing.clone());
                        tokio::spawn(async move {
                            loop {
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                let lp = ListParams::default().limit(1);
                                let list = api.list_metadata(&lp);
                                if let Ok(Ok(_)) = tokio::time::timeout(PREFLIGHT_TIMEOUT, list).await
                                {
                                    info!("FailoverRecords can be listed again: ready");
                                    ready(true);
                                    probing.store(false, std::sync::atomic::Ordering::Release);
                                    return;
                                }
                            }
                        });
                    }
                }
                Err(e) => warn!(error = %e, "controller error"),
            }
            std::future::ready(())
        })
        .await;
    monitor.abort();
    change_watch.abort();
    watch_ready.abort();
    info!("controller stopped");
    Ok(())
}

fn namespaced_or_all<K>(client: &Client, namespace: &Option<String>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The mapper of a target watch: the FailoverRecords (from the controller's store) whose
/// targets name the object.
fn mapper<O: Resource>(
    store: kube::runtime::reflector::Store<Watched>,
    kind: TargetKind,
) -> impl Fn(O) -> Vec<ObjectRef<Watched>> + Send + Sync + 'static {
    move |o: O| {
        let (Some(ns), Some(name)) = (o.meta().namespace.as_deref(), o.meta().name.as_deref())
        else {
            return Vec::new();
        };
        target_watch::referencing(&store, kind, ns, name)
    }
}

/// How often the series of objects that are gone from the watch are removed (see [`run`]).
const METRICS_PRUNE_INTERVAL: Duration = Duration::from_secs(10);

/// Backoff of the watch after an error: 250 ms doubling to at most 3 s, ±25 % jitter, reset after a
/// minute without errors. client-go's default waits up to 30 s; an operator that owns DNS failover
/// should see changes made during an API outage within seconds of its end.
pub struct WatchBackoff {
    next: Duration,
    last: Option<Instant>,
}

impl Default for WatchBackoff {
    fn default() -> Self {
        WatchBackoff {
            next: WATCH_BACKOFF_MIN,
            last: None,
        }
    }
}

const WATCH_BACKOFF_MIN: Duration = Duration::from_millis(250);
const WATCH_BACKOFF_MAX: Duration = Duration::from_secs(3);

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) > Duration::from_secs(60))
        {
            self.next = WATCH_BACKOFF_MIN;
        }
        self.last = Some(now);
        let base = self.next;
        self.next = (self.next * 2).min(WATCH_BACKOFF_MAX);
        Some(base.mul_f64(0.75 + fastrand::f64() * 0.5))
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = WATCH_BACKOFF_MIN;
    }
}

/// Wait until FailoverRecords can be listed (the CRD is installed, RBAC allows it, the API server
/// answers), retrying with a capped backoff and logging why; returns `false` if `stop` fires first.
///
/// It lists metadata only, so an object whose spec or status the operator's types cannot decode never
/// stops the operator from starting (the watch reports such objects one by one), and it never exits:
/// a missing CRD or an unreachable API server is reported, `/readyz` stays false, and it tries again.
pub async fn preflight(
    client: Client,
    namespace: Option<&str>,
    stop: impl std::future::Future<Output = ()>,
) -> bool {
    let api: Api<FailoverRecord> = match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let mut delay = Duration::from_millis(500);
    tokio::pin!(stop);
    let lp = ListParams::default().limit(1);
    loop {
        let attempt = tokio::time::timeout(PREFLIGHT_TIMEOUT, api.list_metadata(&lp));
        let why = match attempt.await {
            Ok(Ok(_)) => return true,
            Ok(Err(kube::Error::Api(e))) if e.code == 404 => format!(
                "the FailoverRecord CRD is not installed ({}): \
                 `route53-failover-operator crd | kubectl apply --server-side -f -`",
                e.message
            ),
            Ok(Err(kube::Error::Api(e))) if e.code == 403 => format!(
                "not allowed to list FailoverRecords ({}): check the ClusterRole",
                e.message
            ),
            Ok(Err(e)) => format!("cannot list FailoverRecords: {e}"),
            Err(_) => format!(
                "cannot list FailoverRecords: no answer within {}s",
                PREFLIGHT_TIMEOUT.as_secs()
            ),
        };
        tracing::error!(retry_in_ms = delay.as_millis() as u64, "{why}");
        tokio::select! {
            _ = &mut stop => return false,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// Deadline of one start-up list call.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(10);

/// Minimal boxed-error result for start-up functions.
pub mod anyhow_free {
    /// A boxed error.
    pub type Error = Box<dyn std::error::Error + Send + Sync>;
    /// Result with a boxed error.
    pub type Result<T> = std::result::Result<T, Error>;
}

fn spec_hash(spec: &crate::crd::FailoverRecordSpec) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(spec).unwrap_or_default().hash(&mut h);
    h.finish()
}

fn status_hash(status: Option<&FailoverRecordStatus>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&status)
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

/// The hash [`Context::trigger_hash`] compares: `status` is `None` when it is our own.
fn trigger_hash(meta: &ObjectMeta, status: Option<(u64, Option<&str>)>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    meta.generation.hash(&mut h);
    meta.labels.hash(&mut h);
    meta.annotations.hash(&mut h);
    meta.finalizers.hash(&mut h);
    meta.deletion_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .hash(&mut h);
    status.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsroles_cleanup_without_an_account_releases_only_what_never_wrote() {
        let e = Error::RoleNotAllowed("namespace x has no AWS role".into());
        let notes = no_account_cleanup(&e, false).expect("nothing written: released");
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].reason, accounts::ROLE_NOT_ALLOWED);
        assert!(!notes[0].warning);
        // Written before the mapping changed: the finalizer stays until the role is back.
        let err = no_account_cleanup(&e, true).expect_err("kept");
        assert!(matches!(err, Error::RoleNotAllowed(ref m) if m.contains("namespace x")));
        assert_eq!(err.retry(), Retry::AwaitChange);
    }
    use std::collections::BTreeMap;

    /// The watch drops the last-applied annotation ([`crate::watched`]): an annotation that is kept
    /// (the owner claim) still changes the trigger hash; the dropped one is no news.
    #[test]
    fn kept_annotations_still_change_the_trigger_hash() {
        let watched = |annotations: serde_json::Value| -> Watched {
            serde_json::from_value(json!({
                "metadata": {"name": "a", "namespace": "n", "uid": "u", "generation": 1,
                             "annotations": annotations},
                "spec": {},
            }))
            .expect("decodes")
        };
        let last = crate::watched::LAST_APPLIED_ANNOTATION;
        let base = watched(json!({last: "{\"v\":1}", OWNER_ANNOTATION: "a"}));
        let claimed = watched(json!({last: "{\"v\":1}", OWNER_ANNOTATION: "b"}));
        let reapplied = watched(json!({last: "{\"v\":2}", OWNER_ANNOTATION: "a"}));
        let h = |w: &Watched| trigger_hash(&w.metadata, None);
        assert_ne!(h(&base), h(&claimed));
        assert_eq!(h(&base), h(&reapplied));
    }

    #[test]
    fn only_news_other_than_our_own_status_changes_the_trigger_hash() {
        let meta = ObjectMeta {
            generation: Some(1),
            ..ObjectMeta::default()
        };
        let ours = trigger_hash(&meta, None);
        // Our own status write (whatever it holds) is no news; metadata.resourceVersion is ignored.
        let mut rv = meta.clone();
        rv.resource_version = Some("42".into());
        assert_eq!(trigger_hash(&rv, None), ours);
        // A spec change, a deletion, an annotation (owner claim), a finalizer: news.
        let mut changed = meta.clone();
        changed.generation = Some(2);
        assert_ne!(trigger_hash(&changed, None), ours);
        let mut annotated = meta.clone();
        annotated.annotations = Some(BTreeMap::from([("a".to_string(), "b".to_string())]));
        assert_ne!(trigger_hash(&annotated, None), ours);
        let mut finalized = meta.clone();
        finalized.finalizers = Some(vec!["x".into()]);
        assert_ne!(trigger_hash(&finalized, None), ours);
        // A status someone else wrote: news, and each different one again.
        let foreign = trigger_hash(&meta, Some((status_hash(None), None)));
        assert_ne!(foreign, ours);
        let other = FailoverRecordStatus {
            observed_generation: Some(7),
            ..FailoverRecordStatus::default()
        };
        assert_ne!(
            trigger_hash(&meta, Some((status_hash(Some(&other)), None))),
            foreign
        );
        assert_eq!(status_hash(Some(&other)), status_hash(Some(&other.clone())));
    }
}
