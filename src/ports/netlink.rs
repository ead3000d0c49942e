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

pub fn listeners(udp: bool) -> io::Result<Vec<Listener>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut out = Vec::new();
    let mut queries = vec![(AF_INET, Proto::Tcp), (AF_INET6, Proto::Tcp)];
    if udp {
        queries.extend([(AF_INET, Proto::Udp), (AF_INET6, Proto::Udp)]);
    }
    for (family, proto) in queries {
        dump(&socket, family, proto, &mut out)?;
    }
    Ok(out)
}

fn dump(socket: &Socket, family: u8, proto: Proto, out: &mut Vec<Listener>) -> io::Result<()> {
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
