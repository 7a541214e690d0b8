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
    let listen: SocketAddr = listener.local_addr()?;
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the data dir {}", dir.display()))?;
    // One server per data dir: the store's single writer and the blob sweep depend on it.
    let lock = std::fs::File::create(dir.join("versa.lock"))?;
    lock.try_lock().map_err(|_| anyhow::anyhow!("the data dir {} is in use by another Versa", dir.display()))?;

    let backend =
        SqliteBackend::open(&SqliteOptions { path: dir.join("versa.db") }).context("cannot open the store")?;
    let store = Store::new(Arc::new(backend));
    let blobs = blobs::FsBlobs::open(&dir.join("blobs")).context("cannot open the code store")?;
    let control =
        Arc::new(Control::new(store, Arc::new(blobs), Settings { account_concurrency: config.account_concurrency }));
    let swept = control.sweep_unreferenced_code().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if swept > 0 {
        tracing::info!(swept, "removed unreferenced code packages");
    }

    let state = Arc::new(api::ApiState::new(control, config.region.clone(), listen));
    let app = api::router(state);
    tracing::info!(%listen, data_dir = %dir.display(), "serving");
    axum::serve(listener::Limited::new(listener, listener::CONNECTIONS_MAX), app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server failed")?;
    drop(lock);
    Ok(())
}
