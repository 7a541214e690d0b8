//! The web console (issue 12), at the HTTP level against the real server: sign-in under
//! `--auth sigv4`, the cookie's flags, CSRF refusals that change nothing, escaping, every action
//! and its effect as the Lambda API (the SDK) then sees it, the API's exact errors shown inline,
//! and the fragment htmx gets versus the whole page. The browser tests are `console_browser.rs`.

use std::time::{Duration, Instant};

use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::FunctionUrlAuthType;
use testkit::TestServer;
use testkit::http::Response;

use crate::invoke::create_py;
use crate::support::*;

const CONSOLE: &str = "/_versa/console";

/// Echoes the event and says which version ran.
const PY_ECHO: &str = r#"
import os
def handler(event, context):
    print("console-test got", event)
    return {"event": event, "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"]}
"#;

/// A browser as far as the console can tell: one connection, one cookie, form posts.
struct Browser {
    http: testkit::http::Client,
    cookie: Option<String>,
}

impl Browser {
    fn new(server: &TestServer) -> Browser {
        Browser { http: testkit::http::Client::new(server.addr), cookie: None }
    }

    fn remember(&mut self, r: &Response) {
        for (k, v) in &r.headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                let pair = v.split(';').next().unwrap_or("");
                let value = pair.strip_prefix("versa_console=").unwrap_or("");
                self.cookie = (!value.is_empty()).then(|| value.to_owned());
            }
        }
    }

    async fn send(&mut self, method: &str, path: &str, extra: &[(&str, &str)], body: &[u8]) -> Response {
        let cookie = self.cookie.as_ref().map(|c| format!("versa_console={c}"));
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some(c) = &cookie {
            headers.push(("cookie", c));
        }
        let r = self.http.send(method, path, &headers, body).await.expect("console request");
        self.remember(&r);
        r
    }

    async fn get(&mut self, path: &str) -> Response {
        self.send("GET", path, &[], b"").await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        self.send("POST", path, &[("content-type", "application/x-www-form-urlencoded")], body.as_bytes()).await
    }

    /// The CSRF token of the page at `path` (and the session cookie, if it had none yet).
    async fn csrf(&mut self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        csrf_of(&r.text())
    }
}

fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a form with a CSRF token") + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_owned()
}

fn location(r: &Response) -> &str {
    r.header("location").unwrap_or("")
}

