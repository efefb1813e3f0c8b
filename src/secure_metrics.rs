//! The protected metrics endpoint (`--metrics-secure`), the way controller-runtime's
//! `filters.WithAuthenticationAndAuthorization` protects it: HTTPS, the caller's bearer token
//! authenticated with a TokenReview and the caller authorized with a SubjectAccessReview of
//! `get` on the non-resource URL `/metrics`, both against the API server. No token, or one the API
//! server does not authenticate: 401; authenticated but not allowed: 403.
//!
//! Verdicts are cached by the token's SHA-256 for a short while (allowed 60 s, denied 10 s), so a
//! scrape every few seconds costs the API server two requests a minute per scraper.
//!
//! The certificate is `tls.crt`/`tls.key` of `--metrics-cert-dir` (read at start-up), or a
//! self-signed one generated at start-up.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::Error;

/// How long an allowed verdict is reused.
const ALLOW_TTL: Duration = Duration::from_secs(60);
/// How long a denied (401/403) verdict is reused.
const DENY_TTL: Duration = Duration::from_secs(10);
/// Most verdicts kept.
const CACHE_MAX: usize = 4096;
/// Deadline of a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Start-up errors of the protected endpoint (certificate files, TLS configuration, binding).
pub type SetupError = Box<dyn std::error::Error + Send + Sync>;

/// Authenticates and authorizes callers against the API server.
pub struct Guard {
    client: kube::Client,
    cache: Mutex<HashMap<[u8; 32], (StatusCode, Instant)>>,
}

impl Guard {
    /// A guard asking the API server `client` talks to.
    pub fn new(client: kube::Client) -> Self {
        Guard {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The verdict for a request with `authorization` (the header's value) on `path`: 200, 401 or
    /// 403; an API server that cannot be asked is an error.
    pub async fn verdict(
        &self,
        authorization: Option<&str>,
        path: &str,
    ) -> Result<StatusCode, Error> {
        // The scheme is case-insensitive (RFC 9110), as the API server's own bearer authenticator has it.
        let Some(token) = authorization
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
        else {
            return Ok(StatusCode::UNAUTHORIZED);
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(path.as_bytes())
            .chain_update([0])
            .chain_update(token.as_bytes())
            .finalize()
            .into();
        let now = Instant::now();
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.retain(|_, (code, at)| now.duration_since(*at) < ttl(*code));
            // Many distinct tokens at once (each already cost the API server two reviews): start over
            // rather than grow.
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            if let Some((code, _)) = cache.get(&key) {
                return Ok(*code);
            }
        }
        let code = self.ask(token, path).await?;
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (code, now));
        Ok(code)
    }

    async fn ask(&self, token: &str, path: &str) -> Result<StatusCode, Error> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: None,
            },
            ..Default::default()
        };
        let reviewed = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(Error::Kube)?;
        let Some(status) = reviewed.status.filter(|s| s.authenticated == Some(true)) else {
            return Ok(StatusCode::UNAUTHORIZED);
        };
        let user = status.user.unwrap_or_default();
        let sar = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username.clone(),
                groups: user.groups.clone(),
                uid: user.uid.clone(),
                extra: user.extra.clone(),
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some(path.to_string()),
                    verb: Some("get".into()),
                }),
                resource_attributes: None,
            },
            ..Default::default()
        };
        let answer = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &sar)
            .await
            .map_err(Error::Kube)?;
        let allowed = answer
            .status
            .is_some_and(|s| s.allowed && s.denied != Some(true));
        if !allowed {
            tracing::debug!(user = ?user.username, path, "metrics request not allowed");
        }
        Ok(if allowed {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        })
    }
}

fn ttl(code: StatusCode) -> Duration {
    if code == StatusCode::OK {
        ALLOW_TTL
    } else {
        DENY_TTL
    }
}

async fn authorize(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match guard.verdict(authorization, req.uri().path()).await {
        Ok(StatusCode::OK) => next.run(req).await,
        Ok(StatusCode::UNAUTHORIZED) => {
            (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response()
        }
        Ok(code) => (code, "Forbidden\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot authorize a metrics request");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot authorize the request\n",
            )
                .into_response()
        }
    }
}

/// `router` behind the guard: every request is authenticated and authorized first.
pub fn protect(router: Router, guard: Arc<Guard>) -> Router {
    router.layer(middleware::from_fn_with_state(guard, authorize))
}

