//! CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases, and aliases seen through
//! GetFunction* (reference §3.5, §5).

use std::collections::HashMap;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::publish_version::PublishVersionOutput;
use aws_sdk_lambda::types::{AliasConfiguration, AliasRoutingConfiguration, FunctionConfiguration};
use testkit::TestServer;

use crate::support::*;

const REVISION_MISMATCH: &str = "The Revision Id provided does not match the latest Revision Id. Call the \
                                 GetFunction/GetAlias API to retrieve the latest Revision Id";

fn routing(version: &str, weight: f64) -> AliasRoutingConfiguration {
    AliasRoutingConfiguration::builder().additional_version_weights(version, weight).build()
}

fn no_routing() -> AliasRoutingConfiguration {
    AliasRoutingConfiguration::builder().set_additional_version_weights(Some(HashMap::new())).build()
}

/// The weights an alias shows; `None` when it shows no `RoutingConfig` at all.
fn weights(r: Option<&AliasRoutingConfiguration>) -> Option<HashMap<String, f64>> {
    r.map(|r| r.additional_version_weights().cloned().unwrap_or_default())
}

fn alias_arn(function: &str, alias: &str) -> String {
    format!("{}:{alias}", arn(function))
}

/// A function with `versions` published versions (each after a description change, so
/// version `n` has description `v<n>`); answers the publish outputs.
async fn function_with_versions(c: &Client, name: &str, versions: u32) -> Vec<PublishVersionOutput> {
    create(c, name, testkit::zip::hello()).await;
    let mut out = Vec::new();
    for i in 1..=versions {
        c.update_function_configuration().function_name(name).description(format!("v{i}")).send().await.unwrap();
        let v = c.publish_version().function_name(name).send().await.unwrap();
        assert_eq!(v.version(), Some(i.to_string().as_str()));
        out.push(v);
    }
    out
}

async fn get_alias(c: &Client, function: &str, alias: &str) -> AliasConfiguration {
    let a = c.get_alias().function_name(function).name(alias).send().await.expect("get_alias");
    AliasConfiguration::builder()
        .set_alias_arn(a.alias_arn().map(str::to_owned))
        .set_name(a.name().map(str::to_owned))
        .set_function_version(a.function_version().map(str::to_owned))
        .set_description(a.description().map(str::to_owned))
        .set_routing_config(a.routing_config().cloned())
        .set_revision_id(a.revision_id().map(str::to_owned))
        .build()
}

