//! Schedule expressions (reference §4.5), parsed once for EventBridge rules and Scheduler
//! schedules: `rate(N unit)`, `cron(min hour dom month dow year)` and (Scheduler only)
//! `at(yyyy-mm-ddThh:mm:ss)`, and the time of the next tick after an instant.
//!
//! Time zones: `UTC` (rules always), and for schedules the IANA names of fixed offsets (`UTC`,
//! `Etc/UTC`, `GMT`, `Etc/GMT+5`…) plus any zone the host has in `/usr/share/zoneinfo`
//! (TZif, read by [`Zone::load`]).

use std::fmt;

/// Milliseconds per minute.
const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
/// The years a cron expression may name (AWS: 1970–2199).
const YEAR_MIN: i64 = 1970;
const YEAR_MAX: i64 = 2199;
/// Most missed cron ticks walked to find the latest (beyond, an older one fires).
const MISSED_TICKS_WALKED_MAX: usize = 10_000;
/// Largest N of `rate(N unit)` Versa accepts.
const RATE_VALUE_MAX: i64 = 1_000_000;
/// Most days the next-tick search looks ahead before concluding there is none.
const SEARCH_DAYS_MAX: i64 = 366 * 230;

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    /// Every `period_ms`, counted from an anchor (the rule's or schedule's creation).
    Rate {
        period_ms: i64,
    },
    Cron(Box<Cron>),
    /// Once, at this local date and time (seconds since the local epoch).
    At {
        local_s: i64,
    },
}

/// Which service's grammar applies: `at()` is Scheduler's only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Events,
    Scheduler,
}

/// An invalid expression (the caller renders the service's message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid;

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid schedule expression")
    }
}

impl Expression {
    /// Parses `text` exactly as AWS accepts it (no padding, one space, singular unit for 1).
    pub fn parse(text: &str, dialect: Dialect) -> Result<Expression, Invalid> {
        if let Some(inner) = text.strip_prefix("rate(").and_then(|t| t.strip_suffix(')')) {
            return parse_rate(inner);
        }
        if let Some(inner) = text.strip_prefix("cron(").and_then(|t| t.strip_suffix(')')) {
            return Cron::parse(inner).map(|c| Expression::Cron(Box::new(c)));
        }
        if dialect == Dialect::Scheduler
            && let Some(inner) = text.strip_prefix("at(").and_then(|t| t.strip_suffix(')'))
        {
            return parse_at(inner).map(|local_s| Expression::At { local_s });
        }
        Err(Invalid)
    }

    /// The first tick strictly after `after_ms`. `anchor_ms` is where a rate counts from;
    /// `scale` divides rate periods (1 normally; 60 under the test option that makes a
    /// minute a second). `None`: no tick any more.
    pub fn next_after(&self, after_ms: i64, anchor_ms: i64, zone: &Zone, scale: i64) -> Option<i64> {
        match self {
            Expression::Rate { period_ms } => {
                let p = (period_ms / scale.max(1)).max(1);
                let k = if after_ms < anchor_ms { 0 } else { (after_ms - anchor_ms) / p + 1 };
                Some(anchor_ms + k * p)
            }
            Expression::Cron(c) => c.next_after(after_ms, zone),
            Expression::At { local_s } => {
                let t = zone.to_utc_ms(local_s * 1000);
                (t > after_ms).then_some(t)
            }
        }
    }

    /// The latest tick at or before `at_ms` that is after `after_ms` (a tick missed while the
    /// server was down), by walking forward; bounded.
    pub fn latest_at_or_before(&self, after_ms: i64, at_ms: i64, anchor_ms: i64, zone: &Zone, scale: i64) -> i64 {
        if let Expression::Rate { period_ms } = self {
            let p = (period_ms / scale.max(1)).max(1);
            if at_ms >= anchor_ms {
                return anchor_ms + (at_ms - anchor_ms) / p * p;
            }
        }
        let mut t = after_ms;
        for _ in 0..MISSED_TICKS_WALKED_MAX {
            match self.next_after(t, anchor_ms, zone, scale) {
                Some(n) if n <= at_ms => t = n,
                _ => break,
            }
        }
        t
    }
}

