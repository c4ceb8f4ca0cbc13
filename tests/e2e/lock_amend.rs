//! Lockfile amendments (`gate-replay lock --amend REV --reason ...`) on real git repositories
//! with a real Alembic project: the hook passes the amended content and still blocks every
//! other edit (G003), accepts a staged lockfile change that is exactly amendments, and
//! gate-approve requires the commit that adds the `amend` record to be an approval (G005).

use crate::support::approve::*;
use crate::support::repo::*;
use crate::support::run::*;

const USERS: &str = "alembic/versions/1111_users.py";
const ORGS: &str = "alembic/versions/2222_orgs.py";
const REASON: &str = "guarded: production already has users (F003 on 1111)";

fn migration(rev: &str, down: Option<&str>, upgrade: &str) -> String {
    let down = down.map_or("None".to_string(), |d| format!("'{d}'"));
    format!(
        "\"\"\"{rev}\"\"\"\nfrom alembic import op\n\nrevision = '{rev}'\ndown_revision = {down}\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.execute({upgrade:?})\n\n\ndef downgrade():\n    pass\n"
    )
}

/// `python3 -m alembic history` as Alembic itself prints it.
fn alembic_history(r: &Repo) -> String {
    let run = r.run(
        "python3",
        &["-m", "alembic", "-c", "alembic.ini", "history"],
    );
    assert_eq!(run.code, 0, "alembic history: {}", run.all());
    run.stdout
}

/// Two released migrations, locked by `gate-replay lock` and committed by a developer.
fn released() -> Repo {
    let r = Repo::new();
    r.write("alembic.ini", "[alembic]\nscript_location = alembic\n");
    r.write(
        USERS,
        migration("1111", None, "CREATE TABLE users (id int)"),
    );
    r.write(
        ORGS,
        migration("2222", Some("1111"), "CREATE TABLE orgs (id int)"),
    );
    r.write("policy.toml", policy("", ""));
    let lock = r.run(REPLAY, &["lock"]);
    assert_eq!(lock.code, 0, "{}", lock.all());
    r.commit_all_by(DEV, "Release 2222");
    let check = r.check();
    assert_eq!(check.code, 0, "{}", check.all());
    r
}

/// Edit the released 1111 into its guarded form.
fn guard_users(r: &Repo) {
    r.write(
        USERS,
        migration("1111", None, "CREATE TABLE IF NOT EXISTS users (id int)"),
    );
}

fn amend_users(r: &Repo) -> Run {
    r.run(REPLAY, &["lock", "--amend", "1111", "--reason", REASON])
}

