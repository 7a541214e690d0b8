//! The operations (reference §1.2), over the store and the engine.

use model::scope::Scope;
use serde_json::{Value, json};
use sha2::Digest;
use store::StoreError;

use crate::engine::{Deployment, Hook, Phase, new_deployment_id, new_events, new_hook_token};
use crate::{CodeDeploy, Error, appspec, configs};

const APP: &str = "application";
const GROUP: &str = "group";
const CONFIG: &str = "config";
/// Longest application, group or config name.
const NAME_LEN_MAX: usize = 100;
/// Most alarms in an alarm configuration.
const ALARMS_MAX: usize = 10;
/// Most items in a Batch* call (deployments: 25).
const BATCH_MAX: usize = 100;
const BATCH_DEPLOYMENTS_MAX: usize = 25;
/// Items per List* page.
const PAGE: usize = 100;
/// ListDeployments' `includeOnlyStatuses` values (botocore's `DeploymentStatus`).
const DEPLOYMENT_STATUSES: [&str; 8] =
    ["Created", "Queued", "InProgress", "Baking", "Succeeded", "Failed", "Stopped", "Ready"];
/// Most uses of a revision GetApplicationRevision reads (the newest).
const REVISION_USES_MAX: usize = 1_000;

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn now() -> i64 {
    stdx::time::now_ms()
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v[k].as_str()
}

fn required<'a>(v: &'a Value, k: &str) -> Result<&'a str, Error> {
    match s(v, k) {
        Some(x) if !x.is_empty() => Ok(x),
        _ => Err(Error::new(
            match k {
                "applicationName" => "ApplicationNameRequiredException",
                "deploymentGroupName" | "currentDeploymentGroupName" => "DeploymentGroupNameRequiredException",
                "deploymentConfigName" => "DeploymentConfigNameRequiredException",
                "deploymentId" => "DeploymentIdRequiredException",
                "targetId" => "DeploymentTargetIdRequiredException",
                "ResourceArn" => "ResourceArnRequiredException",
                _ => "InvalidInputException",
            },
            format!("{k} is required"),
        )),
    }
}

fn check_name(n: &str, what: &'static str) -> Result<(), Error> {
    if n.len() > NAME_LEN_MAX || n.contains('\n') {
        return Err(Error::new(what, format!("The name is longer than {NAME_LEN_MAX} characters or invalid: {n}")));
    }
    Ok(())
}

fn arn(scope: &Scope, kind: &str, name: &str) -> String {
    format!("arn:aws:codedeploy:{}:{}:{kind}:{name}", scope.region.as_str(), scope.account.as_str())
}

fn group_key(app: &str, group: &str) -> String {
    format!("{app}\n{group}")
}

/// A renamed application's or group's tags go with it.
fn move_tags(tx: &mut dyn store::WriteTx, from: &str, to: &str) -> Result<(), StoreError> {
    if from == to {
        return Ok(());
    }
    let tags = tx.cd_tags(from)?;
    tx.put_cd_tags(from, &[])?;
    tx.put_cd_tags(to, &tags)
}

fn no_app(name: &str) -> Error {
    Error::new("ApplicationDoesNotExistException", format!("No application found for name: {name}"))
}

fn no_group(name: &str) -> Error {
    Error::new("DeploymentGroupDoesNotExistException", format!("No Deployment Group found for name: {name}"))
}

fn no_config(name: &str) -> Error {
    Error::new("DeploymentConfigDoesNotExistException", format!("No deployment configuration found for name: {name}"))
}

fn no_deployment(id: &str) -> Error {
    Error::new("DeploymentDoesNotExistException", format!("The deployment {id} could not be found."))
}

fn parse(doc: &str) -> Result<Value, Error> {
    serde_json::from_str(doc).map_err(|e| Error::new("InternalFailure", format!("corrupt record: {e}")))
}

