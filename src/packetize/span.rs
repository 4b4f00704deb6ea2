//! Interleaved sending: a span of data packets (and its parity) in the order of
//! [`interleave::send_order_of_pass`], so a burst of losses costs each group at most one
//! packet. The span's parity is computed before its first packet goes out.

use super::interleave::{self, Slot};
use super::sender::{seal_parity, Sender, PACKETS_PER_WRITE};
use super::{Packetizer, Sealed};
use crate::io::write_all_vectored;
use crate::wire::HEADER_LEN;
use std::io::{self, IoSlice};

impl Sender<'_> {
    /// Send `data`, the rest of the transfer, span by span in the interleaved order of
    /// [`interleave::send_order`]; the last packet ends the transfer. A span's parity is
    /// computed before it is sent (it is held until its columns come: M/K of the span).
    /// `sent` is told how many bytes of `data` have gone out after each span.
    pub(super) fn send_interleaved(
        &mut self,
        packetizer: &mut Packetizer,
        data: &[u8],
        sent: &mut dyn FnMut(usize),
    ) -> io::Result<()> {
        let p = packetizer.settings.payload_len;
        let span = packetizer.span.expect("called only when interleaving");
        let span_bytes = span * p;
        let mut done = 0;
        loop {
            let block = &data[done..data.len().min(done + span_bytes)];
            let is_last = done + block.len() == data.len();
            if block.is_empty() && !is_last {
                break;
            }
            self.send_span(packetizer, block, is_last)?;
            done += block.len();
            sent(done);
            if is_last {
                break;
            }
        }
        Ok(())
    }

    /// Send one span of data packets (at most `span` of them) in interleaved order.
    pub(super) fn send_span(
        &mut self,
        packetizer: &mut Packetizer,
        block: &[u8],
        ends_transfer: bool,
    ) -> io::Result<()> {
        let p = packetizer.settings.payload_len;
        let n = match block.len() {
            0 => usize::from(ends_transfer),
            len => len.div_ceil(p),
        };
        let payload = |i: usize| &block[(i * p).min(block.len())..((i + 1) * p).min(block.len())];
        // Parity of every group of the span, in seq order: groups start at the span's
        // start, as a span is a whole number of groups.
        let mut parity = Vec::new();
        let mut groups: Vec<(usize, usize)> = Vec::new();
        let (base_seq, base_offset) = (packetizer.seq, packetizer.offset);
        if let Some(encoder) = &mut self.fec {
            let mut enciphered = Vec::new();
            for i in 0..n {
                let before = parity.len();
                let last = ends_transfer && i + 1 == n;
                // Encrypting, the code is over the ciphertext: data packet i is enciphered
                // here for its parity (counter mode alone: no tag, no CRC), and sealed when
                // it is sent (the same ciphertext: its place is its nonce), so that the
                // span is not held twice.
                let coded = match &self.sign {
                    Some(signer) if signer.encrypts() => {
                        enciphered.clear();
                        enciphered.extend_from_slice(payload(i));
                        let seq = base_seq.wrapping_add(i as u32);
                        let offset = base_offset + (i * p) as u64;
                        let h = packetizer.data_header(seq, offset, payload(i), last);
                        signer.encipher_untagged(&h, &mut enciphered);
                        &enciphered[..]
                    }
                    _ => payload(i),
                };
                let count = match &self.sign {
                    None => encoder.add(coded, last, &mut parity),
                    Some(signer) => {
                        // As in `code`: over the data, then a trailer for each packet.
                        self.unsealed.clear();
                        let count = encoder.add(coded, last, &mut self.unsealed);
                        seal_parity(signer, &self.unsealed, &mut parity);
                        count
                    }
                };
                if let Some(len) = (parity.len() - before).checked_div(count) {
                    groups.push((before, len));
                }
            }
            self.parity_bytes += parity.len() as u64;
        }
        let (stride, m) = match packetizer.settings.fec {
            Some(s) => (usize::from(s.data), usize::from(s.parity)),
            None => (1, 0),
        };
        let mut describer = self.describer.take();
        let body = describer.as_mut().map(|d| std::mem::take(&mut d.body));
        // Three slices a packet with a trailer, two without.
        let most = match self.sign {
            Some(_) => PACKETS_PER_WRITE * 2 / 3,
            None => PACKETS_PER_WRITE,
        };
        let per_write = (self.batch / (HEADER_LEN + p)).clamp(1, most);
        // A batch: headers (and trailers), and per packet its header's index (or none:
        // parity is whole).
        let mut headers: Vec<Sealed> = Vec::with_capacity(per_write + 2);
        let mut pieces: Vec<(Option<usize>, &[u8])> = Vec::with_capacity(per_write + 2);
        let mut order = interleave::send_order_of_pass(n, stride, m, packetizer.pass).peekable();
        // The same order, PREFETCH_AHEAD packets ahead: their payloads are asked into the
        // cache before their tag and CRC read them (see `prefetch`).
        let mut ahead = interleave::send_order_of_pass(n, stride, m, packetizer.pass);
        for slot in ahead.by_ref().take(PREFETCH_AHEAD) {
            if let Slot::Data(i) = slot {
                prefetch(payload(i));
            }
        }
        while let Some(slot) = order.next() {
            if let Some(Slot::Data(i)) = ahead.next() {
                prefetch(payload(i));
            }
            match slot {
                Slot::Data(i) => {
                    if let (Some(d), Some(body)) = (describer.as_mut().filter(|d| d.due()), &body) {
                        headers.push(packetizer.descriptor_header(body));
                        pieces.push((Some(headers.len() - 1), body));
                        d.sent();
                    }
                    let seq = base_seq.wrapping_add(i as u32);
                    let offset = base_offset + (i * p) as u64;
                    let last = ends_transfer && i + 1 == n;
                    headers.push(packetizer.header_at(seq, offset, payload(i), last));
                    pieces.push((Some(headers.len() - 1), payload(i)));
                    if let Some(d) = describer.as_mut() {
                        d.since += 1;
                    }
                }
                Slot::Parity { group, index } => {
                    if let Some(&(start, len)) = groups.get(group) {
                        pieces.push((
                            None,
                            &parity[start + index * len..start + (index + 1) * len],
                        ));
                    }
                }
            }
            let end = order.peek().is_none();
            if end && ends_transfer {
                if let (Some(d), Some(body)) = (describer.as_mut(), &body) {
                    // The trailing descriptor, after everything, with the total known.
                    packetizer
                        .total_len
                        .get_or_insert(base_offset + block.len() as u64);
                    headers.push(packetizer.descriptor_header(body));
                    pieces.push((Some(headers.len() - 1), body));
                    d.sent();
                }
            }
            if pieces.len() >= per_write || end {
                let mut slices: Vec<IoSlice> = Vec::with_capacity(3 * pieces.len());
                for (h, bytes) in &pieces {
                    let whole = match h {
                        Some(h) => headers[*h].pieces(bytes, &packetizer.frame),
                        None => [*bytes, &[], &[]],
                    };
                    for piece in whole {
                        if !piece.is_empty() {
                            slices.push(IoSlice::new(piece));
                        }
                    }
                }
                if let Some(pacer) = &mut self.pacer {
                    pacer.wait_for(slices.iter().map(|s| s.len()).sum());
                }
                write_all_vectored(self.out, &mut slices)?;
                packetizer.frame.clear();
                headers.clear();
                pieces.clear();
            }
        }
        packetizer.seq = base_seq.wrapping_add(n as u32);
        packetizer.offset = base_offset + block.len() as u64;
        if let (Some(d), Some(body)) = (describer.as_mut(), body) {
            d.body = body;
        }
        self.describer = describer;
        Ok(())
    }
}

/// Packets whose payloads are asked for ahead of the one being sealed: enough to cover a
/// memory access while the packets before are hashed.
const PREFETCH_AHEAD: usize = 4;

/// Ask the CPU to bring `bytes` into its cache before they are read. An interleaved span
/// is read in bit-reversed order, which the hardware prefetcher cannot follow: the first
/// read of each payload (the tag's POLYVAL, or the CRC) waited on memory, and made
/// `pktize --key --interleave` twice as slow as `pktize --key`. A hint only: elsewhere than
/// on x86-64 it does nothing.
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch never faults and changes no memory, whatever the address;
        // this one is of bytes the slice owns. SSE is in every x86-64 CPU.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}
