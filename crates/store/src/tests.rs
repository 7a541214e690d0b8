//! The store test suite. Every backend must pass it: each test body takes a [`Db`] and runs
//! once on SQLite and once on a fresh PostgreSQL database (skipped, saying why, when there is
//! no PostgreSQL here, unless `VERSA_REQUIRE_POSTGRES=1`).

use std::collections::BTreeMap;
use std::sync::Arc;

use model::function::*;
use model::layer::{FunctionLayer, Layer, LayerId, LayerPolicy, LayerPrincipal, LayerStatement, LayerVersion};
use model::name::Version;
use model::scope::{AccountId, Region, Scope};

use crate::{
    AccessKeyRow, FunctionKey, LayerKey, PgBackend, PgOptions, SqliteBackend, SqliteOptions, Store, StoreError,
};

/// The throwaway PostgreSQL cluster of `testkit` (by path: see its module doc).
#[path = "../../testkit/src/postgres.rs"]
#[allow(dead_code)]
mod pgcluster;

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
            layers: Vec::new(),
        },
        code: CodeRef { sha256: Sha256([sha; 32]), size: 10, unzipped_size: 20 },
        revision_id: RevisionId(rev.into()),
        last_modified_ms: 1,
        config_rev: 1,
    }
}

/// Where a test's data lives; [`Db::open`] opens it again and again (a restart).
enum Db {
    Sqlite(tempfile::TempDir),
    Pg(String),
}

impl Db {
    fn sqlite() -> Db {
        Db::Sqlite(tempfile::tempdir().unwrap())
    }

    /// A fresh database, or `None` when this machine has no PostgreSQL (see the module doc).
    fn pg(label: &str) -> Option<Db> {
        pgcluster::database(label).map(Db::Pg)
    }

    fn open(&self) -> Store {
        match self {
            Db::Sqlite(dir) => {
                let backend = SqliteBackend::open(&SqliteOptions { path: dir.path().join("versa.db") }).unwrap();
                Store::new(Arc::new(backend))
            }
            Db::Pg(url) => Store::new(Arc::new(PgBackend::open(&PgOptions::new(url.clone())).unwrap())),
        }
    }
}

/// Registers a test body `async fn(&Db)` as two tests, `<name>::sqlite` and `<name>::postgres`.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(&super::Db::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = super::Db::pg(stringify!($name)) {
                    super::$name(&db).await;
                }
            }
        }
    };
}

both!(whole_suite);
both!(survives_reopen_and_batches_concurrent_writes);
both!(event_queue);
both!(event_batches_enqueue_all_or_nothing);
both!(event_claims_cap_each_function);
both!(metric_points_put_range_series_retention);
both!(alarms_state_due_times_history_tags);
both!(alias_history_pages_trims_and_goes_with_its_function);
both!(codedeploy_keeps_one_active_deployment_per_group);
both!(codedeploy_renames_move_their_deployments);
both!(codedeploy_saves_are_compare_and_set);
both!(codedeploy_deployments_page_newest_first_and_are_trimmed_per_group);
both!(sqs_receive_order_fifo_groups_counts_moves_purge_and_expiry);
both!(api_gateway_apis_are_found_by_id_and_listed_per_scope_and_kind);
both!(schedules_fire_once_per_due_time);
both!(leases_acquire_renew_expire_release);
both!(provisioned_allocations_plan_report_and_orphans);

mod services;

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

    layers(&store).await;
    access_keys(&store).await;
    cluster_tables(&store).await;
    code_blobs(&store).await;
}

