//! The README quick start, with the functions in `examples/`: create, publish, alias, invoke
//! through the alias, promote, and an asynchronous invoke found in the logs.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, Runtime};
use testkit::TestServer;
use testkit::zip::Entry;

use crate::support::*;

pub(crate) fn example_zip(dir: &str) -> Vec<u8> {
    let root = manifest_dir().join("../../examples").join(dir);
    let mut files = Vec::new();
    for e in std::fs::read_dir(&root).unwrap() {
        let p = e.unwrap().path();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        files.push((p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap(), mode));
    }
    let entries: Vec<Entry<'_>> = files.iter().map(|(n, d, m)| Entry::File { name: n, data: d, mode: *m }).collect();
    testkit::zip::build(&entries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_works_for_every_example() {
    let server = TestServer::start().await;
    let c = server.lambda();
    for (name, dir, runtime, handler, expect) in [
        ("hello-python", "python", Runtime::Python312, "index.handler", "Hello, Versa!"),
        ("hello-node", "nodejs", Runtime::Nodejs22x, "index.handler", "Hello, Versa!"),
        ("hello-shell", "provided", Runtime::Providedal2023, "bootstrap", "Hello from version "),
    ] {
        c.create_function()
            .function_name(name)
            .runtime(runtime)
            .role(ROLE)
            .handler(handler)
            .code(FunctionCode::builder().zip_file(Blob::new(example_zip(dir))).build())
            .send()
            .await
            .unwrap();
        c.publish_version().function_name(name).send().await.unwrap();
        c.create_alias().function_name(name).name("prod").function_version("1").send().await.unwrap();
        c.update_function_configuration().function_name(name).description("v2").send().await.unwrap();
        c.publish_version().function_name(name).send().await.unwrap();

        let call = |c: &aws_sdk_lambda::Client| {
            c.invoke().function_name(name).qualifier("prod").payload(Blob::new(br#"{"name": "Versa"}"#.to_vec())).send()
        };
        let r = call(&c).await.unwrap();
        assert_eq!(r.executed_version(), Some("1"), "{name}");
        let body: serde_json::Value = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
        assert!(body["greeting"].as_str().unwrap().starts_with(expect), "{name}: {body}");
        // Promote: one alias update, and prod runs version 2.
        c.update_alias().function_name(name).name("prod").function_version("2").send().await.unwrap();
        let r = call(&c).await.unwrap();
        assert_eq!(r.executed_version(), Some("2"), "{name}");
    }

    // The asynchronous part: an Event invoke through prod, found in the log of version 2.
    let r = c
        .invoke()
        .function_name("hello-python:prod")
        .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
        .payload(Blob::new(br#"{"name": "async"}"#.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status_code(), 202);
    let hits = crate::logs::find(&server.logs(), "/aws/lambda/hello-python", "greeting async").await;
    assert_eq!(crate::logs::stream_version(&hits[0].0), "2");
}
