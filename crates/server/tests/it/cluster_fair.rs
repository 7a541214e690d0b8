//! Fair Event claims on two nodes sharing one PostgreSQL: a node claims of a function only what
//! its ramp can start now, so a burst of slow events queued through one node is shared by both,
//! and drains sooner than one node alone could drain it.
//!
//! Before, a node with 64 runners kept up to 128 events claimed: whichever node claimed first
//! (A, which queued them, or B, told through PostgreSQL) took the whole burst, started 8 (its
//! ramp) and the other, idle, got none (measured before the change: A 1, B 31, 12.6 s).

// JUSTIFICATION: the test reads the shared database with `psql`, as an operator would.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use testkit::TestServer;

use crate::cluster::{DEAD_AFTER_MS, HEARTBEAT_MS, create, health, invoke, psql, shared_node, wait_live};

/// How long each event's invocation sleeps.
const SLEEP_S: u64 = 3;
/// Events queued, all through node A.
const EVENTS: usize = 32;
/// A's runners: many more than the function's ramp (`invoke::events::RAMP_START`, 8).
const CONCURRENCY: usize = 64;

fn config(c: &mut server::Config, url: &str, name: &str, blobs: &std::path::Path) {
    shared_node(c, url, name, blobs, HEARTBEAT_MS, DEAD_AFTER_MS);
    c.events.concurrency = CONCURRENCY;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_slow_events_queued_through_one_node_is_shared() {
    let Some(url) = testkit::postgres::database("cluster_fair") else { return };
    let blobs = tempfile::tempdir().unwrap();
    let (u, b) = (url.clone(), blobs.path().to_owned());
    let a = TestServer::start_with(move |c| config(c, &u, "a", &b)).await;
    let (u, b) = (url.clone(), blobs.path().to_owned());
    let b = TestServer::start_with(move |c| config(c, &u, "b", &b)).await;
    wait_live(a.addr, 2).await;
    wait_live(b.addr, 2).await;
    let id_of = |h: serde_json::Value| h["node"]["id"].as_str().unwrap().to_owned();
    let (a_id, b_id) = (id_of(health(a.addr).await), id_of(health(b.addr).await));

    let slow = format!("import time\ndef handler(event, context):\n    time.sleep({SLEEP_S})\n    return 1\n");
    create(a.addr, "slow", testkit::zip::files(&[("index.py", slow.as_bytes())]), 30).await;

    // The burst, all through A, at once.
    let started = Instant::now();
    let sends: Vec<_> = (0..EVENTS).map(|_| tokio::spawn(invoke(a.addr, "slow", true))).collect();
    for s in sends {
        assert_eq!(s.await.unwrap().0, 202);
    }
    // Who claims what, sampled far more often than a claim lasts (SLEEP_S), until all ran.
    let mut claims: HashMap<String, HashSet<String>> = HashMap::new();
    let deadline = started + Duration::from_secs(60);
    loop {
        let rows = psql(
            &url,
            "SELECT coalesce(string_agg(claimed_by || ' ' || request_id, ',') , '') FROM events \
             WHERE claimed_by IS NOT NULL",
        );
        for row in rows.split(',').filter(|r| !r.is_empty()) {
            let (node, request) = row.split_once(' ').unwrap();
            claims.entry(node.to_owned()).or_default().insert(request.to_owned());
        }
        if psql(&url, "SELECT count(*) FROM events") == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "the events never all ran; claims so far {claims:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let drained = started.elapsed();
    let count = |id: &str| claims.get(id).map_or(0, HashSet::len);
    let (by_a, by_b) = (count(&a_id), count(&b_id));
    println!(
        "{EVENTS} events of {SLEEP_S} s queued through A drained in {} ms: A claimed {by_a}, B claimed {by_b}",
        drained.as_millis()
    );
    assert_eq!(claims.len(), 2, "only A and B claim: {claims:?}");
    // Neither node hoards the burst.
    assert!(by_a >= EVENTS / 4 && by_b >= EVENTS / 4, "claims of {EVENTS}: A {by_a}, B {by_b}");
    // One node alone starts at most its ramp: 8 at once, one more per 8 successes (the ramp
    // grows for a function that sleeps). In three sleeps it starts at most 8 + 9 + 10 = 27 <
    // EVENTS, so alone it needs four sleeps at least; shared, two sleeps and the cold starts.
    let alone_at_least = Duration::from_secs(4 * SLEEP_S);
    assert!(drained < alone_at_least, "drained in {drained:?}, not sooner than one node alone ({alone_at_least:?})");
    a.stop().await;
    b.stop().await;
}
