use super::*;

#[test]
fn the_error_keeps_the_last_lines_of_stderr() {
    let text = b"pg_dump: first\n\npg_dump: second\npg_dump: error: third\n";
    assert_eq!(last_lines(text, 2), "pg_dump: second; pg_dump: error: third");
    assert_eq!(last_lines(b"\n", 3), "no output");
}

#[test]
fn the_url_gives_the_connection_and_a_bad_one_never_shows_its_password() {
    let target = Target::parse("127.0.0.1:5432", "postgres://role_a:s3cret@127.0.0.1:6543/db_a").unwrap();
    assert_eq!(
        (target.host.as_str(), target.port, target.user.as_str(), target.password.as_str(), target.db.as_str()),
        ("127.0.0.1", 6543, "role_a", "s3cret", "db_a")
    );
    let Err(e) = Target::parse("127.0.0.1:5432", "postgres://role_a:s3cret@127.0.0.1:6543") else {
        panic!("a URL without a database was taken")
    };
    let text = e.to_string();
    assert!(text.contains("names no database") && !text.contains("s3cret"), "{text}");
}
