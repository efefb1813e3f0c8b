//! What the controller watches: a FailoverRecord decoded as metadata + spec + status, each on its own.
//!
//! A status the operator cannot read (written by someone else, e.g. an unknown `activeRole`) never
//! makes the object undecodable: it is ignored, reported in the log, and overwritten by the next
//! status write. A spec that does not decode leaves the object reportable (metadata) and deletable
//! (the few fields cleanup needs, read leniently from the raw object).

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::crd::{FailoverRecord, FailoverRecordSpec, FailoverRecordStatus};

/// A watched FailoverRecord.
#[derive(Clone, Debug)]
pub struct Watched {
    /// The object's metadata (always decodes: the API server wrote it).
    pub metadata: ObjectMeta,
    /// The spec, or the decoder's message.
    pub spec: Result<FailoverRecordSpec, String>,
    /// The status, when present and readable.
    pub status: Option<FailoverRecordStatus>,
    /// The decoder's message for a status that is present but unreadable.
    pub status_error: Option<String>,
    /// What cleanup needs, read without decoding the spec.
    pub cleanup: CleanupHints,
}

/// The fields cleanup needs, read leniently (each absent when missing or of the wrong type).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanupHints {
    /// `spec.name`.
    pub name: Option<String>,
    /// `status.hostedZoneId`, else `spec.hostedZone.id`.
    pub zone_id: Option<String>,
    /// `spec.hostedZone.name`.
    pub zone_name: Option<String>,
    /// `spec.deletionPolicy`: `None` when absent (the default, Delete), the raw value otherwise.
    pub deletion_policy: Option<String>,
    /// `spec.awsRoleArn`: the account the object's Route 53 resources are in.
    pub aws_role_arn: Option<String>,
}

impl CleanupHints {
    fn read(spec: &Value, status: &Value) -> Self {
        let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        CleanupHints {
            name: s(spec, "/name"),
            zone_id: s(status, "/hostedZoneId").or_else(|| s(spec, "/hostedZone/id")),
            zone_name: s(spec, "/hostedZone/name"),
            deletion_policy: s(spec, "/deletionPolicy"),
            aws_role_arn: s(spec, "/awsRoleArn"),
        }
    }

    /// Whether Route 53 may be cleaned: only for the `Delete` policy (explicit or default); a policy
    /// that does not read as `Delete` keeps Route 53 untouched.
    pub fn deletes(&self) -> bool {
        self.deletion_policy
            .as_deref()
            .is_none_or(|p| p == "Delete")
    }
}

impl Watched {
    /// The typed object, when its spec decodes (an unreadable status is left out).
    pub fn record(&self) -> Option<FailoverRecord> {
        let spec = self.spec.as_ref().ok()?.clone();
        Some(FailoverRecord {
            metadata: self.metadata.clone(),
            spec,
            status: self.status.clone(),
        })
    }
}

impl<'de> Deserialize<'de> for Watched {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            metadata: ObjectMeta,
            #[serde(default)]
            spec: Value,
            #[serde(default)]
            status: Value,
        }
        let mut raw = Raw::deserialize(d)?;
        slim(&mut raw.metadata);
        let cleanup = CleanupHints::read(&raw.spec, &raw.status);
        let spec = match raw.spec {
            Value::Null => Err("spec is missing".to_string()),
            v => serde_json::from_value(v).map_err(|e| e.to_string()),
        };
        let (status, status_error) = match raw.status {
            Value::Null => (None, None),
            v => match serde_json::from_value(v) {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e.to_string())),
            },
        };
        Ok(Watched {
            metadata: raw.metadata,
            spec,
            status,
            status_error,
            cleanup,
        })
    }
}

/// The annotation in which `kubectl apply` (client-side) keeps the whole object it applied: never
/// read by the operator, and as large as the spec again.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drop what the operator never reads from a watched object's metadata, which the store keeps for
/// every object: the [`LAST_APPLIED_ANNOTATION`], and every `managedFields` entry but those that own
/// `spec.failover.mode`, themselves cut to what [`crate::switch::who_set_mode`] reads
/// ([`crate::switch::mode_entry`]). Every other annotation (the owner claim, `switched-by`), the
/// labels and the finalizers are kept. Writes never send the watched metadata back (status is a
/// server-side apply of its own, finalizers are patched by name), so nothing is lost on the API
/// server.
fn slim(meta: &mut ObjectMeta) {
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
    if let Some(entries) = meta.managed_fields.take() {
        let kept: Vec<_> = entries
            .into_iter()
            .filter_map(crate::switch::mode_entry)
            .collect();
        meta.managed_fields = (!kept.is_empty()).then_some(kept);
    }
}

impl Resource for Watched {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        FailoverRecord::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        FailoverRecord::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        FailoverRecord::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        FailoverRecord::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Value {
        json!({
            "hostedZone": {"name": "example.test"},
            "name": "app.example.test",
            "type": "A",
            "primary": {"values": ["192.0.2.10"]},
            "secondary": {"values": ["192.0.2.20"]},
        })
    }

    fn object(spec: Value, status: Value) -> Value {
        json!({
            "apiVersion": "route53.failover.io/v1alpha1",
            "kind": "FailoverRecord",
            "metadata": {"name": "app", "namespace": "default", "uid": "u-1"},
            "spec": spec,
            "status": status,
        })
    }

    #[test]
    fn an_unreadable_status_leaves_the_object_decodable() {
        let w: Watched = serde_json::from_value(object(
            spec(),
            json!({"activeRole": "Tertiary", "hostedZoneId": "Z1"}),
        ))
        .expect("decodes");
        let rec = w.record().expect("spec decodes");
        assert_eq!(rec.spec.name, "app.example.test");
        assert!(rec.status.is_none());
        assert!(
            w.status_error
                .as_deref()
                .is_some_and(|e| e.contains("Tertiary"))
        );
        assert_eq!(w.cleanup.zone_id.as_deref(), Some("Z1"));
    }

