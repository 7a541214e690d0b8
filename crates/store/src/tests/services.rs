//! The services' store methods (SQS, event source mappings, metrics, CodeDeploy, schedules), run
//! on every backend: the answers and orders must be the embedded backend's, and the concurrent
//! cases must hold where writers really run at once (PostgreSQL).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Db;
use crate::{
    CdDeploymentRow, EsmRow, MetricPoint, MetricSeries, ScheduleRow, SqsMessageRow, SqsQueueRow, Store, StoreError,
};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
/// Concurrent tasks in the concurrency cases.
const TASKS: usize = 6;

fn queue(name: &str) -> SqsQueueRow {
    SqsQueueRow {
        id: 0,
        account: ACCOUNT.into(),
        region: REGION.into(),
        name: name.into(),
        created_ms: 1,
        doc: "{}".into(),
        messages: 0,
        bytes: 0,
    }
}

fn message(queue_id: i64, group: Option<&str>, sent_ms: i64, visible_ms: i64) -> SqsMessageRow {
    SqsMessageRow {
        seq: 0,
        queue_id,
        message_id: format!("m-{sent_ms}"),
        body: format!("body {sent_ms}"),
        attrs: "{}".into(),
        md5_body: "x".into(),
        md5_attrs: Some("y".into()),
        sent_ms,
        visible_ms,
        expires_ms: 10_000,
        receive_count: 0,
        first_receive_ms: None,
        receipt: None,
        group_id: group.map(str::to_owned),
        dedup_id: None,
        size: 7,
    }
}

async fn insert_queue(store: &Store, name: &str) -> i64 {
    let q = queue(name);
    store.write(move |tx| tx.sqs_insert_queue(&q)).await.unwrap()
}

async fn insert_all(store: &Store, rows: Vec<SqsMessageRow>) -> Vec<i64> {
    store.write(move |tx| rows.iter().map(|m| tx.sqs_insert_message(m)).collect::<Result<Vec<_>, _>>()).await.unwrap()
}

async fn candidates(store: &Store, q: i64, now: i64, fifo: bool, limit: usize) -> Vec<i64> {
    let rows = store.write(move |tx| tx.sqs_candidates(q, now, fifo, limit)).await.unwrap();
    rows.into_iter().map(|m| m.seq).collect()
}

