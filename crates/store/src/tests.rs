//! The store test suite. Every backend must pass it; today it runs against the embedded one.

use std::collections::BTreeMap;
use std::sync::Arc;

use model::function::*;
use model::name::Version;
use model::scope::{AccountId, Region, Scope};

use crate::{FunctionKey, SqliteBackend, SqliteOptions, Store, StoreError};

fn scope() -> Scope {
    Scope { account: AccountId::parse("123456789012").unwrap(), region: Region::parse("us-east-1").unwrap() }
}

fn record(version: Version, sha: u8, rev: &str) -> VersionRecord {
    VersionRecord {
        version,
        config: FunctionConfig {
            runtime: Some("python3.12".into()),
            handler: Some("h.handler".into()),
            role: "arn:aws:iam::123456789012:role/r".into(),
            description: String::new(),
            timeout_s: 3,
            memory_mb: 128,
            environment: Some(BTreeMap::from([("A".into(), "b".into())])),
            architecture: Architecture::X86_64,
            ephemeral_storage_mb: 512,
            tracing_mode: TracingMode::PassThrough,
            dead_letter_target_arn: None,
            kms_key_arn: None,
            logging: LoggingConfig::default(),
            vpc: None,
            snap_start: SnapStartApplyOn::None,
        },
        code: CodeRef { sha256: Sha256([sha; 32]), size: 10, unzipped_size: 20 },
        revision_id: RevisionId(rev.into()),
        last_modified_ms: 1,
        config_rev: 1,
    }
}

fn open(dir: &std::path::Path) -> Store {
    let backend = SqliteBackend::open(&SqliteOptions { path: dir.join("versa.db") }).unwrap();
    Store::new(Arc::new(backend))
}

