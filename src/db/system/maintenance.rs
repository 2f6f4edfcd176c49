//! Whole-database checks and data migrations: `organizeo audit verify` over every chain,
//! money re-indexing, statistics after bulk imports.

use super::*;
use crate::security::audit_chain::GENESIS;

/// The first broken link of one chain (`rows` in seq order, `head` its stored head).
fn check_chain(chain: &str, rows: &[AuditRow], head: Option<(i64, String)>) -> Option<Break> {
    let mut prev = GENESIS.to_string();
    let mut expected_seq = 1;
    let broken = |seq: i64, reason: String| Some(Break { tenant_id: chain.to_string(), seq, reason });
    for row in rows {
        if row.seq != expected_seq {
            return broken(row.seq, format!("expected entry {expected_seq} here (an entry is missing)"));
        } else if row.prev_hash != prev {
            return broken(row.seq, "prev_hash does not match the previous entry".into());
        } else if row.chained_hash(&prev) != row.hash {
            return broken(row.seq, "contents do not match the entry's hash (altered)".into());
        }
        prev = row.hash.clone();
        expected_seq += 1;
    }
    match head {
        Some((seq, hash)) if seq != expected_seq - 1 || hash != prev => {
            broken(seq, "the newest entries are missing (chain head does not match)".into())
        }
        _ => None,
    }
}

impl System<'_> {
    /// Recomputes every portal's audit chain from the genesis, in `seq` order.
    pub fn verify_audit(&mut self) -> QueryResult<Report> {
        let conn = &mut *self.conn;
        let mut report = Report::default();
        let ids: Vec<String> = tenants::table.select(tenants::id).order(tenants::id.asc()).load(conn)?;
        for tid in ids {
            report.portals += 1;
            let rows: Vec<AuditRow> = audit_log::table
                .filter(audit_log::tenant_id.eq(&tid))
                .order(audit_log::seq.asc())
                .select(AuditRow::as_select())
                .load(conn)?;
            let head: Option<(i64, String)> =
                audit_heads::table.find(&tid).select((audit_heads::seq, audit_heads::hash)).first(conn).optional()?;
            report.entries += rows.len();
            let found = check_chain(&tid, &rows, head);
            if report.first_break.is_none() {
                report.first_break = found;
            }
        }
        // The platform's own chain (staff, grants, flags), under the name "platform".
        let rows = crate::db::Platform::new(conn).platform_audit_page(0, i64::MAX)?;
        let head: Option<(i64, String)> = crate::db::schema::platform_audit_head::table
            .find(1)
            .select((crate::db::schema::platform_audit_head::seq, crate::db::schema::platform_audit_head::hash))
            .first(conn)
            .optional()?;
        report.entries += rows.len();
        let found = check_chain(crate::db::staff::PLATFORM_CHAIN, &rows, head);
        if report.first_break.is_none() {
            report.first_break = found;
        }
        Ok(report)
    }

    /// Rewrites deal amounts indexed the old way (a float, which could not tell
    /// 999999999999.999998 from …999) as exact sort keys. Idempotent: only rows without a
    /// key are touched, so it costs one indexed probe once done. Returns the rows fixed.
    pub fn reindex_money(&mut self) -> QueryResult<usize> {
        use crate::db::schema::record_values as rv;
        let conn = &mut *self.conn;
        let mut fixed = 0;
        loop {
            let batch: Vec<(String, String)> = rv::table
                .inner_join(records::table.on(records::id.eq(rv::record_id)))
                .filter(rv::object.eq("deal"))
                .filter(rv::field.eq("amount"))
                .filter(rv::text_value.is_null())
                .limit(500)
                .select((rv::record_id, records::props))
                .load(conn)?;
            if batch.is_empty() {
                return Ok(fixed);
            }
            for (record_id, props) in batch {
                let amount = serde_json::from_str::<serde_json::Value>(&props)
                    .ok()
                    .and_then(|p| p.get("amount").and_then(|a| a.as_str().map(str::to_string)))
                    .and_then(|a| crate::domain::Money::parse(&a).ok());
                let target = rv::table.filter(rv::record_id.eq(&record_id)).filter(rv::field.eq("amount"));
                match amount {
                    Some(m) => diesel::update(target)
                        .set((rv::text_value.eq(Some(m.sort_key())), rv::num_value.eq(None::<f64>)))
                        .execute(conn)?,
                    // An index row without a readable amount indexes nothing.
                    None => diesel::delete(target).execute(conn)?,
                };
                fixed += 1;
            }
        }
    }

    /// Refreshes PostgreSQL's planner statistics of the CRM tables after a bulk load
    /// (`ANALYZE` needs the tables' owner, so it runs as the session's own role).
    pub fn analyze_crm_tables(&mut self) -> QueryResult<()> {
        if let DbConnection::Postgresql(c) = &mut *self.conn {
            diesel::connection::SimpleConnection::batch_execute(
                c,
                "SET LOCAL ROLE NONE; ANALYZE records, record_values, record_tags, tags",
            )?;
        }
        Ok(())
    }
}

/// `organizeo audit verify`: opens its own connection (no server, no pool) and walks every
/// chain in one system-scoped read.
pub fn verify_audit(url: &DatabaseUrl) -> anyhow::Result<Report> {
    let mut conn = crate::db::ConnectionFactory::new(url.clone())
        .open()
        .map_err(|e| anyhow::anyhow!("cannot connect to {url}: {e}"))?;
    scope::read_transaction(&mut conn, Scope::System, |conn| Ok(System { conn }.verify_audit()?))
        .map_err(|e| anyhow::anyhow!("{}", e.to_problem().detail))
}
