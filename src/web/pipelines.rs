//! Deal pipelines in the browser: everyone sees them with their stages; owners and admins
//! rename one, rename, add, remove and reorder its stages, and delete it. A stage keeps
//! its deals because the form sends each stage with its id; removing a stage deals are in
//! is the API's 409, shown on the form. The rules are the API's (`http::pipelines::{all,
//! change, remove}`; adding a pipeline is the board's form, `pipelines::define`).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use serde_json::{json, Value};

use super::forms::{self, Refused};
use super::render::{self, see_other};
use super::{Page, Visitor};
use crate::error::AppError;
use crate::http::pipelines::{self, PipelineInput, StageInput};

type Errors = BTreeMap<String, Vec<String>>;

/// Blank rows the form offers for new stages.
const NEW_ROWS: usize = 2;

/// `/app/pipelines`: every pipeline with its stages.
pub async fn list(v: Visitor) -> Page {
    let m = v.member()?;
    let all = pipelines::all(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    let ctx = json!({"pipelines": all, "can_manage": m.role().can_manage()});
    render::page(StatusCode::OK, "pipelines.html", v.frame("pipelines-title", "settings"), ctx).map_err(|e| v.fail(e))
}

async fn edit_page(v: &Visitor, id: &str, status: StatusCode, form: Option<Value>, errors: Errors) -> Page {
    let m = v.member()?;
    let all = pipelines::all(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    let pipeline = all.into_iter().find(|p| p.id == id).ok_or_else(|| v.fail(AppError::not_found("pipeline")))?;
    let form = form.unwrap_or_else(|| {
        let mut rows: Vec<Value> = pipeline.stages.iter().map(|s| json!({"id": s.id, "name": s.name})).collect();
        rows.extend((0..NEW_ROWS).map(|_| json!({"id": "", "name": ""})));
        json!({"name": pipeline.name, "stages": rows})
    });
    let ctx = json!({"pipeline": pipeline, "form": form, "errors": errors, "can_manage": m.role().can_manage()});
    render::page(status, "pipeline.html", v.frame("pipeline-edit-title", "settings"), ctx).map_err(|e| v.fail(e))
}

/// `/app/pipelines/{id}`: one pipeline, as a form for owners and admins.
pub async fn show(v: Visitor, id: web::Path<String>) -> Page {
    edit_page(&v, &id, StatusCode::OK, None, Errors::new()).await
}

/// The form's stage rows in their new order: `stage_id` and `stage_name` pairs (an empty id
/// is a new stage; a row with an empty name is left out, so emptying a name removes it),
/// sorted by each row's `stage_pos` number (reordering without JavaScript); rows without a
/// readable number, and ties, keep their place in the form.
fn stage_rows(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let ids = pairs.iter().filter(|(k, _)| k == "stage_id").map(|(_, v)| v.trim().to_string());
    let names = pairs.iter().filter(|(k, _)| k == "stage_name").map(|(_, v)| v.clone());
    let mut positions = pairs.iter().filter(|(k, _)| k == "stage_pos").map(|(_, v)| v.trim().parse::<f64>().ok());
    let mut rows: Vec<(f64, (String, String))> = ids
        .zip(names)
        .enumerate()
        .map(|(i, row)| {
            let at = positions.next().flatten().filter(|p| p.is_finite()).unwrap_or((i + 1) as f64);
            (at, row)
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    rows.into_iter().map(|(_, row)| row).collect()
}

/// `POST /app/pipelines/{id}`: the name and the whole stage list, as the API's patch.
pub async fn update(v: Visitor, id: web::Path<String>, body: Bytes) -> Page {
    let m = v.member()?;
    m.principal
        .manager_or_scope(&v.state, "pipelines", crate::http::principal::Access::Write)
        .await
        .map_err(|e| v.fail(e))?;
    let pairs: Vec<(String, String)> = forms::parse(v.lang, &body)?;
    let name = pairs.iter().find(|(k, _)| k == "name").map(|(_, v)| v.clone()).unwrap_or_default();
    let rows = stage_rows(&pairs);
    let stages: Vec<StageInput> = rows
        .iter()
        .filter(|(_, n)| !n.trim().is_empty())
        .map(|(sid, n)| StageInput { id: (!sid.is_empty()).then(|| sid.clone()), name: n.clone() })
        .collect();
    let input = PipelineInput { name: Some(name.clone()), stages: Some(stages), display_order: None };
    match pipelines::change(&v.state, &m.principal, &id, input).await {
        Ok(_) => Ok(see_other("/app/pipelines")),
        Err(e) => match forms::refused(v.lang, e, &["name", "stages"], "stages") {
            Refused::Form { status, mut errors } => {
                // Each stage's own message (`stages[2].name`) belongs to the stages.
                if let Some(other) = errors.remove("_form") {
                    errors.entry("stages".into()).or_default().extend(other);
                }
                let rows: Vec<Value> = rows.iter().map(|(i, n)| json!({"id": i, "name": n})).collect();
                edit_page(&v, &id, status, Some(json!({"name": name, "stages": rows})), errors).await
            }
            Refused::Page(p) => Err(p),
        },
    }
}

/// `POST /app/pipelines/{id}/delete`: a pipeline no deal uses (else the API's 409).
pub async fn delete(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    match pipelines::remove(&v.state, &m.principal, &id).await {
        Ok(()) => Ok(see_other("/app/pipelines")),
        Err(e) => match forms::refused(v.lang, e, &[], "stages") {
            Refused::Form { status, errors } => edit_page(&v, &id, status, None, errors).await,
            Refused::Page(p) => Err(p),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::stage_rows;

    #[test]
    fn stage_rows_pair_ids_and_names_in_order() {
        let pairs: Vec<(String, String)> =
            [("csrf", "x"), ("stage_id", "a"), ("stage_name", "Lead"), ("stage_id", ""), ("stage_name", "New")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(stage_rows(&pairs), vec![("a".into(), "Lead".into()), (String::new(), "New".into())]);
    }

    #[test]
    fn position_numbers_reorder_the_rows_and_ties_keep_the_form_order() {
        let form = [
            ("stage_id", "a"),
            ("stage_name", "Lead"),
            ("stage_pos", "3"),
            ("stage_id", "b"),
            ("stage_name", "Won"),
            ("stage_pos", "1"),
            ("stage_id", "c"),
            ("stage_name", "Demo"),
            ("stage_pos", "x"),
            ("stage_id", ""),
            ("stage_name", "New"),
            ("stage_pos", "1"),
        ];
        let pairs: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let names: Vec<String> = stage_rows(&pairs).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, ["Won", "New", "Lead", "Demo"]);
    }
}