/// The TLS configuration: `tls.crt` and `tls.key` of `cert_dir`, or a self-signed certificate for
/// `localhost` and the pod's host name.
pub fn tls_config(cert_dir: Option<&Path>) -> Result<Arc<ServerConfig>, SetupError> {
    let (certs, key) = match cert_dir {
        Some(dir) => {
            let certs = CertificateDer::pem_file_iter(dir.join("tls.crt"))
                .map_err(|e| format!("{}: {e}", dir.join("tls.crt").display()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{}: {e}", dir.join("tls.crt").display()))?;
            let key = PrivateKeyDer::from_pem_file(dir.join("tls.key"))
                .map_err(|e| format!("{}: {e}", dir.join("tls.key").display()))?;
            (certs, key)
        }
        None => {
            let mut names = vec!["localhost".to_string()];
            if let Ok(host) = std::env::var("HOSTNAME") {
                names.push(host);
            }
            let generated = rcgen::generate_simple_self_signed(names)?;
            (
                vec![generated.cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der())),
            )
        }
    };
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TCP listener whose connections are TLS: handshakes run in their own tasks, so a slow client
/// does not hold up the others.
struct TlsListener {
    local: SocketAddr,
    accepted: tokio::sync::mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    acceptor_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    fn new(tcp: TcpListener, tls: Arc<ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(tls);
        let (tx, accepted) = tokio::sync::mpsc::channel(64);
        let task = tokio::spawn(async move {
            loop {
                let (stream, addr) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(error = %e, "metrics accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, %addr, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            local,
            accepted,
            acceptor_task: task,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(c) => c,
            // The accept task never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Serve `router` over HTTPS on `addr` until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    tls: Arc<ServerConfig>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tcp = TcpListener::bind(addr).await?;
    let listener = TlsListener::new(tcp, tls)?;
    tracing::info!(address = %listener.local, "metrics server listening (HTTPS, authenticated)");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guard whose API server does not answer: a verdict reached without asking it is `Ok`.
    fn unreachable_guard() -> Guard {
        let config = kube::Config::new("http://127.0.0.1:1".parse().expect("url"));
        Guard::new(kube::Client::try_from(config).expect("client"))
    }

    #[tokio::test]
    async fn no_bearer_token_is_401_without_asking_the_api_server() {
        let g = unreachable_guard();
        for header in [
            None,
            Some("Basic dXNlcjpwYXNz"),
            Some("Bearer "),
            Some("Bearer"),
        ] {
            assert_eq!(
                g.verdict(header, "/metrics").await.expect("no API call"),
                StatusCode::UNAUTHORIZED,
                "{header:?}"
            );
        }
        // A token, whatever the scheme's case, is reviewed: here the API server cannot be asked.
        for header in ["Bearer abc", "bearer abc"] {
            assert!(
                g.verdict(Some(header), "/metrics").await.is_err(),
                "{header}"
            );
        }
    }

    #[test]
    fn a_self_signed_certificate_is_made_without_a_cert_dir() {
        tls_config(None).expect("self-signed");
    }

    #[test]
    fn a_cert_dir_with_tls_crt_and_tls_key_is_used() {
        let dir = tempfile::tempdir().expect("tmp");
        let made = rcgen::generate_simple_self_signed(vec!["rfo.example".into()]).expect("cert");
        std::fs::write(dir.path().join("tls.crt"), made.cert.pem()).expect("write");
        std::fs::write(dir.path().join("tls.key"), made.key_pair.serialize_pem()).expect("write");
        tls_config(Some(dir.path())).expect("the files' certificate");
        // A key that does not belong to the certificate is refused at start-up.
        let other = rcgen::KeyPair::generate().expect("key");
        std::fs::write(dir.path().join("tls.key"), other.serialize_pem()).expect("write");
        assert!(tls_config(Some(dir.path())).is_err());
    }

    #[test]
    fn a_cert_dir_without_files_is_an_error_naming_the_file() {
        let dir = std::env::temp_dir().join("rfo-no-certs-here");
        let Err(e) = tls_config(Some(&dir)) else {
            panic!("a missing tls.crt is an error");
        };
        assert!(e.to_string().contains("tls.crt"), "{e}");
    }
}
