use crate::errors::Result;
use crate::storage_backend::StorageBackend;
use crate::streams;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize)]
pub struct DescribeStreamRequest {
    #[serde(rename = "StreamArn")]
    pub stream_arn: String,
    #[serde(rename = "ExclusiveStartShardId", default)]
    pub exclusive_start_shard_id: Option<String>,
    #[serde(rename = "Limit", default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Default, Serialize)]
pub struct DescribeStreamResponse {
    #[serde(rename = "StreamDescription")]
    pub stream_description: StreamDescription,
}

#[derive(Debug, Default, Serialize)]
pub struct StreamDescription {
    #[serde(rename = "StreamArn")]
    pub stream_arn: String,
    #[serde(rename = "StreamLabel")]
    pub stream_label: String,
    #[serde(rename = "StreamStatus")]
    pub stream_status: String,
    #[serde(rename = "StreamViewType")]
    pub stream_view_type: String,
    #[serde(rename = "TableName")]
    pub table_name: String,
    /// Versa: the table's key schema, part of the description in the model (upstream left it out).
    #[serde(rename = "KeySchema")]
    pub key_schema: serde_json::Value,
    #[serde(rename = "Shards")]
    pub shards: Vec<Shard>,
    #[serde(rename = "CreationRequestDateTime")]
    pub creation_request_date_time: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct Shard {
    #[serde(rename = "ShardId")]
    pub shard_id: String,
    #[serde(rename = "SequenceNumberRange")]
    pub sequence_number_range: SequenceNumberRange,
}

#[derive(Debug, Default, Serialize)]
pub struct SequenceNumberRange {
    #[serde(
        rename = "StartingSequenceNumber",
        skip_serializing_if = "Option::is_none"
    )]
    pub starting_sequence_number: Option<String>,
    #[serde(
        rename = "EndingSequenceNumber",
        skip_serializing_if = "Option::is_none"
    )]
    pub ending_sequence_number: Option<String>,
}

pub async fn execute<S: StorageBackend>(
    storage: &S,
    request: DescribeStreamRequest,
) -> Result<DescribeStreamResponse> {
    // Versa: the label must be the table's current stream's, or a disabled stream's still
    // kept (upstream read only the table name, and only an enabled stream was found).
    let stream = streams::named_stream(storage, &request.stream_arn).await?;
    let sid = streams::shard_id(&stream.table_name);
    let (start_seq, _) = storage
        .get_shard_sequence_range(&stream.records_key, &sid)
        .await?;
    let start_seq = start_seq
        .and_then(|s| s.parse().ok())
        .map(streams::format_sequence_number);
    // Versa: only a closed shard (its stream disabled) has an EndingSequenceNumber; a reader
    // takes one as "drain and stop".
    let end_seq = stream.closed_at.map(streams::format_sequence_number);
    let status = if stream.closed_at.is_some() {
        "DISABLED"
    } else {
        "ENABLED"
    };

    Ok(DescribeStreamResponse {
        stream_description: StreamDescription {
            stream_arn: request.stream_arn,
            stream_label: stream.label,
            stream_status: status.to_string(),
            stream_view_type: stream.view_type,
            table_name: stream.table_name,
            key_schema: serde_json::from_str(&stream.key_schema)
                .unwrap_or_else(|_| serde_json::Value::Array(Vec::new())),
            shards: vec![Shard {
                shard_id: sid,
                sequence_number_range: SequenceNumberRange {
                    starting_sequence_number: start_seq,
                    ending_sequence_number: end_seq,
                },
            }],
            creation_request_date_time: stream.created_at as f64,
        },
    })
}
