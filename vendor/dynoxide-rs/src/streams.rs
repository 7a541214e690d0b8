//! DynamoDB Streams support.
//!
//! Generates stream records on write operations when streams are enabled on a table.

use crate::errors::{DynoxideError, Result};
use crate::storage::TableMetadata;
use crate::storage_backend::StorageBackend;
use crate::storage_backend::clock::Clock;
use crate::types::{AttributeValue, Item};
use std::collections::HashMap;

/// Region used in ARNs for the local emulator.
pub const LOCAL_REGION: &str = "dynoxide";
/// Account ID used in ARNs for the local emulator.
pub const LOCAL_ACCOUNT: &str = "000000000000";

/// Table ARN format for local emulator.
pub fn table_arn(table_name: &str) -> String {
    format!("arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{table_name}")
}

/// Index ARN format for local emulator (GSI or LSI).
pub fn index_arn(table_name: &str, index_name: &str) -> String {
    format!("arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{table_name}/index/{index_name}")
}

/// Stream ARN format for local emulator.
pub fn stream_arn(table_name: &str, label: &str) -> String {
    format!("arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{table_name}/stream/{label}")
}

/// Versa: the table and label a stream ARN of this engine names
/// (`arn:aws:dynamodb:<engine region>:<engine account>:table/<table>/stream/<label>`); `None`
/// for anything else, another account's or region's ARN included.
pub(crate) fn parse_stream_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix(&format!(
        "arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/"
    ))?;
    let (table, label) = rest.split_once("/stream/")?;
    (!table.is_empty() && !label.is_empty() && !table.contains('/')).then_some((table, label))
}

/// Versa: DynamoDB Streams' ResourceNotFoundException for `arn`.
pub(crate) fn stream_not_found(arn: &str) -> DynoxideError {
    DynoxideError::ResourceNotFoundException(format!(
        "Requested resource not found: Stream: {arn} not found"
    ))
}

/// Versa: how long a stream stays readable after it was disabled (UpdateTable
/// `StreamEnabled:false`, or its table deleted): DynamoDB's 24 hours. Then it is gone.
pub const DISABLED_STREAM_RETENTION_SECS: i64 = 24 * 60 * 60;

/// Versa: the most disabled streams kept per table; disabling one more drops the oldest (a
/// bound on a table whose stream is switched off and on in a loop).
pub const DISABLED_STREAMS_PER_TABLE_MAX: i64 = 8;
/// Most disabled streams kept over every table (Versa).
pub const DISABLED_STREAMS_MAX: i64 = 1_024;

/// Versa: a disabled stream, readable until [`DISABLED_STREAM_RETENTION_SECS`] after
/// `disabled_at`; its one shard is closed at `last_sequence`.
#[derive(Debug, Clone)]
pub struct DisabledStream {
    pub table_name: String,
    pub label: String,
    pub view_type: String,
    /// The table's key schema, as JSON.
    pub key_schema: String,
    /// The table's creation time (epoch seconds), the stream's `CreationRequestDateTime`.
    pub created_at: i64,
    pub disabled_at: i64,
    pub last_sequence: i64,
}

/// Versa: the `table_name` under which a disabled stream's records and trim point are kept
/// (no table name contains `/`, so it never collides with a table's).
pub fn disabled_stream_key(table_name: &str, label: &str) -> String {
    format!("{table_name}/stream/{label}")
}

/// Versa: a stream as the Streams operations read it: the table's enabled stream, or a
/// disabled one still kept.
#[derive(Debug, Clone)]
pub(crate) struct NamedStream {
    pub table_name: String,
    pub label: String,
    /// The `table_name` its records are kept under.
    pub records_key: String,
    pub view_type: String,
    pub key_schema: String,
    pub created_at: i64,
    /// `Some(last sequence number)`: disabled, its shard closed.
    pub closed_at: Option<i64>,
}

