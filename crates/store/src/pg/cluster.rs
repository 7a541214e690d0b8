//! Cluster membership, shared settings and notices on PostgreSQL (migration 3).
//!
//! Every time is the database's (`clock_timestamp()`), so nodes whose clocks disagree still
//! agree on who is live. Notices are `pg_notify` in the writer's transaction (delivered at
//! commit, folded when repeated, never on rollback) and a listener thread with its own client
//! ([`subscribe`]); after a reconnect it reports [`Notice::Reconnected`], since NOTIFY is not
//! durable and the subscriber must assume it missed some.

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Config, Transaction};
use tokio::sync::mpsc;

use super::pg_err;
use crate::{Channel, NodeBeat, NodeRow, Notice, StoreError, Subscription};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE nodes (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    addr            text NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    heartbeat_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    capacity        integer NOT NULL,
    busy            integer NOT NULL DEFAULT 0
);
CREATE TABLE cluster_settings (
    name            text PRIMARY KEY,
    value           bytea NOT NULL
);
"#;

/// Notices buffered for a slow subscriber (the listener thread then waits; PostgreSQL keeps
/// the rest in its own queue).
pub const NOTICES_QUEUE: usize = 1024;
/// How long the listener waits for a notice before checking that its subscriber is still there.
const LISTEN_POLL: Duration = Duration::from_secs(1);
/// Pause between attempts to reconnect the listener.
const RECONNECT_EVERY: Duration = Duration::from_millis(500);

const MS: &str = "floor(extract(epoch FROM {}) * 1000)::bigint";

fn ms(column: &str) -> String {
    MS.replace("{}", column)
}

pub(super) fn heartbeat_node(t: &mut Transaction<'_>, beat: &NodeBeat) -> Result<i64, StoreError> {
    let sql = format!(
        "INSERT INTO nodes (id, name, addr, capacity, busy) VALUES ($1::text::uuid, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = clock_timestamp(), addr = excluded.addr, \
         capacity = excluded.capacity, busy = excluded.busy RETURNING {}",
        ms("heartbeat_at")
    );
    let capacity = i32::try_from(beat.capacity).unwrap_or(i32::MAX);
    let busy = i32::try_from(beat.busy).unwrap_or(i32::MAX);
    let row = t.query_one(&sql, &[&beat.id, &beat.name, &beat.addr, &capacity, &busy]).map_err(pg_err)?;
    Ok(row.get(0))
}

pub(super) fn nodes(t: &mut Transaction<'_>, dead_after_ms: i64) -> Result<Vec<NodeRow>, StoreError> {
    let sql = format!(
        "SELECT id::text, name, addr, {}, {}, capacity, busy, \
         heartbeat_at > clock_timestamp() - $1::bigint * interval '1 millisecond' \
         FROM nodes ORDER BY started_at, id",
        ms("started_at"),
        ms("heartbeat_at")
    );
    let rows = t.query(&sql, &[&dead_after_ms]).map_err(pg_err)?;
    Ok(rows
        .iter()
        .map(|r| NodeRow {
            id: r.get(0),
            name: r.get(1),
            addr: r.get(2),
            started_ms: r.get(3),
            heartbeat_ms: r.get(4),
            capacity: u32::try_from(r.get::<_, i32>(5)).unwrap_or(0),
            busy: u32::try_from(r.get::<_, i32>(6)).unwrap_or(0),
            live: r.get(7),
        })
        .collect())
}

pub(super) fn delete_node(t: &mut Transaction<'_>, id: &str) -> Result<bool, StoreError> {
    Ok(t.execute("DELETE FROM nodes WHERE id = $1::text::uuid", &[&id]).map_err(pg_err)? > 0)
}

pub(super) fn delete_dead_nodes(t: &mut Transaction<'_>, dead_for_ms: i64) -> Result<u64, StoreError> {
    t.execute(
        "DELETE FROM nodes WHERE heartbeat_at < clock_timestamp() - $1::bigint * interval '1 millisecond'",
        &[&dead_for_ms],
    )
    .map_err(pg_err)
}

pub(super) fn cluster_setting(t: &mut Transaction<'_>, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let row = t.query_opt("SELECT value FROM cluster_settings WHERE name = $1", &[&name]).map_err(pg_err)?;
    Ok(row.map(|r| r.get(0)))
}

pub(super) fn init_cluster_setting(t: &mut Transaction<'_>, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
    // READ COMMITTED: a concurrent first writer makes this INSERT wait, then do nothing; the
    // SELECT (a new statement) then sees that writer's value.
    t.execute(
        "INSERT INTO cluster_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        &[&name, &value],
    )
    .map_err(pg_err)?;
    cluster_setting(t, name)?.ok_or_else(|| StoreError::Corrupt(format!("cluster setting {name} vanished")))
}

pub(super) fn notify(t: &mut Transaction<'_>, channel: Channel, payload: &str) -> Result<(), StoreError> {
    t.execute("SELECT pg_notify($1, $2)", &[&channel.name(), &payload]).map_err(pg_err)?;
    Ok(())
}

/// Starts the listener thread (its own client, never on a runtime thread): `LISTEN`s on every
/// [`Channel`], forwards what arrives, and reconnects after a failure, reporting
/// [`Notice::Reconnected`] each time it (re)connects. It ends when the subscription is dropped.
pub(super) fn subscribe(config: Config, url: String) -> Option<Subscription> {
    let (tx, rx) = mpsc::channel(NOTICES_QUEUE);
    let started =
        std::thread::Builder::new().name("versa-pg-listen".to_owned()).spawn(move || listen(&config, &url, &tx));
    match started {
        Ok(_) => Some(rx),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the notice listener");
            None
        }
    }
}

fn listen(config: &Config, url: &str, tx: &mpsc::Sender<Notice>) {
    let mut failing = false;
    while !tx.is_closed() {
        let mut client = match super::connect(config, url) {
            Ok(c) => c,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "the notice listener cannot connect; retrying");
                    failing = true;
                }
                std::thread::sleep(RECONNECT_EVERY);
                continue;
            }
        };
        let listened = client.batch_execute(&format!(
            "LISTEN {}; LISTEN {}; LISTEN {}",
            Channel::Function.name(),
            Channel::Events.name(),
            Channel::Keys.name()
        ));
        if let Err(e) = listened {
            tracing::warn!(error = %e, "the notice listener cannot LISTEN; retrying");
            std::thread::sleep(RECONNECT_EVERY);
            continue;
        }
        if failing {
            tracing::info!("the notice listener is connected again");
            failing = false;
        }
        if tx.blocking_send(Notice::Reconnected).is_err() {
            return;
        }
        loop {
            let next = client.notifications().timeout_iter(LISTEN_POLL).next();
            match next {
                Ok(Some(n)) => {
                    let notice = if n.channel() == Channel::Events.name() {
                        Notice::Events
                    } else if n.channel() == Channel::Keys.name() {
                        Notice::Keys(n.payload().to_owned())
                    } else {
                        Notice::Function(n.payload().to_owned())
                    };
                    if tx.blocking_send(notice).is_err() {
                        return;
                    }
                }
                Ok(None) if tx.is_closed() => return,
                Ok(None) if client.is_closed() => break,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the notice listener lost its connection");
                    failing = true;
                    break;
                }
            }
        }
    }
}
