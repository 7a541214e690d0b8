//! Versa's own key management API (`/_versa/keys`), which `versa keys` uses while a server
//! holds the data dir. Under `--auth sigv4` only the root account's keys may call it.

use axum::body::Body;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::ApiState;
use crate::error::ApiError;
use crate::handlers::{CONTROL_REQUEST_BYTES_MAX, Reply, json, read_json};
use crate::routes::Endpoint;
use crate::verify::{AuthMode, Caller};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateKeyRequest {
    account: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreatedKey {
    access_key_id: String,
    secret_access_key: String,
    account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyItem {
    access_key_id: String,
    account: String,
    root: bool,
    created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    disabled: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyList {
    keys: Vec<KeyItem>,
}

pub(crate) async fn handle(state: &ApiState, parts: &Parts, endpoint: Endpoint, body: Body) -> Reply {
    let root = parts.extensions.get::<Caller>().is_some_and(|c| c.root);
    if state.auth == AuthMode::Sigv4 && !root {
        return Err(ApiError::Control(control::ControlError::AccessDenied(format!(
            "Only the root account's keys ({}) may manage access keys.",
            control::keys::ROOT_ACCOUNT
        ))));
    }
    let keys = &state.keys;
    match endpoint {
        Endpoint::CreateKey => {
            let r: CreateKeyRequest = read_json(body, &parts.headers, CONTROL_REQUEST_BYTES_MAX, "CreateKey").await?;
            let account = r.account.unwrap_or_else(|| control::keys::ROOT_ACCOUNT.to_owned());
            let k = keys.create(&account, r.name).await?;
            let out = CreatedKey {
                access_key_id: k.access_key_id,
                secret_access_key: k.secret_access_key,
                account: k.account,
                name: k.name,
            };
            json(StatusCode::CREATED, &out)
        }
        Endpoint::ListKeys => {
            let keys = keys
                .list()
                .into_iter()
                .map(|k| KeyItem {
                    access_key_id: k.access_key_id,
                    account: k.account,
                    root: k.root,
                    created: stdx::time::format_iso8601_ms(k.created_ms),
                    name: k.name,
                    disabled: k.disabled,
                })
                .collect();
            json(StatusCode::OK, &KeyList { keys })
        }
        Endpoint::DeleteKey { access_key_id } => {
            keys.delete(&access_key_id).await?;
            Ok(crate::handlers::empty(StatusCode::NO_CONTENT))
        }
        Endpoint::SetKeyDisabled { access_key_id, disabled } => {
            keys.set_disabled(&access_key_id, disabled).await?;
            Ok(crate::handlers::empty(StatusCode::NO_CONTENT))
        }
        _ => unreachable!("only key endpoints reach keys::handle"),
    }
}
