fn main() -> std::process::ExitCode {
    return_large_buffers();
    organizeo::cli::main()
}

/// glibc raises its mmap threshold after a large buffer is freed, so later ones come from
/// the heap of whichever thread allocated them and stay there: each blocking thread that
/// once hashed a password kept 19 MiB (150 parallel sign-ups left 380 MB resident). A fixed
/// threshold keeps every allocation of 1 MiB or more a mapping of its own, returned on free.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_buffers() {
    // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_buffers() {}
