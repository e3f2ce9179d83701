//! The controller runtime's families, named and labelled as Go's controller-runtime and
//! client-go name theirs, so their dashboards work unchanged.

use super::*;

// ---------------------------------------------------------------------------------------------
// Controller runtime (names and labels as Go's controller-runtime, so its dashboards work)

/// Buckets of `controller_runtime_reconcile_time_seconds`, as Go's controller-runtime.
pub const RECONCILE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
    1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0,
    25.0, 30.0, 40.0, 50.0, 60.0,
];

/// Buckets of the work queue durations, as client-go: powers of ten from 10 ns to 1000 s.
pub const WORKQUEUE_BUCKETS: &[f64] = &[
    1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0,
];

family!(
    /// `controller_runtime_reconcile_total{controller,result}`: `success`, `error`, `requeue`, `requeue_after`.
    CONTROLLER_RUNTIME_RECONCILE_TOTAL, "controller_runtime_reconcile_total", Counter, Controller,
    ["controller", "result"], NONE,
    "Total number of reconciliations per controller, by result (success, error, requeue, requeue_after)."
);
family!(
    /// `controller_runtime_reconcile_errors_total{controller}`.
    CONTROLLER_RUNTIME_RECONCILE_ERRORS_TOTAL, "controller_runtime_reconcile_errors_total", Counter,
    Controller, ["controller"], NONE,
    "Total number of reconciliation errors per controller."
);
family!(
    /// `controller_runtime_reconcile_panics_total{controller}`.
    CONTROLLER_RUNTIME_RECONCILE_PANICS_TOTAL, "controller_runtime_reconcile_panics_total", Counter,
    Controller, ["controller"], NONE,
    "Total number of reconciliation panics per controller."
);
family!(
    /// `controller_runtime_reconcile_timeouts_total{controller}`.
    CONTROLLER_RUNTIME_RECONCILE_TIMEOUTS_TOTAL, "controller_runtime_reconcile_timeouts_total", Counter,
    Controller, ["controller"], NONE,
    "Total number of reconciliations cut off by the reconcile timeout, per controller."
);
family!(
    /// `controller_runtime_reconcile_time_seconds{controller}`.
    CONTROLLER_RUNTIME_RECONCILE_TIME_SECONDS, "controller_runtime_reconcile_time_seconds", Histogram,
    Controller, ["controller"], RECONCILE_BUCKETS,
    "Length of time per reconciliation per controller, in seconds."
);
family!(
    /// `controller_runtime_active_workers{controller}`.
    CONTROLLER_RUNTIME_ACTIVE_WORKERS, "controller_runtime_active_workers", Gauge, Controller,
    ["controller"], NONE,
    "Number of workers currently reconciling, per controller."
);
family!(
    /// `controller_runtime_max_concurrent_reconciles{controller}`.
    CONTROLLER_RUNTIME_MAX_CONCURRENT_RECONCILES, "controller_runtime_max_concurrent_reconciles", Gauge,
    Controller, ["controller"], NONE,
    "Maximum number of concurrent reconciles per controller."
);
family!(
    /// `workqueue_depth{name,controller}`.
    WORKQUEUE_DEPTH, "workqueue_depth", Gauge, Controller, ["name", "controller"], NONE,
    "Current depth of the work queue: keys waiting to be processed."
);
family!(
    /// `workqueue_adds_total{name,controller}`.
    WORKQUEUE_ADDS_TOTAL, "workqueue_adds_total", Counter, Controller, ["name", "controller"], NONE,
    "Total number of adds handled by the work queue."
);
family!(
    /// `workqueue_queue_duration_seconds{name,controller}`.
    WORKQUEUE_QUEUE_DURATION_SECONDS, "workqueue_queue_duration_seconds", Histogram, Controller,
    ["name", "controller"], WORKQUEUE_BUCKETS,
    "How long in seconds a key stays in the work queue before being processed."
);
family!(
    /// `workqueue_work_duration_seconds{name,controller}`.
    WORKQUEUE_WORK_DURATION_SECONDS, "workqueue_work_duration_seconds", Histogram, Controller,
    ["name", "controller"], WORKQUEUE_BUCKETS,
    "How long in seconds processing a key from the work queue takes."
);
family!(
    /// `workqueue_unfinished_work_seconds{name,controller}`.
    WORKQUEUE_UNFINISHED_WORK_SECONDS, "workqueue_unfinished_work_seconds", Gauge, Controller,
    ["name", "controller"], NONE,
    "Seconds of work in progress not yet observed by work_duration; large values mean stuck workers."
);
family!(
    /// `workqueue_longest_running_processor_seconds{name,controller}`.
    WORKQUEUE_LONGEST_RUNNING_PROCESSOR_SECONDS, "workqueue_longest_running_processor_seconds", Gauge,
    Controller, ["name", "controller"], NONE,
    "Seconds the longest-running processor of the work queue has been running."
);
family!(
    /// `workqueue_retries_total{name,controller}`.
    WORKQUEUE_RETRIES_TOTAL, "workqueue_retries_total", Counter, Controller, ["name", "controller"], NONE,
    "Total number of retries (rate-limited requeues) handled by the work queue."
);
family!(
    /// `leader_election_master_status{name}`: 1 while this replica holds the lease.
    LEADER_ELECTION_MASTER_STATUS, "leader_election_master_status", Gauge, Controller, ["name"], NONE,
    "Whether this replica is the leader of the named lease: 1 leader, 0 not."
);
