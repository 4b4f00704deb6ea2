//! Pacing: keeps the output at a byte rate, for a channel that drops what comes too fast.

use std::time::{Duration, Instant};

/// Paces output to a byte rate: sleeps so that what was sent never runs ahead of
/// `bytes_per_sec` times the elapsed time, allowing a small burst.
pub struct Pacer {
    bytes_per_sec: u64,
    started: Instant,
    sent: u64,
}

impl Pacer {
    pub fn new(bytes_per_sec: u64) -> Self {
        Pacer {
            bytes_per_sec: bytes_per_sec.max(1),
            started: Instant::now(),
            sent: 0,
        }
    }

    /// Account for `bytes` about to be sent, sleeping first if they would be early.
    pub fn wait_for(&mut self, bytes: usize) {
        self.sent += bytes as u64;
        let due = Duration::from_secs_f64(self.sent as f64 / self.bytes_per_sec as f64);
        let elapsed = self.started.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }

    /// How many bytes to send between sleeps: about 5 ms worth, at least one packet.
    pub fn batch_len(&self, packet_len: usize) -> usize {
        ((self.bytes_per_sec / 200) as usize).max(packet_len)
    }
}
