//! Database loss mid-run (issue 15, "Bad input"): two `versa` processes on one PostgreSQL
//! (`--single-node` with file blobs, the second node's blobs a symlink to the first's), whose
//! database is stopped the way a crash stops it (`pg_ctl stop -m immediate`) and started again
//! on the same data. While it is down every store-backed call answers Lambda's
//! `ServiceException` (500) within a bound, never a success; once it is back the same processes
//! (not restarted) serve again within a bound, every write acknowledged before the loss is
//! there, every Event invoke accepted before the loss runs, heartbeats resume and the nodes
//! that fenced themselves unfence. Prints the figures.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use testkit::ServerProcess;

use crate::cluster::health;
use crate::events::{Collector, create_reporter};
use crate::support::*;

const HEARTBEAT_MS: u64 = 200;
const DEAD_AFTER_MS: u64 = 1500;
/// Most a call may take to fail while the database is down: the store's call bound
/// (`store::pg::CALL_TIMEOUT`, 10 s) plus slack; a refused connection fails at once.
const FAIL_BOUND: Duration = Duration::from_secs(12);
/// Most the server may take to serve again once the database accepts connections.
const RECOVER_BOUND: Duration = Duration::from_secs(10);
/// Writes acknowledged before the loss (one function each).
const ACKED: usize = 8;
/// Event invokes accepted before the loss (they run one at a time, a second each, so most are
/// still queued or running when the database goes).
const EVENTS: usize = 5;

/// Runs `f`, failing the test if it takes longer than `bound`; its output and how long it took.
async fn within<T>(bound: Duration, what: &str, f: impl Future<Output = T>) -> (T, Duration) {
    let t = Instant::now();
    let out = tokio::time::timeout(bound, f).await.unwrap_or_else(|_| panic!("{what} hung for {bound:?}"));
    (out, t.elapsed())
}

#[track_caller]
fn service_exception(e: AwsError, what: &str) {
    assert_eq!((e.status, e.code.as_str()), (500, "ServiceException"), "{what}: {e:?}");
}

