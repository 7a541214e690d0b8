//! TagResource, UntagResource, ListTags; tags in CreateFunction and GetFunction;
//! GetAccountSettings.

use testkit::TestServer;

use crate::support::*;

#[tokio::test]
async fn tags_round_trip_and_bump_the_revision() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "tagged", testkit::zip::hello()).await;
    let empty = c.list_tags().resource(arn("tagged")).send().await.unwrap();
    assert!(empty.tags().unwrap().is_empty());
    let got = c.get_function().function_name("tagged").send().await.unwrap();
    assert!(got.tags().is_none(), "GetFunction omits Tags when there are none");

    let before = got.configuration().unwrap().revision_id().unwrap().to_owned();
    c.tag_resource().resource(arn("tagged")).tags("A", "tag-a").tags("b", "tag-b").send().await.unwrap();
    let tags = c.list_tags().resource(arn("tagged")).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().len(), 2);
    assert_eq!(tags.tags().unwrap()["A"], "tag-a");
    let got = c.get_function().function_name("tagged").send().await.unwrap();
    assert_eq!(got.tags().unwrap()["b"], "tag-b");
    let after = got.configuration().unwrap().revision_id().unwrap().to_owned();
    assert_ne!(before, after, "tagging changes the $LATEST RevisionId");

    // Unknown keys are ignored.
    c.untag_resource().resource(arn("tagged")).tag_keys("A").tag_keys("nope").send().await.unwrap();
    let tags = c.list_tags().resource(arn("tagged")).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().keys().collect::<Vec<_>>(), ["b"]);
    c.untag_resource().resource(arn("tagged")).tag_keys("b").send().await.unwrap();
    let got = c.get_function().function_name("tagged").send().await.unwrap();
    assert!(got.tags().is_none());

    // Tags given at creation.
    let created = c
        .create_function()
        .function_name("born-tagged")
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .code(aws_sdk_lambda::types::FunctionCode::builder().zip_file(testkit::zip::hello().into()).build())
        .tags("env", "dev")
        .send()
        .await
        .unwrap();
    assert_eq!(created.function_name(), Some("born-tagged"));
    let got = c.get_function().function_name("born-tagged").send().await.unwrap();
    assert_eq!(got.tags().unwrap()["env"], "dev");
}

#[tokio::test]
async fn tag_errors() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "tagerr", testkit::zip::hello()).await;
    // The whole pattern is quoted, the API model's `TaggableResource`; `function:` must be
    // followed by a name (`$LATEST` is only a qualifier).
    let latest_alone = arn("tagerr").replace(":function:tagerr", ":function:$LATEST");
    for bad in ["arn:aws:something", latest_alone.as_str()] {
        let e = err(c.list_tags().resource(bad).send().await);
        assert_err(
            e,
            400,
            "ValidationException",
            &format!(
                r"1 validation error detected: Value '{bad}' at 'resource' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{{2}}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{{1}}:\d{{12}}:(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|code-signing-config:csc-[a-z0-9]{{17}}|event-source-mapping:[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}|capacity-provider:[a-zA-Z0-9-_]+)"
            ),
        );
    }
    let e = err(c.tag_resource().resource(arn("doesnotexist")).tags("a", "b").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn("doesnotexist")));
    let e = err(c.list_tags().resource(arn("doesnotexist")).send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn("doesnotexist")));
    let e = err(c.untag_resource().resource(arn("doesnotexist")).tag_keys("a").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn("doesnotexist")));
    for q in ["1", "$LATEST", "live"] {
        let e = err(c.tag_resource().resource(format!("{}:{q}", arn("tagerr"))).tags("a", "b").send().await);
        assert_err(
            e,
            400,
            "InvalidParameterValueException",
            "Tags on function aliases and versions are not supported. Please specify a function ARN.",
        );
    }
    let e = err(c.tag_resource().resource(arn("tagerr")).set_tags(Some(Default::default())).send().await);
    assert_err(e, 400, "InvalidParameterValueException", "An error occurred and the request cannot be processed.");
    let mut too_many = c.tag_resource().resource(arn("tagerr"));
    for i in 0..51 {
        too_many = too_many.tags(format!("k{i}"), "v");
    }
    let e = err(too_many.send().await);
    assert_err(e, 400, "InvalidParameterValueException", "Number of tags exceeds resource tag limit.");
    // 50 in two steps is fine; one more is not.
    let mut fifty = c.tag_resource().resource(arn("tagerr"));
    for i in 0..50 {
        fifty = fifty.tags(format!("k{i}"), "v");
    }
    fifty.send().await.unwrap();
    let e = err(c.tag_resource().resource(arn("tagerr")).tags("one-more", "v").send().await);
    assert_err(e, 400, "InvalidParameterValueException", "Number of tags exceeds resource tag limit.");
    assert_eq!(c.list_tags().resource(arn("tagerr")).send().await.unwrap().tags().unwrap().len(), 50);

    // UntagResource requires keys (the raw request; the SDK refuses to send it).
    let mut http = testkit::http::Client::new(server.addr);
    let path = format!("/2017-03-31/tags/{}", arn("tagerr").replace(':', "%3A"));
    let r = http.send("DELETE", &path, &[], b"").await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"
    );
}

#[tokio::test]
async fn account_settings_report_limits_and_usage() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let s = c.get_account_settings().send().await.unwrap();
    let limit = s.account_limit().unwrap();
    assert_eq!(limit.total_code_size(), 80_530_636_800);
    assert_eq!(limit.code_size_unzipped(), 262_144_000);
    assert_eq!(limit.code_size_zipped(), 52_428_800);
    assert_eq!(limit.concurrent_executions(), 1000);
    assert_eq!(limit.unreserved_concurrent_executions(), Some(1000));
    assert_eq!(s.account_usage().unwrap().function_count(), 0);
    assert_eq!(s.account_usage().unwrap().total_code_size(), 0);

    let a = testkit::zip::tagged("a");
    let b = testkit::zip::tagged("bb");
    create(&c, "usage-a", a.clone()).await;
    create(&c, "usage-b", b.clone()).await;
    c.publish_version().function_name("usage-a").send().await.unwrap();
    let s = c.get_account_settings().send().await.unwrap();
    let usage = s.account_usage().unwrap();
    assert_eq!(usage.function_count(), 2);
    // Every version counts, $LATEST included.
    assert_eq!(usage.total_code_size(), (2 * a.len() + b.len()) as i64);
}
