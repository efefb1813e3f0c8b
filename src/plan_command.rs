//! The `plan` subcommand: what the operator would change in Route 53 for FailoverRecord manifests.
//!
//! Each object goes through [`reconcile::preview`], the reads and the pure plan of a full reconcile
//! (the controller's own code path, not a re-implementation), against a Route 53 that refuses every
//! write ([`crate::route53::readonly::ReadOnly`]). Ownership is judged as the controller judges it:
//! the same owner id, `--claim-unannotated` and `--namespace-policy`, and the object's
//! `metadata.uid`, which the
//! SetIdentifiers and CallerReferences carry. A manifest without a uid (one not read back from the
//! cluster) is planned as a new object: only a create is right for it, and records of an existing
//! object then show as a conflict.
//!
//! Output, one block per object, stable for equal inputs:
//!
//! ```text
//! FailoverRecord default/www: www.example.test. A in hosted zone Z0123 (owner id e2e)
//!   + CREATE health check (primary): HTTP 52.94.76.10:8080/health every 10s, threshold 1
//!   ~ UPSERT A www.example.test. PRIMARY 192.0.2.11 ttl 60, health check (new) (was: ...)
//!   = no changes
//!   ! conflict: ...
//! ```
//!
//! Exit status ([`exit_code`]): 0 nothing to change, 2 changes, 1 an error or a conflict
//! (`terraform plan -detailed-exitcode`).

use std::collections::HashMap;

use kube::ResourceExt;

use crate::crd::FailoverRecord;
use crate::error::Error;
use crate::health::Reading;
use crate::ownership::{self, Claim, OWNER_ANNOTATION};
use crate::policy::{self, NamespacePolicy};
use crate::reconcile::{self, SyncInput};
use crate::route53::Route53;

/// Exit status: nothing to change.
pub const EXIT_NO_CHANGES: u8 = 0;
/// Exit status: an error or a conflict.
pub const EXIT_ERROR: u8 = 1;
/// Exit status: there are changes.
pub const EXIT_CHANGES: u8 = 2;

/// The uid a manifest without `metadata.uid` is planned with: no existing object has it.
pub const NO_UID: &str = "00000000-0000-0000-0000-000000000000";

/// The verdict on one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Route 53 matches (or the object is not this installation's).
    NoChanges,
    /// Something would change.
    Changes,
    /// A conflict, an invalid spec, a missing zone, a Route 53 error.
    Error,
}

/// The exit status of a run: an error wins, then changes.
pub fn exit_code(verdicts: &[Verdict]) -> u8 {
    if verdicts.contains(&Verdict::Error) {
        EXIT_ERROR
    } else if verdicts.contains(&Verdict::Changes) {
        EXIT_CHANGES
    } else {
        EXIT_NO_CHANGES
    }
}

/// The FailoverRecords of a YAML text: documents separated by `---`, each a FailoverRecord or a
/// `kind: List` of them; empty documents are skipped.
pub fn parse_manifests(text: &str) -> Result<Vec<FailoverRecord>, String> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(doc)
            .map_err(|e| format!("document {}: not YAML: {e}", i + 1))?;
        if value.is_null() {
            continue;
        }
        let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        let items = if kind == "List" || kind.ends_with("List") {
            value
                .get("items")
                .and_then(|v| v.as_sequence())
                .cloned()
                .unwrap_or_default()
        } else {
            vec![value]
        };
        for item in items {
            let kind = item.get("kind").and_then(|k| k.as_str()).unwrap_or("");
            if kind != "FailoverRecord" {
                return Err(format!(
                    "document {}: kind {kind:?} is not FailoverRecord",
                    i + 1
                ));
            }
            let obj: FailoverRecord = serde_yaml::from_value(item)
                .map_err(|e| format!("document {}: not a FailoverRecord: {e}", i + 1))?;
            out.push(obj);
        }
    }
    if out.is_empty() {
        return Err("no FailoverRecord in the input".into());
    }
    Ok(out)
}

/// Settings of a plan: the installation whose view is planned.
#[derive(Clone, Debug)]
pub struct PlanSettings {
    /// Owner id (as `run --owner-id`).
    pub owner_id: String,
    /// As `run --claim-unannotated`.
    pub claim_unannotated: bool,
    /// As `run --namespace-policy`.
    pub namespace_policy: Option<NamespacePolicy>,
}

