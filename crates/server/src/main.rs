//! The `versa` binary: flags → [`server::Config`] → [`server::run`].

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::{Config, DataDir};

mod client;
mod deploy_cli;
mod history_cli;
mod keys;
mod metrics_cli;
mod pipeline;
use tracing_subscriber::filter::LevelFilter;

#[global_allocator]
static GLOBAL: sandbox::alloc::Allocator = sandbox::alloc::Allocator;

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
#[allow(clippy::large_enum_variant)] // parsed once
enum Command {
    /// Start the server on embedded defaults (SQLite and local files; nothing to install).
    Server(ServerArgs),
    /// What Versa's runtimes carry besides the host's interpreters.
    #[command(subcommand)]
    Runtimes(RuntimesCommand),
    /// Access keys for `--auth sigv4`, per account. Works on the data dir directly when no server
    /// holds it, otherwise through the running server (signed with the data dir's root key).
    Keys(KeysArgs),
    /// Write an AWS CLI/SDK profile for this server: its region and `endpoint_url` in the AWS
    /// config file and the data dir's root key in the shared-credentials file (other profiles
    /// are kept), so `aws --profile versa …` needs no `--endpoint-url`.
    Credentials(CredentialsArgs),
    /// Invocations, errors and p50/p99 duration per executed version of an alias (per alias
    /// and version of an unqualified function), from a server's CloudWatch API.
    Metrics(MetricsArgs),
    /// Move an alias to a version through a CodeDeploy deployment (canary, linear or all at
    /// once; alarms and hooks roll it back), or show, stop or list deployments. Exit status 0
    /// on success, 1 when a waited-for deployment failed or stopped, 2 on usage or connection errors.
    Deploy(deploy_cli::DeployArgs),
    /// Deploy the version one alias points at to another alias (e.g. beta → prod).
    Promote(deploy_cli::PromoteArgs),
    /// Promote a version alias by alias through the stages of a pipeline file.
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCommand),
    /// Who moved an alias, when, from which versions and weights to which (newest first),
    /// from a server's alias history.
    History(HistoryArgs),
}

#[derive(clap::Args, Debug)]
struct HistoryArgs {
    /// FUNCTION:ALIAS.
    target: String,
    /// How many changes, newest first.
    #[arg(long, default_value_t = history_cli::LIMIT_DEFAULT)]
    limit: usize,
    /// The server; $AWS_ENDPOINT_URL when set.
    #[arg(long, env = "AWS_ENDPOINT_URL", default_value = metrics_cli::DEFAULT_ENDPOINT, hide_env = true)]
    endpoint: String,
    /// The region [default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1].
    #[arg(long)]
    region: Option<String>,
}

