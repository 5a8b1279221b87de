use super::*;

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn a_port_in_use_by_another_listener_is_refused_by_the_probe() {
    let taken = std::net::TcpListener::bind(loopback(0)).unwrap();
    let err = bind_reuseport(taken.local_addr().unwrap(), 2).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains("another process listens there"), "{err}");
}

/// Two routers starting at the same moment: both probes ran before either listened, so
/// SO_REUSEPORT let the second join the first one's port. The check after listening sees
/// the other group, from either side.
#[test]
fn a_rival_that_joined_the_port_through_so_reuseport_is_found_after_listening() {
    let rival = bind_group(loopback(0), 1).unwrap();
    let addr = rival[0].local_addr().unwrap();
    let ours = bind_group(addr, 2).expect("SO_REUSEPORT lets a second group of the same user bind");
    for group in [&ours, &rival] {
        let err = ensure_alone(group).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(err.to_string().contains(&format!("another process also listens on {addr}")), "{err}");
    }
    // The wildcard address of the port overlaps it too.
    let wildcard = bind_group(SocketAddr::from(([0, 0, 0, 0], addr.port())), 1).unwrap();
    drop((ours, rival));
    assert!(ensure_alone(&wildcard).is_ok(), "alone again once the others closed");
    let late = bind_group(addr, 1).unwrap();
    assert!(ensure_alone(&wildcard).is_err(), "127.0.0.1 on the port of 0.0.0.0 is found");
    assert!(ensure_alone(&late).is_err(), "0.0.0.0 on the port of 127.0.0.1 is found");
}

#[test]
fn a_group_alone_on_its_port_and_address_starts() {
    let ours = bind_reuseport(loopback(0), 3).unwrap();
    assert_eq!(ours.len(), 3);
    assert!(ensure_alone(&ours).is_ok());
    // Another address of the same port does not share its connections.
    let port = ours[0].local_addr().unwrap().port();
    let neighbour = bind_group(SocketAddr::from(([127, 0, 0, 2], port)), 1).unwrap();
    assert!(ensure_alone(&ours).is_ok() && ensure_alone(&neighbour).is_ok());
}

#[test]
#[cfg(target_endian = "little")]
fn proc_net_tcp_lines_are_read() {
    let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
                 0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0 100 0 0 10 0\n   \
                 1: 0100007F:1F91 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0 20 4 30 10 -1\n";
    let found: Vec<_> = listening(table).collect();
    assert_eq!(found, [(IpAddr::from([127, 0, 0, 1]), 8080, 4242)], "only LISTEN sockets");
    let v6 = proc_ip("00000000000000000000000001000000").unwrap();
    assert_eq!(v6, IpAddr::from(Ipv6Addr::LOCALHOST));
}
