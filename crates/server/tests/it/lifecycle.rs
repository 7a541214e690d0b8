//! Environment lifecycle: warm reuse, more environments for concurrent calls, the global
//! bound, retirement on update, idle reaping, substituted interpreter versions.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, LogType, Runtime};
use base64::Engine;
use testkit::TestServer;

use crate::invoke::create_py;
use crate::support::*;

async fn environments(server: &TestServer) -> u64 {
    let mut http = testkit::http::Client::new(server.addr);
    http.send("GET", "/_versa/health", &[], b"").await.unwrap().json()["environments"].as_u64().unwrap()
}

const SLOW: &str = "import time\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n    return 'done'\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environments_are_reused_scaled_bounded_and_retired() {
    let server = TestServer::start_with(|c| c.max_environments = 3).await;
    let c = server.lambda();
    create_py(&c, "scaled", SLOW).await;
    for _ in 0..5 {
        c.invoke().function_name("scaled").send().await.unwrap();
    }
    assert_eq!(environments(&server).await, 1, "sequential calls reuse one warm environment");

    // Three at once need three environments; a fourth is refused while they run.
    let mut calls = Vec::new();
    for _ in 0..3 {
        let c = c.clone();
        calls.push(tokio::spawn(async move {
            c.invoke().function_name("scaled").payload(Blob::new(br#"{"sleep": 1.5}"#.to_vec())).send().await.unwrap()
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(environments(&server).await, 3);
    let e = err(c.invoke().function_name("scaled").send().await);
    assert_err(e, 429, "TooManyRequestsException", "Rate Exceeded.");
    for call in calls {
        assert_eq!(call.await.unwrap().function_error(), None);
    }
    assert_eq!(environments(&server).await, 3, "finished environments stay warm");

    // Changing $LATEST retires its environments.
    c.update_function_configuration().function_name("scaled").description("changed").send().await.unwrap();
    assert_eq!(environments(&server).await, 0);
    c.invoke().function_name("scaled").send().await.unwrap();
    assert_eq!(environments(&server).await, 1);
    c.delete_function().function_name("scaled").send().await.unwrap();
    assert_eq!(environments(&server).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_environments_are_reaped() {
    let server = TestServer::start_with(|c| c.environment_idle_timeout = std::time::Duration::from_millis(600)).await;
    let c = server.lambda();
    create_py(&c, "reaped", SLOW).await;
    c.invoke().function_name("reaped").send().await.unwrap();
    assert_eq!(environments(&server).await, 1);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(environments(&server).await, 0);
    // And the next call is a cold start again.
    let r = c.invoke().function_name("reaped").log_type(LogType::Tail).send().await.unwrap();
    let tail = base64::engine::general_purpose::STANDARD.decode(r.log_result().unwrap()).unwrap();
    assert!(String::from_utf8_lossy(&tail).contains("Init Duration"));
}

/// A native `python3.N` interpreter in `dirs`, found without Versa's discovery: (N, path).
fn python_in(dirs: &[std::path::PathBuf], only_minor: Option<u32>) -> Option<(u32, std::path::PathBuf)> {
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut paths: Vec<std::path::PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let Some(minor) = name.strip_prefix("python3.").and_then(|m| m.parse::<u32>().ok()) else { continue };
            let native = std::fs::read(&p).is_ok_and(|b| b.starts_with(b"\x7fELF"));
            if native && only_minor.is_none_or(|m| m == minor) {
                return Some((minor, p));
            }
        }
    }
    None
}

fn tail_of(r: &aws_sdk_lambda::operation::invoke::InvokeOutput) -> String {
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(r.log_result().unwrap()).unwrap()).unwrap()
}

const VERSION_INFO: &[u8] = b"import sys\ndef handler(e, c):\n    return '%d.%d' % sys.version_info[:2]\n";

async fn create_python(c: &aws_sdk_lambda::Client, name: &str, runtime: &str) {
    c.create_function()
        .function_name(name)
        .runtime(Runtime::from(runtime))
        .role(ROLE)
        .handler("index.handler")
        .code(FunctionCode::builder().zip_file(Blob::new(testkit::zip::files(&[("index.py", VERSION_INFO)]))).build())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_interpreter_version_is_substituted_with_a_notice_outside_the_tail() {
    // Only the host's system Python, so that the function's runtime is surely missing.
    let Some((minor, python)) = python_in(&["/usr/bin".into(), "/usr/local/bin".into()], None) else {
        eprintln!("skipped: no python3.N binary in /usr/bin or /usr/local/bin on this host");
        return;
    };
    let server = TestServer::start_with(|c| {
        c.interpreter_search = false;
        c.interpreter_paths = vec![python.clone()];
    })
    .await;
    let c = server.lambda();
    let wanted = if minor == 12 { 13 } else { 12 };
    create_python(&c, "other-python", &format!("python3.{wanted}")).await;
    let r = c.invoke().function_name("other-python").log_type(LogType::Tail).send().await.unwrap();
    let ran: String = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
    assert_eq!(ran, format!("3.{minor}"));
    let tail = tail_of(&r);
    assert!(tail.starts_with("START RequestId: "), "the tail starts with START: {tail}");
    assert!(!tail.contains("Versa:") && !tail.contains("INIT_"), "{tail}");
    // The stream says it, in the init phase.
    let messages = crate::logs::stream_messages(&server.logs(), "/aws/lambda/other-python", "REPORT ").await;
    assert!(messages[0].starts_with(&format!("INIT_START Runtime Version: python:3.{wanted}.v")), "{messages:?}");
    assert_eq!(
        messages[1],
        format!("INIT_NOTICE Versa: python3.{wanted} is not installed on this host; running python3.{minor} instead")
    );
    assert!(messages[2].starts_with("START RequestId: "), "{messages:?}");

    // A language with no interpreter at all is refused at create.
    let e = err(c
        .create_function()
        .function_name("java")
        .runtime(Runtime::Java21)
        .role(ROLE)
        .handler("x::y")
        .code(FunctionCode::builder().zip_file(Blob::new(testkit::zip::hello())).build())
        .send()
        .await);
    assert_err(
        e,
        400,
        "InvalidParameterValueException",
        "java21 cannot run: Versa has no java runtime. It runs provided.al2023, provided.al2, python3.x and nodejs*.x functions",
    );
}

/// Where pyenv and uv keep their Pythons (their `bin` directories).
fn version_manager_bins() -> Vec<std::path::PathBuf> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
    let pyenv = std::env::var_os("PYENV_ROOT").map(std::path::PathBuf::from).unwrap_or_else(|| home.join(".pyenv"));
    let uv = std::env::var_os("UV_PYTHON_INSTALL_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| home.join(".local/share/uv/python"));
    let mut bins = Vec::new();
    for root in [pyenv.join("versions"), uv] {
        for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
            bins.push(e.path().join("bin"));
        }
    }
    bins
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python312_runs_on_python_312_when_the_host_has_it_anywhere_people_install_it() {
    let mut places: Vec<std::path::PathBuf> = vec!["/usr/local/bin".into(), "/usr/bin".into()];
    places.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    places.extend(version_manager_bins());
    let Some((_, found)) = python_in(&places, Some(12)) else {
        eprintln!("skipped: this host has no python3.12 (looked in /usr, PATH, pyenv and uv version directories)");
        return;
    };
    eprintln!("python3.12 on this host: {}", found.display());
    let server = TestServer::start().await;
    let c = server.lambda();
    create_python(&c, "py312", "python3.12").await;
    let r = c.invoke().function_name("py312").log_type(LogType::Tail).send().await.unwrap();
    let ran: String = serde_json::from_slice(r.payload().unwrap().as_ref()).unwrap();
    assert_eq!(ran, "3.12", "{}", tail_of(&r));
    let tail = tail_of(&r);
    assert!(tail.starts_with("START RequestId: "), "{tail}");
    let messages = crate::logs::stream_messages(&server.logs(), "/aws/lambda/py312", "REPORT ").await;
    assert!(!messages.iter().any(|m| m.starts_with("INIT_NOTICE")), "no substitution: {messages:?}");
}
