//! The connection settings shared by Versa's PostgreSQL clients: the core store (`store::pg`),
//! S3's metadata (`s3::store::pg`) and the function logs (`logs::pg`). Each keeps its own schema
//! and connections; what they share is how a connection behaves when the database goes away.

use std::str::FromStr;
use std::time::Duration;

use postgres::Config;

/// How long connecting to the database may take (unless the URL says otherwise).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long sent data may stay unacknowledged on a TCP connection before the kernel drops it
/// (a database host that vanished without closing its sockets).
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle time before TCP keepalive probes start, and the interval between them.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// Unanswered keepalive probes after which the connection is dead.
pub const KEEPALIVE_RETRIES: u32 = 3;

/// Parses `url` into connection settings: the URL's own timeouts and keepalive settings win;
/// otherwise a dead database host breaks the connection (and frees its thread) in bounded time.
/// `application_name` shows which part of Versa a connection belongs to in `pg_stat_activity`.
pub fn config(url: &str, application_name: &str) -> Result<Config, postgres::Error> {
    let mut config = Config::from_str(url)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    if !url.contains("keepalives") {
        config
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES);
    }
    config.application_name(application_name);
    Ok(config)
}

/// `url` with its password replaced by `***`, for messages and logs.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &userinfo[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_unless_the_url_sets_them() {
        let c = config("postgres://u:p@localhost/db", "versa").unwrap();
        assert_eq!(c.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(c.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        assert!(c.get_keepalives());
        assert_eq!(c.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(c.get_application_name(), Some("versa"));

        let c = config("postgres://localhost/db?connect_timeout=2&keepalives=0", "versa-s3").unwrap();
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(2)));
        assert!(!c.get_keepalives());
        assert!(config("postgres://localhost/db?sslmode=nonsense", "versa").is_err());
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redacted("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redacted("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redacted("postgres://h/db"), "postgres://h/db");
    }
}
