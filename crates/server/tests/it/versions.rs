//! PublishVersion, ListVersionsByFunction, and versions seen through GetFunction*,
//! UpdateFunctionCode and DeleteFunction (reference §3.2–3.4, §4).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::publish_version::PublishVersionOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, LastUpdateStatus, Runtime, State, StateReasonCode};
use testkit::TestServer;

use crate::support::*;

const REVISION_MISMATCH: &str = "The Revision Id provided does not match the latest Revision Id. Call the \
                                 GetFunction/GetAlias API to retrieve the latest Revision Id";

async fn publish(c: &Client, name: &str) -> PublishVersionOutput {
    c.publish_version().function_name(name).send().await.expect("publish_version")
}

/// Changes $LATEST (its description), so that the next publish cuts a new version.
async fn change(c: &Client, name: &str, description: &str) {
    c.update_function_configuration().function_name(name).description(description).send().await.expect("update");
}

async fn update_code(c: &Client, name: &str, zip: Vec<u8>) {
    c.update_function_code().function_name(name).zip_file(Blob::new(zip)).send().await.expect("update code");
}

/// Every page of ListVersionsByFunction with this page size.
async fn list_all_versions(c: &Client, name: &str, max_items: Option<i32>) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = c
            .list_versions_by_function()
            .function_name(name)
            .set_marker(marker.clone())
            .set_max_items(max_items)
            .send()
            .await
            .expect("list_versions_by_function");
        pages.push(page.versions().iter().map(|v| v.version().unwrap().to_owned()).collect());
        match page.next_marker() {
            Some(m) => marker = Some(m.to_owned()),
            None => return pages,
        }
        assert!(pages.len() < 1000, "pagination does not end");
    }
}

async fn version_numbers(c: &Client, name: &str) -> Vec<String> {
    list_all_versions(c, name, None).await.concat()
}

async fn latest_revision(c: &Client, name: &str) -> String {
    let conf = c.get_function_configuration().function_name(name).send().await.unwrap();
    conf.revision_id().unwrap().to_owned()
}

#[tokio::test]
async fn publish_version_cuts_version_one_from_latest() {
    let server = TestServer::start().await;
    let (c, statuses) = with_statuses(&server.lambda());
    let zip = testkit::zip::hello();
    create(&c, "pub", zip.clone()).await;
    let latest_before = latest_revision(&c, "pub").await;

    let v1 = publish(&c, "pub").await;
    assert_eq!(statuses.last(), 201);
    assert_eq!(v1.version(), Some("1"));
    assert_eq!(v1.function_name(), Some("pub"));
    assert_eq!(v1.function_arn(), Some(format!("{}:1", arn("pub")).as_str()));
    assert_eq!(v1.state(), Some(&State::Active));
    assert_eq!(v1.last_update_status(), Some(&LastUpdateStatus::Successful));
    assert_eq!(v1.state_reason(), None);
    assert_eq!(v1.description(), Some(""), "the description is copied from $LATEST");
    assert_eq!(v1.code_sha256(), Some(code_sha256(&zip).as_str()));
    assert_eq!(v1.code_size(), zip.len() as i64);
    assert_eq!(v1.runtime(), Some(&Runtime::Python312));
    assert_eq!(v1.handler(), Some("index.handler"));
    let rev1 = v1.revision_id().unwrap();
    assert!(!rev1.is_empty());
    assert_ne!(rev1, latest_before, "a version has its own RevisionId");

    // PublishVersion bumps $LATEST's RevisionId.
    let latest_after = latest_revision(&c, "pub").await;
    assert_ne!(latest_after, latest_before);
    assert_ne!(latest_after, rev1);

    // The version is readable by qualifier, settled, and keeps its RevisionId.
    let got = c.get_function_configuration().function_name("pub").qualifier("1").send().await.unwrap();
    assert_eq!(got.version(), Some("1"));
    assert_eq!(got.function_arn(), Some(format!("{}:1", arn("pub")).as_str()));
    assert_eq!(got.revision_id(), Some(rev1));
    assert_eq!(got.state(), Some(&State::Active));
    assert_eq!(got.last_update_status(), Some(&LastUpdateStatus::Successful));
}

