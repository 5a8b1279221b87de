//! The one rule for app names, used alike by the control plane (which creates apps), the
//! router (which routes `<app>.<zone>`) and logd (which keeps a history per app).
//!
//! An app name is a DNS label: 1 to 63 lower-case letters, digits and hyphens, not starting
//! or ending with a hyphen, so that `<app>.<zone>` is a host name, and the name is also a
//! valid Kubernetes object name and label value, and a safe directory name.

/// Longest app name.
pub const MAX_LEN: usize = 63;

/// Checks an app name; the error says what is wrong, for people.
pub fn check(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_LEN {
        return Err(format!("{name:?} must be 1 to {MAX_LEN} characters long"));
    }
    if !is_valid(name) {
        return Err(format!("{name:?} is not a DNS label: use a-z, 0-9 and '-', not starting or ending with '-'"));
    }
    Ok(())
}

/// Whether `name` is a valid app name (see the module docs). O(len), no allocation.
pub fn is_valid(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LEN
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

#[cfg(test)]
mod tests;
