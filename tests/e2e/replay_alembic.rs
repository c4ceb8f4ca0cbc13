//! gate-replay on Alembic chains (the crisis example and variations of it) against a real
//! PostgreSQL with the url backend: R001 with revision and SQLSTATE, timeouts, a missing
//! Alembic, the round trip, snapshots and drift.

use crate::support::alembic::*;
use crate::support::db::*;
use crate::support::replay::*;
use crate::support::run::*;
use crate::support::*;

#[test]
fn the_crisis_example_replays_its_13_migrations() {
    let repo = crisis();
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let json = run.json();
    let timings = &json["sections"][0]["data"];
    assert_eq!(timings["applied"], 13, "{timings}");
    assert_eq!(timings["head"][0], CRISIS_HEAD);
    let migrations = timings["migrations"].as_array().expect("migrations");
    assert_eq!(migrations[0]["revision"], "1f2e3d4c5b6a");
    assert_eq!(migrations[12]["revision"], CRISIS_HEAD);
    // The example ships its expected schema: the replay matches it, no error or warning.
    // The only findings are notes about released migrations on generated rows (the seeded
    // pass: production already ran them).
    for f in json["findings"].as_array().unwrap() {
        assert_eq!(f["severity"], "note", "{f}");
        assert!(f["help"].as_str().unwrap().starts_with("Released"), "{f}");
    }
    // Its report shows every replay check it turns on.
    let titles: Vec<&str> = json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    for title in ["Models", "Stairway", "Seeded pass", "Locks and rewrites"] {
        assert!(titles.contains(&title), "{title} not in {titles:?}");
    }
}

#[test]
fn without_an_expected_snapshot_a_note_says_how_to_create_one() {
    let repo = crisis_plain();
    std::fs::remove_file(repo.path().join("schema.snapshot.json")).unwrap();
    let run = replay_url(repo.path(), &["--no-roundtrip"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(run.json_codes(), vec!["R003"]);
    assert_eq!(run.findings("R003")[0]["severity"], "note");
}

#[test]
fn text_and_markdown_reports_carry_the_timing_table() {
    let repo = crisis();
    let url = server_url();
    let text = replay(
        repo.path(),
        &["--backend", "url", "--database-url", &url, "--no-roundtrip"],
    );
    assert_eq!(text.code, 0, "{}", text.all());
    assert!(text.stdout.contains("Replay timings"), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("alembic/versions/7f8091a2b3c4_add_super_admin_role.py"),
        "{}",
        text.stdout
    );
    let md = replay(
        repo.path(),
        &[
            "--backend",
            "url",
            "--database-url",
            &url,
            "--no-roundtrip",
            "--format",
            "markdown",
        ],
    );
    assert_eq!(md.code, 0, "{}", md.all());
    assert!(
        md.stdout.contains("| revision | ms | file |"),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout.contains(&format!("| `{CRISIS_HEAD}` |")),
        "{}",
        md.stdout
    );
}

#[test]
fn a_migration_that_fails_is_r001_with_revision_sqlstate_and_line() {
    let repo = crisis();
    write(
        repo.path(),
        "alembic/versions/d1d1d1d1d1d1_recreate_organisations.py",
        &alembic_migration(
            "d1d1d1d1d1d1",
            CRISIS_HEAD,
            "op.execute(\"CREATE TABLE organisations (id integer)\")",
            "pass",
        ),
    );
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    let r001 = run.findings("R001");
    assert_eq!(r001.len(), 1, "{}", run.stdout);
    let msg = r001[0]["message"].as_str().unwrap();
    assert!(msg.contains("d1d1d1d1d1d1"), "{msg}");
    assert!(msg.contains("42P07"), "{msg}");
    assert!(msg.contains("already exists"), "{msg}");
    assert_eq!(
        r001[0]["path"],
        "alembic/versions/d1d1d1d1d1d1_recreate_organisations.py"
    );
    // The traceback line of op.execute in the migration file.
    assert_eq!(r001[0]["line"], 11, "{}", r001[0]);
    // The 13 revisions before it were timed.
    assert_eq!(run.json()["sections"][0]["data"]["applied"], 13);
}

#[test]
fn a_hanging_migration_times_out_as_r001_and_leaves_nothing_running() {
    let repo = crisis();
    let marker = format!("gate_hang_{}", std::process::id());
    write(
        repo.path(),
        "alembic/versions/e1e1e1e1e1e1_hang.py",
        &alembic_migration(
            "e1e1e1e1e1e1",
            CRISIS_HEAD,
            &format!("op.execute(\"SELECT pg_sleep(600) /* {marker} */\")"),
            "pass",
        ),
    );
    let started = std::time::Instant::now();
    let run = replay_url(repo.path(), &["--timeout", "5"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let r001 = run.findings("R001");
    assert_eq!(r001.len(), 1, "{}", run.stdout);
    let msg = r001[0]["message"].as_str().unwrap();
    assert!(msg.contains("timed out after 5s"), "{msg}");
    assert!(msg.contains("e1e1e1e1e1e1"), "{msg}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "the timeout did not stop the replay"
    );
    // No session still sleeping on the server, no process still working in the repository.
    let sleeping = psql(
        &server_url(),
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%{marker}%' AND pid <> pg_backend_pid()"
        ),
    );
    assert_eq!(sleeping, "0", "a pg_sleep session survived the timeout");
    let cwd = repo.path().canonicalize().unwrap();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(dir) = std::fs::read_link(p.path().join("cwd")) {
            assert_ne!(
                dir,
                cwd,
                "process {:?} still runs in the repository",
                p.file_name()
            );
        }
    }
}

#[test]
fn alembic_missing_for_replay_python_is_exit_2_naming_the_interpreter() {
    let repo = crisis();
    let venv = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(venv.path())
        .status()
        .unwrap()
        .success();
    assert!(ok, "python3 -m venv failed");
    let python = venv.path().join("bin/python");
    append(repo.path(), "policy.toml", "");
    let policy = std::fs::read_to_string(repo.path().join("policy.toml")).unwrap();
    let policy = policy.replace(
        "python = \"python3\"",
        &format!("python = \"{}\"", python.display()),
    );
    write(repo.path(), "policy.toml", &policy);
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains(&python.display().to_string()),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("-m pip install alembic sqlalchemy psycopg2-binary"),
        "{}",
        run.stderr
    );
    // No verdict when the check could not run: the JSON on stdout is the exit-2 document
    // (crates/report/README.md), its only findings the reasons it could not check.
    let doc = run.json();
    assert_eq!(doc["exit_code"], 2, "{}", run.stdout);
    assert_eq!(doc["summary"]["passed"], false, "{}", run.stdout);
    let findings = doc["findings"].as_array().unwrap();
    assert!(
        !findings.is_empty() && findings.iter().all(|f| f["code"] == "could-not-check"),
        "no report when the check could not run: {}",
        run.stdout
    );
}

#[test]
fn an_interpreter_that_does_not_exist_is_exit_2() {
    let repo = crisis();
    let policy = std::fs::read_to_string(repo.path().join("policy.toml")).unwrap();
    write(
        repo.path(),
        "policy.toml",
        &policy.replace("python = \"python3\"", "python = \"python3-nonexistent\""),
    );
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("python3-nonexistent"), "{}", run.stderr);
}

