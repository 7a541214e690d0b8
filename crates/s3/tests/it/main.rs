//! The S3 crate's one integration test binary: `S3::handle` behind a tiny axum server on
//! `127.0.0.1:0`, driven by the official `aws-sdk-s3`, raw HTTP (browser-form POSTs too), and the
//! `aws` CLI.

mod buckets;
mod cli;
mod crash;
mod engines;
mod large;
mod list;
mod multipart;
mod notifications;
mod objects;
mod outbox;
mod persistence;
mod pgcluster;
mod post;
mod shared;
mod signatures;
mod support;
