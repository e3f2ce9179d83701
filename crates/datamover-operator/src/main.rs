//! `datamover-operator`: drives DataMover resources through their phases, moves the data with
//! rclone, and serves its metrics. `datamover-operator demo` shows it working on one machine.

mod api;
mod auth;
mod backups;
mod client;
mod control;
mod controllers;
mod demo;
mod listen;
mod operator;
mod output;
mod page;
mod store_health;
mod table;
mod telemetry;

use clap::{Args, Parser, Subcommand};
use datamover::types::Kind;
use std::path::PathBuf;
use std::process::ExitCode;

/// The DataMover operator, on its embedded default: no Kubernetes needed.
#[derive(Parser, Debug)]
#[command(name = "datamover-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controller, the metrics endpoint and the resource API.
    #[command(after_help = telemetry::LOG_HELP)]
    Run(operator::RunArgs),
    /// Run the operator with a bundled example: sample data, a secret with a local
    /// destination and a DataMover, driven to Completed; then keep serving.
    #[command(after_help = telemetry::LOG_HELP)]
    Demo(operator::RunArgs),
    /// Print the DataMover `CustomResourceDefinition` (as in `deploy/crd/datamover.yaml`).
    Crd,
    /// Create or update resources from YAML files, a directory of them, or `-` (stdin).
    Apply {
        /// File, directory or `-`.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        #[command(flatten)]
        server: client::ServerArg,
    },
    /// Create resources that do not exist yet (nothing is stored if one does).
    Create {
        /// File, directory or `-`.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        #[command(flatten)]
        server: client::ServerArg,
    },
    /// List resources, or show one.
    Get {
        /// What to list.
        #[arg(value_enum)]
        kind: output::KindArg,
        /// A name, to show one.
        name: Option<String>,
        #[command(flatten)]
        select: Select,
        /// List every namespace (ignores `-n`).
        #[arg(short = 'A', long = "all-namespaces")]
        all_namespaces: bool,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
        output: output::Format,
        /// After listing, print each change as it happens, until Ctrl-C.
        #[arg(short = 'w', long = "watch")]
        watch: bool,
        /// With `get backups`: whose destination to list.
        #[command(flatten)]
        source: backups::Source,
    },
    /// Show one resource in detail, with its conditions.
    Describe {
        /// The kind.
        #[arg(value_enum)]
        kind: output::KindArg,
        /// The name.
        name: String,
        #[command(flatten)]
        select: Select,
    },
    /// Print the status page's link, signed in with the API token: open it in a browser.
    PageUrl {
        #[command(flatten)]
        server: client::ServerArg,
    },
    /// Start a run of a schedule now (skipped while one of its runs is active).
    Trigger {
        /// What to trigger.
        #[arg(value_enum)]
        kind: TriggerKind,
        /// The schedule's name.
        name: String,
        #[command(flatten)]
        select: Select,
    },
    /// Stop a schedule starting new runs (`spec.suspend: true`); an active run goes on.
    Suspend {
        /// What to suspend.
        #[arg(value_enum)]
        kind: TriggerKind,
        /// The schedule's name.
        name: String,
        #[command(flatten)]
        select: Select,
    },
    /// Let a suspended schedule start runs again at its next scheduled time.
    Resume {
        /// What to resume.
        #[arg(value_enum)]
        kind: TriggerKind,
        /// The schedule's name.
        name: String,
        #[command(flatten)]
        select: Select,
    },
    /// Delete a resource.
    Delete {
        /// The kind.
        #[arg(value_enum)]
        kind: output::KindArg,
        /// The name.
        name: String,
        #[command(flatten)]
        select: Select,
    },
}

/// What `trigger`, `suspend` and `resume` act on.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum TriggerKind {
    /// A `DataMoverSchedule`.
    #[value(alias = "schedules", alias = "datamoverschedule")]
    Schedule,
}

#[derive(Args, Debug)]
struct Select {
    /// Namespace.
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    namespace: String,
    #[command(flatten)]
    server: client::ServerArg,
}

/// `page-url`: the server's `/` with `?token=`.
fn page_url(server: &client::ServerArg) -> Result<(), String> {
    let token = server.token()?.ok_or_else(|| {
        format!(
            "no API token in {}: start the operator once (it writes the token), or pass --token-file",
            server.data_dir.join(auth::TOKEN_FILE).display()
        )
    })?;
    println!("{}/?token={token}", server.server.trim_end_matches('/'));
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => operator::run(args, false),
        Command::Demo(args) => operator::run(args, true),
        Command::Crd => {
            print!("{}", datamover_kube::crd_yaml());
            Ok(())
        }
        Command::Apply { file, server } => output::apply(&server, &file),
        Command::Create { file, server } => output::create(&server, &file),
        Command::Get {
            kind,
            name,
            select,
            all_namespaces,
            output,
            watch,
            source,
        } => {
            let namespace = (!all_namespaces).then_some(select.namespace.as_str());
            if kind == output::KindArg::Backups {
                return exit(backups::get(&select.server, &source, namespace, output));
            }
            if source.secret.is_some() || source.schedule.is_some() || source.datamover.is_some() {
                return exit(Err(
                    "--secret, --schedule and --datamover go with `get backups`".into(),
                ));
            }
            Kind::try_from(kind).and_then(|kind| {
                output::get(
                    &select.server,
                    kind,
                    name.as_deref(),
                    namespace,
                    output,
                    watch,
                )
            })
        }
        Command::Describe { kind, name, select } => Kind::try_from(kind)
            .and_then(|kind| output::describe(&select.server, kind, &name, &select.namespace)),
        Command::PageUrl { server } => page_url(&server),
        Command::Trigger {
            kind: TriggerKind::Schedule,
            name,
            select,
        } => control::schedule(
            &select.server,
            control::Control::Trigger,
            &name,
            &select.namespace,
        ),
        Command::Suspend {
            kind: TriggerKind::Schedule,
            name,
            select,
        } => control::schedule(
            &select.server,
            control::Control::Suspend,
            &name,
            &select.namespace,
        ),
        Command::Resume {
            kind: TriggerKind::Schedule,
            name,
            select,
        } => control::schedule(
            &select.server,
            control::Control::Resume,
            &name,
            &select.namespace,
        ),
        Command::Delete { kind, name, select } => Kind::try_from(kind)
            .and_then(|kind| output::delete(&select.server, kind, &name, &select.namespace)),
    };
    exit(result)
}

fn exit(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
