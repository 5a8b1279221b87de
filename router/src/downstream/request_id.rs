//! `X-Request-Id`: the header every layer names from here (the route layer reads it, the
//! forwarded request and the router's own pages carry it), and the id a request gets.

use http::{HeaderName, HeaderValue, Request};

/// Header carrying the request id, kept from the client when valid, else generated.
pub(crate) static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The client's `X-Request-Id` if it is 20 to 200 characters of `[A-Za-z0-9+=/-]`
/// (Heroku's rule: long enough to be unique, nothing an app's logs could misread), else a
/// new random 128-bit id in hex.
pub(crate) fn request_id<B>(req: &Request<B>) -> HeaderValue {
    if let Some(id) = req.headers().get(&REQUEST_ID)
        && is_acceptable(id.as_bytes())
    {
        return id.clone();
    }
    let mut hex = [0u8; 32];
    let random = fastrand::u128(..);
    for (i, byte) in hex.iter_mut().enumerate() {
        *byte = b"0123456789abcdef"[((random >> (i * 4)) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&hex).expect("hex digits are a valid header value")
}

/// Whether a client's request id is kept.
fn is_acceptable(id: &[u8]) -> bool {
    (20..=200).contains(&id.len()) && id.iter().all(|&b| b.is_ascii_alphanumeric() || b"+=/-".contains(&b))
}

#[cfg(test)]
mod tests;
