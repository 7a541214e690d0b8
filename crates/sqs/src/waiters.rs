//! Long polling: a `Notify` per queue with someone waiting, woken after the commit of a send
//! (or of anything else that makes a message visible now). Entries exist only while someone
//! waits; at most [`WAITERS_MAX`] waits at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::WAITERS_MAX;

#[derive(Default)]
pub(crate) struct Waiters {
    queues: Mutex<HashMap<i64, (Arc<Notify>, usize)>>,
}

/// One registered wait; dropping it unregisters.
pub(crate) struct Wait<'a> {
    waiters: &'a Waiters,
    queue_id: i64,
    pub(crate) notify: Arc<Notify>,
}

impl Waiters {
    /// Registers a wait on a queue, or `None` when [`WAITERS_MAX`] waits are registered.
    pub(crate) fn register(&self, queue_id: i64) -> Option<Wait<'_>> {
        let mut map = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = map.values().map(|(_, n)| n).sum();
        if total >= WAITERS_MAX {
            return None;
        }
        let entry = map.entry(queue_id).or_insert_with(|| (Arc::new(Notify::new()), 0));
        entry.1 += 1;
        Some(Wait { waiters: self, queue_id, notify: entry.0.clone() })
    }

    /// Wakes every wait on a queue.
    pub(crate) fn wake(&self, queue_id: i64) {
        let map = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((n, _)) = map.get(&queue_id) {
            n.notify_waiters();
        }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        let mut map = self.waiters.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = map.get_mut(&self.queue_id) {
            entry.1 -= 1;
            if entry.1 == 0 {
                map.remove(&self.queue_id);
            }
        }
    }
}
