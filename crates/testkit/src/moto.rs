//! moto's S3 server (`moto_server`, PyPI `moto[server]`) for tests of the S3 blob backend: one
//! per test process, on a free loopback port, in memory. `scripts/test` installs it; when it is
//! missing, tests skip with a printed reason unless `VERSA_REQUIRE_MOTO=1` (CI).
//!
//! Also compiled into `blobs`'s unit tests (`#[path]`), which cannot depend on this crate.

// JUSTIFICATION: the S3 double is a separate program; starting it is the point.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The variable that turns a missing `moto_server` into a failure.
pub const REQUIRE_ENV: &str = "VERSA_REQUIRE_MOTO";
/// Longest wait for a started moto to accept connections (it is ready in about 1 s).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Keys moto accepts (it accepts any).
pub const ACCESS_KEY_ID: &str = "versa-test";
pub const SECRET_ACCESS_KEY: &str = "versa-test-secret";

/// A running moto server. It stops when the test process exits: it is started under a shell
/// that kills it once our end of its stdin closes.
pub struct Moto {
    pub addr: SocketAddr,
    _stdin: Mutex<ChildStdin>,
}

impl Moto {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An S3 client for this moto (path-style, no retries).
    pub fn s3_client(&self) -> aws_sdk_s3::Client {
        let credentials = aws_sdk_s3::config::Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "moto");
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .endpoint_url(self.endpoint())
            .force_path_style(true)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Creates a bucket with a name unique in this process, and returns it.
    pub async fn bucket(&self, hint: &str) -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{hint}-{}-{n}", std::process::id());
        self.s3_client().create_bucket().bucket(&name).send().await.expect("create the test bucket in moto");
        name
    }
}

/// The process's moto server, started on first use; `None` (after printing why) when
/// `moto_server` is not installed, unless `VERSA_REQUIRE_MOTO=1`, which makes that a panic.
pub fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| {
        let Some(program) = find_program("moto_server") else {
            let why = "moto_server is not installed (pip install 'moto[server]')";
            if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
                panic!("{why}, and {REQUIRE_ENV}=1");
            }
            eprintln!("SKIPPED: {why}");
            return None;
        };
        Some(start(&program))
    })
    .as_ref()
}

fn find_program(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

fn start(program: &std::path::Path) -> Moto {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("a free port").port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    // `read` returns when this process's end of the pipe closes (at exit, however it exits).
    let script = r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & m=$!; read _ignored; kill $m"#;
    let mut child = Command::new("sh")
        .args(["-c", script])
        .arg(program)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let stdin = child.stdin.take().expect("moto's stdin");
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if started.elapsed() > START_TIMEOUT {
            let mut stdin = stdin;
            let _ = stdin.write_all(b"\n");
            panic!("moto_server did not listen on {addr} within {} s", START_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Dropping the handle neither waits for nor kills the shell.
    drop(child);
    Moto { addr, _stdin: Mutex::new(stdin) }
}
