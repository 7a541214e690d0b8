//! A mergeable percentile sketch: counts in fixed log-spaced buckets (DDSketch's mapping), so
//! any quantile is answered within [`RELATIVE_ERROR`] of a value that was recorded, two sketches
//! merge by adding counts, and the size is bounded by the index range.

/// Relative accuracy of a quantile estimate (for values in `[MIN_VALUE, MAX_VALUE]`).
pub const RELATIVE_ERROR: f64 = 0.01;
/// Values at or below this (zero, negatives) are counted in one bucket, estimated as 0.
pub const MIN_VALUE: f64 = 1e-3;
/// Values above this are counted in the last bucket (1e9 ms is 11 days).
pub const MAX_VALUE: f64 = 1e9;
/// Serialisation format version (the first byte).
const FORMAT: u8 = 1;

const GAMMA: f64 = (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR);

fn ln_gamma() -> f64 {
    GAMMA.ln()
}

fn index_of(v: f64) -> i16 {
    let i = (v.ln() / ln_gamma()).ceil();
    i.clamp(min_index() as f64, max_index() as f64) as i16
}

fn min_index() -> i16 {
    (MIN_VALUE.ln() / ln_gamma()).ceil() as i16
}

fn max_index() -> i16 {
    (MAX_VALUE.ln() / ln_gamma()).ceil() as i16
}

/// The value a bucket stands for: within `RELATIVE_ERROR` of every value in it.
fn value_of(index: i16) -> f64 {
    2.0 * GAMMA.powi(i32::from(index)) / (GAMMA + 1.0)
}

/// The 0-based nearest rank of the `q`-quantile among `total` (> 0) sorted values.
pub fn rank(q: f64, total: u64) -> u64 {
    ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total) - 1
}

/// Bucket counts, sparse and sorted by index (at most `max_index - min_index + 1` entries).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sketch {
    zero: u64,
    bins: Vec<(i16, u64)>,
}

impl Sketch {
    pub fn add(&mut self, v: f64) {
        self.add_n(v, 1);
    }

    /// Adds `v` `n` times.
    pub fn add_n(&mut self, v: f64, n: u64) {
        if v.is_nan() || v <= MIN_VALUE {
            self.zero += n;
            return;
        }
        let i = index_of(v);
        self.add_index(i, n);
    }

    fn add_index(&mut self, i: i16, n: u64) {
        match self.bins.binary_search_by_key(&i, |b| b.0) {
            Ok(at) => self.bins[at].1 += n,
            Err(at) => self.bins.insert(at, (i, n)),
        }
    }

    pub fn count(&self) -> u64 {
        self.zero + self.bins.iter().map(|b| b.1).sum::<u64>()
    }

