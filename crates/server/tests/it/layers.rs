//! Lambda layers: the layer API with AWS's shapes and errors, functions that reference layers,
//! and layer contents at `/opt` in the function's sandbox.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, FunctionCode, LayerVersionContentInput, Runtime};
use testkit::TestServer;
use testkit::zip::Entry;

use crate::support::*;

const LAYER_NAME_PATTERN: &str = r"(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+";
const NOT_A_ZIP: &str = "Could not unzip uploaded file. Please check your file, then try to upload again.";

fn layer_arn(account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{account}:layer:{name}")
}

fn zip_content(zip: &[u8]) -> LayerVersionContentInput {
    LayerVersionContentInput::builder().zip_file(Blob::new(zip.to_vec())).build()
}

/// Publishes a layer version from a zip of `files`; returns its version ARN.
async fn publish(c: &Client, name: &str, files: &[(&str, &[u8])]) -> String {
    let zip = testkit::zip::files(files);
    let out = c.publish_layer_version().layer_name(name).content(zip_content(&zip)).send().await.expect("publish");
    out.layer_version_arn().unwrap().to_owned()
}

async fn create_with_layers(c: &Client, name: &str, runtime: Runtime, handler: &str, zip: Vec<u8>, layers: &[&str]) {
    let mut req = c
        .create_function()
        .function_name(name)
        .runtime(runtime)
        .role(ROLE)
        .handler(handler)
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build());
    for l in layers {
        req = req.layers(*l);
    }
    req.send().await.expect("create");
}

async fn call(c: &Client, name: &str, qualifier: Option<&str>) -> (Option<String>, serde_json::Value) {
    let r = c.invoke().function_name(name).set_qualifier(qualifier.map(str::to_owned)).send().await.unwrap();
    let body = serde_json::from_slice(r.payload().unwrap().as_ref())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(r.payload().unwrap().as_ref())));
    (r.function_error().map(str::to_owned), body)
}

fn versions(out: &aws_sdk_lambda::operation::list_layer_versions::ListLayerVersionsOutput) -> Vec<i64> {
    out.layer_versions().iter().map(|v| v.version()).collect()
}

