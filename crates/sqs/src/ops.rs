//! The operations (reference §5.1): the JSON shapes in and out, over the queue functions in
//! [`crate::core`]-like helpers below, which [`crate::client`] shares.

use std::collections::{BTreeMap, HashSet};

use base64::Engine;
use serde_json::{Map, Value, json};
use store::{SqsMessageRow, SqsQueueRow};

use crate::attrs::{self, Attr};
use crate::{
    ATTEMPT_ID_WINDOW_MS, BATCH_BYTES_MAX, BATCH_ENTRIES_MAX, Context, DEDUP_WINDOW_MS, DELETED_RECENTLY_MS, Error,
    LIST_PAGE_MAX, MESSAGES_PER_QUEUE_MAX, PURGE_INTERVAL_MS, QUEUE_BYTES_MAX, QUEUES_MAX, REMEMBERED_MAX, Sqs,
    TAGS_MAX, TOTAL_VISIBILITY_MS, WAIT_SECONDS_MAX,
};

/// Longest queue name (AWS: 80, `.fifo` included).
const NAME_LEN_MAX: usize = 80;
/// Longest batch entry id (AWS: 80).
const BATCH_ID_LEN_MAX: usize = 80;
/// A FIFO message without a deduplication id on a queue without content-based deduplication.
const DEDUP_REQUIRED: &str =
    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly";
/// Longest MessageGroupId / MessageDeduplicationId (AWS: 128).
const GROUP_ID_LEN_MAX: usize = 128;
/// Longest visibility timeout (AWS: 12 hours).
const VISIBILITY_MAX: i64 = 43_200;
/// Longest ReceiveRequestAttemptId (AWS: 128).
const ATTEMPT_ID_LEN_MAX: usize = 128;
/// Longest per-message delay (AWS: 15 minutes).
const DELAY_MAX: i64 = 900;
/// Tag key and value lengths (AWS: 128 and 256).
const TAG_KEY_LEN_MAX: usize = 128;
const TAG_VALUE_LEN_MAX: usize = 256;

fn now() -> i64 {
    stdx::time::now_ms()
}

/// A queue's document in the store: attributes, tags, timestamps.
#[derive(Debug, Clone, Default)]
pub(crate) struct Doc {
    pub(crate) attrs: BTreeMap<String, String>,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) modified_ms: i64,
    pub(crate) purged_ms: Option<i64>,
}

impl Doc {
    pub(crate) fn parse(s: &str) -> Result<Doc, Error> {
        let v: Value = serde_json::from_str(s).map_err(|e| Error::from(store::StoreError::Corrupt(e.to_string())))?;
        let map = |v: &Value| -> BTreeMap<String, String> {
            v.as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned())).collect())
                .unwrap_or_default()
        };
        Ok(Doc {
            attrs: map(&v["attributes"]),
            tags: map(&v["tags"]),
            modified_ms: v["modified_ms"].as_i64().unwrap_or(0),
            purged_ms: v["purged_ms"].as_i64(),
        })
    }

    pub(crate) fn render(&self) -> String {
        json!({"attributes": self.attrs, "tags": self.tags, "modified_ms": self.modified_ms, "purged_ms": self.purged_ms})
            .to_string()
    }

    pub(crate) fn fifo(&self) -> bool {
        self.attrs.get("FifoQueue").is_some_and(|v| v == "true")
    }
}

/// A queue found by name: its row and document.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    pub(crate) row: SqsQueueRow,
    pub(crate) doc: Doc,
}

impl Queue {
    pub(crate) fn arn(&self) -> String {
        format!("arn:aws:sqs:{}:{}:{}", self.row.region, self.row.account, self.row.name)
    }
}

fn url(ctx: &Context, account: &str, name: &str) -> String {
    format!("{}://{}/{account}/{name}", ctx.scheme, ctx.host)
}

fn int(v: &Value, name: &str) -> Result<Option<i64>, Error> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_i64().map(Some).ok_or_else(|| Error::parameter_value(n, name, "Must be an integer.")),
        Value::String(s) => {
            s.trim().parse().map(Some).map_err(|_| Error::parameter_value(s, name, "Must be an integer."))
        }
        other => Err(Error::parameter_value(other, name, "Must be an integer.")),
    }
}

