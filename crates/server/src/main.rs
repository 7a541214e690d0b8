//! The `versa` binary: flags → [`server::Config`] → [`server::run`].

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::{Config, DataDir};
use tracing_subscriber::filter::LevelFilter;

#[derive(Parser, Debug)]
#[command(
    name = "versa",
    version,
    about = "An AWS Lambda-compatible function platform built around versions and aliases"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the server on embedded defaults (SQLite and local files; nothing to install).
    Server(ServerArgs),
}

#[derive(clap::Args, Debug)]
struct ServerArgs {
    /// Address to listen on. Loopback unless told otherwise.
    #[arg(long, env = "VERSA_LISTEN", default_value = server::config_defaults::LISTEN)]
    listen: SocketAddr,
    /// Directory for the database and code packages [default: $XDG_DATA_HOME/versa or ~/.local/share/versa].
    #[arg(long, env = "VERSA_DATA_DIR", conflicts_with = "ephemeral")]
    data_dir: Option<PathBuf>,
    /// Keep all data in a temporary directory that is removed when the server stops.
    #[arg(long, env = "VERSA_EPHEMERAL")]
    ephemeral: bool,
    /// Region of unsigned requests.
    #[arg(long, env = "VERSA_REGION", default_value = server::config_defaults::REGION)]
    region: String,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "VERSA_LOG", default_value = "info")]
    log_level: LevelFilter,
}

fn main() -> anyhow::Result<()> {
    // The sandbox init is this same binary; it must run before anything starts a thread.
    if std::env::args_os().nth(1).is_some_and(|a| a == sandbox::INIT_ARG) {
        sandbox::init::main();
    }
    let cli = Cli::parse();
    let Command::Server(args) = cli.command;
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();

    let data_dir = if args.ephemeral {
        DataDir::Ephemeral(
            tempfile::Builder::new().prefix("versa-").tempdir().context("cannot create a temporary data dir")?,
        )
    } else {
        DataDir::Persistent(args.data_dir.unwrap_or_else(DataDir::default_path))
    };
    let mut config = Config::new(data_dir.path());
    config.region = model::scope::Region::parse(&args.region)
        .with_context(|| format!("--region {} is not a region name like us-east-1", args.region))?;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        // Open the data dir first: a locked or broken data dir fails before we claim to listen.
        let server = server::Server::open(config).await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        println!("versa listening on http://{addr}");
        match &data_dir {
            DataDir::Persistent(p) => println!("data dir: {}", p.display()),
            DataDir::Ephemeral(t) => println!("data dir: {} (ephemeral, removed at exit)", t.path().display()),
        }
        server.serve(listener, shutdown_signal()).await?;
        println!("versa stopped");
        drop(data_dir);
        Ok(())
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}
