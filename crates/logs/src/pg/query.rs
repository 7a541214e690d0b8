//! Reads on PostgreSQL: the same answers as the SQLite queries in `query`, each inside the
//! caller's read-only transaction. Events are fetched in keyset chunks of [`SCAN_CHUNK_ROWS`], so
//! a page that stops early (its byte bound, its limit) never pulls a whole stream or group.

use postgres::Transaction;
use postgres::types::ToSql;

use crate::LogsError;
use crate::query::{
    Direction, EventFilter, EventRow, FILTER_SCAN_EVENTS_MAX, FilterPage, GroupRow, Page, Position, RESPONSE_BYTES_MAX,
    StreamCursor, StreamRow,
};

/// Most event rows fetched by one statement of a page.
pub(crate) const SCAN_CHUNK_ROWS: usize = 1000;

/// A stored message: UTF-8 bytes (a row written by something else than Versa is shown lossily).
pub(crate) fn message_of(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn sql_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn group_id(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Option<i64>, LogsError> {
    let row = t.query_opt(
        "SELECT id FROM logs_groups WHERE account = $1 AND region = $2 AND name = $3",
        &[&account, &region, &name],
    )?;
    Ok(row.map(|r| r.get(0)))
}

pub(crate) fn stream_id(t: &mut Transaction<'_>, group_id: i64, name: &str) -> Result<Option<i64>, LogsError> {
    let row = t.query_opt("SELECT id FROM logs_streams WHERE group_id = $1 AND name = $2", &[&group_id, &name])?;
    Ok(row.map(|r| r.get(0)))
}

/// A group's stored bytes: the sum of its streams' (see the module doc of `pg`).
pub(crate) const GROUP_BYTES: &str =
    "coalesce((SELECT sum(s.stored_bytes) FROM logs_streams s WHERE s.group_id = g.id), 0)::bigint";

pub(crate) fn groups(
    t: &mut Transaction<'_>,
    account: &str,
    region: &str,
    prefix: Option<&str>,
    substring: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<GroupRow>, LogsError> {
    let rows = t.query(
        &format!(
            "SELECT g.name, g.created_ms, g.retention_days, {GROUP_BYTES} FROM logs_groups g \
             WHERE g.account = $1 AND g.region = $2 AND ($3::text IS NULL OR starts_with(g.name, $3)) \
             AND ($4::text IS NULL OR strpos(g.name, $4) > 0) AND ($5::text IS NULL OR g.name > $5) \
             ORDER BY g.name LIMIT $6"
        ),
        &[&account, &region, &prefix, &substring, &after, &sql_limit(limit.saturating_add(1))],
    )?;
    let mut items: Vec<GroupRow> = rows
        .iter()
        .map(|r| GroupRow {
            name: r.get(0),
            created_ms: r.get(1),
            retention_days: r.get::<_, Option<i64>>(2).and_then(|d| u32::try_from(d).ok()),
            stored_bytes: r.get(3),
        })
        .collect();
    let more = items.len() > limit;
    items.truncate(limit);
    Ok(Page { items, more })
}

const STREAM_COLUMNS: &str = "id, name, created_ms, first_event_ms, last_event_ms, last_ingestion_ms, upload_sequence";

pub(crate) fn streams(
    t: &mut Transaction<'_>,
    group_id: i64,
    by_last_event: bool,
    descending: bool,
    prefix: Option<&str>,
    after: Option<&StreamCursor>,
    limit: usize,
) -> Result<Page<StreamRow>, LogsError> {
    let fetch = sql_limit(limit.saturating_add(1));
    let rows = if by_last_event {
        let (key, id) = match after {
            Some(StreamCursor::LastEvent(key, id)) => (*key, *id),
            _ if descending => (i64::MAX, i64::MAX),
            _ => (i64::MIN, i64::MIN),
        };
        let (cmp, order) = if descending { ("<", "DESC") } else { (">", "ASC") };
        t.query(
            &format!(
                "SELECT {STREAM_COLUMNS} FROM logs_streams WHERE group_id = $1 \
                 AND (coalesce(last_event_ms, $4), id) {cmp} ($2, $3) \
                 ORDER BY coalesce(last_event_ms, $4) {order}, id {order} LIMIT $5"
            ),
            &[&group_id, &key, &id, &i64::MIN, &fetch],
        )?
    } else {
        let after = match after {
            Some(StreamCursor::Name(name)) => Some(name.as_str()),
            _ => None,
        };
        let (cmp, order) = if descending { ("<", "DESC") } else { (">", "ASC") };
        t.query(
            &format!(
                "SELECT {STREAM_COLUMNS} FROM logs_streams WHERE group_id = $1 \
                 AND ($2::text IS NULL OR starts_with(name, $2)) AND ($3::text IS NULL OR name {cmp} $3) \
                 ORDER BY name {order} LIMIT $4"
            ),
            &[&group_id, &prefix, &after, &fetch],
        )?
    };
    let mut items: Vec<StreamRow> = rows
        .iter()
        .map(|r| StreamRow {
            id: r.get(0),
            name: r.get(1),
            created_ms: r.get(2),
            first_event_ms: r.get(3),
            last_event_ms: r.get(4),
            last_ingestion_ms: r.get(5),
            upload_sequence: r.get(6),
        })
        .collect();
    let more = items.len() > limit;
    items.truncate(limit);
    Ok(Page { items, more })
}

pub(crate) fn stream_events(
    t: &mut Transaction<'_>,
    stream_id: i64,
    start_ms: i64,
    end_ms: i64,
    direction: Direction,
    from: Position,
    limit: usize,
) -> Result<Vec<EventRow>, LogsError> {
    let sql = match direction {
        Direction::Forward => {
            "SELECT id, timestamp_ms, ingestion_ms, message FROM logs_events WHERE stream_id = $1 \
             AND timestamp_ms >= $2 AND timestamp_ms < $3 AND (timestamp_ms, id) > ($4, $5) \
             ORDER BY timestamp_ms, id LIMIT $6"
        }
        Direction::Backward => {
            "SELECT id, timestamp_ms, ingestion_ms, message FROM logs_events WHERE stream_id = $1 \
             AND timestamp_ms >= $2 AND timestamp_ms < $3 AND (timestamp_ms, id) < ($4, $5) \
             ORDER BY timestamp_ms DESC, id DESC LIMIT $6"
        }
    };
    let statement = t.prepare(sql)?;
    let mut events: Vec<EventRow> = Vec::new();
    let mut bytes = 0;
    let mut at = from;
    'chunks: loop {
        let chunk = (limit - events.len()).min(SCAN_CHUNK_ROWS);
        let params: [&(dyn ToSql + Sync); 6] =
            [&stream_id, &start_ms, &end_ms, &at.timestamp_ms, &at.id, &sql_limit(chunk)];
        let rows = t.query(&statement, &params)?;
        for row in &rows {
            let event = EventRow {
                id: row.get(0),
                timestamp_ms: row.get(1),
                ingestion_ms: row.get(2),
                message: message_of(row.get(3)),
                stream: None,
            };
            if !events.is_empty() && bytes + event.size() > RESPONSE_BYTES_MAX {
                break 'chunks;
            }
            bytes += event.size();
            at = event.position();
            events.push(event);
        }
        if rows.len() < chunk || events.len() >= limit {
            break;
        }
    }
    if direction == Direction::Backward {
        events.reverse();
    }
    Ok(events)
}

pub(crate) fn filter_events(
    t: &mut Transaction<'_>,
    group_id: i64,
    filter: &EventFilter,
) -> Result<FilterPage, LogsError> {
    let EventFilter { start_ms, end_ms, after, streams, pattern, limit } = filter;
    let limit = *limit;
    let statement = t.prepare(
        "SELECT e.id, e.timestamp_ms, e.ingestion_ms, e.message, s.name \
         FROM logs_events e JOIN logs_streams s ON s.id = e.stream_id \
         WHERE e.group_id = $1 AND e.timestamp_ms >= $2 AND e.timestamp_ms <= $3 \
         AND (e.timestamp_ms, e.id) > ($4, $5) ORDER BY e.timestamp_ms, e.id LIMIT $6",
    )?;
    let mut events = Vec::new();
    let mut bytes = 0;
    let mut scanned = 0;
    let mut last = *after;
    loop {
        let chunk = sql_limit(SCAN_CHUNK_ROWS);
        let params: [&(dyn ToSql + Sync); 6] = [&group_id, start_ms, end_ms, &last.timestamp_ms, &last.id, &chunk];
        let rows = t.query(&statement, &params)?;
        for row in &rows {
            if events.len() >= limit || scanned >= FILTER_SCAN_EVENTS_MAX {
                return Ok(FilterPage { events, next: Some(last) });
            }
            let event = EventRow {
                id: row.get(0),
                timestamp_ms: row.get(1),
                ingestion_ms: row.get(2),
                message: message_of(row.get(3)),
                stream: Some(row.get(4)),
            };
            let wanted =
                event.stream.as_deref().is_some_and(|s| streams.includes(s)) && pattern.matches(&event.message);
            if wanted && !events.is_empty() && bytes + event.size() > RESPONSE_BYTES_MAX {
                return Ok(FilterPage { events, next: Some(last) });
            }
            scanned += 1;
            last = event.position();
            if wanted {
                bytes += event.size();
                events.push(event);
            }
        }
        if rows.len() < SCAN_CHUNK_ROWS {
            return Ok(FilterPage { events, next: None });
        }
    }
}
