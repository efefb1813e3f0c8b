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
        let raw = Raw::deserialize(d)?;
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
