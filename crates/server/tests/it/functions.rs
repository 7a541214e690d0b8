//! CreateFunction, GetFunction, GetFunctionConfiguration, UpdateFunction*, DeleteFunction,
//! ListFunctions, GetAccountSettings.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, LastUpdateStatus, Runtime, State};
use testkit::TestServer;

use crate::support::*;

#[tokio::test]
async fn create_get_update_delete_lifecycle() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let zip = testkit::zip::hello();
    let created = c
        .create_function()
        .function_name("lifecycle")
        .runtime(Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .description("first")
        .timeout(5)
        .memory_size(256)
        .environment(Environment::builder().variables("GREETING", "hi").build())
        .code(FunctionCode::builder().zip_file(Blob::new(zip.clone())).build())
        .send()
        .await
        .unwrap();
    assert_eq!(created.function_name(), Some("lifecycle"));
    assert_eq!(created.function_arn(), Some(arn("lifecycle").as_str()));
    assert_eq!(created.version(), Some("$LATEST"));
    assert_eq!(created.state(), Some(&State::Pending));
    assert_eq!(created.state_reason(), Some("The function is being created."));
    assert_eq!(created.last_update_status(), None);
    assert_eq!(created.code_size(), zip.len() as i64);
    assert_eq!(created.timeout(), Some(5));
    assert_eq!(created.memory_size(), Some(256));
    assert_eq!(created.description(), Some("first"));
    assert_eq!(created.environment().unwrap().variables().unwrap()["GREETING"], "hi");
    let sha = {
        use base64::Engine;
        use sha2::{Digest, Sha256};
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip))
    };
    assert_eq!(created.code_sha256(), Some(sha.as_str()));

    let got = c.get_function().function_name("lifecycle").send().await.unwrap();
    let conf = got.configuration().unwrap();
    assert_eq!(conf.state(), Some(&State::Active));
    assert_eq!(conf.last_update_status(), Some(&LastUpdateStatus::Successful));
    assert_eq!(got.code().unwrap().repository_type(), Some("S3"));
    // Code.Location really returns the package.
    let location = got.code().unwrap().location().unwrap().to_owned();
    let path = location.split_once(&server.addr.to_string()).unwrap().1;
    let mut http = testkit::http::Client::new(server.addr);
    let download = http.send("GET", path, &[], b"").await.unwrap();
    assert_eq!(download.status, 200);
    assert_eq!(download.body, zip);
    // A tampered URL is refused.
    let tampered = format!("{}0", path);
    assert_eq!(http.send("GET", &tampered, &[], b"").await.unwrap().status, 403);

    let updated =
        c.update_function_configuration().function_name("lifecycle").description("second").send().await.unwrap();
    assert_eq!(updated.description(), Some("second"));
    assert_eq!(updated.last_update_status(), Some(&LastUpdateStatus::InProgress));
    assert_eq!(updated.state(), Some(&State::Active));
    let after = c.get_function_configuration().function_name("lifecycle").send().await.unwrap();
    assert_eq!(after.last_update_status(), Some(&LastUpdateStatus::Successful));
    assert_eq!(after.description(), Some("second"));
    assert_eq!(after.timeout(), Some(5), "untouched members keep their values");

    c.delete_function().function_name("lifecycle").send().await.unwrap();
    let e = err(c.get_function().function_name("lifecycle").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn("lifecycle")));
}

fn blob_count(server: &TestServer) -> usize {
    let dir = server.data_dir().join("blobs/sha256");
    std::fs::read_dir(dir).unwrap().flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap()).count()
}

#[tokio::test]
async fn code_is_stored_once_and_collected_when_unreferenced() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let shared = testkit::zip::tagged("shared");
    create(&c, "share-a", shared.clone()).await;
    create(&c, "share-b", shared.clone()).await;
    assert_eq!(blob_count(&server), 1, "one package, stored once");

    // A published version keeps its code alive after $LATEST moves on.
    c.publish_version().function_name("share-a").send().await.unwrap();
    c.update_function_code()
        .function_name("share-a")
        .zip_file(Blob::new(testkit::zip::tagged("next")))
        .send()
        .await
        .unwrap();
    c.delete_function().function_name("share-b").send().await.unwrap();
    assert_eq!(blob_count(&server), 2, "version 1 of share-a still uses the shared package");
    c.delete_function().function_name("share-a").qualifier("1").send().await.unwrap();
    assert_eq!(blob_count(&server), 1, "nothing uses the shared package any more");

    // Replacing the only reference frees the old package at once.
    c.update_function_code()
        .function_name("share-a")
        .zip_file(Blob::new(testkit::zip::tagged("third")))
        .send()
        .await
        .unwrap();
    assert_eq!(blob_count(&server), 1);
    c.delete_function().function_name("share-a").send().await.unwrap();
    assert_eq!(blob_count(&server), 0);
}

