//! The in-app widget in headless Chromium: a test page served from another origin (the
//! portal's product) embeds `static/widget.js`; the bell shows the exact count, a message
//! arrives live, reading it drops the count, and a hostile body is shown as text.

use serde_json::json;

use crate::browser::{chromium_or_warn, Browser};
use crate::helpers::TestApp;
use crate::inapp::{hash, portal, send};

/// Serves one HTML page on a port of its own: another origin than the server's.
async fn product_page(html: String) -> (String, actix_web::dev::ServerHandle) {
    let server = actix_web::HttpServer::new(move || {
        let html = html.clone();
        actix_web::App::new().route(
            "/",
            actix_web::web::get().to(move || {
                let html = html.clone();
                async move { actix_web::HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html) }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (format!("http://127.0.0.1:{port}"), handle)
}

fn shadow(js: &str) -> String {
    format!("(() => {{ const r = document.querySelector('#organizeo-widget').shadowRoot; return {js}; }})()")
}

async fn the_widget_shows_counts_live_and_text_only(app: TestApp) {
    let Some(binary) = chromium_or_warn() else { return };
    let p = portal(&app, "Acme", "ada@acme.example").await;
    send(&app, &p, json!({"audience": {"user_ids": ["end-1"]}, "title": "Welcome", "body": "Hello there"})).await;
    let html = format!(
        "<!doctype html><html><head><style>div {{ display: none !important; }} button {{ color: red; }}</style></head>\
         <body><h1>Product</h1><script src=\"{}/static/widget.js\" data-app-id=\"{}\" data-user-id=\"end-1\" \
         data-user-hash=\"{}\"></script></body></html>",
        app.address,
        p.app_id,
        hash(&p.secret, "end-1")
    );
    let (origin, page) = product_page(html).await;
    let r = app.patch("/api/v1/inapp/settings", &json!({"allowed_origins": [origin]}), Some(&p.owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut b = Browser::launch(&binary).await;
    b.call("Page.navigate", json!({"url": format!("{origin}/")})).await;
    b.wait_until("the widget", "!!document.querySelector('#organizeo-widget')").await;
    b.wait_until("the count", &shadow("r.querySelector('.badge').textContent === '1'")).await;
    // The host page's `div { display: none }` cannot hide the widget's panel contents.
    b.wait_until(
        "live socket",
        "!!(window.__organizeoWidget.socket && window.__organizeoWidget.socket.readyState === 1)",
    )
    .await;
    // A live message, with markup in its body.
    let live = app
        .post(
            "/api/v1/inapp/messages",
            &json!({"audience": {"user_ids": ["end-1"]}, "title": "Live one", "body": "<img src=x onerror=alert(1)>"}),
            Some(&p.owner.token),
        )
        .await;
    assert_eq!(live.status, 202, "{}", live.text);
    b.wait_until("the live count", &shadow("r.querySelector('.badge').textContent === '2'")).await;
    b.wait_until("the live item", &shadow("r.querySelector('.list').textContent.includes('Live one')")).await;
    assert_eq!(b.eval(&shadow("r.querySelectorAll('img').length")).await, 0, "markup is text");
    assert!(b
        .eval(&shadow("r.querySelector('.list').textContent"))
        .await
        .as_str()
        .unwrap()
        .contains("<img src=x onerror=alert(1)>"));
    // Open the panel (marks seen), read the newest item: the count drops.
    b.eval(&shadow("(r.querySelector('.bell').click(), true)")).await;
    b.eval(&shadow("(r.querySelector('.item').click(), true)")).await;
    b.wait_until("the count after reading", &shadow("r.querySelector('.badge').textContent === '1'")).await;
    let c = crate::inapp::counts(&app, &p, "end-1").await;
    assert_eq!(c, (1, 0, 2), "read one, both seen");
    let visible = b.eval(&shadow("getComputedStyle(r.querySelector('.panel')).display")).await;
    assert_ne!(visible, "none", "the host page's CSS does not reach the shadow DOM");
    let shot = b.screenshot(&format!("widget-{}.png", if app.is_postgres() { "postgres" } else { "sqlite" })).await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 5_000);
    page.stop(true).await;
}

crate::both_backends!(the_widget_shows_counts_live_and_text_only);
