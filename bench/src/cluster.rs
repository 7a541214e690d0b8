//! `--endpoints URL1,URL2,…`: throughput of nodes sharing one store (issue 15), or of one node
//! when one URL is given, so the two compare: control-plane writes, sync invokes and Event
//! invokes per second, with `--clients` clients spread round robin over the endpoints (a load
//! balancer's part).
//!
//! - **writes:** UpdateAlias, each client alternating its own function's alias between
//!   versions 1 and 2 (a durable write per call, no contention between clients).
//! - **sync invokes:** each client invokes its own function (Python, returns at once), so the
//!   functions' owners spread over the nodes.
//! - **Event invokes:** each client sends `Event` invokes of its own function for the run's
//!   length; the function sends one SQS message through Versa's own API (`AWS_ENDPOINT_URL`)
//!   per execution to its client's queue (one queue each: a queue's sends are serialised by
//!   its lock, which would be the figure otherwise), and the run ends when the queues hold one
//!   message per accepted event (the functions' timeout is 60 s, so an execution slowed by
//!   the load is counted, not retried a minute later):
//!   `accepted/s` is how fast 202s came back, `executed/s` accepted events over the time from
//!   the first send to the last execution.
//!
//! Raw keep-alive HTTP/1.1 (`testkit::http::Client`), unsigned (the servers run `--auth off`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use base64::Engine;
use testkit::http::Client;

const ROLE: &str = "arn:aws:iam::123456789012:role/r";
/// Longest wait for the accepted events to have executed.
const DRAIN_MAX: Duration = Duration::from_secs(300);
/// The functions' timeout: well above an execution slowed by the load.
const FUNCTION_TIMEOUT_S: u64 = 60;

const HANDLER: &str = r#"import json, os, urllib.request
def handler(event, context):
    q = event.get("queue") if isinstance(event, dict) else None
    if q:
        req = urllib.request.Request(
            os.environ["AWS_ENDPOINT_URL"] + "/",
            data=json.dumps({"QueueUrl": q, "MessageBody": context.aws_request_id}).encode(),
            headers={"X-Amz-Target": "AmazonSQS.SendMessage", "Content-Type": "application/x-amz-json-1.0"},
        )
        urllib.request.urlopen(req, timeout=30).read()
    return 1
"#;

fn zip(tag: &str) -> Vec<u8> {
    testkit::zip::files(&[("index.py", format!("# {tag}\n{HANDLER}").as_bytes())])
}

async fn call(
    c: &mut Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    want: u16,
) -> anyhow::Result<String> {
    let r = c.send(method, path, headers, body).await?;
    if r.status != want {
        bail!("{method} {path}: {} {}", r.status, r.text());
    }
    Ok(r.text())
}

async fn sqs(addr: SocketAddr, action: &str, body: serde_json::Value) -> anyhow::Result<serde_json::Value> {
    let target = format!("AmazonSQS.{action}");
    let headers = [("x-amz-target", target.as_str()), ("content-type", "application/x-amz-json-1.0")];
    let text = call(&mut Client::new(addr), "POST", "/", &headers, body.to_string().as_bytes(), 200).await?;
    Ok(serde_json::from_str(&text)?)
}

/// Creates client `k`'s function (versions 1 and 2, alias `live`) through its endpoint.
async fn setup(addr: SocketAddr, name: &str) -> anyhow::Result<()> {
    let mut c = Client::new(addr);
    let b64 = |z: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(z);
    let body = serde_json::json!({
        "FunctionName": name, "Runtime": "python3.12", "Role": ROLE, "Handler": "index.handler",
        "Code": {"ZipFile": b64(zip("1"))}, "Timeout": FUNCTION_TIMEOUT_S,
    });
    call(&mut c, "POST", "/2015-03-31/functions", &[], body.to_string().as_bytes(), 201).await?;
    call(&mut c, "POST", &format!("/2015-03-31/functions/{name}/versions"), &[], b"{}", 201).await?;
    let code = serde_json::json!({ "ZipFile": b64(zip("2")), "Publish": true });
    call(&mut c, "PUT", &format!("/2015-03-31/functions/{name}/code"), &[], code.to_string().as_bytes(), 200).await?;
    let alias = serde_json::json!({ "Name": "live", "FunctionVersion": "1" });
    call(&mut c, "POST", &format!("/2015-03-31/functions/{name}/aliases"), &[], alias.to_string().as_bytes(), 201)
        .await?;
    call(&mut c, "POST", &format!("/2015-03-31/functions/{name}/invocations"), &[], b"{}", 200).await?;
    Ok(())
}

