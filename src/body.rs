//! Reading request bodies: a deadline, and one memory budget for all the bodies the server holds.
//! Every POST endpoint reads its body here, inside its handler, so that everything in front of the
//! handler (the API key middleware above all) has run before the first byte of a body is read.
//!
//! Why this shape. A request goes through three gates, in this order:
//! 1. authentication (`auth::require_api_key`, a middleware: it answers 401 before any handler,
//!    and so before any body is read);
//! 2. the body budget, here: a body may be read only while all bodies in flight hold less than
//!    `MAX_BODIES_IN_FLIGHT_BYTES`, counted as their bytes arrive, and only for
//!    `BODY_READ_TIMEOUT_SECS`;
//! 3. the sandbox's slot or queue place (or /validate's own gate), taken only once the body is
//!    complete and parsed.
//!
//! A sandbox slot is never held while a body is read: a client that stalls in mid-body would
//! otherwise keep a slot idle for the whole read deadline, and a few of them would stop every run.
//! Nor is there a cap on the *number* of bodies being read: idle connections that promise a body
//! and send nothing would fill it for free. The byte budget costs an attacker the bytes it has to
//! send, the deadline frees whatever they hold within `BODY_READ_TIMEOUT_SECS`, and a connection
//! that sends nothing holds only actix's own small per-connection buffers.
//!
//! Bytes are counted as they arrive, not reserved from `Content-Length`: a client that promises
//! 20 MiB and sends nothing must not take 20 MiB of the budget from everyone else. A declared
//! length is still checked before reading: over `MAX_BODY_BYTES` it is a 413, and when it does
//! not fit in what is left of the budget right now it is a 429, before the client uploads it.
//! The price: uploads that race past the budget together may all be refused, where reservations
//! would have served the first ones; at the default budget (two full-size bodies per slot, sized
//! to stay within the server's share of the memory budget) that takes more large uploads at once
//! than the sandbox could run anyway.
//!
//! A full budget is a 429 (`overloaded`, with `Retry-After`), not a 413: the body itself is within
//! `MAX_BODY_BYTES` and the same request succeeds once other bodies are done, as with a full queue.
//! 413 stays the answer to a body that could never be taken.
//!
//! A body keeps its share of the budget until its request is finished (waiting for a slot and
//! running included), because the parsed script and files it became are held that long: the
//! budget bounds what bodies really cost, not only their reading.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::sandbox::Pace;

/// The body buffer starts this large (or at the declared length, if smaller) and grows with what
/// arrives: a promised length is not allocated before it is sent.
const FIRST_CAPACITY: usize = 64 * 1024;

/// App data: the limits every body is read under, and the bytes all bodies in flight hold.
pub struct BodyGate {
    in_flight: Arc<AtomicUsize>,
    budget: usize,
    max_body: usize,
    read_timeout: Duration,
    /// How fast requests finish, for a full budget's `Retry-After`.
    pace: Arc<Pace>,
}

/// The share of the budget one body holds: the bytes read so far. Given back when dropped.
pub struct BodyLease {
    in_flight: Arc<AtomicUsize>,
    budget: usize,
    held: usize,
}

impl BodyLease {
    /// Takes `n` more bytes of the budget, unless that would pass it.
    fn grow(&mut self, n: usize) -> bool {
        let budget = self.budget;
        let taken = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(n).filter(|total| *total <= budget)
            });
        if taken.is_ok() {
            self.held += n;
        }
        taken.is_ok()
    }
}

impl Drop for BodyLease {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(self.held, Ordering::AcqRel);
    }
}

impl BodyGate {
    pub fn new(
        max_body: usize,
        budget: usize,
        read_timeout: Duration,
        pace: Arc<Pace>,
    ) -> BodyGate {
        BodyGate {
            in_flight: Arc::new(AtomicUsize::new(0)),
            budget,
            max_body,
            read_timeout,
            pace,
        }
    }