fn parse_rate(inner: &str) -> Result<Expression, Invalid> {
    let (n, unit) = inner.split_once(' ').ok_or(Invalid)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid);
    }
    let n: i64 = n.parse().map_err(|_| Invalid)?;
    if !(1..=RATE_VALUE_MAX).contains(&n) {
        return Err(Invalid);
    }
    let unit_ms = match (unit, n == 1) {
        ("minute", true) | ("minutes", false) => MINUTE_MS,
        ("hour", true) | ("hours", false) => 60 * MINUTE_MS,
        ("day", true) | ("days", false) => DAY_MS,
        _ => return Err(Invalid),
    };
    Ok(Expression::Rate { period_ms: n * unit_ms })
}

/// `yyyy-mm-ddThh:mm:ss` → seconds since the (local) epoch.
fn parse_at(s: &str) -> Result<i64, Invalid> {
    let b = s.as_bytes();
    if !s.is_ascii() || b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':'
    {
        return Err(Invalid);
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, Invalid> {
        let t = &s[r];
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return Err(Invalid);
        }
        t.parse().map_err(|_| Invalid)
    };
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo as u32) as i64 || h > 23 || mi > 59 || se > 59 {
        return Err(Invalid);
    }
    Ok(days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + se)
}

/// A cron expression's six fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    dom: DayOfMonth,
    months: u16,
    dow: DayOfWeek,
    /// Bit `y - 1970` for each allowed year.
    years: [u64; 4],
}

#[derive(Debug, Clone, PartialEq)]
enum DayOfMonth {
    /// `?`.
    Unspecified,
    /// Days 1–31 as bits.
    Days(u32),
    /// `L`: the last day of the month.
    Last,
    /// `LW`: the last weekday of the month.
    LastWeekday,
    /// `NW`: the weekday nearest to day N (within the month).
    NearestWeekday(u32),
}

#[derive(Debug, Clone, PartialEq)]
enum DayOfWeek {
    Unspecified,
    /// Days 1 (Sunday) – 7 (Saturday) as bits.
    Days(u8),
    /// `NL`: the last day N of the month.
    Last(u32),
    /// `N#k`: the k-th day N of the month.
    Nth(u32, u32),
}

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One numeric field value: a number, or a name from `names` (1-based).
fn value(s: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, Invalid> {
    let v = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<u32>().map_err(|_| Invalid)?
    } else {
        let i = names.iter().position(|n| n.eq_ignore_ascii_case(s)).ok_or(Invalid)?;
        i as u32 + 1
    };
    if v < min || v > max {
        return Err(Invalid);
    }
    Ok(v)
}

/// A list field (`*`, `a`, `a-b`, with `/step`, comma-separated) as the set of its values.
fn set(field: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<u32>, Invalid> {
    let mut out = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(value(s, 1, max.max(1), &[])?)),
            None => (item, None),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, min, max, names)?, value(b, min, max, names)?)
        } else {
            let v = value(range, min, max, names)?;
            (v, if step.is_some() { max } else { v })
        };
        if lo > hi {
            return Err(Invalid);
        }
        let step = step.unwrap_or(1);
        let mut v = lo;
        while v <= hi {
            out.push(v);
            v += step;
        }
    }
    Ok(out)
}

fn bits(values: &[u32]) -> u64 {
    values.iter().fold(0u64, |b, v| b | (1u64 << v))
}

