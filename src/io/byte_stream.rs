//! A byte stream written to whatever standard output is. On a datagram or sequenced-packet
//! socket (`SOCK_DGRAM`, `SOCK_SEQPACKET`) every write is one message, and a write larger
//! than the socket takes whole fails (EMSGSIZE): the writer there sends the stream in
//! messages of at most [`MAX_MESSAGE`] bytes. Their concatenation is the stream; where one
//! message ends says nothing. Elsewhere (a file, a pipe, a stream socket) writes pass as
//! they are.

use super::is_packet_socket;
use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::os::fd::{AsFd, BorrowedFd};

/// The most bytes of a byte stream in one message: the largest UDP payload (IPv4), which
/// a Unix-domain socket takes too under its default buffer size.
pub const MAX_MESSAGE: usize = 65_507;

/// A file written as a byte stream: in messages of at most [`MAX_MESSAGE`] bytes when it
/// is a packet socket ([`is_packet_socket`]), as it is otherwise.
#[derive(Debug)]
pub struct ByteStream {
    file: File,
    max_write: usize,
}

impl ByteStream {
    pub fn new(file: File) -> Self {
        let messages = is_packet_socket(file.as_fd());
        ByteStream {
            file,
            max_write: if messages { MAX_MESSAGE } else { usize::MAX },
        }
    }

    /// True when each write is a message of its own (a packet socket): the kernel's copy
    /// paths (splice, sendfile) do not bound their messages, so a caller writes instead.
    pub fn is_messages(&self) -> bool {
        self.max_write != usize::MAX
    }

    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Write for ByteStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(&buf[..buf.len().min(self.max_write)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total <= self.max_write {
            return self.file.write_vectored(bufs);
        }
        // The slices that fit one message, the last one cut.
        let mut room = self.max_write;
        let mut fit = Vec::new();
        for b in bufs {
            if room == 0 {
                break;
            }
            let n = b.len().min(room);
            fit.push(IoSlice::new(&b[..n]));
            room -= n;
        }
        self.file.write_vectored(&fit)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl AsFd for ByteStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    use std::io::Read;

    #[test]
    fn a_packet_socket_gets_the_stream_in_bounded_messages() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for kind in [SocketType::SEQPACKET, SocketType::DGRAM] {
            let (a, b) = socketpair(AddressFamily::UNIX, kind, SocketFlags::CLOEXEC, None).unwrap();
            let mut out = ByteStream::new(File::from(a));
            assert!(out.is_messages());
            let reader = std::thread::spawn(move || {
                let (mut theirs, mut got, mut sizes) = (File::from(b), vec![], vec![]);
                let mut buf = vec![0; MAX_MESSAGE + 1];
                while got.len() < 300_000 {
                    let n = theirs.read(&mut buf).unwrap();
                    sizes.push(n);
                    got.extend_from_slice(&buf[..n]);
                }
                (got, sizes)
            });
            let (head, tail) = data.split_at(100_000);
            out.write_all(head).unwrap();
            let mut slices = [
                IoSlice::new(&tail[..150_000]),
                IoSlice::new(&tail[150_000..]),
            ];
            crate::io::write_all_vectored(&mut out, &mut slices).unwrap();
            let (got, sizes) = reader.join().unwrap();
            assert!(got == data, "{kind:?}: the stream, in order");
            assert!(
                sizes.iter().all(|&n| n <= MAX_MESSAGE),
                "{kind:?}: {sizes:?}"
            );
        }
    }

    #[test]
    fn other_files_are_written_as_they_are() {
        let (a, _b) = socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        assert!(!ByteStream::new(File::from(a)).is_messages());
        let file = tempfile::tempfile().unwrap();
        assert!(!ByteStream::new(file).is_messages());
    }
}