fn string_list(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

fn valid_queue_name(name: &str, fifo: bool) -> bool {
    let base = if fifo { name.strip_suffix(".fifo") } else { Some(name) };
    base.is_some_and(|b| {
        !b.is_empty()
            && name.len() <= NAME_LEN_MAX
            && b.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    })
}

impl Sqs {
    pub(crate) async fn find(&self, account: &str, region: &str, name: &str) -> Result<Queue, Error> {
        let (a, r, n) = (account.to_owned(), region.to_owned(), name.to_owned());
        let row = self.inner.store.read(move |tx| tx.sqs_queue(&a, &r, &n)).await?;
        let row = row.ok_or_else(Error::no_queue)?;
        let doc = Doc::parse(&row.doc)?;
        Ok(Queue { row, doc })
    }

    /// The queue a `QueueUrl` names: its last two path segments are account and name (AWS's,
    /// moto's and LocalStack's URL forms alike).
    pub(crate) async fn by_url(&self, ctx: &Context, input: &Value) -> Result<Queue, Error> {
        let Some(u) = input["QueueUrl"].as_str().filter(|u| !u.is_empty()) else {
            return Err(Error::missing("QueueUrl"));
        };
        let path = u.split_once("://").map_or(u, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let [.., account, name] = segments.as_slice() else {
            return Err(Error::service(
                "InvalidAddress",
                "InvalidAddress",
                format!("The address {u} is not valid for this endpoint."),
            ));
        };
        // Another account's queue would need a queue policy; Versa has none, so it is not there.
        if *account != ctx.account {
            return Err(Error::no_queue());
        }
        self.find(&ctx.account, &ctx.region, name).await
    }

    pub(crate) async fn by_arn(&self, arn: &str) -> Result<Queue, Error> {
        let (region, account, name) = attrs::parse_arn(arn).ok_or_else(Error::no_queue)?;
        self.find(account, region, name).await
    }
}

pub(crate) async fn dispatch(sqs: &Sqs, ctx: &Context, op: &str, i: &Value) -> Result<Value, Error> {
    match op {
        "CreateQueue" => create_queue(sqs, ctx, i).await,
        "GetQueueUrl" => {
            let name = i["QueueName"].as_str().filter(|n| !n.is_empty()).ok_or_else(|| Error::missing("QueueName"))?;
            let account = i["QueueOwnerAWSAccountId"].as_str().unwrap_or(&ctx.account);
            let q = sqs.find(account, &ctx.region, name).await?;
            Ok(json!({"QueueUrl": url(ctx, &q.row.account, &q.row.name)}))
        }
        "ListQueues" => list_queues(sqs, ctx, i).await,
        "GetQueueAttributes" => get_attributes(sqs, ctx, i).await,
        "SetQueueAttributes" => set_attributes(sqs, ctx, i).await,
        "DeleteQueue" => {
            let q = sqs.by_url(ctx, i).await?;
            let id = q.row.id;
            sqs.inner.store.write(move |tx| tx.sqs_delete_queue(id)).await?;
            sqs.inner.waiters.wake(id);
            remember(&sqs.inner.deleted, (q.row.account.clone(), q.row.region.clone(), q.row.name.clone()), now());
            Ok(json!({}))
        }
        "AddPermission" => add_permission(sqs, ctx, i).await,
        "StartMessageMoveTask" => crate::moves::start(sqs, ctx, i).await,
        "ListMessageMoveTasks" => crate::moves::list(sqs, i).await,
        "CancelMessageMoveTask" => crate::moves::cancel(sqs, i),
        "RemovePermission" => {
            let q = sqs.by_url(ctx, i).await?;
            let label =
                i["Label"].as_str().filter(|l| !l.is_empty()).ok_or_else(|| Error::missing("Label"))?.to_owned();
            update_doc(sqs, &q, move |d| {
                let mut policy: Value =
                    d.attrs.get("Policy").and_then(|p| serde_json::from_str(p).ok()).unwrap_or_else(|| json!({}));
                let statements = policy["Statement"].as_array_mut();
                let Some(list) = statements.filter(|l| l.iter().any(|st| st["Sid"] == label.as_str())) else {
                    return Err(Error::parameter_value(&label, "Label", "can't find label."));
                };
                list.retain(|st| st["Sid"] != label.as_str());
                if list.is_empty() {
                    d.attrs.remove("Policy");
                } else {
                    d.attrs.insert("Policy".to_owned(), policy.to_string());
                }
                d.modified_ms = now();
                Ok(())
            })
            .await
        }
        "PurgeQueue" => purge(sqs, ctx, i).await,
        "ListDeadLetterSourceQueues" => {
            let q = sqs.by_url(ctx, i).await?;
            let arn = q.arn();
            let (account, region) = (ctx.account.clone(), ctx.region.clone());
            let rows =
                sqs.inner.store.read(move |tx| tx.sqs_queues(&account, &region, "", None, QUEUES_MAX as usize)).await?;
            let urls: Vec<String> = rows
                .iter()
                .filter(|r| {
                    Doc::parse(&r.doc).ok().and_then(|d| attrs::redrive(&d.attrs)).is_some_and(|p| p.dlq_arn == arn)
                })
                .map(|r| url(ctx, &r.account, &r.name))
                .collect();
            Ok(json!({"queueUrls": urls}))
        }
        "TagQueue" => {
            let q = sqs.by_url(ctx, i).await?;
            let tags = tag_map(&i["Tags"])?;
            let name = q.row.name.clone();
            update_doc(sqs, &q, move |d| {
                d.tags.extend(tags);
                if d.tags.len() > TAGS_MAX {
                    return Err(Error::invalid_parameter(format!("Too many tags added for queue {name}.")));
                }
                Ok(())
            })
            .await
        }
        "UntagQueue" => {
            let q = sqs.by_url(ctx, i).await?;
            let keys = string_list(&i["TagKeys"]);
            update_doc(sqs, &q, move |d| {
                for k in &keys {
                    d.tags.remove(k);
                }
                Ok(())
            })
            .await
        }
        "ListQueueTags" => {
            let q = sqs.by_url(ctx, i).await?;
            Ok(if q.doc.tags.is_empty() { json!({}) } else { json!({"Tags": q.doc.tags}) })
        }
        "SendMessage" => {
            let q = sqs.by_url(ctx, i).await?;
            let entry = parse_send(&q, i)?;
            let mut out = sqs.send(&q, ctx, vec![entry]).await?;
            out.pop().unwrap_or_else(|| Err(Error::internal("no result"))).map(|s| s.to_wire(false))
        }
        "SendMessageBatch" => send_batch(sqs, ctx, i).await,
        "ReceiveMessage" => receive(sqs, ctx, i).await,
        "DeleteMessage" => {
            let q = sqs.by_url(ctx, i).await?;
            let h =
                i["ReceiptHandle"].as_str().filter(|h| !h.is_empty()).ok_or_else(|| Error::missing("ReceiptHandle"))?;
            let mut out = sqs.delete(&q, vec![h.to_owned()]).await?;
            out.pop().unwrap_or(Ok(())).map(|()| json!({}))
        }
        "DeleteMessageBatch" => {
            let q = sqs.by_url(ctx, i).await?;
            let entries = batch_entries(i, "DeleteMessageBatchRequestEntry", |_| 0)?;
            let mut handles = Vec::new();
            let mut failed = Vec::new();
            let mut ids = Vec::new();
            for e in entries {
                match e["ReceiptHandle"].as_str().filter(|h| !h.is_empty()) {
                    Some(h) => {
                        ids.push(e["Id"].as_str().unwrap_or("").to_owned());
                        handles.push(h.to_owned());
                    }
                    None => failed.push(failure(e["Id"].as_str().unwrap_or(""), &Error::missing("ReceiptHandle"))),
                }
            }
            let results = sqs.delete(&q, handles).await?;
            Ok(batch_answer(ids, results, failed, |id, ()| json!({"Id": id})))
        }
        "ChangeMessageVisibility" => {
            let q = sqs.by_url(ctx, i).await?;
            let h =
                i["ReceiptHandle"].as_str().filter(|h| !h.is_empty()).ok_or_else(|| Error::missing("ReceiptHandle"))?;
            let vt = visibility_param(&i["VisibilityTimeout"])?.ok_or_else(|| Error::missing("VisibilityTimeout"))?;
            let mut out = sqs.change_visibility(&q, vec![(h.to_owned(), vt)]).await?;
            out.pop().unwrap_or(Ok(())).map(|()| json!({}))
        }
        "ChangeMessageVisibilityBatch" => {
            let q = sqs.by_url(ctx, i).await?;
            let entries = batch_entries(i, "ChangeMessageVisibilityBatchRequestEntry", |_| 0)?;
            let mut changes = Vec::new();
            let mut failed = Vec::new();
            let mut ids = Vec::new();
            for e in entries {
                let id = e["Id"].as_str().unwrap_or("");
                let parsed = match e["ReceiptHandle"].as_str().filter(|h| !h.is_empty()) {
                    None => Err(Error::missing("ReceiptHandle")),
                    Some(h) => visibility_param(&e["VisibilityTimeout"]).map(|vt| (h.to_owned(), vt.unwrap_or(0))),
                };
                match parsed {
                    Ok(c) => {
                        ids.push(id.to_owned());
                        changes.push(c);
                    }
                    Err(err) => failed.push(failure(id, &err)),
                }
            }
            let results = sqs.change_visibility(&q, changes).await?;
            Ok(batch_answer(ids, results, failed, |id, ()| json!({"Id": id})))
        }
        _ => Err(Error::service(
            "UnsupportedOperation",
            "AWS.SimpleQueueService.UnsupportedOperation",
            format!("Operation {op} is not supported by Versa."),
        )),
    }
}

/// Remembers `key` at `at` in a bounded map, forgetting entries older than the longest window.
pub(crate) fn remember<K: std::hash::Hash + Eq, V>(
    map: &std::sync::Mutex<std::collections::HashMap<K, V>>,
    key: K,
    value: V,
) where
    V: Remembered,
{
    let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
    let t = now();
    m.retain(|_, v| t - v.at() < ATTEMPT_ID_WINDOW_MS.max(DELETED_RECENTLY_MS));
    if m.len() >= REMEMBERED_MAX {
        return;
    }
    m.insert(key, value);
}

/// What [`remember`] keeps: something with a time.
pub(crate) trait Remembered {
    fn at(&self) -> i64;
}

impl Remembered for i64 {
    fn at(&self) -> i64 {
        *self
    }
}

impl Remembered for (Vec<String>, i64) {
    fn at(&self) -> i64 {
        self.1
    }
}

/// The SQS actions AddPermission may grant (without the `SQS:` prefix).
const PERMISSION_ACTIONS: &[&str] = &[
    "*",
    "SendMessage",
    "ReceiveMessage",
    "DeleteMessage",
    "ChangeMessageVisibility",
    "GetQueueAttributes",
    "GetQueueUrl",
    "ListDeadLetterSourceQueues",
    "PurgeQueue",
    "ListQueueTags",
    "ListQueues",
];

/// AddPermission: a statement `Label` in the queue's `Policy` attribute (stored and shown; Versa
/// does not share queues across accounts).
async fn add_permission(sqs: &Sqs, ctx: &Context, i: &Value) -> Result<Value, Error> {
    let q = sqs.by_url(ctx, i).await?;
    let label = i["Label"].as_str().filter(|l| !l.is_empty()).ok_or_else(|| Error::missing("Label"))?.to_owned();
    if label.len() > NAME_LEN_MAX || !label.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_') {
        return Err(Error::parameter_value(
            &label,
            "Label",
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ));
    }
    let accounts = string_list(&i["AWSAccountIds"]);
    if accounts.is_empty() {
        return Err(Error::missing("AWSAccountIds"));
    }
    let actions = string_list(&i["Actions"]);
    if actions.is_empty() {
        return Err(Error::missing("Actions"));
    }
    if let Some(bad) = actions.iter().find(|a| !PERMISSION_ACTIONS.contains(&a.as_str())) {
        return Err(Error::parameter_value(bad, "Actions", "Only the queue owner is allowed to invoke this action."));
    }
    let arn = q.arn();
    // As recorded: one value is a string, several a list; the policy language of 2008-10-17.
    let one_or_many = |v: Vec<String>| if v.len() == 1 { json!(v[0]) } else { json!(v) };
    let statement = json!({
        "Sid": label,
        "Effect": "Allow",
        "Principal": {"AWS": one_or_many(accounts.iter().map(|a| format!("arn:aws:iam::{a}:root")).collect())},
        "Action": one_or_many(actions.iter().map(|a| format!("SQS:{a}")).collect()),
        "Resource": arn,
    });
    update_doc(sqs, &q, move |d| {
        let mut policy: Value = d.attrs.get("Policy").and_then(|p| serde_json::from_str(p).ok()).unwrap_or_else(
            || json!({"Version": "2008-10-17", "Id": format!("{arn}/SQSDefaultPolicy"), "Statement": []}),
        );
        if !policy["Statement"].is_array() {
            policy["Statement"] = json!([]);
        }
        let list = policy["Statement"].as_array_mut().expect("an array");
        if list.iter().any(|st| st["Sid"] == label.as_str()) {
            return Err(Error::parameter_value(&label, "Label", "Already exists."));
        }
        list.push(statement);
        d.attrs.insert("Policy".to_owned(), policy.to_string());
        d.modified_ms = now();
        Ok(())
    })
    .await
}

fn tag_map(v: &Value) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    if let Some(m) = v.as_object() {
        for (k, val) in m {
            let val = val.as_str().unwrap_or("");
            if k.is_empty() || k.len() > TAG_KEY_LEN_MAX || val.len() > TAG_VALUE_LEN_MAX {
                return Err(Error::invalid_parameter(format!("Tag key or value is invalid: {k}.")));
            }
            out.insert(k.clone(), val.to_owned());
        }
    }
    Ok(out)
}

