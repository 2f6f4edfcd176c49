//! The role × endpoint and scope × endpoint matrices, generated from `http::ROUTES`: every
//! route the server has is classified below (an unclassified route fails the test), then
//! called as every role and with every single-scope key.

use awc::http::Method;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Signed, TestApp, PASSWORD};

/// Who may call a route, as the security model says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// No authentication.
    Public,
    /// Any signed-in person, for their own account; never a key.
    SelfService,
    /// Any person in the portal (viewer included); never a key.
    PortalRead,
    /// Owners and admins only; never a key.
    Manage,
    /// Owners and admins, or a key with this resource's scope.
    ManageOrScope(&'static str),
    /// Owners and admins, or a key with this resource's read (or write) scope.
    ManageOrReadScope(&'static str),
    /// A CRM resource: people read with any role, write unless viewer; keys by scope.
    CrmRead(&'static str),
    CrmWrite(&'static str),
    /// Deleting or restoring: owners and admins, or a key with write scope.
    CrmDelete(&'static str),
    /// Erasure on request: owners and admins, or a key with `contacts:erase` (no other
    /// scope includes it).
    ManageOrErase,
    /// Platform staff routes: every portal credential is a 401 there (tests/api/staff.rs).
    Staff,
    /// Any person of the portal and any key (reading what the portal has).
    AnyCredential,
    /// Owners and admins, or a key with this scope and the object's (exports: a single
    /// scope is never enough; tests/api/imports.rs checks the pairs).
    ManageOrScopePair(&'static str),
    /// Any person; a key needs both read scopes (a segment's members are contacts:
    /// tests/api/segments.rs checks the pair).
    ReadPair(&'static str, &'static str),
}

fn class_of(method: &str, path: &str) -> Class {
    match (method, path) {
        (
            _,
            "/"
            | "/static/organizeo.css"
            | "/dashboard"
            | "/static/dashboard.js"
            | "/static/widget.js"
            | "/healthz"
            | "/readyz"
            | "/metrics"
            | "/api/v1/openapi.json",
        ) => Class::Public,
        (_, "/api/v1/signup" | "/api/v1/auth/login" | "/api/v1/auth/mfa") => Class::Public,
        (
            _,
            "/api/v1/staff/login" | "/api/v1/staff/mfa" | "/api/v1/staff/mfa/totp" | "/api/v1/staff/mfa/totp/confirm",
        ) => Class::Public,
        (_, p) if p.starts_with("/api/v1/staff/") => Class::Staff,
        (_, "/api/v1/auth/logout") => Class::SelfService,
        (_, p) if p.starts_with("/api/v1/me") => Class::SelfService,
        ("get", "/api/v1/tenant" | "/api/v1/users") => Class::PortalRead,
        (_, "/api/v1/tenant") => Class::Manage,
        (_, p) if p.starts_with("/api/v1/users") || p.starts_with("/api/v1/invitations") => Class::Manage,
        (_, p) if p.starts_with("/api/v1/api-keys") => Class::Manage,
        (_, p) if p.starts_with("/api/v1/staff-access") => Class::Manage,
        ("get", "/api/v1/features") => Class::AnyCredential,
        (_, p) if p.starts_with("/api/v1/features/") => Class::Manage,
        ("get", "/api/v1/audit-log") => Class::ManageOrScope("audit_log"),
        // Any person, or a key with realtime:read; the upgrade itself is authorised by the
        // ticket (tests/api/realtime.rs), not by a bearer token.
        ("post", "/api/v1/realtime/ticket") => Class::CrmRead("realtime"),
        ("get", "/api/v1/realtime") => Class::Public,
        ("post", "/api/v1/contacts/{id}/erase") => Class::ManageOrErase,
        ("post", "/api/v1/tenant/export") => Class::ManageOrScope("exports"),
        ("get", "/api/v1/tenant/exports/{id}" | "/api/v1/tenant/exports/{id}/download") => {
            Class::ManageOrReadScope("exports")
        }
        ("get", p) if p.ends_with("/{id}/timeline") && crm_resource(p.trim_end_matches("/timeline")).is_some() => {
            Class::CrmRead(crm_resource(p.trim_end_matches("/timeline")).unwrap())
        }
        ("post", p) if p.ends_with("/batch") && crm_resource(p.trim_end_matches("/batch")).is_some() => {
            Class::CrmWrite(crm_resource(p.trim_end_matches("/batch")).unwrap())
        }
        ("post", p) if p.ends_with("/search") && crm_resource(p.trim_end_matches("/search")).is_some() => {
            Class::CrmRead(crm_resource(p.trim_end_matches("/search")).unwrap())
        }
        (m, p) if crm_resource(p).is_some() => {
            let resource = crm_resource(p).unwrap();
            match m {
                "get" => Class::CrmRead(resource),
                // Deleting contacts, companies, deals and tickets is high-risk: admins only.
                "delete" if matches!(resource, "contacts" | "companies" | "deals" | "tickets") => {
                    Class::CrmDelete(resource)
                }
                _ => Class::CrmWrite(resource),
            }
        }
        ("get", "/api/v1/pipelines" | "/api/v1/pipelines/{id}") => Class::CrmRead("pipelines"),
        ("post", "/api/v1/imports") => Class::ManageOrScope("imports"),
        ("get", "/api/v1/imports/{id}" | "/api/v1/imports/{id}/errors.csv") => Class::ManageOrReadScope("imports"),
        ("get", "/api/v1/exports/{file}") => Class::ManageOrScopePair("exports"),
        ("get", "/api/v1/tags" | "/api/v1/tags/{id}") => Class::CrmRead("tags"),
        ("delete", "/api/v1/tags/{id}") => Class::CrmDelete("tags"),
        (_, "/api/v1/tags" | "/api/v1/tags/{id}") => Class::CrmWrite("tags"),
        ("get", "/api/v1/custom-values" | "/api/v1/custom-values/{id}") => Class::CrmRead("custom_values"),
        (_, "/api/v1/custom-values" | "/api/v1/custom-values/{id}") => Class::ManageOrScope("custom_values"),
        (_, p) if p.starts_with("/api/v1/pipelines") => Class::ManageOrScope("pipelines"),
        ("get", "/api/v1/custom-fields" | "/api/v1/custom-fields/{id}") => Class::CrmRead("custom_fields"),
        (_, p) if p.starts_with("/api/v1/custom-fields") => Class::ManageOrScope("custom_fields"),
        ("get", "/api/v1/segments/{id}/contacts") => Class::ReadPair("campaigns", "contacts"),
        // Emails and segments: any person reads, members and up write (delete included).
        ("get", p) if p.starts_with("/api/v1/emails") || p.starts_with("/api/v1/segments") => {
            Class::CrmRead("campaigns")
        }
        (_, p) if p.starts_with("/api/v1/emails") || p.starts_with("/api/v1/segments") => Class::CrmWrite("campaigns"),
        // Campaigns: any person reads, members draft; sending, pausing, resuming, cancelling,
        // test sends and the suppression list need owners/admins or campaigns:write.
        (_, "/u/{token}" | "/t/o/{token}" | "/t/c/{token}") => Class::Public,
        ("post", p) if p.starts_with("/api/v1/campaigns/{id}/") => Class::ManageOrScope("campaigns"),
        // Recipients and previews show contacts' data: a key needs contacts:read as well.
        ("get", "/api/v1/campaigns/{id}/recipients" | "/api/v1/campaigns/{id}/preview") => {
            Class::ReadPair("campaigns", "contacts")
        }
        ("get", p) if p.starts_with("/api/v1/campaigns") || p.starts_with("/api/v1/suppressions") => {
            Class::CrmRead("campaigns")
        }
        (_, p) if p.starts_with("/api/v1/campaigns") => Class::CrmWrite("campaigns"),
        (_, p) if p.starts_with("/api/v1/suppressions") || p == "/api/v1/email-events" => {
            Class::ManageOrScope("campaigns")
        }
        // In-app messages: the identity settings are an admin's (or inapp:* keys'); any person
        // reads messages, members and up send. The end-user inbox takes no bearer token at
        // all (HMAC headers: tests/api/inapp.rs and inbox.rs).
        ("get", "/api/v1/inapp/settings") => Class::ManageOrReadScope("inapp"),
        (_, p) if p.starts_with("/api/v1/inapp/settings") => Class::ManageOrScope("inapp"),
        ("get", p) if p.starts_with("/api/v1/inapp/messages") => Class::CrmRead("inapp"),
        (_, p) if p.starts_with("/api/v1/inapp/messages") => Class::CrmWrite("inapp"),
        (_, p) if p.starts_with("/api/v1/inbox") => Class::Public,
        ("get", "/api/v1/trash") => Class::CrmRead("contacts"),
        ("post", "/api/v1/trash/{type}/{id}/restore") => Class::CrmDelete("contacts"),
        _ => panic!("route {method} {path} is not classified in tests/api/access.rs: say who may call it"),
    }
}

/// A callable URL for a route pattern: fresh ids, and the trash of contacts.
fn crm_resource(path: &str) -> Option<&'static str> {
    ["contacts", "companies", "deals", "tickets", "tasks", "notes"]
        .into_iter()
        .find(|r| path == format!("/api/v1/{r}") || path == format!("/api/v1/{r}/{{id}}"))
}

fn concrete(path: &str) -> String {
    let url = path
        .replace("{id}", &uuid::Uuid::now_v7().to_string())
        .replace("{type}", "contact")
        .replace("{n}", "1")
        .replace("{file}", "contacts.csv");
    if url == "/api/v1/trash" {
        format!("{url}?type=contact")
    } else {
        url
    }
}

fn method_of(m: &str) -> Method {
    Method::from_bytes(m.to_ascii_uppercase().as_bytes()).unwrap()
}

async fn call(app: &TestApp, method: &str, path: &str, token: &str) -> crate::helpers::Resp {
    let body = (method != "get").then(|| b"{}".to_vec());
    app.request(method_of(method), &concrete(path), Some(token), body).await
}

async fn every_role_gets_exactly_what_its_role_allows_on_every_route(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let mut people: Vec<(&str, Signed)> = Vec::new();
    for role in ["admin", "member", "viewer"] {
        people.push((role, app.member(&owner, &format!("{role}@acme.example"), role).await));
    }
    people.insert(0, ("owner", owner));
    let mut checked = 0;
    for (role, person) in &people {
        let mut token = person.token.clone();
        for (method, path) in organizeo::http::ROUTES {
            let class = class_of(method, path);
            if class == Class::Public {
                continue;
            }
            if class == Class::Staff {
                let r = call(&app, method, path, &token).await;
                assert_eq!(r.status, 401, "{role}'s portal token on staff route {method} {path}: {}", r.text);
                continue;
            }
            let allowed = match class {
                Class::Public
                | Class::Staff
                | Class::AnyCredential
                | Class::SelfService
                | Class::PortalRead
                | Class::ReadPair(..)
                | Class::CrmRead(_) => true,
                Class::CrmWrite(_) => *role != "viewer",
                Class::Manage
                | Class::ManageOrScope(_)
                | Class::ManageOrReadScope(_)
                | Class::ManageOrScopePair(_)
                | Class::CrmDelete(_)
                | Class::ManageOrErase => matches!(*role, "owner" | "admin"),
            };
            let r = call(&app, method, path, &token).await;
            if allowed {
                assert!(
                    r.status != 401 && r.status != 403,
                    "{role} should be allowed {method} {path}, got {}: {}",
                    r.status,
                    r.text
                );
            } else {
                assert_eq!(r.status, 403, "{role} must be refused {method} {path}: {}", r.text);
                assert_eq!(r.body["code"], "forbidden", "{role} {method} {path}");
            }
            checked += 1;
            if *path == "/api/v1/auth/logout" {
                token = app.login(&format!("{role}@acme.example").replace("owner@", "ada@"), PASSWORD, None).await.body
                    ["token"]
                    .as_str()
                    .unwrap()
                    .to_string();
            }
        }
    }
    assert!(checked >= 4 * 20, "only {checked} checks: the matrix lost its routes");
}

async fn every_key_scope_reaches_only_its_own_routes(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let mut checked = 0;
    let mut scopes: Vec<(String, &str, &str)> = organizeo::http::principal::RESOURCES
        .iter()
        .flat_map(|r| [(format!("{r}:read"), *r, "read"), (format!("{r}:write"), *r, "write")])
        .collect();
    for special in organizeo::http::principal::SPECIAL_SCOPES {
        let (r, level) = special.split_once(':').unwrap();
        scopes.push((special.to_string(), r, level));
    }
    for (scope, resource, level) in &scopes {
        let (resource, level) = (*resource, *level);
        let r = app.post("/api/v1/api-keys", &json!({"name": scope, "scopes": [scope]}), Some(&owner.token)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let key = r.body["key"].as_str().unwrap().to_string();
        for (method, path) in organizeo::http::ROUTES {
            let allowed = match class_of(method, path) {
                Class::Public => continue,
                Class::Staff => {
                    let r = call(&app, method, path, &key).await;
                    assert_eq!(r.status, 401, "{scope} key on staff route {method} {path}: {}", r.text);
                    continue;
                }
                Class::AnyCredential => true,
                Class::SelfService
                | Class::PortalRead
                | Class::Manage
                | Class::ManageOrScopePair(_)
                | Class::ReadPair(..) => false,
                Class::ManageOrErase => *scope == "contacts:erase",
                Class::ManageOrScope(res) | Class::CrmWrite(res) | Class::CrmDelete(res) => {
                    // Audit reads need only audit_log:read; every other such route writes.
                    res == resource && (level == "write" || (res == "audit_log" && level == "read"))
                }
                Class::CrmRead(res) | Class::ManageOrReadScope(res) => {
                    res == resource && matches!(level, "read" | "write")
                }
            };
            let r = call(&app, method, path, &key).await;
            if allowed {
                assert!(r.status != 401 && r.status != 403, "{scope} should reach {method} {path}: {}", r.text);
            } else {
                assert_eq!(r.status, 403, "{scope} must not reach {method} {path}: {}", r.text);
                let code = r.body["code"].as_str().unwrap();
                assert!(matches!(code, "user_required" | "insufficient_scope"), "{scope} {method} {path}: {code}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 28 * 20, "only {checked} checks");
}

both_backends!(
    every_role_gets_exactly_what_its_role_allows_on_every_route,
    every_key_scope_reaches_only_its_own_routes,
);
