//! The metrics listener over real TCP: plain HTTP, bearer tokens, TLS with `curl` as the
//! client, binding errors and shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

mod auth;
mod binding;
mod helpers;
mod plain_http;
mod tls;
