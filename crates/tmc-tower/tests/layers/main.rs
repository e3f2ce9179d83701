//! The layers, driven as users drive them: an axum router, a plain tower service, a mock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

mod api_failures;
mod api_routes;
mod api_streaming;
mod handles;
mod helpers;
mod operation;
