//! Local and global recorders: registries built locally share nothing, the facade records into
//! the recorder in scope, and installing twice is an error.

use super::helpers::*;
use crate::*;
use std::time::Duration;

#[test]
fn registries_built_locally_do_not_share_state() {
    let (a, ca) = fresh();
    let (b, _) = fresh();
    ca.record_runtime_tasks(3);
    assert!(a.render().contains("tmc_runtime_tasks 3"));
    assert!(!b.render().contains("tmc_runtime_tasks"));
}

#[test]
fn facade_collector_records_into_the_local_recorder_in_scope() {
    let (m, _) = fresh();
    let recorder = m.recorder();
    metrics::with_local_recorder(&*recorder, || {
        MetricsCollector::facade().record_runtime_tasks(11);
        metrics::counter!("myapp_plain_total").increment(1);
    });
    let text = m.render();
    assert!(text.contains("tmc_runtime_tasks 11"));
    assert!(text.contains("myapp_plain_total 1"));
}

#[test]
fn installing_twice_is_an_error_not_a_panic() {
    // The only test that touches the process-global recorder.
    let first = Metrics::builder()
        .upkeep_interval(Some(Duration::from_millis(50)))
        .install()
        .unwrap();
    assert!(Metrics::installed().is_some());
    let err = Metrics::builder().install().unwrap_err();
    assert!(matches!(err, MetricsError::AlreadyInstalled), "{err}");
    assert!(err.to_string().contains("already installed"));
    metrics::counter!("myapp_global_total").increment(4);
    assert!(first.render().contains("myapp_global_total 4"));
    assert!(
        Metrics::installed()
            .unwrap()
            .render()
            .contains("myapp_global_total 4")
    );
}
