//! `kill -9` while writes are in flight: every acknowledged PutObject is intact after a reopen,
//! and nothing half-written is left behind.
//!
//! The server runs in a child process: this very test binary, running `child_server`, which
//! serves only when `VERSA_S3_CRASH_CHILD_DIR` is set (otherwise it passes at once).

// JUSTIFICATION: the point of this test is killing a real process that serves S3.
#![allow(clippy::disallowed_methods)]

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use s3::S3Limits;

use crate::support::{Recorder, TestS3, bytes, client};

const CHILD_ENV: &str = "VERSA_S3_CRASH_CHILD_DIR";

#[test]
fn child_server() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let t = TestS3::serve(Path::new(&dir), S3Limits::default(), Recorder::default()).await;
        println!("PORT {}", t.addr.port());
        std::future::pending::<()>().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash::child_server", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let port = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        // libtest writes "test crash::child_server ... " first, on the same line.
        lines.find_map(|l| l.ok()?.split("PORT ").nth(1).map(|p| p.trim().to_owned())).expect("child port")
    })
    .await
    .unwrap();
    let c = client(&format!("http://127.0.0.1:{port}"), "test", "us-east-1");
    c.create_bucket().bucket("crash").send().await.unwrap();

    // Four writers overwrite and add keys until the server dies under them.
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let (c, acked) = (c.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0u64.. {
                let key = format!("w{w}/k{}", i % 8);
                let seed = w * 1_000_000 + i;
                let body = bytes(20_000 + (seed % 5000) as usize, seed);
                if c.put_object().bucket("crash").key(&key).body(body.into()).send().await.is_err() {
                    return;
                }
                acked.lock().unwrap().push((key, seed));
            }
        }));
    }
    // Kill once enough writes were acknowledged (or after a while, if writers stopped early:
    // the checks below then fail loudly rather than hang).
    for _ in 0..1000 {
        if acked.lock().unwrap().len() >= 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }

    // The last acknowledged write of each key is what a reopen reads, or the write to that key
    // that was in flight at the kill (the writer's next one): never a mix, never a loss.
    let mut last = std::collections::BTreeMap::new();
    for (key, seed) in acked.lock().unwrap().iter() {
        last.insert(key.clone(), *seed);
    }
    let body_of = |seed: u64| bytes(20_000 + (seed % 5000) as usize, seed);
    let s3 = s3::S3::open(dir.path(), S3Limits::default(), Arc::new(Recorder::default())).unwrap();
    let mut existing = 0;
    for w in 0..4u64 {
        for k in 0..8u64 {
            let key = format!("w{w}/k{k}");
            let got = s3.read_object("crash", &key, 1 << 20).await;
            match (last.get(&key), got) {
                (Some(seed), Ok(got)) => {
                    assert!(
                        got == body_of(*seed) || got == body_of(seed + 8),
                        "{key}: not the acknowledged or the in-flight write"
                    );
                    existing += 1;
                }
                (Some(_), Err(e)) => panic!("{key}: an acknowledged write was lost: {e}"),
                (None, Ok(got)) => {
                    assert_eq!(got, body_of(w * 1_000_000 + k), "{key}: only the in-flight first write may exist");
                    existing += 1;
                }
                (None, Err(e)) => assert_eq!(e, s3::ReadError::NoSuchKey),
            }
        }
    }
    assert!(existing >= last.len());
    assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "the sweep removed partial uploads");
    let files: usize = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(files, existing, "one data file per object: no orphans, nothing missing");
}
