use clap::Parser;
use sandport::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    if let Command::Agent { args } = &cli.command {
        // Inside a container: no runtime, no logging setup, just the job.
        std::process::exit(sandport::backend::agent::main(args));
    }
    sandport::platform::tune_allocator();
    sandport::platform::init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async move {
        match cli.command {
            Command::Run(args) => sandport::cli::run::run(*args).await,
            Command::Up(args) => sandport::cli::up::up(*args).await,
            // Ends the process itself once the session is over.
            Command::Lsp { .. } => sandport::lsp::run().await,
            Command::Agent { .. } => unreachable!("handled above"),
        }
    });
    // Don't wait for stray blocking tasks (a stuck pipe read) on the way out.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    std::process::exit(code);
}
