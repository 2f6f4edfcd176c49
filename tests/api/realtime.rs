//! The real-time websocket: tickets, the crm / dashboard / notifications topics, resume,
//! tenant isolation, and the protections (slow consumers, heartbeat, frame size and rate,
//! connection limits), against the real server with a real websocket client.

use std::time::Duration;

use awc::ws::Message;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{wait_for, TestApp};
use crate::ws::Got;

async fn crm_events_reach_subscribers_in_order_with_the_record(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let mut ws = app.ws(&owner.token).await;
    let got = ws.subscribe("crm", None).await;
    assert_eq!(got.last().unwrap(), &json!({"type": "subscribed", "topic": "crm", "seq": 0}));

    let c = app.contact(&owner, json!({"email": "grace@navy.example"})).await;
    let id = c["id"].as_str().unwrap();
    let e = ws.json().await;
    assert_eq!((e["type"].as_str(), e["topic"].as_str(), e["seq"].as_i64()), (Some("event"), Some("crm"), Some(1)));
    assert_eq!(e["event"], "contact.created");
    assert_eq!(e["data"], c, "data is the record as the REST API returns it");
    assert_eq!(e["actor"], json!({"type": "user", "id": owner.user_id}));

    app.patch(&format!("/api/v1/contacts/{id}"), &json!({"first_name": "Grace"}), Some(&owner.token)).await;
    let e = ws.json().await;
    assert_eq!((e["seq"].as_i64(), e["event"].as_str()), (Some(2), Some("contact.updated")));
    assert_eq!(e["diff"]["first_name"], json!({"from": null, "to": "Grace"}));
    app.delete(&format!("/api/v1/contacts/{id}"), Some(&owner.token)).await;
    let e = ws.json().await;
    assert_eq!(
        (e["seq"].as_i64(), e["event"].as_str(), e["data"]["id"].as_str()),
        (Some(3), Some("contact.deleted"), Some(id))
    );

    // A viewer sees the same stream (and can only read: the socket accepts no writes).
    let viewer = app.member(&owner, "vic@acme.example", "viewer").await;
    let mut vws = app.ws(&viewer.token).await;
    vws.subscribe("crm", Some(0)).await.iter().for_each(|f| assert_ne!(f["type"], "error", "{f}"));
    vws.send(json!({"type": "create", "object": "contact"})).await;
    assert_eq!(vws.json().await["code"], "bad_frame");
    ws.expect_quiet().await;
}

async fn another_portal_never_sees_the_events(app: TestApp) {
    let a = app.signup("Acme", "ada@acme.example").await;
    let b = app.signup("Evil", "eve@evil.example").await;
    let mut ws_b = app.ws(&b.token).await;
    ws_b.subscribe("crm", None).await;
    let mut ws_b_dash = app.ws(&b.token).await;
    ws_b_dash.subscribe("dashboard", None).await;
    let snapshot = ws_b_dash.until("snapshot", None).await;
    assert_eq!(snapshot["data"]["contacts"], 0);
    for i in 0..3 {
        app.contact(&a, json!({"email": &format!("a{i}@acme.example")})).await;
    }
    let mine = app.contact(&b, json!({"email": "b@evil.example"})).await;
    let e = ws_b.json().await;
    assert_eq!(
        (e["seq"].as_i64(), &e["data"]["id"]),
        (Some(1), &mine["id"]),
        "only its own event, numbered in its own sequence"
    );
    ws_b.expect_quiet().await;
    let delta = ws_b_dash.until("event", Some("dashboard.changed")).await;
    assert_eq!(delta["data"]["contacts"], 1, "counts only its own contacts");
    // Resuming from 0 in B replays B's event only.
    let mut again = app.ws(&b.token).await;
    let got = again.subscribe("crm", Some(0)).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["data"]["id"], mine["id"]);
}

