use super::*;

fn id_for(client: Option<&str>) -> String {
    let mut req = Request::new(());
    if let Some(id) = client {
        req.headers_mut().insert(&REQUEST_ID, HeaderValue::from_str(id).unwrap());
    }
    request_id(&req).to_str().unwrap().to_owned()
}

#[test]
fn client_ids_following_herokus_rule_are_kept_others_replaced() {
    for good in ["abcdefghij0123456789", "A+b=c/d-e0123456789xyz", &"x".repeat(200)] {
        assert_eq!(id_for(Some(good)), good);
    }
    for bad in ["short", "nineteen-characters", &"x".repeat(201), "has spaces in it, twenty+", "semi;colons;are;not;ok"]
    {
        let id = id_for(Some(bad));
        assert_ne!(id, bad);
        assert_eq!(id.len(), 32, "{id}");
    }
    assert_eq!(id_for(None).len(), 32);
}

#[test]
fn generated_ids_are_distinct_hex_across_batches() {
    let ids: Vec<String> = (0..3 * BATCH + 1).map(|_| id_for(None)).collect();
    assert!(ids.iter().all(|id| id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_hexdigit())), "{ids:?}");
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "an id was handed out twice");
}
