//! The host a request is routed by.
//!
//! HTTP/2 requests and HTTP/1 absolute-form requests carry it in the URI authority, which
//! wins over any `Host` header (RFC 9112 §3.2.2); other HTTP/1 requests carry exactly one
//! `Host` header. The result is lower-cased with the port and a trailing dot removed.

use std::borrow::Cow;

use http::Request;
use http::header::HOST;

/// Why a request has no usable host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// No authority and no Host header.
    #[error("the request has no Host header")]
    Missing,
    /// More than one Host header.
    #[error("the request has more than one Host header")]
    Duplicate,
    /// Not a host name (with an optional port).
    #[error("the Host header is not a valid host name")]
    Invalid,
}

/// The routing host of `req`: lower-case, without port or trailing dot.
pub fn routing_host<B>(req: &Request<B>) -> Result<Cow<'_, str>, HostError> {
    if let Some(authority) = req.uri().authority() {
        return normalize(authority.as_str().rsplit_once('@').map_or(authority.as_str(), |(_, h)| h));
    }
    let mut values = req.headers().get_all(HOST).iter();
    let value = values.next().ok_or(HostError::Missing)?;
    if values.next().is_some() {
        return Err(HostError::Duplicate);
    }
    normalize(value.to_str().map_err(|_| HostError::Invalid)?)
}

/// Strips the port and trailing dot, checks the characters, lower-cases if needed.
fn normalize(raw: &str) -> Result<Cow<'_, str>, HostError> {
    let host = if raw.starts_with('[') {
        // IPv6 literal: never an app, but well-formed; keep it so the lookup says 404.
        let end = raw.find(']').ok_or(HostError::Invalid)?;
        check_port(&raw[end + 1..])?;
        &raw[..=end]
    } else {
        match raw.rsplit_once(':') {
            Some((host, port)) => {
                check_digits(port)?;
                host
            }
            None => raw,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return Err(HostError::Missing);
    }
    if host.starts_with('[') {
        return Ok(Cow::Borrowed(host));
    }
    // One pass over the bytes: any byte outside the name alphabet, any upper case.
    let (mut invalid, mut upper) = (false, false);
    for b in host.bytes() {
        let class = HOST_BYTES[usize::from(b)];
        invalid |= class == 0;
        upper |= class == UPPER;
    }
    if invalid {
        Err(HostError::Invalid)
    } else if upper {
        Ok(Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Ok(Cow::Borrowed(host))
    }
}

/// The class of each byte in a host name: 0 not allowed, [`UPPER`] an upper-case letter,
/// 1 anything else allowed (`a-z`, `0-9`, `-`, `.`, `_`).
static HOST_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_uppercase() {
            table[b] = UPPER;
        } else if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_' {
            table[b] = 1;
        }
        b += 1;
    }
    table
};
const UPPER: u8 = 2;

/// `rest` is empty or `:<port>`.
fn check_port(rest: &str) -> Result<(), HostError> {
    match rest.strip_prefix(':') {
        None if rest.is_empty() => Ok(()),
        Some(port) => check_digits(port),
        None => Err(HostError::Invalid),
    }
}

fn check_digits(port: &str) -> Result<(), HostError> {
    if !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(HostError::Invalid)
    }
}

#[cfg(test)]
mod tests;
