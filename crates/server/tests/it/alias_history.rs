//! Alias history (issue 11 point 4): every CreateAlias/UpdateAlias/DeleteAlias leaves one row,
//! with the signing key as actor, before/after versions and weights and the RevisionId; a
//! refused write leaves none; `GET /_versa/functions/{f}/aliases/{a}/history` serves it and
//! `versa history` prints it.

// JUSTIFICATION: `versa history` is the program under test in the last part.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::process::Command;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{AliasRoutingConfiguration, FunctionCode, Runtime};
use serde_json::{Value, json};
use testkit::{Key, TestServer, lambda_client_with};

use crate::auth::{Raw, server_create_key};
use crate::support::*;

/// A function with published versions 1, 2 and 3.
async fn function_with_three_versions(c: &Client, name: &str) {
    c.create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .role(ROLE)
        .handler("bootstrap")
        .code(FunctionCode::builder().zip_file(Blob::new(testkit::zip::hello())).build())
        .send()
        .await
        .expect("create function");
    for n in 1..=3 {
        c.update_function_configuration().function_name(name).description(format!("v{n}")).send().await.unwrap();
        let v = c.publish_version().function_name(name).send().await.unwrap();
        assert_eq!(v.version(), Some(n.to_string().as_str()));
    }
}

fn weights(w: &[(&str, f64)]) -> AliasRoutingConfiguration {
    let map: HashMap<String, f64> = w.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    AliasRoutingConfiguration::builder().set_additional_version_weights(Some(map)).build()
}

async fn history(server: &TestServer, key: &Key, path_and_query: &str) -> testkit::http::Response {
    let raw = Raw { server, key: key.clone(), service: "lambda", skew: 0 };
    raw.send("GET", &format!("/_versa/functions/{path_and_query}"), b"", b"").await
}

/// Runs `versa history ARGS` signed with `key`; returns (success, stdout, stderr).
async fn versa_history(key: &Key, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(testkit::versa_binary());
    cmd.arg("history")
        .args(args)
        .env("AWS_ACCESS_KEY_ID", &key.id)
        .env("AWS_SECRET_ACCESS_KEY", &key.secret)
        .env("AWS_REGION", REGION)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL");
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect("run versa history");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alias_changes_are_recorded_with_the_signing_key_and_served_signed() {
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    let other = server_create_key(&server, &root, control::keys::ROOT_ACCOUNT).await;
    let foreign = server_create_key(&server, &root, "111122223333").await;
    let (c, c2) =
        (lambda_client_with(&server.endpoint(), &root, REGION), lambda_client_with(&server.endpoint(), &other, REGION));
    function_with_three_versions(&c, "hist").await;

    let created = c.create_alias().function_name("hist").name("prod").function_version("1").send().await.unwrap();
    let updated = c2
        .update_alias()
        .function_name("hist")
        .name("prod")
        .function_version("2")
        .routing_config(weights(&[("3", 0.2)]))
        .send()
        .await
        .unwrap();
    let got = c.get_alias().function_name("hist").name("prod").send().await.unwrap();
    assert_eq!(got.revision_id(), updated.revision_id());
    // A refused update (stale RevisionId) records nothing, nor does deleting a missing alias.
    let e = err(c2
        .update_alias()
        .function_name("hist")
        .name("prod")
        .function_version("3")
        .revision_id(created.revision_id().unwrap())
        .send()
        .await);
    assert_eq!((e.status, e.code.as_str()), (412, "PreconditionFailedException"));
    c.delete_alias().function_name("hist").name("never").send().await.unwrap();
    c.delete_alias().function_name("hist").name("prod").send().await.unwrap();

    let r = history(&server, &root, "hist/aliases/prod/history").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    let h = body["History"].as_array().unwrap();
    assert_eq!(h.len(), 3, "{body:#}");
    assert_eq!(body["NextMarker"], Value::Null);
    let target = |v: &str, w: Value| json!({"FunctionVersion": v, "AdditionalVersionWeights": w});
    assert_eq!(h[0]["Operation"], "DeleteAlias");
    assert_eq!(h[0]["Actor"], json!({"Kind": "Key", "Id": root.id}));
    assert_eq!(h[0]["Before"], target("2", json!({"3": 0.2})));
    assert_eq!((&h[0]["After"], &h[0]["RevisionId"]), (&Value::Null, &Value::Null));
    assert_eq!(h[1]["Operation"], "UpdateAlias");
    assert_eq!(h[1]["Actor"], json!({"Kind": "Key", "Id": other.id}));
    assert_eq!(h[1]["Before"], target("1", json!({})));
    assert_eq!(h[1]["After"], target("2", json!({"3": 0.2})));
    assert_eq!(h[1]["RevisionId"], updated.revision_id().unwrap());
    assert_eq!(h[2]["Operation"], "CreateAlias");
    assert_eq!(h[2]["Actor"], json!({"Kind": "Key", "Id": root.id}));
    assert_eq!(h[2]["Before"], Value::Null);
    assert_eq!(h[2]["After"], target("1", json!({})));
    assert_eq!(h[2]["RevisionId"], created.revision_id().unwrap());
    let times: Vec<&str> = h.iter().map(|c| c["Time"].as_str().unwrap()).collect();
    assert!(times.iter().all(|t| t.len() == 24 && t.ends_with('Z')), "{times:?}");
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");

    // Pages.
    let r = history(&server, &root, "hist/aliases/prod/history?limit=2").await;
    let page1 = r.json();
    assert_eq!(page1["History"].as_array().unwrap().len(), 2);
    let marker = page1["NextMarker"].as_str().expect("a marker").to_owned();
    let r = history(&server, &root, &format!("hist/aliases/prod/history?limit=2&before={marker}")).await;
    let page2 = r.json();
    assert_eq!(page2["History"], json!([h[2]]));
    assert_eq!(page2["NextMarker"], Value::Null);

    // An alias with no changes has an empty history; errors in Lambda's shape.
    let r = history(&server, &root, "hist/aliases/beta/history").await;
    assert_eq!((r.status, r.json()), (200, json!({"History": [], "NextMarker": null})));
    let r = history(&server, &root, "nope/aliases/prod/history").await;
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (404, Some("ResourceNotFoundException")));
    assert_eq!(r.json()["Message"], "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope");
    let r = history(&server, &foreign, "hist/aliases/prod/history").await;
    assert_eq!(r.status, 404, "another account sees its own (empty) scope: {}", r.text());
    let r = history(&server, &root, "hist/aliases/prod/history?limit=0").await;
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (400, Some("ValidationException")), "{}", r.text());
    let r = history(&server, &root, "hist/aliases/prod/history?before=zz").await;
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (400, Some("InvalidParameterValueException")));
    let mut raw = testkit::http::Client::new(server.addr);
    let r = raw.send("GET", "/_versa/functions/hist/aliases/prod/history", &[], b"").await.unwrap();
    assert_eq!(r.status, 403, "unsigned: {}", r.text());

    // `versa history` prints the same, newest first.
    let endpoint = server.endpoint();
    let (ok, out, errs) = versa_history(&root, &["hist:prod", "--endpoint", &endpoint]).await;
    assert!(ok, "{errs}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("hist:prod  {endpoint}"));
    assert!(lines[1].starts_with("TIME") && lines[1].ends_with("AFTER"), "{out}");
    assert_eq!(lines.len(), 5, "{out}");
    let cells = |l: &str| l.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        cells(lines[2])[1..],
        [format!("Key {}", root.id), "DeleteAlias".into(), "2 (+3 at 20%)".into(), "-".into()]
    );
    assert_eq!(
        cells(lines[3])[1..],
        [format!("Key {}", other.id), "UpdateAlias".into(), "1".into(), "2 (+3 at 20%)".into()]
    );
    assert_eq!(cells(lines[4])[1..], [format!("Key {}", root.id), "CreateAlias".into(), "-".into(), "1".into()]);
    let (ok, out, _) = versa_history(&root, &["hist:prod", "--limit", "1", "--endpoint", &endpoint]).await;
    assert!(ok && out.lines().count() == 3 && out.contains("DeleteAlias"), "{out}");
    let (ok, _, errs) = versa_history(&root, &["nope:prod", "--endpoint", &endpoint]).await;
    assert!(!ok && errs.contains("404: Function not found"), "{errs}");
}

