//! TLS for tests: a test CA made with rcgen (ring), certificates it issues written as PEM
//! files, and rustls clients that trust it (HTTP/1.1 and HTTP/2 over TLS, with a session
//! store so resumption can be checked).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::Reply;

/// Installs ring as the process's rustls provider (once; later calls do nothing).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A certificate authority for one test.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    cert: CertificateDer<'static>,
    cert_pem: String,
}

/// A certificate the CA issued, with its key.
#[derive(Clone)]
pub struct Issued {
    /// The leaf, then the CA (PEM).
    pub chain_pem: String,
    /// The key (PKCS#8 PEM).
    pub key_pem: String,
    /// The leaf as DER, to compare with what a server presented.
    pub leaf: CertificateDer<'static>,
}

impl TestCa {
    /// A new CA named `name` (its distinguished name's common name).
    pub fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa { issuer: rcgen::Issuer::new(params, key), cert: cert.der().clone(), cert_pem: cert.pem() }
    }

    /// A certificate for `names` (DNS names, `*.zone` allowed), valid until 4096.
    pub fn issue(&self, names: &[&str]) -> Issued {
        self.issue_until(names, (4096, 1, 1))
    }

    /// A certificate for `names` valid until the day `(year, month, day)`.
    pub fn issue_until(&self, names: &[&str], (year, month, day): (i32, u8, u8)) -> Issued {
        let not_after = rcgen::date_time_ymd(year, month, day);
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params.not_after = not_after;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            chain_pem: format!("{}{}", cert.pem(), self.cert_pem),
            key_pem: key.serialize_pem(),
            leaf: cert.der().clone(),
        }
    }

    /// A rustls client trusting this CA, offering `alpn` (e.g. `[b"h2"]`), TLS 1.2 and 1.3,
    /// with an in-memory session store (so a second handshake can resume).
    pub fn client(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        self.client_with(alpn, &[&rustls::version::TLS13, &rustls::version::TLS12])
    }

    /// [`TestCa::client`] with only the given protocol versions.
    pub fn client_with(
        &self,
        alpn: &[&[u8]],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

impl Issued {
    /// Writes `<stem>.crt` and `<stem>.key` in `dir`; returns their paths.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join(format!("{stem}.crt")), dir.join(format!("{stem}.key")));
        std::fs::write(&cert, &self.chain_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}

/// A TLS connection to `addr` with SNI `sni`; the handshake's error as is.
pub async fn connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    sni: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from(sni.to_owned()).map_err(std::io::Error::other)?;
    tokio_rustls::TlsConnector::from(config).connect(name, tcp).await
}

/// The leaf certificate a server presented.
pub fn presented(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone().into_owned()
}

/// One HTTP/1.1 request over an established TLS connection (`Host: host`).
pub async fn get_h1(stream: TlsStream<TcpStream>, host: &str, path: &str) -> Reply {
    let (mut sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(driver);
    let req = Request::get(path).header("host", host).body(Full::new(Bytes::new())).unwrap();
    let response = sender.send_request(req).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply { status: parts.status, headers: parts.headers, body: body.collect().await.unwrap().to_bytes() }
}

/// An HTTP/2 connection over an established TLS connection (ALPN `h2`).
pub async fn h2(stream: TlsStream<TcpStream>) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let (sender, driver) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(driver);
    sender
}

/// One HTTP/2 request for `https://<authority><path>` on `sender`.
pub async fn get_h2(
    mut sender: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    authority: &str,
    path: &str,
) -> Reply {
    let req = Request::get(format!("https://{authority}{path}")).body(Full::new(Bytes::new())).unwrap();
    sender.ready().await.unwrap();
    let response = sender.send_request(req).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply { status: parts.status, headers: parts.headers, body: body.collect().await.unwrap().to_bytes() }
}
