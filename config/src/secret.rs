//! Comparing secrets.

/// Whether `a` and `b` are equal, in time that depends only on their lengths (not on where
/// they first differ): for comparing secrets such as tokens, keys and digests.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
