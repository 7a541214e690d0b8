//! A stock `lambda_runtime` function: echoes the event with what the context says.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, ctx) = event.into_parts();
    if payload.get("fail").is_some() {
        return Err("asked to fail".into());
    }
    Ok(json!({
        "echo": payload,
        "request_id": ctx.request_id,
        "invoked_arn": ctx.invoked_function_arn,
        "version": ctx.env_config.version,
        "deadline": ctx.deadline,
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
