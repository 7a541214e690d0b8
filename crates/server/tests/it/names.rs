//! FunctionName forms, qualifiers, ARNs, accounts and regions (reference §6, §1.3).

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::FunctionCode;
use testkit::{TestServer, lambda_client};

use crate::support::*;

const PLAIN_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?";
const NAMESPACED_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?";

#[tokio::test]
async fn every_function_name_form_reaches_the_function() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "forms", testkit::zip::hello()).await;
    c.publish_version().function_name("forms").send().await.unwrap();
    c.create_alias().function_name("forms").name("live").function_version("1").send().await.unwrap();
    let cases = [
        ("forms", arn("forms"), "$LATEST"),
        ("forms:$LATEST", format!("{}:$LATEST", arn("forms")), "$LATEST"),
        ("forms:1", format!("{}:1", arn("forms")), "1"),
        ("forms:live", format!("{}:live", arn("forms")), "1"),
        ("000000000000:function:forms", arn("forms"), "$LATEST"),
        ("function:forms:1", format!("{}:1", arn("forms")), "1"),
        ("000000000000:function:forms:live", format!("{}:live", arn("forms")), "1"),
        (&arn("forms"), arn("forms"), "$LATEST"),
        (&format!("{}:live", arn("forms")), format!("{}:live", arn("forms")), "1"),
        (&format!("{}:$LATEST", arn("forms")), format!("{}:$LATEST", arn("forms")), "$LATEST"),
    ];
    for (input, want_arn, want_version) in cases {
        let conf = c.get_function_configuration().function_name(input).send().await.unwrap();
        assert_eq!(conf.function_arn(), Some(want_arn.as_str()), "{input}");
        assert_eq!(conf.version(), Some(want_version), "{input}");
        assert_eq!(conf.function_name(), Some("forms"), "{input}");
    }
    // Same qualifier twice is fine; different ones are not.
    let same = c.get_function().function_name("forms:1").qualifier("1").send().await.unwrap();
    assert_eq!(same.configuration().unwrap().version(), Some("1"));
    let e = err(c.get_function().function_name("forms:1").qualifier("live").send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "The derived qualifier from the function name does not match the specified qualifier.",
    );
    let e = err(c.delete_function().function_name(format!("{}:1", arn("forms"))).qualifier("2").send().await);
    assert_eq!(e.code, "InvalidParameterValueException");
}

#[tokio::test]
async fn create_function_accepts_arns_and_checks_region_and_account() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let zip = || FunctionCode::builder().zip_file(Blob::new(testkit::zip::hello())).build();
    let base = || {
        c.create_function()
            .runtime(aws_sdk_lambda::types::Runtime::Python312)
            .role(ROLE)
            .handler("index.handler")
            .code(zip())
    };
    let r = base().function_name(arn("by-arn")).send().await.unwrap();
    assert_eq!(r.function_name(), Some("by-arn"));
    let r = base().function_name("000000000000:function:by-partial").send().await.unwrap();
    assert_eq!(r.function_name(), Some("by-partial"));

    let e = err(base().function_name("arn:aws:lambda:ap-southeast-1:000000000000:function:x").send().await);
    assert_err(
        e,
        404,
        "ResourceNotFoundException",
        "Functions from 'ap-southeast-1' are not reachable in this region ('us-east-1')",
    );
    let e = err(base().function_name("arn:aws:lambda:us-east-1:111111111111:function:x").send().await);
    assert_eq!((e.status, e.code.as_str()), (403, "AccessDeniedException"));

    let e = err(base().function_name("invalid:function:name").send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        &format!(
            "1 validation error detected: Value 'invalid:function:name' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: {PLAIN_PATTERN}"
        ),
    );
    let long = "a".repeat(65);
    let e = err(base().function_name(&long).send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        &format!(
            "1 validation error detected: Value '{long}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64"
        ),
    );
    let long_arn = format!("arn:aws:lambda:us-east-1:000000000000:function:{}", "b".repeat(94));
    assert_eq!(long_arn.len(), 141);
    let e = err(base().function_name(&long_arn).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{long_arn}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 140"
        ),
    );
    let e = err(base().function_name("by-arn").send().await);
    assert_err(e, 409, "ResourceConflictException", "Function already exist: by-arn");
}

