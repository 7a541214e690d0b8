//! The server on a PostgreSQL store (`--store postgres://…`): a whole story through the AWS
//! SDK, `kill -9`, and everything read back from the database by a new process; bad store URLs
//! stop the start with an error naming what is wrong.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use testkit::ServerProcess;

use crate::events::{Collector, create_reporter};
use crate::support::*;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_versa"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_story_on_postgres_survives_kill_9() {
    let Some(url) = testkit::postgres::database("server_story") else { return };
    let dir = tempfile::tempdir().unwrap();
    // One node, code in its own data dir: --single-node (a shared store wants shared blobs).
    let flags = ["--store", url.as_str(), "--single-node", "--function-network", "host"];
    let collector = Collector::start().await;
    let first = ServerProcess::spawn_with(bin(), dir.path(), &flags);
    let c = testkit::lambda_client(&first.endpoint(), "test", REGION);

    create_reporter(&c, "pg-story", &collector).await;
    let v1 = c.publish_version().function_name("pg-story").send().await.unwrap();
    assert_eq!(v1.version(), Some("1"));
    c.update_function_configuration().function_name("pg-story").description("second").send().await.unwrap();
    let v2 = c.publish_version().function_name("pg-story").send().await.unwrap();
    assert_eq!(v2.version(), Some("2"));
    let alias = c.create_alias().function_name("pg-story").name("live").function_version("1").send().await.unwrap();
    c.tag_resource().resource(arn("pg-story")).tags("store", "postgres").send().await.unwrap();
    // A second create of the same name is refused as on SQLite.
    let again = c
        .create_function()
        .function_name("pg-story")
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .code(aws_sdk_lambda::types::FunctionCode::builder().zip_file(Blob::new(testkit::zip::hello())).build())
        .send()
        .await;
    assert_eq!(err(again).code, "ResourceConflictException");

    let sync = c.invoke().function_name("pg-story").qualifier("live").payload(Blob::new(r#"{"n":1}"#)).send().await;
    let sync = sync.unwrap();
    assert_eq!((sync.status_code(), sync.executed_version()), (200, Some("1")));
    let event = c
        .invoke()
        .function_name("pg-story")
        .qualifier("live")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(r#"{"n":2}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(event.status_code(), 202);
    let seen = collector
        .wait_for(Duration::from_secs(30), "the Event invoke", |s| s.iter().any(|v| v["event"]["n"] == 2))
        .await;
    assert_eq!(seen.iter().find(|v| v["event"]["n"] == 2).unwrap()["version"], "1");
    // Every write reached PostgreSQL: the data dir has no SQLite store.
    assert!(!dir.path().join("versa.db").exists());

    first.kill_9();
    let second = ServerProcess::spawn_with(bin(), dir.path(), &flags);
    let c = testkit::lambda_client(&second.endpoint(), "test", REGION);
    let versions: Vec<String> = c
        .list_versions_by_function()
        .function_name("pg-story")
        .send()
        .await
        .unwrap()
        .versions()
        .iter()
        .map(|v| v.version().unwrap().to_owned())
        .collect();
    assert_eq!(versions, ["$LATEST", "1", "2"]);
    let got = c.get_alias().function_name("pg-story").name("live").send().await.unwrap();
    assert_eq!((got.function_version(), got.revision_id()), (Some("1"), alias.revision_id()));
    let conf = c.get_function_configuration().function_name("pg-story").send().await.unwrap();
    assert_eq!(conf.description(), Some("second"));
    let tags = c.list_tags().resource(arn("pg-story")).send().await.unwrap();
    assert_eq!(tags.tags().unwrap()["store"], "postgres");
    // The alias moves, and the next Event invoke (a new process's worker) runs the new version.
    c.update_alias().function_name("pg-story").name("live").function_version("2").send().await.unwrap();
    let event = c
        .invoke()
        .function_name("pg-story")
        .qualifier("live")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(r#"{"n":3}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(event.status_code(), 202);
    let seen = collector
        .wait_for(Duration::from_secs(30), "the Event invoke after the restart", |s| {
            s.iter().any(|v| v["event"]["n"] == 3)
        })
        .await;
    assert_eq!(seen.iter().find(|v| v["event"]["n"] == 3).unwrap()["version"], "2");
    // Version numbers continue; none is reused.
    c.update_function_configuration().function_name("pg-story").description("third").send().await.unwrap();
    let v3 = c.publish_version().function_name("pg-story").send().await.unwrap();
    assert_eq!(v3.version(), Some("3"));
    assert!(second.terminate(), "SIGTERM must stop the server cleanly");
}

/// What `versa server` says when the store cannot be used; nothing listens.
async fn start_error(dir: &std::path::Path, url: &str) -> String {
    let mut config = server::Config::new(dir.to_owned());
    config.store = server::StoreLocation::parse(url).unwrap();
    config.single_node = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let r = server::run(config, listener, std::future::ready(())).await;
    format!("{:#}", r.expect_err("the store is unusable"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_store_urls_stop_the_start_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let e = server::StoreLocation::parse("mysql://u:pw@host/db").unwrap_err();
    assert!(e.contains("expected sqlite://PATH or postgres://") && !e.contains("pw"), "{e}");
    let e = start_error(dir.path(), "postgres://u:pw@host:notaport/db").await;
    assert!(e.contains("invalid PostgreSQL URL") && !e.contains("pw@"), "{e}");
    let nowhere = tempfile::tempdir().unwrap();
    let url = format!("postgresql:///versa?user=versa&host={}", nowhere.path().display());
    let e = start_error(dir.path(), &url).await;
    assert!(e.contains("cannot connect to PostgreSQL at"), "{e}");

    let Some(url) = testkit::postgres::database("newer_schema") else { return };
    let cluster = testkit::postgres::cluster().unwrap();
    drop(server::open_store(&server::StoreLocation::Postgres(url.clone()), dir.path()).await.unwrap());
    cluster.sql(&url, "UPDATE versa_schema SET version = 999").unwrap();
    let e = start_error(dir.path(), &url).await;
    assert!(e.contains("schema version 999, newer than this Versa knows"), "{e}");
    assert_eq!(cluster.sql(&url, "SELECT version FROM versa_schema").unwrap(), "999");
    assert_eq!(cluster.sql(&url, "SELECT count(*) FROM functions").unwrap(), "0");
}
