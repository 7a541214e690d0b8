//! The unchanged `aws` CLI against the crate: `aws s3 cp` of a 50 MB file both ways (the CLI
//! splits it into 8 MiB parts) and bucket to bucket, `aws s3 ls`, `aws s3 sync`, `aws s3 rm`
//! (also `--recursive`), `aws s3 mb`/`rb`, `aws s3api head-object`.
//!
//! Needs `aws` on PATH. When it is missing the test says so and passes, unless
//! `VERSA_REQUIRE_AWS_CLI=1` (CI sets it).

// JUSTIFICATION: the point of this test is running the real `aws` executable.
#![allow(clippy::disallowed_methods)]

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::Command;

use md5::Digest as _;

use crate::support::{HEAVY, TestS3, bytes};

const SIZE: usize = 50 * 1000 * 1000;

struct Aws {
    endpoint: String,
    home: tempfile::TempDir,
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Aws {
    async fn run(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new("aws");
        cmd.args(["--endpoint-url", &self.endpoint, "--region", "us-east-1", "--output", "json"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_CONFIG_FILE", self.home.path().join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.home.path().join("credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "");
        let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect("run aws");
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.ok, "aws {args:?} failed: {}\n{}", out.stderr, out.stdout);
        out.stdout
    }
}

fn aws_available() -> bool {
    let found = Command::new("aws").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("VERSA_REQUIRE_AWS_CLI").as_deref() != Ok("1"),
            "VERSA_REQUIRE_AWS_CLI=1 but the aws CLI is not on PATH"
        );
        eprintln!("skipping: the aws CLI is not installed (set VERSA_REQUIRE_AWS_CLI=1 to make this an error)");
    }
    found
}

fn file_md5(path: &Path) -> ([u8; 16], u64) {
    let mut f = std::fs::File::open(path).unwrap();
    let mut md5 = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf).unwrap();
        if r == 0 {
            break;
        }
        n += r as u64;
        md5.update(&buf[..r]);
    }
    (md5.finalize().into(), n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_copies_listing_and_removal() {
    if !aws_available() {
        return;
    }
    let _heavy = HEAVY.lock().await;
    let t = TestS3::start().await;
    let aws = Aws { endpoint: t.endpoint(), home: tempfile::tempdir().unwrap() };
    let up = aws.home.path().join("up.bin");
    {
        let mut f = std::fs::File::create(&up).unwrap();
        let mut left = SIZE;
        let mut seed = 1;
        while left > 0 {
            let n = left.min(1 << 20);
            f.write_all(&bytes(n, seed)).unwrap();
            left -= n;
            seed += 1;
        }
    }

    aws.ok(&["s3", "mb", "s3://cli-bucket"]).await;
    aws.ok(&["s3", "cp", up.to_str().unwrap(), "s3://cli-bucket/dir/big file.bin"]).await;
    let small = aws.home.path().join("small.txt");
    std::fs::write(&small, b"small").unwrap();
    aws.ok(&["s3", "cp", small.to_str().unwrap(), "s3://cli-bucket/small.txt"]).await;

    let ls = aws.ok(&["s3", "ls", "s3://cli-bucket/dir/"]).await;
    assert!(ls.contains(&format!("{SIZE} big file.bin")), "{ls}");
    let ls = aws.ok(&["s3", "ls", "s3://cli-bucket/"]).await;
    assert!(ls.contains("PRE dir/") && ls.contains("small.txt"), "{ls}");
    let ls = aws.ok(&["s3", "ls"]).await;
    assert!(ls.contains("cli-bucket"), "{ls}");

    let head: serde_json::Value = serde_json::from_str(
        &aws.ok(&["s3api", "head-object", "--bucket", "cli-bucket", "--key", "dir/big file.bin"]).await,
    )
    .unwrap();
    assert_eq!(head["ContentLength"], SIZE as u64);
    let etag = head["ETag"].as_str().unwrap();
    assert!(etag.ends_with("-6\""), "the CLI uploads 50 MB in 8 MiB parts: {etag}");

    let down = aws.home.path().join("down.bin");
    aws.ok(&["s3", "cp", "s3://cli-bucket/dir/big file.bin", down.to_str().unwrap()]).await;
    assert_eq!(file_md5(&down), file_md5(&up), "downloaded bytes equal uploaded bytes");

    // Server-side copy (the CLI uses UploadPartCopy above 8 MiB), sync, recursive removal.
    aws.ok(&["s3", "cp", "s3://cli-bucket/dir/big file.bin", "s3://cli-bucket/copy/big.bin"]).await;
    let copied: serde_json::Value = serde_json::from_str(
        &aws.ok(&["s3api", "head-object", "--bucket", "cli-bucket", "--key", "copy/big.bin"]).await,
    )
    .unwrap();
    assert_eq!(copied["ContentLength"], SIZE as u64);
    let tree = aws.home.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    for (name, body) in [("one.txt", "1"), ("two.txt", "22"), ("sub/three.txt", "333")] {
        std::fs::write(tree.join(name), body).unwrap();
    }
    let synced = aws.ok(&["s3", "sync", tree.to_str().unwrap(), "s3://cli-bucket/synced/"]).await;
    assert_eq!(synced.matches("upload:").count(), 3, "{synced}");
    let again = aws.ok(&["s3", "sync", tree.to_str().unwrap(), "s3://cli-bucket/synced/"]).await;
    assert_eq!(again.matches("upload:").count(), 0, "an unchanged tree syncs nothing: {again}");
    let removed = aws.ok(&["s3", "rm", "s3://cli-bucket/synced/", "--recursive"]).await;
    assert_eq!(removed.matches("delete:").count(), 3, "{removed}");
    aws.ok(&["s3", "rm", "s3://cli-bucket/copy/big.bin"]).await;

    aws.ok(&["s3", "rm", "s3://cli-bucket/dir/big file.bin"]).await;
    let ls = aws.run(&["s3", "ls", "s3://cli-bucket/dir/"]).await;
    assert!(ls.stdout.trim().is_empty(), "{}", ls.stdout);
    let missing = aws.run(&["s3api", "head-object", "--bucket", "cli-bucket", "--key", "dir/big file.bin"]).await;
    assert!(!missing.ok && missing.stderr.contains("404"), "{}", missing.stderr);
    aws.ok(&["s3", "rm", "s3://cli-bucket/small.txt"]).await;
    aws.ok(&["s3", "rb", "s3://cli-bucket"]).await;
    let gone = aws.run(&["s3", "ls", "s3://cli-bucket"]).await;
    assert!(!gone.ok && gone.stderr.contains("NoSuchBucket"), "{}", gone.stderr);
}
