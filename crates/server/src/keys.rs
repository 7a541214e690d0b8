//! `versa keys create|list|delete|disable|enable`: on the data dir when no server holds it, else through the
//! running server's `/_versa/keys` API, signed with the data dir's root key.

use std::path::Path;

use anyhow::Context;
use server::DataDir;

use crate::{KeysArgs, KeysCommand};

pub(crate) fn run(args: KeysArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.clone().unwrap_or_else(DataDir::default_path);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the data dir {}", dir.display()))?;
    let lock = std::fs::File::create(dir.join("versa.lock"))?;
    if lock.try_lock().is_ok() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let location = match &args.store {
            Some(url) => server::StoreLocation::parse(url).map_err(anyhow::Error::msg)?,
            None => server::StoreLocation::DataDir,
        };
        let out = runtime.block_on(direct(&dir, &location, &args.command));
        drop(lock);
        return out;
    }
    through_server(&dir, &args.endpoint, &args.command)
}

/// The data dir is free: change it directly.
async fn direct(dir: &Path, location: &server::StoreLocation, command: &KeysCommand) -> anyhow::Result<()> {
    let keys = server::credentials::open_keys(dir, server::open_store(location, dir).await?).await?;
    match command {
        KeysCommand::Create { account, name } => {
            let k = keys.create(account, name.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            print_created(&k.access_key_id, &k.secret_access_key, &k.account);
        }
        KeysCommand::List => {
            for k in keys.list() {
                let created = stdx::time::format_iso8601_ms(k.created_ms);
                print_row(&k.access_key_id, &k.account, k.root, k.disabled, &created, k.name.as_deref());
            }
        }
        KeysCommand::Delete { access_key_id } => {
            keys.delete(access_key_id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("deleted {access_key_id}");
        }
        KeysCommand::Disable { access_key_id } | KeysCommand::Enable { access_key_id } => {
            let disabled = matches!(command, KeysCommand::Disable { .. });
            keys.set_disabled(access_key_id, disabled).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{} {access_key_id}", if disabled { "disabled" } else { "enabled" });
        }
    }
    Ok(())
}

fn print_created(id: &str, secret: &str, account: &str) {
    println!("access key id:     {id}\nsecret access key: {secret}\naccount:           {account}");
    println!("(the secret is shown only now)");
}

fn print_row(id: &str, account: &str, root: bool, disabled: bool, created: &str, name: Option<&str>) {
    let root = if root { "root" } else { "-" };
    let status = if disabled { "disabled" } else { "enabled" };
    println!("{id}\t{account}\t{root}\t{status}\t{created}\t{}", name.unwrap_or("-"));
}

/// A server holds the data dir: ask it, signed with the root key of the data dir's
/// credentials file (or `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` when set).
fn through_server(dir: &Path, endpoint: &str, command: &KeysCommand) -> anyhow::Result<()> {
    let (id, secret) = match (std::env::var("AWS_ACCESS_KEY_ID"), std::env::var("AWS_SECRET_ACCESS_KEY")) {
        (Ok(id), Ok(secret)) if !id.is_empty() && !secret.is_empty() => (id, secret),
        _ => server::credentials::read_file(&server::credentials::credentials_path(dir))
            .context("a server holds the data dir; signing its request needs the root key")?,
    };
    let (method, path, body) = match command {
        KeysCommand::Create { account, name } => {
            let body = serde_json::json!({ "Account": account, "Name": name }).to_string();
            (http::Method::POST, "/_versa/keys".to_owned(), body)
        }
        KeysCommand::List => (http::Method::GET, "/_versa/keys".to_owned(), String::new()),
        KeysCommand::Delete { access_key_id } => {
            let id: String = access_key_id.chars().filter(char::is_ascii_alphanumeric).collect();
            (http::Method::DELETE, format!("/_versa/keys/{id}"), String::new())
        }
        KeysCommand::Disable { access_key_id } | KeysCommand::Enable { access_key_id } => {
            let id: String = access_key_id.chars().filter(char::is_ascii_alphanumeric).collect();
            let action = if matches!(command, KeysCommand::Disable { .. }) { "disable" } else { "enable" };
            (http::Method::POST, format!("/_versa/keys/{id}/{action}"), String::new())
        }
    };
    let (status, answer) = request(endpoint, &method, &path, &body, &id, &secret)?;
    let json: serde_json::Value = serde_json::from_str(&answer).unwrap_or(serde_json::Value::Null);
    if !(200..300).contains(&status) {
        let message = json["message"].as_str().or(json["Message"].as_str()).unwrap_or(&answer);
        anyhow::bail!("the server answered {status}: {message}");
    }
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    match command {
        KeysCommand::Create { .. } => {
            print_created(&text(&json["AccessKeyId"]), &text(&json["SecretAccessKey"]), &text(&json["Account"]))
        }
        KeysCommand::List => {
            for k in json["Keys"].as_array().into_iter().flatten() {
                let root = k["Root"].as_bool().unwrap_or(false);
                print_row(
                    &text(&k["AccessKeyId"]),
                    &text(&k["Account"]),
                    root,
                    k["Disabled"].as_bool().unwrap_or(false),
                    &text(&k["Created"]),
                    k["Name"].as_str(),
                );
            }
        }
        KeysCommand::Delete { access_key_id } => println!("deleted {access_key_id}"),
        KeysCommand::Disable { access_key_id } => println!("disabled {access_key_id}"),
        KeysCommand::Enable { access_key_id } => println!("enabled {access_key_id}"),
    }
    Ok(())
}

/// One signed request to the server's `/_versa/keys` API; returns status and body.
fn request(
    endpoint: &str,
    method: &http::Method,
    path: &str,
    body: &str,
    id: &str,
    secret: &str,
) -> anyhow::Result<(u16, String)> {
    let signer = crate::client::Signer {
        access_key_id: id,
        secret,
        session_token: None,
        region: "us-east-1",
        service: "lambda",
    };
    crate::client::send(endpoint, method, path, &[("content-type", "application/json")], body.as_bytes(), &signer)
}
