//! Sessions, login and CSRF.
//!
//! Every visitor gets a server-side session (a random id in the `versa_console` cookie,
//! `HttpOnly; SameSite=Strict`, `Secure` under TLS) holding its CSRF token and, once signed in,
//! who it acts as. Every POST must carry the session's token in its `csrf` field; anything
//! else is refused with 403 before a handler runs. Under `--auth sigv4` a session acts only
//! after a login with an access key id and its secret (checked against [`control::Keys`] in
//! constant time); under `--auth off` every session acts in the default account.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use control::{Actor, Lookup};
use model::scope::{AccountId, Scope};

use crate::{Connection, Console, PREFIX, render};

/// Most sessions kept at once; beyond it the least recently used one (signed-out ones first)
/// is dropped.
pub const MAX_SESSIONS: usize = 1024;
/// A session unused this long is gone.
pub const SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);
/// The session cookie's name.
pub const COOKIE: &str = "versa_console";

/// Who a session acts as.
#[derive(Debug, Clone)]
pub(crate) struct Who {
    /// The key's account, in the server's default region.
    pub scope: Scope,
    /// What alias writes record: the key (`--auth sigv4`) or `Anonymous` (`--auth off`).
    pub actor: Actor,
    pub access_key_id: Option<String>,
}

struct Entry {
    csrf: String,
    who: Option<Who>,
    seen: Instant,
    flash: Option<String>,
}

/// The sessions, in memory (a restart signs everyone out).
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Entry>>,
}

/// 244 random bits as 64 hex digits.
fn random_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Compares two secrets in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Sessions {
    pub(crate) fn new() -> Sessions {
        Sessions { map: Mutex::new(HashMap::new()) }
    }

    /// The session's CSRF token and identity, if it exists and is not idle for too long.
    fn get(&self, id: &str) -> Option<(String, Option<Who>)> {
        let mut map = self.map.lock().expect("sessions lock");
        let entry = map.get_mut(id)?;
        if entry.seen.elapsed() > SESSION_IDLE {
            map.remove(id);
            return None;
        }
        entry.seen = Instant::now();
        Some((entry.csrf.clone(), entry.who.clone()))
    }

    /// A new session; answers its id and CSRF token.
    fn create(&self, who: Option<Who>) -> (String, String) {
        let mut map = self.map.lock().expect("sessions lock");
        map.retain(|_, e| e.seen.elapsed() <= SESSION_IDLE);
        while map.len() >= MAX_SESSIONS {
            let victim = map
                .iter()
                .min_by_key(|(_, e)| (e.who.is_some(), e.seen))
                .map(|(k, _)| k.clone())
                .expect("a full map has entries");
            map.remove(&victim);
        }
        let (id, csrf) = (random_token(), random_token());
        map.insert(id.clone(), Entry { csrf: csrf.clone(), who, seen: Instant::now(), flash: None });
        (id, csrf)
    }

    fn remove(&self, id: &str) {
        self.map.lock().expect("sessions lock").remove(id);
    }

    /// Keeps a message for the session's next page (after a redirect).
    pub(crate) fn flash(&self, id: &str, message: String) {
        if let Some(e) = self.map.lock().expect("sessions lock").get_mut(id) {
            e.flash = Some(message);
        }
    }

    /// The message kept for this page, once.
    pub(crate) fn take_flash(&self, id: &str) -> Option<String> {
        self.map.lock().expect("sessions lock").get_mut(id).and_then(|e| e.flash.take())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().expect("sessions lock").len()
    }
}

/// One request as the console's pages see it.
pub(crate) struct Ctx {
    pub session: String,
    pub csrf: String,
    /// `None`: not signed in (`--auth sigv4` only).
    pub who: Option<Who>,
    /// A `Set-Cookie` value the response must carry.
    set_cookie: Option<String>,
    secure: bool,
    /// htmx asked (`HX-Request: true`, and not a history restore): answer the fragment.
    pub fragment: bool,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
}

fn pairs(text: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(text).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn cookie_of(req: &Request<Body>) -> Option<String> {
    req.headers().get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        v.split(';').find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == COOKIE && !v.is_empty()).then(|| v.to_owned())
        })
    })
}

impl Ctx {
    /// Finds or starts the request's session, reads a POST's form and checks its CSRF token.
    pub(crate) async fn open(console: &Console, req: Request<Body>, conn: Connection) -> Result<Ctx, Response<Body>> {
        let (fragment, cross_site) = {
            let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let fragment = header("hx-request") == "true" && header("hx-history-restore-request").is_empty();
            (fragment, header("sec-fetch-site") == "cross-site")
        };
        let query = pairs(req.uri().query().unwrap_or("").as_bytes());
        let mut found = cookie_of(&req).and_then(|id| console.sessions.get(&id).map(|(csrf, who)| (id, csrf, who)));
        // A signed-in key that was deleted since signs the session out.
        if let Some((id, _, Some(Who { access_key_id: Some(key), .. }))) = &found
            && !matches!(console.parts.keys.lookup(key), Lookup::Found(_))
        {
            console.sessions.remove(id);
            found = None;
        }
        let (session, csrf, who, set_cookie) = match found {
            Some((id, csrf, who)) => (id, csrf, who, None),
            None => {
                let who = (!console.parts.login).then(|| anonymous(console));
                let (id, csrf) = console.sessions.create(who.clone());
                let cookie = session_cookie(&id, conn.secure);
                (id, csrf, who, Some(cookie))
            }
        };
        let mut ctx = Ctx { session, csrf, who, set_cookie, secure: conn.secure, fragment, query, form: Vec::new() };
        if req.method() == Method::POST {
            // The body is read before any refusal, so the connection stays usable.
            let body = match axum::body::to_bytes(req.into_body(), crate::FORM_BYTES_MAX).await {
                Ok(b) => b,
                Err(_) => {
                    let message = format!("The form is larger than {} bytes.", crate::FORM_BYTES_MAX);
                    let mut r =
                        render::message(console, &ctx, StatusCode::PAYLOAD_TOO_LARGE, "Form too large", &message);
                    ctx.finish(&mut r);
                    return Err(r);
                }
            };
            ctx.form = pairs(&body);
            let given = ctx.field("csrf").unwrap_or("");
            // Browsers say where a request comes from: a cross-site POST is refused whatever it carries.
            if cross_site || !constant_time_eq(given.as_bytes(), ctx.csrf.as_bytes()) {
                return Err(ctx.refuse_csrf(console));
            }
        }
        Ok(ctx)
    }

