//! The pipeline board over real HTTP: columns per stage, moving a deal by the keyboard
//! form (the API's update: its event, its stage check, its roles), a first pipeline made
//! from the empty board, hostile names as text, another portal's deal as 404. Both
//! databases.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Signed, TestApp};
use crate::web::Browser;

async fn pipeline(app: &TestApp, who: &Signed, name: &str, stages: &[&str]) -> Value {
    let stages: Vec<Value> = stages.iter().map(|s| json!({"name": s})).collect();
    app.create(who, "/api/v1/pipelines", json!({"name": name, "stages": stages})).await
}

/// The stage column a deal's card is in, from the page.
fn column_of(html: &str, deal: &str) -> Option<String> {
    let card = html.find(&format!("class=\"card\" data-id=\"{deal}\""))?;
    let list = html[..card].rfind("data-stage=\"")?;
    Some(html[list + 12..].split('"').next()?.to_string())
}

async fn a_deal_moves_between_stages_by_the_keyboard_form(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let sales = pipeline(&app, &owner, "Sales", &["Lead", "Proposal", "Won"]).await;
    let pid = sales["id"].as_str().unwrap();
    let stage = |i: usize| sales["stages"][i]["id"].as_str().unwrap().to_string();
    let deal = app
        .create(
            &owner,
            "/api/v1/deals",
            json!({"name": "Cobol", "amount": "1250.10", "currency": "EUR",
        "pipeline_id": pid}),
        )
        .await;
    let id = deal["id"].as_str().unwrap();
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let board = b.get("/app/deals/board").await;
    assert_eq!(board.status, 200, "{}", board.text);
    let (lead, proposal) = (board.text.find(">Lead <").unwrap(), board.text.find(">Proposal <").unwrap());
    assert!(lead < proposal && proposal < board.text.find(">Won <").unwrap(), "stages in order");
    assert_eq!(column_of(&board.text, id), Some(stage(0)), "a new deal starts in the first stage");
    assert!(board.text.contains("€1,250.10") && board.text.contains("/app/static/board.js"));
    assert!(board.text.contains(&format!("id=\"move-{id}\"")), "the keyboard form");
    let r = b.post(&format!("/app/deals/{id}/stage"), &[("pipeline_id", pid), ("stage_id", &stage(1))]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location").unwrap(), format!("/app/deals/board?pipeline={pid}"));
    let board = b.get(&r.header("location").unwrap()).await;
    assert_eq!(column_of(&board.text, id), Some(stage(1)), "{}", board.text);
    let stored = app.get(&format!("/api/v1/deals/{id}"), Some(&owner.token)).await.body;
    assert_eq!(stored["stage_id"], stage(1));
    let timeline = app.get(&format!("/api/v1/deals/{id}/timeline"), Some(&owner.token)).await.body;
    assert_eq!(timeline["data"][0]["type"], "deal.stage_changed", "the API's event: {timeline}");
    // A stage of another pipeline is the API's 422, as a page; nothing moves.
    let other = pipeline(&app, &owner, "Support", &["New"]).await;
    let r = b
        .post(
            &format!("/app/deals/{id}/stage"),
            &[("pipeline_id", pid), ("stage_id", other["stages"][0]["id"].as_str().unwrap())],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("stage"), "{}", r.text);
    let r = b.post(&format!("/app/deals/{id}/stage"), &[("pipeline_id", "garbage"), ("stage_id", "")]).await;
    assert_eq!(r.status, 422);
    assert_eq!(app.get(&format!("/api/v1/deals/{id}"), Some(&owner.token)).await.body["stage_id"], stage(1));
    // The other pipeline is chosen by the picker; an unknown one is a 404 page.
    let r = b.get(&format!("/app/deals/board?pipeline={}", other["id"].as_str().unwrap())).await;
    assert!(r.status == 200 && r.text.contains(">New <") && !r.text.contains("Cobol"), "{}", r.text);
    assert_eq!(b.get("/app/deals/board?pipeline=nope").await.status, 404);
}

async fn viewers_see_the_board_without_move_controls_and_cannot_move(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.member(&owner, "vic@acme.example", "viewer").await;
    let sales = pipeline(&app, &owner, "Sales <script>x</script>", &["<b>Lead</b>", "Won"]).await;
    let pid = sales["id"].as_str().unwrap();
    let won = sales["stages"][1]["id"].as_str().unwrap();
    let deal =
        app.create(&owner, "/api/v1/deals", json!({"name": "<img src=x onerror=alert(1)>", "pipeline_id": pid})).await;
    let id = deal["id"].as_str().unwrap();
    let other = app.signup("Globex", "hank@globex.example").await;
    let theirs_p = pipeline(&app, &other, "Theirs", &["Only"]).await;
    let theirs = app.create(&other, "/api/v1/deals", json!({"name": "Secret", "pipeline_id": theirs_p["id"]})).await;

    let mut viewer = Browser::new(&app);
    viewer.sign_in("vic@acme.example").await;
    let board = viewer.get("/app/deals/board").await;
    assert_eq!(board.status, 200);
    assert!(board.text.contains(&format!("data-id=\"{id}\"")), "a viewer sees the deal");
    assert!(!board.text.contains("class=\"move\"") && !board.text.contains("draggable"), "but cannot move it");
    for raw in ["<script>x", "<b>Lead", "<img src=x"] {
        assert!(!board.text.contains(raw), "raw markup {raw}");
    }
    let r = viewer.post(&format!("/app/deals/{id}/stage"), &[("pipeline_id", pid), ("stage_id", won)]).await;
    assert_eq!(r.status, 403, "a forged move is refused: {}", r.text);
    assert_eq!(
        app.get(&format!("/api/v1/deals/{id}"), Some(&owner.token)).await.body["stage_id"],
        sales["stages"][0]["id"]
    );
    // Another portal's deal and pipeline are not found for its owner either.
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let tid = theirs["id"].as_str().unwrap();
    let r = b.post(&format!("/app/deals/{tid}/stage"), &[("pipeline_id", pid), ("stage_id", won)]).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = b.get(&format!("/app/deals/board?pipeline={}", theirs_p["id"].as_str().unwrap())).await;
    assert!(r.status == 404 && !r.text.contains("Theirs"));
}

async fn an_empty_board_offers_a_first_pipeline_to_managers(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.member(&owner, "mo@acme.example", "member").await;
    let mut member = Browser::new(&app);
    member.sign_in("mo@acme.example").await;
    let r = member.get("/app/deals/board").await;
    assert!(r.text.contains("no pipelines yet") && !r.text.contains("id=\"pipeline-form\""), "{}", r.text);
    let r = member.post("/app/pipelines", &[("name", "Sales"), ("stages", "Lead\nWon")]).await;
    assert_eq!(r.status, 403, "the API's rule: owners and admins define pipelines");
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    assert!(b.get("/app/deals/board").await.text.contains("id=\"pipeline-form\""));
    let r = b.post("/app/pipelines", &[("name", ""), ("stages", "Lead\nlead")]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("data-field=\"name\"") && r.text.contains("data-field=\"stages\""), "{}", r.text);
    let r = b.post("/app/pipelines", &[("name", "Sales"), ("stages", " Lead \n\nProposal\nWon\n")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let board = b.get(&r.header("location").unwrap()).await;
    assert!(board.text.contains(">Lead <") && board.text.contains(">Proposal <") && board.text.contains(">Won <"));
    let list = app.get("/api/v1/pipelines", Some(&owner.token)).await.body;
    assert_eq!(list["data"][0]["stages"].as_array().unwrap().len(), 3);
}

both_backends!(
    a_deal_moves_between_stages_by_the_keyboard_form,
    viewers_see_the_board_without_move_controls_and_cannot_move,
    an_empty_board_offers_a_first_pipeline_to_managers,
);
