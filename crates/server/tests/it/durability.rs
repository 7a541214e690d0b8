//! Every acknowledged write survives `kill -9` and a restart; shutdown on SIGTERM is clean.

use aws_sdk_lambda::types::AliasRoutingConfiguration;
use testkit::ServerProcess;

use crate::support::*;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_versa"))
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let first = ServerProcess::spawn(bin(), dir.path());
    let c = testkit::lambda_client(&first.endpoint(), "test", REGION);

    // A mix of every kind of write, each acknowledged before the kill.
    for i in 0..5 {
        create(&c, &format!("durable-{i}"), testkit::zip::tagged(&format!("d{i}"))).await;
    }
    c.publish_version().function_name("durable-0").send().await.unwrap();
    c.update_function_configuration().function_name("durable-0").description("v2").send().await.unwrap();
    c.publish_version().function_name("durable-0").send().await.unwrap();
    c.create_alias().function_name("durable-0").name("prod").function_version("1").send().await.unwrap();
    let routing = AliasRoutingConfiguration::builder().additional_version_weights("2", 0.25).build();
    let alias = c
        .update_alias()
        .function_name("durable-0")
        .name("prod")
        .routing_config(routing)
        .description("canary")
        .send()
        .await
        .unwrap();
    c.tag_resource().resource(arn("durable-1")).tags("team", "core").send().await.unwrap();
    c.delete_function().function_name("durable-4").send().await.unwrap();
    let latest = c.get_function_configuration().function_name("durable-0").send().await.unwrap();

    first.kill_9();
    let second = ServerProcess::spawn(bin(), dir.path());
    let c = testkit::lambda_client(&second.endpoint(), "test", REGION);

    let names: Vec<String> = c
        .list_functions()
        .send()
        .await
        .unwrap()
        .functions()
        .iter()
        .map(|f| f.function_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["durable-0", "durable-1", "durable-2", "durable-3"]);
    let versions: Vec<String> = c
        .list_versions_by_function()
        .function_name("durable-0")
        .send()
        .await
        .unwrap()
        .versions()
        .iter()
        .map(|v| v.version().unwrap().to_owned())
        .collect();
    assert_eq!(versions, ["$LATEST", "1", "2"]);
    let got = c.get_alias().function_name("durable-0").name("prod").send().await.unwrap();
    assert_eq!(got.revision_id(), alias.revision_id());
    assert_eq!(got.description(), Some("canary"));
    assert_eq!(got.routing_config().unwrap().additional_version_weights().unwrap()["2"], 0.25);
    let conf = c.get_function_configuration().function_name("durable-0").send().await.unwrap();
    assert_eq!(conf.revision_id(), latest.revision_id());
    assert_eq!(conf.description(), Some("v2"));
    let tags = c.list_tags().resource(arn("durable-1")).send().await.unwrap();
    assert_eq!(tags.tags().unwrap()["team"], "core");
    // The code is still there, byte for byte.
    let f = c.get_function().function_name("durable-2").send().await.unwrap();
    let location = f.code().unwrap().location().unwrap().to_owned();
    let path = location.split_once(&second.addr.to_string()).unwrap().1.to_owned();
    let body = testkit::http::Client::new(second.addr).send("GET", &path, &[], b"").await.unwrap();
    assert_eq!(body.status, 200);
    assert_eq!(body.body, testkit::zip::tagged("d2"));
    // Version numbers continue after the restart; none is reused.
    c.update_function_configuration().function_name("durable-0").description("v3").send().await.unwrap();
    let v3 = c.publish_version().function_name("durable-0").send().await.unwrap();
    assert_eq!(v3.version(), Some("3"));
    assert!(second.terminate(), "SIGTERM must stop the server cleanly");
}