#[derive(clap::Args, Debug)]
struct CredentialsArgs {
    /// The profile to write.
    #[arg(long, default_value = server::credentials::PROFILE)]
    profile: String,
    /// The data dir whose root key to use [default: $XDG_DATA_HOME/versa or ~/.local/share/versa].
    #[arg(long, env = "VERSA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The server's URL, the profile's `endpoint_url`.
    #[arg(long, default_value = metrics_cli::DEFAULT_ENDPOINT)]
    endpoint: String,
    /// The profile's region.
    #[arg(long, default_value = server::config_defaults::REGION)]
    region: String,
    /// The AWS config file [default: $AWS_CONFIG_FILE, else ~/.aws/config].
    #[arg(long, env = "AWS_CONFIG_FILE", hide_env = true)]
    config_file: Option<PathBuf>,
    /// The shared-credentials file [default: $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials].
    #[arg(long, env = "AWS_SHARED_CREDENTIALS_FILE", hide_env = true)]
    credentials_file: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct MetricsArgs {
    /// FUNCTION, FUNCTION:ALIAS or FUNCTION:VERSION.
    target: String,
    /// The window, ending now: a number and s, m, h or d.
    #[arg(long, default_value = "15m")]
    since: String,
    /// The server; $AWS_ENDPOINT_URL when set.
    #[arg(long, env = "AWS_ENDPOINT_URL", default_value = metrics_cli::DEFAULT_ENDPOINT, hide_env = true)]
    endpoint: String,
    /// The region [default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1].
    #[arg(long)]
    region: Option<String>,
}

#[derive(clap::Args, Debug)]
struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
    /// The data dir [default: $XDG_DATA_HOME/versa or ~/.local/share/versa].
    #[arg(long, env = "VERSA_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The store, as `versa server --store` [default: versa.db in the data dir].
    #[arg(long, env = server::STORE_ENV, global = true)]
    store: Option<String>,
    /// The running server to ask when it holds the data dir.
    #[arg(long, env = "VERSA_ENDPOINT", default_value = "http://127.0.0.1:4566", global = true)]
    endpoint: String,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Create a key; its secret is shown once.
    Create {
        /// The 12-digit account the key's requests act in.
        #[arg(long, default_value = control::keys::ROOT_ACCOUNT)]
        account: String,
        /// A name to recognise the key by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the keys (never their secrets).
    List,
    /// Delete a key.
    Delete {
        /// The access key id.
        access_key_id: String,
    },
    /// Disable a key: kept, and refused (as a key Versa does not know) until enabled. The
    /// root account keeps one enabled key.
    Disable {
        /// The access key id.
        access_key_id: String,
    },
    /// Enable a disabled key again.
    Enable {
        /// The access key id.
        access_key_id: String,
    },
}

#[derive(Subcommand, Debug)]
enum RuntimesCommand {
    /// Install the AWS SDKs Lambda's runtimes include, in pinned versions: boto3 for Python
    /// (with pip) and the AWS SDK for JavaScript v3 for Node.js (with npm). Does nothing for an
    /// SDK that is already installed.
    Install(InstallArgs),
}

#[derive(clap::Args, Debug)]
struct InstallArgs {
    /// Versa's runtimes directory [default: $XDG_DATA_HOME/versa/runtimes or ~/.local/share/versa/runtimes].
    #[arg(long, env = server::RUNTIMES_DIR_ENV)]
    runtimes_dir: Option<PathBuf>,
    /// An extra Python interpreter to byte-compile the SDK for (as for `versa server`); repeatable.
    #[arg(long = "interpreter", env = "VERSA_INTERPRETERS", value_delimiter = ':')]
    interpreters: Vec<PathBuf>,
    /// Print only what is installed now, and errors.
    #[arg(long, short)]
    quiet: bool,
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
    /// The store: `sqlite://PATH` or `postgres://USER@HOST/DB?…` (libpq URL) [default: versa.db
    /// in the data dir].
    #[arg(long, env = server::STORE_ENV)]
    store: Option<String>,
    /// Region of unsigned requests.
    #[arg(long, env = "VERSA_REGION", default_value = server::config_defaults::REGION)]
    region: String,
    /// Isolate functions: `auto` uses every mechanism the host has (namespaces, cgroups, an
    /// unprivileged user); `none` runs them as plain processes.
    #[arg(long, env = "VERSA_SANDBOX", default_value = "auto", value_parser = ["auto", "none"])]
    sandbox: String,
    /// The network functions see: `isolated` (loopback only, Versa's API served in it) or `host`.
    #[arg(long, env = "VERSA_FUNCTION_NETWORK", default_value = "isolated", value_parser = ["isolated", "host"])]
    function_network: String,
    /// Seconds an idle execution environment is kept warm.
    #[arg(long, env = "VERSA_ENV_IDLE_TIMEOUT", default_value_t = 300)]
    env_idle_timeout: u64,
    /// Seconds a CodeDeploy lifecycle hook has to report its status (AWS: 3600).
    #[arg(long, env = "VERSA_DEPLOY_HOOK_TIMEOUT", default_value_t = 3600)]
    deploy_hook_timeout: u64,
    /// This node's name when several nodes share a store: shown in `/_versa/health` and
    /// `x-versa-node` (its id stays a new uuid per start). Default: the advertised address.
    #[arg(long, env = "VERSA_NODE_ID")]
    node_id: Option<String>,
    /// Where the other nodes reach this node's API (`host:port`), when the listen address is
    /// not reachable from them (e.g. `0.0.0.0:4566`). Default: the listen address.
    #[arg(long, env = "VERSA_ADVERTISE")]
    advertise: Option<String>,
    /// Several nodes: the node (its `--node-id`) whose data dir holds the DynamoDB tables and
    /// streams; the others forward DynamoDB requests to it. Default: the first node to start
    /// claims it. Once claimed, a node naming another home refuses to start.
    #[arg(long, env = "VERSA_DYNAMODB_HOME")]
    dynamodb_home: Option<String>,
    /// Milliseconds between this node's heartbeats (several nodes on one store).
    #[arg(long, env = "VERSA_NODE_HEARTBEAT_MS", default_value_t = 1000, hide = true)]
    node_heartbeat_ms: u64,
    /// Milliseconds of silence after which a node counts as dead: its claimed events run
    /// elsewhere, and it fences itself.
    #[arg(long, env = "VERSA_NODE_DEAD_AFTER_MS", default_value_t = 10_000, hide = true)]
    node_dead_after_ms: u64,
    /// Tests only: `rate()` schedules count seconds where they say minutes.
    #[arg(long, env = "VERSA_SCHEDULE_SECONDS", hide = true)]
    schedule_seconds: bool,
    /// Most execution environments alive at once.
    #[arg(long, env = "VERSA_MAX_ENVIRONMENTS", default_value_t = 128)]
    max_environments: usize,
    /// Seconds before the first retry of a failed asynchronous invocation (the second waits
    /// twice as long).
    #[arg(long, env = "VERSA_ASYNC_RETRY_DELAY", default_value_t = 60.0)]
    async_retry_delay: f64,
    /// Megabytes of function logs kept per log group; the oldest events go first.
    #[arg(long, env = "VERSA_LOG_GROUP_MB", default_value_t = 64)]
    log_group_mb: u64,
    /// Megabytes of function logs kept in total; the oldest events go first.
    #[arg(long, env = "VERSA_LOGS_MB", default_value_t = 1024)]
    logs_mb: u64,
    /// Largest S3 object a single PUT or copy may create, in megabytes (multipart uploads are
    /// bounded by 5 TiB and 10,000 parts).
    #[arg(long, env = "VERSA_S3_MAX_OBJECT_MB", default_value_t = 5120)]
    s3_max_object_mb: u64,
    /// An extra Python or Node.js interpreter (a binary or a directory of them); repeatable.
    #[arg(long = "interpreter", env = "VERSA_INTERPRETERS", value_delimiter = ':')]
    interpreters: Vec<PathBuf>,
    /// Versa's runtimes directory, where `versa runtimes install` puts the AWS SDKs
    /// [default: $XDG_DATA_HOME/versa/runtimes or ~/.local/share/versa/runtimes].
    #[arg(long, env = server::RUNTIMES_DIR_ENV)]
    runtimes_dir: Option<PathBuf>,
    /// Verify requests: `sigv4` (signed with a key Versa knows), `off` (any key works) or `warn`
    /// (verified, and served either way: what sigv4 would refuse is logged, for moving clients to
    /// signed requests) [default: off on a loopback address, sigv4 otherwise].
    #[arg(long, env = "VERSA_AUTH", value_parser = ["off", "sigv4", "warn"])]
    auth: Option<String>,
    /// Allow `--auth off` on an address that is not loopback.
    #[arg(long, env = "VERSA_ALLOW_ANONYMOUS")]
    allow_anonymous: bool,
    /// Serve HTTPS: the certificate chain, PEM, leaf first (needs --tls-key).
    #[arg(long, env = "VERSA_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "VERSA_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Where code packages live: file://DIR, or s3://BUCKET/PREFIX?endpoint=URL&region=R[&path_style=true]
    /// (an S3-compatible bucket shared by every node; keys from the standard AWS_* variables)
    /// [default: the data dir's blobs directory].
    #[arg(long, env = "VERSA_BLOBS")]
    blobs: Option<String>,
    /// This node is the only one using its store: allows a postgres:// store with file:// blobs.
    #[arg(long, env = "VERSA_SINGLE_NODE")]
    single_node: bool,
    /// Tests only: milliseconds an unreferenced code blob of an s3:// blob store is kept
    /// before it is collected (default one hour).
    #[arg(long, env = "VERSA_BLOBS_GC_GRACE_MS", hide = true)]
    blobs_gc_grace_ms: Option<u64>,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "VERSA_LOG", default_value = "info")]
    log_level: LevelFilter,
}

