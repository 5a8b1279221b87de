use super::*;

#[test]
fn tables_align_and_do_not_trail() {
    let rows =
        vec![vec!["shop".into(), "v12".into(), "".into()], vec!["a-longer-name".into(), "v1".into(), "x".into()]];
    assert_eq!(
        table(&["NAME", "RELEASE", "NOTE"], &rows),
        "NAME           RELEASE  NOTE\nshop           v12\na-longer-name  v1       x\n"
    );
    assert_eq!(
        pairs(&[("URL", "http://x".into()), ("Sleep after", "never".into())]),
        "URL:         http://x\nSleep after: never\n"
    );
}
