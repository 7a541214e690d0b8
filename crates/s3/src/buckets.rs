//! Bucket operations: CreateBucket, HeadBucket, DeleteBucket, ListBuckets, GetBucketLocation,
//! ListObjects (v1 and v2), the notification configuration, and the fixed answers of bucket
//! configurations Versa does not keep.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Response, StatusCode};

use crate::DestinationError;
use crate::body::{check_small, read_small};
use crate::encode::form_encode_key;
use crate::error::ApiError;
use crate::headers::{header, quoted, set};
use crate::list::{self, After, Entry};
use crate::names::is_valid_bucket_name;
use crate::notify::{self, Target};
use crate::router::Endpoint;
use crate::service::{Call, Inner, canonical_id, empty_response, owned_bucket, xml_response};
use crate::store::{self, BucketRow};
use crate::xml::{self, Writer};

/// The region S3 reports as an empty LocationConstraint.
const US_EAST_1: &str = "us-east-1";

pub async fn list_buckets(inner: &Arc<Inner>, call: &Call) -> Result<Response<Body>, ApiError> {
    let account = call.origin.account.clone();
    let buckets = inner.blocking(move |inner| inner.db.read(|tx| Ok(store::list_buckets(tx, &account)?))).await?;
    let prefix = call.query.get("prefix").unwrap_or_default();
    let after = call.query.get("continuation-token").unwrap_or_default();
    let max = match call.query.get("max-buckets") {
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => {
                return Err(ApiError::InvalidArgument {
                    message: "Argument max-buckets must be an integer between 1 and 10000",
                    name: "max-buckets".into(),
                    value: v.to_owned(),
                });
            }
        },
        None => usize::MAX,
    };
    let mut selected: Vec<&BucketRow> =
        buckets.iter().filter(|b| b.name.starts_with(prefix) && b.name.as_str() > after).collect();
    let truncated = selected.len() > max;
    selected.truncate(max);
    let owner = canonical_id(&call.origin.account);
    let mut w = Writer::new("ListAllMyBucketsResult");
    w.open("Owner").elem("ID", &owner).elem("DisplayName", &call.origin.account).close("Owner");
    w.open("Buckets");
    for b in &selected {
        w.open("Bucket")
            .elem("Name", &b.name)
            .elem("CreationDate", &stdx::time::format_iso8601_ms(b.created_ms))
            .elem("BucketRegion", &b.region)
            .close("Bucket");
    }
    w.close("Buckets");
    if truncated && let Some(last) = selected.last() {
        w.elem("ContinuationToken", &last.name);
    }
    if call.query.has("prefix") {
        w.elem("Prefix", prefix);
    }
    Ok(xml_response(w.finish()))
}

/// The region a CreateBucketConfiguration body asks for (`None` without a LocationConstraint).
pub(crate) fn location_constraint(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let root = xml::parse(body).map_err(|_| ApiError::MalformedXML)?;
    if root.name != "CreateBucketConfiguration" {
        return Err(ApiError::MalformedXML);
    }
    root.child_text("LocationConstraint")
        .map(|r| match r.trim() {
            "" => Ok(US_EAST_1.to_owned()),
            // The legacy name of eu-west-1.
            "EU" => Ok("eu-west-1".to_owned()),
            // us-east-1 is written as no constraint; naming it is refused, as AWS does.
            r if r != US_EAST_1 && is_region(r) => Ok(r.to_owned()),
            _ => Err(ApiError::InvalidLocationConstraint),
        })
        .transpose()
}

/// `xx-name-N` (with `-gov`/`-iso…` partitions' longer names): a region's shape.
fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 4
        && parts[0].len() == 2
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

