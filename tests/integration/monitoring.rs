//! The monitoring pack (in progress).
