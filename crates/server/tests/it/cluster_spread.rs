//! What several nodes split between them (issue 15's routing leftovers): provisioned
//! concurrency planned over the top HRW nodes of its version and re-planned off a killed node;
//! the unreserved pool split ⌈limit / k⌉ per node; the per-version cold-start cap; an SQS
//! mapping polled by its HRW owner only, taken over when that owner is killed.

// JUSTIFICATION: the test reads the shared database with `psql`, as an operator would.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_lambda::types::ScalingConfig;
use testkit::{ServerProcess, TestServer};

use crate::cluster::{DEAD_AFTER_MS, HEARTBEAT_MS, create, health, lambda, node_config, psql, wait_live};

/// A handler that names its environment (a random id made at import) and its init type, after
/// sleeping `event["sleep"]` seconds.
/// An SQS batch's records carry it in their JSON bodies.
const HANDLER: &[u8] = br#"import json, os, time, uuid
ENV = uuid.uuid4().hex
def handler(event, context):
    for r in event.get("Records", []):
        time.sleep(json.loads(r["body"]).get("sleep", 0))
    time.sleep(event.get("sleep", 0))
    return {"env": ENV, "init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")}
"#;

fn zip(tag: &str) -> Vec<u8> {
    testkit::zip::files(&[("index.py", HANDLER), ("tag.txt", tag.as_bytes())])
}

/// Invokes `name` on `addr` with `payload`: status, `x-versa-node`, body as JSON (or `null`).
async fn call(addr: std::net::SocketAddr, name: &str, payload: &str) -> (u16, String, serde_json::Value) {
    let mut c = testkit::http::Client::new(addr);
    let path = format!("/2015-03-31/functions/{}/invocations", name.replace(':', "%3A"));
    let r = c.send("POST", &path, &[], payload.as_bytes()).await.expect("invoke");
    let node = r.header("x-versa-node").unwrap_or("").to_owned();
    let body = serde_json::from_str(&r.text()).unwrap_or(serde_json::Value::Null);
    (r.status, node, body)
}

async fn provisioned_status(addr: std::net::SocketAddr, name: &str, qualifier: &str) -> String {
    let r = lambda(addr)
        .get_provisioned_concurrency_config()
        .function_name(name)
        .qualifier(qualifier)
        .send()
        .await
        .expect("get_provisioned_concurrency_config");
    r.status().map(|s| s.as_str().to_owned()).unwrap_or_default()
}

/// `(node id, count, ready)` of every allocation row of the function `name`.
fn allocations(url: &str, name: &str) -> Vec<(String, u32, u32)> {
    let rows = psql(
        url,
        &format!(
            "SELECT string_agg(a.node_id || ':' || a.count || ':' || a.ready, ',' ORDER BY a.node_id) \
             FROM provisioned_allocations a JOIN functions f ON f.id = a.function_id WHERE f.name = '{name}'"
        ),
    );
    rows.split(',')
        .filter(|r| !r.is_empty())
        .map(|r| {
            let p: Vec<&str> = r.split(':').collect();
            (p[0].to_owned(), p[1].parse().unwrap(), p[2].parse().unwrap())
        })
        .collect()
}