/// Receives `seqs` at `now` until `until` (what the `sqs` crate's receive writes).
async fn receive(store: &Store, seqs: Vec<i64>, now: i64, until: i64) {
    store
        .write(move |tx| {
            for seq in seqs {
                let mut m = tx.sqs_message(seq)?.unwrap();
                m.receive_count += 1;
                m.visible_ms = until;
                m.first_receive_ms.get_or_insert(now);
                m.receipt = Some(format!("h-{seq}-{now}"));
                tx.sqs_update_message(&m)?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

/// Standard queues: visible messages by visibility time, then sending order; a received message
/// is invisible until its visibility timeout ends, then comes back with its receive count.
async fn sqs_visibility_and_standard_order(db: &Db) {
    let store = db.open();
    let q = insert_queue(&store, "std").await;
    let mut expired = message(q, None, 103, 100);
    expired.expires_ms = 150;
    let s = insert_all(
        &store,
        vec![message(q, None, 100, 300), message(q, None, 101, 200), message(q, None, 102, 200), expired],
    )
    .await;
    assert_eq!(candidates(&store, q, 250, false, 10).await, [s[1], s[2]], "delayed and expired ones wait/go");
    assert_eq!(candidates(&store, q, 350, false, 10).await, [s[1], s[2], s[0]]);
    assert_eq!(candidates(&store, q, 350, false, 2).await, [s[1], s[2]]);
    receive(&store, vec![s[1]], 350, 1_000).await;
    assert_eq!(candidates(&store, q, 400, false, 10).await, [s[2], s[0]]);
    let s1 = s[1];
    let (counts, next, row) = store
        .read(move |tx| {
            Ok::<_, StoreError>((tx.sqs_counts(q, 400)?, tx.sqs_next_visible(q, 400)?, tx.sqs_message(s1)?))
        })
        .await
        .unwrap();
    assert_eq!((counts.visible, counts.in_flight, counts.delayed), (3, 1, 0));
    assert_eq!(next, Some(1_000));
    let row = row.unwrap();
    assert_eq!((row.receive_count, row.first_receive_ms), (1, Some(350)));
    assert_eq!(row.receipt, Some(format!("h-{}-350", s[1])));
    assert_eq!(row.md5_attrs.as_deref(), Some("y"));
    // The visibility timeout ends: back, after those visible longer.
    assert_eq!(candidates(&store, q, 1_000, false, 10).await, [s[2], s[0], s[1]]);
    let listed = store.read(|tx| tx.sqs_queues(ACCOUNT, REGION, "st", None, 10)).await.unwrap();
    assert_eq!((listed.len(), listed[0].messages, listed[0].bytes), (1, 4, 28));
    assert_eq!(store.read(|tx| tx.sqs_queue_count(ACCOUNT, REGION)).await.unwrap(), 1);
}

/// FIFO queues: sending order, and a group with a message in flight yields nothing more until
/// that message is deleted or visible again.
async fn sqs_fifo_groups_in_order(db: &Db) {
    let store = db.open();
    let q = insert_queue(&store, "q.fifo").await;
    let groups = ["a", "b", "a", "c", "b"];
    let rows = groups.iter().enumerate().map(|(i, g)| message(q, Some(g), 100 + i as i64, 100 + i as i64)).collect();
    let s = insert_all(&store, rows).await;
    assert!(s.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(candidates(&store, q, 200, true, 10).await, s);
    receive(&store, vec![s[0], s[1]], 200, 500).await;
    assert_eq!(candidates(&store, q, 200, true, 10).await, [s[3]], "groups a and b are in flight");
    let s0 = s[0];
    assert!(store.write(move |tx| tx.sqs_delete_message(s0)).await.unwrap());
    assert_eq!(candidates(&store, q, 200, true, 10).await, [s[2], s[3]]);
    assert_eq!(candidates(&store, q, 200, true, 1).await, [s[2]]);
    // b's message is visible again: the whole group is back, in order.
    assert_eq!(candidates(&store, q, 600, true, 10).await, [s[1], s[2], s[3], s[4]]);
}

/// Receivers running at once never get the same message twice.
async fn sqs_concurrent_receivers_take_each_message_once(db: &Db) {
    let store = db.open();
    let q = insert_queue(&store, "busy").await;
    let s = insert_all(&store, (0..30).map(|i| message(q, None, 100 + i, 100)).collect()).await;
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = store
                    .write(move |tx| {
                        let mut out = Vec::new();
                        for mut m in tx.sqs_candidates(q, 1_000, false, 2)? {
                            m.receive_count += 1;
                            m.visible_ms = 1_000_000;
                            tx.sqs_update_message(&m)?;
                            out.push(m.seq);
                        }
                        Ok::<_, StoreError>(out)
                    })
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch);
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, s, "each message received exactly once");
}

/// FIFO receivers running at once: each group's messages are received in order, one batch in
/// flight per group.
async fn sqs_concurrent_fifo_receivers_keep_group_order(db: &Db) {
    let store = db.open();
    let q = insert_queue(&store, "busy.fifo").await;
    let rows = (0..24).map(|i| message(q, Some(["a", "b", "c"][i % 3]), 100 + i as i64, 100)).collect();
    let s = insert_all(&store, rows).await;
    let ticket = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (store, ticket) = (store.clone(), ticket.clone());
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let ticket = ticket.clone();
                let batch = store
                    .write(move |tx| {
                        let found = tx.sqs_candidates(q, 1_000, true, 2)?;
                        // Taken while the receive holds the queue: the order receives happened in.
                        let n = ticket.fetch_add(1, Ordering::SeqCst);
                        let mut out = Vec::new();
                        for mut m in found {
                            m.receive_count += 1;
                            m.visible_ms = 1_000_000;
                            tx.sqs_update_message(&m)?;
                            out.push((n, m.group_id.clone().unwrap(), m.seq));
                        }
                        Ok::<_, StoreError>(out)
                    })
                    .await
                    .unwrap();
                if batch.is_empty() {
                    // Done when nothing is left at all (others may hold groups in flight).
                    let left = store.read(move |tx| tx.sqs_queue_by_id(q)).await.unwrap().unwrap().messages;
                    if left == 0 {
                        return got;
                    }
                    tokio::task::yield_now().await;
                    continue;
                }
                // Processed: deleting frees the group for the next receive.
                let seqs: Vec<i64> = batch.iter().map(|b| b.2).collect();
                store
                    .write(move |tx| {
                        for seq in seqs {
                            tx.sqs_delete_message(seq)?;
                        }
                        Ok::<_, StoreError>(())
                    })
                    .await
                    .unwrap();
                got.extend(batch);
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let mut per_group: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (_, g, seq) in &all {
        per_group.entry(g.clone()).or_default().push(*seq);
    }
    for (g, seqs) in &per_group {
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "group {g} received out of order: {seqs:?}");
    }
    let mut seqs: Vec<i64> = all.iter().map(|a| a.2).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, s, "each message received exactly once");
}

/// Senders of one deduplication id running at once store one message.
async fn sqs_concurrent_sends_deduplicate(db: &Db) {
    let store = db.open();
    let q = insert_queue(&store, "dedup.fifo").await;
    let mut tasks = Vec::new();
    for i in 0..TASKS as i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .write(move |tx| {
                    if let Some((id, seq)) = tx.sqs_dedup(q, "k", 1_000)? {
                        return Ok::<_, StoreError>((id, seq));
                    }
                    let m = message(q, Some("g"), 1_000 + i, 1_000);
                    let seq = tx.sqs_insert_message(&m)?;
                    tx.sqs_put_dedup(q, "k", &m.message_id, seq, 300_000)?;
                    Ok((m.message_id, seq))
                })
                .await
                .unwrap()
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers.dedup();
    assert_eq!(answers.len(), 1, "every sender got the first message's id: {answers:?}");
    let row = store.read(move |tx| tx.sqs_queue_by_id(q)).await.unwrap().unwrap();
    assert_eq!(row.messages, 1);
}

/// Event source mappings by UUID and scope, and stream checkpoints that go with their mapping.
async fn esm_mappings_and_checkpoints(db: &Db) {
    let store = db.open();
    let row = |uuid: &str, account: &str| EsmRow {
        uuid: uuid.into(),
        account: account.into(),
        region: REGION.into(),
        source_arn: format!("arn:aws:sqs:{REGION}:{account}:q"),
        function_arn: format!("arn:aws:lambda:{REGION}:{account}:function:f"),
        doc: format!("{{\"uuid\":\"{uuid}\"}}"),
    };
    for r in [row("c", ACCOUNT), row("a", ACCOUNT), row("b", "210987654321")] {
        store.write(move |tx| tx.put_esm(&r)).await.unwrap();
    }
    // An update keeps the mapping's account and region.
    let moved = EsmRow { doc: "{\"v\":2}".into(), ..row("a", "210987654321") };
    store.write(move |tx| tx.put_esm(&moved)).await.unwrap();
    let uuids = |rows: Vec<EsmRow>| rows.into_iter().map(|r| r.uuid).collect::<Vec<_>>();
    assert_eq!(uuids(store.read(|tx| tx.esms(ACCOUNT, REGION, 10)).await.unwrap()), ["a", "c"]);
    assert_eq!(uuids(store.read(|tx| tx.esms(ACCOUNT, REGION, 1)).await.unwrap()), ["a"]);
    assert_eq!(uuids(store.read(|tx| tx.all_esms(2)).await.unwrap()), ["a", "b"]);
    let a = store.read(|tx| tx.esm("a")).await.unwrap().unwrap();
    assert_eq!((a.account.as_str(), a.doc.as_str()), (ACCOUNT, "{\"v\":2}"));
    store
        .write(|tx| {
            tx.put_esm_checkpoint("a", "shard-2", "20")?;
            tx.put_esm_checkpoint("a", "shard-1", "10")?;
            tx.put_esm_checkpoint("a", "shard-1", "11")?;
            tx.put_esm_checkpoint("gone", "shard-1", "5")
        })
        .await
        .unwrap();
    let points = store.read(|tx| tx.esm_checkpoints("a")).await.unwrap();
    assert_eq!(points, [("shard-1".to_owned(), "11".to_owned()), ("shard-2".to_owned(), "20".to_owned())]);
    assert!(store.read(|tx| tx.esm_checkpoints("gone")).await.unwrap().is_empty());
    assert!(store.write(|tx| tx.delete_esm("a")).await.unwrap());
    assert!(!store.write(|tx| tx.delete_esm("a")).await.unwrap());
    assert!(store.read(|tx| tx.esm_checkpoints("a")).await.unwrap().is_empty());
    // A mapping created again under the same UUID starts from the stream's start.
    store.write(move |tx| tx.put_esm(&row("a", ACCOUNT))).await.unwrap();
    assert!(store.read(|tx| tx.esm_checkpoints("a")).await.unwrap().is_empty());
}

/// Checkpoints written while their mapping is deleted: each write either lands before the delete
/// (and goes with it) or finds the mapping gone; none fails, none outlives the mapping.
async fn esm_checkpoints_racing_a_delete(db: &Db) {
    let store = db.open();
    let row = EsmRow {
        uuid: "race".into(),
        account: ACCOUNT.into(),
        region: REGION.into(),
        source_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/s".into(),
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
        doc: "{}".into(),
    };
    store.write(move |tx| tx.put_esm(&row)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..20 {
                let shard = format!("shard-{i}");
                store.write(move |tx| tx.put_esm_checkpoint("race", &shard, &n.to_string())).await.unwrap();
            }
        }));
    }
    tokio::task::yield_now().await;
    assert!(store.write(|tx| tx.delete_esm("race")).await.unwrap());
    for t in tasks {
        t.await.unwrap();
    }
    assert!(store.read(|tx| tx.esm_checkpoints("race")).await.unwrap().is_empty());
}

