//! The PostgreSQL backend of the log store: its own tables (`logs_*`, with their own
//! `logs_schema_version`) in the database the nodes share, behind the same seam as SQLite —
//! `query::Reader::Postgres` for reads, `writer::WriteCtx::Postgres` and [`writer::PgBatches`]
//! for writes.
//!
//! - `db`: connections (the sync `postgres` client, each on an OS thread of its own: a client
//!   must never be created or dropped on a tokio thread), the schema and its migrations, the
//!   reader threads.
//! - `query`: the reads, each in a REPEATABLE READ READ ONLY transaction (one snapshot).
//! - `writer`: the writer thread's batches and the API writes.
//!
//! **Several nodes.** Counters live on streams only (bytes, bounds, upload sequence); a group's
//! stored bytes and the total are sums over its streams, read when needed, so appenders on
//! different nodes never contend on a group row. Every transaction locks stream rows in
//! ascending id order before touching their events, and every deleting transaction (eviction,
//! retention, DeleteLogStream/Group, PutRetentionPolicy) first takes one advisory lock, so two
//! nodes' sweeps never run at once and never deadlock with appenders. Event ids come from one
//! sequence, so `eventId`s and paging tokens (timestamp, id) mean the same on every node.

pub(crate) mod db;
pub(crate) mod query;
pub(crate) mod writer;
