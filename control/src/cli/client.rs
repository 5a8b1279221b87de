//! The CLI's HTTP client: hyper with rustls (ring provider, Mozilla's roots), plain HTTP
//! for loopback. Every API error becomes one [`CliError`] line with a hint.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use slipway_config::ErrorBody;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::error::CliError;

/// A WebSocket opened by [`Client::websocket`].
pub(super) type WebSocket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// A client of the control plane's API (and of logd's streams).
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: String,
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Client {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:9000`) with `token`.
    pub fn new(base: &str, token: &str) -> Result<Client, CliError> {
        let base = base.trim_end_matches('/').to_owned();
        let uri: Uri = base.parse().map_err(|_| bad_url(&base))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err(bad_url(&base));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| CliError::new(format!("cannot set up TLS: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = HyperClient::builder(TokioExecutor::new()).build(https);
        Ok(Client { base, token: token.to_owned(), http })
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request to `url` with `token`; the response, whatever its status.
    pub async fn raw(
        &self,
        method: Method,
        url: &str,
        token: &str,
        content_type: Option<&str>,
        accept: &str,
        body: Bytes,
    ) -> Result<http::Response<Incoming>, CliError> {
        self.raw_with(method, url, token, content_type, accept, &[], body).await
    }

    /// [`Client::raw`] with extra request headers.
    #[allow(clippy::too_many_arguments)]
    async fn raw_with(
        &self,
        method: Method,
        url: &str,
        token: &str,
        content_type: Option<&str>,
        accept: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<http::Response<Incoming>, CliError> {
        let mut req = Request::builder()
            .method(method)
            .uri(url)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::ACCEPT, accept)
            .header(header::USER_AGENT, concat!("slipway-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(content_type) = content_type {
            req = req.header(header::CONTENT_TYPE, content_type);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(body)).map_err(|e| CliError::new(format!("bad request to {url}: {e}")))?;
        self.http.request(req).await.map_err(|e| unreachable(url, &e))
    }

    /// Opens a WebSocket to `path` under the base URL (with the token): an error answer
    /// becomes the usual one-line error.
    pub(super) async fn websocket(&self, path: &str, config: WebSocketConfig) -> Result<WebSocket, CliError> {
        let url = format!("{}{path}", self.base);
        let key = generate_key();
        let req = Request::builder()
            .method(Method::GET)
            .uri(&url)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .header(header::SEC_WEBSOCKET_KEY, &key)
            .header(header::USER_AGENT, concat!("slipway-cli/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::new()))
            .map_err(|e| CliError::new(format!("bad request to {url}: {e}")))?;
        let response = self.http.request(req).await.map_err(|e| unreachable(&url, &e))?;
        let status = response.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let bytes = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            return Err(api_error(status, &bytes));
        }
        let accepted = response.headers().get(header::SEC_WEBSOCKET_ACCEPT).map(http::HeaderValue::as_bytes);
        if accepted != Some(derive_accept_key(key.as_bytes()).as_bytes()) {
            return Err(CliError::new(format!("{url} did not accept the WebSocket correctly"))
                .hint("is a proxy in between that does not pass WebSockets through?"));
        }
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(|e| CliError::new(format!("the WebSocket to {url} did not open: {e}")))?;
        Ok(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, Some(config)).await)
    }

    /// An API call: `path` under the base URL, a JSON body (or none), a JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, CliError> {
        let (content_type, bytes) = match body {
            Some(body) => (
                Some("application/json"),
                Bytes::from(
                    serde_json::to_vec(body).map_err(|e| CliError::new(format!("cannot encode the request: {e}")))?,
                ),
            ),
            None => (None, Bytes::new()),
        };
        self.call_raw(method, path, content_type, bytes).await
    }

    /// An API call with a raw body; a JSON answer (`null` for an empty one).
    pub async fn call_raw<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<T, CliError> {
        self.call_with(method, path, content_type, &[], body).await
    }

    /// [`Client::call_raw`] with extra request headers.
    pub async fn call_with<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<T, CliError> {
        let url = format!("{}{path}", self.base);
        let response =
            self.raw_with(method, &url, &self.token, content_type, "application/json", headers, body).await?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| CliError::new(format!("reading the answer of {url}: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        let bytes = if bytes.is_empty() { Bytes::from_static(b"null") } else { bytes };
        serde_json::from_slice(&bytes).map_err(|e| {
            CliError::new(format!("unexpected answer from {url}: {e}"))
                .hint("is this a Slipway control plane of the same version?")
        })
    }
}

fn bad_url(url: &str) -> CliError {
    CliError::new(format!("{url:?} is not an API URL like \"http://127.0.0.1:9000\""))
        .hint("set SLIPWAY_API_URL or run `slipway login --api-url URL`")
}

fn unreachable(url: &str, e: &hyper_util::client::legacy::Error) -> CliError {
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let host = url.split('/').take(3).collect::<Vec<_>>().join("/");
    CliError::new(format!("cannot reach {host}: {cause}"))
        .hint("is `slipway server` or `slipway up` running there? check SLIPWAY_API_URL or `slipway login`")
}

/// The one-line error for an API error answer, with a hint for the common ones.
pub(super) fn api_error(status: StatusCode, body: &[u8]) -> CliError {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => match e.error.field {
            // The field named, so the line says what to fix.
            Some(field) if !e.error.message.starts_with(&field) => {
                (e.error.code, format!("{field}: {}", e.error.message))
            }
            _ => (e.error.code, e.error.message),
        },
        Err(_) => (
            "http".to_owned(),
            format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(200)]).trim()),
        ),
    };
    let hint = match (status, code.as_str()) {
        (StatusCode::UNAUTHORIZED, _) => Some("the token was refused: run `slipway login` or set SLIPWAY_TOKEN"),
        (StatusCode::FORBIDDEN, _) => Some("this token is not allowed to do that: use the admin token"),
        (_, "not_found") if message.starts_with("app ") => Some("list apps with `slipway apps`"),
        (_, "release_failed") => Some("see why with `slipway logs --app <app> --source slipway`"),
        (_, "setup_failed") => Some("fix what the step above names and run the setup again"),
        (_, "bad_source") => Some("check the Procfile and the archive or repository"),
        (_, "not_configured") => Some("set it in the control plane's config (config/control.toml)"),
        (_, "no_release") => Some("deploy code first: `slipway deploy DIR --app APP`"),
        (_, "limit_reached") => Some(
            "wait for one to end (`slipway ps` lists them) or raise runtime.one_off_limit in the control plane's config",
        ),
        (_, "conflict") if message.contains("provisioning") => Some("wait for it: `slipway addons info NAME`"),
        (_, "conflict") => Some("pick another name"),
        (_, "addon_unavailable") => {
            Some("check the add-on server named above; `slipway addons` shows the add-ons' states")
        }
        _ => None,
    };
    let error = CliError::new(message);
    match hint {
        Some(h) => error.hint(h),
        None => error,
    }
}