/// 1-second aggregates: replaced, ranged, listed per series, trimmed; the minute series list is
/// not theirs.
async fn metric_points_high_resolution(db: &Db) {
    let store = db.open();
    let series = |metric: &str| MetricSeries {
        account: ACCOUNT.into(),
        region: REGION.into(),
        namespace: "Custom".into(),
        metric: metric.into(),
        dims: "k\u{1f}v".into(),
    };
    let point =
        |start_ms: i64, sum: f64| MetricPoint { start_ms, sum, count: 3, min: 0.5, max: sum, sketch: vec![0, 255, 7] };
    let (a, b) = (series("Zeta"), series("Alpha"));
    {
        let (a, b) = (a.clone(), b.clone());
        store
            .write(move |tx| {
                for s in 0..5 {
                    tx.put_metric_point_hr(&a, &point(s * 1_000, 1.5))?;
                }
                tx.put_metric_point_hr(&a, &point(2_000, 9.25))?;
                tx.put_metric_point_hr(&b, &point(0, 2.0))
            })
            .await
            .unwrap();
    }
    let (one, range, listed, first, minutes) = {
        let a = a.clone();
        store
            .read(move |tx| {
                Ok::<_, StoreError>((
                    tx.metric_point_hr(&a, 2_000)?,
                    tx.metric_points_hr(&a, 1_000, 3_000)?,
                    tx.metric_series_hr(10)?,
                    tx.metric_series_hr(1)?,
                    tx.metric_series_count()?,
                ))
            })
            .await
            .unwrap()
    };
    assert_eq!(one, Some(point(2_000, 9.25)));
    assert_eq!(range, [point(1_000, 1.5), point(2_000, 9.25)]);
    assert_eq!(listed, [b.clone(), a.clone()]);
    assert_eq!(first, std::slice::from_ref(&b));
    assert_eq!(minutes, 0);
    assert_eq!(store.write(|tx| tx.delete_metric_points_hr_before(3_000)).await.unwrap(), 4);
    let left = store.read(move |tx| tx.metric_points_hr(&a, 0, i64::MAX)).await.unwrap();
    assert_eq!(left.iter().map(|p| p.start_ms).collect::<Vec<_>>(), [3_000, 4_000]);
    assert_eq!(store.read(|tx| tx.metric_series_hr(10)).await.unwrap(), [series("Zeta")]);
}