/// How many code packages the server stores.
fn stored_blobs(server: &TestServer) -> usize {
    let dir = server.data_dir().join("blobs/sha256");
    std::fs::read_dir(&dir).map(|d| d.flat_map(|s| std::fs::read_dir(s.unwrap().path()).unwrap()).count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_versions_are_published_listed_and_deleted_as_on_aws() {
    let server = TestServer::start().await;
    let (c, statuses) = with_statuses(&server.lambda());
    let usage_before = c.get_account_settings().send().await.unwrap().account_usage().unwrap().total_code_size();

    let zip1 = testkit::zip::files(&[("python/lv.py", b"V = 1\n")]);
    let v1 = c
        .publish_layer_version()
        .layer_name("lifecycle")
        .description("first")
        .content(zip_content(&zip1))
        .compatible_runtimes(Runtime::Python312)
        .compatible_runtimes(Runtime::Nodejs20x)
        .compatible_architectures(Architecture::X8664)
        .license_info("MIT")
        .send()
        .await
        .unwrap();
    assert_eq!(statuses.last(), 201);
    let usage = c.get_account_settings().send().await.unwrap().account_usage().unwrap().total_code_size();
    assert_eq!(usage, usage_before + zip1.len() as i64, "layer versions count toward the account's code storage");
    assert_eq!(v1.version(), 1);
    assert_eq!(v1.layer_arn(), Some(layer_arn(ACCOUNT, "lifecycle").as_str()));
    assert_eq!(v1.layer_version_arn(), Some(format!("{}:1", layer_arn(ACCOUNT, "lifecycle")).as_str()));
    assert_eq!(v1.description(), Some("first"));
    assert_eq!(v1.license_info(), Some("MIT"));
    assert_eq!(v1.compatible_runtimes(), [Runtime::Python312, Runtime::Nodejs20x]);
    assert_eq!(v1.compatible_architectures(), [Architecture::X8664]);
    let content = v1.content().unwrap();
    assert_eq!(content.code_sha256(), Some(code_sha256(&zip1).as_str()));
    assert_eq!(content.code_size(), zip1.len() as i64);
    // `2018-11-14T23:03:52.894+0000`.
    let created = v1.created_date().unwrap();
    assert_eq!(
        (created.len(), &created[10..11], &created[19..20], &created[23..]),
        (28, "T", ".", "+0000"),
        "{created}"
    );
    // `Content.Location` downloads the layer's zip.
    let location = content.location().unwrap();
    let path = &location[location.find("/_versa/").unwrap()..];
    let got = testkit::http::Client::new(server.addr).send("GET", path, &[], b"").await.unwrap();
    assert_eq!((got.status, got.body.as_slice()), (200, zip1.as_slice()));

    // A second version without compatibility lists none.
    let zip2 = testkit::zip::files(&[("python/lv.py", b"V = 2\n")]);
    let v2 = c.publish_layer_version().layer_name("lifecycle").content(zip_content(&zip2)).send().await.unwrap();
    assert_eq!(v2.version(), 2);
    assert!(v2.compatible_runtimes().is_empty() && v2.license_info().is_none());
    assert_eq!(v2.description(), Some(""));

    let got = c.get_layer_version().layer_name("lifecycle").version_number(1).send().await.unwrap();
    assert_eq!((got.version(), got.description(), got.created_date()), (1, Some("first"), Some(created)));
    assert_eq!(got.content().unwrap().code_sha256(), content.code_sha256());
    // By ARN, in both forms.
    let by_arn = c.get_layer_version().layer_name(layer_arn(ACCOUNT, "lifecycle")).version_number(2).send().await;
    assert_eq!(by_arn.unwrap().version(), 2);
    let by_arn = c.get_layer_version_by_arn().arn(v2.layer_version_arn().unwrap()).send().await.unwrap();
    assert_eq!((by_arn.version(), by_arn.content().unwrap().code_size()), (2, zip2.len() as i64));

    // Newest first; filters keep the versions that declare them.
    let all = c.list_layer_versions().layer_name("lifecycle").send().await.unwrap();
    assert_eq!(versions(&all), [2, 1]);
    assert_eq!(all.layer_versions()[1].compatible_runtimes(), [Runtime::Python312, Runtime::Nodejs20x]);
    let py = c.list_layer_versions().layer_name("lifecycle").compatible_runtime(Runtime::Python312).send().await;
    assert_eq!(versions(&py.unwrap()), [1]);
    let arm = c.list_layer_versions().layer_name("lifecycle").compatible_architecture(Architecture::Arm64).send();
    assert!(versions(&arm.await.unwrap()).is_empty());
    let paged = c.list_layer_versions().layer_name("lifecycle").max_items(1).send().await.unwrap();
    assert_eq!(versions(&paged), [2]);
    let rest = c
        .list_layer_versions()
        .layer_name("lifecycle")
        .max_items(1)
        .marker(paged.next_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!((versions(&rest), rest.next_marker()), (vec![1], None));
    let unknown = c.list_layer_versions().layer_name("never-published").send().await.unwrap();
    assert!(unknown.layer_versions().is_empty());

    // ListLayers: each layer with its newest matching version, pages in name order.
    publish(&c, "page-a", &[("a", b"a")]).await;
    publish(&c, "page-b", &[("b", b"b")]).await;
    let layers = c.list_layers().send().await.unwrap();
    let names: Vec<&str> = layers.layers().iter().map(|l| l.layer_name().unwrap()).collect();
    assert_eq!(names, ["lifecycle", "page-a", "page-b"]);
    let item = &layers.layers()[0];
    assert_eq!(item.layer_arn(), Some(layer_arn(ACCOUNT, "lifecycle").as_str()));
    assert_eq!(item.latest_matching_version().unwrap().version(), 2);
    let py = c.list_layers().compatible_runtime(Runtime::Python312).send().await.unwrap();
    assert_eq!(py.layers().len(), 1);
    assert_eq!(py.layers()[0].latest_matching_version().unwrap().version(), 1);
    assert_eq!(py.layers()[0].latest_matching_version().unwrap().description(), Some("first"));
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = c.list_layers().max_items(1).set_marker(marker.clone()).send().await.unwrap();
        assert!(page.layers().len() <= 1);
        seen.extend(page.layers().iter().map(|l| l.layer_name().unwrap().to_owned()));
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["lifecycle", "page-a", "page-b"]);

    // From Versa's own S3, as CreateFunction reads `Code.S3Bucket`/`S3Key`.
    let s3 = s3_client(&server);
    s3.create_bucket().bucket("layer-builds").send().await.unwrap();
    let zip3 = testkit::zip::files(&[("python/lv.py", b"V = 'from s3'\n")]);
    let body = aws_sdk_s3::primitives::ByteStream::from(zip3.clone());
    s3.put_object().bucket("layer-builds").key("lv.zip").body(body).send().await.unwrap();
    let from_s3 = LayerVersionContentInput::builder().s3_bucket("layer-builds").s3_key("lv.zip").build();
    let v = c.publish_layer_version().layer_name("from-s3").content(from_s3).send().await.unwrap();
    assert_eq!(v.content().unwrap().code_sha256(), Some(code_sha256(&zip3).as_str()));

    // Deleting answers 204, also for a version that is already gone; numbers are never reused.
    c.delete_layer_version().layer_name("lifecycle").version_number(2).send().await.unwrap();
    assert_eq!(statuses.last(), 204);
    c.delete_layer_version().layer_name("lifecycle").version_number(2).send().await.unwrap();
    assert_eq!(statuses.last(), 204);
    let e = err(c.get_layer_version().layer_name("lifecycle").version_number(2).send().await);
    assert_err(e, 404, "ResourceNotFoundException", "The resource you requested does not exist.");
    let v3 = c.publish_layer_version().layer_name("lifecycle").content(zip_content(&zip2)).send().await.unwrap();
    assert_eq!(v3.version(), 3, "the deleted highest number is not reused");
    for n in [1, 3] {
        c.delete_layer_version().layer_name(layer_arn(ACCOUNT, "lifecycle")).version_number(n).send().await.unwrap();
    }
    assert!(versions(&c.list_layer_versions().layer_name("lifecycle").send().await.unwrap()).is_empty());
    let names: Vec<String> =
        c.list_layers().send().await.unwrap().layers().iter().map(|l| l.layer_name().unwrap().to_owned()).collect();
    assert_eq!(names, ["from-s3", "page-a", "page-b"], "a layer without versions is not listed");
    let v4 = c.publish_layer_version().layer_name("lifecycle").content(zip_content(&zip1)).send().await.unwrap();
    assert_eq!(v4.version(), 4, "numbering continues after every version was deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_requests_are_validated_with_aws_messages_and_change_nothing() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let zip = testkit::zip::files(&[("python/x.py", b"X = 1\n")]);
    let publish = |name: &str| c.publish_layer_version().layer_name(name).content(zip_content(&zip));

    let e = err(publish("bad.name").send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        &format!(
            "1 validation error detected: Value 'bad.name' at 'layerName' failed to satisfy constraint: Member must \
             satisfy regular expression pattern: {LAYER_NAME_PATTERN}"
        ),
    );
    let long = "l".repeat(141);
    let e = err(publish(&long).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{long}' at 'layerName' failed to satisfy constraint: Member must have \
             length less than or equal to 140"
        ),
    );
    let e = err(publish("v").compatible_runtimes(Runtime::from("python9.9")).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '[python9.9]' at 'compatibleRuntimes' failed to satisfy constraint: \
         Member must satisfy enum value set: [nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, \
         nodejs24.x, nodejs22.x, java17, nodejs16.x, java25, dotnet8, python3.10, java11, python3.11, dotnet6, java21, \
         nodejs18.x, provided.al2, ruby3.3, ruby3.4, java8.al2, ruby3.2, python3.8, python3.9, dotnet10, ruby4.0]",
    );
    let mut many = publish("v");
    for _ in 0..16 {
        many = many.compatible_runtimes(Runtime::Python312);
    }
    let e = err(many.send().await);
    assert_eq!((e.status, e.code.as_str()), (400, "ValidationException"));
    assert!(e.message.unwrap().ends_with(
        "at 'compatibleRuntimes' failed to satisfy constraint: Member must have length less than or equal to 15"
    ));
    let e = err(publish("v").compatible_architectures(Architecture::from("sparc")).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '[sparc]' at 'compatibleArchitectures' failed to satisfy constraint: \
         Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]",
    );
    let three = publish("v")
        .compatible_architectures(Architecture::X8664)
        .compatible_architectures(Architecture::Arm64)
        .compatible_architectures(Architecture::X8664);
    let e = err(three.send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '[x86_64, arm64, x86_64]' at 'compatibleArchitectures' failed to satisfy \
         constraint: Member must have length less than or equal to 2",
    );
    let license = "m".repeat(513);
    let e = err(publish("v").license_info(&license).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{license}' at 'licenseInfo' failed to satisfy constraint: Member must \
             have length less than or equal to 512"
        ),
    );
    // Through raw HTTP: no Content at all, an empty one, and a bucket that does not exist.
    let mut http = testkit::http::Client::new(server.addr);
    let json = [("content-type", "application/json")];
    let r = http.send("POST", "/2018-10-31/layers/v/versions", &json, b"{}").await.unwrap();
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (400, Some("ValidationException")), "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "1 validation error detected: Value null at 'content' failed to satisfy constraint: Member must not be null"
    );
    let r = http.send("POST", "/2018-10-31/layers/v/versions", &json, br#"{"Content":{}}"#).await.unwrap();
    assert_eq!((r.status, r.json()["message"].as_str()), (400, Some("Missing Content")), "{}", r.text());
    let body = br#"{"Content":{"S3Bucket":"no-such-bucket","S3Key":"layer.zip"}}"#;
    let r = http.send("POST", "/2018-10-31/layers/v/versions", &json, body).await.unwrap();
    assert_eq!(r.header("x-amzn-ErrorType"), Some("InvalidParameterValueException"));
    assert_eq!(
        r.json()["message"],
        "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not \
         exist"
    );
    let r = http.send("GET", "/2018-10-31/layers/v/versions/one", &[], b"").await.unwrap();
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (400, Some("InvalidRequestContentException")));

    // Version numbers and lookups.
    let e = err(c.get_layer_version().layer_name("v").version_number(0).send().await);
    assert_err(e, 400, "InvalidParameterValueException", "Layer Version Cannot be less than 1");
    let e = err(c.delete_layer_version().layer_name("v").version_number(-1).send().await);
    assert_err(e, 400, "InvalidParameterValueException", "Layer Version Cannot be less than 1");
    let e = err(c.get_layer_version().layer_name("v").version_number(1).send().await);
    assert_err(e, 404, "ResourceNotFoundException", "The resource you requested does not exist.");
    let e = err(c.get_layer_version_by_arn().arn(format!("{}:1", layer_arn(ACCOUNT, "v"))).send().await);
    assert_err(e, 404, "ResourceNotFoundException", "The resource you requested does not exist.");
    let unversioned = layer_arn(ACCOUNT, "v");
    let e = err(c.get_layer_version_by_arn().arn(&unversioned).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{unversioned}' at 'arn' failed to satisfy constraint: Member must \
             satisfy regular expression pattern: \
             arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{{2}}((-gov)|(-iso(b?)))?-[a-z]+-\\d{{1}}:\\d{{12}}:layer:[a-zA-Z0-9-_]+:[0-9]+"
        ),
    );
    let e = err(c.list_layers().compatible_runtime(Runtime::from("python9.9")).send().await);
    assert_eq!((e.status, e.code.as_str()), (400, "ValidationException"));
    assert!(
        e.message.as_deref().unwrap().starts_with(
            "1 validation error detected: Value 'python9.9' at 'compatibleRuntime' failed to satisfy constraint: \
             Member must satisfy enum value set: [ruby3.5, ruby2.6, dotnetcore1.0, "
        ),
        "{e:?}"
    );
    let e = err(c.list_layers().compatible_architecture(Architecture::from("sparc")).max_items(51).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "2 validation errors detected: Value 'sparc' at 'compatibleArchitecture' failed to satisfy constraint: Member \
         must satisfy enum value set: [x86_64, arm64]; Value '51' at 'maxItems' failed to satisfy constraint: Member \
         must have value less than or equal to 50",
    );
    let e = err(c.list_layer_versions().layer_name("v").max_items(0).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value \
         greater than or equal to 1",
    );
    let e = err(c.list_layers().marker("zz").send().await);
    assert_err(e, 400, "InvalidParameterValueException", "The marker provided is not valid.");

    // None of it stored anything.
    assert!(c.list_layers().send().await.unwrap().layers().is_empty());
    assert_eq!(stored_blobs(&server), 0);
    assert_eq!(c.publish_layer_version().layer_name("v").content(zip_content(&zip)).send().await.unwrap().version(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_version_policies_as_on_aws() {
    let server = TestServer::start().await;
    let (c, statuses) = with_statuses(&server.lambda());
    let arn = publish(&c, "shared", &[("python/s.py", b"S = 1\n")]).await;

    let e = err(c.get_layer_version_policy().layer_name("shared").version_number(1).send().await);
    assert_err(e, 404, "ResourceNotFoundException", "No policy is associated with the given resource.");
    let add = |sid: &str, principal: &str| {
        c.add_layer_version_permission()
            .layer_name("shared")
            .version_number(1)
            .statement_id(sid)
            .action("lambda:GetLayerVersion")
            .principal(principal)
    };
    let one = add("one", "123456789012").send().await.unwrap();
    assert_eq!(statuses.last(), 201);
    assert_eq!(
        one.statement().unwrap(),
        format!(
            r#"{{"Sid":"one","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::123456789012:root"}},"Action":"lambda:GetLayerVersion","Resource":"{arn}"}}"#
        )
    );
    let r1 = one.revision_id().unwrap().to_owned();
    let policy = c.get_layer_version_policy().layer_name("shared").version_number(1).send().await.unwrap();
    assert_eq!(policy.revision_id(), Some(r1.as_str()));
    assert_eq!(
        policy.policy().unwrap(),
        format!(
            r#"{{"Version":"2012-10-17","Id":"default","Statement":[{{"Sid":"one","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::123456789012:root"}},"Action":"lambda:GetLayerVersion","Resource":"{arn}"}}]}}"#
        )
    );
    let e = err(add("one", "*").send().await);
    assert_err(
        e,
        409,
        "ResourceConflictException",
        "The statement id (one) provided already exists. Please provide a new statement id, or remove the existing \
         statement.",
    );
    const STALE: &str = "The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy API \
                         to retrieve the latest Revision Id";
    let e = err(add("all", "*").revision_id("stale").send().await);
    assert_err(e, 412, "PreconditionFailedException", STALE);
    let all = add("all", "*").organization_id("o-abcdefghij").revision_id(&r1).send().await.unwrap();
    assert!(all.statement().unwrap().ends_with(
        r#""Principal":"*","Action":"lambda:GetLayerVersion","Resource":"arn:aws:lambda:us-east-1:000000000000:layer:shared:1","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abcdefghij"}}}"#
    ));
    let r2 = all.revision_id().unwrap().to_owned();
    assert_ne!(r1, r2);

    let e = err(c
        .add_layer_version_permission()
        .layer_name("shared")
        .version_number(1)
        .statement_id("bad id")
        .action("lambda:InvokeFunction")
        .principal("someone")
        .send()
        .await);
    assert_err(
        e,
        400,
        "ValidationException",
        "3 validation errors detected: Value 'bad id' at 'statementId' failed to satisfy constraint: Member must \
         satisfy regular expression pattern: ([a-zA-Z0-9-_]+); Value 'lambda:InvokeFunction' at 'action' failed to \
         satisfy constraint: Member must satisfy regular expression pattern: lambda:GetLayerVersion; Value 'someone' \
         at 'principal' failed to satisfy constraint: Member must satisfy regular expression pattern: \
         \\d{12}|\\*|arn:(aws[a-zA-Z-]*):iam::\\d{12}:root",
    );
    let missing = format!("Layer version {}:9 does not exist.", layer_arn(ACCOUNT, "shared"));
    let e = err(add("x", "*").version_number(9).send().await);
    assert_err(e, 404, "ResourceNotFoundException", &missing);
    let e = err(c.get_layer_version_policy().layer_name("shared").version_number(9).send().await);
    assert_err(e, 404, "ResourceNotFoundException", &missing);

    let remove =
        |sid: &str| c.remove_layer_version_permission().layer_name("shared").version_number(1).statement_id(sid);
    let e = err(remove("one").revision_id(&r1).send().await);
    assert_err(e, 412, "PreconditionFailedException", STALE);
    let e = err(remove("nope").send().await);
    assert_err(e, 404, "ResourceNotFoundException", "Statement nope is not found in resource policy.");
    remove("one").revision_id(&r2).send().await.unwrap();
    assert_eq!(statuses.last(), 204);
    let left = c.get_layer_version_policy().layer_name("shared").version_number(1).send().await.unwrap();
    assert!(left.policy().unwrap().contains(r#""Sid":"all""#) && !left.policy().unwrap().contains(r#""Sid":"one""#));
    remove("all").send().await.unwrap();
    let e = err(c.get_layer_version_policy().layer_name("shared").version_number(1).send().await);
    assert_err(e, 404, "ResourceNotFoundException", "No policy is associated with the given resource.");
    let e = err(remove("all").send().await);
    assert_err(e, 404, "ResourceNotFoundException", "No policy is associated with the given resource.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_reference_layers_and_bad_references_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let a1 = publish(&c, "fl-a", &[("python/a.py", b"A = 1\n")]).await;
    let a2 = publish(&c, "fl-a", &[("python/a.py", b"A = 2\n")]).await;
    let b1 = publish(&c, "fl-b", &[("python/b.py", b"B = 1\n")]).await;
    let b1_size = c.get_layer_version().layer_name("fl-b").version_number(1).send().await.unwrap();
    let b1_size = b1_size.content().unwrap().code_size();

    let create = |name: &str, layers: &[&str]| {
        let mut req = c
            .create_function()
            .function_name(name)
            .runtime(Runtime::Python312)
            .role(ROLE)
            .handler("index.handler")
            .code(FunctionCode::builder().zip_file(Blob::new(testkit::zip::hello())).build());
        for l in layers {
            req = req.layers(*l);
        }
        req.send()
    };
    let created = create("with-layers", &[&a2, &b1]).await.unwrap();
    let shown: Vec<(&str, i64)> = created.layers().iter().map(|l| (l.arn().unwrap(), l.code_size())).collect();
    assert_eq!(shown, [(a2.as_str(), shown[0].1), (b1.as_str(), b1_size)]);
    let got = c.get_function_configuration().function_name("with-layers").send().await.unwrap();
    assert_eq!(got.layers().len(), 2);
    assert_eq!(got.layers()[1].arn(), Some(b1.as_str()));

    // Every refusal leaves nothing behind.
    let refused = |e: AwsError, status: u16, code: &str, message: &str| assert_err(e, status, code, message);
    let six = [&a1, &b1, &a1, &b1, &a1, &b1].map(String::as_str);
    refused(
        err(create("f-six", &six).await),
        400,
        "InvalidParameterValueException",
        "Cannot reference more than 5 layers.",
    );
    let nine = format!("{}:9", layer_arn(ACCOUNT, "fl-a"));
    refused(
        err(create("f-missing", &[&nine]).await),
        400,
        "InvalidParameterValueException",
        &format!("Layer version {nine} does not exist."),
    );
    let elsewhere = format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:fl-a:1");
    refused(
        err(create("f-region", &[&elsewhere]).await),
        400,
        "InvalidParameterValueException",
        "Layers are not in the same region as the function. Layers are expected to be in region us-east-1.",
    );
    refused(
        err(create("f-twice", &[&a1, &b1, &a2]).await),
        400,
        "InvalidParameterValueException",
        &format!(
            "Two different versions of the same layer are not allowed to be referenced in the same function. {a1} and \
             {a2} are versions of the same layer."
        ),
    );
    refused(
        err(create("f-pattern", &["not-an-arn"]).await),
        400,
        "ValidationException",
        "1 validation error detected: Value '[not-an-arn]' at 'layers' failed to satisfy constraint: Member must \
         satisfy constraint: [Member must have length less than or equal to 140, Member must have length greater than \
         or equal to 1, Member must satisfy regular expression pattern: \
         (arn:[a-zA-Z0-9-]+:lambda:[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\\d{1}:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+), \
         Member must not be null]",
    );
    for name in ["f-six", "f-missing", "f-region", "f-twice", "f-pattern"] {
        let e = err(c.get_function().function_name(name).send().await);
        assert_eq!(e.status, 404, "{name} must not exist");
    }

    // Updates: the same refusals leave the function as it was.
    let before = c.get_function_configuration().function_name("with-layers").send().await.unwrap();
    let update = |layers: &[&str]| {
        c.update_function_configuration()
            .function_name("with-layers")
            .set_layers(Some(layers.iter().map(|l| l.to_string()).collect()))
    };
    refused(
        err(update(&[&nine]).send().await),
        400,
        "InvalidParameterValueException",
        &format!("Layer version {nine} does not exist."),
    );
    refused(
        err(update(&six).send().await),
        400,
        "InvalidParameterValueException",
        "Cannot reference more than 5 layers.",
    );
    let after = c.get_function_configuration().function_name("with-layers").send().await.unwrap();
    assert_eq!((after.revision_id(), after.layers()), (before.revision_id(), before.layers()));

    // Changing layers is a configuration change; `Layers: []` removes them all.
    let v1 = c.publish_version().function_name("with-layers").send().await.unwrap();
    let changed = update(&[&b1]).send().await.unwrap();
    assert_eq!(changed.layers().iter().map(|l| l.arn().unwrap()).collect::<Vec<_>>(), [b1.as_str()]);
    let v2 = c.publish_version().function_name("with-layers").send().await.unwrap();
    assert_eq!((v1.version(), v2.version()), (Some("1"), Some("2")));
    assert_eq!(v2.layers().len(), 1);
    let cleared = update(&[]).send().await.unwrap();
    assert!(cleared.layers().is_empty());
    let raw = testkit::http::Client::new(server.addr)
        .send("GET", "/2015-03-31/functions/with-layers/configuration", &[], b"")
        .await
        .unwrap();
    assert!(raw.json().get("Layers").is_none(), "no Layers member without layers: {}", raw.text());
    // Published versions keep what they were cut with.
    let old = c.get_function_configuration().function_name("with-layers").qualifier("1").send().await.unwrap();
    assert_eq!(old.layers().len(), 2);

    // The 250 MB unzipped limit counts the function and its layers together.
    let almost = testkit::zip::bomb(262_144_000 - 10);
    let big = c.publish_layer_version().layer_name("big").content(zip_content(&almost)).send().await.unwrap();
    let big = big.layer_version_arn().unwrap().to_owned();
    let function_size = b"def handler(event, context):\n    return event\n".len();
    refused(
        err(create("f-too-big", &[&big]).await),
        400,
        "InvalidParameterValueException",
        &format!(
            "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. The actual size is \
             {} bytes.",
            262_144_000 - 10 + function_size
        ),
    );
    let big_again = c.publish_layer_version().layer_name("big-2").content(zip_content(&almost)).send().await.unwrap();
    refused(
        err(update(&[&big, big_again.layer_version_arn().unwrap()]).send().await),
        400,
        "InvalidParameterValueException",
        "Layers consume more than the available size of 262144000 bytes",
    );
    let e = err(c.get_function().function_name("f-too-big").send().await);
    assert_eq!(e.status, 404);
    // Small layers still fit.
    create("fits", &[&b1]).await.unwrap();
}

const LAYERED_PY: &str = r#"
import os, subprocess
import mod, shared, sitepkg
def handler(event, context):
    tool = subprocess.run(["layer-tool"], capture_output=True, text=True).stdout.strip()
    return {"mod": mod.NAME, "shared": shared.WHO, "site": sitepkg.X, "tool": tool, "file": mod.__file__}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_contents_are_at_opt_in_order_for_python_node_and_provided() {
    layer_contents_in_order(&TestServer::start().await, true).await;
}

/// Without namespaces (`--sandbox none`) functions see the host: `/opt` is then the merged
/// directory's own path, wherever the runtime looks for layers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_contents_are_found_without_namespaces_too() {
    layer_contents_in_order(&TestServer::start_with(|c| c.sandbox = false).await, false).await;
}

async fn layer_contents_in_order(server: &TestServer, namespaces: bool) {
    let c = server.lambda();
    let tool = b"#!/bin/sh\necho tool-ran\n";
    let base = testkit::zip::build(&[
        Entry::File { name: "python/mod.py", data: b"NAME = 'base'\n", mode: 0o644 },
        Entry::File { name: "python/shared.py", data: b"WHO = 'first'\n", mode: 0o644 },
        Entry::File { name: "python/lib/python3.12/site-packages/sitepkg.py", data: b"X = 12\n", mode: 0o644 },
        Entry::File { name: "bin/layer-tool", data: tool, mode: 0o755 },
    ]);
    let base = c.publish_layer_version().layer_name("py-base").content(zip_content(&base)).send().await.unwrap();
    let over = publish(&c, "py-over", &[("python/shared.py", b"WHO = 'second'\n")]).await;
    let base = base.layer_version_arn().unwrap().to_owned();
    let code = testkit::zip::files(&[("index.py", LAYERED_PY.as_bytes())]);
    create_with_layers(&c, "py-layers", Runtime::Python312, "index.handler", code.clone(), &[&base, &over]).await;
    let (error, mut body) = call(&c, "py-layers", None).await;
    assert_eq!(error, None, "{body}");
    let file = body.as_object_mut().unwrap().remove("file").unwrap();
    let file = file.as_str().unwrap();
    if namespaces {
        assert_eq!(file, "/opt/python/mod.py");
    } else {
        assert!(file.ends_with("/python/mod.py") && !file.starts_with("/opt/"), "{file}");
    }
    assert_eq!(body, serde_json::json!({"mod": "base", "shared": "second", "site": 12, "tool": "tool-ran"}));
    // The other order: the first layer's file wins now.
    create_with_layers(&c, "py-layers-rev", Runtime::Python312, "index.handler", code, &[&over, &base]).await;
    assert_eq!(call(&c, "py-layers-rev", None).await.1["shared"], "first");

    // Node.js: a module from /opt/nodejs/node_modules.
    let node_layer = publish(
        &c,
        "node-mod",
        &[("nodejs/node_modules/layermod/index.js", b"module.exports = { hello: () => 'from the layer' };\n")],
    )
    .await;
    let handler = b"exports.handler = async () => ({ said: require('layermod').hello() });\n";
    let node_code = testkit::zip::files(&[("index.js", handler)]);
    create_with_layers(&c, "node-layers", Runtime::Nodejs20x, "index.handler", node_code, &[&node_layer]).await;
    let (error, body) = call(&c, "node-layers", None).await;
    assert_eq!((error, body), (None, serde_json::json!({"said": "from the layer"})));

    // provided.al2023: the bootstrap comes from a layer (the package has none).
    let bootstrap = r#"#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS=$(mktemp)
  curl -sS -D "$HEADERS" -o /dev/null "$API/invocation/next"
  ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$HEADERS" | cut -d: -f2 | tr -d '[:space:]')
  curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" -d "{\"from\": \"$0\"}"
  rm -f "$HEADERS"
done
"#;
    let boot = testkit::zip::build(&[Entry::File { name: "bootstrap", data: bootstrap.as_bytes(), mode: 0o755 }]);
    let boot = c.publish_layer_version().layer_name("runtime").content(zip_content(&boot)).send().await.unwrap();
    let package = testkit::zip::files(&[("README", b"the runtime is in a layer\n")]);
    create_with_layers(
        &c,
        "provided-layer",
        Runtime::Providedal2023,
        "bootstrap",
        package.clone(),
        &[boot.layer_version_arn().unwrap()],
    )
    .await;
    let (error, body) = call(&c, "provided-layer", None).await;
    assert_eq!(error, None, "{body}");
    let from = body["from"].as_str().unwrap();
    assert!(if namespaces { from == "/opt/bootstrap" } else { from.ends_with("/bootstrap") }, "{body}");
    // Without the layer there is no bootstrap anywhere.
    create_with_layers(&c, "provided-none", Runtime::Providedal2023, "bootstrap", package, &[]).await;
    let (error, body) = call(&c, "provided-none", None).await;
    assert_eq!(error.as_deref(), Some("Unhandled"));
    assert_eq!(body["errorType"], "Runtime.InvalidEntrypoint");
    assert_eq!(body["errorMessage"], "Error: Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]");
}

const KEEP_PY: &str = "import keep\ndef handler(event, context):\n    return keep.VALUE\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_version_keeps_working_after_its_layer_version_is_deleted_and_versa_restarts() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_versa"));
    let dir = tempfile::tempdir().unwrap();
    let first = testkit::ServerProcess::spawn(bin, dir.path());
    let c = testkit::lambda_client(&first.endpoint(), "test", REGION);
    let layer = publish(&c, "keep", &[("python/keep.py", b"VALUE = 'kept'\n")]).await;
    let code = testkit::zip::files(&[("index.py", KEEP_PY.as_bytes())]);
    create_with_layers(&c, "keeper", Runtime::Python312, "index.handler", code, &[&layer]).await;
    c.publish_version().function_name("keeper").send().await.unwrap();
    assert_eq!(call(&c, "keeper", Some("1")).await.1, "kept");

    // $LATEST drops the layer, then the layer version itself is deleted.
    c.update_function_configuration().function_name("keeper").set_layers(Some(Vec::new())).send().await.unwrap();
    c.delete_layer_version().layer_name("keep").version_number(1).send().await.unwrap();
    let e = err(c.get_layer_version().layer_name("keep").version_number(1).send().await);
    assert_eq!(e.status, 404);
    let (error, body) = call(&c, "keeper", None).await;
    assert_eq!((error.as_deref(), body["errorType"].as_str()), (Some("Unhandled"), Some("Runtime.ImportModuleError")));
    assert_eq!(call(&c, "keeper", Some("1")).await.1, "kept");

    // After a restart nothing is unpacked or warm: version 1 starts from the stored layer code.
    assert!(first.terminate(), "clean shutdown");
    let second = testkit::ServerProcess::spawn(bin, dir.path());
    let c = testkit::lambda_client(&second.endpoint(), "test", REGION);
    assert_eq!(call(&c, "keeper", Some("1")).await, (None, serde_json::json!("kept")));
    let v1 = c.get_function_configuration().function_name("keeper").qualifier("1").send().await.unwrap();
    assert_eq!(v1.layers().iter().map(|l| l.arn().unwrap()).collect::<Vec<_>>(), [layer.as_str()]);
    // Deleting the version lets its layer's code go.
    c.delete_function().function_name("keeper").qualifier("1").send().await.unwrap();
    let blobs = dir.path().join("blobs/sha256");
    let stored = std::fs::read_dir(&blobs).unwrap().flat_map(|s| std::fs::read_dir(s.unwrap().path()).unwrap()).count();
    assert_eq!(stored, 1, "only $LATEST's package remains");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_accounts_use_a_layer_only_with_its_permission() {
    let server = TestServer::start().await;
    let owner = testkit::lambda_client(&server.endpoint(), "111111111111", REGION);
    let user = testkit::lambda_client(&server.endpoint(), "222222222222", REGION);
    let stranger = testkit::lambda_client(&server.endpoint(), "333333333333", REGION);
    let arn = publish(&owner, "xacct", &[("python/xmod.py", b"WHO = 'owner'\n")]).await;
    let denied = |account: &str| {
        format!(
            "User: arn:aws:iam::{account}:root is not authorized to perform: lambda:GetLayerVersion on resource: {arn} \
             because no resource-based policy allows the lambda:GetLayerVersion action"
        )
    };
    let code = testkit::zip::files(&[(
        "index.py",
        b"import xmod\ndef handler(event, context):\n    return xmod.WHO\n".as_slice(),
    )]);
    let create = |c: &Client, name: &str| {
        c.create_function()
            .function_name(name)
            .runtime(Runtime::Python312)
            .role(ROLE)
            .handler("index.handler")
            .code(FunctionCode::builder().zip_file(Blob::new(code.clone())).build())
            .layers(&arn)
            .send()
    };

    let e = err(create(&user, "borrower").await);
    assert_err(e, 403, "AccessDeniedException", &denied("222222222222"));
    assert_eq!(err(user.get_function().function_name("borrower").send().await).status, 404);
    let e = err(user.get_layer_version_by_arn().arn(&arn).send().await);
    assert_err(e, 403, "AccessDeniedException", &denied("222222222222"));
    // Another account's layer cannot be changed by the user, whatever its policy.
    let e =
        err(user.delete_layer_version().layer_name(layer_arn("111111111111", "xacct")).version_number(1).send().await);
    assert_eq!((e.status, e.code.as_str()), (403, "AccessDeniedException"));

    owner
        .add_layer_version_permission()
        .layer_name("xacct")
        .version_number(1)
        .statement_id("user")
        .action("lambda:GetLayerVersion")
        .principal("222222222222")
        .send()
        .await
        .unwrap();
    create(&user, "borrower").await.unwrap();
    assert_eq!(call(&user, "borrower", None).await, (None, serde_json::json!("owner")));
    let seen = user.get_layer_version_by_arn().arn(&arn).send().await.unwrap();
    assert_eq!(seen.layer_version_arn(), Some(arn.as_str()));
    let seen = user.get_layer_version().layer_name(layer_arn("111111111111", "xacct")).version_number(1).send().await;
    assert_eq!(seen.unwrap().version(), 1);
    // The permission names one account; others are still refused.
    let e = err(create(&stranger, "stranger").await);
    assert_err(e, 403, "AccessDeniedException", &denied("333333333333"));
    // An organization condition allows no one here (Versa has no organizations).
    owner
        .add_layer_version_permission()
        .layer_name("xacct")
        .version_number(1)
        .statement_id("org")
        .action("lambda:GetLayerVersion")
        .principal("*")
        .organization_id("o-abcdefghij")
        .send()
        .await
        .unwrap();
    assert_eq!(err(create(&stranger, "stranger").await).status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_layer_zips_are_refused_and_nothing_is_stored() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("traversal", testkit::zip::files(&[("../evil.py", b"x")]), NOT_A_ZIP),
        ("absolute", testkit::zip::files(&[("/etc/evil", b"x")]), NOT_A_ZIP),
        ("symlink-out", testkit::zip::build(&[Entry::Symlink { name: "python/link", target: "../../etc" }]), NOT_A_ZIP),
        ("symlink-abs", testkit::zip::build(&[Entry::Symlink { name: "link", target: "/etc/passwd" }]), NOT_A_ZIP),
        (
            // Each link stays inside, together they lead out, and a file is written through them.
            "symlink-chain",
            testkit::zip::build(&[
                Entry::Symlink { name: "b/c", target: ".." },
                Entry::Symlink { name: "l", target: "b/c/.." },
                Entry::File { name: "l/evil.py", data: b"x", mode: 0o644 },
            ]),
            NOT_A_ZIP,
        ),
        ("garbage", b"PK\x03\x04 this is not a zip".to_vec(), NOT_A_ZIP),
        ("bomb", testkit::zip::bomb(262_144_001), "Unzipped size must be smaller than 262144000 bytes"),
    ];
    for (name, zip, message) in &cases {
        let e = err(c.publish_layer_version().layer_name(*name).content(zip_content(zip)).send().await);
        assert_err(e, 400, "InvalidParameterValueException", message);
    }
    // Nothing stored: no layer, no version, no code, and numbering starts at 1.
    assert!(c.list_layers().send().await.unwrap().layers().is_empty());
    for (name, _, _) in &cases {
        assert!(c.list_layer_versions().layer_name(*name).send().await.unwrap().layer_versions().is_empty());
    }
    assert_eq!(stored_blobs(&server), 0);
    let ok = c
        .publish_layer_version()
        .layer_name("traversal")
        .content(zip_content(&testkit::zip::files(&[("python/fine.py", b"x")])))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.version(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_through_the_aws_cli() {
    if !crate::cli::aws_available() {
        return;
    }
    let server = TestServer::start().await;
    let aws = crate::cli::Aws { endpoint: server.endpoint(), home: tempfile::tempdir().unwrap() };
    let layer_zip = aws.home.path().join("layer.zip");
    std::fs::write(&layer_zip, testkit::zip::files(&[("python/climod.py", b"WHO = 'cli layer'\n")])).unwrap();
    let code_zip = aws.home.path().join("fn.zip");
    let handler = b"import climod\ndef handler(event, context):\n    return climod.WHO\n";
    std::fs::write(&code_zip, testkit::zip::files(&[("index.py", handler.as_slice())])).unwrap();

    let published = aws
        .json(&[
            "lambda",
            "publish-layer-version",
            "--layer-name",
            "cli-layer",
            "--zip-file",
            &format!("fileb://{}", layer_zip.display()),
            "--compatible-runtimes",
            "python3.12",
        ])
        .await;
    assert_eq!(published["Version"], 1);
    let arn = published["LayerVersionArn"].as_str().unwrap().to_owned();
    assert_eq!(arn, format!("{}:1", layer_arn(ACCOUNT, "cli-layer")));
    let created = aws
        .json(&[
            "lambda",
            "create-function",
            "--function-name",
            "cli-layered",
            "--runtime",
            "python3.12",
            "--role",
            ROLE,
            "--handler",
            "index.handler",
            "--zip-file",
            &format!("fileb://{}", code_zip.display()),
            "--layers",
            &arn,
        ])
        .await;
    assert_eq!(created["Layers"][0]["Arn"], arn.as_str());
    aws.json(&["lambda", "wait", "function-active-v2", "--function-name", "cli-layered"]).await;
    let out = aws.home.path().join("out.json");
    let invoked = aws.json(&["lambda", "invoke", "--function-name", "cli-layered", &out.display().to_string()]).await;
    assert_eq!(invoked["StatusCode"], 200);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "\"cli layer\"");
    let listed = aws.json(&["lambda", "list-layers", "--compatible-runtime", "python3.12"]).await;
    assert_eq!(listed["Layers"][0]["LatestMatchingVersion"]["LayerVersionArn"], arn.as_str());
    let versions = aws.json(&["lambda", "list-layer-versions", "--layer-name", "cli-layer"]).await;
    assert_eq!(versions["LayerVersions"].as_array().unwrap().len(), 1);
    let got = aws.json(&["lambda", "get-layer-version-by-arn", "--arn", &arn]).await;
    assert_eq!(got["Content"]["CodeSize"], std::fs::metadata(&layer_zip).unwrap().len());
    aws.json(&["lambda", "delete-layer-version", "--layer-name", "cli-layer", "--version-number", "1"]).await;
    let gone = aws.run(&["lambda", "get-layer-version", "--layer-name", "cli-layer", "--version-number", "1"]).await;
    assert!(!gone.ok && gone.stderr.contains("ResourceNotFoundException"), "{}", gone.stderr);
    // The function keeps its layer.
    let again = aws.json(&["lambda", "invoke", "--function-name", "cli-layered", &out.display().to_string()]).await;
    assert_eq!(again["StatusCode"], 200);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "\"cli layer\"");
}
