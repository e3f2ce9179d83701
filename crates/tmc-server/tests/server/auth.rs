//! Bearer tokens and custom authorizers: 401, 403 and 200, probes let through when
//! configured, the authorizer asked with method, path and token.

use crate::helpers::*;
use std::sync::Arc;
use tmc_server::auth::{AuthDecision, AuthFuture, AuthRequest, Authorizer};
use tmc_server::health::HealthMonitor;
use tmc_server::{MetricsConfig, MetricsServer};
use tmc_test_support::TempDir;

#[tokio::test]
async fn metrics_server_should_answer_401_without_a_token_403_with_a_wrong_one_and_200_with_the_right_one()
 {
    let dir = TempDir::new("token");
    let token_file = dir.write("token", "s3cret-token\n");
    let config = MetricsConfig {
        token_file: Some(token_file),
        ..MetricsConfig::default()
    };
    let metrics = metrics();
    metrics.collector().record_runtime_tasks(7);
    let server = MetricsServer::new(&config, metrics, HealthMonitor::new()).unwrap();
    let running = Running::start(server).await;
    let addr = running.addr;

    let reply = get(addr, "/metrics", None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        reply.body,
        "Unauthorized: expected an `Authorization: Bearer <token>` header\n"
    );
    let reply = get(addr, "/metrics", Some("wrong-token")).await;
    assert_eq!((reply.status, reply.body.as_str()), (403, "Forbidden\n"));
    let reply = get(addr, "/metrics", Some("s3cret-token")).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .body
            .contains("# TYPE tmc_runtime_tasks gauge\ntmc_runtime_tasks 7\n"),
        "{}",
        reply.body
    );

    // Probes are protected unless configured otherwise; so are unknown paths.
    assert_eq!(get(addr, "/healthz", None).await.status, 401);
    assert_eq!(get(addr, "/readyz", None).await.status, 401);
    assert_eq!(
        get(addr, "/metrics/summary", Some("wrong-token"))
            .await
            .status,
        403
    );
    assert_eq!(get(addr, "/nope", None).await.status, 401);
    assert_eq!(
        get(addr, "/healthz", Some("s3cret-token")).await.status,
        200
    );
    running.shutdown().await;
}

#[tokio::test]
async fn metrics_server_should_let_probes_through_when_configured() {
    let dir = TempDir::new("token-probes");
    let config = MetricsConfig {
        token_file: Some(dir.write("token", "t0ken")),
        allow_unauthenticated_probes: true,
        ..MetricsConfig::default()
    };
    let server = MetricsServer::new(&config, metrics(), HealthMonitor::new()).unwrap();
    let running = Running::start(server).await;
    assert_eq!(get(running.addr, "/healthz", None).await.status, 200);
    assert_eq!(get(running.addr, "/readyz", None).await.status, 200);
    assert_eq!(get(running.addr, "/metrics", None).await.status, 401);
    assert_eq!(
        get(running.addr, "/metrics/summary", None).await.status,
        401
    );
    running.shutdown().await;
}

/// Allows a token on `/metrics` only, recording what it was asked: a stand-in for a
/// TokenReview and SubjectAccessReview authorizer.
#[derive(Debug, Default)]
struct MetricsOnly {
    asked: std::sync::Mutex<Vec<String>>,
}

impl Authorizer for MetricsOnly {
    fn authorize<'a>(&'a self, request: AuthRequest<'a>) -> AuthFuture<'a> {
        Box::pin(async move {
            self.asked.lock().unwrap().push(format!(
                "{} {} {:?}",
                request.method, request.path, request.token
            ));
            match (request.token, request.path) {
                (None, _) => AuthDecision::Unauthenticated,
                (Some(_), "/metrics") => AuthDecision::Allow,
                (Some(_), _) => AuthDecision::Forbidden,
            }
        })
    }
}

#[tokio::test]
async fn metrics_server_should_ask_a_custom_authorizer_with_method_path_and_token() {
    let authorizer = Arc::new(MetricsOnly::default());
    #[derive(Debug)]
    struct Shared(Arc<MetricsOnly>);
    impl Authorizer for Shared {
        fn authorize<'a>(&'a self, request: AuthRequest<'a>) -> AuthFuture<'a> {
            self.0.authorize(request)
        }
    }
    let server = MetricsServer::new(&MetricsConfig::default(), metrics(), HealthMonitor::new())
        .unwrap()
        .with_authorizer(Shared(authorizer.clone()));
    let running = Running::start(server).await;
    assert_eq!(get(running.addr, "/metrics", Some("any")).await.status, 200);
    assert_eq!(
        get(running.addr, "/metrics/summary", Some("any"))
            .await
            .status,
        403
    );
    assert_eq!(get(running.addr, "/metrics", None).await.status, 401);
    assert_eq!(
        *authorizer.asked.lock().unwrap(),
        [
            "GET /metrics Some(\"any\")",
            "GET /metrics/summary Some(\"any\")",
            "GET /metrics None"
        ]
    );
    running.shutdown().await;
}