/// The text of the page's `role="alert"` block, tags removed and entities decoded.
fn alert(html: &str) -> String {
    let at = html.find(r#"role="alert">"#).unwrap_or_else(|| panic!("no alert in {html}"));
    let start = at + r#"role="alert">"#.len();
    let end = html[start..].find("</div>").map_or(html.len(), |e| start + e);
    text(&html[start..end])
}

/// Markup removed and the entities askama writes decoded.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#38;", "&")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn versions(c: &Client, name: &str) -> Vec<(String, String)> {
    let out = c.list_versions_by_function().function_name(name).send().await.unwrap();
    out.versions()
        .iter()
        .map(|v| (v.version().unwrap_or("").to_owned(), v.description().unwrap_or("").to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_login_checks_the_secret_and_sets_a_strict_cookie() {
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    let mut b = Browser::new(&server);

    // Not signed in: every page leads to the login form.
    let r = b.get(&format!("{CONSOLE}/")).await;
    assert_eq!((r.status, location(&r)), (303, "/_versa/console/login"));
    let cookie = r.header("set-cookie").expect("a session cookie").to_owned();
    assert!(cookie.starts_with("versa_console="), "{cookie}");
    for flag in ["Path=/_versa/console", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.split("; ").any(|f| f == flag), "{flag} missing in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no TLS, no Secure flag: {cookie}");
    let pre_login = b.cookie.clone().unwrap();

    let csrf = b.csrf(&format!("{CONSOLE}/login")).await;
    let r = b
        .post(
            &format!("{CONSOLE}/login"),
            &[("csrf", &csrf), ("access_key_id", &root.id), ("secret_access_key", "not-the-secret")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(alert(&r.text()), "Error: The access key id or the secret access key is not valid.");
    assert_eq!(b.get(&format!("{CONSOLE}/")).await.status, 303, "still signed out");

    // The login form itself needs the CSRF token.
    let r =
        b.post(&format!("{CONSOLE}/login"), &[("access_key_id", &root.id), ("secret_access_key", &root.secret)]).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(b.get(&format!("{CONSOLE}/")).await.status, 303, "still signed out");

    let r = b
        .post(
            &format!("{CONSOLE}/login"),
            &[("csrf", &csrf), ("access_key_id", &root.id), ("secret_access_key", &root.secret)],
        )
        .await;
    assert_eq!((r.status, location(&r)), (303, "/_versa/console/"));
    let session = b.cookie.clone().unwrap();
    assert_ne!(session, pre_login, "signing in starts a new session id");
    let r = b.get(&format!("{CONSOLE}/")).await;
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(page.contains(&format!("Signed in as <code>{}</code>", root.id)), "{page}");
    assert!(!page.contains("Authentication is off"));

    // The id from before the sign-in is worth nothing.
    let mut old = Browser::new(&server);
    old.cookie = Some(pre_login);
    assert_eq!(old.get(&format!("{CONSOLE}/")).await.status, 303);

    // The console opens nothing else: the Lambda API still wants a signature.
    let mut raw = testkit::http::Client::new(server.addr);
    let cookie = format!("versa_console={session}");
    let r = raw.send("GET", "/2015-03-31/functions/", &[("cookie", &cookie)], b"").await.unwrap();
    assert_eq!(r.status, 403, "{}", r.text());

    // Signing out forgets the session.
    let csrf = b.csrf(&format!("{CONSOLE}/")).await;
    let r = b.post(&format!("{CONSOLE}/logout"), &[("csrf", &csrf)]).await;
    assert_eq!((r.status, location(&r)), (303, "/_versa/console/login"));
    let mut again = Browser::new(&server);
    again.cookie = Some(session);
    assert_eq!(again.get(&format!("{CONSOLE}/")).await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_sessions_act_in_the_keys_account_and_alias_writes_record_the_key() {
    let server = TestServer::start_sigv4().await;
    let root = server.root_key().await;
    let other = crate::auth::server_create_key(&server, &root, "123456789012").await;
    let c = testkit::lambda_client_with(&server.endpoint(), &other, REGION);
    c.create_function()
        .function_name("acct-fn")
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(ROLE)
        .handler("index.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(testkit::zip::hello()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.publish_version().function_name("acct-fn").send().await.unwrap();

    let mut b = Browser::new(&server);
    let csrf = b.csrf(&format!("{CONSOLE}/login")).await;
    let r = b
        .post(
            &format!("{CONSOLE}/login"),
            &[("csrf", &csrf), ("access_key_id", &other.id), ("secret_access_key", &other.secret)],
        )
        .await;
    assert_eq!(r.status, 303);
    let list = b.get(&format!("{CONSOLE}/")).await.text();
    assert!(list.contains("Account <code>123456789012</code>"), "{list}");
    assert!(list.contains(">acct-fn</a>"), "{list}");

    let csrf = b.csrf(&format!("{CONSOLE}/functions/acct-fn?tab=aliases")).await;
    let r = b
        .post(&format!("{CONSOLE}/functions/acct-fn/aliases"), &[("csrf", &csrf), ("name", "live"), ("version", "1")])
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let raw = crate::auth::Raw { server: &server, key: other.clone(), service: "lambda", skew: 0 };
    let h = raw.send("GET", "/_versa/functions/acct-fn/aliases/live/history", b"", b"").await;
    assert_eq!(h.status, 200, "{}", h.text());
    let change = &h.json()["History"][0];
    assert_eq!(
        (change["Actor"]["Kind"].as_str(), change["Actor"]["Id"].as_str()),
        (Some("Key"), Some(other.id.as_str()))
    );
    assert_eq!(change["Operation"], "CreateAlias");

    // A deleted key's session ends at its next request.
    let r = crate::auth::Raw { server: &server, key: root.clone(), service: "lambda", skew: 0 }
        .send("DELETE", &format!("/_versa/keys/{}", other.id), b"", b"")
        .await;
    assert!(r.status < 300, "{}: {}", r.status, r.text());
    assert_eq!(b.get(&format!("{CONSOLE}/")).await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_without_the_sessions_csrf_token_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "csrf-fn", testkit::zip::hello()).await;
    let page = format!("{CONSOLE}/functions/csrf-fn");
    let publish = format!("{page}/publish");
    let mut b = Browser::new(&server);
    let csrf = b.csrf(&page).await;
    let mut stranger = Browser::new(&server);
    let strangers_csrf = stranger.csrf(&page).await;

    let refusals: Vec<Response> = vec![
        b.post(&publish, &[("description", "no token")]).await,
        b.post(&publish, &[("csrf", "0123456789abcdef"), ("description", "wrong token")]).await,
        b.post(&publish, &[("csrf", &strangers_csrf), ("description", "another session's token")]).await,
        b.send(
            "POST",
            &publish,
            &[("content-type", "application/x-www-form-urlencoded"), ("sec-fetch-site", "cross-site")],
            format!("csrf={csrf}&description=cross-site").as_bytes(),
        )
        .await,
        b.post(&format!("{page}/aliases"), &[("name", "sneaky"), ("version", "$LATEST")]).await,
    ];
    for r in &refusals {
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(r.text().contains("Nothing was changed."), "{}", r.text());
    }
    assert_eq!(versions(&c, "csrf-fn").await, vec![("$LATEST".to_owned(), String::new())], "nothing was published");
    assert!(c.list_aliases().function_name("csrf-fn").send().await.unwrap().aliases().is_empty());

    let r = b.post(&publish, &[("csrf", &csrf), ("description", "with the token")]).await;
    assert_eq!(r.status, 303);
    assert_eq!(versions(&c, "csrf-fn").await[1], ("1".to_owned(), "with the token".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_text_is_escaped_everywhere() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "xss-fn", PY_ECHO).await;
    let evil = "<script>alert(1)</script>";
    c.update_function_configuration().function_name("xss-fn").description(evil).send().await.unwrap();
    c.publish_version().function_name("xss-fn").description(evil).send().await.unwrap();
    c.create_alias()
        .function_name("xss-fn")
        .name("prod")
        .function_version("1")
        .description("\"><img src=x onerror=alert(2)>")
        .send()
        .await
        .unwrap();
    let mut b = Browser::new(&server);
    let mut pages = Vec::new();
    for path in [
        format!("{CONSOLE}/"),
        format!("{CONSOLE}/functions/xss-fn"),
        format!("{CONSOLE}/functions/xss-fn?tab=versions"),
        format!("{CONSOLE}/functions/xss-fn?qualifier=prod&tab=aliases"),
        format!("{CONSOLE}/functions/xss-fn?tab=logs&filter=%3Cscript%3E"),
    ] {
        let r = b.get(&path).await;
        assert_eq!(r.status, 200, "{path}");
        pages.push(r.text());
    }
    let csrf = csrf_of(&pages[1]);
    let r = b
        .post(
            &format!("{CONSOLE}/functions/xss-fn/invoke"),
            &[("csrf", &csrf), ("qualifier", "prod"), ("payload", r#"{"html": "<script>alert(3)</script>"}"#)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    pages.push(r.text());
    for page in &pages {
        assert!(!page.contains("<script>alert"), "unescaped script in {page}");
        assert!(!page.contains("<img src=x"), "unescaped img in {page}");
    }
    assert!(pages[0].contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{}", pages[0]);
    assert!(pages[3].contains("&#34;&#62;&#60;img src=x onerror=alert(2)&#62;"), "{}", pages[3]);
    assert!(pages[5].contains("alert(3)"), "the invoke's answer is shown, escaped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_shows_through_the_api_and_refusals_show_the_apis_error() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "act-fn", PY_ECHO).await;
    let page = format!("{CONSOLE}/functions/act-fn");
    let mut b = Browser::new(&server);
    let csrf = b.csrf(&page).await;

    // Publish new version (with description).
    let r = b.post(&format!("{page}/publish"), &[("csrf", &csrf), ("description", "first cut")]).await;
    assert_eq!((r.status, location(&r)), (303, "/_versa/console/functions/act-fn?qualifier=1&tab=versions"));
    let shown = b.get(location(&r)).await.text();
    assert!(shown.contains("Published version 1 of act-fn."), "{shown}");
    c.update_function_configuration().function_name("act-fn").description("second").send().await.unwrap();
    let r = b.post(&format!("{page}/publish"), &[("csrf", &csrf), ("description", "second cut")]).await;
    assert_eq!(r.status, 303);
    assert_eq!(
        versions(&c, "act-fn").await,
        vec![
            ("$LATEST".to_owned(), "second".to_owned()),
            ("1".to_owned(), "first cut".to_owned()),
            ("2".to_owned(), "second cut".to_owned())
        ]
    );

    // Create a weighted alias: 1 with 25 % on 2.
    let r = b
        .post(
            &format!("{page}/aliases"),
            &[
                ("csrf", &csrf),
                ("name", "prod"),
                ("description", "production"),
                ("version", "1"),
                ("additional_version", "2"),
                ("weight", "25"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let a = c.get_alias().function_name("act-fn").name("prod").send().await.unwrap();
    assert_eq!((a.function_version(), a.description()), (Some("1"), Some("production")));
    let w = a.routing_config().unwrap().additional_version_weights().unwrap();
    assert_eq!(w.get("2"), Some(&0.25));
    let list = b.get(&format!("{CONSOLE}/")).await.text();
    assert!(list.contains(">prod</a> → 1 (75%) and 2 (25%)"), "{list}");
    let prod = b.get(&format!("{page}?qualifier=prod")).await.text();
    assert!(prod.contains("arn:aws:lambda:us-east-1:000000000000:function:act-fn:prod"), "{prod}");
    assert!(prod.contains("<option value=\"prod\" selected>"), "the selector shows the qualifier: {prod}");

    // A weight out of range: AWS's ValidationException, inline; the alias is unchanged.
    let revision = a.revision_id().unwrap().to_owned();
    let r = b
        .post(
            &format!("{page}/aliases/prod"),
            &[
                ("csrf", &csrf),
                ("revision_id", &revision),
                ("version", "1"),
                ("description", "production"),
                ("additional_version", "2"),
                ("weight", "150"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("hx-push-url"), Some("false"));
    assert_eq!(
        alert(&r.text()),
        "Error: ValidationException 1 validation error detected: Value '{2=1.5}' at \
         'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: \
         [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, \
         Member must not be null] Nothing was changed."
    );
    let same = c.get_alias().function_name("act-fn").name("prod").send().await.unwrap();
    assert_eq!(same.revision_id(), Some(revision.as_str()));

    // Update: all traffic to 2, no weights.
    let r = b
        .post(
            &format!("{page}/aliases/prod"),
            &[
                ("csrf", &csrf),
                ("revision_id", &revision),
                ("version", "2"),
                ("description", "production"),
                ("additional_version", ""),
                ("weight", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let a = c.get_alias().function_name("act-fn").name("prod").send().await.unwrap();
    assert_eq!(a.function_version(), Some("2"));
    assert!(a.routing_config().is_none_or(|r| r.additional_version_weights().is_none_or(|w| w.is_empty())));

    // The old revision id is now stale: AWS's PreconditionFailedException.
    let r = b
        .post(
            &format!("{page}/aliases/prod"),
            &[("csrf", &csrf), ("revision_id", &revision), ("version", "1"), ("description", "")],
        )
        .await;
    assert_eq!(r.status, 412, "{}", r.text());
    assert!(alert(&r.text()).starts_with("Error: PreconditionFailedException"), "{}", r.text());

    // Deleting a version an alias references: AWS's exact error, and the version stays.
    let r = b.post(&format!("{page}/versions/2/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 409);
    assert_eq!(
        alert(&r.text()),
        "Error: ResourceConflictException Unable to delete version because the following aliases reference it: \
         [prod] Nothing was changed."
    );
    assert_eq!(versions(&c, "act-fn").await.len(), 3);

    // Test invoke through the alias: result, executed version, log tail.
    let r = b
        .post(&format!("{page}/invoke"), &[("csrf", &csrf), ("qualifier", "prod"), ("payload", r#"{"k": "v"}"#)])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let result = text(&r.text());
    assert!(result.contains("Execution result: succeeded"), "{result}");
    assert!(result.contains("Executed version 2"), "{result}");
    assert!(result.contains(r#""event": {"k": "v"}, "version": "2""#), "{result}");
    assert!(result.contains("console-test got {'k': 'v'}"), "the log tail: {result}");
    assert!(result.contains("START RequestId:"), "{result}");
    let r = b.post(&format!("{page}/invoke"), &[("csrf", &csrf), ("payload", "{not json")]).await;
    assert_eq!(r.status, 400);
    assert!(
        alert(&r.text()).starts_with(
            "Error: InvalidRequestContentException Could not parse request body into json: Could not parse payload \
             into json:"
        ),
        "{}",
        r.text()
    );

    // The Logs tab shows the invocation, with the version from the stream name.
    let logs = format!("{page}?tab=logs&filter=console-test");
    let started = Instant::now();
    let shown = loop {
        let t = b.get(&logs).await.text();
        if t.contains("console-test got") {
            break t;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no log events: {t}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        shown.contains(
            r#"<td data-label="Version">2</td><td data-label="Message"><pre>console-test got {&#39;k&#39;: &#39;v&#39;}</pre>"#
        ),
        "{shown}"
    );
    let none = b.get(&format!("{page}?tab=logs&filter=console-test&version=1")).await.text();
    assert!(!none.contains("console-test got {"), "{none}");
    assert!(none.contains("No log events."), "{none}");

    // Delete the alias, then the version it pointed at.
    let r = b.post(&format!("{page}/aliases/prod/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303);
    let e = err(c.get_alias().function_name("act-fn").name("prod").send().await);
    assert_eq!((e.status, e.code.as_str()), (404, "ResourceNotFoundException"));
    let r = b.post(&format!("{page}/versions/2/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303);
    let left: Vec<String> = versions(&c, "act-fn").await.into_iter().map(|(v, _)| v).collect();
    assert_eq!(left, ["$LATEST", "1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_sources_list_urls_and_bucket_notifications_per_qualifier() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "src-fn", PY_ECHO).await;
    c.publish_version().function_name("src-fn").send().await.unwrap();
    c.create_alias().function_name("src-fn").name("live").function_version("1").send().await.unwrap();
    let url = c
        .create_function_url_config()
        .function_name("src-fn")
        .qualifier("live")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    let url_id = url.function_url().split("//").nth(1).unwrap().split('.').next().unwrap().to_owned();
    let s3 = s3_client(&server);
    s3.create_bucket().bucket("console-src").send().await.unwrap();
    crate::s3::allow_s3(&c, "src-fn", Some("live"), "console-src").await;
    let arn = format!("{}:live", arn("src-fn"));
    crate::s3::put_notification(
        &s3,
        "console-src",
        vec![crate::s3::lambda_config("uploads", &arn, &["s3:ObjectCreated:*"])],
    )
    .await
    .unwrap();
    // The path form shares the console's origin: its answers are sandboxed; the host form's are not.
    let mut raw = testkit::http::Client::new(server.addr);
    // (Without a public policy both answer 403, which is enough to see the header.)
    let r = raw.send("GET", &format!("/_versa/url/{url_id}/"), &[], b"").await.unwrap();
    assert_eq!((r.status, r.header("content-security-policy")), (403, Some(api::SHARED_ORIGIN_SANDBOX)));
    let host = format!("{url_id}.lambda-url.us-east-1.localhost");
    let r = raw.send("GET", "/", &[("host", &host)], b"").await.unwrap();
    assert_eq!((r.status, r.header("content-security-policy")), (403, None), "{}", r.text());

    // So are path-style S3 objects (an uploaded page could otherwise script the console).
    s3.put_object()
        .bucket("console-src")
        .key("page.html")
        .content_type("text/html")
        .body(b"<script>fetch('/_versa/console/')</script>".to_vec().into())
        .send()
        .await
        .unwrap();
    let r = raw.send("GET", "/console-src/page.html", &[], b"").await.unwrap();
    assert_eq!((r.status, r.header("content-security-policy")), (200, Some(api::SHARED_ORIGIN_SANDBOX)));

    let mut b = Browser::new(&server);
    let page = text(&b.get(&format!("{CONSOLE}/functions/src-fn?tab=sources")).await.text());
    assert!(page.contains("Qualifier live"), "{page}");
    let overview = text(&b.get(&format!("{CONSOLE}/functions/src-fn?qualifier=live")).await.text());
    assert!(overview.contains(&format!("Function URL /_versa/url/{url_id}/ (auth type NONE)")), "{overview}");
    assert!(page.contains(&format!("Function URL /_versa/url/{url_id}/ auth type NONE")), "{page}");
    assert!(page.contains("S3 bucket notification console-src uploads; events s3:ObjectCreated:*"), "{page}");
}

/// The text of one qualifier's table on the Event sources tab: from its caption to the next.
fn group<'a>(page: &'a str, caption: &str) -> &'a str {
    let at = page.find(caption).unwrap_or_else(|| panic!("no {caption} in {page}")) + caption.len();
    let end = page[at..].find("Qualifier ").or_else(|| page[at..].find("Unqualified")).map_or(page.len(), |e| at + e);
    &page[at..end]
}

/// One unsigned JSON call to a control plane (the test server runs `--auth off`).
async fn call(
    http: &mut testkit::http::Client,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let r = http
        .send(method, path, &[("content-type", "application/json")], body.to_string().as_bytes())
        .await
        .expect("control-plane request");
    assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.text());
    serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_sources_list_api_stages_rules_schedules_and_mappings_under_their_qualifiers() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create_py(&c, "gw-fn", PY_ECHO).await;
    c.publish_version().function_name("gw-fn").send().await.unwrap();
    c.update_function_configuration().function_name("gw-fn").description("two").send().await.unwrap();
    c.publish_version().function_name("gw-fn").send().await.unwrap();
    c.create_alias().function_name("gw-fn").name("prod").function_version("1").send().await.unwrap();
    c.create_alias().function_name("gw-fn").name("dev").function_version("2").send().await.unwrap();
    let mut http = testkit::http::Client::new(server.addr);

    // An HTTP API whose one integration names `${stageVariables.alias}`; stages dev and prod.
    let h =
        call(&mut http, "POST", "/v2/apis", serde_json::json!({"name": "<b>h&t</b>", "protocolType": "HTTP"})).await;
    let hid = h["apiId"].as_str().unwrap().to_owned();
    let uri = format!("{}:${{stageVariables.alias}}", arn("gw-fn"));
    let i = call(
        &mut http,
        "POST",
        &format!("/v2/apis/{hid}/integrations"),
        serde_json::json!({"integrationType": "AWS_PROXY", "integrationUri": uri, "payloadFormatVersion": "2.0"}),
    )
    .await;
    let target = format!("integrations/{}", i["integrationId"].as_str().unwrap());
    call(
        &mut http,
        "POST",
        &format!("/v2/apis/{hid}/routes"),
        serde_json::json!({"routeKey": "ANY /{proxy+}", "target": target}),
    )
    .await;
    let d = call(&mut http, "POST", &format!("/v2/apis/{hid}/deployments"), serde_json::json!({})).await;
    let did = d["deploymentId"].as_str().unwrap().to_owned();
    for stage in ["dev", "prod"] {
        let body = serde_json::json!({"stageName": stage, "deploymentId": did, "stageVariables": {"alias": stage}});
        call(&mut http, "POST", &format!("/v2/apis/{hid}/stages"), body).await;
    }
    // A REST API on `${stageVariables.alias}` too; its stage live says prod.
    let r = call(&mut http, "POST", "/restapis", serde_json::json!({"name": "<script>rest</script>"})).await;
    let (rid, root) = (r["id"].as_str().unwrap().to_owned(), r["rootResourceId"].as_str().unwrap().to_owned());
    let res = call(
        &mut http,
        "POST",
        &format!("/restapis/{rid}/resources/{root}"),
        serde_json::json!({"pathPart": "{proxy+}"}),
    )
    .await;
    let method = format!("/restapis/{rid}/resources/{}/methods/ANY", res["id"].as_str().unwrap());
    call(&mut http, "PUT", &method, serde_json::json!({"authorizationType": "NONE"})).await;
    let rest_uri = format!(
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{}:${{stageVariables.alias}}/invocations",
        arn("gw-fn")
    );
    let body = serde_json::json!({"type": "AWS_PROXY", "httpMethod": "POST", "uri": rest_uri});
    call(&mut http, "PUT", &format!("{method}/integration"), body).await;
    let deployments = format!("/restapis/{rid}/deployments");
    call(&mut http, "POST", &deployments, serde_json::json!({"stageName": "live", "variables": {"alias": "prod"}}))
        .await;
    // Its canary: 10% of live's requests with alias=dev.
    let canary = serde_json::json!({"percentTraffic": 10, "stageVariableOverrides": {"alias": "dev"}});
    call(&mut http, "POST", &deployments, serde_json::json!({"stageName": "live", "canarySettings": canary})).await;

    // An EventBridge rule targeting prod (its pattern carries markup), a Scheduler schedule on dev.
    let events = |op: &str| {
        [
            ("x-amz-target".to_owned(), format!("AWSEvents.{op}")),
            ("content-type".to_owned(), "application/x-amz-json-1.1".to_owned()),
            ("authorization".to_owned(), signed_as("events")),
        ]
    };
    let pattern = r#"{"source":["<script>eb</script>"]}"#;
    for (op, body) in [
        ("PutRule", serde_json::json!({"Name": "to-prod", "EventPattern": pattern})),
        (
            "PutTargets",
            serde_json::json!({"Rule": "to-prod", "Targets": [{"Id": "t1", "Arn": format!("{}:prod", arn("gw-fn"))}]}),
        ),
    ] {
        let h = events(op);
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = http.send("POST", "/", &h, body.to_string().as_bytes()).await.unwrap();
        assert_eq!(r.status, 200, "{op}: {}", r.text());
    }
    let auth = signed_as("scheduler");
    let body = serde_json::json!({
        "ScheduleExpression": "rate(1 day)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": format!("{}:dev", arn("gw-fn")), "RoleArn": ROLE},
    });
    let h = [("content-type", "application/json"), ("authorization", auth.as_str())];
    let r = http.send("POST", "/schedules/daily-dev", &h, body.to_string().as_bytes()).await.unwrap();
    assert_eq!(r.status, 200, "CreateSchedule: {}", r.text());

    // An SQS queue mapped on prod.
    let auth = signed_as("sqs");
    let h = [
        ("x-amz-target", "AmazonSQS.CreateQueue"),
        ("content-type", "application/x-amz-json-1.0"),
        ("authorization", auth.as_str()),
    ];
    let r = http.send("POST", "/", &h, br#"{"QueueName":"console-q"}"#).await.unwrap();
    assert_eq!(r.status, 200, "CreateQueue: {}", r.text());
    let queue_arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:console-q");
    let m = c
        .create_event_source_mapping()
        .function_name("gw-fn:prod")
        .event_source_arn(&queue_arn)
        .batch_size(5)
        .send()
        .await
        .unwrap();
    let uuid = m.uuid().unwrap().to_owned();

    let mut b = Browser::new(&server);
    let html = b.get(&format!("{CONSOLE}/functions/gw-fn?tab=sources")).await.text();
    assert!(!html.contains("<script>eb"), "patterns are escaped: {html}");
    assert!(!html.contains("<script>rest") && !html.contains("<b>h&t"), "names are escaped: {html}");
    let page = text(&html);
    let dev = group(&page, "Qualifier dev");
    let prod = group(&page, "Qualifier prod");
    assert!(dev.contains(&format!("HTTP API <b>h&t</b> ({hid}) stage dev, ANY /{{proxy+}}")), "{page}");
    let rest = format!("REST API <script>rest</script> ({rid}) stage live, ANY /{{proxy+}}");
    assert!(dev.contains(&format!("{rest} (canary, 10% of requests)")), "{page}");
    assert!(!dev.contains("stage prod") && !prod.contains("canary"), "{page}");
    assert!(prod.contains(&format!("HTTP API <b>h&t</b> ({hid}) stage prod, ANY /{{proxy+}}")), "{page}");
    assert!(prod.contains(&rest), "{page}");
    assert!(prod.contains(&format!("EventBridge rule to-prod target t1; pattern {pattern}; ENABLED")), "{page}");
    assert!(dev.contains("EventBridge Scheduler schedule default/daily-dev schedule rate(1 day); ENABLED"), "{page}");
    assert!(!dev.contains("EventBridge rule") && !prod.contains("Scheduler"), "{page}");
    let mapping = format!("SQS queue (event source mapping) {queue_arn} mapping {uuid}; state ");
    assert!(prod.contains(&mapping) && prod.contains("batch size 5"), "{page}");
    assert!(!dev.contains("event source mapping"), "{page}");
    assert!(!page.contains("Unqualified"), "{page}");
}

/// An `Authorization` header that routes to `service` (the test server does not verify it).
fn signed_as(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20261205/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htmx_gets_the_fragment_and_a_direct_load_the_page() {
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "frag-fn", testkit::zip::hello()).await;
    let mut b = Browser::new(&server);
    let path = format!("{CONSOLE}/functions/frag-fn?tab=versions");
    let full = b.get(&path).await;
    let fragment = b.send("GET", &path, &[("hx-request", "true")], b"").await;
    let restore = b.send("GET", &path, &[("hx-request", "true"), ("hx-history-restore-request", "true")], b"").await;
    for r in [&full, &fragment, &restore] {
        assert_eq!(r.status, 200);
        assert_eq!(r.header("vary"), Some("HX-Request, Cookie"));
        assert_eq!(
            r.header("content-security-policy"),
            Some(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'"
            )
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    let (full, fragment, restore) = (full.text(), fragment.text(), restore.text());
    assert!(full.starts_with("<!DOCTYPE html>") && full.contains("<main id=\"main\""), "{full}");
    assert!(full.contains("Authentication is off"), "the --auth off banner");
    assert!(fragment.starts_with("<title>frag-fn · Versa console</title>"), "{fragment}");
    assert!(!fragment.contains("<html") && !fragment.contains("<main"), "{fragment}");
    assert!(fragment.contains("<h2 id=\"tab-title\">Versions</h2>"));
    assert!(restore.starts_with("<!DOCTYPE html>"), "a history restore gets the whole page");
    // No inline script or style anywhere (the CSP would block them).
    for page in [&full, &fragment] {
        assert!(!page.contains("<script>") && !page.contains("style="), "{page}");
    }
    for tab in ["Traffic", "Deployments", "History"] {
        assert!(full.contains(&format!(">{tab}</a>")), "{tab} in the tab nav");
    }

    let js = b.get(&format!("{CONSOLE}/static/htmx.min.js")).await;
    assert_eq!((js.status, js.header("cache-control")), (200, Some("public, max-age=86400")));
    assert_eq!(js.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert!(String::from_utf8_lossy(&js.body).contains("2.0.11"));
    assert_eq!(js.header("content-encoding"), None);
    let gz =
        b.send("GET", &format!("{CONSOLE}/static/htmx.min.js"), &[("accept-encoding", "gzip, deflate")], b"").await;
    assert_eq!((gz.status, gz.header("content-encoding")), (200, Some("gzip")));
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz.body[..]), &mut unzipped).unwrap();
    assert_eq!(unzipped, js.body, "the gzipped htmx is the same file");
    assert_eq!(b.get(&format!("{CONSOLE}/static/nope.js")).await.status, 404);
    let r = b.get(CONSOLE).await;
    assert_eq!((r.status, location(&r)), (303, "/_versa/console/"));
    let head = b.send("HEAD", &format!("{CONSOLE}/"), &[], b"").await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    let r = b.get(&format!("{CONSOLE}/functions/no-such-fn")).await;
    assert_eq!(r.status, 404);
    assert!(
        text(&r.text()).contains(
            "ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:000000000000:function:no-such-fn"
        ),
        "{}",
        r.text()
    );
}

/// Page weight and server time per page; `--no-capture` prints the figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_weight_and_server_time() {
    const ROUNDS: u32 = 50;
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "weight-fn", testkit::zip::hello()).await;
    for _ in 0..3 {
        c.update_function_configuration()
            .function_name("weight-fn")
            .description(format!("{:?}", Instant::now()))
            .send()
            .await
            .unwrap();
        c.publish_version().function_name("weight-fn").send().await.unwrap();
    }
    c.create_alias().function_name("weight-fn").name("prod").function_version("3").send().await.unwrap();
    let mut b = Browser::new(&server);
    let mut assets = 0;
    for a in ["htmx.min.js", "console.css"] {
        let path = format!("{CONSOLE}/static/{a}");
        let r = b.send("GET", &path, &[("accept-encoding", "gzip")], b"").await;
        assert_eq!(r.status, 200);
        let plain = b.get(&path).await.body.len();
        println!("asset {a}: {} bytes as sent to a browser ({plain} bytes uncompressed)", r.body.len());
        assets += r.body.len();
    }
    for path in [
        format!("{CONSOLE}/"),
        format!("{CONSOLE}/functions/weight-fn"),
        format!("{CONSOLE}/functions/weight-fn?tab=versions"),
        format!("{CONSOLE}/functions/weight-fn?qualifier=prod&tab=aliases"),
        format!("{CONSOLE}/functions/weight-fn?tab=logs"),
        format!("{CONSOLE}/functions/weight-fn?tab=sources"),
    ] {
        let first = b.get(&path).await;
        assert_eq!(first.status, 200);
        let fragment = b.send("GET", &path, &[("hx-request", "true")], b"").await.body.len();
        let started = Instant::now();
        for _ in 0..ROUNDS {
            assert_eq!(b.get(&path).await.status, 200);
        }
        let per = started.elapsed() / ROUNDS;
        println!(
            "page {path}: {} bytes HTML ({fragment} as a fragment), {} bytes with assets, {per:?} per request",
            first.body.len(),
            first.body.len() + assets
        );
        assert!(per < Duration::from_millis(500), "{path} takes {per:?}");
    }
}
