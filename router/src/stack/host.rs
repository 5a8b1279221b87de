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
    if !host.starts_with('[') && !host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) {
        return Err(HostError::Invalid);
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Ok(Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Ok(Cow::Borrowed(host))
    }
}

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
