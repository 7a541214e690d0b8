use crate::errors::Result;
use crate::storage_backend::StorageBackend;
use crate::streams;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize)]
pub struct ListStreamsRequest {
    #[serde(rename = "TableName", default)]
    pub table_name: Option<String>,
    #[serde(rename = "ExclusiveStartStreamArn", default)]
    pub exclusive_start_stream_arn: Option<String>,
    #[serde(rename = "Limit", default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Default, Serialize)]
pub struct ListStreamsResponse {
    #[serde(rename = "Streams")]
    pub streams: Vec<StreamSummary>,
    #[serde(
        rename = "LastEvaluatedStreamArn",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_evaluated_stream_arn: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct StreamSummary {
    #[serde(rename = "StreamArn")]
    pub stream_arn: String,
    #[serde(rename = "TableName")]
    pub table_name: String,
    #[serde(rename = "StreamLabel")]
    pub stream_label: String,
}

pub async fn execute<S: StorageBackend>(
    storage: &S,
    request: ListStreamsRequest,
) -> Result<ListStreamsResponse> {
    let tables = storage.list_stream_enabled_tables().await?;
    // Versa: disabled streams are listed too while they are kept (24 hours), each table's in
    // label (creation) order, so the table's current stream comes last.
    let disabled = storage
        .disabled_streams(request.table_name.as_deref(), None)
        .await?;

    let mut summaries: Vec<StreamSummary> = tables
        .into_iter()
        .filter(|meta| {
            if let Some(ref filter_table) = request.table_name {
                &meta.table_name == filter_table
            } else {
                true
            }
        })
        .map(|meta| (meta.table_name, meta.stream_label.unwrap_or_default()))
        .chain(disabled.into_iter().map(|d| (d.table_name, d.label)))
        .map(|(table_name, label)| StreamSummary {
            stream_arn: streams::stream_arn(&table_name, &label),
            table_name,
            stream_label: label,
        })
        .collect();
    summaries
        .sort_by(|a, b| (&a.table_name, &a.stream_label).cmp(&(&b.table_name, &b.stream_label)));

    // Apply ExclusiveStartStreamArn pagination: everything after the start's (table, label)
    // in the listing's order, whether or not that stream is still listed (it may have expired
    // since the previous page). (Versa)
    if let Some(ref start_arn) = request.exclusive_start_stream_arn
        && let Some((table_part, label)) = start_arn.rsplit_once("/stream/")
        && let Some((_, table)) = table_part.rsplit_once(":table/")
    {
        let after = summaries
            .partition_point(|s| (s.table_name.as_str(), s.stream_label.as_str()) <= (table, label));
        summaries = summaries.split_off(after);
    }

    // Apply limit
    let last_arn = if let Some(limit) = request.limit {
        if summaries.len() > limit {
            summaries.truncate(limit);
            summaries.last().map(|s| s.stream_arn.clone())
        } else {
            None
        }
    } else {
        None
    };

    Ok(ListStreamsResponse {
        streams: summaries,
        last_evaluated_stream_arn: last_arn,
    })
}
