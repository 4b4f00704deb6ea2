//! Bytes held at offsets until the end: in memory up to a budget, beyond it in an unnamed
//! temporary file (issue 29.8: a forged carousel descriptor made standard output hold up to
//! `--max-hold`, 1 GiB, of an unauthenticated stream in memory).
//!
//! Invariants: what reads back is what was written, zeros elsewhere, up to `len`; memory
//! stays within the budget (the file takes the rest, its unwritten parts are holes). The
//! file has no name: it goes away with the process, whatever the exit.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;

/// The most bytes held in memory before the rest goes to a temporary file.
pub const SPILL_AFTER: usize = 8 << 20;

/// Bytes gathered for one write to the file, at most.
const RUN_LEN: usize = 1 << 20;

/// Held bytes, `0..len`.
///
/// Spilled, writes are gathered into runs of up to [`RUN_LEN`] bytes and the file's length
/// is set only when it shrinks or is read: a carousel's first pass costs one `pwrite` per
/// megabyte, not a `pwrite` and an `ftruncate` per packet (issue 35.10).
pub struct Spill {
    mem: Vec<u8>,
    file: Option<File>,
    len: u64,
    budget: usize,
    /// Gathered bytes not yet in the file, for `run_at..run_at + run.len()`.
    run: Vec<u8>,
    run_at: u64,
    /// Nothing at or beyond this offset was ever written to the file: it reads as zeros
    /// there, so a run may grow over a gap with zeros.
    written_end: u64,
}

