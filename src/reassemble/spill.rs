//! Bytes held at offsets until the end: in memory up to a budget, beyond it in an unnamed
//! temporary file (issue 29.8: a forged carousel descriptor made standard output hold up to
//! `--max-hold`, 1 GiB, of an unauthenticated stream in memory).
//!
//! Invariants: what reads back is what was written, zeros elsewhere, up to `len`; memory
//! stays within the budget (the file takes the rest, its unwritten parts are holes). The
//! file has no name: it goes away with the process, whatever the exit.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

/// The most bytes held in memory before the rest goes to a temporary file.
pub const SPILL_AFTER: usize = 8 << 20;

/// Held bytes, `0..len`.
pub struct Spill {
    mem: Vec<u8>,
    file: Option<File>,
    len: u64,
    budget: usize,
}

impl Spill {
    pub fn new(budget: usize) -> Self {
        Spill {
            mem: Vec::new(),
            file: None,
            len: 0,
            budget,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Grow (with zeros) or cut to `len` bytes.
    pub fn set_len(&mut self, len: u64) -> io::Result<()> {
        if self.file.is_none() && len > self.budget as u64 {
            let file = unnamed_temp_file()?;
            file.write_all_at(&self.mem, 0)?;
            self.mem = Vec::new();
            self.file = Some(file);
        }
        match &self.file {
            Some(file) => file.set_len(len)?,
            None => {
                let len = len as usize;
                self.mem.reserve_exact(len.saturating_sub(self.mem.len()));
                self.mem.resize(len, 0);
            }
        }
        self.len = len;
        Ok(())
    }

    /// Write `data` at `at`; the caller made the length cover it.
    pub fn write_at(&mut self, at: u64, data: &[u8]) -> io::Result<()> {
        debug_assert!(at + data.len() as u64 <= self.len, "within the length");
        match &self.file {
            Some(file) => file.write_all_at(data, at),
            None => {
                let at = at as usize;
                self.mem[at..at + data.len()].copy_from_slice(data);
                Ok(())
            }
        }
    }

    /// Write every held byte, in order, to `out`.
    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        let Some(file) = &self.file else {
            return out.write_all(&self.mem);
        };
        let mut buf = vec![0; crate::io::IO_BUFFER_LEN];
        let mut at = 0;
        while at < self.len {
            let n = buf.len().min((self.len - at) as usize);
            file.read_exact_at(&mut buf[..n], at)?;
            out.write_all(&buf[..n])?;
            at += n as u64;
        }
        Ok(())
    }
}

/// A temporary file without a name, in `$TMPDIR` (or /tmp): `O_TMPFILE` where the file
/// system has it, else a fresh name removed at once.
fn unnamed_temp_file() -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let dir = std::env::temp_dir();
    let mode = Mode::RUSR | Mode::WUSR;
    if let Ok(fd) = rustix::fs::open(&dir, OFlags::TMPFILE | OFlags::RDWR, mode) {
        return Ok(File::from(fd));
    }
    for attempt in 0..16u32 {
        let name = dir.join(format!(".unpktize-{}-{attempt}", std::process::id()));
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::RDWR;
        match rustix::fs::open(&name, flags, mode) {
            Ok(fd) => {
                let _ = std::fs::remove_file(&name);
                return Ok(File::from(fd));
            }
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::other("no temporary file could be made"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_bytes_read_back_as_written_with_zeros_between() {
        let mut s = Spill::new(16);
        s.set_len(8).unwrap();
        s.write_at(2, b"ab").unwrap();
        s.set_len(40).unwrap();
        assert!(s.file.is_some(), "spilled past the budget");
        assert!(s.mem.capacity() == 0);
        s.write_at(30, b"xyz").unwrap();
        let mut out = Vec::new();
        s.write_to(&mut out).unwrap();
        let mut want = vec![0; 40];
        want[2..4].copy_from_slice(b"ab");
        want[30..33].copy_from_slice(b"xyz");
        assert_eq!(out, want);
        s.set_len(31).unwrap();
        out.clear();
        s.write_to(&mut out).unwrap();
        assert_eq!(out, want[..31]);
    }
}