#[test]
fn a_downgrade_that_raises_is_r006_naming_the_revision() {
    let repo = crisis();
    write(
        repo.path(),
        "alembic/versions/f1f1f1f1f1f1_broken_down.py",
        &alembic_migration(
            "f1f1f1f1f1f1",
            CRISIS_HEAD,
            "op.execute(\"CREATE TABLE notes (id integer)\")",
            "op.execute(\"DROP TABLE no_such_table\")",
        ),
    );
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    let r006 = run.findings("R006");
    assert_eq!(r006.len(), 1, "{}", run.stdout);
    let msg = r006[0]["message"].as_str().unwrap();
    assert!(msg.contains("f1f1f1f1f1f1"), "{msg}");
    assert!(msg.contains("42P01"), "{msg}");
}

#[test]
fn a_downgrade_that_forgets_a_table_is_r004_listing_it() {
    let repo = crisis();
    write(
        repo.path(),
        "alembic/versions/f2f2f2f2f2f2_leaky_down.py",
        &alembic_migration(
            "f2f2f2f2f2f2",
            CRISIS_HEAD,
            "op.execute(\"CREATE TABLE forgotten_table (id integer)\")",
            "pass",
        ),
    );
    let run = replay_url(repo.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    let r004 = run.findings("R004");
    assert_eq!(r004.len(), 1, "{}", run.stdout);
    assert!(
        r004[0]["message"]
            .as_str()
            .unwrap()
            .contains("forgotten_table"),
        "{}",
        r004[0]
    );
    assert!(run.findings("R006").is_empty());
}

#[test]
fn no_roundtrip_skips_the_downgrade() {
    let repo = crisis_plain();
    write(
        repo.path(),
        "alembic/versions/f2f2f2f2f2f2_leaky_down.py",
        &alembic_migration(
            "f2f2f2f2f2f2",
            CRISIS_HEAD,
            "op.execute(\"CREATE TABLE forgotten_table (id integer)\")",
            "pass",
        ),
    );
    // The new table is drift against the example's snapshot (R003); what matters here is
    // that the leaky downgrade is never run, so no R004/R006.
    let run = replay_url(repo.path(), &["--no-roundtrip"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(run.json_codes(), vec!["R003"], "{}", run.stdout);
    assert!(run.stdout.contains("forgotten_table"), "{}", run.stdout);
}

#[test]
fn snapshot_then_an_edited_migration_is_r003_with_the_difference() {
    let repo = crisis_plain();
    let url = server_url();
    let snap = replay(
        repo.path(),
        &["snapshot", "--backend", "url", "--database-url", &url],
    );
    assert_eq!(snap.code, 0, "{}", snap.all());
    let written = std::fs::read_to_string(repo.path().join("schema.snapshot.json")).unwrap();
    assert!(written.contains("public.users"), "{written}");
    // A second snapshot of the same chain is byte-identical.
    let again = replay(
        repo.path(),
        &["snapshot", "--backend", "url", "--database-url", &url],
    );
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(
        written,
        std::fs::read_to_string(repo.path().join("schema.snapshot.json")).unwrap()
    );
    let clean = replay_url(repo.path(), &["--no-roundtrip"]);
    assert_eq!(clean.code, 0, "{}", clean.all());
    assert!(clean.json_codes().is_empty(), "{}", clean.stdout);

    // Someone edits a migration: the replayed schema no longer matches the snapshot.
    let file = repo
        .path()
        .join("alembic/versions/b2c3d4e5f6a7_users_last_login.py");
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replacen("\"last_login_at\"", "\"last_seen_at\"", 1);
    assert_ne!(
        text, edited,
        "fixture changed: no last_login_at column name to edit"
    );
    std::fs::write(&file, edited).unwrap();
    let drift = replay_url(repo.path(), &["--no-roundtrip"]);
    assert_eq!(drift.code, 1, "{}", drift.all());
    let r003 = drift.findings("R003");
    assert_eq!(r003.len(), 1, "{}", drift.stdout);
    let msg = r003[0]["message"].as_str().unwrap();
    assert!(msg.contains("last_seen_at"), "{msg}");
    assert!(msg.contains("last_login_at"), "{msg}");
    assert_eq!(r003[0]["path"], "schema.snapshot.json");
}

#[test]
fn reference_dump_and_reference_database_differences_are_r003() {
    let repo = crisis();
    let db = format!("gate_ref_{}", std::process::id());
    let admin = server_url();
    psql(&admin, &format!("DROP DATABASE IF EXISTS {db}"));
    psql(&admin, &format!("CREATE DATABASE {db}"));
    let reference = url_for(&db);
    // "Production": the chain plus a column added by hand.
    let ok = std::process::Command::new("python3")
        .args(["-m", "alembic", "upgrade", "head"])
        .current_dir(repo.path())
        // By hand, as a user would: SQLAlchemy 2.x wants postgresql://, not libpq's postgres://.
        .env(
            "DATABASE_URL",
            reference.replacen("postgres://", "postgresql://", 1),
        )
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    psql(&reference, "ALTER TABLE users ADD COLUMN nickname text");
    let dump = repo.path().join("prod.sql");
    let out = std::process::Command::new("pg_dump")
        .args(["--schema-only", "-d", &reference, "-f"])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The reference is only ever read: a sentinel with rows, a checksum of everything in the
    // database (schema and data), and a database that refuses writes anyway.
    psql(
        &reference,
        "CREATE TABLE gate_sentinel (id int PRIMARY KEY, note text); \
         INSERT INTO gate_sentinel SELECT g, md5(g::text) FROM generate_series(1, 100) g",
    );
    psql(
        &admin,
        &format!("ALTER DATABASE {db} SET default_transaction_read_only = on"),
    );
    let checksum = || {
        let out = std::process::Command::new("pg_dump")
            .args(["--no-owner", "-d", &reference])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // pg_dump 15.14+ brackets its output with `\restrict KEY` / `\unrestrict KEY`, and
        // the key is random on every run.
        let dump = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n");
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(dump.as_bytes()))
    };
    let before = checksum();

    let run = replay_url(
        repo.path(),
        &[
            "--no-roundtrip",
            "--reference",
            &reference,
            "--reference-dump",
            dump.to_str().unwrap(),
        ],
    );
    // The drift job of ci/github/drift.yml: its args, production's URL from the environment
    // (a secret), never on the command line.
    let url = server_url();
    let drift_job = Run::of(
        crate::support::run::command(crate::support::run::REPLAY, repo.path())
            .args([
                "--backend",
                "url",
                "--database-url",
                &url,
                "--format",
                "json",
            ])
            .args(["--no-fixes", "--no-roundtrip"])
            .env("GATE_REFERENCE_URL", &reference),
    );
    assert_eq!(drift_job.code, 1, "{}", drift_job.all());
    let r003: Vec<_> = drift_job
        .findings("R003")
        .into_iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert_eq!(r003.len(), 1, "{}", drift_job.stdout);
    assert!(
        r003[0]["message"].as_str().unwrap().contains("nickname"),
        "{}",
        drift_job.stdout
    );
    let after = checksum();
    psql(&admin, &format!("DROP DATABASE IF EXISTS {db}"));
    assert_eq!(
        before, after,
        "the reference database changed during the replay"
    );
    assert_eq!(run.code, 1, "{}", run.all());
    let r003 = run.findings("R003");
    let errors: Vec<_> = r003.iter().filter(|f| f["severity"] == "error").collect();
    assert_eq!(errors.len(), 2, "{}", run.stdout);
    for f in errors {
        assert!(f["message"].as_str().unwrap().contains("nickname"), "{f}");
    }
}

#[test]
fn a_slow_migration_is_an_r005_warning_that_does_not_fail_the_gate() {
    let repo = crisis();
    write(
        repo.path(),
        "alembic/versions/a5a5a5a5a5a5_slow.py",
        &alembic_migration(
            "a5a5a5a5a5a5",
            CRISIS_HEAD,
            "op.execute(\"SELECT pg_sleep(0.6)\")",
            "pass",
        ),
    );
    let policy = std::fs::read_to_string(repo.path().join("policy.toml")).unwrap();
    write(
        repo.path(),
        "policy.toml",
        &policy.replace("slow-ms = 5000", "slow-ms = 400"),
    );
    let run = replay_url(repo.path(), &["--no-roundtrip"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let r005 = run.findings("R005");
    assert_eq!(r005.len(), 1, "{}", run.stdout);
    assert_eq!(r005[0]["severity"], "warning");
    assert!(
        r005[0]["message"]
            .as_str()
            .unwrap()
            .contains("a5a5a5a5a5a5")
    );
    assert_eq!(r005[0]["path"], "alembic/versions/a5a5a5a5a5a5_slow.py");
}

/// Killing a replay while Alembic is mid-migration leaves nothing behind: not the Alembic
/// process (it runs in its own process group, out of reach of the terminal's signals, and a
/// migration busy in Python does not notice its database being dropped), not the scratch
/// database.
#[test]
fn sigterm_during_a_migration_leaves_no_process_or_database() {
    interrupt_during_a_migration("-TERM", 143, "t");
}

/// Issue 9: one SIGINT during a replay came out as exit 1 with an R001 ("alembic exited
/// with a signal"): the cleanup killed the runner and the main thread rendered a verdict.
/// An interrupt is never a finding.
#[test]
fn sigint_during_a_migration_is_130_not_a_finding() {
    interrupt_during_a_migration("-INT", 130, "i");
}

fn interrupt_during_a_migration(signal: &str, expected: i32, tag: &str) {
    use std::io::BufRead as _;
    let repo = crisis();
    let marker = format!("gate_test_{tag}{}", std::process::id());
    write(
        repo.path(),
        "alembic/versions/c0ffeec0ffee_hangs.py",
        &alembic_migration(
            "c0ffeec0ffee",
            CRISIS_HEAD,
            &format!(
                "op.execute(\"SET application_name = '{marker}'\")\n    import time\n    time.sleep(600)"
            ),
            "pass",
        ),
    );
    let url = server_url();
    let mut child = gate_command(REPLAY)
        .args([
            "--backend",
            "url",
            "--database-url",
            &url,
            "--format",
            "json",
        ])
        .current_dir(repo.path())
        .env("NO_COLOR", "1")
        .env("CI", "true")
        .env_remove("GATE_POLICY")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start gate-replay");
    // Wait for the upgrade to start, then for the hanging migration to announce itself.
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    loop {
        let line = lines.next().expect("gate-replay ended early").unwrap();
        if line.contains("upgrade to head") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let started = std::time::Instant::now();
    let scratch = loop {
        let db = psql(
            &url,
            &format!("SELECT datname FROM pg_stat_activity WHERE application_name = '{marker}'"),
        );
        if db.starts_with("gate_replay_") {
            break db;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the hanging migration never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(
        exit.code(),
        Some(expected),
        "kill {signal} exits {expected}: {exit:?}"
    );

    let pgrep = std::process::Command::new("pgrep")
        .args(["-f", &repo.path().display().to_string()])
        .output()
        .unwrap();
    assert!(
        pgrep.stdout.is_empty(),
        "processes left running: {}",
        String::from_utf8_lossy(&pgrep.stdout)
    );
    assert!(
        !leftover_databases().contains(&scratch),
        "{scratch} was not dropped"
    );
}
