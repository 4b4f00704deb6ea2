#![no_main]
//! Fuzz target: see `pktools_fuzz::hostile`. A counting allocator holds the reassembler to
//! a memory cap: more than [`CAP`] bytes live at once fails the run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Live heap bytes allowed: the stream itself (at most 8 MiB, in the harness) and the
/// receiver's bounded state (window, FEC ring and parity, ranges) with room to spare.
const CAP: usize = 48 << 20;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        if live > CAP {
            // Over the cap: a finding. Abort (a panic here would allocate).
            std::process::abort();
        }
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: allocated above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| pktools_fuzz::hostile(data));
