//! Reading Linux's `/proc`: the one place that parses it, for the local
//! backend, the agent inside a container and the gateway's 502 hint.
//!
//! Every function here reads files (a scan of `/proc` reads hundreds):
//! async callers run them with `spawn_blocking`, never on a runtime worker.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone)]
pub struct ProcEntry {
    /// The program's name; changes when the process execs another program.
    pub comm: String,
    pub pid: u32,
    pub ppid: u32,
    pub pgrp: i32,
    pub state: char,
}

/// Every process of the machine from /proc (pid, parent, group, state).
pub fn proc_table() -> Vec<ProcEntry> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(p) = read_stat(pid) {
            out.push(p);
        }
    }
    out
}

pub fn read_stat(pid: u32) -> Option<ProcEntry> {
    parse_stat(
        pid,
        &std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?,
    )
}

/// One `/proc/PID/stat` line.
pub fn parse_stat(pid: u32, s: &str) -> Option<ProcEntry> {
    // comm may hold spaces and parentheses: fields follow the last ')'.
    let close = s.rfind(')')?;
    let comm = s[s.find('(')? + 1..close].to_string();
    let rest = s.get(close + 2..)?;
    let mut f = rest.split_ascii_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    Some(ProcEntry {
        pid,
        ppid,
        pgrp,
        state,
        comm,
    })
}

/// This process's children (of all its threads), from
/// `/proc/self/task/*/children`; `None` where the kernel lacks that file.
pub fn own_children() -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let s = std::fs::read_to_string(t.path().join("children")).ok()?;
        out.extend(
            s.split_ascii_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    Some(out)
}

/// Live (not zombie) processes of a process group, with their program name.
pub fn group_members(pgid: i32) -> Vec<(u32, String)> {
    proc_table()
        .into_iter()
        .filter(|p| p.pgrp == pgid && p.state != 'Z' && p.state != 'X')
        .map(|p| (p.pid, p.comm))
        .collect()
}

/// A TCP socket in LISTEN state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub addr: IpAddr,
    pub port: u16,
    pub inode: u64,
}

/// The listening sockets of a `/proc/net/tcp` or `/proc/net/tcp6` table.
pub fn parse_tcp_listeners(table: &str) -> Vec<Listener> {
    let mut out = Vec::new();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() < 4 || f[3] != "0A" {
            continue;
        }
        let Some((addr, p)) = f[1].split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(p, 16) else {
            continue;
        };
        // The kernel prints each 32-bit word in host order (little-endian here).
        let words: Option<Vec<[u8; 4]>> = (0..addr.len() / 8)
            .map(|i| {
                u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16)
                    .ok()
                    .map(u32::to_le_bytes)
            })
            .collect();
        let Some(words) = words else { continue };
        let addr = match words.len() {
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
        let inode = f.get(9).and_then(|i| i.parse().ok()).unwrap_or(0);
        out.push(Listener { addr, port, inode });
    }
    out
}

/// Every listening TCP socket of this network namespace (v4 and v6).
pub fn tcp_listeners() -> Vec<Listener> {
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(s) = std::fs::read_to_string(file) {
            out.extend(parse_tcp_listeners(&s));
        }
    }
    out
}

/// The TCP ports each tree (by its leader's pid) listens on.
pub fn listening_ports(leaders: &[u32]) -> BTreeMap<u32, Vec<u16>> {
    if leaders.is_empty() {
        return BTreeMap::new();
    }
    let table = proc_table();
    let mut kids: HashMap<u32, Vec<u32>> = HashMap::new();
    for p in &table {
        kids.entry(p.ppid).or_default().push(p.pid);
    }
    let listen: HashMap<u64, u16> = tcp_listeners()
        .into_iter()
        .map(|l| (l.inode, l.port))
        .collect();
    let mut out = BTreeMap::new();
    for &leader in leaders {
        let mut ports = Vec::new();
        let mut stack = vec![leader];
        let mut seen = HashSet::new();
        while let Some(pid) = stack.pop() {
            if !seen.insert(pid) {
                continue;
            }
            if let Some(k) = kids.get(&pid) {
                stack.extend(k);
            }
            let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                let Ok(target) = std::fs::read_link(fd.path()) else {
                    continue;
                };
                let t = target.to_string_lossy();
                if let Some(inode) = t
                    .strip_prefix("socket:[")
                    .and_then(|r| r.strip_suffix(']'))
                    .and_then(|r| r.parse::<u64>().ok())
                {
                    if let Some(&port) = listen.get(&inode) {
                        ports.push(port);
                    }
                }
            }
        }
        ports.sort_unstable();
        ports.dedup();
        out.insert(leader, ports);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0 100 0 0 10 0
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
        let l = parse_tcp_listeners(TCP);
        assert_eq!(l.len(), 2, "the established socket is not listed");
        assert_eq!(
            l[0],
            Listener {
                addr: IpAddr::from([127, 0, 0, 1]),
                port: 8000,
                inode: 1234
            }
        );
        assert_eq!(l[1].addr, IpAddr::from([10, 0, 2, 15]));
        let l6 = parse_tcp_listeners(TCP6);
        assert_eq!(l6[0].addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(l6[0].port, 8002);
        assert_eq!(l6[1].addr, IpAddr::from([10, 0, 2, 15]));
    }

    #[test]
    fn parses_stat_with_odd_names() {
        let e = parse_stat(42, "42 (a) b (c) S 1 42 42 0 -1").unwrap();
        assert_eq!(e.comm, "a) b (c");
        assert_eq!((e.state, e.ppid, e.pgrp), ('S', 1, 42));
        assert!(parse_stat(1, "garbage").is_none());
    }

    #[test]
    fn sees_this_process() {
        let me = std::process::id();
        assert!(proc_table().iter().any(|p| p.pid == me));
        assert!(own_children().is_some_and(|c| !c.contains(&me)));
    }
}
