//! The shared engines the multi-node tests run on: a throwaway PostgreSQL cluster
//! (`pgcluster.rs`) and moto's S3 server (in memory). A test that needs one and cannot start it
//! says why and passes, unless `VERSA_REQUIRE_POSTGRES=1` / `VERSA_REQUIRE_MOTO=1` (CI sets
//! them).

// JUSTIFICATION: these tests run the real engine, `moto_server`.
#![allow(clippy::disallowed_methods)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an engine may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub use crate::pgcluster::Postgres;

fn unavailable<T>(var: &str, why: String) -> Option<T> {
    if std::env::var(var).is_ok_and(|v| v == "1") {
        panic!("{why} (and {var}=1)");
    }
    eprintln!("SKIPPED: {why}; set {var}=1 to make this a failure");
    None
}

/// moto's S3 server on a loopback port, with one bucket; killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
    pub bucket: String,
}

impl Moto {
    /// Starts moto and creates the bucket, or `None` (skipped) when `moto_server` is missing.
    pub async fn start() -> Option<Moto> {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = match Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => return unavailable("VERSA_REQUIRE_MOTO", format!("cannot start moto_server: {e}")),
        };
        let moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}"), bucket: "versa-test".into() };
        let started = Instant::now();
        let c = crate::support::client(&moto.endpoint, "test", "us-east-1");
        loop {
            match c.create_bucket().bucket(&moto.bucket).send().await {
                Ok(_) => break,
                Err(_) if started.elapsed() < READY_TIMEOUT => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => return unavailable("VERSA_REQUIRE_MOTO", format!("moto did not answer: {e:?}")),
            }
        }
        Some(moto)
    }

    /// The object store over moto's bucket.
    pub fn store(&self) -> Arc<dyn object_store::ObjectStore> {
        // reqwest is built without a bundled TLS provider (as in crates/blobs): ring.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let s3 = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name(&self.bucket)
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_allow_http(true)
            .build()
            .expect("an object store over moto");
        Arc::new(s3)
    }

    /// Keys in moto's bucket under `prefix`.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        use futures_util::StreamExt as _;
        let store = self.store();
        let root = object_store::path::Path::from(prefix);
        store.list(Some(&root)).map(|m| m.unwrap().location.to_string()).collect().await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
