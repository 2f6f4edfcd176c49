//! The portal's audit log in the browser: newest first, filtered by action (a prefix),
//! person and a date range, paged by the API's cursor. Owners and admins only, as the
//! API (`http::audit::entries`, which also judges every filter: a bad one is its 422,
//! shown beside the filter).

use std::collections::{BTreeMap, HashMap};

use actix_web::http::StatusCode;
use chrono::{Days, NaiveDate};
use serde::Deserialize;
use serde_json::json;

use super::forms::{self, Refused};
use super::mail;
use super::render;
use super::{Page, Visitor};
use crate::http::audit::{self, AuditQuery};
use crate::http::users;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Filters {
    action: String,
    actor_id: String,
    /// A day (`2026-11-30`): entries from its start.
    since: String,
    /// A day: entries up to its end.
    until: String,
    after: String,
}

/// A day from a date input as the API's RFC 3339 bound: the day's start, or (`end`) the
/// next day's start, since `until` is exclusive. Anything else goes to the API as typed,
/// which refuses it by name.
fn bound(day: &str, end: bool) -> Option<String> {
    let day = day.trim();
    if day.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(day, "%Y-%m-%d") {
        Ok(d) => {
            let d = if end { d.checked_add_days(Days::new(1)).unwrap_or(d) } else { d };
            Some(format!("{}T00:00:00Z", d.format("%Y-%m-%d")))
        }
        Err(_) => Some(day.to_string()),
    }
}

/// `/app/audit?action=&actor_id=&since=&until=&after=`.
pub async fn list(v: Visitor) -> Page {
    let m = v.member()?;
    let f: Filters = mail::query(&v)?;
    let query = AuditQuery {
        action: forms::value(&Some(f.action.clone())),
        actor_id: forms::value(&Some(f.actor_id.clone())),
        since: bound(&f.since, false),
        until: bound(&f.until, true),
        limit: None,
        after: forms::value(&Some(f.after.clone())),
    };
    // The people, to name actors and to pick one (the list is the API's, readable by all).
    let people = users::members(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    let (status, page, errors) = match audit::entries(&v.state, &m.principal, query).await {
        Ok(page) => (StatusCode::OK, Some(page), BTreeMap::new()),
        Err(e) => match forms::refused(v.lang, e, &["action", "actor_id", "since", "until"], "action") {
            Refused::Form { status, errors } => (status, None, errors),
            Refused::Page(p) => return Err(p),
        },
    };
    let names: HashMap<&str, &str> = people.iter().map(|p| (p.id.as_str(), p.name.as_str())).collect();
    let filters = [
        ("action", f.action.as_str()),
        ("actor_id", f.actor_id.as_str()),
        ("since", f.since.as_str()),
        ("until", f.until.as_str()),
    ];
    let (entries, next_url) = match &page {
        Some(page) => {
            let entries: Vec<serde_json::Value> = page
                .data
                .iter()
                .map(|e| {
                    let who = e.actor.id.as_deref().and_then(|id| names.get(id).copied());
                    let details = if e.details.is_null() { String::new() } else { e.details.to_string() };
                    json!({"seq": e.seq, "at": e.occurred_at, "action": e.action, "actor_type": e.actor.kind,
                        "actor_id": e.actor.id, "actor_name": who, "target": e.target, "ip": e.ip,
                        "details": details})
                })
                .collect();
            let next = page.next_cursor.as_deref().map(|c| {
                let mut params = filters.to_vec();
                params.push(("after", c));
                mail::url("/app/audit", &params)
            });
            (entries, next)
        }
        None => (Vec::new(), None),
    };
    let ctx = json!({"entries": entries, "people": people, "filters": f_json(&f), "errors": errors,
        "next_url": next_url, "first_url": mail::url("/app/audit", &filters), "paged": !f.after.is_empty()});
    render::page(status, "audit.html", v.frame("audit-title", "settings"), ctx).map_err(|e| v.fail(e))
}

fn f_json(f: &Filters) -> serde_json::Value {
    json!({"action": f.action, "actor_id": f.actor_id, "since": f.since, "until": f.until})
}

#[cfg(test)]
mod tests {
    use super::bound;

    #[test]
    fn a_day_range_covers_whole_days_and_other_text_goes_to_the_api() {
        assert_eq!(bound("2026-11-30", false).as_deref(), Some("2026-11-30T00:00:00Z"));
        assert_eq!(bound("2026-11-30", true).as_deref(), Some("2026-12-01T00:00:00Z"));
        assert_eq!(bound(" ", true), None);
        assert_eq!(bound("yesterday", false).as_deref(), Some("yesterday"));
    }
}
