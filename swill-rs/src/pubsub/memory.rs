//! The in-process backend: one process, no setup.

use std::sync::Arc;

use futures_util::future::{self, BoxFuture};

use super::{Backend, Fanout, Message, PubSubError};

/// The in-process backend (the default): a publish is delivered to this process's
/// subscribers before `publish` returns, and a subscription is live as soon as it exists.
#[derive(Debug, Clone)]
pub struct Memory {
    fanout: Fanout,
}

impl Memory {
    /// The backend for `fanout` (see [`PubSubBuilder::backend`](super::PubSubBuilder::backend)).
    pub fn new(fanout: Fanout) -> Self {
        Self { fanout }
    }
}

impl Backend for Memory {
    fn publish(&self, message: Message) -> BoxFuture<'static, Result<(), PubSubError>> {
        self.fanout.deliver(&message);
        Box::pin(future::ready(Ok(())))
    }

    fn subscribe(&self, _topic: Arc<str>) -> BoxFuture<'static, Result<(), PubSubError>> {
        Box::pin(future::ready(Ok(())))
    }

    fn unsubscribe(&self, _topic: Arc<str>) {}
}
