//! Code packages in an S3-compatible bucket (`--blobs s3://…`, moto here): functions work
//! end to end, a restart reads the code back from the bucket, the grace-period collector
//! removes unreferenced blobs and keeps referenced ones, and a bad bucket fails the start
//! with a reason and nothing written.

// JUSTIFICATION: the failing starts run the shipped binary and read its exit status.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use testkit::ServerProcess;
use testkit::moto::{self, Moto};

use crate::support::*;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_versa"))
}

const PREFIX: &str = "versa/test";
/// The collector's grace period in these tests.
const GRACE_MS: u64 = 1500;

fn moto_env() -> [(&'static str, &'static str); 2] {
    [("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID), ("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY)]
}

fn blobs_url(m: &Moto, bucket: &str) -> String {
    format!("s3://{bucket}/{PREFIX}?endpoint={}&region=us-east-1&path_style=true", m.endpoint())
}

fn object_key(zip: &[u8]) -> String {
    let hex = blobs::sha256(zip).to_hex();
    format!("{PREFIX}/code/sha256/{}/{hex}", &hex[..2])
}

async fn objects(m: &Moto, bucket: &str) -> Vec<String> {
    let out = m.s3_client().list_objects_v2().bucket(bucket).send().await.unwrap();
    out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}

async fn invoke(c: &aws_sdk_lambda::Client, name: &str) -> String {
    let r = c.invoke().function_name(name).payload(Blob::new(b"{}".to_vec())).send().await.unwrap();
    assert_eq!(r.function_error(), None, "{name}: {:?}", r.payload().map(|p| String::from_utf8_lossy(p.as_ref())));
    String::from_utf8(r.payload().unwrap().as_ref().to_vec()).unwrap()
}

/// GetFunction's Code.Location, fetched.
async fn download(c: &aws_sdk_lambda::Client, server: &ServerProcess, name: &str) -> Vec<u8> {
    let f = c.get_function().function_name(name).send().await.unwrap();
    let location = f.code().unwrap().location().unwrap().to_owned();
    let path = location.split_once(&server.addr.to_string()).unwrap().1.to_owned();
    let got = testkit::http::Client::new(server.addr).send("GET", &path, &[], b"").await.unwrap();
    assert_eq!(got.status, 200);
    got.body
}

