//! `S3Blobs` against a real S3 server (moto), and the URL parser.

use std::time::Instant;

use super::*;

#[path = "../../../testkit/src/moto.rs"]
#[allow(dead_code)]
mod moto;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn creds() -> Credentials {
    Credentials::Static {
        access_key_id: moto::ACCESS_KEY_ID.to_owned(),
        secret_access_key: moto::SECRET_ACCESS_KEY.to_owned(),
    }
}

/// A fresh bucket in the process's moto and a client on it under `prefix`; `None` to skip.
fn open(rt: &tokio::runtime::Runtime, prefix: &str) -> Option<(&'static moto::Moto, S3Url, S3Blobs)> {
    let m = moto::moto()?;
    let bucket = rt.block_on(m.bucket("blobs"));
    let url =
        S3Url::parse(&format!("s3://{bucket}/{prefix}?endpoint={}&region=us-east-1&path_style=true", m.endpoint()))
            .unwrap();
    let blobs = S3Blobs::open(&url, creds()).unwrap();
    rt.block_on(blobs.check()).unwrap();
    Some((m, url, blobs))
}

async fn keys(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = client.list_objects_v2().bucket(bucket).send().await.unwrap();
    let mut keys: Vec<String> = out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
    keys.sort();
    keys
}

#[test]
fn urls_parse_and_bad_ones_say_why() {
    let u =
        S3Url::parse("s3://code-bucket/versa/prod/?endpoint=http://127.0.0.1:9000/&region=eu-west-1&path_style=true")
            .unwrap();
    assert_eq!(
        u,
        S3Url {
            bucket: "code-bucket".into(),
            prefix: "versa/prod".into(),
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: Some("eu-west-1".into()),
            path_style: true,
        }
    );
    let u = S3Url::parse("s3://code-bucket").unwrap();
    assert_eq!((u.prefix.as_str(), u.endpoint, u.region, u.path_style), ("", None, None, false));
    assert_eq!(BlobsUrl::parse("file:///var/lib/versa/blobs").unwrap(), BlobsUrl::File("/var/lib/versa/blobs".into()));
    for (url, needle) in [
        ("/var/lib/blobs", "expected file://DIR or s3://"),
        ("file://", "needs a directory"),
        ("s3://", "is not a bucket name"),
        ("s3://UPPER/x", "is not a bucket name"),
        ("s3://b/x", "is not a bucket name"),
        ("s3://bucket/a/../b", "'..'"),
        ("s3://bucket/x?endpoint=ftp://host", "is not http(s)://HOST[:PORT]"),
        ("s3://bucket/x?endpoint=http://", "is not http(s)://HOST[:PORT]"),
        ("s3://bucket/x?path_style=yes", "expected true or false"),
        ("s3://bucket/x?endpont=http://h", "unknown parameter 'endpont'"),
    ] {
        let err = BlobsUrl::parse(url).unwrap_err();
        assert!(err.contains(needle), "{url}: {err}");
        assert!(err.contains(url), "the error names the URL: {err}");
    }
}

#[test]
fn put_get_delete_list_under_the_prefix() {
    let rt = runtime();
    let Some((m, url, blobs)) = open(&rt, "versa/one") else { return };
    let key = crate::sha256(b"hello");
    assert_eq!(blobs.get(&key).unwrap(), None);
    blobs.put(&key, b"hello").unwrap();
    blobs.put(&key, b"hello").unwrap();
    assert_eq!(blobs.get(&key).unwrap().as_deref(), Some(&b"hello"[..]));
    let hex = key.to_hex();
    let client = m.s3_client();
    // The content-addressed key, under the prefix, and nothing else.
    assert_eq!(rt.block_on(keys(&client, &url.bucket)), vec![format!("versa/one/code/sha256/{}/{hex}", &hex[..2])]);
    // Objects under the prefix that are not blobs are not listed (nor touched).
    for stray in ["versa/one/code/sha256/zz/not-hex", "versa/one/other", "versa/two/code/sha256/00/00"] {
        rt.block_on(client.put_object().bucket(&url.bucket).key(stray).body(b"x".to_vec().into()).send()).unwrap();
    }
    let other = crate::sha256(b"other");
    blobs.put(&other, b"other").unwrap();
    let mut listed = blobs.list().unwrap();
    listed.sort();
    let mut want = vec![key, other];
    want.sort();
    assert_eq!(listed, want);
    blobs.delete(&key).unwrap();
    blobs.delete(&key).unwrap();
    assert_eq!(blobs.get(&key).unwrap(), None);
    assert_eq!(blobs.list().unwrap(), vec![other]);
    assert_eq!(rt.block_on(keys(&client, &url.bucket)).len(), 4, "the strays and `other` remain");
}

