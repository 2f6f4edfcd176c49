//! Deals as a pipeline board: one column per stage of a pipeline, a card per deal, and
//! moving a deal to another stage. Every card holds a small form (a stage `<select>` and a
//! button) that works from the keyboard and without JavaScript; `static/board.js` adds
//! drag and drop, posting the same form fields with the page's CSRF token. A move is the
//! API's own update of the deal (`crud::update` with its `pipeline_id` and `stage_id`), so
//! the role rules, the stage check, the `deal.stage_changed` event and the audit are the
//! API's. A portal without pipelines gets a form to create its first one
//! (`pipelines::define`, owners and admins).

use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{self, Refused};
use super::records::view::{self, at};
use super::render::{self, see_other, WebError};
use super::{format, Page, Visitor};
use crate::crm::objects::Object;
use crate::crm::search::{FilterGroupInput, FilterInput};
use crate::error::AppError;
use crate::http::pipelines::{self, PipelineInput, StageInput};
use crate::http::records::{crud, list as listing, ListParams};

const BOARD_JS: &str = include_str!("../../static/board.js");
/// Cards per column (the list of deals has them all).
const PER_STAGE: &str = "100";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BoardQuery {
    pipeline: Option<String>,
}

/// `/app/deals/board?pipeline=`: the chosen pipeline (else the first) as columns.
pub async fn show(v: Visitor) -> Page {
    let m = v.member()?;
    let query: BoardQuery = serde_urlencoded::from_str(v.req.query_string())
        .map_err(|_| WebError::status(v.lang, StatusCode::BAD_REQUEST))?;
    let all = pipelines::all(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    let wanted = forms::value(&query.pipeline);
    let chosen = match &wanted {
        Some(id) => Some(all.iter().find(|p| &p.id == id).ok_or_else(|| v.fail(AppError::not_found("pipeline")))?),
        None => all.first(),
    };
    let mut columns = Vec::new();
    if let Some(pipeline) = chosen {
        let stages: Vec<Value> = pipeline.stages.iter().map(|s| json!({"id": s.id, "name": s.name})).collect();
        for stage in &pipeline.stages {
            let filter = FilterInput { field: "stage_id".into(), op: "eq".into(), value: json!(stage.id) };
            let params = ListParams { limit: Some(PER_STAGE.into()), ..ListParams::default() };
            let page = listing::page(
                &v.state,
                &m.principal,
                Object::Deal,
                params,
                Some(vec![FilterGroupInput { filters: vec![filter] }]),
            )
            .await
            .map_err(|e| v.fail(e))?;
            let cards: Vec<Value> = page
                .data
                .iter()
                .map(|d| {
                    let amount = at(d, "amount")
                        .as_str()
                        .map(|a| format::money(v.lang, a, at(d, "currency").as_str().unwrap_or_default()));
                    json!({"id": at(d, "id"), "name": view::title(Object::Deal, d), "amount": amount,
                        "status": at(d, "status")})
                })
                .collect();
            columns.push(json!({"id": stage.id, "name": stage.name, "deals": cards,
                "more": page.next_cursor.is_some()}));
        }
        let ctx = json!({
            "pipelines": all.iter().map(|p| json!({"id": p.id, "name": p.name, "selected": p.id == pipeline.id}))
                .collect::<Vec<_>>(),
            "pipeline": {"id": pipeline.id, "name": pipeline.name},
            "stages": stages,
            "columns": columns,
            "can_write": m.role().can_write(),
        });
        return render::page(StatusCode::OK, "board.html", v.frame("board-title", "deals"), ctx).map_err(|e| v.fail(e));
    }
    let ctx = json!({"pipelines": [], "can_manage": m.role().can_manage(), "errors": {}, "form": {}});
    render::page(StatusCode::OK, "board.html", v.frame("board-title", "deals"), ctx).map_err(|e| v.fail(e))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MoveForm {
    pipeline_id: String,
    stage_id: String,
}

/// `POST /app/deals/{id}/stage`: moves the deal, then back to its board.
pub async fn move_deal(v: Visitor, id: web::Path<String>, body: Bytes) -> Page {
    let m = v.member()?;
    let form: MoveForm = forms::parse(v.lang, &body)?;
    let change = json!({"pipeline_id": form.pipeline_id.trim(), "stage_id": form.stage_id.trim()});
    let deal = crud::update(&v.state, &m.principal, Object::Deal, &id, change).await.map_err(|e| v.fail(e))?;
    let pipeline = at(&deal, "pipeline_id").as_str().unwrap_or_default();
    let to = format!("/app/deals/board?{}", serde_urlencoded::to_string([("pipeline", pipeline)]).unwrap_or_default());
    Ok(see_other(&to))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PipelineForm {
    name: String,
    stages: String,
}

/// `POST /app/pipelines`: a pipeline with its stages, one per line.
pub async fn create_pipeline(v: Visitor, body: Bytes) -> Page {
    let m = v.member()?;
    let form: PipelineForm = forms::parse(v.lang, &body)?;
    let stages: Vec<StageInput> = form
        .stages
        .lines()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| StageInput { id: None, name: name.to_string() })
        .collect();
    let input = PipelineInput { name: Some(form.name.clone()), stages: Some(stages), display_order: None };
    match pipelines::define(&v.state, &m.principal, input).await {
        Ok(p) => Ok(see_other(&format!(
            "/app/deals/board?{}",
            serde_urlencoded::to_string([("pipeline", p.id)]).unwrap_or_default()
        ))),
        Err(e) => match forms::refused(v.lang, e, &["name", "stages"], "name") {
            Refused::Form { status, errors } => {
                // Each stage's own message (`stages[2].name`) belongs to the stages field.
                let mut errors = errors;
                if let Some(other) = errors.remove("_form") {
                    errors.entry("stages".into()).or_default().extend(other);
                }
                let ctx = json!({"pipelines": [], "can_manage": m.role().can_manage(), "errors": errors,
                    "form": {"name": form.name, "stages": form.stages}});
                render::page(status, "board.html", v.frame("board-title", "deals"), ctx).map_err(|e| v.fail(e))
            }
            Refused::Page(p) => Err(p),
        },
    }
}

pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(BOARD_JS)
}
