//! The schedule reconciler on tokio's paused clock, over a real embedded store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::cluster::Embedded;
use crate::store::EmbeddedStore;
use datamover::manifest::parse;
use datamover::reconciler::phase;
use datamover::schedule::DataMoverSchedule;
use datamover::schedule::clock::Clock;
use datamover::schedule::clock::TokioClock;
use datamover::schedule::cron::CronSchedule;
use datamover::schedule::reconciler::*;
use datamover::types::{DataMover, Kind};
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::Metrics;
use tmc_runtime::Action;
use tmc_test_support::{TempDir as TestDir, tempdir};

struct Fixture {
    dir: TestDir,
    cluster: Arc<Embedded>,
    metrics: Metrics,
    clock: TokioClock,
}

impl Fixture {
    /// A store with `schedule` (a `DataMoverSchedule` spec in flow YAML, without the
    /// backup fields), its PVC and secret; the clock reads the store's wall time.
    fn new(extra_spec: &str) -> Self {
        let dir = tempdir();
        Self::open(dir, Some(extra_spec))
    }

    fn open(dir: TestDir, extra_spec: Option<&str>) -> Self {
        let store = Arc::new(EmbeddedStore::open(&dir.join("store.redb")).unwrap());
        let volumes = crate::volumes::Volumes::under_data_dir(&dir);
        if let Some(extra) = extra_spec {
            let objects = parse(&format!(
                "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {{name: nightly}}\nspec: {{sourcePvc: data, secretName: s, {extra}}}\n"
            ))
            .unwrap();
            store.apply(objects, &volumes).unwrap();
        }
        let policy = crate::policy::Policy::new(&dir, &[], &[]).unwrap();
        let cluster = Arc::new(Embedded {
            store,
            volumes,
            rclone: "rclone".into(),
            policy: Arc::new(policy),
        });
        Self {
            dir,
            cluster,
            metrics: Metrics::builder().build().unwrap(),
            clock: TokioClock::starting_at(datamover::time::now_ms()),
        }
    }

    fn ctx(&self) -> Arc<ScheduleContext<Embedded>> {
        Arc::new(ScheduleContext {
            cluster: Arc::clone(&self.cluster),
            clock: Arc::new(self.clock),
            metrics: self.metrics.collector(),
        })
    }

    fn schedule(&self) -> DataMoverSchedule {
        self.cluster
            .store
            .object::<DataMoverSchedule>("default", "nightly")
            .unwrap()
    }

    async fn reconcile(&self) -> Action {
        reconcile(Arc::new(self.schedule()), self.ctx())
            .await
            .unwrap()
    }

    /// The runs, sorted by name.
    fn runs(&self) -> Vec<DataMover> {
        let uid = self.schedule().metadata.uid;
        let mut runs = self.cluster.store.datamovers_owned_by("default", &uid);
        runs.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        runs
    }

    fn run_names(&self) -> Vec<String> {
        self.runs().into_iter().map(|d| d.metadata.name).collect()
    }

    /// Ends a run as the DataMover reconciler would.
    fn finish(&self, name: &str, phase: &str) {
        let mut dm = self
            .cluster
            .store
            .object::<DataMover>("default", name)
            .unwrap();
        dm.status.phase = phase.into();
        dm.status.completion_time = datamover::time::rfc3339(self.clock.now_ms());
        self.cluster.store.update_status(&dm).unwrap();
    }

    /// The next scheduled time after now.
    fn next(&self) -> u64 {
        CronSchedule::parse(&self.schedule().spec.schedule)
            .unwrap()
            .next_after(self.clock.now_ms())
            .unwrap()
    }

    /// Advances the paused clock to 1 s past the next scheduled time.
    async fn to_next_run(&self) -> u64 {
        let next = self.next();
        tokio::time::advance(Duration::from_millis(next + 1000 - self.clock.now_ms())).await;
        next
    }

