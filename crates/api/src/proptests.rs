//! Property tests of the Lambda API's parsers of untrusted input: JSON bodies of every operation
//! through the decoding the handlers use (`decode_json` and the conversions to `control`
//! inputs), routes, query strings, the service a request is for, function URL hosts and paths,
//! and a function's answer to a function URL request. Arbitrary and mutated input gets a value
//! or an `InvalidRequestContentException`, never a panic; valid input round-trips.

use axum::http::{HeaderMap, HeaderValue, Method};
use propkit::proptest;
use propkit::proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::handlers::decode_json;
use crate::query::Query;
use crate::routes::Endpoint;

/// Cases of each property.
const CASES: u32 = 256;

/// Every member name the requests have, for the mutations that add members.
const MEMBERS: &[&str] = &[
    "FunctionName",
    "Runtime",
    "Role",
    "Handler",
    "Code",
    "ZipFile",
    "S3Bucket",
    "S3Key",
    "ImageUri",
    "Description",
    "Timeout",
    "MemorySize",
    "Publish",
    "Environment",
    "Variables",
    "Architectures",
    "Layers",
    "TracingConfig",
    "Mode",
    "Tags",
    "EphemeralStorage",
    "Size",
    "LoggingConfig",
    "LogFormat",
    "VpcConfig",
    "SubnetIds",
    "SnapStart",
    "ApplyOn",
    "FileSystemConfigs",
    "ImageConfig",
    "DeadLetterConfig",
    "TargetArn",
    "KMSKeyArn",
    "PackageType",
    "Name",
    "FunctionVersion",
    "RoutingConfig",
    "AdditionalVersionWeights",
    "RevisionId",
    "CodeSha256",
    "MaximumRetryAttempts",
    "MaximumEventAgeInSeconds",
    "DestinationConfig",
    "OnSuccess",
    "OnFailure",
    "Destination",
    "ReservedConcurrentExecutions",
    "ProvisionedConcurrentExecutions",
    "StatementId",
    "Action",
    "Principal",
    "SourceArn",
    "SourceAccount",
    "AuthType",
    "Cors",
    "AllowOrigins",
    "MaxAge",
    "InvokeMode",
    "Content",
    "CompatibleRuntimes",
    "OrganizationId",
];

const ROLE: &str = "arn:aws:iam::123456789012:role/r";
/// An empty zip, base64.
const ZIP: &str = "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==";

/// What decoding one request type and converting it the way its handler does can say.
type Decode = fn(&[u8]) -> Result<(), ApiError>;

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    decode_json::<T>(body)
}