async fn wait_fenced(addr: SocketAddr, fenced: bool, bound: Duration) -> Duration {
    let t = Instant::now();
    loop {
        if health(addr).await["node"]["fenced"] == fenced {
            return t.elapsed();
        }
        assert!(t.elapsed() < bound, "node {addr} never became fenced={fenced}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_loss_fails_fast_recovers_and_loses_nothing_acknowledged() {
    let Some(pg) = testkit::postgres::private("db_loss") else { return };
    let url = pg.create_database("db_loss").unwrap();
    let (hb, dead) = (HEARTBEAT_MS.to_string(), DEAD_AFTER_MS.to_string());
    let flags = |name: &'static str| {
        vec![
            "--store".to_owned(),
            url.clone(),
            "--single-node".to_owned(),
            "--function-network".to_owned(),
            "host".to_owned(),
            "--node-id".to_owned(),
            name.to_owned(),
            "--node-heartbeat-ms".to_owned(),
            hb.clone(),
            "--node-dead-after-ms".to_owned(),
            dead.clone(),
        ]
    };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::create_dir_all(a_dir.path().join("blobs")).unwrap();
    std::os::unix::fs::symlink(a_dir.path().join("blobs"), b_dir.path().join("blobs")).unwrap();
    let a_flags = flags("a");
    let a_flags: Vec<&str> = a_flags.iter().map(String::as_str).collect();
    let a = ServerProcess::spawn_with(&testkit::versa_binary(), a_dir.path(), &a_flags);
    let b_flags = flags("b");
    let b_flags: Vec<&str> = b_flags.iter().map(String::as_str).collect();
    let b = ServerProcess::spawn_with(&testkit::versa_binary(), b_dir.path(), &b_flags);
    let (ca, cb) =
        (testkit::lambda_client(&a.endpoint(), "test", REGION), testkit::lambda_client(&b.endpoint(), "test", REGION));
    let collector = Collector::start().await;

    // Acknowledged before the loss: functions (half on each node), a version and an alias each.
    let mut acked = Vec::new();
    for i in 0..ACKED {
        let c = if i % 2 == 0 { &ca } else { &cb };
        let name = format!("acked-{i}");
        create(c, &name, testkit::zip::tagged(&name)).await;
        c.publish_version().function_name(&name).send().await.unwrap();
        c.create_alias().function_name(&name).name("live").function_version("1").send().await.unwrap();
        acked.push(name);
    }
    create_reporter(&ca, "warm", &collector).await;
    let v1 = ca.publish_version().function_name("warm").send().await.unwrap();
    assert_eq!(v1.version(), Some("1"));
    ca.create_alias().function_name("warm").name("live").function_version("1").send().await.unwrap();
    let r = ca.invoke().function_name("warm").payload(Blob::new(r#"{"warm":1}"#)).send().await.unwrap();
    assert_eq!(r.status_code(), 200);
    // One at a time, a second each: most are queued or running when the database goes.
    create_reporter(&ca, "slow", &collector).await;
    ca.put_function_concurrency().function_name("slow").reserved_concurrent_executions(1).send().await.unwrap();
    for n in 0..EVENTS {
        let r = ca
            .invoke()
            .function_name("slow")
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(format!(r#"{{"n":{n},"sleep":1}}"#)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status_code(), 202);
    }
    collector
        .wait_for(Duration::from_secs(30), "the first Event invoke", |s| s.iter().any(|v| v["function"] == "slow"))
        .await;

    // The other services' PostgreSQL paths: S3 metadata and CloudWatch Logs (their own pools).
    let (s3a, s3b) = (s3_client_at(&a.endpoint()), s3_client_at(&b.endpoint()));
    let logs_a = testkit::logs_client(&a.endpoint(), "test", REGION);
    s3a.create_bucket().bucket("kept").send().await.unwrap();
    s3a.put_object().bucket("kept").key("before").body(b"acked".to_vec().into()).send().await.unwrap();
    logs_a.create_log_group().log_group_name("kept-group").send().await.unwrap();

    // The database goes, the way a crash takes it.
    pg.stop_immediate().unwrap();
    let down = Instant::now();

    // Control-plane calls on both nodes: ServiceException, fast.
    let mut fail_times = Vec::new();
    for (node, c) in [("a", &ca), ("b", &cb)] {
        let (r, t) = within(FAIL_BOUND, "GetFunction", c.get_function().function_name("acked-0").send()).await;
        service_exception(err(r), &format!("GetFunction on {node}"));
        fail_times.push(("GetFunction", node, t));
        let (r, t) = within(FAIL_BOUND, "ListFunctions", c.list_functions().send()).await;
        service_exception(err(r), &format!("ListFunctions on {node}"));
        fail_times.push(("ListFunctions", node, t));
        let update = c.update_alias().function_name("acked-1").name("live").description("during the loss");
        let (r, t) = within(FAIL_BOUND, "UpdateAlias", update.send()).await;
        service_exception(err(r), &format!("UpdateAlias on {node}"));
        fail_times.push(("UpdateAlias", node, t));
        let lost = format!("lost-{node}");
        let (r, t) = within(FAIL_BOUND, "CreateFunction", create_sdk(c, &lost)).await;
        service_exception(r.expect_err("CreateFunction must fail while the database is down"), "CreateFunction");
        fail_times.push(("CreateFunction", node, t));
        let event = c.invoke().function_name("warm").invocation_type(InvocationType::Event).payload(Blob::new("{}"));
        let (r, t) = within(FAIL_BOUND, "Invoke (Event)", event.send()).await;
        service_exception(err(r), &format!("Event invoke on {node}"));
        fail_times.push(("Invoke Event", node, t));
    }
    // S3 and Logs fail too, within the bound (their own pools, no hang).
    let (r, t) = within(
        FAIL_BOUND,
        "S3 PutObject",
        s3b.put_object().bucket("kept").key("during").body(b"x".to_vec().into()).send(),
    )
    .await;
    assert!(r.is_err(), "an S3 write succeeded while the database was down");
    fail_times.push(("S3 PutObject", "b", t));
    let (r, t) =
        within(FAIL_BOUND, "Logs CreateLogGroup", logs_a.create_log_group().log_group_name("lost-group").send()).await;
    assert!(r.is_err(), "a Logs write succeeded while the database was down");
    fail_times.push(("Logs CreateLogGroup", "a", t));
    // A sync invoke of a warm function: its resolution is cached for at most
    // `control::SHARED_RESOLUTION_TTL` (1 s) on a shared store; past that it needs the store.
    tokio::time::sleep(Duration::from_millis(1200).saturating_sub(down.elapsed())).await;
    for (node, c) in [("a", &ca), ("b", &cb)] {
        let (r, t) =
            within(FAIL_BOUND, "Invoke (sync)", c.invoke().function_name("warm").payload(Blob::new("{}")).send()).await;
        service_exception(err(r), &format!("sync invoke on {node}"));
        fail_times.push(("Invoke sync", node, t));
    }
    // The wire shape: Lambda's ServiceException (header and body).
    let mut raw = testkit::http::Client::new(a.addr);
    let (resp, _) =
        within(FAIL_BOUND, "raw GetFunction", raw.send("GET", "/2015-03-31/functions/acked-0", &[], b"")).await;
    let resp = resp.unwrap();
    assert_eq!((resp.status, resp.header("x-amzn-ErrorType")), (500, Some("ServiceException")), "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["Type"], "Service", "{body}");
    assert!(body["Message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    // Both nodes fence themselves once they could not beat for the dead interval.
    wait_fenced(a.addr, true, Duration::from_millis(DEAD_AFTER_MS) * 4).await;
    wait_fenced(b.addr, true, Duration::from_millis(DEAD_AFTER_MS) * 4).await;
    // An upper bound: polling began after the calls above.
    let fenced_by = down.elapsed();
    let outage = down.elapsed();

    // The database returns on the same data; the same processes serve again.
    pg.start_again().unwrap();
    let up = Instant::now();
    let mut recover_times = Vec::new();
    for (node, c) in [("a", &ca), ("b", &cb)] {
        let t = Instant::now();
        loop {
            match c.get_function().function_name("acked-0").send().await {
                Ok(_) => break,
                Err(e) => {
                    assert!(up.elapsed() < RECOVER_BOUND, "node {node} did not serve again: {e:?}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        recover_times.push((if node == "a" { "node a" } else { "node b" }, t.elapsed(), up.elapsed()));
    }
    // S3 and Logs serve again (a pooled connection that broke is replaced). (Object bytes are
    // in the writing node's data dir here: file blobs, so read on a.)
    let t = Instant::now();
    loop {
        let got = s3a.get_object().bucket("kept").key("before").send().await;
        let listed = logs_a.describe_log_groups().log_group_name_prefix("kept").send().await;
        let (got, listed) = match (got, listed) {
            (Ok(o), Ok(l)) => {
                assert_eq!(o.body.collect().await.unwrap().into_bytes().as_ref(), b"acked");
                assert_eq!(l.log_groups().len(), 1, "the log group acknowledged before the loss");
                break;
            }
            (g, l) => (g.err().map(|e| format!("{e:?}")), l.err().map(|e| format!("{e:?}"))),
        };
        assert!(t.elapsed() < RECOVER_BOUND, "S3 or Logs did not serve again: S3 {got:?}; Logs {listed:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    recover_times.push(("S3+Logs", t.elapsed(), up.elapsed()));
    let lost = logs_a.describe_log_groups().log_group_name_prefix("lost").send().await.unwrap();
    assert!(lost.log_groups().is_empty(), "a failed CreateLogGroup was written");
    let unfenced = [wait_fenced(a.addr, false, RECOVER_BOUND).await, wait_fenced(b.addr, false, RECOVER_BOUND).await];
    let unfenced_after = up.elapsed();

    // Nothing acknowledged is lost; nothing that failed was written.
    let listed: Vec<String> = ca
        .list_functions()
        .max_items(1000)
        .send()
        .await
        .unwrap()
        .functions()
        .iter()
        .map(|f| f.function_name().unwrap().to_owned())
        .collect();
    for name in &acked {
        assert!(listed.contains(name), "{name} was acknowledged before the loss and is gone: {listed:?}");
        let alias = cb.get_alias().function_name(name).name("live").send().await.unwrap();
        assert_eq!(alias.function_version(), Some("1"));
        assert_ne!(alias.description(), Some("during the loss"), "a failed UpdateAlias changed {name}");
    }
    assert!(!listed.iter().any(|n| n.starts_with("lost-")), "a failed CreateFunction was written: {listed:?}");

    // Every Event invoke accepted before the loss runs (at least once).
    let seen = collector
        .wait_for(Duration::from_secs(60), "every Event invoke accepted before the loss", |s| {
            (0..EVENTS).all(|n| s.iter().any(|v| v["function"] == "slow" && v["event"]["n"] == n))
        })
        .await;
    let events_done_after = up.elapsed();
    let runs = seen.iter().filter(|v| v["function"] == "slow").count();

    // Writes and invokes work again on both nodes; an alias move on A reaches B's invocations
    // (the notice listener reconnected, or the resolution TTL).
    ca.update_alias().function_name("warm").name("live").description("after").send().await.unwrap();
    create(&cb, "after-loss", testkit::zip::tagged("after")).await;
    ca.update_function_configuration().function_name("warm").description("v2").send().await.unwrap();
    let v2 = ca.publish_version().function_name("warm").send().await.unwrap();
    assert_eq!(v2.version(), Some("2"), "version numbers continue");
    ca.update_alias().function_name("warm").name("live").function_version("2").send().await.unwrap();
    let moved = Instant::now();
    loop {
        let r = cb.invoke().function_name("warm").qualifier("live").payload(Blob::new("{}")).send().await.unwrap();
        if r.executed_version() == Some("2") {
            break;
        }
        assert!(moved.elapsed() < Duration::from_secs(5), "node b kept running version 1 after the alias moved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let alias_seen = moved.elapsed();

    eprintln!("database loss figures (heartbeat {HEARTBEAT_MS} ms, dead after {DEAD_AFTER_MS} ms):");
    for (op, node, t) in &fail_times {
        eprintln!("  time to fail, {op} on {node}: {} ms", t.as_millis());
    }
    eprintln!(
        "  both nodes fenced themselves by {} ms after the loss (dead interval {DEAD_AFTER_MS} ms)",
        fenced_by.as_millis()
    );
    eprintln!("  database down for {} ms", outage.as_millis());
    for (node, t, since_up) in &recover_times {
        eprintln!(
            "  time to recover, {node}: {} ms (first success {} ms after the database was up)",
            t.as_millis(),
            since_up.as_millis()
        );
    }
    eprintln!(
        "  unfenced: a {} ms, b {} ms after polling began; both by {} ms",
        unfenced[0].as_millis(),
        unfenced[1].as_millis(),
        unfenced_after.as_millis()
    );
    eprintln!(
        "  all {EVENTS} Event invokes accepted before the loss ran by {} ms after the database was up ({runs} runs)",
        events_done_after.as_millis()
    );
    eprintln!("  alias move on a seen by b's invocations in {} ms", alias_seen.as_millis());

    assert!(a.terminate(), "node a stops cleanly");
    assert!(b.terminate(), "node b stops cleanly");
}

/// CreateFunction through the SDK, its error as an [`AwsError`].
async fn create_sdk(c: &aws_sdk_lambda::Client, name: &str) -> Result<(), AwsError> {
    let r = c
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .code(aws_sdk_lambda::types::FunctionCode::builder().zip_file(Blob::new(testkit::zip::hello())).build())
        .send()
        .await;
    match r {
        Ok(_) => Ok(()),
        Err(_) => Err(err(r)),
    }
}
