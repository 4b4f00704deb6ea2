//! The sender's writes to a datagram socket: each packet in them one message.
//!
//! The sender writes batches of whole packets (many to a write, for speed, and paced in
//! batches of about 5 ms). [`Datagrams`] finds where each packet ends from its header and
//! sends it on its own through a [`PacketWriter`], its bytes sent from where they lie (the
//! header array, the payload in the input, the parity buffer). A packet cut between two
//! writes, which the sender never does, is put together in a small buffer first.

use crate::io::PacketWriter;
use crate::wire::{Header, HEADER_LEN, MAX_DATAGRAM};
use std::io::{self, IoSlice, Write};

/// Most slices one packet is sent from without being copied: its header, payload and
/// trailer, with room to spare.
const MAX_PIECES: usize = 8;

/// A writer of whole packets that sends each as one message; see the module docs.
pub struct Datagrams {
    out: PacketWriter,
    /// The start of a packet that a write cut (never more than one packet).
    partial: Vec<u8>,
}

impl Datagrams {
    pub fn new(out: PacketWriter) -> Self {
        Datagrams {
            out,
            partial: Vec::new(),
        }
    }

    /// How long the packet starting with `head` (at least a header) is.
    fn packet_len(head: &[u8]) -> io::Result<usize> {
        Header::parse(head).map(|h| h.packet_len()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a packet where one should start: {e}"),
            )
        })
    }

    /// Move bytes from `at` into `partial` until it holds a whole packet (sent then) or
    /// the slices end.
    fn fill_partial(&mut self, at: &mut Cursor) -> io::Result<()> {
        loop {
            let want = if self.partial.len() < HEADER_LEN {
                HEADER_LEN
            } else {
                Self::packet_len(&self.partial)?
            };
            if self.partial.len() == want {
                self.out.send(&[IoSlice::new(&self.partial)])?;
                self.partial.clear();
                return Ok(());
            }
            let Some(piece) = at.take(want - self.partial.len()) else {
                return Ok(());
            };
            self.partial.extend_from_slice(piece);
        }
    }
}

/// A place in a list of slices, read forwards.
#[derive(Clone, Copy)]
struct Cursor<'s, 'a> {
    slices: &'s [IoSlice<'a>],
    index: usize,
    offset: usize,
}

impl<'s, 'a> Cursor<'s, 'a> {
    /// Up to `most` bytes from the current slice, and move past them; `None` at the end.
    fn take(&mut self, most: usize) -> Option<&'s [u8]> {
        while self.index < self.slices.len() {
            let rest = &self.slices[self.index][self.offset..];
            if !rest.is_empty() && most > 0 {
                let n = rest.len().min(most);
                self.offset += n;
                return Some(&rest[..n]);
            }
            if most == 0 {
                return None;
            }
            self.index += 1;
            self.offset = 0;
        }
        None
    }

    /// The next `N` bytes, copied, without moving; `None` if fewer remain.
    fn peek<const N: usize>(&self) -> Option<[u8; N]> {
        let mut copy = *self;
        let mut bytes = [0u8; N];
        let mut filled = 0;
        while filled < N {
            let piece = copy.take(N - filled)?;
            bytes[filled..filled + piece.len()].copy_from_slice(piece);
            filled += piece.len();
        }
        Some(bytes)
    }

    /// The next `len` bytes as at most [`MAX_PIECES`] slices in `pieces`, and move past
    /// them; how many slices, or `None` (without moving) if fewer bytes remain or they lie
    /// in more pieces.
    fn take_packet(&mut self, len: usize, pieces: &mut [IoSlice<'s>; MAX_PIECES]) -> Option<usize> {
        let start = *self;
        let mut count = 0;
        let mut left = len;
        while left > 0 {
            match self.take(left) {
                Some(piece) if count < MAX_PIECES => {
                    left -= piece.len();
                    pieces[count] = IoSlice::new(piece);
                    count += 1;
                }
                _ => {
                    *self = start;
                    return None;
                }
            }
        }
        Some(count)
    }
}

