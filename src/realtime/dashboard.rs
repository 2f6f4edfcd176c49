//! The live dashboard's counters for one portal, computed from the database (so they are
//! right after a restart, a missed event or a purge) and compared with the previous
//! snapshot to send only what changed.
//!
//! Days are UTC days: "new today" counts contacts created since 00:00 UTC, "tasks due" counts
//! incomplete tasks due before the end of the UTC day (overdue ones included).

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};

use crate::db::dashboard::ValueIs;
use crate::db::pipelines::Stage;
use crate::db::TenantDb;
use crate::domain::Money;
use crate::error::AppError;

/// The counters, as the `dashboard` snapshot's `data`.
pub fn compute(tdb: &mut TenantDb<'_>, now: DateTime<Utc>) -> Result<Value, AppError> {
    let day_start = now.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default();
    let day_end = (day_start + Duration::days(1)).and_utc().timestamp() as f64;
    let contacts = tdb.count_live("contact", None, &[])?;
    let new_today = tdb.count_live("contact", Some(day_start), &[])?;
    let open_tickets = tdb.count_live("ticket", None, &[("status", ValueIs::TextIn(&["open"]))])?;
    let pending_tickets = tdb.count_live("ticket", None, &[("status", ValueIs::TextIn(&["pending"]))])?;
    let incomplete = ("completed", ValueIs::NumEq(0.0));
    let tasks_due = tdb.count_live("task", None, &[incomplete, ("due_at", ValueIs::NumAtMost(day_end))])?;
    let overdue = tdb.count_live(
        "task",
        None,
        &[("completed", ValueIs::NumEq(0.0)), ("due_at", ValueIs::NumAtMost(now.timestamp() as f64))],
    )?;
    let open_deals = tdb.live_props_with("deal", "status", &["open"])?;
    let pipelines = tdb.pipelines()?;
    Ok(json!({
        "contacts": contacts,
        "contacts_new_today": new_today,
        "open_tickets": open_tickets,
        "pending_tickets": pending_tickets,
        "tasks_due": tasks_due,
        "tasks_overdue": overdue,
        "open_deals": open_deal_summary(&open_deals, &pipelines),
    }))
}

/// `{count, amounts: {currency: total}, by_stage: [{pipeline_id, pipeline, stage_id, stage,
/// count, amounts}]}` in pipeline and stage order; deals without a stage come last.
fn open_deal_summary(props: &[String], pipelines: &[crate::db::pipelines::PipelineRow]) -> Value {
    struct Bucket {
        pipeline_id: Value,
        stage_id: Value,
        count: i64,
        amounts: Vec<(String, i128)>,
    }
    let mut buckets: Vec<Bucket> = Vec::new();
    let mut totals: Vec<(String, i128)> = Vec::new();
    for p in props {
        let Ok(deal) = serde_json::from_str::<Map<String, Value>>(p) else { continue };
        let pipeline_id = deal.get("pipeline_id").cloned().unwrap_or(Value::Null);
        let stage_id = deal.get("stage_id").cloned().unwrap_or(Value::Null);
        let bucket = match buckets.iter().position(|b| b.pipeline_id == pipeline_id && b.stage_id == stage_id) {
            Some(i) => buckets.get_mut(i),
            None => {
                buckets.push(Bucket { pipeline_id, stage_id, count: 0, amounts: Vec::new() });
                buckets.last_mut()
            }
        };
        let Some(bucket) = bucket else { continue };
        bucket.count += 1;
        if let Some(micros) =
            deal.get("amount").and_then(Value::as_str).and_then(|a| Money::parse(a).ok()).map(|m| m.micros())
        {
            let currency = deal.get("currency").and_then(Value::as_str).unwrap_or("").to_string();
            add(&mut bucket.amounts, &currency, micros);
            add(&mut totals, &currency, micros);
        }
    }
    let stages: Vec<(usize, &crate::db::pipelines::PipelineRow, Vec<Stage>)> =
        pipelines.iter().enumerate().map(|(i, p)| (i, p, p.stage_list())).collect();
    let place = |b: &Bucket| -> (usize, usize, Value, Value) {
        for (pi, p, ss) in &stages {
            if b.pipeline_id.as_str() == Some(p.id.as_str()) {
                let si = ss.iter().position(|s| b.stage_id.as_str() == Some(s.id.as_str())).unwrap_or(usize::MAX);
                let stage = ss.get(si).map(|s| Value::String(s.name.clone())).unwrap_or(Value::Null);
                return (*pi, si, Value::String(p.name.clone()), stage);
            }
        }
        (usize::MAX, usize::MAX, Value::Null, Value::Null)
    };
    let mut rows: Vec<((usize, usize), Value)> = buckets
        .iter()
        .map(|b| {
            let (pi, si, pipeline, stage) = place(b);
            (
                (pi, si),
                json!({"pipeline_id": b.pipeline_id, "pipeline": pipeline, "stage_id": b.stage_id, "stage": stage,
                       "count": b.count, "amounts": amounts_json(&b.amounts)}),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    json!({
        "count": props.len(),
        "amounts": amounts_json(&totals),
        "by_stage": rows.into_iter().map(|r| r.1).collect::<Vec<_>>(),
    })
}

fn add(sums: &mut Vec<(String, i128)>, currency: &str, micros: i128) {
    match sums.iter_mut().find(|(c, _)| c == currency) {
        Some((_, total)) => *total += micros,
        None => sums.push((currency.to_string(), micros)),
    }
}

fn amounts_json(sums: &[(String, i128)]) -> Value {
    let mut sorted: Vec<&(String, i128)> = sums.iter().collect();
    sorted.sort();
    Value::Object(
        sorted.into_iter().map(|(c, m)| (c.clone(), Value::String(Money::from_micros(*m).to_string()))).collect(),
    )
}

/// The top-level keys of `new` whose values differ from `old`.
pub fn changed(old: &Value, new: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(new) = new.as_object() {
        for (k, v) in new {
            if old.get(k) != Some(v) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_sums_are_exact() {
        let sum =
            |xs: &[&str]| Money::from_micros(xs.iter().map(|x| Money::parse(x).unwrap().micros()).sum()).to_string();
        assert_eq!(sum(&["0.1", "0.2"]), "0.30");
        assert_eq!(sum(&["12500.50"]), "12500.50");
        assert_eq!(sum(&["999999999999999.999999"; 3]), "2999999999999999.999997");
        assert_eq!(sum(&["-0.000001"]), "-0.000001");
    }

    #[test]
    fn deltas_name_only_changed_counters() {
        let old = json!({"contacts": 1, "open_tickets": 0});
        let new = json!({"contacts": 2, "open_tickets": 0});
        assert_eq!(Value::Object(changed(&old, &new)), json!({"contacts": 2}));
    }
}
