// The binary is declared by the root package; all logic lives in the `gate_approve` library.
fn main() -> std::process::ExitCode {
    tune_malloc();
    gate_approve::main()
}

/// The A010 history walk has libgit2 allocate and free a ~400 KB buffer per version of
/// policy.toml, on several threads. With glibc's default trim threshold each free hands the
/// pages back to the kernel (madvise) and the next allocation faults them in again: a third of
/// the walk's time on a 10,000-version history. Keep freed memory in the process instead.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_malloc() {
    // SAFETY: mallopt only changes glibc allocator tuning; called before any other thread
    // exists. A failure (return 0) just leaves the defaults in place.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 16 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}