#[tokio::test]
async fn version_numbers_increase_with_each_change() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let first = testkit::zip::hello();
    let second = testkit::zip::tagged("x");
    create(&c, "seq", first.clone()).await;

    let v1 = publish(&c, "seq").await;
    assert_eq!(v1.version(), Some("1"));

    change(&c, "seq", "config changed").await;
    let v2 = publish(&c, "seq").await;
    assert_eq!(v2.version(), Some("2"));
    assert_eq!(v2.function_arn(), Some(format!("{}:2", arn("seq")).as_str()));
    assert_eq!(v2.description(), Some("config changed"));
    assert_eq!(v2.code_sha256(), Some(code_sha256(&first).as_str()));

    update_code(&c, "seq", second.clone()).await;
    let v3 = publish(&c, "seq").await;
    assert_eq!(v3.version(), Some("3"));
    assert_eq!(v3.function_arn(), Some(format!("{}:3", arn("seq")).as_str()));
    assert_eq!(v3.code_sha256(), Some(code_sha256(&second).as_str()));
    assert_eq!(v3.code_size(), second.len() as i64);

    let revisions: BTreeSet<&str> =
        [v1.revision_id().unwrap(), v2.revision_id().unwrap(), v3.revision_id().unwrap()].into();
    assert_eq!(revisions.len(), 3, "each version has its own RevisionId");
    assert_eq!(version_numbers(&c, "seq").await, ["$LATEST", "1", "2", "3"]);

    // A byte-identical code update still counts as a change.
    update_code(&c, "seq", second.clone()).await;
    let v4 = publish(&c, "seq").await;
    assert_eq!(v4.version(), Some("4"));
    // So does a redundant configuration update.
    change(&c, "seq", "config changed").await;
    let v5 = publish(&c, "seq").await;
    assert_eq!(v5.version(), Some("5"));
}

#[tokio::test]
async fn publishing_without_changes_returns_the_existing_version() {
    let server = TestServer::start().await;
    let (c, statuses) = with_statuses(&server.lambda());
    create(&c, "noop", testkit::zip::hello()).await;
    change(&c, "noop", "original").await;

    let v1 = publish(&c, "noop").await;
    assert_eq!(v1.version(), Some("1"));
    let rev1 = v1.revision_id().unwrap().to_owned();

    let again = publish(&c, "noop").await;
    assert_eq!(statuses.last(), 201, "a no-op publish still answers 201");
    assert_eq!(again.version(), Some("1"));
    assert_eq!(again.function_arn(), Some(format!("{}:1", arn("noop")).as_str()));
    assert_eq!(again.revision_id(), Some(rev1.as_str()));
    assert_eq!(again.description(), Some("original"));

    // A different Description alone is not a change: the old version, with its old
    // description, is the answer.
    let with_description =
        c.publish_version().function_name("noop").description("something else").send().await.unwrap();
    assert_eq!(statuses.last(), 201);
    assert_eq!(with_description.version(), Some("1"));
    assert_eq!(with_description.revision_id(), Some(rev1.as_str()));
    assert_eq!(with_description.description(), Some("original"));
    let stored = c.get_function_configuration().function_name("noop").qualifier("1").send().await.unwrap();
    assert_eq!(stored.description(), Some("original"));

    assert_eq!(version_numbers(&c, "noop").await, ["$LATEST", "1"]);

    // Tags are function-level: they do not make a new version either.
    c.tag_resource().resource(arn("noop")).tags("team", "a").send().await.unwrap();
    assert_eq!(publish(&c, "noop").await.version(), Some("1"));

    // After a change, the next publish is a new version again.
    change(&c, "noop", "changed").await;
    let v2 = publish(&c, "noop").await;
    assert_eq!(v2.version(), Some("2"));
    assert_eq!(v2.description(), Some("changed"));
}

#[tokio::test]
async fn publish_description_overrides_only_the_version() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "desc", testkit::zip::hello()).await;
    change(&c, "desc", "latest description").await;

    let v1 = c.publish_version().function_name("desc").description("version one").send().await.unwrap();
    assert_eq!(v1.version(), Some("1"));
    assert_eq!(v1.description(), Some("version one"));

    let latest = c.get_function_configuration().function_name("desc").send().await.unwrap();
    assert_eq!(latest.description(), Some("latest description"), "$LATEST keeps its own description");
    let stored = c.get_function_configuration().function_name("desc").qualifier("1").send().await.unwrap();
    assert_eq!(stored.description(), Some("version one"));

    // Without a Description the version copies $LATEST's.
    change(&c, "desc", "second latest").await;
    let v2 = publish(&c, "desc").await;
    assert_eq!(v2.description(), Some("second latest"));
}

