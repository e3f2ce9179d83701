//! Specifications of the controller runtime, on tokio's paused clock (no real sleeps).

// Test helpers outside `#[test]` functions unwrap freely too.
#![allow(clippy::unwrap_used)]

mod backoff;
mod exposition;
mod helpers;
mod queue;
mod settings;
mod shutdown;
mod sources;
mod tower_middleware;
mod workers;
