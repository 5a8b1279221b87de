//! Connecting to the API server: `kubernetes.api_url` (+ `token`), a kubeconfig file, or
//! what kube infers (in-cluster service account, `$KUBECONFIG`, `~/.kube/config`).

use std::time::Duration;

use http::{HeaderValue, header::AUTHORIZATION};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::config::Kubernetes;

/// Time to open a connection to the API server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig file is unreadable or incomplete.
    #[error("kubernetes.kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// kube's reason.
        source: kube::config::KubeconfigError,
    },
    /// Neither a kubeconfig nor an in-cluster service account was found.
    #[error("kubernetes: no api_url or kubeconfig set, and none could be inferred: {0}")]
    Infer(#[from] kube::config::InferConfigError),
    /// `kubernetes.api_url` or `token` cannot be used.
    #[error("kubernetes.{key}: {problem}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The client could not be built (TLS set-up).
    #[error("kubernetes: cannot build the API client: {0}")]
    Build(#[from] kube::Error),
}

/// The API client `[kubernetes]` describes.
pub async fn connect(config: &Kubernetes) -> Result<kube::Client, ClientError> {
    let mut kube_config = match (&config.api_url, &config.kubeconfig) {
        (Some(url), _) => {
            let uri = url.parse().map_err(|e| ClientError::Invalid { key: "api_url", problem: format!("{e}") })?;
            kube::Config::new(uri)
        }
        (None, Some(path)) => {
            let kubeconfig = |source| ClientError::Kubeconfig { path: path.display().to_string(), source };
            let file = Kubeconfig::read_from(path).map_err(kubeconfig)?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default()).await.map_err(kubeconfig)?
        }
        (None, None) => kube::Config::infer().await?,
    };
    if let Some(token) = &config.token {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| ClientError::Invalid { key: "token", problem: "holds characters a header cannot".into() })?;
        value.set_sensitive(true);
        kube_config.headers.push((AUTHORIZATION, value));
    }
    kube_config.connect_timeout = Some(CONNECT_TIMEOUT);
    Ok(kube::Client::try_from(kube_config)?)
}
