//! Readiness gates: conditions besides the components' health that `/readyz` waits for.

use super::HealthMonitor;
use std::sync::Arc;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, Ordering};

/// One gate: what it awaits, and why it is not ready (`None` when it is).
pub(super) struct Gate {
    name: String,
    not_ready: Box<dyn Fn() -> Option<String> + Send + Sync>,
}

impl HealthMonitor {
    /// Adds a readiness gate: `/readyz` answers 503 while `ready` returns false. `name` says
    /// what is awaited, e.g. `controller caches synced`.
    pub fn readiness_gate(&self, name: &str, ready: impl Fn() -> bool + Send + Sync + 'static) {
        self.readiness_reason(name, move || (!ready()).then(|| "not yet".to_owned()));
    }

    /// Adds a readiness gate that says why it is not ready: `/readyz` answers 503 with
    /// `not ready: <name>: <reason>` while `not_ready` returns a reason, and counts it ready
    /// when it returns `None`.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use tmc_server::health::HealthMonitor;
    ///
    /// let health = HealthMonitor::new();
    /// let failure = Arc::new(Mutex::new(Some("the disk is full".to_owned())));
    /// let seen = failure.clone();
    /// health.readiness_reason("store writable", move || seen.lock().unwrap().clone());
    /// assert_eq!(health.readiness().reasons, ["store writable: the disk is full"]);
    /// *failure.lock().unwrap() = None;
    /// assert!(health.readiness().ready);
    /// ```
    pub fn readiness_reason(
        &self,
        name: &str,
        not_ready: impl Fn() -> Option<String> + Send + Sync + 'static,
    ) {
        self.inner
            .gates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Gate {
                name: name.to_owned(),
                not_ready: Box::new(not_ready),
            });
    }

    /// Adds a readiness gate read from a flag: ready once `flag` is true.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use tmc_server::health::HealthMonitor;
    ///
    /// let health = HealthMonitor::new();
    /// let synced = Arc::new(AtomicBool::new(false));
    /// health.readiness_flag("controller caches synced", synced.clone());
    /// assert_eq!(health.readiness().reasons, ["controller caches synced: not yet"]);
    /// synced.store(true, Ordering::Release);
    /// assert!(health.readiness().ready);
    /// ```
    pub fn readiness_flag(&self, name: &str, flag: Arc<AtomicBool>) {
        self.readiness_gate(name, move || flag.load(Ordering::Acquire));
    }

    /// `<name>: <reason>` for every gate that is not ready, in the order they were added.
    pub(super) fn gates_not_ready(&self) -> Vec<String> {
        let gates = self
            .inner
            .gates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        gates
            .iter()
            .filter_map(|g| (g.not_ready)().map(|reason| format!("{}: {reason}", g.name)))
            .collect()
    }
}