/// The `code_blobs` rows of the grace-period collector: touched, tracked, stale only when
/// untouched for the grace period and unreferenced, deleted.
async fn code_blobs(store: &Store) {
    let (free, used, found) = (Sha256([0xc1; 32]), Sha256([0xc2; 32]), Sha256([0xc3; 32]));
    let stale = |grace_ms: i64| {
        store.write(move |tx| {
            let mut s = tx.stale_code_blobs(grace_ms, 100)?;
            s.retain(|sha| [free, used, found].contains(sha));
            s.sort();
            Ok::<_, StoreError>(s)
        })
    };
    store.write(move |tx| tx.touch_code_blob(&free)).await.unwrap();
    store.write(move |tx| tx.touch_code_blob(&used)).await.unwrap();
    let f = Function {
        id: FunctionId(0),
        name: "code-blobs".into(),
        latest: record(Version::Latest, 0xc2, "r"),
        next_version: 1,
        tags: BTreeMap::new(),
        reserved_concurrency: None,
    };
    let fid = store.write(move |tx| tx.insert_function(&scope(), &f)).await.unwrap();
    // Within the grace period nothing is stale.
    assert_eq!(stale(60_000).await.unwrap(), vec![]);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // Past it, only the unreferenced blob.
    assert_eq!(stale(10).await.unwrap(), vec![free]);
    // A touch restarts its grace period.
    store.write(move |tx| tx.touch_code_blob(&free)).await.unwrap();
    assert_eq!(stale(10_000).await.unwrap(), vec![]);
    // Tracking adds only missing rows, and does not refresh existing ones.
    assert_eq!(store.write(move |tx| tx.track_code_blobs(&[free, found])).await.unwrap(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(stale(10).await.unwrap(), vec![free, found]);
    assert_eq!(store.write(move |tx| tx.stale_code_blobs(10, 1)).await.unwrap().len(), 1, "the limit holds");
    // Once its last reference goes, a blob is stale too.
    store.write(move |tx| tx.delete_function(fid)).await.unwrap();
    assert_eq!(stale(10).await.unwrap(), vec![free, used, found]);
    assert_eq!(store.write(move |tx| tx.delete_code_blobs(&[free, used, found])).await.unwrap(), 3);
    assert_eq!(stale(-60_000).await.unwrap(), vec![]);
}

fn layer_version(version: u32, sha: u8) -> LayerVersion {
    LayerVersion {
        version,
        description: format!("v{version}"),
        compatible_runtimes: vec!["python3.12".into()],
        compatible_architectures: vec!["x86_64".into()],
        license_info: Some("MIT".into()),
        code: CodeRef { sha256: Sha256([sha; 32]), size: 7, unzipped_size: 70 },
        created_ms: 5,
        policy: None,
    }
}

/// Nodes and cluster settings (migration 18): heartbeats upsert, liveness is judged by the
/// store's clock, dead rows go; the first value of a setting wins for every later writer.
async fn cluster_tables(store: &Store) {
    use crate::NodeBeat;
    let beat = |id: &str, busy: u32| NodeBeat {
        id: id.into(),
        name: format!("name-{id}"),
        addr: "127.0.0.1:4566".into(),
        capacity: 64,
        busy,
    };
    let (a, b) = (beat("11111111-1111-1111-1111-111111111111", 0), beat("22222222-2222-2222-2222-222222222222", 3));
    let (a2, b2) = (a.clone(), b.clone());
    let t1 = store.write(move |tx| tx.heartbeat_node(&a2)).await.unwrap();
    store.write(move |tx| tx.heartbeat_node(&b2)).await.unwrap();
    let nodes = store.read(|tx| tx.nodes(60_000)).await.unwrap();
    assert_eq!(nodes.len(), 2);
    let got_b = nodes.iter().find(|n| n.id == b.id).unwrap();
    assert_eq!(got_b.name, format!("name-{}", b.id));
    assert_eq!((got_b.capacity, got_b.busy, got_b.live), (64, 3, true));
    assert!(got_b.heartbeat_ms >= t1 && got_b.started_ms >= t1);
    // A second beat moves the heartbeat and the load, never the start.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let b3 = NodeBeat { busy: 7, ..b.clone() };
    let t2 = store.write(move |tx| tx.heartbeat_node(&b3)).await.unwrap();
    let again = store.read(|tx| tx.nodes(60_000)).await.unwrap();
    let got_b2 = again.iter().find(|n| n.id == b.id).unwrap();
    assert_eq!((got_b2.busy, got_b2.started_ms), (7, got_b.started_ms));
    assert!(t2 > got_b.heartbeat_ms && got_b2.heartbeat_ms == t2);
    // Judged with a short dead interval, a node silent for longer is dead; the fresh one is not
    // (the margins leave a loaded machine 250 ms between a beat and the read that judges it).
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let a3 = a.clone();
    store.write(move |tx| tx.heartbeat_node(&a3)).await.unwrap();
    let judged = store.read(|tx| tx.nodes(350)).await.unwrap();
    assert!(judged.iter().find(|n| n.id == a.id).unwrap().live);
    assert!(!judged.iter().find(|n| n.id == b.id).unwrap().live);
    assert_eq!(store.write(|tx| tx.delete_dead_nodes(350)).await.unwrap(), 1);
    let left = store.read(|tx| tx.nodes(60_000)).await.unwrap();
    assert_eq!(left.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), vec![a.id.as_str()]);
    let id = a.id.clone();
    assert!(store.write(move |tx| tx.delete_node(&id)).await.unwrap());
    assert!(store.read(|tx| tx.nodes(60_000)).await.unwrap().is_empty());

    // Settings: the first writer's value is everyone's.
    let name = format!("k-{}", stdx_free_unique());
    let (n1, n2, n3, n4) = (name.clone(), name.clone(), name.clone(), name.clone());
    assert_eq!(store.read(move |tx| tx.cluster_setting(&n1)).await.unwrap(), None);
    let first = store.write(move |tx| tx.init_cluster_setting(&n2, b"first")).await.unwrap();
    let second = store.write(move |tx| tx.init_cluster_setting(&n3, b"second")).await.unwrap();
    assert_eq!((first.as_slice(), second.as_slice()), (&b"first"[..], &b"first"[..]));
    assert_eq!(store.read(move |tx| tx.cluster_setting(&n4)).await.unwrap().as_deref(), Some(&b"first"[..]));
    // A notice is accepted inside a write (delivered, or a no-op, at commit).
    store.write(|tx| tx.notify(crate::Channel::Function, "123456789012\nus-east-1\nf")).await.unwrap();
    let key = crate::parse_function_notice("123456789012\nus-east-1\nf").unwrap();
    assert_eq!(crate::function_notice(&key), "123456789012\nus-east-1\nf");
    assert_eq!(crate::parse_function_notice("bad"), None);
}

/// Access keys: inserted once, read by id, listed in id order, deleted.
async fn access_keys(store: &Store) {
    let row = |id: &str, root: bool| AccessKeyRow {
        access_key_id: id.into(),
        account: "123456789012".into(),
        sealed_secret: vec![1, 2, 3],
        root,
        created_ms: 7,
        name: Some("ci".into()),
        disabled: false,
    };
    let (a, b) = (row("VKIAB", false), row("VKIAA", true));
    let (a2, b2) = (a.clone(), b.clone());
    store
        .write(move |tx| {
            tx.insert_access_key(&a2)?;
            tx.insert_access_key(&b2)
        })
        .await
        .unwrap();
    let dup = a.clone();
    assert!(store.write(move |tx| tx.insert_access_key(&dup)).await.is_err(), "ids are unique");
    let got = store.read(|tx| tx.access_key("VKIAB")).await.unwrap();
    assert_eq!(got, Some(a.clone()));
    let all = store.read(|tx| tx.access_keys(10)).await.unwrap();
    assert_eq!(all, vec![b.clone(), a.clone()]);
    assert_eq!(store.read(|tx| tx.access_keys(1)).await.unwrap(), vec![b]);
    // Disabled and enabled again, kept as it was otherwise.
    assert!(store.write(|tx| tx.set_access_key_disabled("VKIAB", true)).await.unwrap());
    let disabled = AccessKeyRow { disabled: true, ..a.clone() };
    assert_eq!(store.read(|tx| tx.access_key("VKIAB")).await.unwrap(), Some(disabled));
    assert!(store.write(|tx| tx.set_access_key_disabled("VKIAB", false)).await.unwrap());
    assert_eq!(store.read(|tx| tx.access_key("VKIAB")).await.unwrap(), Some(a.clone()));
    assert!(!store.write(|tx| tx.set_access_key_disabled("VKIAX", true)).await.unwrap());
    assert!(store.write(|tx| tx.delete_access_key("VKIAB")).await.unwrap());
    assert!(!store.write(|tx| tx.delete_access_key("VKIAB")).await.unwrap());
    assert_eq!(store.read(|tx| tx.access_key("VKIAB")).await.unwrap(), None);
    assert!(store.write(|tx| tx.delete_access_key("VKIAA")).await.unwrap());
}

/// Layers, their versions and policies, and the invariant that a layer's code stays referenced
/// while a function version mounts it, even after the layer version is deleted.
async fn layers(store: &Store) {
    let key = LayerKey { scope: scope(), name: "lib".into() };
    let k = key.clone();
    let id: LayerId = store
        .write(move |tx| {
            assert!(tx.lock_layer(&k)?.is_none());
            let id = tx.insert_layer(&scope(), &Layer { id: LayerId(0), name: "lib".into(), next_version: 1 })?;
            tx.insert_layer_version(id, &layer_version(1, 0xa1))?;
            tx.insert_layer_version(id, &layer_version(2, 0xa2))?;
            tx.update_layer(&Layer { id, name: "lib".into(), next_version: 3 })?;
            Ok::<_, StoreError>(id)
        })
        .await
        .unwrap();
    let policy = LayerPolicy {
        revision_id: "p1".into(),
        statements: vec![LayerStatement {
            sid: "all".into(),
            principal: LayerPrincipal::Account("111111111111".into()),
            organization_id: None,
        }],
    };
    let p = policy.clone();
    store.write(move |tx| tx.put_layer_version_policy(id, 1, Some(&p))).await.unwrap();
    let k = key.clone();
    let (layer, v1, newest_first, below_2, listed) = store
        .read(move |tx| {
            Ok::<_, StoreError>((
                tx.layer(&k)?.unwrap(),
                tx.layer_version(id, 1)?.unwrap(),
                tx.layer_versions(id, None, 10)?,
                tx.layer_versions(id, Some(2), 10)?,
                tx.layers(&scope(), None, 10)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(layer.next_version, 3);
    assert_eq!(v1, LayerVersion { policy: Some(policy), ..layer_version(1, 0xa1) });
    assert_eq!(newest_first.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(below_2.iter().map(|v| v.version).collect::<Vec<_>>(), [1]);
    assert_eq!(listed.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["lib"]);
    store.write(move |tx| tx.put_layer_version_policy(id, 1, None)).await.unwrap();
    assert_eq!(store.read(move |tx| tx.layer_version(id, 1)).await.unwrap().unwrap().policy, None);

    // A function whose $LATEST mounts layer version 1 and whose version 1 mounts version 2.
    let mount = |sha: u8| FunctionLayer {
        arn: "arn:aws:lambda:us-east-1:123456789012:layer:lib:1".into(),
        code: CodeRef { sha256: Sha256([sha; 32]), size: 7, unzipped_size: 70 },
    };
    let mut latest = record(Version::Latest, 3, "r");
    latest.config.layers = vec![mount(0xa1)];
    let mut v1 = record(Version::Published(1), 3, "v1");
    v1.config.layers = vec![mount(0xa2), mount(0xa1)];
    let f = Function {
        id: FunctionId(0),
        name: "uses-layers".into(),
        latest,
        next_version: 2,
        tags: BTreeMap::new(),
        reserved_concurrency: None,
    };
    let v = v1.clone();
    let fid = store
        .write(move |tx| {
            let fid = tx.insert_function(&scope(), &f)?;
            tx.insert_version(fid, &v)?;
            Ok::<_, StoreError>(fid)
        })
        .await
        .unwrap();
    let refs = |store: &Store| {
        let store = store.clone();
        async move {
            store
                .read(|tx| {
                    Ok::<_, StoreError>((
                        tx.code_references(&Sha256([0xa1; 32]))?,
                        tx.code_references(&Sha256([0xa2; 32]))?,
                        tx.referenced_code()?,
                    ))
                })
                .await
                .unwrap()
        }
    };
    let (a1, a2, all) = refs(store).await;
    assert_eq!((a1, a2), (3, 2), "layer versions, $LATEST and version 1 each count");
    assert!(all.contains(&Sha256([0xa1; 32])) && all.contains(&Sha256([0xa2; 32])));
    assert_eq!(store.read(move |tx| tx.version(fid, 1)).await.unwrap().unwrap(), v1);
    let usage = store.read(|tx| tx.account_usage(&scope())).await.unwrap();
    assert_eq!(usage.total_code_size, 10 + 10 + 7 + 7, "function versions and layer versions");

    // Deleting the layer versions leaves the functions' references.
    let deleted = store
        .write(move |tx| Ok::<_, StoreError>((tx.delete_layer_version(id, 1)?, tx.delete_layer_version(id, 1)?)))
        .await
        .unwrap();
    assert_eq!(deleted, (true, false));
    store.write(move |tx| tx.delete_layer_version(id, 2)).await.unwrap();
    let (a1, a2, all) = refs(store).await;
    assert_eq!((a1, a2), (2, 1));
    assert!(all.contains(&Sha256([0xa2; 32])));
    // The layer stays, so numbering continues after every version is gone.
    let k = key.clone();
    assert_eq!(store.read(move |tx| tx.layer(&k)).await.unwrap().unwrap().next_version, 3);

    // Changing $LATEST's layers, deleting the version and the function drop the references.
    let fk = FunctionKey { scope: scope(), name: "uses-layers".into() };
    store
        .write(move |tx| {
            let mut f = tx.lock_function(&fk)?.unwrap();
            f.latest.config.layers.clear();
            tx.update_function(&f)
        })
        .await
        .unwrap();
    assert_eq!(refs(store).await.0, 1);
    store.write(move |tx| tx.delete_version(fid, 1)).await.unwrap();
    let (a1, a2, all) = refs(store).await;
    assert_eq!((a1, a2), (0, 0));
    assert!(!all.contains(&Sha256([0xa1; 32])) && !all.contains(&Sha256([0xa2; 32])));
    store.write(move |tx| tx.delete_function(fid)).await.unwrap();
}

async fn whole_suite(db: &Db) {
    suite(db.open()).await;
}

async fn survives_reopen_and_batches_concurrent_writes(db: &Db) {
    {
        let store = db.open();
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
    let store = db.open();
    let all = store.read(|tx| tx.functions(&scope(), None, 1000)).await.unwrap();
    assert_eq!(all.len(), 64);
    assert_eq!(all[0].name, "f00");
    let page = store.read(|tx| tx.functions(&scope(), Some("f10"), 5)).await.unwrap();
    assert_eq!(page.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["f11", "f12", "f13", "f14", "f15"]);
}

async fn event_queue(db: &Db) {
    event_queue_claims_fences_and_reaps(|| db.open()).await;
}

/// Creates function `name` (a bare `$LATEST`) and returns its id.
async fn function(store: &Store, name: &str) -> FunctionId {
    let f = Function {
        id: FunctionId(0),
        name: name.into(),
        latest: record(Version::Latest, 1, "r"),
        next_version: 1,
        tags: BTreeMap::new(),
        reserved_concurrency: None,
    };
    store.write(move |tx| tx.insert_function(&scope(), &f)).await.unwrap()
}

/// A claim with a [`crate::PerFunctionMax`] (a node sharing the queue) takes at most each
/// function's cap, the earliest of each, in due order; a function capped at 0 gives none and
/// does not hide the others behind it; without caps (a node alone) the earliest are taken.
async fn event_claims_cap_each_function(db: &Db) {
    use crate::{CLAIM_SCAN_MAX, PerFunctionMax};
    const LEASE: i64 = 60_000;
    let store = db.open();
    let (f, g, h) = (function(&store, "f").await, function(&store, "g").await, function(&store, "h").await);
    let event = |function_id: FunctionId, name: &str, i: usize, due: i64| QueuedEvent {
        id: 0,
        scope: scope(),
        function_id,
        function_name: name.into(),
        qualifier: None,
        request_id: format!("{name}{i}"),
        payload: b"{}".to_vec(),
        received_ms: due,
        attempts: 0,
    };
    // Due in this order: f0 g0 f1 h0 f2 g1 h1 f3 g2 f4 (received_ms is the due time).
    let order = [(f, "f"), (g, "g"), (f, "f"), (h, "h"), (f, "f"), (g, "g"), (h, "h"), (f, "f"), (g, "g"), (f, "f")];
    let mut seen = std::collections::HashMap::new();
    let batch: Vec<QueuedEvent> = order
        .iter()
        .enumerate()
        .map(|(k, (id, name))| {
            let i = seen.entry(*name).or_insert(0);
            *i += 1;
            event(*id, name, *i - 1, 1_000 + k as i64)
        })
        .collect();
    store.write(move |tx| tx.enqueue_events(&batch)).await.unwrap();
    let names = |v: &[crate::ClaimedEvent]| v.iter().map(|e| e.event.request_id.clone()).collect::<Vec<_>>();
    let claim = |node: &'static str, limit: usize, caps: Option<PerFunctionMax>| {
        let store = store.clone();
        async move { store.write(move |tx| tx.claim_events(node, LEASE, limit, caps.as_ref())).await.unwrap() }
    };
    // f at most 1, h none, the others (g) at most 2.
    let caps = PerFunctionMax { default: 2, of: vec![(f, 1), (h, 0)] };
    let got = claim("a", 10, Some(caps.clone())).await;
    assert_eq!(names(&got), ["f0", "g0", "g1"]);
    // The same caps again: the next of each, the limit taking the earliest first.
    assert_eq!(names(&claim("a", 1, Some(caps.clone())).await), ["f1"]);
    assert_eq!(names(&claim("a", 10, Some(caps.clone())).await), ["f2", "g2"]);
    // A cap of 0 for every function claims nothing, and the default applies to the unlisted.
    let none = PerFunctionMax { default: 0, of: vec![(f, 0), (g, 5)] };
    assert!(claim("b", 10, Some(none)).await.is_empty());
    // Every claim holds a token that finishes its event (at least once, as without caps).
    for e in &got {
        let (id, token) = (e.event.id, e.token.clone());
        assert!(store.write(move |tx| tx.delete_event(id, &token)).await.unwrap());
    }
    // Without caps, the earliest due whatever their function.
    assert_eq!(names(&claim("b", 3, None).await), ["h0", "h1", "f3"]);
    assert_eq!(names(&claim("b", 10, None).await), ["f4"]);
    // A long run of one capped function does not hide the others behind it: at 0 it is skipped
    // before the scan bound applies; at 1, the claim looks at the first CLAIM_SCAN_MAX only.
    let long: Vec<QueuedEvent> = (0..CLAIM_SCAN_MAX + 10).map(|i| event(f, "f", 100 + i, 2_000 + i as i64)).collect();
    store.write(move |tx| tx.enqueue_events(&long)).await.unwrap();
    let behind = vec![event(g, "g", 100, 100_000)];
    store.write(move |tx| tx.enqueue_events(&behind)).await.unwrap();
    let capped = PerFunctionMax { default: 8, of: vec![(f, 1)] };
    assert_eq!(names(&claim("c", 10, Some(capped)).await), ["f100"]);
    let skipped = PerFunctionMax { default: 8, of: vec![(f, 0)] };
    assert_eq!(names(&claim("c", 10, Some(skipped)).await), ["g100"]);
}

/// `enqueue_events` (the group commit of accepted invokes) writes every event of a batch, each
/// due at its `received_ms`, with its fields intact; a batch with one bad event writes none.
async fn event_batches_enqueue_all_or_nothing(db: &Db) {
    let store = db.open();
    let f = Function {
        id: FunctionId(0),
        name: "b".into(),
        latest: record(Version::Latest, 1, "r"),
        next_version: 1,
        tags: BTreeMap::new(),
        reserved_concurrency: None,
    };
    let id = store.write(move |tx| tx.insert_function(&scope(), &f)).await.unwrap();
    let event = |i: i64, function_id: FunctionId| QueuedEvent {
        id: 0,
        scope: scope(),
        function_id,
        function_name: "b".into(),
        qualifier: (i % 2 == 1).then(|| "live".to_owned()),
        request_id: format!("req-{i}"),
        payload: vec![i as u8, 0, 255],
        received_ms: 1_000 + i,
        attempts: 0,
    };
    let batch: Vec<QueuedEvent> = (0..300).map(|i| event(i, id)).collect();
    store.write(move |tx| tx.enqueue_events(&batch)).await.unwrap();
    // A batch naming a function that does not exist fails whole.
    let bad = vec![event(300, id), event(301, FunctionId(id.0 + 1000))];
    assert!(store.write(move |tx| tx.enqueue_events(&bad)).await.is_err());
    assert_eq!(store.read(|tx| tx.queued_events()).await.unwrap(), crate::QueueTotals { events: 300, bytes: 900 });
    assert_eq!(store.read(|tx| tx.next_event_due()).await.unwrap(), Some(1_000));
    assert_eq!(store.read(|tx| tx.oldest_queued_event_ms()).await.unwrap(), Some(1_000));
    let claimed = store.write(|tx| tx.claim_events("n", 60_000, 1000, None)).await.unwrap();
    assert_eq!(claimed.len(), 300);
    for (i, c) in claimed.iter().enumerate() {
        let mut want = event(i as i64, id);
        want.id = c.event.id;
        assert_eq!(c.event, want);
    }
}

/// The event queue: claims with leases and tokens, fenced finish and retry, reaping of a dead
/// node's claims, and all of it across a reopen.
async fn event_queue_claims_fences_and_reaps(open: impl Fn() -> Store) {
    const LEASE: i64 = 60_000;
    /// Far in the future (2096): never due during the test.
    const FAR: i64 = 4_000_000_000_000;
    let (id, r2_old_token) = {
        let store = open();
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
        let claimed = store.write(|tx| tx.claim_events("a", LEASE, 2, None)).await.unwrap();
        assert_eq!(claimed.iter().map(|e| e.event.request_id.as_str()).collect::<Vec<_>>(), ["r0", "r1"]);
        assert_ne!(claimed[0].token, claimed[1].token);
        let again = store.write(|tx| tx.claim_events("a", LEASE, 10, None)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].event.qualifier.as_deref(), Some("prod"));
        assert!(store.write(|tx| tx.claim_events("a", LEASE, 10, None)).await.unwrap().is_empty());
        // Finish one, retry one much later, leave one claimed (a crash). Each works once: the
        // token is gone after it.
        let (done, retry) = (claimed[0].clone(), claimed[1].clone());
        let (d, t) = (done.event.id, done.token.clone());
        let wrong = claimed[1].token.clone();
        assert!(!store.write(move |tx| tx.delete_event(d, &wrong)).await.unwrap());
        assert!(store.write(move |tx| tx.delete_event(d, &t)).await.unwrap());
        let t = done.token.clone();
        assert!(!store.write(move |tx| tx.delete_event(d, &t)).await.unwrap());
        let (r, t) = (retry.event.id, retry.token.clone());
        assert!(store.write(move |tx| tx.reschedule_event(r, &t, 1, FAR)).await.unwrap());
        let t = retry.token.clone();
        assert!(!store.write(move |tx| tx.reschedule_event(r, &t, 2, 0)).await.unwrap());
        let due = store.read(|tx| tx.next_event_due()).await.unwrap().unwrap();
        assert!(due > 1_000_000_000_000 && due < FAR, "the claimed event's lease end: {due}");
        let cfg = EventInvokeConfig {
            maximum_retry_attempts: Some(0),
            on_failure: Some("arn:x".into()),
            ..Default::default()
        };
        store.write(move |tx| tx.put_event_invoke_config(id, "$LATEST", &cfg)).await.unwrap();
        assert_eq!(store.read(|tx| tx.reserved_concurrency_total(&scope())).await.unwrap(), 5);
        (id, again[0].token.clone())
    };
    // After a restart, node "a" is dead: reaping it frees its claim (and only its).
    let store = open();
    assert_eq!(store.read(|tx| tx.queued_events()).await.unwrap(), crate::QueueTotals { events: 2, bytes: 14 });
    assert_eq!(store.read(|tx| tx.claim_holders()).await.unwrap(), ["a"]);
    assert_eq!(store.write(|tx| tx.reap_claims(&["b".to_owned(), "c".to_owned()])).await.unwrap(), 0);
    assert_eq!(store.write(|tx| tx.reap_claims(&["a".to_owned()])).await.unwrap(), 1);
    assert!(store.read(|tx| tx.claim_holders()).await.unwrap().is_empty());
    let now = store.write(|tx| tx.claim_events("b", LEASE, 10, None)).await.unwrap();
    assert_eq!(now.iter().map(|e| e.event.request_id.as_str()).collect::<Vec<_>>(), ["r2"]);
    // The dead node's late finish changes nothing.
    let r2 = now[0].event.id;
    assert!(!store.write(move |tx| tx.delete_event(r2, &r2_old_token)).await.unwrap());
    // A retry keeps its attempts; an expired lease (here 0 ms) lets another node claim the
    // event with a new token, and the first token no longer finishes it.
    let t = now[0].token.clone();
    assert!(store.write(move |tx| tx.reschedule_event(r2, &t, 3, 0)).await.unwrap());
    let first = store.write(|tx| tx.claim_events("b", 0, 10, None)).await.unwrap();
    assert_eq!((first[0].event.request_id.as_str(), first[0].event.attempts), ("r2", 3));
    let second = store.write(|tx| tx.claim_events("c", LEASE, 10, None)).await.unwrap();
    assert_eq!(second.iter().map(|e| e.event.id).collect::<Vec<_>>(), [r2]);
    let (t1, t2) = (first[0].token.clone(), second[0].token.clone());
    assert!(!store.write(move |tx| tx.delete_event(r2, &t1)).await.unwrap());
    assert!(store.write(move |tx| tx.delete_event(r2, &t2)).await.unwrap());
    let cfg = store.read(move |tx| tx.event_invoke_config(id, "$LATEST")).await.unwrap().unwrap();
    assert_eq!((cfg.maximum_retry_attempts, cfg.on_failure.as_deref()), (Some(0), Some("arn:x")));
    // Deleting the function takes its events and configs along.
    assert_eq!(store.read(|tx| tx.queued_events()).await.unwrap().events, 1);
    store.write(move |tx| tx.delete_function(id)).await.unwrap();
    assert_eq!(store.read(|tx| tx.queued_events()).await.unwrap(), crate::QueueTotals::default());
}

async fn metric_points_put_range_series_retention(db: &Db) {
    let store = db.open();
    let series = |metric: &str, dims: &str| crate::MetricSeries {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        namespace: "AWS/Lambda".into(),
        metric: metric.into(),
        dims: dims.into(),
    };
    let point = |start_ms: i64, sum: f64| crate::MetricPoint {
        start_ms,
        sum,
        count: 2,
        min: 1.0,
        max: sum - 1.0,
        sketch: vec![1, 2, 3],
    };
    let (a, b) = (series("Errors", ""), series("Invocations", "FunctionName\u{1f}f"));
    store
        .write({
            let (a, b) = (a.clone(), b.clone());
            move |tx| {
                for m in 0..5 {
                    tx.put_metric_point(&a, &point(m * 60_000, 3.0))?;
                }
                tx.put_metric_point(&b, &point(0, 4.0))?;
                // A replace, not a second row.
                tx.put_metric_point(&a, &point(60_000, 9.0))
            }
        })
        .await
        .unwrap();
    let (a2, b2) = (a.clone(), b.clone());
    let (one, range, all, first, has, count) = store
        .read(move |tx| {
            Ok::<_, StoreError>((
                tx.metric_point(&a2, 60_000)?,
                tx.metric_points(&a2, 60_000, 180_000)?,
                tx.metric_series("123456789012", "us-east-1", Some("AWS/Lambda"), None, 10)?,
                tx.metric_series("123456789012", "us-east-1", None, None, 1)?,
                tx.has_metric_series(&b2)?,
                tx.metric_series_count()?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(one, Some(point(60_000, 9.0)));
    assert_eq!(range.iter().map(|p| p.start_ms).collect::<Vec<_>>(), vec![60_000, 120_000]);
    assert_eq!(all, vec![a.clone(), b.clone()]);
    assert_eq!(first, vec![a.clone()]);
    assert!(has);
    assert_eq!(count, 2);
    let after = store
        .read({
            let a = a.clone();
            move |tx| tx.metric_series("123456789012", "us-east-1", None, Some(&a), 10)
        })
        .await
        .unwrap();
    assert_eq!(after, vec![b.clone()]);
    let other = store.read(|tx| tx.metric_series("999999999999", "us-east-1", None, None, 10)).await.unwrap();
    assert!(other.is_empty());

    // Retention: points before the cut go, and a series left without points.
    let gone = store.write(|tx| tx.delete_metric_points_before(120_000)).await.unwrap();
    assert_eq!(gone, 3);
    let (left, count, has_b) = store
        .read(move |tx| {
            Ok::<_, StoreError>((
                tx.metric_points(&a, 0, i64::MAX)?,
                tx.metric_series_count()?,
                tx.has_metric_series(&b)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(left.len(), 3);
    assert_eq!(count, 1);
    assert!(!has_b);
}

async fn alarms_state_due_times_history_tags(db: &Db) {
    use crate::{AlarmHistoryFilter, AlarmHistoryRow, AlarmRecord, AlarmStateRow};
    let alarm = |name: &str, due: i64| AlarmRecord {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        name: name.into(),
        config: "{}".into(),
        config_updated_ms: 1,
        actions_enabled: true,
        state: "INSUFFICIENT_DATA".into(),
        reason: "Unchecked: Initial alarm creation".into(),
        reason_data: None,
        state_updated_ms: 1,
        state_transitioned_ms: 1,
        next_eval_ms: due,
    };
    let item = |name: &str, ts: i64, kind: &str| AlarmHistoryRow {
        id: 0,
        account: "123456789012".into(),
        region: "us-east-1".into(),
        alarm_name: name.into(),
        alarm_type: "MetricAlarm".into(),
        timestamp_ms: ts,
        item_type: kind.into(),
        summary: format!("{kind} at {ts}"),
        data: "{}".into(),
    };
    {
        let store = db.open();
        let (a, b) = (alarm("a", 500), alarm("b", 100));
        let (a2, b2) = (a.clone(), b.clone());
        let (i1, i2, i3, i4) = (
            item("a", 10, "StateUpdate"),
            item("a", 20, "Action"),
            item("b", 30, "StateUpdate"),
            item("a", 40, "StateUpdate"),
        );
        store
            .write(move |tx| {
                tx.put_alarm(&a2)?;
                tx.put_alarm(&b2)?;
                tx.put_alarm_tags(
                    "123456789012",
                    "us-east-1",
                    "a",
                    &[("k".into(), "v".into()), ("a".into(), "1".into())],
                )?;
                for i in [&i1, &i2, &i3, &i4] {
                    tx.insert_alarm_history(i)?;
                }
                tx.set_alarm_due("123456789012", "us-east-1", "a", 50)
            })
            .await
            .unwrap();
        let (got, all, count, due, next, tags) = store
            .read(|tx| {
                Ok::<_, StoreError>((
                    tx.alarm("123456789012", "us-east-1", "a")?,
                    tx.alarms("123456789012", "us-east-1", Some("a"), 10)?,
                    tx.alarm_count("123456789012", "us-east-1")?,
                    tx.alarms_due(100, 10)?,
                    tx.next_alarm_due()?,
                    tx.alarm_tags("123456789012", "us-east-1", "a")?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(got, Some(AlarmRecord { next_eval_ms: 50, ..a }));
        assert_eq!(all, vec![b.clone()]);
        assert_eq!(count, 2);
        assert_eq!(due.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(next, Some(50));
        assert_eq!(tags, vec![("a".into(), "1".into()), ("k".into(), "v".into())]);
        let states = store.read(|tx| Ok::<_, StoreError>((tx.alarm_states(10)?, tx.alarm_states(1)?))).await.unwrap();
        let names = |rows: &[AlarmStateRow]| rows.iter().map(|r| (r.name.clone(), r.state.clone())).collect::<Vec<_>>();
        let insufficient = "INSUFFICIENT_DATA".to_owned();
        assert_eq!(names(&states.0), [("a".to_owned(), insufficient.clone()), ("b".to_owned(), insufficient.clone())]);
        assert_eq!(names(&states.1), [("a".to_owned(), insufficient)]);
        // Deleting the alarm deletes its tags, not its history.
        assert!(store.write(|tx| tx.delete_alarm("123456789012", "us-east-1", "a")).await.unwrap());
    }
    // Reopened: history survives, filtered and paged both ways, then trimmed.
    let store = db.open();
    let f = |name: Option<&str>, kind: Option<&str>, newest_first: bool, after_id: Option<i64>| AlarmHistoryFilter {
        alarm_name: name.map(str::to_owned),
        item_type: kind.map(str::to_owned),
        from_ms: 0,
        to_ms: i64::MAX,
        newest_first,
        after_id,
    };
    let everything = f(None, None, false, None);
    let (page1, newest, oldest, updates, tags) = store
        .read(move |tx| {
            let acct = "123456789012";
            let page1 = tx.alarm_history(acct, "us-east-1", &f(Some("a"), None, true, None), 2)?;
            let newest = tx.alarm_history(acct, "us-east-1", &f(Some("a"), None, true, Some(page1[1].id)), 10)?;
            let oldest = tx.alarm_history(acct, "us-east-1", &f(None, None, false, None), 10)?;
            let updates = tx.alarm_history(acct, "us-east-1", &f(None, Some("StateUpdate"), true, None), 10)?;
            Ok::<_, StoreError>((page1, newest, oldest, updates, tx.alarm_tags(acct, "us-east-1", "a")?))
        })
        .await
        .unwrap();
    let ts = |v: &[AlarmHistoryRow]| v.iter().map(|i| i.timestamp_ms).collect::<Vec<_>>();
    assert_eq!(ts(&page1), [40, 20]);
    assert_eq!(ts(&newest), [10]);
    assert_eq!(ts(&oldest), [10, 20, 30, 40]);
    assert_eq!(ts(&updates), [40, 30, 10]);
    assert!(tags.is_empty());
    assert_eq!(store.write(|tx| tx.trim_alarm_history(15, 1, 100)).await.unwrap(), 2);
    let left = store.read(move |tx| tx.alarm_history("123456789012", "us-east-1", &everything, 10)).await.unwrap();
    assert_eq!(ts(&left), [30, 40]);
    assert_eq!(store.write(|tx| tx.trim_alarm_history(0, 10, 1)).await.unwrap(), 1);
    let left = store
        .read(move |tx| tx.alarm_history("123456789012", "us-east-1", &f(None, None, false, None), 10))
        .await
        .unwrap();
    assert_eq!(ts(&left), [40]);
}

async fn alias_history_pages_trims_and_goes_with_its_function(db: &Db) {
    let store = db.open();
    let f = Function {
        id: FunctionId(0),
        name: "f".into(),
        latest: record(Version::Latest, 1, "r1"),
        next_version: 1,
        tags: BTreeMap::new(),
        reserved_concurrency: None,
    };
    let id = store.write(move |tx| tx.insert_function(&scope(), &f)).await.unwrap();
    let row = move |alias: &str, t: i64, after: Option<(&str, f64)>| crate::AliasHistoryRow {
        id: 0,
        function_id: id,
        scope: scope(),
        function_name: "f".into(),
        alias: alias.into(),
        time_ms: t,
        actor_kind: "Key".into(),
        actor_id: "AKIDEXAMPLE".into(),
        operation: if t == 1 { "CreateAlias".into() } else { "UpdateAlias".into() },
        before: (t > 1).then(|| crate::AliasTargetRow { function_version: "1".into(), weights: Vec::new() }),
        after: after.map(|(v, w)| crate::AliasTargetRow { function_version: v.into(), weights: vec![("3".into(), w)] }),
        revision_id: after.map(|_| format!("rev-{t}")),
    };
    let rows = [
        row("prod", 1, Some(("1", 0.0))),
        row("prod", 2, Some(("2", 0.2))),
        row("beta", 3, None),
        row("prod", 4, None),
    ];
    let written = rows.clone();
    let ids = store
        .write(move |tx| written.iter().map(|r| tx.insert_alias_history(r, 10, 100)).collect::<Result<Vec<_>, _>>())
        .await
        .unwrap();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let (page1, page2, beta) = store
        .read(move |tx| {
            let page1 = tx.alias_history(id, "prod", None, 2)?;
            let page2 = tx.alias_history(id, "prod", Some(page1[1].id), 10)?;
            Ok::<_, StoreError>((page1, page2, tx.alias_history(id, "beta", None, 10)?))
        })
        .await
        .unwrap();
    let strip = |v: Vec<crate::AliasHistoryRow>| {
        v.into_iter().map(|r| crate::AliasHistoryRow { id: 0, ..r }).collect::<Vec<_>>()
    };
    assert_eq!(strip(page1), vec![rows[3].clone(), rows[1].clone()], "newest first");
    assert_eq!(strip(page2), vec![rows[0].clone()]);
    assert_eq!(strip(beta), vec![rows[2].clone()]);

    // Per-alias cap: one more prod row with keep_per_alias 2 leaves prod's newest 2 (beta kept).
    let extra = row("prod", 5, Some(("2", 0.5)));
    store.write(move |tx| tx.insert_alias_history(&extra, 2, 100)).await.unwrap();
    let (prod, beta) = store
        .read(move |tx| {
            Ok::<_, StoreError>((tx.alias_history(id, "prod", None, 10)?, tx.alias_history(id, "beta", None, 10)?))
        })
        .await
        .unwrap();
    assert_eq!(prod.iter().map(|r| r.time_ms).collect::<Vec<_>>(), vec![5, 4]);
    assert_eq!(beta.len(), 1);
    // Total cap: keep 2 in all drops beta's older row.
    let extra = row("prod", 6, Some(("2", 1.0)));
    store.write(move |tx| tx.insert_alias_history(&extra, 10, 2)).await.unwrap();
    let (prod, beta) = store
        .read(move |tx| {
            Ok::<_, StoreError>((tx.alias_history(id, "prod", None, 10)?, tx.alias_history(id, "beta", None, 10)?))
        })
        .await
        .unwrap();
    assert_eq!(prod.iter().map(|r| r.time_ms).collect::<Vec<_>>(), vec![6, 5]);
    assert!(beta.is_empty());

    // Deleting the function removes its history.
    store.write(move |tx| tx.delete_function(id)).await.unwrap();
    let left = store.read(move |tx| tx.alias_history(id, "prod", None, 10)).await.unwrap();
    assert!(left.is_empty());
}

/// A deployment save replaces only the document it read: of two writers that read the same
/// document (the engine on one node, StopDeployment on another), exactly one wins, even at once.
async fn codedeploy_saves_are_compare_and_set(db: &Db) {
    let store = db.open();
    let row = |doc: &str, active: bool| crate::CdDeploymentRow {
        id: "d-CAS".into(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        application: "app".into(),
        group: "g".into(),
        active,
        next_due_ms: active.then_some(5),
        create_ms: 1,
        doc: doc.into(),
    };
    let first = row("{\"step\":0}", true);
    store.write(move |tx| tx.put_cd_deployment(&first)).await.unwrap();
    let next = row("{\"step\":1}", true);
    assert!(store.write(move |tx| tx.replace_cd_deployment(&next, "{\"step\":0}")).await.unwrap());
    let stale = row("{\"status\":\"Stopped\"}", false);
    assert!(
        !store.write(move |tx| tx.replace_cd_deployment(&stale, "{\"step\":0}")).await.unwrap(),
        "a save from a stale read changes nothing"
    );
    let got = store.read(|tx| tx.cd_deployment("d-CAS")).await.unwrap().unwrap();
    assert_eq!((got.doc.as_str(), got.active), ("{\"step\":1}", true));
    // Many writers from the same read, at once: exactly one wins.
    let mut racers = Vec::new();
    for n in 0..8 {
        let store = store.clone();
        let r = row(&format!("{{\"racer\":{n}}}"), n % 2 == 0);
        racers.push(tokio::spawn(async move {
            store.write(move |tx| tx.replace_cd_deployment(&r, "{\"step\":1}")).await.unwrap()
        }));
    }
    let mut won = 0;
    for r in racers {
        won += usize::from(r.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one concurrent save wins");
}

/// A renamed group moves only its own deployments; a renamed application all of its; the
/// documents stay as they were.
async fn codedeploy_renames_move_their_deployments(db: &Db) {
    let store = db.open();
    let row = |id: &str, app: &str, group: &str| crate::CdDeploymentRow {
        id: id.into(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        application: app.into(),
        group: group.into(),
        active: id == "d-1",
        next_due_ms: None,
        create_ms: 1,
        doc: format!("{{\"id\":\"{id}\"}}"),
    };
    let rows = [row("d-1", "app", "g"), row("d-2", "app", "g"), row("d-3", "app", "h"), row("d-4", "other", "g")];
    store.write(move |tx| rows.iter().try_for_each(|r| tx.put_cd_deployment(r))).await.unwrap();
    let (a, r) = ("123456789012", "us-east-1");
    let n = store.write(move |tx| tx.rename_cd_deployments(a, r, "app", Some("g"), "app", Some("g2"))).await.unwrap();
    assert_eq!(n, 2);
    let n = store.write(move |tx| tx.rename_cd_deployments(a, r, "app", None, "app2", None)).await.unwrap();
    assert_eq!(n, 3);
    let names = |id: &'static str| {
        let store = store.clone();
        async move {
            let d = store.read(move |tx| tx.cd_deployment(id)).await.unwrap().unwrap();
            (d.application, d.group, d.doc)
        }
    };
    assert_eq!(names("d-1").await, ("app2".into(), "g2".into(), "{\"id\":\"d-1\"}".into()));
    assert_eq!(names("d-2").await, ("app2".into(), "g2".into(), "{\"id\":\"d-2\"}".into()));
    assert_eq!(names("d-3").await, ("app2".into(), "h".into(), "{\"id\":\"d-3\"}".into()));
    assert_eq!(names("d-4").await, ("other".into(), "g".into(), "{\"id\":\"d-4\"}".into()));
    // The active one is found under its new names.
    let active = store.read(move |tx| tx.cd_group_active(a, r, "app2", "g2")).await.unwrap();
    assert_eq!(active.map(|d| d.id).as_deref(), Some("d-1"));
    // A save of a step read before the rename (the old names) changes nothing.
    let stale = row("d-1", "app", "g");
    let saved = store.write(move |tx| tx.replace_cd_deployment(&stale, "{\"id\":\"d-1\"}")).await.unwrap();
    assert!(!saved, "a step read under the old names is retried");
    let fresh = row("d-1", "app2", "g2");
    assert!(store.write(move |tx| tx.replace_cd_deployment(&fresh, "{\"id\":\"d-1\"}")).await.unwrap());
}

async fn codedeploy_keeps_one_active_deployment_per_group(db: &Db) {
    let store = db.open();
    let row = |id: &str, group: &str, active: bool| crate::CdDeploymentRow {
        id: id.into(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        application: "app".into(),
        group: group.into(),
        active,
        next_due_ms: active.then_some(5),
        create_ms: 1,
        doc: "{}".into(),
    };
    let (a, b, c) = (row("d-A", "g", true), row("d-B", "g", true), row("d-C", "h", true));
    store.write(move |tx| tx.put_cd_deployment(&a)).await.unwrap();
    let refused = store.write(move |tx| tx.put_cd_deployment(&b)).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "a second active deployment in one group");
    store.write(move |tx| tx.put_cd_deployment(&c)).await.unwrap();
    // Ending the first frees the group: its successor commits in the same transaction.
    let (a_done, b) = (row("d-A", "g", false), row("d-B", "g", true));
    store
        .write(move |tx| {
            tx.put_cd_deployment(&a_done)?;
            tx.put_cd_deployment(&b)
        })
        .await
        .unwrap();
    let active: Vec<String> =
        store.read(|tx| tx.cd_active_deployments(10)).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(active, ["d-B", "d-C"]);
    let one = store.read(|tx| tx.cd_active_deployments(1)).await.unwrap();
    assert_eq!(one.len(), 1, "the scheduler's pass is bounded");
    let q = crate::CdDeploymentQuery {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        limit: 10,
        ..Default::default()
    };
    let all = store.read(move |tx| tx.cd_deployments_page(&q)).await.unwrap();
    assert_eq!(all.len(), 3);
    let busy = store.read(|tx| tx.cd_group_active("123456789012", "us-east-1", "app", "g")).await.unwrap();
    assert_eq!(busy.map(|r| r.id).as_deref(), Some("d-B"));
    store.write(|tx| tx.put_cd_object("123456789012", "us-east-1", "application", "app", "{\"x\":1}")).await.unwrap();
    let doc = store.read(|tx| tx.cd_object("123456789012", "us-east-1", "application", "app")).await.unwrap();
    assert_eq!(doc.as_deref(), Some("{\"x\":1}"));
    let tags = vec![("k".to_owned(), "v".to_owned())];
    store.write(move |tx| tx.put_cd_tags("arn:x", &tags)).await.unwrap();
    assert_eq!(store.read(|tx| tx.cd_tags("arn:x")).await.unwrap(), [("k".to_owned(), "v".to_owned())]);
}

async fn codedeploy_deployments_page_newest_first_and_are_trimmed_per_group(db: &Db) {
    let store = db.open();
    let row = |n: i64, group: &str, status: &str| crate::CdDeploymentRow {
        id: format!("d-{n:09}"),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        application: "app".into(),
        group: group.into(),
        active: false,
        next_due_ms: None,
        create_ms: n / 2, // two deployments share each create time: the id breaks the tie
        doc: format!("{{\"status\":\"{status}\"}}"),
    };
    let rows: Vec<_> = (0..10)
        .map(|n| row(n, "g", if n % 3 == 0 { "Succeeded" } else { "Failed" }))
        .chain([row(100, "h", "Succeeded")])
        .collect();
    store
        .write(move |tx| {
            for r in &rows {
                tx.put_cd_deployment(r)?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    let query = |before: Option<(i64, String)>| crate::CdDeploymentQuery {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        application: Some("app".into()),
        group: Some("g".into()),
        before,
        limit: 4,
        ..Default::default()
    };
    // Pages of 4 by (create time, id), newest first, each continuing where the last ended.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let q = query(before.clone());
        let page = store.read(move |tx| tx.cd_deployments_page(&q)).await.unwrap();
        seen.extend(page.iter().map(|r| r.id.clone()));
        if page.len() < 4 {
            break;
        }
        let last = page.last().unwrap();
        before = Some((last.create_ms, last.id.clone()));
    }
    let want: Vec<String> = (0..10).rev().map(|n| format!("d-{n:09}")).collect();
    assert_eq!(seen, want);
    // Status and create-time filters run in the query.
    let q = crate::CdDeploymentQuery { statuses: vec!["Succeeded".into()], limit: 100, ..query(None) };
    let ok = store.read(move |tx| tx.cd_deployments_page(&q)).await.unwrap();
    assert_eq!(
        ok.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["d-000000009", "d-000000006", "d-000000003", "d-000000000"]
    );
    let q = crate::CdDeploymentQuery { created_from_ms: Some(2), created_to_ms: Some(3), limit: 100, ..query(None) };
    assert_eq!(store.read(move |tx| tx.cd_deployments_page(&q)).await.unwrap().len(), 4);
    // lastAttempted / lastSuccessful.
    let last = store.read(|tx| tx.cd_group_latest("123456789012", "us-east-1", "app", "g", None)).await.unwrap();
    assert_eq!(last.unwrap().id, "d-000000009");
    let ok =
        store.read(|tx| tx.cd_group_latest("123456789012", "us-east-1", "app", "g", Some("Failed"))).await.unwrap();
    assert_eq!(ok.unwrap().id, "d-000000008");
    // Trimming keeps the newest 3 of the group (finished ones go, oldest first); other groups stay.
    let gone = store.write(|tx| tx.trim_cd_deployments("123456789012", "us-east-1", "app", "g", 3)).await.unwrap();
    assert_eq!(gone, 7);
    let q = crate::CdDeploymentQuery { limit: 100, ..query(None) };
    let left = store.read(move |tx| tx.cd_deployments_page(&q)).await.unwrap();
    assert_eq!(left.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["d-000000009", "d-000000008", "d-000000007"]);
    assert!(store.read(|tx| tx.cd_deployment("d-000000100")).await.unwrap().is_some());
    // The Prometheus view: active ones plus those created since a time, bounded.
    let shown = store.read(|tx| tx.cd_deployments_shown(4, 2)).await.unwrap();
    assert_eq!(shown.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["d-000000100", "d-000000009"]);
}

fn sqs_message(queue_id: i64, group: Option<&str>, sent_ms: i64) -> crate::SqsMessageRow {
    crate::SqsMessageRow {
        seq: 0,
        queue_id,
        message_id: format!("m-{sent_ms}"),
        body: "body".into(),
        attrs: "{}".into(),
        md5_body: "x".into(),
        md5_attrs: None,
        sent_ms,
        visible_ms: sent_ms,
        expires_ms: sent_ms + 1_000,
        receive_count: 0,
        first_receive_ms: None,
        receipt: None,
        group_id: group.map(str::to_owned),
        dedup_id: None,
        size: 4,
    }
}

async fn sqs_receive_order_fifo_groups_counts_moves_purge_and_expiry(db: &Db) {
    let store = db.open();
    let queue = |name: &str| crate::SqsQueueRow {
        id: 0,
        account: "123456789012".into(),
        region: "us-east-1".into(),
        name: name.into(),
        created_ms: 1,
        doc: "{}".into(),
        messages: 0,
        bytes: 0,
    };
    let (q, dlq) = store
        .write(move |tx| Ok::<_, StoreError>((tx.sqs_insert_queue(&queue("q"))?, tx.sqs_insert_queue(&queue("dlq"))?)))
        .await
        .unwrap();
    let seqs = store
        .write(move |tx| {
            let mut seqs = Vec::new();
            for (i, g) in ["a", "b", "a"].into_iter().enumerate() {
                seqs.push(tx.sqs_insert_message(&sqs_message(q, Some(g), 100 + i as i64))?);
            }
            tx.sqs_put_dedup(q, "d", "m-100", seqs[0], 400)?;
            Ok::<_, StoreError>(seqs)
        })
        .await
        .unwrap();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let (ids, counts, row) = store
        .write(move |tx| {
            // FIFO: group a's first message in flight hides the rest of group a.
            let mut first = tx.sqs_candidates(q, 200, true, 10)?.remove(0);
            first.visible_ms = 500;
            first.receive_count = 1;
            first.receipt = Some("h".into());
            tx.sqs_update_message(&first)?;
            let ids: Vec<i64> = tx.sqs_candidates(q, 200, true, 10)?.iter().map(|m| m.seq).collect();
            Ok::<_, StoreError>((ids, tx.sqs_counts(q, 200)?, tx.sqs_queue_by_id(q)?.unwrap()))
        })
        .await
        .unwrap();
    assert_eq!(ids, vec![seqs[1]]);
    assert_eq!((counts.visible, counts.in_flight, counts.delayed), (2, 1, 0));
    assert_eq!((row.messages, row.bytes), (3, 12));
    let r = store
        .read(move |tx| {
            Ok::<_, StoreError>((tx.sqs_dedup(q, "d", 300)?, tx.sqs_dedup(q, "d", 400)?, tx.sqs_next_visible(q, 200)?))
        })
        .await
        .unwrap();
    assert_eq!(r, (Some(("m-100".to_owned(), seqs[0])), None, Some(500)));
    // A move to the dead-letter queue, a delete, then expiry and purge.
    let (q_row, dlq_row, expired) = store
        .write(move |tx| {
            tx.sqs_move_message(seqs[0], dlq, 250)?;
            assert!(tx.sqs_delete_message(seqs[1])?);
            assert!(!tx.sqs_delete_message(seqs[1])?);
            let expired = tx.sqs_expire(100 + 1_002, 10)?;
            Ok::<_, StoreError>((tx.sqs_queue_by_id(q)?.unwrap(), tx.sqs_queue_by_id(dlq)?.unwrap(), expired))
        })
        .await
        .unwrap();
    assert_eq!(expired, 2, "the moved message and the third one are past their retention");
    assert_eq!((q_row.messages, q_row.bytes, dlq_row.messages), (0, 0, 0));
    let n = store
        .write(move |tx| {
            tx.sqs_insert_message(&sqs_message(q, None, 5_000))?;
            let n = tx.sqs_purge(q)?;
            assert!(tx.sqs_delete_queue(q)?);
            Ok::<_, StoreError>(n)
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
    let left = store.read(move |tx| tx.sqs_queues("123456789012", "us-east-1", "", None, 10)).await.unwrap();
    assert_eq!(left.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["dlq"]);
}

async fn api_gateway_apis_are_found_by_id_and_listed_per_scope_and_kind(db: &Db) {
    let store = db.open();
    let row = |id: &str, account: &str, kind: &str| crate::ApigwRow {
        id: id.into(),
        account: account.into(),
        region: "us-east-1".into(),
        kind: kind.into(),
        doc: format!("{{\"id\":\"{id}\"}}"),
    };
    for r in [row("b", "123456789012", "rest"), row("a", "123456789012", "rest"), row("c", "123456789012", "http")]
        .into_iter()
        .chain([row("d", "210987654321", "rest")])
    {
        store.write(move |tx| tx.put_apigw_api(&r)).await.unwrap();
    }
    let got = store.read(|tx| tx.apigw_api("d")).await.unwrap().unwrap();
    assert_eq!((got.account.as_str(), got.kind.as_str()), ("210987654321", "rest"));
    let ids = |rows: Vec<crate::ApigwRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let rest = store.read(|tx| tx.apigw_apis("123456789012", "us-east-1", "rest", 10)).await.unwrap();
    assert_eq!(ids(rest), ["a", "b"]);
    let one = store.read(|tx| tx.apigw_apis("123456789012", "us-east-1", "rest", 1)).await.unwrap();
    assert_eq!(ids(one), ["a"]);
    assert!(store.write(|tx| tx.delete_apigw_api("a")).await.unwrap());
    assert!(!store.write(|tx| tx.delete_apigw_api("a")).await.unwrap());
    assert!(store.read(|tx| tx.apigw_api("a")).await.unwrap().is_none());
    // Reopened, the rest is still there.
    drop(store);
    let store = db.open();
    assert!(store.read(|tx| tx.apigw_api("b")).await.unwrap().is_some());
}

async fn schedules_fire_once_per_due_time(db: &Db) {
    let store = db.open();
    let row = |name: &str, due: Option<i64>| crate::ScheduleRow {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        kind: "rule".into(),
        name: name.into(),
        doc: "{}".into(),
        next_due_ms: due,
    };
    for (name, due) in [("a", Some(30)), ("b", Some(10)), ("c", None), ("ab", Some(20))] {
        let r = row(name, due);
        store.write(move |tx| tx.put_schedule_row(&r)).await.unwrap();
    }
    let due = store.read(|tx| tx.schedules_due(25, 10)).await.unwrap();
    assert_eq!(due.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["b", "ab"]);
    assert_eq!(store.read(|tx| tx.next_schedule_due()).await.unwrap(), Some(10));
    let page = store.read(|tx| tx.schedule_rows("123456789012", "us-east-1", "rule", "a", None, 10)).await.unwrap();
    assert_eq!(page.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["a", "ab"]);
    let page = store.read(|tx| tx.schedule_rows("123456789012", "us-east-1", "rule", "", Some("a"), 1)).await.unwrap();
    assert_eq!(page.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["ab"]);
    assert_eq!(store.read(|tx| tx.schedule_count("123456789012", "us-east-1", "rule")).await.unwrap(), 4);
    // Only the first of two firings of the same tick moves it.
    let b = row("b", Some(10));
    let (first, second) = store
        .write(move |tx| {
            Ok::<_, crate::StoreError>((
                tx.advance_schedule_due(&b, 10, Some(70))?,
                tx.advance_schedule_due(&b, 10, Some(70))?,
            ))
        })
        .await
        .unwrap();
    assert!(first && !second);
    let got = store.read(|tx| tx.schedule_row("123456789012", "us-east-1", "rule", "b")).await.unwrap().unwrap();
    assert_eq!(got.next_due_ms, Some(70));
    assert!(store.write(|tx| tx.delete_schedule_row("123456789012", "us-east-1", "rule", "b")).await.unwrap());
    assert!(store.read(|tx| tx.schedule_row("123456789012", "us-east-1", "rule", "b")).await.unwrap().is_none());
}

/// What only a shared PostgreSQL database shows: several nodes (backends) on one database.
mod pg_only {
    use super::*;

    fn node(url: &str) -> Store {
        Store::new(Arc::new(PgBackend::open(&PgOptions::new(url.to_owned())).unwrap()))
    }

    /// Runs `sql` on its own connection (on a thread of its own: never a runtime thread).
    fn psql(url: &str, sql: &str) -> Vec<postgres::Row> {
        let (url, sql) = (url.to_owned(), sql.to_owned());
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.query(&sql, &[]).unwrap()
        })
        .join()
        .unwrap()
    }

    /// What control's PublishVersion does: lock the function, take its next number, store.
    async fn publish(store: &Store, name: &'static str) -> u32 {
        store
            .write(move |tx| {
                let mut f = tx.lock_function(&FunctionKey { scope: scope(), name: name.into() })?.unwrap();
                let n = f.next_version;
                tx.insert_version(f.id, &record(Version::Published(n), 2, "v"))?;
                f.next_version += 1;
                tx.update_function(&f)?;
                Ok::<_, StoreError>(n)
            })
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn version_numbers_are_unique_under_concurrent_publishes_from_several_nodes() {
        const NODES: usize = 3;
        const PUBLISHES: usize = 300;
        let Some(url) = pgcluster::database("concurrent_publishes") else { return };
        let nodes: Vec<Store> = (0..NODES).map(|_| node(&url)).collect();
        let id = function(&nodes[0], "hot").await;
        let started = std::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..PUBLISHES {
            let store = nodes[i % NODES].clone();
            tasks.spawn(async move { publish(&store, "hot").await });
        }
        let mut numbers = Vec::new();
        while let Some(n) = tasks.join_next().await {
            numbers.push(n.unwrap());
        }
        let elapsed = started.elapsed();
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=PUBLISHES as u32).collect::<Vec<_>>(), "every number once");
        let stored = nodes[1].read(move |tx| tx.versions(id, None, 10_000)).await.unwrap();
        assert_eq!(stored.len(), PUBLISHES);
        let f = nodes[2].read(|tx| tx.function(&FunctionKey { scope: scope(), name: "hot".into() })).await.unwrap();
        assert_eq!(f.unwrap().next_version, PUBLISHES as u32 + 1);
        eprintln!(
            "{PUBLISHES} publishes of one function from {NODES} nodes in {elapsed:?}: {:.0}/s (fsync off)",
            PUBLISHES as f64 / elapsed.as_secs_f64()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_concurrent_create_of_the_same_name_is_a_conflict() {
        let Some(url) = pgcluster::database("create_conflict") else { return };
        let (a, b) = (node(&url), node(&url));
        // Both nodes saw "absent" (no row to lock); the second insert hits the unique key.
        function(&a, "dup").await;
        let f = Function {
            id: FunctionId(0),
            name: "dup".into(),
            latest: record(Version::Latest, 1, "r"),
            next_version: 1,
            tags: BTreeMap::new(),
            reserved_concurrency: None,
        };
        let second = b.write(move |tx| tx.insert_function(&scope(), &f)).await;
        assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    }

    async fn enqueue(store: &Store, id: FunctionId, n: usize) {
        for i in 0..n {
            let ev = QueuedEvent {
                id: 0,
                scope: scope(),
                function_id: id,
                function_name: "q".into(),
                qualifier: None,
                request_id: format!("r{i}"),
                payload: b"{}".to_vec(),
                received_ms: 1,
                attempts: 0,
            };
            store.write(move |tx| tx.enqueue_event(&ev, 0)).await.unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_token_finishes_nothing() {
        let Some(url) = pgcluster::database("stale_token") else { return };
        let (a, b) = (node(&url), node(&url));
        let id = function(&a, "q").await;
        enqueue(&a, id, 1).await;
        // Node a's lease ends at once (a stuck node); node b claims the event anew.
        let stale = a.write(|tx| tx.claim_events("a", 0, 10, None)).await.unwrap();
        let fresh = b.write(|tx| tx.claim_events("b", 60_000, 10, None)).await.unwrap();
        assert_eq!((stale.len(), fresh.len()), (1, 1));
        let ev = stale[0].event.id;
        let t = stale[0].token.clone();
        assert!(!a.write(move |tx| tx.delete_event(ev, &t)).await.unwrap());
        let t = stale[0].token.clone();
        assert!(!a.write(move |tx| tx.reschedule_event(ev, &t, 5, 0)).await.unwrap());
        let rows = psql(&url, "SELECT attempts, claimed_by FROM events");
        assert_eq!(rows.len(), 1, "the event is still queued");
        assert_eq!((rows[0].get::<_, i64>(0), rows[0].get::<_, Option<String>>(1)), (0, Some("b".to_owned())));
        let t = fresh[0].token.clone();
        assert!(b.write(move |tx| tx.delete_event(ev, &t)).await.unwrap());
        assert_eq!(b.read(|tx| tx.queued_events()).await.unwrap().events, 0);
    }

    /// The code blob collector's transaction keeps other collectors out (advisory lock) and
    /// holds a writer's touch of a taken row until it commits; the touch then records the blob
    /// anew (so the writer re-uploads what the collector deleted).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_code_blob_collector_holds_off_touches_and_other_collectors() {
        let Some(url) = pgcluster::database("code_blobs_race") else { return };
        let (a, b, c) = (node(&url), node(&url), node(&url));
        let sha = Sha256([0xd1; 32]);
        a.write(move |tx| tx.touch_code_blob(&sha)).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let collector = tokio::spawn(async move {
            a.write(move |tx| {
                let stale = tx.stale_code_blobs(10, 10)?;
                locked_tx.send(()).unwrap();
                // The object deletes happen here.
                std::thread::sleep(std::time::Duration::from_millis(500));
                tx.delete_code_blobs(&stale)?;
                Ok::<_, StoreError>((stale, std::time::Instant::now()))
            })
            .await
            .unwrap()
        });
        tokio::task::spawn_blocking(move || locked_rx.recv().unwrap()).await.unwrap();
        assert_eq!(c.write(|tx| tx.stale_code_blobs(10, 10)).await.unwrap(), vec![], "one collector at a time");
        b.write(move |tx| tx.touch_code_blob(&sha)).await.unwrap();
        let touched = std::time::Instant::now();
        let (taken, deleted_at) = collector.await.unwrap();
        assert_eq!(taken, vec![sha]);
        assert!(touched > deleted_at, "the touch waited for the collector's commit");
        let rows = psql(&url, "SELECT count(*) FROM code_blobs");
        assert_eq!(rows[0].get::<_, i64>(0), 1, "the touch recorded the blob anew");
        // Fresh as of when the touch began (it waited ~500 ms for the collector).
        assert_eq!(c.write(|tx| tx.stale_code_blobs(5_000, 10)).await.unwrap(), vec![], "and it is fresh");
    }

    /// Nodes claiming with per-function caps side by side never claim one event twice (the
    /// capped claim ranks without locks; the locking level re-checks that each row is still due).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn capped_claims_side_by_side_never_share_an_event() {
        const FUNCTIONS: usize = 4;
        const PER_FUNCTION: usize = 60;
        let Some(url) = pgcluster::database("capped_claims_race") else { return };
        let nodes: Vec<Store> = (0..3).map(|_| node(&url)).collect();
        for k in 0..FUNCTIONS {
            let id = function(&nodes[0], &format!("q{k}")).await;
            enqueue(&nodes[0], id, PER_FUNCTION).await;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (i, store) in nodes.iter().enumerate() {
            let store = store.clone();
            tasks.spawn(async move {
                let who = format!("n{i}");
                let caps = crate::PerFunctionMax { default: 3, of: Vec::new() };
                let mut got = Vec::new();
                loop {
                    let (who, caps) = (who.clone(), caps.clone());
                    let claimed = store.write(move |tx| tx.claim_events(&who, 60_000, 7, Some(&caps))).await.unwrap();
                    let mut per_function = std::collections::HashMap::new();
                    for c in &claimed {
                        *per_function.entry(c.event.function_id).or_insert(0) += 1;
                    }
                    assert!(per_function.values().all(|&n| n <= 3), "a cap exceeded: {per_function:?}");
                    if claimed.is_empty() {
                        // Nothing left due (or, for a moment, all of it locked by the others).
                        if store.read(|tx| tx.next_event_due()).await.unwrap().is_none_or(|d| d > 1_000_000_000_000) {
                            return got;
                        }
                        continue;
                    }
                    got.extend(claimed.into_iter().map(|c| c.event.id));
                }
            });
        }
        let mut all = Vec::new();
        let mut takers = 0;
        while let Some(got) = tasks.join_next().await {
            let got = got.unwrap();
            takers += usize::from(!got.is_empty());
            all.extend(got);
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "an event was claimed twice");
        assert_eq!(n, FUNCTIONS * PER_FUNCTION, "every event claimed once");
        eprintln!("{n} events claimed by {takers} nodes, 7 a claim, 3 of a function at most");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reaping_frees_only_the_dead_nodes_claims() {
        let Some(url) = pgcluster::database("reap_only_dead") else { return };
        let (a, b) = (node(&url), node(&url));
        let id = function(&a, "q").await;
        enqueue(&a, id, 9).await;
        let mut claimed = std::collections::BTreeMap::new();
        for (store, who) in [(&a, "a"), (&b, "b"), (&a, "c")] {
            let got = store.write(move |tx| tx.claim_events(who, 60_000, 3, None)).await.unwrap();
            assert_eq!(got.len(), 3);
            claimed.insert(who, got);
        }
        assert!(a.write(|tx| tx.claim_events("d", 60_000, 10, None)).await.unwrap().is_empty());
        assert_eq!(b.read(|tx| tx.claim_holders()).await.unwrap(), ["a", "b", "c"]);
        assert_eq!(b.write(|tx| tx.reap_claims(&["b".to_owned()])).await.unwrap(), 3);
        assert_eq!(b.read(|tx| tx.claim_holders()).await.unwrap(), ["a", "c"]);
        let again = a.write(|tx| tx.claim_events("d", 60_000, 10, None)).await.unwrap();
        let ids = |v: &[crate::ClaimedEvent]| v.iter().map(|e| e.event.id).collect::<Vec<_>>();
        assert_eq!(ids(&again), ids(&claimed["b"]), "exactly b's events, claimed again");
        // The live nodes' claims still hold.
        for who in ["a", "c"] {
            for e in &claimed[who] {
                let (ev, t) = (e.event.id, e.token.clone());
                assert!(a.write(move |tx| tx.delete_event(ev, &t)).await.unwrap());
            }
        }
    }

    #[test]
    fn a_database_with_a_newer_schema_is_refused_and_left_alone() {
        let Some(url) = pgcluster::database("newer_schema") else { return };
        drop(PgBackend::open(&PgOptions::new(url.clone())).unwrap());
        psql(&url, "UPDATE versa_schema SET version = 999");
        let before = psql(&url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0].get::<_, i64>(0);
        let err = PgBackend::open(&PgOptions::new(url.clone())).unwrap_err().to_string();
        assert!(err.contains("schema version 999, newer than this Versa knows"), "{err}");
        let after = psql(&url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0].get::<_, i64>(0);
        assert_eq!(before, after);
        assert_eq!(psql(&url, "SELECT version FROM versa_schema")[0].get::<_, i64>(0), 999);
    }

    #[test]
    fn malformed_and_unreachable_urls_are_named() {
        let err = PgBackend::open(&PgOptions::new("postgres://u:secret@host:notaport/db")).unwrap_err().to_string();
        assert!(err.contains("invalid PostgreSQL URL") && !err.contains("secret"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let url = format!("postgresql:///nowhere?user=versa&host={}", dir.path().display());
        let err = PgBackend::open(&PgOptions::new(url)).unwrap_err().to_string();
        assert!(err.contains("cannot connect to PostgreSQL at"), "{err}");
    }
}

/// Opens a PostgreSQL backend off the runtime threads (its clients must never be created or
/// dropped on one).
async fn open_pg(url: &str) -> Store {
    let url = url.to_owned();
    let backend = tokio::task::spawn_blocking(move || crate::PgBackend::open(&crate::PgOptions::new(url)))
        .await
        .unwrap()
        .unwrap();
    Store::new(Arc::new(backend))
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_cluster_tables_and_notices() {
    let Some(url) = pgcluster::database("cluster_notices") else { return };
    let (a, b) = (open_pg(&url).await, open_pg(&url).await);
    // Tables from an earlier run of this test go first.
    a.write(|tx| {
        for n in tx.nodes(0)? {
            tx.delete_node(&n.id)?;
        }
        Ok::<_, StoreError>(())
    })
    .await
    .unwrap();
    assert!(a.shared());
    let mut notices = b.subscribe().expect("a shared store can be subscribed to");
    assert_eq!(notices.recv().await, Some(crate::Notice::Reconnected));
    // A rolled-back write notifies nobody; a committed one does, once per distinct payload.
    let r: Result<(), StoreError> = a
        .write(|tx| {
            tx.notify(crate::Channel::Function, "123456789012\nus-east-1\nrolled-back")?;
            Err(StoreError::Corrupt("roll back".into()))
        })
        .await;
    assert!(r.is_err());
    a.write(|tx| {
        tx.notify(crate::Channel::Function, "123456789012\nus-east-1\nf")?;
        tx.notify(crate::Channel::Function, "123456789012\nus-east-1\nf")?;
        tx.notify(crate::Channel::Events, "")
    })
    .await
    .unwrap();
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), notices.recv()).await.unwrap();
    assert_eq!(first, Some(crate::Notice::Function("123456789012\nus-east-1\nf".into())));
    let second = tokio::time::timeout(std::time::Duration::from_secs(5), notices.recv()).await.unwrap();
    assert_eq!(second, Some(crate::Notice::Events));
    // Settings are shared between the two backends (two nodes).
    let name = format!("k-{}", stdx_free_unique());
    let n2 = name.clone();
    let from_a = a.write(move |tx| tx.init_cluster_setting(&n2, b"from-a")).await.unwrap();
    let n3 = name.clone();
    let from_b = b.write(move |tx| tx.init_cluster_setting(&n3, b"from-b")).await.unwrap();
    assert_eq!((from_a, from_b), (b"from-a".to_vec(), b"from-a".to_vec()));
    cluster_tables(&a).await;
    drop(notices);
    // Dropping the backends joins their threads: not on a runtime thread.
    tokio::task::spawn_blocking(move || drop((a, b))).await.unwrap();
}

/// A name no earlier run used.
fn stdx_free_unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// Leases: one holder at a time; renewal by the holder; taken over only after the end;
/// released only by the holder. Fencing: the epoch grows at every takeover and stays on a
/// renewal, and `lease_holds` is true only for the current holder at the current epoch.
async fn leases_acquire_renew_expire_release(db: &Db) {
    const LONG: i64 = 60_000;
    let store = db.open();
    let name = format!("lease-{}", stdx_free_unique());
    let s = store.clone();
    let nm = name.clone();
    let lease = move |holder: &'static str, ttl: i64| {
        let name = nm.clone();
        let store = s.clone();
        async move { store.write(move |tx| tx.acquire_lease(&name, holder, ttl)).await.unwrap() }
    };
    let s = store.clone();
    let holds = move |holder: &'static str, epoch: i64| {
        let name = name.clone();
        let store = s.clone();
        async move { store.write(move |tx| tx.lease_holds(&name, holder, epoch)).await.unwrap() }
    };
    assert_eq!(lease("a", LONG).await, Some(1), "a free lease is granted, epoch 1");
    assert_eq!(lease("a", LONG).await, Some(1), "the holder renews: same epoch");
    assert!(holds("a", 1).await);
    assert_eq!(lease("b", LONG).await, None, "no steal before the end");
    assert!(!holds("b", 1).await && !holds("a", 2).await, "only the holder at its epoch");
    // a's lease ends almost at once: b takes it after the end, and then a cannot.
    assert_eq!(lease("a", 1).await, Some(1));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(!holds("a", 1).await, "an ended lease fences its holder even before a takeover");
    assert_eq!(lease("b", LONG).await, Some(2), "stolen after the end: the epoch grows");
    assert_eq!(lease("a", LONG).await, None, "the old holder is fenced out");
    assert!(!holds("a", 1).await, "the stale holder's writes are refused");
    assert!(holds("b", 2).await);
    // b's lease ends; a takes it again: a new epoch, so a's first tenure stays fenced.
    assert_eq!(lease("b", 1).await, Some(2));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(lease("a", LONG).await, Some(3));
    assert!(!holds("a", 1).await && holds("a", 3).await);
    let name2 = format!("other-{}", stdx_free_unique());
    let n = name2.clone();
    assert_eq!(store.write(move |tx| tx.acquire_lease(&n, "a", LONG)).await.unwrap(), Some(1), "leases are per name");
    let n = name2.clone();
    assert!(!store.write(move |tx| tx.release_lease(&n, "b")).await.unwrap(), "only the holder releases");
    let n = name2.clone();
    assert!(store.write(move |tx| tx.release_lease(&n, "a")).await.unwrap());
    let n = name2.clone();
    assert!(!store.write(move |tx| tx.lease_holds(&n, "a", 1)).await.unwrap(), "released: no longer held");
    let n = name2.clone();
    assert_eq!(
        store.write(move |tx| tx.acquire_lease(&n, "b", LONG)).await.unwrap(),
        Some(2),
        "released: free at once, next epoch"
    );
    let n = name2.clone();
    assert!(store.write(move |tx| tx.acquire_lease(&n, "a/x", LONG)).await.is_err(), "a holder has no '/'");
}

/// Provisioned-concurrency allocations: a plan replaces a function's rows (and says whether it
/// changed anything), a node keeping its count keeps its report, reports land on the node's own
/// rows, rows of a deleted config go with `drop_orphan_allocations`, all go with the function.
async fn provisioned_allocations_plan_report_and_orphans(db: &Db) {
    use crate::ProvisionedAllocation;
    let store = db.open();
    let f = Function {
        id: FunctionId(0),
        name: format!("alloc-{}", stdx_free_unique()),
        latest: record(Version::Latest, 1, "r1"),
        next_version: 1,
        tags: BTreeMap::new(),
        reserved_concurrency: None,
    };
    let id = store.write(move |tx| tx.insert_function(&scope(), &f)).await.unwrap();
    let config = ProvisionedConfig { qualifier: "live".into(), requested: 3, last_modified_ms: 7 };
    store.write(move |tx| tx.put_provisioned_config(id, &config)).await.unwrap();
    let share = |n: &str, c: u32| ("live".to_owned(), n.to_owned(), c);
    let plan = |shares: Vec<(String, String, u32)>| {
        let store = store.clone();
        async move { store.write(move |tx| tx.plan_provisioned(id, &shares)).await.unwrap() }
    };
    assert!(plan(vec![share("a", 2), share("b", 1)]).await);
    assert!(!plan(vec![share("b", 1), share("a", 2)]).await, "the same plan changes nothing");
    let report = ProvisionedAllocation {
        function_id: id,
        qualifier: "live".into(),
        node_id: "a".into(),
        count: 2,
        ready: 2,
        applied_ms: 7,
        failed: None,
    };
    let r = report.clone();
    store.write(move |tx| tx.report_allocations("a", &[r])).await.unwrap();
    let rows = store.read(move |tx| tx.provisioned_allocations(id)).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], report);
    assert_eq!((rows[1].node_id.as_str(), rows[1].count, rows[1].ready), ("b", 1, 0));
    // b dies: its share moves to c; a keeps its count and so its report.
    assert!(plan(vec![share("a", 2), share("c", 1)]).await);
    let rows = store.read(move |tx| tx.provisioned_allocations(id)).await.unwrap();
    assert_eq!(rows[0], report, "kept");
    assert_eq!((rows[1].node_id.as_str(), rows[1].ready), ("c", 0));
    assert_eq!(store.read(|tx| tx.node_allocations("c")).await.unwrap().len(), 1);
    // A changed count starts over.
    assert!(plan(vec![share("a", 3)]).await);
    let rows = store.read(move |tx| tx.provisioned_allocations(id)).await.unwrap();
    assert_eq!((rows.len(), rows[0].count, rows[0].ready), (1, 3, 0));
    // The config goes: its rows are orphans.
    store.write(move |tx| tx.delete_provisioned_config(id, "live")).await.unwrap();
    assert!(store.write(|tx| tx.drop_orphan_allocations()).await.unwrap() >= 1);
    assert!(store.read(move |tx| tx.provisioned_allocations(id)).await.unwrap().is_empty());
}