pub async fn create_bucket(inner: &Arc<Inner>, call: &Call, body: Body) -> Result<Response<Body>, ApiError> {
    let name = call.bucket.clone();
    if !is_valid_bucket_name(&name) {
        return Err(ApiError::InvalidBucketName { bucket: name });
    }
    if header(&call.headers, "x-amz-bucket-object-lock-enabled").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(ApiError::NotImplemented { header: "x-amz-bucket-object-lock-enabled".into() });
    }
    let body = read_small(body, inner.limits.xml_body_bytes_max, call.payload_check.as_ref()).await?;
    let region = location_constraint(&body)?.unwrap_or_else(|| call.region.clone());
    let account = call.origin.account.clone();
    let request_region = call.region.clone();
    let created = name.clone();
    inner
        .blocking(move |inner| {
            let max = inner.limits.buckets_per_account_max;
            inner.db.write(|tx| {
                match store::get_bucket(tx, &name)? {
                    // S3 in us-east-1 answers 200 to its owner re-creating a us-east-1 bucket;
                    // every other region answers 409.
                    Some(b)
                        if b.owner == account
                            && b.region == US_EAST_1
                            && region == US_EAST_1
                            && request_region == US_EAST_1 =>
                    {
                        Ok(())
                    }
                    Some(b) if b.owner == account => Err(ApiError::BucketAlreadyOwnedByYou { bucket: name.clone() }),
                    Some(_) => Err(ApiError::BucketAlreadyExists { bucket: name.clone() }),
                    None => {
                        if store::count_buckets(tx, &account)? >= u64::from(max) {
                            return Err(ApiError::TooManyBuckets);
                        }
                        let row = BucketRow {
                            name: name.clone(),
                            owner: account.clone(),
                            region: region.clone(),
                            created_ms: stdx::time::now_ms(),
                            notification: None,
                        };
                        if store::insert_bucket(tx, &row)? {
                            return Ok(());
                        }
                        // Created meanwhile by another node.
                        match store::get_bucket(tx, &name)? {
                            Some(b) if b.owner == account => {
                                Err(ApiError::BucketAlreadyOwnedByYou { bucket: name.clone() })
                            }
                            _ => Err(ApiError::BucketAlreadyExists { bucket: name.clone() }),
                        }
                    }
                }
            })
        })
        .await?;
    let mut r = empty_response(StatusCode::OK);
    set(r.headers_mut(), "location", &format!("/{created}"));
    Ok(r)
}

pub async fn head_bucket(inner: &Arc<Inner>, call: &Call) -> Result<Response<Body>, ApiError> {
    let b = inner.bucket(&call.bucket, &call.origin.account).await?;
    let mut r = empty_response(StatusCode::OK);
    set(r.headers_mut(), "x-amz-bucket-region", &b.region);
    set(r.headers_mut(), "x-amz-access-point-alias", "false");
    Ok(r)
}

