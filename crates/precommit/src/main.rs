// The binary is declared by the root package; all logic lives in the `gate_precommit` library.
fn main() -> std::process::ExitCode {
    gate_precommit::main()
}
