//! The pub/sub error type.

use crate::error::Error;

/// What can go wrong publishing or subscribing.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PubSubError {
    /// The message could not be encoded as MessagePack.
    #[error("the message cannot be encoded: {0}")]
    Encode(String),
    /// A message's payload is not of the subscriber's type.
    #[error("a published message does not decode as the subscription's type: {0}")]
    Decode(String),
    /// The authorization check refused the subscription or the publish.
    #[error("{0}")]
    Forbidden(String),
    /// The backend (for example Redis) cannot be reached: the publish or subscribe did not
    /// happen. Retry later.
    #[error("the pub/sub backend is unavailable: {0}")]
    Unavailable(String),
    /// A subscription was given no topic, or a topic name the backend rejects.
    #[error("invalid topic: {0}")]
    InvalidTopic(String),
}

impl From<PubSubError> for Error {
    /// Encode and decode failures are the server's fault (500), a refusal is 403, an
    /// unreachable backend is 503, a bad topic name is 400.
    fn from(e: PubSubError) -> Self {
        match e {
            PubSubError::Encode(_) | PubSubError::Decode(_) => {
                tracing::error!(error = %e, "pub/sub");
                Self::internal()
            }
            PubSubError::Forbidden(m) => Self::forbidden(m),
            PubSubError::Unavailable(_) => {
                Self::new(crate::error::Code::UNAVAILABLE, e.to_string())
            }
            PubSubError::InvalidTopic(_) => Self::bad_request(e.to_string()),
        }
    }
}
