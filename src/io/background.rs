//! A writer whose system calls run on a thread of their own.
//!
//! Writing to a pipe copies every byte into the kernel under the pipe's lock, the same lock
//! its reader copies out under, so a program that computes (checksums, parity) and then
//! writes leaves its core idle while it waits for the lock and its reader idle while it
//! computes. [`BackgroundWriter`] copies what it is given into one of two buffers and hands
//! a full one to its thread, which writes it while the caller fills the other: the
//! computing and the writing overlap, and the kernel sees one contiguous write per buffer
//! instead of many small slices.

use std::io::{self, IoSlice, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// A buffered writer with its own writing thread; see the module docs. [`Write::flush`]
/// waits until everything given so far is written and reports the first error; dropping
/// it without a flush still writes what it holds, but its errors are lost.
pub struct BackgroundWriter {
    filling: Vec<u8>,
    capacity: usize,
    /// Full buffers to the thread; `None` once closed.
    full: Option<SyncSender<Vec<u8>>>,
    /// Buffers back from the thread, emptied, or the error that stopped it.
    emptied: Receiver<io::Result<Vec<u8>>>,
    /// Buffers handed over and not yet back, and one back but not yet refilled.
    in_flight: usize,
    spare: Option<Vec<u8>>,
    /// The first write error, reported again by every later call.
    failed: Option<(io::ErrorKind, String)>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundWriter {
    /// Write to `inner` from a new thread, in writes of `capacity` bytes (the last shorter).
    pub fn new<W: Write + Send + 'static>(mut inner: W, capacity: usize) -> io::Result<Self> {
        let capacity = capacity.max(1);
        // One buffer in the thread's hands while the caller fills the other.
        let (full, to_write) = sync_channel::<Vec<u8>>(1);
        let (written, emptied) = sync_channel::<io::Result<Vec<u8>>>(2);
        let thread = std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || {
                for mut buf in to_write {
                    let result = inner.write_all(&buf).and_then(|()| inner.flush());
                    let failed = result.is_err();
                    let back = result.map(|()| {
                        buf.clear();
                        buf
                    });
                    if written.send(back).is_err() || failed {
                        break;
                    }
                }
            })?;
        Ok(BackgroundWriter {
            filling: Vec::with_capacity(capacity),
            capacity,
            full: Some(full),
            emptied,
            in_flight: 0,
            spare: None,
            failed: None,
            thread: Some(thread),
        })
    }

    fn check(&self) -> io::Result<()> {
        match &self.failed {
            None => Ok(()),
            Some((kind, message)) => Err(io::Error::new(*kind, message.clone())),
        }
    }

    /// Wait for one buffer to come back from the thread.
    fn take_back(&mut self) -> io::Result<Vec<u8>> {
        let back = match self.emptied.recv() {
            Ok(back) => back,
            // The thread ended without a word: it panicked.
            Err(_) => Err(io::Error::other("the writing thread stopped")),
        };
        self.in_flight -= 1;
        back.inspect_err(|e| self.failed = Some((e.kind(), e.to_string())))
    }

    /// Hand the buffer being filled to the thread and take an empty one: the spare, a new
    /// one while only one exists, else the one the thread is writing, once written.
    fn hand_over(&mut self) -> io::Result<()> {
        self.check()?;
        if self.filling.is_empty() {
            return Ok(());
        }
        let next = match self.spare.take() {
            Some(spare) => spare,
            None if self.in_flight == 0 => Vec::with_capacity(self.capacity),
            None => self.take_back()?,
        };
        let full = std::mem::replace(&mut self.filling, next);
        let sender = self.full.as_ref().expect("open until dropped");
        if sender.send(full).is_err() {
            // The thread is gone; its reason, if it gave one, is waiting in `emptied`.
            self.in_flight += 1;
            let reason = self
                .take_back()
                .err()
                .unwrap_or_else(|| io::Error::other("the writing thread stopped"));
            self.failed
                .get_or_insert_with(|| (reason.kind(), reason.to_string()));
            return Err(reason);
        }
        self.in_flight += 1;
        Ok(())
    }
}

impl Write for BackgroundWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(data)])
    }

    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        self.check()?;
        if self.filling.len() >= self.capacity {
            self.hand_over()?;
        }
        let mut copied = 0;
        for slice in slices {
            let room = self.capacity - self.filling.len();
            let n = slice.len().min(room);
            self.filling.extend_from_slice(&slice[..n]);
            copied += n;
            if n < slice.len() {
                break;
            }
        }
        Ok(copied)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hand_over()?;
        while self.in_flight > 0 {
            self.spare = Some(self.take_back()?);
        }
        Ok(())
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = self.hand_over();
        }
        // Closing the channel ends the thread once it has written what it holds.
        self.full = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer into shared memory that fails once it holds `fail_after` bytes.
    #[derive(Clone)]
    struct Shared {
        bytes: Arc<Mutex<Vec<u8>>>,
        fail_after: usize,
    }

    impl Write for Shared {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            let mut bytes = self.bytes.lock().unwrap();
            if bytes.len() >= self.fail_after {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let n = data.len().min(self.fail_after - bytes.len()).min(7);
            bytes.extend_from_slice(&data[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn shared(fail_after: usize) -> Shared {
        Shared {
            bytes: Arc::default(),
            fail_after,
        }
    }

    #[test]
    fn writes_everything_in_order_across_buffers() {
        let sink = shared(usize::MAX);
        let mut w = BackgroundWriter::new(sink.clone(), 10).unwrap();
        let data: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let mut slices: Vec<IoSlice> = data.chunks(3).map(IoSlice::new).collect();
        crate::io::write_all_vectored(&mut w, &mut slices).unwrap();
        w.write_all(b"tail").unwrap();
        w.flush().unwrap();
        let mut want = data.clone();
        want.extend_from_slice(b"tail");
        assert_eq!(*sink.bytes.lock().unwrap(), want);
        // Still usable after a flush.
        w.write_all(b"more").unwrap();
        drop(w);
        want.extend_from_slice(b"more");
        assert_eq!(
            *sink.bytes.lock().unwrap(),
            want,
            "drop writes what it holds"
        );
    }

    #[test]
    fn reports_the_threads_error_and_keeps_reporting_it() {
        let sink = shared(25);
        let mut w = BackgroundWriter::new(sink.clone(), 10).unwrap();
        let err = (0..100)
            .find_map(|_| w.write_all(&[1; 10]).err())
            .or_else(|| w.flush().err())
            .expect("the sink fails after 25 bytes");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(w.write(b"x").unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(w.flush().unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(sink.bytes.lock().unwrap().len(), 25);
    }

    #[test]
    fn a_writer_that_panics_is_an_error_not_a_hang() {
        struct Panics;
        impl Write for Panics {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                panic!("a writer that panics (expected by this test)")
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = BackgroundWriter::new(Panics, 4).unwrap();
        let err = (0..10)
            .find_map(|_| w.write_all(b"data").err())
            .or_else(|| w.flush().err())
            .expect("the thread's end is reported");
        assert_eq!(err.to_string(), "the writing thread stopped");
    }

    #[test]
    fn flush_reports_an_error_in_the_last_buffer() {
        let sink = shared(5);
        let mut w = BackgroundWriter::new(sink, 100).unwrap();
        w.write_all(&[0; 50]).unwrap();
        assert_eq!(w.flush().unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }
}