/// Provisioned concurrency of 3 on three nodes that each hold 2 environments: the planner puts
/// it on the version's top two HRW nodes (2 + 1), each node keeps only its share, the config is
/// READY when their ready environments add up, invocations through the alias run on the owner
/// on a provisioned environment; when a node holding a share is killed, its share moves to a
/// live node and the config is READY again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provisioned_concurrency_is_spread_over_nodes_and_leaves_a_dead_one() {
    let Some(url) = testkit::postgres::database("cluster_spread_provisioned") else { return };
    let blobs = tempfile::tempdir().unwrap();
    let (u, b) = (url.clone(), blobs.path().to_owned());
    let a = TestServer::start_with(move |c| {
        node_config(c, &u, "a", &b);
        c.max_environments = 2;
    })
    .await;
    let (u, b) = (url.clone(), blobs.path().to_owned());
    let bn = TestServer::start_with(move |c| {
        node_config(c, &u, "b", &b);
        c.max_environments = 2;
    })
    .await;
    let c_dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(blobs.path(), c_dir.path().join("blobs")).unwrap();
    let (hb, dead) = (HEARTBEAT_MS.to_string(), DEAD_AFTER_MS.to_string());
    let cp = ServerProcess::spawn_with(
        &testkit::versa_binary(),
        c_dir.path(),
        &[
            "--store",
            &url,
            "--single-node",
            "--node-id",
            "c",
            "--node-heartbeat-ms",
            &hb,
            "--node-dead-after-ms",
            &dead,
            "--max-environments",
            "2",
        ],
    );
    for addr in [a.addr, bn.addr, cp.addr] {
        wait_live(addr, 3).await;
    }
    let mut ids: BTreeMap<String, (String, std::net::SocketAddr)> = BTreeMap::new();
    for (name, addr) in [("a", a.addr), ("b", bn.addr), ("c", cp.addr)] {
        let id = health(addr).await["node"]["id"].as_str().unwrap().to_owned();
        ids.insert(id, (name.to_owned(), addr));
    }
    let id_of = |n: &str| ids.iter().find(|(_, (name, _))| name == n).unwrap().0.clone();

    // Publish versions until C is among the top two of the version's ranking, so killing C moves
    // a share (HRW is deterministic: the test computes what every node computes).
    create(a.addr, "p", zip("0"), 10).await;
    let fid: i64 = psql(&url, "SELECT id FROM functions WHERE name = 'p'").parse().unwrap();
    let live: Vec<String> = ids.keys().cloned().collect();
    let mut version = 0;
    let mut top = Vec::new();
    for i in 1..=20 {
        let l = lambda(a.addr);
        l.update_function_code()
            .function_name("p")
            .zip_file(aws_sdk_lambda::primitives::Blob::new(zip(&i.to_string())))
            .send()
            .await
            .unwrap();
        let v = l.publish_version().function_name("p").send().await.unwrap();
        version = v.version().unwrap().parse::<u32>().unwrap();
        let key = cluster::hrw::Key { function_id: fid, version, revision: 0 };
        top = cluster::hrw::ranked(live.iter().map(String::as_str), &key, 3)
            .into_iter()
            .map(|i| live[i].clone())
            .collect::<Vec<_>>();
        if top[..2].contains(&id_of("c")) {
            break;
        }
    }
    assert!(top[..2].contains(&id_of("c")), "no version among 20 ranks C in its top two");
    lambda(a.addr)
        .create_alias()
        .function_name("p")
        .name("live")
        .function_version(version.to_string())
        .send()
        .await
        .unwrap();
    let put = Instant::now();
    lambda(bn.addr)
        .put_provisioned_concurrency_config()
        .function_name("p")
        .qualifier("live")
        .provisioned_concurrent_executions(3)
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    while provisioned_status(a.addr, "p", "live").await != "READY" {
        assert!(Instant::now() < deadline, "never READY: {:?}", allocations(&url, "p"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("3 provisioned environments over two nodes READY after {} ms", put.elapsed().as_millis());
    // Every node reports the same cluster-wide status.
    for addr in [bn.addr, cp.addr] {
        assert_eq!(provisioned_status(addr, "p", "live").await, "READY");
    }
    let rows = allocations(&url, "p");
    let want = vec![(top[0].clone(), 2, 2), (top[1].clone(), 1, 1)];
    let mut sorted = want.clone();
    sorted.sort();
    assert_eq!(rows, sorted, "2 + 1 on the top two HRW nodes, all ready");
    // Each node keeps its own share only.
    for (id, (name, addr)) in &ids {
        let held = health(*addr).await["node"]["provisionedReady"].as_u64().unwrap();
        let share = want.iter().find(|w| &w.0 == id).map_or(0, |w| u64::from(w.1));
        assert_eq!(held, share, "node {name} keeps its share");
    }
    // Through the alias, from the node without a share: the owner runs it, provisioned.
    let third = ids.keys().find(|id| !top[..2].contains(id)).unwrap().clone();
    let (s, node, body) = call(ids[&third].1, "p:live", "{}").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(node, ids[&top[0]].0, "the first share's node (the version's owner) runs it");
    assert_eq!(body["init"], "provisioned-concurrency", "{body}");

    // C dies: after the dead interval its share is planned onto a live node, and READY again.
    let c_id = id_of("c");
    cp.kill_9();
    let killed = Instant::now();
    let live_addr = ids.iter().find(|(id, _)| **id != c_id).unwrap().1.1;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let rows = allocations(&url, "p");
        let moved = rows.iter().all(|r| r.0 != c_id) && rows.iter().map(|r| r.1).sum::<u32>() == 3;
        if moved && provisioned_status(live_addr, "p", "live").await == "READY" {
            break;
        }
        assert!(Instant::now() < deadline, "C's share never moved: {rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "C killed: its share re-planned and READY on the survivors after {} ms (dead interval {DEAD_AFTER_MS} ms)",
        killed.elapsed().as_millis()
    );
    let rows = allocations(&url, "p");
    assert!(rows.iter().all(|r| r.1 == r.2 && r.1 <= 2), "each survivor within its capacity: {rows:?}");
    let mut held = 0;
    for addr in [a.addr, bn.addr] {
        held += health(addr).await["node"]["provisionedReady"].as_u64().unwrap();
    }
    assert_eq!(held, 3, "the survivors keep all three");
}

/// With two live nodes each admits at most ⌈4 / 2⌉ = 2 unreserved invocations: five concurrent
/// slow invocations give 2 on each node and one 429 (one node alone would have run four).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unreserved_concurrency_is_split_between_live_nodes() {
    let Some(url) = testkit::postgres::database("cluster_spread_unreserved") else { return };
    let blobs = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        let (u, b) = (url.clone(), blobs.path().to_owned());
        nodes.push(
            TestServer::start_with(move |c| {
                node_config(c, &u, name, &b);
                c.account_concurrency = 4;
            })
            .await,
        );
    }
    for n in &nodes {
        wait_live(n.addr, 2).await;
    }
    create(nodes[0].addr, "u", zip("u"), 10).await;
    // Warm up one environment (the first invoke may meet a not yet visible function).
    let deadline = Instant::now() + Duration::from_secs(20);
    while call(nodes[1].addr, "u", "{}").await.0 != 200 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut calls = Vec::new();
    for i in 0..5 {
        let addr = nodes[i % 2].addr;
        calls.push(tokio::spawn(async move { call(addr, "u", r#"{"sleep": 3}"#).await }));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let mut per_node: BTreeMap<String, u32> = BTreeMap::new();
    let mut throttled = 0;
    for c in calls {
        let (s, node, body) = c.await.unwrap();
        match s {
            200 => *per_node.entry(node).or_default() += 1,
            429 => throttled += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    println!("5 concurrent with an unreserved limit of 4 on two nodes: {per_node:?}, {throttled} throttled");
    assert_eq!(throttled, 1, "{per_node:?}");
    assert_eq!(per_node.values().copied().collect::<Vec<_>>(), vec![2, 2], "two per node: {per_node:?}");
}

/// One node: 50 concurrent first invokes of a new version start only a few environments (at
/// most `COLD_STARTS_PER_VERSION` at once; the others wait and take the warm ones), while 8
/// concurrent slow invokes still get 8 environments (starts are capped, not environments).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cold_starts_of_a_version_are_capped_not_its_environments() {
    let server = TestServer::start().await;
    create(server.addr, "burst", zip("b"), 30).await;
    let started = Instant::now();
    let mut calls = Vec::new();
    for _ in 0..50 {
        let addr = server.addr;
        calls.push(tokio::spawn(async move { call(addr, "burst", "{}").await }));
    }
    let mut envs = HashSet::new();
    for c in calls {
        let (s, _, body) = c.await.unwrap();
        assert_eq!(s, 200, "{body}");
        envs.insert(body["env"].as_str().unwrap().to_owned());
    }
    println!(
        "50 concurrent first invokes: {} cold starts (cap {} at once), {} ms",
        envs.len(),
        invoke::COLD_STARTS_PER_VERSION,
        started.elapsed().as_millis()
    );
    assert!(envs.len() <= 8, "{} environments started for a burst a few serve", envs.len());

    create(server.addr, "slow", zip("s"), 30).await;
    let started = Instant::now();
    let mut calls = Vec::new();
    for _ in 0..8 {
        let addr = server.addr;
        calls.push(tokio::spawn(async move { call(addr, "slow", r#"{"sleep": 2}"#).await }));
    }
    let mut envs = HashSet::new();
    for c in calls {
        let (s, _, body) = c.await.unwrap();
        assert_eq!(s, 200, "{body}");
        envs.insert(body["env"].as_str().unwrap().to_owned());
    }
    let took = started.elapsed();
    println!("8 concurrent 2 s invokes: {} environments, {} ms", envs.len(), took.as_millis());
    assert_eq!(envs.len(), 8, "a sustained burst still scales out");
    assert!(took < Duration::from_secs(9), "not serialised: {took:?}");
}

/// SQS over its JSON protocol (no SQS SDK among the test dependencies).
async fn sqs(addr: std::net::SocketAddr, action: &str, body: serde_json::Value) -> serde_json::Value {
    let mut c = testkit::http::Client::new(addr);
    let target = format!("AmazonSQS.{action}");
    let r = c
        .send(
            "POST",
            "/",
            &[("x-amz-target", target.as_str()), ("content-type", "application/x-amz-json-1.0")],
            body.to_string().as_bytes(),
        )
        .await
        .expect("sqs");
    assert_eq!(r.status, 200, "{action}: {}", r.text());
    r.json()
}

async fn queue_depth(addr: std::net::SocketAddr, url: &str) -> u64 {
    let a = sqs(
        addr,
        "GetQueueAttributes",
        serde_json::json!({"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]}),
    )
    .await;
    let n = |k: &str| a["Attributes"][k].as_str().unwrap_or("0").parse::<u64>().unwrap();
    n("ApproximateNumberOfMessages") + n("ApproximateNumberOfMessagesNotVisible")
}

/// Two nodes, one SQS queue and a mapping on an alias (two workers): messages sent through both
/// nodes are all delivered, never more than two invocations run at once across the nodes (one
/// poller, on the mapping's HRW owner); when that owner is killed the other node takes the
/// mapping over and delivers the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sqs_mapping_is_polled_by_its_owner_and_taken_over_when_it_dies() {
    let Some(url) = testkit::postgres::database("cluster_spread_sqs") else { return };
    let blobs = tempfile::tempdir().unwrap();
    let (u, b) = (url.clone(), blobs.path().to_owned());
    let a = TestServer::start_with(move |c| node_config(c, &u, "a", &b)).await;
    let c_dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(blobs.path(), c_dir.path().join("blobs")).unwrap();
    let (hb, dead) = (HEARTBEAT_MS.to_string(), DEAD_AFTER_MS.to_string());
    let cp = ServerProcess::spawn_with(
        &testkit::versa_binary(),
        c_dir.path(),
        &[
            "--store",
            &url,
            "--single-node",
            "--node-id",
            "c",
            "--node-heartbeat-ms",
            &hb,
            "--node-dead-after-ms",
            &dead,
        ],
    );
    for addr in [a.addr, cp.addr] {
        wait_live(addr, 2).await;
    }
    let a_id = health(a.addr).await["node"]["id"].as_str().unwrap().to_owned();
    let c_id = health(cp.addr).await["node"]["id"].as_str().unwrap().to_owned();

    let q =
        sqs(a.addr, "CreateQueue", serde_json::json!({"QueueName": "work", "Attributes": {"VisibilityTimeout": "2"}}))
            .await;
    let queue_url = q["QueueUrl"].as_str().unwrap().to_owned();
    let attrs =
        sqs(a.addr, "GetQueueAttributes", serde_json::json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]}))
            .await;
    let arn = attrs["Attributes"]["QueueArn"].as_str().unwrap().to_owned();
    create(a.addr, "worker", zip("w"), 2).await;
    let l = lambda(a.addr);
    let v = l.publish_version().function_name("worker").send().await.unwrap();
    l.create_alias().function_name("worker").name("live").function_version(v.version().unwrap()).send().await.unwrap();
    // A mapping owned by C (the HRW owner of its UUID), so that killing C moves it.
    let live = [a_id.clone(), c_id.clone()];
    let uuid = loop {
        let m = l
            .create_event_source_mapping()
            .function_name("worker:live")
            .event_source_arn(&arn)
            .batch_size(1)
            .scaling_config(ScalingConfig::builder().maximum_concurrency(2).build())
            .send()
            .await
            .unwrap();
        let uuid = m.uuid().unwrap().to_owned();
        let owner = cluster::hrw::owner_text(live.iter().map(String::as_str), &uuid).unwrap();
        if live[owner] == c_id {
            break uuid;
        }
        l.delete_event_source_mapping().uuid(&uuid).send().await.unwrap();
        // Deleting is asynchronous (state Deleting): the next create for the same queue and
        // function conflicts until the mapping is gone.
        let gone = Instant::now() + Duration::from_secs(15);
        while l.get_event_source_mapping().uuid(&uuid).send().await.is_ok() {
            assert!(Instant::now() < gone, "mapping {uuid} never went away");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    println!("mapping {uuid} is owned by C");

    // 20 messages, half through each node; each takes 0.4 s. Two workers of one poller run at
    // most two at once, across both nodes (two pollers would run four).
    let body = serde_json::json!({"sleep": 0.4}).to_string();
    for i in 0..20 {
        let via = if i % 2 == 0 { a.addr } else { cp.addr };
        sqs(via, "SendMessage", serde_json::json!({"QueueUrl": queue_url, "MessageBody": body})).await;
    }
    let sent = Instant::now();
    let mut most = 0;
    loop {
        let h = health(a.addr).await;
        let busy: u64 = h["nodes"].as_array().unwrap().iter().map(|n| n["busy"].as_u64().unwrap_or(0)).sum();
        most = most.max(busy);
        if queue_depth(a.addr, &queue_url).await == 0 {
            break;
        }
        assert!(sent.elapsed() < Duration::from_secs(60), "20 messages never drained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("20 messages delivered in {} ms; at most {most} invocations at once", sent.elapsed().as_millis());
    assert!((1..=2).contains(&most), "one poller with two workers: at most 2 at once, saw {most}");

    // 20 more through A; C dies while delivering them: A takes the mapping over and drains.
    for _ in 0..20 {
        sqs(a.addr, "SendMessage", serde_json::json!({"QueueUrl": queue_url, "MessageBody": body})).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while queue_depth(a.addr, &queue_url).await > 17 {
        assert!(Instant::now() < deadline, "C delivered nothing of the second batch");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cp.kill_9();
    let killed = Instant::now();
    loop {
        if queue_depth(a.addr, &queue_url).await == 0 {
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(60), "A never drained the queue after C died");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "C killed mid-delivery: A drained the rest {} ms later (dead interval {DEAD_AFTER_MS} ms, visibility 2 s)",
        killed.elapsed().as_millis()
    );
}

/// A version whose init takes 2 s, invoked 6 times at once through the node that does not own
/// it: the owner starts 2 (the cap), answers the other forwards busy after waiting 1 s, and the
/// sender runs them itself: 2 on the owner, 4 on the sender (without the cap, all 6 would cold
/// start on the owner).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forwarded_invocations_past_the_cold_start_cap_spill() {
    let Some(url) = testkit::postgres::database("cluster_spread_cold_cap") else { return };
    let blobs = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        let (u, b) = (url.clone(), blobs.path().to_owned());
        nodes.push(TestServer::start_with(move |c| node_config(c, &u, name, &b)).await);
    }
    for n in &nodes {
        wait_live(n.addr, 2).await;
    }
    const SLOW_INIT: &[u8] = b"import time\ntime.sleep(2)\n\ndef handler(event, context):\n    return 'done'\n";
    create(nodes[0].addr, "slowinit", testkit::zip::files(&[("index.py", SLOW_INIT)]), 30).await;
    let fid: i64 = psql(&url, "SELECT id FROM functions WHERE name = 'slowinit'").parse().unwrap();
    lambda(nodes[0].addr).publish_version().function_name("slowinit").send().await.unwrap();
    let mut ids = Vec::new();
    for n in &nodes {
        ids.push(health(n.addr).await["node"]["id"].as_str().unwrap().to_owned());
    }
    // Version 1's owner, as every node computes it; the other node sends.
    let key = cluster::hrw::Key { function_id: fid, version: 1, revision: 0 };
    let owner = cluster::hrw::ranked(ids.iter().map(String::as_str), &key, 1)[0];
    let sender = nodes[1 - owner].addr;
    let owner_name = ["a", "b"][owner];
    let mut calls = Vec::new();
    for _ in 0..6 {
        calls.push(tokio::spawn(async move { call(sender, "slowinit:1", "{}").await }));
    }
    let mut per_node: BTreeMap<String, u32> = BTreeMap::new();
    for c in calls {
        let (s, node, body) = c.await.unwrap();
        assert_eq!(s, 200, "{body}");
        *per_node.entry(node).or_default() += 1;
    }
    println!("6 concurrent first invokes (2 s init) sent to the non-owner (owner {owner_name}): {per_node:?}");
    assert_eq!(per_node.get(owner_name), Some(&2), "the owner started only its cap of 2: {per_node:?}");
    assert_eq!(per_node.values().sum::<u32>(), 6);
}
