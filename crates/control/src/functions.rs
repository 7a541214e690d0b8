//! Functions and versions: CreateFunction, GetFunction*, UpdateFunction*, DeleteFunction,
//! PublishVersion, ListFunctions, ListVersionsByFunction, GetAccountSettings.

use std::collections::BTreeMap;

use model::arn::{function_arn, qualified_arn};
use model::function::{CodeRef, Function, FunctionId, Sha256, VersionRecord};
use model::limits;
use model::name::{NameShape, Qualifier, Version};
use model::scope::Scope;
use model::validate::Violation;
use store::{AccountUsage, FunctionKey, ReadTx, StoreError};

use crate::config::{self, CodeInput, ConfigPatch};
use crate::views::{FunctionDetail, Status, VersionPage, VersionView};
use crate::{Control, ControlError, Result, blocking, new_revision, validation};
use crate::{code_signing, layers, names};

/// CreateFunction's input, unvalidated.
#[derive(Debug, Clone, Default)]
pub struct CreateFunction {
    pub function_name: Option<String>,
    pub code: Option<CodeInput>,
    pub config: ConfigPatch,
    pub package_type: Option<String>,
    pub publish: bool,
    pub tags: Option<BTreeMap<String, String>>,
    /// Versa has no code signing configs: a well-formed ARN is not found.
    pub code_signing_config_arn: Option<String>,
}

/// UpdateFunctionCode's input, unvalidated.
#[derive(Debug, Clone, Default)]
pub struct UpdateCode {
    pub code: CodeInput,
    pub architectures: Option<Vec<String>>,
    pub publish: bool,
    pub dry_run: bool,
    pub revision_id: Option<String>,
}