#[tokio::test]
async fn update_function_code_dry_run_and_revision() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let created = create(&c, "dry", testkit::zip::hello()).await;
    let before = c.get_function_configuration().function_name("dry").send().await.unwrap();
    let next = testkit::zip::tagged("next");
    let dry = c
        .update_function_code()
        .function_name("dry")
        .zip_file(Blob::new(next.clone()))
        .dry_run(true)
        .send()
        .await
        .unwrap();
    assert_eq!(dry.code_size(), next.len() as i64, "a dry run shows the code it would deploy");
    let after = c.get_function_configuration().function_name("dry").send().await.unwrap();
    assert_eq!(after.code_sha256(), created.code_sha256(), "a dry run changes nothing");
    assert_eq!(after.revision_id(), before.revision_id());
    assert_eq!(blob_count(&server), 1);

    let e = err(c
        .update_function_code()
        .function_name("dry")
        .zip_file(Blob::new(next.clone()))
        .revision_id("stale")
        .send()
        .await);
    assert_err(
        e,
        412,
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
    );
    let updated = c
        .update_function_code()
        .function_name("dry")
        .zip_file(Blob::new(next.clone()))
        .revision_id(before.revision_id().unwrap())
        .architectures(aws_sdk_lambda::types::Architecture::Arm64)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.last_update_status(), Some(&LastUpdateStatus::InProgress));
    assert_eq!(updated.architectures(), [aws_sdk_lambda::types::Architecture::Arm64]);
    let after = c.get_function_configuration().function_name("dry").send().await.unwrap();
    assert_ne!(after.code_sha256(), created.code_sha256());
    assert_ne!(after.revision_id(), before.revision_id());
    assert_ne!(after.revision_id(), updated.revision_id(), "the settled revision follows the in-progress one");

    let e = err(c.update_function_configuration().function_name("dry").revision_id("stale").timeout(10).send().await);
    assert_eq!((e.status, e.code.as_str()), (412, "PreconditionFailedException"));
    let e = err(c.update_function_code().function_name("missing").zip_file(Blob::new(next)).send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn("missing")));
}

#[tokio::test]
async fn list_functions_pages_and_all_versions() {
    let server = TestServer::start().await;
    let c = server.lambda();
    for i in 0..7 {
        create(&c, &format!("list-{i}"), testkit::zip::hello()).await;
    }
    c.publish_version().function_name("list-1").send().await.unwrap();
    c.update_function_configuration().function_name("list-1").description("2").send().await.unwrap();
    c.publish_version().function_name("list-1").send().await.unwrap();

    // Default: $LATEST of each function, unqualified ARNs, no state fields.
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = c.list_functions().max_items(3).set_marker(marker.clone()).send().await.unwrap();
        assert!(page.functions().len() <= 3);
        for f in page.functions() {
            assert_eq!(f.version(), Some("$LATEST"));
            assert_eq!(f.function_arn(), Some(arn(f.function_name().unwrap()).as_str()));
            assert!(f.state().is_none() && f.last_update_status().is_none());
            names.push(f.function_name().unwrap().to_owned());
        }
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(names, (0..7).map(|i| format!("list-{i}")).collect::<Vec<_>>());

    // FunctionVersion=ALL: every version, qualified, across page boundaries.
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = c
            .list_functions()
            .function_version(aws_sdk_lambda::types::FunctionVersion::All)
            .max_items(2)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        all.extend(page.functions().iter().map(|f| f.function_arn().unwrap().to_owned()));
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    let mut want: Vec<String> = vec![format!("{}:$LATEST", arn("list-0"))];
    want.extend(["$LATEST", "1", "2"].iter().map(|v| format!("{}:{v}", arn("list-1"))));
    want.extend((2..7).map(|i| format!("{}:$LATEST", arn(&format!("list-{i}")))));
    assert_eq!(all, want);

    // The SDK paginator sees the same.
    let pages: Vec<_> = c.list_functions().max_items(2).into_paginator().send().collect::<Vec<_>>().await;
    assert_eq!(pages.iter().map(|p| p.as_ref().unwrap().functions().len()).sum::<usize>(), 7);

    let e = err(c.list_functions().max_items(0).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    let mut http = testkit::http::Client::new(server.addr);
    let r = http.send("GET", "/2015-03-31/functions?FunctionVersion=invalid", &[], b"").await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "1 validation error detected: Value 'invalid' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]"
    );
}

#[tokio::test]
async fn timestamps_and_defaults_have_aws_encodings() {
    let server = TestServer::start().await;
    let mut http = testkit::http::Client::new(server.addr);
    let body = serde_json::json!({
        "FunctionName": "shape", "Runtime": "python3.12", "Role": ROLE, "Handler": "index.handler",
        "Code": {"ZipFile": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, testkit::zip::hello())},
    });
    let r = http.send("POST", "/2015-03-31/functions", &[], body.to_string().as_bytes()).await.unwrap();
    assert_eq!(r.status, 201);
    assert!(r.header("x-amzn-RequestId").is_some_and(|id| id.len() == 36));
    let j = r.json();
    let lm = j["LastModified"].as_str().unwrap();
    // YYYY-MM-DDThh:mm:ss.SSS+0000
    assert_eq!(lm.len(), 28, "{lm}");
    assert!(lm.ends_with("+0000") && &lm[10..11] == "T" && &lm[19..20] == ".", "{lm}");
    assert_eq!(j["Description"], "");
    assert_eq!(j["Timeout"], 3);
    assert_eq!(j["MemorySize"], 128);
    assert_eq!(j["PackageType"], "Zip");
    assert_eq!(j["Architectures"], serde_json::json!(["x86_64"]));
    assert_eq!(j["EphemeralStorage"], serde_json::json!({"Size": 512}));
    assert_eq!(j["TracingConfig"], serde_json::json!({"Mode": "PassThrough"}));
    assert_eq!(j["SnapStart"], serde_json::json!({"ApplyOn": "None", "OptimizationStatus": "Off"}));
    assert_eq!(j["LoggingConfig"], serde_json::json!({"LogFormat": "Text", "LogGroup": "/aws/lambda/shape"}));
    assert!(
        j["RuntimeVersionConfig"]["RuntimeVersionArn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:lambda:us-east-1::runtime:")
    );
    assert!(j.get("Environment").is_none(), "Environment is absent when never set");
    assert_eq!(j["CodeSha256"].as_str().unwrap().len(), 44);
    assert_eq!(j["RevisionId"].as_str().unwrap().len(), 36);
}
