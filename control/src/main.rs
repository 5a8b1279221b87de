//! `slipway`: the control plane (`slipway server`), the all-in-one platform (`slipway up`)
//! and the CLI. See `slipway --help` and the README.

fn main() -> std::process::ExitCode {
    slipway_control::cli::main()
}
