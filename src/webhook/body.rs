//! Reads a delivery's body within the limits: at most [`MAX_BODY_BYTES`],
//! drawn from the shared budget of body bytes in memory, before a deadline.
//! A declared `Content-Length` is checked (and its bytes reserved) before
//! any byte is read, so an oversized or over-budget request is refused
//! without buffering; a chunked body reserves as it arrives.
//!
//! [`MAX_BODY_BYTES`]: super::MAX_BODY_BYTES

use axum::body::Body;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Over the largest body GitHub sends.
    TooLarge,
    /// Not enough of the budget left right now: try again shortly.
    OverBudget,
    /// It did not arrive in time.
    TimedOut,
    /// The connection failed while reading.
    Broken,
}

/// A body in memory, with the budget it holds until dropped.
pub struct HeldBody {
    pub bytes: Vec<u8>,
    _held: Option<OwnedSemaphorePermit>,
}

/// Reads `body` (declared `declared` bytes long, if known).
pub async fn read(
    body: Body,
    declared: Option<u64>,
    max: usize,
    budget: &Arc<Semaphore>,
    timeout: Duration,
) -> Result<HeldBody, BodyError> {
    let mut held = None;
    let mut bytes = Vec::new();
    if let Some(length) = declared {
        let length = usize::try_from(length).map_err(|_| BodyError::TooLarge)?;
        if length > max {
            return Err(BodyError::TooLarge);
        }
        held = Some(reserve(budget, length)?);
        bytes.reserve_exact(length);
    }
    let reserved_up_front = declared.is_some();
    let collect = async {
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| BodyError::Broken)?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            if bytes.len() + data.len() > max {
                return Err(BodyError::TooLarge);
            }
            if !reserved_up_front {
                let more = reserve(budget, data.len())?;
                match held.as_mut() {
                    Some(permit) => OwnedSemaphorePermit::merge(permit, more),
                    None => held = Some(more),
                }
            }
            bytes.extend_from_slice(&data);
        }
        Ok(())
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok(Ok(())) => Ok(HeldBody { bytes, _held: held }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(BodyError::TimedOut),
    }
}

fn reserve(budget: &Arc<Semaphore>, bytes: usize) -> Result<OwnedSemaphorePermit, BodyError> {
    // An empty body holds nothing, but a permit keeps the code uniform.
    let n = u32::try_from(bytes).map_err(|_| BodyError::TooLarge)?;
    budget
        .clone()
        .try_acquire_many_owned(n)
        .map_err(|_| BodyError::OverBudget)
}
