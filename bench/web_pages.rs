//! The web app's pages at the seeded size (issue 17: "every page answers in under 50 ms of
//! server time with 100,000 contacts in the portal"), run by `crm_bench` after its API
//! figures (`CRM_BENCH_WEB=only` skips those; `CRM_BENCH_WEB=0` skips this).
//!
//! Signs in through the forms as a browser does (cookie jar, CSRF token), then requests
//! every `GET` route of `organizeo::web::PAGES` one at a time — one request in flight, so
//! the figure is the server's time plus a loopback round trip (an upper bound on server
//! time) — with `{id}` filled for a contact, a segment (`tags eq t1`, 2% of the portal), an
//! email and a draft campaign to it. Prints p50, p99 and max per page, and how many pages
//! have a p50 over 50 ms.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Routes not measured as pages, and why (printed).
const SKIPPED: &[(&str, &str)] = &[
    ("/app/exports/download", "a download of every record (streamed CSV), not a page"),
    ("/app/imports/mapping", "needs an upload in progress"),
    ("/app/imports/{id}", "needs an import"),
    ("/app/imports/{id}/errors.csv", "needs an import"),
];

struct Browser {
    http: awc::Client,
    base: String,
    jar: BTreeMap<String, String>,
    csrf: String,
}

impl Browser {
    async fn send(&mut self, method: awc::http::Method, path: &str, form: Option<String>) -> (u16, String) {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        let cookie = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        if !cookie.is_empty() {
            req = req.insert_header(("Cookie", cookie));
        }
        let sent = match form {
            Some(body) => {
                req.insert_header(("Content-Type", "application/x-www-form-urlencoded")).send_body(body).await
            }
            None => req.send().await,
        };
        let mut res = sent.expect("send");
        for c in res.headers().get_all("set-cookie").filter_map(|v| v.to_str().ok()) {
            let first = c.split(';').next().unwrap_or_default();
            if let Some((name, value)) = first.split_once('=') {
                if value.is_empty() || c.to_ascii_lowercase().contains("max-age=0") {
                    self.jar.remove(name);
                } else {
                    self.jar.insert(name.to_string(), value.to_string());
                }
            }
        }
        let body = res.body().limit(64 << 20).await.expect("body");
        let text = String::from_utf8_lossy(&body).into_owned();
        for marker in ["<meta name=\"csrf-token\" content=\"", "name=\"csrf\" value=\""] {
            if let Some(start) = text.find(marker).map(|s| s + marker.len()) {
                if let Some(end) = text[start..].find('"') {
                    self.csrf = text[start..start + end].to_string();
                    break;
                }
            }
        }
        (res.status().as_u16(), text)
    }
}