impl Cron {
    /// The six space-separated fields inside `cron(…)`.
    pub fn parse(inner: &str) -> Result<Cron, Invalid> {
        let f: Vec<&str> = inner.split(' ').collect();
        if f.len() != 6 || f.iter().any(|x| x.is_empty()) {
            return Err(Invalid);
        }
        let minutes = bits(&set(f[0], 0, 59, &[])?);
        let hours = bits(&set(f[1], 0, 23, &[])?) as u32;
        let months = bits(&set(f[3], 1, 12, &MONTHS)?) as u16;
        let dom = match f[2] {
            "?" => DayOfMonth::Unspecified,
            "L" => DayOfMonth::Last,
            "LW" => DayOfMonth::LastWeekday,
            d if d.len() > 1 && d.ends_with('W') => DayOfMonth::NearestWeekday(value(&d[..d.len() - 1], 1, 31, &[])?),
            d => DayOfMonth::Days(bits(&set(d, 1, 31, &[])?) as u32),
        };
        let dow = match f[4] {
            "?" => DayOfWeek::Unspecified,
            "L" => DayOfWeek::Days(1 << 7),
            d if d.len() > 1 && d.ends_with('L') => DayOfWeek::Last(value(&d[..d.len() - 1], 1, 7, &WEEKDAYS)?),
            d if d.contains('#') => {
                let (n, k) = d.split_once('#').ok_or(Invalid)?;
                DayOfWeek::Nth(value(n, 1, 7, &WEEKDAYS)?, value(k, 1, 5, &[])?)
            }
            d => DayOfWeek::Days(bits(&set(d, 1, 7, &WEEKDAYS)?) as u8),
        };
        // Exactly one of day-of-month and day-of-week is `?`.
        if (dom == DayOfMonth::Unspecified) == (dow == DayOfWeek::Unspecified) {
            return Err(Invalid);
        }
        let mut years = [0u64; 4];
        for y in set(f[5], YEAR_MIN as u32, YEAR_MAX as u32, &[])? {
            let i = (y as i64 - YEAR_MIN) as usize;
            years[i / 64] |= 1 << (i % 64);
        }
        Ok(Cron { minutes, hours, dom, months, dow, years })
    }

    fn day_matches(&self, y: i64, m: u32, d: u32) -> bool {
        let i = y - YEAR_MIN;
        if !(0..=(YEAR_MAX - YEAR_MIN)).contains(&i) || self.years[i as usize / 64] & (1 << (i % 64)) == 0 {
            return false;
        }
        if self.months & (1 << m) == 0 {
            return false;
        }
        let last = days_in_month(y, m);
        // 1 = Sunday … 7 = Saturday.
        let weekday = |day: u32| ((days_from_civil(y, m, day) + 4).rem_euclid(7) + 1) as u32;
        let dom_ok = match self.dom {
            DayOfMonth::Unspecified => true,
            DayOfMonth::Days(b) => b & (1 << d) != 0,
            DayOfMonth::Last => d == last,
            DayOfMonth::LastWeekday => {
                let mut l = last;
                while matches!(weekday(l), 1 | 7) {
                    l -= 1;
                }
                d == l
            }
            DayOfMonth::NearestWeekday(n) => {
                let n = n.min(last);
                let target = match weekday(n) {
                    7 if n == 1 => 3,
                    7 => n - 1,
                    1 if n == last => n - 2,
                    1 => n + 1,
                    _ => n,
                };
                d == target
            }
        };
        let dow_ok = match self.dow {
            DayOfWeek::Unspecified => true,
            DayOfWeek::Days(b) => b & (1 << weekday(d)) != 0,
            DayOfWeek::Last(n) => weekday(d) == n && d + 7 > last,
            DayOfWeek::Nth(n, k) => weekday(d) == n && (d - 1) / 7 + 1 == k,
        };
        dom_ok && dow_ok
    }

    /// The first matching minute strictly after `after_ms`, in `zone`'s local time.
    pub fn next_after(&self, after_ms: i64, zone: &Zone) -> Option<i64> {
        let local = zone.to_local_ms(after_ms);
        let start_min = local.div_euclid(MINUTE_MS) + 1;
        let first_day = start_min.div_euclid(1440);
        let mut from_min = start_min.rem_euclid(1440) as u32;
        for day in first_day..first_day + SEARCH_DAYS_MAX {
            let (y, m, d) = civil_from_days(day);
            if y > YEAR_MAX {
                return None;
            }
            if self.day_matches(y, m, d) {
                for hm in from_min..1440 {
                    let (h, mi) = (hm / 60, hm % 60);
                    if self.hours & (1 << h) != 0 && self.minutes & (1 << mi) != 0 {
                        let utc = zone.to_utc_ms((day * 1440 + hm as i64) * MINUTE_MS);
                        if utc > after_ms {
                            return Some(utc);
                        }
                    }
                }
            }
            from_min = 0;
        }
        None
    }
}

