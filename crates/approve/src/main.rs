// The binary is declared by the root package; all logic lives in the `gate_approve` library.
fn main() -> std::process::ExitCode {
    gate_approve::main()
}
