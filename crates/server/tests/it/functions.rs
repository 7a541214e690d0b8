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
