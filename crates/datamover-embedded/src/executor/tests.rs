//! The executor on tokio's paused clock, with scripted pods.
#![allow(clippy::unwrap_used)]

use super::*;
use datamover::job::{JobOutcome, sync_job};
use datamover::types::DataMover;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tmc_test_support::{TempDir as TestDir, tempdir};
use tokio::time::Instant;

/// How long a scripted pod runs, and how it ends.
type PodScript = (Duration, Result<(), String>);

/// Pods that run for a scripted time and end as scripted; records when each started.
#[derive(Clone, Default)]
struct Scripted(Arc<Inner>);

#[derive(Default)]
struct Inner {
    /// Per Job name: (run time, outcome) of its next pods; an empty script succeeds at once.
    script: Mutex<HashMap<String, VecDeque<PodScript>>>,
    starts: Mutex<Vec<(String, Duration)>>,
    running: AtomicUsize,
    max_running: AtomicUsize,
    killed: AtomicUsize,
    left_behind: Mutex<Vec<String>>,
    t0: Mutex<Option<Instant>>,
}

struct Running(Arc<Inner>, bool);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        if !self.1 {
            self.0.killed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Scripted {
    /// Times are counted from now.
    fn new() -> Self {
        let pods = Self::default();
        *pods.0.t0.lock().unwrap() = Some(Instant::now());
        pods
    }

    fn script(&self, job: &str, pods: Vec<(u64, Result<(), &str>)>) {
        self.0.script.lock().unwrap().insert(
            job.to_owned(),
            pods.into_iter()
                .map(|(s, r)| (Duration::from_secs(s), r.map_err(str::to_owned)))
                .collect(),
        );
    }

    fn starts(&self, job: &str) -> Vec<u64> {
        self.0
            .starts
            .lock()
            .unwrap()
            .iter()
            .filter(|(j, _)| j == job)
            .map(|(_, t)| t.as_secs())
            .collect()
    }
}

impl PodRunner for Scripted {
    fn start(&self, job: &Job, progress: watch::Sender<SyncProgress>) -> Result<Pod, String> {
        let name = job.metadata.name.clone();
        let t0 = *self.0.t0.lock().unwrap().get_or_insert_with(Instant::now);
        self.0
            .starts
            .lock()
            .unwrap()
            .push((name.clone(), t0.elapsed()));
        let (time, outcome) = self
            .0
            .script
            .lock()
            .unwrap()
            .get_mut(&name)
            .and_then(VecDeque::pop_front)
            .unwrap_or((Duration::ZERO, Ok(())));
        let now = self.0.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.max_running.fetch_max(now, Ordering::SeqCst);
        let guard = Running(Arc::clone(&self.0), false);
        Ok(Pod {
            pid: None,
            exit: Box::pin(async move {
                // The whole guard lives in the pod (not just the field set below).
                let mut guard = guard;
                // Half way, report progress.
                tokio::time::sleep(time / 2).await;
                progress.send_replace(SyncProgress {
                    bytes: 50,
                    total_bytes: Some(100),
                    ..SyncProgress::default()
                });
                tokio::time::sleep(time - time / 2).await;
                guard.1 = true;
                outcome.map(|()| SyncProgress {
                    bytes: 100,
                    total_bytes: Some(100),
                    files: 1,
                    ..SyncProgress::default()
                })
            }),
        })
    }

