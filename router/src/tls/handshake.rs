//! The HTTPS listener's handshake: read the ClientHello, find a certificate (waiting a
//! bounded time for one ordered on demand), then finish the handshake with the server
//! configuration built once at start.
//!
//! - A ClientHello offering `acme-tls/1` is the CA validating an order: it gets the issuer's
//!   challenge certificate and the connection ends after the handshake.
//! - A host with no exact, wildcard or held certificate, when an issuer is present, waits
//!   for [`OnDemand::obtain`] up to `tls.on_demand_timeout`; then the default certificate,
//!   or the `unrecognized_name` alert when there is none.
//! - Session resumption: tickets (ring's rotating `Ticketer`) and a server session cache of
//!   `tls.session_cache` entries, shared by every worker (one `ServerConfig`; the cache's
//!   mutex is taken once per handshake, never per request).
//!
//! Only TLS 1.2 and 1.3 (rustls has nothing older), ring the only provider.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::ServerSessionMemoryCache;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use crate::metrics::Metrics;
use crate::tls::resolver::{Certificates, ChallengeResolver, Resolver};

/// The ALPN protocol of TLS-ALPN-01 validation (RFC 8737).
const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// A fatal `unrecognized_name` alert as a plaintext TLS record (RFC 8446 §6: level 2,
/// description 112), sent before any ServerHello.
const UNRECOGNIZED_NAME: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[error("TLS configuration: {0}")]
pub struct BuildError(#[from] rustls::Error);

/// The HTTPS listener's handshakes; see the module docs.
#[derive(Debug)]
pub struct Handshaker {
    certs: Arc<Certificates>,
    main: Arc<ServerConfig>,
    challenge: Option<Arc<ServerConfig>>,
    on_demand_timeout: Duration,
    metrics: Arc<Metrics>,
}

/// A finished handshake: the stream, and whether ALPN chose HTTP/2.
pub(crate) type Established = (TlsStream<TcpStream>, bool);

impl Handshaker {
    /// Builds the server configurations once.
    pub fn new(
        certs: Arc<Certificates>,
        session_cache: usize,
        on_demand_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Handshaker, BuildError> {
        let mut main = builder()?.with_no_client_auth().with_cert_resolver(Arc::new(Resolver(certs.clone())));
        main.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        main.session_storage = ServerSessionMemoryCache::new(session_cache);
        main.ticketer = rustls::crypto::ring::Ticketer::new()?;
        let challenge = match certs.on_demand() {
            None => None,
            Some(issuer) => {
                let mut config =
                    builder()?.with_no_client_auth().with_cert_resolver(Arc::new(ChallengeResolver(issuer.clone())));
                config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
                Some(Arc::new(config))
            }
        };
        Ok(Handshaker { certs, main: Arc::new(main), challenge, on_demand_timeout, metrics })
    }

    /// Runs the handshake of a new connection; the ClientHello and the rest of the
    /// handshake each get `limit` (the header-read timeout), the on-demand wait its own.
    /// None: the connection is done (refused, failed, or a validation handshake).
    pub(crate) async fn accept(&self, stream: TcpStream, client: SocketAddr, limit: Duration) -> Option<Established> {
        let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
        let start = match tokio::time::timeout(limit, acceptor).await {
            Ok(Ok(start)) => start,
            Ok(Err(e)) => return self.failed(client, "error", &e),
            Err(_) => return self.failed(client, "timeout", &"no ClientHello in time"),
        };
        let hello = start.client_hello();
        let host = hello.server_name().map(str::to_ascii_lowercase);
        let validation = hello.alpn().is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN));
        if validation {
            return self.validation(start, host.as_deref(), client, limit).await;
        }
        if host.as_deref().and_then(|h| self.certs.matching(h)).is_none() {
            let answer = self.miss(host.as_deref()).await;
            self.metrics.tls_resolver_misses.with_label_values(&[answer]).inc();
            if answer == "alert" {
                let mut io = start.io;
                let _ = tokio::time::timeout(limit, io.write_all(&UNRECOGNIZED_NAME)).await;
                self.metrics.tls_handshakes.with_label_values(&["no_certificate", "none"]).inc();
                tracing::debug!(%client, sni = host.as_deref().unwrap_or(""), "no certificate for the server name");
                return None;
            }
        }
        let stream = match tokio::time::timeout(limit, start.into_stream(self.main.clone())).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return self.failed(client, "error", &e),
            Err(_) => return self.failed(client, "timeout", &"handshake not finished in time"),
        };
        let session = stream.get_ref().1;
        let version = version_label(session.protocol_version());
        let http2 = session.alpn_protocol() == Some(b"h2");
        self.metrics.tls_handshakes.with_label_values(&["ok", version]).inc();
        Some((stream, http2))
    }

    /// No exact, wildcard or held certificate for `host`: waits for the issuer if any,
    /// then says what the ClientHello gets ("on_demand", "default" or "alert").
    async fn miss(&self, host: Option<&str>) -> &'static str {
        if let (Some(host), Some(issuer)) = (host, self.certs.on_demand()) {
            match tokio::time::timeout(self.on_demand_timeout, issuer.obtain(host)).await {
                Ok(Ok(())) if self.certs.matching(host).is_some() => return "on_demand",
                Ok(Ok(())) => tracing::warn!(host, "the issuer reported a certificate it does not hold"),
                Ok(Err(e)) => tracing::info!(host, error = %e, "no certificate on demand"),
                Err(_) => tracing::info!(host, "no certificate on demand in time (tls.on_demand_timeout)"),
            }
        }
        if self.certs.default_key().is_some() { "default" } else { "alert" }
    }

    /// A TLS-ALPN-01 validation: the challenge certificate, then the connection ends.
    async fn validation(
        &self,
        start: tokio_rustls::StartHandshake<TcpStream>,
        host: Option<&str>,
        client: SocketAddr,
        limit: Duration,
    ) -> Option<Established> {
        let Some(config) = &self.challenge else {
            return self.failed(client, "error", &"acme-tls/1 offered but no issuer is configured");
        };
        match tokio::time::timeout(limit, start.into_stream(config.clone())).await {
            Ok(Ok(mut stream)) => {
                self.metrics
                    .tls_handshakes
                    .with_label_values(&["challenge", version_label(stream.get_ref().1.protocol_version())])
                    .inc();
                tracing::debug!(%client, sni = host.unwrap_or(""), "TLS-ALPN-01 validation handshake");
                let _ = tokio::time::timeout(limit, stream.shutdown()).await;
                None
            }
            Ok(Err(e)) => self.failed(client, "error", &e),
            Err(_) => self.failed(client, "timeout", &"validation handshake not finished in time"),
        }
    }

    fn failed(&self, client: SocketAddr, result: &'static str, why: &dyn std::fmt::Display) -> Option<Established> {
        self.metrics.tls_handshakes.with_label_values(&[result, "none"]).inc();
        tracing::debug!(%client, error = %why, "TLS handshake failed");
        None
    }
}

/// A server configuration builder: ring, TLS 1.3 and 1.2 only.
fn builder() -> Result<rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
}

fn version_label(version: Option<rustls::ProtocolVersion>) -> &'static str {
    match version {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1_3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1_2",
        _ => "none",
    }
}
