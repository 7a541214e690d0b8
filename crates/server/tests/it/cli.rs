//! The unchanged `aws` CLI against the real server: the smoke test of "works with the tools
//! users already have".
//!
//! Needs `aws` on PATH. When it is missing the test says so and passes, unless
//! `VERSA_REQUIRE_AWS_CLI=1` (CI sets it, and `.ci/run` installs the CLI).

// JUSTIFICATION: the point of this test is running the real `aws` executable.
#![allow(clippy::disallowed_methods)]

use std::process::Command;

use testkit::TestServer;

use crate::support::ROLE;

pub(crate) struct Aws {
    pub(crate) endpoint: String,
    pub(crate) home: tempfile::TempDir,
}

pub(crate) struct Out {
    pub(crate) ok: bool,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Aws {
    pub(crate) async fn run(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new("aws");
        cmd.args(["--endpoint-url", &self.endpoint, "--region", "us-east-1", "--output", "json"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_CONFIG_FILE", self.home.path().join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.home.path().join("credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "");
        let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect("run aws");
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub(crate) async fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args).await;
        assert!(out.ok, "aws {args:?} failed: {}", out.stderr);
        if out.stdout.trim().is_empty() {
            return serde_json::Value::Null;
        }
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("aws {args:?}: {e}: {}", out.stdout))
    }
}