#[test]
fn the_hook_passes_the_amended_content_and_blocks_any_other_edit() {
    let r = released();
    let history = alembic_history(&r);
    guard_users(&r);
    // Plain `lock` still refuses to launder the edit, and says how to amend it.
    let run = r.run(REPLAY, &["lock"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("G003") && run.stderr.contains("gate-replay lock --amend"),
        "{}",
        run.stderr
    );
    r.git(&["add", "-A"]);
    let hook = r.precommit::<&str>(&[]);
    assert_eq!(
        hook.code, 1,
        "the edit is G003 before the amendment: {hook}"
    );
    assert!(hook.stdout.contains("G003"), "{hook}");

    // `--reason` is required with `--amend` (clap usage error, exit 2), and the reverse.
    let run = r.run(REPLAY, &["lock", "--amend", "1111"]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("--reason"), "{}", run.stderr);
    let run = r.run(REPLAY, &["lock", "--reason", "x"]);
    assert_eq!(run.code, 2, "{}", run.all());

    let run = amend_users(&r);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout
            .contains("amended 1111 (alembic/versions/1111_users.py)"),
        "{}",
        run.stdout
    );
    let lock = r.read("migrations.lock");
    let last = lock.lines().last().unwrap();
    assert!(
        last.starts_with("amend 1111 ") && last.ends_with(&format!(" {REASON}")),
        "{lock}"
    );
    // Alembic reads the same chain: the amendment changed what 1111 does, not where it runs.
    assert_eq!(alembic_history(&r), history);

    r.git(&["add", "-A"]);
    let staged = r.git(&["diff", "--cached", "--name-only"]);
    assert_eq!(
        staged,
        format!("{USERS}\nmigrations.lock\n"),
        "git stages both"
    );
    let hook = r.precommit::<&str>(&[]);
    assert_eq!(hook.code, 0, "amended content, exactly amendments: {hook}");
    let all = r.precommit(&["--all"]);
    assert_eq!(all.code, 0, "{all}");

    // Any other edit of a released migration is still G003, the amended one included.
    r.write(
        ORGS,
        migration("2222", Some("1111"), "CREATE TABLE orgs (id bigint)"),
    );
    r.write(
        USERS,
        migration("1111", None, "CREATE TABLE IF NOT EXISTS users (id bigint)"),
    );
    r.git(&["add", "-A"]);
    let hook = r.precommit::<&str>(&[]);
    assert_eq!(hook.code, 1, "{hook}");
    let g003: Vec<&str> = hook.stdout.lines().filter(|l| l.contains("G003")).collect();
    assert_eq!(g003.len(), 2, "{hook}");
    assert!(
        hook.stdout.contains("released migration 1111")
            && hook.stdout.contains("released migration 2222"),
        "{hook}"
    );
    assert!(
        !hook.stdout.contains("G005"),
        "the lockfile is still exactly amendments: {hook}"
    );
    let all = r.precommit(&["--all"]);
    assert_eq!(all.code, 1, "{all}");
    assert!(all.stdout.contains("G003"), "{all}");
}

#[test]
fn the_hook_refuses_a_re_pin_hidden_beside_an_amendment() {
    let r = released();
    guard_users(&r);
    assert_eq!(amend_users(&r).code, 0);
    // Re-pin 2222 as well, keeping the amendment record: what `amend` refuses to do.
    r.write(ORGS, migration("2222", Some("1111"), "DROP TABLE orgs"));
    let policy = gate_policy::load(&r.path("policy.toml"), &r.root).unwrap();
    let d = gate_chain::discover(&r.root, &policy).unwrap();
    let old = gate_chain::lock::parse_lock("migrations.lock", r.read("migrations.lock").as_bytes())
        .unwrap();
    let text = gate_chain::render_lock_keeping(&d.graph, &d.files, &old.amendments);
    r.write("migrations.lock", text);
    r.git(&["add", "-A"]);
    let hook = r.precommit::<&str>(&[]);
    assert_eq!(hook.code, 1, "{hook}");
    let g005: Vec<&str> = hook.stdout.lines().filter(|l| l.contains("G005")).collect();
    assert!(!g005.is_empty(), "{hook}");
    assert!(
        hook.stdout.contains("1 existing entry (2222)"),
        "names only the re-pin: {hook}"
    );
}

