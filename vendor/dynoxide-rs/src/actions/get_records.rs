use crate::errors::{DynoxideError, Result};
use crate::storage_backend::StorageBackend;
use crate::types::Item;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize)]
pub struct GetRecordsRequest {
    #[serde(rename = "ShardIterator")]
    pub shard_iterator: String,
    #[serde(rename = "Limit", default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Default, Serialize)]
pub struct GetRecordsResponse {
    #[serde(rename = "Records")]
    pub records: Vec<Record>,
    #[serde(rename = "NextShardIterator", skip_serializing_if = "Option::is_none")]
    pub next_shard_iterator: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Record {
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(rename = "eventName")]
    pub event_name: String,
    #[serde(rename = "eventVersion")]
    pub event_version: String,
    #[serde(rename = "eventSource")]
    pub event_source: String,
    #[serde(rename = "awsRegion")]
    pub aws_region: String,
    #[serde(rename = "dynamodb")]
    pub dynamodb: StreamRecord,
    #[serde(rename = "userIdentity", skip_serializing_if = "Option::is_none")]
    pub user_identity: Option<UserIdentity>,
}

#[derive(Debug, Default, Serialize)]
pub struct UserIdentity {
    #[serde(rename = "type")]
    pub identity_type: String,
    #[serde(rename = "principalId")]
    pub principal_id: String,
}

#[derive(Debug, Default, Serialize)]
pub struct StreamRecord {
    #[serde(rename = "Keys")]
    pub keys: Item,
    #[serde(
        rename = "NewImage",
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::set_order::item_in_hash_order"
    )]
    // Number sets in Java hash-set order here, as DynamoDB returns them;
    // pinned by set_order's every_response_item_field test.
    pub new_image: Option<Item>,
    #[serde(
        rename = "OldImage",
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::set_order::item_in_hash_order"
    )]
    // Number sets in Java hash-set order here, as DynamoDB returns them;
    // pinned by set_order's every_response_item_field test.
    pub old_image: Option<Item>,
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: String,
    #[serde(rename = "SizeBytes")]
    pub size_bytes: i64,
    #[serde(rename = "StreamViewType")]
    pub stream_view_type: String,
    /// Versa: whole epoch seconds, an integer on the wire (the Lambda event's recorded shape,
    /// "rounded down to the closest second"); upstream wrote a float (`1796556469.0`).
    #[serde(rename = "ApproximateCreationDateTime")]
    pub approximate_creation_date_time: i64,
}

