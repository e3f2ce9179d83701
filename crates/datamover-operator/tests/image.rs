//! The image recipe, checked without Docker (no daemon runs here): the Dockerfile and the
//! manifests `deploy/kustomization.yaml` lists agree on the image name and tag, the user,
//! the arguments (flags the built binary's `--help` knows) and the ports (the binary's
//! default metrics port).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The Dockerfile's instructions (continuation lines joined, comments dropped), and the
/// `docker build -t NAME:TAG .` its comments document.
struct Dockerfile {
    instructions: Vec<(String, String)>,
    documented_tag: Option<String>,
}

impl Dockerfile {
    fn parse(text: &str) -> Self {
        let mut instructions = Vec::new();
        let mut documented_tag = None;
        let mut pending = String::new();
        for line in text.lines() {
            let trimmed = line.trim();
            if let Some(comment) = trimmed.strip_prefix('#') {
                let words: Vec<&str> = comment.split_whitespace().collect();
                if let ["docker", "build", "-t", tag, "."] = words.as_slice() {
                    documented_tag = Some((*tag).to_owned());
                }
                continue;
            }
            if trimmed.is_empty() {
                continue;
            }
            match trimmed.strip_suffix('\\') {
                Some(head) => pending.push_str(head),
                None => {
                    pending.push_str(trimmed);
                    let (keyword, rest) = pending.split_once(char::is_whitespace).unwrap();
                    instructions.push((keyword.to_uppercase(), rest.trim().to_owned()));
                    pending.clear();
                }
            }
        }
        Self {
            instructions,
            documented_tag,
        }
    }

    /// The arguments of the last `keyword` of the final stage.
    fn last(&self, keyword: &str) -> &str {
        let final_stage = self
            .instructions
            .iter()
            .rposition(|(k, _)| k == "FROM")
            .unwrap();
        self.instructions[final_stage..]
            .iter()
            .rev()
            .find(|(k, _)| k == keyword)
            .map(|(_, rest)| rest.as_str())
            .unwrap_or_else(|| panic!("the Dockerfile's final stage has no {keyword}"))
    }

    /// An exec-form (JSON array) `ENTRYPOINT` or `CMD`.
    fn exec_form(&self, keyword: &str) -> Vec<String> {
        let rest = self.last(keyword);
        serde_json::from_str(rest).unwrap_or_else(|e| {
            panic!(
                "the Dockerfile's {keyword} `{rest}` is not a JSON array ({e}): use the exec form"
            )
        })
    }
}

/// Every object of every YAML file `deploy/kustomization.yaml` lists, and the kustomization.
fn deploy() -> (Value, Vec<Value>) {
    let dir = workspace().join("deploy");
    let kustomization: Value =
        yaml_serde::from_str(&read(&dir.join("kustomization.yaml"))).unwrap();
    let mut objects = Vec::new();
    for resource in kustomization["resources"].as_array().unwrap() {
        let text = read(&dir.join(resource.as_str().unwrap()));
        for document in yaml_serde::Deserializer::from_str(&text) {
            let value: Value =
                yaml_serde::from_value(yaml_serde::Value::deserialize(document).unwrap()).unwrap();
            if !value.is_null() {
                objects.push(value);
            }
        }
    }
    (kustomization, objects)
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "deploy/ has one {kind}");
    found[0]
}

/// The manager container: the Deployment's only one.
fn manager(objects: &[Value]) -> &Value {
    let containers = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1, "one container in the Deployment");
    &containers[0]
}

/// A flag of a `--help` page: does it take a value, and which values it accepts (empty:
/// any).
#[derive(Debug, Default)]
struct Flag {
    takes_value: bool,
    values: Vec<String>,
}