/// Runs `clients` closed-loop clients for `length`, client `k` on `addrs[k % n]`; calls done.
async fn closed_loop<F, Fut>(
    addrs: &[SocketAddr],
    clients: usize,
    length: Duration,
    f: F,
) -> anyhow::Result<(u64, Duration)>
where
    F: Fn(usize, u64, Client) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Client>> + Send,
{
    let f = Arc::new(f);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..clients {
        let (f, addr) = (f.clone(), addrs[k % addrs.len()]);
        tasks.push(tokio::spawn(async move {
            let mut c = Client::new(addr);
            let mut n = 0;
            while start.elapsed() < length {
                c = f(k, n, c).await?;
                n += 1;
            }
            Ok::<_, anyhow::Error>(n)
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await??;
    }
    Ok((done, start.elapsed()))
}

pub async fn run(addrs: &[SocketAddr], prefix: &str, clients: usize, seconds: f64) -> anyhow::Result<()> {
    let length = Duration::from_secs_f64(seconds);
    let names: Vec<String> = (0..clients).map(|k| format!("{prefix}-{k}")).collect();
    for (k, name) in names.iter().enumerate() {
        setup(addrs[k % addrs.len()], name).await?;
    }
    let mut queues = Vec::new();
    for k in 0..clients {
        let q = sqs(addrs[0], "CreateQueue", serde_json::json!({ "QueueName": format!("{prefix}-done-{k}") })).await?;
        queues.push(q["QueueUrl"].as_str().unwrap_or_default().to_owned());
    }
    println!(
        "\n{} node(s), {clients} clients round robin over them, {seconds:.1} s per run (raw HTTP, closed loop):",
        addrs.len()
    );
    println!("{:<34} {:>9} {:>10}", "operation", "calls", "per second");

    let names = Arc::new(names);
    let n2 = names.clone();
    let (done, took) = closed_loop(addrs, clients, length, move |k, n, mut c| {
        let names = n2.clone();
        async move {
            let body = serde_json::json!({ "FunctionVersion": if n % 2 == 0 { "2" } else { "1" } }).to_string();
            call(&mut c, "PUT", &format!("/2015-03-31/functions/{}/aliases/live", names[k]), &[], body.as_bytes(), 200)
                .await?;
            Ok(c)
        }
    })
    .await?;
    println!("{:<34} {:>9} {:>10.0}", "UpdateAlias (durable write)", done, done as f64 / took.as_secs_f64());

    let n2 = names.clone();
    let (done, took) = closed_loop(addrs, clients, length, move |k, _, mut c| {
        let names = n2.clone();
        async move {
            call(&mut c, "POST", &format!("/2015-03-31/functions/{}/invocations", names[k]), &[], b"{}", 200).await?;
            Ok(c)
        }
    })
    .await?;
    println!("{:<34} {:>9} {:>10.0}", "Invoke (sync, warm)", done, done as f64 / took.as_secs_f64());

    let payloads: Vec<String> = queues.iter().map(|q| serde_json::json!({ "queue": q }).to_string()).collect();
    let (n2, payloads) = (names.clone(), Arc::new(payloads));
    let sent_at = Instant::now();
    let (accepted, took) = closed_loop(addrs, clients, length, move |k, _, mut c| {
        let (names, payloads) = (n2.clone(), payloads.clone());
        async move {
            let path = format!("/2015-03-31/functions/{}/invocations", names[k]);
            call(&mut c, "POST", &path, &[("x-amz-invocation-type", "Event")], payloads[k].as_bytes(), 202).await?;
            Ok(c)
        }
    })
    .await?;
    println!("{:<34} {:>9} {:>10.0}", "Invoke (Event), accepted", accepted, accepted as f64 / took.as_secs_f64());
    loop {
        let mut n: u64 = 0;
        for queue in &queues {
            let attrs = sqs(
                addrs[0],
                "GetQueueAttributes",
                serde_json::json!({ "QueueUrl": queue, "AttributeNames": ["ApproximateNumberOfMessages"] }),
            )
            .await?;
            n += attrs["Attributes"]["ApproximateNumberOfMessages"].as_str().unwrap_or("0").parse().unwrap_or(0);
        }
        if n >= accepted {
            break;
        }
        if sent_at.elapsed() > DRAIN_MAX {
            bail!("only {n} of {accepted} events executed after {} s", DRAIN_MAX.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let executed = sent_at.elapsed();
    println!("{:<34} {:>9} {:>10.0}", "Invoke (Event), executed", accepted, accepted as f64 / executed.as_secs_f64());
    Ok(())
}
