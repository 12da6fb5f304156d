//! [`Subscription`]: one subscriber's end, as values ([`Subscription::recv`]) or as a
//! handler's response stream.

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use serde::de::DeserializeOwned;

use super::hub::Slot;
use super::queue::{LagPolicy, Lagged, Next, Recv};
use super::{Inner, PubSubError};
use crate::{Code, Error, Metadata, Response, Value};

/// A subscription to one or more topics; dropping it unsubscribes.
///
/// Server code reads it as values with [`recv`](Self::recv), which reports gaps as
/// [`Recv::Lagged`]. A handler returns it as its streaming response: as a
/// [`Stream`]`<Item = Result<T, Error>>` it decodes each message into `T` (a
/// `Subscription<`[`Encoded`](crate::Encoded)`>` forwards the published bytes instead, never
/// decoded, straight into each subscriber's frames), and a gap that ends
/// the subscription (see [`LagPolicy`]) becomes the call's ERROR (503, with `data`
/// `{"lagged": capacity}` or `{"interrupted": true}`), so the client knows to resubscribe.
/// Gaps that do not end it (drops under [`LagPolicy::DropOldest`]) are counted in
/// [`dropped`](Self::dropped) and logged.
#[must_use = "dropping a subscription unsubscribes"]
pub struct Subscription<T = Value> {
    state: State,
    presence: Option<super::Tracked>,
    topics: Vec<Arc<str>>,
    dropped: u64,
    interruptions: u64,
    _t: PhantomData<fn() -> T>,
}

enum State {
    Active { slot: Arc<Slot>, pubsub: Arc<Inner> },
    Failed(Option<Error>),
    Done,
}

impl<T> Subscription<T> {
    pub(crate) fn active(slot: Arc<Slot>, pubsub: Arc<Inner>, topics: Vec<Arc<str>>) -> Self {
        Self {
            state: State::Active { slot, pubsub },
            presence: None,
            topics,
            dropped: 0,
            interruptions: 0,
            _t: PhantomData,
        }
    }

    /// A subscription that yields `error` once and ends: what a handler returns when it
    /// cannot subscribe (for example the authorization check refused).
    pub fn failed(error: Error) -> Self {
        Self {
            state: State::Failed(Some(error)),
            presence: None,
            topics: Vec::new(),
            dropped: 0,
            interruptions: 0,
            _t: PhantomData,
        }
    }

    /// Turns the outcome of a subscribe into a subscription, a failure into
    /// [`failed`](Self::failed).
    pub fn or_failed(result: Result<Self, impl Into<Error>>) -> Self {
        result.unwrap_or_else(|e| Self::failed(e.into()))
    }

    /// Keeps `tracked` (a presence entry) for as long as the subscription lives: cancelling
    /// the call then also leaves the topic.
    pub fn with_presence(mut self, tracked: super::Tracked) -> Self {
        self.presence = Some(tracked);
        self
    }

    /// The topics subscribed to.
    pub fn topics(&self) -> &[Arc<str>] {
        &self.topics
    }

    /// Messages dropped so far under [`LagPolicy::DropOldest`] (already reported through
    /// [`recv`](Self::recv), or counted by the stream).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// How often the backend reconnected while this subscription lived (each time messages
    /// may have been missed).
    pub fn interruptions(&self) -> u64 {
        self.interruptions
    }

    /// Confirms the subscription to the client before the first message: sets the leading
    /// metadata `{"subscribed": topic}` (`{"subscribed": [topics]}` for several) and sends it
    /// at once as a METADATA frame. The subscription already exists, so everything published
    /// after the client sees this frame reaches it. A failed subscription sends nothing.
    pub fn announce(self, res: &Response) -> Self {
        if matches!(self.state, State::Active { .. }) {
            let md = match self.topics.as_slice() {
                [one] => Metadata::new().with("subscribed", &**one),
                many => Metadata::new().with(
                    "subscribed",
                    many.iter().map(|t| &**t).collect::<Vec<&str>>(),
                ),
            };
            res.set_leading(md);
            res.send_leading();
        }
        self
    }