/// Changes a queue's document in one write, re-read in the transaction.
async fn update_doc(
    sqs: &Sqs,
    q: &Queue,
    f: impl FnOnce(&mut Doc) -> Result<(), Error> + Send + 'static,
) -> Result<Value, Error> {
    let id = q.row.id;
    sqs.inner
        .store
        .write(move |tx| {
            let row = tx.sqs_queue_by_id(id)?.ok_or_else(Error::no_queue)?;
            let mut doc = Doc::parse(&row.doc)?;
            f(&mut doc)?;
            tx.sqs_update_queue(id, &doc.render())?;
            Ok::<_, Error>(())
        })
        .await?;
    Ok(json!({}))
}

async fn create_queue(sqs: &Sqs, ctx: &Context, i: &Value) -> Result<Value, Error> {
    let name = i["QueueName"].as_str().filter(|n| !n.is_empty()).ok_or_else(|| Error::missing("QueueName"))?.to_owned();
    let given = attrs::input_map(&i["Attributes"])?;
    let fifo_asked = given.get("FifoQueue").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let fifo_name = name.ends_with(".fifo");
    if fifo_asked && !valid_queue_name(&name, true) {
        return Err(Error::invalid_parameter(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end \
             with .fifo suffix and be 1 to 80 in length.",
        ));
    }
    if !fifo_asked && !valid_queue_name(&name, false) {
        return Err(Error::invalid_parameter(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ));
    }
    let fifo = fifo_asked && fifo_name;
    let set = attrs::validate(&given, fifo, true)?;
    let tags = tag_map(&i["tags"])?;
    if tags.len() > TAGS_MAX {
        return Err(Error::invalid_parameter(format!("Too many tags added for queue {name}.")));
    }
    let mut doc = Doc { attrs: attrs::defaults(fifo), tags, modified_ms: now(), purged_ms: None };
    attrs::apply(&mut doc.attrs, set.clone())?;
    if let Some(r) = attrs::redrive(&doc.attrs) {
        check_dlq(sqs, &r, fifo, doc.attrs.get("RedrivePolicy").map_or("", String::as_str)).await?;
    }
    let (account, region) = (ctx.account.clone(), ctx.region.clone());
    let n = name.clone();
    let deleted_at = {
        let deleted = sqs.inner.deleted.lock().unwrap_or_else(|e| e.into_inner());
        deleted.get(&(account.clone(), region.clone(), name.clone())).copied()
    };
    sqs.inner
        .store
        .write(move |tx| {
            if let Some(existing) = tx.sqs_queue(&account, &region, &n)? {
                let old = Doc::parse(&existing.doc)?;
                for (k, v) in &set {
                    if old.attrs.get(k).map_or("", String::as_str) != v.as_str() {
                        return Err(Error::service(
                            "QueueNameExists",
                            "QueueAlreadyExists",
                            format!(
                                "A queue already exists with the same name and a different value for attribute {k}"
                            ),
                        ));
                    }
                }
                return Ok(());
            }
            if deleted_at.is_some_and(|t| now() - t < DELETED_RECENTLY_MS) {
                return Err(Error::service(
                    "QueueDeletedRecently",
                    "AWS.SimpleQueueService.QueueDeletedRecently",
                    "You must wait 60 seconds after deleting a queue before you can create another with the same name.",
                ));
            }
            if tx.sqs_queue_count(&account, &region)? >= QUEUES_MAX {
                return Err(Error::service(
                    "OverLimit",
                    "OverLimit",
                    format!("You can create at most {QUEUES_MAX} queues in a region on Versa."),
                ));
            }
            let row = SqsQueueRow {
                id: 0,
                account,
                region,
                name: n,
                created_ms: now(),
                doc: doc.render(),
                messages: 0,
                bytes: 0,
            };
            tx.sqs_insert_queue(&row)?;
            Ok(())
        })
        .await?;
    Ok(json!({"QueueUrl": url(ctx, &ctx.account, &name)}))
}

