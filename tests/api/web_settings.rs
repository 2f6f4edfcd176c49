//! The web app's settings screens over real HTTP: the trash (delete from a record's page,
//! restore), with the API's roles, isolation and escaping. Both databases.

use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;
use crate::web::Browser;

async fn records_go_to_the_trash_and_come_back_whole(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.member(&owner, "mo@acme.example", "member").await;
    app.member(&owner, "vic@acme.example", "viewer").await;
    let contact = app.contact(&owner, json!({"first_name": "<script>x</script>", "tags": ["vip"]})).await;
    let cid = contact["id"].as_str().unwrap();
    let note = app.create(&owner, "/api/v1/notes", json!({"body": "Met", "contact_ids": [cid]})).await;
    let nid = note["id"].as_str().unwrap();

    // Roles: a member deletes notes but not contacts (the API's rule), a viewer nothing.
    let mut member = Browser::new(&app);
    member.sign_in("mo@acme.example").await;
    assert!(!member.get(&format!("/app/contacts/{cid}")).await.text.contains("id=\"delete-contact\""));
    assert!(member.get(&format!("/app/notes/{nid}")).await.text.contains("id=\"delete-note\""));
    assert_eq!(member.post(&format!("/app/contacts/{cid}/delete"), &[]).await.status, 403);
    let mut viewer = Browser::new(&app);
    viewer.sign_in("vic@acme.example").await;
    assert!(!viewer.get(&format!("/app/notes/{nid}")).await.text.contains("id=\"delete-note\""));
    assert_eq!(viewer.post(&format!("/app/notes/{nid}/delete"), &[]).await.status, 403);
    let r = member.post(&format!("/app/notes/{nid}/delete"), &[]).await;
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/app/notes")), "{}", r.text);
    assert_eq!(app.trash_len(&owner, "note").await, 1);

    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let r = b.post(&format!("/app/contacts/{cid}/delete"), &[]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(b.get(&format!("/app/contacts/{cid}")).await.status, 404, "gone from its page");
    let trash = b.get("/app/trash").await;
    assert_eq!(trash.status, 200);
    assert!(trash.text.contains(&format!("data-id=\"{cid}\"")), "{}", trash.text);
    assert!(trash.text.contains("&lt;script&gt;x") && !trash.text.contains("<script>x"), "as text");
    assert!(trash.text.contains(&format!("action=\"/app/trash/contact/{cid}/restore\"")), "{}", trash.text);
    // A member sees the trash but no restore buttons, and a forged restore is refused.
    let seen = member.get("/app/trash?type=note").await;
    assert!(seen.text.contains(&format!("data-id=\"{nid}\"")) && !seen.text.contains("/restore"), "{}", seen.text);
    assert_eq!(member.post(&format!("/app/trash/note/{nid}/restore"), &[]).await.status, 403);
    // The owner restores: back whole, with its tag.
    let r = b.post(&format!("/app/trash/contact/{cid}/restore"), &[]).await;
    assert_eq!(r.header("location"), Some(format!("/app/contacts/{cid}")), "{}", r.text);
    let back = app.get(&format!("/api/v1/contacts/{cid}"), Some(&owner.token)).await;
    assert_eq!((back.status, back.body["tags"].clone()), (200, json!(["vip"])));
    let r = b.post(&format!("/app/trash/note/{nid}/restore"), &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(app.trash_len(&owner, "note").await, 0);
    assert_eq!(b.get("/app/trash?type=nonsense").await.status, 404);
    assert_eq!(b.get("/app/trash?type=tag&after=garbage").await.status, 422);

    // Another portal's record cannot be deleted or restored from here.
    let other = app.signup("Globex", "hank@globex.example").await;
    let theirs = app.create(&other, "/api/v1/notes", json!({"body": "Secret"})).await;
    let tid = theirs["id"].as_str().unwrap();
    assert_eq!(b.post(&format!("/app/notes/{tid}/delete"), &[]).await.status, 404);
    app.delete(&format!("/api/v1/notes/{tid}"), Some(&other.token)).await;
    assert_eq!(b.post(&format!("/app/trash/note/{tid}/restore"), &[]).await.status, 404);
    assert!(!b.get("/app/trash?type=note").await.text.contains("Secret"));
    assert_eq!(app.trash_len(&other, "note").await, 1, "still in its own portal's trash");
}

both_backends!(records_go_to_the_trash_and_come_back_whole);