/// Plan one object: its block of output lines and its verdict. `r53` should refuse writes; nothing
/// here calls one.
pub async fn plan_object<R: Route53>(
    r53: &R,
    settings: &PlanSettings,
    obj: &FailoverRecord,
) -> (Vec<String>, Verdict) {
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    let object_ref = format!("{ns}/{}", obj.name_any());
    let mut lines = Vec::new();
    let claim = ownership::claim(
        &settings.owner_id,
        settings.claim_unannotated,
        obj.annotations().get(OWNER_ANNOTATION).map(String::as_str),
        obj.finalizers().iter(),
    );
    if let Claim::NotOurs(why) = claim {
        lines.push(format!("FailoverRecord {object_ref}:"));
        lines.push(format!(
            "  = no changes: not handled by owner id {}: {why}",
            settings.owner_id
        ));
        return (lines, Verdict::NoChanges);
    }
    let uid = obj.uid();
    let generation = obj.metadata.generation.unwrap_or(1);
    if let Some(p) = &settings.namespace_policy {
        // The controller's gate, before anything is planned.
        let gated = policy::gate(
            p,
            r53,
            &ns,
            &obj.spec,
            &settings.owner_id,
            uid.as_deref().unwrap_or(NO_UID),
            generation,
        )
        .await;
        if let Some(out) = gated {
            lines.push(format!(
                "FailoverRecord {object_ref}: {} (owner id {})",
                obj.spec.name, settings.owner_id
            ));
            lines.push(match out.result {
                Err(Error::NotAllowed(why)) => format!("  ! not allowed: {why}"),
                Err(e) => format!("  ! error: {e}"),
                Ok(_) => "  ! error: refused by the namespace policy".into(),
            });
            return (lines, Verdict::Error);
        }
    }
    let health: HashMap<String, Reading> = HashMap::new();
    let input = SyncInput {
        owner: &settings.owner_id,
        uid: uid.as_deref().unwrap_or(NO_UID),
        generation,
        object_ref: &object_ref,
        spec: &obj.spec,
        status: obj.status.as_ref(),
        full: true,
        // A controller checks the tags of the checks in use on its first reconcile of an object.
        check_tags: true,
        health: &health,
    };
    let result = reconcile::preview(r53, &input).await;
    match &result {
        Ok(p) => lines.push(format!(
            "FailoverRecord {object_ref}: {} {} in hosted zone {} (owner id {})",
            p.name, p.rtype, p.zone_id, settings.owner_id
        )),
        Err(_) => lines.push(format!(
            "FailoverRecord {object_ref}: {} (owner id {})",
            obj.spec.name, settings.owner_id
        )),
    }
    if uid.is_none() {
        lines.push(
            "  note: the manifest has no metadata.uid: planned as a new object (only a create is right; \
             records of an existing object show as a conflict). Plan `kubectl get failoverrecord -o yaml` output to plan an existing one."
                .into(),
        );
    }
    let verdict = match result {
        Ok(p) if p.is_empty() => {
            lines.push("  = no changes".into());
            Verdict::NoChanges
        }
        Ok(p) => {
            lines.extend(p.lines().into_iter().map(|l| format!("  {l}")));
            Verdict::Changes
        }
        Err(Error::Conflict(msg)) => {
            lines.push(format!("  ! conflict: {msg}"));
            Verdict::Error
        }
        Err(e) => {
            lines.push(format!("  ! error: {e}"));
            Verdict::Error
        }
    };
    (lines, verdict)
}

/// Plan every object of `text`: the whole output and the exit status.
pub async fn plan_text<R: Route53>(r53: &R, settings: &PlanSettings, text: &str) -> (String, u8) {
    let objects = match parse_manifests(text) {
        Ok(o) => o,
        Err(e) => return (format!("! error: {e}\n"), EXIT_ERROR),
    };
    let mut out = String::new();
    let mut verdicts = Vec::new();
    for obj in &objects {
        let (lines, verdict) = plan_object(r53, settings, obj).await;
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
        verdicts.push(verdict);
    }
    let count = |v: Verdict| verdicts.iter().filter(|x| **x == v).count();
    out.push_str(&format!(
        "Plan: {} with changes, {} without, {} with errors or conflicts.\n",
        count(Verdict::Changes),
        count(Verdict::NoChanges),
        count(Verdict::Error)
    ));
    (out, exit_code(&verdicts))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
apiVersion: route53.failover.io/v1alpha1
kind: FailoverRecord
metadata: {name: www, namespace: default, uid: 1b4e28ba-2fa1-11d2-883f-0016d3cca427}
spec:
  hostedZone: {name: example.test}
  name: www.example.test
  type: A
  primary: {values: ["192.0.2.10"]}
  secondary: {values: ["192.0.2.20"]}
"#;

    #[test]
    fn manifests_parse_from_documents_and_lists() {
        let two = format!("{ONE}---\n{}", ONE.replace("name: www,", "name: api,"));
        let objs = parse_manifests(&two).expect("two documents");
        assert_eq!(
            objs.iter().map(|o| o.name_any()).collect::<Vec<_>>(),
            ["www", "api"]
        );
        assert_eq!(
            objs[0].uid().as_deref(),
            Some("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
        );
        let list = format!(
            "apiVersion: v1\nkind: List\nitems:\n{}",
            serde_yaml::to_string(&vec![
                serde_yaml::from_str::<serde_yaml::Value>(ONE).expect("yaml")
            ])
            .expect("yaml")
        );
        assert_eq!(parse_manifests(&list).expect("list").len(), 1);
        assert!(parse_manifests("kind: ConfigMap\napiVersion: v1\n").is_err());
        assert!(parse_manifests("---\n").is_err());
    }

    #[test]
    fn errors_win_over_changes() {
        assert_eq!(exit_code(&[Verdict::NoChanges]), 0);
        assert_eq!(exit_code(&[Verdict::NoChanges, Verdict::Changes]), 2);
        assert_eq!(exit_code(&[Verdict::Changes, Verdict::Error]), 1);
    }
}
