//! The writer: packets go out in large vectored writes, headers from a small array and
//! payloads straight from the caller's bytes; descriptors go where their schedule says, and
//! with FEC each group's parity right after the group. Interleaved sending is in
//! [`super::span`]; what a packet's header says is [`Packetizer`]'s job.

use super::pacer::Pacer;
use super::{Packetizer, Sealed, Settings, Summary};
use crate::descriptor::MediaType;
use crate::fec;
use crate::wire::auth::Signer;
use crate::wire::{Header, HEADER_LEN};
use std::io::{self, IoSlice, Write};
use std::time::{Duration, Instant};

/// While pacing, a descriptor goes out at least this often, so a receiver that joins late
/// learns what it receives within this time.
const DESCRIBE_INTERVAL: Duration = Duration::from_millis(200);
/// Most parity, or input read from a pipe, gathered before it is sent: 1 MiB, the pipe
/// size `io::grow_pipe` asks for.
pub(super) const WRITE_BATCH: usize = 1 << 20;
/// How much packet data to frame per write when not pacing. Small, so that a batch's
/// payloads, just checksummed and coded, are still in the cache when the write copies them
/// (into [`crate::io::BackgroundWriter`]'s buffer, see [`super::writer_for`]): `pktize
/// --fec 32+4 | cat` ran 1.1x as fast with 16 KiB as with 1 MiB, the plain spine 1.3x.
pub(super) const FRAME_BATCH: usize = 16 << 10;
/// Packets per vectored write: two slices each (header, payload), within IOV_MAX.
pub(super) const PACKETS_PER_WRITE: usize = crate::io::IOV_MAX / 2;

/// Writes packets with vectored writes: headers from a small array, payloads straight from
/// the caller's bytes (a mapped file or the read buffer), so payloads are never copied in
/// user space. Each packet stays contiguous in the output stream.
pub(super) struct Sender<'w> {
    pub(super) out: &'w mut dyn Write,
    pub(super) pacer: Option<Pacer>,
    pub(super) batch: usize,
    pub(super) headers: Vec<Sealed>,
    pub(super) describer: Option<Describer>,
    /// FEC: the encoder, the parity packets of this batch (whole, contiguous), and after
    /// which packet of the batch each group's parity goes.
    pub(super) fec: Option<fec::Encoder>,
    pub(super) parity: Vec<u8>,
    pub(super) parity_after: Vec<(usize, std::ops::Range<usize>)>,
    pub(super) parity_bytes: u64,
    /// With a key: the signer, and the encoder's unkeyed parity packets before sealing.
    pub(super) sign: Option<Signer>,
    pub(super) unsealed: Vec<u8>,
}

/// When the next descriptor is due, and its body.
pub(super) struct Describer {
    pub(super) body: Vec<u8>,
    pub(super) media_type: MediaType,
    pub(super) every: u32,
    pub(super) since: u32,
    pub(super) sent_at: Option<Instant>,
    pub(super) pacing: bool,
    /// Also after data packets 1, 3, 7, ..., 127 (a fountain: a receiver keeps symbols
    /// only once a descriptor said so, so the first one must not be missed for long).
    pub(super) ramp: bool,
    /// Data packets sent so far.
    pub(super) counted: u32,
}

impl Describer {
    pub(super) fn due(&self) -> bool {
        let ramp_due = self.ramp
            && self.since > 0
            && self.counted < 128
            && (self.counted + 1).is_power_of_two();
        ramp_due
            || self.since >= self.every
            || (self.pacing
                && self
                    .sent_at
                    .is_some_and(|t| t.elapsed() >= DESCRIBE_INTERVAL))
    }

    pub(super) fn sent(&mut self) {
        self.since = 0;
        self.sent_at = Some(Instant::now());
    }
}