async fn check_dlq(sqs: &Sqs, r: &attrs::Redrive, fifo: bool, policy: &str) -> Result<(), Error> {
    let dlq = match sqs.by_arn(&r.dlq_arn).await {
        Ok(q) => q,
        Err(_) => return Err(Error::parameter_value(policy, "RedrivePolicy", "Dead letter target does not exist.")),
    };
    if dlq.doc.fifo() != fifo {
        return Err(Error::parameter_value(
            policy,
            "RedrivePolicy",
            "Dead-letter queue must be same type of queue as the source.",
        ));
    }
    Ok(())
}

async fn list_queues(sqs: &Sqs, ctx: &Context, i: &Value) -> Result<Value, Error> {
    let max = int(&i["MaxResults"], "MaxResults")?;
    if let Some(m) = max
        && !(1..=LIST_PAGE_MAX as i64).contains(&m)
    {
        return Err(Error::parameter_value(m, "MaxResults", "MaxResults must be an integer between 1 and 1000."));
    }
    let limit = max.map_or(LIST_PAGE_MAX, |m| m as usize);
    let prefix = i["QueueNamePrefix"].as_str().unwrap_or("").to_owned();
    let after = match i["NextToken"].as_str() {
        Some(t) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| Error::invalid_parameter("Invalid NextToken value."))?,
        ),
        None => None,
    };
    let (account, region) = (ctx.account.clone(), ctx.region.clone());
    let rows =
        sqs.inner.store.read(move |tx| tx.sqs_queues(&account, &region, &prefix, after.as_deref(), limit + 1)).await?;
    let more = rows.len() > limit;
    let urls: Vec<String> = rows.iter().take(limit).map(|r| url(ctx, &r.account, &r.name)).collect();
    let mut out = Map::new();
    if !urls.is_empty() {
        out.insert("QueueUrls".to_owned(), json!(urls));
    }
    if more && max.is_some() {
        let last = &rows[limit - 1].name;
        out.insert("NextToken".to_owned(), json!(base64::engine::general_purpose::STANDARD.encode(last)));
    }
    Ok(Value::Object(out))
}

async fn get_attributes(sqs: &Sqs, ctx: &Context, i: &Value) -> Result<Value, Error> {
    let q = sqs.by_url(ctx, i).await?;
    let names = string_list(&i["AttributeNames"]);
    for n in &names {
        if !attrs::known(n) {
            return Err(Error::attribute_name(format!("Unknown Attribute {n}.")));
        }
    }
    if names.is_empty() {
        return Ok(json!({}));
    }
    let all = names.iter().any(|n| n == "All");
    let id = q.row.id;
    let counts = sqs.inner.store.read(move |tx| tx.sqs_counts(id, now())).await?;
    let mut values: BTreeMap<String, String> = q.doc.attrs.clone();
    values.insert("ApproximateNumberOfMessages".to_owned(), counts.visible.to_string());
    values.insert("ApproximateNumberOfMessagesNotVisible".to_owned(), counts.in_flight.to_string());
    values.insert("ApproximateNumberOfMessagesDelayed".to_owned(), counts.delayed.to_string());
    values.insert("CreatedTimestamp".to_owned(), (q.row.created_ms / 1000).to_string());
    values.insert("LastModifiedTimestamp".to_owned(), (q.doc.modified_ms / 1000).to_string());
    values.insert("QueueArn".to_owned(), q.arn());
    let out: Map<String, Value> =
        values.into_iter().filter(|(k, _)| all || names.contains(k)).map(|(k, v)| (k, Value::String(v))).collect();
    Ok(if out.is_empty() { json!({}) } else { json!({"Attributes": out}) })
}

async fn set_attributes(sqs: &Sqs, ctx: &Context, i: &Value) -> Result<Value, Error> {
    let q = sqs.by_url(ctx, i).await?;
    let mut given = attrs::input_map(&i["Attributes"])?;
    let fifo = q.doc.fifo();
    if let Some(v) = given.remove("FifoQueue") {
        if v.eq_ignore_ascii_case("true") == fifo {
            return Err(Error::attribute_name("Unknown Attribute FifoQueue."));
        }
        return Err(Error::attribute_value(
            "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.",
        ));
    }
    let set = attrs::validate(&given, fifo, false)?;
    for (k, v) in &set {
        if k == "RedrivePolicy" && !v.is_empty() {
            let probe: BTreeMap<String, String> = [(k.clone(), v.clone())].into();
            if let Some(r) = attrs::redrive(&probe) {
                check_dlq(sqs, &r, fifo, given.get(k).map_or("", String::as_str)).await?;
            }
        }
    }
    update_doc(sqs, &q, move |d| {
        attrs::apply(&mut d.attrs, set)?;
        d.modified_ms = now();
        Ok(())
    })
    .await
}

async fn purge(sqs: &Sqs, ctx: &Context, i: &Value) -> Result<Value, Error> {
    let q = sqs.by_url(ctx, i).await?;
    let id = q.row.id;
    let name = q.row.name.clone();
    sqs.inner
        .store
        .write(move |tx| {
            let row = tx.sqs_queue_by_id(id)?.ok_or_else(Error::no_queue)?;
            let mut doc = Doc::parse(&row.doc)?;
            let t = now();
            if doc.purged_ms.is_some_and(|p| t - p < PURGE_INTERVAL_MS) {
                let mut e = Error::service(
                    "PurgeQueueInProgress",
                    "AWS.SimpleQueueService.PurgeQueueInProgress",
                    format!("Only one PurgeQueue operation on {name} is allowed every 60 seconds."),
                );
                e.status = 403;
                return Err(e);
            }
            doc.purged_ms = Some(t);
            tx.sqs_update_queue(id, &doc.render())?;
            tx.sqs_purge(id)?;
            Ok(())
        })
        .await?;
    Ok(json!({}))
}

/// One message to send, validated against its queue.
#[derive(Debug, Clone)]
pub(crate) struct SendInput {
    pub(crate) body: String,
    pub(crate) delay: Option<i64>,
    pub(crate) attrs: BTreeMap<String, Attr>,
    pub(crate) system: BTreeMap<String, Attr>,
    pub(crate) group_id: Option<String>,
    pub(crate) dedup_id: Option<String>,
}

