//! The running calls of one connection, polled by the connection task itself.
//!
//! Calls are not spawned as tasks: each is a boxed [`CallBody`] in a slab slot with its own
//! waker. A wake pushes the slot index onto a ready queue and wakes the connection task, which
//! polls only the woken calls. Slots (and their wakers) are reused, so a call costs one box for
//! its body and nothing else; cancelling a call drops its body on the spot.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};

use futures_util::task::{waker, ArcWake, AtomicWaker};

use crate::context::{CallContext, SpareContext};
use crate::handler::CallBody;
use crate::protocol::{Seq, SeqMap};

/// Wake-up plumbing shared by every slot of one connection.
#[derive(Default)]
struct Ready {
    queue: Mutex<VecDeque<usize>>,
    conn: AtomicWaker,
}

struct SlotWaker {
    idx: usize,
    queued: AtomicBool,
    ready: Arc<Ready>,
}

impl ArcWake for SlotWaker {
    fn wake_by_ref(arc: &Arc<Self>) {
        if !arc.queued.swap(true, Ordering::AcqRel) {
            arc.ready
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_back(arc.idx);
            arc.ready.conn.wake();
        }
    }
}

/// One running call.
pub(crate) struct Call {
    pub(crate) seq: Seq,
    pub(crate) body: Pin<Box<dyn CallBody>>,
    pub(crate) ctx: CallContext,
    pub(crate) route: u32,
    /// The response is a stream (else its one MESSAGE ends the call).
    pub(crate) response_streams: bool,
    pub(crate) span: tracing::Span,
    /// Its share of the app's call budget, given back when the call is dropped.
    pub(crate) _permit: crate::app::call_budget::CallPermit,
}

struct Slot {
    call: Option<Call>,
    waker: Waker,
    state: Arc<SlotWaker>,
}

/// The slab and its indexes; allocated with the first call and given back by
/// [`CallSet::trim`] once the connection has been quiet with no call running.
struct Inner {
    slots: Vec<Slot>,
    free: Vec<usize>,
    by_seq: SeqMap<usize>,
    ready: Arc<Ready>,
    /// Contexts of finished calls, for the next ones (at most one per slot).
    spare: Vec<SpareContext>,
}

/// The running calls of one connection: a pointer while the connection has none.
pub(crate) struct CallSet {
    inner: Option<Box<Inner>>,
}

impl CallSet {
    pub(crate) const fn new() -> Self {
        Self { inner: None }
    }

    /// Registers the connection task's waker (call on every poll of the connection).
    pub(crate) fn register(&self, cx: &Context<'_>) {
        if let Some(inner) = &self.inner {
            inner.ready.conn.register(cx.waker());
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.by_seq.len())
    }

    /// Gives the slab, its wakers and indexes back when no call is running. Returns whether
    /// anything was released.
    pub(crate) fn trim(&mut self) -> bool {
        if self.len() == 0 && self.inner.is_some() {
            self.inner = None;
            return true;
        }
        false
    }

    /// Adds a call and queues it for its first poll.
    pub(crate) fn insert(&mut self, call: Call) {
        let inner = self.inner.get_or_insert_with(|| {
            Box::new(Inner {
                slots: Vec::new(),
                free: Vec::new(),
                by_seq: SeqMap::default(),
                ready: Arc::default(),
                spare: Vec::new(),
            })
        });
        let seq = call.seq;
        let idx = match inner.free.pop() {
            Some(idx) => idx,
            None => {
                let idx = inner.slots.len();
                let state = Arc::new(SlotWaker {
                    idx,
                    queued: AtomicBool::new(false),
                    ready: inner.ready.clone(),
                });
                inner.slots.push(Slot {
                    call: None,
                    waker: waker(state.clone()),
                    state,
                });
                idx
            }
        };
        if let Some(slot) = inner.slots.get_mut(idx) {
            slot.call = Some(call);
            slot.waker.wake_by_ref();
        }
        inner.by_seq.insert(seq, idx);
    }

    /// A finished call's context, for the next call (see [`CallContext::into_spare`]).
    pub(crate) fn take_spare(&mut self) -> Option<SpareContext> {
        self.inner.as_mut()?.spare.pop()
    }

    /// Keeps a finished call's context for the next call, when nothing else holds it. The
    /// spares are given back with the slab ([`trim`](Self::trim)).
    pub(crate) fn keep_spare(&mut self, ctx: CallContext) {
        if let Some(inner) = self.inner.as_mut() {
            if inner.spare.len() < inner.slots.len() {
                if let Some(spare) = ctx.into_spare() {
                    inner.spare.push(spare);
                }
            }
        }
    }

    /// The call with this seq and its slot index.
    pub(crate) fn get_mut(&mut self, seq: Seq) -> Option<(usize, &mut Call)> {
        let inner = self.inner.as_mut()?;
        let idx = *inner.by_seq.get(&seq)?;
        Some((idx, inner.slots.get_mut(idx)?.call.as_mut()?))
    }