#[tokio::test]
async fn publish_checks_code_sha256() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let zip = testkit::zip::hello();
    create(&c, "sha", zip.clone()).await;
    let sha = code_sha256(&zip);

    let e = err(c.publish_version().function_name("sha").code_sha256("somenonexistentsha256").send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        &format!(
            "CodeSHA256 (somenonexistentsha256) is different from current CodeSHA256 in $LATEST ({sha}). Please try \
             again with the CodeSHA256 in $LATEST."
        ),
    );
    // The SHA of another package is just as wrong.
    let other = code_sha256(&testkit::zip::tagged("other"));
    let e = err(c.publish_version().function_name("sha").code_sha256(&other).send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        &format!(
            "CodeSHA256 ({other}) is different from current CodeSHA256 in $LATEST ({sha}). Please try again with \
             the CodeSHA256 in $LATEST."
        ),
    );
    assert_eq!(version_numbers(&c, "sha").await, ["$LATEST"], "a refused publish publishes nothing");

    let v1 = c.publish_version().function_name("sha").code_sha256(&sha).send().await.unwrap();
    assert_eq!(v1.version(), Some("1"));
    assert_eq!(v1.code_sha256(), Some(sha.as_str()));

    // After a code update the old SHA no longer matches.
    let new_zip = testkit::zip::tagged("new");
    let new_sha = code_sha256(&new_zip);
    update_code(&c, "sha", new_zip).await;
    let e = err(c.publish_version().function_name("sha").code_sha256(&sha).send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        &format!(
            "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({new_sha}). Please try again with \
             the CodeSHA256 in $LATEST."
        ),
    );
    let v2 = c.publish_version().function_name("sha").code_sha256(&new_sha).send().await.unwrap();
    assert_eq!(v2.version(), Some("2"));
}

#[tokio::test]
async fn publish_checks_revision_id() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "rev", testkit::zip::hello()).await;

    let e = err(c.publish_version().function_name("rev").revision_id("not-the-revision").send().await);
    assert_err(e, 412, "PreconditionFailedException", REVISION_MISMATCH);
    let stale = latest_revision(&c, "rev").await;
    change(&c, "rev", "moved on").await;
    let e = err(c.publish_version().function_name("rev").revision_id(&stale).send().await);
    assert_err(e, 412, "PreconditionFailedException", REVISION_MISMATCH);
    assert_eq!(version_numbers(&c, "rev").await, ["$LATEST"], "a refused publish publishes nothing");

    let current = latest_revision(&c, "rev").await;
    let v1 = c.publish_version().function_name("rev").revision_id(&current).send().await.unwrap();
    assert_eq!(v1.version(), Some("1"));
    assert_ne!(v1.revision_id(), Some(current.as_str()));

    // Publishing changed $LATEST's RevisionId: the one used above is now stale.
    let after = latest_revision(&c, "rev").await;
    assert_ne!(after, current);
    change(&c, "rev", "again").await;
    let e = err(c.publish_version().function_name("rev").revision_id(&after).send().await);
    assert_err(e, 412, "PreconditionFailedException", REVISION_MISMATCH);
}

#[tokio::test]
async fn create_function_with_publish_makes_version_one() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let zip = testkit::zip::hello();
    let created = c
        .create_function()
        .function_name("born")
        .runtime(Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .publish(true)
        .code(FunctionCode::builder().zip_file(Blob::new(zip.clone())).build())
        .send()
        .await
        .unwrap();
    assert_eq!(created.version(), Some("1"));
    assert_eq!(created.function_arn(), Some(arn("born").as_str()), "the ARN stays unqualified (sic)");
    assert_eq!(created.state(), Some(&State::Pending));

    assert_eq!(version_numbers(&c, "born").await, ["$LATEST", "1"]);
    let v1 = publish(&c, "born").await;
    assert_eq!(v1.version(), Some("1"), "nothing changed since version 1 was published");
    assert_eq!(v1.function_arn(), Some(format!("{}:1", arn("born")).as_str()));
    assert_eq!(v1.code_sha256(), Some(code_sha256(&zip).as_str()));
    let stored = c.get_function_configuration().function_name("born").qualifier("1").send().await.unwrap();
    assert_eq!(stored.revision_id(), v1.revision_id());
    assert_eq!(version_numbers(&c, "born").await, ["$LATEST", "1"]);

    change(&c, "born", "next").await;
    assert_eq!(publish(&c, "born").await.version(), Some("2"));
}

