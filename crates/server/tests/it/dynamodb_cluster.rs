//! DynamoDB on several nodes (issue 15): three nodes on one PostgreSQL, the first to start (a
//! `versa` process, so it can be killed) is the DynamoDB home; B and C forward to it.
//!
//! Proves: a table created on the home is there through B and C (put via B, get and query via
//! C, its stream read via C); a stream mapping on an alias created via B delivers the records of
//! items written via C; a forwarded answer is the home's (`x-amzn-RequestId`, `x-amz-crc32`);
//! a hung home (SIGSTOP) costs a request at most the dead interval; with the home killed, B and
//! C answer DynamoDB's 503 `ServiceUnavailable` within [`UNAVAILABLE_BOUND`] (never an empty
//! table); restarted on its data dir, everything is back.

use std::time::{Duration, Instant};

use testkit::{ServerProcess, TestServer};

use crate::cluster::{health, shared_node};
use crate::support::boto3_available;

const HEARTBEAT_MS: u64 = 100;
const DEAD_AFTER_MS: u64 = 1000;
/// How soon a node must answer a DynamoDB request once the home is gone.
const UNAVAILABLE_BOUND: Duration = Duration::from_millis(1500);

/// Waits until the node at `addr` sees `names` live (and only them).
async fn wait_live(addr: std::net::SocketAddr, names: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let h = health(addr).await;
        let mut live: Vec<String> = h["nodes"]
            .as_array()
            .map(|a| {
                a.iter().filter(|n| n["live"] == true).filter_map(|n| n["name"].as_str().map(str::to_owned)).collect()
            })
            .unwrap_or_default();
        live.sort();
        if live == names {
            return;
        }
        assert!(Instant::now() < deadline, "{names:?} never seen live: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One unsigned DynamoDB (or Streams) request (`--auth off`): the answer.
async fn ddb(addr: std::net::SocketAddr, op: &str, body: serde_json::Value) -> testkit::http::Response {
    let prefix = if matches!(op, "ListStreams" | "DescribeStream" | "GetShardIterator" | "GetRecords") {
        "DynamoDBStreams_20120810."
    } else {
        "DynamoDB_20120810."
    };
    let target = format!("{prefix}{op}");
    let headers = [("x-amz-target", target.as_str()), ("content-type", "application/x-amz-json-1.0")];
    let mut c = testkit::http::Client::new(addr);
    c.send("POST", "/", &headers, body.to_string().as_bytes()).await.expect("dynamodb request")
}

fn node_config(c: &mut server::Config, url: &str, name: &str, blobs: &std::path::Path) {
    shared_node(c, url, name, blobs, HEARTBEAT_MS, DEAD_AFTER_MS);
}

fn spawn_home(url: &str, dir: &std::path::Path) -> ServerProcess {
    let (hb, dead) = (HEARTBEAT_MS.to_string(), DEAD_AFTER_MS.to_string());
    ServerProcess::spawn_with(
        &testkit::versa_binary(),
        dir,
        &["--store", url, "--single-node", "--node-id", "a", "--node-heartbeat-ms", &hb, "--node-dead-after-ms", &dead],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_home_serves_every_node_and_its_loss_is_a_clear_503() {
    let Some(url) = testkit::postgres::database("dynamodb_cluster") else { return };
    // The mapped function records its deliveries with boto3 inside its sandbox: without the
    // runtimes' SDK it fails on import and nothing is ever recorded.
    if !boto3_available() || !crate::sdk::sdk_installed() {
        return;
    }
    let blobs = tempfile::tempdir().unwrap();
    let a_dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(blobs.path(), a_dir.path().join("blobs")).unwrap();
    // The first node to start claims the home.
    let a = spawn_home(&url, a_dir.path());
    let (u, b) = (url.clone(), blobs.path().to_owned());
    let bn = TestServer::start_with(move |c| node_config(c, &u, "b", &b)).await;
    let (u, b) = (url.clone(), blobs.path().to_owned());
    let cn = TestServer::start_with(move |c| node_config(c, &u, "c", &b)).await;
    let (b_addr, c_addr) = (bn.addr, cn.addr);
    for addr in [a.addr, b_addr, c_addr] {
        wait_live(addr, &["a", "b", "c"]).await;
        assert_eq!(health(addr).await["node"]["dynamodbHome"], "a");
    }

    let out =
        crate::support::boto3_script("dynamodb_cluster.py", &[&a.endpoint(), &bn.endpoint(), &cn.endpoint()]).await;
    assert_eq!(out["conditional"], "ConditionalCheckFailedException", "{out}");
    assert_eq!(out["missing"], "ResourceNotFoundException", "{out}");
    println!("stream record written via C delivered to the function in {} ms", out["delivery_ms"]);

    // B's files stay empty: the table is only at the home.
    assert!(!bn.data_dir().join("dynamodb").join("000000000000-us-east-1.db").exists());

    // A forwarded answer is the home's: its request id, and a CRC32 of exactly its body.
    let r = ddb(b_addr, "GetItem", serde_json::json!({"TableName":"tab","Key":{"pk":{"S":"p"},"sk":{"N":"3"}}})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["Item"]["v"]["S"], "v3", "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.0"));
    let crc: u32 = r.header("x-amz-crc32").expect("x-amz-crc32").parse().unwrap();
    assert_eq!(crc, crc32fast::hash(&r.body));
    assert!(r.header("x-amzn-requestid").is_some_and(|id| !id.is_empty()));

    // The home hangs (SIGSTOP: connections are accepted, nothing answers): a request via B
    // ends when B counts the home dead (its heartbeats stopped), not at the forward timeout.
    a.signal("STOP");
    let stopped = Instant::now();
    let get = serde_json::json!({"TableName":"tab","Key":{"pk":{"S":"p"},"sk":{"N":"3"}}});
    let r = ddb(b_addr, "GetItem", get.clone()).await;
    let hung = stopped.elapsed();
    a.signal("CONT");
    assert!(matches!(r.status, 500 | 503), "{} {}", r.status, r.text());
    assert!(r.json()["message"].as_str().unwrap().contains("'a'"), "{}", r.text());
    assert!(hung < Duration::from_millis(DEAD_AFTER_MS) + UNAVAILABLE_BOUND, "a hung home held a request {hung:?}");
    println!(
        "home hung (SIGSTOP): a GetItem via B answered {} after {} ms (dead interval {DEAD_AFTER_MS} ms)",
        r.status,
        hung.as_millis()
    );
    // Resumed, it serves again.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = ddb(b_addr, "GetItem", get.clone()).await;
        if r.status == 200 {
            assert_eq!(r.json()["Item"]["v"]["S"], "v3", "{}", r.text());
            break;
        }
        assert!(Instant::now() < deadline, "the resumed home never answered: {}", r.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The home is killed: B and C answer 503 ServiceUnavailable at once (refused connection),
    // and after the dead interval (no live home) too; never an empty table.
    a.kill_9();
    let killed = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut until_dead = Vec::new();
    while killed.elapsed() < Duration::from_millis(DEAD_AFTER_MS * 2) {
        for addr in [b_addr, c_addr] {
            let t = Instant::now();
            let r = ddb(addr, "GetItem", serde_json::json!({"TableName":"tab","Key":{"pk":{"S":"p"},"sk":{"N":"3"}}}))
                .await;
            slowest = slowest.max(t.elapsed());
            assert_eq!(r.status, 503, "{}", r.text());
            let v = r.json();
            assert_eq!(v["__type"], "com.amazonaws.dynamodb.v20120810#ServiceUnavailable", "{v}");
            assert!(v["message"].as_str().unwrap().contains("'a'"), "{v}");
            until_dead.push(v["message"].as_str().unwrap().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(slowest < UNAVAILABLE_BOUND, "a 503 took {slowest:?}");
    assert!(until_dead.iter().any(|m| m.contains("is not running")), "the dead home was never noticed: {until_dead:?}");
    println!(
        "home killed: {} DynamoDB requests via B and C answered 503 ServiceUnavailable, slowest {} ms",
        until_dead.len(),
        slowest.as_millis()
    );
    // A stream read and a write are refused alike (the write is not applied anywhere).
    let r =
        ddb(c_addr, "PutItem", serde_json::json!({"TableName":"tab","Item":{"pk":{"S":"p"},"sk":{"N":"99"}}})).await;
    assert_eq!(r.status, 503, "{}", r.text());
    let r = ddb(b_addr, "ListStreams", serde_json::json!({})).await;
    assert_eq!(r.status, 503, "{}", r.text());
    // A mapping of a stream the home would hold: ServiceException, not "Stream not found".
    let err = testkit::lambda_client(&cn.endpoint(), "test", "us-east-1")
        .create_event_source_mapping()
        .function_name("fn:prod")
        .event_source_arn(out["stream"].as_str().unwrap())
        .starting_position(aws_sdk_lambda::types::EventSourcePosition::Latest)
        .send()
        .await
        .expect_err("a mapping created without its stream");
    let err = err.into_service_error();
    assert!(err.is_service_exception(), "{err:?}");

    // Restarted on its data dir (a new address): everything is back, through B and C.
    let a = spawn_home(&url, a_dir.path());
    let back = Instant::now();
    wait_live(b_addr, &["a", "b", "c"]).await;
    wait_live(c_addr, &["a", "b", "c"]).await;
    let r = ddb(
        c_addr,
        "Query",
        serde_json::json!({"TableName":"tab","KeyConditionExpression":"pk = :p",
        "ExpressionAttributeValues":{":p":{"S":"p"}},"Select":"COUNT"}),
    )
    .await;
    assert_eq!((r.status, r.json()["Count"].clone()), (200, serde_json::json!(10)), "{}", r.text());
    let r = ddb(b_addr, "Scan", serde_json::json!({"TableName":"seen","Select":"COUNT"})).await;
    // Five deliveries before the kill (a batch whose checkpoint the kill cut may come again).
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["Count"].as_u64().unwrap() >= 5, "{}", r.text());
    let r =
        ddb(b_addr, "PutItem", serde_json::json!({"TableName":"tab","Item":{"pk":{"S":"p"},"sk":{"N":"99"}}})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    println!("home restarted: served through B and C {} ms after its start", back.elapsed().as_millis());
    // The mapping resumes on the restarted home: the write via B is delivered.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = ddb(
            c_addr,
            "Scan",
            serde_json::json!({"TableName":"seen","FilterExpression":"sk = :s",
                "ExpressionAttributeValues":{":s":{"N":"99"}},"Select":"COUNT"}),
        )
        .await;
        if r.json()["Count"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the mapping did not resume: {}", r.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.terminate();
    bn.stop().await;
    cn.stop().await;
}

/// `--dynamodb-home` names the home before it runs: the other nodes answer 503 until it does
/// (never from their own empty files), then forward to it; a node naming another home once one
/// is claimed refuses to start. Also measures what the hop costs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_operator_names_the_home_and_a_conflicting_name_refuses_to_start() {
    let Some(url) = testkit::postgres::database("dynamodb_home_flag") else { return };
    let blobs = tempfile::tempdir().unwrap();
    let (u, b) = (url.clone(), blobs.path().to_owned());
    let x = TestServer::start_with(move |c| {
        node_config(c, &u, "x", &b);
        c.dynamodb_home = Some("y".into());
    })
    .await;
    wait_live(x.addr, &["x"]).await;
    let r = ddb(x.addr, "ListTables", serde_json::json!({})).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.json()["message"].as_str().unwrap().contains("'y' is not running"), "{}", r.text());

    let (u, b) = (url.clone(), blobs.path().to_owned());
    let y = TestServer::start_with(move |c| node_config(c, &u, "y", &b)).await;
    wait_live(x.addr, &["x", "y"]).await;
    let table = serde_json::json!({"TableName":"tab","BillingMode":"PAY_PER_REQUEST",
        "KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],
        "AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"}]});
    let r = ddb(x.addr, "CreateTable", table).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = ddb(x.addr, "PutItem", serde_json::json!({"TableName":"tab","Item":{"k":{"S":"a"}}})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let file = "dynamodb/000000000000-us-east-1.db";
    assert!(y.data_dir().join(file).exists() && !x.data_dir().join(file).exists());

    // What the hop costs: GetItem at the home, and through the other node.
    let get = serde_json::json!({"TableName":"tab","Key":{"k":{"S":"a"}}});
    let median = |addr| {
        let get = get.clone();
        async move {
            let mut times = Vec::new();
            for _ in 0..50 {
                let t = Instant::now();
                let r = ddb(addr, "GetItem", get.clone()).await;
                assert_eq!(r.status, 200, "{}", r.text());
                times.push(t.elapsed());
            }
            times.sort();
            times[times.len() / 2]
        }
    };
    let (direct, forwarded) = (median(y.addr).await, median(x.addr).await);
    println!(
        "GetItem median: {} µs at the home, {} µs through another node (hop {} µs; debug build, new connection per request)",
        direct.as_micros(),
        forwarded.as_micros(),
        forwarded.as_micros() as i128 - direct.as_micros() as i128
    );

    // A third node naming another home refuses to start, and says which is the home.
    let dir = tempfile::tempdir().unwrap();
    let mut config = server::Config::new(dir.path().to_owned());
    config.init_program = Some(testkit::versa_binary());
    node_config(&mut config, &url, "z", blobs.path());
    config.dynamodb_home = Some("z".into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = server::run(config, listener, std::future::pending()).await.expect_err("a conflicting home started");
    assert!(err.to_string().contains("the DynamoDB home is already 'y'"), "{err:#}");
    x.stop().await;
    y.stop().await;
}
