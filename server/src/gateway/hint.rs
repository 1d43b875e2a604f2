//! The hint of a 502: why the gateway could not reach a port, in words the
//! user can act on.

use crate::procfs::{self, Listener};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Addresses the gateway's connection reaches (the local backend tries
/// 127.0.0.1, then ::1); a listener on any of these is reachable.
fn reachable(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.is_unspecified() || v == Ipv4Addr::LOCALHOST,
        IpAddr::V6(v) => v.is_unspecified() || v == Ipv6Addr::LOCALHOST,
    }
}

/// How long one reading of the listening sockets serves every 502: however
/// many requests come, /proc is read at most once per period.
const FRESH: Duration = Duration::from_secs(1);

static LISTENERS: tokio::sync::Mutex<Option<(Instant, Arc<Vec<Listener>>)>> =
    tokio::sync::Mutex::const_new(None);

/// The listening sockets of this machine, read off the runtime's workers at
/// most once per [`FRESH`] (concurrent callers share one reading).
async fn listeners() -> Arc<Vec<Listener>> {
    let mut cached = LISTENERS.lock().await;
    if let Some((at, l)) = &*cached {
        if at.elapsed() < FRESH {
            return l.clone();
        }
    }
    let l = Arc::new(
        tokio::task::spawn_blocking(procfs::tcp_listeners)
            .await
            .unwrap_or_default(),
    );
    *cached = Some((Instant::now(), l.clone()));
    l
}

/// Addresses listening on `port`, per these listeners.
fn addrs_on(listeners: &[Listener], port: u16) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for l in listeners.iter().filter(|l| l.port == port) {
        if !out.contains(&l.addr) {
            out.push(l.addr);
        }
    }
    out
}

/// The hint for "nothing accepted on `port`".
pub(crate) async fn not_responding(port: u16, backend: &str) -> String {
    let generic = format!(
        "start the service and wait for it (waitForPort {port}); it must listen on port {port} \
         on 0.0.0.0 (all interfaces) or 127.0.0.1, not on a specific external address"
    );
    if backend != "local" {
        // The gateway connects from inside the container (through the
        // agent), so 127.0.0.1 there is reachable as well as 0.0.0.0.
        return format!("{generic} (inside the container)");
    }
    let addrs = addrs_on(&listeners().await, port);
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

    fn l(addr: [u8; 4], port: u16) -> Listener {
        Listener {
            addr: IpAddr::from(addr),
            port,
            inode: 0,
        }
    }

    #[test]
    fn addresses_of_a_port() {
        let ls = [
            l([127, 0, 0, 1], 8000),
            l([10, 0, 2, 15], 8001),
            l([127, 0, 0, 1], 8001),
        ];
        assert_eq!(addrs_on(&ls, 8000), vec![IpAddr::from([127, 0, 0, 1])]);
        assert_eq!(addrs_on(&ls, 8001).len(), 2);
        assert!(addrs_on(&ls, 9).is_empty());
        assert!(reachable(IpAddr::from([0, 0, 0, 0])));
        assert!(reachable(IpAddr::from([127, 0, 0, 1])));
        assert!(!reachable(IpAddr::from([10, 0, 2, 15])));
        assert!(!reachable(IpAddr::from([127, 0, 0, 2])));
    }

    #[tokio::test]
    async fn docker_does_not_call_localhost_unreachable() {
        let h = not_responding(8000, "docker").await;
        assert!(h.contains("127.0.0.1"), "{h}");
        assert!(!h.contains("not reachable"), "{h}");
    }

    #[tokio::test]
    async fn one_reading_serves_many_requests() {
        let a = listeners().await;
        let b = listeners().await;
        assert!(Arc::ptr_eq(&a, &b), "read again within {FRESH:?}");
    }
}
