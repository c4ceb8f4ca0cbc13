//! Load a policy file and print what the gates would see, or every problem in it.
//! `cargo run -p gate-policy --example check_policy -- policy.toml [REPO_ROOT]`
//! Exit codes follow the gates: 0 valid, 2 the policy could not be loaded.
// An example program: printing its results is what it is for.
#![allow(clippy::disallowed_macros)]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let file = PathBuf::from(args.next().unwrap_or_else(|| "policy.toml".into()));
    let root = args.next().map_or_else(
        || file.parent().map(PathBuf::from).unwrap_or_default(),
        PathBuf::from,
    );
    match gate_policy::load(&file, &root) {
        Ok(p) => {
            println!(
                "{}: valid (kind {:?}, {} scope folder(s), {} registered script(s), {} approver(s))",
                file.display(),
                p.migrations.kind,
                p.emergency.scope.len(),
                p.emergency.scripts.len(),
                p.governance.approvers.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
