//! [`Subscription`]: one subscriber's end, as values ([`Subscription::recv`]) or as a
//! handler's response stream.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use serde::de::DeserializeOwned;

use super::history::{Admit, Cursor};
use super::hub::Slot;
use super::queue::{LagPolicy, Lagged, Next, Recv};
use super::{HistoryRead, Inner, Message, Position, PubSubError};
use crate::error::{Code, Error};
use crate::handler::{Response, Value};
use crate::metadata::Metadata;

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
    policy: LagPolicy,
    dropped: u64,
    interruptions: u64,
    history: Option<Positions>,
    _t: PhantomData<fn() -> T>,
}

/// The position bookkeeping of a subscription to one topic with history.
#[derive(Debug)]
struct Positions {
    /// Where the stream started: the position its first message follows.
    start: Position,
    /// Whether a resume replayed what was missed (`None`: no resume was asked for).
    recovered: Option<bool>,
    /// Missed messages still to hand out, before the live ones.
    replay: VecDeque<Message>,
    /// What has been handed out.
    cursor: Cursor,
}

enum State {
    Active { slot: Arc<Slot>, pubsub: Arc<Inner> },
    Failed(Option<Error>),
    Done,
}

impl<T> Subscription<T> {
    pub(crate) fn active(
        slot: Arc<Slot>,
        pubsub: Arc<Inner>,
        topics: Vec<Arc<str>>,
        policy: LagPolicy,
    ) -> Self {
        Self {
            state: State::Active { slot, pubsub },
            presence: None,
            topics,
            policy,
            dropped: 0,
            interruptions: 0,
            history: None,
            _t: PhantomData,
        }
    }

    /// Sets up the positions of a live subscription to one topic with history from what the
    /// history read found; `resumed`: a `since` was asked for.
    pub(crate) fn start_history(&mut self, read: HistoryRead, resumed: bool) {
        let (start, replay, recovered) = match read.missed {
            Some(missed) => {
                // The stream goes on right after the client's position.
                let count = missed.len() as u64;
                let start = Position::new(
                    read.top.epoch_arc().clone(),
                    read.top.offset().saturating_sub(count),
                );
                (start, missed.into(), Some(true))
            }
            None => (read.top, VecDeque::new(), resumed.then_some(false)),
        };
        self.history = Some(Positions {
            cursor: Cursor::new(start.clone()),
            start,
            recovered,
            replay,
        });
    }

