//! The DynamoDB JSON 1.0 entry without an HTTP server: what `server::handle_request` does
//! once it holds an operation name and a body. Added for Versa, which serves DynamoDB on its
//! own listener (see VERSA.md at the crate root).

use crate::Database;
use crate::serde_errors::{deserialize, serialize};
use crate::serialization_checks::pre_check_and_read_layer;

/// A failed call: the HTTP status and the JSON body DynamoDB answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    pub status: u16,
    pub body: String,
}

/// Whether `op` (the part of `X-Amz-Target` after the service prefix) is an operation the
/// engine serves.
pub fn is_known_operation(op: &str) -> bool {
    crate::dynamo_ops::is_known_operation(op)
}

/// Run one operation on a JSON body; `Ok` is the 200 body.
pub fn handle(db: &Database, operation: &str, body: &str) -> Result<String, ErrorResponse> {
    const SERIALIZATION: &str = r#"{"__type":"com.amazon.coral.service#SerializationException"}"#;
    const UNKNOWN: &str = r#"{"__type":"com.amazon.coral.service#UnknownOperationException"}"#;
    let bare = |body: &str| ErrorResponse { status: 400, body: body.to_string() };
    let mut too_deep = false;
    if !body.is_empty()
        && let Err(e) = serde_json::from_str::<serde_json::Value>(body)
    {
        if crate::deep_nesting::is_depth_failure(&e) {
            too_deep = true;
        } else {
            return Err(bare(SERIALIZATION));
        }
    }
    if !is_known_operation(operation) {
        return Err(bare(UNKNOWN));
    }
    if body.is_empty() {
        return Err(bare(SERIALIZATION));
    }
    let result = if too_deep {
        match crate::deep_nesting::resolve(operation, body) {
            crate::deep_nesting::DeepBody::Unreadable => return Err(bare(SERIALIZATION)),
            crate::deep_nesting::DeepBody::Refuse(e) => Err(e),
            crate::deep_nesting::DeepBody::Run(rewritten) => dispatch(db, operation, &rewritten),
        }
    } else {
        dispatch(db, operation, body)
    };
    result.map_err(|e| ErrorResponse { status: e.status_code(), body: e.to_json_for(operation) })
}

/// Delete stream records older than `max_age_secs`; how many went.
pub fn trim_stream_records(db: &Database, max_age_secs: i64) -> crate::Result<usize> {
    db.with_storage(|s| s.trim_stream_records(max_age_secs))
}

/// Set `PRAGMA synchronous` on the database's connection (Versa runs with `FULL`).
pub fn set_synchronous(db: &Database, mode: &str) -> crate::Result<()> {
    db.with_storage(|s| Ok(s.conn().pragma_update(None, "synchronous", mode)?))
}

pub(crate) fn dispatch(db: &Database, operation: &str, body: &str) -> crate::Result<String> {
    // A number given for a boolean is named by how it was written, which
    // serde_json forgets for `-0` and integers past 64 bits.
    let body = crate::serde_errors::boolean_numbers_as_written(body);
    let body = body.as_ref();
    // Pre-check JSON field types for operations that use serde_json::Value
    // internally. These checks must run before serde deserialisation because
    // serde_json::Value accepts any JSON type, so type mismatches on
    // list/struct fields would silently pass through.
    //
    // The request's values are read under the validation layer the operation
    // runs on, or the older layer for a request that holds a boolean written
    // as a string or a value with more than one member; the layer decides how
    // a value it refuses is worded. The operation runs to completion on this
    // thread (the database blocks on it), so the layer holds for the whole
    // call.
    let checked = pre_check_and_read_layer(operation, body);
    let layer = checked.as_ref().map_or_else(
        |_| crate::validation::ValueLayer::for_operation(operation),
        |l| *l,
    );
    let result = checked.and_then(|layer| {
        crate::types::with_value_layer(layer, || dispatch_operation(db, operation, body))
    });

    // DynamoDB wraps the request-validation family in the
    // "1 validation error detected: " envelope on PutItem, UpdateItem and
    // DeleteItem read on the current layer, and reports it bare everywhere
    // else. The wire-invisible EnvelopedValidation tag must never escape
    // dispatch. ExecuteStatement's condition failure carrying an item is
    // written in its own shape.
    result.map_err(|e| {
        let resolved = match layer {
            crate::validation::ValueLayer::Older => {
                crate::validation::strip_request_validation_tag(e)
            }
            crate::validation::ValueLayer::Current => {
                crate::validation::resolve_request_validation_tag(operation, e)
            }
        };
        crate::errors::for_operation(operation, resolved)
    })
}

