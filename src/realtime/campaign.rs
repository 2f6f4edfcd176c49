//! `CampaignActor`: one per campaign this node is sending. It repeats
//! [`crate::campaigns::send::step`] — one batch at a time, paced by the portal's
//! `sending_rate_per_second` — until the campaign is paused, cancelled, taken by another
//! node or finished, then stops. A step that fails (the database went away) is retried
//! after a pause; the campaign's lease is renewed at every step, and if this node dies
//! the lease runs out and another node's runner starts a fresh actor that resumes from
//! the recipient rows. When the node stops gracefully the actor finishes its step and
//! hands the campaign back ([`send::hand_back`]) instead: the next node resumes at once,
//! and nobody is mailed twice.
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
    /// The next step, scheduled after a pause (cancelled when the node stops).
    next: Option<SpawnHandle>,
    /// The node is stopping: hand the campaign back instead of stepping again.
    stopping: bool,
}

impl CampaignActor {
    pub fn new(engine: Arc<Engine>, tenant: TenantId, id: String, running: Running) -> Self {
        Self { engine, tenant, id, running, state: Some(State::default()), failures: 0, next: None, stopping: false }
    }

    fn step(&mut self, ctx: &mut Context<Self>) {
        self.next = None;
        let Some(mut state) = self.state.take() else { return };
        let (engine, tenant, id) = (self.engine.clone(), self.tenant.clone(), self.id.clone());
        let fut = async move {
            let out = send::step(&engine, &tenant, &id, &mut state).await;
            (out, state)
        };
        ctx.spawn(fut.into_actor(self).map(|(out, state), act, ctx| {
            act.state = Some(state);
            if act.stopping && matches!(out, Ok(Outcome::Worked(_) | Outcome::Wait(_)) | Err(_)) {
                // The node began stopping during this step.
                act.hand_back(ctx);
                return;
            }
            match out {
                Ok(Outcome::Worked(pause) | Outcome::Wait(pause)) => {
                    act.failures = 0;
                    act.next = Some(ctx.run_later(pause, |act, ctx| act.step(ctx)));
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
                    act.next = Some(ctx.run_later(pause, |act, ctx| act.step(ctx)));
                }
            }
        }));
    }

    /// The node is stopping: between steps, hand the campaign back and stop; during a
    /// step, let it finish (its messages are on the wire) and hand back at its end.
    fn hand_back(&mut self, ctx: &mut Context<Self>) {
        self.stopping = true;
        if let Some(next) = self.next.take() {
            ctx.cancel_future(next);
        }
        let Some(state) = self.state.take() else { return };
        let (engine, tenant, id) = (self.engine.clone(), self.tenant.clone(), self.id.clone());
        let fut = async move { send::hand_back(&engine, &tenant, &id, state).await };
        ctx.spawn(fut.into_actor(self).map(|out, act, ctx| {
            match out {
                Ok(()) => tracing::info!(campaign = %act.id, "campaign handed back: this node is stopping"),
                Err(e) => tracing::warn!(campaign = %act.id, error = %format!("{e:?}"),
                    "handing the campaign back failed; its lease will run out"),
            }
            ctx.stop();
        }));
    }
}

impl Actor for CampaignActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::info!(campaign = %self.id, tenant = %self.tenant, "campaign sending on this node");
        self.engine.actors.send_modify(|n| *n += 1);
        let mut stop = self.engine.stop.subscribe();
        let stopping = async move { stop.wait_for(|s| *s).await.is_ok() };
        ctx.spawn(stopping.into_actor(self).map(|stop, act, ctx| {
            if stop {
                act.hand_back(ctx);
            }
        }));
        self.step(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.running.remove(&self.id);
        self.engine.actors.send_modify(|n| *n = n.saturating_sub(1));
    }
}
