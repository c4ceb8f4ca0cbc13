//! Issue 9's attack list, the bullets `tests/approve_check.rs` did not cover on its own: a new
//! script registered by hand as `converted` with a real `converted-in`, and `git rm
//! migrations.lock` committed together with an edit of a released migration. Real git
//! repositories; each passed every gate before A012/G005.

use crate::support::approve::*;
use crate::support::repo::*;
use crate::support::run::*;
#[allow(unused_imports)]
use crate::support::sha256_hex;
const NEW_SCRIPT: &str = "emergency_new.py";
const NEW_TEXT: &str = "print('DROP TABLE audit_log')\n";
const MIGRATION: &str = "alembic/versions/ab12cd34ef56_orders_note.py";

fn migration(upgrade: &str) -> String {
    format!(
        "revision = \"ab12cd34ef56\"\ndown_revision = None\n\ndef upgrade():\n    {upgrade}\n\ndef downgrade():\n    pass\n"
    )
}

/// A released migration locked at the adoption; the check passes.
fn released() -> Repo {
    let r = Repo::new();
    r.write(MIGRATION, migration("pass"));
    r.write("policy.toml", policy("", ""));
    let lock = r.run(REPLAY, &["lock"]);
    assert_eq!(lock.code, 0, "{}", lock.all());
    r.commit_all_by(DEV, "Adopt the gate");
    assert_eq!(r.check().code, 0, "{}", r.check().all());
    r
}

#[test]
fn a012_new_script_registered_as_converted_with_a_real_converted_in() {
    let r = released();
    // `converted-in` names a real revision, so A008 is satisfied and no other rule applies to
    // a converted entry: only A012 stands between this and a pass.
    r.write(NEW_SCRIPT, NEW_TEXT);
    r.write(
        "policy.toml",
        &(r.read("policy.toml")
            + &format!(
                "\n[[emergency.script]]\npath = \"{NEW_SCRIPT}\"\nsha256 = \"{}\"\nreason = \"already a migration\"\nstatus = \"converted\"\nconverted-in = \"ab12cd34ef56\"\n",
                sha256_hex(NEW_TEXT.as_bytes())
            )),
    );
    r.commit_all_by(DEV, "Register the new script");
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A012"], "{}", run.all());
    assert!(
        run.stdout
            .contains(&format!("added the registry entry `{NEW_SCRIPT}`"))
            && run.stdout.contains(&r.short("HEAD")),
        "{}",
        run.stdout
    );
    // The hook and `--all` are satisfied (the script is registered, nothing released moved):
    // gate-approve is the gate that refuses it.
    let all = r.run(PRECOMMIT, &["--all"]);
    assert_eq!(all.code, 0, "{}", all.all());
    // The same registration committed by the lead with the trailer passes.
    r.git_by(DEV, &["reset", "-q", "--soft", "HEAD~1"]);
    r.commit_approved("Register the new script");
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn g005_lockfile_removed_with_an_edit_of_a_released_migration_in_one_commit() {
    let r = released();
    r.write(MIGRATION, migration("op.execute('DROP TABLE audit_log')"));
    r.git_by(DEV, &["rm", "-q", "migrations.lock"]);
    r.commit_all_by(DEV, "Amend the release");
    // What plain git says happened in that commit.
    let names = r.git_by(DEV, &["show", "--name-status", "--format=", "HEAD"]);
    assert!(
        names.contains("D\tmigrations.lock") && names.contains(&format!("M\t{MIGRATION}")),
        "{names}"
    );
    // Without the lockfile G003 has nothing to compare with. Once committed, HEAD lacks the
    // lockfile too, so only history shows it: gate-approve's G005 (the hook refused the staged
    // deletion before the commit, tests/precommit_lockfile_walkaround.rs).
    let run = r.check();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout.contains("error[G005]")
            && run
                .stdout
                .contains("migrations.lock is missing but it is in the history"),
        "{}",
        run.stdout
    );
}
