//! `[kubernetes]`: the Kubernetes route source (`sources/kubernetes/` reads it).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use slipway_config::{ConfigError, de};

use crate::spec;

/// The Kubernetes route source: Ingresses of the router's class, the Services they name
/// and those Services' EndpointSlices; Services labelled `slipway.dev/app` in app mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Kubernetes {
    /// Watch the Kubernetes API. Off by default.
    pub enabled: bool,
    /// The API server's URL, e.g. "https://10.0.0.1:6443" (or "http://127.0.0.1:8001"
    /// behind `kubectl proxy`). Unset: `kubeconfig`, else the in-cluster service account,
    /// else `$KUBECONFIG` / `~/.kube/config`.
    pub api_url: Option<String>,
    /// Bearer token sent with `api_url` (prefer `SLIPWAY_ROUTER__KUBERNETES__TOKEN`).
    /// Default: none.
    pub token: Option<String>,
    /// A kubeconfig file to connect with (its current context). Default: unset.
    pub kubeconfig: Option<PathBuf>,
    /// Watch one namespace only. Unset: every namespace (cluster-wide).
    pub namespace: Option<String>,
    /// The Ingress class served: Ingresses whose `spec.ingressClassName` is this, or
    /// names an IngressClass whose controller is `slipway.dev/router`.
    pub ingress_class: String,
    /// Also serve Ingresses without `spec.ingressClassName` whose legacy annotation
    /// `kubernetes.io/ingress.class` is `ingress_class`.
    pub legacy_annotation: bool,
    /// App mode: Services labelled `slipway.dev/app=<app>` route `<app>.<zone>` (their
    /// first port) without an Ingress.
    pub app_mode: bool,
    /// When a backend has no ready endpoint, send to its endpoints that are terminating
    /// but still serving (graceful drain, as kube-proxy does).
    pub serve_terminating: bool,
    /// Changes arriving together are published as one table update at most this long
    /// after the first of them.
    #[serde(deserialize_with = "de::duration")]
    pub batch_delay: Duration,
    /// Without an answer from the API server for this long, `/readyz` reports the source
    /// as stale (the last routes keep serving).
    #[serde(deserialize_with = "de::duration")]
    pub stale_after: Duration,
}

impl Default for Kubernetes {
    fn default() -> Self {
        Kubernetes {
            enabled: false,
            api_url: None,
            token: None,
            kubeconfig: None,
            namespace: None,
            ingress_class: "slipway".to_owned(),
            legacy_annotation: false,
            app_mode: true,
            serve_terminating: true,
            batch_delay: Duration::from_millis(100),
            stale_after: Duration::from_secs(60),
        }
    }
}

impl Kubernetes {
    /// Checks the URL, names and durations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.api_url {
            let uri: Result<http::Uri, _> = url.parse();
            let ok =
                uri.as_ref().is_ok_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some());
            if !ok {
                return Err(ConfigError::invalid(
                    "kubernetes.api_url",
                    format!("{url:?} is not a URL like \"https://10.0.0.1:6443\""),
                ));
            }
        }
        if self.api_url.is_some() && self.kubeconfig.is_some() {
            return Err(ConfigError::invalid("kubernetes.kubeconfig", "set either api_url or kubeconfig, not both"));
        }
        if self.token.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::invalid("kubernetes.token", "must not be empty (leave it unset for none)"));
        }
        if let Some(namespace) = &self.namespace
            && let Err(problem) = slipway_config::app_name::check(namespace)
        {
            return Err(ConfigError::invalid("kubernetes.namespace", problem));
        }
        if spec::check_host(&self.ingress_class).is_err() {
            let problem = format!("{:?} is not a class name like \"slipway\"", self.ingress_class);
            return Err(ConfigError::invalid("kubernetes.ingress_class", problem));
        }
        if self.batch_delay.is_zero() || self.batch_delay > Duration::from_secs(10) {
            return Err(ConfigError::invalid("kubernetes.batch_delay", "must be more than 0 and at most 10s"));
        }
        if self.stale_after.is_zero() {
            return Err(ConfigError::invalid("kubernetes.stale_after", "must be greater than zero"));
        }
        Ok(())
    }
}