/// Versa: the stream of `table_name` labelled `label`: the table's enabled stream, or a
/// disabled one of it still kept; `None` for any other label (a made-up one, or a disabled
/// stream past its retention), so a reader of an old stream never gets a newer one's records.
pub(crate) async fn find_stream<S: StorageBackend>(
    storage: &S,
    table_name: &str,
    label: &str,
) -> Result<Option<NamedStream>> {
    if let Some(meta) = storage.get_table_metadata(table_name).await?
        && meta.stream_enabled
        && meta.stream_label.as_deref() == Some(label)
    {
        return Ok(Some(NamedStream {
            table_name: table_name.to_owned(),
            label: label.to_owned(),
            records_key: table_name.to_owned(),
            view_type: meta
                .stream_view_type
                .unwrap_or_else(|| "NEW_AND_OLD_IMAGES".to_string()),
            key_schema: meta.key_schema,
            created_at: meta.created_at,
            closed_at: None,
        }));
    }
    let disabled = storage
        .disabled_streams(Some(table_name), Some(label))
        .await?
        .into_iter()
        .next();
    Ok(disabled.map(|d| NamedStream {
        records_key: disabled_stream_key(&d.table_name, &d.label),
        table_name: d.table_name,
        label: d.label,
        view_type: d.view_type,
        key_schema: d.key_schema,
        created_at: d.created_at,
        closed_at: Some(d.last_sequence),
    }))
}

/// Versa: the stream `arn` names, label included (see [`find_stream`]).
pub(crate) async fn named_stream<S: StorageBackend>(storage: &S, arn: &str) -> Result<NamedStream> {
    let (table, label) = parse_stream_arn(arn).ok_or_else(|| stream_not_found(arn))?;
    find_stream(storage, table, label)
        .await?
        .ok_or_else(|| stream_not_found(arn))
}

/// KMS key ARN format for local emulator. A value that already looks like an
/// ARN is returned unchanged; a bare key id is wrapped into a `key/<id>` ARN.
pub fn kms_key_arn(key_id: &str) -> String {
    if key_id.starts_with("arn:") {
        key_id.to_string()
    } else {
        format!("arn:aws:kms:{LOCAL_REGION}:{LOCAL_ACCOUNT}:key/{key_id}")
    }
}

/// Shard ID for a table (one shard per table in simplified model).
///
/// Versa: AWS's shape, `shardId-<20 digits>-<8 hex>` (37 characters; boto3 checks 28 to 65),
/// the hex an FNV-1a hash of the table name (upstream appends the name, which breaks both bounds).
pub fn shard_id(table_name: &str) -> String {
    let hash = table_name
        .bytes()
        .fold(2_166_136_261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16_777_619));
    format!("shardId-00000001000000000000-{hash:08x}")
}

/// Offset that turns a stored sequence number into its 21-digit public form.
const SEQUENCE_NUMBER_OFFSET: u128 = 100_000_000_000_000_000_000;

/// The public form of a stored sequence number: 21 digits, as DynamoDB's are
/// (21 to 40). Fixed width, so string and numeric order agree.
pub fn format_sequence_number(stored: i64) -> String {
    (SEQUENCE_NUMBER_OFFSET + stored.max(0) as u128).to_string()
}

/// The stored sequence number a public one names, or `None` when it could
/// not have been issued.
pub(crate) fn parse_sequence_number(public: &str) -> Option<i64> {
    let value: u128 = public.parse().ok()?;
    let stored = i64::try_from(value.checked_sub(SEQUENCE_NUMBER_OFFSET)?).ok()?;
    (stored > 0).then_some(stored)
}

/// The floor for a new stored sequence number: microseconds since the epoch,
/// so a fresh in-memory database doesn't normally reissue an earlier session's
/// numbers.
#[cfg(any(feature = "native-sqlite", feature = "_has-encryption"))]
pub(crate) fn sequence_number_floor(clock: &dyn Clock) -> i64 {
    (clock.now_unix_secs_f64() * 1_000_000.0) as i64
}

/// Generate a stream label from the current timestamp.
///
/// Versa: DynamoDB's own shape, the UTC creation time `YYYY-MM-DDThh:mm:ss.sss` (no zone), so
/// that stream ARNs match `…/stream/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}` as AWS's do (upstream
/// writes `<secs>.<nanos>`). The caller supplies the clock so production callers route through
/// `Storage::clock()` while tests can pin time via `ManualClock`.
pub fn generate_stream_label(clock: &dyn Clock) -> String {
    let now_ms = (clock.now_unix_secs_f64() * 1000.0) as i64;
    let (days, ms_of_day) = (now_ms.div_euclid(86_400_000), now_ms.rem_euclid(86_400_000));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, ms) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}")
}