/// Creates what the `{id}` pages need through the API (bearer `token`), signs in through
/// the forms and measures every page `samples` times.
pub async fn run(base: &str, token: &str, email: &str, password: &str, contact_id: &str, samples: usize) {
    let http = awc::Client::builder().disable_redirects().timeout(Duration::from_secs(60)).finish();
    let api = |path: &str, body: Value| {
        let req = http.post(format!("{base}{path}")).insert_header(("Authorization", format!("Bearer {token}")));
        let path = path.to_string();
        async move {
            let mut res = req.send_json(&body).await.expect("send");
            let v: Value = res.json().limit(1 << 20).await.expect("json");
            assert_eq!(res.status().as_u16(), 201, "{path}: {v}");
            v["id"].as_str().expect("id").to_string()
        }
    };
    let segment = api(
        "/api/v1/segments",
        json!({"name": "Tag t1", "filter_groups": [{"filters": [{"field": "tags", "op": "eq", "value": "t1"}]}]}),
    )
    .await;
    let email_id = api(
        "/api/v1/emails",
        json!({"name": "Launch", "subject": "Hi {{ contact.first_name }}",
               "html": "<p>Hello {{ contact.first_name | default('there') }}</p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a>",
               "text": "Hello {{ contact.first_name }}! {{ unsubscribe_url }}"}),
    )
    .await;
    let campaign = api(
        "/api/v1/campaigns",
        json!({"name": "Launch", "email_id": email_id, "segment_id": segment, "from_name": "Bench", "from_email": "news@bench.example"}),
    )
    .await;

    // One record of each other kind, linked to the contact, for their `{id}` pages.
    let links = json!([contact_id]);
    let company = api("/api/v1/companies", json!({"name": "Acme BV"})).await;
    let deal =
        api("/api/v1/deals", json!({"name": "Big deal", "amount": "1250.10", "currency": "EUR", "contact_ids": links}))
            .await;
    let ticket = api("/api/v1/tickets", json!({"subject": "Printer on fire", "contact_ids": links})).await;
    let task = api("/api/v1/tasks", json!({"title": "Call back", "contact_ids": links})).await;
    let note = api("/api/v1/notes", json!({"body": "Met at the fair", "contact_ids": links})).await;
    let pipeline =
        api("/api/v1/pipelines", json!({"name": "Sales", "stages": [{"name": "Lead"}, {"name": "Won"}]})).await;
    let value = api("/api/v1/custom-values", json!({"key": "city", "value": "Delft"})).await;

    let mut b = Browser { http: http.clone(), base: base.to_string(), jar: BTreeMap::new(), csrf: String::new() };
    b.send(awc::http::Method::GET, "/app/login", None).await;
    let form = serde_urlencoded::to_string([("email", email), ("password", password), ("csrf", &b.csrf.clone())])
        .expect("form");
    let (status, _) = b.send(awc::http::Method::POST, "/app/login", Some(form)).await;
    assert_eq!(status, 303, "web sign-in");
    b.send(awc::http::Method::GET, "/app/dashboard", None).await;

    println!("# web pages: one request in flight, {samples} samples each after 3 warm-up requests");
    println!("# (client-measured over loopback: server time plus one local round trip)");
    let ids = [
        ("/app/contacts/{id}", contact_id),
        ("/app/segments/{id}", &segment),
        ("/app/emails/{id}", &email_id),
        ("/app/campaigns/{id}", &campaign),
        ("/app/companies/{id}", &company),
        ("/app/deals/{id}", &deal),
        ("/app/tickets/{id}", &ticket),
        ("/app/tasks/{id}", &task),
        ("/app/notes/{id}", &note),
        ("/app/pipelines/{id}", &pipeline),
        ("/app/custom-values/{id}", &value),
    ];
    let (mut over, mut measured, mut worst) = (0, 0, (0.0, String::new()));
    for (method, route) in organizeo::web::PAGES {
        if *method != "get" || route.starts_with("/app/static/") || route.ends_with(".css") || route.ends_with(".js") {
            continue;
        }
        if let Some((_, why)) = SKIPPED.iter().find(|(r, _)| r == route) {
            println!("{route:<60} not measured: {why}");
            continue;
        }
        let mut path = route.to_string();
        if path.contains("{id}") {
            let Some((_, id)) = ids
                .iter()
                .find(|(prefix, _)| path.starts_with(prefix.trim_end_matches("/{id}")) && path.contains("{id}"))
            else {
                println!("{route:<60} not measured: no such record seeded");
                continue;
            };
            path = path.replace("{id}", id).replace("{n}", "1");
        }
        if path == "/app/contacts" {
            // The list as a marketer uses it at this size: plain, filtered, sorted.
            for extra in ["", "?filter=tags+eq+t1", "?sort=last_name", "?filter=email+eq+seed77%40x.example"] {
                let p = format!("{path}{extra}");
                let p50 = time_page(&mut b, &p, samples).await;
                (measured, over) = (measured + 1, over + usize::from(p50 > 50.0));
                if p50 > worst.0 {
                    worst = (p50, p.clone());
                }
            }
            continue;
        }
        let p50 = time_page(&mut b, &path, samples).await;
        (measured, over) = (measured + 1, over + usize::from(p50 > 50.0));
        if p50 > worst.0 {
            worst = (p50, path.clone());
        }
    }
    println!("# {measured} pages measured; p50 over 50 ms: {over}; slowest p50 {:.1} ms ({})", worst.0, worst.1);
}

/// Requests `path` `samples` times after 3 warm-ups; prints and returns its p50.
async fn time_page(b: &mut Browser, path: &str, samples: usize) -> f64 {
    let mut status = 0;
    let mut bytes = 0;
    for _ in 0..3 {
        b.send(awc::http::Method::GET, path, None).await;
    }
    let mut ms = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        let (s, body) = b.send(awc::http::Method::GET, path, None).await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        (status, bytes) = (s, body.len());
    }
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{path:<60} {status}  {:>7} B  p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms",
        bytes,
        at(0.5),
        at(0.99),
        ms.last().copied().unwrap_or_default()
    );
    at(0.5)
}
