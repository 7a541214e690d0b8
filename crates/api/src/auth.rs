//! Who is calling, and in which region: the account of the request's [`Caller`] (which
//! `verify` found for its access key), the region of its SigV4 credential scope.

use axum::http::{Extensions, HeaderMap, Request};
use model::scope::{AccountId, Region, Scope};

use crate::query::Query;

/// The parts of a SigV4 credential scope Versa uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credential {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
}

/// Reads the credential from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...`
/// or from a presigned URL's `X-Amz-Credential`.
pub(crate) fn credential(headers: &HeaderMap, query: &Query) -> Option<Credential> {
    let from_header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("AWS4-HMAC-SHA256"))
        .and_then(|rest| rest.split(',').find_map(|part| part.trim().strip_prefix("Credential=")).map(str::to_owned));
    let text = from_header.or_else(|| query.get("X-Amz-Credential").map(str::to_owned))?;
    let mut parts = text.split('/');
    let (Some(akid), Some(_date), Some(region), Some(service)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some(Credential { access_key_id: akid.to_owned(), region: region.to_owned(), service: service.to_owned() })
}

pub(crate) use crate::verify::Caller;

/// The authenticated caller of a request, if any.
pub(crate) fn caller<B>(req: &Request<B>) -> Option<Caller> {
    req.extensions().get::<Caller>().cloned()
}

/// Who a request changes things as, for the alias history: the key it was signed with.
pub(crate) fn actor(extensions: &Extensions) -> control::Actor {
    match extensions.get::<Caller>() {
        Some(c) => control::Actor::Key { access_key_id: c.access_key_id.clone() },
        None => control::Actor::Anonymous,
    }
}

/// The scope a request acts in: its caller's account (else the default account) and its
/// credential scope's region (else the default region).
pub(crate) fn scope(extensions: &Extensions, headers: &HeaderMap, query: &Query, default_region: &Region) -> Scope {
    let account = extensions.get::<Caller>().map_or_else(|| AccountId::from_access_key(""), |c| c.account.clone());
    let region =
        credential(headers, query).and_then(|c| Region::parse(&c.region)).unwrap_or_else(|| default_region.clone());
    Scope { account, region }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_is_the_callers_account_in_the_credentials_region() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=123456789012/20240101/eu-west-1/lambda/aws4_request, SignedHeaders=host, Signature=abc"
                .parse()
                .unwrap(),
        );
        let default = Region::parse("us-east-1").unwrap();
        let mut ext = Extensions::new();
        ext.insert(Caller {
            account: AccountId::parse("123456789012").unwrap(),
            root: false,
            access_key_id: "123456789012".to_owned(),
        });
        let s = scope(&ext, &h, &Query::default(), &default);
        assert_eq!((s.account.as_str(), s.region.as_str()), ("123456789012", "eu-west-1"));
        let s = scope(&Extensions::new(), &h, &Query::default(), &default);
        assert_eq!(s.account.as_str(), "000000000000", "no caller: the default account");
        let s = scope(&Extensions::new(), &HeaderMap::new(), &Query::default(), &default);
        assert_eq!((s.account.as_str(), s.region.as_str()), ("000000000000", "us-east-1"));
        let q = Query::parse(Some("X-Amz-Credential=test%2F20240101%2Fap-south-1%2Flambda%2Faws4_request"));
        let s = scope(&Extensions::new(), &HeaderMap::new(), &q, &default);
        assert_eq!((s.account.as_str(), s.region.as_str()), ("000000000000", "ap-south-1"));
    }
}
