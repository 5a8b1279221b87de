//! The headers that tell an app what the edge saw: `X-Forwarded-For/-Proto/-Host/-Port`,
//! `X-Request-Id` and `X-Request-Start`.
//!
//! An app must be able to believe them, so what a client sends is only kept when the client
//! is a trusted proxy (`clients.trusted_proxies`; decided once per connection, in
//! `ConnState::trusted`), the way ingress-nginx's `use-forwarded-headers` with
//! `proxy-real-ip-cidr` works:
//! - from anyone else every one of them is replaced: `X-Forwarded-For` is the peer's
//!   address alone, the others are what the router saw;
//! - from a trusted proxy the peer's address is appended to `X-Forwarded-For`, and
//!   `-Proto`, `-Host`, `-Port` and `X-Request-Start` are kept when present (the proxy saw
//!   the original request) and set when absent.
//!
//! `X-Forwarded-Proto` says how the client reached the router: `https` over the HTTPS
//! listener, `http` over the plain one.
//!
//! `X-Request-Start: t=<unix ms>` is when the router received the request (for the queue
//! time APM tools show). Cost per request: one wall-clock read; the header value is made
//! once per millisecond per worker thread and shared by the requests of that millisecond
//! (no allocation for them, and no `String` for any).

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::downstream::conn_state::Protocol;
use crate::downstream::request_id::REQUEST_ID;
use crate::stack::request::Meta;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
static X_REQUEST_START: HeaderName = HeaderName::from_static("x-request-start");

/// How many headers [`set`] may add.
pub(crate) const ADDED: usize = 6;

/// Sets the forwarding headers on a request about to go upstream (its hop-by-hop headers
/// already removed); `received` is when the router received it.
pub(crate) fn set(headers: &mut HeaderMap, meta: &Meta, received: SystemTime) {
    let conn = &meta.conn;
    let host = headers.get(header::HOST).cloned();
    if conn.trusted {
        let forwarded_for = match headers.get(&X_FORWARDED_FOR) {
            None => conn.client_ip.clone(),
            Some(_) => {
                let mut chain = Vec::new();
                for value in headers.get_all(&X_FORWARDED_FOR) {
                    chain.extend_from_slice(value.as_bytes());
                    chain.extend_from_slice(b", ");
                }
                chain.extend_from_slice(conn.client_ip.as_bytes());
                HeaderValue::from_bytes(&chain).unwrap_or_else(|_| conn.client_ip.clone())
            }
        };
        headers.insert(&X_FORWARDED_FOR, forwarded_for);
        let _ = headers.entry(&X_FORWARDED_PROTO).or_insert_with(|| proto(conn.protocol));
        if let Some(host) = host {
            let _ = headers.entry(&X_FORWARDED_HOST).or_insert(host);
        }
        let _ = headers.entry(&X_FORWARDED_PORT).or_insert_with(|| conn.local_port.clone());
        let _ = headers.entry(&X_REQUEST_START).or_insert_with(|| request_start(received));
    } else {
        // `insert` drops every value the client sent under the name.
        headers.insert(&X_FORWARDED_FOR, conn.client_ip.clone());
        headers.insert(&X_FORWARDED_PROTO, proto(conn.protocol));
        match host {
            Some(host) => headers.insert(&X_FORWARDED_HOST, host),
            None => headers.remove(&X_FORWARDED_HOST),
        };
        headers.insert(&X_FORWARDED_PORT, conn.local_port.clone());
        headers.insert(&X_REQUEST_START, request_start(received));
    }
    headers.insert(&REQUEST_ID, meta.request_id.clone());
}

/// `X-Forwarded-Proto` as the client came: `https` over the HTTPS listener, else `http`.
fn proto(protocol: Protocol) -> HeaderValue {
    HeaderValue::from_static(protocol.as_str())
}

/// `t=<unix ms>` for `at`: the same value (a shared buffer) for every request of one
/// millisecond on this thread.
fn request_start(at: SystemTime) -> HeaderValue {
    thread_local! {
        static LAST: RefCell<Option<(u64, HeaderValue)>> = const { RefCell::new(None) };
    }
    let ms = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    LAST.with_borrow_mut(|last| match last {
        Some((when, value)) if *when == ms => value.clone(),
        _ => {
            let value = format_start(ms);
            *last = Some((ms, value.clone()));
            value
        }
    })
}

/// `t=` and the decimal digits of `ms`, formatted on the stack.
fn format_start(ms: u64) -> HeaderValue {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = ms;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut text = [0u8; 22];
    text[..2].copy_from_slice(b"t=");
    let len = 2 + digits.len() - at;
    text[2..len].copy_from_slice(&digits[at..]);
    HeaderValue::from_bytes(&text[..len]).expect("t= and digits are a valid header value")
}

#[cfg(test)]
mod tests;
