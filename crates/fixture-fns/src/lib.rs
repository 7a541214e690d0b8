//! Tiny Lambda functions used by the tests, built unchanged against `lambda_runtime`.
