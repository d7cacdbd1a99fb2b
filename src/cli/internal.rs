//! `gc internal …`: hidden subcommands gc runs itself, not meant for people.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::beads::embedded::EmbeddedStore;
use crate::beads::layout::{self, StoreConfig};
use crate::beads::{BeadError, exec_server, protocol};

/// Commands gc runs itself (hidden from help).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: InternalCommand,
}

#[derive(Debug, clap::Subcommand)]
enum InternalCommand {
    /// Run the program described by a launch file (how runtimes start session programs
    /// without a shell).
    Exec {
        /// Remove the launch file once read (it was written for this one start).
        #[arg(long)]
        consume: bool,
        /// The launch file (JSON: argv, env, work_dir).
        file: PathBuf,
    },
    /// Run a session's program in tmux inside this container and exit with its status: the
    /// entrypoint of session pods (`session.backend: kubernetes`).
    PodSession {
        /// The session's name.
        #[arg(long)]
        name: String,
        /// The tmux server's socket name (`tmux -L`).
        #[arg(long, default_value = crate::runtime::kubernetes::TMUX_SOCKET)]
        socket: String,
        /// Where the launch and exit files go. Default: a directory of this process's own
        /// under the temporary directory.
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// The program and its arguments, after `--`, each taken literally.
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
    /// Serve one operation of the exec bead store protocol (docs/exec-bead-store.md) on the
    /// embedded store in DIR: the reference implementation of the protocol, and a ready-made
    /// `beads.command` (`gc internal bead-exec-store`).
    BeadExecStore {
        /// The beads directory whose `beads.db` holds the beads. Default: GC_BEADS_DIR, which
        /// the exec backend sets.
        #[arg(long, env = protocol::ENV_DIR, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Id prefix of new beads. Default: GC_BEADS_PREFIX (set by the exec backend), else
        /// the prefix in DIR/gc-store.json.
        #[arg(long, env = protocol::ENV_PREFIX)]
        prefix: Option<String>,
        /// The operation (create, get, update, claim, …).
        op: String,
        /// Its arguments (bead ids).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Runs `gc internal …`; never returns.
pub fn run(args: Args) -> ! {
    match args.command {
        InternalCommand::Exec { consume, file } => {
            crate::runtime::launch::exec_from_file(&file, consume)
        }
        InternalCommand::PodSession { name, socket, state_dir, argv } => {
            let state_dir = state_dir.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("gc-pod-session-{}", std::process::id()))
            });
            let session = crate::runtime::pod_session::PodSession { name, socket, argv, state_dir };
            let code = session.run();
            let _ = std::io::stdout().flush();
            std::process::exit(code)
        }
        InternalCommand::BeadExecStore { dir, prefix, op, args } => {
            // A missing directory is an op failure (exit 1), not a usage error: clap's exit 2
            // would read as "unsupported op" to the exec backend.
            let reply = match dir {
                Some(dir) => bead_exec_store(&dir, prefix, &op, &args),
                None => failure(&BeadError::Invalid(format!(
                    "no beads directory: pass --dir or set {}",
                    protocol::ENV_DIR
                ))),
            };
            if !reply.stdout.is_empty() {
                println!("{}", reply.stdout);
            }
            if !reply.stderr.is_empty() {
                eprintln!("{}", reply.stderr);
            }
            let _ = std::io::stdout().flush();
            std::process::exit(reply.code)
        }
    }
}

/// Opens the embedded store in `dir` and answers one op.
fn bead_exec_store(
    dir: &Path,
    prefix: Option<String>,
    op: &str,
    args: &[String],
) -> exec_server::Reply {
    let store = prefix
        .map(Ok)
        .unwrap_or_else(|| StoreConfig::read(dir).map(|c| c.prefix))
        .and_then(|prefix| EmbeddedStore::open(&dir.join(layout::DB_FILE), &prefix));
    let store = match store {
        Ok(store) => store,
        Err(e) => return failure(&e),
    };
    let mut stdin = String::new();
    if exec_server::takes_body(op)
        && let Err(e) = std::io::stdin().read_to_string(&mut stdin)
    {
        return failure(&BeadError::Invalid(format!("{op}: could not read stdin: {e}")));
    }
    exec_server::serve(&store, op, args, &stdin)
}

fn failure(err: &BeadError) -> exec_server::Reply {
    exec_server::Reply {
        code: protocol::EXIT_ERROR,
        stdout: String::new(),
        stderr: err.to_string(),
    }
}