#[tokio::test]
async fn update_function_code_with_publish_always_makes_a_new_version() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let zip = testkit::zip::hello();
    create(&c, "upd", zip.clone()).await;
    assert_eq!(publish(&c, "upd").await.version(), Some("1"));

    // Byte-identical code, but Publish makes version 2 anyway.
    let v2 = c
        .update_function_code()
        .function_name("upd")
        .zip_file(Blob::new(zip.clone()))
        .publish(true)
        .send()
        .await
        .unwrap();
    assert_eq!(v2.version(), Some("2"));
    assert_eq!(v2.function_arn(), Some(format!("{}:2", arn("upd")).as_str()));
    assert_eq!(v2.state(), Some(&State::Pending));
    assert_eq!(v2.state_reason(), Some("The function is being created."));
    assert_eq!(v2.state_reason_code(), Some(&StateReasonCode::Creating));
    assert_eq!(v2.last_update_status(), None);
    assert_eq!(v2.code_sha256(), Some(code_sha256(&zip).as_str()));

    let other = testkit::zip::tagged("x");
    let v3 = c
        .update_function_code()
        .function_name("upd")
        .zip_file(Blob::new(other.clone()))
        .publish(true)
        .send()
        .await
        .unwrap();
    assert_eq!(v3.version(), Some("3"));
    assert_eq!(v3.function_arn(), Some(format!("{}:3", arn("upd")).as_str()));
    assert_eq!(v3.code_sha256(), Some(code_sha256(&other).as_str()));

    // The published versions settle as Active, and $LATEST has the new code too.
    let stored = c.get_function_configuration().function_name("upd").qualifier("3").send().await.unwrap();
    assert_eq!(stored.state(), Some(&State::Active));
    assert_eq!(stored.last_update_status(), Some(&LastUpdateStatus::Successful));
    assert_eq!(stored.code_sha256(), Some(code_sha256(&other).as_str()));
    let latest = c.get_function_configuration().function_name("upd").send().await.unwrap();
    assert_eq!(latest.code_sha256(), Some(code_sha256(&other).as_str()));
    assert_eq!(latest.version(), Some("$LATEST"));
    assert_eq!(version_numbers(&c, "upd").await, ["$LATEST", "1", "2", "3"]);

    // Without Publish, an update answers for $LATEST and publishes nothing.
    let plain = c.update_function_code().function_name("upd").zip_file(Blob::new(zip.clone())).send().await.unwrap();
    assert_eq!(plain.version(), Some("$LATEST"));
    assert_eq!(plain.function_arn(), Some(arn("upd").as_str()));
    assert_eq!(version_numbers(&c, "upd").await, ["$LATEST", "1", "2", "3"]);
}

#[tokio::test]
async fn version_numbers_are_never_reused() {
    let server = TestServer::start().await;
    let (c, statuses) = with_statuses(&server.lambda());
    create(&c, "holes", testkit::zip::hello()).await;
    for i in 1..=3 {
        change(&c, "holes", &format!("d{i}")).await;
        assert_eq!(publish(&c, "holes").await.version(), Some(i.to_string().as_str()));
    }

    c.delete_function().function_name("holes").qualifier("3").send().await.unwrap();
    assert_eq!(statuses.last(), 204);
    assert_eq!(version_numbers(&c, "holes").await, ["$LATEST", "1", "2"]);

    change(&c, "holes", "d4").await;
    let v4 = publish(&c, "holes").await;
    assert_eq!(v4.version(), Some("4"), "the highest number is not handed out again");
    assert_eq!(v4.function_arn(), Some(format!("{}:4", arn("holes")).as_str()));
    assert_eq!(version_numbers(&c, "holes").await, ["$LATEST", "1", "2", "4"]);

    // A hole in the middle stays a hole too.
    c.delete_function().function_name("holes").qualifier("2").send().await.unwrap();
    change(&c, "holes", "d5").await;
    assert_eq!(publish(&c, "holes").await.version(), Some("5"));
    assert_eq!(version_numbers(&c, "holes").await, ["$LATEST", "1", "4", "5"]);
}

#[tokio::test]
async fn delete_function_with_a_qualifier_deletes_one_version() {
    let server = TestServer::start().await;
    let (c, statuses) = with_statuses(&server.lambda());
    create(&c, "delv", testkit::zip::hello()).await;
    for i in 1..=3 {
        change(&c, "delv", &format!("d{i}")).await;
        publish(&c, "delv").await;
    }

    // Qualifier parameter.
    c.delete_function().function_name("delv").qualifier("2").send().await.unwrap();
    assert_eq!(statuses.last(), 204);
    let e = err(c.get_function().function_name("delv").qualifier("2").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:2", arn("delv")));
    assert_eq!(version_numbers(&c, "delv").await, ["$LATEST", "1", "3"]);

    // Qualifier in the name, short form and full ARN.
    c.delete_function().function_name("delv:1").send().await.unwrap();
    assert_eq!(statuses.last(), 204);
    assert_eq!(version_numbers(&c, "delv").await, ["$LATEST", "3"]);
    c.delete_function().function_name(format!("{}:3", arn("delv"))).send().await.unwrap();
    assert_eq!(statuses.last(), 204);
    assert_eq!(version_numbers(&c, "delv").await, ["$LATEST"]);

    // A version that does not exist (any more) is deleted just the same.
    c.delete_function().function_name("delv").qualifier("2").send().await.unwrap();
    assert_eq!(statuses.last(), 204);
    c.delete_function().function_name("delv").qualifier("99").send().await.unwrap();
    assert_eq!(statuses.last(), 204);

    // $LATEST cannot go alone.
    let e = err(c.delete_function().function_name("delv").qualifier("$LATEST").send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "$LATEST version cannot be deleted without deleting the function.",
    );
    let e = err(c.delete_function().function_name("delv:$LATEST").send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "$LATEST version cannot be deleted without deleting the function.",
    );

    // Aliases are deleted with DeleteAlias, not DeleteFunction (Versa's choice; reference §4).
    let v = publish(&c, "delv").await.version().unwrap().to_owned();
    c.create_alias().function_name("delv").name("live").function_version(v).send().await.unwrap();
    let e = err(c.delete_function().function_name("delv").qualifier("live").send().await);
    assert_err(e, 400, "InvalidParameterValueException", "Deletion of aliases is not currently supported.");
    c.get_alias().function_name("delv").name("live").send().await.unwrap();

    // The function itself is untouched.
    let latest = c.get_function_configuration().function_name("delv").send().await.unwrap();
    assert_eq!(latest.description(), Some("d3"));

    // A name qualifier and a different Qualifier parameter disagree.
    let e = err(c.delete_function().function_name("delv:1").qualifier("2").send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "The derived qualifier from the function name does not match the specified qualifier.",
    );

    // A missing function is not found, with the unqualified ARN, even with a qualifier.
    let e = err(c.delete_function().function_name("ghost").qualifier("1").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn("ghost")));
}

