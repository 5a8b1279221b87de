//! Names: the add-on's own (`postgres-brave-4821`, or given), what it is called on its
//! server, and the config vars it injects.
//!
//! On a server everything is named `slipway_<instance>_<name with '_' for '-'>`: the
//! PostgreSQL role and database, the Redis ACL user, and (with a ':' after it) the Redis
//! key prefix. `<instance>` is this control plane's id (8 hex digits, made once and kept
//! in its database), so several control planes can share a server and each finds only
//! what it made. The rule is reversible (add-on names have no '_'), which is how
//! leftovers are matched with add-on records at start.

/// Longest add-on name: the server-side name stays under PostgreSQL's 63 bytes.
pub const MAX_NAME: usize = 40;

const ADJECTIVES: [&str; 24] = [
    "amber", "brave", "calm", "clever", "crisp", "curly", "deep", "eager", "fluffy", "gentle", "happy", "jolly",
    "keen", "lively", "lucid", "mellow", "nimble", "proud", "quiet", "rapid", "shiny", "solid", "sunny", "swift",
];

/// Checks a given add-on name: a DNS label of at most [`MAX_NAME`] characters.
pub fn check(name: &str) -> Result<(), String> {
    slipway_config::app_name::check(name)?;
    if name.len() > MAX_NAME {
        return Err(format!("{name:?} is longer than {MAX_NAME} characters"));
    }
    Ok(())
}

/// A new name for an add-on of `kind`: `<kind>-<adjective>-<number>`.
pub fn generate(kind: &str) -> String {
    let mut bytes = [0u8; 4];
    // A name is not a secret: without the OS's randomness, the clock picks it.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = crate::clock::now_ms().to_le_bytes()[..4].try_into().unwrap_or_default();
    }
    let n = u32::from_le_bytes(bytes);
    let adjective = ADJECTIVES[(n as usize) % ADJECTIVES.len()];
    format!("{kind}-{adjective}-{}", (n / 24) % 100_000)
}

/// The server-side name of add-on `name` of control plane `instance`.
pub fn ident(instance: &str, name: &str) -> String {
    format!("{}{}", ident_prefix(instance), name.replace('-', "_"))
}

/// What every server-side name of `instance` starts with.
pub fn ident_prefix(instance: &str) -> String {
    format!("slipway_{instance}_")
}

/// The add-on name back from a server-side name of `instance`; None if it is not one.
pub fn name_of(instance: &str, ident: &str) -> Option<String> {
    let rest = ident.strip_prefix(&ident_prefix(instance))?;
    let name = rest.replace('_', "-");
    check(&name).is_ok().then_some(name)
}

/// The config vars of an add-on attached as `attachment` (`DATABASE`, `REDIS`, or the
/// add-on's name in upper case for a second one of a kind): `<attachment>_URL`, and for
/// Redis `<attachment>_KEY_PREFIX`.
pub fn var(attachment: &str, what: &str) -> String {
    format!("{attachment}_{}", what.to_ascii_uppercase())
}

/// The attachment of the first add-on of `kind` on an app.
pub fn default_attachment(kind: super::Kind) -> &'static str {
    match kind {
        super::Kind::Postgres => "DATABASE",
        super::Kind::Redis => "REDIS",
    }
}

/// The attachment of a further add-on named `name`: `POSTGRES_BRAVE_4821`.
pub fn named_attachment(name: &str) -> String {
    name.replace('-', "_").to_ascii_uppercase()
}

/// A new password: 32 random bytes, hex (256 bits of entropy, safe in URLs and SQL).
pub fn password() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random numbers from the OS: {e}"))?;
    Ok(crate::hex(&bytes))
}

/// A new instance id: 4 random bytes, hex.
pub fn instance() -> Result<String, String> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random numbers from the OS: {e}"))?;
    Ok(crate::hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_side_names_map_back_to_add_on_names_of_the_same_instance_only() {
        let made = ident("0a1b2c3d", "postgres-brave-42");
        assert_eq!(made, "slipway_0a1b2c3d_postgres_brave_42");
        assert_eq!(name_of("0a1b2c3d", &made).as_deref(), Some("postgres-brave-42"));
        assert_eq!(name_of("ffffffff", &made), None);
        assert!(made.len() <= 63 && ident("0a1b2c3d", &"a".repeat(MAX_NAME)).len() <= 63);
    }

    #[test]
    fn generated_names_are_valid_and_passwords_have_256_bits() {
        for _ in 0..100 {
            let name = generate("postgres");
            assert!(check(&name).is_ok(), "{name}");
        }
        let p = password().unwrap();
        assert_eq!(p.len(), 64);
        assert_ne!(p, password().unwrap());
    }
}
