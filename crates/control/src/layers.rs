//! Layers: PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn, ListLayers,
//! ListLayerVersions, DeleteLayerVersion, Add/Get/RemoveLayerVersionPermission; and how a
//! function's `Layers` are resolved (which versions, whether the caller may use them, their code).
//!
//! A layer version's code is a blob like a function's, shared through the content-addressed
//! store. A function version copies the code reference of each layer it mounts, so deleting a
//! layer version never breaks a function that uses it: the blob stays referenced (see the
//! store's `function_layers`) until the last such function version goes.

use model::function::Architecture;
use model::layer::{
    self, ACTION_GET_LAYER_VERSION, FunctionLayer, FunctionLayerArn, Layer, LayerId, LayerPolicy, LayerPrincipal,
    LayerRef, LayerStatement, LayerVersion, LayerVersionRef,
};
use model::limits;
use model::runtime::{self, RuntimeStatus};
use model::scope::{AccountId, Region, Scope};
use model::validate::{Violation, list_value};
use serde_json::json;
use store::{LayerKey, ReadTx, StoreError};

use crate::config::CodeInput;
use crate::functions::{self, decode_marker, encode_marker};
use crate::{Control, ControlError, Result, blocking, new_revision, validation};

const NO_SUCH_RESOURCE: &str = "The resource you requested does not exist.";
const STATEMENT_ID_PATTERN: &str = "([a-zA-Z0-9-_]+)";
const ACTION_LEN_MAX: usize = 22;
const ORGANIZATION_ID_LEN_MAX: usize = 34;
const ARCHITECTURES: &[&str] = &["x86_64", "arm64"];
const LAYER_POLICY_REVISION_MISMATCH: &str = "The Revision Id provided does not match the latest Revision Id. Call \
                                              the GetLayerPolicy API to retrieve the latest Revision Id";

/// PublishLayerVersion's members, as given.
#[derive(Debug, Clone, Default)]
pub struct PublishLayer {
    /// `Content`; its `ImageUri` is never set.
    pub content: Option<CodeInput>,
    pub description: Option<String>,
    pub compatible_runtimes: Option<Vec<String>>,
    pub compatible_architectures: Option<Vec<String>>,
    pub license_info: Option<String>,
}

/// One layer version as responses show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerVersionView {
    pub layer_arn: String,
    pub layer_version_arn: String,
    /// The account the layer belongs to (its code URL is signed for it).
    pub account: String,
    pub version: LayerVersion,
}

/// One entry of ListLayers: a layer and its newest version matching the filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerListItem {
    pub layer_name: String,
    pub layer_arn: String,
    pub latest_matching: LayerVersionView,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerPage {
    pub layers: Vec<LayerListItem>,
    pub next_marker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerVersionPage {
    pub versions: Vec<LayerVersionView>,
    pub next_marker: Option<String>,
}

/// AddLayerVersionPermission's members, as given.
#[derive(Debug, Clone, Default)]
pub struct LayerPermissionInput {
    pub statement_id: Option<String>,
    pub action: Option<String>,
    pub principal: Option<String>,
    pub organization_id: Option<String>,
    pub revision_id: Option<String>,
}

/// A layer version policy (or one statement of it) as JSON text, with the policy's revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerPolicyText {
    pub text: String,
    pub revision_id: String,
}

/// Where a `LayerName` parameter points, seen from the caller.
struct Target {
    /// The layer's own account and region.
    scope: Scope,
    name: String,
    /// The layer belongs to the caller's account.
    own: bool,
    /// The layer is in the caller's region (layers of another region are out of reach).
    here: bool,
}

impl Target {
    fn key(&self) -> LayerKey {
        LayerKey { scope: self.scope.clone(), name: self.name.clone() }
    }

    fn layer_arn(&self) -> String {
        layer::layer_arn(&self.scope, &self.name)
    }

    fn version_arn(&self, version: i64) -> String {
        format!("{}:{version}", self.layer_arn())
    }
}