#[tokio::test]
async fn versions_referenced_by_aliases_cannot_be_deleted() {
    let server = TestServer::start().await;
    let (c, statuses) = with_statuses(&server.lambda());
    create(&c, "pinned", testkit::zip::hello()).await;
    publish(&c, "pinned").await;
    change(&c, "pinned", "two").await;
    publish(&c, "pinned").await;

    c.create_alias().function_name("pinned").name("live").function_version("1").send().await.unwrap();
    let e = err(c.delete_function().function_name("pinned").qualifier("1").send().await);
    assert_err(
        e,
        409,
        "ResourceConflictException",
        "Unable to delete version because the following aliases reference it: [live]",
    );
    // A version an alias only routes to is referenced as well.
    c.update_alias()
        .function_name("pinned")
        .name("live")
        .routing_config(
            aws_sdk_lambda::types::AliasRoutingConfiguration::builder().additional_version_weights("2", 0.1).build(),
        )
        .send()
        .await
        .unwrap();
    let e = err(c.delete_function().function_name("pinned").qualifier("2").send().await);
    assert_err(
        e,
        409,
        "ResourceConflictException",
        "Unable to delete version because the following aliases reference it: [live]",
    );
    c.update_alias()
        .function_name("pinned")
        .name("live")
        .routing_config(aws_sdk_lambda::types::AliasRoutingConfiguration::builder().build())
        .send()
        .await
        .unwrap();
    // Without the routing, version 2 has no alias and goes.
    c.delete_function().function_name("pinned").qualifier("2").send().await.unwrap();
    assert_eq!(statuses.last(), 204);

    // Two aliases are both listed (created in name order, so creation order agrees).
    change(&c, "pinned", "three").await;
    assert_eq!(publish(&c, "pinned").await.version(), Some("3"));
    c.create_alias().function_name("pinned").name("beta").function_version("3").send().await.unwrap();
    c.create_alias().function_name("pinned").name("gamma").function_version("3").send().await.unwrap();
    let e = err(c.delete_function().function_name("pinned:3").send().await);
    assert_err(
        e,
        409,
        "ResourceConflictException",
        "Unable to delete version because the following aliases reference it: [beta, gamma]",
    );
    assert_eq!(version_numbers(&c, "pinned").await, ["$LATEST", "1", "3"], "refused deletes delete nothing");

    // Once the alias is gone, so can the version be.
    c.delete_alias().function_name("pinned").name("live").send().await.unwrap();
    c.delete_function().function_name("pinned").qualifier("1").send().await.unwrap();
    assert_eq!(statuses.last(), 204);
    // Repointing the aliases frees version 3 as well.
    change(&c, "pinned", "four").await;
    publish(&c, "pinned").await;
    for alias in ["beta", "gamma"] {
        c.update_alias().function_name("pinned").name(alias).function_version("4").send().await.unwrap();
    }
    c.delete_function().function_name("pinned").qualifier("3").send().await.unwrap();
    assert_eq!(version_numbers(&c, "pinned").await, ["$LATEST", "4"]);
}

