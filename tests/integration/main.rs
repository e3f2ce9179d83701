//! Workspace-level integration tests, one binary: real Prometheus, real rclone, the shipped
//! deploy/ files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

mod monitoring;
