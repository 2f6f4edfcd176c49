//! The web app's live pages in headless Chromium (ORGANIZEO_TEST_CHROMIUM; without it the
//! test says loudly that it DID NOT RUN), on both databases, with a real SMTP sink:
//! `static/live.js` opens the page's websocket and a sending campaign's page shows its
//! sent count rising to the final number without reloading (the `<noscript>` refresh does
//! not fire), then reloads once when the campaign finishes so its buttons match; the bell
//! counts a new notification while the page stays open (on the dashboard too, where
//! dashboard.js holds the websocket); hostile campaign and portal names stay text.

use std::time::Duration;

use serde_json::json;

use crate::browser::{chromium_or_warn, Browser};
use crate::campaigns::{campaign_tests, setup};
use crate::helpers::{TestApp, PASSWORD};
use crate::smtp_sink::SmtpSink;
use crate::web_browser::go;

campaign_tests!(a_sending_campaign_and_the_bell_update_in_place);

const RECIPIENTS: usize = 24;
const HOSTILE_CAMPAIGN: &str = "<img src=x onerror=\"window.__xss=1\">Launch";
const HOSTILE_PORTAL: &str = "Acme <img src=x onerror=\"window.__xss=2\">";

/// The bell's count as the page shows it ("" when there is nothing unread).
const BELL: &str = "document.querySelector('#bell-count').textContent";

