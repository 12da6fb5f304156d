//! Targeted pushes through topics: a connection's inbox, and publishing to every inbox, to
//! one connection, to one user, or to the inboxes a filter selects.

use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::hub::SubscriberInfo;
use super::{Message, PubSub, PubSubError, Subscription, ALL_TOPIC, RESERVED_PREFIX};
use crate::context::Connection;

impl PubSub {
    /// The inbox of `conn`: one subscription to [`ALL_TOPIC`], its connection topic and, if
    /// [`PubSubBuilder::identify`](super::PubSubBuilder::identify) names its user, the user topic. Not checked by the
    /// authorization function (the topics are the connection's own).
    ///
    /// # Errors
    ///
    /// 503 when the backend cannot subscribe.
    pub async fn inbox<T: DeserializeOwned>(
        &self,
        conn: &Connection,
    ) -> Result<Subscription<T>, crate::error::Error> {
        let user = self.user_of(conn);
        let mut topics: Vec<Arc<str>> = vec![
            Arc::from(ALL_TOPIC),
            Arc::from(self.connection_topic(conn.id())),
        ];
        if let Some(u) = &user {
            topics.push(Arc::from(Self::user_topic(u)));
        }
        let info = SubscriberInfo::connection(conn.id(), user);
        Ok(self.subscribe_as(topics, info, None).await?)
    }

    /// The topic of connection `id` of this instance (what its inbox listens to). Hand it
    /// to other instances to reach that connection from there.
    pub fn connection_topic(&self, id: u64) -> String {
        format!("{RESERVED_PREFIX}conn.{}.{id}", self.0.instance)
    }

    /// The topic of user `user` (every inbox of that user, on every instance).
    pub fn user_topic(user: &str) -> String {
        format!("{RESERVED_PREFIX}user.{user}")
    }

    /// Publishes to every inbox on every instance.
    pub fn to_all<M: Serialize + ?Sized>(
        &self,
        message: &M,
    ) -> impl Future<Output = Result<(), PubSubError>> + Send + 'static {
        self.publish(ALL_TOPIC, message)
    }

    /// Publishes to the inbox of one connection, named by its [`connection_topic`]
    /// (which may belong to another instance).
    ///
    /// [`connection_topic`]: Self::connection_topic
    pub fn to_connection<M: Serialize + ?Sized>(
        &self,
        connection_topic: impl Into<Arc<str>>,
        message: &M,
    ) -> impl Future<Output = Result<(), PubSubError>> + Send + 'static {
        self.publish(connection_topic, message)
    }

    /// Publishes to every inbox of `user`, on every instance.
    pub fn to_user<M: Serialize + ?Sized>(
        &self,
        user: &str,
        message: &M,
    ) -> impl Future<Output = Result<(), PubSubError>> + Send + 'static {
        self.publish(Self::user_topic(user), message)
    }

    /// Pushes to the inboxes on **this instance** that `filter` selects (by connection id or
    /// user), at once; returns how many queued it. A filter is a closure and cannot travel
    /// to other instances: to reach users wherever they are connected, use
    /// [`to_user`](Self::to_user) for each.
    ///
    /// # Errors
    ///
    /// [`PubSubError::Encode`] when `message` cannot be encoded.
    pub fn to_where<M: Serialize + ?Sized>(
        &self,
        filter: impl FnMut(&SubscriberInfo) -> bool,
        message: &M,
    ) -> Result<usize, PubSubError> {
        let m = Message::encode(ALL_TOPIC, message)?;
        Ok(self.0.hub.deliver_where(&m, filter).queued)
    }
}
