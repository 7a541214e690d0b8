//! `--auth sigv4` on two nodes sharing one PostgreSQL (issue 15): one seal key (the store's
//! `keys_seal` cluster setting), so a key created on A signs requests B accepts at once (B reads
//! an id it does not know from the store once); a key deleted on A is refused by B within
//! `control::keys::REFRESH_EVERY` (at once by notice; by the periodic re-read when the row goes
//! without a notice); unknown ids keep AWS's exact error.

// JUSTIFICATION: the test deletes a row with `psql`, as an operator would, to send no notice.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use testkit::{Key, TestServer, lambda_client_with};

use crate::auth::{Raw, server_create_key};
use crate::support::*;

/// Slack on top of the refresh interval for a loaded machine.
const SLACK: Duration = Duration::from_secs(2);

fn node(c: &mut server::Config, url: &str, name: &str) {
    c.auth = server::AuthMode::Sigv4;
    c.store = server::StoreLocation::Postgres(url.to_owned());
    c.node_name = Some(name.to_owned());
    // Each node's own file:// blobs: this test runs no function.
    c.single_node = true;
}

/// Lists functions on `server` with `key`: `Ok` or the refusal.
async fn list(server: &TestServer, key: &Key) -> Result<(), AwsError> {
    let c = lambda_client_with(&server.endpoint(), key, REGION);
    c.list_functions().send().await.map(|_| ()).map_err(|e| err::<(), _, _>(Err(e)))
}

/// Polls `server` with `key` until it is refused; returns how long that took.
async fn until_refused(server: &TestServer, key: &Key, bound: Duration) -> Duration {
    let start = Instant::now();
    loop {
        match list(server, key).await {
            Ok(()) => {
                assert!(start.elapsed() < bound, "the deleted key {} still works after {bound:?}", key.id);
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(e) => {
                assert_err(
                    e,
                    403,
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                );
                return start.elapsed();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_created_and_deleted_on_one_node_hold_on_the_other() {
    let Some(url) = testkit::postgres::database("auth_two_nodes") else { return };
    let u = url.clone();
    let a = TestServer::start_with(move |c| node(c, &u, "a")).await;
    let u = url.clone();
    let b = TestServer::start_with(move |c| node(c, &u, "b")).await;
    let root = a.root_key().await;
    assert_eq!(b.root_key().await.id, root.id, "one root key for both nodes");
    list(&b, &root).await.expect("A's root key signs for B");

    // Created on A: B accepts it at once (one store read), sealed with the shared key.
    let k = server_create_key(&a, &root, "123456789012").await;
    list(&b, &k).await.expect("a key created on A works on B at once");
    list(&a, &k).await.expect("and on A");

    // An id nobody issued: AWS's error on both, however often it is tried.
    let unknown = Key::new("VKIAUNKNOWNUNKNOWN00", "whatever-whatever-whatever-whatever-what");
    for server in [&a, &b, &b, &b] {
        let e = list(server, &unknown).await.unwrap_err();
        assert_err(e, 403, "UnrecognizedClientException", "The security token included in the request is invalid.");
    }

    // Deleted on A: B refuses it within the refresh interval (by notice, in practice at once).
    let bound = control::keys::REFRESH_EVERY + SLACK;
    let as_root = Raw { server: &a, key: root.clone(), service: "lambda", skew: 0 };
    let r = as_root.send("DELETE", &format!("/_versa/keys/{}", k.id), b"", b"").await;
    assert_eq!(r.status, 204, "{}", r.text());
    let took = until_refused(&b, &k, bound).await;
    println!("a key deleted on A was refused by B after {} ms (notice)", took.as_millis());
    let e = list(&a, &k).await.unwrap_err();
    assert_eq!(e.code, "UnrecognizedClientException");

    // A row removed without a notice (as after a lost one): B's periodic re-read drops it.
    let k2 = server_create_key(&a, &root, "123456789012").await;
    list(&b, &k2).await.expect("the second key works on B");
    psql(&url, &format!("DELETE FROM access_keys WHERE access_key_id = '{}'", k2.id));
    let took = until_refused(&b, &k2, bound).await;
    println!("a key removed without a notice was refused by B after {} ms (refresh)", took.as_millis());

    // A key created on B works on A too (both directions), and B lists what A created.
    let as_root_b = Raw { server: &b, key: root.clone(), service: "lambda", skew: 0 };
    let k3 = server_create_key(&b, &root, "210987654321").await;
    list(&a, &k3).await.expect("a key created on B works on A");
    let r = as_root_b.send("GET", "/_versa/keys", b"", b"").await;
    assert_eq!(r.status, 200);
    let ids: Vec<String> =
        r.json()["Keys"].as_array().unwrap().iter().map(|k| k["AccessKeyId"].as_str().unwrap().to_owned()).collect();
    assert!(ids.contains(&k3.id) && ids.contains(&root.id) && !ids.contains(&k.id), "{ids:?}");
}

/// Runs `sql` against the shared database.
fn psql(url: &str, sql: &str) {
    let out = std::process::Command::new("psql").args([url, "-tAc", sql]).output().expect("psql");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
}
