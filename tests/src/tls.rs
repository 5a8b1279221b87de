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
        self.issue_with(names, (year, month, day), rcgen::KeyPair::generate().unwrap())
    }

    /// A certificate for `names` (valid until 4096) with the RSA key of [`rsa_key`].
    pub fn issue_rsa(&self, names: &[&str]) -> Issued {
        self.issue_with(names, (4096, 1, 1), rsa_key())
    }

    fn issue_with(&self, names: &[&str], (year, month, day): (i32, u8, u8), key: rcgen::KeyPair) -> Issued {
        let not_after = rcgen::date_time_ymd(year, month, day);
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params.not_after = not_after;
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

/// A 2048-bit RSA key (PKCS#8), from `tests/fixtures/rsa-2048.pkcs8.pem`: ring, the
/// workspace's one crypto provider, signs with RSA keys but cannot make them, so this one
/// was made once, outside the tests.
pub fn rsa_key() -> rcgen::KeyPair {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/rsa-2048.pkcs8.pem");
    rcgen::KeyPair::from_pem(&std::fs::read_to_string(path).unwrap()).unwrap()
}

impl Issued {
    /// The key in the algorithm's own format instead of PKCS#8: PKCS#1 (`RSA PRIVATE
    /// KEY`) for an RSA key, SEC1 (`EC PRIVATE KEY`) for an EC key. Both are the
    /// `privateKey` octet string PKCS#8 wraps (RFC 5208 §5), so it is taken out of it.
    pub fn traditional_key_pem(&self) -> String {
        use base64::Engine as _;
        use rustls::pki_types::PrivatePkcs8KeyDer;
        use rustls::pki_types::pem::PemObject;
        let pkcs8 = PrivatePkcs8KeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap();
        // PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm SEQUENCE, privateKey OCTET STRING, .. }
        let (tag, info, _) = der_tlv(pkcs8.secret_pkcs8_der());
        assert_eq!(tag, 0x30, "PKCS#8 is a SEQUENCE");
        let (_, _, rest) = der_tlv(info);
        let (_, algorithm, rest) = der_tlv(rest);
        let (tag, inner, _) = der_tlv(rest);
        assert_eq!(tag, 0x04, "privateKey is an OCTET STRING");
        // rsaEncryption is 1.2.840.113549.1.1.1; anything else here is EC (id-ecPublicKey).
        let rsa = algorithm.windows(9).any(|w| w == [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]);
        let label = if rsa { "RSA PRIVATE KEY" } else { "EC PRIVATE KEY" };
        let text = base64::engine::general_purpose::STANDARD.encode(inner);
        let mut pem = format!("-----BEGIN {label}-----\n");
        for line in text.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap());
            pem.push('\n');
        }
        pem.push_str(&format!("-----END {label}-----\n"));
        pem
    }

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

/// One DER element of `input`: its tag, its contents, and what follows it.
fn der_tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let (len, header) = match input[1] {
        n if n < 0x80 => (usize::from(n), 2),
        0x81 => (usize::from(input[2]), 3),
        0x82 => ((usize::from(input[2]) << 8) | usize::from(input[3]), 4),
        n => panic!("DER length form {n:#x} is not used by these keys"),
    };
    (input[0], &input[header..header + len], &input[header + len..])
}