/// The long flags `datamover-operator SUBCOMMAND --help` prints, from the built binary.
fn help_flags(subcommand: &str) -> BTreeMap<String, Flag> {
    let out = Command::new(env!("CARGO_BIN_EXE_datamover-operator"))
        .args([subcommand, "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "`datamover-operator {subcommand} --help` failed: is `{subcommand}` a subcommand?\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut flags = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_values = false;
    for line in help.lines() {
        let trimmed = line.trim();
        let flag_line = trimmed.strip_prefix("-h, ").unwrap_or(trimmed);
        // Flags are indented 2 (`-h, --help`) or 6 columns; their descriptions 10.
        let indent = line.len() - line.trim_start().len();
        if let Some(spec) = flag_line.strip_prefix("--").filter(|_| indent <= 6) {
            let mut words = spec.split_whitespace();
            let name = words.next().unwrap().to_owned();
            let takes_value = words.next().is_some_and(|w| w.starts_with('<'));
            flags.insert(
                name.clone(),
                Flag {
                    takes_value,
                    values: Vec::new(),
                },
            );
            current = Some(name);
            in_values = false;
        } else if trimmed == "Possible values:" {
            in_values = true;
        } else if in_values && let Some(value) = trimmed.strip_prefix("- ") {
            let value = value.split(':').next().unwrap().trim().to_owned();
            flags
                .get_mut(current.as_ref().unwrap())
                .unwrap()
                .values
                .push(value);
        } else {
            in_values = false;
        }
    }
    assert!(flags.len() > 1, "no flags in:\n{help}");
    flags
}

/// Arguments `SUBCOMMAND --flag[=value] ...` that the binary's help does not accept.
fn argument_problems(origin: &str, args: &[String]) -> Vec<String> {
    let Some((subcommand, flags)) = args.split_first() else {
        return vec![format!("{origin}: no subcommand")];
    };
    let known = help_flags(subcommand);
    let mut problems = Vec::new();
    let mut rest = flags.iter();
    while let Some(arg) = rest.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            problems.push(format!("{origin}: `{arg}` is not a --flag"));
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (flag, None),
        };
        let Some(spec) = known.get(name) else {
            problems.push(format!(
                "{origin}: `--{name}` is not a flag of `datamover-operator {subcommand}` (it knows {:?})",
                known.keys().collect::<Vec<_>>()
            ));
            continue;
        };
        let value = match (spec.takes_value, inline) {
            (true, Some(value)) => Some(value),
            (true, None) => rest.next().cloned(),
            (false, Some(_)) => {
                problems.push(format!("{origin}: `--{name}` takes no value"));
                None
            }
            (false, None) => None,
        };
        if spec.takes_value && value.is_none() {
            problems.push(format!("{origin}: `--{name}` needs a value"));
        }
        if let Some(value) = value
            && !spec.values.is_empty()
            && !spec.values.contains(&value)
        {
            problems.push(format!(
                "{origin}: `--{name}={value}`: the binary accepts {:?}",
                spec.values
            ));
        }
    }
    problems
}

