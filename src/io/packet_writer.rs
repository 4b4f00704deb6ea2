//! Datagrams: one send, one packet, for an output whose every write is a message of its
//! own (a `SOCK_DGRAM` or `SOCK_SEQPACKET` socket, as socat's `EXEC:...,socktype=5` and
//! UDP give). A stream writer batches writes for speed; on such a socket a batch is one
//! message too large to send (EMSGSIZE) or, smaller, a message that holds many packets,
//! which a receiver reading datagrams of one packet's size truncates.
//!
//! This module knows nothing of what a packet is: [`PacketWriter::send`] makes one message
//! of the slices it is given. Where the packets of a stream end is the caller's concern.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::os::fd::{AsFd, BorrowedFd};

/// True when every write to `fd` is one message: a datagram or sequenced-packet socket.
pub fn is_packet_socket(fd: BorrowedFd<'_>) -> bool {
    use rustix::net::{sockopt, SocketType};
    matches!(
        sockopt::socket_type(fd),
        Ok(SocketType::DGRAM | SocketType::SEQPACKET)
    )
}

/// Sends each packet as one message, whole or not at all.
#[derive(Debug)]
pub struct PacketWriter {
    socket: File,
}

impl PacketWriter {
    /// Send to `socket` (see [`is_packet_socket`]).
    pub fn new(socket: File) -> Self {
        PacketWriter { socket }
    }

    /// Send `slices`, one after another, as one message. A message the socket took in
    /// part is an error, never a second message with the rest.
    pub fn send(&mut self, slices: &[IoSlice<'_>]) -> io::Result<()> {
        let len: usize = slices.iter().map(|s| s.len()).sum();
        loop {
            match self.socket.write_vectored(slices) {
                Ok(n) if n == len => return Ok(()),
                Ok(n) => {
                    return Err(io::Error::other(format!(
                        "a datagram of {len} bytes was sent cut to {n}"
                    )))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl AsFd for PacketWriter {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};

    fn pair(kind: SocketType) -> (File, File) {
        let (a, b) = socketpair(AddressFamily::UNIX, kind, SocketFlags::CLOEXEC, None).unwrap();
        (File::from(a), File::from(b))
    }

    #[test]
    fn each_send_is_one_message() {
        for kind in [SocketType::SEQPACKET, SocketType::DGRAM] {
            let (ours, mut theirs) = pair(kind);
            assert!(is_packet_socket(ours.as_fd()));
            let mut w = PacketWriter::new(ours);
            w.send(&[IoSlice::new(b"head"), IoSlice::new(b"er and payload")])
                .unwrap();
            w.send(&[IoSlice::new(b"second")]).unwrap();
            let mut buf = [0u8; 100];
            let n = io::Read::read(&mut theirs, &mut buf).unwrap();
            assert_eq!(&buf[..n], b"header and payload");
            let n = io::Read::read(&mut theirs, &mut buf).unwrap();
            assert_eq!(&buf[..n], b"second");
        }
    }

    #[test]
    fn streams_are_not_packet_sockets() {
        let (stream, _) = pair(SocketType::STREAM);
        assert!(!is_packet_socket(stream.as_fd()));
        let (r, _w) = rustix::pipe::pipe().unwrap();
        assert!(!is_packet_socket(r.as_fd()));
        let file = tempfile::tempfile().unwrap();
        assert!(!is_packet_socket(file.as_fd()));
    }
}