fn main() -> anyhow::Result<()> {
    // The sandbox init is this same binary; it must run before anything starts a thread.
    let is_init = std::env::args_os().nth(1).is_some_and(|a| a == sandbox::INIT_ARG);
    sandbox::alloc::check_choice(is_init);
    if is_init {
        sandbox::init::main();
    }
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Server(args) => args,
        Command::Runtimes(RuntimesCommand::Install(args)) => return install_runtimes(args),
        Command::Keys(args) => return keys::run(args),
        Command::Credentials(args) => return write_profile(args),
        Command::Metrics(args) => return metrics_cli::run(args),
        Command::History(args) => return history_cli::run(args),
        Command::Deploy(args) => std::process::exit(deploy_cli::run(args)),
        Command::Promote(args) => std::process::exit(deploy_cli::run_promote(args)),
        Command::Pipeline(command) => std::process::exit(pipeline::run(command)),
    };
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
    if let Some(url) = &args.store {
        config.store = server::StoreLocation::parse(url).map_err(anyhow::Error::msg)?;
    }
    config.auth = auth_mode(args.listen, args.auth.as_deref(), args.allow_anonymous)?;
    config.sandbox = args.sandbox == "auto";
    config.function_network =
        if args.function_network == "host" { sandbox::Network::Host } else { sandbox::Network::Isolated };
    config.environment_idle_timeout = std::time::Duration::from_secs(args.env_idle_timeout);
    config.max_environments = args.max_environments.max(1);
    config.deploy_hook_timeout = std::time::Duration::from_secs(args.deploy_hook_timeout.max(1));
    config.schedule_seconds = args.schedule_seconds;
    config.node_name = args.node_id;
    config.dynamodb_home = args.dynamodb_home;
    config.advertise = args.advertise;
    config.node_heartbeat = std::time::Duration::from_millis(args.node_heartbeat_ms.max(10));
    config.node_dead_after =
        std::time::Duration::from_millis(args.node_dead_after_ms.max(args.node_heartbeat_ms.max(10) * 2));
    config.interpreter_paths = args.interpreters;
    if let Some(dir) = args.runtimes_dir {
        config.runtimes_dir = dir;
    }
    config.events.retry_delay = std::time::Duration::from_secs_f64(args.async_retry_delay.clamp(0.0, 3600.0));
    config.log_limits.max_bytes_per_group = args.log_group_mb.max(1) * 1024 * 1024;
    config.log_limits.max_total_bytes = args.logs_mb.max(1) * 1024 * 1024;
    config.s3_limits.object_bytes_max = args.s3_max_object_mb.max(1) * 1024 * 1024;
    config.blobs = args.blobs.as_deref().map(blobs::BlobsUrl::parse).transpose().map_err(anyhow::Error::msg)?;
    config.single_node = args.single_node;
    if let Some(ms) = args.blobs_gc_grace_ms {
        config.blobs_gc_grace = std::time::Duration::from_millis(ms);
    }
    let shared_store = matches!(config.store, server::StoreLocation::Postgres(_));
    server::check_backends(shared_store, config.blobs.as_ref(), config.single_node).map_err(anyhow::Error::msg)?;
    config.fault = server::fault_from_env().map_err(anyhow::Error::msg)?;
    config.root_credentials = root_credentials()?;
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls = Some(server::TlsFiles { cert, key });
    }
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    config.region = model::scope::Region::parse(&args.region)
        .with_context(|| format!("--region {} is not a region name like us-east-1", args.region))?;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        // Open the data dir first: a locked or broken data dir fails before we claim to listen.
        let server = server::Server::open(config).await?;
        let auth = server.auth_mode();
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        println!("versa listening on {scheme}://{addr}");
        match &data_dir {
            DataDir::Persistent(p) => println!("data dir: {}", p.display()),
            DataDir::Ephemeral(t) => println!("data dir: {} (ephemeral, removed at exit)", t.path().display()),
        }
        match auth {
            server::AuthMode::Off => {
                println!("auth: off (any key works; the access key id selects the account)")
            }
            server::AuthMode::Sigv4 => println!(
                "auth: sigv4 (requests must be signed with a known key; the root key is in {})",
                server::credentials::credentials_path(&data_dir.path()).display()
            ),
            server::AuthMode::Warn => println!(
                "auth: warn (requests are verified and served either way; what sigv4 would refuse is logged; the \
                 root key is in {})",
                server::credentials::credentials_path(&data_dir.path()).display()
            ),
        }
        if let Some(k) = server.new_root_key() {
            let file = server::credentials::credentials_path(&data_dir.path());
            eprintln!(
                "created the root access key of account {} (shown once; also in {}):\n  \
                 export AWS_ACCESS_KEY_ID={}\n  export AWS_SECRET_ACCESS_KEY={}\n  \
                 or: export AWS_SHARED_CREDENTIALS_FILE={} AWS_PROFILE=versa",
                k.account,
                file.display(),
                k.access_key_id,
                k.secret_access_key,
                file.display()
            );
        }
        server.serve(listener, shutdown_signal()).await?;
        println!("versa stopped");
        drop(data_dir);
        Ok(())
    })
}

