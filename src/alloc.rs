//! The process's memory allocator: jemalloc, for every binary that links this crate (the
//! server, the tests, the benchmarks that embed the server).
//!
//! Measured, not assumed (bench/README.md): with glibc's malloc a third of a `GET
//! /contacts/{id}`'s CPU went to the allocator — each of tokio's blocking threads gets its
//! own arena, memory freed on another thread is consolidated and trimmed, pages fault back
//! in on the next request — and jemalloc gave +50-60% websocket deliveries per CPU-second.
//! It costs ~2 KiB more per idle websocket.
//!
//! glibc also kept a 19 MiB Argon2 buffer in every blocking thread's arena that had once
//! hashed a password (the reason for the `mallopt` this replaces); jemalloc returns freed
//! extents to the system after `dirty_decay_ms` (1 s here), and its background thread does that
//! purging even when a thread allocates nothing more.

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options (read once, before the first allocation; `_RJEM_MALLOC_CONF`
/// in the environment overrides them): a background thread purges unused pages, freed
/// pages go back to the system after 1 s instead of 10 s, with no second "muzzy" stage. Measured
/// on `campaign_bench sqlite 50000 4`: peak RSS 326-344 MiB with the defaults, 165 MiB
/// with these, at the same rate and CPU per message.
#[cfg(not(target_env = "msvc"))]
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 60] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";
