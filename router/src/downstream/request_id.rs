//! `X-Request-Id`: the header every layer names from here (the route layer reads it, the
//! forwarded request and the router's own pages carry it), and the id a request gets.

use http::{HeaderName, HeaderValue, Request};

/// Header carrying the request id, kept from the client when valid, else generated.
pub(crate) static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The client's `X-Request-Id` if it is 1 to 200 visible ASCII characters, else a new
/// random 128-bit id in hex.
pub(crate) fn request_id<B>(req: &Request<B>) -> HeaderValue {
    if let Some(id) = req.headers().get(&REQUEST_ID) {
        let bytes = id.as_bytes();
        if !bytes.is_empty() && bytes.len() <= 200 && bytes.iter().all(|b| (0x21..0x7f).contains(b)) {
            return id.clone();
        }
    }
    let mut hex = [0u8; 32];
    let random = fastrand::u128(..);
    for (i, byte) in hex.iter_mut().enumerate() {
        *byte = b"0123456789abcdef"[((random >> (i * 4)) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&hex).expect("hex digits are a valid header value")
}