/// Extract only key attributes from an item given the key schema JSON.
pub fn extract_keys(item: &Item, key_schema_json: &str) -> HashMap<String, AttributeValue> {
    crate::bench_counters::record(&crate::bench_counters::KEY_SCHEMA_PARSES);
    let key_schema: Vec<crate::types::KeySchemaElement> =
        serde_json::from_str(key_schema_json).unwrap_or_default();
    let mut keys = HashMap::new();
    for ks in &key_schema {
        if let Some(val) = item.get(&ks.attribute_name) {
            keys.insert(ks.attribute_name.clone(), val.clone());
        }
    }
    keys
}

/// As [`extract_keys`], for a caller that already holds the parsed schema.
///
/// A sweep is the case that needs it: the JSON form deserialises the schema on
/// every call, and the TTL reaper calls this once per expired item.
pub fn extract_keys_with_schema(
    item: &Item,
    key_schema: &crate::actions::helpers::KeySchema,
) -> HashMap<String, AttributeValue> {
    let mut keys = HashMap::new();
    for name in [
        Some(&key_schema.partition_key),
        key_schema.sort_key.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(val) = item.get(name) {
            keys.insert(name.clone(), val.clone());
        }
    }
    keys
}

/// The new and old images a stream record carries, as JSON, under the table's
/// `StreamViewType`. Shared by every writer of stream records, so an import
/// records what a live write would.
pub(crate) fn stream_images(
    meta: &TableMetadata,
    old_item: Option<&Item>,
    new_item: Option<&Item>,
) -> (Option<String>, Option<String>) {
    let view_type = meta
        .stream_view_type
        .as_deref()
        .unwrap_or("NEW_AND_OLD_IMAGES");
    let to_json = |i: &Item| serde_json::to_string(i).unwrap_or_default();

    let new_image = match view_type {
        "NEW_IMAGE" | "NEW_AND_OLD_IMAGES" => new_item.map(to_json),
        _ => None,
    };
    let old_image = match view_type {
        "OLD_IMAGE" | "NEW_AND_OLD_IMAGES" => old_item.map(to_json),
        _ => None,
    };
    (new_image, old_image)
}

/// Record a stream event if streams are enabled on the table.
///
/// `old_item` and `new_item` are the item before and after the operation.
/// For INSERT: old_item is None, new_item is Some.
/// For MODIFY: both are Some.
/// For REMOVE: old_item is Some, new_item is None.
#[allow(clippy::too_many_arguments)]
pub async fn record_stream_event<S: StorageBackend>(
    storage: &S,
    meta: &TableMetadata,
    old_item: Option<&Item>,
    new_item: Option<&Item>,
) -> Result<()> {
    if !meta.stream_enabled {
        return Ok(());
    }

    let event_name = match (old_item, new_item) {
        // Versa: "If you perform a PutItem or UpdateItem operation that does not change any
        // data in an item, DynamoDB Streams does not write a stream record" (AWS docs).
        (Some(old), Some(new)) if old == new => return Ok(()),
        (None, Some(_)) => "INSERT",
        (Some(_), Some(_)) => "MODIFY",
        (Some(_), None) => "REMOVE",
        (None, None) => return Ok(()),
    };

    // Get key attributes from whichever image is available
    let ref_item = new_item.or(old_item).unwrap();
    let keys = extract_keys(ref_item, &meta.key_schema);
    let keys_json = serde_json::to_string(&keys).unwrap_or_default();

    let (new_image_json, old_image_json) = stream_images(meta, old_item, new_item);

    let seq_num = storage
        .next_stream_sequence_number(&meta.table_name)
        .await?;
    let sid = shard_id(&meta.table_name);
    let now = storage.clock().now_unix_secs() as i64;

    storage
        .insert_stream_record(
            &meta.table_name,
            event_name,
            &keys_json,
            new_image_json.as_deref(),
            old_image_json.as_deref(),
            &seq_num.to_string(),
            &sid,
            now,
        )
        .await?;

    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequence_number_round_trips_through_its_public_form() {
        for stored in [1, 1_761_000_000_000_000, i64::MAX] {
            let public = format_sequence_number(stored);
            assert_eq!(public.len(), 21, "{public}");
            assert_eq!(parse_sequence_number(&public), Some(stored));
        }
        assert!(format_sequence_number(9) < format_sequence_number(10));
    }

    #[test]
    fn a_number_that_was_never_issued_names_nothing() {
        for public in [
            "5",
            "abc",
            "000000000000000000000",
            "100000000000000000000",
            "999999999999999999999999999999999999999",
        ] {
            assert_eq!(parse_sequence_number(public), None, "{public}");
        }
        assert_eq!(parse_sequence_number("+100000000000000000005"), Some(5));
    }
}