    async fn stop_left_behind(&self, job: &Job, _grace: Duration) {
        self.0
            .left_behind
            .lock()
            .unwrap()
            .push(job.metadata.name.clone());
    }
}

fn store() -> (Arc<EmbeddedStore>, TestDir) {
    let dir = tempdir();
    (
        Arc::new(EmbeddedStore::open(&dir.join("store.redb")).unwrap()),
        dir,
    )
}

fn job(store: &EmbeddedStore, name: &str) -> Job {
    let mut dm = DataMover::default();
    dm.metadata.name = name.into();
    dm.metadata.namespace = "default".into();
    dm.metadata.uid = format!("uid-{name}");
    dm.spec.secret_name = "s".into();
    dm.status.restored_pvc_name = "data-cloned-1".into();
    store.create(sync_job(&dm)).unwrap()
}

fn config(max: usize) -> ExecutorConfig {
    ExecutorConfig {
        max_concurrent_syncs: max,
        ..ExecutorConfig::default()
    }
}

/// Runs an executor in the background; dropping the sender stops it.
fn spawn(
    store: &Arc<EmbeddedStore>,
    pods: &Scripted,
    config: ExecutorConfig,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let executor = Executor::new(Arc::clone(store), pods.clone(), config);
    let task = tokio::spawn(executor.run(async move {
        let _ = rx.await;
    }));
    (tx, task)
}

fn stored(store: &EmbeddedStore, name: &str) -> Job {
    store
        .object::<Job>("default", &format!("{name}-sync-uid{name}"))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn failed_pods_should_be_retried_with_doubling_backoff_until_the_limit() {
    let (store, _dir) = store();
    let pods = Scripted::new();
    let j = job(&store, "a");
    pods.script(
        &j.metadata.name,
        vec![(5, Err("boom 1")), (5, Err("boom 2")), (5, Err("boom 3"))],
    );
    let (stop, task) = spawn(&store, &pods, config(8));
    tokio::time::sleep(Duration::from_secs(120)).await;

    // Pod 1 at 0 (fails at 5), pod 2 after 10 s (15, fails at 20), pod 3 after 20 s (40).
    assert_eq!(pods.starts(&j.metadata.name), [0, 15, 40]);
    let done = stored(&store, "a");
    assert_eq!(
        (
            done.status.active,
            done.status.succeeded,
            done.status.failed
        ),
        (0, 0, 3)
    );
    assert_eq!(
        done.outcome(),
        Some(JobOutcome::Failed(
            "BackoffLimitExceeded: 3 pods failed, backoffLimit is 2; the last one: boom 3".into()
        ))
    );
    assert_eq!(done.status.last_pod_error, "boom 3");
    assert!(!done.status.start_time.is_empty());
    assert!(done.status.completion_time.is_empty());
    drop(stop);
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_pod_that_succeeds_after_a_failure_should_complete_the_job_with_its_progress() {
    let (store, _dir) = store();
    let pods = Scripted::new();
    let j = job(&store, "a");
    pods.script(&j.metadata.name, vec![(4, Err("flaky")), (10, Ok(()))]);
    let (stop, task) = spawn(&store, &pods, config(8));

    // Mid-way through pod 2 (started at 14), its progress is in the Job.
    tokio::time::sleep(Duration::from_secs(21)).await;
    let running = stored(&store, "a");
    assert_eq!(running.status.active, 1);
    assert_eq!(running.status.failed, 1);
    assert_eq!(running.status.progress.unwrap().bytes, 50);
    assert_eq!(running.status.progress.unwrap().percent(), Some(50));

    tokio::time::sleep(Duration::from_secs(10)).await;
    let done = stored(&store, "a");
    assert_eq!(pods.starts(&j.metadata.name), [0, 14]);
    assert_eq!(done.outcome(), Some(JobOutcome::Complete));
    assert_eq!(
        (
            done.status.active,
            done.status.succeeded,
            done.status.failed
        ),
        (0, 1, 1)
    );
    assert_eq!(done.status.progress.unwrap().bytes, 100);
    assert!(!done.status.completion_time.is_empty());
    drop(stop);
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn no_more_than_max_concurrent_syncs_pods_should_run_at_once() {
    let (store, _dir) = store();
    let pods = Scripted::new();
    let names: Vec<String> = (0..5)
        .map(|i| job(&store, &format!("j{i}")).metadata.name)
        .collect();
    for n in &names {
        pods.script(n, vec![(10, Ok(()))]);
    }
    let (stop, task) = spawn(&store, &pods, config(2));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(pods.0.max_running.load(Ordering::SeqCst), 2);
    let mut starts: Vec<u64> = names.iter().flat_map(|n| pods.starts(n)).collect();
    starts.sort_unstable();
    assert_eq!(starts, [0, 0, 10, 10, 20]);
    drop(stop);
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_job_found_active_at_start_should_have_its_lost_pod_stopped_counted_and_replaced() {
    let (store, _dir) = store();
    let pods = Scripted::new();
    let mut j = job(&store, "a");
    j.status.active = 1;
    j.status.start_time = "2026-11-30T00:00:00Z".into();
    store.update_status(&j).unwrap();
    let (stop, task) = spawn(&store, &pods, config(8));
    tokio::time::sleep(Duration::from_secs(30)).await;

    assert_eq!(
        *pods.0.left_behind.lock().unwrap(),
        [j.metadata.name.clone()]
    );
    assert_eq!(
        pods.starts(&j.metadata.name),
        [10],
        "after the backoff of one failure"
    );
    let done = stored(&store, "a");
    assert_eq!(done.outcome(), Some(JobOutcome::Complete));
    assert_eq!((done.status.succeeded, done.status.failed), (1, 1));
    assert_eq!(
        done.status.last_pod_error,
        "the pod was lost: the operator stopped while it ran"
    );
    drop(stop);
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn deleting_a_job_should_stop_its_pod_at_once() {
    let (store, _dir) = store();
    let pods = Scripted::new();
    let j = job(&store, "a");
    pods.script(&j.metadata.name, vec![(600, Ok(()))]);
    let (stop, task) = spawn(&store, &pods, config(8));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(pods.0.running.load(Ordering::SeqCst), 1);
    store
        .delete(datamover::types::Kind::Job, "default", &j.metadata.name)
        .unwrap();
    // No pid to signal: the grace period passes, then the pod is dropped (killed).
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(pods.0.running.load(Ordering::SeqCst), 0);
    assert_eq!(pods.0.killed.load(Ordering::SeqCst), 1);
    drop(stop);
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_should_stop_pods_without_spending_a_retry() {
    let (store, _dir) = store();
    let pods = Scripted::new();
    let j = job(&store, "a");
    pods.script(&j.metadata.name, vec![(600, Ok(()))]);
    let (stop, task) = spawn(&store, &pods, config(8));
    tokio::time::sleep(Duration::from_secs(5)).await;
    drop(stop);
    task.await.unwrap();
    assert_eq!(pods.0.running.load(Ordering::SeqCst), 0);
    let left = stored(&store, "a");
    assert_eq!((left.status.active, left.status.failed), (0, 0));
    assert_eq!(left.outcome(), None);
}

/// Fills `fs` and applies Secrets of 16 KiB until the store refuses one, so that it fails
/// every write until space returns; returns the filler to remove.
fn break_store(store: &EmbeddedStore, fs: &tmc_test_support::Tmpfs) -> std::path::PathBuf {
    let (filler, _) = fs.fill("filler");
    let volumes = crate::volumes::Volumes::new(fs.join("volumes"));
    let blob = "x".repeat(16 * 1024);
    for i in 0..1000 {
        let secret = datamover::manifest::parse(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: s{i}}}\nstringData: {{blob: {blob}}}\n"
        ))
        .unwrap();
        if store.apply(secret, &volumes).is_err() {
            assert!(store.write_failure().is_some());
            assert!(store.recover().is_err(), "the disk is full");
            return filler;
        }
    }
    panic!("1000 Secrets of 16 KiB fit on a full filesystem");
}

#[tokio::test(start_paused = true)]
async fn a_full_disk_drops_progress_ticks_and_delays_the_end_of_a_sync_without_losing_it() {
    let fs = tmc_test_support::Tmpfs::mount("4m");
    let store = Arc::new(EmbeddedStore::open(&fs.join("store.redb")).unwrap());
    let pods = Scripted::new();
    let j = job(&store, "a");
    // Progress half way, at 30 s; the pod succeeds at 60 s.
    pods.script(&j.metadata.name, vec![(60, Ok(()))]);
    let (stop, task) = spawn(&store, &pods, config(8));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let filler = break_store(&store, &fs);

    // The progress tick at 30 s was refused and dropped: the pod runs on.
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert_eq!(pods.0.running.load(Ordering::SeqCst), 1);
    assert_eq!(pods.0.killed.load(Ordering::SeqCst), 0);
    let running = stored(&store, "a");
    assert_eq!(
        (
            running.status.active,
            running.status.progress.unwrap().bytes
        ),
        (1, 0)
    );

    // The pod ended at 60 s; its end cannot be written yet and is retried.
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(pods.0.running.load(Ordering::SeqCst), 0);
    assert_eq!(pods.0.killed.load(Ordering::SeqCst), 0);
    assert_eq!(stored(&store, "a").outcome(), None);

    // Space returns at 65 s: the next attempt (91 s: 60, 61, 63, 67, 75, 91) stores the end.
    std::fs::remove_file(&filler).unwrap();
    tokio::time::sleep(Duration::from_secs(40)).await;
    let done = stored(&store, "a");
    assert_eq!(done.outcome(), Some(JobOutcome::Complete));
    assert_eq!(
        (
            done.status.active,
            done.status.succeeded,
            done.status.failed
        ),
        (0, 1, 0)
    );
    assert_eq!(done.status.progress.unwrap().bytes, 100);
    assert_eq!(
        pods.starts(&j.metadata.name),
        [0],
        "one pod, never restarted"
    );
    assert_eq!(store.write_failure(), None);
    drop(stop);
    task.await.unwrap();
}
