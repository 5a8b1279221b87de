use super::acceptable;

#[test]
fn ids_of_20_to_200_safe_characters_are_kept() {
    assert!(acceptable(b"f81d4fae-7dec-11d0-a765-00a0c91e6bf6"));
    assert!(acceptable(b"abc+def/ghi=jkl-mnopq"));
    assert!(acceptable("a".repeat(200).as_bytes()));
    for bad in [&b"short-id"[..], "a".repeat(201).as_bytes(), b"has spaces in it, twenty+", b"semi;colon;0123456789abc"]
    {
        assert!(!acceptable(bad), "{}", String::from_utf8_lossy(bad));
    }
}
