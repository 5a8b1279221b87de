//! Kubernetes objects → the router's apps: a pure function of the watched objects, so the
//! watch loop (`watch.rs`) can call it after each burst and send only the difference.
//!
//! - Every Ingress backend (namespace, Service, port) is one app, named
//!   `k8s-<namespace>-<service>-<port>` (cut and hashed to fit a DNS label), whose path
//!   rules are the Ingress paths that name it: `Exact` as exact, `Prefix` and
//!   `ImplementationSpecific` as segment prefixes. The table picks the longest match.
//!   `spec.defaultBackend` serves the rest of the Ingress's hosts (a `/` prefix rule, which
//!   every explicit rule outranks). When two rules claim the same host and path, the
//!   Ingress first by namespace/name keeps it.
//! - A backend's endpoints: the addresses of its Service's EndpointSlices (label
//!   `kubernetes.io/service-name`) whose `conditions.ready` is true (unset counts as true),
//!   on the slice port named like the Service port the backend picked (by number or name),
//!   so target ports named in the pod are resolved. With none ready and
//!   `serve_terminating`, those terminating but still `serving` (graceful drain).
//! - App mode: a Service labelled `slipway.dev/app=<app>` is app `<app>` (so
//!   `<app>.<zone>`), with its first port's endpoints.
//!
//! Cost: O(objects) per call (indexes built once per call); the writer then only applies
//! the apps that changed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressClass};

use crate::spec::{AppRoutes, PathMatch, PathRoute};

/// The controller name an IngressClass names to be served by this router.
pub const CONTROLLER: &str = "slipway.dev/router";
/// The legacy class annotation.
pub const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// The label of app-mode Services.
pub const APP_LABEL: &str = "slipway.dev/app";
/// The label tying an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// What the translation needs of the config.
#[derive(Debug, Clone)]
pub struct Rules {
    /// `kubernetes.ingress_class`.
    pub ingress_class: String,
    /// `kubernetes.legacy_annotation`.
    pub legacy_annotation: bool,
    /// `kubernetes.app_mode`.
    pub app_mode: bool,
    /// `kubernetes.serve_terminating`.
    pub serve_terminating: bool,
}

/// The watched objects at one moment.
#[derive(Debug, Default)]
pub struct Objects {
    /// Ingresses.
    pub ingresses: Vec<Arc<Ingress>>,
    /// IngressClasses.
    pub classes: Vec<Arc<IngressClass>>,
    /// Services.
    pub services: Vec<Arc<Service>>,
    /// EndpointSlices.
    pub slices: Vec<Arc<EndpointSlice>>,
}

/// One backend: a Service port in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Backend {
    namespace: String,
    service: String,
    port: Port,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Port {
    Number(i32),
    Name(String),
    /// App mode: the Service's first port.
    First,
}

