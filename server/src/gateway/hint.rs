//! The hint of a 502: why the gateway could not reach a port, in words the
//! user can act on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Addresses the gateway's connection reaches (the local backend tries
/// 127.0.0.1, then ::1); a listener on any of these is reachable.
fn reachable(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.is_unspecified() || v == Ipv4Addr::LOCALHOST,
        IpAddr::V6(v) => v.is_unspecified() || v == Ipv6Addr::LOCALHOST,
    }
}

/// Local addresses listening on `port` per a `/proc/net/tcp{,6}` table.
pub(crate) fn listeners_in(table: &str, port: u16) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || f[3] != "0A" {
            continue;
        }
        let Some((addr, p)) = f[1].split_once(':') else {
            continue;
        };
        if u16::from_str_radix(p, 16).ok() != Some(port) {
            continue;
        }
        // The kernel prints each 32-bit word in host order (little-endian here).
        let words: Option<Vec<[u8; 4]>> = (0..addr.len() / 8)
            .map(|i| {
                u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16)
                    .ok()
                    .map(u32::to_le_bytes)
            })
            .collect();
        let Some(words) = words else { continue };
        let ip = match words.len() {
            1 => IpAddr::V4(Ipv4Addr::from(words[0])),
            4 => {
                let mut b = [0u8; 16];
                for (i, w) in words.iter().enumerate() {
                    b[i * 4..i * 4 + 4].copy_from_slice(w);
                }
                let v6 = Ipv6Addr::from(b);
                match v6.to_ipv4_mapped() {
                    Some(v4) => IpAddr::V4(v4),
                    None => IpAddr::V6(v6),
                }
            }
            _ => continue,
        };
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// The hint for "nothing accepted on `port`".
pub(crate) fn not_responding(port: u16, backend: &str) -> String {
    let generic = format!(
        "start the service and wait for it (waitForPort {port}); it must listen on port {port} \
         on 0.0.0.0 (all interfaces) or 127.0.0.1, not on a specific external address"
    );
    if backend != "local" {
        return format!(
            "{generic}; inside the container, bind 0.0.0.0 (a service bound to localhost/127.0.0.1 \
             alone is not reachable from the gateway)"
        );
    }
    let mut addrs = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(t) = std::fs::read_to_string(f) {
            addrs.extend(listeners_in(&t, port));
        }
    }
    if !addrs.is_empty() && !addrs.iter().any(|a| reachable(*a)) {
        let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        return format!(
            "something listens on port {port} only on {}, an address the gateway cannot reach; \
             bind it to 0.0.0.0 or 127.0.0.1 instead",
            list.join(", ")
        );
    }
    if addrs.is_empty() {
        format!("nothing listens on port {port}: {generic}")
    } else {
        generic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0F02000A:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:1F41 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
";
    const TCP6: &str =
        "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:1F42 00000000000000000000000000000000:0000 0A 0
   1: 0000000000000000FFFF00000F02000A:1F43 00000000000000000000000000000000:0000 0A 0
";

    #[test]
    fn parses_listeners() {
        assert_eq!(listeners_in(TCP, 8000), vec![IpAddr::from([127, 0, 0, 1])]);
        // 10.0.2.15:8001 listening; the established socket on 8001 is ignored.
        assert_eq!(listeners_in(TCP, 8001), vec![IpAddr::from([10, 0, 2, 15])]);
        assert_eq!(
            listeners_in(TCP6, 8002),
            vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]
        );
        assert_eq!(listeners_in(TCP6, 8003), vec![IpAddr::from([10, 0, 2, 15])]);
        assert!(listeners_in(TCP, 9).is_empty());
        assert!(reachable(IpAddr::from([0, 0, 0, 0])));
        assert!(reachable(IpAddr::from([127, 0, 0, 1])));
        assert!(!reachable(IpAddr::from([10, 0, 2, 15])));
        assert!(!reachable(IpAddr::from([127, 0, 0, 2])));
    }
}