#[tokio::test]
async fn published_versions_are_immutable() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let old_zip = testkit::zip::hello();
    let new_zip = testkit::zip::tagged("new");
    create(&c, "frozen", old_zip.clone()).await;
    c.update_function_configuration()
        .function_name("frozen")
        .description("old")
        .timeout(7)
        .memory_size(256)
        .send()
        .await
        .unwrap();
    let v1 = publish(&c, "frozen").await;

    c.update_function_configuration()
        .function_name("frozen")
        .description("new")
        .timeout(9)
        .memory_size(512)
        .send()
        .await
        .unwrap();
    update_code(&c, "frozen", new_zip.clone()).await;

    let old = c.get_function_configuration().function_name("frozen").qualifier("1").send().await.unwrap();
    assert_eq!(old.description(), Some("old"));
    assert_eq!(old.timeout(), Some(7));
    assert_eq!(old.memory_size(), Some(256));
    assert_eq!(old.code_sha256(), Some(code_sha256(&old_zip).as_str()));
    assert_eq!(old.code_size(), old_zip.len() as i64);
    assert_eq!(old.revision_id(), v1.revision_id(), "a version's RevisionId never changes");
    assert_eq!(old.last_modified(), v1.last_modified());

    let latest = c.get_function_configuration().function_name("frozen").send().await.unwrap();
    assert_eq!(latest.description(), Some("new"));
    assert_eq!(latest.timeout(), Some(9));
    assert_eq!(latest.memory_size(), Some(512));
    assert_eq!(latest.code_sha256(), Some(code_sha256(&new_zip).as_str()));

    // GetFunction's code location for version 1 still serves the old package.
    let got = c.get_function().function_name("frozen").qualifier("1").send().await.unwrap();
    let location = got.code().unwrap().location().unwrap().to_owned();
    let path = location.split_once(&server.addr.to_string()).unwrap().1;
    let download = testkit::http::Client::new(server.addr).send("GET", path, &[], b"").await.unwrap();
    assert_eq!(download.status, 200);
    assert_eq!(download.body, old_zip);

    // The list shows both as they are.
    let list = c.list_versions_by_function().function_name("frozen").send().await.unwrap();
    let descriptions: Vec<_> = list.versions().iter().map(|v| v.description().unwrap()).collect();
    assert_eq!(descriptions, ["new", "old"]);
}

#[tokio::test]
async fn list_versions_orders_latest_then_numbers() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let zip = testkit::zip::hello();
    create(&c, "many", zip.clone()).await;

    // Just $LATEST before anything is published.
    let list = c.list_versions_by_function().function_name("many").send().await.unwrap();
    assert_eq!(list.versions().len(), 1);
    assert_eq!(list.next_marker(), None);
    assert_eq!(list.versions()[0].function_arn(), Some(format!("{}:$LATEST", arn("many")).as_str()));

    for i in 1..=11 {
        change(&c, "many", &format!("v{i}")).await;
        publish(&c, "many").await;
    }
    let list = c.list_versions_by_function().function_name("many").send().await.unwrap();
    assert_eq!(list.next_marker(), None);
    let versions = list.versions();
    let numbers: Vec<_> = versions.iter().map(|v| v.version().unwrap()).collect();
    assert_eq!(numbers, ["$LATEST", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"], "numeric order");

    let latest = &versions[0];
    assert_eq!(latest.function_arn(), Some(format!("{}:$LATEST", arn("many")).as_str()));
    assert_eq!(latest.function_name(), Some("many"));
    assert_eq!(latest.description(), Some("v11"));
    for (i, v) in versions.iter().enumerate().skip(1) {
        assert_eq!(v.function_arn(), Some(format!("{}:{i}", arn("many")).as_str()));
        assert_eq!(v.description(), Some(format!("v{i}").as_str()));
        assert_eq!(v.code_sha256(), Some(code_sha256(&zip).as_str()));
    }
    // List entries leave out the state fields and RuntimeVersionConfig.
    for v in versions {
        assert_eq!(v.state(), None, "{:?}", v.version());
        assert_eq!(v.state_reason(), None);
        assert_eq!(v.state_reason_code(), None);
        assert_eq!(v.last_update_status(), None);
        assert_eq!(v.last_update_status_reason(), None);
        assert_eq!(v.runtime_version_config(), None);
        assert!(v.revision_id().is_some_and(|r| !r.is_empty()));
    }

    // Each entry's RevisionId is the one GetFunctionConfiguration shows for that version.
    let seven = c.get_function_configuration().function_name("many").qualifier("7").send().await.unwrap();
    assert_eq!(seven.revision_id(), versions[7].revision_id());

    // Through a full ARN it is the same list.
    let by_arn = c.list_versions_by_function().function_name(arn("many")).send().await.unwrap();
    let arn_numbers: Vec<_> = by_arn.versions().iter().map(|v| v.version().unwrap()).collect();
    assert_eq!(arn_numbers, numbers);

    // A missing function is not found.
    let e = err(c.list_versions_by_function().function_name("ghost").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn("ghost")));
}