async fn alias_names(c: &Client, function: &str, version: Option<&str>) -> Vec<String> {
    let out = c
        .list_aliases()
        .function_name(function)
        .set_function_version(version.map(str::to_owned))
        .send()
        .await
        .expect("list_aliases");
    assert_eq!(out.next_marker(), None);
    out.aliases().iter().map(|a| a.name().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn create_and_get_alias() {
    let server = TestServer::start().await;
    let (c, statuses) = with_statuses(&server.lambda());
    function_with_versions(&c, "fa", 2).await;
    let latest_rev = c.get_function_configuration().function_name("fa").send().await.unwrap().revision_id;

    let created = c.create_alias().function_name("fa").name("live").function_version("1").send().await.unwrap();
    assert_eq!(statuses.last(), 201);
    assert_eq!(created.alias_arn(), Some(alias_arn("fa", "live").as_str()));
    assert_eq!(created.name(), Some("live"));
    assert_eq!(created.function_version(), Some("1"));
    assert_eq!(created.description(), Some(""), "Description is always present");
    assert_eq!(created.routing_config(), None, "no RoutingConfig when there is no routing");
    let rev = created.revision_id().unwrap().to_owned();
    assert!(!rev.is_empty());

    let got = c.get_alias().function_name("fa").name("live").send().await.unwrap();
    assert_eq!(statuses.last(), 200);
    assert_eq!(got.alias_arn(), Some(alias_arn("fa", "live").as_str()));
    assert_eq!(got.name(), Some("live"));
    assert_eq!(got.function_version(), Some("1"));
    assert_eq!(got.description(), Some(""));
    assert_eq!(got.routing_config(), None);
    assert_eq!(got.revision_id(), Some(rev.as_str()));
    // By function ARN too.
    let by_arn = c.get_alias().function_name(arn("fa")).name("live").send().await.unwrap();
    assert_eq!(by_arn.revision_id(), Some(rev.as_str()));

    // CreateAlias leaves $LATEST's RevisionId alone.
    let latest_after = c.get_function_configuration().function_name("fa").send().await.unwrap().revision_id;
    assert_eq!(latest_after, latest_rev);

    // Empty weights are accepted and shown as no routing at all.
    let empty = c
        .create_alias()
        .function_name("fa")
        .name("empty-routing")
        .function_version("2")
        .description("with nothing")
        .routing_config(no_routing())
        .send()
        .await
        .unwrap();
    assert_eq!(statuses.last(), 201);
    assert_eq!(empty.routing_config(), None);
    assert_eq!(empty.description(), Some("with nothing"));
    assert_eq!(get_alias(&c, "fa", "empty-routing").await.routing_config(), None);

    // With routing.
    let weighted = c
        .create_alias()
        .function_name("fa")
        .name("canary")
        .function_version("1")
        .routing_config(routing("2", 0.25))
        .send()
        .await
        .unwrap();
    assert_eq!(weights(weighted.routing_config()), Some(HashMap::from([("2".to_owned(), 0.25)])));
    assert_eq!(
        weights(get_alias(&c, "fa", "canary").await.routing_config()),
        Some(HashMap::from([("2".to_owned(), 0.25)]))
    );
    assert_ne!(weighted.revision_id(), Some(rev.as_str()), "aliases have their own RevisionIds");
}

#[tokio::test]
async fn alias_names_may_not_be_all_digits() {
    let server = TestServer::start().await;
    let c = server.lambda();
    function_with_versions(&c, "names", 1).await;

    let e = err(c.create_alias().function_name("names").name("2024").function_version("1").send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: Member must satisfy \
         regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
    );
    assert!(alias_names(&c, "names", None).await.is_empty());
    // Model constraints come before any lookup: a missing function makes no difference.
    let e = err(c.create_alias().function_name("no-such-fn").name("2024").function_version("1").send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: Member must satisfy \
         regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
    );
    // An alias cannot point at another alias.
    c.create_alias().function_name("names").name("live").function_version("1").send().await.unwrap();
    let e = err(c.create_alias().function_name("names").name("other").function_version("live").send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value 'live' at 'functionVersion' failed to satisfy constraint: Member must \
         satisfy regular expression pattern: (\\$LATEST(\\.PUBLISHED)?|[0-9]+)",
    );
    c.delete_alias().function_name("names").name("live").send().await.unwrap();

    let dated = c.create_alias().function_name("names").name("2024-01-02").function_version("1").send().await.unwrap();
    assert_eq!(dated.name(), Some("2024-01-02"));
    assert_eq!(dated.alias_arn(), Some(alias_arn("names", "2024-01-02").as_str()));
    let got = get_alias(&c, "names", "2024-01-02").await;
    assert_eq!(got.function_version(), Some("1"));
    assert_eq!(alias_names(&c, "names", None).await, ["2024-01-02"]);
}

#[tokio::test]
async fn alias_to_latest() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "tolatest", testkit::zip::hello()).await;

    let a = c.create_alias().function_name("tolatest").name("dev").function_version("$LATEST").send().await.unwrap();
    assert_eq!(a.function_version(), Some("$LATEST"));
    assert_eq!(a.routing_config(), None);
    assert_eq!(get_alias(&c, "tolatest", "dev").await.function_version(), Some("$LATEST"));

    // GetFunction through it follows $LATEST as it changes.
    c.update_function_configuration().function_name("tolatest").description("moving").send().await.unwrap();
    let got = c.get_function().function_name("tolatest").qualifier("dev").send().await.unwrap();
    let conf = got.configuration().unwrap();
    assert_eq!(conf.function_arn(), Some(alias_arn("tolatest", "dev").as_str()));
    assert_eq!(conf.version(), Some("$LATEST"));
    assert_eq!(conf.description(), Some("moving"));
    let latest = c.get_function_configuration().function_name("tolatest").send().await.unwrap();
    assert_eq!(conf.revision_id(), latest.revision_id());
}