/// The apps the objects describe, by name.
pub fn apps(objects: &Objects, rules: &Rules) -> BTreeMap<String, AppRoutes> {
    let index = Index::new(objects);
    let mut out: BTreeMap<String, AppRoutes> = BTreeMap::new();
    let mut ingresses: Vec<&Ingress> =
        objects.ingresses.iter().map(|i| &**i).filter(|i| index.ours(i, rules)).collect();
    ingresses.sort_by(|a, b| key_of(&a.metadata).cmp(&key_of(&b.metadata)));

    // (host, normalised path, match) already claimed: the first Ingress keeps a rule.
    let mut claimed: HashSet<(String, String, PathMatch)> = HashSet::new();
    let mut backends: BTreeMap<String, Backend> = BTreeMap::new();
    let mut add = |out: &mut BTreeMap<String, AppRoutes>, backend: Backend, rule: PathRoute| {
        if rule.check().is_err() {
            tracing::debug!(host = %rule.host, path = %rule.path, "kubernetes: ingress rule skipped: not a valid host or path");
            return;
        }
        let normal = match rule.kind {
            PathMatch::Prefix => rule.path.trim_end_matches('/').to_owned(),
            PathMatch::Exact => rule.path.clone(),
        };
        if !claimed.insert((rule.host.clone(), normal, rule.kind)) {
            return;
        }
        let name = app_name(&backend);
        let app = out.entry(name.clone()).or_insert_with(|| empty_app(&name));
        app.paths.push(rule);
        backends.insert(name, backend);
    };
    for ingress in &ingresses {
        let namespace = ingress.metadata.namespace.clone().unwrap_or_default();
        let Some(spec) = &ingress.spec else { continue };
        for rule in spec.rules.iter().flatten() {
            // A rule without a host matches every host: no table entry can say that.
            let Some(host) = rule.host.as_deref().map(str::to_ascii_lowercase) else { continue };
            for path in rule.http.iter().flat_map(|http| &http.paths) {
                let Some(backend) = backend_of(&namespace, &path.backend) else { continue };
                let kind = if path.path_type == "Exact" { PathMatch::Exact } else { PathMatch::Prefix };
                let path = path.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".to_owned());
                add(&mut out, backend, PathRoute { host: host.clone(), path, kind });
            }
        }
    }
    // Default backends after every explicit rule, which outrank them.
    for ingress in &ingresses {
        let namespace = ingress.metadata.namespace.clone().unwrap_or_default();
        let Some(spec) = &ingress.spec else { continue };
        let Some(backend) = spec.default_backend.as_ref().and_then(|b| backend_of(&namespace, b)) else { continue };
        let hosts: HashSet<String> =
            spec.rules.iter().flatten().filter_map(|r| r.host.as_deref().map(str::to_ascii_lowercase)).collect();
        let mut hosts: Vec<String> = hosts.into_iter().collect();
        hosts.sort();
        for host in hosts {
            add(&mut out, backend.clone(), PathRoute { host, path: "/".to_owned(), kind: PathMatch::Prefix });
        }
    }
    if rules.app_mode {
        let mut services: Vec<&Service> = objects.services.iter().map(|s| &**s).collect();
        services.sort_by(|a, b| key_of(&a.metadata).cmp(&key_of(&b.metadata)));
        for service in services {
            let Some(app) = service.metadata.labels.as_ref().and_then(|l| l.get(APP_LABEL)) else { continue };
            if !slipway_config::app_name::is_valid(app) || out.contains_key(app) {
                tracing::debug!(app = %app, "kubernetes: app-mode service skipped: invalid or taken app name");
                continue;
            }
            let backend = Backend {
                namespace: service.metadata.namespace.clone().unwrap_or_default(),
                service: service.metadata.name.clone().unwrap_or_default(),
                port: Port::First,
            };
            out.insert(app.clone(), empty_app(app));
            backends.insert(app.clone(), backend);
        }
    }
    for (name, backend) in &backends {
        if let Some(app) = out.get_mut(name) {
            app.endpoints = index.endpoints(backend, rules.serve_terminating);
        }
    }
    out
}

fn empty_app(name: &str) -> AppRoutes {
    AppRoutes {
        name: name.to_owned(),
        hosts: Vec::new(),
        endpoints: Vec::new(),
        dynos: BTreeMap::new(),
        paths: Vec::new(),
        options: Default::default(),
    }
}

fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (&str, &str) {
    (meta.namespace.as_deref().unwrap_or_default(), meta.name.as_deref().unwrap_or_default())
}

fn backend_of(namespace: &str, backend: &IngressBackend) -> Option<Backend> {
    let service = backend.service.as_ref()?;
    let port = service.port.as_ref()?;
    let port = match (port.number, &port.name) {
        (Some(n), _) => Port::Number(n),
        (None, Some(name)) if !name.is_empty() => Port::Name(name.clone()),
        _ => return None,
    };
    Some(Backend { namespace: namespace.to_owned(), service: service.name.clone(), port })
}

/// `k8s-<namespace>-<service>-<port>`, a DNS label: cut to fit, with a hash of the whole
/// name so cut names stay apart.
fn app_name(backend: &Backend) -> String {
    let port = match &backend.port {
        Port::Number(n) => n.to_string(),
        Port::Name(name) => name.clone(),
        Port::First => "first".to_owned(),
    };
    let full = format!("k8s-{}-{}-{port}", backend.namespace, backend.service).to_ascii_lowercase();
    let clean: String = full.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    if slipway_config::app_name::is_valid(&clean) && clean == full {
        return clean;
    }
    // FNV-1a: stable across processes (the name is an app's identity in metrics and logs).
    let hash = full.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let head: String = clean.chars().take(45).collect();
    format!("{}-{:016x}", head.trim_end_matches('-'), hash)
}

