//! Identifiers that carry ownership into Route 53 itself.
//!
//! Route 53 record sets cannot be tagged, and health checks can only be tagged with an extra call, so
//! ownership is written into the identifiers Route 53 stores and returns on every read:
//!
//! * record sets: `SetIdentifier = "<owner-id>:<object uid>:<role>"`;
//! * health checks: `CallerReference = "frec1-<uid>-<p|s>-<hash>"`, where `<hash>` covers the owner id,
//!   the settings Route 53 cannot change in place and the generation at creation. The same object, role
//!   and settings always give the same reference, so a retried CreateHealthCheck after a crash returns
//!   the existing check instead of creating a second one.

use sha2::{Digest, Sha256};

use crate::crd::Role;

/// Prefix of every CallerReference the operator creates.
pub const CALLER_REFERENCE_PREFIX: &str = "frec1-";

/// SetIdentifier of one record of the pair.
pub fn set_identifier(owner: &str, uid: &str, role: Role) -> String {
    format!("{owner}:{uid}:{}", role.short())
}

/// The CallerReference prefix shared by every health check of one object (any role).
pub fn caller_reference_object_prefix(uid: &str) -> String {
    format!("{CALLER_REFERENCE_PREFIX}{uid}-")
}

/// The CallerReference prefix of one role's health checks.
pub fn caller_reference_role_prefix(uid: &str, role: Role) -> String {
    format!(
        "{}{}-",
        caller_reference_object_prefix(uid),
        role_letter(role)
    )
}

/// CallerReference of a new health check (at most 64 characters, as Route 53 requires).
pub fn caller_reference(
    owner: &str,
    uid: &str,
    role: Role,
    immutable_key: &str,
    generation: i64,
) -> String {
    caller_reference_attempt(owner, uid, role, immutable_key, generation, 0)
}

/// The `attempt`-th CallerReference of the same check (attempt 0 is [`caller_reference`]). Route 53
/// refuses the CallerReference of a deleted check for days, so a check deleted out of band is recreated
/// under the next reference of this fixed sequence: deterministic, so a retry after a crash finds the
/// check it created instead of creating another.
pub fn caller_reference_attempt(
    owner: &str,
    uid: &str,
    role: Role,
    immutable_key: &str,
    generation: i64,
    attempt: u32,
) -> String {
    let mut h = Sha256::new();
    h.update(owner.as_bytes());
    h.update([0]);
    h.update(immutable_key.as_bytes());
    h.update([0]);
    h.update(generation.to_le_bytes());
    if attempt > 0 {
        h.update([0]);
        h.update(attempt.to_le_bytes());
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{}{hex}", caller_reference_role_prefix(uid, role))
}

/// The role a CallerReference of this object belongs to, if it is one of ours.
pub fn role_of_caller_reference(uid: &str, reference: &str) -> Option<Role> {
    let rest = reference.strip_prefix(&caller_reference_object_prefix(uid))?;
    match rest.split('-').next()? {
        "p" => Some(Role::Primary),
        "s" => Some(Role::Secondary),
        _ => None,
    }
}

/// Route 53's limit on a change batch comment and on a tag value, in characters.
pub const MAX_COMMENT_OR_TAG_VALUE: usize = 256;

/// `text` within `max` characters: unchanged when it fits, otherwise cut and ended with `~` and 16 hex
/// digits of its SHA-256, so distinct long texts stay distinct and the result is deterministic.
pub fn bounded(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let digest = Sha256::digest(text.as_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let keep = max.saturating_sub(hash.len() + 1);
    let mut out: String = text.chars().take(keep).collect();
    out.push('~');
    out.push_str(&hash);
    out
}

fn role_letter(role: Role) -> &'static str {
    match role {
        Role::Primary => "p",
        Role::Secondary => "s",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0b6a6f2c-8a43-4c1e-9d7a-2f0f1c3b9e11";

    #[test]
    fn caller_reference_is_deterministic_bounded_and_parseable() {
        let a = caller_reference("op", UID, Role::Primary, "HTTP|30|false|ip", 1);
        let b = caller_reference("op", UID, Role::Primary, "HTTP|30|false|ip", 1);
        assert_eq!(a, b);
        assert!(a.len() <= 64, "{} chars: {a}", a.len());
        assert_eq!(role_of_caller_reference(UID, &a), Some(Role::Primary));
        let s = caller_reference("op", UID, Role::Secondary, "HTTP|30|false|ip", 1);
        assert_eq!(role_of_caller_reference(UID, &s), Some(Role::Secondary));
        assert_ne!(
            a,
            caller_reference("op", UID, Role::Primary, "HTTP|10|false|ip", 1)
        );
        assert_ne!(
            a,
            caller_reference("op", UID, Role::Primary, "HTTP|30|false|ip", 2)
        );
        assert_ne!(
            a,
            caller_reference("other", UID, Role::Primary, "HTTP|30|false|ip", 1)
        );
        assert_eq!(role_of_caller_reference("another-uid", &a), None);
        let a0 = caller_reference_attempt("op", UID, Role::Primary, "HTTP|30|false|ip", 1, 0);
        let a1 = caller_reference_attempt("op", UID, Role::Primary, "HTTP|30|false|ip", 1, 1);
        assert_eq!(a0, a);
        assert_ne!(a1, a);
        assert!(a1.len() <= 64);
        assert_eq!(role_of_caller_reference(UID, &a1), Some(Role::Primary));
        assert_eq!(role_of_caller_reference(UID, "manual-ref"), None);
    }

    #[test]
    fn long_texts_are_bounded_deterministically_and_stay_distinct() {
        assert_eq!(bounded("default/app", 256), "default/app");
        let long_a = format!("{}/{}", "n".repeat(63), "a".repeat(253));
        let long_b = format!("{}/{}", "n".repeat(63), "b".repeat(253));
        let a = bounded(&long_a, 256);
        assert_eq!(a.chars().count(), 256);
        assert_eq!(a, bounded(&long_a, 256));
        assert_ne!(a, bounded(&long_b, 256));
        assert!(a.starts_with(&"n".repeat(63)));
        let exact = "x".repeat(256);
        assert_eq!(bounded(&exact, 256), exact);
    }

    #[test]
    fn set_identifier_fits_route53() {
        let id = set_identifier("route53-failover-operator", UID, Role::Secondary);
        assert!(id.len() <= 128);
        assert!(id.ends_with(":secondary"));
    }
}
