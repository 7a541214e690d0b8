//! A 64 MiB object goes up and down without the process ever holding it: peak resident memory
//! during the transfer stays far below the object's size.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use md5::Digest as _;

use crate::support::{HEAVY, TestS3, bytes};

const SIZE: usize = 64 << 20;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_objects_stream_through() {
    let _heavy = HEAVY.lock().await;
    let t = TestS3::start().await;
    let c = t.client();
    c.create_bucket().bucket("large").send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let mut md5 = md5::Md5::new();
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&path).unwrap();
        for i in 0..(SIZE >> 20) {
            let chunk = bytes(1 << 20, i as u64 + 1);
            md5.update(&chunk);
            f.write_all(&chunk).unwrap();
        }
    }
    let expected: [u8; 16] = md5.finalize().into();

    // Sample resident memory every 2 ms while the object goes up and comes back.
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let baseline = rss_kib();
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    let put = c
        .put_object()
        .bucket("large")
        .key("big.bin")
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.e_tag().map(str::to_owned),
        Some(format!("\"{}\"", expected.iter().map(|b| format!("{b:02x}")).collect::<String>()))
    );
    let got = c.get_object().bucket("large").key("big.bin").send().await.unwrap();
    assert_eq!(got.content_length(), Some(SIZE as i64));
    let mut body = got.body;
    let mut md5 = md5::Md5::new();
    let mut n = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        n += chunk.len();
        md5.update(&chunk);
    }
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let digest: [u8; 16] = md5.finalize().into();
    assert_eq!((n, digest), (SIZE, expected));

    let growth_mib = peak.load(Ordering::Relaxed).saturating_sub(baseline) / 1024;
    eprintln!("large object: resident memory grew by {growth_mib} MiB for a 64 MiB object");
    assert!(growth_mib < 32, "resident memory grew by {growth_mib} MiB while streaming 64 MiB");
}