/// The `[{Key, Value}]` list under `key`: `Tags` on TagResource, `tags` on the creates (the
/// members are capitalised in both, botocore's one `Tag` shape).
fn tags_of(v: &Value, key: &str) -> Vec<(String, String)> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| Some((t["Key"].as_str()?.to_owned(), t["Value"].as_str().unwrap_or("").to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn invalid_token() -> Error {
    Error::new("InvalidNextTokenException", "The next token was specified in an invalid format.")
}

/// One page of a name list; the token is the next page's start (one this list handed out, else
/// `InvalidNextTokenException`).
fn page(names: Vec<Value>, token: Option<&str>) -> Result<(Vec<Value>, Option<String>), Error> {
    let start = match token {
        None => 0,
        Some(t) => t.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(invalid_token)?,
    };
    let end = start.saturating_add(PAGE).min(names.len());
    let next = (end < names.len()).then(|| end.to_string());
    // A list shrunk since the token was handed out ends at once.
    Ok((names.get(start..end).map(<[Value]>::to_vec).unwrap_or_default(), next))
}

/// A List answer with `nextToken` only when there is a next page.
fn paged(mut v: Value, next: Option<String>) -> Value {
    if let Some(t) = next {
        v["nextToken"] = json!(t);
    }
    v
}

pub(crate) async fn dispatch(cd: &CodeDeploy, scope: &Scope, op: &str, i: &Value) -> Result<Value, Error> {
    match op {
        "CreateApplication" => create_application(cd, scope, i).await,
        "GetApplication" => {
            let app = get_app(cd, scope, required(i, "applicationName")?).await?;
            Ok(json!({"application": app}))
        }
        "BatchGetApplications" => {
            let names = i["applicationNames"].as_array().cloned().unwrap_or_default();
            if names.len() > BATCH_MAX {
                return Err(Error::new(
                    "BatchLimitExceededException",
                    "The maximum number of names or IDs allowed for this request (100) was exceeded.",
                ));
            }
            let mut out = Vec::new();
            for n in names {
                out.push(get_app(cd, scope, n.as_str().unwrap_or_default()).await?);
            }
            Ok(json!({"applicationsInfo": out}))
        }
        "ListApplications" => {
            let rows = objects(cd, scope, APP).await?;
            let names = rows.into_iter().map(|(n, _)| Value::String(n)).collect();
            let (items, next) = page(names, s(i, "nextToken"))?;
            Ok(paged(json!({"applications": items}), next))
        }
        "UpdateApplication" => update_application(cd, scope, i).await,
        "DeleteApplication" => delete_application(cd, scope, i).await,
        "CreateDeploymentGroup" => create_group(cd, scope, i).await,
        "GetDeploymentGroup" => {
            let app = required(i, "applicationName")?;
            let g = get_group(cd, scope, app, required(i, "deploymentGroupName")?).await?;
            Ok(json!({"deploymentGroupInfo": g}))
        }
        "BatchGetDeploymentGroups" => {
            let app = required(i, "applicationName")?;
            get_app(cd, scope, app).await?;
            let names = i["deploymentGroupNames"].as_array().cloned().unwrap_or_default();
            if names.is_empty() {
                return Err(Error::new("DeploymentGroupNameRequiredException", "deploymentGroupNames is required"));
            }
            if names.len() > BATCH_MAX {
                return Err(Error::new(
                    "BatchLimitExceededException",
                    "The maximum number of names or IDs allowed for this request (100) was exceeded.",
                ));
            }
            // A name not found is reported in `errorMessage`, beside the groups found (the
            // operation models no DoesNotExist error).
            let (mut out, mut missing) = (Vec::new(), Vec::new());
            for n in names {
                let n = n.as_str().unwrap_or_default();
                match get_group(cd, scope, app, n).await {
                    Ok(g) => out.push(g),
                    Err(e) if e.code == "DeploymentGroupDoesNotExistException" => missing.push(e.message),
                    Err(e) => return Err(e),
                }
            }
            Ok(json!({"deploymentGroupsInfo": out, "errorMessage": missing.join(" ")}))
        }
        "ListDeploymentGroups" => {
            let app = required(i, "applicationName")?;
            get_app(cd, scope, app).await?;
            let prefix = format!("{app}\n");
            let rows = objects(cd, scope, GROUP).await?;
            let names = rows
                .into_iter()
                .filter_map(|(n, _)| n.strip_prefix(&prefix).map(|g| Value::String(g.to_owned())))
                .collect();
            let (items, next) = page(names, s(i, "nextToken"))?;
            Ok(paged(json!({"applicationName": app, "deploymentGroups": items}), next))
        }
        "UpdateDeploymentGroup" => update_group(cd, scope, i).await,
        "DeleteDeploymentGroup" => {
            let app = required(i, "applicationName")?;
            let g = required(i, "deploymentGroupName")?;
            get_app(cd, scope, app).await?;
            let (a, r, k) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned(), group_key(app, g));
            let tags = arn(scope, "deploymentgroup", &format!("{app}/{g}"));
            cd.inner
                .store
                .write(move |tx| {
                    tx.delete_cd_object(&a, &r, GROUP, &k)?;
                    tx.put_cd_tags(&tags, &[])
                })
                .await?;
            Ok(json!({"hooksNotCleanedUp": []}))
        }
        "CreateDeploymentConfig" => create_config(cd, scope, i).await,
        "GetDeploymentConfig" => {
            Ok(json!({"deploymentConfigInfo": get_config(cd, scope, required(i, "deploymentConfigName")?).await?}))
        }
        "ListDeploymentConfigs" => {
            let mut names: Vec<Value> = configs::PREDEFINED.iter().map(|p| Value::String(p.name.to_owned())).collect();
            names.extend(objects(cd, scope, CONFIG).await?.into_iter().map(|(n, _)| Value::String(n)));
            let (items, next) = page(names, s(i, "nextToken"))?;
            Ok(paged(json!({"deploymentConfigsList": items}), next))
        }
        "DeleteDeploymentConfig" => delete_config(cd, scope, i).await,
        "CreateDeployment" => create_deployment(cd, scope, i).await,
        "GetDeployment" => {
            let d = settled(cd, scope, required(i, "deploymentId")?).await?;
            Ok(json!({"deploymentInfo": info(scope, &d)}))
        }
        "BatchGetDeployments" => {
            let ids = i["deploymentIds"].as_array().cloned().unwrap_or_default();
            if ids.len() > BATCH_DEPLOYMENTS_MAX {
                return Err(Error::new(
                    "BatchLimitExceededException",
                    "The maximum number of names or IDs allowed for this request (25) was exceeded.",
                ));
            }
            let mut out = Vec::new();
            for id in ids {
                if let Ok(d) = settled(cd, scope, id.as_str().unwrap_or_default()).await {
                    out.push(info(scope, &d));
                }
            }
            Ok(json!({"deploymentsInfo": out}))
        }
        "ListDeployments" => list_deployments(cd, scope, i).await,
        "GetApplicationRevision" => get_revision(cd, scope, i).await,
        "StopDeployment" => stop(cd, scope, i).await,
        "ContinueDeployment" => {
            let d = deployment(cd, scope, required(i, "deploymentId")?).await?;
            if !d.active() {
                return Err(Error::new(
                    "DeploymentAlreadyCompletedException",
                    format!("The deployment {} is already completed.", d.id),
                ));
            }
            Err(Error::new(
                "UnsupportedActionForDeploymentTypeException",
                "This operation is supported only for blue/green deployments of EC2/On-premises or ECS that wait for traffic rerouting.",
            ))
        }
        "PutLifecycleEventHookExecutionStatus" => put_hook_status(cd, scope, i).await,
        "ListDeploymentTargets" => {
            let d = settled(cd, scope, required(i, "deploymentId")?).await?;
            let spec = d
                .spec
                .as_ref()
                .ok_or_else(|| Error::new("DeploymentNotStartedException", "The deployment has no targets."))?;
            Ok(json!({"targetIds": [format!("{}:{}", spec.function, spec.alias)]}))
        }
        "GetDeploymentTarget" => {
            let d = settled(cd, scope, required(i, "deploymentId")?).await?;
            Ok(json!({"deploymentTarget": target(scope, &d, required(i, "targetId")?)?}))
        }
        "BatchGetDeploymentTargets" => {
            let d = settled(cd, scope, required(i, "deploymentId")?).await?;
            let mut out = Vec::new();
            for t in i["targetIds"].as_array().cloned().unwrap_or_default() {
                out.push(target(scope, &d, t.as_str().unwrap_or_default())?);
            }
            Ok(json!({"deploymentTargets": out}))
        }
        "TagResource" => {
            let arn = required(i, "ResourceArn")?.to_owned();
            tagged(cd, scope, &arn, true).await?;
            let add = tags_of(i, "Tags");
            cd.inner
                .store
                .write(move |tx| {
                    let mut t = tx.cd_tags(&arn)?;
                    for (k, v) in add {
                        t.retain(|(k2, _)| *k2 != k);
                        t.push((k, v));
                    }
                    tx.put_cd_tags(&arn, &t)
                })
                .await?;
            Ok(json!({}))
        }
        "UntagResource" => {
            let arn = required(i, "ResourceArn")?.to_owned();
            tagged(cd, scope, &arn, true).await?;
            let keys: Vec<String> = i["TagKeys"]
                .as_array()
                .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            cd.inner
                .store
                .write(move |tx| {
                    let mut t = tx.cd_tags(&arn)?;
                    t.retain(|(k, _)| !keys.contains(k));
                    tx.put_cd_tags(&arn, &t)
                })
                .await?;
            Ok(json!({}))
        }
        "ListTagsForResource" => {
            let arn = required(i, "ResourceArn")?.to_owned();
            tagged(cd, scope, &arn, false).await?;
            let t = cd.inner.store.read(move |tx| tx.cd_tags(&arn)).await?;
            Ok(json!({"Tags": t.into_iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>()}))
        }
        other => {
            Err(Error::new("UnknownOperationException", format!("Versa does not implement CodeDeploy's {other}.")))
        }
    }
}

/// Checks the ARN a tag operation names: an application's or a deployment group's
/// (`InvalidArnException` for anything else shaped unlike a CodeDeploy ARN,
/// `ArnNotSupportedException` for another CodeDeploy resource). With `exists`, the resource must
/// exist in this scope (TagResource and UntagResource model the DoesNotExist errors;
/// ListTagsForResource does not).
async fn tagged(cd: &CodeDeploy, scope: &Scope, arn: &str, exists: bool) -> Result<(), Error> {
    let invalid = || Error::new("InvalidArnException", "The specified ARN is not in a valid format.");
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let [prefix, partition, service, region, account, kind, name] = parts[..] else { return Err(invalid()) };
    if prefix != "arn" || !partition.starts_with("aws") || service != "codedeploy" || name.is_empty() {
        return Err(invalid());
    }
    let in_scope = region == scope.region.as_str() && account == scope.account.as_str();
    match kind {
        "application" => {
            if exists && (!in_scope || object(cd, scope, APP, name).await?.is_none()) {
                return Err(no_app(name));
            }
        }
        "deploymentgroup" => {
            let Some((app, group)) = name.split_once('/') else { return Err(invalid()) };
            if exists {
                if !in_scope || object(cd, scope, APP, app).await?.is_none() {
                    return Err(no_app(app));
                }
                if object(cd, scope, GROUP, &group_key(app, group)).await?.is_none() {
                    return Err(no_group(group));
                }
            }
        }
        _ => {
            return Err(Error::new(
                "ArnNotSupportedException",
                "The specified ARN is not supported. For example, it might be an ARN for a resource that is not expected.",
            ));
        }
    }
    Ok(())
}

async fn objects(cd: &CodeDeploy, scope: &Scope, kind: &'static str) -> Result<Vec<(String, String)>, Error> {
    let (a, r) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned());
    Ok(cd.inner.store.read(move |tx| tx.cd_objects(&a, &r, kind)).await?)
}

