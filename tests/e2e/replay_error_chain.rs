//! An error that stops the replay prints its whole `caused by` chain, with every password
//! masked once at the binary's edge (issue 13: typed errors keep their sources).

use crate::support::alembic::*;
use crate::support::replay::*;
#[test]
fn a_caused_by_chain_holding_a_url_with_a_password_prints_it_masked() {
    const SECRET: &str = "Chain-S3cret-4711";
    let repo = crisis();
    // Nothing listens on port 1: the catalog read fails below the replay's own error.
    let reference = format!("postgres://alice:{SECRET}@127.0.0.1:1/prod");
    let run = replay_url(
        repo.path(),
        &["--no-roundtrip", "--no-fixes", "--reference", &reference],
    );
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        !run.all().contains(SECRET),
        "the password leaked:\n{}",
        run.all()
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines.iter().any(|l| l
            .starts_with("error: the replay could not run: cannot read the reference database")),
        "{}",
        run.stderr
    );
    let cause = lines
        .iter()
        .find(|l| l.trim_start().starts_with("caused by:"))
        .unwrap_or_else(|| panic!("no `caused by` line:\n{}", run.stderr));
    assert!(
        cause.contains("cannot connect to postgres://alice:***@127.0.0.1:1/prod"),
        "{}",
        run.stderr
    );
    // The driver's own error, the last link of the chain, is there too.
    assert!(cause.contains("Connection refused"), "{}", run.stderr);
}
