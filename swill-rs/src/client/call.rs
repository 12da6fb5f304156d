//! One call's bookkeeping in the connection task ([`Call`]: waiting for a socket, resume
//! state) and the [`Session`] of the current socket (its engine and seq map).

use std::collections::HashMap;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::command::Reply;
use super::connect::Settings;
use super::resume::{outcome, Position, ResumeCause};
use crate::metadata::Metadata;
use crate::protocol::{ClientConn, Seq, Shape};

/// One call, from its Open command to its last reply.
pub(super) struct Call {
    pub(super) rpc: String,
    pub(super) shape: Shape,
    /// Kept while the call may have to be opened again (waiting, or a resumable stream).
    pub(super) data: Option<Vec<u8>>,
    pub(super) metadata: Option<Metadata>,
    pub(super) reply: mpsc::UnboundedSender<Reply>,
    /// Its seq on the current socket.
    pub(super) seq: Option<Seq>,
    /// A call made while there was no socket.
    pub(super) waiting: Option<Waiting>,
    pub(super) resume: Resume,
}

pub(super) struct Waiting {
    /// When it fails with [`Failure::Unavailable`].
    pub(super) deadline: Instant,
    /// Request items and END_OF_STREAM sent before it could open, in order.
    pub(super) queued: Vec<Queued>,
}

pub(super) enum Queued {
    Item(Vec<u8>),
    End,
}

/// Resume bookkeeping of a single-request stream.
#[derive(Default)]
pub(super) struct Resume {
    /// The last position received, once the leading metadata made the stream resumable.
    pub(super) at: Option<Position>,
    /// Whether the current open delivered its leading metadata.
    pub(super) leading_seen: bool,
    /// The current (or next) open is a re-open, for this reason.
    pub(super) reopen: Option<ResumeCause>,
    /// Re-opens since the count was last reset (see the builder's `max_resume_attempts`).
    pub(super) attempts: u32,
}

impl Call {
    pub(super) fn send(&self, reply: Reply) {
        let _ = self.reply.send(reply);
    }

    /// Single request, streamed response: the only shape whose call can be opened again
    /// (a streamed request cannot be replayed).
    pub(super) fn may_resume(&self, settings: &Settings) -> bool {
        settings.resume && !self.shape.request_streams && self.shape.response_streams
    }

    /// Handles the first leading metadata of the current open. For a re-open it returns the
    /// [`Reply::Resumed`] that replaces it.
    pub(super) fn first_leading(
        &mut self,
        raw: Option<&Bytes>,
        settings: &Settings,
    ) -> Option<Reply> {
        if self.resume.leading_seen || !self.may_resume(settings) {
            return None;
        }
        self.resume.leading_seen = true;
        let md = raw.and_then(|r| Metadata::from_msgpack(r).ok());
        match self.resume.reopen.take() {
            None => {
                self.resume.at = md.as_ref().and_then(Position::from_leading);
                None
            }
            Some(cause) => {
                let resumed = outcome(md.as_ref(), self.resume.at.as_ref(), cause);
                if cause == ResumeCause::Reconnected {
                    // The resume reached the server and worked: a quiet stream survives any
                    // number of reconnects.
                    self.resume.attempts = 0;
                }
                self.resume.at.clone_from(&resumed.position);
                Some(Reply::Resumed {
                    resumed,
                    leading: raw.cloned(),
                })
            }
        }
    }

    /// Whether this stream may be re-opened once more; counts the attempt if so.
    pub(super) fn take_resume_attempt(&mut self, settings: &Settings, cause: ResumeCause) -> bool {
        if self.resume.at.is_none() || self.resume.attempts >= settings.max_resume_attempts {
            return false;
        }
        self.resume.attempts += 1;
        // A re-open whose own leading never came stays a resume from the same position.
        if self.resume.reopen.is_none() || cause == ResumeCause::Reconnected {
            self.resume.reopen = Some(cause);
        }
        true
    }

    /// Request metadata for the next open: the call's own, plus `since` on a re-open.
    pub(super) fn open_metadata(&self) -> Option<Bytes> {
        match (&self.resume.reopen, &self.resume.at) {
            (Some(_), Some(at)) => {
                let mut md = self.metadata.clone().unwrap_or_default();
                md.insert(Position::SINCE, at);
                Some(md.to_msgpack())
            }
            _ => self.metadata.as_ref().map(Metadata::to_msgpack),
        }
    }
}

/// The engine of the current socket and its seq → call id map.
pub(super) struct Session {
    pub(super) engine: ClientConn,
    pub(super) by_seq: HashMap<Seq, u64>,
}

impl Session {
    pub(super) fn open(&mut self, id: u64, call: &mut Call, settings: &Settings) {
        let md = call.open_metadata();
        let seq = self
            .engine
            .open(&call.rpc, call.shape, call.data.as_deref(), md.as_deref());
        call.seq = Some(seq);
        call.resume.leading_seen = false;
        self.by_seq.insert(seq, id);
        if let Some(waiting) = call.waiting.take() {
            for q in waiting.queued {
                let _ = match q {
                    Queued::Item(data) => self.engine.send_item(seq, &data),
                    Queued::End => self.engine.send_end(seq),
                };
            }
        }
        if !call.may_resume(settings) {
            call.data = None;
            call.metadata = None;
        }
    }
}