    /// The next message or gap; `Poll::Ready(None)` once the subscription ended (it lagged
    /// under [`LagPolicy::End`], or it failed).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Recv>> {
        let State::Active { slot, .. } = &self.state else {
            return Poll::Ready(None);
        };
        let next = {
            let mut q = slot.queue();
            match q.pop() {
                Next::Empty => {
                    q.register(cx.waker());
                    Next::Empty
                }
                other => other,
            }
        };
        match next {
            Next::Empty => Poll::Pending,
            Next::Ended => {
                self.end();
                Poll::Ready(None)
            }
            Next::Item(recv) => {
                match &recv {
                    Recv::Lagged(Lagged::Dropped(n)) => self.dropped += n,
                    Recv::Lagged(Lagged::Interrupted) => self.interruptions += 1,
                    _ => {}
                }
                Poll::Ready(Some(recv))
            }
        }
    }

    /// The next message or gap; `None` once the subscription ended.
    pub async fn recv(&mut self) -> Option<Recv> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn end(&mut self) {
        self.presence = None;
        if let State::Active { slot, pubsub } = std::mem::replace(&mut self.state, State::Done) {
            pubsub.unsubscribe(slot.id);
        }
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        self.end();
    }
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Active { .. } => "active",
            State::Failed(_) => "failed",
            State::Done => "done",
        };
        f.debug_struct("Subscription")
            .field("topics", &self.topics)
            .field("state", &state)
            .field("dropped", &self.dropped)
            .finish()
    }
}

/// The ERROR a subscription ends with after it lagged or was interrupted under
/// [`LagPolicy::End`].
fn lag_error(lagged: Lagged) -> Error {
    match lagged {
        Lagged::Overflowed { capacity } => Error::new(
            Code::UNAVAILABLE,
            format!("subscription lagged: more than {capacity} messages were waiting; resubscribe"),
        )
        .with_data(Metadata::new().with("lagged", capacity)),
        _ => Error::new(
            Code::UNAVAILABLE,
            "subscription interrupted: the pub/sub backend reconnected and messages may have \
             been missed; resubscribe",
        )
        .with_data(Metadata::new().with("interrupted", true)),
    }
}

/// A message as the stream's item: [`Encoded`](crate::Encoded) takes the published bytes as
/// they are (checked to be one MessagePack value, since `Message::new` and other instances
/// through a backend may carry any bytes, but never decoded); any other type is decoded.
fn item_of<T: DeserializeOwned + 'static>(m: &super::Message) -> Result<T, PubSubError> {
    let mut slot: Option<T> = None;
    if let Some(raw) =
        (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<crate::Encoded>>()
    {
        let e = crate::Encoded::new(m.payload().clone())
            .map_err(|e| PubSubError::Decode(e.to_string()))?;
        *raw = Some(e);
        return slot.ok_or_else(|| PubSubError::Decode("unreachable".into()));
    }
    m.decode::<T>()
}

impl<T: DeserializeOwned + 'static> Stream for Subscription<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let State::Failed(e) = &mut this.state {
            let e = e.take();
            this.state = State::Done;
            return Poll::Ready(e.map(Err));
        }
        let policy = match &this.state {
            State::Active { pubsub, .. } => pubsub.policy,
            _ => return Poll::Ready(None),
        };
        loop {
            match this.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Recv::Message(m))) => {
                    return Poll::Ready(Some(item_of::<T>(&m).map_err(|e| {
                        this.end();
                        Error::from(e)
                    })));
                }
                Poll::Ready(Some(Recv::Lagged(Lagged::Dropped(n)))) => {
                    tracing::debug!(topics = ?this.topics, dropped = n, "slow subscriber");
                }
                Poll::Ready(Some(Recv::Lagged(lagged))) => {
                    let ends =
                        policy == LagPolicy::End || matches!(lagged, Lagged::Overflowed { .. });
                    if ends {
                        tracing::debug!(topics = ?this.topics, ?lagged, "subscription ends");
                        this.end();
                        return Poll::Ready(Some(Err(lag_error(lagged))));
                    }
                    tracing::debug!(topics = ?this.topics, "subscription interrupted, goes on");
                }
            }
        }
    }
}