    #[test]
    fn a_readable_status_is_kept() {
        let w: Watched = serde_json::from_value(object(
            spec(),
            json!({"activeRole": "Primary", "observedGeneration": 2}),
        ))
        .expect("decodes");
        assert!(w.status_error.is_none());
        assert_eq!(w.status.and_then(|s| s.observed_generation), Some(2));
    }

    /// managedFields as the API server writes them: `kubectl apply --server-side` owning the spec
    /// (and `spec.failover.mode`), the `switch` subcommand owning the mode later, the operator's
    /// finalizer patch and its status apply.
    fn managed_fields() -> Value {
        let e = json!({});
        json!([
            {"manager": "kubectl", "operation": "Apply", "apiVersion": "route53.failover.io/v1alpha1",
             "time": "2026-11-27T04:00:00Z", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:name": e, "f:type": e, "f:hostedZone": {"f:name": e},
                                     "f:failover": {"f:mode": e, "f:failback": e}}}},
            {"manager": "route53-failover-operator-switch", "operation": "Update",
             "apiVersion": "route53.failover.io/v1alpha1", "time": "2026-11-27T04:01:58Z",
             "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:annotations": {"f:route53.failover.io/switched-by": e}},
                          "f:spec": {"f:failover": {"f:mode": e}}}},
            {"manager": "route53-failover-operator", "operation": "Update",
             "apiVersion": "route53.failover.io/v1alpha1", "time": "2026-11-27T04:02:00Z",
             "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:finalizers": {".": e, "v:\"route53.failover.io/cleanup-a\"": e}}}},
            {"manager": "route53-failover-operator", "operation": "Apply", "subresource": "status",
             "apiVersion": "route53.failover.io/v1alpha1", "time": "2026-11-27T04:03:00Z",
             "fieldsType": "FieldsV1",
             "fieldsV1": {"f:status": {"f:activeRole": e, "f:conditions": {
                 "k:{\"type\":\"Ready\"}": {".": e, "f:status": e, "f:type": e}}}}},
        ])
    }

    #[test]
    fn the_watch_keeps_only_the_managed_fields_entries_that_own_the_switch_mode() {
        let mut obj = object(spec(), Value::Null);
        obj["metadata"]["managedFields"] = managed_fields();
        obj["metadata"]["annotations"] = json!({
            "route53.failover.io/switched-by": "alice",
            "route53.failover.io/owner": "prod",
            LAST_APPLIED_ANNOTATION: "{\"spec\":{}}\n",
        });
        let full: ObjectMeta =
            serde_json::from_value(obj["metadata"].clone()).expect("decodes as ObjectMeta");
        let w: Watched = serde_json::from_value(obj).expect("decodes");
        // who_set_mode reads the same from the slimmed metadata as from the whole of it.
        let who = crate::switch::who_set_mode(&w.metadata).expect("a manager owns the mode");
        assert_eq!(who, crate::switch::who_set_mode(&full).expect("same"));
        assert_eq!(who.0, "alice (via route53-failover-operator-switch)");
        assert_eq!(
            who.1.map(|t| t.0.to_string()).as_deref(),
            Some("2026-11-27T04:01:58Z")
        );
        // Only the two entries that own the mode are kept, with only that field.
        let kept = w.metadata.managed_fields.as_deref().unwrap_or_default();
        let managers: Vec<_> = kept.iter().filter_map(|m| m.manager.as_deref()).collect();
        assert_eq!(managers, ["kubectl", "route53-failover-operator-switch"]);
        for m in kept {
            assert_eq!(
                m.fields_v1.as_ref().map(|f| &f.0),
                Some(&json!({"f:spec": {"f:failover": {"f:mode": {}}}}))
            );
        }
        // The last-applied annotation is dropped; every other annotation is kept.
        let annotations = w.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(
            annotations.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "route53.failover.io/owner",
                "route53.failover.io/switched-by"
            ]
        );
        // Without a mode owner (no spec.failover), nothing of managedFields is kept.
        let mut plain = object(spec(), Value::Null);
        let mut fields = managed_fields();
        fields.as_array_mut().expect("array").remove(1);
        fields[0]["fieldsV1"]["f:spec"]
            .as_object_mut()
            .expect("map")
            .remove("f:failover");
        plain["metadata"]["managedFields"] = fields;
        let w: Watched = serde_json::from_value(plain).expect("decodes");
        assert_eq!(w.metadata.managed_fields, None);
        assert_eq!(crate::switch::who_set_mode(&w.metadata), None);
    }

    #[test]
    fn an_unreadable_spec_keeps_metadata_and_what_cleanup_needs() {
        let mut s = spec();
        s["type"] = json!("MX");
        s["deletionPolicy"] = json!("Retain");
        let w: Watched = serde_json::from_value(object(s, Value::Null)).expect("decodes");
        assert!(w.record().is_none());
        assert!(w.spec.as_ref().is_err_and(|e| e.contains("MX")));
        assert_eq!(w.meta().uid.as_deref(), Some("u-1"));
        assert_eq!(
            w.cleanup,
            CleanupHints {
                name: Some("app.example.test".into()),
                zone_id: None,
                zone_name: Some("example.test".into()),
                deletion_policy: Some("Retain".into()),
                aws_role_arn: None,
            }
        );
        assert!(!w.cleanup.deletes());
        assert!(CleanupHints::default().deletes());
    }
}