#[test]
fn the_image_name_and_tag_are_the_ones_the_dockerfile_documents() {
    let dockerfile = Dockerfile::parse(&read(&workspace().join("Dockerfile")));
    let (kustomization, objects) = deploy();
    let image = manager(&objects)["image"].as_str().unwrap();
    let name = image.split(':').next().unwrap();
    let rewrite = kustomization["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("deploy/kustomization.yaml sets no image for `{name}`"));
    let deployed = format!(
        "{}:{}",
        rewrite["newName"].as_str().unwrap_or(name),
        rewrite["newTag"].as_str().unwrap()
    );
    assert_eq!(
        dockerfile.documented_tag.as_deref(),
        Some(deployed.as_str()),
        "the Dockerfile's `docker build -t NAME:TAG .` is not the image deploy/kustomization.yaml deploys"
    );
    // INSTALL.md gives the same command.
    let install = read(&workspace().join("crates/datamover-kube/INSTALL.md"));
    assert!(
        install.contains(&format!("docker build -t {deployed} .")),
        "INSTALL.md does not give `docker build -t {deployed} .`"
    );
    // The entrypoint is the binary the final stage copies in.
    let entrypoint = dockerfile.exec_form("ENTRYPOINT");
    let copied = dockerfile.last("COPY").split_whitespace().last().unwrap();
    assert_eq!(entrypoint, [copied]);
    assert!(copied.ends_with("/datamover-operator"), "{copied}");
}

#[test]
fn the_dockerfile_user_is_the_deployment_run_as_user_and_group() {
    let dockerfile = Dockerfile::parse(&read(&workspace().join("Dockerfile")));
    let (_, objects) = deploy();
    let pod = &one(&objects, "Deployment")["spec"]["template"]["spec"];
    let security = &manager(&objects)["securityContext"];
    let field = |name: &str| {
        let value = &security[name];
        let value = if value.is_null() {
            &pod["securityContext"][name]
        } else {
            value
        };
        value
            .as_u64()
            .unwrap_or_else(|| panic!("the Deployment sets no {name}"))
    };
    let deployment_user = format!("{}:{}", field("runAsUser"), field("runAsGroup"));
    assert_eq!(
        dockerfile.last("USER"),
        deployment_user,
        "the Dockerfile's USER is not deploy/manager/deployment.yaml's runAsUser:runAsGroup"
    );
    assert_ne!(field("runAsUser"), 0, "not root");
    assert_eq!(security["runAsNonRoot"], true);
}

#[test]
fn the_entrypoint_arguments_are_flags_the_binary_knows() {
    let dockerfile = Dockerfile::parse(&read(&workspace().join("Dockerfile")));
    let (_, objects) = deploy();
    let container = manager(&objects);
    assert!(
        container["command"].is_null(),
        "the Dockerfile's ENTRYPOINT runs"
    );
    let args: Vec<String> = serde_json::from_value(container["args"].clone()).unwrap();
    let mut problems = argument_problems("Deployment args", &args);
    problems.extend(argument_problems(
        "Dockerfile CMD",
        &dockerfile.exec_form("CMD"),
    ));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check above can fail: an unknown flag, a value a flag does not accept, a missing
/// value, and a value given to a switch are each named.
#[test]
fn arguments_the_binary_does_not_know_are_named() {
    let args: Vec<String> = [
        "run",
        "--backend=cluster",
        "--leader",
        "--leader-elect=yes",
        "--data-dir",
    ]
    .map(String::from)
    .to_vec();
    let problems = argument_problems("args", &args);
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert_eq!(
        problems[0],
        "args: `--backend=cluster`: the binary accepts [\"embedded\", \"kubernetes\"]"
    );
    assert!(problems[1].starts_with("args: `--leader` is not a flag of `datamover-operator run` (it knows [\"allow-host-path\", "), "{}", problems[1]);
    assert_eq!(problems[2], "args: `--leader-elect` takes no value");
    assert_eq!(problems[3], "args: `--data-dir` needs a value");
}

#[test]
fn the_ports_are_the_binary_default_metrics_port() {
    // What `run` listens on without --metrics-bind-address.
    let default_port = u64::from(tmc_server::config::DEFAULT_PORT);
    let dockerfile = Dockerfile::parse(&read(&workspace().join("Dockerfile")));
    let (_, objects) = deploy();
    let container = manager(&objects);
    let metrics = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "metrics")
        .expect("the container names a `metrics` port");
    assert_eq!(metrics["containerPort"], default_port);
    let args: Vec<String> = serde_json::from_value(container["args"].clone()).unwrap();
    if let Some(address) = args
        .iter()
        .find_map(|a| a.strip_prefix("--metrics-bind-address="))
    {
        let port: u64 = address.rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(port, default_port, "--metrics-bind-address={address}");
    }
    let exposed: Vec<u64> = dockerfile
        .last("EXPOSE")
        .split_whitespace()
        .map(|p| p.trim_end_matches("/tcp").parse().unwrap())
        .collect();
    assert_eq!(exposed, [default_port]);
    let service = one(&objects, "Service");
    for port in service["spec"]["ports"].as_array().unwrap() {
        assert_eq!(port["port"], default_port, "Service port {port}");
        assert_eq!(port["targetPort"], "metrics", "Service port {port}");
    }
}
