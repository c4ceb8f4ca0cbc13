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

/// What plain git and Python's own TOML parser (tomllib) say about policy.toml at `rev`:
/// `Ok(())` when it parses, the parser's message when not.
fn tomllib_at(r: &Repo, rev: &str) -> Result<(), String> {
    let text = r.git(&["show", &format!("{rev}:policy.toml")]);
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, tomllib\ntry:\n    tomllib.loads(sys.stdin.read())\nexcept tomllib.TOMLDecodeError as e:\n    print(e)\n    sys.exit(1)\n",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .expect("python3");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// `released()` plus a `[replay]` table (not governed); C0 is its commit. Then C1, a bad
/// merge by the developer, leaves two `data =` keys in `[replay]` (policy.toml does not
/// parse): the check at C1 is exit 2 naming policy.toml's line and column.
fn broken_by_a_merge() -> (Repo, String, String) {
    let r = released();
    r.write(
        "policy.toml",
        r.read("policy.toml") + "\n[replay]\ndata = true\n",
    );
    r.commit_all_by(DEV, "Seed rows during replay");
    assert_eq!(r.check().code, 0, "{}", r.check().all());
    let c0 = r.head();
    r.edit_policy("data = true\n", "data = true\ndata = true\n");
    r.commit_all_by(DEV, "Merge branch 'data'");
    let c1 = r.head();
    assert!(tomllib_at(&r, &c1).is_err(), "C1 must not parse");
    let lines = r.read("policy.toml").lines().count();
    let run = r.check();
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains(&format!("policy.toml:{lines}:")),
        "{}",
        run.all()
    );
    (r, c0, c1)
}

/// HEAD's first-parent line, newest first, as plain git lists it.
fn first_parents(r: &Repo) -> Vec<String> {
    r.git(&["log", "--first-parent", "--format=%H"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a012_repair_of_an_unparseable_policy_to_the_same_values_passes() {
    let (r, c0, c1) = broken_by_a_merge();
    r.edit_policy("data = true\ndata = true\n", "data = true\n");
    r.commit_all_by(DEV, "Repair policy.toml after the merge");
    let c2 = r.head();
    // Plain git: C2 -> C1 -> C0 on the first-parent line, C0 and C2 byte-identical, C1
    // unparseable, C2 parses.
    assert_eq!(first_parents(&r)[..3], [c2.clone(), c1, c0.clone()]);
    assert_eq!(
        r.git(&["show", &format!("{c0}:policy.toml")]),
        r.git(&["show", &format!("{c2}:policy.toml")])
    );
    assert_eq!(tomllib_at(&r, &c2), Ok(()));
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn a012_repair_of_an_unparseable_policy_that_relaxes_a_gate_is_judged() {
    let (r, c0, c1) = broken_by_a_merge();
    r.edit_policy("data = true\ndata = true\n", "data = true\n");
    r.edit_policy("scope = [\".\"]", "scope = [\".\"]\nignore = [\"*.py\"]");
    r.commit_all_by(DEV, "Repair policy.toml after the merge");
    let c2 = r.head();
    assert_eq!(first_parents(&r)[..3], [c2.clone(), c1, c0.clone()]);
    assert_eq!(tomllib_at(&r, &c2), Ok(()));
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A012"], "{}", run.all());
    assert!(
        run.stdout.contains(&r.short(&c2))
            && run.stdout.contains("`emergency.ignore`")
            && run
                .stdout
                .contains(&format!("compared with commit {}", r.short(&c0))),
        "{}",
        run.stdout
    );
    // The same repair committed by the lead with the trailer approves it.
    r.git_by(DEV, &["reset", "-q", "--soft", "HEAD~1"]);
    r.commit_approved("Repair policy.toml after the merge");
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
}

/// The unparseable commit used to sneak: it adds the developer to the approvers (the
/// `[governance]` table itself still reads), and the repair, committed by the developer with
/// their own trailer, relaxes a gate. The approvers that count are those of C0, the version
/// the repair is compared with, not the unparseable parent's.
#[test]
fn a012_unparseable_commit_adding_an_approver_does_not_approve_the_repair() {
    let (r, c0, c1) = broken_by_a_merge();
    r.git(&["reset", "-q", "--hard", &c1]);
    r.edit_policy(
        "approvers = [\"lead@example.com\"]",
        "approvers = [\"lead@example.com\", \"dev@example.com\"]",
    );
    r.commit_all_by(DEV, "Add myself as an approver");
    assert!(tomllib_at(&r, "HEAD").is_err());
    r.edit_policy("data = true\ndata = true\n", "data = true\n");
    r.edit_policy("scope = [\".\"]", "scope = [\".\"]\nignore = [\"*.py\"]");
    r.commit_all_by(
        DEV,
        "Repair policy.toml\n\nApproved-by: Dana Developer <dev@example.com>\n",
    );
    let c3 = r.head();
    assert_eq!(first_parents(&r)[3], c0);
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A012"], "{}", run.all());
    assert!(
        run.stdout.contains(&r.short(&c3))
            && run.stdout.contains("`governance.approvers`")
            && run.stdout.contains("`emergency.ignore`")
            && run.stdout.contains(&format!(
                "not in governance.approvers of commit {} (lead@example.com)",
                r.short(&c0)
            )),
        "{}",
        run.stdout
    );
}
