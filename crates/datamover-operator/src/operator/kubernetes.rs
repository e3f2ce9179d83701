//! `run --backend kubernetes`: the same controllers over kube-runtime's caches, behind an
//! optional leader election, with the metrics endpoint's TokenReview authorizer.

use super::{Observability, RunArgs, finish, metrics_url, report_result, shutdown_signal};
use crate::controllers;
use std::sync::Arc;

pub(super) async fn serve_kubernetes(args: RunArgs) -> Result<(), String> {
    let obs = Observability::new(&args)?;
    let cluster = datamover_kube::connect(obs.metrics.collector(), datamover_kube::Options::default())
        .await
        .map_err(|e| format!("cannot reach the Kubernetes API: {e} (in a pod: the ServiceAccount; elsewhere: KUBECONFIG)"))?;
    let _watches = cluster.spawn_watches();
    let synced = cluster.clone();
    obs.health
        .readiness_gate("caches synced", move || synced.is_synced());
    let authorizer = args.metrics_kube_auth.then(|| {
        KubeAuthorizer(datamover_kube::auth::TokenReviewAuthorizer::new(
            cluster.client().clone(),
            obs.metrics.collector(),
        ))
    });
    let mut manager = controllers::manager(&obs.metrics)?;
    let stop = manager.shutdown_token();
    let serving = obs.start(authorizer, &stop).await?;
    tracing::info!(metrics = %metrics_url(&obs.config), leader_elect = args.leader_elect, "datamover-operator started (kubernetes backend)");

    let elector = args.leader_elect.then(|| {
        let namespace =
            std::env::var("POD_NAMESPACE").unwrap_or_else(|_| "datamover-operator-system".into());
        let pod = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "datamover-operator".into());
        let identity = format!("{pod}_{:x}", datamover::time::now_ms());
        Arc::new(datamover_kube::leader::LeaderElector::new(
            cluster.client().clone(),
            &namespace,
            "datamover-operator-leader",
            &identity,
            obs.metrics.collector(),
        ))
    });
    let signal = shutdown_signal();
    tokio::pin!(signal);
    if let Some(elector) = &elector {
        tracing::info!("waiting to become the leader");
        tokio::select! {
            () = elector.acquire() => tracing::info!("became the leader"),
            () = &mut signal => {
                stop.cancel();
                finish(serving).await;
                return Ok(());
            }
        }
        // Losing the lease stops every controller: another replica takes over.
        let held = Arc::clone(elector);
        manager.task("leader", move |stop| async move {
            tokio::select! {
                lost = held.hold() => Err(format!(
                    "lost the leader lease: {lost}; exiting so another replica takes over"
                )),
                () = stop.cancelled() => Ok(()),
            }
        });
    }
    let schedule_watches = cluster.spawn_schedule_watches();
    let shared = Arc::new(cluster.clone());
    controllers::datamovers(
        &mut manager,
        (cluster.clone(), cluster.clone(), cluster.clone()),
        Arc::clone(&shared),
        &obs.metrics,
        args.concurrency,
    )?;
    controllers::schedules(
        &mut manager,
        cluster.clone(),
        (cluster.clone(), cluster.clone()),
        shared,
        &obs.metrics,
    );
    controllers::kube_restores(&mut manager, &cluster, &obs.metrics);
    let report = manager.run(signal).await;
    tracing::info!("shut down: {report}");
    schedule_watches.abort();
    if let Some(elector) = &elector {
        let _ = elector.release().await;
    }
    finish(serving).await;
    report_result(&report)
}

/// TokenReview + SubjectAccessReview as the metrics endpoint's authorizer.
#[derive(Debug)]
pub(super) struct KubeAuthorizer(datamover_kube::auth::TokenReviewAuthorizer);

impl tmc_server::auth::Authorizer for KubeAuthorizer {
    fn authorize<'a>(
        &'a self,
        request: tmc_server::auth::AuthRequest<'a>,
    ) -> tmc_server::auth::AuthFuture<'a> {
        use datamover_kube::auth::Decision;
        use tmc_server::auth::AuthDecision;
        Box::pin(async move {
            match self
                .0
                .authorize_request(request.token, request.method, request.path)
                .await
            {
                Decision::Allow => AuthDecision::Allow,
                Decision::Unauthenticated => AuthDecision::Unauthenticated,
                Decision::Forbidden => AuthDecision::Forbidden,
            }
        })
    }
}