/// Checks the `LayerName` parameter against its pattern and length.
fn check_layer_name(input: &str, v: &mut Vec<Violation>) -> Option<LayerRef> {
    if input.is_empty() {
        v.push(Violation::len_min(input, "layerName", 1));
        return None;
    }
    let parsed = LayerRef::parse(input);
    if parsed.is_none() {
        v.push(Violation::pattern(input, "layerName", layer::LAYER_NAME_PATTERN));
    }
    if input.len() > limits::LAYER_NAME_PARAM_LEN_MAX {
        v.push(Violation::len_max(input, "layerName", limits::LAYER_NAME_PARAM_LEN_MAX));
        return None;
    }
    parsed
}

fn target(scope: &Scope, r: LayerRef) -> Target {
    let region = r.region.as_deref().and_then(Region::parse);
    let account = r.account.as_deref().and_then(AccountId::parse);
    // A region the caller could not be in is simply another region.
    let here = r.region.is_none() || region.as_ref() == Some(&scope.region);
    let own = account.as_ref().is_none_or(|a| *a == scope.account);
    let layer_scope = Scope {
        account: account.unwrap_or_else(|| scope.account.clone()),
        region: region.unwrap_or_else(|| scope.region.clone()),
    };
    Target { scope: layer_scope, name: r.name, own, here }
}

/// The 403 for a layer of another account that the caller may not use this way.
fn not_authorized(scope: &Scope, action: &str, resource: &str) -> ControlError {
    ControlError::AccessDenied(format!(
        "User: arn:aws:iam::{}:root is not authorized to perform: lambda:{action} on resource: {resource} because no \
         resource-based policy allows the lambda:{action} action",
        scope.account
    ))
}

fn layer_version_missing(arn: &str) -> ControlError {
    ControlError::ResourceNotFound(format!("Layer version {arn} does not exist."))
}

/// `Layer Version Cannot be less than 1`.
fn check_version_number(n: i64) -> Result<()> {
    if n < 1 {
        return Err(ControlError::InvalidParameterValue("Layer Version Cannot be less than 1".to_owned()));
    }
    Ok(())
}

fn check_filters(runtime: Option<&str>, architecture: Option<&str>, max_items: Option<i64>, v: &mut Vec<Violation>) {
    if let Some(r) = runtime
        && !layer::LAYER_RUNTIMES.contains(&r)
    {
        v.push(Violation::enum_set(r, "compatibleRuntime", layer::LAYER_RUNTIMES));
    }
    if let Some(a) = architecture
        && Architecture::parse(a).is_none()
    {
        v.push(Violation::enum_set(a, "compatibleArchitecture", ARCHITECTURES));
    }
    if let Some(m) = max_items {
        if m < 1 {
            v.push(Violation::value_min(m, "maxItems", 1));
        }
        if m > limits::LAYER_LIST_MAX_ITEMS {
            v.push(Violation::value_max(m, "maxItems", limits::LAYER_LIST_MAX_ITEMS));
        }
    }
}

fn page_size(max_items: Option<i64>) -> usize {
    max_items.map_or(limits::LAYER_LIST_MAX_ITEMS as usize, |m| m.clamp(1, limits::LAYER_LIST_MAX_ITEMS) as usize)
}

fn view(scope: &Scope, name: &str, version: LayerVersion) -> LayerVersionView {
    LayerVersionView {
        layer_arn: layer::layer_arn(scope, name),
        layer_version_arn: layer::layer_version_arn(scope, name, version.version),
        account: scope.account.to_string(),
        version,
    }
}

/// A statement as Lambda renders it: `Sid`, `Effect`, `Principal`, `Action`, `Resource`, and the
/// organization condition.
fn statement_json(s: &LayerStatement, resource: &str) -> String {
    let principal = match &s.principal {
        LayerPrincipal::Any => json!("*"),
        LayerPrincipal::Account(a) => json!({ "AWS": format!("arn:aws:iam::{a}:root") }),
    };
    let mut text = format!(
        "{{\"Sid\":{},\"Effect\":\"Allow\",\"Principal\":{},\"Action\":{},\"Resource\":{}",
        json!(s.sid),
        principal,
        json!(ACTION_GET_LAYER_VERSION),
        json!(resource)
    );
    if let Some(org) = &s.organization_id {
        text.push_str(&format!(",\"Condition\":{{\"StringEquals\":{{\"aws:PrincipalOrgID\":{}}}}}", json!(org)));
    }
    text.push('}');
    text
}

