//! Private app keys in the browser: owners and admins list them (name, scopes, prefix,
//! last use), create one with a scope picker, rotate and delete. A new or rotated key is
//! shown on the answer to that one post (`no-store`) and never again: the server keeps
//! only its digest. The rules are the API's (`http::api_keys::{keys, issue, rotate_key,
//! delete_key, parse_scopes}`).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use serde_json::{json, Value};

use super::forms::{self, Refused};
use super::render::{self, see_other};
use super::{Page, Visitor};
use crate::http::api_keys::{self, NewApiKey};
use crate::http::principal::{RESOURCES, SPECIAL_SCOPES};

type Errors = BTreeMap<String, Vec<String>>;

/// The picker: each resource with its read and write scopes, then the special ones.
fn picker(chosen: &[String]) -> Value {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .map(|r| {
            let level = |l: &str| {
                let scope = format!("{r}:{l}");
                json!({"scope": scope, "checked": chosen.contains(&scope)})
            };
            json!({"name": r, "read": level("read"), "write": level("write")})
        })
        .collect();
    let special: Vec<Value> = SPECIAL_SCOPES
        .iter()
        .map(|s| json!({"scope": s, "checked": chosen.iter().any(|c| c.as_str() == *s)}))
        .collect();
    json!({"resources": resources, "special": special})
}

async fn keys_page(v: &Visitor, status: StatusCode, name: &str, chosen: &[String], errors: Errors) -> Page {
    let m = v.member()?;
    let keys = api_keys::keys(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    let ctx = json!({"keys": keys, "form": {"name": name}, "picker": picker(chosen), "errors": errors});
    render::page(status, "api_keys.html", v.frame("keys-title", "settings"), ctx).map_err(|e| v.fail(e))
}

/// `/app/api-keys`: the keys (owners and admins only, as the API's list).
pub async fn list(v: Visitor) -> Page {
    keys_page(&v, StatusCode::OK, "", &[], Errors::new()).await
}

/// The page that shows a key this once.
fn secret_page(v: &Visitor, title_id: &str, name: Option<&str>, key: &str) -> Page {
    let ctx = json!({"name": name, "key": key, "heading": title_id});
    render::page(StatusCode::OK, "api_key_secret.html", v.frame(title_id, "settings"), ctx).map_err(|e| v.fail(e))
}

/// `POST /app/api-keys`: a name and the ticked scopes (`scopes`, repeated).
pub async fn create(v: Visitor, body: Bytes) -> Page {
    let m = v.member()?;
    m.principal.manager().map_err(|e| v.fail(e))?;
    let pairs: Vec<(String, String)> = forms::parse(v.lang, &body)?;
    let name = pairs.iter().find(|(k, _)| k == "name").map(|(_, v)| v.clone()).unwrap_or_default();
    let scopes: Vec<String> = pairs.into_iter().filter(|(k, _)| k == "scopes").map(|(_, v)| v).collect();
    let input = NewApiKey { name: name.clone(), scopes: scopes.clone() };
    match api_keys::issue(&v.state, &m.principal, input).await {
        Ok(created) => secret_page(&v, "keys-created-title", Some(&created.name), &created.key),
        Err(e) => match forms::refused(v.lang, e, &["name", "scopes"], "name") {
            Refused::Form { status, mut errors } => {
                // `scopes[3]` is the picker's own message.
                if let Some(other) = errors.remove("_form") {
                    errors.entry("scopes".into()).or_default().extend(other);
                }
                keys_page(&v, status, &name, &scopes, errors).await
            }
            Refused::Page(p) => Err(p),
        },
    }
}

/// `POST /app/api-keys/{id}/rotate`: a new secret, shown this once; the old one stops.
pub async fn rotate(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let rotated = api_keys::rotate_key(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    secret_page(&v, "keys-rotated-title", None, &rotated.key)
}

/// `POST /app/api-keys/{id}/delete`: the key stops working at once.
pub async fn delete(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    api_keys::delete_key(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    Ok(see_other("/app/api-keys"))
}