/// A re-put over an object that is not what its name promises (here: truncated behind Versa's
/// back) replaces it: puts are plain whole-object PUTs, never conditional, so this holds on
/// servers that enforce `If-None-Match` (moto) and on those that ignore it (Garage) alike.
#[test]
fn a_damaged_object_is_replaced_by_the_next_put() {
    let rt = runtime();
    let Some((m, url, blobs)) = open(&rt, "") else { return };
    let data = vec![7u8; 4096];
    let key = crate::sha256(&data);
    blobs.put(&key, &data).unwrap();
    let hex = key.to_hex();
    let object = format!("code/sha256/{}/{hex}", &hex[..2]);
    let client = m.s3_client();
    rt.block_on(client.put_object().bucket(&url.bucket).key(&object).body(data[..10].to_vec().into()).send()).unwrap();
    assert_eq!(blobs.get(&key).unwrap().map(|d| d.len()), Some(10));
    blobs.put(&key, &data).unwrap();
    assert_eq!(blobs.get(&key).unwrap(), Some(data));
}

#[test]
fn a_missing_bucket_or_a_dead_endpoint_fails_the_check_with_a_reason() {
    let rt = runtime();
    let Some(m) = moto::moto() else { return };
    let url = S3Url::parse(&format!("s3://no-such-bucket-here/p?endpoint={}&path_style=true", m.endpoint())).unwrap();
    let err = rt.block_on(S3Blobs::open(&url, creds()).unwrap().check()).unwrap_err();
    assert!(err.contains("no-such-bucket-here") && err.contains(&m.endpoint()), "{err}");
    assert!(err.contains("the bucket does not exist"), "{err}");

    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = S3Url::parse(&format!("s3://some-bucket/p?endpoint=http://127.0.0.1:{port}&path_style=true")).unwrap();
    let started = Instant::now();
    let err = rt.block_on(S3Blobs::open(&url, creds()).unwrap().check()).unwrap_err();
    assert!(err.contains("some-bucket") && err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("the endpoint cannot be reached"), "{err}");
    assert!(started.elapsed() <= CHECK_TIMEOUT + std::time::Duration::from_secs(2), "bounded: {:?}", started.elapsed());
}

/// Calls from many blocking threads at once, the way `control` and `invoke` make them.
#[test]
fn concurrent_callers_on_blocking_threads() {
    let rt = runtime();
    let Some((_, _, blobs)) = open(&rt, "conc") else { return };
    let blobs = Arc::new(blobs);
    let threads: Vec<_> = (0..16u8)
        .map(|i| {
            let blobs = blobs.clone();
            std::thread::spawn(move || {
                let data = vec![i; 1000 + i as usize];
                let key = crate::sha256(&data);
                blobs.put(&key, &data).unwrap();
                assert_eq!(blobs.get(&key).unwrap(), Some(data));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(blobs.list().unwrap().len(), 16);
    // Dropping the client inside an async context must not panic (its runtime shuts down in
    // the background).
    rt.block_on(async move { drop(blobs) });
}

/// Figures: put and get of a 1 MB and a 50 MB package through moto on loopback.
/// `cargo nextest run -p blobs --no-capture figures`
#[test]
fn figures_put_get_1mb_and_50mb() {
    let rt = runtime();
    let Some((_, _, blobs)) = open(&rt, "figures") else { return };
    for mb in [1usize, 50] {
        // Incompressible-ish bytes, as a zip is.
        let mut data = vec![0u8; mb * 1024 * 1024];
        let mut x = 0x2545_f491_4f6c_dd1du64 ^ mb as u64;
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let key = crate::sha256(&data);
        let t = Instant::now();
        blobs.put(&key, &data).unwrap();
        let put = t.elapsed();
        let t = Instant::now();
        blobs.put(&key, &data).unwrap();
        let again = t.elapsed();
        let t = Instant::now();
        let got = blobs.get(&key).unwrap().unwrap();
        let get = t.elapsed();
        assert!(got == data);
        eprintln!(
            "FIGURES s3 blobs via moto: {mb} MB put {:.0} ms ({:.0} MB/s), re-put (HEAD only) {:.1} ms, get {:.0} ms ({:.0} MB/s)",
            put.as_secs_f64() * 1e3,
            mb as f64 / put.as_secs_f64(),
            again.as_secs_f64() * 1e3,
            get.as_secs_f64() * 1e3,
            mb as f64 / get.as_secs_f64(),
        );
    }
}
