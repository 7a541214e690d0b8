//! Cross-account access: another account reaches a function by ARN when the function's (or the
//! alias's, or the version's) resource policy allows it, for exactly the operations AWS opens to
//! resource-based policies; everything else stays 403.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use testkit::{TestServer, lambda_client};

use crate::invoke::create_py;
use crate::support::*;

const OWNER: &str = "111111111111";
const OTHER: &str = "222222222222";
const STRANGER: &str = "333333333333";

fn owner_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{OWNER}:function:{name}")
}

const CODE: &str = "import os\ndef handler(e, c):\n    return {'version': c.function_version, 'arn': c.invoked_function_arn, 'account': c.invoked_function_arn.split(':')[4]}\n";

#[track_caller]
fn denied(e: AwsError) {
    assert_eq!((e.status, e.code.as_str(), e.message.as_deref()), (403, "AccessDeniedException", None), "{e:?}");
}

async fn grant(owner: &Client, function: &str, qualifier: Option<&str>, sid: &str, principal: &str, action: &str) {
    owner
        .add_permission()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_owned))
        .statement_id(sid)
        .principal(principal)
        .action(action)
        .send()
        .await
        .expect("add_permission");
}

async fn setup(server: &TestServer, name: &str) -> (Client, Client, Client) {
    let owner = lambda_client(&server.endpoint(), OWNER, REGION);
    let other = lambda_client(&server.endpoint(), OTHER, REGION);
    let stranger = lambda_client(&server.endpoint(), STRANGER, REGION);
    create_py(&owner, name, CODE).await;
    owner.publish_version().function_name(name).send().await.unwrap();
    owner.create_alias().function_name(name).name("prod").function_version("1").send().await.unwrap();
    (owner, other, stranger)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_statement_opens_one_action_to_one_account() {
    let server = TestServer::start().await;
    let (owner, other, stranger) = setup(&server, "shared").await;
    let arn = owner_arn("shared");

    // Without a statement, another account's ARN is refused, whether or not the function exists.
    denied(err(other.get_function().function_name(&arn).send().await));
    denied(err(other.get_function().function_name(owner_arn("no-such-function")).send().await));
    denied(err(other.invoke().function_name(format!("{arn}:prod")).send().await));

    grant(&owner, "shared", None, "read", OTHER, "lambda:GetFunction").await;
    let got = other.get_function().function_name(&arn).send().await.unwrap();
    let conf = got.configuration().unwrap();
    assert_eq!(conf.function_arn(), Some(arn.as_str()), "the answer is the owner's function");
    assert_eq!(conf.version(), Some("$LATEST"));
    assert!(got.code().unwrap().location().is_some());
    // Only that action, only that account, only that policy (the unqualified function's).
    denied(err(other.get_function_configuration().function_name(&arn).send().await));
    denied(err(other.list_aliases().function_name(&arn).send().await));
    denied(err(stranger.get_function().function_name(&arn).send().await));
    denied(err(other.get_function().function_name(format!("{arn}:prod")).send().await));
    // The caller's own account has no such function: the bare name stays its own.
    let e = err(other.get_function().function_name("shared").send().await);
    assert_err(
        e,
        404,
        "ResourceNotFoundException",
        &format!("Function not found: arn:aws:lambda:{REGION}:{OTHER}:function:shared"),
    );

    // A partial ARN (account, no region) names the owner too.
    let got = other.get_function().function_name(format!("{OWNER}:function:shared")).send().await.unwrap();
    assert_eq!(got.configuration().unwrap().function_arn(), Some(arn.as_str()));
    // Another region is not reachable, policy or not.
    let e = err(other
        .get_function()
        .function_name(format!("arn:aws:lambda:eu-west-1:{OWNER}:function:shared"))
        .send()
        .await);
    assert_err(
        e,
        404,
        "ResourceNotFoundException",
        "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')",
    );

    // Removing the statement closes it again.
    owner.remove_permission().function_name("shared").statement_id("read").send().await.unwrap();
    denied(err(other.get_function().function_name(&arn).send().await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoking_through_an_alias_needs_the_alias_policy() {
    let server = TestServer::start().await;
    let (owner, other, stranger) = setup(&server, "callee").await;
    let arn = owner_arn("callee");

    // A statement on the unqualified function does not cover the alias (reference §9.2).
    grant(&owner, "callee", None, "fn", OTHER, "lambda:InvokeFunction").await;
    denied(err(other.invoke().function_name(format!("{arn}:prod")).send().await));
    let r = other.invoke().function_name(&arn).send().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["version"], "$LATEST");
    assert_eq!(body["account"], OWNER, "the function runs in its owner's account");

    grant(&owner, "callee", Some("prod"), "alias", OTHER, "lambda:InvokeFunction").await;
    let r = other.invoke().function_name(format!("{arn}:prod")).payload(Blob::new("{}")).send().await.unwrap();
    assert_eq!(r.executed_version(), Some("1"));
    let body: serde_json::Value = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["arn"], format!("{arn}:prod"));
    // The Qualifier parameter names the alias as well as the ARN suffix does.
    let r = other.invoke().function_name(&arn).qualifier("prod").send().await.unwrap();
    assert_eq!(r.executed_version(), Some("1"));
    // Asynchronous invokes are accepted for the owner's queue.
    let r = other
        .invoke()
        .function_name(format!("{arn}:prod"))
        .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status_code(), 202);
    // The version the alias points to has no policy of its own.
    denied(err(other.invoke().function_name(format!("{arn}:1")).send().await));
    denied(err(stranger.invoke().function_name(format!("{arn}:prod")).send().await));

    // The owner moves the alias; the other account's calls follow without changing.
    owner.update_function_configuration().function_name("callee").description("v2").send().await.unwrap();
    owner.publish_version().function_name("callee").send().await.unwrap();
    owner.update_alias().function_name("callee").name("prod").function_version("2").send().await.unwrap();
    let r = other.invoke().function_name(format!("{arn}:prod")).send().await.unwrap();
    assert_eq!(r.executed_version(), Some("2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_star_opens_every_resource_policy_operation_and_nothing_else() {
    let server = TestServer::start().await;
    let (owner, other, _) = setup(&server, "managed").await;
    let arn = owner_arn("managed");
    grant(&owner, "managed", None, "all", OTHER, "lambda:*").await;

    // Reads.
    let c = other.get_function_configuration().function_name(&arn).send().await.unwrap();
    assert_eq!(c.function_arn(), Some(arn.as_str()));
    let versions = other.list_versions_by_function().function_name(&arn).send().await.unwrap();
    assert_eq!(versions.versions().iter().filter_map(|v| v.version()).collect::<Vec<_>>(), ["$LATEST", "1"]);
    let aliases = other.list_aliases().function_name(&arn).send().await.unwrap();
    assert_eq!(aliases.aliases().len(), 1);
    let alias = other.get_alias().function_name(&arn).name("prod").send().await.unwrap();
    assert_eq!(alias.alias_arn(), Some(format!("{arn}:prod").as_str()));
    let policy = other.get_policy().function_name(&arn).send().await.unwrap();
    assert!(policy.policy().unwrap().contains(&format!("arn:aws:iam::{OTHER}:root")));

    // Code, versions, aliases.
    let zip = testkit::zip::files(&[("index.py", CODE.replace("'version'", "'v'").as_bytes())]);
    let updated =
        other.update_function_code().function_name(&arn).zip_file(Blob::new(zip.clone())).send().await.unwrap();
    assert_eq!(updated.code_sha256(), Some(code_sha256(&zip).as_str()));
    let v2 = other.publish_version().function_name(&arn).send().await.unwrap();
    assert_eq!(v2.version(), Some("2"));
    assert_eq!(v2.function_arn(), Some(format!("{arn}:2").as_str()));
    let beta = other.create_alias().function_name(&arn).name("beta").function_version("2").send().await.unwrap();
    assert_eq!(beta.alias_arn(), Some(format!("{arn}:beta").as_str()));
    other.update_alias().function_name(&arn).name("prod").function_version("2").send().await.unwrap();
    assert_eq!(
        owner.get_alias().function_name("managed").name("prod").send().await.unwrap().function_version(),
        Some("2"),
        "the owner sees the other account's change"
    );
    other.delete_alias().function_name(&arn).name("beta").send().await.unwrap();
    assert_eq!(owner.list_aliases().function_name("managed").send().await.unwrap().aliases().len(), 1);

    // Concurrency and tags.
    let put =
        other.put_function_concurrency().function_name(&arn).reserved_concurrent_executions(5).send().await.unwrap();
    assert_eq!(put.reserved_concurrent_executions(), Some(5));
    assert_eq!(
        owner
            .get_function_concurrency()
            .function_name("managed")
            .send()
            .await
            .unwrap()
            .reserved_concurrent_executions(),
        Some(5)
    );
    other.delete_function_concurrency().function_name(&arn).send().await.unwrap();
    other.tag_resource().resource(&arn).tags("team", "other").send().await.unwrap();
    let tags = other.list_tags().resource(&arn).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().get("team").map(String::as_str), Some("other"));
    other.untag_resource().resource(&arn).tag_keys("team").send().await.unwrap();
    assert!(owner.list_tags().resource(&arn).send().await.unwrap().tags().unwrap().is_empty());

    // Operations outside AWS's list stay refused, even with lambda:*.
    denied(err(other.update_function_configuration().function_name(&arn).description("x").send().await));
    denied(err(other.get_function_concurrency().function_name(&arn).send().await));
    denied(err(other
        .add_permission()
        .function_name(&arn)
        .statement_id("x")
        .principal(OTHER)
        .action("lambda:*")
        .send()
        .await));
    denied(err(other.list_function_url_configs().function_name(&arn).send().await));

    // Deleting a version is an operation on that version: its own policy must allow it.
    denied(err(other.delete_function().function_name(&arn).qualifier("1").send().await));
    grant(&owner, "managed", Some("1"), "v1", OTHER, "lambda:DeleteFunction").await;
    other.delete_function().function_name(format!("{arn}:1")).send().await.unwrap();
    let versions = owner.list_versions_by_function().function_name("managed").send().await.unwrap();
    assert_eq!(versions.versions().iter().filter_map(|v| v.version()).collect::<Vec<_>>(), ["$LATEST", "2"]);
    other.delete_function().function_name(&arn).send().await.unwrap();
    let e = err(owner.get_function().function_name("managed").send().await);
    assert_err(e, 404, "ResourceNotFoundException", &format!("Function not found: {arn}"));
    // With the function gone, so is its policy: the other account is refused again.
    denied(err(other.get_function().function_name(&arn).send().await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principals_and_conditions_are_evaluated() {
    let server = TestServer::start().await;
    let (owner, other, stranger) = setup(&server, "scoped-policy").await;
    let arn = owner_arn("scoped-policy");
    // A role of the other account: Versa knows callers by account, so the account's calls match.
    grant(&owner, "scoped-policy", None, "role", &format!("arn:aws:iam::{OTHER}:role/deployer"), "lambda:ListAliases")
        .await;
    assert_eq!(other.list_aliases().function_name(&arn).send().await.unwrap().aliases().len(), 1);
    denied(err(stranger.list_aliases().function_name(&arn).send().await));
    // `*` lets every account in; a SourceAccount condition no account call carries never holds.
    grant(&owner, "scoped-policy", None, "anyone", "*", "lambda:GetAlias").await;
    stranger.get_alias().function_name(&arn).name("prod").send().await.unwrap();
    owner
        .add_permission()
        .function_name("scoped-policy")
        .statement_id("conditional")
        .principal(OTHER)
        .action("lambda:ListVersionsByFunction")
        .source_account(OTHER)
        .send()
        .await
        .unwrap();
    denied(err(other.list_versions_by_function().function_name(&arn).send().await));
    // The action is matched case-insensitively, as IAM does.
    grant(&owner, "scoped-policy", None, "case", OTHER, "lambda:getpolicy").await;
    other.get_policy().function_name(&arn).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_on_an_alias_opens_that_alias_and_never_the_whole_function() {
    let server = TestServer::start().await;
    let (owner, other, _) = setup(&server, "narrow").await;
    let arn = owner_arn("narrow");
    owner.put_function_concurrency().function_name("narrow").reserved_concurrent_executions(7).send().await.unwrap();
    grant(&owner, "narrow", Some("prod"), "alias-only", OTHER, "lambda:*").await;
    let prod = format!("{arn}:prod");

    // What acts on the alias itself is open.
    let r = other.invoke().function_name(&prod).send().await.unwrap();
    assert_eq!(r.executed_version(), Some("1"));
    let got = other.get_function().function_name(&prod).send().await.unwrap();
    assert_eq!(got.configuration().unwrap().function_arn(), Some(prod.as_str()));
    other.get_policy().function_name(&prod).send().await.unwrap();

    // Operations on the whole function ignore the alias in the name: the alias's policy does not
    // open them, however the name is written.
    let zip = testkit::zip::files(&[("index.py", b"def handler(e, c):\n    return 'pwned'\n")]);
    denied(err(other.update_function_code().function_name(&prod).zip_file(Blob::new(zip)).send().await));
    denied(err(other.publish_version().function_name(&prod).send().await));
    denied(err(other.create_alias().function_name(&prod).name("evil").function_version("1").send().await));
    denied(err(other.get_alias().function_name(&prod).name("prod").send().await));
    denied(err(other.list_aliases().function_name(&prod).send().await));
    denied(err(other.list_versions_by_function().function_name(&prod).send().await));
    denied(err(other.update_alias().function_name(&prod).name("prod").function_version("1").send().await));
    denied(err(other.delete_alias().function_name(&prod).name("prod").send().await));
    denied(err(other.delete_function_concurrency().function_name(&prod).send().await));
    denied(err(other.put_function_concurrency().function_name(&prod).reserved_concurrent_executions(1).send().await));
    denied(err(other.list_tags().resource(&prod).send().await));
    denied(err(other.tag_resource().resource(&prod).tags("k", "v").send().await));

    // Nothing changed.
    let r = owner.invoke().function_name("narrow").send().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["version"], "$LATEST");
    let versions = owner.list_versions_by_function().function_name("narrow").send().await.unwrap();
    assert_eq!(versions.versions().len(), 2);
    assert_eq!(owner.list_aliases().function_name("narrow").send().await.unwrap().aliases().len(), 1);
    let concurrency = owner.get_function_concurrency().function_name("narrow").send().await.unwrap();
    assert_eq!(concurrency.reserved_concurrent_executions(), Some(7));
}
