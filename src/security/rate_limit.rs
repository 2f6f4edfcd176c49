//! Rate limits: GCRA token buckets (the `governor` crate) per IP address, per credential
//! (sign-in token or key, by its digest) and per portal, each `RATE:BURST` requests per
//! second. A key marked by the abuse detector (`security::abuse`) is also held to a bucket
//! a tenth of its class's size for [`PENALTY`].
//!
//! Buckets live in this process. With several nodes, [`Shared`] adds a cluster-wide count
//! in Redis per key: a fixed window of `ceil(BURST / RATE)` seconds allowing
//! `RATE × window` requests, kept with `INCR` and `EXPIRE` in one pipelined round trip (no
//! Lua: every Redis and every managed Redis runs it, and a window count is all a
//! cluster-wide ceiling needs; the local GCRA still smooths bursts on each node). If Redis
//! cannot be reached the shared check is skipped (counted in a metric) and local limits
//! still apply: a Redis outage must not take the API down.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::config::RateLimit;

/// How long a key the abuse detector marked is held to the tighter bucket.
pub const PENALTY: Duration = Duration::from_secs(600);
/// The tighter bucket's share of the class's limits.
const PENALTY_DIVISOR: u32 = 10;

type Keyed = RateLimiter<String, DashMapStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// What a bucket limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Ip,
    Credential,
    Tenant,
}

impl Class {
    pub fn label(self) -> &'static str {
        match self {
            Class::Ip => "ip",
            Class::Credential => "credential",
            Class::Tenant => "tenant",
        }
    }
}

/// The outcome of one check, with what the `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub class: Class,
    pub allowed: bool,
    /// The bucket's size (`RateLimit-Limit`).
    pub limit: u32,
    /// Requests left at once (`RateLimit-Remaining`).
    pub remaining: u32,
    /// Seconds until the bucket is full again (`RateLimit-Reset`).
    pub reset_secs: u64,
    /// Seconds to wait before retrying (`Retry-After`), when refused.
    pub retry_after_secs: u64,
}

impl Verdict {
    /// The verdict the headers report: the first refusal, else the tightest bucket.
    pub fn combine(verdicts: impl IntoIterator<Item = Verdict>) -> Option<Verdict> {
        let mut out: Option<Verdict> = None;
        for v in verdicts {
            out = match out {
                None => Some(v),
                Some(o) if !o.allowed => Some(o),
                Some(_) if !v.allowed => Some(v),
                Some(o) if v.remaining < o.remaining => Some(v),
                keep => keep,
            };
        }
        out
    }
}

struct Bucket {
    limiter: Keyed,
    config: RateLimit,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

impl Bucket {
    fn new(config: RateLimit) -> Self {
        let quota = Quota::per_second(nonzero(config.rate)).allow_burst(nonzero(config.burst));
        Self { limiter: RateLimiter::dashmap(quota).with_middleware::<StateInformationMiddleware>(), config }
    }

    fn check(&self, class: Class, key: &str) -> Verdict {
        let RateLimit { rate, burst } = self.config;
        let refill = |missing: u32| (f64::from(missing) / f64::from(rate.max(1))).ceil() as u64;
        match self.limiter.check_key(&key.to_string()) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                Verdict {
                    class,
                    allowed: true,
                    limit: burst,
                    remaining,
                    reset_secs: refill(burst.saturating_sub(remaining)),
                    retry_after_secs: 0,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Verdict {
                    class,
                    allowed: false,
                    limit: burst,
                    remaining: 0,
                    reset_secs: refill(burst),
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                }
            }
        }
    }

    fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// The buckets of one node.
pub struct Limiter {
    ip: Option<Bucket>,
    credential: Option<Bucket>,
    tenant: Option<Bucket>,
    strict_ip: Option<Bucket>,
    strict_credential: Option<Bucket>,
    /// Keys held to the strict bucket, until when.
    penalised: DashMap<String, Instant>,
}

fn strict(limit: Option<RateLimit>) -> Option<Bucket> {
    limit.map(|l| {
        Bucket::new(RateLimit { rate: (l.rate / PENALTY_DIVISOR).max(1), burst: (l.burst / PENALTY_DIVISOR).max(1) })
    })
}

impl Limiter {
    pub fn new(ip: Option<RateLimit>, credential: Option<RateLimit>, tenant: Option<RateLimit>) -> Self {
        Self {
            ip: ip.map(Bucket::new),
            credential: credential.map(Bucket::new),
            tenant: tenant.map(Bucket::new),
            strict_ip: strict(ip),
            strict_credential: strict(credential.or(ip)),
            penalised: DashMap::new(),
        }
    }

    /// The configured limit of a class, if it is on.
    pub fn config(&self, class: Class) -> Option<RateLimit> {
        match class {
            Class::Ip => self.ip.as_ref(),
            Class::Credential => self.credential.as_ref(),
            Class::Tenant => self.tenant.as_ref(),
        }
        .map(|b| b.config)
    }

    /// Takes one request from `key`'s bucket of `class` (and its strict bucket while the
    /// key is penalised). `None` when the class is off.
    pub fn check(&self, class: Class, key: &str) -> Option<Verdict> {
        let bucket = match class {
            Class::Ip => self.ip.as_ref(),
            Class::Credential => self.credential.as_ref(),
            Class::Tenant => self.tenant.as_ref(),
        };
        let normal = bucket.map(|b| b.check(class, key));
        let strict = match (self.is_penalised(key), class) {
            (true, Class::Ip) => self.strict_ip.as_ref().map(|b| b.check(class, key)),
            (true, Class::Credential) => self.strict_credential.as_ref().map(|b| b.check(class, key)),
            _ => None,
        };
        Verdict::combine(normal.into_iter().chain(strict))
    }

