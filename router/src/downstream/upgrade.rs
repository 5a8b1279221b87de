//! Protocol switches as hyper makes them, in one place for the layers that must agree on
//! them: the framing check holds a connection's bytes after a request that asks for one
//! ([`asks_to_switch`]), the route layer reports whether its answer made one
//! ([`switches`]), and the forward layer tunnels the allowed ones ([`requested`]).

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode};

/// The protocol a request asks to upgrade to (`Connection: upgrade` + `Upgrade: x`).
pub(crate) fn requested(headers: &HeaderMap) -> Option<&HeaderValue> {
    let upgrade = headers.get(header::UPGRADE)?;
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
    asks.then_some(upgrade)
}

/// Whether hyper may switch the connection away from HTTP after `req`: an upgrade
/// request or a `CONNECT` (the same rule as the framing check's).
pub(crate) fn asks_to_switch<B>(req: &Request<B>) -> bool {
    req.method() == Method::CONNECT || requested(req.headers()).is_some()
}

/// Whether answering `status` to a request that asked to switch makes hyper stop speaking
/// HTTP on the connection: `101`, or a 2xx to `CONNECT` (hyper's rule).
pub(crate) fn switches(connect: bool, status: StatusCode) -> bool {
    status == StatusCode::SWITCHING_PROTOCOLS || (connect && status.is_success())
}

#[cfg(test)]
mod tests;