/// PublishVersion's input, unvalidated.
#[derive(Debug, Clone, Default)]
pub struct PublishVersion {
    pub code_sha256: Option<String>,
    pub description: Option<String>,
    pub revision_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionList {
    pub functions: Vec<VersionView>,
    pub next_marker: Option<String>,
}

/// A package that passed validation, ready to be stored.
pub(crate) struct Package {
    pub(crate) data: Vec<u8>,
    pub(crate) code: CodeRef,
}

fn key(scope: &Scope, name: &str) -> FunctionKey {
    FunctionKey { scope: scope.clone(), name: name.to_owned() }
}

fn check_revision(given: Option<&str>, current: &model::function::RevisionId) -> Result<()> {
    match given {
        Some(r) if r != current.0 => Err(ControlError::PreconditionFailed(crate::REVISION_MISMATCH.to_owned())),
        _ => Ok(()),
    }
}

/// Validates a zip package: size, structure, unzipped size. Blocks (decompression).
pub(crate) fn inspect_package(data: Vec<u8>) -> Result<Package> {
    if data.len() as u64 > limits::CODE_SIZE_ZIPPED_MAX {
        return Err(ControlError::RequestTooLarge(format!(
            "Zipped size must be smaller than {} bytes",
            limits::CODE_SIZE_ZIPPED_MAX
        )));
    }
    let info = blobs::package::inspect(&data).map_err(|e| match e {
        blobs::package::PackageError::Unreadable(why) => {
            tracing::debug!(%why, "rejected a code package");
            ControlError::InvalidParameterValue(
                "Could not unzip uploaded file. Please check your file, then try to upload again.".to_owned(),
            )
        }
        blobs::package::PackageError::UnzippedTooLarge { limit } => {
            ControlError::InvalidParameterValue(format!("Unzipped size must be smaller than {limit} bytes"))
        }
    })?;
    let sha256 = blobs::sha256(&data);
    let size = data.len() as u64;
    Ok(Package { data, code: CodeRef { sha256, size, unzipped_size: info.unzipped_size } })
}

/// Packages up to this size are inspected (unzipped, hashed) on the calling thread: that costs
/// less than the hop to a blocking thread and back. Larger ones go to a blocking thread. (Deflate
/// expands at most ~1,000×, so the worst inline case is ~2 MB decompressed, a few milliseconds.)
const INLINE_PACKAGE_BYTES_MAX: usize = 2 * 1024;

/// [`inspect_package`], on a blocking thread unless the package is small.
pub(crate) async fn inspect_package_off_thread(zip: Vec<u8>) -> Result<Package> {
    if zip.len() <= INLINE_PACKAGE_BYTES_MAX {
        return inspect_package(zip);
    }
    blocking(move || Ok(inspect_package(zip))).await?
}

/// Picks the zip out of a code input (fetching it from Versa's S3 when it names an object), or
/// explains why there is none Versa can use.
async fn zip_from(settings: &crate::Settings, code: CodeInput, updating: bool) -> Result<Vec<u8>> {
    let ipve = |m: &str| ControlError::InvalidParameterValue(m.to_owned());
    let sources = usize::from(code.zip_file.is_some())
        + usize::from(code.s3_bucket.is_some() || code.s3_key.is_some())
        + usize::from(code.image_uri.is_some());
    if sources > 1 {
        return Err(ipve("More than one source of function code was provided. Please provide only one."));
    }
    if let Some(zip) = code.zip_file {
        return Ok(zip);
    }
    if let Some(uri) = code.image_uri {
        return Err(if updating {
            ipve("Please don't provide ImageUri when updating a function with packageType Zip.")
        } else {
            ControlError::InvalidParameterValue(format!(
                "Source image {uri} is not valid. Provide a valid source image."
            ))
        });
    }
    if code.s3_bucket.is_some() || code.s3_key.is_some() {
        return s3_code(settings, code.s3_bucket, code.s3_key, code.s3_object_version).await;
    }
    Err(ipve("Please provide a source for function code."))
}

/// Reads `S3Bucket`/`S3Key` from Versa's S3, with Lambda's errors for what is missing.
pub(crate) async fn s3_code(
    settings: &crate::Settings,
    bucket: Option<String>,
    key: Option<String>,
    version: Option<String>,
) -> Result<Vec<u8>> {
    let ipve = |m: &str| ControlError::InvalidParameterValue(m.to_owned());
    let no_bucket = || {
        ipve(
            "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist",
        )
    };
    let no_key = || {
        ipve(
            "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist.",
        )
    };
    let (Some(bucket), Some(key)) = (bucket, key) else { return Err(no_key()) };
    let Some(fetch) = &settings.s3_code else { return Err(no_bucket()) };
    match fetch(bucket, key, version).await {
        Ok(zip) => Ok(zip),
        Err(crate::S3CodeError::NoSuchBucket) => Err(no_bucket()),
        Err(crate::S3CodeError::NoSuchKey) => Err(no_key()),
        Err(crate::S3CodeError::TooLarge) => {
            Err(ipve(&format!("Unzipped size must be smaller than {} bytes", limits::CODE_SIZE_UNZIPPED_MAX)))
        }
        Err(crate::S3CodeError::Other(m)) => Err(ControlError::Service(format!("cannot read the code object: {m}"))),
    }
}

pub(crate) fn check_tags(tags: &BTreeMap<String, String>) -> Result<()> {
    if tags.len() > limits::TAGS_MAX {
        return Err(ControlError::InvalidParameterValue("Number of tags exceeds resource tag limit.".to_owned()));
    }
    let mut v = Vec::new();
    for (k, val) in tags {
        if k.is_empty() || k.chars().count() > limits::TAG_KEY_LEN_MAX {
            v.push(Violation::new(k, "tags", format!(
                "Map keys must satisfy constraint: [Member must have length less than or equal to {}, Member must have length greater than or equal to 1]",
                limits::TAG_KEY_LEN_MAX
            )));
        }
        if val.chars().count() > limits::TAG_VALUE_LEN_MAX {
            v.push(Violation::new(
                val,
                "tags",
                format!(
                    "Map value must satisfy constraint: [Member must have length less than or equal to {}]",
                    limits::TAG_VALUE_LEN_MAX
                ),
            ));
        }
    }
    validation(v)
}

impl Control {
    /// Refuses a runtime this host cannot run, naming what is missing.
    fn check_runtime(&self, runtime: Option<&str>) -> Result<()> {
        match (runtime, &self.settings.runtime_check) {
            (Some(rt), Some(check)) => check(rt).map_err(ControlError::InvalidParameterValue),
            _ => Ok(()),
        }
    }

