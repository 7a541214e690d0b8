//! What S3 asks of Lambda: whether a notification may target a function, and queueing the
//! events of object changes as asynchronous invocations (reference §9.3).
//!
//! S3 invokes as the service principal `s3.amazonaws.com`, with `SourceArn arn:aws:s3:::<bucket>`
//! and `SourceAccount <bucket owner>`: the policy of the exact qualifier in the configured ARN
//! must allow that, when the configuration is put and again when each event is delivered (a
//! permission removed later stops the events).

use std::sync::{Arc, OnceLock};

use control::Control;
use model::name::{FunctionRef, NameShape};
use model::policy::{ACTION_INVOKE, Caller, CallerPrincipal};
use model::scope::{AccountId, Region, Scope};
use s3::{BoxFuture, DestinationError};

/// The server's [`s3::Notifier`]. The control plane is set once it exists (the S3 store opens
/// first, so that CreateFunction can read code from it).
#[derive(Default)]
pub(crate) struct LambdaNotifier {
    pub control: OnceLock<Arc<Control>>,
}

/// Account, region, name and qualifier of a function ARN, as S3 accepts it (a full ARN).
fn parse(arn: &str) -> Option<(Scope, String, Option<String>)> {
    let r = FunctionRef::parse(arn, NameShape::Namespaced).filter(|r| r.is_arn())?;
    let scope =
        Scope { account: AccountId::parse(r.account.as_deref()?)?, region: Region::parse(r.region.as_deref()?)? };
    Some((scope, r.name, r.qualifier))
}

fn s3_caller(bucket: &str, owner: &str) -> Caller {
    Caller {
        principal: CallerPrincipal::Service("s3.amazonaws.com".to_owned()),
        action: ACTION_INVOKE,
        source_account: Some(owner.to_owned()),
        source_arn: Some(format!("arn:aws:s3:::{bucket}")),
        function_url_auth_type: None,
    }
}

impl LambdaNotifier {
    async fn check(&self, function_arn: &str, bucket: &str, owner: &str) -> Result<(), DestinationError> {
        let Some(control) = self.control.get() else { return Err(DestinationError::FunctionMissing) };
        let Some((scope, name, qualifier)) = parse(function_arn) else { return Err(DestinationError::FunctionMissing) };
        if control.resolve_invoke(&scope, &name, qualifier.as_deref()).await.is_err() {
            return Err(DestinationError::FunctionMissing);
        }
        match control.authorize(&scope, &name, qualifier.as_deref(), &s3_caller(bucket, owner)).await {
            Ok(true) => Ok(()),
            _ => Err(DestinationError::NotAuthorized),
        }
    }
}

impl s3::Notifier for LambdaNotifier {
    fn check_destination<'a>(
        &'a self,
        function_arn: &'a str,
        bucket: &'a str,
        bucket_owner: &'a str,
    ) -> BoxFuture<'a, Result<(), DestinationError>> {
        Box::pin(self.check(function_arn, bucket, bucket_owner))
    }

    fn deliver<'a>(
        &'a self,
        function_arn: &'a str,
        bucket: &'a str,
        bucket_owner: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            match self.check(function_arn, bucket, bucket_owner).await {
                Ok(()) => {}
                Err(DestinationError::FunctionMissing) => return Err(format!("{function_arn} does not exist")),
                Err(DestinationError::NotAuthorized) => {
                    return Err(format!("s3.amazonaws.com may not invoke {function_arn} for bucket {bucket}"));
                }
            }
            let control = self.control.get().ok_or("the control plane is not ready")?;
            let (scope, name, qualifier) = parse(function_arn).ok_or("not a function ARN")?;
            let request_id = uuid::Uuid::new_v4().to_string();
            control
                .enqueue_invoke(&scope, &name, qualifier.as_deref(), payload, &request_id)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_arns() {
        let (scope, name, q) = parse("arn:aws:lambda:us-east-1:123456789012:function:f:prod").unwrap();
        assert_eq!(
            (scope.account.as_str(), scope.region.as_str(), name.as_str(), q.as_deref()),
            ("123456789012", "us-east-1", "f", Some("prod"))
        );
        assert_eq!(parse("arn:aws:lambda:us-east-1:123456789012:function:f").unwrap().2, None);
        assert!(parse("f").is_none());
        assert!(parse("arn:aws:sqs:us-east-1:123456789012:q").is_none());
    }
}
