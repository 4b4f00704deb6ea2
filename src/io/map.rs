//! Pages of a memory map: read in ahead of a reader, released behind it.
//!
//! Without release, a program that maps a 1 GiB file ends with 1 GiB resident; the pages
//! stay in the page cache, only our mapping of them goes. Every reader of a map releases
//! in blocks of [`RELEASE_BLOCK`], through memmap2 only.

use memmap2::Mmap;
use std::cell::Cell;
use std::ops::Range;

/// Bytes read from a map between two releases of its pages: large enough that the calls
/// cost nothing, small enough to stay far inside the 16 MiB memory budget.
pub const RELEASE_BLOCK: usize = 2 << 20;

/// Drop our mapping of the bytes `range` of `map` (widened to whole pages, clamped to the
/// map); the page cache keeps them. Failure only means the pages stay resident.
pub fn release(map: &Mmap, range: Range<usize>) {
    let end = range.end.min(map.len());
    if end > range.start {
        // SAFETY: the map is a read-only shared mapping of a file. MADV_DONTNEED on it
        // discards only our page-table entries: any later access, including through slices
        // we still hold, faults the same file bytes back in. (It would be unsound only for
        // a private map we had written to, or for anonymous memory; neither is possible
        // through `Mmap`.)
        let _ = unsafe {
            map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                range.start,
                end - range.start,
            )
        };
    }
}

/// Read the pages of `range` in with one call (MADV_POPULATE_READ, Linux 5.14) instead of
/// one page fault per few pages; on older kernels they just fault in later.
pub fn prefetch(map: &Mmap, range: Range<usize>) {
    let end = range.end.min(map.len());
    if end > range.start {
        let _ = map.advise_range(
            memmap2::Advice::PopulateRead,
            range.start,
            end - range.start,
        );
    }
}

/// How far a sequential reader of a map has released the pages behind it.
#[derive(Debug, Default)]
pub struct ReleaseBehind {
    released: Cell<usize>,
}

impl ReleaseBehind {
    /// The reader is at `pos`: release what lies behind it once a block has gathered, or
    /// everything at the end of the map.
    pub fn advance(&self, map: &Mmap, pos: usize) {
        let from = self.released.get();
        if pos >= from + RELEASE_BLOCK || (pos >= map.len() && pos > from) {
            release(map, from..pos);
            self.released.set(pos);
        }
    }

    /// Someone else releases up to `pos` (a reader that takes a whole range at once).
    pub fn skip_to(&self, pos: usize) {
        self.released.set(pos);
    }
}
