//! The relay inside a sandbox's network namespace: each TCP connection to a listener becomes a
//! connection to a Unix socket outside, bytes copied both ways. Runs in the sandbox init.

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

/// Most connections one relay carries at once; runtimes use one or two.
const CONNECTIONS_MAX: usize = 64;

/// Serves `listener` on a thread of its own for the rest of the init's life.
pub(crate) fn serve(listener: TcpListener, target: PathBuf) {
    let live = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(tcp) = conn else { continue };
            if live.load(std::sync::atomic::Ordering::Relaxed) >= CONNECTIONS_MAX {
                continue;
            }
            let _ = tcp.set_nodelay(true);
            let Ok(unix) = UnixStream::connect(&target) else { continue };
            live.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let live = live.clone();
            std::thread::spawn(move || {
                let _ = pipe_both(tcp, unix);
                live.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            });
        }
    });
}

fn pipe_both(tcp: TcpStream, unix: UnixStream) -> io::Result<()> {
    let (mut tcp_r, mut unix_w) = (tcp.try_clone()?, unix.try_clone()?);
    let upstream = std::thread::spawn(move || {
        let _ = io::copy(&mut tcp_r, &mut unix_w);
        let _ = unix_w.shutdown(Shutdown::Write);
    });
    let (mut unix_r, mut tcp_w) = (unix, tcp);
    let _ = io::copy(&mut unix_r, &mut tcp_w);
    let _ = tcp_w.shutdown(Shutdown::Write);
    let _ = upstream.join();
    Ok(())
}