#[tokio::test]
async fn functions_run_from_an_s3_bucket_survive_a_restart_and_garbage_is_collected() {
    let Some(m) = moto::moto() else { return };
    let bucket = m.bucket("versa-code").await;
    let dir = tempfile::tempdir().unwrap();
    let url = blobs_url(m, &bucket);
    let grace = GRACE_MS.to_string();
    let flags = ["--function-network", "host", "--blobs", &url, "--blobs-gc-grace-ms", &grace];
    let first = ServerProcess::spawn_env(bin(), dir.path(), &flags, &moto_env());
    let c = testkit::lambda_client(&first.endpoint(), "test", REGION);

    let (keep, shared, dropped) =
        (testkit::zip::tagged("keep"), testkit::zip::tagged("shared"), testkit::zip::tagged("dropped"));
    create(&c, "keep", keep.clone()).await;
    assert_eq!(c.publish_version().function_name("keep").send().await.unwrap().version(), Some("1"));
    assert_eq!(invoke(&c, "keep:1").await, r#""keep""#);
    assert_eq!(download(&c, &first, "keep").await, keep);
    // Two functions with one package: one object.
    create(&c, "shared-a", shared.clone()).await;
    create(&c, "shared-b", shared.clone()).await;
    create(&c, "dropped", dropped.clone()).await;
    let mut want = vec![object_key(&keep), object_key(&shared), object_key(&dropped)];
    want.sort();
    let mut got = objects(m, &bucket).await;
    got.sort();
    assert_eq!(got, want, "one object per package, under the prefix");
    assert!(!dir.path().join("blobs").exists(), "nothing in the data dir's blob directory");

    // Unreferenced for longer than the grace period: collected. Still referenced: kept.
    c.delete_function().function_name("dropped").send().await.unwrap();
    c.delete_function().function_name("shared-a").send().await.unwrap();
    let started = Instant::now();
    while objects(m, &bucket).await.contains(&object_key(&dropped)) {
        assert!(started.elapsed() < Duration::from_secs(20), "the unreferenced blob was not collected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(GRACE_MS / 2),
        "collected only after (most of) the grace period: {:?}",
        started.elapsed()
    );
    let mut want = vec![object_key(&keep), object_key(&shared)];
    want.sort();
    let mut got = objects(m, &bucket).await;
    got.sort();
    assert_eq!(got, want, "referenced blobs stay");
    assert!(first.terminate());

    // A restart with the node-local unpacked code gone: the code comes from the bucket.
    std::fs::remove_dir_all(dir.path().join("code")).unwrap();
    let second = ServerProcess::spawn_env(bin(), dir.path(), &flags, &moto_env());
    let c = testkit::lambda_client(&second.endpoint(), "test", REGION);
    assert_eq!(invoke(&c, "keep:1").await, r#""keep""#);
    assert_eq!(invoke(&c, "shared-b").await, r#""shared""#);
    assert_eq!(download(&c, &second, "keep").await, keep);
    // A package uploaded again after its blob was collected is stored again.
    create(&c, "dropped", dropped.clone()).await;
    assert_eq!(invoke(&c, "dropped").await, r#""dropped""#);
    assert!(objects(m, &bucket).await.contains(&object_key(&dropped)));
    assert!(second.terminate());
}

/// The start fails with the reason, and creates nothing: not the data dir, not an object.
fn refused(args: &[&str], env: &[(&str, &str)], needles: &[&str]) {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let out = std::process::Command::new(bin())
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("VERSA_BLOBS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} started");
    for needle in needles {
        assert!(stderr.contains(needle), "{args:?}: no '{needle}' in: {stderr}");
    }
    assert!(!dir.exists(), "{args:?} wrote the data dir");
}

#[tokio::test]
async fn a_bad_blobs_url_fails_the_start_with_the_reason_and_nothing_written() {
    refused(&["--blobs", "s3://Bad_Bucket/x"], &[], &["--blobs s3://Bad_Bucket/x", "is not a bucket name"]);
    refused(&["--blobs", "s3://bucket/x?endpont=http://h"], &[], &["unknown parameter 'endpont'"]);
    refused(&["--blobs", "/var/lib/blobs"], &[], &["expected file://DIR or s3://"]);
    // A shared store with this node's own files for code (checked before the store is opened).
    let pg = "postgres://versa@/postgres?host=/nonexistent";
    refused(&["--store", pg], &[], &["file:// blobs are this node's own", "--single-node"]);
    refused(&["--store", pg, "--blobs", "file:///tmp/versa-blobs"], &[], &["--single-node"]);
    // Endpoint down: a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = format!("s3://some-bucket/x?endpoint=http://127.0.0.1:{port}&path_style=true");
    refused(&["--blobs", &down], &moto_env(), &["some-bucket", &format!("127.0.0.1:{port}"), "cannot be reached"]);
    let Some(m) = moto::moto() else { return };
    // A bucket that does not exist.
    let missing = blobs_url(m, "no-such-bucket");
    refused(&["--blobs", &missing], &moto_env(), &["no-such-bucket", "the bucket does not exist"]);
    assert!(objects(m, &m.bucket("untouched").await).await.is_empty());
}

/// Two nodes on one PostgreSQL store and one bucket: a function created on A runs on B from the
/// code in the bucket, B serves its Code.Location, and B's collector removes what was deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_code_through_the_bucket() {
    let Some(m) = moto::moto() else { return };
    let Some(pg) = testkit::postgres::database("s3blobs_two_nodes") else { return };
    let bucket = m.bucket("versa-shared").await;
    let url = blobs_url(m, &bucket);
    let grace = GRACE_MS.to_string();
    let flags = ["--store", &pg, "--blobs", &url, "--blobs-gc-grace-ms", &grace, "--function-network", "host"];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = ServerProcess::spawn_env(bin(), dir_a.path(), &flags, &moto_env());
    let b = ServerProcess::spawn_env(bin(), dir_b.path(), &flags, &moto_env());
    let (ca, cb) =
        (testkit::lambda_client(&a.endpoint(), "test", REGION), testkit::lambda_client(&b.endpoint(), "test", REGION));

    let (one, two) = (testkit::zip::tagged("one"), testkit::zip::tagged("two"));
    create(&ca, "one", one.clone()).await;
    create(&ca, "two", two.clone()).await;
    assert_eq!(invoke(&cb, "one").await, r#""one""#);
    assert_eq!(download(&cb, &b, "two").await, two);
    cb.delete_function().function_name("two").send().await.unwrap();
    let started = Instant::now();
    while objects(m, &bucket).await.contains(&object_key(&two)) {
        assert!(started.elapsed() < Duration::from_secs(20), "the unreferenced blob was not collected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(objects(m, &bucket).await, vec![object_key(&one)]);
    assert_eq!(invoke(&ca, "one").await, r#""one""#);
    assert!(a.terminate() && b.terminate());
}
