//! Reads: log groups, streams and events, and the positions that paging tokens encode.
//!
//! Each read takes a [`Reader`] (a SQLite read connection or a PostgreSQL read-only
//! transaction); the SQLite queries are here, the PostgreSQL ones in `pg::query`.
//!
//! Events are ordered by (timestamp, id) everywhere: ids break ties between equal timestamps,
//! so a [`Position`] names one exact place in a stream or group and paging neither repeats nor
//! skips an event.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, params};

use crate::pattern::FilterPattern;
use crate::{EVENT_OVERHEAD_BYTES, LogsError};

/// A read transaction of either backend; every read runs inside one (one snapshot).
pub(crate) enum Reader<'a, 'b> {
    Sqlite(&'a Connection),
    Postgres(&'a mut postgres::Transaction<'b>),
}

/// Most bytes of events (messages plus per-event overhead) in one page, as on CloudWatch.
pub(crate) const RESPONSE_BYTES_MAX: usize = 1024 * 1024;
/// Most events one FilterLogEvents page examines; a page that hits it ends with a token.
pub(crate) const FILTER_SCAN_EVENTS_MAX: usize = 100_000;

/// A place in the (timestamp, id) order of events: paging continues after (or before) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    pub timestamp_ms: i64,
    pub id: i64,
}

impl Position {
    /// Before every event (ids start at 1).
    pub const START: Position = Position { timestamp_ms: i64::MIN, id: 0 };
    /// After every event.
    pub const END: Position = Position { timestamp_ms: i64::MAX, id: i64::MAX };

    /// 56 decimal digits, like CloudWatch's tokens: the timestamp (sign bit flipped, so the order
    /// is kept) in the high 64 bits, the id in the low 64 bits.
    pub fn encode(self) -> String {
        let timestamp = (self.timestamp_ms as u64) ^ (1 << 63);
        let n = (u128::from(timestamp) << 64) | u128::from(self.id.max(0) as u64);
        format!("{n:056}")
    }

