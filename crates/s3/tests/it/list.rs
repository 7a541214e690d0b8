//! ListObjectsV2 and ListObjects: prefixes, delimiters, paging, markers, URL encoding.

use aws_sdk_s3::primitives::ByteStream;

use crate::support::{TestS3, code};

const KEYS: &[&str] = &[
    "a.txt",
    "photos/2023/jan.jpg",
    "photos/2023/feb.jpg",
    "photos/2024/mar.jpg",
    "photos/cover.jpg",
    "videos/x.mp4",
    "z",
];

async fn fill(t: &TestS3, bucket: &str, keys: &[&str]) -> aws_sdk_s3::Client {
    let c = t.client();
    c.create_bucket().bucket(bucket).send().await.unwrap();
    for k in keys {
        c.put_object().bucket(bucket).key(*k).body(ByteStream::from_static(b"12345")).send().await.unwrap();
    }
    c
}

#[tokio::test]
async fn v2_pages_with_delimiter_and_continuation() {
    let t = TestS3::start().await;
    let c = fill(&t, "list", KEYS).await;

    let all = c.list_objects_v2().bucket("list").send().await.unwrap();
    assert_eq!(all.key_count(), Some(7));
    assert_eq!(all.is_truncated(), Some(false));
    let o = &all.contents()[0];
    assert_eq!((o.key(), o.size(), o.e_tag()), (Some("a.txt"), Some(5), Some("\"827ccb0eea8a706c4c34a16891f84e7b\"")));
    assert!(o.last_modified().is_some());
    assert_eq!(o.storage_class().map(|s| s.as_str()), Some("STANDARD"));

    // Page through "/"-delimited results two at a time.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = c
            .list_objects_v2()
            .bucket("list")
            .delimiter("/")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(out.key_count().unwrap() <= 2);
        assert_eq!(out.max_keys(), Some(2));
        assert_eq!(out.continuation_token(), token.as_deref());
        seen.extend(out.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        seen.extend(out.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)));
        if out.is_truncated() != Some(true) {
            assert!(out.next_continuation_token().is_none());
            break;
        }
        token = out.next_continuation_token().map(str::to_owned);
    }
    seen.sort();
    assert_eq!(seen, ["a.txt", "photos/", "videos/", "z"]);
    assert_eq!(pages, 2);

    // One level down.
    let out = c.list_objects_v2().bucket("list").prefix("photos/").delimiter("/").send().await.unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!((keys, prefixes), (vec!["photos/cover.jpg"], vec!["photos/2023/", "photos/2024/"]));
    assert_eq!(out.key_count(), Some(3));
    assert_eq!(out.prefix(), Some("photos/"));

    // start-after.
    let out = c.list_objects_v2().bucket("list").start_after("photos/cover.jpg").send().await.unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["videos/x.mp4", "z"]);

    // max-keys 0; a bad token; a bad max-keys.
    let out = c.list_objects_v2().bucket("list").max_keys(0).send().await.unwrap();
    assert_eq!((out.key_count(), out.is_truncated()), (Some(0), Some(false)));
    let e = c.list_objects_v2().bucket("list").continuation_token("@@garbage").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "InvalidArgument");
    let r = t.raw("GET", "/list?list-type=2&max-keys=abc", &[], b"").await;
    assert_eq!(r.xml("Code").as_deref(), Some("InvalidArgument"));
    let e = c.list_objects_v2().bucket("no-such").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchBucket");
}

#[tokio::test]
async fn v1_markers() {
    let t = TestS3::start().await;
    let c = fill(&t, "listv1", KEYS).await;
    let out = c.list_objects().bucket("listv1").max_keys(3).send().await.unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["a.txt", "photos/2023/feb.jpg", "photos/2023/jan.jpg"]);
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.next_marker(), None, "NextMarker only comes with a delimiter");
    assert!(out.contents()[0].owner().is_some(), "v1 lists owners");
    let out = c.list_objects().bucket("listv1").marker("photos/2023/jan.jpg").max_keys(2).send().await.unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["photos/2024/mar.jpg", "photos/cover.jpg"]);
    assert_eq!(out.marker(), Some("photos/2023/jan.jpg"));

    // With a delimiter, NextMarker may be a common prefix; resuming from it skips the prefix.
    let out = c.list_objects().bucket("listv1").delimiter("/").max_keys(2).send().await.unwrap();
    assert_eq!(out.next_marker(), Some("photos/"));
    let out = c.list_objects().bucket("listv1").delimiter("/").marker("photos/").send().await.unwrap();
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!((keys, prefixes), (vec!["z"], vec!["videos/"]));
}

