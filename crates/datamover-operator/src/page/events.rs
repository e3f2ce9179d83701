//! The page's live feed: one hub fans the store's changes out to every open page, as
//! server-sent events.
//!
//! The hub subscribes once to the store's DataMover, Job and PVC watches and forwards each
//! change into a bounded broadcast channel (of PVCs, only restores: those with a
//! `dataSourceRef`), and sends the schedules (read from the store, with their next runs)
//! whenever one changes; it also samples the metrics for the charts and sends the schedules
//! again every [`SAMPLE_EVERY`] (their next run times move with the clock). Each `/events` stream starts with a `snapshot` of everything, then
//! carries `datamover`, `job`, `restore`, `deleted`, `charts` and `schedules` events as they
//! happen. A page that falls behind the channel gets a fresh
//! snapshot instead of an unbounded queue; every stream ends when the operator stops, so
//! open pages never hold up a graceful shutdown.

use super::charts::{Charts, SAMPLE_EVERY};
use crate::api::to_json;
use axum::response::sse::{Event, KeepAlive, Sse};
use datamover::job::Job;
use datamover::manifest::Object;
use datamover::populator::job::restore_job_name;
use datamover::schedule::DataMoverSchedule;
use datamover::types::{DataMover, Kind, PersistentVolumeClaim};
use datamover_embedded::store::EmbeddedStore;
use datamover_embedded::volumes::Volumes;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use tmc_metrics::Metrics;
use tmc_runtime::CancellationToken;
use tokio::sync::broadcast;

/// Changes a page may fall behind by before it is sent a fresh snapshot instead.
const CHANNEL: usize = 1024;

/// One change, as the page receives it.
#[derive(Debug)]
enum Update {
    DataMover(Value),
    Job(Value),
    Restore(Value),
    Deleted(&'static str, String, String),
    Charts(Value),
    Schedules(Value),
}

impl Update {
    fn event(&self) -> Event {
        let (name, data) = match self {
            Self::DataMover(v) => ("datamover", v.to_string()),
            Self::Job(v) => ("job", v.to_string()),
            Self::Restore(v) => ("restore", v.to_string()),
            Self::Deleted(kind, namespace, name) => (
                "deleted",
                json!({ "kind": kind, "namespace": namespace, "name": name }).to_string(),
            ),
            Self::Charts(v) => ("charts", v.to_string()),
            Self::Schedules(v) => ("schedules", v.to_string()),
        };
        Event::default().event(name).data(data)
    }
}

/// A Job as the page needs it: which, and its status (not its spec: no environment).
fn job_json(job: &Job) -> Value {
    json!({
        "namespace": job.metadata.namespace,
        "name": job.metadata.name,
        "resourceVersion": job.metadata.resource_version,
        "status": serde_json::to_value(&job.status).unwrap_or(Value::Null),
    })
}

/// A restore as the page shows it: the claim, its phase and `Restored` condition, the
/// populator it names, the Job filling it (whose progress the page shows) and, once it is
/// `Bound`, the directory holding its data. `None` for a PVC that is no restore.
fn restore_json(pvc: &PersistentVolumeClaim, volumes: &Volumes) -> Option<Value> {
    let source = pvc.spec.data_source_ref.as_ref()?;
    let m = &pvc.metadata;
    let restored = pvc.status.conditions.iter().find(|c| c.type_ == "Restored");
    let bound = pvc.status.phase == "Bound";
    Some(json!({
        "namespace": m.namespace,
        "name": m.name,
        "resourceVersion": m.resource_version,
        "phase": pvc.status.phase,
        "populator": source["name"],
        "jobName": restore_job_name(&m.name, &m.uid),
        "condition": restored.map(|c| json!({"status": c.status, "reason": c.reason, "message": c.message})),
        "path": bound.then(|| volumes.of(pvc).display().to_string()),
    }))
}

fn datamover_json(dm: &DataMover) -> Value {
    to_json(&Object::DataMover(dm.clone()))
}

/// The fan-out of changes to open pages. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<EmbeddedStore>,
    volumes: Volumes,
    updates: broadcast::Sender<Arc<Update>>,
    charts: Mutex<Charts>,
}

impl Hub {
    /// Starts forwarding `store`'s changes (with the restored volumes' paths in `volumes`)
    /// and sampling `metrics` until `stop` is cancelled.
    pub(crate) fn start(
        store: Arc<EmbeddedStore>,
        volumes: Volumes,
        metrics: Metrics,
        stop: CancellationToken,
    ) -> Self {
        let (updates, _) = broadcast::channel(CHANNEL);
        let hub = Self {
            inner: Arc::new(Inner {
                store,
                volumes,
                updates,
                charts: Mutex::default(),
            }),
        };
        tokio::spawn(hub.clone().forward(stop.clone()));
        tokio::spawn(hub.clone().sample(metrics, stop));
        hub
    }

    fn send(&self, update: Update) {
        // No page open is no error.
        let _ = self.inner.updates.send(Arc::new(update));
    }

    /// Whether any page is open (else a change need not be serialised).
    fn watched(&self) -> bool {
        self.inner.updates.receiver_count() > 0
    }