/// What a send answers.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub(crate) message_id: String,
    pub(crate) md5_body: String,
    pub(crate) md5_attrs: Option<String>,
    pub(crate) md5_system: Option<String>,
    pub(crate) sequence_number: Option<String>,
}

impl Sent {
    fn to_wire(&self, with_id: bool) -> Value {
        let mut m = Map::new();
        m.insert("MessageId".to_owned(), json!(self.message_id));
        m.insert("MD5OfMessageBody".to_owned(), json!(self.md5_body));
        if let Some(a) = &self.md5_attrs {
            m.insert("MD5OfMessageAttributes".to_owned(), json!(a));
        }
        if let Some(a) = &self.md5_system {
            m.insert("MD5OfMessageSystemAttributes".to_owned(), json!(a));
        }
        if let Some(s) = &self.sequence_number {
            m.insert("SequenceNumber".to_owned(), json!(s));
        }
        let _ = with_id;
        Value::Object(m)
    }
}

/// Reads and validates one SendMessage (or batch entry) against its queue.
pub(crate) fn parse_send(q: &Queue, e: &Value) -> Result<SendInput, Error> {
    let body = match &e["MessageBody"] {
        Value::String(s) if !s.is_empty() => s.clone(),
        _ => return Err(Error::missing("MessageBody")),
    };
    if body.chars().any(|c| !attrs::valid_char(c)) {
        return Err(Error::service(
            "InvalidMessageContents",
            "InvalidMessageContents",
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to \
             #xFFFD | #x10000 to #x10FFFF",
        ));
    }
    let delay = int(&e["DelaySeconds"], "DelaySeconds")?;
    if let Some(d) = delay
        && !(0..=DELAY_MAX).contains(&d)
    {
        return Err(Error::parameter_value(d, "DelaySeconds", "DelaySeconds must be >= 0 and <= 900."));
    }
    let attrs = attrs::message_attributes(&e["MessageAttributes"], false)?;
    let system = attrs::message_attributes(&e["MessageSystemAttributes"], true)?;
    let max = attrs::number(&q.doc.attrs, "MaximumMessageSize") as usize;
    if body.len() + attrs::size(&attrs) > max {
        return Err(Error::invalid_parameter(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
        )));
    }
    let group_id = e["MessageGroupId"].as_str().map(str::to_owned);
    let dedup_id = e["MessageDeduplicationId"].as_str().map(str::to_owned);
    for (name, v) in [("MessageGroupId", &group_id), ("MessageDeduplicationId", &dedup_id)] {
        if let Some(v) = v
            && (v.is_empty() || v.len() > GROUP_ID_LEN_MAX || !v.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(Error::parameter_value(
                v,
                name,
                &format!("{name} can only include alphanumeric and punctuation characters. 1 to 128 in length."),
            ));
        }
    }
    if q.doc.fifo() {
        if group_id.is_none() {
            return Err(Error::missing("MessageGroupId"));
        }
        if let Some(d) = delay
            && d != 0
        {
            return Err(Error::parameter_value(
                d,
                "DelaySeconds",
                "The request include parameter that is not valid for this queue type.",
            ));
        }
        let content_based = q.doc.attrs.get("ContentBasedDeduplication").is_some_and(|v| v == "true");
        if dedup_id.is_none() && !content_based {
            return Err(Error::invalid_parameter(DEDUP_REQUIRED));
        }
    } else if let Some(d) = &dedup_id {
        return Err(Error::parameter_value(
            d,
            "MessageDeduplicationId",
            "The request include parameter that is not valid for this queue type.",
        ));
    }
    Ok(SendInput { body, delay, attrs, system, group_id, dedup_id })
}

/// `Entries` of a batch: present, at most ten, ids valid and distinct, total size bounded.
fn batch_entries<'a>(i: &'a Value, entry_shape: &str, size: impl Fn(&Value) -> usize) -> Result<Vec<&'a Value>, Error> {
    let entries: Vec<&Value> = i["Entries"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    if entries.is_empty() {
        return Err(Error::service(
            "EmptyBatchRequest",
            "AWS.SimpleQueueService.EmptyBatchRequest",
            format!("There should be at least one {entry_shape} in the request."),
        ));
    }
    if entries.len() > BATCH_ENTRIES_MAX {
        return Err(Error::service(
            "TooManyEntriesInBatchRequest",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            format!("Maximum number of entries per request are {BATCH_ENTRIES_MAX}. You have sent {}.", entries.len()),
        ));
    }
    let mut seen = HashSet::new();
    for e in &entries {
        let id = e["Id"].as_str().unwrap_or("");
        let valid = !id.is_empty()
            && id.len() <= BATCH_ID_LEN_MAX
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(Error::service(
                "InvalidBatchEntryId",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at \
                 most 80 letters long.",
            ));
        }
        if !seen.insert(id) {
            return Err(Error::service(
                "BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                format!("Id {id} repeated."),
            ));
        }
    }
    let total: usize = entries.iter().map(|e| size(e)).sum();
    if total > BATCH_BYTES_MAX {
        return Err(Error::service(
            "BatchRequestTooLong",
            "AWS.SimpleQueueService.BatchRequestTooLong",
            format!("Batch requests cannot be longer than {BATCH_BYTES_MAX} bytes. You have sent {total} bytes."),
        ));
    }
    Ok(entries)
}

fn failure(id: &str, e: &Error) -> Value {
    json!({"Id": id, "SenderFault": e.sender_fault(), "Code": e.query_code, "Message": e.message})
}

fn batch_answer<T>(
    ids: Vec<String>,
    results: Vec<Result<T, Error>>,
    mut failed: Vec<Value>,
    ok: impl Fn(&str, T) -> Value,
) -> Value {
    let mut successful = Vec::new();
    for (id, r) in ids.into_iter().zip(results) {
        match r {
            Ok(v) => successful.push(ok(&id, v)),
            Err(e) => failed.push(failure(&id, &e)),
        }
    }
    json!({"Successful": successful, "Failed": failed})
}

fn entry_size(e: &Value) -> usize {
    let body = e["MessageBody"].as_str().map_or(0, str::len);
    let attrs = attrs::message_attributes(&e["MessageAttributes"], false).map(|a| attrs::size(&a)).unwrap_or(0);
    body + attrs
}

async fn send_batch(sqs: &Sqs, ctx: &Context, i: &Value) -> Result<Value, Error> {
    let q = sqs.by_url(ctx, i).await?;
    let entries = batch_entries(i, "SendMessageBatchRequestEntry", entry_size)?;
    // A FIFO entry without its group (or deduplication) id refuses the whole batch, as
    // recorded: nothing is sent.
    if q.doc.fifo() {
        let content_based = q.doc.attrs.get("ContentBasedDeduplication").is_some_and(|v| v == "true");
        if entries.iter().any(|e| e["MessageGroupId"].is_null()) {
            return Err(Error::invalid_parameter("The request must contain the parameter MessageGroupId."));
        }
        if !content_based && entries.iter().any(|e| e["MessageDeduplicationId"].is_null()) {
            return Err(Error::invalid_parameter(DEDUP_REQUIRED));
        }
    }
    let mut inputs = Vec::new();
    let mut ids = Vec::new();
    let mut failed = Vec::new();
    for e in entries {
        let id = e["Id"].as_str().unwrap_or("");
        match parse_send(&q, e) {
            Ok(s) => {
                ids.push(id.to_owned());
                inputs.push(s);
            }
            Err(err) => failed.push(failure(id, &err)),
        }
    }
    let results = if inputs.is_empty() { Vec::new() } else { sqs.send(&q, ctx, inputs).await? };
    Ok(batch_answer(ids, results, failed, |id, s: Sent| {
        let mut v = s.to_wire(true);
        v["Id"] = json!(id);
        v
    }))
}

