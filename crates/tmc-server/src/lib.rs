//! The metrics endpoint (in progress).
