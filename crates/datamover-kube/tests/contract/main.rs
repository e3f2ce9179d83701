//! Contract tests of the Kubernetes backend: the real reconciler, a kube-rs `Client` over a
//! scripted mock service (no API server runs here), assertions on the exact requests sent
//! and the metrics recorded. The caches (watchers, relists, paging) are tested in
//! `caches.rs`, clones and API errors in `cloning.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fake/mod.rs"]
mod fake;

mod api_failures;
mod events;
mod lifecycle;