#[tokio::test]
async fn history_stays_after_the_alias_and_goes_with_the_function() {
    let server = TestServer::start().await;
    // Under `--auth off` the actor is the key id the request was signed with.
    let key = Key::new("AKIDHISTORYEXAMPLE01", "secret");
    let c = lambda_client_with(&server.endpoint(), &key, REGION);
    function_with_three_versions(&c, "gone").await;
    c.create_alias().function_name("gone").name("prod").function_version("1").send().await.unwrap();
    c.update_alias().function_name("gone").name("prod").function_version("3").send().await.unwrap();
    c.delete_alias().function_name("gone").name("prod").send().await.unwrap();
    let r = history(&server, &key, "gone/aliases/prod/history").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let h = r.json()["History"].clone();
    let ops: Vec<&str> = h.as_array().unwrap().iter().map(|c| c["Operation"].as_str().unwrap()).collect();
    assert_eq!(ops, ["DeleteAlias", "UpdateAlias", "CreateAlias"], "kept after the alias is deleted");
    assert!(h.as_array().unwrap().iter().all(|c| c["Actor"] == json!({"Kind": "Key", "Id": key.id})), "{h:#}");
    assert_eq!(h[1]["After"], json!({"FunctionVersion": "3", "AdditionalVersionWeights": {}}));

    c.delete_function().function_name("gone").send().await.unwrap();
    let r = history(&server, &key, "gone/aliases/prod/history").await;
    assert_eq!(r.status, 404, "{}", r.text());
    function_with_three_versions(&c, "gone").await;
    let r = history(&server, &key, "gone/aliases/prod/history").await;
    assert_eq!((r.status, r.json()["History"].clone()), (200, json!([])), "a new function starts afresh");
}

#[tokio::test]
async fn another_account_reads_the_history_with_a_get_alias_grant_only() {
    let server = TestServer::start().await;
    let (owner_key, other_key) = (Key::new("111111111111", "secret"), Key::new("222222222222", "secret"));
    let owner = lambda_client_with(&server.endpoint(), &owner_key, REGION);
    function_with_three_versions(&owner, "shared").await;
    owner.create_alias().function_name("shared").name("prod").function_version("1").send().await.unwrap();
    let arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A111111111111%3Afunction%3Ashared";
    let path = format!("{arn}/aliases/prod/history");
    let r = history(&server, &other_key, &path).await;
    assert_eq!((r.status, r.header("x-amzn-ErrorType")), (403, Some("AccessDeniedException")), "{}", r.text());
    owner
        .add_permission()
        .function_name("shared")
        .statement_id("read")
        .principal("222222222222")
        .action("lambda:GetAlias")
        .send()
        .await
        .unwrap();
    let r = history(&server, &other_key, &path).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["History"][0]["Actor"], json!({"Kind": "Key", "Id": "111111111111"}));
}
