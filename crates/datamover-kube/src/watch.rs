//! A list-then-watch loop, pull style: list, watch from the list's resourceVersion, resume
//! from the last seen resourceVersion when a watch ends or drops, relist on 410 Gone, and
//! back off (doubling, capped at 30 s) on errors. Every list and watch request is counted
//! by [`api::call`](crate::api::call).

use crate::api::{self, RetryPolicy};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use std::fmt::Debug;
use std::time::Duration;
use tmc_metrics::{ErrorKind, MetricsCollector};

/// What changed.
#[derive(Debug)]
pub(crate) enum Change<K> {
    /// A (re)list: the complete current set.
    Listed(Vec<K>),
    /// Created or modified.
    Applied(K),
    /// Deleted.
    Deleted(K),
}

type Events<K> = BoxStream<'static, Result<WatchEvent<K>, kube::Error>>;

pub(crate) struct Watch<K> {
    api: Api<K>,
    what: &'static str,
    version: Option<String>,
    stream: Option<Events<K>>,
    failures: u32,
    backoff: Duration,
    timeout_secs: u32,
}

impl<K> Debug for Watch<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("what", &self.what)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

fn version_of<K: kube::Resource>(o: &K) -> Option<String> {
    o.meta().resource_version.clone()
}

impl<K> Watch<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + Debug + Send + 'static,
{
    pub(crate) fn new(
        api: Api<K>,
        what: &'static str,
        backoff: Duration,
        timeout_secs: u32,
    ) -> Self {
        Self {
            api,
            what,
            version: None,
            stream: None,
            failures: 0,
            backoff,
            timeout_secs,
        }
    }

    async fn back_off(&mut self) {
        self.failures += 1;
        let factor = 2u32.saturating_pow(self.failures.saturating_sub(1).min(16));
        let wait = self
            .backoff
            .saturating_mul(factor)
            .min(Duration::from_secs(30));
        tokio::time::sleep(wait).await;
    }

    /// The next change; never ends (errors are retried).
    pub(crate) async fn next(&mut self, metrics: &MetricsCollector) -> Change<K> {
        let once = RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        };
        let (list_op, watch_op) = match self.what {
            "datamovers" => ("list-datamovers", "watch-datamovers"),
            "jobs" => ("list-jobs", "watch-jobs"),
            _ => (
                "list-persistentvolumeclaims",
                "watch-persistentvolumeclaims",
            ),
        };
        loop {
            let Some(version) = self.version.clone() else {
                let api = &self.api;
                let lp = ListParams::default();
                match api::call(metrics, once, list_op, || api.list(&lp)).await {
                    Ok(list) => {
                        self.failures = 0;
                        self.version = Some(list.metadata.resource_version.unwrap_or_default());
                        return Change::Listed(list.items);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "listing {}; retrying", self.what);
                        self.back_off().await;
                        continue;
                    }
                }
            };
            let Some(stream) = self.stream.as_mut() else {
                let api = &self.api;
                let params = WatchParams::default().timeout(self.timeout_secs);
                match api::call(metrics, once, watch_op, || api.watch(&params, &version)).await {
                    Ok(s) => self.stream = Some(s.boxed()),
                    Err(e) if e.status() == Some(410) => {
                        tracing::info!(
                            "{}: resourceVersion {version} is gone; relisting",
                            self.what
                        );
                        self.version = None;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "watching {}; retrying", self.what);
                        self.back_off().await;
                    }
                }
                continue;
            };
            match stream.try_next().await {
                Ok(None) => {
                    // The server ended the watch (timeout) or the connection dropped: resume.
                    tracing::debug!("{}: watch ended; resuming from {version}", self.what);
                    self.stream = None;
                }
                Ok(Some(WatchEvent::Added(o) | WatchEvent::Modified(o))) => {
                    self.failures = 0;
                    self.version = version_of(&o).or(self.version.take());
                    return Change::Applied(o);
                }
                Ok(Some(WatchEvent::Deleted(o))) => {
                    self.failures = 0;
                    self.version = version_of(&o).or(self.version.take());
                    return Change::Deleted(o);
                }
                Ok(Some(WatchEvent::Bookmark(b))) => {
                    self.version = Some(b.metadata.resource_version);
                }
                Ok(Some(WatchEvent::Error(status))) => {
                    self.stream = None;
                    let code = status.code;
                    let error = api::ApiError {
                        operation: watch_op,
                        source: kube::Error::Api(status),
                    };
                    metrics.record_component_error(api::COMPONENT_TYPE, api::COMPONENT_ID, &error);
                    if code == 410 {
                        tracing::info!("{}: watch expired (410 Gone); relisting", self.what);
                        self.version = None;
                    } else {
                        tracing::warn!(%error, "{}: watch error; resuming", self.what);
                        self.back_off().await;
                    }
                }
                Err(e) => {
                    self.stream = None;
                    let error = api::ApiError {
                        operation: watch_op,
                        source: e,
                    };
                    if api::kind_of(&error.source) != ErrorKind::Unknown {
                        metrics.record_component_error(
                            api::COMPONENT_TYPE,
                            api::COMPONENT_ID,
                            &error,
                        );
                    }
                    tracing::warn!(%error, "{}: watch stream failed; resuming", self.what);
                    self.back_off().await;
                }
            }
        }
    }
}
