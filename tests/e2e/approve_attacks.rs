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

/// G005's hole of the same shape: the unparseable commit C2 adds the developer to the
/// approvers (the `[governance]` table still reads on its own), C3 amends the released
/// migration in migrations.lock "approved" by the developer's own trailer, and C4 repairs
/// policy.toml to C0's approvers (no A012: nothing governed differs from C0). The approvers
/// that judge C3 are those of C0, the nearest first-parent version that parses, as for A012.
#[test]
fn g005_unparseable_commit_adding_an_approver_does_not_approve_a_lockfile_amendment() {
    let (r, c0, c1) = broken_by_a_merge();
    r.edit_policy(
        "approvers = [\"lead@example.com\"]",
        "approvers = [\"lead@example.com\", \"dev@example.com\"]",
    );
    r.commit_all_by(DEV, "Add myself as an approver");
    let c2 = r.head();
    // The amendment as `gate-replay lock --amend` writes it (run on C0's policy: the tool
    // refuses to read a broken one), committed next to the broken policy.
    let broken = r.read("policy.toml");
    r.write(
        "policy.toml",
        r.git(&["show", &format!("{c0}:policy.toml")]),
    );
    r.write(MIGRATION, migration("op.execute('DROP TABLE audit_log')"));
    let amend = r.run(
        REPLAY,
        &["lock", "--amend", "ab12cd34ef56", "--reason", "hotfix"],
    );
    assert_eq!(amend.code, 0, "{}", amend.all());
    r.write("policy.toml", &broken);
    r.commit_all_by(
        DEV,
        "Amend the release\n\nApproved-by: Dana Developer <dev@example.com>\n",
    );
    let c3 = r.head();
    r.edit_policy(
        "approvers = [\"lead@example.com\", \"dev@example.com\"]",
        "approvers = [\"lead@example.com\"]",
    );
    r.edit_policy("data = true\ndata = true\n", "data = true\n");
    r.commit_all_by(DEV, "Repair policy.toml");
    let c4 = r.head();
    // Plain git and tomllib: C4 -> C3 -> C2 -> C1 -> C0 on the first-parent line; C1..C3 do
    // not parse, C2 and C3 list the developer, C4 is C0 byte for byte, C3 changed the lock.
    assert_eq!(
        first_parents(&r)[..5],
        [c4.clone(), c3.clone(), c2.clone(), c1.clone(), c0.clone()]
    );
    for c in [&c1, &c2, &c3] {
        assert!(tomllib_at(&r, c).is_err(), "{c} must not parse");
    }
    for c in [&c2, &c3] {
        let text = r.git(&["show", &format!("{c}:policy.toml")]);
        assert!(text.contains("\"dev@example.com\"]"), "{text}");
    }
    assert_eq!(
        r.git(&["show", &format!("{c0}:policy.toml")]),
        r.git(&["show", &format!("{c4}:policy.toml")])
    );
    assert_eq!(tomllib_at(&r, &c4), Ok(()));
    let names = r.git(&["show", "--name-only", "--format=", &c3]);
    assert!(names.lines().any(|l| l == "migrations.lock"), "{names}");
    let lock = r.git(&["show", &format!("{c3}:migrations.lock")]);
    assert!(lock.contains("amend"), "{lock}");
    // Exit 1 with the amendment as the one finding: no A012 (C4 equals C0), and G005 judges
    // C3 with C0's approvers.
    let run = r.check();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.text_codes().is_empty(), "{}", run.all());
    let g005: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("error["))
        .collect();
    assert_eq!(g005.len(), 1, "{}", run.stdout);
    assert!(
        g005[0].starts_with("error[G005]")
            && g005[0].contains("amended released migration ab12cd34ef56")
            && run.stdout.contains(&r.short(&c3))
            && run.stdout.contains(&format!(
                "not in governance.approvers of commit {} (lead@example.com)",
                r.short(&c0)
            )),
        "{}",
        run.stdout
    );
}