/// A time zone: a fixed offset, or a zone's transitions read from the host's tz database.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// `(utc_s, offset_s)` from that instant on, ascending; the first applies before too.
    offsets: Vec<(i64, i64)>,
}

/// Where the host's IANA time zone database is.
const ZONEINFO: &str = "/usr/share/zoneinfo";
/// Largest TZif file read.
const TZIF_BYTES_MAX: u64 = 256 * 1024;

impl Zone {
    pub fn utc() -> Zone {
        Zone::fixed(0)
    }

    pub fn fixed(offset_s: i64) -> Zone {
        Zone { offsets: vec![(i64::MIN, offset_s)] }
    }

    /// The zone an IANA name names, or `None` if Versa cannot know it.
    pub fn load(name: &str) -> Option<Zone> {
        match name {
            "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "Etc/UCT" | "UCT" | "Universal" | "Zulu" => {
                return Some(Zone::utc());
            }
            _ => {}
        }
        // POSIX sign: Etc/GMT+5 is five hours behind UTC.
        if let Some(h) = name.strip_prefix("Etc/GMT")
            && let Ok(h) = h.parse::<i64>()
            && (-14..=12).contains(&h)
        {
            return Some(Zone::fixed(-h * 3600));
        }
        let valid = !name.is_empty()
            && name.len() <= 64
            && !name.starts_with('/')
            && !name.split('/').any(|c| c.is_empty() || c == "." || c == "..")
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b));
        if !valid {
            return None;
        }
        let path = std::path::Path::new(ZONEINFO).join(name);
        let meta = std::fs::metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > TZIF_BYTES_MAX {
            return None;
        }
        parse_tzif(&std::fs::read(path).ok()?)
    }

    fn offset_at_utc(&self, utc_ms: i64) -> i64 {
        let s = utc_ms.div_euclid(1000);
        let i = self.offsets.partition_point(|(t, _)| *t <= s);
        self.offsets[i.saturating_sub(1)].1
    }

    pub fn to_local_ms(&self, utc_ms: i64) -> i64 {
        utc_ms + self.offset_at_utc(utc_ms) * 1000
    }

    /// A local time as UTC; in a gap (spring forward) the time after the gap, in an overlap
    /// the earlier instant.
    pub fn to_utc_ms(&self, local_ms: i64) -> i64 {
        let mut distinct: Vec<i64> = self.offsets.iter().map(|(_, o)| *o).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let mut best = None;
        for off in distinct {
            let utc = local_ms - off * 1000;
            if self.to_local_ms(utc) == local_ms && best.is_none_or(|b| utc < b) {
                best = Some(utc);
            }
        }
        if let Some(b) = best {
            return b;
        }
        let guess = local_ms - self.offset_at_utc(local_ms) * 1000;
        let guess2 = local_ms - self.offset_at_utc(guess) * 1000;
        if self.to_local_ms(guess2) == local_ms { guess2 } else { guess.max(guess2) }
    }
}

