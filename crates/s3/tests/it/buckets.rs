//! CreateBucket, HeadBucket, DeleteBucket, ListBuckets, GetBucketLocation and the fixed
//! bucket-configuration answers, through the SDK (and raw HTTP for exact error documents).

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use crate::support::{ACCOUNT, OTHER_ACCOUNT, TestS3, code};

#[tokio::test]
async fn create_head_list_delete() {
    let t = TestS3::start().await;
    let c = t.client();
    c.create_bucket().bucket("alpha").send().await.unwrap();
    c.create_bucket()
        .bucket("beta.dotted")
        .create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::EuWest1).build(),
        )
        .send()
        .await
        .unwrap();

    let head = c.head_bucket().bucket("alpha").send().await.unwrap();
    assert_eq!(head.bucket_region(), Some("us-east-1"));
    let head = c.head_bucket().bucket("beta.dotted").send().await.unwrap();
    assert_eq!(head.bucket_region(), Some("eu-west-1"));

    let loc = c.get_bucket_location().bucket("alpha").send().await.unwrap();
    assert_eq!(loc.location_constraint().map(|l| l.as_str()), Some(""), "us-east-1 is the empty constraint");
    let loc = c.get_bucket_location().bucket("beta.dotted").send().await.unwrap();
    assert_eq!(loc.location_constraint(), Some(&BucketLocationConstraint::EuWest1));

    let list = c.list_buckets().send().await.unwrap();
    let names: Vec<&str> = list.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["alpha", "beta.dotted"]);
    assert!(list.buckets()[0].creation_date().is_some());
    assert_eq!(list.owner().and_then(|o| o.display_name()), Some(ACCOUNT));
    assert_eq!(list.owner().and_then(|o| o.id()).map(str::len), Some(64));

    // Another account sees none of them.
    let other = t.client_as(OTHER_ACCOUNT, "us-east-1");
    assert!(other.list_buckets().send().await.unwrap().buckets().is_empty());

    c.delete_bucket().bucket("alpha").send().await.unwrap();
    let e = c.head_bucket().bucket("alpha").send().await.unwrap_err();
    assert!(e.as_service_error().is_some_and(|e| e.is_not_found()), "{e:?}");
    let e = c.delete_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchBucket");
}

#[tokio::test]
async fn bucket_without_constraint_lands_in_the_request_region() {
    let t = TestS3::start().await;
    let c = t.client_as("test", "ap-south-1");
    c.create_bucket().bucket("regional").send().await.unwrap();
    let head = c.head_bucket().bucket("regional").send().await.unwrap();
    assert_eq!(head.bucket_region(), Some("ap-south-1"));
}

#[tokio::test]
async fn names_are_one_global_namespace() {
    let t = TestS3::start().await;
    let c = t.client();
    c.create_bucket().bucket("shared-name").send().await.unwrap();
    // us-east-1: the owner re-creating its bucket gets 200, as on AWS.
    c.create_bucket().bucket("shared-name").send().await.unwrap();

    let eu = t.client_as("test", "eu-west-1");
    eu.create_bucket()
        .bucket("eu-bucket")
        .create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::EuWest1).build(),
        )
        .send()
        .await
        .unwrap();
    let e = eu
        .create_bucket()
        .bucket("eu-bucket")
        .create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::EuWest1).build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(e.as_service_error().unwrap().is_bucket_already_owned_by_you(), "{e:?}");

    let other = t.client_as(OTHER_ACCOUNT, "us-east-1");
    let e = other.create_bucket().bucket("shared-name").send().await.unwrap_err();
    assert!(e.as_service_error().unwrap().is_bucket_already_exists(), "{e:?}");
    // And it may not use or delete the bucket it does not own.
    let e = other.head_bucket().bucket("shared-name").send().await.unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(403));
    let e = other.delete_bucket().bucket("shared-name").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "AccessDenied");

    // The exact documents.
    let r = t
        .raw(
            "PUT",
            "/eu-bucket",
            &[(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20240101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=00",
            )],
            b"",
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.xml("Code").as_deref(), Some("BucketAlreadyOwnedByYou"));
    assert_eq!(
        r.xml("Message").as_deref(),
        Some("Your previous request to create the named bucket succeeded and you already own it.")
    );
    assert_eq!(r.xml("BucketName").as_deref(), Some("eu-bucket"));
    assert!(r.xml("RequestId").is_some_and(|id| Some(id.as_str()) == r.header("x-amz-request-id")));
    assert!(r.xml("HostId").is_some_and(|id| Some(id.as_str()) == r.header("x-amz-id-2")));
}