/// `versa credentials`: the profile, with the data dir's root key, or (a server under
/// `--auth off`, which has none) a key any such server accepts.
fn write_profile(args: CredentialsArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.unwrap_or_else(DataDir::default_path);
    let file = server::credentials::credentials_path(&dir);
    let (id, secret, note) = match server::credentials::read_file(&file) {
        Ok((id, secret)) => (id, secret, format!("the root key of {}", file.display())),
        // Only a missing file means `--auth off`; an unreadable one is an error, not a reason to
        // replace a working profile.
        Err(e) if file.exists() => return Err(e),
        Err(_) => (
            "versa".to_owned(),
            "versa".to_owned(),
            format!("a placeholder key: {} has no root key (a server under --auth off takes any)", file.display()),
        ),
    };
    let home = || std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".aws");
    let config_file = args.config_file.unwrap_or_else(|| home().join("config"));
    let credentials_file = args.credentials_file.unwrap_or_else(|| home().join("credentials"));
    let profile = server::credentials::Profile {
        name: &args.profile,
        region: &args.region,
        endpoint_url: &args.endpoint,
        access_key_id: &id,
        secret: &secret,
    };
    profile.write(&config_file, &credentials_file)?;
    println!(
        "profile {} written: region {} and endpoint_url {} in {}, {note} in {}\n  aws --profile {} lambda list-functions",
        args.profile,
        args.region,
        args.endpoint,
        config_file.display(),
        credentials_file.display(),
        args.profile
    );
    Ok(())
}