pub(crate) fn aws_available() -> bool {
    let found = Command::new("aws").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("VERSA_REQUIRE_AWS_CLI").as_deref() != Ok("1"),
            "VERSA_REQUIRE_AWS_CLI=1 but the aws CLI is not on PATH"
        );
        eprintln!("skipping: the aws CLI is not installed (set VERSA_REQUIRE_AWS_CLI=1 to make this an error)");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_smoke() {
    if !aws_available() {
        return;
    }
    let server = TestServer::start().await;
    let aws = Aws { endpoint: server.endpoint(), home: tempfile::tempdir().unwrap() };
    let zip_path = aws.home.path().join("fn.zip");
    std::fs::write(&zip_path, testkit::zip::hello()).unwrap();
    let zip_arg = format!("fileb://{}", zip_path.display());

    let created = aws
        .json(&[
            "lambda",
            "create-function",
            "--function-name",
            "cli-fn",
            "--runtime",
            "python3.12",
            "--role",
            ROLE,
            "--handler",
            "index.handler",
            "--zip-file",
            &zip_arg,
        ])
        .await;
    assert_eq!(created["State"], "Pending");
    aws.json(&["lambda", "wait", "function-active-v2", "--function-name", "cli-fn"]).await;
    let updated = aws
        .json(&["lambda", "update-function-configuration", "--function-name", "cli-fn", "--description", "two"])
        .await;
    assert_eq!(updated["LastUpdateStatus"], "InProgress");
    aws.json(&["lambda", "wait", "function-updated-v2", "--function-name", "cli-fn"]).await;
    let v1 = aws.json(&["lambda", "publish-version", "--function-name", "cli-fn"]).await;
    assert_eq!(v1["Version"], "1");
    aws.json(&["lambda", "update-function-configuration", "--function-name", "cli-fn", "--description", "three"]).await;
    let v2 = aws.json(&["lambda", "publish-version", "--function-name", "cli-fn", "--description", "second"]).await;
    assert_eq!(v2["Version"], "2");
    assert_eq!(v2["Description"], "second");
    let alias = aws
        .json(&[
            "lambda",
            "create-alias",
            "--function-name",
            "cli-fn",
            "--name",
            "prod",
            "--function-version",
            "1",
            "--routing-config",
            "AdditionalVersionWeights={2=0.25}",
        ])
        .await;
    assert_eq!(alias["AliasArn"], "arn:aws:lambda:us-east-1:000000000000:function:cli-fn:prod");
    assert_eq!(alias["RoutingConfig"]["AdditionalVersionWeights"]["2"], 0.25);
    let moved = aws
        .json(&[
            "lambda",
            "update-alias",
            "--function-name",
            "cli-fn",
            "--name",
            "prod",
            "--function-version",
            "2",
            "--routing-config",
            "AdditionalVersionWeights={}",
        ])
        .await;
    assert_eq!(moved["FunctionVersion"], "2");
    assert!(moved.get("RoutingConfig").is_none());
    let through_alias = aws.json(&["lambda", "get-function", "--function-name", "cli-fn:prod"]).await;
    assert_eq!(through_alias["Configuration"]["Version"], "2");
    let versions = aws.json(&["lambda", "list-versions-by-function", "--function-name", "cli-fn"]).await;
    let listed: Vec<&str> =
        versions["Versions"].as_array().unwrap().iter().map(|v| v["Version"].as_str().unwrap()).collect();
    assert_eq!(listed, ["$LATEST", "1", "2"]);
    let aliases = aws.json(&["lambda", "list-aliases", "--function-name", "cli-fn"]).await;
    assert_eq!(aliases["Aliases"].as_array().unwrap().len(), 1);
    aws.json(&[
        "lambda",
        "tag-resource",
        "--resource",
        "arn:aws:lambda:us-east-1:000000000000:function:cli-fn",
        "--tags",
        "team=core",
    ])
    .await;
    let tags =
        aws.json(&["lambda", "list-tags", "--resource", "arn:aws:lambda:us-east-1:000000000000:function:cli-fn"]).await;
    assert_eq!(tags["Tags"]["team"], "core");
    let settings = aws.json(&["lambda", "get-account-settings"]).await;
    assert_eq!(settings["AccountUsage"]["FunctionCount"], 1);
    // The CLI's paginator follows NextMarker through every page.
    let all = aws.json(&["lambda", "list-functions", "--page-size", "1"]).await;
    assert_eq!(all["Functions"].as_array().unwrap().len(), 1);

    // Errors come through with AWS's code and message.
    let refused = aws.run(&["lambda", "delete-function", "--function-name", "cli-fn", "--qualifier", "2"]).await;
    assert!(!refused.ok);
    assert!(refused.stderr.contains("ResourceConflictException"), "{}", refused.stderr);
    assert!(refused.stderr.contains("Unable to delete version because the following aliases reference it: [prod]"));
    aws.json(&["lambda", "delete-function", "--function-name", "cli-fn"]).await;
    let missing = aws.run(&["lambda", "get-function", "--function-name", "cli-fn"]).await;
    assert!(!missing.ok);
    assert!(missing.stderr.contains("ResourceNotFoundException"), "{}", missing.stderr);
    assert!(missing.stderr.contains("Function not found: arn:aws:lambda:us-east-1:000000000000:function:cli-fn"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_logs_tail_and_filter_log_events_show_function_logs() {
    if !aws_available() {
        return;
    }
    let server = TestServer::start().await;
    let c = server.lambda();
    crate::invoke::create_py(&c, "tailed", crate::logs::PRINTER).await;
    c.publish_version().function_name("tailed").send().await.unwrap();
    let payload = aws_sdk_lambda::primitives::Blob::new(r#"{"marker":"cli-marker"}"#);
    c.invoke().function_name("tailed").qualifier("1").payload(payload).send().await.unwrap();
    crate::logs::find(&server.logs(), "/aws/lambda/tailed", "cli-marker").await;

    let aws = Aws { endpoint: server.endpoint(), home: tempfile::tempdir().unwrap() };
    // `aws logs tail` exists in version 2 of the CLI only (pip installs version 1); the crate's
    // own tests replay its FilterLogEvents loop.
    let version = aws.run(&["--version"]).await;
    if format!("{}{}", version.stdout, version.stderr).starts_with("aws-cli/2") {
        let tail = aws.run(&["logs", "tail", "/aws/lambda/tailed", "--since", "10m", "--format", "short"]).await;
        assert!(tail.ok, "{}", tail.stderr);
        let lines: Vec<&str> = tail.stdout.lines().filter(|l| !l.contains("INIT_NOTICE ")).collect();
        assert_eq!(lines.len(), 5, "{}", tail.stdout);
        assert!(lines[0].contains("INIT_START Runtime Version: python:3.12.v"), "{}", tail.stdout);
        assert!(lines[1].contains("START RequestId: ") && lines[1].ends_with("Version: 1"), "{}", tail.stdout);
        assert!(lines[2].contains("marker cli-marker ran 1"), "{}", tail.stdout);
    }
    let streams = aws.json(&["logs", "describe-log-streams", "--log-group-name", "/aws/lambda/tailed"]).await;
    let stream = streams["logStreams"][0]["logStreamName"].as_str().unwrap().to_owned();
    let got = aws
        .json(&["logs", "get-log-events", "--log-group-name", "/aws/lambda/tailed", "--log-stream-name", &stream])
        .await;
    let lines: Vec<&str> = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .filter(|m| !m.starts_with("INIT_NOTICE "))
        .collect();
    assert_eq!(lines.len(), 5, "{got}");
    assert!(lines[0].starts_with("INIT_START Runtime Version: python:3.12.v"), "{got}");
    assert!(lines[1].starts_with("START RequestId: ") && lines[1].ends_with("Version: 1"), "{got}");

    let found = aws
        .json(&[
            "logs",
            "filter-log-events",
            "--log-group-name",
            "/aws/lambda/tailed",
            "--filter-pattern",
            "cli-marker",
        ])
        .await;
    let events = found["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{found}");
    assert_eq!(crate::logs::stream_version(events[0]["logStreamName"].as_str().unwrap()), "1");
    let groups = aws.json(&["logs", "describe-log-groups"]).await;
    assert_eq!(groups["logGroups"][0]["logGroupName"], "/aws/lambda/tailed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_s3_cp_of_a_large_file_and_a_notification_through_the_cli() {
    if !aws_available() {
        return;
    }
    let server = TestServer::start().await;
    let aws = Aws { endpoint: server.endpoint(), home: tempfile::tempdir().unwrap() };
    let big = aws.home.path().join("big.bin");
    // 50 MB that is not one repeated byte, so a misplaced part would show.
    let data: Vec<u8> = (0..50 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(&big, &data).unwrap();
    let out = aws.run(&["s3", "mb", "s3://media"]).await;
    assert!(out.ok, "{}", out.stderr);
    let out = aws.run(&["s3", "cp", big.to_str().unwrap(), "s3://media/videos/big.bin"]).await;
    assert!(out.ok, "{}", out.stderr);
    let head = aws.json(&["s3api", "head-object", "--bucket", "media", "--key", "videos/big.bin"]).await;
    assert_eq!(head["ContentLength"], 50 * 1024 * 1024);
    assert!(head["ETag"].as_str().unwrap().contains('-'), "uploaded in parts: {head}");
    let back = aws.home.path().join("back.bin");
    let out = aws.run(&["s3", "cp", "s3://media/videos/big.bin", back.to_str().unwrap()]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(std::fs::read(&back).unwrap() == data, "the downloaded bytes differ");
    let ls = aws.run(&["s3", "ls", "s3://media/videos/"]).await;
    assert!(ls.ok && ls.stdout.contains("52428800 big.bin"), "{}", ls.stdout);

    // Function code from the bucket, and a notification to an alias, all through the CLI.
    let zip = aws.home.path().join("fn.zip");
    std::fs::write(&zip, testkit::zip::hello()).unwrap();
    assert!(aws.run(&["s3", "cp", zip.to_str().unwrap(), "s3://media/code/fn.zip"]).await.ok);
    let created = aws
        .json(&[
            "lambda",
            "create-function",
            "--function-name",
            "cli-s3",
            "--runtime",
            "python3.12",
            "--role",
            ROLE,
            "--handler",
            "index.handler",
            "--code",
            "S3Bucket=media,S3Key=code/fn.zip",
        ])
        .await;
    assert_eq!(created["FunctionName"], "cli-s3");
    aws.json(&["lambda", "publish-version", "--function-name", "cli-s3"]).await;
    aws.json(&["lambda", "create-alias", "--function-name", "cli-s3", "--name", "prod", "--function-version", "1"])
        .await;
    let prod = "arn:aws:lambda:us-east-1:000000000000:function:cli-s3:prod";
    let config = format!(
        r#"{{"LambdaFunctionConfigurations":[{{"Id":"to-prod","LambdaFunctionArn":"{prod}","Events":["s3:ObjectCreated:*"]}}]}}"#
    );
    let refused = aws
        .run(&[
            "s3api",
            "put-bucket-notification-configuration",
            "--bucket",
            "media",
            "--notification-configuration",
            &config,
        ])
        .await;
    assert!(!refused.ok && refused.stderr.contains("InvalidArgument"), "{}", refused.stderr);
    aws.json(&[
        "lambda",
        "add-permission",
        "--function-name",
        "cli-s3",
        "--qualifier",
        "prod",
        "--statement-id",
        "s3",
        "--action",
        "lambda:InvokeFunction",
        "--principal",
        "s3.amazonaws.com",
        "--source-arn",
        "arn:aws:s3:::media",
        "--source-account",
        "000000000000",
    ])
    .await;
    aws.json(&[
        "s3api",
        "put-bucket-notification-configuration",
        "--bucket",
        "media",
        "--notification-configuration",
        &config,
    ])
    .await;
    let got = aws.json(&["s3api", "get-bucket-notification-configuration", "--bucket", "media"]).await;
    assert_eq!(got["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"], prod);
    let rm = aws.run(&["s3", "rm", "s3://media/videos/big.bin"]).await;
    assert!(rm.ok, "{}", rm.stderr);
}
