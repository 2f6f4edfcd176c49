//! The portal's live counters: recomputed from the database (one computation at a time)
//! when CRM events touch them, sent as a snapshot to new subscribers and as the changed
//! counters to the others.

use actix::dev::SendError;
use actix::prelude::*;
use serde_json::Value;

use super::{Push, TenantActor};
use crate::realtime::frames::{self, Topic};

impl TenantActor {
    /// Recomputes the counters (at most one computation at a time; changes that arrive
    /// meanwhile trigger one more) and sends snapshots to new subscribers and the changed
    /// counters to the others.
    pub(super) fn refresh_dashboard(&mut self, ctx: &mut Context<Self>) {
        let wanted = self.subscribers.values().any(|s| s.topics.contains(Topic::Dashboard));
        if self.dashboard_running || !wanted {
            return;
        }
        if !self.dashboard_dirty && self.dashboard.is_some() {
            return;
        }
        self.dashboard_running = true;
        self.dashboard_dirty = false;
        let (db, tenant, clock) = (self.rt.db().clone(), self.tenant.clone(), self.rt.clock().clone());
        let compute = async move {
            let now = clock.now();
            db.tenant(tenant).read(move |t| crate::realtime::dashboard::compute(t, now)).await
        };
        ctx.spawn(compute.into_actor(self).map(|res, act, ctx| {
            act.dashboard_running = false;
            match res {
                Ok(snapshot) => act.publish_dashboard(snapshot),
                Err(e) => return act.fail(ctx, "computing the dashboard failed", e),
            }
            act.refresh_dashboard(ctx);
        }));
    }

    pub(super) fn publish_dashboard(&mut self, snapshot: Value) {
        let seq = self.delivered;
        let full = frames::snapshot(seq, &snapshot);
        let delta = self.dashboard.as_ref().map(|old| crate::realtime::dashboard::changed(old, &snapshot));
        let delta = delta.filter(|d| !d.is_empty()).map(|d| frames::dashboard_delta(seq, &Value::Object(d)));
        let (mut slow, mut gone) = (Vec::new(), Vec::new());
        for (id, sub) in &mut self.subscribers {
            // -1 marks a subscriber that has not had its snapshot yet.
            let bytes = match sub.topics.get(Topic::Dashboard) {
                Some(-1) => &full,
                Some(_) => match &delta {
                    Some(d) => d,
                    None => continue,
                },
                None => continue,
            };
            match sub.session.try_send(Push { topic: Topic::Dashboard, seq, bytes: bytes.clone(), more: None }) {
                Ok(()) => {
                    self.rt.metrics().frames_out.inc();
                    sub.topics.insert(Topic::Dashboard, seq);
                }
                Err(SendError::Full(_)) => slow.push(*id),
                Err(SendError::Closed(_)) => gone.push(*id),
            }
        }
        self.dashboard = Some(snapshot);
        self.drop_subscribers(slow, gone);
    }
}