fn policy_json(p: &LayerPolicy, resource: &str) -> String {
    let statements: Vec<String> = p.statements.iter().map(|s| statement_json(s, resource)).collect();
    format!("{{\"Version\":\"2012-10-17\",\"Id\":\"default\",\"Statement\":[{}]}}", statements.join(","))
}

/// Reads a layer version, or `None` when the layer or the version does not exist (or the
/// number is larger than any version can have).
fn read_version(tx: &mut dyn ReadTx, key: &LayerKey, number: i64) -> Result<Option<(Layer, LayerVersion)>, StoreError> {
    let Ok(n) = u32::try_from(number) else { return Ok(None) };
    let Some(layer) = tx.layer(key)? else { return Ok(None) };
    Ok(tx.layer_version(layer.id, n)?.map(|v| (layer, v)))
}

/// Resolves a function's `Layers` (already checked against the pattern and the count) to the
/// layer versions they name, in order, inside the transaction that stores the function: a layer
/// version deleted concurrently is either seen (and its code referenced) or reported missing.
pub(crate) fn resolve_function_layers(
    tx: &mut dyn ReadTx,
    scope: &Scope,
    arns: &[String],
) -> Result<Vec<FunctionLayer>> {
    let mut out: Vec<FunctionLayer> = Vec::with_capacity(arns.len());
    let mut seen: Vec<(String, String)> = Vec::with_capacity(arns.len());
    let missing = |arn: &str| ControlError::InvalidParameterValue(format!("Layer version {arn} does not exist."));
    for arn in arns {
        let Some(FunctionLayerArn::Version(r)) = LayerVersionRef::parse_function_layer(arn) else {
            return Err(missing(arn));
        };
        let own = r.account == scope.account.as_str();
        if r.region != scope.region.as_str() {
            return Err(if own {
                ControlError::InvalidParameterValue(format!(
                    "Layers are not in the same region as the function. Layers are expected to be in region {}.",
                    scope.region
                ))
            } else {
                not_authorized(scope, "GetLayerVersion", arn)
            });
        }
        let layer_scope = Scope {
            account: AccountId::parse(&r.account).expect("the pattern has 12 digits"),
            region: scope.region.clone(),
        };
        let found = match r.version {
            Some(n) if r.partition == "aws" => {
                read_version(tx, &LayerKey { scope: layer_scope.clone(), name: r.name.clone() }, i64::from(n))?
            }
            _ => None,
        };
        let version = match found {
            Some((_, v)) if own || v.policy.as_ref().is_some_and(|p| p.allows(scope.account.as_str())) => v,
            None if own => return Err(missing(arn)),
            _ => return Err(not_authorized(scope, "GetLayerVersion", arn)),
        };
        let layer_arn = r.layer_arn();
        if let Some((_, first)) = seen.iter().find(|(l, _)| *l == layer_arn) {
            return Err(ControlError::InvalidParameterValue(format!(
                "Two different versions of the same layer are not allowed to be referenced in the same function. \
                 {first} and {arn} are versions of the same layer."
            )));
        }
        seen.push((layer_arn, arn.clone()));
        out.push(FunctionLayer {
            arn: layer::layer_version_arn(&layer_scope, &r.name, version.version),
            code: version.code,
        });
    }
    Ok(out)
}

/// The 250 MB unzipped limit over a function's code and its layers together.
pub(crate) fn check_unzipped_total(code_unzipped: u64, layers: &[FunctionLayer]) -> Result<()> {
    if layers.is_empty() {
        return Ok(());
    }
    let max = limits::CODE_SIZE_UNZIPPED_MAX;
    let in_layers: u64 = layers.iter().map(|l| l.code.unzipped_size).sum();
    if in_layers > max {
        return Err(ControlError::InvalidParameterValue(format!(
            "Layers consume more than the available size of {max} bytes"
        )));
    }
    let total = in_layers + code_unzipped;
    if total > max {
        return Err(ControlError::InvalidParameterValue(format!(
            "Function code combined with layers exceeds the maximum allowed size of {max} bytes. The actual size is \
             {total} bytes."
        )));
    }
    Ok(())
}

