//! The `rerunbot` binary; the command line is `rerunbot::cli` (kept in the
//! library so the code it runs is compiled once).

fn main() -> std::process::ExitCode {
    rerunbot::cli::main()
}