/// Every request type the handlers decode, a valid body for it, and the decoding + conversion.
fn operations() -> Vec<(&'static str, Value, Decode)> {
    use wire::alias::{CreateAliasRequest, UpdateAliasRequest};
    use wire::function::{
        CreateFunctionRequest, PublishVersionRequest, PutFunctionConcurrencyRequest, TagResourceRequest,
        UpdateFunctionCodeRequest, UpdateFunctionConfigurationRequest,
    };
    let config = json!({"Runtime": "python3.12", "Role": ROLE, "Handler": "index.handler", "Description": "d",
        "Timeout": 3, "MemorySize": 128, "Environment": {"Variables": {"A": "b"}},
        "Layers": ["arn:aws:lambda:us-east-1:123456789012:layer:l:1"], "TracingConfig": {"Mode": "PassThrough"},
        "EphemeralStorage": {"Size": 512}, "LoggingConfig": {"LogFormat": "JSON", "LogGroup": "/aws/lambda/x"},
        "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []}, "SnapStart": {"ApplyOn": "None"},
        "DeadLetterConfig": {"TargetArn": "arn:aws:sqs:us-east-1:123456789012:q"}, "KMSKeyArn": ""});
    let mut create = config.clone();
    create.as_object_mut().unwrap().extend(
        json!({"FunctionName": "f", "Code": {"ZipFile": ZIP}, "Publish": true, "Architectures": ["x86_64"],
               "Tags": {"k": "v"}, "PackageType": "Zip"})
        .as_object()
        .unwrap()
        .clone(),
    );
    let routing = json!({"AdditionalVersionWeights": {"2": 0.5}});
    vec![
        ("CreateFunction", create, |b| handlers_create(decode::<CreateFunctionRequest>(b)?)),
        ("UpdateFunctionConfiguration", config, |b| {
            let _ = crate::handlers::update_patch(decode::<UpdateFunctionConfigurationRequest>(b)?);
            Ok(())
        }),
        ("UpdateFunctionCode", json!({"ZipFile": ZIP, "Publish": false, "DryRun": true, "RevisionId": "r"}), |b| {
            let r = decode::<UpdateFunctionCodeRequest>(b)?;
            r.zip_file.as_deref().map(crate::handlers::decode_zip).transpose()?;
            Ok(())
        }),
        ("PublishVersion", json!({"CodeSha256": "x", "Description": "d", "RevisionId": "r"}), |b| {
            decode::<PublishVersionRequest>(b).map(drop)
        }),
        (
            "CreateAlias",
            json!({"Name": "live", "FunctionVersion": "1", "Description": "d", "RoutingConfig": routing}),
            |b| {
                let r = decode::<CreateAliasRequest>(b)?;
                r.routing_config.map(crate::handlers::routing_input);
                Ok(())
            },
        ),
        ("UpdateAlias", json!({"FunctionVersion": "$LATEST", "RoutingConfig": routing, "RevisionId": "r"}), |b| {
            let r = decode::<UpdateAliasRequest>(b)?;
            r.routing_config.map(crate::handlers::routing_input);
            Ok(())
        }),
        ("TagResource", json!({"Tags": {"a": "b", "c": ""}}), |b| decode::<TagResourceRequest>(b).map(drop)),
        (
            "PutFunctionEventInvokeConfig",
            json!({"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60,
                   "DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:123456789012:q"}, "OnFailure": {}}}),
            |b| {
                let _ = crate::handlers::event_config_input(decode::<wire::events::EventInvokeConfigRequest>(b)?);
                Ok(())
            },
        ),
        ("PutFunctionConcurrency", json!({"ReservedConcurrentExecutions": 10}), |b| {
            decode::<PutFunctionConcurrencyRequest>(b).map(drop)
        }),
        ("PutProvisionedConcurrencyConfig", json!({"ProvisionedConcurrentExecutions": 1}), |b| {
            decode::<wire::events::PutProvisionedConcurrencyConfigRequest>(b).map(drop)
        }),
        (
            "AddPermission",
            json!({"StatementId": "s", "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com",
                   "SourceArn": "arn:aws:s3:::b", "SourceAccount": "123456789012", "FunctionUrlAuthType": "NONE"}),
            |b| decode::<wire::policy::AddPermissionRequest>(b).map(drop),
        ),
        (
            "CreateFunctionUrlConfig",
            json!({"AuthType": "NONE", "Cors": {"AllowOrigins": ["*"], "AllowMethods": ["GET"], "MaxAge": 60,
                   "AllowCredentials": true}, "InvokeMode": "BUFFERED"}),
            |b| {
                let _ = crate::handlers::url_input(decode::<wire::policy::FunctionUrlConfigRequest>(b)?);
                Ok(())
            },
        ),
        (
            "PublishLayerVersion",
            json!({"Description": "d", "Content": {"ZipFile": ZIP}, "CompatibleRuntimes": ["python3.12"],
                   "CompatibleArchitectures": ["arm64"], "LicenseInfo": "MIT"}),
            |b| decode::<wire::layer::PublishLayerVersionRequest>(b).map(drop),
        ),
        (
            "AddLayerVersionPermission",
            json!({"StatementId": "s", "Action": "lambda:GetLayerVersion", "Principal": "*", "OrganizationId": "o-abcdefghij"}),
            |b| decode::<wire::layer::AddLayerVersionPermissionRequest>(b).map(drop),
        ),
    ]
}

fn handlers_create(r: wire::function::CreateFunctionRequest) -> Result<(), ApiError> {
    crate::handlers::create_input(r).map(drop)
}

/// A path segment as an SDK sends it: every byte outside `[A-Za-z0-9-_.~]` percent-encoded.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Methods: the standard ones, and any extension token.
fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        3 => proptest::sample::select(vec![Method::GET, Method::PUT, Method::POST, Method::DELETE, Method::HEAD, Method::PATCH]),
        1 => "[A-Za-z!#$%&'*+.^_`|~0-9-]{1,12}".prop_map(|m| Method::from_bytes(m.as_bytes()).expect("a token is a method")),
    ]
}

