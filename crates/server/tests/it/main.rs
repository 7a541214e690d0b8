//! The one integration test binary: the real server, driven by real clients.

mod aliases;
mod cli;
mod durability;
mod events;
mod examples;
mod faults;
mod functions;
mod input;
mod invoke;
mod isolation;
mod lifecycle;
mod logs;
mod names;
mod node;
mod permissions;
mod provisioned;
mod s3;
mod s3_outbox;
mod sandbox;
mod story;
mod support;
mod tags;
mod urls;
mod versions;
