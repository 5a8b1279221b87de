use super::*;

fn pair(alg: &'static rcgen::SignatureAlgorithm) -> (String, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate_for(alg).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["a.example".to_owned()]).unwrap().self_signed(&key).unwrap();
    (cert.pem(), key)
}

#[test]
fn a_pkcs8_key_loads_and_the_leaf_gives_issuer_and_not_after() {
    let (chain, key) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
    let loaded = Certificate::from_pem(chain.as_bytes(), key.serialize_pem().as_bytes()).unwrap();
    assert!(loaded.issuer.contains("rcgen"), "{}", loaded.issuer);
    assert!(loaded.not_after > 1_700_000_000);
}

#[test]
fn a_key_of_another_certificate_is_refused_as_a_mismatch() {
    let (chain, _) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
    let (_, other) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
    let err = Certificate::from_pem(chain.as_bytes(), other.serialize_pem().as_bytes()).unwrap_err();
    assert!(matches!(err, CertificateError::Mismatch(_)), "{err}");
}

#[test]
fn a_file_without_pem_blocks_is_refused_naming_what_is_missing() {
    let (_, key) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
    let err = Certificate::from_pem(b"not pem", key.serialize_pem().as_bytes()).unwrap_err();
    assert!(matches!(err, CertificateError::Chain(_)), "{err}");
    let (chain, _) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
    let err = Certificate::from_pem(chain.as_bytes(), b"").unwrap_err();
    assert!(matches!(err, CertificateError::Key(_)), "{err}");
}
