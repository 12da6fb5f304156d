//! The outgoing queue shared by both engines: one growing buffer, split off zero-copy.

use std::collections::VecDeque;

use bytes::Bytes;

/// Frames are encoded back to back into `buf`; `lens` keeps their lengths in order. When the
/// driver asks for output, the whole buffer is frozen into `sealed` (no copy) and each frame
/// is split off it (no copy either); later frames start a new buffer.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    sealed: Bytes,
    lens: VecDeque<usize>,
}

impl Outbox {
    /// The buffer to append one frame to; finish with [`Outbox::commit`] or
    /// [`Outbox::abort`], passing back `buf().len()` as it was before writing.
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
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
        let start = self.buf.len();
        f(&mut self.buf);
        self.commit(start);
    }

    pub(crate) fn poll(&mut self) -> Option<Bytes> {
        let len = self.lens.pop_front()?;
        if self.sealed.is_empty() {
            self.sealed = Bytes::from(std::mem::take(&mut self.buf));
        }
        let len = len.min(self.sealed.len());
        let frame = self.sealed.split_to(len);
        if self.sealed.is_empty() {
            // An empty view would still keep the whole sealed buffer alive.
            self.sealed = Bytes::new();
        }
        Some(frame)
    }

    /// Gives back the capacity kept for the next frames; only when nothing is queued.
    /// Returns whether anything was released.
    pub(crate) fn shrink(&mut self) -> bool {
        if self.pending_bytes() > 0 || (self.buf.capacity() == 0 && self.lens.capacity() == 0) {
            return false;
        }
        *self = Self::default();
        true
    }

    /// Capacity held for frames not written yet (for the trim tests).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity() + self.lens.capacity()
    }

    pub(crate) fn pending_bytes(&self) -> usize {
        self.buf.len() + self.sealed.len()
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }
}
