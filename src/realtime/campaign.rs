//! `CampaignActor`: one per campaign this node is sending. It repeats
//! [`crate::campaigns::send::step`] — one batch at a time, paced by the portal's
//! `sending_rate_per_second` — until the campaign is paused, cancelled, taken by another
//! node or finished, then stops. A step that fails (the database went away) is retried
//! after a pause; the campaign's lease is renewed at every step, and if this node dies
//! the lease runs out and another node's runner starts a fresh actor that resumes from
//! the recipient rows.
//!
//! Actors are started by the node's campaign runner (`jobs::campaigns`), which keeps the
//! [`Running`] set so one node never runs two actors for one campaign. They are not
//! children of the portal's `TenantActor`: that one lives only while websockets are
//! connected, and a send must go on with nobody watching; progress reaches watchers
//! through the outbox like every other event.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use dashmap::DashMap;

use crate::campaigns::send::{self, Outcome, State};
use crate::campaigns::Engine;
use crate::domain::TenantId;

/// The campaigns this node is sending (id → portal).
pub type Running = Arc<DashMap<String, TenantId>>;

pub struct CampaignActor {
    engine: Arc<Engine>,
    tenant: TenantId,
    id: String,
    running: Running,
    state: Option<State>,
    failures: u32,
}

impl CampaignActor {
    pub fn new(engine: Arc<Engine>, tenant: TenantId, id: String, running: Running) -> Self {
        Self { engine, tenant, id, running, state: Some(State::default()), failures: 0 }
    }

    fn step(&mut self, ctx: &mut Context<Self>) {
        let Some(mut state) = self.state.take() else { return };
        let (engine, tenant, id) = (self.engine.clone(), self.tenant.clone(), self.id.clone());
        let fut = async move {
            let out = send::step(&engine, &tenant, &id, &mut state).await;
            (out, state)
        };
        ctx.spawn(fut.into_actor(self).map(|(out, state), act, ctx| {
            act.state = Some(state);
            match out {
                Ok(Outcome::Worked(pause) | Outcome::Wait(pause)) => {
                    act.failures = 0;
                    ctx.run_later(pause, |act, ctx| act.step(ctx));
                }
                Ok(Outcome::Stopped) => ctx.stop(),
                Ok(Outcome::Finished(status)) => {
                    tracing::info!(campaign = %act.id, status, "campaign finished");
                    ctx.stop();
                }
                Err(e) => {
                    act.failures += 1;
                    let pause = Duration::from_millis((250u64 << act.failures.min(7)).min(30_000));
                    tracing::warn!(campaign = %act.id, error = %format!("{e:?}"), "campaign step failed; will retry");
                    ctx.run_later(pause, |act, ctx| act.step(ctx));
                }
            }
        }));
    }
}

impl Actor for CampaignActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::info!(campaign = %self.id, tenant = %self.tenant, "campaign sending on this node");
        self.step(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.running.remove(&self.id);
    }
}