/// The merge-method check of the same shape. C0 says pull requests land by squash, so a merge
/// commit is judged by itself; the lead approves a lockfile amendment on branch `fix`. C1, a
/// broken policy whose `[governance]` still reads, says `merge-method = "merge"`; GitHub's
/// merge commit M of `fix` (its first parent C1) would then be judged by the lead's branch
/// commit; C2 repairs policy.toml to C0. M is judged under C0's squash, by itself.
#[test]
fn g005_unparseable_commit_switching_the_merge_method_does_not_judge_a_merge_by_its_branch() {
    const GITHUB: &str = "noreply@github.com";
    let r = Repo::new();
    r.write(MIGRATION, migration("pass"));
    r.write(
        "policy.toml",
        policy("merge-method = \"squash\"", "") + "\n[replay]\ndata = true\n",
    );
    let lock = r.run(REPLAY, &["lock"]);
    assert_eq!(lock.code, 0, "{}", lock.all());
    r.commit_all_by(DEV, "Adopt the gate");
    assert_eq!(r.check().code, 0, "{}", r.check().all());
    let c0 = r.head();
    r.git_by(DEV, &["checkout", "-q", "-b", "fix"]);
    r.write(MIGRATION, migration("op.execute('DROP TABLE audit_log')"));
    let amend = r.run(
        REPLAY,
        &["lock", "--amend", "ab12cd34ef56", "--reason", "hotfix"],
    );
    assert_eq!(amend.code, 0, "{}", amend.all());
    r.commit_approved("Amend the release");
    let b = r.head();
    r.git_by(DEV, &["checkout", "-q", "main"]);
    r.edit_policy("merge-method = \"squash\"", "merge-method = \"merge\"");
    r.edit_policy("data = true\n", "data = true\ndata = true\n");
    r.commit_all_by(DEV, "Merge branch 'data'");
    let c1 = r.head();
    r.git_by(
        GITHUB,
        &[
            "merge",
            "-q",
            "--no-ff",
            "fix",
            "-m",
            "Merge pull request #1",
        ],
    );
    let m = r.head();
    r.write(
        "policy.toml",
        r.git(&["show", &format!("{c0}:policy.toml")]),
    );
    r.commit_all_by(DEV, "Repair policy.toml");
    let c2 = r.head();
    // Plain git and tomllib: C2 -> M -> C1 -> C0 on the first-parent line, M merges `fix`
    // (its second parent, the lead's commit) and brings the lockfile change; C1 and M do not
    // parse and say "merge", C0 and C2 are the same file and say "squash".
    assert_eq!(
        first_parents(&r)[..4],
        [c2.clone(), m.clone(), c1.clone(), c0.clone()]
    );
    assert_eq!(
        r.git(&["log", "-1", "--format=%P", &m]).trim(),
        format!("{c1} {b}")
    );
    let changed = r.git(&["diff", "--name-only", &c1, &m]);
    assert!(changed.lines().any(|l| l == "migrations.lock"), "{changed}");
    for c in [&c1, &m] {
        assert!(tomllib_at(&r, c).is_err(), "{c} must not parse");
        let text = r.git(&["show", &format!("{c}:policy.toml")]);
        assert!(text.contains("merge-method = \"merge\""), "{text}");
    }
    assert_eq!(
        r.git(&["show", &format!("{c0}:policy.toml")]),
        r.git(&["show", &format!("{c2}:policy.toml")])
    );
    assert_eq!(tomllib_at(&r, &c2), Ok(()));
    let run = r.check();
    assert_eq!(run.code, 1, "{}", run.all());
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("error["))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    assert!(
        errors[0].starts_with("error[G005]")
            && errors[0].contains(&r.short(&m))
            && errors[0].contains("governance.merge-method = \"squash\""),
        "{}",
        run.stdout
    );
}
