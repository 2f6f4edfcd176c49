//! Changing flags (release managers), and portals opting in to public betas (owners and
//! admins). Each change is audited, commits, then is applied to the running table on this
//! node and announced to the others (`Realtime::flags_changed`, by the caller).

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{Flag, FlagTable, Stage};
use crate::db::audit::RequestMeta;
use crate::db::features::FlagRow;
use crate::db::Db;
use crate::domain::{TenantId, UserId};
use crate::error::{AppError, FieldError};
use crate::identity::staff::StaffPrincipal;
use crate::notifications::{self, Notice};

/// A release manager's change (absent fields stay as they are).
#[derive(Debug, Default)]
pub struct Change {
    pub stage: Option<Stage>,
    /// The private beta's portals (replaces the list).
    pub tenants: Option<Vec<String>>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Sent to every person of every portal the change affects.
    pub announcement: Option<(String, String)>,
}

fn text(field: &str, v: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > max {
        errors.push(FieldError::new(field, format!("must be 1 to {max} characters")));
    }
    v.to_string()
}

fn valid_key(key: &str) -> bool {
    (2..=64).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && key.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

/// Portals whose answer to "is it on?" differs between two tables, plus (when the flag is
/// now a public beta) every portal that could opt in: who an announcement concerns.
fn affected(before: &FlagTable, after: &FlagTable, key: &str, all: &[String]) -> Vec<String> {
    let public = after.flags.get(key).is_some_and(|f| f.stage == Stage::PublicBeta);
    all.iter().filter(|t| before.enabled(key, t) != after.enabled(key, t) || public).cloned().collect()
}

/// A flag to add.
#[derive(Debug)]
pub struct NewFlag {
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub stage: Stage,
}

/// Adds a flag of the release manager's own (it gates nothing on the server; clients read
/// it from `GET /api/v1/features`). 409 if the key exists.
pub async fn create(
    db: &Db,
    who: &StaffPrincipal,
    new: NewFlag,
    meta: RequestMeta,
    now: DateTime<Utc>,
) -> Result<Flag, AppError> {
    let NewFlag { key, name, description, stage } = new;
    let mut errors = Vec::new();
    if !valid_key(&key) {
        errors.push(FieldError::new(
            "key",
            "2 to 64 characters: lower-case letters, digits and _, starting with a letter",
        ));
    }
    let name = text("name", &name, 200, &mut errors);
    let description = description.map(|d| d.trim().to_string()).unwrap_or_default();
    if description.chars().count() > 2000 {
        errors.push(FieldError::new("description", "at most 2000 characters"));
    }
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let staff = who.staff_id.clone();
    db.write(move |tx| {
        let mut p = tx.platform();
        if p.flag_table()?.flags.contains_key(&key) {
            return Err(AppError::conflict(format!("the flag {key} exists")));
        }
        let at = now.naive_utc();
        let row = FlagRow {
            key: key.clone(),
            name,
            description,
            stage: stage.as_str().into(),
            created_at: at,
            updated_at: at,
        };
        p.insert_flag(&row)?;
        let e = meta
            .entry("flag.created")
            .actor("staff", &staff)
            .target("feature_flag", &key)
            .details(serde_json::json!({"name": row.name, "stage": row.stage}));
        p.platform_audit(e, now)?;
        p.flag_table()?.flags.remove(&key).ok_or_else(|| AppError::not_found("flag"))
    })
    .await
}

/// Changes a flag; returns it as it is now. Unknown key → 404; unknown portal ids → 422.
pub async fn change(
    db: &Db,
    who: &StaffPrincipal,
    key: String,
    c: Change,
    meta: RequestMeta,
    now: DateTime<Utc>,
) -> Result<Flag, AppError> {
    let mut errors = Vec::new();
    let name = c.name.as_deref().map(|n| text("name", n, 200, &mut errors));
    if c.description.as_ref().is_some_and(|d| d.chars().count() > 2000) {
        errors.push(FieldError::new("description", "at most 2000 characters"));
    }
    let announcement = c.announcement.as_ref().map(|(t, b)| {
        (text("announcement.title", t, 200, &mut errors), text("announcement.body", b, 5000, &mut errors))
    });
    if let Some(ids) = &c.tenants {
        if ids.len() > 10_000 {
            errors.push(FieldError::new("tenants", "at most 10000 portals"));
        }
        if ids.iter().any(|t| TenantId::parse(t).is_none()) {
            errors.push(FieldError::new("tenants", "every entry must be a portal id (UUID)"));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let staff = who.staff_id.clone();
    db.write(move |tx| {
        let at = now.naive_utc();
        let (before, after, all) = {
            let mut p = tx.platform();
            let before = p.flag_table()?;
            let old = before.flags.get(&key).ok_or_else(|| AppError::not_found("flag"))?.clone();
            if let Some(ids) = &c.tenants {
                let known = p.existing_tenants(ids)?;
                let unknown: Vec<&String> = ids.iter().filter(|t| !known.contains(*t)).collect();
                if !unknown.is_empty() {
                    return Err(AppError::validation("tenants", format!("no such portals: {unknown:?}")));
                }
                let unique: Vec<String> = ids.iter().cloned().collect::<HashSet<_>>().into_iter().collect();
                p.set_listed(&key, &unique, at)?;
            }
            p.update_flag(&key, c.stage, name.as_deref(), c.description.as_deref().map(str::trim), at)?;
            let after = p.flag_table()?;
            let new = after.flags.get(&key).ok_or_else(|| AppError::not_found("flag"))?;
            let mut listed_before: Vec<&String> = old.listed.iter().collect();
            let mut listed_after: Vec<&String> = new.listed.iter().collect();
            listed_before.sort();
            listed_after.sort();
            let e = meta.entry("flag.changed").actor("staff", &staff).target("feature_flag", &key).details(
                serde_json::json!({
                    "stage": {"from": old.stage, "to": new.stage},
                    "tenants": {"from": listed_before, "to": listed_after},
                    "announcement": announcement.as_ref().map(|(t, _)| t),
                }),
            );
            p.platform_audit(e, now)?;
            let all = if announcement.is_some() { p.all_tenant_ids()? } else { Vec::new() };
            (before, after, all)
        };
        if let Some((title, body)) = announcement {
            let notice = Notice {
                kind: "announcement",
                title,
                body,
                data: serde_json::json!({"feature": key, "stage": after.flags.get(&key).map(|f| f.stage)}),
            };
            for tenant in affected(&before, &after, &key, &all) {
                let mut t = tx.tenant(&TenantId::from_db(tenant))?;
                let people = notifications::everyone(&mut t)?;
                notifications::deliver(&mut t, &people, &notice, now)?;
            }
        }
        let mut after = after;
        after.flags.remove(&key).ok_or_else(|| AppError::not_found("flag"))
    })
    .await
}

/// A portal opts in to (`on`) or out of a public beta. Unknown key → 404; a flag that is
/// not in public beta → 409 `not_public_beta`.
pub async fn opt(
    db: &Db,
    tenant: TenantId,
    by: UserId,
    key: String,
    on: bool,
    meta: RequestMeta,
    now: DateTime<Utc>,
) -> Result<Flag, AppError> {
    db.write(move |tx| {
        let changed = {
            let mut p = tx.platform();
            let table = p.flag_table()?;
            let flag = table.flags.get(&key).ok_or_else(|| AppError::not_found("feature"))?;
            if flag.stage != Stage::PublicBeta {
                return Err(AppError::Conflict {
                    code: "not_public_beta",
                    detail: format!("{key} is {}: only public betas take opt-ins", flag.stage.as_str()),
                });
            }
            p.set_opt_in(&key, tenant.as_str(), on, now.naive_utc())?
        };
        if changed {
            let action = if on { "feature.opted_in" } else { "feature.opted_out" };
            let mut t = tx.tenant(&tenant)?;
            t.audit(meta.entry(action).actor("user", &by).target("feature_flag", &key), now)?;
        }
        tx.platform().flag_table()?.flags.remove(&key).ok_or_else(|| AppError::not_found("feature"))
    })
    .await
}