    pub fn merge(&mut self, other: &Sketch) {
        self.zero += other.zero;
        for &(i, n) in &other.bins {
            self.add_index(i, n);
        }
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) of the recorded values; `None` when empty. It is the
    /// nearest-rank value: the smallest recorded value with at least `q` of the values at or
    /// below it (CloudWatch's "p95: 95 % of the data is lower than this value"), so the p99 of
    /// `{1, 42}` is 42, not 1.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = rank(q, total);
        let mut seen = self.zero;
        if rank < seen {
            return Some(0.0);
        }
        for &(i, n) in &self.bins {
            seen += n;
            if rank < seen {
                return Some(value_of(i));
            }
        }
        self.bins.last().map(|b| value_of(b.0))
    }

    /// Compact bytes: format, zero count, bucket count, then (index delta, count) varints.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.bins.len() * 3);
        out.push(FORMAT);
        put_varint(&mut out, self.zero);
        put_varint(&mut out, self.bins.len() as u64);
        let mut prev = i64::from(min_index()) - 1;
        for &(i, n) in &self.bins {
            put_varint(&mut out, (i64::from(i) - prev) as u64);
            put_varint(&mut out, n);
            prev = i64::from(i);
        }
        out
    }

    /// The sketch `encode` wrote; `None` for bytes it cannot have written.
    pub fn decode(bytes: &[u8]) -> Option<Sketch> {
        let (&format, mut rest) = bytes.split_first()?;
        if format != FORMAT {
            return None;
        }
        let zero = take_varint(&mut rest)?;
        let len = take_varint(&mut rest)?;
        let span = (i64::from(max_index()) - i64::from(min_index()) + 1) as u64;
        if len > span {
            return None;
        }
        let mut bins = Vec::with_capacity(len as usize);
        let mut prev = i64::from(min_index()) - 1;
        for _ in 0..len {
            let delta = take_varint(&mut rest)?;
            if delta == 0 || delta > span {
                return None;
            }
            let i = prev + delta as i64;
            if i > i64::from(max_index()) {
                return None;
            }
            bins.push((i as i16, take_varint(&mut rest)?));
            prev = i;
        }
        rest.is_empty().then_some(Sketch { zero, bins })
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(rest: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, tail) = rest.split_first()?;
        *rest = tail;
        v |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(sorted: &[f64], q: f64) -> f64 {
        let n = sorted.len();
        sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1]
    }

    #[test]
    fn quantiles_are_within_the_relative_error() {
        // A skewed spread of durations from 0.01 ms to 100 s (deterministic).
        let mut values: Vec<f64> = (0..10_000u64).map(|i| 0.01 * 1.0013f64.powi((i * 7919 % 10_000) as i32)).collect();
        let mut s = Sketch::default();
        for &v in &values {
            s.add(v);
        }
        values.sort_by(f64::total_cmp);
        for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let (want, got) = (exact(&values, q), s.quantile(q).unwrap());
            assert!((got - want).abs() <= want * RELATIVE_ERROR + 1e-12, "q={q}: {got} vs {want}");
        }
        assert_eq!(s.count(), 10_000);
    }

    #[test]
    fn small_samples_take_the_nearest_rank() {
        let mut s = Sketch::default();
        s.add(1.0);
        s.add(42.0);
        let near = |got: f64, want: f64| (got - want).abs() <= want * RELATIVE_ERROR;
        assert!(near(s.quantile(0.99).unwrap(), 42.0), "p99 of {{1, 42}} is 42");
        assert!(near(s.quantile(0.5).unwrap(), 1.0), "p50 of {{1, 42}} is 1");
        let mut a = crate::Aggregate::default();
        for v in [1.0, 2.0, 3.0, 42.0] {
            a.add(v);
        }
        assert_eq!((a.percentile(0.0), a.percentile(99.0), a.percentile(100.0)), (Some(1.0), Some(42.0), Some(42.0)));
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
        for i in 0..1000 {
            let v = f64::from(i) * 0.37;
            if i % 3 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
            all.add(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(a.quantile(0.5), all.quantile(0.5));
    }

    #[test]
    fn size_is_bounded_and_extremes_clamp() {
        let mut s = Sketch::default();
        for i in -50..400 {
            s.add(10f64.powf(f64::from(i) / 20.0));
        }
        s.add(f64::INFINITY);
        s.add(-5.0);
        s.add(f64::NAN);
        let span = (max_index() - min_index() + 1) as usize;
        assert!(s.bins.len() <= span);
        assert!(s.encode().len() < 8 * span);
        assert!(s.quantile(1.0).unwrap() <= MAX_VALUE * (1.0 + RELATIVE_ERROR));
        assert_eq!(s.quantile(0.0), Some(0.0));
    }

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let mut s = Sketch::default();
        for v in [0.0, 1.0, 2.5, 2.5, 1000.0, 123_456.0] {
            s.add(v);
        }
        assert_eq!(Sketch::decode(&s.encode()), Some(s.clone()));
        assert_eq!(Sketch::decode(&Sketch::default().encode()), Some(Sketch::default()));
        let mut bytes = s.encode();
        bytes.push(0);
        assert_eq!(Sketch::decode(&bytes), None);
        assert_eq!(Sketch::decode(&[]), None);
        assert_eq!(Sketch::decode(&[2, 0, 0]), None);
        assert_eq!(Sketch::decode(&[1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]), None);
        assert_eq!(Sketch::decode(&[1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), None);
    }
}