#[test]
fn gate_approve_requires_the_amending_commit_to_be_an_approval() {
    let r = released();
    guard_users(&r);
    assert_eq!(amend_users(&r).code, 0);
    r.commit_all_by(DEV, "Guard the users migration");
    // What the verdict relies on, asked of git: a developer committed it, without a trailer.
    let who = r.git(&[
        "log",
        "-1",
        "--format=%ce|%(trailers:key=Approved-by,valueonly)",
    ]);
    assert_eq!(who.trim(), format!("{DEV}|"));
    let run = r.check();
    assert_eq!(run.code, 1, "{}", run.all());
    let g005: Vec<&str> = run.stdout.lines().filter(|l| l.contains("G005")).collect();
    assert_eq!(g005.len(), 1, "one finding, the amendment: {}", run.stdout);
    for part in [
        "amended released migration 1111",
        REASON,
        &r.short("HEAD"),
        "not in governance.approvers",
    ] {
        assert!(g005[0].contains(part), "{part}: {}", run.stdout);
    }
    let report = r.approve(&["report", "--format", "json", "--today", TODAY]);
    let amendments = amendments_of(&report);
    assert_eq!(
        amendments[0]["approved_by"],
        serde_json::Value::Null,
        "{amendments:?}"
    );

    // The same commit made by the lead with the trailer approves it.
    r.git(&["reset", "-q", "--soft", "HEAD~1"]);
    r.commit_approved("Guard the users migration");
    let who = r.git(&[
        "log",
        "-1",
        "--format=%ce|%(trailers:key=Approved-by,valueonly)",
    ]);
    assert_eq!(who.trim(), format!("{LEAD}|Lee Lead <{LEAD}>"));
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
    let report = r.approve(&["report", "--format", "json", "--today", TODAY]);
    assert_eq!(report.code, 0, "{}", report.all());
    let amendments = amendments_of(&report);
    assert_eq!(
        amendments,
        serde_json::json!([{
            "revision": "1111",
            "reason": REASON,
            "approved_by": LEAD,
            "commit": r.short("HEAD"),
            "problem": null,
        }])
    );
    let md = r.approve(&["report", "--format", "markdown", "--today", TODAY]);
    let row = md
        .stdout
        .lines()
        .find(|l| l.starts_with("| `1111` |"))
        .unwrap_or_else(|| panic!("an amendment row: {}", md.stdout));
    assert!(
        // Markdown escapes `@` so GitHub does not turn the address into a mention.
        row.ends_with(&format!(
            " | {} | `{}` |",
            LEAD.replace('@', "@&#8203;"),
            r.short("HEAD")
        )) && row.contains("production already has users"),
        "{row}"
    );

    // A later release keeps the record and needs no approval.
    r.write(
        "alembic/versions/3333_teams.py",
        migration("3333", Some("2222"), "CREATE TABLE teams (id int)"),
    );
    let lock = r.run(REPLAY, &["lock"]);
    assert_eq!(lock.code, 0, "{}", lock.all());
    assert!(r.read("migrations.lock").contains(&format!(" {REASON}\n")));
    r.commit_all_by(DEV, "Release 3333");
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
}

fn amendments_of(report: &Run) -> serde_json::Value {
    report.json()["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Amendments")
        .unwrap_or_else(|| panic!("an Amendments section: {}", report.stdout))["data"]
        .clone()
}

#[test]
fn a_tampered_amend_record_and_refused_amendments_exit_2() {
    let r = released();
    // Nothing edited, an unknown revision, an empty reason: exit 2, nothing written.
    let before = r.read("migrations.lock");
    for (args, says) in [
        (vec!["--amend", "1111", "--reason", "x"], "is unchanged"),
        (
            vec!["--amend", "9999", "--reason", "x"],
            "9999 is not pinned",
        ),
        (
            vec!["--amend", "1111", "--reason", "  "],
            "the reason is empty",
        ),
    ] {
        let run = r.run(REPLAY, &[&["lock"][..], &args].concat());
        assert_eq!(run.code, 2, "{args:?}: {}", run.all());
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert_eq!(r.read("migrations.lock"), before);
    }
    // Two released migrations edited: one at a time, naming the other.
    guard_users(&r);
    r.write(
        ORGS,
        migration(
            "2222",
            Some("1111"),
            "CREATE TABLE IF NOT EXISTS orgs (id int)",
        ),
    );
    let run = amend_users(&r);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("2222 (alembic/versions/2222_orgs.py)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("amend one at a time"), "{}", run.stderr);
    r.git(&["checkout", "-q", "--", ORGS]);

    assert_eq!(amend_users(&r).code, 0);
    let lock = r.read("migrations.lock");
    r.write("migrations.lock", lock.replace(REASON, "nobody asked"));
    for run in [
        r.run(REPLAY, &["chain"]),
        r.precommit(&["--all"]),
        amend_users(&r),
    ] {
        assert_eq!(run.code, 2, "{}", run.all());
        assert!(run.stderr.contains("migrations.lock:1"), "{}", run.all());
    }
}
