//! The crate's one error type, and how each kind is retried.

use std::time::Duration;

use kube::runtime::finalizer;

use crate::route53::{Route53Error, Route53ErrorKind};

/// Everything that can fail in a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("Kubernetes API error: {0}")]
    Kube(#[source] kube::Error),

    /// A Route 53 call failed.
    #[error(transparent)]
    Route53(#[from] Route53Error),

    /// The spec breaks a Route 53 rule: waits for a spec change.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),

    /// The namespace policy does not let the object's namespace claim its name or zone: waits for a
    /// spec change (the policy is read at start-up).
    #[error("not allowed by the namespace policy: {0}")]
    NotAllowed(String),

    /// The AWS role the object would use is not one its namespace may use (`--namespace-roles`):
    /// waits for a spec change (the mapping is read at start-up).
    #[error("role not allowed: {0}")]
    RoleNotAllowed(String),

    /// Record sets this object does not own occupy the name.
    #[error("conflict: {0}")]
    Conflict(String),

    /// A health check the spec names (`existingHealthCheckId`) or the records carry does not exist.
    #[error("health check not found: {0}")]
    HealthCheckNotFound(String),

    /// A Route 53 change must reach INSYNC before the next step, and has not yet.
    #[error("change still propagating: {message}")]
    ChangePending {
        /// The change to wait for.
        change_id: String,
        /// What waits for it.
        message: String,
    },

    /// The hosted zone does not exist or is ambiguous.
    #[error("hosted zone: {0}")]
    Zone(String),

    /// The object lacks a field the API server always sets.
    #[error("object has no {0}")]
    MissingField(&'static str),

    /// Status (de)serialisation.
    #[error("serialization error: {0}")]
    Serialization(#[source] serde_json::Error),

    /// The finalizer helper failed (boxed: it wraps this type).
    #[error("finalizer error: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the controller should retry an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Nothing will change until the spec does.
    AwaitChange,
    /// External state may change (a foreign record removed, a zone created): look again slowly.
    Slow,
    /// Throttling or a transient failure: jittered exponential backoff.
    Backoff,
}

impl Error {
    /// Unwrap the finalizer wrapper to the reconcile error inside, if any.
    pub fn inner(&self) -> &Error {
        match self {
            Error::Finalizer(e) => match e.as_ref() {
                finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e.inner(),
                _ => self,
            },
            _ => self,
        }
    }

    /// A bounded metric label: the variant (and Route 53 error kind), never object names or messages.
    pub fn metric_label(&self) -> &'static str {
        match self.inner() {
            Error::Kube(_) => "Kube",
            Error::Route53(e) => match e.kind {
                Route53ErrorKind::Throttled => "Route53Throttled",
                Route53ErrorKind::Transient => "Route53Transient",
                Route53ErrorKind::Conflict => "Route53Conflict",
                Route53ErrorKind::NotFound => "Route53NotFound",
                Route53ErrorKind::Invalid => "Route53Invalid",
                Route53ErrorKind::AccessDenied => "Route53AccessDenied",
                Route53ErrorKind::Other => "Route53Other",
            },
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::Conflict(_) => "Conflict",
            Error::NotAllowed(_) => "NotAllowed",
            Error::RoleNotAllowed(_) => "RoleNotAllowed",
            Error::HealthCheckNotFound(_) => "HealthCheckNotFound",
            Error::ChangePending { .. } => "ChangePending",
            Error::Zone(_) => "Zone",
            Error::MissingField(_) => "MissingField",
            Error::Serialization(_) => "Serialization",
            Error::Finalizer(_) => "Finalizer",
        }
    }

    /// The retry class of this error.
    pub fn retry(&self) -> Retry {
        match self.inner() {
            Error::InvalidSpec(_)
            | Error::NotAllowed(_)
            | Error::RoleNotAllowed(_)
            | Error::MissingField(_)
            | Error::Serialization(_) => Retry::AwaitChange,
            Error::Conflict(_) | Error::Zone(_) | Error::HealthCheckNotFound(_) => Retry::Slow,
            Error::ChangePending { .. } => Retry::Backoff,
            Error::Route53(e) => match e.kind {
                Route53ErrorKind::Throttled
                | Route53ErrorKind::Transient
                | Route53ErrorKind::Other => Retry::Backoff,
                // A version mismatch or a racing change: read again soon.
                Route53ErrorKind::Conflict | Route53ErrorKind::NotFound => Retry::Backoff,
                Route53ErrorKind::Invalid | Route53ErrorKind::AccessDenied => Retry::Slow,
            },
            Error::Kube(_) | Error::Finalizer(_) => Retry::Backoff,
        }
    }
}

/// Full-jitter exponential backoff: a random delay in [base·2^(n-1)/2, base·2^(n-1)], capped.
pub fn backoff(failures: u32, base: Duration, cap: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let top = exp.min(cap);
    let half = top / 2;
    half + top.saturating_sub(half).mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_retry_classes_and_bounded_labels() {
        let thr = Error::Route53(Route53Error::new(
            "GetChange",
            Route53ErrorKind::Throttled,
            "Throttling",
            "Rate exceeded",
        ));
        assert_eq!(thr.retry(), Retry::Backoff);
        assert_eq!(thr.metric_label(), "Route53Throttled");
        assert_eq!(Error::InvalidSpec("x".into()).retry(), Retry::AwaitChange);
        assert_eq!(Error::Conflict("x".into()).retry(), Retry::Slow);
        assert_eq!(Error::NotAllowed("x".into()).retry(), Retry::AwaitChange);
        assert_eq!(Error::NotAllowed("x".into()).metric_label(), "NotAllowed");
        assert_eq!(
            Error::RoleNotAllowed("x".into()).retry(),
            Retry::AwaitChange
        );
        assert_eq!(
            Error::RoleNotAllowed("x".into()).metric_label(),
            "RoleNotAllowed"
        );
        let denied = Error::Route53(Route53Error::new(
            "CreateHealthCheck",
            Route53ErrorKind::AccessDenied,
            "AccessDenied",
            "no",
        ));
        assert_eq!(denied.retry(), Retry::Slow);
        let wrapped = Error::Finalizer(Box::new(finalizer::Error::ApplyFailed(
            Error::InvalidSpec("bad".into()),
        )));
        assert_eq!(wrapped.metric_label(), "InvalidSpec");
        assert_eq!(wrapped.retry(), Retry::AwaitChange);
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(300);
        for n in 1..30 {
            let d = backoff(n, base, cap);
            let top = base.saturating_mul(1 << (n - 1).min(16)).min(cap);
            assert!(d >= top / 2 && d <= top, "n={n} d={d:?} top={top:?}");
        }
    }
}