async fn object(cd: &CodeDeploy, scope: &Scope, kind: &'static str, name: &str) -> Result<Option<Value>, Error> {
    let (a, r, n) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned(), name.to_owned());
    let doc = cd.inner.store.read(move |tx| tx.cd_object(&a, &r, kind, &n)).await?;
    doc.map(|d| parse(&d)).transpose()
}

async fn put(cd: &CodeDeploy, scope: &Scope, kind: &'static str, name: &str, doc: &Value) -> Result<(), Error> {
    let (a, r, n, d) =
        (scope.account.as_str().to_owned(), scope.region.as_str().to_owned(), name.to_owned(), doc.to_string());
    cd.inner.store.write(move |tx| tx.put_cd_object(&a, &r, kind, &n, &d)).await?;
    Ok(())
}

async fn get_app(cd: &CodeDeploy, scope: &Scope, name: &str) -> Result<Value, Error> {
    object(cd, scope, APP, name).await?.ok_or_else(|| no_app(name))
}

async fn create_application(cd: &CodeDeploy, scope: &Scope, i: &Value) -> Result<Value, Error> {
    let name = required(i, "applicationName")?;
    check_name(name, "InvalidApplicationNameException")?;
    let platform = s(i, "computePlatform").unwrap_or("Server");
    if !["Server", "Lambda", "ECS"].contains(&platform) {
        return Err(Error::new(
            "InvalidComputePlatformException",
            format!("The computePlatform {platform} is not valid."),
        ));
    }
    if object(cd, scope, APP, name).await?.is_some() {
        return Err(Error::new(
            "ApplicationAlreadyExistsException",
            format!("The application {name} already exists with the IAM user or AWS account."),
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let doc = json!({"applicationId": id, "applicationName": name, "createTime": secs(now()), "linkedToGitHub": false, "computePlatform": platform});
    put(cd, scope, APP, name, &doc).await?;
    let tags = tags_of(i, "tags");
    if !tags.is_empty() {
        let arn = arn(scope, "application", name);
        cd.inner.store.write(move |tx| tx.put_cd_tags(&arn, &tags)).await?;
    }
    Ok(json!({"applicationId": id}))
}

async fn update_application(cd: &CodeDeploy, scope: &Scope, i: &Value) -> Result<Value, Error> {
    let name = required(i, "applicationName")?;
    let Some(new) = s(i, "newApplicationName") else { return Ok(json!({})) };
    check_name(new, "InvalidApplicationNameException")?;
    let mut app = get_app(cd, scope, name).await?;
    if new != name && object(cd, scope, APP, new).await?.is_some() {
        return Err(Error::new(
            "ApplicationAlreadyExistsException",
            format!("The application {new} already exists with the IAM user or AWS account."),
        ));
    }
    app["applicationName"] = json!(new);
    let groups = objects(cd, scope, GROUP).await?;
    // The application's tags and its groups' go with the names.
    let prefix = format!("{name}\n");
    let mut tag_moves = vec![(arn(scope, "application", name), arn(scope, "application", new))];
    for (k, _) in &groups {
        if let Some(gn) = k.strip_prefix(&prefix) {
            tag_moves.push((
                arn(scope, "deploymentgroup", &format!("{name}/{gn}")),
                arn(scope, "deploymentgroup", &format!("{new}/{gn}")),
            ));
        }
    }
    let (a, r, old, new, doc) = (
        scope.account.as_str().to_owned(),
        scope.region.as_str().to_owned(),
        name.to_owned(),
        new.to_owned(),
        app.to_string(),
    );
    let taken = Error::new(
        "ApplicationAlreadyExistsException",
        format!("The application {new} already exists with the IAM user or AWS account."),
    );
    let renamed = cd
        .inner
        .store
        .write(move |tx| {
            // Checked again in the transaction: a concurrent rename to the same name loses.
            if old != new && tx.cd_object(&a, &r, APP, &new)?.is_some() {
                return Ok(false);
            }
            tx.delete_cd_object(&a, &r, APP, &old)?;
            tx.put_cd_object(&a, &r, APP, &new, &doc)?;
            tx.rename_cd_deployments(&a, &r, &old, None, &new, None)?;
            for (from, to) in &tag_moves {
                move_tags(tx, from, to)?;
            }
            let prefix = format!("{old}\n");
            for (k, g) in groups {
                if let Some(gn) = k.strip_prefix(&prefix) {
                    let mut v: Value = serde_json::from_str(&g).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    v["applicationName"] = json!(new);
                    tx.delete_cd_object(&a, &r, GROUP, &k)?;
                    tx.put_cd_object(&a, &r, GROUP, &group_key(&new, gn), &v.to_string())?;
                }
            }
            Ok::<_, StoreError>(true)
        })
        .await?;
    if renamed { Ok(json!({})) } else { Err(taken) }
}

async fn delete_application(cd: &CodeDeploy, scope: &Scope, i: &Value) -> Result<Value, Error> {
    let name = required(i, "applicationName")?.to_owned();
    let groups = objects(cd, scope, GROUP).await?;
    let (a, r) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned());
    let (app_arn, group_arn) = (arn(scope, "application", &name), arn(scope, "deploymentgroup", &name));
    cd.inner
        .store
        .write(move |tx| {
            tx.delete_cd_object(&a, &r, APP, &name)?;
            tx.put_cd_tags(&app_arn, &[])?;
            let prefix = format!("{name}\n");
            for (k, _) in groups.iter().filter(|(k, _)| k.starts_with(&prefix)) {
                tx.delete_cd_object(&a, &r, GROUP, k)?;
                tx.put_cd_tags(&format!("{group_arn}/{}", &k[prefix.len()..]), &[])?;
            }
            Ok::<_, StoreError>(())
        })
        .await?;
    Ok(json!({}))
}

fn check_alarms(v: &Value) -> Result<(), Error> {
    if v.is_null() {
        return Ok(());
    }
    let alarms = v["alarms"].as_array();
    let n = alarms.map_or(0, Vec::len);
    if n > ALARMS_MAX {
        return Err(Error::new(
            "AlarmsLimitExceededException",
            format!("The maximum number of alarms for a deployment group ({ALARMS_MAX}) was exceeded."),
        ));
    }
    let names: Vec<&str> = alarms.map(|a| a.iter().filter_map(|x| x["name"].as_str()).collect()).unwrap_or_default();
    let dup = names.iter().enumerate().any(|(k, n)| names[..k].contains(n));
    if names.len() != n
        || names.iter().any(|n| n.is_empty() || n.len() > 255)
        || dup
        || (v["enabled"].as_bool() == Some(true) && n == 0)
    {
        return Err(Error::new(
            "InvalidAlarmConfigException",
            "The alarm configuration is invalid: an alarm name is missing, empty, longer than 255 characters or repeated, or alarms are enabled with none named.",
        ));
    }
    Ok(())
}

fn check_rollback(v: &Value) -> Result<(), Error> {
    for e in v["events"].as_array().into_iter().flatten() {
        if !matches!(e.as_str(), Some("DEPLOYMENT_FAILURE" | "DEPLOYMENT_STOP_ON_ALARM" | "DEPLOYMENT_STOP_ON_REQUEST"))
        {
            return Err(Error::new(
                "InvalidAutoRollbackConfigException",
                format!("The automatic rollback event {e} is not valid."),
            ));
        }
    }
    Ok(())
}

async fn create_group(cd: &CodeDeploy, scope: &Scope, i: &Value) -> Result<Value, Error> {
    let app_name = required(i, "applicationName")?;
    let name = required(i, "deploymentGroupName")?;
    check_name(name, "InvalidDeploymentGroupNameException")?;
    let app = get_app(cd, scope, app_name).await?;
    let role = s(i, "serviceRoleArn")
        .ok_or_else(|| Error::new("RoleRequiredException", "The service role ARN was not specified."))?;
    if object(cd, scope, GROUP, &group_key(app_name, name)).await?.is_some() {
        return Err(Error::new(
            "DeploymentGroupAlreadyExistsException",
            format!("The deployment group {name} already exists with the application {app_name}."),
        ));
    }
    let platform = app["computePlatform"].as_str().unwrap_or("Server").to_owned();
    let default_config =
        if platform == "Lambda" { "CodeDeployDefault.LambdaAllAtOnce" } else { "CodeDeployDefault.OneAtATime" };
    let config = s(i, "deploymentConfigName").unwrap_or(default_config);
    get_config(cd, scope, config).await?;
    check_alarms(&i["alarmConfiguration"])?;
    check_rollback(&i["autoRollbackConfiguration"])?;
    let id = uuid::Uuid::new_v4().to_string();
    let style = if platform == "Lambda" {
        json!({"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"})
    } else {
        i.get("deploymentStyle")
            .cloned()
            .unwrap_or(json!({"deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"}))
    };
    let doc = json!({
        "applicationName": app_name, "deploymentGroupId": id, "deploymentGroupName": name,
        "deploymentConfigName": config, "serviceRoleArn": role,
        "alarmConfiguration": i.get("alarmConfiguration").cloned().unwrap_or(json!({"enabled": false, "ignorePollAlarmFailure": false, "alarms": []})),
        "autoRollbackConfiguration": i.get("autoRollbackConfiguration").cloned().unwrap_or(json!({"enabled": false, "events": []})),
        "deploymentStyle": style,
        "triggerConfigurations": i.get("triggerConfigurations").cloned().unwrap_or(json!([])),
        "computePlatform": platform,
    });
    put(cd, scope, GROUP, &group_key(app_name, name), &doc).await?;
    let tags = tags_of(i, "tags");
    if !tags.is_empty() {
        let arn = arn(scope, "deploymentgroup", &format!("{app_name}/{name}"));
        cd.inner.store.write(move |tx| tx.put_cd_tags(&arn, &tags)).await?;
    }
    Ok(json!({"deploymentGroupId": id}))
}

async fn get_group(cd: &CodeDeploy, scope: &Scope, app: &str, name: &str) -> Result<Value, Error> {
    get_app(cd, scope, app).await?;
    let mut g = object(cd, scope, GROUP, &group_key(app, name)).await?.ok_or_else(|| no_group(name))?;
    // lastSuccessful/lastAttempted: the group's newest deployments (indexed queries).
    let (a, r, ap, gr) =
        (scope.account.as_str().to_owned(), scope.region.as_str().to_owned(), app.to_owned(), name.to_owned());
    let (last, ok) = cd
        .inner
        .store
        .read(move |tx| {
            let last = tx.cd_group_latest(&a, &r, &ap, &gr, None)?;
            let ok = tx.cd_group_latest(&a, &r, &ap, &gr, Some("Succeeded"))?;
            Ok::<_, StoreError>((last, ok))
        })
        .await?;
    let summary = |d: &Deployment| json!({"deploymentId": d.id, "status": d.status, "endTime": d.complete_ms.map(secs), "createTime": secs(d.create_ms)});
    if let Some(row) = last {
        g["lastAttemptedDeployment"] = summary(&Deployment::parse(&row)?);
    }
    if let Some(row) = ok {
        g["lastSuccessfulDeployment"] = summary(&Deployment::parse(&row)?);
    }
    Ok(g)
}

async fn update_group(cd: &CodeDeploy, scope: &Scope, i: &Value) -> Result<Value, Error> {
    let app = required(i, "applicationName")?;
    let name = required(i, "currentDeploymentGroupName")?;
    get_app(cd, scope, app).await?;
    let mut g = object(cd, scope, GROUP, &group_key(app, name)).await?.ok_or_else(|| no_group(name))?;
    if let Some(c) = s(i, "deploymentConfigName") {
        get_config(cd, scope, c).await?;
        g["deploymentConfigName"] = json!(c);
    }
    if let Some(v) = i.get("alarmConfiguration") {
        check_alarms(v)?;
        g["alarmConfiguration"] = v.clone();
    }
    if let Some(v) = i.get("autoRollbackConfiguration") {
        check_rollback(v)?;
        g["autoRollbackConfiguration"] = v.clone();
    }
    for k in ["serviceRoleArn", "triggerConfigurations"] {
        if let Some(v) = i.get(k) {
            g[k] = v.clone();
        }
    }
    let new = s(i, "newDeploymentGroupName").unwrap_or(name).to_owned();
    if new != name && object(cd, scope, GROUP, &group_key(app, &new)).await?.is_some() {
        return Err(Error::new(
            "DeploymentGroupAlreadyExistsException",
            format!("The deployment group {new} already exists with the application {app}."),
        ));
    }
    g["deploymentGroupName"] = json!(new);
    let (a, r, old, newk, doc) = (
        scope.account.as_str().to_owned(),
        scope.region.as_str().to_owned(),
        group_key(app, name),
        group_key(app, &new),
        g.to_string(),
    );
    let (app_name, old_name) = (app.to_owned(), name.to_owned());
    let (old_arn, new_arn) = (
        arn(scope, "deploymentgroup", &format!("{app}/{name}")),
        arn(scope, "deploymentgroup", &format!("{app}/{new}")),
    );
    let taken = Error::new(
        "DeploymentGroupAlreadyExistsException",
        format!("The deployment group {new} already exists with the application {app}."),
    );
    let renamed = cd
        .inner
        .store
        .write(move |tx| {
            // Checked again in the transaction: a concurrent rename to the same name loses.
            if old != newk && tx.cd_object(&a, &r, GROUP, &newk)?.is_some() {
                return Ok(false);
            }
            tx.delete_cd_object(&a, &r, GROUP, &old)?;
            tx.put_cd_object(&a, &r, GROUP, &newk, &doc)?;
            if new != old_name {
                tx.rename_cd_deployments(&a, &r, &app_name, Some(&old_name), &app_name, Some(&new))?;
            }
            move_tags(tx, &old_arn, &new_arn)?;
            Ok::<_, StoreError>(true)
        })
        .await?;
    if renamed { Ok(json!({"hooksNotCleanedUp": []})) } else { Err(taken) }
}

fn config_json(
    name: &str,
    platform: &str,
    routing: Option<&configs::Routing>,
    seconds: bool,
    create_ms: i64,
    id: &str,
) -> Value {
    let mut v = json!({"deploymentConfigId": id, "deploymentConfigName": name, "createTime": secs(create_ms), "computePlatform": platform});
    if let Some(r) = routing {
        v["trafficRoutingConfig"] = configs::routing_json(r);
    }
    if seconds {
        v["versaIntervalUnit"] = json!("SECONDS");
    }
    v
}

/// The config's JSON and its plan (Lambda).
async fn find_config(cd: &CodeDeploy, scope: &Scope, name: &str) -> Result<(Value, Option<configs::Plan>), Error> {
    if let Some(p) = configs::predefined(name) {
        let mut v = config_json(p.name, p.platform, p.routing.as_ref(), false, 0, &configs::predefined_id(p.name));
        if let Some((t, n)) = p.hosts {
            v["minimumHealthyHosts"] = json!({"type": t, "value": n});
        }
        return Ok((v, p.routing.map(|routing| configs::Plan { routing, seconds: false })));
    }
    let v = object(cd, scope, CONFIG, name).await?.ok_or_else(|| no_config(name))?;
    let plan = match v.get("trafficRoutingConfig") {
        Some(t) => Some(configs::Plan {
            routing: configs::routing(t).map_err(|e| Error::new("InternalFailure", e))?,
            seconds: v["versaIntervalUnit"].as_str() == Some("SECONDS"),
        }),
        None => None,
    };
    Ok((v, plan))
}

async fn get_config(cd: &CodeDeploy, scope: &Scope, name: &str) -> Result<Value, Error> {
    Ok(find_config(cd, scope, name).await?.0)
}

async fn create_config(cd: &CodeDeploy, scope: &Scope, i: &Value) -> Result<Value, Error> {
    let name = required(i, "deploymentConfigName")?;
    check_name(name, "InvalidDeploymentConfigNameException")?;
    if configs::predefined(name).is_some() || object(cd, scope, CONFIG, name).await?.is_some() {
        return Err(Error::new(
            "DeploymentConfigAlreadyExistsException",
            format!("A deployment configuration with the name {name} already exists."),
        ));
    }
    let platform = s(i, "computePlatform").unwrap_or("Server");
    let seconds = match s(i, "versaIntervalUnit") {
        None | Some("MINUTES") => false,
        Some("SECONDS") => true,
        Some(other) => {
            return Err(Error::new(
                "InvalidInputException",
                format!("versaIntervalUnit must be MINUTES or SECONDS, not {other}"),
            ));
        }
    };
    let routing = match i.get("trafficRoutingConfig") {
        Some(t) => Some(configs::routing(t).map_err(|e| Error::new("InvalidTrafficRoutingConfigurationException", e))?),
        None if platform == "Lambda" => Some(configs::Routing::AllAtOnce),
        None => None,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let mut v = config_json(name, platform, routing.as_ref(), seconds, now(), &id);
    if let Some(m) = i.get("minimumHealthyHosts") {
        v["minimumHealthyHosts"] = m.clone();
    }
    put(cd, scope, CONFIG, name, &v).await?;
    Ok(json!({"deploymentConfigId": id}))
}

async fn delete_config(cd: &CodeDeploy, scope: &Scope, i: &Value) -> Result<Value, Error> {
    let name = required(i, "deploymentConfigName")?;
    if configs::predefined(name).is_some() {
        return Err(Error::new(
            "InvalidOperationException",
            format!("The default deployment configuration {name} cannot be deleted."),
        ));
    }
    let in_use = objects(cd, scope, GROUP)
        .await?
        .iter()
        .any(|(_, g)| parse(g).is_ok_and(|g| g["deploymentConfigName"].as_str() == Some(name)));
    if in_use {
        return Err(Error::new(
            "DeploymentConfigInUseException",
            format!("The deployment configuration {name} is in use by a deployment group."),
        ));
    }
    let (a, r, n) = (scope.account.as_str().to_owned(), scope.region.as_str().to_owned(), name.to_owned());
    cd.inner.store.write(move |tx| tx.delete_cd_object(&a, &r, CONFIG, &n)).await?;
    Ok(json!({}))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The AppSpec content of a revision, and its sha256.
fn revision_content(rev: &Value) -> Result<(String, String), Error> {
    let kind = rev["revisionType"].as_str().unwrap_or("");
    let body = match kind {
        "AppSpecContent" => &rev["appSpecContent"],
        "String" => &rev["string"],
        "S3" | "GitHub" => {
            return Err(Error::new(
                "InvalidRevisionException",
                format!("Versa does not serve {kind} revisions; send the AppSpec as AppSpecContent or String."),
            ));
        }
        _ => return Err(Error::new("InvalidRevisionException", "The revision type is missing or not valid.")),
    };
    let content = body["content"]
        .as_str()
        .ok_or_else(|| Error::new("InvalidRevisionException", "The revision content is missing."))?;
    if content.len() > appspec::CONTENT_BYTES_MAX {
        return Err(Error::new(
            "InvalidRevisionException",
            format!("The AppSpec content is longer than {} bytes.", appspec::CONTENT_BYTES_MAX),
        ));
    }
    let sha = hex(&sha2::Sha256::digest(content.as_bytes()));
    if let Some(given) = body["sha256"].as_str()
        && !given.eq_ignore_ascii_case(&sha)
    {
        return Err(Error::new(
            "InvalidRevisionException",
            "The sha256 of the AppSpec content does not match its content.",
        ));
    }
    Ok((content.to_owned(), sha))
}

async fn create_deployment(cd: &CodeDeploy, scope: &Scope, i: &Value) -> Result<Value, Error> {
    let app_name = required(i, "applicationName")?;
    let app = get_app(cd, scope, app_name).await?;
    let group_name = required(i, "deploymentGroupName")?;
    let group =
        object(cd, scope, GROUP, &group_key(app_name, group_name)).await?.ok_or_else(|| no_group(group_name))?;
    if app["computePlatform"].as_str() != Some("Lambda") {
        return Err(Error::new(
            "InvalidComputePlatformException",
            "Versa deploys only applications of compute platform Lambda.",
        ));
    }
    if i["revision"].is_null() {
        return Err(Error::new("RevisionRequiredException", "The revision ID was not specified."));
    }
    let (content, sha) = revision_content(&i["revision"])?;
    let config_name = s(i, "deploymentConfigName")
        .or(group["deploymentConfigName"].as_str())
        .unwrap_or("CodeDeployDefault.LambdaAllAtOnce")
        .to_owned();
    let (_, plan) = find_config(cd, scope, &config_name).await?;
    let plan = plan.ok_or_else(|| {
        Error::new(
            "InvalidDeploymentConfigNameException",
            format!("The deployment configuration {config_name} is not for compute platform Lambda."),
        )
    })?;
    let (alarm_config, override_alarms) = match i.get("overrideAlarmConfiguration") {
        Some(o) if !o.is_null() => {
            check_alarms(o)?;
            (o.clone(), true)
        }
        _ => (group["alarmConfiguration"].clone(), false),
    };
    let rollback_config = match i.get("autoRollbackConfiguration") {
        Some(r) if !r.is_null() => {
            check_rollback(r)?;
            r.clone()
        }
        _ => group["autoRollbackConfiguration"].clone(),
    };
    let (spec, spec_error) = match appspec::parse(&content) {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e)),
    };
    let mut hooks = Vec::new();
    if let Some(spec) = &spec {
        for (event, f) in
            [("BeforeAllowTraffic", &spec.before_allow_traffic), ("AfterAllowTraffic", &spec.after_allow_traffic)]
        {
            if let Some(f) = f {
                hooks.push(Hook {
                    event: event.to_owned(),
                    function: f.clone(),
                    token: new_hook_token(),
                    invoked_ms: None,
                    deadline_ms: None,
                    status: "Pending".to_owned(),
                });
            }
        }
    }
    let mut revision = i["revision"].clone();
    for k in ["appSpecContent", "string"] {
        if revision[k].is_object() {
            revision[k]["sha256"] = json!(sha);
        }
    }
    let t = now();
    let d = Deployment {
        id: new_deployment_id(),
        account: scope.account.as_str().to_owned(),
        region: scope.region.as_str().to_owned(),
        application: app_name.to_owned(),
        group: group_name.to_owned(),
        config_name,
        plan,
        alarm_config,
        rollback_config,
        override_alarms,
        creator: "user".to_owned(),
        description: s(i, "description").map(str::to_owned),
        revision,
        content,
        sha256: sha,
        spec,
        spec_error,
        status: "Created".to_owned(),
        phase: Phase::Created,
        error: None,
        rollback_deployment_id: None,
        rollback_triggering_id: None,
        rollback_message: None,
        create_ms: t,
        start_ms: None,
        complete_ms: None,
        next_due_ms: Some(t),
        steps: Vec::new(),
        step: 0,
        alias_state: None,
        last_revision: None,
        hooks,
        events: new_events(),
        messages: Vec::new(),
        is_rollback: false,
        stored: None,
        fence: None,
    };
    let _guard = cd.inner.lock.lock().await;
    let row = d.row();
    let id = d.id.clone();
    let created = cd
        .inner
        .store
        .write(move |tx| {
            // The group still exists under this name (not renamed or deleted since it was read).
            let group = group_key(&row.application, &row.group);
            if tx.cd_object(&row.account, &row.region, GROUP, &group)?.is_none() {
                return Ok::<_, StoreError>(Err(None));
            }
            if let Some(b) = tx.cd_group_active(&row.account, &row.region, &row.application, &row.group)? {
                return Ok(Err(Some(b.id)));
            }
            tx.put_cd_deployment(&row)?;
            tx.trim_cd_deployments(
                &row.account,
                &row.region,
                &row.application,
                &row.group,
                crate::DEPLOYMENTS_PER_GROUP_MAX,
            )?;
            Ok(Ok(()))
        })
        .await;
    let created = match created {
        // Another node created one for the group at the same time: the one-active index
        // refused this one (the store serialises creates, not this node's memory).
        Err(StoreError::Conflict(_)) => Err(Some("(created concurrently)".to_owned())),
        other => other?,
    };
    match created {
        Ok(()) => {}
        Err(None) => return Err(no_group(group_name)),
        Err(Some(active)) => {
            return Err(Error::new(
                "DeploymentLimitExceededException",
                format!("The deployment group {group_name} already has an active deployment: {active}."),
            ));
        }
    }
    drop(_guard);
    cd.poke();
    Ok(json!({"deploymentId": id}))
}

/// A deployment as no engine step is half done (an alias written, its record not yet): read
/// under the engine's lock, so GetDeployment/GetDeploymentTarget agree with GetAlias.
pub(crate) async fn settled(cd: &CodeDeploy, scope: &Scope, id: &str) -> Result<Deployment, Error> {
    let _guard = cd.inner.lock.lock().await;
    deployment(cd, scope, id).await
}

pub(crate) async fn deployment(cd: &CodeDeploy, scope: &Scope, id: &str) -> Result<Deployment, Error> {
    let key = id.to_owned();
    let row = cd.inner.store.read(move |tx| tx.cd_deployment(&key)).await?;
    match row {
        Some(r) if r.account == scope.account.as_str() && r.region == scope.region.as_str() => {
            Ok(Deployment::parse(&r)?)
        }
        _ => Err(no_deployment(id)),
    }
}

fn info(scope: &Scope, d: &Deployment) -> Value {
    let mut revision = d.revision.clone();
    for k in ["appSpecContent", "string"] {
        if let Some(o) = revision.get_mut(k).and_then(Value::as_object_mut) {
            o.remove("content");
        }
    }
    let (pending, in_progress, succeeded, failed, skipped) = match d.status.as_str() {
        "Created" => (1, 0, 0, 0, 0),
        "InProgress" => (0, 1, 0, 0, 0),
        "Succeeded" => (0, 0, 1, 0, 0),
        // A stopped deployment's target is Failed (see `target`); the overview counts it so.
        "Failed" | "Stopped" => (0, 0, 0, 1, 0),
        _ => (0, 0, 0, 0, 1),
    };
    let mut v = json!({
        "applicationName": d.application,
        "deploymentGroupName": d.group,
        "deploymentConfigName": d.config_name,
        "deploymentId": d.id,
        "revision": revision,
        "status": d.status,
        "createTime": secs(d.create_ms),
        "creator": d.creator,
        "ignoreApplicationStopFailures": false,
        "autoRollbackConfiguration": d.rollback_config,
        "updateOutdatedInstancesOnly": false,
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "computePlatform": "Lambda",
        "deploymentOverview": {"Pending": pending, "InProgress": in_progress, "Succeeded": succeeded, "Failed": failed, "Skipped": skipped, "Ready": 0},
        "deploymentStatusMessages": d.messages,
    });
    let _ = scope;
    if let Some(t) = d.start_ms {
        v["startTime"] = json!(secs(t));
    }
    if let Some(t) = d.complete_ms {
        v["completeTime"] = json!(secs(t));
    }
    if let Some(desc) = &d.description {
        v["description"] = json!(desc);
    }
    if let Some((code, message)) = &d.error {
        v["errorInformation"] = json!({"code": code, "message": message});
    }
    if d.override_alarms {
        v["overrideAlarmConfiguration"] = d.alarm_config.clone();
    }
    if d.rollback_deployment_id.is_some() || d.rollback_triggering_id.is_some() {
        let mut r = json!({});
        if let Some(x) = &d.rollback_deployment_id {
            r["rollbackDeploymentId"] = json!(x);
        }
        if let Some(x) = &d.rollback_triggering_id {
            r["rollbackTriggeringDeploymentId"] = json!(x);
        }
        if let Some(x) = &d.rollback_message {
            r["rollbackMessage"] = json!(x);
        }
        v["rollbackInfo"] = r;
    }
    v
}

fn target(scope: &Scope, d: &Deployment, id: &str) -> Result<Value, Error> {
    let Some(spec) = &d.spec else {
        return Err(Error::new("DeploymentNotStartedException", "The deployment has no targets."));
    };
    if id != format!("{}:{}", spec.function, spec.alias) {
        return Err(Error::new(
            "DeploymentTargetDoesNotExistException",
            format!("The target {id} does not exist in deployment {}.", d.id),
        ));
    }
    let weight = match d.alias_state {
        Some(s) if s.primary == spec.target => 1.0,
        Some(s) => s.weight.map_or(0.0, |(_, w)| w),
        None => 0.0,
    };
    let status = match d.status.as_str() {
        "Created" => "Pending",
        "Stopped" => "Failed",
        other => other,
    };
    let events: Vec<Value> = d
        .events
        .iter()
        .map(|e| {
            let mut v = json!({"lifecycleEventName": e.name, "status": e.status});
            if let Some(t) = e.start_ms {
                v["startTime"] = json!(secs(t));
            }
            if let Some(t) = e.end_ms {
                v["endTime"] = json!(secs(t));
            }
            v
        })
        .collect();
    let arn = format!(
        "arn:aws:lambda:{}:{}:function:{}:{}",
        scope.region.as_str(),
        scope.account.as_str(),
        spec.function,
        spec.alias
    );
    Ok(json!({"deploymentTargetType": "LambdaTarget", "lambdaTarget": {
        "deploymentId": d.id, "targetId": id, "targetArn": arn, "status": status,
        "lastUpdatedAt": secs(d.complete_ms.or(d.start_ms).unwrap_or(d.create_ms)),
        "lifecycleEvents": events,
        "lambdaFunctionInfo": {"functionName": spec.function, "functionAlias": spec.alias,
            "currentVersion": spec.current.to_string(), "targetVersion": spec.target.to_string(), "targetVersionWeight": weight},
    }}))
}

async fn list_deployments(cd: &CodeDeploy, scope: &Scope, i: &Value) -> Result<Value, Error> {
    let app = s(i, "applicationName");
    let group = s(i, "deploymentGroupName");
    if let Some(a) = app {
        get_app(cd, scope, a).await?;
        if let Some(g) = group
            && object(cd, scope, GROUP, &group_key(a, g)).await?.is_none()
        {
            return Err(no_group(g));
        }
    } else if group.is_some() {
        return Err(Error::new(
            "ApplicationNameRequiredException",
            "The minimum number of required application names was not specified.",
        ));
    }
    let statuses: Vec<String> = i["includeOnlyStatuses"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if let Some(bad) = statuses.iter().find(|s| !DEPLOYMENT_STATUSES.contains(&s.as_str())) {
        return Err(Error::new(
            "InvalidDeploymentStatusException",
            format!("The deployment status {bad} is not valid."),
        ));
    }
    let range = &i["createTimeRange"];
    let ms = |v: &Value| v.as_f64().map(|s| (s * 1000.0).round() as i64);
    // The token is where the previous page ended: `<create ms>:<id>`.
    let before = match s(i, "nextToken") {
        None => None,
        Some(t) => Some(
            t.split_once(':')
                .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(invalid_token)?,
        ),
    };
    let q = store::CdDeploymentQuery {
        account: scope.account.as_str().to_owned(),
        region: scope.region.as_str().to_owned(),
        application: app.map(str::to_owned),
        group: group.map(str::to_owned),
        statuses,
        created_from_ms: ms(&range["start"]),
        created_to_ms: ms(&range["end"]),
        before,
        sha256: None,
        limit: PAGE + 1,
    };
    let mut rows = cd.inner.store.read(move |tx| tx.cd_deployments_page(&q)).await?;
    let next = (rows.len() > PAGE).then(|| {
        rows.truncate(PAGE);
        rows.last().map(|r| format!("{}:{}", r.create_ms, r.id)).unwrap_or_default()
    });
    let items: Vec<Value> = rows.into_iter().map(|r| Value::String(r.id)).collect();
    Ok(paged(json!({"deployments": items}), next))
}

async fn get_revision(cd: &CodeDeploy, scope: &Scope, i: &Value) -> Result<Value, Error> {
    let app = required(i, "applicationName")?;
    get_app(cd, scope, app).await?;
    if i["revision"].is_null() {
        return Err(Error::new("RevisionRequiredException", "The revision ID was not specified."));
    }
    let (_, sha) = revision_content(&i["revision"])?;
    // The revision's newest uses (at most REVISION_USES_MAX), oldest first.
    let q = store::CdDeploymentQuery {
        account: scope.account.as_str().to_owned(),
        region: scope.region.as_str().to_owned(),
        application: Some(app.to_owned()),
        sha256: Some(sha.clone()),
        limit: REVISION_USES_MAX,
        ..Default::default()
    };
    let rows = cd.inner.store.read(move |tx| tx.cd_deployments_page(&q)).await?;
    let all: Vec<Deployment> = rows.iter().rev().map(Deployment::parse).collect::<Result<_, _>>()?;
    let used: Vec<&Deployment> = all.iter().filter(|d| !d.is_rollback).collect();
    let Some(first) = used.first() else {
        return Err(Error::new(
            "RevisionDoesNotExistException",
            "The named revision does not exist with the IAM user or AWS account.",
        ));
    };
    let mut groups: Vec<&str> = used.iter().map(|d| d.group.as_str()).collect();
    groups.dedup();
    let last = used.last().map_or(first.create_ms, |d| d.create_ms);
    Ok(json!({"applicationName": app, "revision": first.revision.clone(),
        "revisionInfo": {"description": first.description, "deploymentGroups": groups, "firstUsedTime": secs(first.create_ms),
            "lastUsedTime": secs(last), "registerTime": secs(first.create_ms)}}))
    .map(|mut v: Value| {
        let kind = if v["revision"]["appSpecContent"].is_object() { "appSpecContent" } else { "string" };
        v["revision"][kind]["content"] = json!(first.content);
        v
    })
}

/// Times StopDeployment reads again after losing a race with the engine's step.
const STOP_TRIES: u32 = 5;

async fn stop(cd: &CodeDeploy, scope: &Scope, i: &Value) -> Result<Value, Error> {
    let id = required(i, "deploymentId")?;
    let _guard = cd.inner.lock.lock().await;
    // The engine may run on another node: a save that lost the race to its step (the
    // document changed since it was read) reads again and stops what is there now.
    let mut tries = 0;
    loop {
        let mut d = deployment(cd, scope, id).await?;
        if !d.active() {
            return Err(Error::new(
                "DeploymentAlreadyCompletedException",
                format!("The deployment {id} is already completed."),
            ));
        }
        // §1.6: back to `(C,{})` if `autoRollbackEnabled` or DEPLOYMENT_STOP_ON_REQUEST.
        let rollback =
            i["autoRollbackEnabled"].as_bool() == Some(true) || d.rolls_back_on("DEPLOYMENT_STOP_ON_REQUEST");
        let message = "The deployment was stopped by the user.";
        match cd.end(&mut d, "Stopped", "MANUAL_STOP", message, rollback, rollback).await {
            Ok(()) => return Ok(json!({"status": "Succeeded", "statusMessage": "The deployment was stopped."})),
            Err(e) if e.code == crate::engine::MOVED && tries < STOP_TRIES => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

async fn put_hook_status(cd: &CodeDeploy, scope: &Scope, i: &Value) -> Result<Value, Error> {
    let id = required(i, "deploymentId")?;
    let token = s(i, "lifecycleEventHookExecutionId").unwrap_or_default().to_owned();
    let status = s(i, "status").unwrap_or_default();
    if !matches!(status, "Succeeded" | "Failed") {
        return Err(Error::new(
            "InvalidLifecycleEventHookExecutionStatusException",
            format!("The status {status} is not valid: only Succeeded or Failed may be reported."),
        ));
    }
    let _guard = cd.inner.lock.lock().await;
    let mut d = deployment(cd, scope, id).await?;
    let active = d.active();
    let Some(h) = d.hooks.iter_mut().find(|h| h.token == token) else {
        return Err(Error::new(
            "InvalidLifecycleEventHookExecutionIdException",
            "The lifecycle event hook execution ID is not valid for this deployment.",
        ));
    };
    if h.status == "Succeeded" || h.status == "Failed" || !active {
        return Err(Error::new(
            "LifecycleEventAlreadyCompletedException",
            "The lifecycle event has already completed.",
        ));
    }
    h.status = status.to_owned();
    d.next_due_ms = Some(now());
    cd.save(&mut d, None).await?;
    drop(_guard);
    cd.poke();
    Ok(json!({"lifecycleEventHookExecutionId": token}))
}
