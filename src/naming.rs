//! Identifiers that carry ownership into Route 53 itself.
//!
//! Route 53 record sets cannot be tagged, and health checks can only be tagged with an extra call, so
//! ownership is written into the identifiers Route 53 stores and returns on every read:
//!
//! * record sets: `SetIdentifier = "<owner-id>:<object uid>:<role>"`;
//! * health checks: `CallerReference = "frec1-<uid>-<owner8>-<p|s>-<hash>"`, where `<owner8>` is 8 hex
//!   digits of the SHA-256 of the owner id and `<hash>` covers the owner id, the settings Route 53 cannot
//!   change in place and the generation at creation. The same installation, object, role and settings
//!   always give the same reference, so a retried CreateHealthCheck after a crash returns the existing
//!   check instead of creating a second one; another installation watching the same object (same uid)
//!   has another `<owner8>`, so its checks are never taken for ours.
//! * legacy health checks (before owner ids were in the prefix): `frec1-<uid>-<p|s>-<hash12>`. One is
//!   ours only when its hash is the one our owner id gives for its own settings and some generation
//!   up to the current one ([`owned_role`]); otherwise it is left alone.

use sha2::{Digest, Sha256};

use crate::crd::Role;

/// Prefix of every CallerReference the operator creates (any installation, any format).
pub const CALLER_REFERENCE_PREFIX: &str = "frec1-";

/// How many generations back a legacy CallerReference is searched for ([`owned_role`]).
pub const LEGACY_GENERATIONS: i64 = 4096;

/// How many references of the deterministic sequence exist per check ([`caller_reference_attempt`]).
pub const REFERENCE_ATTEMPTS: u32 = 16;

/// SetIdentifier of one record of the pair.
pub fn set_identifier(owner: &str, uid: &str, role: Role) -> String {
    format!("{owner}:{uid}:{}", role.short())
}

