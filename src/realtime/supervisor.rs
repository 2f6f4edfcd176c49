//! `PlatformSupervisor`: the only actor that starts tenant actors, so a portal never gets
//! two. The tenant registry (a `DashMap` in [`super::Realtime`]) is read by anyone and
//! written here (insert) and by a stopping tenant actor (remove, if it is still the one
//! registered). A tenant actor that failed is started again at once if the portal still
//! has subscribers waiting (they re-subscribe from their last `seq`), with a back-off when
//! it keeps failing.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::tenant::TenantActor;
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
        let rt = Realtime { inner: self.rt.upgrade()? };
        let addr = rt
            .inner
            .registry
            .entry(msg.tenant.as_str().to_string())
            .and_modify(|a| {
                if !a.connected() {
                    *a = TenantActor::new(msg.tenant.clone(), rt.clone()).start();
                }
            })
            .or_insert_with(|| TenantActor::new(msg.tenant.clone(), rt.clone()).start())
            .clone();
        Some(addr)
    }
}

/// A tenant actor stopped: idle (nothing to do) or failed (counted, and the sessions it
/// had re-subscribe, which starts a fresh one through [`Spawn`] after the back-off).
#[derive(Message)]
#[rtype(result = "()")]
pub struct TenantStopped {
    pub tenant: TenantId,
    pub failed: bool,
}

impl Handler<TenantStopped> for PlatformSupervisor {
    type Result = ();

    fn handle(&mut self, msg: TenantStopped, _: &mut Context<Self>) {
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
        let failures = self.failures.get(msg.tenant.as_str()).map(|f| f.0).unwrap_or(0);
        MessageResult(Duration::from_millis((50u64 << failures.min(7)).min(5_000)))
    }
}