    /// A subscription that yields `error` once and ends: what a handler returns when it
    /// cannot subscribe (for example the authorization check refused).
    pub fn failed(error: Error) -> Self {
        Self {
            state: State::Failed(Some(error)),
            presence: None,
            topics: Vec::new(),
            policy: LagPolicy::End,
            dropped: 0,
            interruptions: 0,
            history: None,
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

    /// For a subscription to one topic with history: the position its first message follows
    /// (the `offset` of the leading metadata [`announce`](Self::announce) sends). The k-th
    /// message it yields is at `start().offset() + k`.
    pub fn start(&self) -> Option<&Position> {
        self.history.as_ref().map(|h| &h.start)
    }

    /// For a subscription to one topic with history: the position of the last message it
    /// yielded (its start before the first).
    pub fn position(&self) -> Option<&Position> {
        self.history.as_ref().map(|h| h.cursor.position())
    }

    /// For a resumed subscription to a topic with history ([`PubSub::resume_from`] with a
    /// `since`): whether the messages missed since then are replayed (`Some(true)`) or could
    /// not be (`Some(false)`: only live messages follow, and the client must reload its
    /// state). `None` when no resume was asked for.
    ///
    /// [`PubSub::resume_from`]: super::PubSub::resume_from
    pub fn recovered(&self) -> Option<bool> {
        self.history.as_ref().and_then(|h| h.recovered)
    }

    /// Confirms the subscription to the client before the first message: sets the leading
    /// metadata `{"subscribed": topic}` (`{"subscribed": [topics]}` for several) and sends it
    /// at once as a METADATA frame. The subscription already exists, so everything published
    /// after the client sees this frame reaches it. A failed subscription sends nothing.
    ///
    /// For one topic with history, the metadata also carries the stream's start position,
    /// `"epoch"` and `"offset"` (the k-th message is at `offset + k`), and after a resume
    /// `"recovered"` (see [`recovered`](Self::recovered)).
    pub fn announce(self, res: &Response) -> Self {
        if matches!(self.state, State::Active { .. }) {
            let mut md = match self.topics.as_slice() {
                [one] => Metadata::new().with("subscribed", &**one),
                many => Metadata::new().with(
                    "subscribed",
                    many.iter().map(|t| &**t).collect::<Vec<&str>>(),
                ),
            };
            if let Some(h) = &self.history {
                md = md
                    .with("epoch", h.start.epoch())
                    .with("offset", h.start.offset());
                if let Some(recovered) = h.recovered {
                    md = md.with("recovered", recovered);
                }
            }
            res.set_leading(md);
            res.send_leading();
        }
        self
    }

    /// The next message or gap; `Poll::Ready(None)` once the subscription ended (it lagged
    /// under [`LagPolicy::End`], or it failed).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Recv>> {
        loop {
            let recv = match self.poll_queue(cx) {
                Poll::Ready(Some(Recv::Message(m))) => m,
                other => return other,
            };
            let Some(h) = &mut self.history else {
                return Poll::Ready(Some(Recv::Message(recv)));
            };
            match h.cursor.admit(&recv) {
                Admit::Deliver => return Poll::Ready(Some(Recv::Message(recv))),
                Admit::Skip => {}
                Admit::Gap => {
                    // A position was skipped, or the numbering restarted: rather than a
                    // silent gap, the stream ends here and the client resumes.
                    tracing::debug!(topics = ?self.topics, at = ?h.cursor.position(), got = ?recv.position(), "gap in a history subscription");
                    self.interruptions += 1;
                    self.end();
                    return Poll::Ready(Some(Recv::Lagged(Lagged::Interrupted)));
                }
            }
        }
    }

    /// The next replayed message, else the next queued message or gap.
    fn poll_queue(&mut self, cx: &mut Context<'_>) -> Poll<Option<Recv>> {
        if let Some(m) = self.history.as_mut().and_then(|h| h.replay.pop_front()) {
            return Poll::Ready(Some(Recv::Message(m)));
        }
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
            .field("position", &self.position())
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
        (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<crate::payload::Encoded>>()
    {
        let e = crate::payload::Encoded::new(m.payload().clone())
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
        let policy = this.policy;
        loop {
            match this.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Recv::Message(m))) => {
                    if let (Some(tc), State::Active { pubsub, .. }) =
                        (m.trace_context(), &this.state)
                    {
                        let span = crate::app::trace::deliver_span(
                            pubsub.on_trace.as_ref(),
                            m.topic(),
                            tc,
                        );
                        span.in_scope(|| tracing::debug!("pub/sub message delivered"));
                    }
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

/// The key of the request metadata that carries a resume position.
pub const SINCE_KEY: &str = "since";

/// Handler argument: the position a client resumes after, from the request metadata
/// `since: {"epoch": string, "offset": int}` (`None` without it). Pass it to
/// [`PubSub::resume_from`](super::PubSub::resume_from); a handler-defined stream that
/// numbers its items the same way (leading metadata `epoch` and `offset`) reads it to
/// resume itself.
///
/// ```
/// use futures::Stream;
/// use swill::pubsub::{PubSub, Since, Subscription};
/// use swill::{Connection, Error, Request, Response, State, Value};
///
/// /// Streams a room's messages; resumes after a reconnect.
/// #[swill::handler]
/// async fn room(
///     req: Request<String>,
///     Since(since): Since,
///     conn: Connection,
///     State(pubsub): State<PubSub>,
///     res: Response,
/// ) -> impl Stream<Item = Result<Value, Error>> {
///     let sub = pubsub.resume_from(&conn, req.into_data(), since).await;
///     Subscription::or_failed(sub).announce(&res)
/// }
/// # let _ = swill::Swill::new().with_state(PubSub::new()).handler(room);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Since(pub Option<Position>);

impl crate::handler::FromCall for Since {
    fn from_call(ctx: &crate::context::CallContext) -> Result<Self, Error> {
        match ctx.metadata().get(SINCE_KEY) {
            None | Some(rmpv::Value::Nil) => Ok(Self(None)),
            Some(v) => rmpv::ext::from_value::<Position>(v.clone())
                .map(|p| Self(Some(p)))
                .map_err(|_| {
                    Error::bad_request(
                        "request metadata `since` must be {\"epoch\": string, \"offset\": int}",
                    )
                }),
        }
    }
}
