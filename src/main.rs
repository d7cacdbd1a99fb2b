//! The `gc` binary: all behaviour lives in the library.

fn main() -> std::process::ExitCode {
    gascity::cli::run()
}