#[tokio::test]
async fn list_versions_paginates() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "pages", testkit::zip::hello()).await;
    for i in 1..=55 {
        change(&c, "pages", &format!("v{i}")).await;
        publish(&c, "pages").await;
    }
    let expected: Vec<String> =
        std::iter::once("$LATEST".to_owned()).chain((1..=55).map(|i: u32| i.to_string())).collect();

    // Small pages.
    let pages = list_all_versions(&c, "pages", Some(10)).await;
    let sizes: Vec<_> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 10, 10, 10, 6]);
    assert_eq!(pages.concat(), expected);

    // One item a page: the marker after $LATEST works too.
    let first = c.list_versions_by_function().function_name("pages").max_items(1).send().await.unwrap();
    assert_eq!(first.versions().len(), 1);
    assert_eq!(first.versions()[0].version(), Some("$LATEST"));
    let marker = first.next_marker().expect("more pages").to_owned();
    let second =
        c.list_versions_by_function().function_name("pages").max_items(1).marker(&marker).send().await.unwrap();
    assert_eq!(second.versions().len(), 1);
    assert_eq!(second.versions()[0].version(), Some("1"));
    assert_eq!(second.versions()[0].function_arn(), Some(format!("{}:1", arn("pages")).as_str()));
    assert!(second.next_marker().is_some());

    // Never more than 50 a page, however many are asked for.
    let big = c.list_versions_by_function().function_name("pages").max_items(1000).send().await.unwrap();
    assert_eq!(big.versions().len(), 50);
    let marker = big.next_marker().expect("a second page").to_owned();
    let rest =
        c.list_versions_by_function().function_name("pages").max_items(1000).marker(&marker).send().await.unwrap();
    assert_eq!(rest.versions().len(), 6);
    assert_eq!(rest.next_marker(), None, "no NextMarker on the last page");
    let all: Vec<String> =
        big.versions().iter().chain(rest.versions()).map(|v| v.version().unwrap().to_owned()).collect();
    assert_eq!(all, expected);

    // Without MaxItems the page maximum applies as well.
    let pages = list_all_versions(&c, "pages", None).await;
    let sizes: Vec<_> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [50, 6]);

    // A page that ends exactly at the last version has no NextMarker.
    let exact = list_all_versions(&c, "pages", Some(28)).await;
    let sizes: Vec<_> = exact.iter().map(Vec::len).collect();
    assert_eq!(sizes, [28, 28]);
}

#[tokio::test]
async fn get_function_by_version_qualifier() {
    let server = TestServer::start().await;
    let c = server.lambda();
    let old_zip = testkit::zip::hello();
    create(&c, "getv", old_zip.clone()).await;
    change(&c, "getv", "one").await;
    let v1 = publish(&c, "getv").await;
    update_code(&c, "getv", testkit::zip::tagged("two")).await;
    change(&c, "getv", "latest").await;

    // $LATEST, explicitly: qualified ARN.
    let got = c.get_function().function_name("getv").qualifier("$LATEST").send().await.unwrap();
    let conf = got.configuration().unwrap();
    assert_eq!(conf.function_arn(), Some(format!("{}:$LATEST", arn("getv")).as_str()));
    assert_eq!(conf.version(), Some("$LATEST"));
    assert_eq!(conf.description(), Some("latest"));
    let got = c.get_function_configuration().function_name("getv:$LATEST").send().await.unwrap();
    assert_eq!(got.function_arn(), Some(format!("{}:$LATEST", arn("getv")).as_str()));
    // The same qualifier in the name and the parameter is fine.
    let got = c.get_function().function_name("getv:$LATEST").qualifier("$LATEST").send().await.unwrap();
    assert_eq!(got.configuration().unwrap().version(), Some("$LATEST"));
    // No qualifier: unqualified ARN.
    let got = c.get_function().function_name("getv").send().await.unwrap();
    assert_eq!(got.configuration().unwrap().function_arn(), Some(arn("getv").as_str()));

    // A version: its own configuration, ARN and RevisionId, in all three spellings.
    let expect_v1 = |conf: &aws_sdk_lambda::types::FunctionConfiguration| {
        assert_eq!(conf.function_arn(), Some(format!("{}:1", arn("getv")).as_str()));
        assert_eq!(conf.version(), Some("1"));
        assert_eq!(conf.description(), Some("one"));
        assert_eq!(conf.code_sha256(), Some(code_sha256(&old_zip).as_str()));
        assert_eq!(conf.revision_id(), v1.revision_id());
        assert_eq!(conf.state(), Some(&State::Active));
        assert_eq!(conf.last_update_status(), Some(&LastUpdateStatus::Successful));
    };
    let got = c.get_function().function_name("getv").qualifier("1").send().await.unwrap();
    expect_v1(got.configuration().unwrap());
    assert_eq!(got.code().unwrap().repository_type(), Some("S3"));
    let got = c.get_function().function_name("getv:1").send().await.unwrap();
    expect_v1(got.configuration().unwrap());
    let got = c.get_function().function_name(format!("{}:1", arn("getv"))).send().await.unwrap();
    expect_v1(got.configuration().unwrap());
    let got = c.get_function_configuration().function_name("getv").qualifier("1").send().await.unwrap();
    assert_eq!(got.function_arn(), Some(format!("{}:1", arn("getv")).as_str()));
    assert_eq!(got.version(), Some("1"));
    assert_eq!(got.description(), Some("one"));
    assert_eq!(got.revision_id(), v1.revision_id());

    // Missing versions.
    for q in ["2", "1221"] {
        let e = err(c.get_function().function_name("getv").qualifier(q).send().await);
        assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:{q}", arn("getv")));
        let e = err(c.get_function_configuration().function_name(format!("getv:{q}")).send().await);
        assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}:{q}", arn("getv")));
    }
    // Name qualifier and parameter disagree.
    let e = err(c.get_function().function_name("getv:1").qualifier("$LATEST").send().await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "The derived qualifier from the function name does not match the specified qualifier.",
    );
}

