//! The console in a real browser (headless Chromium through chromedriver; see `browser.rs`):
//! the release story — publish, alias, weighted alias, live traffic, promote through a
//! deployment config, stop and roll back — driven as a user would, asserting what the page
//! shows and what the Lambda API then answers. Screenshots of the main pages at desktop and
//! phone sizes go to `$CARGO_TARGET_DIR/console-screenshots/` (not committed).
//!
//! One test, one browser session: each browser test costs a Chromium start, so they stay few
//! and whole.

use std::path::Path;

use fantoccini::key::Key;
use testkit::TestServer;

use crate::browser::{self, Browser, DESKTOP, PHONE};
use crate::console_live::alias_state;
use crate::support::create;

/// Screenshots of the page as it is now, at the desktop and the phone size, scrolled to `at`.
async fn shoot(b: &Browser, dir: &Path, name: &str, at: &str) {
    for (size, suffix) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
        b.viewport(size).await;
        let script = "document.querySelector(arguments[0]).scrollIntoView();";
        b.client.execute(script, vec![serde_json::json!(at)]).await.unwrap();
        b.screenshot(dir, &format!("{name}-{suffix}")).await;
        // No horizontal scrolling of the page itself at either size (wide tables scroll in
        // their own box); the message names the elements that stick out.
        let wide: serde_json::Value = b
            .client
            .execute(
                "const w = document.documentElement.clientWidth;
                 if (document.documentElement.scrollWidth <= w) return [];
                 return [...document.querySelectorAll('body *')]
                   .filter(e => e.getBoundingClientRect().right > w + 1)
                   .slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '') + ' ' + e.outerHTML.slice(0, 120));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(wide, serde_json::json!([]), "{name} scrolls sideways at {size:?}");
    }
    b.viewport(DESKTOP).await;
}

