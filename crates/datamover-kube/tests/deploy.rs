//! `deploy/` is a kustomization: `kubectl kustomize deploy/` renders it, and the rendered
//! objects reference each other correctly. Without kubectl it fails, naming the install
//! command.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn render() -> Vec<Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = match std::process::Command::new("kubectl")
        .args(["kustomize", "deploy/"])
        .current_dir(&root)
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!(
            "kubectl is missing ({e}): install it with `apt-get install -y kubernetes-client` (scripts/test.sh installs what the tests need when run as root)"
        ),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    yaml_serde::Deserializer::from_str(&text)
        .map(|d| {
            yaml_serde::from_value::<Value>(yaml_serde::Value::deserialize(d).unwrap()).unwrap()
        })
        .filter(|v| !v.is_null())
        .collect()
}

use serde::Deserialize;

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind}");
    found[0]
}

fn numbers_as_f64(v: Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.into_iter().map(numbers_as_f64).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k, numbers_as_f64(v))).collect())
        }
        other => other,
    }
}

fn matches(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .unwrap()
        .iter()
        .all(|(k, v)| &labels[k] == v)
}

#[test]
fn the_rendered_objects_reference_each_other() {
    let objects = render();
    let ns = one(&objects, "Namespace")["metadata"]["name"].clone();
    assert_eq!(ns, "datamover-operator-system");
    // The three generated CRDs, exactly: DataMover, DataMoverSchedule, DataMoverPopulator.
    let crds: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .collect();
    let files = datamover_kube::crd::crd_files();
    assert_eq!(crds.len(), files.len(), "one CRD per generated file");
    for (file, text) in files {
        let generated: Value =
            yaml_serde::from_value(yaml_serde::from_str::<yaml_serde::Value>(&text).unwrap())
                .unwrap();
        let rendered = crds
            .iter()
            .find(|c| c["metadata"]["name"] == generated["metadata"]["name"])
            .unwrap_or_else(|| panic!("deploy/ does not render crd/{file}"));
        // kubectl prints the schema's `minimum: 0.0` as 0: compare numbers as numbers.
        assert_eq!(
            numbers_as_f64((*rendered).clone()),
            numbers_as_f64(generated),
            "{file}"
        );
    }

    let sa = one(&objects, "ServiceAccount");
    let deployment = one(&objects, "Deployment");
    let pod = &deployment["spec"]["template"];
    assert_eq!(pod["spec"]["serviceAccountName"], sa["metadata"]["name"]);
    assert_eq!(deployment["metadata"]["namespace"], ns);
    assert_eq!(sa["metadata"]["namespace"], ns);
    assert!(matches(
        &deployment["spec"]["selector"]["matchLabels"],
        &pod["metadata"]["labels"]
    ));

    // Every binding names the ServiceAccount and a role that exists.
    for kind in ["RoleBinding", "ClusterRoleBinding"] {
        for b in objects.iter().filter(|o| o["kind"] == kind) {
            let subject = &b["subjects"][0];
            assert_eq!(subject["kind"], "ServiceAccount");
            assert_eq!(subject["name"], sa["metadata"]["name"]);
            assert_eq!(subject["namespace"], ns);
            let role = &b["roleRef"];
            assert!(
                objects
                    .iter()
                    .any(|o| o["kind"] == role["kind"] && o["metadata"]["name"] == role["name"]),
                "{kind} {} names a missing {}",
                b["metadata"]["name"],
                role["name"]
            );
        }
    }

    // The metrics Service: the name the scrape config uses, selecting the pods, on a named
    // container port the probes use too.
    let service = one(&objects, "Service");
    assert_eq!(
        service["metadata"]["name"],
        "datamover-operator-controller-manager-metrics-service"
    );
    assert_eq!(service["metadata"]["namespace"], ns);
    assert!(matches(
        &service["spec"]["selector"],
        &pod["metadata"]["labels"]
    ));
    let container = &pod["spec"]["containers"][0];
    let ports: BTreeSet<&str> = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let target = service["spec"]["ports"][0]["targetPort"].as_str().unwrap();
    assert!(
        ports.contains(target),
        "Service targetPort {target} is not a container port"
    );
    assert_eq!(service["spec"]["ports"][0]["port"], 8080);
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path);
        assert!(
            ports.contains(get["port"].as_str().unwrap()),
            "{probe} port"
        );
    }
    // One scheme everywhere: the TLS flags, the mounted Secret, the probes and the
    // ServiceMonitor agree, so the shipped scrape works as shipped.
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let cert = args
        .iter()
        .find_map(|a| a.strip_prefix("--metrics-tls-cert="));
    let scheme = if cert.is_some() { "HTTPS" } else { "HTTP" };
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(
            container[probe]["httpGet"]["scheme"]
                .as_str()
                .unwrap_or("HTTP"),
            scheme,
            "{probe} scheme"
        );
    }
    if let Some(cert) = cert {
        assert!(
            args.iter().any(|a| a.starts_with("--metrics-tls-key=")),
            "a certificate without a key"
        );
        let mount = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| cert.starts_with(m["mountPath"].as_str().unwrap()))
            .expect("the certificate's directory is mounted");
        let volume = pod["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        assert_eq!(
            volume["secret"]["secretName"],
            "datamover-operator-metrics-tls"
        );
    }
    if let Some(monitor) = objects.iter().find(|o| o["kind"] == "ServiceMonitor") {
        assert_eq!(
            monitor["spec"]["endpoints"][0]["scheme"]
                .as_str()
                .unwrap()
                .to_uppercase(),
            scheme
        );
        if args.contains(&"--metrics-kube-auth") {
            assert!(
                monitor["spec"]["endpoints"][0]["bearerTokenFile"].is_string(),
                "the scrape sends no token"
            );
        }
    }
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let prometheus = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus/prometheus.yml"),
    )
    .unwrap();
    assert!(prometheus.contains(
        "datamover-operator-controller-manager-metrics-service.datamover-operator-system.svc:8080"
    ));

    // The ServiceMonitor selects the Service and names one of its ports.
    if let Some(monitor) = objects.iter().find(|o| o["kind"] == "ServiceMonitor") {
        assert!(matches(
            &monitor["spec"]["selector"]["matchLabels"],
            &service["metadata"]["labels"]
        ));
        let port = &monitor["spec"]["endpoints"][0]["port"];
        assert!(
            service["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| &p["name"] == port)
        );
    }
}

