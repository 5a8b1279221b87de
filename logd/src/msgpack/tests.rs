use super::*;

#[test]
fn declared_lengths_past_the_buffer_are_truncated_not_allocated() {
    // str32 declaring 4 GiB, array32 declaring 4 billion elements.
    assert_eq!(Reader::new(&[0xdb, 0xff, 0xff, 0xff, 0xff, b'a']).head(), Err(Error::Truncated));
    assert_eq!(Reader::new(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]).skip(), Err(Error::Truncated));
}

#[test]
fn values_convert_to_json() {
    let mut buf = Vec::new();
    rmp::encode::write_map_len(&mut buf, 3).unwrap();
    rmp::encode::write_str(&mut buf, "a").unwrap();
    rmp::encode::write_array_len(&mut buf, 3).unwrap();
    rmp::encode::write_sint(&mut buf, -3).unwrap();
    rmp::encode::write_f64(&mut buf, 1.5).unwrap();
    rmp::encode::write_nil(&mut buf).unwrap();
    rmp::encode::write_uint(&mut buf, 7).unwrap();
    rmp::encode::write_bool(&mut buf, true).unwrap();
    rmp::encode::write_str(&mut buf, "q\"").unwrap();
    rmp::encode::write_bin(&mut buf, b"bin").unwrap();
    let mut out = Vec::new();
    write_json(&mut Reader::new(&buf), &mut out, 0).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":[-3,1.5,null],"7":true,"q\"":"bin"}"#);
}

#[test]
fn deep_nesting_is_refused_when_converting() {
    let buf = vec![0x91u8; 1000]; // [[[[...
    let mut out = Vec::new();
    assert_eq!(write_json(&mut Reader::new(&buf), &mut out, 0), Err(Error::TooDeep));
}

#[test]
fn map_get_finds_keys() {
    let mut buf = Vec::new();
    rmp::encode::write_map_len(&mut buf, 2).unwrap();
    rmp::encode::write_str(&mut buf, "x").unwrap();
    rmp::encode::write_uint(&mut buf, 1).unwrap();
    rmp::encode::write_str(&mut buf, "name").unwrap();
    rmp::encode::write_str(&mut buf, "web").unwrap();
    assert_eq!(map_get(&buf, b"name").and_then(as_str), Some("web"));
    assert_eq!(map_get(&buf, b"nope"), None);
}