impl Control {
    pub async fn publish_layer_version(
        &self,
        scope: &Scope,
        layer_name: &str,
        input: PublishLayer,
    ) -> Result<LayerVersionView> {
        let mut v = Vec::new();
        let parsed = check_layer_name(layer_name, &mut v);
        if input.content.is_none() {
            v.push(Violation::not_null("content"));
        }
        if let Some(d) = &input.description {
            crate::config::check_description(d, &mut v);
        }
        if let Some(rts) = &input.compatible_runtimes {
            if rts.len() > limits::COMPATIBLE_RUNTIMES_MAX {
                v.push(Violation::len_max(&list_value(rts), "compatibleRuntimes", limits::COMPATIBLE_RUNTIMES_MAX));
            }
            if rts.iter().any(|r| runtime::status(r) == RuntimeStatus::Unknown) {
                v.push(Violation::enum_set(&list_value(rts), "compatibleRuntimes", runtime::RUNTIMES));
            }
        }
        if let Some(archs) = &input.compatible_architectures {
            if archs.len() > limits::COMPATIBLE_ARCHITECTURES_MAX {
                v.push(Violation::len_max(
                    &list_value(archs),
                    "compatibleArchitectures",
                    limits::COMPATIBLE_ARCHITECTURES_MAX,
                ));
            }
            if archs.iter().any(|a| Architecture::parse(a).is_none()) {
                v.push(Violation::new(
                    list_value(archs),
                    "compatibleArchitectures",
                    "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]",
                ));
            }
        }
        if let Some(l) = &input.license_info
            && l.chars().count() > limits::LICENSE_INFO_LEN_MAX
        {
            v.push(Violation::len_max(l, "licenseInfo", limits::LICENSE_INFO_LEN_MAX));
        }
        validation(v)?;
        let t = target(scope, parsed.expect("validated"));
        if !t.own || !t.here {
            return Err(not_authorized(scope, "PublishLayerVersion", &t.layer_arn()));
        }

        let content = input.content.unwrap_or_default();
        let sources = usize::from(content.zip_file.is_some())
            + usize::from(content.s3_bucket.is_some() || content.s3_key.is_some());
        let zip = match (content.zip_file, sources) {
            (_, 2) => {
                return Err(ControlError::InvalidParameterValue(
                    "More than one source of function code was provided. Please provide only one.".to_owned(),
                ));
            }
            (Some(zip), _) => zip,
            (None, 1) => {
                functions::s3_code(&self.settings, content.s3_bucket, content.s3_key, content.s3_object_version).await?
            }
            (None, _) => return Err(ControlError::InvalidParameterValue("Missing Content".to_owned())),
        };
        let package = blocking(move || Ok(functions::inspect_package(zip))).await??;

        let mut version = LayerVersion {
            version: 0,
            description: input.description.unwrap_or_default(),
            compatible_runtimes: input.compatible_runtimes.unwrap_or_default(),
            compatible_architectures: input.compatible_architectures.unwrap_or_default(),
            license_info: input.license_info,
            code: package.code,
            created_ms: stdx::time::now_ms(),
            policy: None,
        };
        let sha = package.code.sha256;
        let gate = self.store_code(sha, package.data).await?;
        let (key, s) = (t.key(), t.scope.clone());
        let written = self
            .store
            .write(move |tx| {
                let mut layer = match tx.lock_layer(&key)? {
                    Some(l) => l,
                    None => {
                        let fresh = Layer { id: LayerId(0), name: key.name.clone(), next_version: 1 };
                        let id = tx.insert_layer(&s, &fresh)?;
                        Layer { id, ..fresh }
                    }
                };
                version.version = layer.next_version;
                layer.next_version += 1;
                tx.insert_layer_version(layer.id, &version)?;
                tx.update_layer(&layer)?;
                Ok::<_, ControlError>(version)
            })
            .await;
        drop(gate);
        let stored = self.unless_failed(written, sha).await?;
        Ok(view(&t.scope, &t.name, stored))
    }

