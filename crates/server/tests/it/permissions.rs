//! Resource policies: AddPermission, RemovePermission, GetPolicy per qualifier, with the
//! statement format, RevisionId rules and errors of the reference (§1.5, §9.1, §9.2).

use testkit::TestServer;

use crate::invoke::create_py;
use crate::support::*;

const ECHO: &str = "def handler(e, c):\n    return {'version': c.function_version}\n";

/// A function with versions 1 and 2 and alias `prod` → 1.
async fn setup(c: &aws_sdk_lambda::Client, name: &str) {
    create_py(c, name, ECHO).await;
    c.publish_version().function_name(name).send().await.unwrap();
    c.update_function_configuration().function_name(name).description("v2").send().await.unwrap();
    c.publish_version().function_name(name).send().await.unwrap();
    c.create_alias().function_name(name).name("prod").function_version("1").send().await.unwrap();
}

fn s3_permission(
    c: &aws_sdk_lambda::Client,
    name: &str,
) -> aws_sdk_lambda::operation::add_permission::builders::AddPermissionFluentBuilder {
    c.add_permission()
        .function_name(name)
        .statement_id("s3")
        .action("lambda:InvokeFunction")
        .principal("s3.amazonaws.com")
        .source_arn("arn:aws:s3:::uploads")
        .source_account(ACCOUNT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_per_qualifier_with_lambdas_statement_format() {
    let server = TestServer::start().await;
    let c = server.lambda();
    setup(&c, "guarded").await;
    let (sc, statuses) = with_statuses(&c);

    // A permission on the alias: the statement names the alias ARN.
    let added = s3_permission(&sc, "guarded").qualifier("prod").send().await.unwrap();
    assert_eq!(statuses.last(), 201);
    let alias_arn = format!("{}:prod", arn("guarded"));
    assert_eq!(
        added.statement().unwrap(),
        format!(
            r#"{{"Sid":"s3","Effect":"Allow","Principal":{{"Service":"s3.amazonaws.com"}},"Action":"lambda:InvokeFunction","Resource":"{alias_arn}","Condition":{{"StringEquals":{{"AWS:SourceAccount":"{ACCOUNT}"}},"ArnLike":{{"AWS:SourceArn":"arn:aws:s3:::uploads"}}}}}}"#
        )
    );
    let policy = c.get_policy().function_name("guarded").qualifier("prod").send().await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(doc["Version"], "2012-10-17");
    assert_eq!(doc["Id"], "default");
    assert_eq!(doc["Statement"][0]["Sid"], "s3");
    assert_eq!(doc["Statement"][0]["Resource"], alias_arn.as_str());
    let alias_revision = policy.revision_id().unwrap().to_owned();
    let alias = c.get_alias().function_name("guarded").name("prod").send().await.unwrap();
    assert_ne!(Some(alias_revision.as_str()), alias.revision_id(), "an alias policy has its own RevisionId");

    // Each qualifier has its own policy: none on the function, none on version 1.
    let nothing = "The resource you requested does not exist.";
    assert_err(err(c.get_policy().function_name("guarded").send().await), 404, "ResourceNotFoundException", nothing);
    assert_err(
        err(c.get_policy().function_name("guarded").qualifier("1").send().await),
        404,
        "ResourceNotFoundException",
        nothing,
    );
    assert_err(err(c.get_policy().function_name("nope").send().await), 404, "ResourceNotFoundException", nothing);
    assert_err(
        err(c.get_policy().function_name("guarded").qualifier("9").send().await),
        404,
        "ResourceNotFoundException",
        nothing,
    );

    // The unqualified policy shares $LATEST's RevisionId, and changing it gives $LATEST a new one.
    let before = c.get_function().function_name("guarded").send().await.unwrap();
    let before_rev = before.configuration().unwrap().revision_id().unwrap().to_owned();
    let e = err(c
        .add_permission()
        .function_name("guarded")
        .statement_id("any")
        .action("lambda:InvokeFunction")
        .principal("123456789012")
        .revision_id("stale")
        .send()
        .await);
    assert_err(
        e,
        412,
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id",
    );
    let added = c
        .add_permission()
        .function_name("guarded")
        .statement_id("account")
        .action("lambda:InvokeFunction")
        .principal("123456789012")
        .revision_id(&before_rev)
        .send()
        .await
        .unwrap();
    let st: serde_json::Value = serde_json::from_str(added.statement().unwrap()).unwrap();
    assert_eq!(st["Principal"], serde_json::json!({"AWS": "arn:aws:iam::123456789012:root"}));
    assert_eq!(st["Resource"], arn("guarded"));
    assert!(st.get("Condition").is_none());
    let after = c.get_function().function_name("guarded").send().await.unwrap();
    let after_rev = after.configuration().unwrap().revision_id().unwrap().to_owned();
    assert_ne!(after_rev, before_rev);
    let policy = c.get_policy().function_name("guarded").send().await.unwrap();
    assert_eq!(policy.revision_id(), Some(after_rev.as_str()));

    // Principals: anyone, an IAM ARN; an invalid one is refused.
    c.add_permission()
        .function_name("guarded")
        .statement_id("url")
        .action("lambda:InvokeFunctionUrl")
        .principal("*")
        .function_url_auth_type(aws_sdk_lambda::types::FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    let policy = c.get_policy().function_name("guarded").send().await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(doc["Statement"][1]["Principal"], "*");
    assert_eq!(
        doc["Statement"][1]["Condition"],
        serde_json::json!({"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}})
    );
    let e = err(c
        .add_permission()
        .function_name("guarded")
        .statement_id("bad")
        .action("lambda:InvokeFunction")
        .principal("invalid.nonaws.com")
        .send()
        .await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "The provided principal was invalid. Please check the principal and try again.",
    );

    // Errors of AddPermission.
    let e = err(s3_permission(&c, "guarded").qualifier("prod").send().await);
    assert_err(
        e,
        409,
        "ResourceConflictException",
        "The statement id (s3) provided already exists. Please provide a new statement id, or remove the existing statement.",
    );
    let e = err(s3_permission(&c, "guarded").qualifier("$LATEST").send().await);
    assert_err(e, 400, "InvalidParameterValueException", "We currently do not support adding policies for $LATEST.");
    let e = err(s3_permission(&c, "guarded").qualifier("staging").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Cannot find alias arn: {}:staging", arn("guarded")));
    let e = err(s3_permission(&c, "guarded").qualifier("7").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:7", arn("guarded")));
    let e = err(s3_permission(&c, "missing").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn("missing")));
    let e = err(s3_permission(&c, "guarded").statement_id("a b").send().await);
    assert_eq!((e.status, e.code.as_str()), (400, "ValidationException"));
    assert!(e.message.unwrap().contains("at 'statementId' failed to satisfy constraint"));
    let e = err(s3_permission(&c, "guarded").statement_id("x").action("s3:GetObject").send().await);
    assert_eq!((e.status, e.code.as_str()), (400, "ValidationException"));

    // RemovePermission.
    let (sc, statuses) = with_statuses(&c);
    let e =
        err(c.remove_permission().function_name("guarded").qualifier("prod").statement_id("non-existent").send().await);
    assert_err(e, 404, "ResourceNotFoundException", "Statement non-existent is not found in resource policy.");
    let e = err(c.remove_permission().function_name("guarded").qualifier("1").statement_id("s3").send().await);
    assert_err(e, 404, "ResourceNotFoundException", "No policy is associated with the given resource.");
    let e = err(c.remove_permission().function_name("missing").statement_id("s3").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("No policy found for: {}", arn("missing")));
    let e = err(c
        .remove_permission()
        .function_name("guarded")
        .qualifier("prod")
        .statement_id("s3")
        .revision_id("stale")
        .send()
        .await);
    assert_eq!((e.status, e.code.as_str()), (412, "PreconditionFailedException"));
    sc.remove_permission().function_name("guarded").qualifier("prod").statement_id("s3").send().await.unwrap();
    assert_eq!(statuses.last(), 204);
    // The last statement takes the policy with it.
    assert_err(
        err(c.get_policy().function_name("guarded").qualifier("prod").send().await),
        404,
        "ResourceNotFoundException",
        nothing,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_go_with_their_version_or_alias_and_are_bounded() {
    let server = TestServer::start().await;
    let c = server.lambda();
    setup(&c, "bounded").await;
    s3_permission(&c, "bounded").qualifier("2").send().await.unwrap();
    s3_permission(&c, "bounded").qualifier("prod").send().await.unwrap();
    // Publishing does not copy a policy; deleting a version or alias deletes its policy.
    c.delete_function().function_name("bounded").qualifier("2").send().await.unwrap();
    c.update_function_configuration().function_name("bounded").description("v3").send().await.unwrap();
    let v = c.publish_version().function_name("bounded").send().await.unwrap();
    assert_eq!(v.version(), Some("3"));
    assert!(c.get_policy().function_name("bounded").qualifier("3").send().await.is_err());
    c.delete_alias().function_name("bounded").name("prod").send().await.unwrap();
    c.create_alias().function_name("bounded").name("prod").function_version("1").send().await.unwrap();
    assert!(c.get_policy().function_name("bounded").qualifier("prod").send().await.is_err());

    // The policy document is bounded (20 KB): the statement that would cross it is refused.
    let long_arn = format!("arn:aws:s3:::{}", "b".repeat(60));
    let mut refused = None;
    for i in 0..200 {
        let r = c
            .add_permission()
            .function_name("bounded")
            .statement_id(format!("s{i}"))
            .action("lambda:InvokeFunction")
            .principal("s3.amazonaws.com")
            .source_arn(&long_arn)
            .send()
            .await;
        if let Err(e) = r {
            refused = Some((i, err::<(), _, _>(Err(e))));
            break;
        }
    }
    let (i, e) = refused.expect("the policy never reached its limit");
    assert!(i > 50, "refused after only {i} statements");
    assert_eq!((e.status, e.code.as_str()), (400, "PolicyLengthExceededException"));
    assert!(e.message.unwrap().contains("is bigger than the limit (20480)"));
    let policy = c.get_policy().function_name("bounded").send().await.unwrap();
    assert!(policy.policy().unwrap().len() <= 20 * 1024);
    let doc: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(doc["Statement"].as_array().unwrap().len(), i, "the refused statement changed nothing");
}
