use crate::errors::{DynoxideError, Result};
use crate::storage_backend::StorageBackend;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize)]
pub struct GetShardIteratorRequest {
    #[serde(rename = "StreamArn")]
    pub stream_arn: String,
    #[serde(rename = "ShardId")]
    pub shard_id: String,
    #[serde(rename = "ShardIteratorType")]
    pub shard_iterator_type: String,
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct GetShardIteratorResponse {
    #[serde(rename = "ShardIterator", skip_serializing_if = "Option::is_none")]
    pub shard_iterator: Option<String>,
}

/// Shard iterator is a base64-encoded JSON of `{table_name, shard_id, position, issued_ms}`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ShardIteratorData {
    table_name: String,
    shard_id: String,
    position: i64,
    /// Versa: when the iterator was handed out (epoch ms); it expires
    /// [`ITERATOR_LIFETIME_MS`] later. Absent in iterators of older builds (never expire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issued_ms: Option<i64>,
    /// Versa: the label of the stream it reads; GetRecords refuses it once the table's stream
    /// is another (re-created table, re-enabled stream). Absent in iterators of older builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stream_label: Option<String>,
}

/// Versa: how long a shard iterator may be used (DynamoDB Streams: 15 minutes).
pub const ITERATOR_LIFETIME_MS: i64 = 15 * 60 * 1000;

/// Versa: the text of ExpiredIteratorException (the model's documented message).
pub const EXPIRED_ITERATOR_MESSAGE: &str = "The provided iterator exceeds the maximum age allowed.";
/// Versa: the text of TrimmedDataAccessException (as recorded from DynamoDB Streams).
pub const TRIMMED_MESSAGE: &str = "The data you are trying to access has been trimmed";

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn encode_shard_iterator(table_name: &str, shard_id: &str, position: i64) -> String {
    encode_shard_iterator_at(table_name, shard_id, position, now_ms())
}

/// An iterator as handed out at `issued_ms`.
pub fn encode_shard_iterator_at(table_name: &str, shard_id: &str, position: i64, issued_ms: i64) -> String {
    encode(ShardIteratorData {
        table_name: table_name.to_string(),
        shard_id: shard_id.to_string(),
        position,
        issued_ms: Some(issued_ms),
        stream_label: None,
    })
}

/// Versa: an iterator of the stream labelled `label`, handed out now.
pub fn encode_stream_iterator(
    table_name: &str,
    label: &str,
    shard_id: &str,
    position: i64,
) -> String {
    encode(ShardIteratorData {
        table_name: table_name.to_string(),
        shard_id: shard_id.to_string(),
        position,
        issued_ms: Some(now_ms()),
        stream_label: Some(label.to_string()),
    })
}

fn encode(data: ShardIteratorData) -> String {
    let json = serde_json::to_string(&data).unwrap_or_default();
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    STANDARD.encode(json.as_bytes())
}

/// Versa: the label of the stream `iterator` reads (`None`: an older build's iterator, or
/// one that does not decode).
pub fn decode_shard_iterator_label(iterator: &str) -> Option<String> {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    let bytes = STANDARD.decode(iterator).ok()?;
    serde_json::from_slice::<ShardIteratorData>(&bytes)
        .ok()?
        .stream_label
}

pub fn decode_shard_iterator(iterator: &str) -> Option<(String, String, i64)> {
    decode_shard_iterator_issued(iterator).map(|(t, s, p, _)| (t, s, p))
}

/// As [`decode_shard_iterator`], with when it was handed out (`None`: an older build's).
pub fn decode_shard_iterator_issued(iterator: &str) -> Option<(String, String, i64, Option<i64>)> {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    let bytes = STANDARD.decode(iterator).ok()?;
    let data: ShardIteratorData = serde_json::from_slice(&bytes).ok()?;
    Some((data.table_name, data.shard_id, data.position, data.issued_ms))
}

pub async fn execute<S: StorageBackend>(
    storage: &S,
    request: GetShardIteratorRequest,
) -> Result<GetShardIteratorResponse> {
    if let Some(value) = &request.sequence_number {
        check_sequence_number_length(value)?;
    }

    // Versa: the label must be the table's current stream's or a disabled stream's still kept
    // (upstream read only the table name).
    let stream = crate::streams::named_stream(storage, &request.stream_arn).await?;
    let (table_name, label, records_key) = (stream.table_name, stream.label, stream.records_key);

    let kind = request.shard_iterator_type.as_str();
    if matches!(kind, "TRIM_HORIZON" | "LATEST") && request.sequence_number.is_some() {
        return Err(DynoxideError::ValidationException(
            "One or more parameter values were invalid: SequenceNumber should not be passed for this iterator type"
                .to_string(),
        ));
    }

    // Versa: records up to the trim point are gone; TRIM_HORIZON starts after it and a
    // position before it is refused.
    let trimmed = storage
        .stream_trim_point(&records_key, &request.shard_id)
        .await?;
    let position = match kind {
        "TRIM_HORIZON" => trimmed,
        "LATEST" => {
            // Position at the shard's last record, so only later ones return.
            let (_, last) = storage
                .get_shard_sequence_range(&records_key, &request.shard_id)
                .await?;
            last.and_then(|seq| seq.parse().ok()).unwrap_or(0).max(trimmed)
        }
        // AT includes the named record, so position just before it.
        "AT_SEQUENCE_NUMBER" => requested_sequence_number(&request)? - 1,
        "AFTER_SEQUENCE_NUMBER" => requested_sequence_number(&request)?,
        other => {
            return Err(DynoxideError::ValidationException(format!(
                "Invalid ShardIteratorType: {other}"
            )));
        }
    };
    if position < trimmed {
        return Err(DynoxideError::TrimmedDataAccessException(TRIMMED_MESSAGE.to_string()));
    }

    let iterator = encode_stream_iterator(&table_name, &label, &request.shard_id, position);

    Ok(GetShardIteratorResponse {
        shard_iterator: Some(iterator),
    })
}

/// DynamoDB's 21 to 40 character constraint on `SequenceNumber`.
fn check_sequence_number_length(value: &str) -> Result<()> {
    let len = value.chars().count();
    let bound = if len < 21 {
        "greater than or equal to 21"
    } else if len > 40 {
        "less than or equal to 40"
    } else {
        return Ok(());
    };
    Err(DynoxideError::ValidationException(format!(
        "1 validation error detected: Value at 'sequenceNumber' failed to satisfy constraint: Member must have length {bound}"
    )))
}

/// The stored sequence number an AT_ or AFTER_SEQUENCE_NUMBER request names.
fn requested_sequence_number(request: &GetShardIteratorRequest) -> Result<i64> {
    let value = request.sequence_number.as_deref().ok_or_else(|| {
        DynoxideError::ValidationException(
            "One or more parameter values were invalid: SequenceNumber cannot be null".to_string(),
        )
    })?;
    crate::streams::parse_sequence_number(value).ok_or_else(|| {
        DynoxideError::ValidationException("Invalid SequenceNumber for the shard".to_string())
    })
}