impl<'w> Sender<'w> {
    pub(super) fn new(out: &'w mut dyn Write, settings: &Settings) -> Self {
        let pacer = settings.bytes_per_sec.map(Pacer::new);
        let packet_len = HEADER_LEN + settings.payload_len;
        let batch = match &pacer {
            Some(p) => p.batch_len(packet_len),
            None => FRAME_BATCH.max(packet_len),
        };
        Sender {
            out,
            pacer,
            batch,
            headers: Vec::with_capacity(PACKETS_PER_WRITE),
            describer: None,
            fec: settings.fec.map(|s| {
                let encoder = fec::Encoder::new(s, settings.transfer_id, settings.payload_len);
                // An interleaving sender holds a span (8 MiB by default) and its parity:
                // the coder's 8.5 MiB of tables would take it past 16 MiB.
                match settings.interleave {
                    Some(_) => encoder.without_tables(),
                    None => encoder,
                }
            }),
            parity: Vec::new(),
            parity_after: Vec::new(),
            parity_bytes: 0,
            sign: settings.sign.clone(),
            unsealed: Vec::new(),
        }
    }

    /// FEC: code a data payload just queued as the batch's `queued`-th packet; a completed
    /// group's parity is queued right after it.
    pub(super) fn code(&mut self, payload: &[u8], last: bool, queued: usize) {
        let Some(encoder) = &mut self.fec else {
            return;
        };
        let before = self.parity.len();
        let added = match &self.sign {
            None => encoder.add(payload, last, &mut self.parity),
            Some(signer) => {
                // The code is over the data; each parity packet then gets its own trailer.
                self.unsealed.clear();
                let added = encoder.add(payload, last, &mut self.unsealed);
                seal_parity(signer, &self.unsealed, &mut self.parity);
                added
            }
        };
        if added > 0 {
            self.parity_after.push((queued, before..self.parity.len()));
            self.parity_bytes += (self.parity.len() - before) as u64;
        }
    }

    /// Count the parity sent into a summary.
    pub(super) fn add_parity_to(&self, summary: &mut Summary) {
        if let Some(encoder) = &self.fec {
            summary.parity_packets = encoder.packets();
            summary.output_bytes += self.parity_bytes;
        }
    }

    /// Send descriptors as `settings` asks, describing data that starts with `head`. The
    /// first goes out before the next data packet; a call with a longer head only updates
    /// what the next scheduled descriptor says.
    pub(super) fn describe(&mut self, packetizer: &Packetizer, settings: &Settings, head: &[u8]) {
        let Some(d) = settings.describe.as_ref() else {
            return;
        };
        match &mut self.describer {
            // The type stays what the first head said, so descriptors never disagree.
            Some(describer) => {
                describer.body = packetizer.descriptor_body(d, describer.media_type, head)
            }
            None => {
                let media_type = d.media_type.unwrap_or_else(|| MediaType::sniff(head));
                self.describer = Some(Describer {
                    body: packetizer.descriptor_body(d, media_type, head),
                    media_type,
                    every: d.every.max(1),
                    since: d.every.max(1),
                    sent_at: None,
                    pacing: settings.bytes_per_sec.is_some(),
                    ramp: false,
                    counted: 0,
                })
            }
        }
    }

