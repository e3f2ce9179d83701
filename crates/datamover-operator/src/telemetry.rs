//! Logging and, with `--exemplars`, OpenTelemetry tracing: the subscriber of `run` and `demo`.
//!
//! Logs: text or JSON lines on stdout, filtered by `RUST_LOG`. With `--exemplars` a
//! `tracing-opentelemetry` layer gives the operator's own spans (requests, reconciles,
//! operations) OpenTelemetry trace and span ids: the registry keeps them as exemplars, JSON
//! log lines carry the `trace_id` of the span they were logged in, and the spans are exported
//! over OTLP (HTTP/protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, else only kept for their ids.

use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::fmt;
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// One human-readable line per event; coloured only on a terminal.
    Text,
    /// One JSON object per line, with the fields of the event and of its spans.
    Json,
}

/// Help shown after `run --help` and `demo --help`.
pub(crate) const LOG_HELP: &str = "Logging: RUST_LOG selects what is logged, in \
tracing-subscriber's EnvFilter syntax (default `info`; e.g. `RUST_LOG=debug`, \
`RUST_LOG=info,datamover=debug`). Logs go to stdout, as text (coloured only when stdout is \
a terminal) or JSON lines with --log-format json.\n\n\
Exemplars: with --exemplars, the operator's spans (API requests, reconciles, operations) get \
OpenTelemetry trace ids, the OpenMetrics exposition carries them as exemplars, and JSON log \
lines carry `trace_id`. The spans are exported over OTLP (HTTP/protobuf) when \
OTEL_EXPORTER_OTLP_ENDPOINT is set (e.g. http://collector:4318), and only kept for their ids \
otherwise.";

/// The environment variables that name an OTLP destination for traces.
const OTLP_ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// The crates whose spans get OpenTelemetry ids: the operator's own, not its libraries'
/// (hyper, h2, kube), whose spans would only cost.
fn traced_targets() -> Targets {
    Targets::new().with_targets([
        ("tmc_tower", LevelFilter::INFO),
        ("tmc_metrics", LevelFilter::INFO),
        ("tmc_runtime", LevelFilter::INFO),
        ("datamover", LevelFilter::INFO),
        ("datamover_kube", LevelFilter::INFO),
        ("datamover_operator", LevelFilter::INFO),
    ])
}

/// What must outlive the run: the tracer provider, flushed on drop.
#[derive(Debug)]
pub(crate) struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("tracing: could not flush the last spans: {e}");
        }
    }
}

/// Installs the process's subscriber. `runtime` runs the OTLP exporter's requests.
///
/// # Errors
/// An OTLP endpoint in the environment that the exporter cannot use.
pub(crate) fn init(
    format: LogFormat,
    exemplars: bool,
    runtime: &tokio::runtime::Handle,
) -> Result<Telemetry, String> {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let provider = exemplars.then(|| tracer_provider(runtime)).transpose()?;
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("datamover-operator"))
            .with_filter(traced_targets())
    });
    let fmt = tracing_subscriber::fmt::layer().with_target(false);
    let fmt = match format {
        LogFormat::Text => fmt
            .with_ansi(std::io::stdout().is_terminal())
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => fmt
            .json()
            .event_format(WithTraceId(
                tracing_subscriber::fmt::format()
                    .json()
                    .with_target(false)
                    .with_current_span(true)
                    .with_span_list(true),
            ))
            .with_filter(filter)
            .boxed(),
    };
    tracing_subscriber::registry().with(otel).with(fmt).init();
    Ok(Telemetry { provider })
}

/// A provider that samples every span; with an OTLP endpoint in the environment, it also
/// exports them in batches.
fn tracer_provider(runtime: &tokio::runtime::Handle) -> Result<SdkTracerProvider, String> {
    let builder = SdkTracerProvider::builder();
    let exporting = OTLP_ENDPOINT_VARS
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if !exporting {
        return Ok(builder.build());
    }
    use opentelemetry_otlp::WithHttpConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(OnRuntime {
            runtime: runtime.clone(),
            client: opentelemetry_http::hyper::HyperClient::with_default_connector(
                std::time::Duration::from_secs(10),
                None,
            ),
        })
        .build()
        .map_err(|e| format!("OTLP exporter: {e}"))?;
    Ok(builder.with_batch_exporter(exporter).build())
}

/// The hyper client of `opentelemetry-http`, run on the operator's runtime: the batch
/// exporter calls it from its own thread, where hyper finds no reactor.
#[derive(Debug)]
struct OnRuntime {
    runtime: tokio::runtime::Handle,
    client: opentelemetry_http::hyper::HyperClient,
}

impl opentelemetry_http::HttpClient for OnRuntime {
    fn send_bytes<'a, 'b>(
        &'a self,
        request: axum::http::Request<axum::body::Bytes>,
    ) -> std::pin::Pin<
        Box<
            dyn Future<
                    Output = Result<
                        axum::http::Response<axum::body::Bytes>,
                        opentelemetry_http::HttpError,
                    >,
                > + Send
                + 'b,
        >,
    >
    where
        'a: 'b,
        Self: 'b,
    {
        let client = self.client.clone();
        let sent = self
            .runtime
            .spawn(async move { client.send_bytes(request).await });
        Box::pin(async move { sent.await? })
    }
}

/// The JSON line of `F` with `"trace_id"` added: the OpenTelemetry trace id of the span the
/// event was logged in, when it has one.
struct WithTraceId<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceId<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some(trace_id) = trace_id(ctx) else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_suffix("}\n") {
            Some(object) => writeln!(writer, "{object},\"trace_id\":\"{trace_id}\"}}"),
            None => writer.write_str(&line),
        }
    }
}

/// The trace id of the innermost span around the event being formatted, if it has a valid OpenTelemetry
/// context.
fn trace_id<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let id = ctx.event_scope()?.next()?.id();
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    let cx = tracing_opentelemetry::get_otel_context(&id, &dispatch)?;
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}
