//! The socket table by netlink sock_diag: one dump request per family and protocol, with
//! the kernel filtering by state. Multi-part replies are read until `Done`; an error reply
//! (a kernel without inet_diag, a sandbox that refuses it) is returned for the caller to
//! fall back to `/proc`.

use super::socket_table::{Listener, Proto};
use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr};
use std::io;

/// Every listening socket; UDP too when `udp`; only those on `port` when given (the kernel
/// filters: `ports who` on a machine with a thousand listeners reads one).
pub fn listeners(udp: bool, port: Option<u16>) -> io::Result<Vec<Listener>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut out = Vec::new();
    let mut queries = vec![(AF_INET, Proto::Tcp), (AF_INET6, Proto::Tcp)];
    if udp {
        queries.extend([(AF_INET, Proto::Udp), (AF_INET6, Proto::Udp)]);
    }
    for (family, proto) in queries {
        dump(&socket, family, proto, port, &mut out)?;
    }
    Ok(out)
}

fn dump(
    socket: &Socket,
    family: u8,
    proto: Proto,
    port: Option<u16>,
    out: &mut Vec<Listener>,
) -> io::Result<()> {
    let (protocol, states) = match proto {
        Proto::Tcp => (IPPROTO_TCP, StateFlags::LISTEN),
        // An unconnected UDP socket is in TCP_CLOSE.
        Proto::Udp => (IPPROTO_UDP, StateFlags::CLOSE),
    };
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol,
            extensions: ExtensionFlags::empty(),
            states,
            socket_id: if family == AF_INET {
                SocketId::new_v4()
            } else {
                SocketId::new_v6()
            },
        })
        .into(),
    );
    request.finalize();
    let mut buf = vec![0; request.buffer_len()];
    request.serialize(&mut buf);
    if let Some(port) = port {
        with_filter(&mut buf, &source_port_is(port));
    }
    socket.send(&buf, 0)?;

    let mut receive = vec![0u8; 64 * 1024];
    loop {
        let size = socket.recv(&mut &mut receive[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(&receive[offset..size])
                .map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("sock_diag reply: {e}"))
                })?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    return Err(io::Error::other(format!("sock_diag refused: {e:?}")));
                }
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                    let h = response.header;
                    out.push(Listener {
                        proto,
                        address: h.socket_id.source_address,
                        port: h.socket_id.source_port,
                        inode: u64::from(h.inode),
                        uid: h.uid,
                    });
                }
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

/// `INET_DIAG_REQ_BYTECODE`: the attribute carrying a filter program.
const REQ_BYTECODE: u16 = 1;
/// Filter operations: source port at least, at most (the port is the next op's `no`).
const BC_S_GE: u8 = 2;
const BC_S_LE: u8 = 3;

/// A filter program accepting sockets whose local port is `port`: `>= port`, then `<= port`.
/// Each op is (code, jump if true, jump if false); jumping exactly to the end accepts,
/// past it rejects. (`>=` and `<=` rather than the newer `==`, which older kernels lack.)
fn source_port_is(port: u16) -> Vec<u8> {
    let op = |code: u8, yes: u8, no: u16| {
        let mut bytes = vec![code, yes];
        bytes.extend_from_slice(&no.to_ne_bytes());
        bytes
    };
    [
        op(BC_S_GE, 8, 20),
        op(0, 0, port),
        op(BC_S_LE, 8, 12),
        op(0, 0, port),
    ]
    .concat()
}

/// Appends `program` to the serialized request `message` as its filter attribute, and
/// counts it in the message's length.
fn with_filter(message: &mut Vec<u8>, program: &[u8]) {
    let attribute_len = 4 + program.len() as u16;
    message.extend_from_slice(&attribute_len.to_ne_bytes());
    message.extend_from_slice(&REQ_BYTECODE.to_ne_bytes());
    message.extend_from_slice(program);
    let total = message.len() as u32;
    message[..4].copy_from_slice(&total.to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_filter_gives_that_port_only_on_each_family() {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let b = std::net::TcpListener::bind("[::1]:0").unwrap();
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let ports = [&a, &b].map(|l| l.local_addr().unwrap().port());
        let Ok(everything) = listeners(true, None) else {
            return; // netlink refused here: the /proc fallback is what runs
        };
        assert!(everything.len() >= 3);
        for port in ports {
            let on = listeners(true, Some(port)).unwrap();
            assert_eq!(on.len(), 1, "{on:?}");
            assert_eq!(on[0].port, port);
        }
        let udp_port = u.local_addr().unwrap().port();
        let on = listeners(true, Some(udp_port)).unwrap();
        assert!(
            on.iter()
                .any(|l| l.proto == Proto::Udp && l.port == udp_port)
        );
        assert!(on.iter().all(|l| l.port == udp_port));
        // A port nobody listens on: nothing, not everything.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let free_port = free.local_addr().unwrap().port();
        drop(free);
        assert!(listeners(false, Some(free_port)).unwrap().is_empty());
    }
}