/// Runs the whole suite on `store`.
async fn suite(store: Store) {
    let key = FunctionKey { scope: scope(), name: "f".into() };
    let f = Function {
        id: FunctionId(0),
        name: "f".into(),
        latest: record(Version::Latest, 1, "r1"),
        next_version: 1,
        tags: BTreeMap::new(),
        reserved_concurrency: None,
    };
    let id = store.write(move |tx| tx.insert_function(&scope(), &f)).await.unwrap();

    // A failing write changes nothing.
    let r: Result<(), StoreError> = store
        .write(move |tx| {
            tx.insert_version(id, &record(Version::Published(1), 2, "v1"))?;
            Err(StoreError::Corrupt("abort".into()))
        })
        .await;
    assert!(r.is_err());
    let k = key.clone();
    let got = store.read(move |tx| Ok::<_, StoreError>((tx.function(&k)?, tx.version(id, 1)?))).await.unwrap();
    assert_eq!(got.0.as_ref().unwrap().latest.revision_id.0, "r1");
    assert!(got.1.is_none());

    // Versions, aliases and references.
    store
        .write(move |tx| {
            tx.insert_version(id, &record(Version::Published(1), 2, "v1"))?;
            tx.insert_version(id, &record(Version::Published(2), 1, "v2"))?;
            tx.put_alias(
                id,
                &Alias {
                    name: "live".into(),
                    function_version: Version::Published(1),
                    description: String::new(),
                    routing: Some(AdditionalVersion { version: 2, weight: 0.25 }),
                    revision_id: RevisionId("a1".into()),
                },
            )
        })
        .await
        .unwrap();
    let (versions, highest, refs1, refs2, alias, referencing, usage) = store
        .read(move |tx| {
            Ok::<_, StoreError>((
                tx.versions(id, None, 50)?,
                tx.highest_version(id)?,
                tx.code_references(&Sha256([1; 32]))?,
                tx.code_references(&Sha256([2; 32]))?,
                tx.alias(id, "live")?,
                tx.aliases_referencing(id, 2)?,
                tx.account_usage(&scope())?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [Version::Published(1), Version::Published(2)]);
    assert_eq!(highest.unwrap().version, Version::Published(2));
    assert_eq!((refs1, refs2), (2, 1));
    assert_eq!(alias.unwrap().routing, Some(AdditionalVersion { version: 2, weight: 0.25 }));
    assert_eq!(referencing, ["live"]);
    assert_eq!(usage.function_count, 1);
    assert_eq!(usage.total_code_size, 30);
    // The stored record reads back exactly as written.
    assert_eq!(versions[0], record(Version::Published(1), 2, "v1"));

    // Provisioned concurrency of a function without a reservation takes from the unreserved
    // pool; with a reservation, it is carved out of the reservation instead.
    let config = |q: &str, n: u32| ProvisionedConfig { qualifier: q.into(), requested: n, last_modified_ms: 1 };
    let (c1, c2) = (config("1", 3), config("live", 4));
    store
        .write(move |tx| {
            tx.put_provisioned_config(id, &c1)?;
            tx.put_provisioned_config(id, &c2)
        })
        .await
        .unwrap();
    let totals = |store: Store| async move {
        store
            .read(|tx| {
                Ok::<_, StoreError>((
                    tx.reserved_concurrency_total(&scope())?,
                    tx.unreserved_provisioned_total(&scope())?,
                ))
            })
            .await
            .unwrap()
    };
    assert_eq!(totals(store.clone()).await, (0, 7));
    let k = key.clone();
    store
        .write(move |tx| {
            let mut f = tx.lock_function(&k)?.unwrap();
            f.reserved_concurrency = Some(10);
            tx.update_function(&f)
        })
        .await
        .unwrap();
    assert_eq!(totals(store.clone()).await, (10, 0));

    // Deleting the function takes its versions, aliases and configs along.
    let k = key.clone();
    store
        .write(move |tx| {
            let f = tx.lock_function(&k)?.unwrap();
            tx.delete_function(f.id)
        })
        .await
        .unwrap();
    let (refs, alias) = store
        .read(move |tx| Ok::<_, StoreError>((tx.code_references(&Sha256([1; 32]))?, tx.alias(id, "live")?)))
        .await
        .unwrap();
    assert_eq!(refs, 0);
    assert!(alias.is_none());
    assert_eq!(totals(store.clone()).await, (0, 0));
}

#[tokio::test]
async fn sqlite_suite() {
    let dir = tempfile::tempdir().unwrap();
    suite(open(dir.path())).await;
}

#[tokio::test]
async fn sqlite_survives_reopen_and_batches_concurrent_writes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let mut tasks = Vec::new();
        for i in 0..64u8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let f = Function {
                    id: FunctionId(0),
                    name: format!("f{i:02}"),
                    latest: record(Version::Latest, i, "r"),
                    next_version: 1,
                    tags: BTreeMap::new(),
                    reserved_concurrency: None,
                };
                store.write(move |tx| tx.insert_function(&scope(), &f)).await.unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    let store = open(dir.path());
    let all = store.read(|tx| tx.functions(&scope(), None, 1000)).await.unwrap();
    assert_eq!(all.len(), 64);
    assert_eq!(all[0].name, "f00");
    let page = store.read(|tx| tx.functions(&scope(), Some("f10"), 5)).await.unwrap();
    assert_eq!(page.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["f11", "f12", "f13", "f14", "f15"]);
}

#[tokio::test]
async fn sqlite_event_queue_claims_leases_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = open(dir.path());
        let f = Function {
            id: FunctionId(0),
            name: "q".into(),
            latest: record(Version::Latest, 1, "r"),
            next_version: 1,
            tags: BTreeMap::new(),
            reserved_concurrency: Some(5),
        };
        let id = store.write(move |tx| tx.insert_function(&scope(), &f)).await.unwrap();
        for i in 0..3 {
            let ev = QueuedEvent {
                id: 0,
                scope: scope(),
                function_id: id,
                function_name: "q".into(),
                qualifier: (i == 2).then(|| "prod".to_owned()),
                request_id: format!("r{i}"),
                payload: format!("{{\"i\":{i}}}").into_bytes(),
                received_ms: 100,
                attempts: 0,
            };
            store.write(move |tx| tx.enqueue_event(&ev, 100 + i)).await.unwrap();
        }
        // Claim two: the third stays for later; claimed ones are invisible until the lease ends.
        let claimed = store.write(|tx| tx.claim_events(1_000, 5_000, 2)).await.unwrap();
        assert_eq!(claimed.iter().map(|e| e.request_id.as_str()).collect::<Vec<_>>(), ["r0", "r1"]);
        let again = store.write(|tx| tx.claim_events(1_000, 5_000, 10)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].qualifier.as_deref(), Some("prod"));
        assert!(store.write(|tx| tx.claim_events(2_000, 5_000, 10)).await.unwrap().is_empty());
        // Finish one, retry one later, leave one claimed (a crash).
        let (done, retry) = (claimed[0].id, claimed[1].id);
        store.write(move |tx| tx.delete_event(done)).await.unwrap();
        store.write(move |tx| tx.reschedule_event(retry, 1, 9_000)).await.unwrap();
        assert_eq!(store.read(|tx| tx.next_event_due()).await.unwrap(), Some(5_000));
        let cfg = EventInvokeConfig {
            maximum_retry_attempts: Some(0),
            on_failure: Some("arn:x".into()),
            ..Default::default()
        };
        store.write(move |tx| tx.put_event_invoke_config(id, "$LATEST", &cfg)).await.unwrap();
        assert_eq!(store.read(|tx| tx.reserved_concurrency_total(&scope())).await.unwrap(), 5);
        id
    };
    // After a restart the leases of the dead node are released.
    let store = open(dir.path());
    assert_eq!(store.read(|tx| tx.queued_events()).await.unwrap(), crate::QueueTotals { events: 2, bytes: 14 });
    assert_eq!(store.write(|tx| tx.release_claims()).await.unwrap(), 1);
    let now = store.write(|tx| tx.claim_events(1_000, 2_000, 10)).await.unwrap();
    assert_eq!(now.iter().map(|e| e.request_id.as_str()).collect::<Vec<_>>(), ["r2"]);
    let later = store.write(|tx| tx.claim_events(9_000, 10_000, 10)).await.unwrap();
    assert_eq!((later[0].request_id.as_str(), later[0].attempts), ("r1", 1));
    let cfg = store.read(move |tx| tx.event_invoke_config(id, "$LATEST")).await.unwrap().unwrap();
    assert_eq!((cfg.maximum_retry_attempts, cfg.on_failure.as_deref()), (Some(0), Some("arn:x")));
    // Deleting the function takes its events and configs along.
    store.write(move |tx| tx.delete_function(id)).await.unwrap();
    assert_eq!(store.read(|tx| tx.queued_events()).await.unwrap(), crate::QueueTotals::default());
}
