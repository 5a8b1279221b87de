//! What plain HTTP and HTTPS requests get per zone when the HTTPS listener is on: a 308
//! to the same URL over HTTPS, and the `Strict-Transport-Security` header on HTTPS answers
//! ([`HttpsPolicy`]). A host belongs to the zone it ends in; hosts outside every zone
//! (custom domains) get `tls.redirect` and `tls.hsts`.
//!
//! Built once at start. Per request: nothing on plain HTTP when HTTPS is off; otherwise an
//! O(zones) suffix match, and on HTTPS only when some zone has HSTS (the header value is
//! shared, its clone a reference count).

use http::HeaderValue;

use crate::config::Config;

/// The path ACME HTTP-01 validation reads over plain HTTP: never redirected.
const ACME_HTTP_01: &str = "/.well-known/acme-challenge/";

/// One zone's (or the default) behaviour.
#[derive(Debug, Clone)]
struct ZonePolicy {
    redirect: bool,
    hsts: Option<HeaderValue>,
}

/// Redirects and HSTS by zone; see the module docs.
#[derive(Debug)]
pub struct HttpsPolicy {
    /// `:<port>` for the redirect's URL, or empty for 443.
    port: Box<str>,
    default: ZonePolicy,
    zones: Box<[(Box<str>, ZonePolicy)]>,
    any_hsts: bool,
}

impl HttpsPolicy {
    /// The policy of a router whose HTTPS listener listens on `https_port`.
    pub fn new(config: &Config, https_port: u16) -> HttpsPolicy {
        let tls = &config.tls;
        let header = |value: Option<&str>| value.filter(|v| !v.is_empty()).and_then(|v| HeaderValue::from_str(v).ok());
        let default = ZonePolicy { redirect: tls.redirect, hsts: header(tls.hsts.as_deref()) };
        let zones: Box<[(Box<str>, ZonePolicy)]> = config
            .zones
            .iter()
            .map(|zone| {
                let own = tls.zones.get(zone);
                let redirect = own.and_then(|z| z.redirect).unwrap_or(default.redirect);
                let hsts = match own.and_then(|z| z.hsts.as_deref()) {
                    Some(value) => header(Some(value)),
                    None => default.hsts.clone(),
                };
                (Box::from(zone.as_str()), ZonePolicy { redirect, hsts })
            })
            .collect();
        let any_hsts = default.hsts.is_some() || zones.iter().any(|(_, z)| z.hsts.is_some());
        let port = match tls.redirect_port.unwrap_or(https_port) {
            443 => String::new(),
            port => format!(":{port}"),
        };
        HttpsPolicy { port: port.into(), default, zones, any_hsts }
    }

    /// O(zones).
    fn zone(&self, host: &str) -> &ZonePolicy {
        let inside = |zone: &str| host.strip_suffix(zone).is_some_and(|rest| rest.is_empty() || rest.ends_with('.'));
        self.zones.iter().find(|(zone, _)| inside(zone)).map_or(&self.default, |(_, policy)| policy)
    }

    /// For a plain HTTP request to `host` (the routing host), the `Location` of its redirect
    /// to HTTPS, if its zone redirects.
    pub fn redirect(&self, host: &str, uri: &http::Uri) -> Option<HeaderValue> {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        if path.starts_with(ACME_HTTP_01) || !self.zone(host).redirect {
            return None;
        }
        HeaderValue::try_from(format!("https://{host}{}{path}", self.port)).ok()
    }

    /// The HSTS header for an HTTPS answer to `host`, if its zone sends one.
    pub fn hsts(&self, host: &str) -> Option<HeaderValue> {
        if !self.any_hsts {
            return None;
        }
        self.zone(host).hsts.clone()
    }
}
