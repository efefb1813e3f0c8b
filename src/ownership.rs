//! Which installation handles an object, and the finalizer it guards it with.
//!
//! Several installations (distinct `--owner-id`s) may watch the same objects. An object is claimed by
//! the annotation [`OWNER_ANNOTATION`]; objects without it belong to the installation started with
//! `--claim-unannotated`. An installation only ever adds its own finalizer ([`finalizer_name`]) and
//! never writes status, finalizers or Route 53 for an object that is another installation's: claimed
//! for another owner id, or carrying another installation's finalizer.

use sha2::{Digest, Sha256};

use crate::crd::GROUP;

/// Annotation naming the owner id of the installation that handles the object.
pub const OWNER_ANNOTATION: &str = "route53.failover.io/owner";

/// The finalizer of versions before owner ids were in the finalizer name. It is recognised as ours on
/// objects this installation claims, and removed when it cleans such an object up.
pub const LEGACY_FINALIZER: &str = "route53.failover.io/cleanup";

/// Name part of every per-installation finalizer: `route53.failover.io/cleanup-<owner>`.
const FINALIZER_NAME_PREFIX: &str = "cleanup-";

/// The finalizer of the installation with this owner id: `route53.failover.io/cleanup-<owner-id>`, a
/// valid qualified name for every owner id `--owner-id` accepts when the id ends with a letter or
/// digit; otherwise `route53.failover.io/cleanup-h.<8 hex digits of its SHA-256>`.
pub fn finalizer_name(owner: &str) -> String {
    let ends_alnum = owner
        .bytes()
        .last()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    let valid = ends_alnum
        && owner.len() + FINALIZER_NAME_PREFIX.len() <= 63
        && owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if valid {
        format!("{GROUP}/{FINALIZER_NAME_PREFIX}{owner}")
    } else {
        let digest = Sha256::digest(owner.as_bytes());
        let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("{GROUP}/{FINALIZER_NAME_PREFIX}h.{hex}")
    }
}

/// Whether this installation handles the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Ours: reconcile it.
    Ours,
    /// Another installation's (or nobody's): leave it alone, say why in a debug log.
    NotOurs(String),
}

/// Decide whether the installation `owner` handles an object with these annotations and finalizers.
pub fn claim<'a>(
    owner: &str,
    claim_unannotated: bool,
    owner_annotation: Option<&str>,
    finalizers: impl IntoIterator<Item = &'a String>,
) -> Claim {
    match owner_annotation {
        Some(a) if a != owner => {
            return Claim::NotOurs(format!("claimed by owner id {a:?} ({OWNER_ANNOTATION})"));
        }
        None if !claim_unannotated => {
            return Claim::NotOurs(format!(
                "no {OWNER_ANNOTATION} annotation and --claim-unannotated is false"
            ));
        }
        _ => {}
    }
    let ours = finalizer_name(owner);
    let prefix = format!("{GROUP}/{FINALIZER_NAME_PREFIX}");
    if let Some(other) = finalizers
        .into_iter()
        .find(|f| f.starts_with(&prefix) && **f != ours)
    {
        return Claim::NotOurs(format!("carries another installation's finalizer {other}"));
    }
    Claim::Ours
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finalizer_names_carry_the_owner_and_are_qualified_names() {
        assert_eq!(finalizer_name("a"), "route53.failover.io/cleanup-a");
        assert_eq!(
            finalizer_name("prod-eu-1"),
            "route53.failover.io/cleanup-prod-eu-1"
        );
        assert_ne!(finalizer_name("a"), finalizer_name("b"));
        assert_ne!(finalizer_name("a"), LEGACY_FINALIZER);
        let odd = finalizer_name("ends-with-dash-");
        assert!(odd.starts_with("route53.failover.io/cleanup-h."), "{odd}");
        assert_ne!(odd, finalizer_name("ends-with-dash."));
        for owner in ["x".repeat(40), "A_b.c-9".into(), "-".into(), "Z".into()] {
            let f = finalizer_name(&owner);
            let (_, name) = f.split_once('/').expect("qualified");
            assert!(name.len() <= 63, "{f}");
            assert!(
                name.bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
            );
            assert!(
                name.bytes()
                    .last()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
            );
        }
    }

    #[test]
    fn claims_follow_the_annotation_then_the_unannotated_flag() {
        let none: Vec<String> = Vec::new();
        assert_eq!(claim("a", true, None, &none), Claim::Ours);
        assert!(matches!(claim("a", false, None, &none), Claim::NotOurs(_)));
        assert_eq!(claim("a", false, Some("a"), &none), Claim::Ours);
        assert!(matches!(
            claim("a", true, Some("b"), &none),
            Claim::NotOurs(_)
        ));
    }

    #[test]
    fn another_installations_finalizer_means_hands_off() {
        let theirs = names(&["route53.failover.io/cleanup-b"]);
        assert!(matches!(claim("a", true, None, &theirs), Claim::NotOurs(_)));
        assert!(matches!(
            claim("a", true, Some("a"), &theirs),
            Claim::NotOurs(_)
        ));
        let ours = names(&[
            "route53.failover.io/cleanup-a",
            LEGACY_FINALIZER,
            "other.io/x",
        ]);
        assert_eq!(claim("a", true, None, &ours), Claim::Ours);
    }
}
