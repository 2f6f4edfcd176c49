//! CPU-heavy work (password hashing) off the async executor threads.

use crate::error::AppError;

pub async fn cpu<T, F>(f: F) -> Result<T, AppError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    actix_web::web::block(f).await.map_err(|e| AppError::internal(anyhow::anyhow!("blocking task failed: {e}")))
}
