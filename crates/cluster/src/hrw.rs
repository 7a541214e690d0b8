//! Rendezvous (highest random weight) hashing: every node computes the same owner of a key
//! from the same list of live nodes, with no coordination, and when a node leaves only the
//! keys it owned move (never `hash % n`, which reshuffles everything).

/// What an invocation is placed by: a function version (for `$LATEST`, its configuration
/// revision too, like the engine's pools, so new code warms on its own owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub function_id: i64,
    /// The version number; `u32::MAX` for `$LATEST`.
    pub version: u32,
    /// `$LATEST`'s configuration revision; 0 for published versions.
    pub revision: u64,
}

/// The weight of `node` for `key`: FNV-1a over both, then a 64-bit finaliser (stable across
/// builds and platforms, unlike std's hasher).
pub fn score(node: &str, key: &Key) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(node.as_bytes());
    eat(&[0xff]);
    eat(&key.function_id.to_le_bytes());
    eat(&key.version.to_le_bytes());
    eat(&key.revision.to_le_bytes());
    // splitmix64's finaliser: FNV's low bits alone mix poorly.
    let mut z = h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The weight of `node` for a text key (a partition of background work, such as an event
/// source mapping's UUID): the same hashing as [`score`].
pub fn score_text(node: &str, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node.as_bytes().iter().chain(&[0xfe]).chain(key.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The index of the owner of a text key among `ids` (ties broken by id); `None` when empty.
pub fn owner_text<'a>(ids: impl Iterator<Item = &'a str>, key: &str) -> Option<usize> {
    ids.enumerate().max_by(|(_, a), (_, b)| score_text(a, key).cmp(&score_text(b, key)).then(b.cmp(a))).map(|(i, _)| i)
}

/// The indexes of the `n` best nodes for `key`, best first (ties broken by id).
pub fn ranked<'a>(ids: impl Iterator<Item = &'a str>, key: &Key, n: usize) -> Vec<usize> {
    let mut scored: Vec<(u64, &str, usize)> = ids.enumerate().map(|(i, id)| (score(id, key), id, i)).collect();
    scored.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(n).map(|(_, _, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: i64) -> Key {
        Key { function_id: i, version: (i % 5) as u32, revision: 0 }
    }

    fn owner(nodes: &[&str], k: &Key) -> String {
        nodes[ranked(nodes.iter().copied(), k, 1)[0]].to_owned()
    }

    #[test]
    fn the_same_nodes_give_the_same_owner_in_any_order() {
        let a = ["n1", "n2", "n3"];
        let b = ["n3", "n1", "n2"];
        for i in 0..1000 {
            assert_eq!(owner(&a, &key(i)), owner(&b, &key(i)));
        }
    }

    #[test]
    fn a_dead_node_moves_only_its_own_keys() {
        let all = ["a", "b", "c", "d"];
        let without_c = ["a", "b", "d"];
        let mut moved = 0;
        for i in 0..4000 {
            let before = owner(&all, &key(i));
            let after = owner(&without_c, &key(i));
            if before == "c" {
                moved += 1;
                assert_ne!(after, "c");
            } else {
                assert_eq!(before, after, "key {i} moved though its owner {before} is alive");
            }
        }
        // And its keys were a fair share (about a quarter).
        assert!((700..1300).contains(&moved), "{moved} of 4000 keys were c's");
    }

    #[test]
    fn a_joining_node_takes_keys_only_for_itself() {
        let before = ["a", "b", "c"];
        let after = ["a", "b", "c", "e"];
        for i in 0..2000 {
            let (o1, o2) = (owner(&before, &key(i)), owner(&after, &key(i)));
            assert!(o1 == o2 || o2 == "e");
        }
    }

    #[test]
    fn keys_spread_evenly_and_the_runner_up_is_another_node() {
        let nodes = ["a", "b", "c"];
        let mut counts = [0usize; 3];
        for i in 0..3000 {
            let r = ranked(nodes.iter().copied(), &key(i), 3);
            assert_eq!(r.len(), 3);
            assert!(r[0] != r[1] && r[1] != r[2] && r[0] != r[2]);
            counts[r[0]] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "uneven spread: {counts:?}");
        }
    }

    #[test]
    fn versions_and_revisions_are_different_keys() {
        // Over many functions, the owner of version 1 and of version 2 differ about 2/3 of the time.
        let nodes = ["a", "b", "c"];
        let differ = (0..999)
            .filter(|i| {
                let k1 = Key { function_id: *i, version: 1, revision: 0 };
                let k2 = Key { function_id: *i, version: 2, revision: 0 };
                owner(&nodes, &k1) != owner(&nodes, &k2)
            })
            .count();
        assert!((500..830).contains(&differ), "{differ}");
    }
}
