//! `gc crds`: print the Kubernetes CustomResourceDefinitions generated from the resource types.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::kubernetes::crd;

/// Print the Kubernetes CustomResourceDefinitions of every kind
///
/// One definition per kind (City, Provider, Rig, Agent, Formula, Order), with every served
/// version, generated from the same types `gc validate` checks files with: the OpenAPI v3
/// schema (structural, as the API server requires), the status subresource and the columns
/// `kubectl get` prints. A city's YAML files are valid custom resources as they are (see
/// docs/kubernetes.md for what the API server checks and what only `gc validate` does).
///
/// With no option, prints every definition as one multi-document YAML stream:
///
///   gc crds | kubectl apply -f -
///
/// The committed copies live in manifests/kubernetes/crds/ beside the controller's RBAC,
/// ServiceAccount and Deployment; regenerate them with `gc crds --write manifests/kubernetes`.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Write one file per kind into DIR/crds/ (e.g. DIR/crds/agents.gascity.dev.yaml) instead
    /// of printing.
    #[arg(long, value_name = "DIR")]
    write: Option<PathBuf>,
}

/// Runs `gc crds`.
pub fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let Some(dir) = args.write else {
        let text = crd::definitions_yaml()?;
        // `gc crds | head` closes the pipe early; that is not an error worth a message.
        return match std::io::stdout().lock().write_all(text.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(ExitCode::SUCCESS),
        };
    };
    for (path, text) in crd::crd_files()? {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, text)?;
        println!("wrote {}", target.display());
    }
    Ok(ExitCode::SUCCESS)
}