/// Whether a SetIdentifier has the shape [`set_identifier`] gives (`<owner-id>:<uid>:<role>`, the uid
/// a Kubernetes UUID): a record of some FailoverRecord, of this installation or another. Such records
/// are never taken over by `spec.adopt`.
pub fn is_set_identifier(id: &str) -> bool {
    let mut parts = id.rsplitn(3, ':');
    let (Some(role), Some(uid), Some(owner)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let uuid = uid.len() == 36
        && uid.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    !owner.is_empty() && uuid && (role == "primary" || role == "secondary")
}

/// 8 hex digits of the SHA-256 of the owner id: the owner's part of a CallerReference.
pub fn owner_hash(owner: &str) -> String {
    hex(&Sha256::digest(owner.as_bytes()), 4)
}

/// The CallerReference prefix shared by the health checks of one object made by any installation, in
/// any format: list with this, then keep only what [`owned_role`] proves ours.
pub fn caller_reference_object_prefix(uid: &str) -> String {
    format!("{CALLER_REFERENCE_PREFIX}{uid}-")
}

/// The CallerReference prefix of this installation's health checks of one object (any role).
pub fn caller_reference_owner_prefix(owner: &str, uid: &str) -> String {
    format!(
        "{}{}-",
        caller_reference_object_prefix(uid),
        owner_hash(owner)
    )
}

/// The CallerReference prefix of one role's health checks of this installation.
pub fn caller_reference_role_prefix(owner: &str, uid: &str, role: Role) -> String {
    format!(
        "{}{}-",
        caller_reference_owner_prefix(owner, uid),
        role_letter(role)
    )
}

/// The CallerReference prefix of this installation's switch gate of one object (the calculated
/// check of `spec.failover`): `frec1-<uid>-<owner8>-g-`. Listed with the object's other checks;
/// [`owned_role`] gives it no role, so the endpoint-check plan never touches it.
pub fn gate_reference_prefix(owner: &str, uid: &str) -> String {
    format!("{}g-", caller_reference_owner_prefix(owner, uid))
}

/// The `attempt`-th CallerReference of the switch gate created at `generation` (deterministic, as
/// [`caller_reference_attempt`]; a gate removed and added again gets a new one).
pub fn gate_caller_reference(owner: &str, uid: &str, generation: i64, attempt: u32) -> String {
    let digest = reference_digest(owner, "CALCULATED|gate", generation, attempt);
    format!("{}{}", gate_reference_prefix(owner, uid), hex(&digest, 5))
}

/// Whether a CallerReference is this installation's gate of this object.
pub fn is_gate_reference(owner: &str, uid: &str, reference: &str) -> bool {
    reference.starts_with(&gate_reference_prefix(owner, uid))
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
    let digest = reference_digest(owner, immutable_key, generation, attempt);
    format!(
        "{}{}",
        caller_reference_role_prefix(owner, uid, role),
        hex(&digest, 5)
    )
}

/// A CallerReference in the legacy format (no owner in the prefix), as earlier versions made them.
pub fn legacy_caller_reference(
    owner: &str,
    uid: &str,
    role: Role,
    immutable_key: &str,
    generation: i64,
    attempt: u32,
) -> String {
    let digest = reference_digest(owner, immutable_key, generation, attempt);
    format!(
        "{}{}-{}",
        caller_reference_object_prefix(uid),
        role_letter(role),
        hex(&digest, 6)
    )
}

fn reference_digest(
    owner: &str,
    immutable_key: &str,
    generation: i64,
    attempt: u32,
) -> sha2::digest::Output<Sha256> {
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
    h.finalize()
}

fn hex(bytes: &[u8], n: usize) -> String {
    bytes.iter().take(n).map(|b| format!("{b:02x}")).collect()
}

/// The role of a health check of this object if it is this installation's, `None` otherwise.
///
/// Current format: the prefix carries our owner hash. Legacy format (`frec1-<uid>-<p|s>-<hash12>`):
/// ours only when the hash is what our owner id gives for the check's own immutable settings
/// (`immutable_key`, read from Route 53) and a generation from `generation` down to
/// `generation - LEGACY_GENERATIONS`; a legacy check of another installation (or one that cannot be
/// proved) is never ours.
pub fn owned_role(
    owner: &str,
    uid: &str,
    reference: &str,
    immutable_key: Option<&str>,
    generation: i64,
) -> Option<Role> {
    let rest = reference.strip_prefix(&caller_reference_object_prefix(uid))?;
    let mut parts = rest.split('-');
    let first = parts.next()?;
    if first == owner_hash(owner) {
        return parse_role(parts.next()?);
    }
    let role = parse_role(first)?;
    let key = immutable_key?;
    let lowest = generation.saturating_sub(LEGACY_GENERATIONS).max(0);
    let proved = (lowest..=generation.max(0)).rev().any(|g| {
        (0..REFERENCE_ATTEMPTS)
            .any(|a| legacy_caller_reference(owner, uid, role, key, g, a) == reference)
    });
    proved.then_some(role)
}

/// Whether a CallerReference of this object has the legacy format (no owner in it).
pub fn is_legacy_reference(uid: &str, reference: &str) -> bool {
    reference
        .strip_prefix(&caller_reference_object_prefix(uid))
        .and_then(|rest| rest.split('-').next())
        .and_then(parse_role)
        .is_some()
}

fn parse_role(letter: &str) -> Option<Role> {
    match letter {
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

    const KEY: &str = "HTTP|30|false|ip";

    fn role_of(owner: &str, reference: &str) -> Option<Role> {
        owned_role(owner, UID, reference, Some(KEY), 5)
    }

    #[test]
    fn caller_reference_is_deterministic_bounded_and_parseable() {
        let a = caller_reference("op", UID, Role::Primary, KEY, 1);
        let b = caller_reference("op", UID, Role::Primary, KEY, 1);
        assert_eq!(a, b);
        assert_eq!(a.len(), 64, "{a}");
        let longest = caller_reference(&"x".repeat(40), UID, Role::Secondary, KEY, i64::MAX);
        assert!(longest.len() <= 64, "{} chars: {longest}", longest.len());
        assert!(a.starts_with(&caller_reference_object_prefix(UID)));
        assert!(a.starts_with(&caller_reference_owner_prefix("op", UID)));
        assert_eq!(role_of("op", &a), Some(Role::Primary));
        let s = caller_reference("op", UID, Role::Secondary, KEY, 1);
        assert_eq!(role_of("op", &s), Some(Role::Secondary));
        assert_ne!(
            a,
            caller_reference("op", UID, Role::Primary, "HTTP|10|false|ip", 1)
        );
        assert_ne!(a, caller_reference("op", UID, Role::Primary, KEY, 2));
        assert_eq!(owned_role("op", "another-uid", &a, Some(KEY), 5), None);
        let a0 = caller_reference_attempt("op", UID, Role::Primary, KEY, 1, 0);
        let a1 = caller_reference_attempt("op", UID, Role::Primary, KEY, 1, 1);
        assert_eq!(a0, a);
        assert_ne!(a1, a);
        assert!(a1.len() <= 64);
        assert_eq!(role_of("op", &a1), Some(Role::Primary));
        assert_eq!(role_of("op", "manual-ref"), None);
        assert!(!is_legacy_reference(UID, &a));
    }

    #[test]
    fn another_owner_never_owns_our_checks() {
        let ours = caller_reference("cluster-a", UID, Role::Primary, KEY, 1);
        let theirs = caller_reference("cluster-b", UID, Role::Primary, KEY, 1);
        assert_ne!(ours, theirs);
        assert_eq!(role_of("cluster-a", &ours), Some(Role::Primary));
        assert_eq!(role_of("cluster-b", &ours), None);
        assert_eq!(role_of("cluster-a", &theirs), None);
        assert!(!theirs.starts_with(&caller_reference_owner_prefix("cluster-a", UID)));
        assert_ne!(owner_hash("cluster-a"), owner_hash("cluster-b"));
    }

    #[test]
    fn legacy_references_are_ours_only_when_our_owner_made_them() {
        let legacy = legacy_caller_reference("cluster-a", UID, Role::Secondary, KEY, 3, 0);
        assert!(legacy.starts_with(&format!("frec1-{UID}-s-")), "{legacy}");
        assert!(is_legacy_reference(UID, &legacy));
        assert_eq!(role_of("cluster-a", &legacy), Some(Role::Secondary));
        assert_eq!(role_of("cluster-b", &legacy), None);
        // Settings that do not match the check's own, or a generation from the future: not proved.
        assert_eq!(
            owned_role("cluster-a", UID, &legacy, Some("TCP|30|false|ip"), 5),
            None
        );
        assert_eq!(owned_role("cluster-a", UID, &legacy, None, 5), None);
        assert_eq!(owned_role("cluster-a", UID, &legacy, Some(KEY), 2), None);
        let retried = legacy_caller_reference("cluster-a", UID, Role::Primary, KEY, 1, 3);
        assert_eq!(role_of("cluster-a", &retried), Some(Role::Primary));
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
    fn operator_set_identifiers_are_recognised_and_others_are_not() {
        for role in Role::ALL {
            assert!(is_set_identifier(&set_identifier("prod-eu-1", UID, role)));
            assert!(is_set_identifier(&set_identifier("a:b", UID, role)));
        }
        for other in [
            "primary",
            "app-primary",
            "Primary",
            &format!(":{UID}:primary"),
            &format!("x:{UID}:tertiary"),
            "x:not-a-uid:primary",
            "x:6f1c2b1e-0000-4000-8000-00000000000g:primary",
        ] {
            assert!(!is_set_identifier(other), "{other}");
        }
    }

    #[test]
    fn set_identifier_fits_route53() {
        let id = set_identifier("route53-failover-operator", UID, Role::Secondary);
        assert!(id.len() <= 128);
        assert!(id.ends_with(":secondary"));
    }
}
