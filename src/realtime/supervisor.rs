//! `PlatformSupervisor`: the only actor that starts tenant actors, so a portal never gets
//! two. The tenant registry (a `DashMap` in [`super::Realtime`]) is read by anyone and
//! written here (insert) and by a stopping tenant actor (remove, if it is still the one
//! registered). A tenant actor that failed is started again after a back-off that grows
//! while it keeps failing; its sessions re-subscribe to the new one from their last `seq`.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::tenant::{TenantActor, TenantStopped};
use super::{Inner, Realtime};
use crate::domain::TenantId;

pub struct PlatformSupervisor {
    rt: Weak<Inner>,
    /// Recent consecutive failures per portal, for the back-off.
    failures: HashMap<String, (u32, Instant)>,
}

impl PlatformSupervisor {
    pub(super) fn new(rt: Weak<Inner>) -> Self {
        Self { rt, failures: HashMap::new() }
    }

    /// The registered tenant actor of a portal, started if there is none (or it stopped).
    fn ensure(&self, tenant: &TenantId) -> Option<Addr<TenantActor>> {
        let rt = Realtime { inner: self.rt.upgrade()? };
        let addr = rt
            .inner
            .registry
            .entry(tenant.as_str().to_string())
            .and_modify(|a| {
                if !a.connected() {
                    *a = TenantActor::new(tenant.clone(), rt.clone()).start();
                }
            })
            .or_insert_with(|| TenantActor::new(tenant.clone(), rt.clone()).start())
            .clone();
        Some(addr)
    }

    fn backoff(&self, tenant: &str) -> Duration {
        let failures = self.failures.get(tenant).map(|f| f.0).unwrap_or(0);
        Duration::from_millis((50u64 << failures.min(7)).min(5_000))
    }
}

impl Actor for PlatformSupervisor {
    type Context = Context<Self>;
}

/// The tenant actor of a portal, started if it is not running.
#[derive(Message)]
#[rtype(result = "Option<Addr<TenantActor>>")]
pub struct Spawn {
    pub tenant: TenantId,
}

impl Handler<Spawn> for PlatformSupervisor {
    type Result = Option<Addr<TenantActor>>;

    fn handle(&mut self, msg: Spawn, _: &mut Context<Self>) -> Self::Result {
        self.ensure(&msg.tenant)
    }
}

impl Handler<TenantStopped> for PlatformSupervisor {
    type Result = ();

    fn handle(&mut self, msg: TenantStopped, ctx: &mut Context<Self>) {
        let Some(inner) = self.rt.upgrade() else { return };
        let key = msg.tenant.as_str().to_string();
        if !msg.failed {
            self.failures.remove(&key);
            return;
        }
        inner.metrics.tenant_restarts.inc();
        let entry = self.failures.entry(key).or_insert((0, Instant::now()));
        if entry.1.elapsed() > Duration::from_secs(60) {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        let tenant = msg.tenant;
        ctx.run_later(self.backoff(tenant.as_str()), move |act, _| {
            act.ensure(&tenant);
        });
    }
}

/// How long a session waits before re-subscribing to a portal whose actor failed.
#[derive(Message)]
#[rtype(result = "Duration")]
pub struct Backoff {
    pub tenant: TenantId,
}

impl Handler<Backoff> for PlatformSupervisor {
    type Result = MessageResult<Backoff>;

    fn handle(&mut self, msg: Backoff, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.backoff(msg.tenant.as_str()))
    }
}
