//! Property tests of the execute-api core's parsers of untrusted input: request paths, queries
//! and headers through stage and route selection and both payload builders, integration URIs
//! through rendering and ARN parsing, and a function's answer through the three mappings.
//! Arbitrary and mutated input gets an answer (a status in 100..=599) or a miss, never a panic.

use std::collections::BTreeMap;

use propkit::proptest;
use propkit::proptest::prelude::*;
use serde_json::json;
use store::ApigwRow;

use crate::exec::{self, HttpRequest};

const CASES: u32 = 256;

/// A REST API `/{proxy+}` + `/items/{id}` with stage `prod`, and an HTTP API with named stage
/// `dev`, a `$default` stage, and three routes.
fn rows() -> Vec<ApigwRow> {
    let method = json!({"ANY": {"http_method": "ANY", "authorization_type": "NONE",
        "integration": {"kind": "AWS_PROXY", "http_method": "POST", "uri": "u", "timeout_ms": 29000, "passthrough_behavior": "WHEN_NO_MATCH"}}});
    let resources = json!([
        {"id": "r", "path": "/", "methods": {}},
        {"id": "p", "parent_id": "r", "path_part": "{proxy+}", "path": "/{proxy+}", "methods": method},
        {"id": "i", "parent_id": "r", "path_part": "items", "path": "/items"},
        {"id": "j", "parent_id": "i", "path_part": "{id}", "path": "/items/{id}", "methods": method},
    ]);
    let rest = json!({"id": "a", "name": "n", "created": 0, "binary_media_types": ["image/*"], "endpoint_types": ["EDGE"],
        "root_id": "r", "resources": resources, "deployments": [{"id": "d", "created": 0, "resources": resources}],
        "stages": [{"name": "prod", "deployment_id": "d", "variables": {"alias": "prod"}, "created": 0, "updated": 0}]});
    let integration =
        json!({"id": "x", "kind": "AWS_PROXY", "uri": "u", "payload_format_version": "2.0", "timeout_ms": 30000});
    let routes = json!([
        {"id": "1", "route_key": "ANY /{proxy+}", "target": "integrations/x", "authorization_type": "NONE"},
        {"id": "2", "route_key": "GET /items/{id}", "target": "integrations/x", "authorization_type": "NONE"},
        {"id": "3", "route_key": "$default", "target": "integrations/x", "authorization_type": "NONE"},
    ]);
    let http = json!({"id": "h", "name": "n", "protocol_type": "HTTP", "created_ms": 0, "integrations": [integration],
        "routes": routes, "deployments": [{"id": "d", "created_ms": 0, "routes": routes, "integrations": [integration]}],
        "stages": [{"name": "dev", "deployment_id": "d", "created_ms": 0, "updated_ms": 0},
                   {"name": "$default", "deployment_id": "d", "created_ms": 0, "updated_ms": 0}]});
    [("a", "rest", rest), ("h", "http", http)]
        .into_iter()
        .map(|(id, kind, doc)| ApigwRow {
            id: id.into(),
            account: "000000000000".into(),
            region: "us-east-1".into(),
            kind: kind.into(),
            doc: doc.to_string(),
        })
        .collect()
}

proptest! {
    #![proptest_config(propkit::config(CASES))]

    /// Any path, query, header and body reaches a stage and route or a miss; matched requests
    /// build both payloads.
    #[test]
    fn requests_select_and_build_events(
        path in prop_oneof![propkit::mutated_text("/prod/items/7/"), propkit::mutated_text("/dev/a%2Fb//c"), any::<String>()],
        query in prop_oneof![propkit::mutated_text("x=1&x=2&e=a%2Bb&=&k"), any::<String>()],
        header in (".{0,8}", ".{0,16}"),
        body in propkit::bytes(32),
        method in proptest::sample::select(vec!["GET", "POST", "get", "", "ANY"]),
    ) {
        for row in rows() {
            let req = HttpRequest {
                method: method.to_owned(),
                path: path.clone(),
                raw_query: query.clone(),
                headers: vec![header.clone(), ("content-type".into(), "image/png".into())],
                body: body.clone(),
                source_ip: "127.0.0.1".into(),
                host: "h.execute-api.localhost:4566".into(),
                request_id: "r".into(),
                trace_id: "Root=1-00000000-000000000000000000000000".into(),
                canary_draw: 0.5, iam: None,
            };
            if let Ok(m) = exec::select(&row, &req) {
                prop_assert!(m.stage == "prod" || m.stage == "dev" || m.stage == "$default");
                let _ = exec::event_v1(&m, &req, 0);
                let _ = exec::event_v2(&m, &req, 0);
                let _ = exec::source_arn(&m, &req.method);
            }
        }
    }

    /// Integration URIs with stage variables: rendered and parsed, or refused.
    #[test]
    fn integration_uris_render_and_parse(
        uri in prop_oneof![
            propkit::mutated_text("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:fn:${stageVariables.alias}/invocations"),
            any::<String>(),
        ],
        value in "[a-z$]{0,6}",
    ) {
        let vars: BTreeMap<String, String> = [("alias".to_owned(), value)].into();
        let rendered = exec::render(&uri, &vars);
        if let Some(t) = exec::lambda_arn_of(&rendered).and_then(exec::lambda_target) {
            prop_assert!(t.qualifier.as_deref() != Some(""));
            prop_assert_eq!(t.account.len(), 12);
        }
        let _ = crate::percent_decode(&uri);
        let _ = crate::parse_query(Some(&uri));
    }

    /// A function's answer, whatever it is, maps to an HTTP answer under each format.
    #[test]
    fn answers_map(payload in prop_oneof![
        propkit::json_body(json!({"statusCode": 201, "headers": {"k": "s"}, "multiValueHeaders": {"k": ["m"]},
            "cookies": ["a=b"], "body": "aGVsbG8=", "isBase64Encoded": true}),
            &["statusCode", "headers", "multiValueHeaders", "cookies", "body", "isBase64Encoded"]),
        propkit::bytes(64),
    ], accept in prop_oneof![Just(None), Just(Some("image/png".to_owned())), ".{0,12}".prop_map(Some)]) {
        for row in rows() {
            let req = HttpRequest {
                method: "GET".into(), path: "/prod/items/7".into(), raw_query: String::new(), headers: Vec::new(),
                body: Vec::new(), source_ip: "127.0.0.1".into(), host: String::new(), request_id: "r".into(),
                trace_id: "Root=1-00000000-000000000000000000000000".into(), canary_draw: 0.5, iam: None,
            };
            let req = if row.kind == "http" { HttpRequest { path: "/dev/x".into(), ..req } } else { req };
            let mut m = exec::select(&row, &req).unwrap();
            for format in ["1.0", "2.0"] {
                m.payload_format = format.into();
                let a = exec::map_answer(&m, &payload, accept.as_deref(), &req.trace_id);
                prop_assert!((100..=599).contains(&a.status));
                prop_assert!(a.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")));
            }
        }
    }
}
