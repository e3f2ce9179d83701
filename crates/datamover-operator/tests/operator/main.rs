//! The operator as users run it: the real binary, the real rclone, real files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

#[path = "../support/mod.rs"]
mod support;

mod backups;
mod cli;
mod failures;
mod helpers;
mod sync_jobs;
