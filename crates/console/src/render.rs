//! Templates → responses: the whole page on a direct load, the `<main>` fragment when htmx asks
//! (`HX-Request: true`); `Vary: HX-Request` and the security headers on every answer.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};

use crate::Console;
use crate::session::Ctx;

/// Scripts and styles only from the console itself: no inline script, no inline style, no eval.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How long browsers keep the static assets (their content changes only with the binary).
const ASSET_MAX_AGE_S: u32 = 86_400;

const HTMX: &[u8] = include_bytes!("../static/htmx.min.js");
/// The same, gzipped as the htmx package ships it (a third of the size).
const HTMX_GZ: &[u8] = include_bytes!("../static/htmx.min.js.gz");
const HTMX_LICENSE: &[u8] = include_bytes!("../static/htmx.LICENSE");
const CSS: &[u8] = include_bytes!("../static/console.css");

/// The page around every fragment.
#[derive(askama::Template)]
#[template(path = "layout.html")]
struct Layout<'a> {
    title: &'a str,
    content: &'a str,
    auth_off: bool,
    user: Option<&'a str>,
    csrf: &'a str,
}

/// A template rendered to a string (a template error, which the compiler mostly rules out,
/// shows as text).
pub(crate) fn html<T: askama::Template>(t: &T) -> String {
    t.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "console template failed");
        "<p role=\"alert\">This page could not be rendered.</p>".to_owned()
    })
}

fn security_headers(r: &mut Response<Body>) {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A page: `content` is a rendered fragment, which carries its own `<title>` for htmx.
pub(crate) fn page(console: &Console, ctx: &Ctx, status: StatusCode, title: &str, content: String) -> Response<Body> {
    let body = if ctx.fragment {
        content
    } else {
        let user = ctx.who.as_ref().and_then(|w| w.access_key_id.as_deref());
        // The fragment's own `<title>` (for htmx) belongs in the head the layout writes.
        let content = strip_title(&content);
        let layout = Layout { title, content, auth_off: !console.parts.login, user, csrf: &ctx.csrf };
        html(&layout)
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::VARY, HeaderValue::from_static("HX-Request, Cookie"));
    security_headers(&mut r);
    r
}

/// The fragment without its leading `<title>…</title>` line.
fn strip_title(content: &str) -> &str {
    match content.strip_prefix("<title>").and_then(|rest| rest.find("</title>").map(|i| &rest[i + 8..])) {
        Some(rest) => rest.trim_start_matches('\n'),
        None => content,
    }
}

#[derive(askama::Template)]
#[template(path = "message.html")]
struct Message<'a> {
    title: &'a str,
    message: &'a str,
}

/// A page with one message (refusals, not found).
pub(crate) fn message(console: &Console, ctx: &Ctx, status: StatusCode, title: &str, text: &str) -> Response<Body> {
    page(console, ctx, status, title, html(&Message { title, message: text }))
}

pub(crate) fn not_found(console: &Console, ctx: &Ctx) -> Response<Body> {
    message(console, ctx, StatusCode::NOT_FOUND, "Not found", "The console has no page here.")
}

/// `303 See Other` to `to` (after a POST, and to the login page).
pub(crate) fn redirect(to: &str) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    security_headers(&mut r);
    r
}

/// The embedded static files; htmx gzipped to clients that accept it.
pub(crate) fn asset(file: &str, gzip_ok: bool) -> Response<Body> {
    let gzipped = gzip_ok && file == "htmx.min.js";
    let (bytes, kind): (&'static [u8], &'static str) = match file {
        "htmx.min.js" if gzipped => (HTMX_GZ, "text/javascript; charset=utf-8"),
        "htmx.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        "htmx.LICENSE" => (HTMX_LICENSE, "text/plain; charset=utf-8"),
        "console.css" => (CSS, "text/css; charset=utf-8"),
        _ => {
            let mut r = Response::new(Body::from("not found"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            return r;
        }
    };
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzipped {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={ASSET_MAX_AGE_S}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    security_headers(&mut r);
    r
}

/// What a path segment keeps as is: RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A path segment, percent-encoded for a URL.
pub(crate) fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// A query value, percent-encoded.
pub(crate) fn q(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Epoch milliseconds as `2026-12-05 14:03:07 UTC`.
pub(crate) fn when(ms: i64) -> String {
    let c = stdx::time::Civil::from_epoch_ms(ms);
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

/// A weight in `[0, 1]` as a percentage without useless digits: `10`, `12.5`.
pub(crate) fn percent(w: f64) -> String {
    let p = (w * 100.0 * 1000.0).round() / 1000.0;
    let s = format!("{p:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_drop_useless_digits() {
        assert_eq!(percent(0.1), "10");
        assert_eq!(percent(0.125), "12.5");
        assert_eq!(percent(0.0), "0");
        assert_eq!(percent(1.0), "100");
        assert_eq!(percent(0.33333), "33.333");
    }
}
