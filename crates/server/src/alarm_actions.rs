//! What alarms ask of Lambda: an alarm action that names a function ARN queues an
//! asynchronous invocation with the alarm event (`Control::enqueue_invoke`, like S3's events).
//!
//! A function of the alarm's own account is invoked directly; another account's only if its
//! policy (of the exact qualifier) lets `lambda.alarms.cloudwatch.amazonaws.com` invoke it for
//! that alarm (docs/compat.md).

use std::sync::Arc;

use control::Control;
use model::name::{FunctionRef, NameShape};
use model::policy::{ACTION_INVOKE, Caller, CallerPrincipal};
use model::scope::{AccountId, Region, Scope};

/// The service principal CloudWatch alarms invoke Lambda as.
const ALARMS_PRINCIPAL: &str = "lambda.alarms.cloudwatch.amazonaws.com";

pub(crate) struct LambdaActions {
    pub control: Arc<Control>,
}

fn parse(arn: &str) -> Option<(Scope, String, Option<String>)> {
    let r = FunctionRef::parse(arn, NameShape::Namespaced).filter(|r| r.is_arn())?;
    let scope =
        Scope { account: AccountId::parse(r.account.as_deref()?)?, region: Region::parse(r.region.as_deref()?)? };
    Some((scope, r.name, r.qualifier))
}

impl alarms::Actions for LambdaActions {
    fn invoke_lambda<'a>(
        &'a self,
        account: &'a str,
        _region: &'a str,
        function_arn: &'a str,
        event: Vec<u8>,
    ) -> alarms::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let (scope, name, qualifier) =
                parse(function_arn).ok_or_else(|| format!("{function_arn} is not a function ARN"))?;
            if scope.account.as_str() != account {
                let alarm_arn = serde_json::from_slice::<serde_json::Value>(&event)
                    .ok()
                    .and_then(|e| e["alarmArn"].as_str().map(str::to_owned));
                let caller = Caller {
                    principal: CallerPrincipal::Service(ALARMS_PRINCIPAL.to_owned()),
                    action: ACTION_INVOKE,
                    source_account: Some(account.to_owned()),
                    source_arn: alarm_arn,
                    function_url_auth_type: None,
                };
                match self.control.authorize(&scope, &name, qualifier.as_deref(), &caller).await {
                    Ok(true) => {}
                    Ok(false) => return Err(format!("CloudWatch is not authorized to invoke {function_arn}")),
                    Err(e) => return Err(e.to_string()),
                }
            }
            let request_id = uuid::Uuid::new_v4().to_string();
            self.control
                .enqueue_invoke(&scope, &name, qualifier.as_deref(), event, &request_id)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
