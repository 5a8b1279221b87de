use super::*;

#[test]
fn app_patch_tells_null_from_absent() {
    let p: AppPatch = serde_json::from_str("{}").unwrap();
    assert_eq!(p.sleep_after, None);
    let p: AppPatch = serde_json::from_str(r#"{"sleep_after":null}"#).unwrap();
    assert_eq!(p.sleep_after, Some(None));
    let p: AppPatch = serde_json::from_str(r#"{"sleep_after":"5m"}"#).unwrap();
    assert_eq!(p.sleep_after, Some(Some("5m".into())));
}

#[test]
fn sources_are_tagged() {
    let s = SourceRef::Git { url: "/r".into(), reference: "main".into(), commit: "0123456789".into() };
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(json, r#"{"kind":"git","url":"/r","ref":"main","commit":"0123456789"}"#);
    assert_eq!(s.short(), "git 01234567 (main)");
}