pub async fn delete_bucket(inner: &Arc<Inner>, call: &Call) -> Result<Response<Body>, ApiError> {
    let (name, account) = (call.bucket.clone(), call.origin.account.clone());
    inner
        .blocking(move |inner| {
            inner.db.write(|tx| {
                // No object or upload may land in it between the check and the delete.
                store::lock_bucket(tx, &name)?;
                owned_bucket(tx, &name, &account)?;
                if store::bucket_has_content(tx, &name)? {
                    return Err(ApiError::BucketNotEmpty { bucket: name.clone() });
                }
                Ok(store::delete_bucket(tx, &name)?)
            })
        })
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub async fn get_bucket_location(inner: &Arc<Inner>, call: &Call) -> Result<Response<Body>, ApiError> {
    let b = inner.bucket(&call.bucket, &call.origin.account).await?;
    let region = if b.region == US_EAST_1 { "" } else { b.region.as_str() };
    Ok(xml_response(format!(
        r#"{}<LocationConstraint xmlns="{}">{}</LocationConstraint>"#,
        xml::DECLARATION,
        xml::NS,
        xml::escape(region)
    )))
}

/// The fixed answers for configurations Versa does not keep but tools read: versioning never
/// enabled, the owner's FULL_CONTROL ACL, SSE-S3 default encryption (S3's default since 2023).
pub async fn get_bucket_config(
    inner: &Arc<Inner>,
    call: &Call,
    endpoint: &Endpoint,
) -> Result<Response<Body>, ApiError> {
    inner.bucket(&call.bucket, &call.origin.account).await?;
    let body = match endpoint {
        Endpoint::GetBucketVersioning => {
            format!(r#"{}<VersioningConfiguration xmlns="{}"/>"#, xml::DECLARATION, xml::NS)
        }
        Endpoint::GetBucketEncryption => format!(
            r#"{}<ServerSideEncryptionConfiguration xmlns="{}"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>"#,
            xml::DECLARATION,
            xml::NS
        ),
        _ => owner_acl(&call.origin.account),
    };
    Ok(xml_response(body))
}

/// An AccessControlPolicy granting the owner FULL_CONTROL (S3's default ACL).
pub fn owner_acl(account: &str) -> String {
    let id = canonical_id(account);
    format!(
        r#"{}<AccessControlPolicy xmlns="{}"><Owner><ID>{id}</ID><DisplayName>{account}</DisplayName></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>{id}</ID><DisplayName>{account}</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>"#,
        xml::DECLARATION,
        xml::NS,
        account = xml::escape(account)
    )
}

pub async fn get_notification(inner: &Arc<Inner>, call: &Call) -> Result<Response<Body>, ApiError> {
    let b = inner.bucket(&call.bucket, &call.origin.account).await?;
    let doc = b.notification.unwrap_or_else(|| notify::render(&notify::Config::default()));
    Ok(xml_response(doc))
}

pub async fn put_notification(inner: &Arc<Inner>, call: &Call, body: Body) -> Result<Response<Body>, ApiError> {
    let bucket = inner.bucket(&call.bucket, &call.origin.account).await?;
    let body = read_small(body, inner.limits.xml_body_bytes_max, call.payload_check.as_ref()).await?;
    check_small(&call.headers, &body)?;
    let root = xml::parse(&body).map_err(|_| ApiError::MalformedXML)?;
    let config = notify::parse(&root, &bucket.region)?;
    let skip =
        header(&call.headers, "x-amz-skip-destination-validation").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !skip {
        let mut refused: Vec<(String, String)> = Vec::new();
        let mut checked: Vec<&str> = Vec::new();
        for d in &config.destinations {
            if checked.contains(&d.arn.as_str()) {
                continue;
            }
            checked.push(&d.arn);
            let reason = match d.target {
                Target::Queue => Some(("The destination queue does not exist".to_owned(), d.arn.clone())),
                Target::Topic => Some(("The destination topic does not exist".to_owned(), d.arn.clone())),
                Target::Lambda => match inner.notifier.check_destination(&d.arn, &bucket.name, &bucket.owner).await {
                    Ok(()) => None,
                    // AWS names a refused function as "<arn>, null".
                    Err(DestinationError::FunctionMissing) => {
                        Some(("The destination Lambda does not exist".to_owned(), format!("{}, null", d.arn)))
                    }
                    Err(DestinationError::NotAuthorized) => {
                        Some((format!("Not authorized to invoke function [{}]", d.arn), format!("{}, null", d.arn)))
                    }
                },
            };
            if let Some((why, name)) = reason {
                refused.push((name, why));
            }
        }
        if !refused.is_empty() {
            return Err(ApiError::DestinationsNotValidated(refused));
        }
    }
    let doc = (!config.destinations.is_empty() || config.event_bridge).then(|| notify::render(&config));
    let (name, account) = (bucket.name.clone(), call.origin.account.clone());
    inner
        .blocking(move |inner| {
            inner.db.write(|tx| {
                owned_bucket(tx, &name, &account)?;
                Ok(store::set_notification(tx, &name, doc.as_deref())?)
            })
        })
        .await?;
    Ok(empty_response(StatusCode::OK))
}

/// The three listings over the same walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// ListObjects: `marker`, `NextMarker` (with a delimiter), owners.
    V1,
    /// ListObjectsV2: `continuation-token`, `start-after`, `KeyCount`, owners on request.
    V2,
    /// ListObjectVersions of a bucket that was never versioned: every object is its only
    /// version, `null`, and there are no delete markers.
    Versions,
}

fn invalid_max_keys(name: &str, value: &str, negative: bool) -> ApiError {
    ApiError::InvalidArgument {
        message: if negative {
            "Argument maxKeys must be an integer between 0 and 2147483647"
        } else {
            "Provided max-keys not an integer or within integer range"
        },
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

/// ListObjects (v1), ListObjectsV2 and ListObjectVersions.
pub async fn list_objects(inner: &Arc<Inner>, call: &Call, kind: Listing) -> Result<Response<Body>, ApiError> {
    let q = &call.query;
    let bucket = inner.bucket(&call.bucket, &call.origin.account).await?;
    let prefix = q.get("prefix").unwrap_or_default().to_owned();
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty()).map(str::to_owned);
    let url = match q.get("encoding-type") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("url") => true,
        Some(v) => {
            return Err(ApiError::InvalidArgument {
                message: "Invalid Encoding Method specified in Request",
                name: "encoding-type".into(),
                value: v.to_owned(),
            });
        }
    };
    let max_keys = match q.get("max-keys") {
        None => inner.limits.keys_per_page_max,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 0 => u32::try_from(n).unwrap_or(u32::MAX).min(inner.limits.keys_per_page_max),
            Ok(_) => return Err(invalid_max_keys("maxKeys", v, true)),
            Err(_) => return Err(invalid_max_keys("max-keys", v, false)),
        },
    };
    let token = if kind == Listing::V2 { q.get("continuation-token") } else { None };
    let marker = match kind {
        Listing::V1 => q.get("marker"),
        Listing::V2 => q.get("start-after"),
        Listing::Versions => {
            if let Some(v) = q.get("version-id-marker").filter(|v| !v.is_empty() && *v != "null") {
                return Err(ApiError::InvalidArgument {
                    message: "Invalid version id specified",
                    name: "version-id-marker".into(),
                    value: v.to_owned(),
                });
            }
            q.get("key-marker")
        }
    };
    let after = match token {
        Some(t) => Some(After::from_token(t).ok_or_else(|| ApiError::InvalidArgument {
            message: "The continuation token provided is incorrect",
            name: "continuation-token".into(),
            value: t.to_owned(),
        })?),
        None => marker.filter(|m| !m.is_empty()).map(|m| After::marker(m, &prefix, delimiter.as_deref())),
    };
    let (p, d) = (prefix.clone(), delimiter.clone());
    let name = bucket.name.clone();
    let page = inner
        .blocking(move |inner| {
            inner.db.read(|tx| {
                Ok(list::list(&p, d.as_deref(), after.as_ref(), max_keys as usize, |from, inclusive, limit| {
                    store::list_objects(tx, &name, from, inclusive, limit)
                })?)
            })
        })
        .await?;

    let enc = |s: &str| if url { form_encode_key(s) } else { s.to_owned() };
    let owner = canonical_id(&bucket.owner);
    let truncated = if page.truncated { "true" } else { "false" };
    let mut w = Writer::new(if kind == Listing::Versions { "ListVersionsResult" } else { "ListBucketResult" });
    w.elem("Name", &bucket.name).elem("Prefix", &enc(&prefix));
    match kind {
        Listing::V1 => {
            w.elem("Marker", &enc(marker.unwrap_or_default()));
        }
        Listing::V2 => {
            if let Some(t) = token {
                w.elem("ContinuationToken", t);
            }
            if let Some(s) = marker {
                w.elem("StartAfter", &enc(s));
            }
            w.elem("KeyCount", &page.entries.len().to_string());
        }
        Listing::Versions => {
            w.elem("KeyMarker", &enc(marker.unwrap_or_default()));
            w.elem("VersionIdMarker", q.get("version-id-marker").unwrap_or_default());
        }
    }
    w.elem("MaxKeys", &max_keys.to_string());
    if let Some(d) = &delimiter {
        w.elem("Delimiter", &enc(d));
    }
    if url {
        w.elem("EncodingType", "url");
    }
    w.elem("IsTruncated", truncated);
    if page.truncated
        && let Some(last) = page.entries.last()
    {
        match kind {
            Listing::V2 => {
                w.elem("NextContinuationToken", &last.after().token());
            }
            Listing::V1 if delimiter.is_some() => {
                w.elem("NextMarker", &enc(last.name()));
            }
            Listing::V1 => {}
            Listing::Versions => {
                w.elem("NextKeyMarker", &enc(last.name())).elem("NextVersionIdMarker", "null");
            }
        }
    }
    let fetch_owner = kind != Listing::V2 || q.get("fetch-owner") == Some("true");
    let element = if kind == Listing::Versions { "Version" } else { "Contents" };
    for e in &page.entries {
        if let Entry::Object(o) = e {
            w.open(element).elem("Key", &enc(&o.key));
            if kind == Listing::Versions {
                w.elem("VersionId", "null").elem("IsLatest", "true");
            }
            w.elem("LastModified", &stdx::time::format_iso8601_ms(o.modified_ms))
                .elem("ETag", &quoted(&o.etag))
                .elem("Size", &o.size.to_string());
            if fetch_owner {
                w.open("Owner").elem("ID", &owner).elem("DisplayName", &bucket.owner).close("Owner");
            }
            w.elem("StorageClass", "STANDARD").close(element);
        }
    }
    for e in &page.entries {
        if let Entry::Prefix(p) = e {
            w.open("CommonPrefixes").elem("Prefix", &enc(p)).close("CommonPrefixes");
        }
    }
    Ok(xml_response(w.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_constraints() {
        assert_eq!(location_constraint(b""), Ok(None));
        assert_eq!(location_constraint(b"  \n"), Ok(None));
        let doc = |r: &str| {
            format!(
                r#"<CreateBucketConfiguration xmlns="{}"><LocationConstraint>{r}</LocationConstraint></CreateBucketConfiguration>"#,
                xml::NS
            )
        };
        assert_eq!(location_constraint(doc("eu-west-2").as_bytes()), Ok(Some("eu-west-2".into())));
        assert_eq!(location_constraint(doc("EU").as_bytes()), Ok(Some("eu-west-1".into())));
        assert_eq!(location_constraint(doc("").as_bytes()), Ok(Some("us-east-1".into())));
        assert_eq!(location_constraint(b"<CreateBucketConfiguration/>"), Ok(None));
        assert_eq!(location_constraint(doc("us-gov-west-1").as_bytes()), Ok(Some("us-gov-west-1".into())));
        assert_eq!(location_constraint(doc("us-east-1").as_bytes()), Err(ApiError::InvalidLocationConstraint));
        assert_eq!(location_constraint(doc("not a region!").as_bytes()), Err(ApiError::InvalidLocationConstraint));
        assert_eq!(location_constraint(b"<Oops/>"), Err(ApiError::MalformedXML));
        assert_eq!(location_constraint(b"<CreateBucketConfiguration>"), Err(ApiError::MalformedXML));
    }
}