/// The transitions of a TZif file (version 1 data, or the 64-bit block of version 2+).
fn parse_tzif(b: &[u8]) -> Option<Zone> {
    fn header(b: &[u8]) -> Option<[usize; 6]> {
        if b.len() < 44 || &b[..4] != b"TZif" {
            return None;
        }
        let n = |i: usize| u32::from_be_bytes([b[20 + 4 * i], b[21 + 4 * i], b[22 + 4 * i], b[23 + 4 * i]]) as usize;
        Some([n(0), n(1), n(2), n(3), n(4), n(5)])
    }
    let [isut, isstd, leap, timecnt, typecnt, charcnt] = header(b)?;
    let v1_len = timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut;
    let (data, [_, _, _, timecnt, typecnt, _], tsize) = if b[4] >= b'2' {
        let rest = b.get(44 + v1_len..)?;
        (rest.get(44..)?, header(rest)?, 8)
    } else {
        (&b[44..], [isut, isstd, leap, timecnt, typecnt, charcnt], 4)
    };
    let times = data.get(..timecnt * tsize)?;
    let idx = data.get(timecnt * tsize..timecnt * (tsize + 1))?;
    let types = data.get(timecnt * (tsize + 1)..timecnt * (tsize + 1) + typecnt * 6)?;
    if typecnt == 0 {
        return None;
    }
    let utoff = |i: usize| -> Option<i64> {
        let t = types.get(i * 6..i * 6 + 4)?;
        Some(i32::from_be_bytes([t[0], t[1], t[2], t[3]]) as i64)
    };
    let mut offsets = vec![(i64::MIN, utoff(0)?)];
    for i in 0..timecnt {
        let t = &times[i * tsize..(i + 1) * tsize];
        let at = if tsize == 8 {
            i64::from_be_bytes(t.try_into().ok()?)
        } else {
            i32::from_be_bytes(t.try_into().ok()?) as i64
        };
        offsets.push((at, utoff(*idx.get(i)? as usize)?));
    }
    // Version 2+ ends with a POSIX TZ string for the times after the last transition ("slim"
    // files stop their table early and rely on it): extend the table with its rule.
    if tsize == 8
        && let Some(footer) = b.rsplit(|c| *c == b'\n').nth(1)
        && let Some(rule) = std::str::from_utf8(footer).ok().and_then(PosixTz::parse)
    {
        let last = offsets.last().map_or(0, |(t, _)| *t).max(0);
        let first_year = stdx::time::Civil::from_epoch_ms(last * 1000).year;
        for y in first_year..=YEAR_MAX {
            for (at, off) in rule.transitions(y) {
                if at > last {
                    offsets.push((at, off));
                }
            }
        }
        if rule.dst.is_none() && offsets.last().is_some_and(|(_, o)| *o != rule.std_off) {
            offsets.push((last + 1, rule.std_off));
        }
    }
    Some(Zone { offsets })
}

/// A start or end of daylight time: month, week 1–5 (5: the last), weekday 0–6 (Sunday 0),
/// and seconds after local midnight.
type RuleDate = (u32, u32, u32, i64);

/// A POSIX TZ string's rule (`EST5EDT,M3.2.0,M11.1.0`): the UTC offsets (east positive) of
/// standard and daylight time, and when daylight time starts and ends.
#[derive(Debug, Clone, PartialEq)]
struct PosixTz {
    std_off: i64,
    dst: Option<(i64, RuleDate, RuleDate)>,
}

impl PosixTz {
    fn parse(s: &str) -> Option<PosixTz> {
        fn name(s: &str) -> Option<&str> {
            if let Some(r) = s.strip_prefix('<') {
                return Some(&r[r.find('>')? + 1..]);
            }
            let n = s.bytes().take_while(u8::is_ascii_alphabetic).count();
            (n >= 3).then(|| &s[n..])
        }
        /// `[+-]h[:mm[:ss]]` → seconds, and the rest.
        fn time(s: &str) -> Option<(i64, &str)> {
            let (sign, s) = match s.as_bytes().first()? {
                b'-' => (-1, &s[1..]),
                b'+' => (1, &s[1..]),
                _ => (1, s),
            };
            let end = s.find(|c: char| !c.is_ascii_digit() && c != ':').unwrap_or(s.len());
            let mut secs = 0;
            for (i, part) in s[..end].split(':').enumerate() {
                if i > 2 || part.is_empty() || part.len() > 3 {
                    return None;
                }
                secs += part.parse::<i64>().ok()? * [3600, 60, 1][i];
            }
            Some((sign * secs, &s[end..]))
        }
        fn date(s: &str) -> Option<(RuleDate, &str)> {
            let s = s.strip_prefix('M')?;
            let end = s.find([',', '/']).unwrap_or(s.len());
            let mut f = s[..end].split('.').map(|x| x.parse::<u32>().ok());
            let (m, w, d) = (f.next()??, f.next()??, f.next()??);
            if !(1..=12).contains(&m) || !(1..=5).contains(&w) || d > 6 {
                return None;
            }
            let rest = &s[end..];
            match rest.strip_prefix('/') {
                Some(r) => time(r).map(|(t, rest)| ((m, w, d, t), rest)),
                None => Some(((m, w, d, 7200), rest)),
            }
        }
        let rest = name(s)?;
        let (std, rest) = time(rest)?;
        if rest.is_empty() {
            return Some(PosixTz { std_off: -std, dst: None });
        }
        let rest = name(rest)?;
        let (dst_off, rest) = match rest.strip_prefix(',') {
            Some(_) => (-std + 3600, rest),
            None => {
                let (d, r) = time(rest)?;
                (-d, r)
            }
        };
        let (start, rest) = date(rest.strip_prefix(',')?)?;
        let (end, rest) = date(rest.strip_prefix(',')?)?;
        rest.is_empty().then_some(PosixTz { std_off: -std, dst: Some((dst_off, start, end)) })
    }

