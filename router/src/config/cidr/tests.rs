use super::*;

fn net(s: &str) -> Cidr {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn networks_contain_their_addresses_only() {
    let ten = net("10.0.0.0/8");
    assert!(ten.contains(ip("10.1.2.3")));
    assert!(!ten.contains(ip("11.0.0.1")));
    assert!(ten.contains(ip("::ffff:10.9.9.9")), "IPv4-mapped IPv6");
    assert!(!ten.contains(ip("::1")));
    let host = net("192.0.2.7");
    assert!(host.contains(ip("192.0.2.7")) && !host.contains(ip("192.0.2.8")));
    assert!(net("0.0.0.0/0").contains(ip("203.0.113.1")));
    let v6 = net("2001:db8::/32");
    assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
    assert!(net("::/0").contains(ip("::1")));
    assert!(net("::1/128").contains(ip("::1")));
}

#[test]
fn bad_networks_are_explained() {
    for bad in ["10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/", "10.0.0.0/+8", "example.com", ""] {
        let err = bad.parse::<Cidr>().unwrap_err();
        assert!(err.contains(bad), "{bad}: {err}");
    }
}