    /// Bytes of request bodies the server holds now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Reads the whole body under the limits and decodes it as JSON. The lease must be kept as
    /// long as the request holds what the body became.
    /// Errors: 413 past `MAX_BODY_BYTES` (declared or counted), 429 when the budget is full, 408
    /// past the read deadline, 400 for a body that is not the JSON `T` wants or that the client
    /// cut short.
    pub async fn read_json<T: DeserializeOwned>(
        &self,
        req: &HttpRequest,
        payload: web::Payload,
    ) -> Result<(T, BodyLease), ApiError> {
        let (body, lease) = self.read(req, payload).await?;
        Ok((decode(&body)?, lease))
    }

    /// Reads the whole body under the limits, undecoded: for POST /jobs, which stores the body as
    /// it came (and decodes it with `decode`), and for /mcp, whose JSON errors are
    /// JSON-RPC's (crate::mcp). The same errors as `read_json`, but for the decoding.
    pub async fn read(
        &self,
        req: &HttpRequest,
        mut payload: web::Payload,
    ) -> Result<(Vec<u8>, BodyLease), ApiError> {
        // Any Content-Type is taken as JSON: `curl -d` sends a form type for a JSON body.
        // actix has already refused a Content-Length that is not a number.
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        if let Some(length) = declared {
            if length > self.max_body {
                return Err(self.too_large());
            }
            if length > self.budget.saturating_sub(self.in_flight()) {
                return Err(self.overloaded());
            }
        }
        let mut lease = BodyLease {
            in_flight: self.in_flight.clone(),
            budget: self.budget,
            held: 0,
        };
        let read = self.read_all(&mut payload, &mut lease, declared);
        let body = tokio::time::timeout(self.read_timeout, read)
            .await
            .map_err(|_| ApiError::BodyTimeout {
                secs: self.read_timeout.as_secs(),
            })??;
        Ok((body, lease))
    }

    async fn read_all(
        &self,
        payload: &mut web::Payload,
        lease: &mut BodyLease,
        declared: Option<usize>,
    ) -> Result<Vec<u8>, ApiError> {
        let mut body = Vec::with_capacity(declared.unwrap_or(0).min(FIRST_CAPACITY));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::InvalidRequest(format!("cannot read the request body: {e}"))
            })?;
            // A chunked body has no declared length: it is counted here.
            if body.len().saturating_add(chunk.len()) > self.max_body {
                return Err(self.too_large());
            }
            if !lease.grow(chunk.len()) {
                return Err(self.overloaded());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn too_large(&self) -> ApiError {
        ApiError::PayloadTooLarge(format!(
            "the request body is larger than {} bytes",
            self.max_body
        ))
    }

    fn overloaded(&self) -> ApiError {
        ApiError::BodiesOverloaded {
            budget: self.budget,
            // The bytes come back as requests finish; at least one must. (How many is not
            // known: bodies differ in size.)
            retry_after_secs: self.pace.runs_end_secs(1),
        }
    }
}

/// Decodes a body read by `BodyGate::read` as `read_json` does: 400 for a body that is not the
/// JSON `T` wants.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::InvalidRequest(format!("invalid request: {e}"))
        } else {
            ApiError::InvalidRequest(format!("the body is not valid JSON: {e}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_takes_at_most_the_budget_and_gives_it_back() {
        let gate = BodyGate::new(100, 100, Duration::from_secs(1), Arc::new(Pace::new(1)));
        let lease = || BodyLease {
            in_flight: gate.in_flight.clone(),
            budget: gate.budget,
            held: 0,
        };
        let mut a = lease();
        let mut b = lease();
        assert!(a.grow(60));
        assert!(!b.grow(41), "past the budget");
        assert!(b.grow(40));
        assert!(!a.grow(1));
        assert_eq!(gate.in_flight(), 100);
        drop(a);
        assert_eq!(gate.in_flight(), 40);
        assert!(b.grow(60));
        drop(b);
        assert_eq!(gate.in_flight(), 0);
    }
}
