//! Component health: the monitor components register with, the checks it runs, and the
//! aggregation into an overall status.
//!
//! A component registers with the [`HealthMonitor`] either with a [`HealthCheck`] (any
//! `Fn() -> impl Future` whose output converts into a [`CheckResult`]) that the monitor runs
//! on every round, or as a [`ComponentHandle`] it pushes statuses through. Statuses are
//! [`HealthStatus`](tmc_metrics::HealthStatus)es: `Healthy`, `Degraded`, `Unhealthy`,
//! `Unknown`.
//!
//! * A round ([`HealthMonitor::check_all`]) runs every check concurrently, each in a task of
//!   its own with a timeout: a check that panics, returns `Err` or hangs past the timeout
//!   leaves its component `Unknown`, counts in `errorChecks`, and delays nobody.
//! * [`HealthMonitor::overall`] aggregates the last statuses ([`OverallHealth`]: the seed's
//!   `All 25 components healthy`); [`HealthMonitor::check_counts`] counts checks by outcome.
//! * [`HealthMonitor::readiness`] backs `/readyz`: the overall status is not `Unhealthy` and
//!   every readiness gate (e.g. `controller caches synced`) passes.
//! * [`HealthMonitor::record_metrics`] sets `tmc_component_health` and
//!   `tmc_component_uptime_seconds`; the [reporter](crate::MetricsReporter) calls it on every
//!   interval, after a round of checks.

mod aggregate;
mod check;
mod gates;
mod monitor;

