//! Function URL configurations (reference §2.4, §10.1): one URL for the unqualified function
//! and one per alias, each with a URL id that never changes, and [`Control::url_target`], which
//! the URL server uses to find where a request goes.

use model::arn::{function_arn, qualified_arn};
use model::function::FunctionId;
use model::name::{NameShape, Version};
use model::policy::{Cors, FunctionUrl, UrlAuthType};
use model::scope::Scope;
use model::validate::Violation;
use store::{FunctionKey, StoreError, UrlTarget, WriteTx};

use crate::functions::{decode_marker, encode_marker};
use crate::names;
use crate::{Control, ControlError, Result, validation};

/// Largest `MaxItems` of ListFunctionUrlConfigs.
const PAGE_MAX: i64 = 50;
const QUALIFIER_PATTERN: &str = "((?!^\\d+$)^[0-9a-zA-Z-_]+$)";
const AUTH_TYPES: &[&str] = &["NONE", "AWS_IAM"];
const INVOKE_MODES: &[&str] = &["BUFFERED", "RESPONSE_STREAM"];
const CORS_METHODS_MAX: usize = 6;
const CORS_METHOD_LEN_MAX: usize = 6;
const CORS_ORIGINS_MAX: usize = 100;
const CORS_ORIGIN_LEN_MAX: usize = 253;
const CORS_HEADERS_MAX: usize = 100;
const CORS_HEADER_LEN_MAX: usize = 1024;
const CORS_MAX_AGE_MAX: i64 = 86_400;
const NO_SUCH_RESOURCE: &str = "The resource you requested does not exist.";
const NO_SUCH_FUNCTION: &str = "Function does not exist";

/// Create/UpdateFunctionUrlConfig's members, as given.
#[derive(Debug, Clone, Default)]
pub struct UrlInput {
    pub auth_type: Option<String>,
    pub cors: Option<Cors>,
    pub invoke_mode: Option<String>,
}

/// A function URL configuration with the ARN it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlView {
    /// The unqualified or alias-qualified ARN.
    pub function_arn: String,
    pub url: FunctionUrl,
}

fn check_qualifier(q: &str, v: &mut Vec<Violation>) {
    let ok = !q.is_empty()
        && !q.bytes().all(|b| b.is_ascii_digit())
        && q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        v.push(Violation::pattern(q, "qualifier", QUALIFIER_PATTERN));
    }
    if q.len() > model::limits::QUALIFIER_LEN_MAX {
        v.push(Violation::len_max(q, "qualifier", model::limits::QUALIFIER_LEN_MAX));
    }
}

fn check_list(
    items: &Option<Vec<String>>,
    field: &str,
    count_max: usize,
    len_min: usize,
    len_max: usize,
    v: &mut Vec<Violation>,
) {
    let Some(items) = items else { return };
    if items.len() > count_max {
        v.push(Violation::len_max(&format!("[{}]", items.join(", ")), field, count_max));
    }
    // One violation for the list, naming each member constraint some item breaks (as for
    // `Layers`), however many items break it.
    let mut failed = Vec::new();
    if items.iter().any(|i| i.len() > len_max) {
        failed.push(format!("Member must have length less than or equal to {len_max}"));
    }
    if items.iter().any(|i| i.len() < len_min) {
        failed.push(format!("Member must have length greater than or equal to {len_min}"));
    }
    if !failed.is_empty() {
        v.push(Violation::new(
            format!("[{}]", items.join(", ")),
            field,
            format!("Member must satisfy constraint: [{}]", failed.join(", ")),
        ));
    }
}

fn check_input(input: &UrlInput, create: bool, v: &mut Vec<Violation>) {
    match &input.auth_type {
        None if create => v.push(Violation::not_null("authType")),
        Some(t) if !AUTH_TYPES.contains(&t.as_str()) => v.push(Violation::enum_set(t, "authType", AUTH_TYPES)),
        _ => {}
    }
    if let Some(m) = &input.invoke_mode
        && !INVOKE_MODES.contains(&m.as_str())
    {
        v.push(Violation::enum_set(m, "invokeMode", INVOKE_MODES));
    }
    if let Some(c) = &input.cors {
        check_list(&c.allow_methods, "cors.allowMethods", CORS_METHODS_MAX, 0, CORS_METHOD_LEN_MAX, v);
        check_list(&c.allow_origins, "cors.allowOrigins", CORS_ORIGINS_MAX, 1, CORS_ORIGIN_LEN_MAX, v);
        check_list(&c.allow_headers, "cors.allowHeaders", CORS_HEADERS_MAX, 0, CORS_HEADER_LEN_MAX, v);
        check_list(&c.expose_headers, "cors.exposeHeaders", CORS_HEADERS_MAX, 0, CORS_HEADER_LEN_MAX, v);
        if let Some(age) = c.max_age {
            if age < 0 {
                v.push(Violation::value_min(age, "cors.maxAge", 0));
            }
            if age > CORS_MAX_AGE_MAX {
                v.push(Violation::value_max(age, "cors.maxAge", CORS_MAX_AGE_MAX));
            }
        }
    }
}

