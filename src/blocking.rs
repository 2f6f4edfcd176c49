//! CPU-heavy work (password hashing) off the async executor threads, a bounded number at a
//! time: each Argon2id check holds 19 MiB, so unbounded concurrency let a burst of
//! unauthenticated sign-ups or sign-ins take the process to gigabytes (150 parallel
//! sign-ups: 2.3 GB). At most [`slots`] run at once (twice the cores, at least 2); the rest
//! wait their turn up to [`QUEUE_WAIT`], then get 503 `unavailable` with `Retry-After`.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::error::AppError;

/// How long a request waits for a hashing slot before it is told to come back.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// The hashing slots of this process.
pub fn slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(2);
        Semaphore::new((cores * 2).max(2))
    })
}

pub async fn cpu<T, F>(f: F) -> Result<T, AppError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let permit = match actix_web::rt::time::timeout(QUEUE_WAIT, slots().acquire()).await {
        Ok(Ok(p)) => p,
        _ => {
            return Err(AppError::Unavailable {
                detail: "the server is busy checking passwords; retry in a few seconds".into(),
            })
        }
    };
    let out =
        actix_web::web::block(f).await.map_err(|e| AppError::internal(anyhow::anyhow!("blocking task failed: {e}")));
    drop(permit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[actix_web::test]
    async fn at_most_the_slots_run_at_once() {
        let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs = (0..slots().available_permits() * 3).map(|_| {
            let (now, peak) = (now.clone(), peak.clone());
            cpu(move || {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                now.fetch_sub(1, Ordering::SeqCst);
            })
        });
        for r in futures_util::future::join_all(jobs).await {
            r.unwrap();
        }
        let cores = std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(2);
        assert!(peak.load(Ordering::SeqCst) <= (cores * 2).max(2), "{peak:?}");
    }
}