#[tokio::test]
async fn routing_config_is_validated() {
    let server = TestServer::start().await;
    let c = server.lambda();
    function_with_versions(&c, "route", 3).await;

    // More than one additional version.
    let two = AliasRoutingConfiguration::builder()
        .additional_version_weights("2", 0.1)
        .additional_version_weights("3", 0.2)
        .build();
    let e =
        err(c.create_alias().function_name("route").name("a").function_version("1").routing_config(two).send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "Number of items in AdditionalVersionWeights cannot be greater than 1",
    );

    // Weight out of range.
    let e = err(c
        .create_alias()
        .function_name("route")
        .name("a")
        .function_version("1")
        .routing_config(routing("2", 2.0))
        .send()
        .await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy \
         constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member \
         must have value greater than or equal to 0.0, Member must not be null]",
    );
    let e = err(c
        .create_alias()
        .function_name("route")
        .name("a")
        .function_version("1")
        .routing_config(routing("2", -0.5))
        .send()
        .await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '{2=-0.5}' at 'routingConfig.additionalVersionWeights' failed to \
         satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, \
         Member must have value greater than or equal to 0.0, Member must not be null]",
    );

    // A key that is not a version number.
    let e = err(c
        .create_alias()
        .function_name("route")
        .name("a")
        .function_version("1")
        .routing_config(routing("$LATEST", 0.5))
        .send()
        .await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' failed to \
         satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024, \
         Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]",
    );

    // Routing to the primary version itself.
    let e = err(c
        .create_alias()
        .function_name("route")
        .name("a")
        .function_version("1")
        .routing_config(routing("1", 0.5))
        .send()
        .await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "Invalid function version 1. Function version 1 is already included in routing configuration.",
    );

    // Routing away from $LATEST.
    let e = err(c
        .create_alias()
        .function_name("route")
        .name("a")
        .function_version("$LATEST")
        .routing_config(routing("1", 0.5))
        .send()
        .await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "$LATEST is not supported for an alias pointing to more than 1 version",
    );

    // Routing to a version that does not exist.
    let e = err(c
        .create_alias()
        .function_name("route")
        .name("a")
        .function_version("1")
        .routing_config(routing("5", 0.5))
        .send()
        .await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:5", arn("route")));

    // A primary version that does not exist.
    let e = err(c.create_alias().function_name("route").name("a").function_version("7").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:7", arn("route")));

    // Nothing was created by any of that.
    assert!(alias_names(&c, "route", None).await.is_empty());

    // Weights at the edges of the range are fine.
    let a = c
        .create_alias()
        .function_name("route")
        .name("a")
        .function_version("1")
        .routing_config(routing("3", 0.0))
        .send()
        .await
        .unwrap();
    assert_eq!(weights(a.routing_config()), Some(HashMap::from([("3".to_owned(), 0.0)])));

    // UpdateAlias applies the same rules.
    let e = err(c.update_alias().function_name("route").name("a").routing_config(routing("1", 0.5)).send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "Invalid function version 1. Function version 1 is already included in routing configuration.",
    );
    let e = err(c.update_alias().function_name("route").name("a").routing_config(routing("2", 2.0)).send().await);
    assert_err(
        e,
        400,
        "ValidationException",
        "1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy \
         constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member \
         must have value greater than or equal to 0.0, Member must not be null]",
    );
    let e = err(c.update_alias().function_name("route").name("a").routing_config(routing("9", 0.5)).send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:9", arn("route")));
    let e = err(c.update_alias().function_name("route").name("a").function_version("8").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:8", arn("route")));
    let e = err(c
        .update_alias()
        .function_name("route")
        .name("a")
        .function_version("$LATEST")
        .routing_config(routing("2", 0.5))
        .send()
        .await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "$LATEST is not supported for an alias pointing to more than 1 version",
    );
    // Failed updates change nothing.
    let a_now = get_alias(&c, "route", "a").await;
    assert_eq!(a_now.function_version(), Some("1"));
    assert_eq!(weights(a_now.routing_config()), Some(HashMap::from([("3".to_owned(), 0.0)])));
    assert_eq!(a_now.revision_id(), a.revision_id());
}

#[tokio::test]
async fn alias_not_found_and_conflict_errors() {
    let server = TestServer::start().await;
    let (c, statuses) = with_statuses(&server.lambda());
    function_with_versions(&c, "errs", 1).await;

    // CreateAlias on a missing function: the ARN carries the requested version.
    let e = err(c.create_alias().function_name("nofn").name("live").function_version("1").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:1", arn("nofn")));
    let e = err(c.create_alias().function_name("nofn").name("live").function_version("$LATEST").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:$LATEST", arn("nofn")));

    // Duplicate.
    c.create_alias().function_name("errs").name("live").function_version("1").send().await.unwrap();
    let e = err(c.create_alias().function_name("errs").name("live").function_version("$LATEST").send().await);
    assert_err(e, 409, "ResourceConflictException", &format!("Alias already exists: {}", alias_arn("errs", "live")));
    assert_eq!(get_alias(&c, "errs", "live").await.function_version(), Some("1"), "the original alias is intact");

    // GetAlias / UpdateAlias of an alias that does not exist.
    let e = err(c.get_alias().function_name("errs").name("ghost").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Cannot find alias arn: {}", alias_arn("errs", "ghost")));
    let e = err(c.update_alias().function_name("errs").name("ghost").description("x").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Alias not found: {}", alias_arn("errs", "ghost")));

    // DeleteAlias: 204, and 204 again when it is already gone.
    c.delete_alias().function_name("errs").name("live").send().await.unwrap();
    assert_eq!(statuses.last(), 204);
    let e = err(c.get_alias().function_name("errs").name("live").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Cannot find alias arn: {}", alias_arn("errs", "live")));
    c.delete_alias().function_name("errs").name("live").send().await.unwrap();
    assert_eq!(statuses.last(), 204);
    c.delete_alias().function_name("errs").name("never-was").send().await.unwrap();
    assert_eq!(statuses.last(), 204);
    assert!(alias_names(&c, "errs", None).await.is_empty());

    // The name is free again.
    let again = c.create_alias().function_name("errs").name("live").function_version("$LATEST").send().await.unwrap();
    assert_eq!(again.function_version(), Some("$LATEST"));

    // GetFunction with an alias that does not exist.
    let e = err(c.get_function().function_name("errs").qualifier("aliasdoesnotexist").send().await);
    assert_err(
        e,
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {}", alias_arn("errs", "aliasdoesnotexist")),
    );
}

#[tokio::test]
async fn update_alias_always_issues_a_new_revision() {
    let server = TestServer::start().await;
    let (c, statuses) = with_statuses(&server.lambda());
    function_with_versions(&c, "revs", 1).await;
    let created = c.create_alias().function_name("revs").name("live").function_version("1").send().await.unwrap();
    let mut seen = vec![created.revision_id().unwrap().to_owned()];

    for _ in 0..3 {
        // No changes at all: still a new RevisionId.
        let u = c.update_alias().function_name("revs").name("live").send().await.unwrap();
        assert_eq!(statuses.last(), 200);
        assert_eq!(u.function_version(), Some("1"));
        assert_eq!(u.description(), Some(""));
        assert_eq!(u.alias_arn(), Some(alias_arn("revs", "live").as_str()));
        let r = u.revision_id().unwrap().to_owned();
        assert!(!seen.contains(&r), "UpdateAlias reused a RevisionId");
        assert_eq!(get_alias(&c, "revs", "live").await.revision_id(), Some(r.as_str()));
        seen.push(r);
    }
}

#[tokio::test]
async fn update_alias_checks_revision_id() {
    let server = TestServer::start().await;
    let c = server.lambda();
    function_with_versions(&c, "pre", 2).await;
    let created = c.create_alias().function_name("pre").name("live").function_version("1").send().await.unwrap();
    let first = created.revision_id().unwrap().to_owned();

    let e =
        err(c.update_alias().function_name("pre").name("live").function_version("2").revision_id("nope").send().await);
    assert_err(e, 412, "PreconditionFailedException", REVISION_MISMATCH);

    let u = c
        .update_alias()
        .function_name("pre")
        .name("live")
        .function_version("2")
        .revision_id(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(u.function_version(), Some("2"));

    // The first RevisionId is stale now.
    let e =
        err(c.update_alias().function_name("pre").name("live").function_version("1").revision_id(&first).send().await);
    assert_err(e, 412, "PreconditionFailedException", REVISION_MISMATCH);
    let now = get_alias(&c, "pre", "live").await;
    assert_eq!(now.function_version(), Some("2"), "a refused update changes nothing");
    assert_eq!(now.revision_id(), u.revision_id());

    // The function's RevisionId is not the alias's.
    let fn_rev = c.get_function_configuration().function_name("pre").send().await.unwrap().revision_id.unwrap();
    let e = err(c.update_alias().function_name("pre").name("live").revision_id(&fn_rev).send().await);
    assert_err(e, 412, "PreconditionFailedException", REVISION_MISMATCH);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_update_alias_with_one_revision_id_lets_exactly_one_through() {
    const TASKS: usize = 16;
    let server = TestServer::start().await;
    let c = server.lambda();
    function_with_versions(&c, "cas", 2).await;
    let created = c.create_alias().function_name("cas").name("live").function_version("1").send().await.unwrap();
    let rev = created.revision_id().unwrap().to_owned();

    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let (c, rev) = (c.clone(), rev.clone());
        tasks.push(tokio::spawn(async move {
            c.update_alias()
                .function_name("cas")
                .name("live")
                .description(format!("writer {i}"))
                .revision_id(rev)
                .send()
                .await
                .map(|o| (i, o.revision_id().unwrap().to_owned()))
        }));
    }
    let mut winners = Vec::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(w) => winners.push(w),
            Err(e) => {
                assert_err(err::<(), _, _>(Err(e)), 412, "PreconditionFailedException", REVISION_MISMATCH);
                refused += 1;
            }
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins: {winners:?}");
    assert_eq!(refused, TASKS - 1);

    let (i, new_rev) = &winners[0];
    let now = get_alias(&c, "cas", "live").await;
    assert_eq!(now.description(), Some(format!("writer {i}").as_str()));
    assert_eq!(now.revision_id(), Some(new_rev.as_str()));
}

#[tokio::test]
async fn update_alias_is_partial() {
    let server = TestServer::start().await;
    let c = server.lambda();
    function_with_versions(&c, "part", 3).await;
    c.create_alias()
        .function_name("part")
        .name("live")
        .function_version("1")
        .description("first")
        .routing_config(routing("2", 0.25))
        .send()
        .await
        .unwrap();

    // Only the description.
    let u = c.update_alias().function_name("part").name("live").description("second").send().await.unwrap();
    assert_eq!(u.description(), Some("second"));
    assert_eq!(u.function_version(), Some("1"));
    assert_eq!(weights(u.routing_config()), Some(HashMap::from([("2".to_owned(), 0.25)])));
    let got = get_alias(&c, "part", "live").await;
    assert_eq!(got.description(), Some("second"));
    assert_eq!(got.function_version(), Some("1"));
    assert_eq!(weights(got.routing_config()), Some(HashMap::from([("2".to_owned(), 0.25)])));

    // Only the routing: another version and weight.
    let u = c.update_alias().function_name("part").name("live").routing_config(routing("3", 0.5)).send().await.unwrap();
    assert_eq!(weights(u.routing_config()), Some(HashMap::from([("3".to_owned(), 0.5)])));
    assert_eq!(u.description(), Some("second"));
    assert_eq!(u.function_version(), Some("1"));

    // An empty map clears the routing.
    let u = c.update_alias().function_name("part").name("live").routing_config(no_routing()).send().await.unwrap();
    assert_eq!(u.routing_config(), None);
    assert_eq!(u.function_version(), Some("1"));
    assert_eq!(u.description(), Some("second"));
    assert_eq!(get_alias(&c, "part", "live").await.routing_config(), None);

    // A RoutingConfig without AdditionalVersionWeights clears the routing too.
    c.update_alias().function_name("part").name("live").routing_config(routing("2", 0.75)).send().await.unwrap();
    let u = c
        .update_alias()
        .function_name("part")
        .name("live")
        .routing_config(AliasRoutingConfiguration::builder().build())
        .send()
        .await
        .unwrap();
    assert_eq!(u.routing_config(), None);
    assert_eq!(u.function_version(), Some("1"));

    // Only the version.
    let u = c.update_alias().function_name("part").name("live").function_version("2").send().await.unwrap();
    assert_eq!(u.function_version(), Some("2"));
    assert_eq!(u.description(), Some("second"));
    assert_eq!(u.routing_config(), None);

    // Version and routing together, then to $LATEST with routing cleared in the same call.
    let u = c
        .update_alias()
        .function_name("part")
        .name("live")
        .function_version("3")
        .routing_config(routing("2", 0.1))
        .send()
        .await
        .unwrap();
    assert_eq!(u.function_version(), Some("3"));
    assert_eq!(weights(u.routing_config()), Some(HashMap::from([("2".to_owned(), 0.1)])));
    let u = c
        .update_alias()
        .function_name("part")
        .name("live")
        .function_version("$LATEST")
        .routing_config(no_routing())
        .description("")
        .send()
        .await
        .unwrap();
    assert_eq!(u.function_version(), Some("$LATEST"));
    assert_eq!(u.routing_config(), None);
    assert_eq!(u.description(), Some(""));
}

#[tokio::test]
async fn list_aliases_filters_and_paginates() {
    let server = TestServer::start().await;
    let c = server.lambda();
    function_with_versions(&c, "lst", 2).await;
    // Created in name order, so creation order and name order agree.
    for (name, version, routed) in [
        ("a1", "1", None),
        ("b2", "2", Some(("1", 0.3))),
        ("c1", "1", None),
        ("d-latest", "$LATEST", None),
        ("e1", "1", Some(("2", 0.5))),
    ] {
        let mut req = c.create_alias().function_name("lst").name(name).function_version(version);
        if let Some((v, w)) = routed {
            req = req.routing_config(routing(v, w));
        }
        req.send().await.unwrap();
    }

    let all = c.list_aliases().function_name("lst").send().await.unwrap();
    assert_eq!(all.next_marker(), None);
    let names: Vec<_> = all.aliases().iter().map(|a| a.name().unwrap()).collect();
    assert_eq!(names, ["a1", "b2", "c1", "d-latest", "e1"]);
    // Entries are whole alias configurations.
    let b2 = &all.aliases()[1];
    assert_eq!(b2.alias_arn(), Some(alias_arn("lst", "b2").as_str()));
    assert_eq!(b2.function_version(), Some("2"));
    assert_eq!(b2.description(), Some(""));
    assert_eq!(weights(b2.routing_config()), Some(HashMap::from([("1".to_owned(), 0.3)])));
    assert_eq!(b2.revision_id(), get_alias(&c, "lst", "b2").await.revision_id());
    assert_eq!(all.aliases()[0].routing_config(), None);

    // The filter matches the primary version only, not routing targets.
    assert_eq!(alias_names(&c, "lst", Some("1")).await, ["a1", "c1", "e1"]);
    assert_eq!(alias_names(&c, "lst", Some("2")).await, ["b2"]);
    assert_eq!(alias_names(&c, "lst", Some("$LATEST")).await, ["d-latest"]);
    assert!(alias_names(&c, "lst", Some("9")).await.is_empty());

    // Pages of two.
    let mut pages = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = c.list_aliases().function_name("lst").max_items(2).set_marker(marker.clone()).send().await.unwrap();
        pages.push(page.aliases().iter().map(|a| a.name().unwrap().to_owned()).collect::<Vec<_>>());
        match page.next_marker() {
            Some(m) => marker = Some(m.to_owned()),
            None => break,
        }
        assert!(pages.len() < 10, "pagination does not end");
    }
    assert_eq!(pages, [vec!["a1", "b2"], vec!["c1", "d-latest"], vec!["e1"]]);

    // Pages of one, filtered.
    let first = c.list_aliases().function_name("lst").function_version("1").max_items(1).send().await.unwrap();
    let names: Vec<_> = first.aliases().iter().map(|a| a.name().unwrap()).collect();
    assert_eq!(names, ["a1"]);
    let m = first.next_marker().expect("more").to_owned();
    let second =
        c.list_aliases().function_name("lst").function_version("1").max_items(1).marker(&m).send().await.unwrap();
    let names: Vec<_> = second.aliases().iter().map(|a| a.name().unwrap()).collect();
    assert_eq!(names, ["c1"]);
    let m = second.next_marker().expect("more").to_owned();
    let third =
        c.list_aliases().function_name("lst").function_version("1").max_items(1).marker(&m).send().await.unwrap();
    let names: Vec<_> = third.aliases().iter().map(|a| a.name().unwrap()).collect();
    assert_eq!(names, ["e1"]);
    assert_eq!(third.next_marker(), None, "no NextMarker on the last page");

    // No aliases: an empty list.
    create(&c, "lonely", testkit::zip::hello()).await;
    let none = c.list_aliases().function_name("lonely").send().await.unwrap();
    assert!(none.aliases().is_empty());
    assert_eq!(none.next_marker(), None);
}

#[tokio::test]
async fn list_aliases_caps_pages_at_fifty() {
    let server = TestServer::start().await;
    let c = server.lambda();
    function_with_versions(&c, "lots", 1).await;
    let mut expected: Vec<String> = (0..53).map(|i| format!("alias-{i:03}")).collect();
    expected.sort();
    for name in &expected {
        c.create_alias().function_name("lots").name(name).function_version("1").send().await.unwrap();
    }
    let big = c.list_aliases().function_name("lots").max_items(1000).send().await.unwrap();
    assert_eq!(big.aliases().len(), 50);
    let m = big.next_marker().expect("a second page").to_owned();
    let rest = c.list_aliases().function_name("lots").max_items(1000).marker(&m).send().await.unwrap();
    assert_eq!(rest.aliases().len(), 3);
    assert_eq!(rest.next_marker(), None);
    let all: Vec<String> = big.aliases().iter().chain(rest.aliases()).map(|a| a.name().unwrap().to_owned()).collect();
    assert_eq!(all, expected);
}

#[tokio::test]
async fn get_function_through_an_alias() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let versions = function_with_versions(&c, "via", 2).await;
    c.update_function_configuration().function_name("via").description("latest").send().await.unwrap();
    c.create_alias().function_name("via").name("live").function_version("1").send().await.unwrap();

    let expect_live = |conf: &FunctionConfiguration, version: usize| {
        let published = &versions[version - 1];
        assert_eq!(conf.function_arn(), Some(alias_arn("via", "live").as_str()));
        assert_eq!(conf.function_name(), Some("via"));
        assert_eq!(conf.version(), Some(version.to_string().as_str()));
        assert_eq!(conf.description(), Some(format!("v{version}").as_str()));
        assert_eq!(conf.revision_id(), published.revision_id(), "the version's RevisionId");
        assert_eq!(conf.code_sha256(), published.code_sha256());
    };

    // Qualifier parameter.
    let got = c.get_function().function_name("via").qualifier("live").send().await.unwrap();
    expect_live(got.configuration().unwrap(), 1);
    // Short name:alias.
    let got = c.get_function().function_name("via:live").send().await.unwrap();
    expect_live(got.configuration().unwrap(), 1);
    // Full alias ARN.
    let got = c.get_function().function_name(alias_arn("via", "live")).send().await.unwrap();
    expect_live(got.configuration().unwrap(), 1);
    // The same qualifier twice is fine.
    let got = c.get_function().function_name(alias_arn("via", "live")).qualifier("live").send().await.unwrap();
    expect_live(got.configuration().unwrap(), 1);
    // GetFunctionConfiguration too.
    let got = c.get_function_configuration().function_name("via:live").send().await.unwrap();
    assert_eq!(got.function_arn(), Some(alias_arn("via", "live").as_str()));
    assert_eq!(got.version(), Some("1"));
    assert_eq!(got.description(), Some("v1"));
    assert_eq!(got.revision_id(), versions[0].revision_id());

    // The alias is resolved at every call.
    c.update_alias().function_name("via").name("live").function_version("2").send().await.unwrap();
    let got = c.get_function().function_name("via").qualifier("live").send().await.unwrap();
    expect_live(got.configuration().unwrap(), 2);

    // A name qualifier and a different Qualifier parameter disagree.
    for (name, q) in [
        (alias_arn("via", "live"), "other".to_owned()),
        ("via:live".to_owned(), "1".to_owned()),
        (alias_arn("via", "live"), "$LATEST".to_owned()),
    ] {
        let e = err(c.get_function().function_name(&name).qualifier(&q).send().await);
        assert_err(
            e,
            400,
            "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier.",
        );
        let e = err(c.get_function_configuration().function_name(&name).qualifier(&q).send().await);
        assert_err(
            e,
            400,
            "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier.",
        );
    }
}

#[tokio::test]
async fn deleting_the_function_deletes_its_aliases() {
    let server = TestServer::start().await;
    let c = server.lambda();
    function_with_versions(&c, "tmp", 1).await;
    c.create_alias().function_name("tmp").name("live").function_version("1").send().await.unwrap();
    c.delete_function().function_name("tmp").send().await.unwrap();

    // Re-created under the same name, the function has no aliases.
    create(&c, "tmp", testkit::zip::hello()).await;
    assert!(alias_names(&c, "tmp", None).await.is_empty());
    let e = err(c.get_alias().function_name("tmp").name("live").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Cannot find alias arn: {}", alias_arn("tmp", "live")));
}
