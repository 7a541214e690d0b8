//! Wall-clock timestamps and the fixed text encodings the Lambda API uses for them.
//!
//! Timestamps are kept as Unix epoch milliseconds (`i64`) everywhere; only the edges format them.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current wall-clock time in Unix epoch milliseconds.
pub fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        // A clock before 1970 is a broken host; clamp rather than panic.
        Err(_) => 0,
    }
}

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl Civil {
    /// Splits epoch milliseconds into a UTC calendar date and time.
    pub fn from_epoch_ms(ms: i64) -> Civil {
        let days = ms.div_euclid(86_400_000);
        let ms_of_day = ms.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let secs = ms_of_day / 1000;
        Civil {
            year,
            month,
            day,
            hour: (secs / 3600) as u32,
            minute: (secs / 60 % 60) as u32,
            second: (secs % 60) as u32,
            millis: (ms_of_day % 1000) as u32,
        }
    }
}

/// `YYYY-MM-DDThh:mm:ss.SSS+0000`, the encoding of `FunctionConfiguration.LastModified`.
pub fn format_lambda_ms(ms: i64) -> String {
    let c = Civil::from_epoch_ms(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
    )
}

/// `YYYY-MM-DDThh:mm:ss+0000`, the encoding of provisioned-concurrency `LastModified`.
pub fn format_lambda_secs(ms: i64) -> String {
    let c = Civil::from_epoch_ms(ms);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+0000", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

/// `YYYY-MM-DDThh:mm:ss.SSSZ`, ISO-8601 in UTC with milliseconds.
pub fn format_iso8601_ms(ms: i64) -> String {
    let c = Civil::from_epoch_ms(ms);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
///
/// This is Howard Hinnant's `civil_from_days` algorithm, valid for every `i64` day count that
/// fits a year in `i64`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A time in the Common Log Format, as API Gateway and function URL events carry it:
/// `12/Mar/2020:19:03:58 +0000`.
pub fn clf(ms: i64) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let c = Civil::from_epoch_ms(ms);
    format!(
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        c.day,
        MONTHS[(c.month as usize).saturating_sub(1) % 12],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        // 2020-04-10T19:06:32.563Z, the example in the Lambda API reference.
        assert_eq!(format_lambda_ms(1_586_545_592_563), "2020-04-10T19:06:32.563+0000");
        assert_eq!(format_lambda_secs(1_577_824_129_000), "2019-12-31T20:28:49+0000");
        assert_eq!(format_iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_iso8601_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}