    pub fn decode(text: &str) -> Option<Position> {
        if text.is_empty() || text.len() > 56 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u128 = text.parse().ok()?;
        let timestamp_ms = (((n >> 64) as u64) ^ (1 << 63)) as i64;
        let id = i64::try_from(n as u64).ok()?;
        Some(Position { timestamp_ms, id })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupRow {
    pub name: String,
    pub created_ms: i64,
    pub retention_days: Option<u32>,
    pub stored_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamRow {
    pub id: i64,
    pub name: String,
    pub created_ms: i64,
    pub first_event_ms: Option<i64>,
    pub last_event_ms: Option<i64>,
    pub last_ingestion_ms: Option<i64>,
    pub upload_sequence: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventRow {
    pub id: i64,
    pub timestamp_ms: i64,
    pub ingestion_ms: i64,
    pub message: String,
    /// The stream's name; only FilterLogEvents reads it.
    pub stream: Option<String>,
}

impl EventRow {
    pub fn position(&self) -> Position {
        Position { timestamp_ms: self.timestamp_ms, id: self.id }
    }

    pub(crate) fn size(&self) -> usize {
        self.message.len() + EVENT_OVERHEAD_BYTES
    }
}

/// One page of a listing; `more` says whether a next page exists.
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

pub(crate) fn group_id_sqlite(
    conn: &Connection,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Option<i64>, LogsError> {
    Ok(conn
        .prepare_cached("SELECT id FROM log_groups WHERE account = ?1 AND region = ?2 AND name = ?3")?
        .query_row(params![account, region, name], |r| r.get(0))
        .optional()?)
}

pub(crate) fn stream_id_sqlite(conn: &Connection, group_id: i64, name: &str) -> Result<Option<i64>, LogsError> {
    Ok(conn
        .prepare_cached("SELECT id FROM log_streams WHERE group_id = ?1 AND name = ?2")?
        .query_row(params![group_id, name], |r| r.get(0))
        .optional()?)
}

const GROUP_COLUMNS: &str = "name, created_ms, retention_days, stored_bytes";

fn group_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GroupRow> {
    Ok(GroupRow { name: r.get(0)?, created_ms: r.get(1)?, retention_days: r.get(2)?, stored_bytes: r.get(3)? })
}

/// Log groups of a scope ordered by name, after `after`; `prefix` and `substring` (both
/// case-sensitive) narrow them.
pub(crate) fn groups_sqlite(
    conn: &Connection,
    account: &str,
    region: &str,
    prefix: Option<&str>,
    substring: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<GroupRow>, LogsError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {GROUP_COLUMNS} FROM log_groups WHERE account = ?1 AND region = ?2 AND name >= ?3 AND name > ?4 \
         ORDER BY name"
    ))?;
    let mut rows = stmt.query(params![account, region, prefix.unwrap_or(""), after.unwrap_or("")])?;
    let mut items = Vec::new();
    while let Some(row) = rows.next()? {
        let group = group_from_row(row)?;
        if prefix.is_some_and(|p| !group.name.starts_with(p)) {
            // Names are sorted: past the prefix's range nothing matches any more.
            break;
        }
        if substring.is_some_and(|s| !group.name.contains(s)) {
            continue;
        }
        if items.len() == limit {
            return Ok(Page { items, more: true });
        }
        items.push(group);
    }
    Ok(Page { items, more: false })
}

const STREAM_COLUMNS: &str = "id, name, created_ms, first_event_ms, last_event_ms, last_ingestion_ms, upload_sequence";

fn stream_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StreamRow> {
    Ok(StreamRow {
        id: r.get(0)?,
        name: r.get(1)?,
        created_ms: r.get(2)?,
        first_event_ms: r.get(3)?,
        last_event_ms: r.get(4)?,
        last_ingestion_ms: r.get(5)?,
        upload_sequence: r.get(6)?,
    })
}

/// Where a DescribeLogStreams page continues: after this stream in the requested order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamCursor {
    Name(String),
    /// The last event time (streams without events sort as `i64::MIN`) and the stream's id.
    LastEvent(i64, i64),
}

impl StreamCursor {
    pub fn of(row: &StreamRow, by_last_event: bool) -> StreamCursor {
        if by_last_event {
            StreamCursor::LastEvent(row.last_event_ms.unwrap_or(i64::MIN), row.id)
        } else {
            StreamCursor::Name(row.name.clone())
        }
    }
}

/// Streams of a group ordered by name or by last event time, ascending or descending.
pub(crate) fn streams_sqlite(
    conn: &Connection,
    group_id: i64,
    by_last_event: bool,
    descending: bool,
    prefix: Option<&str>,
    after: Option<&StreamCursor>,
    limit: usize,
) -> Result<Page<StreamRow>, LogsError> {
    let mut items = Vec::new();
    let mut push = |row: StreamRow| {
        if items.len() == limit {
            return false;
        }
        items.push(row);
        true
    };
    if by_last_event {
        let (key, id) = match after {
            Some(StreamCursor::LastEvent(key, id)) => (*key, *id),
            _ if descending => (i64::MAX, i64::MAX),
            _ => (i64::MIN, i64::MIN),
        };
        let sql = if descending {
            format!(
                "SELECT {STREAM_COLUMNS} FROM log_streams WHERE group_id = ?1 \
                 AND (ifnull(last_event_ms, ?4), id) < (?2, ?3) ORDER BY ifnull(last_event_ms, ?4) DESC, id DESC"
            )
        } else {
            format!(
                "SELECT {STREAM_COLUMNS} FROM log_streams WHERE group_id = ?1 \
                 AND (ifnull(last_event_ms, ?4), id) > (?2, ?3) ORDER BY ifnull(last_event_ms, ?4), id"
            )
        };
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![group_id, key, id, i64::MIN])?;
        while let Some(row) = rows.next()? {
            if !push(stream_from_row(row)?) {
                return Ok(Page { items, more: true });
            }
        }
        return Ok(Page { items, more: false });
    }
    let after = match after {
        Some(StreamCursor::Name(name)) => Some(name.as_str()),
        _ => None,
    };
    let prefix_text = prefix.unwrap_or("");
    if descending {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {STREAM_COLUMNS} FROM log_streams WHERE group_id = ?1 AND name >= ?2 \
             AND (?3 IS NULL OR name < ?3) ORDER BY name DESC"
        ))?;
        let mut rows = stmt.query(params![group_id, prefix_text, after])?;
        while let Some(row) = rows.next()? {
            let stream = stream_from_row(row)?;
            // Names at or above the prefix that lack it all sort above the prefix's range.
            if !stream.name.starts_with(prefix_text) {
                continue;
            }
            if !push(stream) {
                return Ok(Page { items, more: true });
            }
        }
    } else {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {STREAM_COLUMNS} FROM log_streams WHERE group_id = ?1 AND name >= ?2 AND name > ?3 ORDER BY name"
        ))?;
        let mut rows = stmt.query(params![group_id, prefix_text, after.unwrap_or("")])?;
        while let Some(row) = rows.next()? {
            let stream = stream_from_row(row)?;
            if !stream.name.starts_with(prefix_text) {
                break;
            }
            if !push(stream) {
                return Ok(Page { items, more: true });
            }
        }
    }
    Ok(Page { items, more: false })
}

