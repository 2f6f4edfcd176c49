//! Batch writes with per-item results, and Idempotency-Key retries.

use awc::http::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{read, TestApp};

async fn batches_report_each_item_and_commit_only_the_good_ones(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let r = app
        .post(
            "/api/v1/contacts/batch",
            &json!({"action": "create", "items": [
                {"email": "a@x.example"}, {"email": "not-an-email"}, {"email": "b@x.example", "tags": ["vip"]}, {"email": "A@x.example"}
            ]}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let statuses: Vec<u64> =
        r.body["results"].as_array().unwrap().iter().map(|i| i["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, vec![201, 422, 201, 409]);
    assert_eq!((r.body["created"].as_u64(), r.body["failed"].as_u64()), (Some(2), Some(2)));
    assert_eq!(r.body["results"][1]["error"]["code"], "validation_failed");
    let a_id = r.body["results"][0]["record"]["id"].as_str().unwrap().to_string();
    // Only the committed items have events, numbered without gaps.
    let ev = app.events(&owner.tenant_id).await;
    let got: Vec<(i64, &str, &str)> = ev.iter().map(|e| (e.seq, e.event_type.as_str(), e.record_id.as_str())).collect();
    let b_id = r.body["results"][2]["record"]["id"].as_str().unwrap();
    assert_eq!(got, vec![(1, "contact.created", a_id.as_str()), (2, "contact.created", b_id)]);

    // Upsert: matched by email (case-insensitive) → updated; unknown → created.
    let r = app
        .post(
            "/api/v1/contacts/batch",
            &json!({"action": "upsert", "items": [{"email": "A@X.example", "first_name": "Ann"}, {"email": "c@x.example"}, {"first_name": "no email"}]}),
            Some(&owner.token),
        )
        .await;
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], 200);
    assert_eq!(results[0]["record"]["id"], a_id.as_str());
    assert_eq!(results[0]["record"]["first_name"], "Ann");
    assert_eq!(results[1]["status"], 201);
    assert_eq!(results[2]["status"], 422);

    // Update by id; another portal's id is simply not found.
    let evil = app.signup("Evil", "eve@evil.example").await;
    let theirs = app.post("/api/v1/contacts", &json!({"email": "t@evil.example"}), Some(&evil.token)).await;
    let r = app
        .post(
            "/api/v1/contacts/batch",
            &json!({"action": "update", "items": [{"id": a_id, "last_name": "Lee"}, {"id": theirs.body["id"], "last_name": "X"}, {"last_name": "no id"}]}),
            Some(&owner.token),
        )
        .await;
    let statuses: Vec<u64> =
        r.body["results"].as_array().unwrap().iter().map(|i| i["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, vec![200, 404, 422]);
    assert_eq!(
        app.get(&format!("/api/v1/contacts/{}", theirs.body["id"].as_str().unwrap()), Some(&evil.token)).await.body
            ["last_name"],
        Value::Null
    );

    for bad in [
        json!({"action": "create", "items": []}),
        json!({"action": "delete", "items": [{}]}),
        json!({"action": "create", "items": (0..101).map(|i| json!({"email": format!("{i}@x.example")})).collect::<Vec<_>>()}),
    ] {
        app.post("/api/v1/contacts/batch", &bad, Some(&owner.token)).await.problem(422, "validation_failed");
    }
    app.post("/api/v1/companies/batch", &json!({"action": "upsert", "items": [{"name": "A"}]}), Some(&owner.token))
        .await
        .problem(422, "validation_failed");
    let count = app.get("/api/v1/contacts?limit=100", Some(&owner.token)).await.body["data"].as_array().unwrap().len();
    assert_eq!(count, 3, "a, b, c");
}

async fn concurrent_writers_get_gapless_unique_event_numbers(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let writes = (0..12).map(|i| {
        let (app, token) = (&app, owner.token.clone());
        async move {
            if i % 3 == 0 {
                let items: Vec<Value> = (0..5).map(|j| json!({"email": format!("b{i}-{j}@x.example")})).collect();
                let r = app
                    .post("/api/v1/contacts/batch", &json!({"action": "create", "items": items}), Some(&token))
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
                5
            } else {
                let r = app.post("/api/v1/contacts", &json!({"email": format!("c{i}@x.example")}), Some(&token)).await;
                assert_eq!(r.status, 201, "{}", r.text);
                1
            }
        }
    });
    let total: usize = futures_util::future::join_all(writes).await.into_iter().sum();
    let ev = app.events(&owner.tenant_id).await;
    assert_eq!(total, 4 * 5 + 8);
    assert_eq!(ev.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=total as i64).collect::<Vec<_>>());
    let mut ids: Vec<&str> = ev.iter().map(|e| e.record_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "one event per record");
}

async fn post_with(app: &TestApp, token: &str, key: &str, body: &Value) -> crate::helpers::Resp {
    let res = app
        .client
        .request(Method::POST, app.url("/api/v1/contacts"))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .insert_header(("Idempotency-Key", key))
        .send_json(body)
        .await
        .unwrap();
    read(res).await
}

async fn a_retried_post_with_the_same_key_creates_nothing_new(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let body = json!({"email": "once@x.example"});
    let first = post_with(&app, &owner.token, "k-123", &body).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = post_with(&app, &owner.token, "k-123", &body).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body, "the first answer, replayed");
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    let list = app.get("/api/v1/contacts", Some(&owner.token)).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    // Errors are replayed too; a different body under the same key is refused.
    let bad = post_with(&app, &owner.token, "k-bad", &json!({"email": "nope"})).await;
    let bad_again = post_with(&app, &owner.token, "k-bad", &json!({"email": "nope"})).await;
    assert_eq!((bad.status, bad_again.status), (422, 422));
    let r = post_with(&app, &owner.token, "k-123", &json!({"email": "other@x.example"})).await;
    r.problem(422, "validation_failed");
    // Keys are per caller: another portal's identical key is its own.
    let evil = app.signup("Evil", "eve@evil.example").await;
    let theirs = post_with(&app, &evil.token, "k-123", &body).await;
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.body["id"], first.body["id"]);
    let r = post_with(&app, &owner.token, &"x".repeat(300), &body).await;
    r.problem(422, "validation_failed");
}

/// A count read straight from the database (`SELECT count(*) AS n …`).
fn count(app: &TestApp, query: &str) -> i64 {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.db_conn();
    diesel::sql_query(query).load::<N>(&mut conn).unwrap()[0].n
}

fn stored_keys(app: &TestApp) -> i64 {
    count(app, "SELECT count(*) AS n FROM idempotency_keys")
}

fn sql(app: &TestApp, statement: &str) {
    use diesel::RunQueryDsl;
    let mut conn = app.db_conn();
    diesel::sql_query(statement).execute(&mut conn).unwrap();
}

/// A forged bearer stores nothing: the caller is authenticated before a key is claimed.
async fn keys_are_stored_only_for_authenticated_callers(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    for i in 0..20 {
        let r = post_with(&app, &format!("ozs_forged{i}"), &format!("k-{i}"), &json!({"email": "x@x.example"})).await;
        r.problem(401, "unauthorized");
    }
    assert_eq!(stored_keys(&app), 0, "a forged bearer wrote idempotency rows");
    let r = post_with(&app, &owner.token, "k-real", &json!({"email": "x@x.example"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(stored_keys(&app), 1);
}

/// A server killed mid-request no longer wedges the key: once the lease runs out, a retry
/// runs again if nothing committed, and hears `idempotency_outcome_unknown` (every time)
/// if the change was saved but the answer lost.
async fn a_key_abandoned_by_a_crash_recovers_after_its_lease(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let body = json!({"email": "crash@x.example"});
    let first = post_with(&app, &owner.token, "k-crash", &body).await;
    assert_eq!(first.status, 201);
    let marked: i64 = count(&app, "SELECT count(*) AS n FROM idempotency_keys WHERE committed_at IS NOT NULL");
    assert_eq!(marked, 1, "the request's own write marked its key in the same transaction");
    // Make it what a request cut off after its commit leaves: no answer, a lease.
    let held = (app.clock.now().naive_utc() + chrono::Duration::seconds(60)).format("%Y-%m-%d %H:%M:%S");
    sql(
        &app,
        &format!(
            "UPDATE idempotency_keys SET status = NULL, body = NULL, content_type = NULL, locked_until = '{held}' \
         WHERE idem_key = 'k-crash'"
        ),
    );
    // Within the lease: still running.
    post_with(&app, &owner.token, "k-crash", &body).await.problem(409, "idempotency_in_progress");
    // Past the lease: the change committed, the answer is lost, and every retry hears so.
    app.clock.advance(chrono::Duration::minutes(3));
    post_with(&app, &owner.token, "k-crash", &body).await.problem(409, "idempotency_outcome_unknown");
    let again = post_with(&app, &owner.token, "k-crash", &body).await;
    again.problem(409, "idempotency_outcome_unknown");
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(count(&app, "SELECT count(*) AS n FROM records"), 1, "nothing ran twice");

    // A request cut off before anything committed: once its lease ran out, the retry takes
    // the key over and runs.
    let other = json!({"email": "never@x.example"});
    assert_eq!(post_with(&app, &owner.token, "k-lost", &other).await.status, 201);
    let past = (app.clock.now().naive_utc() - chrono::Duration::minutes(5)).format("%Y-%m-%d %H:%M:%S");
    sql(
        &app,
        &format!(
            "UPDATE idempotency_keys SET status = NULL, body = NULL, content_type = NULL, committed_at = NULL, \
         locked_until = '{past}' WHERE idem_key = 'k-lost'"
        ),
    );
    sql(&app, "DELETE FROM records WHERE email_lower = 'never@x.example'");
    let r = post_with(&app, &owner.token, "k-lost", &other).await;
    assert_eq!(r.status, 201, "the retry ran again: {}", r.text);
    assert_eq!(r.header("idempotent-replayed"), None);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM records"), 2);
}

both_backends!(
    keys_are_stored_only_for_authenticated_callers,
    a_key_abandoned_by_a_crash_recovers_after_its_lease,
    batches_report_each_item_and_commit_only_the_good_ones,
    concurrent_writers_get_gapless_unique_event_numbers,
    a_retried_post_with_the_same_key_creates_nothing_new
);
