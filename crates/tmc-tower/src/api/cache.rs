//! Handles resolved once per (method, endpoint) and per status, so a request costs a hash
//! lookup and a few atomic operations, never label formatting.

use super::labels::{METHODS, OVERFLOW_ENDPOINT, UNMATCHED_ENDPOINT, status_label};
use super::otel::{Fanout, Naming, OtelEndpoint};
use rustc_hash::FxBuildHasher;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use tmc_metrics::MetricsCollector;
use tmc_metrics::catalog::{
    HTTP_SERVER_REQUEST_BODY_SIZE_BYTES, HTTP_SERVER_REQUEST_DURATION_SECONDS,
    HTTP_SERVER_RESPONSE_BODY_SIZE_BYTES, TMC_API_REQUEST_BODY_SIZE_BYTES,
    TMC_API_REQUEST_DURATION_SECONDS, TMC_API_REQUESTS_IN_FLIGHT, TMC_API_REQUESTS_TOTAL,
    TMC_API_RESPONSE_BODY_SIZE_BYTES, TMC_METRICS_SERIES_FOLDED_TOTAL,
};
use tmc_metrics::metrics::{Counter, Gauge, Histogram};

/// The layer's settings, fixed once the layer is built.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) excluded: HashSet<String>,
    pub(crate) groups: HashMap<String, String>,
    pub(crate) max_endpoints: usize,
    pub(crate) at_head: bool,
    pub(crate) grpc: bool,
    /// Whether requests get an `api_request` span (when a subscriber wants it).
    pub(crate) spans: bool,
    /// Which families are recorded.
    pub(crate) naming: Naming,
    /// The `url_scheme` of requests whose URI names none: `https` when set.
    pub(crate) https: bool,
}

/// `FxHash` (`rustc-hash`): route templates are short and not attacker-chosen (unmatched
/// paths never reach the map), so a fast non-keyed hash is safe here.
type Map = HashMap<Box<str>, Option<Arc<Endpoint>>, FxBuildHasher>;

