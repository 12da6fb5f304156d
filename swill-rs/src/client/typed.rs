//! Typed calls through a [contract](mod@crate::contract): [`Client::to`] and [`Typed`].
//!
//! The contract fixes the rpc name, the shape and both types, so a call cannot name an rpc
//! that does not exist in the contract, send the wrong request type, expect the wrong
//! response type or use the wrong shape: each is a compile error. The server's handler is
//! checked against the same contract (`#[swill::handler(contract = path)]`).
//!
//! | contract shape | method | returns |
//! |---|---|---|
//! | `unary` | [`Typed::call`], [`Typed::reply`] | the decoded response (with its metadata) |
//! | `server_stream` | [`Typed::stream`] | a [`ResponseStream`] of the response type |
//! | `client_stream` | [`Typed::client_stream`] | a [`RequestSink`] and a [`ReplyFuture`] |
//! | `bidi` | [`Typed::bidi`] | a [`RequestSink`] and a [`ResponseStream`] |

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{CallBuilder, Client, ClientError, Reply, ReplyFuture, RequestSink, ResponseStream};
use crate::contract::{Bidi, ClientStream, Rpc, ServerStream, Unary};
use crate::metadata::Metadata;

impl Client {
    /// A typed call to the rpc of contract `rpc` (see [`contract`](mod@crate::contract)).
    ///
    /// ```
    /// # swill::contract! { pub unary add = "add": (i64, i64) => i64; }
    /// # async fn run(client: swill::client::Client) -> Result<(), swill::client::ClientError> {
    /// let sum = client.to(add).call(&(2, 3)).await?;
    /// assert_eq!(sum, 5);
    /// # Ok(())
    /// # }
    /// # let _ = run;
    /// ```
    pub fn to<C: Rpc>(&self, rpc: C) -> Typed<'_, C> {
        let _ = rpc;
        Typed {
            call: self.rpc(C::NAME),
            _c: PhantomData,
        }
    }
}

/// A typed call being set up: the methods of the contract's shape, and request metadata.
#[derive(Debug)]
#[must_use]
pub struct Typed<'a, C> {
    call: CallBuilder<'a>,
    _c: PhantomData<fn() -> C>,
}

impl<C: Rpc> Typed<'_, C> {
    /// Request metadata (sent on the opening frame).
    pub fn metadata(mut self, md: Metadata) -> Self {
        self.call = self.call.metadata(md);
        self
    }
}

impl<C> Typed<'_, C>
where
    C: Rpc<Kind = Unary>,
    C::Request: Serialize,
    C::Response: DeserializeOwned,
{
    /// Single request, single response.
    ///
    /// # Errors
    /// [`ClientError::Rpc`] for an ERROR frame; transport and decoding errors otherwise.
    pub async fn call(self, req: &C::Request) -> Result<C::Response, ClientError> {
        Ok(self.call.call(req).await?.data)
    }

    /// Single request, single response, with the response's metadata.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn reply(self, req: &C::Request) -> Result<Reply<C::Response>, ClientError> {
        self.call.call(req).await
    }
}

impl<C> Typed<'_, C>
where
    C: Rpc<Kind = ServerStream>,
    C::Request: Serialize,
    C::Response: DeserializeOwned,
{
    /// Single request, streamed response.
    ///
    /// # Errors
    /// When the request cannot be encoded or the client is closed.
    pub fn stream(self, req: &C::Request) -> Result<ResponseStream<C::Response>, ClientError> {
        self.call.stream(req)
    }
}

impl<C> Typed<'_, C>
where
    C: Rpc<Kind = ClientStream>,
    C::Request: Serialize,
    C::Response: DeserializeOwned,
{
    /// Streamed request, single response. The call opens at once (a METADATA frame).
    ///
    /// # Errors
    /// When the client is closed.
    #[allow(clippy::type_complexity)]
    pub fn client_stream(
        self,
    ) -> Result<(RequestSink<C::Request>, ReplyFuture<C::Response>), ClientError> {
        self.call.client_stream()
    }
}

impl<C> Typed<'_, C>
where
    C: Rpc<Kind = Bidi>,
    C::Request: Serialize,
    C::Response: DeserializeOwned,
{
    /// Streamed request, streamed response. The call opens at once (a METADATA frame).
    ///
    /// # Errors
    /// When the client is closed.
    #[allow(clippy::type_complexity)]
    pub fn bidi(
        self,
    ) -> Result<(RequestSink<C::Request>, ResponseStream<C::Response>), ClientError> {
        self.call.bidi()
    }
}
