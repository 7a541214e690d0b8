//! The console's own views over HTTP (issue 12 point 3): live traffic by executed version,
//! the alias history, promote through a deployment config, a deployment's progress, stop and
//! stop-and-roll-back — each checked against what the Lambda API then answers.

use std::time::{Duration, Instant};

use aws_sdk_lambda::types::AliasRoutingConfiguration;
use testkit::TestServer;
use testkit::http::{Client as Http, Response};

use crate::support::create;

/// A console visitor: one cookie session (`--auth off`), its CSRF token.
pub(crate) struct Visitor {
    http: Http,
    cookie: String,
    pub(crate) csrf: String,
}

/// The value of `name="csrf" value="…"` in a page.
fn csrf_of(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(page[at..].split('"').next()?.to_owned())
}

impl Visitor {
    /// Starts a session on `page` (one with a form: its CSRF token is read there).
    pub(crate) async fn open(server: &TestServer, page: &str) -> Visitor {
        let mut http = Http::new(server.addr);
        let first = http.send("GET", page, &[], b"").await.unwrap();
        assert_eq!(first.status, 200, "{}", first.text());
        let cookie = first.header("set-cookie").expect("a session cookie").split(';').next().unwrap().to_owned();
        let csrf = csrf_of(&first.text()).expect("a CSRF token on the page");
        Visitor { http, cookie, csrf }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Response {
        self.http.send("GET", path, &[("cookie", &self.cookie)], b"").await.unwrap()
    }

    /// A GET as htmx sends it (the fragment).
    pub(crate) async fn get_fragment(&mut self, path: &str) -> Response {
        self.http.send("GET", path, &[("cookie", &self.cookie), ("hx-request", "true")], b"").await.unwrap()
    }

    /// A form POST with the session's CSRF token added.
    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("csrf", &self.csrf.clone());
        for (k, v) in fields {
            form.append_pair(k, v);
        }
        self.post_raw(path, &form.finish()).await
    }

    pub(crate) async fn post_raw(&mut self, path: &str, body: &str) -> Response {
        let headers = [("cookie", self.cookie.as_str()), ("content-type", "application/x-www-form-urlencoded")];
        self.http.send("POST", path, &headers, body.as_bytes()).await.unwrap()
    }
}

