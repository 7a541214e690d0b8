//! `versa keys create|list|delete`: on the data dir when no server holds it, else through the
//! running server's `/_versa/keys` API, signed with the data dir's root key.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use server::DataDir;
use store::{SqliteBackend, SqliteOptions, Store};

use crate::{KeysArgs, KeysCommand};

/// How long `versa keys` waits for a server's answer.
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read from the server.
const ANSWER_BYTES_MAX: u64 = 16 * 1024 * 1024;

pub(crate) fn run(args: KeysArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.clone().unwrap_or_else(DataDir::default_path);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the data dir {}", dir.display()))?;
    let lock = std::fs::File::create(dir.join("versa.lock"))?;
    if lock.try_lock().is_ok() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let out = runtime.block_on(direct(&dir, &args.command));
        drop(lock);
        return out;
    }
    through_server(&dir, &args.endpoint, &args.command)
}

/// The data dir is free: change it directly.
async fn direct(dir: &Path, command: &KeysCommand) -> anyhow::Result<()> {
    let backend =
        SqliteBackend::open(&SqliteOptions { path: dir.join("versa.db") }).context("cannot open the store")?;
    let keys = server::credentials::open_keys(dir, Store::new(Arc::new(backend))).await?;
    match command {
        KeysCommand::Create { account, name } => {
            let k = keys.create(account, name.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            print_created(&k.access_key_id, &k.secret_access_key, &k.account);
        }
        KeysCommand::List => {
            for k in keys.list() {
                let created = stdx::time::format_iso8601_ms(k.created_ms);
                print_row(&k.access_key_id, &k.account, k.root, &created, k.name.as_deref());
            }
        }
        KeysCommand::Delete { access_key_id } => {
            keys.delete(access_key_id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("deleted {access_key_id}");
        }
    }
    Ok(())
}

fn print_created(id: &str, secret: &str, account: &str) {
    println!("access key id:     {id}\nsecret access key: {secret}\naccount:           {account}");
    println!("(the secret is shown only now)");
}

fn print_row(id: &str, account: &str, root: bool, created: &str, name: Option<&str>) {
    let root = if root { "root" } else { "-" };
    println!("{id}\t{account}\t{root}\t{created}\t{}", name.unwrap_or("-"));
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
                    &text(&k["Created"]),
                    k["Name"].as_str(),
                );
            }
        }
        KeysCommand::Delete { access_key_id } => println!("deleted {access_key_id}"),
    }
    Ok(())
}

/// One signed HTTP/1.1 request to `endpoint` (`http://host:port`); returns status and body.
fn request(
    endpoint: &str,
    method: &http::Method,
    path: &str,
    body: &str,
    id: &str,
    secret: &str,
) -> anyhow::Result<(u16, String)> {
    let authority = endpoint
        .strip_prefix("http://")
        .map(|a| a.trim_end_matches('/'))
        .with_context(|| format!("--endpoint {endpoint} is not an http:// address"))?;
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, http::HeaderValue::from_str(authority)?);
    let params = sigv4::SigningParams {
        credentials: sigv4::Credentials { access_key_id: id, secret, session_token: None },
        region: "us-east-1",
        service: "lambda",
        time: stdx::time::now_ms() / 1000,
        mode: sigv4::UriMode::Normalized,
    };
    let signed = sigv4::sign(method, path, None, &headers, &params, sigv4::SignPayload::Body(body.as_bytes()));
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {authority}\r\n");
    for (name, value) in &signed.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut stream = std::net::TcpStream::connect(authority).with_context(|| format!("cannot reach {endpoint}"))?;
    stream.set_read_timeout(Some(SERVER_TIMEOUT))?;
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    stream.take(ANSWER_BYTES_MAX).read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").context("the server's answer has no header end")?;
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).context("the server's answer has no status")?;
    Ok((status, body.to_owned()))
}
