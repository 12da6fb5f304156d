//! The seqs a client may still send frames for after the server ended the call.

use std::collections::VecDeque;

use tracing::debug;

use crate::protocol::frame::Seq;
use crate::protocol::seqmap::SeqSet;

/// Seqs of calls that ended while the client's request stream was still open (swill/1 §12.6).
#[derive(Debug, Default)]
pub(super) struct HalfClosed {
    order: VecDeque<Seq>,
    set: SeqSet,
}

impl HalfClosed {
    pub(super) fn insert(&mut self, seq: Seq, max: usize) {
        if max == 0 || !self.set.insert(seq) {
            return;
        }
        self.order.push_back(seq);
        while self.order.len() > max {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
                debug!(seq = old.0, "half-closed seq forgotten (limit reached)");
            }
        }
    }

    pub(super) fn contains(&self, seq: Seq) -> bool {
        self.set.contains(&seq)
    }

    pub(super) fn remove(&mut self, seq: Seq) {
        if self.set.remove(&seq) {
            self.order.retain(|s| *s != seq);
        }
    }
}