    /// Looks up the version a qualifier names. `None` when it does not exist.
    fn lookup_qualified(
        tx: &mut dyn ReadTx,
        f: &Function,
        qualifier: Option<&str>,
    ) -> Result<Option<VersionRecord>, StoreError> {
        match qualifier.map(Qualifier::classify) {
            None | Some(Qualifier::Latest) => Ok(Some(f.latest.clone())),
            Some(Qualifier::Version(n)) => match Version::parse(&n) {
                Some(Version::Published(n)) => tx.version(f.id, n),
                _ => Ok(None),
            },
            Some(Qualifier::Alias(a)) => match tx.alias(f.id, &a)? {
                Some(alias) => match alias.function_version {
                    Version::Latest => Ok(Some(f.latest.clone())),
                    Version::Published(n) => tx.version(f.id, n),
                },
                None => Ok(None),
            },
        }
    }

    pub async fn create_function(&self, scope: &Scope, input: CreateFunction) -> Result<VersionView> {
        // 1. Model constraints, all reported together.
        let mut v = Vec::new();
        let parsed = match &input.function_name {
            None => {
                v.push(Violation::not_null("functionName"));
                None
            }
            Some(n) => names::check_function_name(n, NameShape::Plain, &mut v),
        };
        if input.config.role.is_none() {
            v.push(Violation::not_null("role"));
        }
        match &input.code {
            None => v.push(Violation::not_null("code")),
            Some(c) => {
                if let Some(k) = &c.source_kms_key_arn {
                    config::check_kms_key_arn(k, "code.sourceKMSKeyArn", &mut v);
                }
            }
        }
        config::check_patch(&input.config, &mut v);
        if let Some(pt) = &input.package_type
            && pt != "Zip"
            && pt != "Image"
        {
            v.push(Violation::enum_set(pt, "packageType", &["Zip", "Image"]));
        }
        if let Some(arn) = &input.code_signing_config_arn {
            code_signing::check_arn(arn, "codeSigningConfigArn", &mut v);
        }
        validation(v)?;
        let parsed = parsed.expect("validated");
        names::check_scope(scope, &parsed)?;
        let name = parsed.name;
        if name.len() > limits::FUNCTION_NAME_LEN_MAX {
            // AWS reports this one as InvalidParameterValueException, in validation wording.
            return Err(ControlError::InvalidParameterValue(model::validate::render(&[Violation::len_max(
                input.function_name.as_deref().unwrap_or_default(),
                "functionName",
                limits::FUNCTION_NAME_LEN_MAX,
            )])));
        }
        if let Some(arn) = &input.code_signing_config_arn {
            return Err(code_signing::config_not_found(arn));
        }

        // 2. Semantic rules.
        if input.package_type.as_deref() == Some("Image") {
            return Err(ControlError::InvalidParameterValue(
                "Versa runs zip packages only; PackageType Image is not supported.".to_owned(),
            ));
        }
        let zip = zip_from(&self.settings, input.code.unwrap_or_default(), false).await?;
        if input.config.runtime.is_none() || input.config.handler.is_none() {
            return Err(ControlError::InvalidParameterValue(
                "Runtime and Handler are mandatory parameters for functions created with deployment packages."
                    .to_owned(),
            ));
        }
        config::check_semantics(&input.config)?;
        self.check_runtime(input.config.runtime.as_deref())?;
        let tags = input.tags.unwrap_or_default();
        check_tags(&tags)?;
        let package = inspect_package_off_thread(zip).await?;

        // 3. Store the code, then the function.
        let layer_arns = input.config.layers.clone();
        let config = config::apply(config::defaults(), input.config);
        let now = stdx::time::now_ms();
        let latest = VersionRecord {
            version: Version::Latest,
            config,
            code: package.code,
            revision_id: new_revision(),
            last_modified_ms: now,
            config_rev: 1,
        };
        let published = input.publish.then(|| VersionRecord {
            version: Version::Published(1),
            revision_id: new_revision(),
            ..latest.clone()
        });
        // Layers are checked before the code is stored (and again where they are stored, in case
        // a layer version went in between).
        if let Some(arns) = layer_arns.clone() {
            let (s, unzipped) = (scope.clone(), package.code.unzipped_size);
            self.store
                .read(move |tx| {
                    layers::check_unzipped_total(unzipped, &layers::resolve_function_layers(tx, &s, &arns)?)
                })
                .await?;
        }
        let sha = package.code.sha256;
        let gate = self.store_code(sha, package.data).await?;
        let (s, n) = (scope.clone(), name.clone());
        let function = Function {
            id: FunctionId(0),
            name: name.clone(),
            latest: latest.clone(),
            next_version: if published.is_some() { 2 } else { 1 },
            tags,
            reserved_concurrency: None,
        };
        let mut published_for_tx = published.clone();
        let mut function = function;
        let written = self
            .write(&key(&s, &n), move |tx| {
                if tx.lock_function(&key(&s, &n))?.is_some() {
                    return Err(ControlError::ResourceConflict(format!("Function already exist: {n}")));
                }
                let layers = match &layer_arns {
                    Some(arns) => layers::resolve_function_layers(tx, &s, arns)?,
                    None => Vec::new(),
                };
                layers::check_unzipped_total(function.latest.code.unzipped_size, &layers)?;
                function.latest.config.layers = layers.clone();
                // Another node may have created it since the lock found nothing.
                let id = tx.insert_function(&s, &function).map_err(|e| match e {
                    store::StoreError::Conflict(_) => {
                        ControlError::ResourceConflict(format!("Function already exist: {n}"))
                    }
                    e => e.into(),
                })?;
                if let Some(v) = &mut published_for_tx {
                    v.config.layers = layers.clone();
                    tx.insert_version(id, v)?;
                }
                Ok(layers)
            })
            .await;
        drop(gate);
        let layers = self.unless_failed(written, sha).await?;

        // The answer shows the function as Lambda shows it right after creation: Pending, with
        // a revision that the (instant) transition to Active has already replaced.
        let mut record = published.unwrap_or(latest);
        record.config.layers = layers;
        record.revision_id = new_revision();
        Ok(VersionView {
            function_name: name.clone(),
            arn: function_arn(scope, &name),
            record,
            status: Status::Creating,
        })
    }