proptest! {
    #![proptest_config(propkit::config(CASES))]

    /// Every operation's body, mutated or arbitrary: decoded and converted, or refused as
    /// `InvalidRequestContentException`; never a panic.
    #[test]
    fn request_bodies_decode_or_are_refused(
        (name, body, run) in proptest::sample::select(operations())
            .prop_flat_map(|(name, valid, run)| (Just(name), propkit::json_body(valid, MEMBERS), Just(run))),
    ) {
        if let Err(e) = run(&body) {
            prop_assert!(matches!(&e, ApiError::InvalidRequestContent(m) if m.starts_with("Could not parse request")), "{}: {:?}", name, e);
        }
    }

    /// The valid bodies decode as they are.
    #[test]
    fn valid_bodies_decode(i in any::<proptest::sample::Index>()) {
        let ops = operations();
        let (name, valid, run) = &ops[i.index(ops.len())];
        prop_assert!(run(valid.to_string().as_bytes()).is_ok(), "{}", name);
    }

    /// Any method, path and query: an operation or `UnknownOperation`, never a panic.
    #[test]
    fn routes_never_panic(
        method in method(),
        path in prop_oneof![
            any::<String>(),
            "(/[a-z0-9%:$.-]{0,14}){0,6}/?",
            propkit::mutated_text("/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/aliases/live"),
            propkit::mutated_text("/2018-10-31/layers/l/versions/1/policy/s"),
        ],
        query in proptest::option::of(prop_oneof![any::<String>(), propkit::mutated_text("Qualifier=%24LATEST&MaxItems=10&Marker=x")]),
    ) {
        if let Err(e) = Endpoint::parse(&method, &path, query.as_deref()) {
            prop_assert!(matches!(e, ApiError::UnknownOperation { .. }), "{:?}", e);
        }
    }

    /// Function names and alias names, any characters, round-trip through SDK-encoded paths.
    #[test]
    fn encoded_names_route_back(function in any::<String>(), alias in any::<String>()) {
        prop_assume!(!function.is_empty() && !alias.is_empty());
        let path = format!("/2015-03-31/functions/{}/aliases/{}", encode(&function), encode(&alias));
        match Endpoint::parse(&Method::GET, &path, None) {
            Ok(Endpoint::GetAlias { function: f, alias: a }) => prop_assert_eq!((&f, &a), (&function, &alias)),
            other => prop_assert!(false, "{:?}", other),
        }
        let path = format!("/2015-03-31/functions/{}/invocations", encode(&function));
        match Endpoint::parse(&Method::POST, &path, Some(&format!("Qualifier={}", encode(&alias)))) {
            Ok(Endpoint::Invoke { function: f, query }) => {
                prop_assert_eq!(f, function);
                prop_assert_eq!(query.get("Qualifier"), Some(alias.as_str()));
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    /// Query strings: any text parses; encoded pairs come back as they were.
    #[test]
    fn queries(raw in any::<String>(), pairs in proptest::collection::vec((".{0,8}", ".{0,8}"), 0..5)) {
        let _ = Query::parse(Some(&raw));
        let _ = crate::query::percent_decode(&raw, true);
        let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        let q = Query::parse(Some(&text.join("&")));
        for (k, _) in pairs.iter().filter(|(k, _)| !k.is_empty()) {
            let first = pairs.iter().find(|(k2, _)| k2 == k).map(|(_, v)| v.as_str());
            prop_assert_eq!(q.get(k), first);
        }
        let _ = crate::handlers::int_param(&q, "MaxItems");
    }

    /// Which service a request is for, from any Host, X-Amz-Target, Authorization and path.
    #[test]
    fn services_never_panic(
        host in prop_oneof![any::<String>(), "[a-z0-9.:-]{0,40}", propkit::mutated_text("abcdefghij0123456789abcdefghij01.lambda-url.us-east-1.localhost:4566")],
        target in prop_oneof![any::<String>(), propkit::mutated_text("Logs_20140328.PutLogEvents")],
        auth in prop_oneof![any::<String>(), propkit::mutated_text("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=abc")],
        path in prop_oneof![any::<String>(), propkit::mutated_text("/_versa/url/abc123/x/y?z")],
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in [("host", host), ("x-amz-target", target), ("authorization", auth)] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        let _ = crate::services::Service::of(&headers, &path, &Query::default());
        let _ = crate::function_urls::from_host(&path);
        let _ = crate::function_urls::from_path(&path);
    }

    /// A function's answer to a function URL request, whatever it is: a response (500 for a
    /// `statusCode` that is not one), never a panic.
    #[test]
    fn function_url_answers_map(payload in prop_oneof![
        propkit::json_body(json!({"statusCode": 201, "headers": {"x-a": "b", "Content-Type": "text/plain"},
            "cookies": ["a=b"], "body": "aGVsbG8=", "isBase64Encoded": true}),
            &["statusCode", "headers", "cookies", "body", "isBase64Encoded"]),
        propkit::bytes(64),
    ]) {
        let r = crate::function_urls::map_response(&payload);
        prop_assert!(r.headers().contains_key("content-type"));
    }

    /// Small parameters: layer version numbers, base64 zips.
    #[test]
    fn small_parameters(s in any::<String>()) {
        if let Err(e) = crate::layers::version_number(&s) {
            prop_assert!(matches!(e, ApiError::InvalidRequestContent(_)));
        }
        if let Err(e) = crate::handlers::decode_zip(&s) {
            prop_assert!(matches!(e, ApiError::InvalidRequestContent(_)));
        }
    }
}