async fn tickets_are_single_use_short_lived_and_checked_again_on_use(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    // Not a websocket handshake: 400, and the ticket survives.
    let ticket = app.ticket(&owner.token).await;
    let plain = app.get(&format!("/api/v1/realtime?ticket={ticket}"), None).await;
    plain.problem(400, "websocket_required");
    let ws = app.ws_with_ticket(&ticket).await.expect("first use works");
    ws.close().await;
    assert_eq!(app.ws_with_ticket(&ticket).await.err(), Some(401), "second use refused");
    assert_eq!(app.ws_with_ticket("ozt_nope").await.err(), Some(401));
    // Expired after 30 seconds.
    let ticket = app.ticket(&owner.token).await;
    app.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(app.ws_with_ticket(&ticket).await.err(), Some(401));
    // Signed out between ticket and upgrade: refused.
    let ticket = app.ticket(&owner.token).await;
    assert_eq!(app.post("/api/v1/auth/logout", &json!({}), Some(&owner.token)).await.status, 204);
    assert_eq!(app.ws_with_ticket(&ticket).await.err(), Some(401));
    // The purge job deletes expired tickets.
    app.clock.advance(chrono::Duration::minutes(2));
    wait_for("expired tickets purged", Duration::from_secs(10), || async {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = app.db_conn();
        let left: N = diesel::sql_query("SELECT COUNT(*) AS n FROM realtime_tickets").get_result(&mut conn).unwrap();
        (left.n == 0).then_some(())
    })
    .await;
    // Without a token there is no ticket.
    app.post("/api/v1/realtime/ticket", &json!({}), None).await.problem(401, "unauthorized");
}