    /// The year's transitions `(utc_s, offset after)`, in order.
    fn transitions(&self, y: i64) -> Vec<(i64, i64)> {
        let Some((dst_off, start, end)) = self.dst else { return Vec::new() };
        let local = |(m, w, d, t): RuleDate| {
            let first = days_from_civil(y, m, 1);
            let first_wd = (first + 4).rem_euclid(7) as u32;
            let mut day = 1 + (d + 7 - first_wd) % 7 + (w - 1) * 7;
            while day > days_in_month(y, m) {
                day -= 7;
            }
            days_from_civil(y, m, day) * 86_400 + t
        };
        let mut out = vec![(local(start) - self.std_off, dst_off), (local(end) - dst_off, self.std_off)];
        out.sort_unstable();
        out
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let c = stdx::time::Civil::from_epoch_ms(days * DAY_MS);
    (c.year, c.month, c.day)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `yyyy-mm-ddThh:mm:ssZ` (the `time` of EventBridge events, seconds precision).
pub fn format_time(ms: i64) -> String {
    let c = stdx::time::Civil::from_epoch_ms(ms);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i64, m: u32, d: u32, h: i64, mi: i64) -> i64 {
        (days_from_civil(y, m, d) * 1440 + h * 60 + mi) * MINUTE_MS
    }

    #[test]
    fn recorded_expressions() {
        let valid = [
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(2 hours)",
            "rate(1 day)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0/15 * * * ? *)",
            "cron(15 10 ? * 6L 2002-2005)",
            "cron(0 2 ? * SAT#3 *)",
            "cron(0/5 5 ? JAN 1-5 2022)",
            "cron(5,35 14 * * ? *)",
            "cron(0-15/1 8-8 ? * 2,3,4,5,6,7 *)",
        ];
        for v in valid {
            assert!(Expression::parse(v, Dialect::Events).is_ok(), "{v}");
        }
        let invalid = [
            "rate(10 seconds)",
            "rate(10 years)",
            "rate()",
            "rate(10)",
            "rate(10 minutess)",
            "rate(foo minutes)",
            "rate(-10 minutes)",
            "rate( 10 minutes )",
            " rate(10 minutes)",
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(0 minutes)",
            "cron(0 1 * * * *)",
            "cron(7 20 * * NOT *)",
            "cron(71 8 1 * ? *)",
            "cron(INVALID)",
            "cron(0 dummy ? * MON-FRI *)",
            "cron()",
            "at(2022-12-31T23:59:59)",
        ];
        for v in invalid {
            assert!(Expression::parse(v, Dialect::Events).is_err(), "{v}");
        }
        assert!(Expression::parse("at(2022-12-31T23:59:59)", Dialect::Scheduler).is_ok());
        for v in ["at(2021-12-31T23:59:59Z)", "at(2021-12-31)", "at(2021-02-30T00:00:00)"] {
            assert!(Expression::parse(v, Dialect::Scheduler).is_err(), "{v}");
        }
    }

    #[test]
    fn rates_count_from_their_anchor() {
        let e = Expression::parse("rate(1 minute)", Dialect::Events).unwrap();
        let z = Zone::utc();
        assert_eq!(e.next_after(1_000, 1_000, &z, 1), Some(61_000));
        assert_eq!(e.next_after(60_999, 1_000, &z, 1), Some(61_000));
        assert_eq!(e.next_after(61_000, 1_000, &z, 1), Some(121_000));
        // The test option: a minute is a second.
        assert_eq!(e.next_after(1_000, 1_000, &z, 60), Some(2_000));
        assert_eq!(e.latest_at_or_before(61_000, 250_000, 1_000, &z, 1), 241_000);
    }

    #[test]
    fn cron_next_ticks() {
        let z = Zone::utc();
        let next = |e: &str, at: i64| {
            let Expression::Cron(c) = Expression::parse(e, Dialect::Events).unwrap() else { panic!() };
            c.next_after(at, &z)
        };
        // 2026-12-04 is a Friday.
        assert_eq!(next("cron(0 18 ? * MON-FRI *)", ms(2026, 12, 4, 18, 0)), Some(ms(2026, 12, 7, 18, 0)));
        assert_eq!(next("cron(0/15 * * * ? *)", ms(2026, 12, 4, 10, 7)), Some(ms(2026, 12, 4, 10, 15)));
        assert_eq!(next("cron(0 2 ? * SAT#3 *)", ms(2026, 12, 1, 0, 0)), Some(ms(2026, 12, 19, 2, 0)));
        assert_eq!(next("cron(0 0 ? * 6L *)", ms(2026, 12, 1, 0, 0)), Some(ms(2026, 12, 25, 0, 0)));
        assert_eq!(next("cron(0 0 L * ? *)", ms(2026, 2, 1, 0, 0)), Some(ms(2026, 2, 28, 0, 0)));
        assert_eq!(next("cron(0 0 LW * ? *)", ms(2026, 1, 1, 0, 0)), Some(ms(2026, 1, 30, 0, 0)));
        assert_eq!(next("cron(0 0 1W * ? *)", ms(2026, 11, 2, 0, 0)), Some(ms(2026, 12, 1, 0, 0)));
        assert_eq!(next("cron(15 10 ? * 6L 2002-2005)", ms(2026, 1, 1, 0, 0)), None);
        assert_eq!(next("cron(* * * * ? *)", ms(2026, 1, 1, 0, 0) + 500), Some(ms(2026, 1, 1, 0, 1)));
    }

    #[test]
    fn zones() {
        let z = Zone::load("Etc/GMT+5").unwrap();
        assert_eq!(z.to_local_ms(5 * 3_600_000), 0);
        assert_eq!(z.to_utc_ms(0), 5 * 3_600_000);
        assert!(Zone::load("../etc/passwd").is_none());
        assert!(Zone::load("Nowhere/Atlantis").is_none());
        // The POSIX rule alone gives the same offsets as the table (slim files rely on it).
        let rule = PosixTz::parse("EST5EDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(rule.transitions(2026), vec![(1_772_953_200, -14_400), (1_793_512_800, -18_000)]);
        let paris = PosixTz::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(paris.transitions(2026), vec![(1_774_746_000, 7_200), (1_792_890_000, 3_600)]);
        assert_eq!(PosixTz::parse("<+03>-3"), Some(PosixTz { std_off: 10_800, dst: None }));
        assert!(PosixTz::parse("EST5EDT,J60,J300").is_none());
        if let Some(ny) = Zone::load("America/New_York") {
            // 2026-07-01 12:00 EDT is 16:00 UTC; 2026-01-15 12:00 EST is 17:00 UTC.
            assert_eq!(ny.to_utc_ms(ms(2026, 7, 1, 12, 0)), ms(2026, 7, 1, 16, 0));
            assert_eq!(ny.to_utc_ms(ms(2026, 1, 15, 12, 0)), ms(2026, 1, 15, 17, 0));
            // Past the table (2037 in "fat" files, earlier in slim ones), the footer's rule holds.
            assert_eq!(ny.to_utc_ms(ms(2100, 7, 1, 12, 0)), ms(2100, 7, 1, 16, 0));
            assert_eq!(ny.to_utc_ms(ms(2100, 1, 15, 12, 0)), ms(2100, 1, 15, 17, 0));
            // A daily 02:00 in New York is 06:00 UTC in summer and 07:00 UTC in winter.
            let Expression::Cron(c) = Expression::parse("cron(0 2 * * ? *)", Dialect::Scheduler).unwrap() else {
                panic!()
            };
            assert_eq!(c.next_after(ms(2026, 7, 1, 0, 0), &ny), Some(ms(2026, 7, 1, 6, 0)));
            assert_eq!(c.next_after(ms(2026, 12, 1, 0, 0), &ny), Some(ms(2026, 12, 1, 7, 0)));
        }
    }
}