    /// Passes on the outcome of a write that was to reference the blob `sha`, which was stored
    /// for it. A failed write leaves the blob unreferenced (unless something else uses it), so
    /// it is collected: a failed operation stores nothing. The blob gate must be released.
    pub(crate) async fn unless_failed<T>(&self, written: Result<T>, sha: Sha256) -> Result<T> {
        if written.is_err() {
            self.collect_garbage(vec![sha]).await;
        }
        written
    }

    /// Reads a function (and the version a qualifier names) for GetFunction and
    /// GetFunctionConfiguration.
    pub async fn get_function(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionDetail> {
        let t = names::resolve_qualified(scope, function_name, NameShape::Namespaced, qualifier)?;
        let not_found = |t: &names::Target| match &t.qualifier {
            Some(q) => names::qualified_not_found(scope, &t.name, q),
            None => names::function_not_found(scope, &t.name),
        };
        if !names::can_exist(&t.name) {
            return Err(not_found(&t));
        }
        let (s, t2) = (scope.clone(), t.clone());
        let found = self
            .store
            .read_short(move |tx| {
                let Some(f) = tx.function(&key(&s, &t2.name))? else { return Ok::<_, StoreError>(None) };
                let record = Self::lookup_qualified(tx, &f, t2.qualifier.as_deref())?;
                Ok(Some((f.tags, f.reserved_concurrency, record)))
            })
            .await?;
        // A missing function and a missing version both name what was asked for.
        let Some((tags, reserved_concurrency, Some(record))) = found else { return Err(not_found(&t)) };
        let arn = match &t.qualifier {
            Some(q) => qualified_arn(scope, &t.name, q),
            None => function_arn(scope, &t.name),
        };
        let code_sha256 = record.code.sha256;
        Ok(FunctionDetail {
            view: VersionView { function_name: t.name, arn, record, status: Status::Active },
            code_sha256,
            tags,
            reserved_concurrency,
        })
    }

    pub async fn update_function_configuration(
        &self,
        scope: &Scope,
        function_name: &str,
        patch: ConfigPatch,
        revision_id: Option<String>,
    ) -> Result<VersionView> {
        let mut v = Vec::new();
        let parsed = names::check_function_name(function_name, NameShape::Plain, &mut v);
        config::check_patch(&patch, &mut v);
        validation(v)?;
        let parsed = parsed.expect("validated");
        names::check_scope(scope, &parsed)?;
        let name = parsed.name;
        if !names::can_exist(&name) {
            return Err(names::function_not_found(scope, &name));
        }
        config::check_semantics(&patch)?;
        self.check_runtime(patch.runtime.as_deref())?;
        let (s, n) = (scope.clone(), name.clone());
        let mut patch = patch;
        let layer_arns = patch.layers.take();
        let (record, released) = self
            .write(&key(&s, &n), move |tx| {
                let Some(mut f) = tx.lock_function(&key(&s, &n))? else {
                    return Err(names::function_not_found(&s, &n));
                };
                check_revision(revision_id.as_deref(), &f.latest.revision_id)?;
                let mut released = Vec::new();
                if let Some(arns) = &layer_arns {
                    let layers = layers::resolve_function_layers(tx, &s, arns)?;
                    layers::check_unzipped_total(f.latest.code.unzipped_size, &layers)?;
                    released = std::mem::replace(&mut f.latest.config.layers, layers);
                }
                f.latest.config = config::apply(f.latest.config.clone(), patch);
                f.latest.config_rev += 1;
                f.latest.last_modified_ms = stdx::time::now_ms();
                f.latest.revision_id = new_revision();
                tx.update_function(&f)?;
                Ok((f.latest, released))
            })
            .await?;
        self.collect_garbage(released.iter().map(|l| l.code.sha256).collect()).await;
        Ok(updating_view(scope, &name, record))
    }

    pub async fn update_function_code(
        &self,
        scope: &Scope,
        function_name: &str,
        input: UpdateCode,
    ) -> Result<VersionView> {
        let mut v = Vec::new();
        let parsed = names::check_function_name(function_name, NameShape::Plain, &mut v);
        if let Some(a) = &input.architectures {
            config::check_architectures(a, &mut v);
        }
        if let Some(k) = &input.code.source_kms_key_arn {
            config::check_kms_key_arn(k, "sourceKMSKeyArn", &mut v);
        }
        validation(v)?;
        let parsed = parsed.expect("validated");
        names::check_scope(scope, &parsed)?;
        let name = parsed.name;
        if !names::can_exist(&name) {
            return Err(names::function_not_found(scope, &name));
        }
        let zip = zip_from(&self.settings, input.code, true).await?;
        let package = inspect_package_off_thread(zip).await?;
        let architecture =
            input.architectures.as_ref().and_then(|a| a.first()).and_then(|a| model::function::Architecture::parse(a));

        if input.dry_run {
            // Every check, nothing stored.
            let (s, n, rev, dry_unzipped) =
                (scope.clone(), name.clone(), input.revision_id.clone(), package.code.unzipped_size);
            let mut record = self
                .store
                .read(move |tx| {
                    let Some(f) = tx.function(&key(&s, &n))? else { return Err(names::function_not_found(&s, &n)) };
                    check_revision(rev.as_deref(), &f.latest.revision_id)?;
                    layers::check_unzipped_total(dry_unzipped, &f.latest.config.layers)?;
                    Ok(f.latest)
                })
                .await?;
            record.code = package.code;
            if let Some(a) = architecture {
                record.config.architecture = a;
            }
            return Ok(VersionView {
                function_name: name.clone(),
                arn: function_arn(scope, &name),
                record,
                status: Status::Active,
            });
        }

        // The function's layers and the new code must fit together; checked before the code is
        // stored, and again where it is stored.
        let (s, n, unzipped) = (scope.clone(), name.clone(), package.code.unzipped_size);
        self.store
            .read(move |tx| match tx.function(&key(&s, &n))? {
                Some(f) => layers::check_unzipped_total(unzipped, &f.latest.config.layers),
                None => Err(names::function_not_found(&s, &n)),
            })
            .await?;
        let sha = package.code.sha256;
        let gate = self.store_code(sha, package.data).await?;
        let (s, n, publish, revision_id, code) =
            (scope.clone(), name.clone(), input.publish, input.revision_id, package.code);
        let written = self
            .write(&key(&s, &n), move |tx| {
                let Some(mut f) = tx.lock_function(&key(&s, &n))? else {
                    return Err(names::function_not_found(&s, &n));
                };
                check_revision(revision_id.as_deref(), &f.latest.revision_id)?;
                layers::check_unzipped_total(code.unzipped_size, &f.latest.config.layers)?;
                let old_code = f.latest.code.sha256;
                f.latest.code = code;
                if let Some(a) = architecture {
                    f.latest.config.architecture = a;
                }
                f.latest.config_rev += 1;
                let now = stdx::time::now_ms();
                f.latest.last_modified_ms = now;
                f.latest.revision_id = new_revision();
                let published = if publish {
                    let v = VersionRecord {
                        version: Version::Published(f.next_version),
                        revision_id: new_revision(),
                        ..f.latest.clone()
                    };
                    tx.insert_version(f.id, &v)?;
                    f.next_version += 1;
                    Some(v)
                } else {
                    None
                };
                tx.update_function(&f)?;
                Ok((f.latest, published, old_code))
            })
            .await;
        drop(gate);
        let (latest, published, old_code) = self.unless_failed(written, sha).await?;
        self.collect_garbage(vec![old_code]).await;
        Ok(match published {
            Some(mut record) => {
                let arn = qualified_arn(scope, &name, &record.version);
                // Like CreateFunction, the answer shows the new version still being created.
                record.revision_id = new_revision();
                VersionView { function_name: name, arn, record, status: Status::Creating }
            }
            None => updating_view(scope, &name, latest),
        })
    }

    pub async fn publish_version(
        &self,
        scope: &Scope,
        function_name: &str,
        input: PublishVersion,
    ) -> Result<VersionView> {
        let mut v = Vec::new();
        let parsed = names::check_function_name(function_name, NameShape::Plain, &mut v);
        if let Some(d) = &input.description {
            config::check_description(d, &mut v);
        }
        validation(v)?;
        let parsed = parsed.expect("validated");
        names::check_scope(scope, &parsed)?;
        let name = parsed.name;
        if !names::can_exist(&name) {
            return Err(names::function_not_found(scope, &name));
        }
        let (s, n) = (scope.clone(), name.clone());
        let record = self
            .write(&key(&s, &n), move |tx| {
                let Some(mut f) = tx.lock_function(&key(&s, &n))? else {
                    return Err(names::function_not_found(&s, &n));
                };
                check_revision(input.revision_id.as_deref(), &f.latest.revision_id)?;
                if let Some(given) = &input.code_sha256 {
                    let current = base64_sha(&f.latest.code.sha256);
                    if *given != current {
                        return Err(ControlError::InvalidParameterValue(format!(
                            "CodeSHA256 ({given}) is different from current CodeSHA256 in $LATEST ({current}). Please \
                             try again with the CodeSHA256 in $LATEST."
                        )));
                    }
                }
                // Nothing changed since the newest version was cut: that version is the answer.
                if let Some(newest) = tx.highest_version(f.id)?
                    && newest.config_rev == f.latest.config_rev
                {
                    return Ok(newest);
                }
                let mut version = VersionRecord {
                    version: Version::Published(f.next_version),
                    revision_id: new_revision(),
                    last_modified_ms: stdx::time::now_ms(),
                    ..f.latest.clone()
                };
                if let Some(d) = input.description {
                    version.config.description = d;
                }
                tx.insert_version(f.id, &version)?;
                f.next_version += 1;
                f.latest.revision_id = new_revision();
                tx.update_function(&f)?;
                Ok(version)
            })
            .await?;
        let arn = qualified_arn(scope, &name, &record.version);
        Ok(VersionView { function_name: name, arn, record, status: Status::Active })
    }

    pub async fn delete_function(&self, scope: &Scope, function_name: &str, qualifier: Option<&str>) -> Result<()> {
        let t = names::resolve_qualified(scope, function_name, NameShape::Namespaced, qualifier)?;
        let target = match t.qualifier.as_deref().map(Qualifier::classify) {
            None => None,
            Some(Qualifier::Latest) => {
                return Err(ControlError::InvalidParameterValue(
                    "$LATEST version cannot be deleted without deleting the function.".to_owned(),
                ));
            }
            Some(Qualifier::Version(n)) => Some(n),
            Some(Qualifier::Alias(_)) => None,
        };
        if !names::can_exist(&t.name) {
            return Err(names::function_not_found(scope, &t.name));
        }
        let is_alias = matches!(t.qualifier.as_deref().map(Qualifier::classify), Some(Qualifier::Alias(_)));
        let deleted_version = target.clone();
        let (s, n) = (scope.clone(), t.name.clone());
        let released: Vec<Sha256> = self
            .write(&key(&s, &n), move |tx| {
                let Some(f) = tx.lock_function(&key(&s, &n))? else {
                    return Err(names::function_not_found(&s, &n));
                };
                if is_alias {
                    return Err(ControlError::InvalidParameterValue(
                        "Deletion of aliases is not currently supported.".to_owned(),
                    ));
                }
                match target {
                    None => {
                        let mut released = code_of(&f.latest);
                        for v in tx.versions(f.id, None, usize::MAX)? {
                            released.extend(code_of(&v));
                        }
                        tx.delete_function(f.id)?;
                        Ok(released)
                    }
                    Some(text) => {
                        // A number no version can have is a version that does not exist: 204.
                        let Some(Version::Published(number)) = Version::parse(&text) else { return Ok(Vec::new()) };
                        let Some(version) = tx.version(f.id, number)? else { return Ok(Vec::new()) };
                        let aliases = tx.aliases_referencing(f.id, number)?;
                        if !aliases.is_empty() {
                            return Err(ControlError::ResourceConflict(format!(
                                "Unable to delete version because the following aliases reference it: [{}]",
                                aliases.join(", ")
                            )));
                        }
                        tx.delete_version(f.id, number)?;
                        Ok(code_of(&version))
                    }
                }
            })
            .await?;
        self.changed(scope, &t.name);
        if let Some(m) = &self.settings.metrics {
            m.forget(scope.account.as_str(), scope.region.as_str(), &t.name, deleted_version.as_deref());
        }
        self.collect_garbage(released).await;
        Ok(())
    }

    pub async fn list_functions(
        &self,
        scope: &Scope,
        master_region: Option<&str>,
        function_version: Option<&str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<FunctionList> {
        let mut v = Vec::new();
        if let Some(fv) = function_version
            && fv != "ALL"
        {
            v.push(Violation::enum_set(fv, "functionVersion", &["ALL"]));
        }
        if let Some(mr) = master_region {
            let ok = mr == "ALL" || model::scope::RegionPattern::GOV_ONLY.matches(mr);
            if !ok {
                v.push(Violation::pattern(mr, "masterRegion", r"ALL|[a-z]{2}(-gov)?-[a-z]+-\d{1}"));
            }
        }
        check_max_items(max_items, &mut v);
        validation(v)?;
        // `MasterRegion` keeps only Lambda@Edge replicas of that region's (or, `ALL`, any
        // region's) functions; Versa has none.
        if master_region.is_some() {
            return Ok(FunctionList { functions: Vec::new(), next_marker: None });
        }
        let limit = page_size(max_items);
        let all = function_version.is_some();
        let cursor = match marker {
            None => None,
            Some(m) => Some(decode_marker(m)?),
        };
        let s = scope.clone();
        // Each entry is (function name, record). The marker is "<name>" or, with ALL,
        // "<name>\n<version>" of the last entry returned.
        let (entries, more) = self
            .store
            .read(move |tx| {
                let mut out: Vec<(String, VersionRecord)> = Vec::new();
                let (mut after_name, mut resume): (Option<String>, Option<(String, String)>) = match &cursor {
                    None => (None, None),
                    Some(c) => match c.split_once('\n') {
                        Some((n, ver)) if all => (None, Some((n.to_owned(), ver.to_owned()))),
                        _ => (Some(c.clone()), None),
                    },
                };
                // Resume inside a function's versions.
                if let Some((n, ver)) = resume.take() {
                    if let Some(f) = tx.function(&key(&s, &n))? {
                        let after = if ver == Version::LATEST { 0 } else { ver.parse::<u32>().unwrap_or(u32::MAX) };
                        for rec in tx.versions(f.id, Some(after), limit + 1 - out.len())? {
                            out.push((n.clone(), rec));
                        }
                    }
                    after_name = Some(n);
                }
                while out.len() <= limit {
                    let batch = tx.functions(&s, after_name.as_deref(), limit + 1 - out.len())?;
                    if batch.is_empty() {
                        break;
                    }
                    for f in batch {
                        after_name = Some(f.name.clone());
                        let (name, id) = (f.name.clone(), f.id);
                        out.push((name.clone(), f.latest));
                        if all && out.len() <= limit {
                            for rec in tx.versions(id, None, limit + 1 - out.len())? {
                                out.push((name.clone(), rec));
                            }
                        }
                        if out.len() > limit {
                            break;
                        }
                    }
                }
                let more = out.len() > limit;
                out.truncate(limit);
                Ok::<_, StoreError>((out, more))
            })
            .await?;
        let next_marker = if more {
            entries
                .last()
                .map(|(n, r)| if all { encode_marker(&format!("{n}\n{}", r.version)) } else { encode_marker(n) })
        } else {
            None
        };
        let functions = entries
            .into_iter()
            .map(|(name, record)| {
                let arn = if all { qualified_arn(scope, &name, &record.version) } else { function_arn(scope, &name) };
                VersionView { function_name: name, arn, record, status: Status::Active }
            })
            .collect();
        Ok(FunctionList { functions, next_marker })
    }

    pub async fn list_versions(
        &self,
        scope: &Scope,
        function_name: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<VersionPage> {
        let mut v = Vec::new();
        let parsed = names::check_function_name(function_name, NameShape::Namespaced, &mut v);
        check_max_items(max_items, &mut v);
        validation(v)?;
        let parsed = parsed.expect("validated");
        names::check_scope(scope, &parsed)?;
        let name = parsed.name;
        if !names::can_exist(&name) {
            return Err(names::function_not_found(scope, &name));
        }
        let limit = page_size(max_items);
        // The marker is the last version returned: "$LATEST" or a number.
        let after: Option<u32> = match marker {
            None => None,
            Some(m) => {
                let m = decode_marker(m)?;
                Some(if m == Version::LATEST { 0 } else { m.parse().map_err(|_| invalid_marker())? })
            }
        };
        let (s, n) = (scope.clone(), name.clone());
        let (records, more) = self
            .store
            .read(move |tx| {
                let Some(f) = tx.function(&key(&s, &n))? else { return Err(names::function_not_found(&s, &n)) };
                let mut out = Vec::new();
                if after.is_none() {
                    out.push(f.latest);
                }
                out.extend(tx.versions(f.id, after, limit + 1 - out.len())?);
                let more = out.len() > limit;
                out.truncate(limit);
                Ok((out, more))
            })
            .await?;
        let next_marker = if more { records.last().map(|r| encode_marker(&r.version.to_string())) } else { None };
        let versions = records
            .into_iter()
            .map(|record| VersionView {
                function_name: name.clone(),
                arn: qualified_arn(scope, &name, &record.version),
                record,
                status: Status::Active,
            })
            .collect();
        Ok(VersionPage { versions, next_marker })
    }

    pub async fn account_usage(&self, scope: &Scope) -> Result<AccountUsage> {
        let s = scope.clone();
        Ok(self.store.read(move |tx| tx.account_usage(&s)).await?)
    }

    /// Fetches a stored code package, for the `Code.Location` download.
    pub async fn code_package(&self, sha: Sha256) -> Result<Option<Vec<u8>>> {
        let blobs = self.blobs.clone();
        blocking(move || blobs.get(&sha)).await
    }
}

/// Every code blob a version uses: its package and its layers'.
fn code_of(v: &VersionRecord) -> Vec<Sha256> {
    std::iter::once(v.code.sha256).chain(v.config.layers.iter().map(|l| l.code.sha256)).collect()
}

fn updating_view(scope: &Scope, name: &str, mut record: VersionRecord) -> VersionView {
    // The answer carries the in-progress revision; the stored one is the settled state's.
    record.revision_id = new_revision();
    VersionView { function_name: name.to_owned(), arn: function_arn(scope, name), record, status: Status::Updating }
}

/// Standard base64 of a digest, as `CodeSha256` shows it.
pub fn base64_sha(sha: &Sha256) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(sha.0)
}

pub(crate) fn check_max_items(max_items: Option<i64>, v: &mut Vec<Violation>) {
    if let Some(m) = max_items {
        if m < 1 {
            v.push(Violation::value_min(m, "maxItems", 1));
        }
        if m > limits::LIST_MAX_ITEMS_MAX {
            v.push(Violation::value_max(m, "maxItems", limits::LIST_MAX_ITEMS_MAX));
        }
    }
}

/// Items on one page: what the caller asked for, but never more than Lambda's page maximum.
pub(crate) fn page_size(max_items: Option<i64>) -> usize {
    max_items.map_or(limits::LIST_PAGE_MAX, |m| (m.max(1) as usize).min(limits::LIST_PAGE_MAX))
}

/// Markers are opaque to clients: hex of the position text.
pub(crate) fn encode_marker(position: &str) -> String {
    stdx::hex::encode(position.as_bytes())
}

pub(crate) fn decode_marker(marker: &str) -> Result<String> {
    stdx::hex::decode(marker).and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid_marker)
}

fn invalid_marker() -> ControlError {
    ControlError::InvalidParameterValue("The marker provided is not valid.".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_sha_is_standard_base64() {
        // SHA-256 of the empty string.
        let sha = blobs::sha256(b"");
        assert_eq!(base64_sha(&sha), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }
}
