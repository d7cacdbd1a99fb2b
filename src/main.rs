//! The `gc` binary: all behaviour lives in the library.

// Loading a city allocates many small values (one per YAML node); mimalloc makes that
// markedly cheaper than the system allocator (see benches/validate-vs-peers.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Installed under the name `bd` (`gc bd install-shim`), gc answers bd's command line.
    if gascity::cli::bd::invoked_as_bd(std::env::args_os().next().as_deref()) {
        gascity::cli::bd::main()
    } else {
        gascity::cli::run()
    }
}
