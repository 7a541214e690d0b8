//! The Versa daemon as a library: [`run`] serves the API on a bound listener until a shutdown
//! future resolves. The `versa` binary only parses flags, binds and calls it; tests call it
//! in-process.

mod config;
mod listener;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use control::{Control, Settings};
use store::{SqliteBackend, SqliteOptions, Store};
use tokio::net::TcpListener;

pub use crate::config::{Config, DataDir};

/// Defaults shown in `--help`.
pub mod config_defaults {
    pub const LISTEN: &str = crate::config::DEFAULT_LISTEN;
    pub const REGION: &str = crate::config::DEFAULT_REGION;
}

/// Serves Versa on `listener` until `shutdown` resolves, then finishes in-flight requests and
/// returns. Everything Versa stores lives under `config.data_dir`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    Server::open(config).await?.serve(listener, shutdown).await
}

/// A server whose data dir is open and locked, ready to serve.
pub struct Server {
    config: Config,
    control: Arc<Control>,
    /// Held for the server's lifetime: one server per data dir, because the store's single
    /// writer and the startup blob sweep depend on it.
    _lock: std::fs::File,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Server {
    /// Opens (creating if needed) the data dir: takes its lock, opens and migrates the store,
    /// and removes code packages nothing references.
    pub async fn open(config: Config) -> anyhow::Result<Server> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create the data dir {}", dir.display()))?;
        let lock = std::fs::File::create(dir.join("versa.lock"))?;
        lock.try_lock().map_err(|_| anyhow::anyhow!("the data dir {} is in use by another Versa", dir.display()))?;

        let backend =
            SqliteBackend::open(&SqliteOptions { path: dir.join("versa.db") }).context("cannot open the store")?;
        let store = Store::new(Arc::new(backend));
        let blobs = blobs::FsBlobs::open(&dir.join("blobs")).context("cannot open the code store")?;
        let settings = Settings { account_concurrency: config.account_concurrency };
        let control = Arc::new(Control::new(store, Arc::new(blobs), settings));
        let swept = control.sweep_unreferenced_code().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if swept > 0 {
            tracing::info!(swept, "removed unreferenced code packages");
        }
        Ok(Server { config, control, _lock: lock })
    }

    /// Serves on `listener` until `shutdown` resolves, then finishes in-flight requests.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let listen: SocketAddr = listener.local_addr()?;
        let state = Arc::new(api::ApiState::new(self.control.clone(), self.config.region.clone(), listen));
        tracing::info!(%listen, data_dir = %self.config.data_dir.display(), "serving");
        axum::serve(listener::Limited::new(listener, listener::CONNECTIONS_MAX), api::router(state))
            .with_graceful_shutdown(shutdown)
            .await
            .context("the HTTP server failed")
    }
}
