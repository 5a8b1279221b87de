use super::*;

#[test]
fn app_names_must_be_dns_labels() {
    assert!(check("pr-42-shop").is_ok());
    assert!(check(&"a".repeat(63)).is_ok());
    for bad in ["", "-a", "a-", "Shop", "a.b", "a_b", &"a".repeat(64)] {
        assert!(check(bad).is_err(), "{bad:?} accepted");
        assert!(!is_valid(bad), "{bad:?} valid");
    }
    assert!(is_valid("0") && is_valid("a-b") && is_valid("pr-42-shop"));
}