    fn refuse_csrf(&mut self, console: &Console) -> Response<Body> {
        let mut r = render::message(
            console,
            self,
            StatusCode::FORBIDDEN,
            "Request refused",
            "This form was not sent from this console page (its CSRF token is missing or out of date). Nothing was \
             changed. Reload the page and try again.",
        );
        self.finish(&mut r);
        r
    }

    /// A query parameter.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A form field.
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Who the request acts as; pages behind the login only run with one.
    pub(crate) fn who(&self) -> &Who {
        self.who.as_ref().expect("the route table lets only signed-in sessions through")
    }

    /// Adds the session cookie to the response when the session is new.
    pub(crate) fn finish(&mut self, response: &mut Response<Body>) {
        if let Some(c) = self.set_cookie.take()
            && let Ok(v) = HeaderValue::from_str(&c)
        {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

fn session_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path={PREFIX}; HttpOnly; SameSite=Strict{secure}")
}

fn anonymous(console: &Console) -> Who {
    Who {
        scope: Scope { account: AccountId::from_access_key(""), region: console.parts.region.clone() },
        actor: Actor::Anonymous,
        access_key_id: None,
    }
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    error: Option<&'a str>,
    access_key_id: &'a str,
}

/// `GET /login`: the form (under `--auth off`, straight to the function list).
pub(crate) fn login_page(console: &Console, ctx: &Ctx, error: Option<&str>) -> Response<Body> {
    if !console.parts.login || ctx.who.is_some() {
        return render::redirect(&format!("{PREFIX}/"));
    }
    let page = LoginPage { csrf: &ctx.csrf, error, access_key_id: ctx.field("access_key_id").unwrap_or("") };
    let status = if error.is_some() { StatusCode::FORBIDDEN } else { StatusCode::OK };
    render::page(console, ctx, status, "Sign in", render::html(&page))
}

/// `POST /login`: a key Versa issued (not a temporary one) and its secret start a new session.
pub(crate) fn login(console: &Console, ctx: &mut Ctx) -> Response<Body> {
    if !console.parts.login {
        return render::redirect(&format!("{PREFIX}/"));
    }
    let id = ctx.field("access_key_id").unwrap_or("").trim().to_owned();
    let secret = ctx.field("secret_access_key").unwrap_or("");
    let account = match console.parts.keys.lookup(&id) {
        Lookup::Found(k) if k.session_token.is_none() && constant_time_eq(k.secret.as_bytes(), secret.as_bytes()) => {
            k.account
        }
        _ => {
            tracing::info!(access_key_id = %id, "console sign-in refused");
            return login_page(console, ctx, Some("The access key id or the secret access key is not valid."));
        }
    };
    // A new id at sign-in: a session id known before it (fixation) is worth nothing after.
    console.sessions.remove(&ctx.session);
    let who = Who {
        scope: Scope { account, region: console.parts.region.clone() },
        actor: Actor::Key { access_key_id: id.clone() },
        access_key_id: Some(id),
    };
    let (session, csrf) = console.sessions.create(Some(who.clone()));
    ctx.set_cookie = Some(session_cookie(&session, ctx.secure));
    (ctx.session, ctx.csrf, ctx.who) = (session, csrf, Some(who));
    render::redirect(&format!("{PREFIX}/"))
}

/// `POST /logout`: forgets the session and clears the cookie.
pub(crate) fn logout(console: &Console, ctx: &mut Ctx) -> Response<Body> {
    console.sessions.remove(&ctx.session);
    let secure = if ctx.secure { "; Secure" } else { "" };
    ctx.set_cookie = Some(format!("{COOKIE}=; Path={PREFIX}; HttpOnly; SameSite=Strict; Max-Age=0{secure}"));
    let to = if console.parts.login { format!("{PREFIX}/login") } else { format!("{PREFIX}/") };
    render::redirect(&to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_bounded_and_signed_out_ones_go_first() {
        let s = Sessions::new();
        let who = Who {
            scope: Scope {
                account: AccountId::from_access_key(""),
                region: model::scope::Region::parse("us-east-1").unwrap(),
            },
            actor: Actor::Anonymous,
            access_key_id: None,
        };
        let (kept, _) = s.create(Some(who));
        for _ in 0..MAX_SESSIONS + 10 {
            s.create(None);
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        assert!(s.get(&kept).is_some(), "the signed-in session survives a flood of signed-out ones");
    }

    #[test]
    fn the_cookie_is_secure_under_tls() {
        assert_eq!(session_cookie("abc", false), "versa_console=abc; Path=/_versa/console; HttpOnly; SameSite=Strict");
        assert_eq!(
            session_cookie("abc", true),
            "versa_console=abc; Path=/_versa/console; HttpOnly; SameSite=Strict; Secure"
        );
    }

    #[test]
    fn tokens_compare_in_constant_time() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert_eq!(random_token().len(), 64);
    }
}