impl Write for Datagrams {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(data)])
    }

    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        let total = slices.iter().map(|s| s.len()).sum();
        let mut at = Cursor {
            slices,
            index: 0,
            offset: 0,
        };
        let mut pieces = [IoSlice::new(&[]); MAX_PIECES];
        loop {
            if !self.partial.is_empty() {
                self.fill_partial(&mut at)?;
                if !self.partial.is_empty() {
                    break;
                }
            }
            let Some(head) = at.peek::<HEADER_LEN>() else {
                // The start of a packet, or nothing, is left.
                self.fill_partial(&mut at)?;
                break;
            };
            let len = Self::packet_len(&head)?;
            match at.take_packet(len, &mut pieces) {
                Some(count) => self.out.send(&pieces[..count])?,
                // Cut by the end of this write (or in many pieces): put it together.
                None => self.fill_partial(&mut at)?,
            }
        }
        debug_assert!(self.partial.len() <= MAX_DATAGRAM);
        Ok(total)
    }

    /// A packet still incomplete here was cut by the sender: an error, not a datagram.
    fn flush(&mut self) -> io::Result<()> {
        if self.partial.is_empty() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the sender stopped {} bytes into a packet",
                    self.partial.len()
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    use std::fs::File;
    use std::io::Read;

    fn packet(seq: u32, len: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..len).map(|i| (i as u32 * 7 + seq) as u8).collect();
        Header::test_data(seq, u64::from(seq) * 1000, &payload).with_payload(&payload)
    }

    #[test]
    fn every_packet_is_one_message_however_the_writes_cut_them() {
        let packets: Vec<Vec<u8>> = (0..20)
            .map(|i| packet(i, (i as usize * 37) % 300))
            .collect();
        let stream = packets.concat();
        // Whole packets many to a write, in pieces, one byte at a time, and cut anywhere.
        /// How a stream is cut into writes, and each write into slices.
        type Cut = dyn Fn(&[u8]) -> Vec<Vec<IoSlice>>;
        let cuts: [&Cut; 3] = [
            &|s| vec![s.chunks(1000).map(IoSlice::new).collect()],
            &|s| s.chunks(1).map(|c| vec![IoSlice::new(c)]).collect(),
            &|s| {
                s.chunks(97)
                    .map(|c| c.chunks(13).map(IoSlice::new).collect())
                    .collect()
            },
        ];
        for cut in cuts {
            let (a, b) = socketpair(
                AddressFamily::UNIX,
                SocketType::SEQPACKET,
                SocketFlags::CLOEXEC,
                None,
            )
            .unwrap();
            let reader = std::thread::spawn(move || {
                let mut b = File::from(b);
                let mut got = Vec::new();
                let mut buf = vec![0u8; MAX_DATAGRAM];
                loop {
                    match b.read(&mut buf).unwrap() {
                        0 => return got,
                        n => got.push(buf[..n].to_vec()),
                    }
                }
            });
            let mut w = Datagrams::new(PacketWriter::new(File::from(a)));
            for write in cut(&stream) {
                let n = w.write_vectored(&write).unwrap();
                assert_eq!(n, write.iter().map(|s| s.len()).sum::<usize>());
            }
            w.flush().unwrap();
            drop(w);
            assert_eq!(reader.join().unwrap(), packets);
        }
    }

    #[test]
    fn a_packet_left_unfinished_is_an_error() {
        let (a, _b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let mut w = Datagrams::new(PacketWriter::new(File::from(a)));
        let p = packet(1, 100);
        w.write_all(&p[..50]).unwrap();
        assert_eq!(w.flush().unwrap_err().kind(), io::ErrorKind::InvalidData);
        let mut w2 = Datagrams::new(PacketWriter::new(tempfile::tempfile().unwrap()));
        let err = w2.write_all(&[0u8; 64]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
