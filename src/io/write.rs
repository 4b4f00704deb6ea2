//! Vectored writes: many slices (headers and payloads, rows of a map) to one system call.

use std::io::{self, IoSlice, Write};

/// The most slices one `writev` takes on Linux (`IOV_MAX`); a caller batches to this.
pub const IOV_MAX: usize = 1024;

/// `write_all` for several slices (std's `Write::write_all_vectored` is unstable): retries
/// short and interrupted writes until every byte of `slices` is written.
pub fn write_all_vectored(out: &mut dyn Write, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