/// A new URL id: 32 characters of `[a-z0-9]`.
fn new_url_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Control {
    /// Validates the name and qualifier; returns the function name and the qualifier (`None`
    /// for the unqualified function).
    fn url_target_name(
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
        extra: impl FnOnce(&mut Vec<Violation>),
    ) -> Result<(String, Option<String>)> {
        let mut v = Vec::new();
        let _ = names::check_function_name(function_name, NameShape::Plain, &mut v);
        if let Some(q) = qualifier {
            check_qualifier(q, &mut v);
        }
        extra(&mut v);
        validation(v)?;
        let t = names::resolve_qualified(scope, function_name, NameShape::Plain, qualifier)?;
        if let Some(q) = &t.qualifier {
            let mut v = Vec::new();
            check_qualifier(q, &mut v);
            validation(v)?;
        }
        Ok((t.name, t.qualifier))
    }

    /// CreateFunctionUrlConfig.
    pub async fn create_function_url(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
        input: UrlInput,
    ) -> Result<UrlView> {
        let (name, q) = Self::url_target_name(scope, function_name, qualifier, |v| check_input(&input, true, v))?;
        if !names::can_exist(&name) {
            return Err(ControlError::ResourceNotFound(NO_SUCH_FUNCTION.to_owned()));
        }
        let arn = match &q {
            Some(q) => qualified_arn(scope, &name, q),
            None => function_arn(scope, &name),
        };
        let (s, n) = (scope.clone(), name.clone());
        let now = stdx::time::now_ms();
        let url = FunctionUrl {
            url_id: new_url_id(),
            auth_type: UrlAuthType::parse(input.auth_type.as_deref().unwrap_or_default()).expect("validated"),
            cors: input.cors,
            invoke_mode: input.invoke_mode,
            creation_ms: now,
            last_modified_ms: now,
        };
        let stored = url.clone();
        let view_arn = arn.clone();
        self.write(&FunctionKey { scope: s.clone(), name: n.clone() }, move |tx| {
            let id = lock_url_function(tx, s, n, q.as_deref())?;
            let key = url_key(&q);
            if tx.function_url(id, &key)?.is_some() {
                return Err(ControlError::ResourceConflict(format!(
                    "Failed to create function url config for [functionArn = {arn}]. Error message:  \
                     FunctionUrlConfig exists for this Lambda function"
                )));
            }
            tx.put_function_url(id, &key, &stored)?;
            Ok(())
        })
        .await?;
        Ok(UrlView { function_arn: view_arn, url })
    }

    /// GetFunctionUrlConfig.
    pub async fn get_function_url(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<UrlView> {
        let (name, q) = Self::url_target_name(scope, function_name, qualifier, |_| {})?;
        let nothing = || ControlError::ResourceNotFound(NO_SUCH_RESOURCE.to_owned());
        if !names::can_exist(&name) {
            return Err(nothing());
        }
        let (s, n, key) = (scope.clone(), name.clone(), url_key(&q));
        let url = self
            .store
            .read(move |tx| {
                let Some(f) = tx.function(&FunctionKey { scope: s, name: n })? else { return Ok(None) };
                tx.function_url(f.id, &key)
            })
            .await?
            .ok_or_else(nothing)?;
        Ok(UrlView { function_arn: arn_of(scope, &name, &q), url })
    }

    /// UpdateFunctionUrlConfig: members given replace the stored ones.
    pub async fn update_function_url(
        &self,
        scope: &Scope,
        function_name: &str,
        qualifier: Option<&str>,
        input: UrlInput,
    ) -> Result<UrlView> {
        let (name, q) = Self::url_target_name(scope, function_name, qualifier, |v| check_input(&input, false, v))?;
        if !names::can_exist(&name) {
            return Err(ControlError::ResourceNotFound(NO_SUCH_FUNCTION.to_owned()));
        }
        let (s, n, key) = (scope.clone(), name.clone(), url_key(&q));
        let alias = q.clone();
        let url = self
            .write(&FunctionKey { scope: s.clone(), name: n.clone() }, move |tx| {
                let id = lock_url_function(tx, s, n, alias.as_deref())?;
                let Some(mut url) = tx.function_url(id, &key)? else {
                    return Err(ControlError::ResourceNotFound(NO_SUCH_RESOURCE.to_owned()));
                };
                if let Some(t) = &input.auth_type {
                    url.auth_type = UrlAuthType::parse(t).expect("validated");
                }
                if let Some(c) = input.cors {
                    url.cors = Some(c);
                }
                if let Some(m) = input.invoke_mode {
                    url.invoke_mode = Some(m);
                }
                url.last_modified_ms = stdx::time::now_ms();
                tx.put_function_url(id, &key, &url)?;
                Ok(url)
            })
            .await?;
        Ok(UrlView { function_arn: arn_of(scope, &name, &q), url })
    }

    /// DeleteFunctionUrlConfig.
    pub async fn delete_function_url(&self, scope: &Scope, function_name: &str, qualifier: Option<&str>) -> Result<()> {
        let (name, q) = Self::url_target_name(scope, function_name, qualifier, |_| {})?;
        let nothing = || ControlError::ResourceNotFound(NO_SUCH_RESOURCE.to_owned());
        if !names::can_exist(&name) {
            return Err(nothing());
        }
        let (s, n, key) = (scope.clone(), name.clone(), url_key(&q));
        self.write(&FunctionKey { scope: s.clone(), name: n.clone() }, move |tx| {
            let Some(f) = tx.lock_function(&FunctionKey { scope: s, name: n })? else {
                return Err(ControlError::ResourceNotFound(NO_SUCH_RESOURCE.to_owned()));
            };
            if tx.delete_function_url(f.id, &key)? {
                Ok(())
            } else {
                Err(ControlError::ResourceNotFound(NO_SUCH_RESOURCE.to_owned()))
            }
        })
        .await
    }

    /// ListFunctionUrlConfigs: the unqualified URL and every alias's, ordered by qualifier.
    pub async fn list_function_urls(
        &self,
        scope: &Scope,
        function_name: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<(Vec<UrlView>, Option<String>)> {
        let mut v = Vec::new();
        let _ = names::check_function_name(function_name, NameShape::Plain, &mut v);
        if let Some(m) = max_items {
            if m < 1 {
                v.push(Violation::value_min(m, "maxItems", 1));
            }
            if m > PAGE_MAX {
                v.push(Violation::value_max(m, "maxItems", PAGE_MAX));
            }
        }
        validation(v)?;
        let limit = max_items.unwrap_or(PAGE_MAX) as usize;
        let t = names::resolve_qualified(scope, function_name, NameShape::Plain, None)?;
        if !names::can_exist(&t.name) {
            return Err(ControlError::ResourceNotFound(NO_SUCH_FUNCTION.to_owned()));
        }
        let after = match marker {
            Some(m) => Some(decode_marker(m)?),
            None => None,
        };
        let (s, n) = (scope.clone(), t.name.clone());
        let (urls, more) = self
            .store
            .read(move |tx| {
                let Some(f) = tx.function(&FunctionKey { scope: s, name: n })? else { return Ok(None) };
                let mut urls = tx.function_urls(f.id, after.as_deref(), limit + 1)?;
                let more = urls.len() > limit;
                urls.truncate(limit);
                Ok::<_, StoreError>(Some((urls, more)))
            })
            .await?
            .ok_or_else(|| ControlError::ResourceNotFound(NO_SUCH_FUNCTION.to_owned()))?;
        let next = if more { urls.last().map(|(q, _)| encode_marker(q)) } else { None };
        let views = urls
            .into_iter()
            .map(|(q, url)| {
                let q = (q != Version::LATEST).then_some(q);
                UrlView { function_arn: arn_of(scope, &t.name, &q), url }
            })
            .collect();
        Ok((views, next))
    }

    /// Where a function URL leads, by its URL id.
    pub async fn url_target(&self, url_id: &str) -> Result<Option<UrlTarget>> {
        let id = url_id.to_owned();
        Ok(self.store.read(move |tx| tx.function_url_target(&id)).await?)
    }
}

/// Locks the function a URL operation names and checks its alias, if any, exists; both
/// missing cases are `Function does not exist`, as Create/UpdateFunctionUrlConfig answer.
fn lock_url_function(tx: &mut dyn WriteTx, scope: Scope, name: String, alias: Option<&str>) -> Result<FunctionId> {
    let missing = || ControlError::ResourceNotFound(NO_SUCH_FUNCTION.to_owned());
    let f = tx.lock_function(&FunctionKey { scope, name })?.ok_or_else(missing)?;
    if let Some(a) = alias
        && tx.alias(f.id, a)?.is_none()
    {
        return Err(missing());
    }
    Ok(f.id)
}

fn url_key(qualifier: &Option<String>) -> String {
    qualifier.clone().unwrap_or_else(|| Version::LATEST.to_owned())
}

fn arn_of(scope: &Scope, name: &str, qualifier: &Option<String>) -> String {
    match qualifier {
        Some(q) => qualified_arn(scope, name, q),
        None => function_arn(scope, name),
    }
}
