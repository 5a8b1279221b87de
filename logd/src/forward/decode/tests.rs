use super::*;

fn enc(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = Vec::new();
    f(&mut v);
    v
}

fn record(msg: &str) -> Vec<u8> {
    enc(|b| {
        rmp::encode::write_map_len(b, 1).unwrap();
        rmp::encode::write_str(b, "log").unwrap();
        rmp::encode::write_str(b, msg).unwrap();
    })
}

fn event_time(b: &mut Vec<u8>, secs: u32, nanos: u32) {
    rmp::encode::write_ext_meta(b, 8, 0).unwrap();
    b.extend_from_slice(&secs.to_be_bytes());
    b.extend_from_slice(&nanos.to_be_bytes());
}

fn entries(frame: &[u8], packed: Option<&[u8]>) -> Vec<(Timestamp, Vec<u8>)> {
    let f = parse(frame).unwrap();
    let mut it = EntryIter::new(&f.entries, packed, 1000);
    let mut out = Vec::new();
    while let Some((t, r)) = it.next().unwrap() {
        out.push((t, r.to_vec()));
    }
    out
}

#[test]
fn splitter_finds_frames_split_across_reads_and_many_per_read() {
    let frame = enc(|b| {
        rmp::encode::write_array_len(b, 3).unwrap();
        rmp::encode::write_str(b, "tag").unwrap();
        rmp::encode::write_uint(b, 1).unwrap();
        b.extend(record(&"x".repeat(300)));
    });
    let mut two = frame.clone();
    two.extend(&frame);
    let mut s = Splitter::default();
    assert_eq!(s.next_frame(&two, 1 << 20).unwrap(), Some(frame.len()));
    assert_eq!(s.next_frame(&two[frame.len()..], 1 << 20).unwrap(), Some(frame.len()));
    // Byte by byte: None until the last byte.
    let mut s = Splitter::default();
    for end in 1..frame.len() {
        assert_eq!(s.next_frame(&frame[..end], 1 << 20).unwrap(), None, "at {end}");
    }
    assert_eq!(s.next_frame(&frame, 1 << 20).unwrap(), Some(frame.len()));
}

#[test]
fn splitter_rejects_huge_declared_sizes_before_the_bytes_arrive() {
    let max = 1 << 20;
    // [tag, <array32 of 4 billion>]
    let huge_array = [0x92, 0xa1, b't', 0xdd, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(Splitter::default().next_frame(&huge_array, max), Err(DecodeError::Oversized { .. })));
    // [tag, <bin32 of 2 GiB>]
    let huge_bin = [0x92, 0xa1, b't', 0xc6, 0x80, 0, 0, 0];
    assert!(matches!(Splitter::default().next_frame(&huge_bin, max), Err(DecodeError::Oversized { .. })));
    // A map32 claiming 2^32-1 pairs.
    let huge_map = [0x93, 0xa1, b't', 0x01, 0xdf, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(Splitter::default().next_frame(&huge_map, max), Err(DecodeError::Oversized { .. })));
}

#[test]
fn garbage_is_refused_at_the_first_byte() {
    assert!(matches!(Splitter::default().next_frame(b"GET / HTTP/1.1\r\n", 1024), Err(DecodeError::Malformed(_))));
    assert!(matches!(Splitter::default().next_frame(&[0x91, 0xc1], 1024), Err(DecodeError::Malformed(_))));
}

#[test]
fn message_mode_with_event_time_and_chunk() {
    let frame = enc(|b| {
        rmp::encode::write_array_len(b, 4).unwrap();
        rmp::encode::write_str(b, "app.web").unwrap();
        event_time(b, 1_795_428_000, 5);
        b.extend(record("hi"));
        rmp::encode::write_map_len(b, 1).unwrap();
        rmp::encode::write_str(b, "chunk").unwrap();
        rmp::encode::write_str(b, "abc").unwrap();
    });
    let f = parse(&frame).unwrap();
    assert_eq!(f.tag, "app.web");
    assert_eq!(f.chunk, Some(&[0xa3, b'a', b'b', b'c'][..]));
    let e = entries(&frame, None);
    assert_eq!(e, vec![(Timestamp::new(1_795_428_000, 5), record("hi"))]);
}

#[test]
fn forward_mode_with_int_and_float_times() {
    let frame = enc(|b| {
        rmp::encode::write_array_len(b, 2).unwrap();
        rmp::encode::write_str(b, "t").unwrap();
        rmp::encode::write_array_len(b, 2).unwrap();
        rmp::encode::write_array_len(b, 2).unwrap();
        rmp::encode::write_uint(b, 10).unwrap();
        b.extend(record("a"));
        rmp::encode::write_array_len(b, 2).unwrap();
        rmp::encode::write_f64(b, 11.25).unwrap();
        b.extend(record("b"));
    });
    let e = entries(&frame, None);
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].0, Timestamp::new(10, 0));
    assert_eq!(e[1].0, Timestamp::new(11, 250_000_000));
}

fn packed_stream(n: usize) -> Vec<u8> {
    enc(|b| {
        for i in 0..n {
            rmp::encode::write_array_len(b, 2).unwrap();
            event_time(b, 100 + i as u32, 0);
            b.extend(record(&format!("m{i}")));
        }
    })
}