    /// The call in slot `idx`, found without hashing its seq.
    pub(crate) fn at_mut(&mut self, idx: usize) -> Option<&mut Call> {
        self.inner.as_mut()?.slots.get_mut(idx)?.call.as_mut()
    }

    /// Queues slot `idx` for another poll.
    pub(crate) fn wake(&self, idx: usize) {
        if let Some(slot) = self.inner.as_ref().and_then(|i| i.slots.get(idx)) {
            slot.waker.wake_by_ref();
        }
    }

    /// Removes a call, dropping nothing: the caller decides when the body goes.
    pub(crate) fn remove(&mut self, seq: Seq) -> Option<Call> {
        let inner = self.inner.as_mut()?;
        let idx = inner.by_seq.remove(&seq)?;
        let call = inner.slots.get_mut(idx)?.call.take();
        inner.free.push(idx);
        call
    }

    /// The next woken slot index (possibly stale: [`with_ready`](Self::with_ready) skips
    /// those).
    pub(crate) fn next_ready(&self) -> Option<usize> {
        self.inner
            .as_ref()?
            .ready
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    /// Gives the call in slot `idx` (if any) and a context with its waker to `f`.
    pub(crate) fn with_ready<R>(
        &mut self,
        idx: usize,
        f: impl FnOnce(&mut Call, &mut Context<'_>) -> R,
    ) -> Option<R> {
        let slot = self.inner.as_mut()?.slots.get_mut(idx)?;
        slot.state.queued.store(false, Ordering::Release);
        let call = slot.call.as_mut()?;
        let mut cx = Context::from_waker(&slot.waker);
        Some(f(call, &mut cx))
    }

    /// Removes every call (connection end).
    pub(crate) fn drain(&mut self) -> Vec<Call> {
        match self.inner.take() {
            Some(inner) => inner.slots.into_iter().filter_map(|s| s.call).collect(),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::task::Poll;

    use bytes::Bytes;

    use super::*;
    use crate::handler::{Backlog, CallView, Connection, Metadata, Step};

    struct Idle;

    impl CallBody for Idle {
        fn poll_step(self: Pin<&mut Self>, _: &mut Context<'_>, _: CallView) -> Poll<Step> {
            Poll::Pending
        }
        fn write_item(self: Pin<&mut Self>, _: &mut Vec<u8>) -> Result<(), crate::error::Error> {
            Ok(())
        }
        fn push_input(self: Pin<&mut Self>, _: Option<Bytes>) -> Result<(), Backlog> {
            Ok(())
        }
    }

    fn call(seq: i64) -> Call {
        let app = crate::app::Swill::new().build().unwrap();
        let conn = Connection::new(
            1,
            None,
            http::Uri::default(),
            http::HeaderMap::new(),
            http::Extensions::new(),
            "swill/1",
            app.states.clone(),
        );
        Call {
            seq: Seq(seq),
            body: Box::pin(Idle),
            ctx: CallContext::new(Seq(seq), "idle".into(), Metadata::new(), conn),
            route: 0,
            response_streams: false,
            span: tracing::Span::none(),
            _permit: app.calls.try_acquire().unwrap(),
        }
    }

    #[test]
    fn the_slab_is_given_back_only_when_no_call_runs() {
        let mut set = CallSet::new();
        assert!(!set.trim(), "nothing allocated before the first call");
        set.insert(call(1));
        set.insert(call(2));
        assert_eq!(
            set.next_ready(),
            Some(0),
            "a new call is queued for its first poll"
        );
        assert!(set.at_mut(1).is_some_and(|c| c.seq == Seq(2)));
        assert!(set.remove(Seq(1)).is_some());
        assert!(!set.trim(), "a running call keeps the slab");
        assert!(set.get_mut(Seq(2)).is_some());
        assert!(set.remove(Seq(2)).is_some());
        assert!(set.trim(), "an idle connection gives its slab back");
        assert_eq!(set.len(), 0);
        assert!(set.next_ready().is_none() && set.at_mut(0).is_none());
        set.insert(call(3));
        assert_eq!(set.len(), 1, "and takes a new one with the next call");
        assert_eq!(set.drain().len(), 1);
    }

    #[test]
    fn finished_contexts_are_kept_for_the_next_calls_one_per_slot() {
        let mut set = CallSet::new();
        set.keep_spare(call(1).ctx);
        assert!(set.take_spare().is_none(), "no slab, no spares");
        set.insert(call(1));
        let done = set.remove(Seq(1)).unwrap();
        let held = done.ctx.clone();
        set.keep_spare(done.ctx);
        assert!(
            set.take_spare().is_none(),
            "a context still held is not kept"
        );
        set.keep_spare(held);
        set.keep_spare(call(2).ctx);
        assert!(set.take_spare().is_some());
        assert!(set.take_spare().is_none(), "one slot, one spare");
        set.keep_spare(call(3).ctx);
        assert!(set.trim(), "the spares go with the slab");
        assert!(set.take_spare().is_none());
    }
}