    /// Send `data` as packets of the packetizer's payload size. The last packet gets the
    /// LAST flag when `ends_transfer`; an empty `data` that ends the transfer is sent as one
    /// empty packet. `sent` is told how many bytes of `data` have gone out after each write.
    pub(super) fn send(
        &mut self,
        packetizer: &mut Packetizer,
        data: &[u8],
        ends_transfer: bool,
        sent: &mut dyn FnMut(usize),
    ) -> io::Result<()> {
        let payload_len = packetizer.settings.payload_len;
        let mut describer = self.describer.take();
        // The body is borrowed by the slices being gathered while the schedule changes.
        let body = describer.as_mut().map(|d| std::mem::take(&mut d.body));
        // Three slices a packet with a trailer, two without.
        let most = match self.sign {
            Some(_) => PACKETS_PER_WRITE * 2 / 3,
            None => PACKETS_PER_WRITE,
        };
        let per_write = (self.batch / (HEADER_LEN + payload_len)).clamp(1, most);
        let trailer_len = self.sign.as_ref().map_or(0, Signer::trailer_len);
        let count = data.len().div_ceil(payload_len);
        let mut payloads: Vec<&[u8]> = Vec::with_capacity(per_write + 2);
        let mut chunks = data.chunks(payload_len);
        // An empty transfer is one empty data packet.
        let empty: &[u8] = &[];
        let mut next = match chunks.next() {
            None if ends_transfer => Some(empty),
            first => first,
        };
        let mut i = 0;
        while let Some(payload) = next {
            if let (Some(d), Some(body)) = (describer.as_mut().filter(|d| d.due()), &body) {
                self.headers.push(packetizer.descriptor_header(body));
                payloads.push(body);
                d.sent();
            }
            let last = ends_transfer && i + 1 >= count;
            let sealed = packetizer.next_packet(payload, last);
            self.headers.push(sealed);
            payloads.push(payload);
            // Encrypted, the code is over the ciphertext.
            let coded = sealed
                .ciphertext(&packetizer.frame, trailer_len)
                .unwrap_or(payload);
            self.code(coded, last, payloads.len());
            if let (Some(d), Some(body)) = (describer.as_mut(), &body) {
                d.since += 1;
                d.counted = d.counted.saturating_add(1);
                if last {
                    // A trailing descriptor, for receivers that lost the first ones; the
                    // total is known now, even from a pipe.
                    packetizer.total_len.get_or_insert(packetizer.offset);
                    self.headers.push(packetizer.descriptor_header(body));
                    payloads.push(body);
                    d.sent();
                }
            }
            next = chunks.next();
            if payloads.len() >= per_write || next.is_none() || self.parity.len() >= WRITE_BATCH {
                let headers = std::mem::take(&mut self.headers);
                self.write_packets(&headers, &payloads, &packetizer.frame)?;
                packetizer.frame.clear();
                self.headers = headers;
                self.headers.clear();
                payloads.clear();
                sent(((i + 1) * payload_len).min(data.len()));
            }
            i += 1;
        }
        if let (Some(d), Some(body)) = (describer.as_mut(), body) {
            d.body = body;
        }
        self.describer = describer;
        Ok(())
    }

    /// Write packets: `headers[n]` around `payloads[n]`, or whole from `frame` (encrypted),
    /// each followed by the parity queued after it.
    pub(super) fn write_packets(
        &mut self,
        headers: &[Sealed],
        payloads: &[&[u8]],
        frame: &[u8],
    ) -> io::Result<()> {
        let mut slices: Vec<IoSlice> = Vec::with_capacity(3 * headers.len() + 1);
        let mut parity = self.parity_after.iter().peekable();
        for (n, (h, p)) in headers.iter().zip(payloads).enumerate() {
            for piece in h.pieces(p, frame) {
                if !piece.is_empty() {
                    slices.push(IoSlice::new(piece));
                }
            }
            if let Some((_, range)) = parity.next_if(|(after, _)| *after == n + 1) {
                slices.push(IoSlice::new(&self.parity[range.clone()]));
            }
        }
        if let Some(p) = &mut self.pacer {
            p.wait_for(slices.iter().map(|s| s.len()).sum());
        }
        let written = crate::io::write_all_vectored(self.out, &mut slices);
        self.parity.clear();
        self.parity_after.clear();
        written
    }
}

/// Append the parity packets in `unsealed` (whole, as the encoder writes them) to `out`,
/// each with the trailer `signer` gives it (and enciphered when it encrypts).
pub(super) fn seal_parity(signer: &Signer, unsealed: &[u8], out: &mut Vec<u8>) {
    let mut rest = unsealed;
    while !rest.is_empty() {
        let header = Header::parse(rest).expect("the encoder writes valid headers");
        let (packet, after) = rest.split_at(header.packet_len());
        signer.seal_into(&header, &packet[HEADER_LEN..], out);
        rest = after;
    }
}
