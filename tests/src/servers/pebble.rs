//! A throw-away ACME CA: Debian's `pebble` on free loopback ports, with
//! `pebble-challtestsrv` as its DNS server (every name resolves to 127.0.0.1, so pebble
//! validates TLS-ALPN-01 against a listener of the test on `tls_port`).
//!
//! Debian's package ships no certificate for pebble's own HTTPS listener: one is made here
//! (a test CA in `ca_file`, to be trusted by the ACME client). Random validation sleeps and
//! nonce rejections are off; validation itself is real (`PEBBLE_VA_ALWAYS_VALID` is never
//! set). Pebble's issuing CA changes at every start: [`Pebble::issuing_root`] fetches it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::process::Process;

/// What the CA is started with.
#[derive(Debug, Clone, Default)]
pub struct PebbleOptions {
    /// Where pebble validates TLS-ALPN-01 challenges (on 127.0.0.1).
    pub tls_port: u16,
    /// Lifetime of issued certificates in seconds (pebble's default when unset).
    pub validity_secs: Option<u64>,
    /// Require an external account binding with this key id and base64url HMAC key.
    pub eab: Option<(String, String)>,
}

/// A running pebble and its DNS server.
pub struct Pebble {
    /// The ACME directory URL.
    pub directory: String,
    /// The PEM file of the CA that signed pebble's HTTPS certificate.
    pub ca_file: PathBuf,
    /// Pebble's management port (`/roots/0`).
    pub management_port: u16,
    processes: Vec<Process>,
    /// Declared last: removed after the servers stopped.
    pub dir: tempfile::TempDir,
}

impl Pebble {
    /// Starts pebble and its DNS server.
    pub async fn start(options: PebbleOptions) -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        let (ca_pem, cert_pem, key_pem) = listener_certificate();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), key_pem).unwrap();
        for _ in 0..5 {
            let dns_port = super::free_port();
            let mut dns = Process::spawn(
                std::path::Path::new("pebble-challtestsrv"),
                &[
                    "-dns01",
                    &format!("127.0.0.1:{dns_port}"),
                    "-management",
                    &format!("127.0.0.1:{}", super::free_port()),
                    "-defaultIPv4",
                    "127.0.0.1",
                    "-defaultIPv6",
                    "",
                    "-http01",
                    "",
                    "-https01",
                    "",
                    "-tlsalpn01",
                    "",
                ],
                &[],
            );
            if dns.try_wait_for_line("Starting management server", Duration::from_secs(20)).await.is_none() {
                eprintln!("pebble-challtestsrv did not start:\n{}", dns.output.join("\n"));
                continue;
            }
            let (port, management_port) = (super::free_port(), super::free_port());
            let mut config = serde_json::json!({"pebble": {
                "listenAddress": format!("127.0.0.1:{port}"),
                "managementListenAddress": format!("127.0.0.1:{management_port}"),
                "certificate": dir.path().join("cert.pem"),
                "privateKey": dir.path().join("key.pem"),
                "httpPort": super::free_port(),
                "tlsPort": options.tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": options.eab.is_some(),
            }});
            if let Some(secs) = options.validity_secs {
                config["pebble"]["certificateValidityPeriod"] = secs.into();
            }
            if let Some((kid, key)) = &options.eab {
                config["pebble"]["externalAccountMACKeys"] = serde_json::json!({ kid: key });
            }
            let config_file = dir.path().join("pebble-config.json");
            std::fs::write(&config_file, config.to_string()).unwrap();
            let mut pebble = Process::spawn(
                std::path::Path::new("pebble"),
                &["-config", config_file.to_str().unwrap(), "-dnsserver", &format!("127.0.0.1:{dns_port}")],
                &[("PEBBLE_VA_NOSLEEP", "1"), ("PEBBLE_WFE_NONCEREJECT", "0"), ("PEBBLE_AUTHZREUSE", "0")],
            );
            match pebble.try_wait_for_line("ACME directory available", Duration::from_secs(30)).await {
                Some(_) => {
                    return Pebble {
                        directory: format!("https://127.0.0.1:{port}/dir"),
                        ca_file,
                        management_port,
                        processes: vec![pebble, dns],
                        dir,
                    };
                }
                None => eprintln!("pebble did not start on {port}:\n{}", pebble.output.join("\n")),
            }
        }
        panic!("pebble did not start");
    }

    /// The PEM of the root that signs the certificates issued now (`/roots/0`).
    pub async fn issuing_root(&self) -> String {
        let body = https_get(&self.ca_file, self.management_port, "/roots/0").await;
        assert!(body.contains("BEGIN CERTIFICATE"), "no root from pebble: {body}");
        body
    }

    /// Panics unless `chain` (leaf first) is valid for `host` under the root that signs
    /// the certificates pebble issues now.
    pub async fn assert_signed(&self, chain: &[rustls::pki_types::CertificateDer<'_>], host: &str) {
        use rustls::pki_types::pem::PemObject;
        let root = rustls::pki_types::CertificateDer::from_pem_slice(self.issuing_root().await.as_bytes()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(root).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
        let name = rustls::pki_types::ServerName::try_from(host.to_owned()).unwrap();
        let now = rustls::pki_types::UnixTime::now();
        rustls::client::danger::ServerCertVerifier::verify_server_cert(
            &*verifier,
            &chain[0],
            &chain[1..],
            &name,
            &[],
            now,
        )
        .unwrap();
    }

    /// Stops the CA now.
    pub fn stop(&mut self) {
        for mut process in self.processes.drain(..) {
            process.stop_all(Duration::from_secs(5));
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A CA and a certificate it signed for `localhost` and 127.0.0.1: (CA, cert, key) PEM.
fn listener_certificate() -> (String, String, String) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "slipway test CA for pebble");
    ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.subject_alt_names.push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// GET `path` from https://127.0.0.1:`port`, trusting `ca_file`; the body.
async fn https_get(ca_file: &std::path::Path, port: u16, path: &str) -> String {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca_file).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    // Go closes without close_notify at times; what was read is the answer.
    let _ = tls.read_to_end(&mut response).await;
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    body.to_owned()
}
