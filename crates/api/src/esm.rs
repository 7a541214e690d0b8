//! The body of Create/UpdateEventSourceMapping (the answers are `control`'s documents as they
//! are, in AWS's member names).

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EsmRequest {
    function_name: Option<String>,
    event_source_arn: Option<String>,
    enabled: Option<bool>,
    batch_size: Option<i64>,
    maximum_batching_window_in_seconds: Option<i64>,
    starting_position: Option<String>,
    filter_criteria: Option<Value>,
    function_response_types: Option<Vec<String>>,
    maximum_retry_attempts: Option<i64>,
    maximum_record_age_in_seconds: Option<i64>,
    bisect_batch_on_function_error: Option<bool>,
    parallelization_factor: Option<i64>,
    tumbling_window_in_seconds: Option<i64>,
    destination_config: Option<Value>,
    scaling_config: Option<Value>,
    tags: Option<std::collections::BTreeMap<String, String>>,
}

impl EsmRequest {
    pub(crate) fn into_input(self) -> control::EsmInput {
        control::EsmInput {
            function_name: self.function_name,
            event_source_arn: self.event_source_arn,
            enabled: self.enabled,
            batch_size: self.batch_size,
            maximum_batching_window_in_seconds: self.maximum_batching_window_in_seconds,
            starting_position: self.starting_position,
            filter_criteria: self.filter_criteria,
            function_response_types: self.function_response_types,
            maximum_retry_attempts: self.maximum_retry_attempts,
            maximum_record_age_in_seconds: self.maximum_record_age_in_seconds,
            bisect_batch_on_function_error: self.bisect_batch_on_function_error,
            parallelization_factor: self.parallelization_factor,
            tumbling_window_in_seconds: self.tumbling_window_in_seconds,
            destination_config: self.destination_config,
            scaling_config: self.scaling_config,
            tags: self.tags,
        }
    }
}