fn dispatch_operation(db: &Database, operation: &str, body: &str) -> crate::Result<String> {
    match operation {
        "CreateTable" => {
            let req = deserialize(body)?;
            let resp = db.create_table(req)?;
            serialize(&resp)
        }
        "DeleteTable" => {
            let req = deserialize(body)?;
            let resp = db.delete_table(req)?;
            serialize(&resp)
        }
        "DescribeTable" => {
            let req = deserialize(body)?;
            let resp = db.describe_table(req)?;
            serialize(&resp)
        }
        "ListTables" => {
            let req = deserialize(body)?;
            let resp = db.list_tables(req)?;
            serialize(&resp)
        }
        "UpdateTable" => {
            let req = deserialize(body)?;
            let resp = db.update_table(req)?;
            serialize(&resp)
        }
        "PutItem" => {
            let req = deserialize(body)?;
            let resp = db.put_item(req)?;
            serialize(&resp)
        }
        "GetItem" => {
            let req = deserialize(body)?;
            let resp = db.get_item(req)?;
            serialize(&resp)
        }
        "DeleteItem" => {
            let req = deserialize(body)?;
            let resp = db.delete_item(req)?;
            serialize(&resp)
        }
        "UpdateItem" => {
            let req = deserialize(body)?;
            let resp = db.update_item(req)?;
            serialize(&resp)
        }
        "Query" => {
            let req = deserialize(body)?;
            let resp = db.query(req)?;
            serialize(&resp)
        }
        "Scan" => {
            let req = deserialize(body)?;
            let resp = db.scan(req)?;
            serialize(&resp)
        }
        "SearchVectors" => {
            let req = deserialize(body)?;
            let resp = db.search_vectors(req)?;
            serialize(&resp)
        }
        "BatchGetItem" => {
            let req = deserialize(body)?;
            let resp = db.batch_get_item(req)?;
            serialize(&resp)
        }
        "BatchWriteItem" => {
            let req = deserialize(body)?;
            let resp = db.batch_write_item(req)?;
            serialize(&resp)
        }
        "TransactWriteItems" => {
            let req = deserialize(body)?;
            let resp = db.transact_write_items(req)?;
            serialize(&resp)
        }
        "TransactGetItems" => {
            let req = deserialize(body)?;
            let resp = db.transact_get_items(req)?;
            serialize(&resp)
        }
        "ListStreams" => {
            let req = deserialize(body)?;
            let resp = db.list_streams(req)?;
            serialize(&resp)
        }
        "DescribeStream" => {
            let req = deserialize(body)?;
            let resp = db.describe_stream(req)?;
            serialize(&resp)
        }
        "GetShardIterator" => {
            let req = deserialize(body)?;
            let resp = db.get_shard_iterator(req)?;
            serialize(&resp)
        }
        "GetRecords" => {
            let req = deserialize(body)?;
            let resp = db.get_records(req)?;
            serialize(&resp)
        }
        "UpdateTimeToLive" => {
            let req = deserialize(body)?;
            let resp = db.update_time_to_live(req)?;
            serialize(&resp)
        }
        "DescribeTimeToLive" => {
            let req = deserialize(body)?;
            let resp = db.describe_time_to_live(req)?;
            serialize(&resp)
        }
        "ExecuteStatement" => {
            let req = deserialize(body)?;
            let resp = db.execute_statement(req)?;
            serialize(&resp)
        }
        "ExecuteTransaction" => {
            let req = deserialize(body)?;
            let resp = db.execute_transaction(req)?;
            serialize(&resp)
        }
        "BatchExecuteStatement" => {
            let req = deserialize(body)?;
            let resp = db.batch_execute_statement(req)?;
            serialize(&resp)
        }
        "TagResource" => {
            let req = deserialize(body)?;
            let resp = db.tag_resource(req)?;
            serialize(&resp)
        }
        "UntagResource" => {
            let req = deserialize(body)?;
            let resp = db.untag_resource(req)?;
            serialize(&resp)
        }
        "ListTagsOfResource" => {
            let req = deserialize(body)?;
            let resp = db.list_tags_of_resource(req)?;
            serialize(&resp)
        }
        _ => {
            // This should not be reachable because the dynamo_ops::is_known_operation
            // gate on the target match filters first, but handle it defensively.
            Err(crate::DynoxideError::SerializationException(
                "UnknownOperationException".to_string(),
            ))
        }
    }
}