/// Which way GetLogEvents reads from its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Oldest first, after the position.
    Forward,
    /// Newest first, before the position (the page is still returned oldest first).
    Backward,
}

/// Events of one stream with `start_ms <= timestamp < end_ms`, from `from` in `direction`: at
/// most `limit` events and [`RESPONSE_BYTES_MAX`] bytes (but always at least one event),
/// returned in ascending order.
pub(crate) fn stream_events_sqlite(
    conn: &Connection,
    stream_id: i64,
    start_ms: i64,
    end_ms: i64,
    direction: Direction,
    from: Position,
    limit: usize,
) -> Result<Vec<EventRow>, LogsError> {
    let sql = match direction {
        Direction::Forward => {
            "SELECT id, timestamp_ms, ingestion_ms, message FROM log_events WHERE stream_id = ?1 \
             AND timestamp_ms >= max(?2, ?4) AND timestamp_ms < ?3 AND (timestamp_ms > ?4 OR id > ?5) \
             ORDER BY timestamp_ms, id"
        }
        Direction::Backward => {
            "SELECT id, timestamp_ms, ingestion_ms, message FROM log_events WHERE stream_id = ?1 \
             AND timestamp_ms >= ?2 AND timestamp_ms < ?3 AND timestamp_ms <= ?4 AND (timestamp_ms < ?4 OR id < ?5) \
             ORDER BY timestamp_ms DESC, id DESC"
        }
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params![stream_id, start_ms, end_ms, from.timestamp_ms, from.id])?;
    let mut events = Vec::new();
    let mut bytes = 0;
    while events.len() < limit
        && let Some(row) = rows.next()?
    {
        let event = EventRow {
            id: row.get(0)?,
            timestamp_ms: row.get(1)?,
            ingestion_ms: row.get(2)?,
            message: row.get(3)?,
            stream: None,
        };
        if !events.is_empty() && bytes + event.size() > RESPONSE_BYTES_MAX {
            break;
        }
        bytes += event.size();
        events.push(event);
    }
    if direction == Direction::Backward {
        events.reverse();
    }
    Ok(events)
}

/// Which streams of a group FilterLogEvents searches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamSelection {
    All,
    Names(HashSet<String>),
    Prefix(String),
}

impl StreamSelection {
    pub(crate) fn includes(&self, name: &str) -> bool {
        match self {
            StreamSelection::All => true,
            StreamSelection::Names(names) => names.contains(name),
            StreamSelection::Prefix(prefix) => name.starts_with(prefix.as_str()),
        }
    }
}

/// A FilterLogEvents page: the matching events, and where the next page starts if there is one.
#[derive(Debug)]
pub(crate) struct FilterPage {
    pub events: Vec<EventRow>,
    pub next: Option<Position>,
}

/// What FilterLogEvents asks of one group's events.
#[derive(Debug)]
pub(crate) struct EventFilter {
    /// Inclusive bounds on the event timestamp.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Only events after this position (the page's token).
    pub after: Position,
    pub streams: StreamSelection,
    pub pattern: FilterPattern,
    pub limit: usize,
}

