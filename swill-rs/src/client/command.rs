//! The messages between the client's handles and its connection task: [`Command`]s in,
//! one [`Reply`] stream per call out.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::resume::Resumed;
use super::ClientError;
use crate::error::Error;
use crate::metadata::Metadata;
use crate::protocol::Shape;

pub(super) enum Command {
    Open {
        id: u64,
        rpc: String,
        shape: Shape,
        data: Option<Vec<u8>>,
        metadata: Option<Metadata>,
        reply: mpsc::UnboundedSender<Reply>,
    },
    Item {
        id: u64,
        data: Vec<u8>,
    },
    End {
        id: u64,
    },
    Cancel {
        id: u64,
    },
    Close,
}

#[derive(Debug)]
pub(super) enum Reply {
    Metadata(Bytes),
    Message {
        data: Bytes,
        leading: Option<Bytes>,
        trailing: Option<Bytes>,
    },
    End {
        leading: Option<Bytes>,
        trailing: Option<Bytes>,
    },
    Error(Error),
    /// A resumable stream was re-opened; `leading` is the new stream's leading metadata.
    Resumed {
        resumed: Resumed,
        leading: Option<Bytes>,
    },
    /// The call is over without an answer from the server.
    Failed(Failure),
}

/// Why a call ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    Disconnected,
    Closed,
    Unavailable,
}

impl Failure {
    pub(super) fn into_error(self) -> ClientError {
        match self {
            Self::Disconnected => ClientError::Disconnected,
            Self::Closed => ClientError::Closed,
            Self::Unavailable => ClientError::Unavailable,
        }
    }
}