/// A page's text: tags removed, whitespace runs made one space.
pub(crate) fn page_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Waits until `f` answers `Some`, up to `limit`.
pub(crate) async fn eventually<T, F, Fut>(limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The primary version and routing weights of an alias, as GetAlias answers.
pub(crate) async fn alias_state(c: &aws_sdk_lambda::Client, f: &str, alias: &str) -> (String, Vec<(String, f64)>) {
    let a = c.get_alias().function_name(f).name(alias).send().await.unwrap();
    let mut weights: Vec<(String, f64)> = a
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    weights.sort_by(|a, b| a.0.cmp(&b.0));
    (a.function_version().unwrap_or_default().to_owned(), weights)
}

/// A function `name` with versions 1 and 2, `prod` on 1 (with 2 at `weight` when given) and
/// `beta` on 2.
pub(crate) async fn two_versions(c: &aws_sdk_lambda::Client, name: &str, weight: Option<f64>) {
    create(c, name, testkit::zip::hello()).await;
    for n in 1..=2 {
        c.update_function_configuration().function_name(name).description(format!("v{n}")).send().await.unwrap();
        c.publish_version().function_name(name).send().await.unwrap();
    }
    let mut prod = c.create_alias().function_name(name).name("prod").function_version("1");
    if let Some(w) = weight {
        prod = prod.routing_config(AliasRoutingConfiguration::builder().additional_version_weights("2", w).build());
    }
    prod.send().await.unwrap();
    c.create_alias().function_name(name).name("beta").function_version("2").send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_history_promote_and_stop_over_http() {
    let server = TestServer::start().await;
    let c = server.lambda();
    two_versions(&c, "live", Some(0.5)).await;
    const CALLS: usize = 12;
    for _ in 0..CALLS {
        c.invoke().function_name("live").qualifier("prod").send().await.unwrap();
    }
    let mut v = Visitor::open(&server, "/_versa/console/functions/live?tab=deployments").await;

    // Traffic: the fragment htmx polls, counted by executed version (no flush needed).
    let traffic = "/_versa/console/functions/live/aliases/prod/traffic";
    let r = v.get_fragment(traffic).await;
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(!html.contains("<!DOCTYPE"), "a fragment: {html}");
    assert!(html.contains("hx-trigger=\"every 2s\""), "{html}");
    let text = page_text(&html);
    assert!(text.contains("Version Configured Invocations Observed share Errors Error rate 1 50% "), "{text}");
    assert!(html.contains("<tr data-version=\"2\"><th scope=\"row\" data-label=\"Version\">2</th><td data-label=\"Configured\">50%</td>"), "{html}");
    assert!(text.contains(&format!("All {CALLS} 0 ")), "{text}");
    // With JavaScript off: a page of its own, the same table.
    let page = v.get(traffic).await;
    assert_eq!(page.status, 200);
    assert!(page.text().starts_with("<!DOCTYPE html>") && page.text().contains("Traffic of live:prod"));
    // The Traffic tab has a panel per alias.
    let tab = v.get("/_versa/console/functions/live?tab=traffic").await.text();
    assert!(tab.contains("id=\"traffic-prod\"") && tab.contains("id=\"traffic-beta\""), "{tab}");
    let missing = v.get("/_versa/console/functions/live/aliases/nope/traffic").await;
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("ResourceNotFoundException"), "{}", missing.text());

    // Promote needs prod unweighted (the deployment starts from `(C, {})`).
    c.update_alias()
        .function_name("live")
        .name("prod")
        .function_version("1")
        .routing_config(AliasRoutingConfiguration::builder().build())
        .send()
        .await
        .unwrap();
    // The promote form offers the predefined Lambda configs and the account's own.
    let mut raw = Http::new(server.addr);
    let config = serde_json::json!({"deploymentConfigName": "mine-linear-20", "computePlatform": "Lambda",
        "trafficRoutingConfig": {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 20, "linearInterval": 1}}});
    let headers = [
        ("x-amz-target", "CodeDeploy_20141006.CreateDeploymentConfig"),
        ("content-type", "application/x-amz-json-1.1"),
    ];
    let created = raw.send("POST", "/", &headers, config.to_string().as_bytes()).await.unwrap();
    assert_eq!(created.status, 200, "{}", created.text());
    let form = v.get("/_versa/console/functions/live?tab=deployments").await.text();
    for option in
        ["CodeDeployDefault.LambdaAllAtOnce", "CodeDeployDefault.LambdaLinear10PercentEvery1Minute", "mine-linear-20"]
    {
        assert!(form.contains(&format!("<option value=\"{option}\"")), "{option} offered: {form}");
    }
    let promote = "/_versa/console/functions/live/promote";
    let canary = "CodeDeployDefault.LambdaCanary10Percent5Minutes";
    // Without the CSRF token: refused, nothing deployed.
    let refused = v.post_raw(promote, "source=beta&target=prod&config=CodeDeployDefault.LambdaAllAtOnce").await;
    assert_eq!(refused.status, 403);
    // Bad input: shown inline as the API words it, nothing changes.
    let same = v.post(promote, &[("source", "prod"), ("target", "prod"), ("config", canary)]).await;
    assert_eq!(same.status, 400);
    assert!(same.text().contains("role=\"alert\"") && same.text().contains("InvalidParameterValueException"));
    let bogus = v.post(promote, &[("source", "beta"), ("target", "prod"), ("config", "NoSuchConfig")]).await;
    assert!(bogus.text().contains("DeploymentConfigDoesNotExistException"), "{}", bogus.text());
    assert_eq!(alias_state(&c, "live", "prod").await, ("1".to_owned(), vec![]));

    // Promote beta (2) → prod through a canary: the first step is written at once.
    let started = v.post(promote, &[("source", "beta"), ("target", "prod"), ("config", canary)]).await;
    assert_eq!(started.status, 303, "{}", started.text());
    let location = started.header("location").unwrap().to_owned();
    assert!(location.starts_with("/_versa/console/deployments/d-"), "{location}");
    let id = location.rsplit('/').next().unwrap().to_owned();
    eventually(Duration::from_secs(15), || async {
        (alias_state(&c, "live", "prod").await == ("1".to_owned(), vec![("2".to_owned(), 0.1)])).then_some(())
    })
    .await;
    let progress = v.get(&location).await.text();
    assert!(progress.contains(&format!("Deployment {id} started.")), "the flash: {progress}");
    assert!(progress.contains("<strong id=\"deployment-status\">InProgress</strong>"), "{progress}");
    assert!(progress.contains("<td>1 (90%) and 2 (10%)</td><td>done</td>"), "{progress}");
    assert!(progress.contains("<td>2 (100%)</td><td>next</td>"), "{progress}");
    assert!(progress.contains("hx-trigger=\"every 2s\""), "polled while running");
    let listed = v.get("/_versa/console/functions/live?tab=deployments").await.text();
    assert!(listed.contains(&id) && listed.contains(canary), "{listed}");

    // Stop and roll back: prod back on 1 alone, as GetAlias says.
    let stopped = v.post(&format!("{location}/stop"), &[("rollback", "true")]).await;
    assert_eq!(stopped.status, 303);
    assert_eq!(alias_state(&c, "live", "prod").await, ("1".to_owned(), vec![]));
    let progress = v.get(&location).await.text();
    assert!(progress.contains("<strong id=\"deployment-status\">Stopped</strong>"), "{progress}");
    assert!(!progress.contains("hx-trigger"), "no polling once finished");
    let again = v.post(&format!("{location}/stop"), &[("rollback", "true")]).await;
    assert_eq!(again.status, 400);
    assert!(again.text().contains("DeploymentAlreadyCompletedException"));

    // The history: who moved prod, when, from what to what.
    let history = v.get("/_versa/console/functions/live?tab=history&alias=prod").await.text();
    for needle in [
        "CreateAlias",
        "UpdateAlias",
        "DeploymentStep",
        "Rollback",
        &format!("<a href=\"/_versa/console/deployments/{id}\">deployment {id}</a>"),
        "1 (50%) and 2 (50%) → 1",
        "1 → 1 (90%) and 2 (10%)",
    ] {
        assert!(history.contains(needle), "{needle} in {history}");
    }
    assert!(!history.contains("data-label=\"Alias\">beta<"), "filtered to prod");
    // Page weight and server time (loopback round trip) of the live views, for the record.
    const ROUNDS: u32 = 20;
    for path in [
        traffic.to_owned(),
        "/_versa/console/functions/live?tab=traffic".to_owned(),
        "/_versa/console/functions/live?tab=deployments".to_owned(),
        "/_versa/console/functions/live?tab=history".to_owned(),
        location.clone(),
    ] {
        let fragment = v.get_fragment(&path).await.body.len();
        let started = Instant::now();
        for _ in 0..ROUNDS {
            assert_eq!(v.get(&path).await.status, 200);
        }
        let per = started.elapsed() / ROUNDS;
        let page = v.get(&path).await.body.len();
        println!("{path}: {page} bytes, fragment {fragment} bytes, {per:?} per request");
    }
    let redirect = v.get("/_versa/console/functions/live/history").await;
    assert_eq!(
        (redirect.status, redirect.header("location")),
        (303, Some("/_versa/console/functions/live?tab=history"))
    );
}
