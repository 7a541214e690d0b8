//! The one place where failures become AWS error responses.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use control::ControlError;
use serde_json::{Map, Value, json};

/// The `Retry-After` of every `TooManyRequestsException` (its model member `retryAfterSeconds`,
/// bound to that header): a throttled invocation frees its slot when a running one ends, so
/// one second is the honest hint. SDKs' retry strategies read it.
pub const RETRY_AFTER_SECS: u32 = 1;

/// Everything a request can fail with.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    Control(ControlError),
    /// The body is not JSON, or not of the operation's shape.
    InvalidRequestContent(String),
    /// No operation has this method and path.
    UnknownOperation {
        method: String,
        path: String,
    },
    /// A Versa-internal endpoint refused the request (bad or expired code URL signature).
    Forbidden(String),
    /// A Versa-internal endpoint has nothing here.
    NotFound(String),
    /// `TooManyRequestsException` with its `Reason`.
    TooManyRequests {
        reason: &'static str,
    },
    /// The function's runtime cannot run on this host (`InvalidRuntimeException`).
    InvalidRuntime(String),
    /// A constraint on a header or parameter outside `control` (`ValidationException`).
    Validation(String),
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::TooManyRequests(reason) => ApiError::TooManyRequests { reason },
            e => ApiError::Control(e),
        }
    }
}

/// The AWS error code the Lambda API answers a control error with (the console shows it).
pub fn aws_error_code(e: &ControlError) -> &'static str {
    ApiError::from(e.clone()).parts().1
}

/// Which member carries the message: AWS follows each exception's model shape.
#[derive(Clone, Copy)]
enum Key {
    Lower,
    Upper,
}

impl ApiError {
    /// Status, AWS error code, whether the body has `"Type":"User"`, and message member.
    fn parts(&self) -> (StatusCode, &'static str, Option<&'static str>, Key, String) {
        use ControlError as C;
        match self {
            ApiError::Control(e) => {
                let msg = e.to_string();
                match e {
                    C::Validation(_) => (StatusCode::BAD_REQUEST, "ValidationException", None, Key::Lower, msg),
                    C::InvalidParameterValue(_) => {
                        (StatusCode::BAD_REQUEST, "InvalidParameterValueException", Some("User"), Key::Lower, msg)
                    }
                    C::InvalidParameterValueUntyped(_) => {
                        (StatusCode::BAD_REQUEST, "InvalidParameterValueException", None, Key::Lower, msg)
                    }
                    C::ResourceNotFound(_) => {
                        (StatusCode::NOT_FOUND, "ResourceNotFoundException", Some("User"), Key::Upper, msg)
                    }
                    C::ResourceConflict(_) => {
                        (StatusCode::CONFLICT, "ResourceConflictException", Some("User"), Key::Lower, msg)
                    }
                    C::PreconditionFailed(_) => {
                        (StatusCode::PRECONDITION_FAILED, "PreconditionFailedException", Some("User"), Key::Lower, msg)
                    }
                    C::RequestTooLarge(_) => {
                        (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLargeException", Some("User"), Key::Lower, msg)
                    }
                    C::AccessDenied(_) => {
                        (StatusCode::FORBIDDEN, "AccessDeniedException", Some("User"), Key::Upper, msg)
                    }
                    C::ProvisionedConcurrencyConfigNotFound(_) => (
                        StatusCode::NOT_FOUND,
                        "ProvisionedConcurrencyConfigNotFoundException",
                        Some("User"),
                        Key::Lower,
                        msg,
                    ),
                    C::CodeSigningConfigNotFound(_) => {
                        (StatusCode::NOT_FOUND, "CodeSigningConfigNotFoundException", Some("User"), Key::Upper, msg)
                    }
                    C::PolicyLengthExceeded(_) => {
                        (StatusCode::BAD_REQUEST, "PolicyLengthExceededException", Some("User"), Key::Lower, msg)
                    }
                    C::TooManyRequests(_) => {
                        (StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", Some("User"), Key::Lower, msg)
                    }
                    C::Service(_) => {
                        (StatusCode::INTERNAL_SERVER_ERROR, "ServiceException", Some("Service"), Key::Upper, msg)
                    }
                }
            }
            ApiError::InvalidRequestContent(m) => {
                (StatusCode::BAD_REQUEST, "InvalidRequestContentException", Some("User"), Key::Lower, m.clone())
            }
            ApiError::UnknownOperation { method, path } => (
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                None,
                Key::Lower,
                format!("No operation matches {method} {path}"),
            ),
            ApiError::Forbidden(m) => {
                (StatusCode::FORBIDDEN, "AccessDeniedException", Some("User"), Key::Upper, m.clone())
            }
            ApiError::NotFound(m) => {
                (StatusCode::NOT_FOUND, "ResourceNotFoundException", Some("User"), Key::Upper, m.clone())
            }
            ApiError::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsException",
                Some("User"),
                Key::Lower,
                "Rate Exceeded.".to_owned(),
            ),
            ApiError::InvalidRuntime(m) => {
                (StatusCode::BAD_GATEWAY, "InvalidRuntimeException", Some("User"), Key::Upper, m.clone())
            }
            ApiError::Validation(m) => (StatusCode::BAD_REQUEST, "ValidationException", None, Key::Lower, m.clone()),
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let (status, code, type_, key, message) = self.parts();
        let mut body = Map::new();
        if let Some(t) = type_ {
            body.insert("Type".to_owned(), json!(t));
        }
        // AccessDenied for another account's function carries no message, as on AWS.
        if !message.is_empty() {
            let k = match key {
                Key::Lower => "message",
                Key::Upper => "Message",
            };
            body.insert(k.to_owned(), Value::String(message));
        }
        let throttled = match &self {
            ApiError::TooManyRequests { reason } | ApiError::Control(ControlError::TooManyRequests(reason)) => {
                Some(*reason)
            }
            _ => None,
        };
        if let Some(reason) = throttled {
            body.insert("Reason".to_owned(), json!(reason));
        }
        let mut r = Response::new(Body::from(Value::Object(body).to_string()));
        *r.status_mut() = status;
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static(code));
        if throttled.is_some() {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        r
    }
}