fn visibility_param(v: &Value) -> Result<Option<i64>, Error> {
    let vt = int(v, "VisibilityTimeout")?;
    if let Some(t) = vt
        && !(0..=VISIBILITY_MAX).contains(&t)
    {
        return Err(Error::parameter_value(
            t,
            "VisibilityTimeout",
            &format!("VisibilityTimeout must be an integer between 0 and {VISIBILITY_MAX}"),
        ));
    }
    Ok(vt)
}

async fn receive(sqs: &Sqs, ctx: &Context, i: &Value) -> Result<Value, Error> {
    let q = sqs.by_url(ctx, i).await?;
    let max = int(&i["MaxNumberOfMessages"], "MaxNumberOfMessages")?.unwrap_or(1);
    if !(1..=BATCH_ENTRIES_MAX as i64).contains(&max) {
        return Err(Error::parameter_value(max, "MaxNumberOfMessages", "Must be between 1 and 10, if provided."));
    }
    let wait = int(&i["WaitTimeSeconds"], "WaitTimeSeconds")?;
    if let Some(w) = wait
        && !(0..=WAIT_SECONDS_MAX).contains(&w)
    {
        return Err(Error::parameter_value(w, "WaitTimeSeconds", "Must be >= 0 and <= 20, if provided."));
    }
    let wait = wait.unwrap_or_else(|| attrs::number(&q.doc.attrs, "ReceiveMessageWaitTimeSeconds"));
    let vt = visibility_param(&i["VisibilityTimeout"])?;
    let mut system_names = string_list(&i["MessageSystemAttributeNames"]);
    system_names.extend(string_list(&i["AttributeNames"]));
    let attr_names = string_list(&i["MessageAttributeNames"]);
    let attempt = match i["ReceiveRequestAttemptId"].as_str() {
        Some(a) if a.is_empty() || a.len() > ATTEMPT_ID_LEN_MAX || !a.bytes().all(|c| c.is_ascii_graphic()) => {
            return Err(Error::parameter_value(
                a,
                "ReceiveRequestAttemptId",
                "ReceiveRequestAttemptId can only include alphanumeric and punctuation characters. 1 to 128 in length.",
            ));
        }
        // Standard queues ignore it (AWS: FIFO only).
        Some(a) if q.doc.fifo() => Some((q.row.id, a.to_owned())),
        _ => None,
    };
    // A retried FIFO receive (same attempt id within 5 minutes) answers the same messages and
    // receipt handles while they are all still in flight from that receive.
    if let Some(key) = &attempt {
        let cached = {
            let m = sqs.inner.attempts.lock().unwrap_or_else(|e| e.into_inner());
            m.get(key).filter(|(_, at)| now() - at < ATTEMPT_ID_WINDOW_MS).map(|(h, _)| h.clone())
        };
        if let Some(handles) = cached
            && let Some(rows) = sqs.still_in_flight(q.row.id, handles).await?
        {
            let messages: Vec<Value> =
                rows.iter().map(|m| received_to_wire(&q, m, &system_names, &attr_names)).collect();
            return Ok(if messages.is_empty() { json!({}) } else { json!({"Messages": messages}) });
        }
    }
    let got = sqs.receive(&q, max as usize, std::time::Duration::from_secs(wait as u64), vt).await?;
    if let Some(key) = attempt {
        let handles = got.iter().filter_map(|m| m.receipt.clone()).collect();
        remember(&sqs.inner.attempts, key, (handles, now()));
    }
    if got.is_empty() {
        return Ok(json!({}));
    }
    let messages: Vec<Value> = got.iter().map(|m| received_to_wire(&q, m, &system_names, &attr_names)).collect();
    Ok(json!({"Messages": messages}))
}

/// The message document stored beside the body.
pub(crate) fn message_doc(s: &SendInput, sender_id: &str) -> String {
    json!({"a": attrs::to_wire(&s.attrs), "s": attrs::to_wire(&s.system), "sender": sender_id}).to_string()
}