    /// GetLayerVersion. Another account's layer version is visible when its policy lets the
    /// caller's account use it.
    pub async fn get_layer_version(&self, scope: &Scope, layer_name: &str, number: i64) -> Result<LayerVersionView> {
        let mut v = Vec::new();
        let parsed = check_layer_name(layer_name, &mut v);
        validation(v)?;
        check_version_number(number)?;
        self.read_layer_version(scope, target(scope, parsed.expect("validated")), number).await
    }

    /// GetLayerVersionByArn (`GET /2018-10-31/layers?find=LayerVersion&Arn=…`).
    pub async fn get_layer_version_by_arn(&self, scope: &Scope, arn: Option<&str>) -> Result<LayerVersionView> {
        let mut v = Vec::new();
        let parsed = match arn {
            None => {
                v.push(Violation::not_null("arn"));
                None
            }
            Some(a) => {
                let parsed = LayerVersionRef::parse_arn(a);
                if a.is_empty() {
                    v.push(Violation::len_min(a, "arn", 1));
                }
                if a.len() > limits::LAYER_NAME_PARAM_LEN_MAX {
                    v.push(Violation::len_max(a, "arn", limits::LAYER_NAME_PARAM_LEN_MAX));
                }
                if parsed.is_none() {
                    v.push(Violation::pattern(a, "arn", layer::LAYER_VERSION_ARN_PATTERN));
                }
                parsed
            }
        };
        validation(v)?;
        let r = parsed.expect("validated");
        let number = r.version.map_or(i64::MAX, i64::from);
        let t = target(scope, LayerRef { region: Some(r.region), account: Some(r.account), name: r.name });
        self.read_layer_version(scope, t, number).await
    }

    async fn read_layer_version(&self, scope: &Scope, t: Target, number: i64) -> Result<LayerVersionView> {
        let found = if t.here {
            let key = t.key();
            self.store.read(move |tx| read_version(tx, &key, number)).await?
        } else {
            None
        };
        match found {
            Some((_, v)) if t.own || v.policy.as_ref().is_some_and(|p| p.allows(scope.account.as_str())) => {
                Ok(view(&t.scope, &t.name, v))
            }
            _ if t.own => Err(ControlError::ResourceNotFound(NO_SUCH_RESOURCE.to_owned())),
            _ => Err(not_authorized(scope, "GetLayerVersion", &t.version_arn(number))),
        }
    }

    /// ListLayers: the caller's layers by name, each with its newest version matching the
    /// filters; layers without such a version are left out.
    pub async fn list_layers(
        &self,
        scope: &Scope,
        runtime: Option<&str>,
        architecture: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<LayerPage> {
        let mut v = Vec::new();
        check_filters(runtime, architecture, max_items, &mut v);
        validation(v)?;
        let after = marker.map(decode_marker).transpose()?;
        let limit = page_size(max_items);
        let (s, rt, arch) = (scope.clone(), runtime.map(str::to_owned), architecture.map(str::to_owned));
        let (found, more) = self
            .store
            .read(move |tx| {
                let mut out: Vec<(String, LayerVersion)> = Vec::new();
                let mut after = after;
                'pages: loop {
                    let batch = tx.layers(&s, after.as_deref(), limit)?;
                    if batch.is_empty() {
                        break;
                    }
                    for l in batch {
                        after = Some(l.name.clone());
                        if let Some(v) = newest_matching(tx, l.id, rt.as_deref(), arch.as_deref())? {
                            out.push((l.name, v));
                            if out.len() > limit {
                                break 'pages;
                            }
                        }
                    }
                }
                let more = out.len() > limit;
                out.truncate(limit);
                Ok::<_, StoreError>((out, more))
            })
            .await?;
        let next_marker = if more { found.last().map(|(n, _)| encode_marker(n)) } else { None };
        let layers = found
            .into_iter()
            .map(|(name, v)| LayerListItem {
                layer_arn: layer::layer_arn(scope, &name),
                latest_matching: view(scope, &name, v),
                layer_name: name,
            })
            .collect();
        Ok(LayerPage { layers, next_marker })
    }

