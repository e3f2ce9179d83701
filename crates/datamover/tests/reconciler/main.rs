//! The phase machine on a scripted cluster: every path, with the exact counters, and proof
//! that no reconcile waits (tokio's clock is paused and never advances during one).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod copy_methods;
mod failures;
mod helpers;
mod overlaps;
mod phases;
mod verification;