    /// Holds `key` to the strict bucket for [`PENALTY`].
    pub fn penalise(&self, key: &str) {
        self.penalised.insert(key.to_string(), Instant::now() + PENALTY);
    }

    pub fn is_penalised(&self, key: &str) -> bool {
        self.penalised.get(key).is_some_and(|until| *until > Instant::now())
    }

    /// Drops state of keys not seen lately (bounded memory whatever the number of clients).
    pub fn forget_idle(&self) {
        for b in
            [&self.ip, &self.credential, &self.tenant, &self.strict_ip, &self.strict_credential].into_iter().flatten()
        {
            b.forget_idle();
        }
        let now = Instant::now();
        self.penalised.retain(|_, until| *until > now);
    }
}

/// The cluster-wide window: its length in seconds and the requests it allows.
pub fn window(limit: RateLimit) -> (u64, u64) {
    let secs = u64::from(limit.burst.div_ceil(limit.rate.max(1))).max(1);
    (secs, u64::from(limit.rate) * secs)
}

/// The cluster-wide count, in Redis.
pub struct Shared {
    client: redis::Client,
    conn: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
}

impl Shared {
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("bad Redis URL: {e}"))?;
        Ok(Self { client, conn: tokio::sync::OnceCell::new() })
    }

    /// Counts one request against each `(class, key, limit)` in the current window;
    /// returns the verdicts, or an error when Redis cannot be reached.
    pub async fn check(&self, keys: &[(Class, String, RateLimit)], unix_secs: u64) -> redis::RedisResult<Vec<Verdict>> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Duration::from_secs(2))
                    .set_response_timeout(Duration::from_secs(1))
                    .set_number_of_retries(1);
                redis::aio::ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await?;
        let mut conn = conn.clone();
        let mut pipe = redis::pipe();
        let mut windows = Vec::with_capacity(keys.len());
        for (class, key, limit) in keys {
            let (secs, allowed) = window(*limit);
            let index = unix_secs / secs;
            let name = format!("organizeo:rl:{}:{key}:{index}", class.label());
            pipe.incr(&name, 1u64).expire(&name, (secs * 2) as i64).ignore();
            windows.push((*class, secs, allowed, (index + 1) * secs - unix_secs));
        }
        let counts: Vec<u64> = pipe.query_async(&mut conn).await?;
        Ok(windows
            .into_iter()
            .zip(counts)
            .map(|((class, secs, allowed, left), count)| Verdict {
                class,
                allowed: count <= allowed,
                limit: allowed.min(u64::from(u32::MAX)) as u32,
                remaining: allowed.saturating_sub(count).min(u64::from(u32::MAX)) as u32,
                reset_secs: left.min(secs),
                retry_after_secs: if count <= allowed { 0 } else { left.max(1) },
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_a_wait() {
        let l = Limiter::new(Some(RateLimit { rate: 1, burst: 3 }), None, None);
        let remaining: Vec<u32> = (0..3).map(|_| l.check(Class::Ip, "a").map(|v| v.remaining).unwrap_or(99)).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = l.check(Class::Ip, "a").unwrap();
        assert!(!refused.allowed && refused.retry_after_secs >= 1, "{refused:?}");
        assert!(l.check(Class::Ip, "b").unwrap().allowed, "another key has its own bucket");
        assert!(l.check(Class::Tenant, "a").is_none(), "a class that is off limits nothing");
    }

    #[test]
    fn a_penalised_key_gets_a_tenth() {
        let l = Limiter::new(None, Some(RateLimit { rate: 100, burst: 100 }), None);
        l.penalise("k");
        let allowed = (0..50).filter(|_| l.check(Class::Credential, "k").is_some_and(|v| v.allowed)).count();
        assert_eq!(allowed, 10);
        let free = (0..50).filter(|_| l.check(Class::Credential, "other").is_some_and(|v| v.allowed)).count();
        assert_eq!(free, 50);
    }

    #[test]
    fn the_cluster_window_keeps_the_sustained_rate() {
        assert_eq!(window(RateLimit { rate: 10, burst: 20 }), (2, 20));
        assert_eq!(window(RateLimit { rate: 10, burst: 10 }), (1, 10));
        assert_eq!(window(RateLimit { rate: 3, burst: 10 }), (4, 12));
    }

    #[test]
    fn the_tightest_or_the_refusing_verdict_is_reported() {
        let v = |class, allowed, remaining| Verdict {
            class,
            allowed,
            limit: 10,
            remaining,
            reset_secs: 1,
            retry_after_secs: u64::from(!allowed),
        };
        let both = [v(Class::Ip, true, 5), v(Class::Credential, true, 2)];
        assert_eq!(Verdict::combine(both).map(|v| v.class), Some(Class::Credential));
        let refused = [v(Class::Ip, true, 0), v(Class::Tenant, false, 0), v(Class::Credential, true, 1)];
        assert_eq!(Verdict::combine(refused).map(|v| v.class), Some(Class::Tenant));
    }
}