async fn click(b: &Browser, css: &str) {
    b.find(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn select(b: &Browser, css: &str, value: &str) {
    b.find(css).await.select_by_value(value).await.unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
}

async fn type_into(b: &Browser, css: &str, text: &str) {
    let e = b.find(css).await;
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_story_in_chromium() {
    if !browser::available() {
        return;
    }
    let server = TestServer::start().await;
    let c = server.lambda();
    create(&c, "shop", testkit::zip::hello()).await;
    let b = Browser::start().await;
    let console = format!("{}/_versa/console", server.endpoint());
    let function = format!("{console}/functions/shop");
    let shots = browser::screenshot_dir();

    // The function list.
    b.goto(&format!("{console}/")).await;
    b.wait_text("main", "shop").await;
    assert!(b.text("body").await.contains("Authentication is off"), "the --auth off banner");
    shoot(&b, &shots, "list", "main").await;

    // Actions → Publish new version, twice ($LATEST changed in between).
    for (n, description) in [(1, "first"), (2, "second")] {
        c.update_function_configuration().function_name("shop").description(description).send().await.unwrap();
        b.goto(&function).await;
        click(&b, "details.actions summary").await;
        type_into(&b, "#publish-description", description).await;
        click(&b, "details.actions form button[type=submit]").await;
        b.wait_text("main", &format!("Published version {n} of shop.")).await;
    }
    let versions = c.list_versions_by_function().function_name("shop").send().await.unwrap();
    let described: Vec<(&str, &str)> = versions
        .versions()
        .iter()
        .map(|v| (v.version().unwrap_or_default(), v.description().unwrap_or_default()))
        .collect();
    assert_eq!(described, [("$LATEST", "second"), ("1", "first"), ("2", "second")]);
    b.goto(&format!("{function}?tab=versions")).await;
    shoot(&b, &shots, "versions", "main").await;

    // Aliases: prod → 1, beta → 2, then prod weighted 80/20 with 2.
    for (alias, version) in [("prod", "1"), ("beta", "2")] {
        b.goto(&format!("{function}?tab=aliases")).await;
        type_into(&b, "#create-name", alias).await;
        select(&b, "#create-version", version).await;
        click(&b, "#create-alias button[type=submit]").await;
        b.wait_text("main", &format!("Created alias {alias} → {version}.")).await;
    }
    b.goto(&format!("{function}?tab=aliases")).await;
    click(&b, "#alias-prod summary").await;
    select(&b, "#additional-prod", "2").await;
    type_into(&b, "#weight-prod", "20").await;
    click(&b, "#alias-prod form[action$='/aliases/prod'] button[type=submit]").await;
    b.wait_text("main", "Updated alias prod → 1 (80%) and 2 (20%).").await;
    assert_eq!(alias_state(&c, "shop", "prod").await, ("1".to_owned(), vec![("2".to_owned(), 0.2)]));
    shoot(&b, &shots, "aliases", "#tab-title").await;

    // Live traffic: the table refreshes by itself (no reload: a mark left on the page stays).
    b.goto(&format!("{function}?tab=traffic")).await;
    b.wait_text("#traffic-prod tfoot", "All").await;
    b.client.execute("window.versaMark = 1;", vec![]).await.unwrap();
    const CALLS: usize = 20;
    for _ in 0..CALLS {
        c.invoke().function_name("shop").qualifier("prod").send().await.unwrap();
    }
    let total = b.wait_text("#traffic-prod tfoot", &format!("All {CALLS}")).await;
    assert!(total.starts_with(&format!("All {CALLS}")), "{total}");
    let mark = b.client.execute("return window.versaMark === 1;", vec![]).await.unwrap();
    assert_eq!(mark, serde_json::json!(true), "the page was not reloaded");
    let rows = b.text("#traffic-prod tbody").await;
    assert!(rows.contains("1 80%") && rows.contains("2 20%"), "configured weights per version: {rows}");
    shoot(&b, &shots, "traffic", "#traffic-prod").await;

    // Back to prod alone, then promote beta → prod through a canary (10 %, then 5 minutes).
    b.goto(&format!("{function}?tab=aliases")).await;
    click(&b, "#alias-prod summary").await;
    select(&b, "#additional-prod", "").await;
    click(&b, "#alias-prod form[action$='/aliases/prod'] button[type=submit]").await;
    b.wait_text("main", "Updated alias prod → 1.").await;
    b.goto(&format!("{function}?tab=deployments")).await;
    select(&b, "#promote-source", "beta").await;
    select(&b, "#promote-target", "prod").await;
    select(&b, "#promote-config", "CodeDeployDefault.LambdaCanary10Percent5Minutes").await;
    click(&b, "#promote-button").await;
    b.wait_text("main", "started.").await;
    b.wait_text("#alias-now", "1 (90%) and 2 (10%)").await;
    assert_eq!(b.text("#deployment-status").await, "InProgress");
    assert_eq!(alias_state(&c, "shop", "prod").await, ("1".to_owned(), vec![("2".to_owned(), 0.1)]));
    let url = b.client.current_url().await.unwrap();
    assert!(url.path().starts_with("/_versa/console/deployments/d-"), "{url}");
    shoot(&b, &shots, "deployment", "main").await;

    // Keyboard: from "Stop", Tab to "Stop and roll back", Enter.
    b.client.execute("document.getElementById('stop').focus();", vec![]).await.unwrap();
    b.client.active_element().await.unwrap().send_keys(&Key::Tab).await.unwrap();
    let focused = b.client.active_element().await.unwrap();
    assert_eq!(focused.attr("id").await.unwrap().as_deref(), Some("stop-rollback"));
    focused.send_keys(&Key::Enter).await.unwrap();
    b.wait_text("main", "stopped and rolled back.").await;
    assert_eq!(b.text("#deployment-status").await, "Stopped");
    assert_eq!(b.text("#alias-now").await, "1");
    assert_eq!(alias_state(&c, "shop", "prod").await, ("1".to_owned(), vec![]));

    // The history of prod, newest first: the rollback by the deployment on top.
    b.goto(&format!("{function}?tab=history&alias=prod")).await;
    b.wait_text("table.history tbody", "Rollback").await;
    let operations = b
        .client
        .execute(
            "return [...document.querySelectorAll('table.history tbody tr td:nth-child(4)')].map(td => td.textContent);",
            vec![],
        )
        .await
        .unwrap();
    let expected = ["Rollback", "DeploymentStep", "UpdateAlias", "UpdateAlias", "CreateAlias"];
    assert_eq!(operations, serde_json::json!(expected));
    let newest = b.text("table.history tbody tr").await;
    assert!(newest.contains("deployment d-") && newest.contains("1 (90%) and 2 (10%) → 1"), "{newest}");
    shoot(&b, &shots, "history", "#tab-title").await;
    b.close().await;
}