pub async fn execute<S: StorageBackend>(
    storage: &S,
    request: GetRecordsRequest,
) -> Result<GetRecordsResponse> {
    let (table_name, shard_id, position, issued_ms) =
        super::get_shard_iterator::decode_shard_iterator_issued(&request.shard_iterator)
            .ok_or_else(|| DynoxideError::ValidationException("Invalid shard iterator".to_string()))?;
    // Versa: iterators live 15 minutes; a position whose next records were trimmed is refused.
    if issued_ms.is_some_and(|t| {
        super::get_shard_iterator::now_ms() - t > super::get_shard_iterator::ITERATOR_LIFETIME_MS
    }) {
        return Err(DynoxideError::ExpiredIteratorException(
            super::get_shard_iterator::EXPIRED_ITERATOR_MESSAGE.to_string(),
        ));
    }

    // Versa: an iterator of a stream that is no longer the table's (the table re-created, the
    // stream re-enabled) reads nothing of the new one: it reads its own stream while that is
    // kept as a disabled stream, and then the stream is gone.
    let label = super::get_shard_iterator::decode_shard_iterator_label(&request.shard_iterator);
    let (records_key, view_type, closed) = match &label {
        Some(l) => {
            let stream = crate::streams::find_stream(storage, &table_name, l)
                .await?
                .ok_or_else(|| {
                    crate::streams::stream_not_found(&crate::streams::stream_arn(&table_name, l))
                })?;
            (stream.records_key, stream.view_type, stream.closed_at.is_some())
        }
        None => {
            let meta = storage.get_table_metadata(&table_name).await?.ok_or_else(|| {
                DynoxideError::ResourceNotFoundException(format!(
                    "Requested resource not found: Table: {table_name}"
                ))
            })?;
            let view_type = meta
                .stream_view_type
                .unwrap_or_else(|| "NEW_AND_OLD_IMAGES".to_string());
            (table_name.clone(), view_type, false)
        }
    };

    if position < storage.stream_trim_point(&records_key, &shard_id).await? {
        return Err(DynoxideError::TrimmedDataAccessException(
            super::get_shard_iterator::TRIMMED_MESSAGE.to_string(),
        ));
    }

    let limit = request.limit.unwrap_or(1000).min(1000);
    let raw_records = storage
        .get_stream_records_with_event_ids(&records_key, &shard_id, position, limit)
        .await?;

    let mut records = Vec::with_capacity(raw_records.len());
    let mut last_seq: i64 = position;

    for (raw, event_id) in &raw_records {
        let keys: Item = serde_json::from_str(&raw.keys_json).unwrap_or_default();
        let new_image: Option<Item> = raw
            .new_image
            .as_ref()
            .and_then(|j| serde_json::from_str(j).ok());
        let old_image: Option<Item> = raw
            .old_image
            .as_ref()
            .and_then(|j| serde_json::from_str(j).ok());

        let seq_num: i64 = raw.sequence_number.parse().unwrap_or(0);
        if seq_num > last_seq {
            last_seq = seq_num;
        }

        // Versa: DynamoDB's item size of Keys, NewImage and OldImage (names plus values, as
        // recorded: KEYS_ONLY `Username:"Fred"` is 12); upstream summed their JSON texts' lengths.
        let size = crate::types::item_size(&keys)
            + new_image.as_ref().map_or(0, crate::types::item_size)
            + old_image.as_ref().map_or(0, crate::types::item_size);

        let user_identity = raw.user_identity.as_ref().and_then(|ui| {
            serde_json::from_str::<serde_json::Value>(ui)
                .ok()
                .map(|v| UserIdentity {
                    identity_type: v["type"].as_str().unwrap_or("Service").to_string(),
                    principal_id: v["principalId"]
                        .as_str()
                        .unwrap_or("dynamodb.amazonaws.com")
                        .to_string(),
                })
        });

        let sequence_number = crate::streams::format_sequence_number(seq_num);
        records.push(Record {
            // A row an older build wrote has no id; it reports its stored
            // sequence number, as the open-time backfill would store.
            event_id: event_id
                .clone()
                .unwrap_or_else(|| raw.sequence_number.clone()),
            event_name: raw.event_name.clone(),
            event_version: "1.1".to_string(),
            event_source: "aws:dynamodb".to_string(),
            aws_region: crate::streams::LOCAL_REGION.to_string(),
            dynamodb: StreamRecord {
                keys,
                new_image,
                old_image,
                sequence_number,
                size_bytes: size as i64,
                stream_view_type: view_type.clone(),
                approximate_creation_date_time: raw.created_at,
            },
            user_identity,
        });
    }

    // Versa: a closed shard (its stream disabled) read to its end has no next iterator
    // ("NextShardIterator is absent only on a closed, drained shard"): no record can follow.
    let drained = closed && raw_records.len() < limit;
    let next_iterator = match &label {
        _ if drained => None,
        Some(l) => Some(super::get_shard_iterator::encode_stream_iterator(
            &table_name,
            l,
            &shard_id,
            last_seq,
        )),
        None => Some(super::get_shard_iterator::encode_shard_iterator(
            &table_name,
            &shard_id,
            last_seq,
        )),
    };

    Ok(GetRecordsResponse {
        records,
        next_shard_iterator: next_iterator,
    })
}
