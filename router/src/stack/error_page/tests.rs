use super::*;

fn json(accept: &str) -> bool {
    prefers_json(Some(&HeaderValue::from_str(accept).unwrap()))
}

#[test]
fn accept_negotiation() {
    assert!(!prefers_json(None));
    assert!(json("application/json"));
    assert!(json("application/problem+json"));
    assert!(json("application/json, */*;q=0.8"));
    assert!(!json("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
    assert!(!json("*/*"));
    assert!(!json("text/html;q=0.9, application/json;q=0.5"));
    assert!(json("text/html;q=0.4, application/json"));
}

#[test]
fn pages_escape_the_request_id_and_set_retry_after() {
    let id = HeaderValue::from_static("<script>");
    let page = render(Problem::OverLimit, None, &id);
    assert_eq!(page.status(), 503);
    assert_eq!(page.headers()[RETRY_AFTER], "1");
    assert!(html(Problem::OverLimit, "<script>").contains("&lt;script&gt;"));
}