async fn a_sending_campaign_and_the_bell_update_in_place(app: TestApp, sink: SmtpSink) {
    let Some(binary) = chromium_or_warn() else { return };
    sink.slow(Duration::from_millis(20));
    let owner = app.signup(HOSTILE_PORTAL, "ada@acme.example").await;
    let member = app.member(&owner, "mo@acme.example", "member").await;
    let (email, segment) = setup(&app, &owner, RECIPIENTS).await;
    // 24 recipients at 3 a second: about eight seconds of sending, a progress event at most
    // every half second, and the page's <noscript> refresh (5 s) would have fired by then.
    let r = app.patch("/api/v1/tenant", &json!({"sending_rate_per_second": 3}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let draft = json!({"name": HOSTILE_CAMPAIGN, "email_id": email, "segment_id": segment, "from_name": "Acme",
        "from_email": "news@acme.example"});
    let r = app.post("/api/v1/campaigns", &draft, Some(&owner.token)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();

    let mut b = Browser::launch(&binary).await;
    go(&mut b, &app, "/app/login").await;
    b.eval(&format!(
        "(() => {{ const f = document.querySelector('#login-form'); f.elements['email'].value = 'ada@acme.example'; \
         f.elements['password'].value = {}; f.requestSubmit(); return true; }})()",
        json!(PASSWORD)
    ))
    .await;
    b.wait_until("the dashboard", "document.readyState === 'complete' && location.pathname === '/app/dashboard'").await;

    // (c) Hostile names are text: in the page, the header and the title.
    let page = format!("/app/campaigns/{id}");
    go(&mut b, &app, &page).await;
    assert_eq!(b.eval("document.querySelector('#campaign-name').textContent").await, HOSTILE_CAMPAIGN);
    assert_eq!(b.eval("document.querySelector('header .brand span').textContent").await, HOSTILE_PORTAL);
    assert_eq!(b.eval("document.querySelectorAll('main img, header img').length").await, 0);
    assert_eq!(b.eval("document.title.includes('<img src=x')").await, true);
    assert_eq!(b.eval("document.querySelector('[data-live-campaign]') === null").await, true, "a draft is not live");

    // (a) Send from the page: the page it lands on follows the campaign live.
    b.eval("window.__before = true").await;
    b.eval("(() => { document.querySelector('#send-now').click(); return true; })()").await;
    b.wait_until(
        "the sending campaign's page",
        &format!(
            "!window.__before && document.readyState === 'complete' && location.pathname === {} \
             && document.querySelector('[data-live-campaign]')?.dataset.liveStatus === 'sending'",
            json!(page)
        ),
    )
    .await;
    b.wait_until("the live hint", "!document.querySelector('#campaign-live').hidden").await;
    assert_eq!(
        b.eval("document.querySelector('#campaign-live').textContent").await,
        "Live: the figures update as the campaign goes out."
    );
    // Every change of the sent figure is written down, with whether this is still the same
    // document (the marker), in sessionStorage: it outlives the one reload at the end.
    b.eval(
        "(() => { window.__marker = 1; sessionStorage.setItem('seen', '[]'); \
         const cell = document.querySelector('#campaign-stats [data-stat=sent]'); \
         const note = () => { const s = JSON.parse(sessionStorage.getItem('seen')); \
           s.push([cell.textContent, window.__marker === 1, document.querySelector('#campaign-progress').value]); \
           sessionStorage.setItem('seen', JSON.stringify(s)); }; \
         note(); \
         new MutationObserver(note).observe(cell, {childList: true, characterData: true, subtree: true}); \
         return true; })()",
    )
    .await;
    let total = RECIPIENTS.to_string();
    b.wait_until(
        "the final sent count, live",
        &format!("JSON.parse(sessionStorage.getItem('seen')).some(s => s[0] === {} && s[1])", json!(total)),
    )
    .await;
    // Then the one reload for the final status: the buttons match it, nothing is live.
    b.wait_until(
        "the completed campaign, reloaded once",
        "document.readyState === 'complete' && window.__marker === undefined \
         && document.querySelector('#campaign-status')?.dataset.status === 'completed'",
    )
    .await;
    let seen = b.eval("JSON.parse(sessionStorage.getItem('seen'))").await;
    let seen = seen.as_array().unwrap();
    let counts: Vec<u64> = seen.iter().map(|s| s[0].as_str().unwrap().parse().unwrap()).collect();
    assert!(seen.iter().all(|s| s[1] == true), "one document all along: {seen:?}");
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "the count only rises: {counts:?}");
    assert!(counts.first() < counts.last(), "seen rising: {counts:?}");
    assert_eq!(
        (counts.last(), seen.last().unwrap()[2].as_u64()),
        (Some(&(RECIPIENTS as u64)), Some(RECIPIENTS as u64))
    );
    assert_eq!(b.eval("performance.getEntriesByType('navigation')[0].type").await, "reload");
    assert_eq!(b.eval("document.querySelector('#campaign-stats [data-stat=sent]').textContent").await, total);
    assert_eq!(b.eval("document.querySelector('[data-live-campaign]') === null").await, true);
    assert_eq!(b.eval("!!document.querySelector('#campaign-pause')").await, false, "no pause button when done");
    assert_eq!(sink.messages().len(), RECIPIENTS);

    // (b) The bell, on this (no longer live) page: a task assigned by a colleague arrives.
    b.eval("window.__marker = 2").await;
    let before = app.get("/api/v1/me/notifications/counts", Some(&owner.token)).await.body["unread"].as_u64().unwrap();
    let shown = |n: u64| if n == 0 { String::new() } else { n.to_string() };
    b.wait_until("the bell's first count", &format!("{BELL} === {}", json!(shown(before)))).await;
    let task = json!({"title": "<b>Call</b> back", "assignee_id": owner.user_id});
    let r = app.post("/api/v1/tasks", &task, Some(&member.token)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    b.wait_until("the bell's new count", &format!("{BELL} === {}", json!(shown(before + 1)))).await;
    assert_eq!(b.eval("window.__marker").await, 2, "the bell changed without a reload");
    assert_eq!(b.eval("document.querySelector('#bell-count').hidden").await, false);

    // On the dashboard dashboard.js holds the page's one websocket and tells the bell.
    go(&mut b, &app, "/app/dashboard").await;
    b.wait_until("the live dashboard", "document.querySelector('#status')?.dataset.state === 'live'").await;
    b.wait_until("the dashboard's bell", &format!("{BELL} === {}", json!(shown(before + 1)))).await;
    assert_eq!(b.eval("window.__organizeoLive === undefined").await, true, "live.js opened no socket here");
    b.eval("window.__marker = 3").await;
    let r = app.post("/api/v1/tasks", &task, Some(&member.token)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    b.wait_until("the dashboard's bell, counting", &format!("{BELL} === {}", json!(shown(before + 2)))).await;
    assert_eq!(b.eval("window.__marker").await, 3);
    assert_eq!(b.eval("window.__xss === undefined").await, true, "no hostile name ran");
}