    /// Sets the run-now annotation to `value`, as `trigger schedule` does.
    fn trigger(&self, value: &str) {
        let mut s = self.schedule();
        s.metadata
            .annotations
            .insert(datamover::schedule::TRIGGER_ANNOTATION.into(), value.into());
        let objects = vec![datamover::manifest::Object::DataMoverSchedule(s)];
        self.cluster
            .store
            .apply(objects, &self.cluster.volumes)
            .unwrap();
    }

    fn counter(&self, line: &str) -> u64 {
        let text = self.metrics.render();
        text.lines()
            .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
            .unwrap_or(0)
    }
}

#[tokio::test(start_paused = true)]
async fn schedule_should_start_one_run_per_scheduled_minute_and_count_its_outcome() {
    let f = Fixture::new("schedule: '* * * * *'");
    let action = f.reconcile().await;
    assert!(
        f.run_names().is_empty(),
        "nothing is due before the first minute"
    );
    let next = f.next();
    assert_eq!(
        action.requeue_after(),
        Some(Duration::from_millis(next - f.clock.now_ms())),
        "requeued at the next run time"
    );

    let at = f.to_next_run().await;
    f.reconcile().await;
    f.reconcile().await; // idempotent: the same minute never starts twice
    let name = run_name("nightly", at);
    assert_eq!(f.run_names(), std::slice::from_ref(&name));
    let run = &f.runs()[0];
    assert_eq!(run.spec.source_pvc, "data");
    assert_eq!(run.metadata.owners(datamover::schedule::KIND).len(), 1);
    let s = f.schedule();
    assert_eq!(s.status.last_schedule_time, datamover::time::rfc3339(at));
    assert_eq!(
        (s.status.active_jobs, s.status.active[0].name.as_str()),
        (1, name.as_str())
    );
    assert_eq!(
        f.counter(r#"datamover_schedule_runs_total{schedule="nightly",status="started",namespace="default"}"#),
        1
    );

    f.finish(&name, phase::COMPLETED);
    f.reconcile().await;
    f.reconcile().await;
    let s = f.schedule();
    assert!(s.status.active.is_empty());
    assert_eq!((s.status.successful_jobs, s.status.failed_jobs), (1, 0));
    assert!(!s.status.last_successful_time.is_empty());
    assert_eq!(
        f.counter(r#"datamover_schedule_runs_total{schedule="nightly",status="success",namespace="default"}"#),
        1,
        "a finished run is counted once"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_should_be_skipped_and_counted_while_the_previous_is_active() {
    let f = Fixture::new("schedule: '* * * * *'");
    let first = f.to_next_run().await;
    f.reconcile().await;
    let second = f.to_next_run().await;
    f.reconcile().await;
    f.reconcile().await;
    assert_eq!(f.run_names(), [run_name("nightly", first)]);
    let s = f.schedule();
    assert_eq!(s.status.skipped_runs, 1);
    assert_eq!(s.status.last_skipped_time, datamover::time::rfc3339(second));
    assert!(
        s.status.message.contains("still active"),
        "{}",
        s.status.message
    );
    assert_eq!(
        f.counter(r#"datamover_schedule_skipped_runs_total{schedule="nightly",reason="active",namespace="default"}"#),
        1
    );
    // Once the previous run ends, the next minute starts a run again.
    f.finish(&run_name("nightly", first), phase::FAILED);
    let third = f.to_next_run().await;
    f.reconcile().await;
    assert_eq!(
        f.run_names(),
        [run_name("nightly", first), run_name("nightly", third)]
    );
}

#[tokio::test(start_paused = true)]
async fn after_downtime_at_most_one_missed_run_should_start() {
    let f = Fixture::new("schedule: '*/5 * * * *'");
    f.reconcile().await;
    // Down for an hour: 12 runs were due; the latest starts, 11 are missed.
    tokio::time::advance(Duration::from_secs(3600)).await;
    f.reconcile().await;
    f.reconcile().await;
    assert_eq!(f.runs().len(), 1);
    let s = f.schedule();
    assert_eq!(s.status.missed_runs, 11);
    assert_eq!(
        f.counter(r#"datamover_schedule_skipped_runs_total{schedule="nightly",reason="missed",namespace="default"}"#),
        11
    );
}

#[tokio::test(start_paused = true)]
async fn suspend_should_stop_new_runs_and_resume_without_a_backlog() {
    let f = Fixture::new("schedule: '* * * * *', suspend: true");
    for _ in 0..3 {
        f.to_next_run().await;
        let action = f.reconcile().await;
        assert_eq!(
            action.requeue_after(),
            None,
            "a suspended schedule waits for a change"
        );
    }
    assert!(f.run_names().is_empty());
    // Unsuspended: the latest missed minute starts, once.
    let objects = parse("apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMoverSchedule\nmetadata: {name: nightly}\nspec: {sourcePvc: data, secretName: s, schedule: '* * * * *'}\n").unwrap();
    f.cluster.store.apply(objects, &f.cluster.volumes).unwrap();
    f.reconcile().await;
    assert_eq!(f.runs().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn history_limits_should_prune_finished_runs_oldest_first() {
    let f = Fixture::new(
        "schedule: '* * * * *', successfulJobsHistoryLimit: 2, failedJobsHistoryLimit: 1",
    );
    let mut started = Vec::new();
    for outcome in [
        phase::COMPLETED,
        phase::FAILED,
        phase::COMPLETED,
        phase::FAILED,
        phase::COMPLETED,
    ] {
        let at = f.to_next_run().await;
        f.reconcile().await;
        let name = run_name("nightly", at);
        f.finish(&name, outcome);
        started.push(name);
    }
    f.reconcile().await;
    // Kept: the 2 newest successes (runs 3 and 5) and the newest failure (run 4).
    assert_eq!(
        f.run_names(),
        [started[2].clone(), started[3].clone(), started[4].clone()]
    );
    let s = f.schedule();
    assert_eq!((s.status.successful_jobs, s.status.failed_jobs), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn a_restart_should_not_fire_a_run_twice() {
    let f = Fixture::new("schedule: '* * * * *'");
    let at = f.to_next_run().await;
    // The previous process created the run, then died before writing the status.
    f.cluster
        .create_datamover(run_for(&f.schedule(), at))
        .await
        .unwrap();
    let Fixture {
        dir,
        cluster,
        metrics,
        clock,
    } = f;
    drop((cluster, metrics));
    let mut again = Fixture::open(dir, None);
    again.clock = clock;
    again.reconcile().await;
    again.reconcile().await;
    assert_eq!(again.run_names(), [run_name("nightly", at)]);
    let s = again.schedule();
    assert_eq!((s.status.skipped_runs, s.status.active_jobs), (0, 1));
    assert_eq!(s.status.last_schedule_time, datamover::time::rfc3339(at));
    assert_eq!(
        again.counter(r#"datamover_schedule_runs_total{schedule="nightly",status="started",namespace="default"}"#),
        0,
        "the run was started (and counted) by the previous process"
    );
}

#[tokio::test(start_paused = true)]
async fn the_controller_should_requeue_at_each_run_time_without_waiting_in_a_reconcile() {
    let f = Fixture::new("schedule: '* * * * *'");
    let store = Arc::clone(&f.cluster.store);
    let controller =
        tmc_runtime::Controller::new("datamoverschedule", store.of::<DataMoverSchedule>())
            .owns(store.of::<DataMover>())
            .reconciler(tmc_runtime::reconciler_fn(reconcile::<Embedded>, f.ctx()));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(controller.run(async move {
        let _ = stop_rx.await;
    }));
    // Three minutes pass; each run finishes at once, so none is skipped.
    for _ in 0..3 {
        let at = f.next();
        tokio::time::sleep(Duration::from_millis(at + 500 - f.clock.now_ms())).await;
        let name = run_name("nightly", at);
        assert!(
            f.run_names().contains(&name),
            "{name} started on time: {:?}",
            f.run_names()
        );
        f.finish(&name, phase::COMPLETED);
    }
    let _ = stop_tx.send(());
    running.await.unwrap();
    assert_eq!(f.runs().len(), 3);
    assert_eq!(f.schedule().status.skipped_runs, 0);
}

#[tokio::test(start_paused = true)]
async fn a_trigger_should_start_one_run_at_once_even_suspended_and_skip_while_one_is_active() {
    // Yearly, and suspended: nothing would run on its own.
    let f = Fixture::new("schedule: '0 0 1 1 *', suspend: true");
    f.reconcile().await;
    assert!(f.run_names().is_empty());
    f.trigger("first");
    let at = f.clock.now_ms();
    f.reconcile().await;
    f.reconcile().await;
    assert_eq!(f.run_names(), [manual_run_name("nightly", at)]);
    let s = f.schedule();
    assert_eq!(s.status.last_manual_trigger, "first");
    assert_eq!(s.status.active.len(), 1);
    assert_eq!(
        f.counter(r#"datamover_schedule_runs_total{schedule="nightly",status="started",namespace="default"}"#),
        1
    );
    // A new value while that run is active: skipped and counted, like a scheduled run.
    f.trigger("second");
    f.reconcile().await;
    assert_eq!(f.runs().len(), 1);
    let s = f.schedule();
    assert_eq!(
        (s.status.skipped_runs, s.status.last_manual_trigger.as_str()),
        (1, "second")
    );
    assert!(
        s.status.message.starts_with("skipped the manual run"),
        "{}",
        s.status.message
    );
    assert_eq!(
        f.counter(r#"datamover_schedule_skipped_runs_total{schedule="nightly",reason="active",namespace="default"}"#),
        1
    );
    // Once it ended, the next value starts another; its outcome is counted.
    f.finish(&manual_run_name("nightly", at), phase::COMPLETED);
    tokio::time::advance(Duration::from_secs(5)).await;
    f.trigger("third");
    f.reconcile().await;
    assert_eq!(f.runs().len(), 2);
    assert_eq!(
        f.counter(r#"datamover_schedule_runs_total{schedule="nightly",status="success",namespace="default"}"#),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_that_passed_its_check_sets_the_schedules_last_verified_time() {
    let f = Fixture::new("schedule: '* * * * *', verify: checksum");
    let at = f.to_next_run().await;
    f.reconcile().await;
    let name = run_name("nightly", at);
    let mut dm = f
        .cluster
        .store
        .object::<DataMover>("default", &name)
        .unwrap();
    assert_eq!(
        dm.spec.verify,
        datamover::types::Verify::Checksum,
        "runs inherit verify"
    );
    dm.status.phase = phase::COMPLETED.into();
    dm.status.completion_time = datamover::time::rfc3339(f.clock.now_ms());
    dm.status.verified_at = datamover::time::rfc3339(f.clock.now_ms());
    f.cluster.store.update_status(&dm).unwrap();
    f.reconcile().await;
    assert_eq!(
        f.schedule().status.last_verified_time,
        dm.status.verified_at
    );
}

#[tokio::test(start_paused = true)]
async fn pruning_a_run_should_leave_another_object_made_under_its_name() {
    let f = Fixture::new("schedule: '* * * * *'");
    let at = f.to_next_run().await;
    f.reconcile().await;
    let name = run_name("nightly", at);
    let seen = f
        .cluster
        .store
        .object::<DataMover>("default", &name)
        .unwrap();
    // The run goes, and another DataMover is made under its name.
    assert!(
        f.cluster
            .store
            .delete(Kind::DataMover, "default", &name)
            .unwrap()
    );
    let mut other = seen.clone();
    other.metadata.uid = String::new();
    other.metadata.resource_version = String::new();
    other.status = Default::default();
    let other = f.cluster.store.create(other).unwrap();
    assert_ne!(other.metadata.uid, seen.metadata.uid);

    // Pruning the run the reconciler saw leaves the other one.
    f.cluster.delete_datamover(&seen).await.unwrap();
    let still = f
        .cluster
        .store
        .object::<DataMover>("default", &name)
        .unwrap();
    assert_eq!(still.metadata.uid, other.metadata.uid);
    // Pruning the one stored deletes it.
    f.cluster.delete_datamover(&still).await.unwrap();
    assert!(
        f.cluster
            .store
            .object::<DataMover>("default", &name)
            .is_none()
    );
}
