//! moto's server (`python3 -m moto.server`) as a child process: the baseline of `--compare-moto`.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use testkit::http::Client;

/// How long moto may take to answer its first request.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running moto server; killed when dropped.
pub struct Moto {
    pub addr: SocketAddr,
    child: Child,
}

impl Moto {
    /// Starts moto on a free port, waits until it answers, and creates the IAM role the
    /// workload's functions use (moto refuses functions whose role does not exist).
    pub async fn start() -> anyhow::Result<Moto> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut moto = Moto { addr, child: spawn(port)? };
        moto.wait_ready().await?;
        moto.create_role().await?;
        Ok(moto)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("moto exited at startup ({status}); is it installed? try `python3 -c 'import moto'`");
            }
            let mut probe = Client::new(self.addr);
            let answer = probe.send("GET", "/moto-api/", &[], b"");
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), answer).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("moto did not answer on {} within {STARTUP_TIMEOUT:?}", self.addr);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn create_role(&self) -> anyhow::Result<()> {
        let role = crate::workload::ROLE_ARN.rsplit('/').next().expect("a role name");
        let body = format!("Action=CreateRole&Version=2010-05-08&RoleName={role}&AssumeRolePolicyDocument=%7B%7D");
        let headers = [
            ("content-type", "application/x-www-form-urlencoded"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=123456789012/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, \
                 Signature=0",
            ),
        ];
        let r = Client::new(self.addr).send("POST", "/", &headers, body.as_bytes()).await.context("IAM CreateRole")?;
        if r.status != 200 {
            bail!("moto: IAM CreateRole answered {}: {}", r.status, r.text());
        }
        Ok(())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// JUSTIFICATION: the benchmark's baseline is moto's own server, which only exists as a Python
// process; this tool is not part of the daemon, so the "spawn only through sandbox" rule does
// not apply. (`bare.rs` starts the bare loop's runtimes the same way.)
#[allow(clippy::disallowed_methods)]
fn spawn(port: u16) -> anyhow::Result<Child> {
    Command::new("python3")
        .args(["-m", "moto.server", "-p", &port.to_string()])
        .stdin(Stdio::null())
        // moto logs every request; the log is not needed and writing it must not block moto.
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start `python3 -m moto.server`")
}