#[tokio::test]
async fn concurrent_writes_all_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let first = ServerProcess::spawn(bin(), dir.path());
    let endpoint = first.endpoint();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let endpoint = endpoint.clone();
        tasks.push(tokio::spawn(async move {
            let c = testkit::lambda_client(&endpoint, "test", REGION);
            create(&c, &format!("burst-{i:02}"), testkit::zip::hello()).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    first.kill_9();
    let second = ServerProcess::spawn(bin(), dir.path());
    let c = testkit::lambda_client(&second.endpoint(), "test", REGION);
    let all = c.list_functions().max_items(50).send().await.unwrap();
    assert_eq!(all.functions().len(), 32);
    // The one shared package is stored once.
    let blobs = std::fs::read_dir(dir.path().join("blobs/sha256"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .count();
    assert_eq!(blobs, 1);
}

#[tokio::test]
async fn a_second_server_cannot_share_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let _first = ServerProcess::spawn(bin(), dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let r = server::run(server::Config::new(dir.path().to_owned()), listener, std::future::ready(())).await;
    let e = r.expect_err("the data dir is locked");
    assert!(e.to_string().contains("in use by another Versa"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_events_survive_kill_9_and_all_run() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--function-network", "host", "--async-retry-delay", "0.2"];
    let collector = crate::events::Collector::start().await;
    let first = ServerProcess::spawn_with(bin(), dir.path(), &flags);
    let c = testkit::lambda_client(&first.endpoint(), "test", REGION);
    crate::events::create_reporter(&c, "slow-worker", &collector).await;
    // One at a time, a second each: most events are still queued when the server dies.
    c.put_function_concurrency().function_name("slow-worker").reserved_concurrent_executions(1).send().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..6 {
        use aws_sdk_lambda::operation::RequestId;
        let r = c
            .invoke()
            .function_name("slow-worker")
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(format!(r#"{{"i": {i}, "sleep": 1}}"#).into_bytes()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status_code(), 202);
        ids.push(r.request_id().unwrap().to_owned());
    }
    first.kill_9();
    let ran_before = collector.seen().len();
    assert!(ran_before < 6, "the kill came before the queue drained ({ran_before} ran)");

    let _second = ServerProcess::spawn_with(bin(), dir.path(), &flags);
    let seen = collector
        .wait_for(std::time::Duration::from_secs(60), "every accepted event", |s| {
            ids.iter().all(|id| s.iter().any(|v| v["request_id"] == id.as_str()))
        })
        .await;
    // At least once: an event that was running at the kill may run twice, none is lost.
    for id in &ids {
        let n = seen.iter().filter(|v| v["request_id"] == id.as_str()).count();
        assert!((1..=2).contains(&n), "{id} ran {n} times");
    }
}

/// Event invokes accepted concurrently share group commits (many 202s per transaction): each
/// 202 still means committed. 256 events from 32 clients at once, `kill -9` right after the
/// last 202 (most are still queued), a restart: every accepted event runs, at least once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrently_accepted_events_survive_kill_9_and_all_run() {
    const CLIENTS: usize = 32;
    const EACH: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--function-network", "host", "--async-retry-delay", "0.2"];
    let collector = crate::events::Collector::start().await;
    let first = ServerProcess::spawn_with(bin(), dir.path(), &flags);
    let c = testkit::lambda_client(&first.endpoint(), "test", REGION);
    crate::events::create_reporter(&c, "batched", &collector).await;
    // A few at a time: the queue is far from drained when the server dies.
    c.put_function_concurrency().function_name("batched").reserved_concurrent_executions(4).send().await.unwrap();
    let mut tasks = Vec::new();
    for k in 0..CLIENTS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..EACH {
                use aws_sdk_lambda::operation::RequestId;
                let r = c
                    .invoke()
                    .function_name("batched")
                    .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
                    .payload(aws_sdk_lambda::primitives::Blob::new(format!(r#"{{"k": {k}, "i": {i}}}"#).into_bytes()))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status_code(), 202);
                ids.push(r.request_id().unwrap().to_owned());
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    first.kill_9();
    let ran_before = collector.seen().len();
    assert_eq!(ids.len(), CLIENTS * EACH);
    assert!(ran_before < ids.len(), "the kill came before the queue drained ({ran_before} ran)");

    let _second = ServerProcess::spawn_with(bin(), dir.path(), &flags);
    let seen = collector
        .wait_for(std::time::Duration::from_secs(120), "every accepted event", |s| {
            let ran: std::collections::HashSet<&str> = s.iter().filter_map(|v| v["request_id"].as_str()).collect();
            ids.iter().all(|id| ran.contains(id.as_str()))
        })
        .await;
    for id in &ids {
        let n = seen.iter().filter(|v| v["request_id"] == id.as_str()).count();
        assert!((1..=2).contains(&n), "{id} ran {n} times");
    }
}
