use super::*;

#[test]
fn urls_and_refs_that_could_run_commands_are_refused() {
    for bad in ["", "-uhello", "ext::sh -c touch% /tmp/x", "fd::0", "a b", "x\ny"] {
        assert!(check_git_url(bad).is_err(), "{bad:?}");
    }
    for good in
        ["https://github.com/a/b.git", "git@github.com:a/b.git", "/srv/repos/shop", "file:///srv/r", "ssh://h/x"]
    {
        assert!(check_git_url(good).is_ok(), "{good:?}");
    }
    for bad in ["", "-b", "a..b", "main@{1}", "a b", "x;y"] {
        assert!(check_git_ref(bad).is_err(), "{bad:?}");
    }
    for good in ["main", "v1.2.3", "feature/x", "0123abcd"] {
        assert!(check_git_ref(good).is_ok(), "{good:?}");
    }
}
