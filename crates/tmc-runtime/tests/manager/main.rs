//! Specifications of the Manager, on tokio's paused clock (no real sleeps).

// Test helpers outside `#[test]` functions unwrap freely too.
#![allow(clippy::unwrap_used)]

mod defaults;
mod helpers;
mod readiness;
mod report;
mod shutdown;