/// The events of a group that `filter` selects, in (timestamp, id) order: at most
/// `filter.limit` events and [`RESPONSE_BYTES_MAX`] bytes, after examining at most
/// [`FILTER_SCAN_EVENTS_MAX`] events.
pub(crate) fn filter_events_sqlite(
    conn: &Connection,
    group_id: i64,
    filter: &EventFilter,
) -> Result<FilterPage, LogsError> {
    let EventFilter { start_ms, end_ms, after, streams, pattern, limit } = filter;
    let limit = *limit;
    // CROSS JOIN keeps the events index as the outer loop, so rows come out already ordered.
    let mut stmt = conn.prepare_cached(
        "SELECT e.id, e.timestamp_ms, e.ingestion_ms, e.message, s.name \
         FROM log_events e CROSS JOIN log_streams s \
         WHERE e.group_id = ?1 AND s.id = e.stream_id \
         AND e.timestamp_ms >= max(?2, ?4) AND e.timestamp_ms <= ?3 AND (e.timestamp_ms > ?4 OR e.id > ?5) \
         ORDER BY e.timestamp_ms, e.id",
    )?;
    let mut rows = stmt.query(params![group_id, start_ms, end_ms, after.timestamp_ms, after.id])?;
    let mut events = Vec::new();
    let mut bytes = 0;
    let mut scanned = 0;
    let mut last = *after;
    while let Some(row) = rows.next()? {
        if events.len() >= limit || scanned >= FILTER_SCAN_EVENTS_MAX {
            return Ok(FilterPage { events, next: Some(last) });
        }
        let event = EventRow {
            id: row.get(0)?,
            timestamp_ms: row.get(1)?,
            ingestion_ms: row.get(2)?,
            message: row.get(3)?,
            stream: Some(row.get(4)?),
        };
        let wanted = event.stream.as_deref().is_some_and(|s| streams.includes(s)) && pattern.matches(&event.message);
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
    Ok(FilterPage { events, next: None })
}

pub(crate) fn group_id(
    r: &mut Reader<'_, '_>,
    account: &str,
    region: &str,
    name: &str,
) -> Result<Option<i64>, LogsError> {
    match r {
        Reader::Sqlite(conn) => group_id_sqlite(conn, account, region, name),
        Reader::Postgres(t) => crate::pg::query::group_id(t, account, region, name),
    }
}

pub(crate) fn stream_id(r: &mut Reader<'_, '_>, group_id: i64, name: &str) -> Result<Option<i64>, LogsError> {
    match r {
        Reader::Sqlite(conn) => stream_id_sqlite(conn, group_id, name),
        Reader::Postgres(t) => crate::pg::query::stream_id(t, group_id, name),
    }
}

/// Log groups of a scope ordered by name, after `after`; `prefix` and `substring` (both
/// case-sensitive) narrow them.
pub(crate) fn groups(
    r: &mut Reader<'_, '_>,
    account: &str,
    region: &str,
    prefix: Option<&str>,
    substring: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<GroupRow>, LogsError> {
    match r {
        Reader::Sqlite(conn) => groups_sqlite(conn, account, region, prefix, substring, after, limit),
        Reader::Postgres(t) => crate::pg::query::groups(t, account, region, prefix, substring, after, limit),
    }
}

/// Streams of a group ordered by name or by last event time, ascending or descending.
pub(crate) fn streams(
    r: &mut Reader<'_, '_>,
    group_id: i64,
    by_last_event: bool,
    descending: bool,
    prefix: Option<&str>,
    after: Option<&StreamCursor>,
    limit: usize,
) -> Result<Page<StreamRow>, LogsError> {
    match r {
        Reader::Sqlite(conn) => streams_sqlite(conn, group_id, by_last_event, descending, prefix, after, limit),
        Reader::Postgres(t) => crate::pg::query::streams(t, group_id, by_last_event, descending, prefix, after, limit),
    }
}

/// Events of one stream with `start_ms <= timestamp < end_ms`, from `from` in `direction`: at
/// most `limit` events and [`RESPONSE_BYTES_MAX`] bytes (but always at least one event),
/// returned in ascending order.
pub(crate) fn stream_events(
    r: &mut Reader<'_, '_>,
    stream_id: i64,
    start_ms: i64,
    end_ms: i64,
    direction: Direction,
    from: Position,
    limit: usize,
) -> Result<Vec<EventRow>, LogsError> {
    match r {
        Reader::Sqlite(conn) => stream_events_sqlite(conn, stream_id, start_ms, end_ms, direction, from, limit),
        Reader::Postgres(t) => crate::pg::query::stream_events(t, stream_id, start_ms, end_ms, direction, from, limit),
    }
}

/// The events of a group that `filter` selects, in (timestamp, id) order: at most
/// `filter.limit` events and [`RESPONSE_BYTES_MAX`] bytes, after examining at most
/// [`FILTER_SCAN_EVENTS_MAX`] events.
pub(crate) fn filter_events(
    r: &mut Reader<'_, '_>,
    group_id: i64,
    filter: &EventFilter,
) -> Result<FilterPage, LogsError> {
    match r {
        Reader::Sqlite(conn) => filter_events_sqlite(conn, group_id, filter),
        Reader::Postgres(t) => crate::pg::query::filter_events(t, group_id, filter),
    }
}

#[cfg(test)]
mod tests {
    use super::Position;

    #[test]
    fn positions_round_trip_and_keep_order() {
        let points = [
            Position::START,
            Position { timestamp_ms: -5, id: 9 },
            Position { timestamp_ms: 0, id: 1 },
            Position { timestamp_ms: 1_700_000_000_000, id: 1 },
            Position { timestamp_ms: 1_700_000_000_000, id: 2 },
            Position::END,
        ];
        for pair in points.windows(2) {
            assert!(pair[0].encode() < pair[1].encode(), "{pair:?}");
        }
        for p in points {
            let text = p.encode();
            assert_eq!(text.len(), 56);
            assert_eq!(Position::decode(&text), Some(p));
        }
        assert_eq!(Position::decode(""), None);
        assert_eq!(Position::decode("12a"), None);
        assert_eq!(Position::decode(&"9".repeat(57)), None);
        assert_eq!(Position::decode(&"9".repeat(56)), None);
    }
}
