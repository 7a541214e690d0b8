//! Test support for Versa's integration tests and benchmarks.
//!
//! - [`TestServer`]: the whole daemon in-process on `127.0.0.1:0` with a temporary data dir.
//! - [`ServerProcess`]: the real `versa` binary as a child process, for crash tests.
//! - [`lambda_client`]: the official AWS SDK for Rust pointed at a server.
//! - [`http`]: a minimal raw HTTP/1.1 client for requests an SDK would refuse to send.
//! - [`zip`]: deployment packages built in memory.
//! - [`moto`]: moto's S3 server, one per test process (the S3 blob backend's tests).

pub mod http;
pub mod moto;
pub mod postgres;
pub mod process;
pub mod zip;

use std::net::SocketAddr;
use std::path::Path;

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use tokio::sync::oneshot;

pub use crate::process::ServerProcess;

/// The real server, in-process, with its own temporary data dir. Stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Starts with a configuration adjusted by `tweak` (the data dir is already set).
    /// Starts with `--auth sigv4`: requests must be signed with [`TestServer::root_key`] or
    /// another key Versa knows.
    pub async fn start_sigv4() -> TestServer {
        TestServer::start_with(|c| c.auth = server::AuthMode::Sigv4).await
    }

    /// The root key `--auth sigv4` wrote into the data dir's `credentials` file (waits for the
    /// server to have written it).
    pub async fn root_key(&self) -> Key {
        let path = server::credentials::credentials_path(self.data_dir());
        for _ in 0..200 {
            if let Ok((id, secret)) = server::credentials::read_file(&path) {
                return Key { id, secret, token: None };
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{} was not written", path.display());
    }

    pub async fn start_with(tweak: impl FnOnce(&mut server::Config)) -> TestServer {
        let dir = tempfile::Builder::new().prefix("versa-test-").tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let mut config = server::Config::new(dir.path().to_owned());
        config.init_program = Some(versa_binary());
        tweak(&mut config);
        let task = tokio::spawn(server::run(config, listener, async move {
            let _ = rx.await;
        }));
        TestServer { addr, dir, shutdown: Some(tx), task: Some(task) }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// An SDK client for account `000000000000` in `us-east-1`.
    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        lambda_client(&self.endpoint(), "test", "us-east-1")
    }

    /// A CloudWatch Logs client for this server (account `000000000000`, `us-east-1`).
    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        logs_client(&self.endpoint(), "test", "us-east-1")
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server run");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The built `versa` binary, which sandboxes run as their init: `$VERSA_BIN`, or `versa` in
/// the target directory the running test or benchmark binary was built into.
pub fn versa_binary() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("VERSA_BIN") {
        return p.into();
    }
    built_binary("versa")
}

/// A binary of this workspace, from the target directory the running test was built into.
pub fn built_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_owned();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(name);
    assert!(bin.exists(), "{} is not built: run `cargo build --workspace --bins` first", bin.display());
    bin
}

/// An access key: id, secret and (temporary keys) session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub id: String,
    pub secret: String,
    pub token: Option<String>,
}

impl Key {
    pub fn new(id: &str, secret: &str) -> Key {
        Key { id: id.to_owned(), secret: secret.to_owned(), token: None }
    }

    fn credentials(&self) -> Credentials {
        Credentials::new(self.id.clone(), self.secret.clone(), self.token.clone(), None, "testkit")
    }
}

/// A Lambda client signing with `key`.
pub fn lambda_client_with(endpoint: &str, key: &Key, region: &str) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(key.credentials())
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// A CloudWatch Logs client signing with `key`.
pub fn logs_client_with(endpoint: &str, key: &Key, region: &str) -> aws_sdk_cloudwatchlogs::Client {
    let config = aws_sdk_cloudwatchlogs::Config::builder()
        .behavior_version(aws_sdk_cloudwatchlogs::config::BehaviorVersion::latest())
        .region(aws_sdk_cloudwatchlogs::config::Region::new(region.to_owned()))
        .credentials_provider(key.credentials())
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_cloudwatchlogs::config::retry::RetryConfig::disabled())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_cloudwatchlogs::Client::from_conf(config)
}

/// A CloudWatch Logs client for `endpoint` (it signs for the service `logs`), like
/// [`lambda_client`].
pub fn logs_client(endpoint: &str, access_key: &str, region: &str) -> aws_sdk_cloudwatchlogs::Client {
    logs_client_with(endpoint, &Key::new(access_key, "secret"), region)
}

/// The official AWS SDK for Lambda, plain HTTP, no retries (tests must see every error).
/// `access_key` selects the account (a 12-digit key is the account id), `region` the region.
pub fn lambda_client(endpoint: &str, access_key: &str, region: &str) -> aws_sdk_lambda::Client {
    lambda_client_with(endpoint, &Key::new(access_key, "secret"), region)
}
