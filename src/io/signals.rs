//! Signals that end the input rather than the program, for a receiver that must still
//! write what it holds.
//!
//! `libc` stays here: rustix does not offer `sigaction` outside its unsafe runtime API.

use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that asked the program to stop (see [`stop_on_signals`]), or 0.
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn note_stop_signal(signal: libc::c_int) {
    STOP_SIGNAL.store(signal, Ordering::SeqCst);
}

/// Make SIGINT, SIGTERM and SIGHUP end the input instead of the program: a blocked read is
/// interrupted, [`read_some`](super::read_some) and [`read_full`](super::read_full) then
/// report the end of the input, and the program finishes as if its input had ended (a
/// receiver writes what it holds and its report). [`die_of_stop_signal`] then dies of the
/// same signal, so a shell or a supervisor still sees the program killed by it. A second
/// signal kills at once.
///
/// A program that reads a regular file (mapped, no reads to interrupt) finishes the file
/// first.
pub fn stop_on_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe. No
        // SA_RESTART: a blocking read must return EINTR so the reader notices. With
        // SA_RESETHAND the next signal has its default action.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = note_stop_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// True once a signal caught by [`stop_on_signals`] asked the program to stop.
pub fn stop_requested() -> bool {
    STOP_SIGNAL.load(Ordering::SeqCst) != 0
}

/// Die of the signal that asked the program to stop, if one did; call it last, after
/// everything has been written.
pub fn die_of_stop_signal() {
    let signal = STOP_SIGNAL.load(Ordering::SeqCst);
    if signal != 0 {
        // SAFETY: restoring the default action and raising the signal ends the process
        // the way the signal would have.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
}
