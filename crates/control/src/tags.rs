//! Tags: TagResource, UntagResource, ListTags, and GetAccountSettings' neighbour checks.

use std::collections::BTreeMap;

use model::arn::{ResourceArn, TAGGABLE_RESOURCE_PATTERN, TaggableResource};
use model::scope::Scope;
use model::validate::Violation;
use store::FunctionKey;

use crate::names;
use crate::{Control, ControlError, Result, new_revision, validation};

const RESOURCE_LEN_MAX: usize = 256;

/// What a tag operation's `Resource` names.
enum Tagged {
    Function(String),
    /// An event source mapping's UUID.
    Mapping(String),
}

/// Validates a tag operation's `Resource` and returns what it names.
fn function_resource(scope: &Scope, resource: &str, extra: Vec<Violation>) -> Result<Tagged> {
    let mut v = Vec::new();
    let parsed = ResourceArn::parse(resource);
    if parsed.is_none() {
        v.push(Violation::pattern(resource, "resource", TAGGABLE_RESOURCE_PATTERN));
    }
    if resource.len() > RESOURCE_LEN_MAX {
        v.push(Violation::len_max(resource, "resource", RESOURCE_LEN_MAX));
    }
    v.extend(extra);
    validation(v)?;
    let arn = parsed.expect("validated");
    if arn.region != scope.region.as_str() {
        return Err(ControlError::ResourceNotFound(format!(
            "Functions from '{}' are not reachable in this region ('{}')",
            arn.region, scope.region
        )));
    }
    if arn.account != scope.account.as_str() {
        return Err(ControlError::AccessDenied(String::new()));
    }
    match arn.resource {
        TaggableResource::Function { qualifier: Some(_), .. } => Err(ControlError::InvalidParameterValue(
            "Tags on function aliases and versions are not supported. Please specify a function ARN.".to_owned(),
        )),
        TaggableResource::Function { name, qualifier: None } => Ok(Tagged::Function(name)),
        TaggableResource::Other if resource.contains(":event-source-mapping:") => {
            Ok(Tagged::Mapping(resource.rsplit(':').next().unwrap_or_default().to_owned()))
        }
        // Versa has no code signing configs or capacity providers.
        TaggableResource::Other => {
            Err(ControlError::ResourceNotFound("The resource you requested does not exist.".to_owned()))
        }
    }
}

impl Control {
    pub async fn tag_resource(
        &self,
        scope: &Scope,
        resource: &str,
        tags: Option<BTreeMap<String, String>>,
    ) -> Result<()> {
        let extra = if tags.is_none() { vec![Violation::not_null("tags")] } else { Vec::new() };
        let target = function_resource(scope, resource, extra)?;
        let tags = tags.expect("validated");
        if tags.is_empty() {
            return Err(ControlError::InvalidParameterValue(
                "An error occurred and the request cannot be processed.".to_owned(),
            ));
        }
        crate::functions::check_tags(&tags)?;
        let name = match target {
            Tagged::Function(name) => name,
            Tagged::Mapping(uuid) => return self.edit_esm_tags(scope, &uuid, resource, move |t| t.extend(tags)).await,
        };
        let s = scope.clone();
        self.write(&FunctionKey { scope: s.clone(), name: name.clone() }, move |tx| {
            let Some(mut f) = tx.lock_function(&FunctionKey { scope: s.clone(), name: name.clone() })? else {
                return Err(names::function_not_found(&s, &name));
            };
            f.tags.extend(tags);
            crate::functions::check_tags(&f.tags)?;
            f.latest.revision_id = new_revision();
            tx.update_function(&f)?;
            Ok(())
        })
        .await
    }

    pub async fn untag_resource(&self, scope: &Scope, resource: &str, keys: Vec<String>) -> Result<()> {
        let extra = if keys.is_empty() { vec![Violation::not_null("tagKeys")] } else { Vec::new() };
        let name = match function_resource(scope, resource, extra)? {
            Tagged::Function(name) => name,
            Tagged::Mapping(uuid) => {
                return self
                    .edit_esm_tags(scope, &uuid, resource, move |t| {
                        for k in &keys {
                            t.remove(k);
                        }
                    })
                    .await;
            }
        };
        let s = scope.clone();
        self.write(&FunctionKey { scope: s.clone(), name: name.clone() }, move |tx| {
            let Some(mut f) = tx.lock_function(&FunctionKey { scope: s.clone(), name: name.clone() })? else {
                return Err(names::function_not_found(&s, &name));
            };
            for k in &keys {
                f.tags.remove(k);
            }
            f.latest.revision_id = new_revision();
            tx.update_function(&f)?;
            Ok(())
        })
        .await
    }

    pub async fn list_tags(&self, scope: &Scope, resource: &str) -> Result<BTreeMap<String, String>> {
        let name = match function_resource(scope, resource, Vec::new())? {
            Tagged::Function(name) => name,
            Tagged::Mapping(uuid) => return self.esm_tags(scope, &uuid, resource).await,
        };
        let s = scope.clone();
        self.store
            .read(move |tx| match tx.function(&FunctionKey { scope: s.clone(), name: name.clone() })? {
                Some(f) => Ok(f.tags),
                None => Err(names::function_not_found(&s, &name)),
            })
            .await
    }
}