/// `--auth`, else the default for the address; `off` on a public address needs
/// `--allow-anonymous`.
fn auth_mode(listen: SocketAddr, auth: Option<&str>, allow_anonymous: bool) -> anyhow::Result<server::AuthMode> {
    let loopback = listen.ip().is_loopback();
    let mode = match auth {
        Some("off") => server::AuthMode::Off,
        Some("warn") => server::AuthMode::Warn,
        Some(_) => server::AuthMode::Sigv4,
        None if loopback => server::AuthMode::Off,
        None => server::AuthMode::Sigv4,
    };
    if mode != server::AuthMode::Sigv4 && !loopback && !allow_anonymous {
        anyhow::bail!(
            "refusing to listen on {} with --auth {}: anyone who reaches it could manage every function; use \
             --auth sigv4, or add --allow-anonymous",
            listen,
            mode.as_str()
        );
    }
    Ok(mode)
}

/// `VERSA_ROOT_ACCESS_KEY_ID` and `VERSA_ROOT_SECRET_ACCESS_KEY` (or their `_FILE` variants).
fn root_credentials() -> anyhow::Result<Option<(String, String)>> {
    let read = |name: &str| -> anyhow::Result<Option<String>> {
        if let Some(v) = std::env::var(name).ok().filter(|v| !v.is_empty()) {
            return Ok(Some(v));
        }
        match std::env::var(format!("{name}_FILE")).ok().filter(|v| !v.is_empty()) {
            Some(path) => Ok(Some(
                std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?.trim().to_owned(),
            )),
            None => Ok(None),
        }
    };
    match (read("VERSA_ROOT_ACCESS_KEY_ID")?, read("VERSA_ROOT_SECRET_ACCESS_KEY")?) {
        (Some(id), Some(secret)) => Ok(Some((id, secret))),
        (None, None) => Ok(None),
        _ => anyhow::bail!("set both VERSA_ROOT_ACCESS_KEY_ID and VERSA_ROOT_SECRET_ACCESS_KEY, or neither"),
    }
}

/// `versa runtimes install`: one line per SDK installed (or already there, unless quiet).
fn install_runtimes(args: InstallArgs) -> anyhow::Result<()> {
    use invoke::sdk::{self, Outcome};
    tracing_subscriber::fmt().with_max_level(LevelFilter::WARN).with_writer(std::io::stderr).init();
    let dir = sdk::RuntimesDir::new(args.runtimes_dir.unwrap_or_else(server::default_runtimes_dir));
    std::fs::create_dir_all(&dir.root).with_context(|| format!("cannot create {}", dir.root.display()))?;
    let search = invoke::runtimes::SearchPath::standard(|k| std::env::var_os(k));
    let interpreters = invoke::runtimes::RuntimeTable::discover(&args.interpreters, &search).python;
    let python = format!("AWS SDK for Python (boto3 {})", sdk::PYTHON_PACKAGES[0].1);
    let node = format!("AWS SDK for JavaScript v3 ({})", sdk::NODE_SDK_VERSION);
    for (what, outcome) in [(python, sdk::install_python(&dir, &interpreters)), (node, sdk::install_node(&dir))] {
        match outcome.map_err(|e| anyhow::anyhow!("{what}: {e}"))? {
            Outcome::AlreadyInstalled if args.quiet => {}
            Outcome::AlreadyInstalled => println!("{what}: already installed in {}", dir.root.display()),
            Outcome::Installed { seconds, megabytes } => {
                println!("{what}: installed in {} ({megabytes:.0} MB, {seconds:.1} s)", dir.root.display())
            }
            Outcome::Skipped(why) => eprintln!("{what}: skipped: {why}"),
        }
    }
    Ok(())
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
