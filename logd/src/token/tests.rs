use super::*;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

#[test]
fn signed_tokens_verify_until_they_expire() {
    let signer = Signer::new(KEY).unwrap();
    let claims = Claims { app: "shop".into(), exp: 2000, scope: Some(SCOPE_LOGS_READ.into()) };
    let token = signer.sign(&claims);
    assert!(token.starts_with("slt1."));
    assert_eq!(signer.verify(&token, 1999).unwrap(), claims);
    assert_eq!(signer.verify(&token, 2000), Err(TokenError::Expired { exp: 2000 }));
}

#[test]
fn altered_or_foreign_tokens_are_refused() {
    let signer = Signer::new(KEY).unwrap();
    let token = signer.sign(&Claims { app: "shop".into(), exp: 2000, scope: None });
    let other = Signer::new(b"another key, also thirty-two bytes!").unwrap();
    assert_eq!(other.verify(&token, 1), Err(TokenError::BadSignature));
    // Claims swapped for another app's, signature kept.
    let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"app":"bank","exp":2000}"#);
    let sig = token.rsplit_once('.').unwrap().1;
    assert_eq!(signer.verify(&format!("slt1.{forged_claims}.{sig}"), 1), Err(TokenError::BadSignature));
    for bad in ["", "slt1", "slt1.x", "slt2.a.b", "slt1.!!.!!"] {
        assert!(signer.verify(bad, 1).is_err(), "{bad}");
    }
}

#[test]
fn short_keys_are_refused() {
    assert_eq!(Signer::new(b"short").unwrap_err(), TokenError::KeyTooShort);
}

#[test]
fn scopes() {
    let mut c = Claims::for_app("a", std::time::Duration::from_secs(60));
    assert!(c.can_read_logs());
    c.scope = Some("builds:write".into());
    assert!(!c.can_read_logs());
}