#[tokio::test]
async fn deleting_the_function_deletes_its_versions() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "gone", testkit::zip::hello()).await;
    publish(&c, "gone").await;
    change(&c, "gone", "two").await;
    publish(&c, "gone").await;
    c.create_alias().function_name("gone").name("live").function_version("2").send().await.unwrap();

    c.delete_function().function_name("gone").send().await.unwrap();
    let e = err(c.get_function().function_name("gone").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn("gone")));
    // Which ARN form the message shows for a qualified lookup of a missing function is not
    // recorded (reference §1.5 covers missing versions of existing functions only).
    let e = err(c.get_function().function_name("gone").qualifier("1").send().await);
    assert_eq!((e.status, e.code.as_str()), (404, "ResourceNotFoundException"));
    let e = err(c.list_versions_by_function().function_name("gone").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {}", arn("gone")));

    // PublishVersion on a missing function is not found either.
    let e = err(c.publish_version().function_name("gone").send().await);
    assert_eq!((e.status, e.code.as_str()), (404, "ResourceNotFoundException"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_number_versions_without_gaps_or_duplicates() {
    const TASKS: usize = 20;
    const ROUNDS: usize = 5;
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "race", testkit::zip::hello()).await;

    // Each task, several times over: change $LATEST, then publish.
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for round in 0..ROUNDS {
                change(&c, "race", &format!("task {i} round {round}")).await;
                let v = publish(&c, "race").await;
                mine.push((
                    v.version().unwrap().parse::<u32>().expect("a number"),
                    v.revision_id().unwrap().to_owned(),
                    v.description().unwrap().to_owned(),
                ));
            }
            mine
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        let mine = t.await.expect("task");
        // A task's publish comes after its own change, which comes after its previous
        // publish: so each of its publishes returns a newer version than the one before.
        let numbers: Vec<u32> = mine.iter().map(|r| r.0).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "not increasing: {numbers:?}");
        results.extend(mine);
    }

    // A number always stands for one version: the same RevisionId and content whoever got it;
    // different versions have different RevisionIds.
    let mut by_number: BTreeMap<u32, (String, String)> = BTreeMap::new();
    for (n, rev, desc) in &results {
        let entry = by_number.entry(*n).or_insert_with(|| (rev.clone(), desc.clone()));
        assert_eq!(entry, &(rev.clone(), desc.clone()), "version {n} answered differently");
    }
    let revisions: BTreeSet<&String> = by_number.values().map(|(r, _)| r).collect();
    assert_eq!(revisions.len(), by_number.len(), "two versions share a RevisionId");
    // Each version was cut after a different update, so their descriptions differ.
    let descriptions: BTreeSet<&String> = by_number.values().map(|(_, d)| d).collect();
    assert_eq!(descriptions.len(), by_number.len(), "two versions were cut from the same state");

    // The stored versions are exactly 1..=k, all of them handed out, matching the answers.
    let k = *by_number.keys().max().unwrap();
    assert!(k as usize >= ROUNDS && k as usize <= TASKS * ROUNDS);
    assert_eq!(by_number.keys().copied().collect::<Vec<_>>(), (1..=k).collect::<Vec<_>>());
    let mut listed: Vec<(u32, String, String)> = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = c.list_versions_by_function().function_name("race").set_marker(marker.clone()).send().await.unwrap();
        for v in page.versions().iter().filter(|v| v.version() != Some("$LATEST")) {
            listed.push((
                v.version().unwrap().parse().unwrap(),
                v.revision_id().unwrap().to_owned(),
                v.description().unwrap().to_owned(),
            ));
        }
        match page.next_marker() {
            Some(m) => marker = Some(m.to_owned()),
            None => break,
        }
    }
    let answered: Vec<(u32, String, String)> = by_number.iter().map(|(n, (r, d))| (*n, r.clone(), d.clone())).collect();
    assert_eq!(listed, answered);

    // The last publish saw every update, so there is nothing left to publish.
    let again = publish(&c, "race").await;
    assert_eq!(again.version(), Some(k.to_string().as_str()));
    assert_eq!(again.revision_id(), Some(by_number[&k].0.as_str()));
    let latest = c.get_function_configuration().function_name("race").send().await.unwrap();
    assert_eq!(latest.description(), Some(by_number[&k].1.as_str()));
}
