//! The command line: `sandport run` (and `sandport lsp`, dispatched to the
//! LSP edge). Argument shapes follow ../shared/spec/cli.md.

pub mod run;
pub mod up;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "sandport",
    version,
    about = "A sandbox for your workspace: processes, readiness waits, logs and preview URLs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one process in the sandbox from a terminal: wait for it, expose
    /// its ports, stream its output until it ends or Ctrl-C.
    Run(Box<run::RunArgs>),
    /// Start the workspace's services (sandport.toml or Procfile) in
    /// dependency order, stream their output until Ctrl-C, then stop them.
    Up(Box<up::UpArgs>),
    /// The language server: the editor protocol over stdio.
    Lsp {
        /// Accepted and ignored: stdio is the only transport (clients such
        /// as vscode-languageclient add it).
        #[arg(long)]
        stdio: bool,
    },
    /// The helper the Docker backend runs inside its container.
    #[command(hide = true)]
    Agent {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}