/// The system attributes of a received message, filtered by `names` (`All` for every one).
pub(crate) fn system_attributes(q: &Queue, m: &SqsMessageRow, names: &[String]) -> BTreeMap<String, String> {
    let doc: Value = serde_json::from_str(&m.attrs).unwrap_or(Value::Null);
    let mut all = BTreeMap::new();
    all.insert("SenderId", doc["sender"].as_str().unwrap_or("").to_owned());
    all.insert("SentTimestamp", m.sent_ms.to_string());
    all.insert("ApproximateReceiveCount", m.receive_count.to_string());
    all.insert("ApproximateFirstReceiveTimestamp", m.first_receive_ms.unwrap_or(m.sent_ms).to_string());
    if let Some(t) = doc["s"]["AWSTraceHeader"]["StringValue"].as_str() {
        all.insert("AWSTraceHeader", t.to_owned());
    }
    if let Some(source) = doc["dlq_source"].as_str() {
        all.insert("DeadLetterQueueSourceArn", source.to_owned());
    }
    if q.doc.fifo() {
        all.insert("SequenceNumber", format!("{:020}", m.seq));
        if let Some(g) = &m.group_id {
            all.insert("MessageGroupId", g.clone());
        }
        if let Some(d) = &m.dedup_id {
            all.insert("MessageDeduplicationId", d.clone());
        }
    }
    let every = names.iter().any(|n| n == "All");
    all.into_iter().filter(|(k, _)| every || names.iter().any(|n| n == k)).map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The message attributes of a received message whose names `names` selects (`All`, `.*`, a
/// name, or a `prefix.*`).
pub(crate) fn selected_attributes(m: &SqsMessageRow, names: &[String]) -> BTreeMap<String, Attr> {
    let doc: Value = serde_json::from_str(&m.attrs).unwrap_or(Value::Null);
    let all = attrs::from_wire(&doc["a"]);
    all.into_iter()
        .filter(|(k, _)| {
            names.iter().any(|n| {
                // `bar.*` is every name starting with `bar` (recorded: `Hel.*` takes `Hello`).
                n == "All" || n == ".*" || n == "*" || n == k || n.strip_suffix(".*").is_some_and(|p| k.starts_with(p))
            })
        })
        .collect()
}

fn received_to_wire(q: &Queue, m: &SqsMessageRow, system_names: &[String], attr_names: &[String]) -> Value {
    let mut v = Map::new();
    v.insert("MessageId".to_owned(), json!(m.message_id));
    v.insert("ReceiptHandle".to_owned(), json!(m.receipt));
    v.insert("MD5OfBody".to_owned(), json!(m.md5_body));
    v.insert("Body".to_owned(), json!(m.body));
    let system = system_attributes(q, m, system_names);
    if !system.is_empty() {
        v.insert("Attributes".to_owned(), json!(system));
    }
    let selected = selected_attributes(m, attr_names);
    if let Some(md5) = attrs::md5_of(&selected) {
        v.insert("MD5OfMessageAttributes".to_owned(), json!(md5));
        v.insert("MessageAttributes".to_owned(), attrs::to_wire(&selected));
    }
    Value::Object(v)
}

/// A receipt handle: the queue, the message, a fresh nonce (so an older receive's handle no
/// longer matches) and when the receive happened (the 12-hour visibility limit counts from it).
pub(crate) fn new_receipt(queue_id: i64, seq: i64, received_ms: i64) -> String {
    let raw = format!("{queue_id}:{seq}:{}:{received_ms}", uuid::Uuid::new_v4().simple());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// `(queue id, message seq)` of a handle Versa issued.
pub(crate) fn parse_receipt(h: &str) -> Option<(i64, i64)> {
    parse_receipt_received(h).map(|(q, s, _)| (q, s))
}

/// `(queue id, message seq, when received)`; handles of older builds carry no time.
pub(crate) fn parse_receipt_received(h: &str) -> Option<(i64, i64, Option<i64>)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h).ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let mut parts = raw.split(':');
    let q = parts.next()?.parse().ok()?;
    let s = parts.next()?.parse().ok()?;
    let nonce = parts.next()?;
    let received = match parts.next() {
        None => None,
        Some(t) => Some(t.parse().ok()?),
    };
    (nonce.len() == 32 && parts.next().is_none()).then_some((q, s, received))
}

impl Sqs {
    /// Sends messages to a queue in one write; each gets its own outcome (FIFO duplicates get
    /// the original's id and sequence number, and are not queued again).
    pub(crate) async fn send(
        &self,
        q: &Queue,
        ctx: &Context,
        inputs: Vec<SendInput>,
    ) -> Result<Vec<Result<Sent, Error>>, Error> {
        let id = q.row.id;
        let sender = ctx.sender_id.clone();
        let results = self
            .inner
            .store
            .write(move |tx| {
                let row = tx.sqs_queue_by_id(id)?.ok_or_else(Error::no_queue)?;
                let doc = Doc::parse(&row.doc)?;
                let fifo = doc.fifo();
                let t = now();
                let retention = attrs::number(&doc.attrs, "MessageRetentionPeriod") * 1000;
                let queue_delay = attrs::number(&doc.attrs, "DelaySeconds");
                let content_based = doc.attrs.get("ContentBasedDeduplication").is_some_and(|v| v == "true");
                let per_group = doc.attrs.get("DeduplicationScope").is_some_and(|v| v == "messageGroup");
                let (mut messages, mut bytes) = (row.messages, row.bytes);
                let mut out = Vec::new();
                for s in inputs {
                    let md5_body = attrs::md5_hex(s.body.as_bytes());
                    let md5_attrs = attrs::md5_of(&s.attrs);
                    let md5_system = attrs::md5_of(&s.system);
                    let size = (s.body.len() + attrs::size(&s.attrs)) as u64;
                    if messages >= MESSAGES_PER_QUEUE_MAX || bytes + size > QUEUE_BYTES_MAX {
                        out.push(Err(Error::service(
                            "OverLimit",
                            "OverLimit",
                            format!(
                                "The queue holds its maximum of {MESSAGES_PER_QUEUE_MAX} messages or {QUEUE_BYTES_MAX} bytes on Versa."
                            ),
                        )));
                        continue;
                    }
                    let dedup_id = match (&s.dedup_id, fifo && content_based) {
                        (Some(d), _) => Some(d.clone()),
                        (None, true) => Some(stdx::hex::encode(&sha2::Digest::finalize(
                            <sha2::Sha256 as sha2::Digest>::new_with_prefix(s.body.as_bytes()),
                        ))),
                        (None, false) => None,
                    };
                    let dedup_key = dedup_id.as_ref().filter(|_| fifo).map(|d| {
                        if per_group { format!("{}\n{d}", s.group_id.as_deref().unwrap_or("")) } else { d.clone() }
                    });
                    if let Some(k) = &dedup_key
                        && let Some((message_id, seq)) = tx.sqs_dedup(id, k, t)?
                    {
                        out.push(Ok(Sent {
                            message_id,
                            md5_body,
                            md5_attrs,
                            md5_system,
                            sequence_number: Some(format!("{seq:020}")),
                        }));
                        continue;
                    }
                    let delay = if fifo { queue_delay } else { s.delay.unwrap_or(queue_delay) };
                    let message_id = uuid::Uuid::new_v4().to_string();
                    let row = SqsMessageRow {
                        seq: 0,
                        queue_id: id,
                        message_id: message_id.clone(),
                        body: s.body.clone(),
                        attrs: message_doc(&s, &sender),
                        md5_body: md5_body.clone(),
                        md5_attrs: md5_attrs.clone(),
                        sent_ms: t,
                        visible_ms: t + delay * 1000,
                        expires_ms: t + retention,
                        receive_count: 0,
                        first_receive_ms: None,
                        receipt: None,
                        group_id: s.group_id.clone(),
                        dedup_id: dedup_id.clone(),
                        size,
                    };
                    let seq = tx.sqs_insert_message(&row)?;
                    messages += 1;
                    bytes += size;
                    if let Some(k) = &dedup_key {
                        tx.sqs_put_dedup(id, k, &message_id, seq, t + DEDUP_WINDOW_MS)?;
                    }
                    out.push(Ok(Sent {
                        message_id,
                        md5_body,
                        md5_attrs,
                        md5_system,
                        sequence_number: fifo.then(|| format!("{seq:020}")),
                    }));
                }
                Ok::<_, Error>(out)
            })
            .await?;
        self.inner.waiters.wake(id);
        Ok(results)
    }

    /// One receive transaction: up to `max` receivable messages become invisible for the
    /// visibility timeout with a new receipt handle; a message already received
    /// `maxReceiveCount` times moves to the dead-letter queue instead. Returns the messages,
    /// when the next invisible one becomes visible (if none was received), and the
    /// dead-letter queue that received messages.
    async fn receive_once(
        &self,
        id: i64,
        max: usize,
        vt: Option<i64>,
    ) -> Result<(Vec<SqsMessageRow>, Option<i64>, Option<i64>), Error> {
        self.inner
            .store
            .write(move |tx| {
                let Some(row) = tx.sqs_queue_by_id(id)? else { return Ok((Vec::new(), None, None)) };
                let doc = Doc::parse(&row.doc)?;
                let t = now();
                let vt = vt.unwrap_or_else(|| attrs::number(&doc.attrs, "VisibilityTimeout"));
                let redrive = attrs::redrive(&doc.attrs);
                let dlq = match &redrive {
                    Some(r) => match attrs::parse_arn(&r.dlq_arn) {
                        Some((region, account, name)) => tx.sqs_queue(account, region, name)?.map(|q| q.id),
                        None => None,
                    },
                    None => None,
                };
                let mut out = Vec::new();
                let mut moved = None;
                let source_arn = format!("arn:aws:sqs:{}:{}:{}", row.region, row.account, row.name);
                for mut m in tx.sqs_candidates(id, t, doc.fifo(), max)? {
                    if let (Some(r), Some(dlq)) = (&redrive, dlq)
                        && m.receive_count >= r.max_receive_count
                        && dlq != id
                    {
                        // The message keeps its id, body and attributes, and learns where it came from.
                        let mut attrs: Value = serde_json::from_str(&m.attrs).unwrap_or_else(|_| json!({}));
                        attrs["dlq_source"] = json!(source_arn);
                        m.attrs = attrs.to_string();
                        tx.sqs_update_message(&m)?;
                        tx.sqs_move_message(m.seq, dlq, t)?;
                        moved = Some(dlq);
                        continue;
                    }
                    m.receive_count += 1;
                    m.visible_ms = t + vt * 1000;
                    m.first_receive_ms.get_or_insert(t);
                    m.receipt = Some(new_receipt(id, m.seq, t));
                    tx.sqs_update_message(&m)?;
                    out.push(m);
                }
                let next = if out.is_empty() { tx.sqs_next_visible(id, t)? } else { None };
                Ok::<_, Error>((out, next, moved))
            })
            .await
    }

    /// Receives, long-polling up to `wait`: woken by sends to the queue, or when the next
    /// invisible message becomes visible.
    pub(crate) async fn receive(
        &self,
        q: &Queue,
        max: usize,
        wait: std::time::Duration,
        vt: Option<i64>,
    ) -> Result<Vec<SqsMessageRow>, Error> {
        let id = q.row.id;
        let deadline = tokio::time::Instant::now() + wait;
        let stopped = self.inner.stopped.notified();
        let mut stopped = std::pin::pin!(stopped);
        stopped.as_mut().enable();
        loop {
            let stopping = self.inner.stopping.load(std::sync::atomic::Ordering::SeqCst);
            let registered = if wait.is_zero() || stopping { None } else { self.inner.waiters.register(id) };
            let notify = registered.as_ref().map(|w| w.notify.clone());
            let notified = notify.as_ref().map(|n| n.notified());
            let mut notified = notified.map(Box::pin);
            if let Some(n) = notified.as_mut() {
                n.as_mut().enable();
            }
            let (got, next, moved) = self.receive_once(id, max, vt).await?;
            if let Some(dlq) = moved {
                self.inner.waiters.wake(dlq);
            }
            let now = tokio::time::Instant::now();
            if !got.is_empty() || notified.is_none() || now >= deadline {
                return Ok(got);
            }
            let mut until = deadline;
            if let Some(next_ms) = next {
                let ms = (next_ms - stdx::time::now_ms()).max(0) as u64;
                until = until.min(now + std::time::Duration::from_millis(ms));
            }
            if let Some(n) = notified {
                tokio::select! {
                    () = n => {}
                    () = &mut stopped => {}
                    () = tokio::time::sleep_until(until) => {}
                }
            }
        }
    }

    /// The messages these handles name, if every one is still in flight under its handle.
    async fn still_in_flight(&self, id: i64, handles: Vec<String>) -> Result<Option<Vec<SqsMessageRow>>, Error> {
        self.inner
            .store
            .read(move |tx| {
                let t = now();
                let mut out = Vec::new();
                for h in handles {
                    let Some((_, seq)) = parse_receipt(&h).filter(|(qid, _)| *qid == id) else { return Ok(None) };
                    match tx.sqs_message(seq)? {
                        Some(m) if m.queue_id == id && m.receipt.as_deref() == Some(h.as_str()) && m.visible_ms > t => {
                            out.push(m)
                        }
                        _ => return Ok(None),
                    }
                }
                Ok::<_, Error>(Some(out))
            })
            .await
    }

    /// Deletes messages by receipt handle; a stale handle (the message gone or received
    /// again) succeeds, as on AWS.
    pub(crate) async fn delete(&self, q: &Queue, handles: Vec<String>) -> Result<Vec<Result<(), Error>>, Error> {
        let id = q.row.id;
        let fifo = q.doc.fifo();
        self.inner
            .store
            .write(move |tx| {
                let t = now();
                let mut out = Vec::new();
                for h in handles {
                    let Some((qid, seq)) = parse_receipt(&h).filter(|(qid, _)| *qid == id) else {
                        out.push(Err(Error::receipt_invalid(&h)));
                        continue;
                    };
                    let _ = qid;
                    match tx.sqs_message(seq)? {
                        Some(m) if m.queue_id == id && m.receipt.as_deref() == Some(h.as_str()) => {
                            if fifo && m.visible_ms <= t {
                                out.push(Err(Error::parameter_value(
                                    &h,
                                    "ReceiptHandle",
                                    "The receipt handle has expired.",
                                )));
                                continue;
                            }
                            tx.sqs_delete_message(seq)?;
                            out.push(Ok(()));
                        }
                        _ => out.push(Ok(())),
                    }
                }
                Ok::<_, Error>(out)
            })
            .await
    }

    /// Changes the visibility of received messages (`(handle, seconds from now)`).
    pub(crate) async fn change_visibility(
        &self,
        q: &Queue,
        changes: Vec<(String, i64)>,
    ) -> Result<Vec<Result<(), Error>>, Error> {
        let id = q.row.id;
        let out = self
            .inner
            .store
            .write(move |tx| {
                let t = now();
                let mut out = Vec::new();
                for (h, vt) in changes {
                    let Some((_, seq, received)) = parse_receipt_received(&h).filter(|(qid, _, _)| *qid == id) else {
                        out.push(Err(Error::receipt_invalid(&h)));
                        continue;
                    };
                    // The visibility of one receive ends at most 12 hours after it.
                    if received.is_some_and(|r| t + vt * 1000 > r + TOTAL_VISIBILITY_MS) {
                        out.push(Err(Error::parameter_value(
                            vt,
                            "VisibilityTimeout",
                            "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]",
                        )));
                        continue;
                    }
                    match tx.sqs_message(seq)? {
                        Some(mut m) if m.queue_id == id && m.receipt.as_deref() == Some(h.as_str()) => {
                            if m.visible_ms <= t {
                                out.push(Err(Error::service(
                                    "MessageNotInflight",
                                    "AWS.SimpleQueueService.MessageNotInflight",
                                    "The message referred to isn't in flight.",
                                )));
                                continue;
                            }
                            m.visible_ms = t + vt * 1000;
                            tx.sqs_update_message(&m)?;
                            out.push(Ok(()));
                        }
                        _ => out.push(Err(Error::parameter_value(
                            &h,
                            "ReceiptHandle",
                            "Message does not exist or is not available for visibility timeout change.",
                        ))),
                    }
                }
                Ok::<_, Error>(out)
            })
            .await?;
        self.inner.waiters.wake(id);
        Ok(out)
    }
}
