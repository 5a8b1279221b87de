//! The certificates the HTTPS listener serves, and how a ClientHello finds one.
//!
//! Order: the exact host, then `*.<parent>` (a wildcard matches exactly one label, so
//! `a.b.zone` does not match `*.zone`), then a certificate the on-demand issuer holds
//! (`tls/on_demand.rs`), then the default certificate; with none of them the listener
//! refuses the handshake with `unrecognized_name` (`tls/handshake.rs`).
//!
//! [`Certificates`] is read on every handshake and written rarely (a file reload, a
//! Kubernetes secret): handshakes read an immutable snapshot (`ArcSwap::load`, no lock),
//! writers take a mutex, change the authoritative map and publish a new snapshot
//! (O(certificates) per write). Any source adds or replaces certificates by host through
//! [`Certificates::insert`] and [`Certificates::remove`]: the files do (`tls/files.rs`), and
//! Kubernetes TLS secrets plug in the same way with their own [`CertSource`].

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::tls::certificate::Certificate;
use crate::tls::on_demand::OnDemand;

/// Where a certificate came from (shown by the admin listing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertSource {
    /// `tls.certificates`: PEM files.
    File,
    /// `tls.default_certificate`.
    Default,
    /// Obtained on demand (ACME), as [`OnDemand::held`] reports it.
    Acme,
}

impl CertSource {
    /// The name the admin listing uses.
    pub fn as_str(self) -> &'static str {
        match self {
            CertSource::File => "file",
            CertSource::Default => "default",
            CertSource::Acme => "acme",
        }
    }
}

/// A certificate with its source.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The certificate.
    pub cert: Arc<Certificate>,
    /// Where it came from.
    pub source: CertSource,
}

/// What handshakes read: exact hosts, wildcards by the zone under their `*.`, the default.
#[derive(Debug, Default)]
struct Snapshot {
    exact: HashMap<Box<str>, Entry>,
    wildcard: HashMap<Box<str>, Entry>,
    default: Option<Entry>,
}

/// The writers' view: every host pattern (`shop.example.com`, `*.zone`) and the default.
#[derive(Debug, Default)]
struct Writes {
    by_pattern: BTreeMap<Box<str>, Entry>,
    default: Option<Entry>,
}

/// The certificates served, by host; see the module docs.
#[derive(Debug)]
pub struct Certificates {
    live: ArcSwap<Snapshot>,
    writes: Mutex<Writes>,
    on_demand: Option<Arc<dyn OnDemand>>,
}

impl Certificates {
    /// No certificates yet; `on_demand` is asked after exact hosts and wildcards.
    pub fn new(on_demand: Option<Arc<dyn OnDemand>>) -> Certificates {
        Certificates { live: ArcSwap::from_pointee(Snapshot::default()), writes: Mutex::default(), on_demand }
    }

    /// The on-demand issuer, if any.
    pub fn on_demand(&self) -> Option<&Arc<dyn OnDemand>> {
        self.on_demand.as_ref()
    }

    /// Adds or replaces the certificate for `pattern`: an exact host or `*.<zone>`
    /// (lower-case). O(certificates).
    pub fn insert(&self, pattern: &str, cert: Arc<Certificate>, source: CertSource) {
        self.write(|w| {
            w.by_pattern.insert(pattern.into(), Entry { cert, source });
        });
    }

    /// Removes the certificate for `pattern`, if any. O(certificates).
    pub fn remove(&self, pattern: &str) {
        self.write(|w| {
            w.by_pattern.remove(pattern);
        });
    }

    /// Sets or clears the default certificate.
    pub fn set_default(&self, cert: Option<Arc<Certificate>>) {
        self.write(|w| w.default = cert.map(|cert| Entry { cert, source: CertSource::Default }));
    }

    fn write(&self, change: impl FnOnce(&mut Writes)) {
        let mut writes = self.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut writes);
        let mut next = Snapshot { default: writes.default.clone(), ..Snapshot::default() };
        for (pattern, entry) in &writes.by_pattern {
            match pattern.strip_prefix("*.") {
                Some(zone) => next.wildcard.insert(zone.into(), entry.clone()),
                None => next.exact.insert(pattern.clone(), entry.clone()),
            };
        }
        self.live.store(Arc::new(next));
    }

    /// The certificate for `host` from an exact host, a wildcard or the on-demand issuer's
    /// held ones; not the default. Lock-free, O(1) plus the issuer's lookup.
    pub fn matching(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let host = lower(host);
        let live = self.live.load();
        if let Some(entry) = live.exact.get(&*host) {
            return Some(entry.cert.key.clone());
        }
        let parent = host.split_once('.').map(|(_, parent)| parent).filter(|p| !p.is_empty());
        if let Some(entry) = parent.and_then(|p| live.wildcard.get(p)) {
            return Some(entry.cert.key.clone());
        }
        self.on_demand.as_ref().and_then(|issuer| issuer.certificate(&host))
    }

    /// The default certificate, if configured.
    pub fn default_key(&self) -> Option<Arc<CertifiedKey>> {
        self.live.load().default.as_ref().map(|entry| entry.cert.key.clone())
    }

    /// The certificate a ClientHello for `host` (None: no SNI) is served with.
    pub fn resolve_host(&self, host: Option<&str>) -> Option<Arc<CertifiedKey>> {
        host.and_then(|h| self.matching(h)).or_else(|| self.default_key())
    }

    /// Every certificate from files and other sources, by host pattern, then the default.
    pub fn entries(&self) -> Vec<(String, Entry)> {
        let writes = self.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut all: Vec<(String, Entry)> = writes.by_pattern.iter().map(|(p, e)| (p.to_string(), e.clone())).collect();
        if let Some(default) = &writes.default {
            all.push(("*".to_owned(), default.clone()));
        }
        all
    }
}

/// `host` lower-cased (borrowed when it already is).
fn lower(host: &str) -> Cow<'_, str> {
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// The resolver rustls asks during a handshake of the main listener.
#[derive(Debug)]
pub(crate) struct Resolver(pub(crate) Arc<Certificates>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.resolve_host(hello.server_name())
    }
}

/// The resolver of the TLS-ALPN-01 listener configuration: the issuer's validation
/// certificate for the host, nothing else.
#[derive(Debug)]
pub(crate) struct ChallengeResolver(pub(crate) Arc<dyn OnDemand>);

impl ResolvesServerCert for ChallengeResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello.server_name().and_then(|host| self.0.challenge(&lower(host)))
    }
}