pub use aggregate::{HealthCheckCounts, HealthDetails, OverallHealth};
pub use check::{CheckFuture, CheckResult, HealthCheck};
pub use monitor::{
    ComponentHandle, ComponentHealth, DEFAULT_CHECK_TIMEOUT, HealthMonitor, HealthMonitorBuilder,
    Readiness,
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;
    use tmc_metrics::{HealthStatus, Metrics};
    use tokio::time::Instant;

    fn counts(
        total: u64,
        healthy: u64,
        degraded: u64,
        unhealthy: u64,
        error: u64,
    ) -> HealthCheckCounts {
        HealthCheckCounts {
            total_checks: total,
            healthy_checks: healthy,
            degraded_checks: degraded,
            unhealthy_checks: unhealthy,
            error_checks: error,
        }
    }

    #[tokio::test]
    async fn health_monitor_should_aggregate_mixed_statuses() {
        let health = HealthMonitor::new();
        health.register_check("syncer", "s-1", "prod", || async { HealthStatus::Healthy });
        health.register_check("syncer", "s-2", "prod", || async {
            CheckResult::new(HealthStatus::Unhealthy).with_message("connection refused")
        });
        health.register_check("placement", "p-1", "prod", || async {
            HealthStatus::Degraded
        });
        let pushed = health.register("cache", "c-1", "prod");
        pushed.report(HealthStatus::Healthy);
        health.check_all().await;

        assert_eq!(
            health.overall(),
            OverallHealth {
                status: HealthStatus::Unhealthy,
                message: "1 of 4 components unhealthy: syncer/s-2".into(),
                details: HealthDetails {
                    total_components: 4,
                    healthy_components: 2,
                    degraded_components: 1,
                    unhealthy_components: 1,
                },
            }
        );
        assert_eq!(health.check_counts(), counts(4, 2, 1, 1, 0));
        let s2 = &health.components()[3];
        assert_eq!(
            (s2.component_id.as_str(), s2.message.as_deref()),
            ("s-2", Some("connection refused"))
        );

        // Without the unhealthy one: degraded, naming the degraded component.
        pushed.report(HealthStatus::Unknown);
        health.register_check("syncer", "s-2", "prod", || async { HealthStatus::Healthy });
        health.check_all().await;
        let overall = health.overall();
        assert_eq!(overall.status, HealthStatus::Degraded);
        assert_eq!(
            overall.message,
            "2 of 4 components degraded or unknown: cache/c-1, placement/p-1"
        );
        assert_eq!(health.check_counts(), counts(8, 4, 2, 1, 1));
    }

    #[tokio::test]
    async fn health_monitor_should_say_all_healthy_like_the_seed() {
        let health = HealthMonitor::new();
        assert_eq!(health.overall().status, HealthStatus::Unknown);
        assert_eq!(health.overall().message, "No components registered");
        for i in 0..25 {
            health.register_check("syncer", &format!("s-{i:02}"), "prod", || async {
                HealthStatus::Healthy
            });
        }
        assert_eq!(
            health.overall().message,
            "25 of 25 components unknown: syncer/s-00, syncer/s-01, syncer/s-02, syncer/s-03, syncer/s-04 and 20 more"
        );
        health.check_all().await;
        let overall = health.overall();
        assert_eq!(
            (overall.status, overall.message.as_str()),
            (HealthStatus::Healthy, "All 25 components healthy")
        );
        assert_eq!(overall.details.healthy_components, 25);
    }

    #[tokio::test]
    async fn health_monitor_should_count_a_panicking_check_as_an_error_without_stalling_others() {
        let health = HealthMonitor::new();
        health.register_check("syncer", "boom", "prod", || async {
            panic!("the check exploded");
            #[allow(unreachable_code)]
            HealthStatus::Healthy
        });
        health.register_check("syncer", "fine", "prod", || async { HealthStatus::Healthy });
        health.check_all().await;

        let components = health.components();
        assert_eq!(components[0].status, HealthStatus::Unknown);
        assert_eq!(
            components[0].message.as_deref(),
            Some("check panicked: the check exploded")
        );
        assert_eq!(components[1].status, HealthStatus::Healthy);
        assert_eq!(health.check_counts(), counts(2, 1, 0, 0, 1));
        assert_eq!(
            health.overall().message,
            "1 of 2 components unknown: syncer/boom"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn health_monitor_should_time_out_a_hanging_check_without_stalling_others() {
        let health = HealthMonitor::builder()
            .check_timeout(Duration::from_secs(2))
            .build();
        health.register_check("syncer", "stuck", "prod", || {
            std::future::pending::<HealthStatus>()
        });
        health.register_check("syncer", "slow", "prod", || async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            HealthStatus::Degraded
        });
        let started = Instant::now();
        health.check_all().await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));

        let components = health.components();
        assert_eq!(components[0].status, HealthStatus::Degraded);
        assert_eq!(components[1].status, HealthStatus::Unknown);
        assert_eq!(
            components[1].message.as_deref(),
            Some("check timed out after 2s")
        );
        assert_eq!(health.check_counts(), counts(2, 0, 1, 0, 1));
    }

    #[tokio::test]
    async fn health_monitor_should_count_an_err_as_an_error_check() {
        let health = HealthMonitor::new();
        health.register_check("db", "primary", "prod", || async {
            Err::<HealthStatus, _>(std::io::Error::other("connection refused"))
        });
        health.check_all().await;
        assert_eq!(
            health.components()[0].message.as_deref(),
            Some("check failed: connection refused")
        );
        assert_eq!(health.check_counts(), counts(1, 0, 0, 0, 1));
    }

    #[tokio::test]
    async fn health_monitor_should_ignore_results_for_a_replaced_or_removed_component() {
        let health = HealthMonitor::new();
        let old = health.register("cache", "c-1", "prod");
        let new = health.register("cache", "c-1", "prod");
        old.report(HealthStatus::Unhealthy);
        assert_eq!(old.status(), None);
        assert_eq!(new.status(), Some(HealthStatus::Unknown));
        assert_eq!(health.check_counts().total_checks, 0);
        old.remove();
        assert_eq!(health.components().len(), 1);
        new.remove();
        assert!(health.components().is_empty());
    }

    #[tokio::test]
    async fn health_monitor_should_be_ready_unless_unhealthy_or_gated() {
        let health = HealthMonitor::new();
        let c = health.register("syncer", "s-1", "prod");
        assert!(health.readiness().ready, "Unknown is not Unhealthy");
        c.report(HealthStatus::Degraded);
        assert!(health.readiness().ready);
        c.report(HealthStatus::Unhealthy);
        let synced = Arc::new(AtomicBool::new(false));
        health.readiness_flag("controller caches synced", synced.clone());
        health.readiness_gate("leader elected", || true);
        assert_eq!(
            health.readiness(),
            Readiness {
                ready: false,
                reasons: vec![
                    "overall health Unhealthy: 1 of 1 component unhealthy: syncer/s-1".into(),
                    "controller caches synced: not yet".into(),
                ],
            }
        );
        c.report(HealthStatus::Healthy);
        synced.store(true, Ordering::Release);
        assert_eq!(
            health.readiness(),
            Readiness {
                ready: true,
                reasons: vec![]
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn health_monitor_should_record_health_and_uptime_gauges() {
        let metrics = Metrics::builder().upkeep_interval(None).build().unwrap();
        let health = HealthMonitor::builder().metrics(&metrics).build();
        let c = health.register(
            "SyncTargetController",
            "syncer-prod-cluster",
            "prod-cluster",
        );
        let line = r#"tmc_component_health{component_type="SyncTargetController",component_id="syncer-prod-cluster",cluster="prod-cluster"}"#;
        assert!(metrics.render().contains(&format!("{line} 0.25\n")));
        c.report(HealthStatus::Healthy);
        assert!(
            metrics.render().contains(&format!("{line} 1\n")),
            "recorded on change"
        );

        tokio::time::advance(Duration::from_secs(90)).await;
        health.record_metrics(&metrics.collector());
        assert!(metrics.render().contains(
            r#"tmc_component_uptime_seconds{component_type="SyncTargetController",component_id="syncer-prod-cluster",cluster="prod-cluster"} 90"#
        ));
        c.restarted();
        assert_eq!(health.components()[0].uptime, Duration::ZERO);
    }
}
