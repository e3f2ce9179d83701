//! What a controller and a manager report after shutdown.

use crate::ObjectKey;

/// What [`Controller::run`](crate::Controller::run) reports after shutdown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Reconciles running when shutdown began.
    pub in_flight: usize,
    /// Of those, how many finished before the deadline.
    pub completed_in_flight: usize,
    /// Keys whose reconcile was still running at the deadline and was cancelled, sorted.
    pub cut_off: Vec<ObjectKey>,
    /// Keys left with a pending run (due, delayed, or behind a running instance) that
    /// never started.
    pub pending: usize,
}

impl ShutdownReport {
    /// Whether every in-flight reconcile finished.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.cut_off.is_empty()
    }
}