    async fn forward(self, stop: CancellationToken) {
        let mut datamovers = self.inner.store.watch::<DataMover>();
        let mut jobs = self.inner.store.watch::<Job>();
        let mut pvcs = self.inner.store.watch::<PersistentVolumeClaim>();
        let mut schedules = self.inner.store.watch::<DataMoverSchedule>();
        loop {
            let update = tokio::select! {
                () = stop.cancelled() => return,
                Some(e) = datamovers.recv() => match e {
                    _ if !self.watched() => continue,
                    tmc_runtime::Event::Applied(dm) => Update::DataMover(datamover_json(&dm)),
                    tmc_runtime::Event::Deleted(k) => deleted(Kind::DataMover, &k),
                },
                Some(e) = jobs.recv() => match e {
                    _ if !self.watched() => continue,
                    tmc_runtime::Event::Applied(job) => Update::Job(job_json(&job)),
                    tmc_runtime::Event::Deleted(k) => deleted(Kind::Job, &k),
                },
                Some(e) = pvcs.recv() => match e {
                    _ if !self.watched() => continue,
                    tmc_runtime::Event::Applied(pvc) => match restore_json(&pvc, &self.inner.volumes) {
                        Some(v) => Update::Restore(v),
                        None => continue,
                    },
                    tmc_runtime::Event::Deleted(k) => deleted(Kind::PersistentVolumeClaim, &k),
                },
                // A schedule changed (suspended, triggered, run): the list, at once.
                Some(_) = schedules.recv() => match self.watched() {
                    true => Update::Schedules(self.schedules()),
                    false => continue,
                },
                else => return,
            };
            self.send(update);
        }
    }

    async fn sample(self, metrics: Metrics, stop: CancellationToken) {
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let charts = {
                let mut charts = self
                    .inner
                    .charts
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                charts.record(datamover::time::now_ms(), &metrics.render());
                charts.to_json()
            };
            self.send(Update::Charts(charts));
            // Their next runs move with the clock.
            if self.watched() {
                self.send(Update::Schedules(self.schedules()));
            }
        }
    }

    /// The schedules as the API lists them, each with its next run.
    fn schedules(&self) -> Value {
        let items: Vec<Value> = self
            .inner
            .store
            .list(Kind::DataMoverSchedule, None)
            .iter()
            .map(to_json)
            .collect();
        with_next_runs(json!({ "available": true, "items": items }))
    }

    /// Everything the page shows, now.
    fn snapshot(&self) -> Event {
        let datamovers: Vec<Value> = self
            .inner
            .store
            .list(Kind::DataMover, None)
            .iter()
            .map(to_json)
            .collect();
        let jobs: Vec<Value> = self
            .inner
            .store
            .objects::<Job>(None)
            .iter()
            .map(job_json)
            .collect();
        let restores: Vec<Value> = self
            .inner
            .store
            .objects::<PersistentVolumeClaim>(None)
            .iter()
            .filter_map(|pvc| restore_json(pvc, &self.inner.volumes))
            .collect();
        let charts = self
            .inner
            .charts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .to_json();
        let schedules = self.schedules();
        let data = json!({
            "datamovers": datamovers,
            "jobs": jobs,
            "restores": restores,
            "charts": charts,
            "schedules": schedules,
        });
        Event::default().event("snapshot").data(data.to_string())
    }

    /// The event stream of one page, until `stop` is cancelled or, for a signed-in browser,
    /// its `session` (the sessions and its id) ends.
    pub(crate) fn stream(
        &self,
        stop: CancellationToken,
        session: Option<(super::Sessions, String)>,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        // Subscribed before the snapshot is read: nothing falls between the two (a change
        // may come twice; the page keeps the newer resourceVersion).
        let state = Feed {
            hub: self.clone(),
            updates: self.inner.updates.subscribe(),
            stop,
            session,
            first: true,
        };
        let stream = futures_util::stream::unfold(state, Feed::next);
        Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response()
    }
}

fn deleted(kind: Kind, key: &tmc_runtime::ObjectKey) -> Update {
    Update::Deleted(
        kind.as_str(),
        key.namespace().unwrap_or("default").to_owned(),
        key.name().to_owned(),
    )
}

/// Adds `nextRun` (RFC 3339, from the cron pattern and now) to each schedule of `list`
/// that is not suspended, as `get schedules` shows NEXT RUN.
fn with_next_runs(mut list: Value) -> Value {
    let now = datamover::time::now_ms();
    if let Some(items) = list["items"].as_array_mut() {
        for item in items {
            if item["spec"]["suspend"] == true {
                continue;
            }
            let next = item["spec"]["schedule"]
                .as_str()
                .and_then(|p| datamover::schedule::cron::CronSchedule::parse(p).ok())
                .and_then(|c| c.next_after(now));
            if let Some(t) = next {
                item["nextRun"] = Value::String(datamover::time::rfc3339(t));
            }
        }
    }
    list
}

/// One page's position in the feed.
struct Feed {
    hub: Hub,
    updates: broadcast::Receiver<Arc<Update>>,
    stop: CancellationToken,
    /// The browser session the stream serves, checked every [`SESSION_CHECK`].
    session: Option<(super::Sessions, String)>,
    first: bool,
}

/// How often an open stream checks that its session still lasts.
const SESSION_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

impl Feed {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        if std::mem::take(&mut self.first) {
            let snapshot = self.hub.snapshot();
            return Some((Ok(snapshot), self));
        }
        loop {
            if let Some((sessions, id)) = &self.session
                && sessions.get(id).is_none()
            {
                return None; // signed out, or the session's lifetime is over
            }
            let event = tokio::select! {
                () = self.stop.cancelled() => return None,
                () = tokio::time::sleep(SESSION_CHECK) => continue,
                received = self.updates.recv() => match received {
                    Ok(update) => update.event(),
                    Err(broadcast::error::RecvError::Lagged(_)) => self.hub.snapshot(),
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            };
            return Some((Ok(event), self));
        }
    }
}
