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
//! extents to the system after `dirty_decay_ms` (10 s), and its background thread does that
//! purging even when a thread allocates nothing more.

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options (read once, before the first allocation): a background
/// thread purges unused pages on the decay schedule.
#[cfg(not(target_env = "msvc"))]
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 23] = b"background_thread:true\0";
