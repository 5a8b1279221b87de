//! The TLS-ALPN-01 side pebble validates against, for tests of ACME issuers that run
//! without a router's HTTPS listener: a tokio-rustls listener on a free loopback port that
//! answers a ClientHello offering `acme-tls/1` with the first validation certificate one of
//! its answerers (an issuer's `challenge(host)`) has for the SNI, so a wrong or missing
//! validation certificate fails the order. While `answering` is off it closes connections
//! at once (a router that cannot answer).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// A validation certificate for a host, if the answerer has one.
pub type Answer = Arc<dyn Fn(&str) -> Option<Arc<CertifiedKey>> + Send + Sync>;

/// The listener.
pub struct ChallengeServer {
    /// Its port: pebble's `tls_port`.
    pub port: u16,
    answers: Arc<Mutex<Vec<Answer>>>,
    /// Whether connections get a handshake at all.
    pub answering: Arc<AtomicBool>,
}

struct ChallengeResolver(Arc<Mutex<Vec<Answer>>>);

impl std::fmt::Debug for ChallengeResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChallengeResolver")
    }
}

impl ResolvesServerCert for ChallengeResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello.alpn()?.any(|p| p == b"acme-tls/1");
        let host = hello.server_name()?;
        acme.then(|| self.0.lock().unwrap().iter().find_map(|answer| answer(host)))?
    }
}

impl ChallengeServer {
    /// Starts it on a free loopback port.
    pub async fn start() -> ChallengeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
        let answering = Arc::new(AtomicBool::new(true));
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(ChallengeResolver(answers.clone())));
        config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let on = answering.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                if !on.load(Ordering::SeqCst) {
                    continue;
                }
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // Pebble only completes the handshake and reads the certificate.
                    let _ = acceptor.accept(tcp).await;
                });
            }
        });
        ChallengeServer { port, answers, answering }
    }

    /// Adds an answerer (an issuer's `challenge`).
    pub fn answer(&self, answer: impl Fn(&str) -> Option<Arc<CertifiedKey>> + Send + Sync + 'static) {
        self.answers.lock().unwrap().push(Arc::new(answer));
    }

    /// Turns handshakes on or off.
    pub fn set_answering(&self, on: bool) {
        self.answering.store(on, Ordering::SeqCst);
    }
}
