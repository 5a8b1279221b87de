//! The one rule for a client's `X-Request-Id`: kept when it is 20 to 200 characters of
//! `[A-Za-z0-9+=/-]` (Heroku's rule, so ids from an edge in front, UUIDs and base64 ids
//! pass, while short, huge or header-breaking values are replaced by a generated one).

/// The header's name.
pub const HEADER: &str = "x-request-id";
/// Shortest id kept.
pub const MIN_LEN: usize = 20;
/// Longest id kept.
pub const MAX_LEN: usize = 200;

/// Whether a client's request id is kept (see the module docs).
pub fn acceptable(id: &[u8]) -> bool {
    (MIN_LEN..=MAX_LEN).contains(&id.len())
        && id.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'=' | b'/' | b'-'))
}

#[cfg(test)]
mod tests;
