//! Provisioned concurrency: environments started ahead, following their alias.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{LogType, ProvisionedConcurrencyStatusEnum as Status};
use base64::Engine;
use testkit::TestServer;

use crate::invoke::create_py;
use crate::support::*;

const INIT_TYPE: &str = "import os, time\nINIT = os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n    return {'init': INIT, 'version': c.function_version}\n";

async fn wait_status(
    c: &aws_sdk_lambda::Client,
    name: &str,
    q: &str,
    want: Status,
) -> aws_sdk_lambda::operation::get_provisioned_concurrency_config::GetProvisionedConcurrencyConfigOutput {
    let start = std::time::Instant::now();
    loop {
        let got = c.get_provisioned_concurrency_config().function_name(name).qualifier(q).send().await.unwrap();
        if got.status() == Some(&want) {
            return got;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "still {:?} ({:?})", got.status(), got.status_reason());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_environments_are_ready_before_traffic_and_follow_the_alias() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "warm", INIT_TYPE).await;
    c.publish_version().function_name("warm").send().await.unwrap();
    c.update_function_configuration().function_name("warm").description("v2").send().await.unwrap();
    c.publish_version().function_name("warm").send().await.unwrap();
    c.create_alias().function_name("warm").name("prod").function_version("1").send().await.unwrap();

    let put = c
        .put_provisioned_concurrency_config()
        .function_name("warm")
        .qualifier("prod")
        .provisioned_concurrent_executions(2)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), Some(&Status::InProgress));
    assert_eq!(put.requested_provisioned_concurrent_executions(), Some(2));
    assert_eq!(put.allocated_provisioned_concurrent_executions(), Some(0));
    let ready = wait_status(&c, "warm", "prod", Status::Ready).await;
    assert_eq!(ready.available_provisioned_concurrent_executions(), Some(2));
    assert_eq!(ready.allocated_provisioned_concurrent_executions(), Some(2));

    // The first invoke through the alias is warm: provisioned, no Init Duration.
    let (body, tail) = invoke_as(&c, "warm", Some("prod"), "{}").await;
    assert_eq!(body, serde_json::json!({"init": "provisioned-concurrency", "version": "1"}));
    assert!(!tail.contains("Init Duration"), "{tail}");

    // Beyond the provisioned environments, invocations spill over to on-demand ones.
    let mut calls = Vec::new();
    for _ in 0..3 {
        let c = c.clone();
        calls.push(tokio::spawn(async move { invoke_as(&c, "warm", Some("prod"), r#"{"sleep": 1}"#).await.0 }));
    }
    let mut inits = Vec::new();
    for call in calls {
        inits.push(call.await.unwrap()["init"].as_str().unwrap().to_owned());
    }
    inits.sort();
    assert_eq!(inits, ["on-demand", "provisioned-concurrency", "provisioned-concurrency"]);

    // The alias moves: the provisioned environments follow it to version 2.
    // Its status is only READY again once version 2's environments are.
    c.update_alias().function_name("warm").name("prod").function_version("2").send().await.unwrap();
    wait_status(&c, "warm", "prod", Status::Ready).await;
    let (body, tail) = invoke_as(&c, "warm", Some("prod"), "{}").await;
    assert_eq!(body, serde_json::json!({"init": "provisioned-concurrency", "version": "2"}));
    assert!(!tail.contains("Init Duration"), "{tail}");

    let list = c.list_provisioned_concurrency_configs().function_name("warm").send().await.unwrap();
    let configs = list.provisioned_concurrency_configs();
    assert_eq!(configs.len(), 1);
    assert_eq!(configs[0].function_arn(), Some(format!("{}:prod", arn("warm")).as_str()));
    assert!(configs[0].last_modified().unwrap().ends_with("+0000"));

    // Deleting the alias takes its config along.
    c.delete_alias().function_name("warm").name("prod").send().await.unwrap();
    let e = err(c.get_provisioned_concurrency_config().function_name("warm").qualifier("prod").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Cannot find alias arn: {}:prod", arn("warm")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_concurrency_rules_and_errors() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "rules", "def handler(e, c):\n    return 1\n").await;
    c.publish_version().function_name("rules").send().await.unwrap();
    c.create_alias().function_name("rules").name("live").function_version("1").send().await.unwrap();
    let put = |q: &str, n: i32| {
        c.put_provisioned_concurrency_config()
            .function_name("rules")
            .qualifier(q)
            .provisioned_concurrent_executions(n)
            .send()
    };
    let e = err(put("$LATEST", 1).await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
    );
    // An alias on $LATEST names an unpublished version just the same; nothing is stored.
    c.create_alias().function_name("rules").name("edge").function_version("$LATEST").send().await.unwrap();
    let e = err(put("edge", 1).await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
    );
    let e = err(c.get_provisioned_concurrency_config().function_name("rules").qualifier("edge").send().await);
    assert_eq!((e.status, e.code.as_str()), (404, "ProvisionedConcurrencyConfigNotFoundException"));
    let e = err(c.get_provisioned_concurrency_config().function_name("rules").qualifier("$LATEST").send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "The function resource provided must be an alias or a published version.",
    );
    let e = err(put("bad!", 1).await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value 'bad!' at 'qualifier' failed to satisfy constraint: Member must satisfy \
         regular expression pattern: (|[a-zA-Z0-9$_-]+)",
    );
    let e = err(put("nope", 1).await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Cannot find alias arn: {}:nope", arn("rules")));
    let e = err(put("42", 1).await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:42", arn("rules")));
    let e = err(put("live", 0).await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    let e = err(c.get_provisioned_concurrency_config().function_name("rules").qualifier("live").send().await);
    assert_err(
        e,
        404,
        "ProvisionedConcurrencyConfigNotFoundException",
        "No Provisioned Concurrency Config found for this function",
    );
    c.delete_provisioned_concurrency_config().function_name("rules").qualifier("live").send().await.unwrap();

    put("1", 1).await.unwrap();
    let e = err(put("live", 1).await);
    assert_err(
        e,
        409,
        "ResourceConflictException",
        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version",
    );
    c.delete_provisioned_concurrency_config().function_name("rules").qualifier("1").send().await.unwrap();
    put("live", 1).await.unwrap();
    let e = err(put("1", 1).await);
    assert_err(e, 409, "ResourceConflictException", "Version is pointed by a Provisioned Concurrency alias");

    // Reserved and provisioned concurrency constrain each other.
    put("live", 2).await.unwrap();
    let mut http = testkit::http::Client::new(server.addr);
    let r = http
        .send("PUT", "/2017-10-31/functions/rules/concurrency", &[], br#"{"ReservedConcurrentExecutions": 1}"#)
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        " ReservedConcurrentExecutions  1 should not be lower than function's total provisioned concurrency [2]."
    );
    assert!(r.json().get("Type").is_none());
    c.put_function_concurrency().function_name("rules").reserved_concurrent_executions(3).send().await.unwrap();
    let e = err(put("live", 4).await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_failure_marks_the_config_failed() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "broken", "raise ValueError('cannot start')\n").await;
    c.publish_version().function_name("broken").send().await.unwrap();
    c.put_provisioned_concurrency_config()
        .function_name("broken")
        .qualifier("1")
        .provisioned_concurrent_executions(1)
        .send()
        .await
        .unwrap();
    let failed = wait_status(&c, "broken", "1", Status::Failed).await;
    assert_eq!(failed.status_reason(), Some("FUNCTION_ERROR_INIT_FAILURE"));
    assert_eq!(failed.allocated_provisioned_concurrent_executions(), Some(0));
    assert_eq!(failed.available_provisioned_concurrent_executions(), Some(0));
    assert_eq!(failed.requested_provisioned_concurrent_executions(), Some(1));
}

/// A provisioned config that failed holds nothing, so it takes nothing from the reservation:
/// with reserved = provisioned, invocations still run on demand (and show the init error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_config_takes_nothing_from_the_reservation() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let code = "import os\nif os.environ['AWS_LAMBDA_INITIALIZATION_TYPE'] == 'provisioned-concurrency':\n    raise ValueError('not ahead of time')\ndef handler(e, c):\n    return os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']\n";
    create_py(&c, "picky", code).await;
    c.publish_version().function_name("picky").send().await.unwrap();
    c.put_function_concurrency().function_name("picky").reserved_concurrent_executions(1).send().await.unwrap();
    put(&c, "picky", "1", 1).await;
    wait_status(&c, "picky", "1", Status::Failed).await;
    for q in ["1", "$LATEST"] {
        let r = c.invoke().function_name("picky").qualifier(q).send().await.unwrap();
        assert_eq!(r.payload().unwrap().as_ref(), b"\"on-demand\"", "{q}");
    }
    // An alias with provisioned concurrency cannot move to $LATEST (nothing there to provision).
    c.create_alias().function_name("picky").name("live").function_version("1").send().await.unwrap();
    c.delete_provisioned_concurrency_config().function_name("picky").qualifier("1").send().await.unwrap();
    put(&c, "picky", "live", 1).await;
    let e = err(c.update_alias().function_name("picky").name("live").function_version("$LATEST").send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
    );
    let alias = c.get_alias().function_name("picky").name("live").send().await.unwrap();
    assert_eq!(alias.function_version(), Some("1"));
}

/// Sleeps `INIT_SLEEP` seconds while initializing as a provisioned environment (so a config
/// stays `IN_PROGRESS` long enough to look at), and names the environment that answered.
const SLOW_INIT: &str = "import os, time, uuid\nINIT = os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']\nif INIT == 'provisioned-concurrency':\n    time.sleep(float(os.environ.get('INIT_SLEEP', '0')))\nENV = uuid.uuid4().hex\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n    return {'init': INIT, 'version': c.function_version, 'env': ENV}\n";

async fn create_slow_init(c: &aws_sdk_lambda::Client, name: &str, init_sleep_s: &str) {
    create_py(c, name, SLOW_INIT).await;
    c.update_function_configuration()
        .function_name(name)
        .timeout(30)
        .environment(aws_sdk_lambda::types::Environment::builder().variables("INIT_SLEEP", init_sleep_s).build())
        .send()
        .await
        .unwrap();
}

async fn put(c: &aws_sdk_lambda::Client, name: &str, q: &str, n: i32) {
    let put = c
        .put_provisioned_concurrency_config()
        .function_name(name)
        .qualifier(q)
        .provisioned_concurrent_executions(n)
        .send()
        .await
        .unwrap();
    // Accepted, nothing allocated yet.
    assert_eq!(put.status(), Some(&Status::InProgress));
    assert_eq!(put.requested_provisioned_concurrent_executions(), Some(n));
    assert_eq!(put.allocated_provisioned_concurrent_executions(), Some(0));
    assert_eq!(put.available_provisioned_concurrent_executions(), Some(0));
}

/// Invokes `function` (a name, possibly `name:qualifier`) with `Qualifier` `q` if given.
async fn invoke_as(
    c: &aws_sdk_lambda::Client,
    function: &str,
    q: Option<&str>,
    payload: &str,
) -> (serde_json::Value, String) {
    let r = c
        .invoke()
        .function_name(function)
        .set_qualifier(q.map(str::to_owned))
        .payload(Blob::new(payload.as_bytes().to_vec()))
        .log_type(LogType::Tail)
        .send()
        .await
        .unwrap();
    let tail =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(r.log_result().unwrap()).unwrap()).unwrap();
    (serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap(), tail)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_provisions_its_version_however_it_is_invoked() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_slow_init(&c, "shared", "1.5").await;
    c.publish_version().function_name("shared").send().await.unwrap();
    c.create_alias().function_name("shared").name("prod").function_version("1").send().await.unwrap();
    c.create_alias().function_name("shared").name("other").function_version("1").send().await.unwrap();

    put(&c, "shared", "prod", 2).await;
    // Nothing is allocated while the environments initialize.
    let pending =
        c.get_provisioned_concurrency_config().function_name("shared").qualifier("prod").send().await.unwrap();
    assert_eq!(pending.status(), Some(&Status::InProgress));
    assert_eq!(pending.allocated_provisioned_concurrent_executions(), Some(0));
    assert_eq!(pending.available_provisioned_concurrent_executions(), Some(0));
    let ready = wait_status(&c, "shared", "prod", Status::Ready).await;
    assert_eq!(ready.allocated_provisioned_concurrent_executions(), Some(2));
    assert_eq!(ready.available_provisioned_concurrent_executions(), Some(2));

    // The alias, the version by number (as Qualifier and in the name) and another alias on the
    // same version all run on the provisioned environments: warm, no Init Duration.
    let mut envs = std::collections::BTreeSet::new();
    for (function, q) in
        [("shared", Some("prod")), ("shared", Some("1")), ("shared:1", None), ("shared", Some("other"))]
    {
        let (body, tail) = invoke_as(&c, function, q, "{}").await;
        assert_eq!(body["init"], "provisioned-concurrency", "{function} {q:?}");
        assert_eq!(body["version"], "1");
        assert!(!tail.contains("Init Duration"), "{tail}");
        envs.insert(body["env"].as_str().unwrap().to_owned());
    }
    assert!(envs.len() <= 2, "only the two provisioned environments answered: {envs:?}");
    // `$LATEST` is another version: on demand.
    let (body, tail) = invoke_as(&c, "shared", None, "{}").await;
    assert_eq!((body["init"].as_str(), body["version"].as_str()), (Some("on-demand"), Some("$LATEST")));
    assert!(tail.contains("Init Duration"), "{tail}");

    // A changed number: back to IN_PROGRESS with nothing allocated until all are ready, while
    // the environments already there keep serving.
    put(&c, "shared", "prod", 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let growing =
        c.get_provisioned_concurrency_config().function_name("shared").qualifier("prod").send().await.unwrap();
    assert_eq!(growing.status(), Some(&Status::InProgress));
    assert_eq!(growing.requested_provisioned_concurrent_executions(), Some(3));
    assert_eq!(growing.allocated_provisioned_concurrent_executions(), Some(0));
    let (body, _) = invoke_as(&c, "shared", Some("other"), "{}").await;
    assert_eq!(body["init"], "provisioned-concurrency");
    assert!(envs.contains(body["env"].as_str().unwrap()), "an environment from before the change: {body}");
    let ready = wait_status(&c, "shared", "prod", Status::Ready).await;
    assert_eq!(ready.allocated_provisioned_concurrent_executions(), Some(3));
    // Three concurrent invocations by version number all find a provisioned environment.
    let mut calls = Vec::new();
    for _ in 0..3 {
        let c = c.clone();
        calls.push(tokio::spawn(async move { invoke_as(&c, "shared", Some("1"), r#"{"sleep": 1}"#).await.0 }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap()["init"], "provisioned-concurrency");
    }
    // Fewer: ready at once with the smaller number.
    put(&c, "shared", "prod", 1).await;
    let ready = wait_status(&c, "shared", "prod", Status::Ready).await;
    assert_eq!(ready.allocated_provisioned_concurrent_executions(), Some(1));
    let mut calls = Vec::new();
    for _ in 0..2 {
        let c = c.clone();
        calls.push(tokio::spawn(async move { invoke_as(&c, "shared", Some("prod"), r#"{"sleep": 1}"#).await.0 }));
    }
    let mut inits = Vec::new();
    for call in calls {
        inits.push(call.await.unwrap()["init"].as_str().unwrap().to_owned());
    }
    inits.sort();
    assert_eq!(inits, ["on-demand", "provisioned-concurrency"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weighted_alias_splits_its_environments_by_weight() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_slow_init(&c, "split", "0").await;
    c.publish_version().function_name("split").send().await.unwrap();
    c.update_function_configuration().function_name("split").description("v2").send().await.unwrap();
    c.publish_version().function_name("split").send().await.unwrap();
    c.create_alias()
        .function_name("split")
        .name("canary")
        .function_version("1")
        .routing_config(
            aws_sdk_lambda::types::AliasRoutingConfiguration::builder().additional_version_weights("2", 0.25).build(),
        )
        .send()
        .await
        .unwrap();
    put(&c, "split", "canary", 4).await;
    let ready = wait_status(&c, "split", "canary", Status::Ready).await;
    assert_eq!(ready.allocated_provisioned_concurrent_executions(), Some(4));

    // Version 1 has three (4 × 0.75) provisioned environments, version 2 the other one.
    let concurrently = |version: &'static str, n: usize| {
        let c = c.clone();
        async move {
            let mut calls = Vec::new();
            for _ in 0..n {
                let c = c.clone();
                calls.push(tokio::spawn(
                    async move { invoke_as(&c, "split", Some(version), r#"{"sleep": 1.5}"#).await.0 },
                ));
            }
            let mut inits = Vec::new();
            for call in calls {
                let body = call.await.unwrap();
                assert_eq!(body["version"], version);
                inits.push(body["init"].as_str().unwrap().to_owned());
            }
            inits.sort();
            inits
        }
    };
    assert_eq!(concurrently("1", 3).await, ["provisioned-concurrency"; 3]);
    assert_eq!(concurrently("2", 2).await, ["on-demand", "provisioned-concurrency"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_equal_to_provisioned_throttles_instead_of_starting_on_demand() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_slow_init(&c, "carved", "0").await;
    c.publish_version().function_name("carved").send().await.unwrap();
    c.create_alias().function_name("carved").name("live").function_version("1").send().await.unwrap();
    c.put_function_concurrency().function_name("carved").reserved_concurrent_executions(2).send().await.unwrap();
    put(&c, "carved", "live", 2).await;
    wait_status(&c, "carved", "live", Status::Ready).await;

    // Both provisioned environments busy...
    let mut running = Vec::new();
    for _ in 0..2 {
        let c = c.clone();
        running.push(tokio::spawn(async move { invoke_as(&c, "carved", Some("live"), r#"{"sleep": 2}"#).await.0 }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    // ...another invoke, however it names the version, is throttled: the reservation has no
    // room left for an on-demand environment.
    for q in ["live", "1"] {
        let e = err(c.invoke().function_name("carved").qualifier(q).send().await);
        assert_err(e, 429, "TooManyRequestsException", "Rate Exceeded.");
    }
    let mut http = testkit::http::Client::new(server.addr);
    let raw = http.send("POST", "/2015-03-31/functions/carved/invocations?Qualifier=live", &[], b"{}").await.unwrap();
    assert_eq!(raw.status, 429);
    assert_eq!(raw.json()["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded");
    for r in running {
        assert_eq!(r.await.unwrap()["init"], "provisioned-concurrency");
    }
    // Free again: the next invoke runs on a provisioned environment.
    let (body, _) = invoke_as(&c, "carved", Some("live"), "{}").await;
    assert_eq!(body["init"], "provisioned-concurrency");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_is_throttled_when_provisioned_concurrency_takes_the_whole_reservation() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_slow_init(&c, "whole", "0").await;
    c.publish_version().function_name("whole").send().await.unwrap();
    c.put_function_concurrency().function_name("whole").reserved_concurrent_executions(1).send().await.unwrap();
    put(&c, "whole", "1", 1).await;
    wait_status(&c, "whole", "1", Status::Ready).await;

    let e = err(c.invoke().function_name("whole").send().await);
    assert_err(e, 429, "TooManyRequestsException", "Rate Exceeded.");
    let (body, _) = invoke_as(&c, "whole", Some("1"), "{}").await;
    assert_eq!(body["init"], "provisioned-concurrency");
    // Without the provisioned config, the reservation is on-demand capacity again.
    c.delete_provisioned_concurrency_config().function_name("whole").qualifier("1").send().await.unwrap();
    let (body, _) = invoke_as(&c, "whole", None, "{}").await;
    assert_eq!((body["init"].as_str(), body["version"].as_str()), (Some("on-demand"), Some("$LATEST")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_concurrency_without_a_reservation_takes_from_the_unreserved_pool() {
    let server = TestServer::start_with(|c| c.account_concurrency = 150).await;
    let c = server.lambda();
    // `provided` functions without a bootstrap: their environments fail at once, so these
    // configs cost nothing to run.
    for name in ["a", "b"] {
        c.create_function()
            .function_name(name)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .role(ROLE)
            .handler("bootstrap")
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(Blob::new(testkit::zip::files(&[("readme.txt", b"no bootstrap".as_slice())])))
                    .build(),
            )
            .publish(true)
            .send()
            .await
            .unwrap();
    }
    let try_put = |name: &'static str, n: i32| {
        c.put_provisioned_concurrency_config()
            .function_name(name)
            .qualifier("1")
            .provisioned_concurrent_executions(n)
            .send()
    };
    let unreserved = || async {
        let s = c.get_account_settings().send().await.unwrap();
        let limit = s.account_limit().unwrap();
        (limit.concurrent_executions(), limit.unreserved_concurrent_executions())
    };
    let greater = |n: u32| {
        format!("Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [{n}].")
    };
    let below = "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].";
    assert_eq!(unreserved().await, (150, Some(150)));

    assert_err(err(try_put("a", 151).await), 400, "InvalidParameterValueException", &greater(150));
    assert_err(err(try_put("a", 51).await), 400, "InvalidParameterValueException", below);
    // Refused: nothing was stored.
    let e = err(c.get_provisioned_concurrency_config().function_name("a").qualifier("1").send().await);
    assert_eq!(e.code, "ProvisionedConcurrencyConfigNotFoundException");
    assert_eq!(unreserved().await, (150, Some(150)));

    try_put("a", 50).await.unwrap();
    assert_eq!(unreserved().await, (150, Some(100)));
    // The pool is at its minimum: nothing more for anyone without a reservation.
    assert_err(err(try_put("b", 101).await), 400, "InvalidParameterValueException", &greater(100));
    assert_err(err(try_put("b", 1).await), 400, "InvalidParameterValueException", below);
    let e = err(c.put_function_concurrency().function_name("b").reserved_concurrent_executions(1).send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].",
    );
    // A config's new number replaces its old one.
    try_put("a", 50).await.unwrap();
    try_put("a", 40).await.unwrap();
    assert_eq!(unreserved().await, (150, Some(110)));
    // With a reservation, the provisioned concurrency is carved out of the reservation.
    c.put_function_concurrency().function_name("a").reserved_concurrent_executions(45).send().await.unwrap();
    assert_eq!(unreserved().await, (150, Some(105)));
    try_put("a", 45).await.unwrap();
    assert_eq!(unreserved().await, (150, Some(105)));
    c.delete_provisioned_concurrency_config().function_name("a").qualifier("1").send().await.unwrap();
    assert_eq!(unreserved().await, (150, Some(105)));
    c.delete_function_concurrency().function_name("a").send().await.unwrap();
    try_put("b", 50).await.unwrap();
    assert_eq!(unreserved().await, (150, Some(100)));
    // Deleting the function gives its provisioned concurrency back.
    c.delete_function().function_name("b").send().await.unwrap();
    assert_eq!(unreserved().await, (150, Some(150)));

    // The environments could not start: FAILED, with AWS's reason.
    try_put("a", 2).await.unwrap();
    let failed = wait_status(&c, "a", "1", Status::Failed).await;
    assert_eq!(failed.status_reason(), Some("FUNCTION_ERROR_INIT_FAILURE"));
}

/// A client that gives up mid-invoke does not cost the function its environment: the
/// invocation runs to its end (as on Lambda) and the provisioned environment comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_invoke_does_not_lose_the_environment() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_slow_init(&c, "impatient", "0").await;
    c.publish_version().function_name("impatient").send().await.unwrap();
    c.create_alias().function_name("impatient").name("live").function_version("1").send().await.unwrap();
    c.put_function_concurrency().function_name("impatient").reserved_concurrent_executions(1).send().await.unwrap();
    put(&c, "impatient", "live", 1).await;
    wait_status(&c, "impatient", "live", Status::Ready).await;

    let given_up = tokio::time::timeout(
        Duration::from_millis(700),
        c.invoke().function_name("impatient").qualifier("live").payload(Blob::new(r#"{"sleep": 2}"#)).send(),
    )
    .await;
    assert!(given_up.is_err(), "the client stopped waiting: {given_up:?}");
    // While the abandoned invocation still runs, the one environment is busy.
    let e = err(c.invoke().function_name("impatient").qualifier("live").send().await);
    assert_err(e, 429, "TooManyRequestsException", "Rate Exceeded.");
    // Once it has finished, the environment serves again: no 429, no cold start.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (body, tail) = invoke_as(&c, "impatient", Some("live"), "{}").await;
    assert_eq!(body["init"], "provisioned-concurrency");
    assert!(!tail.contains("Init Duration"), "{tail}");
    let status =
        c.get_provisioned_concurrency_config().function_name("impatient").qualifier("live").send().await.unwrap();
    assert_eq!(
        (status.status(), status.available_provisioned_concurrent_executions()),
        (Some(&Status::Ready), Some(1))
    );
}
