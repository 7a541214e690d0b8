//! A minimal HTTP/1.1 client over one keep-alive connection: for requests an SDK would refuse
//! to send (malformed JSON, oversized bodies) and for benchmarks, where the SDK itself is the
//! bottleneck.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Largest response this client reads.
const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics if it is not (tests want to know).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One persistent connection.
pub struct Client {
    addr: SocketAddr,
    conn: Option<(BufReader<OwnedReadHalf>, OwnedWriteHalf)>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }

    /// Sends one request and reads the whole response. Reconnects if the server closed the
    /// previous connection.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr).await?;
            s.set_nodelay(true)?;
            let (r, w) = s.into_split();
            self.conn = Some((BufReader::new(r), w));
        }
        let result = self.exchange(method, path, headers, body).await;
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let addr = self.addr;
        let (conn, writer) = self.conn.as_mut().expect("connected");
        let mut head = format!("{method} {path} HTTP/1.1\r\ncontent-length: {}\r\n", body.len());
        // The caller's Host wins (function URLs and virtual-hosted buckets are chosen by it).
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            head.push_str(&format!("host: {addr}\r\n"));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        // Write and read at once: a server may answer (413, say) before reading the whole
        // body, and then stop reading it.
        let write = async {
            writer.write_all(head.as_bytes()).await?;
            writer.write_all(body).await
        };
        // A HEAD answer announces a body it does not send.
        let (written, response) = tokio::join!(write, read_response(conn, method == "HEAD"));
        let response = match (written, response) {
            (_, Ok(r)) => r,
            (Err(e), Err(_)) => return Err(e),
            (Ok(()), Err(e)) => return Err(e),
        };
        if response.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close")) {
            self.conn = None;
        }
        Ok(response)
    }
}

async fn read_response(conn: &mut BufReader<OwnedReadHalf>, head: bool) -> io::Result<Response> {
    {
        let mut line = Vec::new();
        read_line(conn, &mut line).await?;
        let status_line = String::from_utf8_lossy(&line).into_owned();
        let status: u16 =
            status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {status_line:?}"))
            })?;
        let mut headers = Vec::new();
        loop {
            read_line(conn, &mut line).await?;
            if line.is_empty() {
                break;
            }
            let l = String::from_utf8_lossy(&line).into_owned();
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let find = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        let mut body = Vec::new();
        if head {
            return Ok(Response { status, headers, body });
        }
        if let Some(len) = find("content-length") {
            let len: usize = len.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "content-length"))?;
            if len > RESPONSE_BYTES_MAX {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "response too large"));
            }
            body.resize(len, 0);
            conn.read_exact(&mut body).await?;
        } else if find("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
            loop {
                read_line(conn, &mut line).await?;
                let size =
                    usize::from_str_radix(String::from_utf8_lossy(&line).split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "chunk size"))?;
                if size == 0 {
                    read_line(conn, &mut line).await?;
                    break;
                }
                if body.len() + size > RESPONSE_BYTES_MAX {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "response too large"));
                }
                let start = body.len();
                body.resize(start + size, 0);
                conn.read_exact(&mut body[start..]).await?;
                read_line(conn, &mut line).await?;
            }
        }
        Ok(Response { status, headers, body })
    }
}

async fn read_line(conn: &mut BufReader<OwnedReadHalf>, line: &mut Vec<u8>) -> io::Result<()> {
    line.clear();
    loop {
        let b = conn.read_u8().await?;
        if b == b'\n' {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(());
        }
        if line.len() > 64 * 1024 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "header line too long"));
        }
        line.push(b);
    }
}
