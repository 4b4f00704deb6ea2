//! Pacing: keeps the output at a byte rate, for a channel that drops what comes too fast.

use std::time::{Duration, Instant};

/// The most a sender that fell behind (descheduled, or computing the fountain's next
/// window of repair symbols) may catch up at once: past this it sends at the rate again
/// from where it is. Unbounded, a pause of 0.4 s at 40 MB/s came out as a 16 MB burst
/// that overflowed a loopback receiver's whole buffer.
pub const MAX_BURST: Duration = Duration::from_millis(10);

/// Paces output to a byte rate: sleeps so that what was sent never runs ahead of
/// `bytes_per_sec` times the elapsed time, and never sends more than [`MAX_BURST`]'s worth
/// early to make up for time it fell behind.
pub struct Pacer {
    bytes_per_sec: u64,
    /// When the bytes accounted so far are due, at the rate.
    due: Instant,
}

impl Pacer {
    pub fn new(bytes_per_sec: u64) -> Self {
        Pacer::starting_at(bytes_per_sec, Instant::now())
    }

    /// A pacer whose first bytes are due at `start`.
    pub fn starting_at(bytes_per_sec: u64, start: Instant) -> Self {
        Pacer {
            bytes_per_sec: bytes_per_sec.max(1),
            due: start,
        }
    }

    /// Account for `bytes` about to be sent, sleeping first if they would be early.
    pub fn wait_for(&mut self, bytes: usize) {
        let wait = self.delay(Instant::now(), bytes);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    /// Account for `bytes` about to be sent at `now`: how long to wait first.
    pub fn delay(&mut self, now: Instant, bytes: usize) -> Duration {
        // Behind by more than a burst: forget the rest of the deficit.
        self.due = self.due.max(now.checked_sub(MAX_BURST).unwrap_or(now));
        self.due += Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64);
        self.due.saturating_duration_since(now)
    }

    /// How many bytes to send between sleeps: about 5 ms worth, at least one packet.
    pub fn batch_len(&self, packet_len: usize) -> usize {
        ((self.bytes_per_sec / 200) as usize).max(packet_len)
    }
}
