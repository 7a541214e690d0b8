//! What S3 asks of Lambda: whether a notification may target a function, and queueing the
//! events of object changes as asynchronous invocations (reference §9.3).
//!
//! S3 invokes as the service principal `s3.amazonaws.com`, with `SourceArn arn:aws:s3:::<bucket>`
//! and `SourceAccount <bucket owner>`: the policy of the exact qualifier in the configured ARN
//! must allow that, when the configuration is put and again when each event is delivered (a
//! permission removed later stops the events). A delivery the control plane cannot take now
//! (not started yet, its queue full, its store failing) is `DeliveryError::Unavailable`: S3
//! keeps the event in its outbox and tries again.

use std::sync::{Arc, OnceLock};

use control::{Control, ControlError};
use model::name::{FunctionRef, NameShape};
use model::policy::{ACTION_INVOKE, Caller, CallerPrincipal};
use model::scope::{AccountId, Region, Scope};
use s3::{BoxFuture, DeliveryError, DestinationError};

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

/// Whether a failure of the control plane is for now (an S3 event is kept and retried) or for
/// good (it is dropped).
fn for_now(e: &ControlError) -> bool {
    matches!(e, ControlError::Service(_) | ControlError::TooManyRequests(_))
}

impl LambdaNotifier {
    /// The destination check of both configuration puts and deliveries: the function exists
    /// and its policy lets S3 invoke it for `bucket` and `owner`.
    async fn check(&self, function_arn: &str, bucket: &str, owner: &str) -> Result<(), DeliveryError> {
        let refused = DeliveryError::Refused;
        let Some(control) = self.control.get() else {
            return Err(DeliveryError::Unavailable("the Lambda control plane is not ready".to_owned()));
        };
        let Some((scope, name, qualifier)) = parse(function_arn) else {
            return Err(refused(DestinationError::FunctionMissing));
        };
        match control.resolve_invoke(&scope, &name, qualifier.as_deref()).await {
            Ok(_) => {}
            Err(e) if for_now(&e) => return Err(DeliveryError::Unavailable(e.to_string())),
            Err(_) => return Err(refused(DestinationError::FunctionMissing)),
        }
        match control.authorize(&scope, &name, qualifier.as_deref(), &s3_caller(bucket, owner)).await {
            Ok(true) => Ok(()),
            Err(e) if for_now(&e) => Err(DeliveryError::Unavailable(e.to_string())),
            _ => Err(refused(DestinationError::NotAuthorized)),
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
        Box::pin(async move {
            self.check(function_arn, bucket, bucket_owner).await.map_err(|e| match e {
                DeliveryError::Refused(e) => e,
                // Only reached if the store fails while a configuration is put.
                DeliveryError::Unavailable(_) => DestinationError::FunctionMissing,
            })
        })
    }

    fn deliver<'a>(
        &'a self,
        function_arn: &'a str,
        bucket: &'a str,
        bucket_owner: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            self.check(function_arn, bucket, bucket_owner).await?;
            // Both were checked just now.
            let (Some(control), Some((scope, name, qualifier))) = (self.control.get(), parse(function_arn)) else {
                return Err(DeliveryError::Refused(DestinationError::FunctionMissing));
            };
            let request_id = uuid::Uuid::new_v4().to_string();
            match control.enqueue_invoke(&scope, &name, qualifier.as_deref(), payload, &request_id).await {
                Ok(()) => Ok(()),
                Err(e) if for_now(&e) => Err(DeliveryError::Unavailable(e.to_string())),
                // Deleted since the check.
                Err(_) => Err(DeliveryError::Refused(DestinationError::FunctionMissing)),
            }
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
