//! `X-Request-Id`: the header every layer names from here (the route layer reads it, the
//! forwarded request and the router's own pages carry it), and the id a request gets.

use std::cell::RefCell;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request};

/// Header carrying the request id, kept from the client when valid, else generated.
pub(crate) static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Ids made per refill of a thread's id buffer (one allocation for this many requests).
const BATCH: usize = 128;
/// Length of a generated id: 128 random bits in hex.
const ID_LEN: usize = 32;

/// The client's `X-Request-Id` if it is 20 to 200 characters of `[A-Za-z0-9+=/-]`
/// (Heroku's rule: long enough to be unique, nothing an app's logs could misread), else a
/// new random 128-bit id in hex.
pub(crate) fn request_id<B>(req: &Request<B>) -> HeaderValue {
    if let Some(id) = req.headers().get(&REQUEST_ID)
        && is_acceptable(id.as_bytes())
    {
        return id.clone();
    }
    generate()
}

/// A new id: a slice of a per-thread buffer of [`BATCH`] ids made at once, so a request
/// costs no allocation (the slice shares the buffer's reference count, and cloning the
/// header value later is a count increment too).
fn generate() -> HeaderValue {
    thread_local! {
        static IDS: RefCell<(Bytes, usize)> = const { RefCell::new((Bytes::new(), 0)) };
    }
    IDS.with_borrow_mut(|(ids, next)| {
        if *next * ID_LEN >= ids.len() {
            *ids = batch();
            *next = 0;
        }
        let id = ids.slice(*next * ID_LEN..(*next + 1) * ID_LEN);
        *next += 1;
        HeaderValue::from_maybe_shared(id).expect("hex digits are a valid header value")
    })
}

/// [`BATCH`] random ids in hex, back to back.
fn batch() -> Bytes {
    let mut hex = vec![0u8; BATCH * ID_LEN];
    for id in hex.chunks_exact_mut(ID_LEN) {
        let random = fastrand::u128(..);
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = b"0123456789abcdef"[((random >> (i * 4)) & 0xf) as usize];
        }
    }
    Bytes::from(hex)
}

/// Whether a client's request id is kept.
fn is_acceptable(id: &[u8]) -> bool {
    (20..=200).contains(&id.len()) && id.iter().all(|&b| b.is_ascii_alphanumeric() || b"+=/-".contains(&b))
}

#[cfg(test)]
mod tests;
