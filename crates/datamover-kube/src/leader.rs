//! Leader election through a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection`
//! does, so several replicas can run and one reconciles.
//!
//! A candidate reads the Lease; it takes it when it is absent, empty, its own, or not
//! renewed for `leaseDurationSeconds` *as observed locally* (the holder's clock is never
//! trusted, like client-go); every write is a replace carrying the resourceVersion read, so
//! two candidates never both win. The leader renews every `retry_period` and steps down
//! when it could not renew for `renew_deadline`. `leader_election_master_status{name}` is 1
//! while this process leads and 0 otherwise, as in controller-runtime.

use crate::api::{self, RetryPolicy};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use std::sync::Mutex;
use std::time::Duration;
use tmc_metrics::MetricsCollector;
use tmc_metrics::metrics::{Gauge, Key, Label};
use tokio::time::Instant;

/// The gauge family (controller-runtime's name, verbatim).
pub const MASTER_STATUS: &str = "leader_election_master_status";

/// How long a Lease lasts and how often it is renewed (client-go's defaults: 15 s, 10 s, 2 s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// `leaseDurationSeconds`: how long others wait before taking an unrenewed Lease.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it steps down.
    pub renew_deadline: Duration,
    /// The wait between tries.
    pub retry_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// The Lease as last observed, and when.
#[derive(Debug)]
struct Observed {
    /// Holder and renew time, as read.
    record: (String, String),
    at: Instant,
    duration: Duration,
}

/// A leader elector over one Lease.
#[derive(Debug)]
pub struct LeaderElector {
    api: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    timing: Timing,
    metrics: MetricsCollector,
    gauge: Gauge,
    observed: Mutex<Option<Observed>>,
    leading: tokio::sync::watch::Sender<bool>,
}

/// Why [`LeaderElector::hold`] returned: this process no longer leads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("leadership of Lease {0} lost: could not renew it in time or another holder took it")]
pub struct LeadershipLost(pub String);

fn now_micro() -> String {
    let ms = datamover::time::now_ms();
    datamover::time::rfc3339(ms).replace('Z', &format!(".{:06}Z", ms % 1000 * 1000))
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
}

impl LeaderElector {
    /// An elector for Lease `namespace/name`, identifying itself as `identity` (the pod
    /// name, made unique). Sets `leader_election_master_status{name}` to 0.
    #[must_use]
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        metrics: MetricsCollector,
    ) -> Self {
        let key = Key::from_parts(MASTER_STATUS, vec![Label::new("name", name.to_owned())]);
        let gauge = metrics.register_gauge(&key);
        gauge.set(0.0);
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            timing: Timing::default(),
            metrics,
            gauge,
            observed: Mutex::new(None),
            leading: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Other durations.
    #[must_use]
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Whether this process leads now, and its changes.
    #[must_use]
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.leading.subscribe()
    }

    fn set_leading(&self, leading: bool) {
        self.gauge.set(if leading { 1.0 } else { 0.0 });
        self.leading
            .send_if_modified(|l| std::mem::replace(l, leading) != leading);
    }

    fn lease(
        &self,
        resource_version: Option<&str>,
        transitions: i32,
        acquire: Option<String>,
    ) -> Lease {
        let now = now_micro();
        let body = serde_json::json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace, "resourceVersion": resource_version},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": secs(self.timing.lease_duration),
                "acquireTime": acquire.unwrap_or_else(|| now.clone()),
                "renewTime": now,
                "leaseTransitions": transitions,
            }
        });
        serde_json::from_value(body).unwrap_or_default()
    }

    /// One try: takes or renews the Lease. `Ok(true)` when this process leads after it.
    ///
    /// # Errors
    /// An API error other than a lost race (409, which is `Ok(false)`).
    pub async fn try_acquire_or_renew(&self) -> Result<bool, api::ApiError> {
        let once = RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        };
        let m = &self.metrics;
        let pp = PostParams::default();
        let current = match api::call(m, once, "get-lease", || self.api.get(&self.name)).await {
            Ok(l) => Some(l),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        let Some(current) = current else {
            let lease = self.lease(None, 0, None);
            return match api::call(m, once, "create-lease", || self.api.create(&pp, &lease)).await {
                Ok(_) => {
                    self.observe(&self.identity, "", self.timing.lease_duration);
                    Ok(true)
                }
                Err(e) if e.is_conflict() => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let renew = spec
            .renew_time
            .as_ref()
            .and_then(|t| serde_json::to_value(t).ok())
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let duration = Duration::from_secs(
            u64::try_from(spec.lease_duration_seconds.unwrap_or(15)).unwrap_or(15),
        );
        let expired = self.observe(&holder, &renew, duration);
        let mine = holder == self.identity;
        if !mine && !holder.is_empty() && !expired {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let acquire = if mine {
            spec.acquire_time
                .as_ref()
                .and_then(|t| serde_json::to_value(t).ok())
                .and_then(|v| v.as_str().map(str::to_owned))
        } else {
            None
        };
        let lease = self.lease(
            current.metadata.resource_version.as_deref(),
            transitions,
            acquire,
        );
        match api::call(m, once, "update-lease", || {
            self.api.replace(&self.name, &pp, &lease)
        })
        .await
        {
            Ok(_) => {
                self.observe(&self.identity, "", self.timing.lease_duration);
                Ok(true)
            }
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Records the Lease as read; returns whether it has not changed for its duration.
    fn observe(&self, holder: &str, renew: &str, duration: Duration) -> bool {
        let mut observed = self
            .observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let record = (holder.to_owned(), renew.to_owned());
        let now = Instant::now();
        match observed.as_mut() {
            Some(o) if o.record == record => now.duration_since(o.at) >= o.duration,
            _ => {
                *observed = Some(Observed {
                    record,
                    at: now,
                    duration,
                });
                false
            }
        }
    }

    /// Waits until this process leads (trying every `retry_period`).
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(lease = %self.name, identity = %self.identity, "became the leader");
                    self.set_leading(true);
                    return;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election"),
            }
            tokio::time::sleep(self.timing.retry_period).await;
        }
    }

    /// Renews the Lease every `retry_period` while leading; returns when leadership is lost
    /// (not renewed within `renew_deadline`, or taken). Stop the controller then: the
    /// operator exits, as controller-runtime does.
    pub async fn hold(&self) -> LeadershipLost {
        let mut last = Instant::now();
        loop {
            tokio::time::sleep(self.timing.retry_period).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last = Instant::now(),
                Ok(false) => {
                    self.set_leading(false);
                    return LeadershipLost(self.name.clone());
                }
                Err(e) => tracing::warn!(error = %e, "renewing the Lease"),
            }
            if last.elapsed() >= self.timing.renew_deadline {
                self.set_leading(false);
                return LeadershipLost(self.name.clone());
            }
        }
    }

    /// Gives the Lease up at shutdown (empty holder, 1 s duration), so another replica takes
    /// over at once.
    ///
    /// # Errors
    /// An API error.
    pub async fn release(&self) -> Result<(), api::ApiError> {
        let once = RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        };
        let m = &self.metrics;
        let pp = PostParams::default();
        let current = api::call(m, once, "get-lease", || self.api.get(&self.name)).await?;
        let spec = current.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            self.set_leading(false);
            return Ok(());
        }
        let mut lease = current;
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
        }
        api::call(m, once, "update-lease", || {
            self.api.replace(&self.name, &pp, &lease)
        })
        .await?;
        self.set_leading(false);
        Ok(())
    }
}
