//! A real browser for the console's tests: Debian's `chromium` driven through `chromedriver`
//! (WebDriver) with fantoccini.
//!
//! One chromedriver per test process, on a free port, started on first use. It runs under a small
//! watchdog shell in a process group of its own, which ends the group (chromedriver and the
//! browsers it started) as soon as the test process is gone, however it ended (nextest runs each
//! test in its own process; `cargo test` shares one). Each [`Browser`] is its own session with an
//! empty profile directory; [`Browser::close`] ends it.
//!
//! When `chromedriver` is not installed the tests say so and pass, unless
//! `VERSA_REQUIRE_BROWSER=1` (`.ci/run` sets it, and `scripts/test` installs the packages).

// JUSTIFICATION: the point of these tests is running the real chromedriver and Chromium.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// How long chromedriver may take to listen.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a test waits for something to appear on a page.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the watchdog checks that the test process is alive (seconds, for `sleep`).
const WATCHDOG_PERIOD_S: &str = "0.5";
/// Desktop and phone viewports the screenshots are taken at.
pub const DESKTOP: (u32, u32) = (1280, 800);
pub const PHONE: (u32, u32) = (390, 844);

/// Chromium's flags: headless, as root (no sandbox), and nothing that reaches the network by
/// itself (this machine's closed network refuses it, many connections at a time).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--hide-scrollbars",
];

/// The chromedriver of this process: its address, or why there is none.
static DRIVER: OnceLock<Result<SocketAddr, String>> = OnceLock::new();

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// The Chromium executable: the real binary, not Debian's `/usr/bin/chromium` shell wrapper.
fn chromium() -> Option<PathBuf> {
    find(&["/usr/lib/chromium/chromium", "/usr/bin/chromium"])
}

fn chromedriver() -> Option<PathBuf> {
    find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
}

/// Whether browser tests run here; false (with a note) when chromedriver or Chromium is missing,
/// which is an error when `VERSA_REQUIRE_BROWSER=1`.
pub fn available() -> bool {
    let found = chromedriver().is_some() && chromium().is_some();
    if !found {
        assert!(
            std::env::var("VERSA_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "VERSA_REQUIRE_BROWSER=1 but chromium or chromedriver is not installed \
             (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "skipping: chromium/chromedriver are not installed (set VERSA_REQUIRE_BROWSER=1 to make this an error)"
        );
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

fn start_driver() -> Result<SocketAddr, String> {
    let driver = chromedriver().ok_or("chromedriver is not installed")?;
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // The watchdog: a new session (so a process group of its own) running chromedriver in the
    // background while this process lives, then signalling the whole group.
    let script = format!(
        "\"$0\" --port={port} --allowed-ips=127.0.0.1 >/dev/null 2>&1 & \
         while kill -0 {pid} 2>/dev/null; do sleep {WATCHDOG_PERIOD_S}; done; kill -KILL 0",
        pid = std::process::id()
    );
    Command::new("setsid")
        .args(["sh", "-c", &script])
        .arg(&driver)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start chromedriver: {e}"))?;
    let deadline = Instant::now() + DRIVER_START_TIMEOUT;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("chromedriver did not listen on {addr} within {DRIVER_START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(addr)
}

/// One browser session (a fresh profile) at the desktop viewport.
pub struct Browser {
    pub client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts a session; panics when the driver cannot (the caller checked [`available`]).
    pub async fn start() -> Browser {
        let addr = DRIVER.get_or_init(start_driver).clone().expect("chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let binary = chromium().expect("chromium");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push(format!("--window-size={},{}", DESKTOP.0, DESKTOP.1));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert("goog:chromeOptions".into(), serde_json::json!({"binary": binary, "args": args}));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://{addr}"))
            .await
            .expect("a chromium session");
        Browser { client, _profile: profile }
    }

    /// Ends the session (closes Chromium).
    pub async fn close(self) {
        self.client.close().await.expect("close the session");
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// The element matching `css`, waiting for it.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(WAIT_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// The visible text of the element matching `css`, its whitespace runs made one space
    /// (table cells are tab-separated by some drivers).
    pub async fn text(&self, css: &str) -> String {
        norm(&self.find(css).await.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}")))
    }

    /// Waits until the text of `css` contains `needle` (a page polled by htmx, or loading after
    /// a click); panics with the last text seen.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(e) => norm(&e.text().await.unwrap_or_default()),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            assert!(Instant::now() < deadline, "{css} never showed {needle:?}; last text: {text:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sizes the viewport (the window's inner size) to `(width, height)`.
    pub async fn viewport(&self, (width, height): (u32, u32)) {
        // The window is larger than the viewport by the browser's chrome (zero when headless,
        // but measured rather than assumed).
        let inner: serde_json::Value = self
            .client
            .execute("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];", vec![])
            .await
            .expect("window chrome size");
        let dx = inner[0].as_u64().unwrap_or(0) as u32;
        let dy = inner[1].as_u64().unwrap_or(0) as u32;
        self.client.set_window_size(width + dx, height + dy).await.expect("set the window size");
    }

    /// Writes a screenshot of the viewport to `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }
}

/// `text` with every run of whitespace one space, trimmed.
pub fn norm(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where screenshots go: `$CARGO_TARGET_DIR/console-screenshots/` (the target dir the test
/// binary was built in), created if needed. Not committed.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
        // The test binary is `<target>/debug/deps/it-…`.
        let exe = std::env::current_exe().expect("current exe");
        exe.ancestors().nth(3).expect("target dir").to_path_buf()
    });
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}