/// Flushes of several writers at once (read a point, merge, write back) lose nothing.
async fn metric_concurrent_merges_lose_nothing(db: &Db) {
    let store = db.open();
    let s = MetricSeries {
        account: ACCOUNT.into(),
        region: REGION.into(),
        namespace: "AWS/Lambda".into(),
        metric: "Invocations".into(),
        dims: String::new(),
    };
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (store, s) = (store.clone(), s.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let s = s.clone();
                store
                    .write(move |tx| {
                        let mut p = tx.metric_point(&s, 60_000)?.unwrap_or(MetricPoint {
                            start_ms: 60_000,
                            sum: 0.0,
                            count: 0,
                            min: 1.0,
                            max: 1.0,
                            sketch: Vec::new(),
                        });
                        p.sum += 1.0;
                        p.count += 1;
                        tx.put_metric_point(&s, &p)
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let p = store.read(move |tx| tx.metric_point(&s, 60_000)).await.unwrap().unwrap();
    assert_eq!((p.sum, p.count), (5.0 * TASKS as f64, 5 * TASKS as u64));
}

/// The scheduler's pass takes active deployments by due time, those with none first.
async fn cd_active_deployments_by_due_time(db: &Db) {
    let store = db.open();
    let row = |id: &str, group: &str, due: Option<i64>, create_ms: i64| CdDeploymentRow {
        id: id.into(),
        account: ACCOUNT.into(),
        region: REGION.into(),
        application: "app".into(),
        group: group.into(),
        active: true,
        next_due_ms: due,
        create_ms,
        doc: "{\"status\":\"InProgress\"}".into(),
    };
    for r in [
        row("d-1", "g1", Some(10), 1),
        row("d-2", "g2", None, 5),
        row("d-3", "g3", Some(5), 2),
        row("d-4", "g4", Some(5), 1),
    ] {
        store.write(move |tx| tx.put_cd_deployment(&r)).await.unwrap();
    }
    let ids = |rows: Vec<CdDeploymentRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(store.read(|tx| tx.cd_active_deployments(10)).await.unwrap()), ["d-2", "d-4", "d-3", "d-1"]);
    let done = CdDeploymentRow { active: false, next_due_ms: None, ..row("d-2", "g2", None, 5) };
    store.write(move |tx| tx.put_cd_deployment(&done)).await.unwrap();
    assert_eq!(ids(store.read(|tx| tx.cd_active_deployments(2)).await.unwrap()), ["d-4", "d-3"]);
    assert_eq!(ids(store.read(|tx| tx.cd_deployments_shown(3, 10)).await.unwrap()), ["d-3", "d-4", "d-1", "d-2"]);
}

/// One tick of a schedule is fired once, however many tickers race for it.
async fn schedules_concurrent_ticks_fire_once(db: &Db) {
    let store = db.open();
    let row = ScheduleRow {
        account: ACCOUNT.into(),
        region: REGION.into(),
        kind: "schedule".into(),
        name: "default/s".into(),
        doc: "{}".into(),
        next_due_ms: Some(10),
    };
    let r = row.clone();
    store.write(move |tx| tx.put_schedule_row(&r)).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (store, row) = (store.clone(), row.clone());
        tasks.push(tokio::spawn(async move {
            store.write(move |tx| tx.advance_schedule_due(&row, 10, Some(70))).await.unwrap()
        }));
    }
    let mut fired = 0;
    for t in tasks {
        fired += usize::from(t.await.unwrap());
    }
    assert_eq!(fired, 1);
    let due = store.read(|tx| tx.schedules_due(100, 10)).await.unwrap();
    assert_eq!(due.iter().map(|r| r.next_due_ms).collect::<Vec<_>>(), [Some(70)]);
}

both!(sqs_visibility_and_standard_order);
both!(sqs_fifo_groups_in_order);
both!(sqs_concurrent_receivers_take_each_message_once);
both!(sqs_concurrent_fifo_receivers_keep_group_order);
both!(sqs_concurrent_sends_deduplicate);
both!(esm_mappings_and_checkpoints);
both!(esm_checkpoints_racing_a_delete);
both!(metric_points_high_resolution);
both!(metric_concurrent_merges_lose_nothing);
both!(cd_active_deployments_by_due_time);
both!(schedules_concurrent_ticks_fire_once);