#[tokio::test]
async fn get_and_delete_validate_names_and_qualifiers() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "valid", testkit::zip::hello()).await;
    let bad = "arn:aws:lambda:us-east-1:123400000000@function:myfn";
    let e = err(c.get_function().function_name(bad).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{bad}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: {NAMESPACED_PATTERN}"
        ),
    );
    let e = err(c.get_function().function_name("valid").qualifier("invalid!").send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        r"1 validation error detected: Value 'invalid!' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: \$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+",
    );
    let long_q = "q".repeat(129);
    let e = err(c.get_function().function_name("valid").qualifier(&long_q).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{long_q}' at 'qualifier' failed to satisfy constraint: Member must have length less than or equal to 128"
        ),
    );
    // Syntactically valid qualifiers that name nothing are simply not found.
    let e = err(c.get_function().function_name("valid").qualifier("$latest").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:$latest", arn("valid")));
    let e = err(c.get_function().function_name("valid").qualifier("1221").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:1221", arn("valid")));
    let e = err(c.get_function().function_name("valid").qualifier("aliasdoesnotexist").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:aliasdoesnotexist", arn("valid")));
    // A 65-character name is not a validation error on reads: no such function exists.
    let long = "n".repeat(65);
    let e = err(c.get_function().function_name(&long).send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn(&long)));
    // Missing functions: reads name the qualifier they were asked for, deletes do not.
    let e = err(c.get_function().function_name("missing").qualifier("$LATEST").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:$LATEST", arn("missing")));
    let e = err(c.delete_function().function_name("missing").qualifier("1").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn("missing")));
    let e = err(c.get_function().function_name("arn:aws:lambda:eu-west-1:000000000000:function:valid").send().await);
    assert_err(
        e,
        404,
        "ResourceNotFoundException",
        "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')",
    );
    let e = err(c.delete_function().function_name("arn:aws:lambda:us-east-1:999999999999:function:valid").send().await);
    assert_eq!((e.status, e.code.as_str(), e.message), (403, "AccessDeniedException", None));
}

#[tokio::test]
async fn state_is_scoped_by_account_and_region() {
    let server = TestServer::start().await;
    let default = server.lambda();
    let other_key = lambda_client(&server.endpoint(), "AKIAIOSFODNN7EXAMPLE", "us-east-1");
    let account = lambda_client(&server.endpoint(), "123456789012", "us-east-1");
    let region = lambda_client(&server.endpoint(), "test", "eu-west-1");
    create(&default, "scoped", testkit::zip::hello()).await;

    // Any non-numeric key is the default account.
    let f = other_key.get_function_configuration().function_name("scoped").send().await.unwrap();
    assert_eq!(f.function_arn(), Some(arn("scoped").as_str()));
    // A 12-digit key is its own account; another region is another world.
    let e = err(account.get_function().function_name("scoped").send().await);
    assert_err(
        e,
        404,
        "ResourceNotFoundException",
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:scoped",
    );
    let e = err(region.get_function().function_name("scoped").send().await);
    assert_err(
        e,
        404,
        "ResourceNotFoundException",
        "Function not found: arn:aws:lambda:eu-west-1:000000000000:function:scoped",
    );

    let created = create(&account, "scoped", testkit::zip::hello()).await;
    assert_eq!(created.function_arn(), Some("arn:aws:lambda:us-east-1:123456789012:function:scoped"));
    let created = create(&region, "scoped", testkit::zip::hello()).await;
    assert_eq!(created.function_arn(), Some("arn:aws:lambda:eu-west-1:000000000000:function:scoped"));
    // The full ARN of another account's function is refused, not looked up.
    let e =
        err(default.get_function().function_name("arn:aws:lambda:us-east-1:123456789012:function:scoped").send().await);
    assert_eq!((e.status, e.code.as_str()), (403, "AccessDeniedException"));
    let listed = account.list_functions().send().await.unwrap();
    assert_eq!(listed.functions().len(), 1);
    let settings = region.get_account_settings().send().await.unwrap();
    assert_eq!(settings.account_usage().unwrap().function_count(), 1);
}

/// Today's AWS accepts an `eusc-` region (the European Sovereign Cloud) in function names and
/// ARNs; a client signing for such a region acts in it.
#[tokio::test]
async fn eusc_regions_are_regions_in_function_names() {
    let server = TestServer::start().await;
    let eusc = lambda_client(&server.endpoint(), "test", "eusc-de-east-1");
    let created = create(&eusc, "sovereign", testkit::zip::hello()).await;
    let eusc_arn = "arn:aws:lambda:eusc-de-east-1:000000000000:function:sovereign";
    assert_eq!(created.function_arn(), Some(eusc_arn));
    for name in [
        eusc_arn.to_owned(),
        format!("{eusc_arn}:$LATEST"),
        "arn:aws-eusc:lambda:eusc-de-east-1:000000000000:function:sovereign".to_owned(),
        "eusc-de-east-1:000000000000:function:sovereign".to_owned(),
        "eusc-de-east-1:sovereign".to_owned(),
    ] {
        let conf = eusc.get_function_configuration().function_name(&name).send().await.unwrap();
        assert_eq!(conf.function_name(), Some("sovereign"), "{name}");
    }
    // From another region the same ARN names a function of that region, not a malformed name.
    let c = server.lambda();
    for name in [eusc_arn, "eusc-de-east-1:sovereign"] {
        let e = err(c.invoke().function_name(name).send().await);
        assert_err(
            e,
            404,
            "ResourceNotFoundException",
            "Functions from 'eusc-de-east-1' are not reachable in this region ('us-east-1')",
        );
    }
    // Something that only looks like one is a name with a qualifier.
    let e = err(c.get_function().function_name("eusc-de:sovereign").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:sovereign", arn("eusc-de")));
    let e = err(c.get_function().function_name("arn:aws:lambda:eusc-:000000000000:function:sovereign").send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        &format!(
            "1 validation error detected: Value 'arn:aws:lambda:eusc-:000000000000:function:sovereign' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: {NAMESPACED_PATTERN}"
        ),
    );
}
