//! The outgoing queue shared by both engines: one growing buffer, split off zero-copy.

use std::collections::VecDeque;

use bytes::Bytes;

/// The largest batch buffer kept for the next frames. A larger one (a large response) is
/// freed once sent rather than held by the connection until its quiet tick: a connection
/// that sent one 1 MiB response keeps no 1 MiB buffer, and the unary and stream batches this
/// reuse is for are a few KiB.
pub(crate) const MAX_KEPT: usize = 64 * 1024;

/// Frames are encoded back to back into `buf`; `lens` keeps their lengths in order. When the
/// driver asks for output, the whole buffer is frozen into `batch` (no copy) and each frame
/// is a view of it (no copy either). Once every frame was handed out and dropped (the socket
/// layer copies each frame as it takes it), the next frame reuses that buffer: a busy
/// connection encodes into the same memory batch after batch instead of allocating and
/// growing a new buffer each time (up to [`MAX_KEPT`]); [`Outbox::shrink`] gives it back
/// when the connection is quiet.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    /// The last batch of frames, kept whole to take its buffer back (see
    /// [`Outbox::reclaim`]); the first `sent` bytes were handed out.
    batch: Bytes,
    sent: usize,
    lens: VecDeque<usize>,
}

impl Outbox {
    /// The buffer to append one frame to; finish with [`Outbox::commit`] or
    /// [`Outbox::abort`], passing back `buf().len()` as it was before writing.
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        if self.buf.capacity() == 0 && self.sent == self.batch.len() {
            self.reclaim();
        }
        &mut self.buf
    }

    /// Takes back the last batch's buffer when no frame of it is alive any more.
    fn reclaim(&mut self) {
        self.sent = 0;
        let batch = std::mem::take(&mut self.batch);
        if batch.len() > MAX_KEPT {
            return;
        }
        if let Ok(unique) = batch.try_into_mut() {
            // The whole allocation, from its start (the frames were views of it).
            let mut buf = Vec::from(unique);
            buf.clear();
            self.buf = buf;
        }
    }

    /// Records the bytes written since `start` as one frame.
    pub(crate) fn commit(&mut self, start: usize) {
        let len = self.buf.len().saturating_sub(start);
        if len > 0 {
            self.lens.push_back(len);
        }
    }

    /// Drops the bytes written since `start`.
    pub(crate) fn abort(&mut self, start: usize) {
        self.buf.truncate(start);
    }

    /// Writes one frame with `f`.
    pub(crate) fn frame(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf().len();
        f(&mut self.buf);
        self.commit(start);
    }

    pub(crate) fn poll(&mut self) -> Option<Bytes> {
        let len = self.lens.pop_front()?;
        if self.sent == self.batch.len() {
            self.batch = Bytes::from(std::mem::take(&mut self.buf));
            self.sent = 0;
        }
        let end = self.batch.len().min(self.sent + len);
        let frame = self.batch.slice(self.sent..end);
        self.sent = end;
        Some(frame)
    }

    /// Gives back the capacity kept for the next frames; only when nothing is queued.
    /// Returns whether anything was released.
    pub(crate) fn shrink(&mut self) -> bool {
        let holds = self.buf.capacity() > 0 || self.lens.capacity() > 0 || !self.batch.is_empty();
        if self.pending_bytes() > 0 || !holds {
            return false;
        }
        *self = Self::default();
        true
    }

    /// Capacity held for frames not written yet (for the trim tests).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity() + self.lens.capacity() + self.batch.len()
    }

    pub(crate) fn pending_bytes(&self) -> usize {
        self.buf.len() + (self.batch.len() - self.sent)
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_outbox_encodes_into_the_same_buffer() {
        let mut out = Outbox::default();
        out.frame(|b| b.extend_from_slice(&[1; 100]));
        out.frame(|b| b.extend_from_slice(&[2; 50]));
        let (first, second) = (out.poll().unwrap(), out.poll().unwrap());
        assert_eq!((&first[..], &second[..]), (&[1; 100][..], &[2; 50][..]));
        let addr = first.as_ptr();
        drop((first, second));
        // Every frame of the last batch is gone: the next one reuses its memory.
        out.frame(|b| b.push(3));
        let third = out.poll().unwrap();
        assert_eq!((third.as_ptr(), &third[..]), (addr, &[3][..]));
        // A frame still alive keeps its buffer: the next batch takes a new one.
        out.frame(|b| b.push(4));
        let fourth = out.poll().unwrap();
        assert_ne!(fourth.as_ptr(), addr);
        assert_eq!((&third[..], &fourth[..]), (&[3][..], &[4][..]));
        drop((third, fourth));
        assert!(out.shrink(), "a quiet outbox gives the buffer back");
        assert!(!out.shrink());
        assert_eq!(out.capacity(), 0);
    }

    #[test]
    fn a_large_batch_is_not_kept() {
        let mut out = Outbox::default();
        out.frame(|b| b.resize(MAX_KEPT + 1, 7));
        drop(out.poll());
        out.frame(|b| b.push(1));
        assert!(
            out.buf.capacity() < 64,
            "a new small buffer, not the large one"
        );
        assert!(out.batch.is_empty());
    }
}
