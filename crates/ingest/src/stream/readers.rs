//! The readers a streamed object goes through: the size cap, the copy of a document that may
//! be a single event, and a read error held back until the content before it is used.

use std::cell::{Cell, RefCell};
use std::io::{self, Read};
use std::rc::Rc;

use super::MAX_RECORD_BYTES;

/// Counts decompressed bytes and fails the read past the cap.
pub(super) struct Capped<R> {
    pub(super) inner: R,
    pub(super) count: Rc<Cell<u64>>,
    pub(super) max: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.count.get() + n as u64;
        self.count.set(total);
        if total > self.max {
            return Err(io::Error::other("object too large"));
        }
        Ok(n)
    }
}

/// The text of the top-level document being parsed, while it may be a single event (it is
/// dropped as soon as the document turns out to be a `Records` wrapper or an array).
#[derive(Default)]
pub(super) struct Recording {
    pub(super) buf: Option<Vec<u8>>,
    pub(super) overflow: bool,
}

/// Copies what the parser reads into the recording.
pub(super) struct Tee<R> {
    pub(super) inner: R,
    pub(super) rec: Rc<RefCell<Recording>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut rec = self.rec.borrow_mut();
        if let Some(b) = &mut rec.buf {
            if b.len() + n > MAX_RECORD_BYTES {
                rec.buf = None;
                rec.overflow = true;
            } else {
                b.extend_from_slice(&buf[..n]);
            }
        }
        Ok(n)
    }
}

/// A reader that fails with a read error met while its start was read ahead.
pub(super) struct Deferred<R> {
    pub(super) err: Option<io::Error>,
    pub(super) inner: R,
}

impl<R: Read> Read for Deferred<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.err.take() {
            Some(e) => Err(e),
            None => self.inner.read(buf),
        }
    }
}
