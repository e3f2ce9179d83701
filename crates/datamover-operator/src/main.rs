//! `datamover-operator`: drives DataMover resources through their phases, moves the data with
//! rclone, and serves its metrics. `datamover-operator demo` shows it working on one machine.

mod api;
mod auth;
mod client;
mod demo;
mod listen;
mod operator;
mod output;

use clap::{Args, Parser, Subcommand};
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
    Run(operator::RunArgs),
    /// Run the operator with a bundled example: sample data, a secret with a local
    /// destination and a DataMover, driven to Completed; then keep serving.
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
    /// List resources, or show one.
    Get {
        /// `datamovers` (`dm`), `pvc` or `secrets`.
        kind: String,
        /// A name, to show one.
        name: Option<String>,
        #[command(flatten)]
        select: Select,
        /// Output: `table` (default), `wide`, `json` or `yaml`.
        #[arg(short = 'o', long = "output", default_value = "table")]
        output: String,
    },
    /// Show one resource in detail, with its conditions.
    Describe {
        /// The kind.
        kind: String,
        /// The name.
        name: String,
        #[command(flatten)]
        select: Select,
    },
    /// Delete a resource.
    Delete {
        /// The kind.
        kind: String,
        /// The name.
        name: String,
        #[command(flatten)]
        select: Select,
    },
}

#[derive(Args, Debug)]
struct Select {
    /// Namespace.
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    namespace: String,
    #[command(flatten)]
    server: client::ServerArg,
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
        Command::Get {
            kind,
            name,
            select,
            output,
        } => output::get(
            &select.server,
            &kind,
            name.as_deref(),
            &select.namespace,
            &output,
        ),
        Command::Describe { kind, name, select } => {
            output::describe(&select.server, &kind, &name, &select.namespace)
        }
        Command::Delete { kind, name, select } => {
            output::delete(&select.server, &kind, &name, &select.namespace)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
