//! The admin HTTP server: `/livez`, `/readyz` (ready once the first watch list has arrived) and
//! `/metrics` (OpenMetrics text), which `--metrics-secure` moves to its own HTTPS server
//! ([`crate::secure_metrics`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;

use crate::leader::Fence;
use std::time::Duration;

/// What the admin endpoints read.
pub struct AdminState {
    /// Set once the controller's first watch list is in; cleared while the watch fails.
    pub ready: AtomicBool,
    /// Metrics registry.
    pub registry: Registry,
    /// The leader elector's heartbeat and how old it may get before `/livez` fails (`None` without
    /// leader election).
    pub elector: Option<(Arc<Fence>, Duration)>,
}

/// The admin router: the probes and `/metrics`.
pub fn router(state: Arc<AdminState>) -> Router {
    probes_router(state.clone()).merge(metrics_router(state))
}

/// `/livez` and `/readyz` only (with `--metrics-secure`, `/metrics` is served apart).
pub fn probes_router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// `/metrics` only.
pub fn metrics_router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn livez(State(s): State<Arc<AdminState>>) -> impl IntoResponse {
    if let Some((fence, max)) = &s.elector {
        if fence.since_last_round().is_some_and(|age| age > *max) {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the leader elector is wedged: no Lease round completed in time\n",
            );
        }
    }
    (StatusCode::OK, "ok\n")
}

async fn readyz(State(s): State<Arc<AdminState>>) -> impl IntoResponse {
    // With leader election, a replica whose last Lease round did not reach the API server is not
    // ready either (a standby that cannot reach it could not take over).
    let elector_ok = s.elector.as_ref().is_none_or(|(f, _)| f.last_round_ok());
    if s.ready.load(Ordering::Acquire) && elector_ok {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first watch list\n",
        )
    }
}

async fn metrics(State(s): State<Arc<AdminState>>, headers: HeaderMap) -> impl IntoResponse {
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &s.registry) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            e.to_string(),
        );
    }
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    if openmetrics {
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
    } else {
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            to_prometheus_text(&body),
        )
    }
}

/// Convert OpenMetrics text to the Prometheus 0.0.4 text format, for scrapers that do not ask for
/// OpenMetrics: counter families carry their `_total` suffix in HELP/TYPE, and there is no `# EOF`.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Serve `router` over plain HTTP until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(address = %listener.local_addr()?, "admin server listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_counters_become_prometheus_counters() {
        let om = "# HELP x_reconciles Reconciles.\n# TYPE x_reconciles counter\nx_reconciles_total 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP x_reconciles_total Reconciles.\n# TYPE x_reconciles_total counter\nx_reconciles_total 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n"
        );
    }
}
