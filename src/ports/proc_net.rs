//! The socket table from `/proc/net/{tcp,tcp6,udp,udp6}`: slower than netlink, but readable
//! wherever `/proc` is.

use super::socket_table::{Listener, Proto};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// TCP_LISTEN, and for UDP TCP_CLOSE: an unconnected, bound UDP socket.
const TCP_LISTEN: u8 = 0x0A;
const UDP_UNCONNECTED: u8 = 0x07;

pub fn listeners(udp: bool) -> io::Result<Vec<Listener>> {
    let mut tables = vec![("tcp", Proto::Tcp), ("tcp6", Proto::Tcp)];
    if udp {
        tables.extend([("udp", Proto::Udp), ("udp6", Proto::Udp)]);
    }
    let mut out = Vec::new();
    for (file, proto) in tables {
        match std::fs::read_to_string(format!("/proc/net/{file}")) {
            Ok(text) => out.extend(parse(&text, proto)),
            // A kernel without IPv6 has no tcp6.
            Err(e) if e.kind() == io::ErrorKind::NotFound && file.ends_with('6') => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Parses one table; lines that do not parse are skipped.
pub fn parse(text: &str, proto: Proto) -> Vec<Listener> {
    let wanted = match proto {
        Proto::Tcp => TCP_LISTEN,
        Proto::Udp => UDP_UNCONNECTED,
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (address, port) = f.get(1)?.split_once(':')?;
            let state = u8::from_str_radix(f.get(3)?, 16).ok()?;
            (state == wanted).then_some(())?;
            Some(Listener {
                proto,
                address: address_from_hex(address)?,
                port: u16::from_str_radix(port, 16).ok()?,
                uid: f.get(7)?.parse().ok()?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// Addresses are printed as 32-bit words as the kernel holds them in memory, so each word's
/// native-endian bytes are the address bytes in order.
fn address_from_hex(hex: &str) -> Option<IpAddr> {
    let mut bytes = Vec::with_capacity(16);
    for i in 0..hex.len() / 8 {
        let word = u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(bytes).ok()?,
        ))),
        _ => None,
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_format() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 20 4 30 10 -1
";
        let got = parse(tcp, Proto::Tcp);
        assert_eq!(got.len(), 2, "only LISTEN sockets");
        assert_eq!(got[0].address, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!((got[0].port, got[0].uid, got[0].inode), (8080, 1000, 12345));
        assert_eq!(got[1].address, IpAddr::V4(Ipv4Addr::UNSPECIFIED));

        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 100 0 0 10 0
";
        let got = parse(tcp6, Proto::Tcp);
        assert_eq!(got[0].address, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(got[1].address, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert_eq!(got[1].port, 80);
    }
}
