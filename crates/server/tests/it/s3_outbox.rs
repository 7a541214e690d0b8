//! An S3 write's notification is never lost: its event is stored with the object (S3's outbox)
//! and reaches the function even if the server dies between the commit and the queueing
//! (`VERSA_FAULT=s3-crash-after-commit`) or is killed with SIGKILL under a burst of uploads.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use testkit::ServerProcess;

use crate::events::{Collector, create_reporter};
use crate::support::*;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_versa"))
}

/// Functions reach the collector on the host's loopback.
const FLAGS: &[&str] = &["--function-network", "host"];

/// `function_arn` (the function, a version or an alias) may be invoked by S3 for `bucket`,
/// and `bucket` exists and sends it every ObjectCreated event.
async fn notify(
    lambda: &aws_sdk_lambda::Client,
    s3: &aws_sdk_s3::Client,
    name: &str,
    alias: Option<&str>,
    bucket: &str,
) {
    crate::s3::allow_s3(lambda, name, alias, bucket).await;
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let target = match alias {
        Some(a) => format!("{}:{a}", arn(name)),
        None => arn(name),
    };
    let config = crate::s3::lambda_config("uploads", &target, &["s3:ObjectCreated:*"]);
    crate::s3::put_notification(s3, bucket, vec![config]).await.unwrap();
}

/// The S3 records the reporter function saw: `(key, event name, invoked ARN)`.
fn records(seen: &[serde_json::Value]) -> Vec<(String, String, String)> {
    seen.iter()
        .filter_map(|v| {
            let r = v["event"]["Records"].get(0)?;
            Some((
                r["s3"]["object"]["key"].as_str()?.to_owned(),
                r["eventName"].as_str()?.to_owned(),
                v["arn"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_before_a_crash_runs_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start().await;
    let first = ServerProcess::spawn_env(bin(), dir.path(), FLAGS, &[("VERSA_FAULT", "s3-crash-after-commit")]);
    let lambda = testkit::lambda_client(&first.endpoint(), "test", REGION);
    let s3 = s3_client_at(&first.endpoint());
    create_reporter(&lambda, "on-upload", &collector).await;
    lambda.publish_version().function_name("on-upload").send().await.unwrap();
    lambda.create_alias().function_name("on-upload").name("live").function_version("1").send().await.unwrap();
    notify(&lambda, &s3, "on-upload", Some("live"), "inbox").await;

    // The object commits, then the server aborts before the event is queued: the client sees
    // the connection break, not an answer.
    let r = s3
        .put_object()
        .bucket("inbox")
        .key("reports/q1 summary.csv")
        .body(ByteStream::from_static(b"a,b\n1,2\n"))
        .send()
        .await;
    assert!(r.is_err(), "the server must die before answering: {r:?}");
    let status = tokio::task::spawn_blocking(move || first.wait_exit(Duration::from_secs(30))).await.unwrap();
    let status = status.expect("the injected crash ends the server");
    assert!(!status.success(), "{status:?}");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(6), "abort() raises SIGABRT");
    assert!(collector.seen().is_empty(), "nothing ran before the crash");

    // Restarted without the fault: the event left in S3's outbox runs, through the alias, once.
    let second = ServerProcess::spawn_with(bin(), dir.path(), FLAGS);
    let seen = collector
        .wait_for(Duration::from_secs(60), "the event of the crashed upload", |s| !records(s).is_empty())
        .await;
    let got = records(&seen);
    assert_eq!(
        got,
        [("reports/q1+summary.csv".to_owned(), "ObjectCreated:Put".to_owned(), format!("{}:live", arn("on-upload")))]
    );
    let record = &seen[0]["event"]["Records"][0];
    assert_eq!(record["s3"]["bucket"]["name"], "inbox");
    assert_eq!(record["s3"]["configurationId"], "uploads");
    assert_eq!(record["s3"]["object"]["size"], 8);
    assert_eq!(seen[0]["version"], "1");
    // The object is there, byte for byte, with the ETag the record names.
    let s3 = s3_client_at(&second.endpoint());
    let object = s3.get_object().bucket("inbox").key("reports/q1 summary.csv").send().await.unwrap();
    assert_eq!(object.e_tag().unwrap().trim_matches('"'), record["s3"]["object"]["eTag"].as_str().unwrap());
    assert_eq!(object.body.collect().await.unwrap().into_bytes().as_ref(), b"a,b\n1,2\n");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(records(&collector.seen()).len(), 1, "delivered once: the crash came before the queueing");

    // Later uploads are answered and run as usual.
    s3.put_object().bucket("inbox").key("next").body(ByteStream::from_static(b"n")).send().await.unwrap();
    collector
        .wait_for(Duration::from_secs(30), "the next upload's event", |s| records(s).iter().any(|r| r.0 == "next"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stored_upload_runs_its_event_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start().await;
    let first = ServerProcess::spawn_with(bin(), dir.path(), FLAGS);
    let lambda = testkit::lambda_client(&first.endpoint(), "test", REGION);
    let s3 = s3_client_at(&first.endpoint());
    create_reporter(&lambda, "burst-sink", &collector).await;
    notify(&lambda, &s3, "burst-sink", None, "burst").await;

    // Four writers upload until the server dies under them.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (s3, acked) = (s3.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let key = format!("w{w}/{i:04}");
                let put = s3.put_object().bucket("burst").key(&key).body(ByteStream::from(vec![b'x'; 512])).send();
                match tokio::time::timeout(Duration::from_secs(30), put).await {
                    Ok(Ok(_)) => acked.lock().unwrap().push(key),
                    _ => return,
                }
            }
        }));
    }
    let start = std::time::Instant::now();
    while acked.lock().unwrap().len() < 24 {
        assert!(start.elapsed() < Duration::from_secs(60), "the uploads are too slow");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::task::spawn_blocking(move || first.kill_9()).await.unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked: BTreeSet<String> = acked.lock().unwrap().iter().cloned().collect();

    // After the restart every acknowledged upload is stored, and every stored upload (some
    // committed without an answer) has run its event at least once.
    let second = ServerProcess::spawn_with(bin(), dir.path(), FLAGS);
    let s3 = s3_client_at(&second.endpoint());
    let stored: BTreeSet<String> = s3
        .list_objects_v2()
        .bucket("burst")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_owned())
        .collect();
    assert!(acked.is_subset(&stored), "acknowledged but missing: {:?}", acked.difference(&stored).collect::<Vec<_>>());
    let seen = collector
        .wait_for(Duration::from_secs(120), "an event for every stored upload", |s| {
            let ran: BTreeSet<String> = records(s).into_iter().map(|r| r.0).collect();
            stored.is_subset(&ran)
        })
        .await;
    let ran = records(&seen);
    assert!(ran.iter().all(|r| stored.contains(&r.0)), "no event for an upload that is not stored");
    eprintln!(
        "{} acknowledged, {} stored, {} events ran ({} more than once)",
        acked.len(),
        stored.len(),
        ran.len(),
        ran.len() - ran.iter().map(|r| &r.0).collect::<BTreeSet<_>>().len()
    );
}