#[tokio::test]
async fn url_encoding_type() {
    let t = TestS3::start().await;
    fill(&t, "enc", &["a b/c+d", "x&y"]).await;
    let r = t.raw("GET", "/enc?list-type=2&encoding-type=url", &[], b"").await;
    let text = r.text();
    assert!(text.contains("<Key>a+b/c%2Bd</Key>"), "{text}");
    assert!(text.contains("<Key>x%26y</Key>"), "{text}");
    assert!(text.contains("<EncodingType>url</EncodingType>"));
    let r = t.raw("GET", "/enc?list-type=2&delimiter=/&encoding-type=url", &[], b"").await;
    assert!(r.text().contains("<CommonPrefixes><Prefix>a+b/</Prefix></CommonPrefixes>"), "{}", r.text());
    let r = t.raw("GET", "/enc?list-type=2", &[], b"").await;
    assert!(r.text().contains("<Key>x&amp;y</Key>"), "{}", r.text());
    let r = t.raw("GET", "/enc?encoding-type=base64", &[], b"").await;
    assert_eq!(r.xml("Code").as_deref(), Some("InvalidArgument"));
}

#[tokio::test]
async fn page_size_is_capped_by_the_limit() {
    let limits = s3::S3Limits { keys_per_page_max: 4, ..s3::S3Limits::default() };
    let t = TestS3::start_with(limits).await;
    let keys: Vec<String> = (0..6).map(|i| format!("k{i}")).collect();
    let c = fill(&t, "capped", &keys.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let first = c.list_objects_v2().bucket("capped").max_keys(1000).send().await.unwrap();
    assert_eq!((first.key_count(), first.max_keys(), first.is_truncated()), (Some(4), Some(4), Some(true)));
    let second = c
        .list_objects_v2()
        .bucket("capped")
        .continuation_token(first.next_continuation_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!((second.key_count(), second.is_truncated()), (Some(2), Some(false)));
    assert_eq!(second.contents()[0].key(), Some("k4"));
}

#[tokio::test]
async fn object_versions_of_an_unversioned_bucket() {
    let t = TestS3::start().await;
    let c = fill(&t, "versions", KEYS).await;
    let out = c.list_object_versions().bucket("versions").max_keys(4).send().await.unwrap();
    let v = &out.versions()[0];
    assert_eq!((v.key(), v.version_id(), v.is_latest(), v.size()), (Some("a.txt"), Some("null"), Some(true), Some(5)));
    assert!(out.delete_markers().is_empty());
    assert_eq!((out.versions().len(), out.is_truncated()), (4, Some(true)));
    let rest = c
        .list_object_versions()
        .bucket("versions")
        .key_marker(out.next_key_marker().unwrap())
        .version_id_marker(out.next_version_id_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.versions().len(), 3);
    assert_eq!(rest.is_truncated(), Some(false));
    // The way tools empty a bucket: delete every (key, version) pair.
    let ids: Vec<aws_sdk_s3::types::ObjectIdentifier> = out
        .versions()
        .iter()
        .chain(rest.versions())
        .map(|v| {
            aws_sdk_s3::types::ObjectIdentifier::builder().key(v.key().unwrap()).version_id("null").build().unwrap()
        })
        .collect();
    let deleted = c
        .delete_objects()
        .bucket("versions")
        .delete(aws_sdk_s3::types::Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!((deleted.deleted().len(), deleted.errors().len()), (7, 0));
    c.delete_bucket().bucket("versions").send().await.unwrap();
}
