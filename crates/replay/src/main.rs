// The binary is declared by the root package; all logic lives in the `gate_replay` library.
fn main() -> std::process::ExitCode {
    gate_replay::main()
}
