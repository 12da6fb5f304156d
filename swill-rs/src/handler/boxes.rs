//! Reuse of the boxes that hold call bodies: a finished call's box holds the next call's
//! body when the two have the same type, so that a busy connection opens calls of one
//! handler without allocating for them.
//!
//! Bodies are boxed because the route table is dynamic (`Pin<Box<dyn CallBody>>`). [`pin`]
//! boxes a body inside a [`Reusable`]; when its call ends, the driver hands the box to
//! [`recycle`], which drops the body in place ([`Pin::set`], no `unsafe`) and keeps the
//! empty box in a small per-thread list. The next [`pin`] of a body of that type puts it in
//! that box instead of allocating one. The list is bounded ([`KEEP`] boxes of at most
//! [`MAX_SIZE`] bytes per thread), like an allocator's thread cache: it holds no memory per
//! connection.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use pin_project_lite::pin_project;

use super::{Backlog, CallBody, CallView, Step};
use crate::error::Error;

/// Empty boxes kept per thread: about the calls in flight on one busy connection.
const KEEP: usize = 64;
/// Larger bodies are freed, not kept (so at most `KEEP` × 4 KiB per thread).
const MAX_SIZE: usize = 4096;

pin_project! {
    /// A call body in a box that outlives it.
    #[project = ReusableProj]
    pub(crate) enum Reusable<B> {
        Live { #[pin] body: B },
        Empty,
    }
}

impl<B: CallBody + 'static> CallBody for Reusable<B> {
    #[inline]
    fn poll_step(self: Pin<&mut Self>, cx: &mut Context<'_>, view: CallView) -> Poll<Step> {
        match self.project() {
            ReusableProj::Live { body } => body.poll_step(cx, view),
            ReusableProj::Empty => Poll::Pending,
        }
    }

    #[inline]
    fn write_item(self: Pin<&mut Self>, out: &mut Vec<u8>) -> Result<(), Error> {
        match self.project() {
            ReusableProj::Live { body } => body.write_item(out),
            ReusableProj::Empty => Err(Error::internal()),
        }
    }

    #[inline]
    fn push_input(self: Pin<&mut Self>, item: Option<Bytes>) -> Result<(), Backlog> {
        match self.project() {
            ReusableProj::Live { body } => body.push_input(item),
            ReusableProj::Empty => Ok(()),
        }
    }

    fn clear(mut self: Pin<&mut Self>) -> Option<TypeId> {
        self.set(Self::Empty);
        Some(TypeId::of::<Self>())
    }

    fn refill(mut self: Pin<&mut Self>, next: &mut dyn Any) -> bool {
        match next.downcast_mut::<Option<Self>>().and_then(Option::take) {
            Some(body) => {
                self.set(body);
                true
            }
            None => false,
        }
    }
}

/// Cleared boxes, each with the type of body it holds (a [`Reusable`] of that body).
type Kept = Vec<(TypeId, Pin<Box<dyn CallBody>>)>;

thread_local! {
    static EMPTY: RefCell<Kept> = const { RefCell::new(Vec::new()) };
}

/// Boxes `body`, in a kept box of its type when there is one.
pub(crate) fn pin<B: CallBody + 'static>(body: B) -> Pin<Box<dyn CallBody>> {
    let id = TypeId::of::<Reusable<B>>();
    let found = EMPTY
        .try_with(|list| {
            let mut list = list.try_borrow_mut().ok()?;
            let i = list.iter().rposition(|(t, _)| *t == id)?;
            Some(list.swap_remove(i).1)
        })
        .ok()
        .flatten();
    let mut next = Some(Reusable::Live { body });
    if let Some(mut kept) = found {
        if kept.as_mut().refill(&mut next) {
            return kept;
        }
    }
    match next {
        Some(body) => Box::pin(body),
        // `refill` took it, and then returned `true`.
        None => Box::pin(Reusable::<B>::Empty),
    }
}

/// Drops a finished call's body and keeps its box for the next call (or frees it).
pub(crate) fn recycle(mut body: Pin<Box<dyn CallBody>>) {
    let small = std::mem::size_of_val(&*body) <= MAX_SIZE;
    let Some(id) = body.as_mut().clear() else {
        return;
    };
    if !small {
        return;
    }
    // Without room (or while the thread ends) the box is freed here.
    let _ = EMPTY.try_with(|list| {
        if let Ok(mut list) = list.try_borrow_mut() {
            if list.len() < KEEP {
                list.push((id, body));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// A body that counts its drops; `N` sets its size.
    struct Counted<const N: usize> {
        drops: Arc<AtomicUsize>,
        data: [u8; N],
    }

    impl<const N: usize> Drop for Counted<N> {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl<const N: usize> CallBody for Counted<N> {
        fn poll_step(self: Pin<&mut Self>, _: &mut Context<'_>, _: CallView) -> Poll<Step> {
            Poll::Pending
        }
        fn write_item(self: Pin<&mut Self>, out: &mut Vec<u8>) -> Result<(), Error> {
            out.extend_from_slice(&self.data);
            Ok(())
        }
        fn push_input(self: Pin<&mut Self>, _: Option<Bytes>) -> Result<(), Backlog> {
            Ok(())
        }
    }

    fn body<const N: usize>(drops: &Arc<AtomicUsize>, byte: u8) -> Counted<N> {
        Counted {
            drops: drops.clone(),
            data: [byte; N],
        }
    }

    fn addr(b: &Pin<Box<dyn CallBody>>) -> *const u8 {
        std::ptr::from_ref::<dyn CallBody>(&**b).cast()
    }

    fn written(mut b: Pin<Box<dyn CallBody>>) -> Vec<u8> {
        let mut out = Vec::new();
        b.as_mut().write_item(&mut out).unwrap();
        recycle(b);
        out
    }

    fn kept() -> usize {
        EMPTY.with(|l| l.borrow().len())
    }

    #[test]
    fn a_finished_body_is_dropped_at_once_and_its_box_holds_the_next_one() {
        std::thread::spawn(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let first = pin(body::<100>(&drops, 1));
            let at = addr(&first);
            recycle(first);
            assert_eq!(
                drops.load(Ordering::SeqCst),
                1,
                "dropped when its call ends"
            );
            assert_eq!(kept(), 1);

            let other = pin(body::<200>(&drops, 2));
            assert_ne!(addr(&other), at, "another type does not take it");
            let same = pin(body::<100>(&drops, 3));
            assert_eq!(addr(&same), at, "the same box, reused");
            assert_eq!(kept(), 0);
            assert_eq!(written(same), [3; 100], "holding the new body");
            assert_eq!(written(other), [2; 200]);
            assert_eq!(drops.load(Ordering::SeqCst), 3);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_kept_boxes_are_bounded_in_number_and_size() {
        std::thread::spawn(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let live: Vec<_> = (0..KEEP + 8).map(|_| pin(body::<32>(&drops, 0))).collect();
            live.into_iter().for_each(recycle);
            assert_eq!(kept(), KEEP);
            EMPTY.with(|l| l.borrow_mut().clear());
            recycle(pin(body::<{ MAX_SIZE + 1 }>(&drops, 0)));
            assert_eq!(kept(), 0, "a large body's box is freed");
            assert_eq!(drops.load(Ordering::SeqCst), KEEP + 9);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_body_boxed_elsewhere_is_simply_dropped() {
        std::thread::spawn(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            recycle(Box::pin(body::<8>(&drops, 0)));
            assert_eq!((drops.load(Ordering::SeqCst), kept()), (1, 0));
        })
        .join()
        .unwrap();
    }
}