#[tokio::test]
async fn invalid_bucket_names() {
    let t = TestS3::start().await;
    for bad in ["ab", "Upper", "under_score", "192.168.1.1", "xn--punycode", "bucket-s3alias", "a..b", "-start"] {
        let r = t.raw("PUT", &format!("/{bad}"), &[], b"").await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.xml("Code").as_deref(), Some("InvalidBucketName"), "{bad}");
        assert_eq!(r.xml("Message").as_deref(), Some("The specified bucket is not valid."));
        assert_eq!(r.xml("BucketName").as_deref(), Some(bad));
    }
    // A LocationConstraint must be a region other than us-east-1 (written as none).
    for bad in ["us-east-1", "not a region!"] {
        let body = format!(
            "<CreateBucketConfiguration><LocationConstraint>{bad}</LocationConstraint></CreateBucketConfiguration>"
        );
        let r = t.raw("PUT", "/constrained", &[], body.as_bytes()).await;
        assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("InvalidLocationConstraint")), "{bad}");
    }
    let r = t.raw("PUT", "/good-name", &[], b"<CreateBucketConfiguration><LocationConstraint>").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.xml("Code").as_deref(), Some("MalformedXML"));
    assert_eq!(
        r.xml("Message").as_deref(),
        Some("The XML you provided was not well-formed or did not validate against our published schema")
    );
    let r = t.raw("HEAD", "/good-name", &[], b"").await;
    assert_eq!(r.status, 404, "nothing was created");
    assert!(r.body.is_empty(), "HEAD errors have no body");
}

#[tokio::test]
async fn not_empty_buckets_cannot_be_deleted() {
    let t = TestS3::start().await;
    let c = t.client();
    c.create_bucket().bucket("full").send().await.unwrap();
    c.put_object().bucket("full").key("k").body(b"x".to_vec().into()).send().await.unwrap();
    let e = c.delete_bucket().bucket("full").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "BucketNotEmpty");
    let r = t.raw("DELETE", "/full", &[], b"").await;
    assert_eq!((r.status, r.xml("Message").as_deref()), (409, Some("The bucket you tried to delete is not empty")));

    c.delete_object().bucket("full").key("k").send().await.unwrap();
    let up = c.create_multipart_upload().bucket("full").key("pending").send().await.unwrap();
    let e = c.delete_bucket().bucket("full").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "BucketNotEmpty", "an in-flight upload keeps the bucket");
    c.abort_multipart_upload().bucket("full").key("pending").upload_id(up.upload_id().unwrap()).send().await.unwrap();
    c.delete_bucket().bucket("full").send().await.unwrap();
}

#[tokio::test]
async fn fixed_configuration_answers() {
    let t = TestS3::start().await;
    let c = t.client();
    c.create_bucket().bucket("cfg").send().await.unwrap();
    let v = c.get_bucket_versioning().bucket("cfg").send().await.unwrap();
    assert_eq!(v.status(), None);
    let acl = c.get_bucket_acl().bucket("cfg").send().await.unwrap();
    assert_eq!(acl.grants().len(), 1);
    assert_eq!(acl.grants()[0].permission().map(|p| p.as_str()), Some("FULL_CONTROL"));
    assert_eq!(acl.owner().and_then(|o| o.id()), acl.grants()[0].grantee().and_then(|g| g.id()));
    let enc = c.get_bucket_encryption().bucket("cfg").send().await.unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(rule.apply_server_side_encryption_by_default().unwrap().sse_algorithm().as_str(), "AES256");

    let e = c.get_bucket_policy().bucket("cfg").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchBucketPolicy");
    let e = c.get_bucket_cors().bucket("cfg").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchCORSConfiguration");
    let e = c.get_bucket_tagging().bucket("cfg").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchTagSet");

    // Writes of configurations Versa does not keep are refused, not ignored.
    let e = c
        .put_bucket_versioning()
        .bucket("cfg")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NotImplemented");
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 501);
    let e = c.get_bucket_versioning().bucket("missing-bucket").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "NoSuchBucket");
}

#[tokio::test]
async fn virtual_hosted_style_requests() {
    let t = TestS3::start().await;
    t.client().create_bucket().bucket("vhost").send().await.unwrap();
    let host = format!("vhost.s3.localhost:{}", t.addr.port());
    let r = t.raw("PUT", "/dir/file.txt", &[("host", &host)], b"hello").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = t.raw("GET", "/dir/file.txt", &[("host", &host)], b"").await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    let r = t.raw("GET", "/?list-type=2", &[("host", &host)], b"").await;
    assert_eq!(r.xml("Key").as_deref(), Some("dir/file.txt"));
    let got = t.client().get_object().bucket("vhost").key("dir/file.txt").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"hello");
}

#[tokio::test]
async fn buckets_per_account_are_bounded() {
    let t = TestS3::start_with(s3::S3Limits { buckets_per_account_max: 2, ..s3::S3Limits::default() }).await;
    let c = t.client();
    c.create_bucket().bucket("one-1").send().await.unwrap();
    c.create_bucket().bucket("two-2").send().await.unwrap();
    let e = c.create_bucket().bucket("three-3").send().await.unwrap_err();
    assert_eq!(code(e.as_service_error().unwrap()), "TooManyBuckets");
    // The bound is per account.
    t.client_as(OTHER_ACCOUNT, "us-east-1").create_bucket().bucket("three-3").send().await.unwrap();
}
