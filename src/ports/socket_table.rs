//! The listening sockets of the machine, IPv4 and IPv6: TCP in LISTEN, and with UDP asked
//! for, unconnected bound UDP sockets. Read by netlink (about 0.2 ms) where the kernel allows
//! it, else from `/proc/net/{tcp,tcp6,udp,udp6}` (about 10 ms on a busy machine).

use super::{netlink, proc_net};
use serde::Serialize;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

/// One listening socket.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Listener {
    pub proto: Proto,
    pub address: IpAddr,
    pub port: u16,
    /// The socket's inode: what `/proc/PID/fd/N -> socket:[INODE]` names.
    pub inode: u64,
    pub uid: u32,
}

impl Listener {
    /// Whether a service binding `address` would collide with this socket: the same port and
    /// overlapping addresses (the unspecified ones, 0.0.0.0 and ::, overlap everything).
    pub fn overlaps(&self, proto: Proto, address: IpAddr, port: u16) -> bool {
        self.proto == proto
            && self.port == port
            && (self.address == address
                || self.address.is_unspecified()
                || address.is_unspecified())
    }
}

/// Every listening socket; UDP too when `udp`.
pub fn listeners(udp: bool) -> io::Result<Vec<Listener>> {
    read(udp, None)
}

/// The listening sockets on `port`; UDP too when `udp` (each protocol asked for costs the
/// kernel a walk of its whole table, however few sockets it holds).
pub fn listeners_on(port: u16, udp: bool) -> io::Result<Vec<Listener>> {
    read(udp, Some(port))
}

fn read(udp: bool, port: Option<u16>) -> io::Result<Vec<Listener>> {
    let mut all = match netlink::listeners(udp, port) {
        Ok(list) => list,
        Err(_) => proc_net::listeners(udp)?
            .into_iter()
            .filter(|l| port.is_none_or(|p| l.port == p))
            .collect(),
    };
    all.sort();
    all.dedup();
    Ok(all)
}

/// Every listening TCP socket, as read at most `max_age` ago by any thread of this process:
/// services waiting for their ports share one read per tick instead of one read each (twenty
/// starting services polling every 2 ms would otherwise keep a core busy reading it).
pub fn recent_tcp_listeners(max_age: Duration) -> io::Result<Arc<Vec<Listener>>> {
    static LAST: Mutex<Option<(Instant, Arc<Vec<Listener>>)>> = Mutex::new(None);
    // Held while reading: whoever comes meanwhile waits, then takes this read.
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, list)) = &*last
        && at.elapsed() <= max_age
    {
        return Ok(Arc::clone(list));
    }
    // Aged from when the read began: nothing that listened before then is missed.
    let began = Instant::now();
    let list = Arc::new(
        listeners(false)?
            .into_iter()
            .filter(|l| l.proto == Proto::Tcp)
            .collect(),
    );
    *last = Some((began, Arc::clone(&list)));
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn tcp(address: IpAddr, port: u16) -> Listener {
        Listener {
            proto: Proto::Tcp,
            address,
            port,
            inode: 1,
            uid: 0,
        }
    }

    #[test]
    fn overlap_rules() {
        let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert!(tcp(any4, 80).overlaps(Proto::Tcp, lo4, 80));
        assert!(tcp(any6, 80).overlaps(Proto::Tcp, lo4, 80));
        assert!(tcp(lo4, 80).overlaps(Proto::Tcp, any6, 80));
        assert!(
            !tcp(lo4, 80).overlaps(Proto::Tcp, lo6, 80),
            "127.0.0.1 and ::1 are distinct"
        );
        assert!(!tcp(lo4, 80).overlaps(Proto::Tcp, lo4, 81));
        assert!(!tcp(lo4, 80).overlaps(Proto::Udp, lo4, 80));
    }

    #[test]
    fn sees_a_fresh_listener_on_each_family() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let v6 = std::net::TcpListener::bind("[::1]:0").ok();
        let all = listeners(false).unwrap();
        let port = v4.local_addr().unwrap().port();
        assert!(all.iter().any(|l| l.port == port
            && l.address == IpAddr::V4(Ipv4Addr::LOCALHOST)
            && l.inode > 0));
        if let Some(v6) = v6 {
            let port = v6.local_addr().unwrap().port();
            assert!(
                all.iter()
                    .any(|l| l.port == port && l.address == IpAddr::V6(Ipv6Addr::LOCALHOST))
            );
        }
    }

    #[test]
    fn netlink_and_proc_agree() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (tcp_port, udp_port) = (
            held.local_addr().unwrap().port(),
            udp.local_addr().unwrap().port(),
        );
        let Ok(from_netlink) = netlink::listeners(true, None) else {
            return; // netlink refused here: the fallback is what runs, and is tested above
        };
        let from_proc = proc_net::listeners(true).unwrap();
        for port in [tcp_port, udp_port] {
            let a: Vec<_> = from_netlink.iter().filter(|l| l.port == port).collect();
            let b: Vec<_> = from_proc.iter().filter(|l| l.port == port).collect();
            assert_eq!(a, b);
            assert_eq!(a.len(), 1);
        }
    }
}