/// Lookups built once per translation.
struct Index<'a> {
    our_classes: HashSet<&'a str>,
    services: HashMap<(&'a str, &'a str), &'a Service>,
    slices: HashMap<(&'a str, &'a str), Vec<&'a EndpointSlice>>,
}

impl<'a> Index<'a> {
    fn new(objects: &'a Objects) -> Index<'a> {
        let our_classes = objects
            .classes
            .iter()
            .filter(|c| c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(CONTROLLER))
            .filter_map(|c| c.metadata.name.as_deref())
            .collect();
        let services = objects.services.iter().map(|s| (key_of(&s.metadata), &**s)).collect();
        let mut slices: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
        for slice in &objects.slices {
            let Some(service) = slice.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL)) else {
                continue;
            };
            let namespace = slice.metadata.namespace.as_deref().unwrap_or_default();
            slices.entry((namespace, service.as_str())).or_default().push(slice);
        }
        Index { our_classes, services, slices }
    }

    /// Whether the Ingress is of our class.
    fn ours(&self, ingress: &Ingress, rules: &Rules) -> bool {
        match ingress.spec.as_ref().and_then(|s| s.ingress_class_name.as_deref()) {
            Some(class) => class == rules.ingress_class || self.our_classes.contains(class),
            None => {
                rules.legacy_annotation
                    && ingress.metadata.annotations.as_ref().and_then(|a| a.get(CLASS_ANNOTATION))
                        == Some(&rules.ingress_class)
            }
        }
    }

    /// The backend's endpoints, `ip:port`, sorted. None when the Service or its port is
    /// missing (the app then answers 503 "no endpoints").
    fn endpoints(&self, backend: &Backend, serve_terminating: bool) -> Vec<String> {
        let key = (backend.namespace.as_str(), backend.service.as_str());
        let Some(service) = self.services.get(&key) else { return Vec::new() };
        let ports = service.spec.as_ref().and_then(|s| s.ports.as_deref()).unwrap_or_default();
        let port = match &backend.port {
            Port::Number(n) => ports.iter().find(|p| p.port == *n),
            Port::Name(name) => ports.iter().find(|p| p.name.as_deref() == Some(name)),
            Port::First => ports.first(),
        };
        let Some(port) = port else { return Vec::new() };
        let port_name = port.name.as_deref().unwrap_or_default();
        let (mut ready, mut draining) = (Vec::new(), Vec::new());
        for slice in self.slices.get(&key).into_iter().flatten() {
            if !matches!(slice.address_type.as_str(), "IPv4" | "IPv6") {
                continue;
            }
            let slice_port = slice
                .ports
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find(|p| p.name.as_deref().unwrap_or_default() == port_name)
                .and_then(|p| p.port)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0);
            let Some(slice_port) = slice_port else { continue };
            for endpoint in slice.endpoints.as_deref().unwrap_or_default() {
                let conditions = endpoint.conditions.as_ref();
                let is_ready = conditions.and_then(|c| c.ready).unwrap_or(true);
                let serving = conditions.and_then(|c| c.serving).unwrap_or(is_ready);
                let terminating = conditions.and_then(|c| c.terminating).unwrap_or(false);
                let into = if is_ready {
                    &mut ready
                } else if serving && terminating {
                    &mut draining
                } else {
                    continue;
                };
                for address in &endpoint.addresses {
                    if let Ok(ip) = address.parse::<IpAddr>() {
                        into.push(SocketAddr::new(ip, slice_port));
                    }
                }
            }
        }
        let mut chosen = if ready.is_empty() && serve_terminating { draining } else { ready };
        chosen.sort();
        chosen.dedup();
        chosen.truncate(crate::spec::MAX_ENDPOINTS);
        chosen.into_iter().map(|a| a.to_string()).collect()
    }
}

#[cfg(test)]
mod tests;
