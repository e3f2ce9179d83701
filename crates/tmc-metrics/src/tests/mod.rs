//! Exposition tests: record, render, and compare with the exact lines users scrape.

// Named `super::fresh` and `super::promtool_check_metrics` by `formats` and `protobuf`.
use helpers::{fresh, promtool_check_metrics};

mod custom;
mod datamover_and_components;
mod escaping;
mod every_family;
#[cfg(feature = "opentelemetry")]
mod exemplars;
mod formats;
mod helpers;
mod platform_families;
mod proto;
mod protobuf;
mod recorders;
mod series_lifecycle;
mod tracker;
