//! Decoding a large request payload on the blocking pool, off the connection's task
//! (`Config::offload_decode_above`).

use std::any::Any;

use bytes::Bytes;

use super::{BlockingJob, BlockingOutput};
use crate::error::Error;
use crate::payload::Budget;
use crate::validate::ValidateFn;

/// The decode (and validation) of `raw` as work for the blocking pool; its result arrives on
/// `tx`.
pub(super) fn decode_job<D>(
    raw: Bytes,
    validate: Option<ValidateFn<D>>,
    budget: Budget,
    tx: futures_channel::oneshot::Sender<Result<D, Error>>,
) -> BlockingJob
where
    D: serde::de::DeserializeOwned + Send + 'static,
{
    BlockingJob {
        run: Box::new(move || -> BlockingOutput {
            let data: D = super::decode_payload(&raw, budget)?;
            if let Some(validate) = validate {
                validate(&data)?;
            }
            Ok(Box::new(data) as Box<dyn Any + Send>)
        }),
        deliver: Box::new(move |out: BlockingOutput| {
            let out = out.and_then(|any| {
                any.downcast::<D>()
                    .map(|data| *data)
                    .map_err(|_| Error::internal())
            });
            let _ = tx.send(out);
        }),
    }
}