async fn keys_need_realtime_read_and_see_only_their_objects(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let key = |scopes: Value| {
        let (app, token) = (&app, owner.token.clone());
        async move {
            let r = app.post("/api/v1/api-keys", &json!({"name": "k", "scopes": scopes}), Some(&token)).await;
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["key"].as_str().unwrap().to_string()
        }
    };
    let no_realtime = key(json!(["contacts:read"])).await;
    app.post("/api/v1/realtime/ticket", &json!({}), Some(&no_realtime)).await.problem(403, "insufficient_scope");
    let contacts_only = key(json!(["realtime:read", "contacts:read"])).await;
    let mut ws = app.ws(&contacts_only).await;
    ws.subscribe("crm", None).await;
    let got = ws.subscribe("notifications", None).await;
    assert_eq!(got.last().unwrap()["code"], "topic_forbidden");
    let r = app.post("/api/v1/deals", &json!({"name": "Big"}), Some(&owner.token)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let c = app.contact(&owner, json!({"email": "c@x.example"})).await;
    let e = ws.json().await;
    assert_eq!((e["seq"].as_i64(), &e["data"]["id"]), (Some(2), &c["id"]), "the deal (seq 1) is not in its scopes");
}

async fn resume_replays_missed_events_without_gaps_or_duplicates(app: TestApp) {
    let app = app
        .restart_with(|s| {
            s.tuning.realtime.history = 3;
            s.tuning.realtime.replay_max = 8;
        })
        .await;
    let owner = app.signup("Acme", "ada@acme.example").await;
    // A client that stays connected tells when the tenant actor has fanned an event out
    // (a commit reaches the actor just after the HTTP answer); the others resume.
    let mut watch = app.ws(&owner.token).await;
    watch.subscribe("crm", None).await;
    let mut ws = app.ws(&owner.token).await;
    ws.subscribe("crm", None).await;
    for i in 1..=2 {
        app.contact(&owner, json!({"email": &format!("c{i}@x.example")})).await;
        assert_eq!(ws.json().await["seq"], i);
        assert_eq!(watch.json().await["seq"], i);
    }
    ws.close().await;
    for i in 3..=6 {
        app.contact(&owner, json!({"email": &format!("c{i}@x.example")})).await;
        assert_eq!(watch.json().await["seq"], i);
    }
    let seqs = |frames: &[Value]| {
        frames.iter().filter(|f| f["type"] == "event").map(|f| f["seq"].as_i64().unwrap()).collect::<Vec<_>>()
    };
    // 4..6 are still in the tenant actor's memory (it keeps 3).
    let mut ws = app.ws(&owner.token).await;
    let got = ws.subscribe("crm", Some(3)).await;
    assert_eq!(seqs(&got), vec![4, 5, 6]);
    assert_eq!(got.last().unwrap()["seq"], 6);
    // 2.. is older than memory: replayed from the outbox.
    let mut ws2 = app.ws(&owner.token).await;
    let got = ws2.subscribe("crm", Some(1)).await;
    assert_eq!(seqs(&got), vec![2, 3, 4, 5, 6]);
    // Live events continue after the replay, once each.
    app.contact(&owner, json!({"email": "c7@x.example"})).await;
    assert_eq!(ws.json().await["seq"], 7);
    assert_eq!(ws2.json().await["seq"], 7);
    ws.expect_quiet().await;
    ws2.expect_quiet().await;
    // Too old (more than replay_max behind) or unknown: reset, then live.
    for _ in 8..=9 {
        app.contact(&owner, json!({"email": &format!("x{}@x.example", uuid::Uuid::now_v7())})).await;
    }
    for i in 7..=9 {
        assert_eq!(watch.json().await["seq"], i);
    }
    let mut ws3 = app.ws(&owner.token).await;
    let got = ws3.subscribe("crm", Some(0)).await;
    assert_eq!(got[0], json!({"type": "reset", "topic": "crm", "seq": 9, "reason": "too_old"}), "{got:?}");
    let got = ws3.subscribe("crm", Some(99)).await;
    assert_eq!(got[0]["reason"], "unknown_seq");
}

async fn dashboard_sends_a_snapshot_then_only_what_changed(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let p = app
        .post(
            "/api/v1/pipelines",
            &json!({"name": "Sales", "stages": [{"name": "Lead"}, {"name": "Won"}]}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.text);
    let (pipeline, stage) = (p.body["id"].clone(), p.body["stages"][0]["id"].clone());
    let mut ws = app.ws(&owner.token).await;
    ws.subscribe("dashboard", None).await;
    let snap = ws.until("snapshot", None).await;
    assert_eq!(snap["data"]["contacts"], 0);
    assert_eq!(snap["data"]["open_deals"], json!({"count": 0, "amounts": {}, "by_stage": []}));

    app.contact(&owner, json!({"email": "a@x.example"})).await;
    let d = ws.until("event", Some("dashboard.changed")).await;
    assert_eq!(d["data"], json!({"contacts": 1, "contacts_new_today": 1}), "only the changed counters");
    for amount in ["0.10", "0.20"] {
        let deal =
            json!({"name": "D", "amount": amount, "currency": "EUR", "pipeline_id": pipeline, "stage_id": stage});
        assert_eq!(app.post("/api/v1/deals", &deal, Some(&owner.token)).await.status, 201);
    }
    // The two deals may land in one recomputation or two: read until both are counted.
    let deals = loop {
        let d = ws.until("event", Some("dashboard.changed")).await;
        if d["data"]["open_deals"]["count"] == 2 {
            break d;
        }
    };
    let od = &deals["data"]["open_deals"];
    assert_eq!(od["amounts"], json!({"EUR": "0.30"}), "exact sums");
    assert_eq!(od["by_stage"][0]["stage"], "Lead");
    assert_eq!(od["by_stage"][0]["pipeline"], "Sales");
    let r = app.post("/api/v1/tickets", &json!({"subject": "Help"}), Some(&owner.token)).await;
    assert_eq!(r.status, 201);
    let d = ws.until("event", Some("dashboard.changed")).await;
    assert_eq!(d["data"], json!({"open_tickets": 1}));
    // Due today (the counter's day is the UTC day): the day's last second, so the test does
    // not depend on the hour it runs at (now + 1 h is tomorrow after 23:00).
    let today = app.clock.now().date_naive();
    let due = (today.and_hms_opt(23, 59, 59).unwrap().and_utc()).to_rfc3339();
    let r = app.post("/api/v1/tasks", &json!({"title": "Call", "due_at": due}), Some(&owner.token)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let d = ws.until("event", Some("dashboard.changed")).await;
    assert_eq!(d["data"]["tasks_due"], 1, "{d}");
}

async fn notifications_reach_only_the_assignee(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "mo@acme.example", "member").await;
    let mut mine = app.ws(&member.token).await;
    mine.subscribe("notifications", None).await;
    let mut owners = app.ws(&owner.token).await;
    owners.subscribe("notifications", None).await;
    let r = app
        .post("/api/v1/tasks", &json!({"title": "Call Ada", "assignee_id": member.user_id}), Some(&owner.token))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let n = mine.json().await;
    assert_eq!((n["topic"].as_str(), n["event"].as_str()), (Some("notifications"), Some("task.assigned")));
    assert_eq!(n["data"]["id"], r.body["id"]);
    // The inbox row that assignment created follows, for the assignee only.
    let row = mine.json().await;
    assert_eq!(
        (row["event"].as_str(), row["data"]["kind"].as_str()),
        (Some("notification.created"), Some("task_assigned"))
    );
    owners.expect_quiet().await;
    // Re-assigning to the owner notifies the owner.
    let id = r.body["id"].as_str().unwrap();
    app.patch(&format!("/api/v1/tasks/{id}"), &json!({"assignee_id": owner.user_id}), Some(&owner.token)).await;
    assert_eq!(owners.json().await["event"], "task.assigned");
    mine.expect_quiet().await;
}

async fn slow_consumers_are_closed_and_others_keep_receiving(app: TestApp) {
    let app = app
        .restart_with(|s| {
            s.tuning.realtime.queue_frames = 64;
            // Two subscribers: the actor yields after every event, and order must hold.
            s.tuning.realtime.fanout_slice = 2;
            s.max_body_bytes = 8 * 1024 * 1024;
        })
        .await;
    let owner = app.signup("Acme", "ada@acme.example").await;
    let mut slow = app.ws(&owner.token).await;
    slow.subscribe("crm", None).await;
    let mut fast = app.ws(&owner.token).await;
    fast.subscribe("crm", None).await;
    // Notes with 60 KB bodies: a few MB of frames the slow client never reads, more than
    // the socket buffers hold, so its queue fills.
    let body = "x".repeat(60_000);
    let mut seen = 0;
    for _ in 0..10 {
        let items: Vec<Value> = (0..20).map(|_| json!({"body": body})).collect();
        let r = app.post("/api/v1/notes/batch", &json!({"action": "create", "items": items}), Some(&owner.token)).await;
        assert_eq!(r.status, 200, "{}", r.text.chars().take(300).collect::<String>());
        for _ in 0..20 {
            seen += 1;
            assert_eq!(fast.json().await["seq"], seen, "the fast client gets every event in order");
        }
    }
    let metrics = wait_for("the slow consumer is dropped", Duration::from_secs(10), || async {
        let m = app.get("/metrics", None).await.text;
        m.contains("organizeo_realtime_drops_total{reason=\"slow_consumer\"} 1").then_some(m)
    })
    .await;
    assert!(metrics.contains("organizeo_ws_connections 2"), "both still counted until the close is read");
    assert_eq!(slow.close_code().await, Some(4008), "closed as a slow consumer once it reads again");
    fast.expect_quiet().await;
}

async fn silent_clients_are_closed_after_the_heartbeat_timeout(app: TestApp) {
    let app = app
        .restart_with(|s| {
            s.realtime_heartbeat = Duration::from_millis(50);
            // Generous against a loaded CI machine: the answering client reads only between sleeps.
            s.tuning.realtime.client_timeout = Some(Duration::from_millis(1500));
        })
        .await;
    let owner = app.signup("Acme", "ada@acme.example").await;
    let mut ws = app.ws(&owner.token).await;
    ws.answer_pings = false;
    assert!(matches!(ws.next(Duration::from_secs(5)).await, Got::Ping), "the server pings");
    assert_eq!(ws.close_code().await, Some(4000));
    // A client that answers stays, well past the timeout (the passing time is what is
    // under test here; it reads, and so answers pings, every 300 ms).
    let mut alive = app.ws(&owner.token).await;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        alive.expect_quiet().await;
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    }
    alive.expect_quiet().await;
}

async fn bad_frames_floods_and_binary_are_refused_with_clear_codes(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let mut ws = app.ws(&owner.token).await;
    ws.send_raw(Message::Text("{not json".into())).await;
    assert_eq!(ws.json().await["code"], "bad_frame");
    ws.send(json!({"type": "subscribe", "topic": "gossip"})).await;
    assert_eq!(ws.json().await["code"], "unknown_topic");
    ws.expect_quiet().await;

    let mut big = app.ws(&owner.token).await;
    big.send_raw(Message::Text("x".repeat(5000).into())).await;
    assert_eq!(big.json().await["code"], "frame_too_large");
    assert_eq!(big.close_code().await, Some(1009));

    let mut bin = app.ws(&owner.token).await;
    bin.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(bin.json().await["code"], "unsupported_frame");
    assert_eq!(bin.close_code().await, Some(1003));

    let mut flood = app.ws(&owner.token).await;
    for _ in 0..40 {
        flood.send(json!({"type": "ping"})).await;
    }
    let code = loop {
        match flood.next(Duration::from_secs(5)).await {
            Got::Json(v) if v["type"] == "error" => break v["code"].clone(),
            Got::Json(_) => {}
            other => panic!("expected an error frame first, got {other:?}"),
        }
    };
    assert_eq!(code, "rate_limited");
    assert_eq!(flood.close_code().await, Some(1008));
}

async fn connections_are_limited_per_user(app: TestApp) {
    let app = app.restart_with(|s| s.realtime_max_connections_per_user = 2).await;
    let owner = app.signup("Acme", "ada@acme.example").await;
    let other = app.member(&owner, "mo@acme.example", "member").await;
    let first = app.ws(&owner.token).await;
    let mut second = app.ws(&owner.token).await;
    let mut third = app.ws(&owner.token).await;
    assert_eq!(third.json().await["code"], "too_many_connections");
    assert_eq!(third.close_code().await, Some(4029));
    let mut others = app.ws(&other.token).await;
    others.expect_quiet().await;
    second.expect_quiet().await;
    first.close().await;
    let mut again = wait_for("a slot frees up", Duration::from_secs(10), || async {
        let mut ws = app.ws(&owner.token).await;
        ws.send(json!({"type": "ping"})).await;
        (ws.json().await["type"] == "pong").then_some(ws)
    })
    .await;
    again.expect_quiet().await;
}

async fn a_failed_tenant_actor_restarts_and_sessions_resume(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let tenant = organizeo::domain::TenantId::from_db(owner.tenant_id.clone());
    let mut ws = app.ws(&owner.token).await;
    ws.subscribe("crm", None).await;
    app.contact(&owner, json!({"email": "a@x.example"})).await;
    assert_eq!(ws.json().await["seq"], 1);
    assert!(app.realtime.fail_tenant_actor(&tenant));
    app.contact(&owner, json!({"email": "b@x.example"})).await;
    app.contact(&owner, json!({"email": "c@x.example"})).await;
    let mut seqs = Vec::new();
    while seqs.len() < 2 {
        let f = ws.json().await;
        if f["type"] == "event" {
            seqs.push(f["seq"].as_i64().unwrap());
        }
    }
    assert_eq!(seqs, vec![2, 3], "nothing lost or repeated across the restart");
    let m = app.get("/metrics", None).await.text;
    assert!(m.contains("organizeo_realtime_tenant_restarts_total 1"), "{m}");
    assert!(app.realtime.has_tenant_actor(&tenant));
}

async fn idle_tenant_actors_stop(app: TestApp) {
    let app = app.restart_with(|s| s.tuning.realtime.tenant_idle = Duration::from_millis(100)).await;
    let owner = app.signup("Acme", "ada@acme.example").await;
    let tenant = organizeo::domain::TenantId::from_db(owner.tenant_id.clone());
    let mut ws = app.ws(&owner.token).await;
    ws.subscribe("crm", None).await;
    assert!(app.realtime.has_tenant_actor(&tenant));
    ws.close().await;
    wait_for("the idle tenant actor stops", Duration::from_secs(10), || async {
        (!app.realtime.has_tenant_actor(&tenant)).then_some(())
    })
    .await;
    let m = app.get("/metrics", None).await.text;
    assert!(m.contains("organizeo_realtime_tenant_actors 0"), "{m}");
    assert!(m.contains("organizeo_ws_connections 0"), "{m}");
}

both_backends!(
    crm_events_reach_subscribers_in_order_with_the_record,
    another_portal_never_sees_the_events,
    tickets_are_single_use_short_lived_and_checked_again_on_use,
    keys_need_realtime_read_and_see_only_their_objects,
    resume_replays_missed_events_without_gaps_or_duplicates,
    dashboard_sends_a_snapshot_then_only_what_changed,
    notifications_reach_only_the_assignee,
    slow_consumers_are_closed_and_others_keep_receiving,
    silent_clients_are_closed_after_the_heartbeat_timeout,
    bad_frames_floods_and_binary_are_refused_with_clear_codes,
    connections_are_limited_per_user,
    a_failed_tenant_actor_restarts_and_sessions_resume,
    idle_tenant_actors_stop,
);
