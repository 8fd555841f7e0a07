//! `sim`: the command line of the simulation harness; all of it lives in
//! [`sim::cli`], so the library keeps its internals to itself.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the 16th entry of `mi_option_e` in
/// its v2 `mimalloc.h`; the Rust bindings name no constant for it).
const MIMALLOC_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Keep freed memory instead of returning it to the system 10 ms
    // later. A sweep runs one scenario again and again on each thread; a
    // 1,000-player room takes about 130 MB a run, and returning it made
    // the next run fault every page back in (35,000 page faults and a
    // tenth of the CPU time per 10 runs). The peak is the same either way.
    // SAFETY: stores one integer option; called before any other thread
    // starts.
    unsafe { libmimalloc_sys::mi_option_set(MIMALLOC_OPTION_PURGE_DELAY, -1) };
    sim::cli::main()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_set_at_start_is_mimallocs_purge_delay_of_10_ms_by_default() {
        // An upgrade of mimalloc that renumbered its options would make
        // `main` set some other option; this test sees it first.
        // SAFETY: reads one integer option.
        let default_ms = unsafe { libmimalloc_sys::mi_option_get(MIMALLOC_OPTION_PURGE_DELAY) };
        assert_eq!(default_ms, 10);
    }
}
