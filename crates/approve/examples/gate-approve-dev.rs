// Development shim while the root package is mid-edit; same entry point as the binary.
fn main() -> std::process::ExitCode {
    gate_approve::main()
}