impl Spill {
    pub fn new(budget: usize) -> Self {
        Spill {
            mem: Vec::new(),
            file: None,
            len: 0,
            budget,
            run: Vec::new(),
            run_at: 0,
            written_end: 0,
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
            self.written_end = self.mem.len() as u64;
            self.mem = Vec::new();
            self.file = Some(file);
        }
        match &self.file {
            // Growing needs nothing: unwritten bytes read as zeros.
            Some(_) if len >= self.len => {}
            Some(file) => {
                let run_end = self.run_at + self.run.len() as u64;
                if run_end > len {
                    self.run.truncate(len.saturating_sub(self.run_at) as usize);
                }
                file.set_len(len)?;
                self.written_end = self.written_end.min(len);
            }
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
        if self.file.is_none() {
            let at = at as usize;
            self.mem[at..at + data.len()].copy_from_slice(data);
            return Ok(());
        }
        let run_end = self.run_at + self.run.len() as u64;
        let end = at + data.len() as u64;
        // Inside the run, at its end, or past it over bytes never written (zeros).
        let joins = !self.run.is_empty()
            && at >= self.run_at
            && (at <= run_end || run_end >= self.written_end)
            && end - self.run_at <= RUN_LEN as u64;
        if !joins {
            self.write_run()?;
            self.run_at = at;
        }
        let from = (at - self.run_at) as usize;
        let to = from + data.len();
        if self.run.len() < to {
            self.run.resize(to, 0);
        }
        self.run[from..to].copy_from_slice(data);
        Ok(())
    }

    /// Put the gathered run in the file.
    fn write_run(&mut self) -> io::Result<()> {
        if let (Some(file), false) = (&self.file, self.run.is_empty()) {
            file.write_all_at(&self.run, self.run_at)?;
            let end = self.run_at + self.run.len() as u64;
            self.written_end = self.written_end.max(end);
            self.run.clear();
        }
        Ok(())
    }

    /// Write every held byte, in order, to `out`. Spilled, the file is copied inside the
    /// kernel to `kernel` (the descriptor `out` writes to, flushed) where it can be
    /// (`copy_file_range` to a file, `sendfile` to a pipe or anything else): the held
    /// bytes are not read back through memory (issue 35.10). What the kernel cannot copy
    /// is read and written to `out`.
    pub fn write_to(&mut self, out: &mut dyn Write, kernel: Option<BorrowedFd>) -> io::Result<()> {
        self.write_run()?;
        let Some(file) = &self.file else {
            return out.write_all(&self.mem);
        };
        // Its length was set only when it shrank: the part never written is a hole.
        file.set_len(self.len)?;
        let mut at = match kernel {
            Some(to) => kernel_copy(file, to, self.len)?,
            None => 0,
        };
        let mut buf = vec![0; crate::io::IO_BUFFER_LEN];
        while at < self.len {
            let n = buf.len().min((self.len - at) as usize);
            file.read_exact_at(&mut buf[..n], at)?;
            out.write_all(&buf[..n])?;
            at += n as u64;
        }
        Ok(())
    }
}

/// Copy `from`'s first `len` bytes to `to` (at its position) inside the kernel:
/// `copy_file_range` (file to file), else `sendfile` (file to anything). Returns how many
/// bytes were copied; fewer than `len` when the kernel cannot (a descriptor opened to
/// append, a terminal, a non-blocking pipe that is full), and the caller writes the rest.
fn kernel_copy(from: &File, to: BorrowedFd, len: u64) -> io::Result<u64> {
    use rustix::io::Errno;
    /// Bytes per call: well under the kernel's limit of about 2 GiB.
    const CHUNK: u64 = 1 << 30;
    let mut off = 0u64;
    let mut file_to_file = true;
    while off < len {
        let n = (len - off).min(CHUNK) as usize;
        let copied = if file_to_file {
            rustix::fs::copy_file_range(from, Some(&mut off), to, None, n)
        } else {
            rustix::fs::sendfile(to, from, Some(&mut off), n)
        };
        match copied {
            // The file ended early (cannot happen: it is ours alone): write the rest.
            Ok(0) => break,
            Ok(_) | Err(Errno::INTR) => {}
            // Not file to file (a pipe, another file system, appending): try sendfile.
            Err(Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::BADF)
                if file_to_file =>
            {
                file_to_file = false
            }
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::BADF | Errno::AGAIN) => {
                break
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(off)
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
        s.write_to(&mut out, None).unwrap();
        let mut want = vec![0; 40];
        want[2..4].copy_from_slice(b"ab");
        want[30..33].copy_from_slice(b"xyz");
        assert_eq!(out, want);
        s.set_len(31).unwrap();
        out.clear();
        s.write_to(&mut out, None).unwrap();
        assert_eq!(out, want[..31]);
    }

    #[test]
    fn gathered_writes_read_back_as_a_plain_buffer_would() {
        // Writes in order with gaps, back over earlier ones, a cut and a regrowth: the
        // runs gathered in memory and the holes of the file read as a Vec written alike.
        let mut s = Spill::new(64);
        let mut model: Vec<u8> = Vec::new();
        let mut x = 12345u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..2000u64 {
            let len = (next() % 300) as usize + 1;
            let at = match next() % 4 {
                0 => next() % (model.len() as u64 + 1),
                _ => model.len() as u64 + next() % 50,
            };
            if round % 500 == 499 {
                let cut = model.len() as u64 / 2;
                s.set_len(cut).unwrap();
                model.truncate(cut as usize);
                continue;
            }
            let end = at + len as u64;
            if end > s.len() {
                s.set_len(end).unwrap();
                model.resize(end as usize, 0);
            }
            let data: Vec<u8> = (0..len).map(|i| (round as usize + i) as u8 | 1).collect();
            s.write_at(at, &data).unwrap();
            model[at as usize..end as usize].copy_from_slice(&data);
        }
        assert!(s.file.is_some());
        let mut out = Vec::new();
        s.write_to(&mut out, None).unwrap();
        assert!(out == model, "read back as written");
    }

    /// A spilled hold of `len` bytes, written at scattered offsets, and what reads back.
    fn spilled(len: u64) -> (Spill, Vec<u8>) {
        let mut s = Spill::new(1 << 10);
        let mut model = vec![0u8; len as usize];
        s.set_len(len).unwrap();
        for at in (0..len).step_by(7919) {
            let data: Vec<u8> = (0..100u64).map(|i| (at + i) as u8 | 1).collect();
            let n = data.len().min((len - at) as usize);
            s.write_at(at, &data[..n]).unwrap();
            model[at as usize..at as usize + n].copy_from_slice(&data[..n]);
        }
        (s, model)
    }

    #[test]
    fn a_spilled_hold_copied_by_the_kernel_reads_as_written() {
        use std::io::{Read, Seek};
        use std::os::fd::AsFd;
        let len = 3 << 20;
        // To a file (copy_file_range), after what the stream wrote before the hold.
        let (mut s, model) = spilled(len);
        let mut to = tempfile::tempfile().unwrap();
        to.write_all(b"before").unwrap();
        let mut writer = to.try_clone().unwrap();
        s.write_to(&mut writer, Some(to.as_fd())).unwrap();
        let mut got = Vec::new();
        to.rewind().unwrap();
        to.read_to_end(&mut got).unwrap();
        assert!(got[..6] == *b"before" && got[6..] == model[..], "to a file");
        // To a file opened to append: the kernel refuses, the bytes are written.
        let (mut s, model) = spilled(len);
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let mut appending = std::fs::OpenOptions::new()
            .append(true)
            .open(file.path())
            .unwrap();
        let fd = appending.try_clone().unwrap();
        s.write_to(&mut appending, Some(fd.as_fd())).unwrap();
        let mut got = Vec::new();
        file.read_to_end(&mut got).unwrap();
        assert!(got == model, "appending");
        // To a pipe (sendfile), read by another thread.
        let (mut s, model) = spilled(len);
        let (rx, tx) = rustix::pipe::pipe().unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            File::from(rx).read_to_end(&mut got).unwrap();
            got
        });
        let mut tx = File::from(tx);
        let fd = tx.try_clone().unwrap();
        s.write_to(&mut tx, Some(fd.as_fd())).unwrap();
        drop((tx, fd));
        assert!(reader.join().unwrap() == model, "to a pipe");
    }
}