/// Everything one layer (and every service it wraps) shares.
pub(crate) struct Shared {
    collector: MetricsCollector,
    clock: quanta::Clock,
    pub(crate) config: Config,
    by_method: [RwLock<Map>; METHODS],
    unmatched: [OnceLock<Arc<Endpoint>>; METHODS],
    overflow: [OnceLock<Arc<Endpoint>>; METHODS],
    templates: AtomicUsize,
    /// `tmc_metrics_series_folded_total{metric}`, registered (at 0) when a service is built
    /// with this configuration: a layer's builder calls make one `Shared` each, and only
    /// the last one's family may appear in the exposition.
    folded: OnceLock<Counter>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("templates", &self.templates.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(collector: MetricsCollector, config: Config) -> Self {
        Self {
            collector,
            clock: quanta::Clock::new(),
            config,
            by_method: Default::default(),
            unmatched: Default::default(),
            overflow: Default::default(),
            templates: AtomicUsize::new(0),
            folded: OnceLock::new(),
        }
    }

    /// The fold counter of the family the overflow series belongs to, registered on first
    /// use: when a service is built ([`Layer::layer`](tower::Layer::layer)), so it reads 0
    /// until the first fold, not by each builder call.
    pub(crate) fn folded(&self) -> &Counter {
        self.folded.get_or_init(|| {
            let family = if self.config.naming.tmc() {
                TMC_API_REQUESTS_TOTAL.name
            } else {
                HTTP_SERVER_REQUEST_DURATION_SECONDS.name
            };
            self.collector
                .counter(&TMC_METRICS_SERIES_FOLDED_TOTAL, [family])
        })
    }

    /// The endpoint entry for a request, or `None` when its route is excluded.
    pub(crate) fn endpoint(
        &self,
        method: (usize, &'static str),
        template: Option<&str>,
    ) -> Option<Arc<Endpoint>> {
        let (index, method_label) = method;
        let Some(template) = template else {
            return Some(self.fixed(&self.unmatched[index], method_label, None));
        };
        let map = &self.by_method[index];
        if let Some(entry) = map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(template)
        {
            return entry.clone();
        }
        if self.config.excluded.contains(template) {
            map.write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(template.into(), None);
            return None;
        }
        if self.templates.load(Ordering::Relaxed) >= self.config.max_endpoints {
            self.folded().increment(1);
            return Some(self.fixed(&self.overflow[index], method_label, Some(OVERFLOW_ENDPOINT)));
        }
        let mut map = map.write().unwrap_or_else(PoisonError::into_inner);
        let label = self
            .config
            .groups
            .get(template)
            .map_or(template, String::as_str);
        map.entry(template.into())
            .or_insert_with(|| {
                self.templates.fetch_add(1, Ordering::Relaxed);
                Some(Arc::new(Endpoint::new(
                    self,
                    method_label,
                    template,
                    Some(label),
                )))
            })
            .clone()
    }

    /// As [`endpoint`](Self::endpoint), first trying the entry this route saw last, which
    /// spares the hash and the lock when one service serves one template (axum's
    /// `Router::layer` wraps each route on its own).
    #[inline]
    pub(crate) fn endpoint_cached(
        &self,
        route: &RouteState,
        method: (usize, &'static str),
        template: Option<&str>,
    ) -> Option<Arc<Endpoint>> {
        let slot = &route.last[method.0];
        if let (Some(template), Some(last)) = (template, slot.get())
            && &*last.template == template
        {
            return Some(last.clone());
        }
        let found = self.endpoint(method, template);
        if let (Some(template), Some(endpoint)) = (template, &found)
            && &*endpoint.template == template
        {
            let _ = slot.set(endpoint.clone());
        }
        found
    }

    fn fixed(
        &self,
        slot: &OnceLock<Arc<Endpoint>>,
        method: &'static str,
        label: Option<&str>,
    ) -> Arc<Endpoint> {
        slot.get_or_init(|| Arc::new(Endpoint::new(self, method, "", label)))
            .clone()
    }
}

/// What one wrapped service (one axum route, or a whole router in outer mode) keeps: the
/// layer's shared state, the endpoint each method resolved to first, and, for an endpoint
/// source with positions (a [`RouteTable`](super::RouteTable)), each position's endpoint.
#[derive(Debug)]
pub(crate) struct RouteState {
    pub(crate) shared: Arc<Shared>,
    last: [OnceLock<Arc<Endpoint>>; METHODS],
    /// By position, then method: `Some(None)` for an excluded template. Sized on the first
    /// request with a position, when the source's length is known.
    positions: OnceLock<Box<[ByMethod]>>,
}

/// One position's endpoint per method, once resolved (`None` inside: excluded).
type ByMethod = [OnceLock<Option<Arc<Endpoint>>>; METHODS];

impl RouteState {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            last: Default::default(),
            positions: OnceLock::new(),
        }
    }

    /// The endpoint of `template`, found at position `at` of the source's `positions()`
    /// templates: one load once the position was seen, whichever template the previous
    /// request had. A folded (overflow) entry is not kept, so each request it folds is
    /// counted.
    #[inline]
    pub(crate) fn endpoint_at(
        &self,
        at: usize,
        positions: impl FnOnce() -> usize,
        method: (usize, &'static str),
        template: Option<&str>,
    ) -> Option<Arc<Endpoint>> {
        let slots = self
            .positions
            .get_or_init(|| (0..positions()).map(|_| Default::default()).collect());
        let Some(slot) = slots.get(at).map(|by_method| &by_method[method.0]) else {
            return self.shared.endpoint_cached(self, method, template);
        };
        if let Some(known) = slot.get() {
            return known.clone();
        }
        let found = self.shared.endpoint(method, template);
        let keep = match &found {
            Some(endpoint) => template.is_some_and(|t| &*endpoint.template == t),
            None => true,
        };
        if keep {
            let _ = slot.set(found.clone());
        }
        found
    }
}

/// The handles of one (method, endpoint).
pub(crate) struct Endpoint {
    collector: MetricsCollector,
    pub(crate) clock: quanta::Clock,
    pub(crate) method: &'static str,
    /// The route template requests carry (empty for the fixed unmatched and overflow entries).
    template: Box<str>,
    pub(crate) label: Box<str>,
    pub(crate) in_flight: Gauge,
    /// The first status seen (usually the route's only one), read without a lock.
    first: OnceLock<(u16, Handles)>,
    others: RwLock<Vec<(u16, Handles)>>,
    /// Request and response body size histograms, made on first use (opt-in).
    sizes: OnceLock<[Histogram; 2]>,
    /// The `tmc_api_*` families are recorded (else their handles are no-ops).
    tmc: bool,
    /// The handles under OpenTelemetry's names, with `Naming::OpenTelemetry` or `Both`.
    pub(crate) otel: Option<Box<OtelEndpoint>>,
}

struct Handles {
    requests: Counter,
    duration: Histogram,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("method", &self.method)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// `label` is `None` for requests that matched no route.
    fn new(shared: &Shared, method: &'static str, template: &str, label: Option<&str>) -> Self {
        let naming = shared.config.naming;
        let tmc_label = label.unwrap_or(UNMATCHED_ENDPOINT);
        Self {
            collector: shared.collector.clone(),
            clock: shared.clock.clone(),
            method,
            template: template.into(),
            label: tmc_label.into(),
            in_flight: if naming.tmc() {
                shared
                    .collector
                    .gauge(&TMC_API_REQUESTS_IN_FLIGHT, [method, tmc_label])
            } else {
                Gauge::noop()
            },
            first: OnceLock::new(),
            others: RwLock::new(Vec::new()),
            sizes: OnceLock::new(),
            tmc: naming.tmc(),
            otel: naming.otel().then(|| {
                Box::new(OtelEndpoint::new(
                    &shared.collector,
                    method,
                    label,
                    shared.config.https,
                ))
            }),
        }
    }

    /// The request and response body size histograms of this (method, endpoint).
    pub(crate) fn sizes(&self) -> &[Histogram; 2] {
        self.sizes.get_or_init(|| {
            let labels = [self.method, &*self.label];
            let tmc = self.tmc.then(|| {
                [
                    self.collector
                        .histogram(&TMC_API_REQUEST_BODY_SIZE_BYTES, labels),
                    self.collector
                        .histogram(&TMC_API_RESPONSE_BODY_SIZE_BYTES, labels),
                ]
            });
            let otel = self.otel.as_ref().map(|otel| {
                [
                    otel.by_route(&HTTP_SERVER_REQUEST_BODY_SIZE_BYTES),
                    otel.by_route(&HTTP_SERVER_RESPONSE_BODY_SIZE_BYTES),
                ]
            });
            match (tmc, otel) {
                (Some([a, b]), Some([c, d])) => [
                    Histogram::from_arc(Arc::new(Fanout(a, c))),
                    Histogram::from_arc(Arc::new(Fanout(b, d))),
                ],
                (Some(one), None) | (None, Some(one)) => one,
                (None, None) => [Histogram::noop(), Histogram::noop()],
            }
        })
    }

    /// Counts one request with `status` and observes its duration in seconds.
    #[inline]
    pub(crate) fn record(&self, status: u16, seconds: f64) {
        let observe = |h: &Handles| {
            h.requests.increment(1);
            h.duration.record(seconds);
        };
        match self.first.get() {
            Some((s, h)) if *s == status => return observe(h),
            None => {
                let (s, h) = self.first.get_or_init(|| (status, self.handles(status)));
                if *s == status {
                    return observe(h);
                }
            }
            Some(_) => {}
        }
        {
            let others = self.others.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, h)) = others.iter().find(|(s, _)| *s == status) {
                return observe(h);
            }
        }
        let mut others = self.others.write().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, h)) = others.iter().find(|(s, _)| *s == status) {
            return observe(h);
        }
        let handles = self.handles(status);
        observe(&handles);
        others.push((status, handles));
    }

    fn handles(&self, status: u16) -> Handles {
        if !self.tmc {
            return Handles {
                requests: Counter::noop(),
                duration: Histogram::noop(),
            };
        }
        let code = status_label(status);
        let labels = [self.method, &*self.label, &*code];
        Handles {
            requests: self.collector.counter(&TMC_API_REQUESTS_TOTAL, labels),
            duration: self
                .collector
                .histogram(&TMC_API_REQUEST_DURATION_SECONDS, labels),
        }
    }
}
