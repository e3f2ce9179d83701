//! What a controller and a manager report after shutdown.

use crate::ObjectKey;
use std::fmt;

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

/// One controller's part of a [`ManagerReport`](crate::ManagerReport).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ControllerReport {
    /// The controller's name.
    pub name: String,
    /// Whether its stores became [ready](crate::Store::ready) and it started before
    /// shutdown began.
    pub started: bool,
    /// What its [`run`](crate::Controller::run) reported.
    pub report: ShutdownReport,
}

/// A task (or a controller) that returned an error or panicked. The first failure stops
/// the manager.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskFailure {
    /// The name it was registered under.
    pub name: String,
    /// The error's text, or `panicked: <message>`.
    pub error: String,
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.name, self.error)
    }
}

/// What [`Manager::run`](crate::Manager::run) reports after shutdown: each controller's
/// [`ShutdownReport`], the tasks cut off at the grace deadline and the failures.
///
/// Its `Display` names only what went wrong (`clean` when nothing did), for one log line:
/// `datamover cut off default/nightly, default/weekly; census cut off; leader failed: lost the lease`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManagerReport {
    /// Every controller, in the order they were added.
    pub controllers: Vec<ControllerReport>,
    /// Tasks still running at the grace deadline, aborted there; in the order they were
    /// added.
    pub tasks_cut_off: Vec<String>,
    /// Tasks and controllers that returned an error or panicked, in the order they were
    /// added.
    pub failed: Vec<TaskFailure>,
}

impl ManagerReport {
    /// Every reconcile cut off at the grace deadline, as (controller, key), in the order the
    /// controllers were added, each controller's keys sorted.
    #[must_use]
    pub fn cut_off(&self) -> Vec<(&str, &ObjectKey)> {
        self.controllers
            .iter()
            .flat_map(|c| c.report.cut_off.iter().map(|k| (c.name.as_str(), k)))
            .collect()
    }

    /// Whether every reconcile and every task finished within the grace deadline and no
    /// task failed.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.controllers.iter().all(|c| c.report.is_clean())
            && self.tasks_cut_off.is_empty()
            && self.failed.is_empty()
    }
}

impl fmt::Display for ManagerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clean() {
            return f.write_str("clean");
        }
        let mut parts = Vec::new();
        for c in self.controllers.iter().filter(|c| !c.report.is_clean()) {
            let keys: Vec<String> = c.report.cut_off.iter().map(ToString::to_string).collect();
            parts.push(format!("{} cut off {}", c.name, keys.join(", ")));
        }
        parts.extend(self.tasks_cut_off.iter().map(|t| format!("{t} cut off")));
        parts.extend(self.failed.iter().map(ToString::to_string));
        f.write_str(&parts.join("; "))
    }
}