/// Least privilege: the manager's `ClusterRole` grants exactly the verbs the backend uses.
#[test]
fn rbac_grants_exactly_the_verbs_used() {
    let objects = render();
    let rules = |name: &str| -> BTreeSet<String> {
        let role = objects
            .iter()
            .find(|o| o["metadata"]["name"] == name)
            .unwrap();
        let mut out = BTreeSet::new();
        for r in role["rules"].as_array().unwrap() {
            for group in r["apiGroups"].as_array().into_iter().flatten() {
                for res in r["resources"].as_array().unwrap() {
                    for verb in r["verbs"].as_array().unwrap() {
                        out.insert(format!(
                            "{}/{} {}",
                            group.as_str().unwrap(),
                            res.as_str().unwrap(),
                            verb.as_str().unwrap()
                        ));
                    }
                }
            }
        }
        out
    };
    let expected: BTreeSet<String> = [
        "datamover.a-cup-of.coffee/datamovers get",
        "datamover.a-cup-of.coffee/datamovers list",
        "datamover.a-cup-of.coffee/datamovers watch",
        "datamover.a-cup-of.coffee/datamovers create",
        "datamover.a-cup-of.coffee/datamovers delete",
        "datamover.a-cup-of.coffee/datamovers/status patch",
        "datamover.a-cup-of.coffee/datamoverschedules list",
        "datamover.a-cup-of.coffee/datamoverschedules watch",
        "datamover.a-cup-of.coffee/datamoverschedules/status patch",
        "datamover.a-cup-of.coffee/datamoverpopulators list",
        "datamover.a-cup-of.coffee/datamoverpopulators watch",
        "/persistentvolumes patch",
        "/persistentvolumeclaims get",
        "/persistentvolumeclaims list",
        "/persistentvolumeclaims watch",
        "/persistentvolumeclaims create",
        "/persistentvolumeclaims delete",
        "/secrets list",
        "/secrets watch",
        "/pods list",
        "storage.k8s.io/storageclasses get",
        // copyMethod: Snapshot.
        "snapshot.storage.k8s.io/volumesnapshots get",
        "snapshot.storage.k8s.io/volumesnapshots create",
        "snapshot.storage.k8s.io/volumesnapshots delete",
        "batch/jobs get",
        "batch/jobs list",
        "batch/jobs watch",
        "batch/jobs create",
        // A schedule's finished prune Job, once its outcome is in the schedule's status.
        "batch/jobs delete",
        "events.k8s.io/events create",
        "events.k8s.io/events patch",
        "authentication.k8s.io/tokenreviews create",
        "authorization.k8s.io/subjectaccessreviews create",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(rules("datamover-operator-manager-role"), expected);
    let lease: BTreeSet<String> = ["get", "create", "update"]
        .iter()
        .map(|v| format!("coordination.k8s.io/leases {v}"))
        .collect();
    assert_eq!(rules("datamover-operator-leader-election-role"), lease);
}

/// The token Prometheus sends: its pod's `ServiceAccount` token.
const TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// The monitoring pack scrapes the operator as `deploy/` runs it: the scrape config
/// (`deploy/prometheus/prometheus.yml`), the ServiceMonitor, the Service and the Deployment
/// agree on the scheme (HTTPS: the operator is started with a certificate), the CA (the
/// certificate's Secret), the token (checked by `TokenReview`; the metrics-reader `ClusterRole`
/// allows it) and the port.
#[test]
fn the_scrape_config_service_monitor_and_deployment_agree() {
    let objects = render();
    let deployment = one(&objects, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let arg = |flag: &str| args.iter().find_map(|a| a.strip_prefix(flag));
    assert!(arg("--metrics-tls-cert=").is_some() && arg("--metrics-tls-key=").is_some());
    assert!(args.contains(&"--metrics-kube-auth"), "{args:?}");
    let bind_port: u64 = arg("--metrics-bind-address=")
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let metrics_port = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "metrics")
        .unwrap();
    assert_eq!(metrics_port["containerPort"], bind_port);
    let cert_dir = arg("--metrics-tls-cert=")
        .unwrap()
        .rsplit_once('/')
        .unwrap()
        .0;
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == cert_dir)
        .unwrap();
    let tls_secret = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap()["secret"]["secretName"]
        .clone();

    let service = objects.iter().find(|o| o["kind"] == "Service").unwrap();
    let https = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "https")
        .unwrap();
    assert_eq!(https["targetPort"], "metrics");
    let host = format!(
        "{}.{}.svc",
        service["metadata"]["name"].as_str().unwrap(),
        service["metadata"]["namespace"].as_str().unwrap()
    );

    let monitor = one(&objects, "ServiceMonitor");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(
        (&endpoint["port"], &endpoint["scheme"], &endpoint["path"]),
        (&"https".into(), &"https".into(), &"/metrics".into())
    );
    let tls = &endpoint["tlsConfig"];
    assert!(
        tls["insecureSkipVerify"].is_null(),
        "verify the certificate"
    );
    assert_eq!(tls["ca"]["secret"]["name"], tls_secret);
    assert_eq!(tls["ca"]["secret"]["key"], "ca.crt");
    assert_eq!(tls["serverName"], host.as_str());
    assert_eq!(endpoint["bearerTokenFile"], TOKEN);

    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus/prometheus.yml"),
    )
    .unwrap();
    let config: Value = yaml_serde::from_str(&text).unwrap();
    let job = config["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "datamover-operator")
        .unwrap();
    assert_eq!(job["scheme"], "https");
    assert_eq!(job["metrics_path"], "/metrics");
    assert!(job["tls_config"]["ca_file"].is_string());
    assert!(job["tls_config"]["insecure_skip_verify"].is_null());
    assert_eq!(job["tls_config"]["server_name"], host.as_str());
    assert_eq!(job["authorization"]["type"], "Bearer");
    assert_eq!(job["authorization"]["credentials_file"], TOKEN);
    assert_eq!(
        job["static_configs"][0]["targets"],
        serde_json::json!([format!("{host}:{}", https["port"])])
    );

    // The token is allowed: the metrics-reader ClusterRole grants what the
    // SubjectAccessReview asks (get /metrics).
    let reader = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "datamover-operator-metrics-reader")
        .unwrap();
    assert_eq!(
        reader["rules"],
        serde_json::json!([{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}])
    );
}
