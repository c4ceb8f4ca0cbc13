//! The command runner: `migrations.upgrade` / `migrations.downgrade` through `sh -c` with
//! DATABASE_URL set to the scratch database (here psql stands in for prisma, knex, ...).

use crate::support::replay::*;
use crate::support::*;

fn command_repo(upgrade: &str, downgrade: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "policy.toml",
        &format!(
            "version = 1\n\n[migrations]\nkind = \"command\"\nupgrade = '{upgrade}'\ndowngrade = '{downgrade}'\n"
        ),
    );
    write(
        dir.path(),
        "up.sql",
        "CREATE TABLE accounts (id int PRIMARY KEY);\n",
    );
    write(dir.path(), "down.sql", "DROP TABLE accounts;\n");
    crate::support::repo::git_in(dir.path(), &["init", "-q", "."]);
    dir
}

#[test]
fn upgrade_and_downgrade_commands_run_against_the_scratch_database() {
    let repo = command_repo(
        r#"psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f up.sql"#,
        r#"psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f down.sql"#,
    );
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        !run.stdout.contains("round trip is not checked"),
        "{}",
        run.stdout
    );

    // A downgrade that leaves the table behind is caught by the round trip.
    let repo = command_repo(
        r#"psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f up.sql"#,
        "true",
    );
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.findings("R004")[0]["message"]
            .as_str()
            .unwrap()
            .contains("accounts")
    );
}

#[test]
fn a_failing_upgrade_command_is_r001_with_its_output() {
    let repo = command_repo("echo migrating; echo boom >&2; exit 3", "");
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    let r001 = run.findings("R001");
    let msg = r001[0]["message"].as_str().unwrap();
    assert!(msg.contains("code 3"), "{msg}");
    assert!(msg.contains("boom"), "{msg}");
}