#[test]
fn packed_and_compressed_packed_forward() {
    let stream = packed_stream(3);
    let frame = enc(|b| {
        rmp::encode::write_array_len(b, 3).unwrap();
        rmp::encode::write_str(b, "t").unwrap();
        rmp::encode::write_bin(b, &stream).unwrap();
        rmp::encode::write_map_len(b, 1).unwrap();
        rmp::encode::write_str(b, "size").unwrap();
        rmp::encode::write_uint(b, 3).unwrap();
    });
    assert_eq!(entries(&frame, None).len(), 3);

    // Two gzip members, concatenated.
    let gz = |data: &[u8]| {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let (first, second) = stream.split_at(stream.len() / 2);
    let mut members = gz(first);
    members.extend(gz(second));
    let frame = enc(|b| {
        rmp::encode::write_array_len(b, 3).unwrap();
        rmp::encode::write_str(b, "t").unwrap();
        rmp::encode::write_bin(b, &members).unwrap();
        rmp::encode::write_map_len(b, 1).unwrap();
        rmp::encode::write_str(b, "compressed").unwrap();
        rmp::encode::write_str(b, "gzip").unwrap();
    });
    let f = parse(&frame).unwrap();
    assert!(f.gzip);
    let Entries::Packed { data } = f.entries else { panic!() };
    let mut out = Vec::new();
    inflate(data, 1 << 20, &mut out).unwrap();
    assert_eq!(out, stream);
    assert_eq!(entries(&frame, Some(&out)).len(), 3);

    assert!(matches!(inflate(b"not gzip at all", 1 << 20, &mut out), Err(DecodeError::BadGzip(_))));
    // A bomb: inflates past the limit.
    let bomb = gz(&vec![0u8; 1 << 20]);
    assert!(matches!(inflate(&bomb, 1024, &mut out), Err(DecodeError::Oversized { .. })));
}

#[test]
fn wrong_types_are_refused() {
    let bad_tag = enc(|b| {
        rmp::encode::write_array_len(b, 3).unwrap();
        rmp::encode::write_uint(b, 1).unwrap();
        rmp::encode::write_uint(b, 1).unwrap();
        b.extend(record("x"));
    });
    assert!(matches!(parse(&bad_tag), Err(DecodeError::WrongType(_))));
    let bad_time = enc(|b| {
        rmp::encode::write_array_len(b, 3).unwrap();
        rmp::encode::write_str(b, "t").unwrap();
        rmp::encode::write_nil(b).unwrap();
        b.extend(record("x"));
    });
    assert!(matches!(parse(&bad_time), Err(DecodeError::WrongType(_))));
    let bad_record = enc(|b| {
        rmp::encode::write_array_len(b, 3).unwrap();
        rmp::encode::write_str(b, "t").unwrap();
        rmp::encode::write_uint(b, 1).unwrap();
        rmp::encode::write_str(b, "not a map").unwrap();
    });
    assert!(matches!(parse(&bad_record), Err(DecodeError::WrongType(_))));
}

#[test]
fn too_many_entries_are_refused() {
    let stream = packed_stream(5);
    let frame = enc(|b| {
        rmp::encode::write_array_len(b, 2).unwrap();
        rmp::encode::write_str(b, "t").unwrap();
        rmp::encode::write_bin(b, &stream).unwrap();
    });
    let f = parse(&frame).unwrap();
    let mut it = EntryIter::new(&f.entries, None, 4);
    let mut result = Ok(None);
    for _ in 0..5 {
        result = it.next();
    }
    assert!(matches!(result, Err(DecodeError::TooManyEntries { limit: 4 })));
}

#[test]
fn entries_come_with_their_records_pairs_listed_in_the_same_walk() {
    let long = "x".repeat(300);
    let stream = enc(|b| {
        for msg in ["short", long.as_str()] {
            rmp::encode::write_array_len(b, 2).unwrap();
            rmp::encode::write_uint(b, 7).unwrap();
            rmp::encode::write_map_len(b, 3).unwrap();
            rmp::encode::write_str(b, "log").unwrap();
            rmp::encode::write_str(b, msg).unwrap();
            rmp::encode::write_str(b, "n").unwrap();
            rmp::encode::write_sint(b, -300).unwrap();
            rmp::encode::write_str(b, "nested").unwrap();
            b.extend(record("inner"));
        }
    });
    let frame = enc(|b| {
        rmp::encode::write_array_len(b, 2).unwrap();
        rmp::encode::write_str(b, "t").unwrap();
        rmp::encode::write_bin(b, &stream).unwrap();
    });
    let f = parse(&frame).unwrap();
    let mut it = EntryIter::new(&f.entries, None, 10);
    let mut pairs = Vec::new();
    for msg in ["short", long.as_str()] {
        let (time, rec) = it.next_listed(&mut pairs).unwrap().unwrap();
        assert_eq!(time, Timestamp::new(7, 0));
        let keys: Vec<&[u8]> = pairs.iter().map(|p| p.key).collect();
        assert_eq!(keys, [&b"log"[..], b"n", b"nested"]);
        assert_eq!(msgpack::as_str(pairs[0].value), Some(msg));
        assert_eq!(pairs[1].value, enc(|b| drop(rmp::encode::write_sint(b, -300))));
        assert_eq!(pairs[2].value, record("inner"));
        // The pairs tile the record after its map header.
        assert_eq!(pairs[0].start, 1);
        assert!(pairs.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(pairs[2].end, rec.len());
    }
    assert!(it.next_listed(&mut pairs).unwrap().is_none());
}
