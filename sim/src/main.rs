//! `sim`: the command line of the simulation harness; all of it lives in
//! [`sim::cli`], so the library keeps its internals to itself.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sim::cli::main()
}