    /// ListLayerVersions: newest first. A layer without versions (or never published) lists
    /// nothing.
    pub async fn list_layer_versions(
        &self,
        scope: &Scope,
        layer_name: &str,
        runtime: Option<&str>,
        architecture: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<LayerVersionPage> {
        let mut v = Vec::new();
        let parsed = check_layer_name(layer_name, &mut v);
        check_filters(runtime, architecture, max_items, &mut v);
        validation(v)?;
        let t = target(scope, parsed.expect("validated"));
        if !t.own {
            return Err(not_authorized(scope, "ListLayerVersions", &t.layer_arn()));
        }
        let before: Option<u32> =
            match marker {
                None => None,
                Some(m) => Some(decode_marker(m)?.parse().map_err(|_| {
                    ControlError::InvalidParameterValue("The marker provided is not valid.".to_owned())
                })?),
            };
        let limit = page_size(max_items);
        if !t.here {
            return Ok(LayerVersionPage { versions: Vec::new(), next_marker: None });
        }
        let (key, rt, arch) = (t.key(), runtime.map(str::to_owned), architecture.map(str::to_owned));
        let (found, more) = self
            .store
            .read(move |tx| {
                let Some(layer) = tx.layer(&key)? else { return Ok::<_, StoreError>((Vec::new(), false)) };
                let mut out = Vec::new();
                let mut before = before;
                loop {
                    let batch = tx.layer_versions(layer.id, before, limit + 1)?;
                    if batch.is_empty() {
                        break;
                    }
                    for v in batch {
                        before = Some(v.version);
                        if v.matches(rt.as_deref(), arch.as_deref()) && out.len() <= limit {
                            out.push(v);
                        }
                    }
                    if out.len() > limit {
                        break;
                    }
                }
                let more = out.len() > limit;
                out.truncate(limit);
                Ok((out, more))
            })
            .await?;
        let next_marker =
            if more { found.last().map(|v: &LayerVersion| encode_marker(&v.version.to_string())) } else { None };
        Ok(LayerVersionPage { versions: found.into_iter().map(|v| view(&t.scope, &t.name, v)).collect(), next_marker })
    }

    /// DeleteLayerVersion: 204 whether or not the version exists. Functions that use it keep
    /// its code.
    pub async fn delete_layer_version(&self, scope: &Scope, layer_name: &str, number: i64) -> Result<()> {
        let mut v = Vec::new();
        let parsed = check_layer_name(layer_name, &mut v);
        validation(v)?;
        check_version_number(number)?;
        let t = target(scope, parsed.expect("validated"));
        if !t.own {
            return Err(not_authorized(scope, "DeleteLayerVersion", &t.version_arn(number)));
        }
        let Ok(n) = u32::try_from(number) else { return Ok(()) };
        if !t.here {
            return Ok(());
        }
        let key = t.key();
        let released = self
            .store
            .write(move |tx| {
                let Some(layer) = tx.lock_layer(&key)? else { return Ok::<_, StoreError>(None) };
                let Some(version) = tx.layer_version(layer.id, n)? else { return Ok(None) };
                tx.delete_layer_version(layer.id, n)?;
                Ok(Some(version.code.sha256))
            })
            .await?;
        self.collect_garbage(released.into_iter().collect()).await;
        Ok(())
    }

    /// Validation and lookup shared by the layer permission operations: the target layer of
    /// the caller's own account, or the error.
    fn permission_target(&self, scope: &Scope, layer_name: &str, action: &str, number: i64) -> Result<Target> {
        let mut v = Vec::new();
        let parsed = check_layer_name(layer_name, &mut v);
        validation(v)?;
        let t = target(scope, parsed.expect("validated"));
        if !t.own {
            return Err(not_authorized(scope, action, &t.version_arn(number)));
        }
        Ok(t)
    }

    pub async fn add_layer_version_permission(
        &self,
        scope: &Scope,
        layer_name: &str,
        number: i64,
        input: LayerPermissionInput,
    ) -> Result<LayerPolicyText> {
        let mut v = Vec::new();
        let _ = check_layer_name(layer_name, &mut v);
        match &input.statement_id {
            None => v.push(Violation::not_null("statementId")),
            Some(s) => check_statement_id(s, &mut v),
        }
        match &input.action {
            None => v.push(Violation::not_null("action")),
            Some(a) => {
                if a != ACTION_GET_LAYER_VERSION {
                    v.push(Violation::pattern(a, "action", ACTION_GET_LAYER_VERSION));
                }
                if a.len() > ACTION_LEN_MAX {
                    v.push(Violation::len_max(a, "action", ACTION_LEN_MAX));
                }
            }
        }
        let principal = match &input.principal {
            None => {
                v.push(Violation::not_null("principal"));
                None
            }
            Some(p) => {
                let parsed = LayerPrincipal::parse(p);
                if parsed.is_none() {
                    v.push(Violation::pattern(p, "principal", layer::LAYER_PRINCIPAL_PATTERN));
                }
                parsed
            }
        };
        if let Some(o) = &input.organization_id {
            let ok = o.strip_prefix("o-").is_some_and(|r| {
                (10..=32).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
            if !ok {
                v.push(Violation::pattern(o, "organizationId", layer::ORGANIZATION_ID_PATTERN));
            }
            if o.len() > ORGANIZATION_ID_LEN_MAX {
                v.push(Violation::len_max(o, "organizationId", ORGANIZATION_ID_LEN_MAX));
            }
        }
        validation(v)?;
        let t = self.permission_target(scope, layer_name, "AddLayerVersionPermission", number)?;
        let arn = t.version_arn(number);
        let statement = LayerStatement {
            sid: input.statement_id.unwrap_or_default(),
            principal: principal.expect("validated"),
            organization_id: input.organization_id,
        };
        let (key, revision) = (t.key(), input.revision_id);
        self.store
            .write(move |tx| {
                let found = if t.here { read_version(tx, &key, number)? } else { None };
                let Some((layer, version)) = found else { return Err(layer_version_missing(&arn)) };
                let mut policy = version
                    .policy
                    .unwrap_or_else(|| LayerPolicy { revision_id: new_revision().0, statements: Vec::new() });
                if policy.statements.iter().any(|s| s.sid == statement.sid) {
                    return Err(ControlError::ResourceConflict(format!(
                        "The statement id ({}) provided already exists. Please provide a new statement id, or remove \
                         the existing statement.",
                        statement.sid
                    )));
                }
                if revision.as_ref().is_some_and(|r| *r != policy.revision_id) {
                    return Err(ControlError::PreconditionFailed(LAYER_POLICY_REVISION_MISMATCH.to_owned()));
                }
                let text = statement_json(&statement, &arn);
                policy.statements.push(statement);
                let size = policy_json(&policy, &arn).len();
                if size > crate::POLICY_BYTES_MAX {
                    return Err(ControlError::PolicyLengthExceeded(format!(
                        "The final policy size ({size}) is bigger than the limit ({}).",
                        crate::POLICY_BYTES_MAX
                    )));
                }
                policy.revision_id = new_revision().0;
                tx.put_layer_version_policy(layer.id, version.version, Some(&policy))?;
                Ok(LayerPolicyText { text, revision_id: policy.revision_id })
            })
            .await
    }

    pub async fn get_layer_version_policy(
        &self,
        scope: &Scope,
        layer_name: &str,
        number: i64,
    ) -> Result<LayerPolicyText> {
        let t = self.permission_target(scope, layer_name, "GetLayerVersionPolicy", number)?;
        let arn = t.version_arn(number);
        let key = t.key();
        let found = if t.here { self.store.read(move |tx| read_version(tx, &key, number)).await? } else { None };
        let Some((_, version)) = found else { return Err(layer_version_missing(&arn)) };
        let Some(policy) = version.policy else {
            return Err(ControlError::ResourceNotFound("No policy is associated with the given resource.".to_owned()));
        };
        Ok(LayerPolicyText { text: policy_json(&policy, &arn), revision_id: policy.revision_id })
    }

    pub async fn remove_layer_version_permission(
        &self,
        scope: &Scope,
        layer_name: &str,
        number: i64,
        statement_id: &str,
        revision_id: Option<String>,
    ) -> Result<()> {
        let mut v = Vec::new();
        let _ = check_layer_name(layer_name, &mut v);
        check_statement_id(statement_id, &mut v);
        validation(v)?;
        let t = self.permission_target(scope, layer_name, "RemoveLayerVersionPermission", number)?;
        let arn = t.version_arn(number);
        let (key, sid) = (t.key(), statement_id.to_owned());
        self.store
            .write(move |tx| {
                let found = if t.here { read_version(tx, &key, number)? } else { None };
                let Some((layer, version)) = found else { return Err(layer_version_missing(&arn)) };
                let Some(mut policy) = version.policy else {
                    return Err(ControlError::ResourceNotFound(
                        "No policy is associated with the given resource.".to_owned(),
                    ));
                };
                if revision_id.as_ref().is_some_and(|r| *r != policy.revision_id) {
                    return Err(ControlError::PreconditionFailed(LAYER_POLICY_REVISION_MISMATCH.to_owned()));
                }
                let before = policy.statements.len();
                policy.statements.retain(|s| s.sid != sid);
                if policy.statements.len() == before {
                    return Err(ControlError::ResourceNotFound(format!(
                        "Statement {sid} is not found in resource policy."
                    )));
                }
                policy.revision_id = new_revision().0;
                let kept = (!policy.statements.is_empty()).then_some(&policy);
                tx.put_layer_version_policy(layer.id, version.version, kept)?;
                Ok(())
            })
            .await
    }
}

/// Length constraints first, then the pattern, as AWS lists them.
fn check_statement_id(s: &str, v: &mut Vec<Violation>) {
    if s.is_empty() {
        v.push(Violation::len_min(s, "statementId", 1));
    }
    if s.len() > limits::STATEMENT_ID_LEN_MAX {
        v.push(Violation::len_max(s, "statementId", limits::STATEMENT_ID_LEN_MAX));
    }
    if !layer::is_layer_name(s) {
        v.push(Violation::pattern(s, "statementId", STATEMENT_ID_PATTERN));
    }
}

/// The newest version of a layer that matches the filters.
fn newest_matching(
    tx: &mut dyn ReadTx,
    id: LayerId,
    runtime: Option<&str>,
    architecture: Option<&str>,
) -> Result<Option<LayerVersion>, StoreError> {
    let mut before = None;
    loop {
        let batch = tx.layer_versions(id, before, limits::LAYER_LIST_MAX_ITEMS as usize)?;
        if batch.is_empty() {
            return Ok(None);
        }
        for v in batch {
            before = Some(v.version);
            if v.matches(runtime, architecture) {
                return Ok(Some(v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::function::{CodeRef, Sha256};

    fn mounted(unzipped: u64) -> FunctionLayer {
        FunctionLayer { arn: "a".into(), code: CodeRef { sha256: Sha256([0; 32]), size: 1, unzipped_size: unzipped } }
    }

    #[test]
    fn the_unzipped_limit_counts_function_and_layers() {
        let max = limits::CODE_SIZE_UNZIPPED_MAX;
        assert!(check_unzipped_total(max, &[]).is_ok());
        assert!(check_unzipped_total(max - 10, &[mounted(10)]).is_ok());
        assert_eq!(
            check_unzipped_total(max - 10, &[mounted(6), mounted(5)]).unwrap_err().to_string(),
            "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. The actual size \
             is 262144001 bytes."
        );
        assert_eq!(
            check_unzipped_total(0, &[mounted(max), mounted(1)]).unwrap_err().to_string(),
            "Layers consume more than the available size of 262144000 bytes"
        );
    }

    #[test]
    fn statements_render_as_lambda_renders_them() {
        let s = LayerStatement {
            sid: "xaccount".into(),
            principal: LayerPrincipal::Account("210987654321".into()),
            organization_id: None,
        };
        assert_eq!(
            statement_json(&s, "arn:aws:lambda:us-east-2:123456789012:layer:my-layer:1"),
            r#"{"Sid":"xaccount","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"lambda:GetLayerVersion","Resource":"arn:aws:lambda:us-east-2:123456789012:layer:my-layer:1"}"#
        );
        let org = LayerStatement { principal: LayerPrincipal::Any, organization_id: Some("o-abcdefghij".into()), ..s };
        assert_eq!(
            statement_json(&org, "r"),
            r#"{"Sid":"xaccount","Effect":"Allow","Principal":"*","Action":"lambda:GetLayerVersion","Resource":"r","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abcdefghij"}}}"#
        );
    }
}
