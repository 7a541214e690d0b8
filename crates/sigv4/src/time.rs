//! The SigV4 timestamp formats: `YYYYMMDDTHHMMSSZ` (`x-amz-date`) and IMF-fixdate (`Date`).

use std::time::UNIX_EPOCH;

use stdx::time::Civil;

/// `YYYYMMDDTHHMMSSZ` for unix seconds (the SigV4 request time format).
pub fn format_amz_date(secs: i64) -> String {
    match amz_date_bytes(secs) {
        Some(b) => b.iter().map(|&c| char::from(c)).collect(),
        None => {
            let c = Civil::from_epoch_ms(secs.saturating_mul(1000));
            format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", c.year, c.month, c.day, c.hour, c.minute, c.second)
        }
    }
}

/// `YYYYMMDDTHHMMSSZ` as bytes, without formatting machinery, for years 0–9999 (else `None`).
fn amz_date_bytes(secs: i64) -> Option<[u8; 16]> {
    let c = Civil::from_epoch_ms(secs.saturating_mul(1000));
    let year = u32::try_from(c.year).ok().filter(|y| *y <= 9999)?;
    let mut out = *b"00000000T000000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            out[i] = b"0123456789"[(v % 10) as usize];
            v /= 10;
        }
    };
    put(0, 4, year);
    put(4, 2, c.month);
    put(6, 2, c.day);
    put(9, 2, c.hour);
    put(11, 2, c.minute);
    put(13, 2, c.second);
    Some(out)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for unix seconds (S3's `ServerTime` and `Expires` error fields).
pub fn format_iso8601(secs: i64) -> String {
    let c = Civil::from_epoch_ms(secs.saturating_mul(1000));
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

fn digits(s: &[u8]) -> Option<i64> {
    s.iter().try_fold(0i64, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0')))
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYYMMDDTHHMMSSZ` strictly (a real calendar date, a time of day) into unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[4..6])?, digits(&b[6..8])?);
    let (h, mi, se) = (digits(&b[9..11])?, digits(&b[11..13])?, digits(&b[13..15])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se;
    // Rejects 31 April, 30 February and the like: they would not format back to themselves.
    let same = match amz_date_bytes(secs) {
        Some(f) => f[..] == *b,
        None => format_amz_date(secs) == s,
    };
    same.then_some(secs)
}

/// Parses an HTTP `Date` header (IMF-fixdate, or the obsolete forms `httpdate` also reads).
pub fn parse_http_date(s: &str) -> Option<i64> {
    // botocore writes a caller's `Date` as RFC 2822 with a numeric zone (`… 12:36:00 -0000`).
    let gmt;
    let s = match s.strip_suffix(" -0000").or_else(|| s.strip_suffix(" +0000")) {
        Some(rest) => {
            gmt = format!("{rest} GMT");
            gmt.as_str()
        }
        None => s,
    };
    let t = httpdate::parse_http_date(s).ok()?;
    i64::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(format_iso8601(1_440_938_160), "2015-08-30T12:36:00Z");
        assert_eq!(parse_amz_date("20240229T000000Z").map(format_amz_date).as_deref(), Some("20240229T000000Z"));
        for bad in
            ["20230229T000000Z", "20150830T123600", "2015-08-30T12:36:00Z", "20151330T123600Z", "2015083xT123600Z", ""]
        {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"), Some(1_440_938_160));
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 -0000"), Some(1_440_938_160));
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 +0000"), Some(1_440_938_160));
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 +0200"), None);
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
