//! Deserializers for config values, with error messages that show the bad value and an
//! example of a good one (`"8080" is not an address like "0.0.0.0:8080" or "[::1]:8080"`).
//! Use them with `#[serde(deserialize_with = "slipway_config::de::addr")]`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, de::Error};

/// A socket address such as `0.0.0.0:8080` or `[::1]:8080`.
pub fn addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    parse_addr(&s).map_err(D::Error::custom)
}

/// An optional socket address; an empty string (or no value) means unset.
pub fn opt_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => parse_addr(s).map(Some).map_err(D::Error::custom),
    }
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| format!("{s:?} is not an address like \"0.0.0.0:8080\" or \"[::1]:8080\""))
}

/// A duration such as `500ms`, `10s` or `2m`.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s)
        .map_err(|e| D::Error::custom(format!("{s:?} is not a duration like \"500ms\", \"10s\" or \"2m\" ({e})")))
}

/// A duration such as `24h`, or `"off"` for none.
pub fn duration_or_off<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim() == "off" {
        return Ok(None);
    }
    humantime::parse_duration(s.trim())
        .map(Some)
        .map_err(|e| D::Error::custom(format!("{s:?} is not \"off\" or a duration like \"24h\" or \"30m\" ({e})")))
}

#[cfg(test)]
mod tests;
