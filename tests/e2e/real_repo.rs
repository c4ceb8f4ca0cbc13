//! Issue 8: gate-replay on a repository shaped like the real crisis repositories (generated in
//! the test: see `support::real_repo`) reaches the verdict plain tools reach. The expected
//! verdict is computed by hand (`support::real_repo::oracle`): `python3 -m alembic` and each
//! fix run on fresh databases of the test server, compared with pg_dump. Then:
//! - the same (code, path) set of error findings on the local, docker and url backends, and
//!   nothing a fix writes lands in the user's tree;
//! - environment failures (settings that require a variable, an interpreter without Alembic,
//!   a driver that is not installed) are exit 2 naming the interpreter and the next step;
//! - a chain with two bases is still replayed, so a failing revision deep in it is R001;
//! - no secret in any output format; no write outside the scratch database when the
//!   environment names another database;
//! - the optional checks (stairway, seeded pass and locks, models) are silent where the same
//!   checks done by hand (`support::real_repo::checks_by_hand.py`, plain `alembic check`)
//!   find the chain clean, and their lock findings are the ones plain PostgreSQL shows.
//!
//! Needs: `eval "$(bash ci/test-postgres.sh)"` (a server with TLS), python3 with alembic,
//! sqlalchemy, psycopg2, psycopg and pydantic-settings (ci/requirements.txt), PostgreSQL server
//! binaries, Docker with migration-gate/postgres:15. Missing pieces fail the tests; nothing is
//! skipped.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use crate::support::db::*;
use crate::support::docker::require_docker_image;
use crate::support::real_repo::oracle::checks_by_hand;
use crate::support::real_repo::oracle::{ByHand, Verdict, last_started};
use crate::support::real_repo::*;
use crate::support::replay::{assert_each_revision_checked, replay_url, section};
use crate::support::run::Run;
use crate::support::sha256_hex;

/// The verdict plain tools give on the default repository, computed once for every test.
fn expected() -> &'static Verdict {
    static ORACLE: OnceLock<Verdict> = OnceLock::new();
    ORACLE.get_or_init(|| {
        let repo = RealRepo::generate(Options::default());
        ByHand::new(&repo).verdict()
    })
}

/// Error findings of a `--format json` run as (code, path).
fn verdict_of(run: &Run) -> BTreeSet<(String, String)> {
    run.json()["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                f["code"].as_str().unwrap_or_default().to_string(),
                f["path"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn describe(v: &BTreeSet<(String, String)>) -> String {
    v.iter()
        .map(|(c, p)| format!("  {c} {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The findings' messages and paths with `code`, as one text.
fn texts(run: &Run, code: &str) -> String {
    run.findings(code)
        .iter()
        .map(|f| format!("{} | {}", f["path"], f["message"]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn git_status(repo: &RealRepo) -> String {
    let out = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=all"])
        .current_dir(repo.path())
        .output()
        .expect("git status");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn by_hand_the_generated_repository_behaves_as_each_script_intends() {
    // The fixture itself, judged with plain tools only: if this fails, the environment
    // (pydantic-settings, TLS on the test server, Alembic) is not what the other tests need.
    let v = expected();
    let up = v.upgrade.as_ref().expect("upgrade ran");
    assert!(
        up.ok,
        "plain `alembic upgrade heads` must build the chain:\n{}",
        up.all()
    );
    assert_eq!(
        last_started(&up.stderr, "upgrade").as_deref(),
        Some(HEAD),
        "{}",
        up.stderr
    );
    let fix = |p: &str| v.fixes.get(p).unwrap_or_else(|| panic!("{p} was run"));
    let first = |p: &str| fix(p).first.clone().expect("first run");

    let e = fix(ENUM_FIX);
    assert!(e.changed && !e.second.as_ref().unwrap().ok, "{e:?}");
    assert_eq!(e.production_failed_at.as_deref(), Some(R06_SUPER_ADMIN));
    assert_eq!(e.rollback_restores, Some(true), "{e:?}");

    for clean in [FLAGS_FIX, ROLE_FIX] {
        let t = fix(clean);
        assert!(t.changed, "{clean} changes the database: {t:?}");
        assert!(t.second.as_ref().unwrap().ok && !t.second_changed, "{t:?}");
        assert_eq!(t.rollback_restores, Some(true), "{clean}: {t:?}");
        assert!(
            t.production_failed_at.is_none() && !t.production_drift,
            "{t:?}"
        );
    }
    let ssl = first(SSL_FIX);
    assert!(
        ssl.ok,
        "the TLS-only fix must connect to the test server (ci/test-postgres.sh turns TLS on): {}",
        ssl.all()
    );
    assert!(fix(SSL_FIX).production_drift);
    assert!(fix(SEED_FIX).second_changed, "{:?}", fix(SEED_FIX));
    let silent = first(SILENT_FIX);
    assert!(
        silent.ok && silent.stdout.contains("FAILED"),
        "{}",
        silent.all()
    );
    assert!(!fix(SILENT_FIX).changed);
    let prompt = first(PROMPT_FIX);
    assert!(
        !prompt.ok && prompt.stderr.contains("EOFError"),
        "{}",
        prompt.all()
    );
    let backup = fix(BACKUP_FIX);
    assert!(
        backup
            .wrote
            .iter()
            .any(|f| f.starts_with("backup_info_") && f.ends_with(".txt")),
        "run by hand, the backup fix writes backup_info_*.txt into its folder: {backup:?}"
    );
    assert_eq!(backup.rollback_restores, Some(false));
    assert!(backup.production_drift);
}

fn verdicts_match_by_hand(backend: &str) {
    let repo = RealRepo::generate(Options::default());
    let server = Server::from_env();
    let mut args = backend_args(backend, &server);
    args.extend(["--format".to_string(), "json".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = gate(repo.path(), &args, &[]);
    // After the run, so the other backends' runs go on while one test computes this.
    let expected = expected();
    assert_eq!(
        run.code,
        if expected.errors.is_empty() { 0 } else { 1 },
        "{run}"
    );
    let got = verdict_of(&run);
    assert_eq!(
        got,
        expected.errors,
        "{backend}: gate-replay's verdict differs from plain alembic + the fixes by hand\n gate-replay:\n{}\n by hand:\n{}\n{run}",
        describe(&got),
        describe(&expected.errors)
    );
    // Nothing was left unverified on a chain that builds.
    assert!(run.findings("R001").is_empty(), "{run}");
    assert!(run.findings("R010").is_empty(), "{run}");
    // The fix that reads stdin was told why it failed.
    let prompt = texts(&run, "F001");
    assert!(
        prompt.contains(PROMPT_FIX) && prompt.contains("the fix asked for input"),
        "{prompt}"
    );
    // Fixes ran in throw-away copies: the backup note and anything else stay out of the tree.
    assert!(
        repo.files_named("backup_info_").is_empty(),
        "{:?}",
        repo.files_named("backup_info_")
    );
    assert_eq!(git_status(&repo), "", "the replay wrote into the work tree");
}

#[test]
fn the_local_backend_reaches_the_verdict_of_plain_alembic_and_the_fixes_by_hand() {
    verdicts_match_by_hand("local");
}

#[test]
fn the_docker_backend_reaches_the_verdict_of_plain_alembic_and_the_fixes_by_hand() {
    require_docker_image();
    verdicts_match_by_hand("docker");
}

#[test]
fn the_url_backend_reaches_the_verdict_of_plain_alembic_and_the_fixes_by_hand() {
    verdicts_match_by_hand("url");
}

/// `gate-replay --backend url --format json` against the test server.
fn gate_url(repo: &RealRepo, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let url = Server::from_env().admin_url();
    let mut args = vec!["--backend", "url", "--database-url", url.as_str()];
    args.extend_from_slice(extra);
    gate(repo.path(), &args, env)
}

/// An environment failure: exit 2, never blamed on a migration, values not echoed.
fn assert_environment_failure(run: &Run) {
    assert_eq!(run.code, 2, "an environment failure is exit 2: {run}");
    assert!(
        !run.all().contains("R001"),
        "an environment failure is not R001: {run}"
    );
    for secret in [JWT, AUTH0] {
        assert!(!run.all().contains(secret), "{secret} leaked: {run}");
    }
}

#[test]
fn settings_that_require_a_variable_missing_from_replay_env_are_exit_2_naming_it_and_the_interpreter()
 {
    let options = Options {
        env: vec![("AUTH0_DOMAIN".into(), AUTH0.into())],
        ..Options::default()
    }
    .with_fixes(&[]);
    let repo = RealRepo::generate(options);

    // By hand: Alembic stops while env.py imports the settings, before any revision runs.
    let by_hand = ByHand::new(&repo);
    let db = by_hand.server.create(None);
    let plain = by_hand.alembic(&db, &["upgrade", "heads"]);
    assert!(!plain.ok, "{}", plain.all());
    assert!(
        plain.stderr.contains("JWT_SECRET_KEY") && plain.stderr.contains("Field required"),
        "{}",
        plain.all()
    );
    assert_eq!(
        last_started(&plain.stderr, "upgrade"),
        None,
        "{}",
        plain.all()
    );
    assert!(!db.has_table("alembic_version"));

    let run = gate_url(&repo, &["--format", "json"], &[]);
    assert_environment_failure(&run);
    for needle in ["JWT_SECRET_KEY", "replay.env", &repo.interpreter("python3")] {
        assert!(
            run.stderr.contains(needle),
            "stderr must name {needle}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn an_interpreter_without_alembic_is_exit_2_naming_that_interpreter_and_the_pip_command() {
    let venv = tempfile::tempdir().expect("tempdir");
    let out = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(venv.path().join("venv"))
        .output()
        .expect("python3 -m venv");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python = path_str(&venv.path().join("venv/bin/python3"));
    let repo = RealRepo::generate(
        Options {
            python: python.clone(),
            ..Options::default()
        }
        .with_fixes(&[]),
    );
    let executable = repo.interpreter(&python);
    assert!(executable.contains(&path_str(venv.path())), "{executable}");

    // By hand: that interpreter has no Alembic.
    let by_hand = ByHand::new(&repo);
    let db = by_hand.server.create(None);
    let plain = by_hand.alembic(&db, &["upgrade", "heads"]);
    assert!(
        !plain.ok && plain.stderr.contains("No module named alembic"),
        "{}",
        plain.all()
    );

    let run = gate_url(&repo, &["--format", "json"], &[]);
    assert_environment_failure(&run);
    assert!(run.stderr.contains(&executable), "{}", run.stderr);
    assert!(run.stderr.contains("pip install"), "{}", run.stderr);
}

#[test]
fn a_driver_that_is_not_installed_is_exit_2_naming_the_pip_command() {
    let repo = RealRepo::generate(
        Options {
            database_url: Some(
                "postgresql+asyncpg://{user}:{password}@{host}:{port}/{database}".into(),
            ),
            ..Options::default()
        }
        .with_fixes(&[]),
    );
    let by_hand = ByHand::new(&repo);
    let db = by_hand.server.create(None);
    let plain = by_hand.alembic(&db, &["upgrade", "heads"]);
    assert!(
        !plain.ok && plain.stderr.contains("No module named 'asyncpg'"),
        "this test needs a machine without asyncpg: {}",
        plain.all()
    );
    assert_eq!(last_started(&plain.stderr, "upgrade"), None);

    let run = gate_url(&repo, &["--format", "json"], &[]);
    assert_environment_failure(&run);
    assert!(run.stderr.contains("asyncpg"), "{}", run.stderr);
    assert!(run.stderr.contains("pip install"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&repo.interpreter("python3")),
        "{}",
        run.stderr
    );
}

const X1_LEGACY: &str = "d4e5f6a7b8c9";
const X2_LEGACY_EMAIL: &str = "e5f6a7b8c9d0";
const X3_LEGACY_BACKFILL: &str = "f6a7b8c9d0e1";
const MERGE: &str = "7a8b9c0d1e2f";

#[test]
fn a_chain_with_two_bases_is_replayed_and_a_failure_deep_in_the_second_branch_is_r001() {
    let mut options = Options::default().with_fixes(&[FLAGS_FIX]);
    // Registered after the failing revision: it cannot be verified, and R010 must say so.
    options.fixes[0].applied_after = MERGE;
    options.migrations.extend([
        Migration::new(
            X1_LEGACY,
            &[],
            "import_legacy_accounts",
            r#"op.create_table("legacy_accounts", sa.Column("id", sa.Integer(), primary_key=True))"#,
            r#"op.drop_table("legacy_accounts")"#,
        ),
        Migration::new(
            X2_LEGACY_EMAIL,
            &[X1_LEGACY],
            "legacy_accounts_email",
            r#"op.add_column("legacy_accounts", sa.Column("email", sa.String(320)))"#,
            r#"op.drop_column("legacy_accounts", "email")"#,
        ),
        Migration::new(
            X3_LEGACY_BACKFILL,
            &[X2_LEGACY_EMAIL],
            "backfill_legacy_owners",
            // The table was created by hand on the old server, never by a migration.
            r#"op.execute("UPDATE legacy_account_owners SET owner_id = 1")"#,
            "pass",
        ),
        Migration::new(
            MERGE,
            &[HEAD, X3_LEGACY_BACKFILL],
            "merge_legacy_import",
            "pass",
            "pass",
        ),
    ]);
    let repo = RealRepo::generate(options);

    // By hand: Alembic itself sees two bases and runs both branches until the backfill fails.
    let bases = Command::new("python3")
        .args([
            "-c",
            "from alembic.config import Config\nfrom alembic.script import ScriptDirectory\nprint(' '.join(sorted(ScriptDirectory.from_config(Config('alembic.ini')).get_bases())))",
        ])
        .current_dir(repo.path())
        .output()
        .expect("python3");
    let bases = String::from_utf8_lossy(&bases.stdout).trim().to_string();
    assert_eq!(bases.split(' ').count(), 2, "Alembic's bases: {bases}");
    let by_hand = ByHand::new(&repo).verdict();
    let failed_at = by_hand
        .upgrade_failed_at
        .clone()
        .unwrap_or_else(|| panic!("plain alembic must fail: {:?}", by_hand.upgrade));
    assert_eq!(failed_at, X3_LEGACY_BACKFILL);

    let run = gate_url(&repo, &["--format", "json"], &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        !run.findings("C006").is_empty(),
        "C006 still reported: {run}"
    );
    let r001 = run.findings("R001");
    assert_eq!(r001.len(), 1, "{run}");
    assert_eq!(
        r001[0]["path"].as_str(),
        repo.file_of(&failed_at).as_deref(),
        "{run}"
    );
    assert!(
        r001[0]["message"].as_str().unwrap().contains(&failed_at),
        "{}",
        r001[0]
    );
    // What could not be verified after the failure is named, the fix included.
    let r010 = texts(&run, "R010");
    assert!(
        r010.contains(FLAGS_FIX),
        "R010 must name the unverified fix:\n{r010}\n{run}"
    );
    assert!(
        verdict_of(&run).is_superset(&by_hand.errors),
        "by hand: {:?}\n{run}",
        by_hand.errors
    );
}

const PASSWORD: &str = "Pw-9f3k2-Secret-QZ7";
const R11_SECRETS: &str = "c1d2e3f4a5b6";

/// A role with a password on the test server (which trusts every connection, so the password
/// is only something the gate must keep to itself), dropped afterwards.
struct Role {
    server: Server,
    name: String,
}

impl Role {
    fn create(server: &Server) -> Self {
        let name = format!("gate_secret_{}", std::process::id());
        server.psql(
            "postgres",
            &format!("DROP ROLE IF EXISTS {name}; CREATE ROLE {name} LOGIN CREATEDB PASSWORD '{PASSWORD}'"),
        );
        Role {
            server: server.clone(),
            name,
        }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-X", "-q", "-d"])
            .arg(self.server.libpq("postgres"))
            .args(["-c", &format!("DROP ROLE IF EXISTS {}", self.name)])
            .output();
    }
}

#[test]
fn no_password_and_no_replay_env_value_in_any_format_nor_stderr_nor_the_step_summary() {
    let server = Server::from_env();
    let role = Role::create(&server);
    let seen = tempfile::tempdir().expect("tempdir");
    let seen_file = path_str(&seen.path().join("seen.txt"));
    let mut options = Options {
        // The driver named in the template: the chain up to the failing revision builds.
        database_url: Some(URL_TEMPLATE.into()),
        ..Options::default()
    }
    .with_fixes(&[]);
    options.migrations.push(Migration::new(
        R11_SECRETS,
        &[HEAD],
        "connect_billing",
        &format!(
            r#"import os
import urllib.parse

password = urllib.parse.urlparse(os.environ["DATABASE_URL"]).password
with open({seen_file:?}, "a") as f:
    f.write(f"{{password}}\n")
print("billing token", os.environ["JWT_SECRET_KEY"], "tenant", os.environ["AUTH0_DOMAIN"])
raise RuntimeError(f"billing refused password {{password}} / {{os.environ.get('PGPASSWORD')}} with token {{os.environ['JWT_SECRET_KEY']}}")"#
        ),
        "pass",
    ));
    // A fix that prints every secret it can see and fails; checked or named as unchecked.
    options.fixes.push(Fix {
        path: "fix_print_secrets.py",
        applied_after: R02_USERS,
        applied_on: "2025-08-01",
        args: Vec::new(),
        run: "python3 fix_print_secrets.py".into(),
        rollback: None,
        source: r#"import os
import sys
import urllib.parse

password = urllib.parse.urlparse(os.environ["DATABASE_URL"]).password
print("password", password, os.environ.get("PGPASSWORD"), "token", os.environ["JWT_SECRET_KEY"])
sys.exit(f"fix failed: password {password} token {os.environ['JWT_SECRET_KEY']} tenant {os.environ['AUTH0_DOMAIN']}")
"#
        .into(),
    });
    let repo = RealRepo::generate(options);
    let url = format!(
        "postgresql://{}@{}:{}/postgres?password={PASSWORD}",
        role.name, server.host, server.port
    );
    let summary = tempfile::tempdir().expect("tempdir");
    let summary_file = summary.path().join("step-summary.md");
    for format in ["text", "json", "markdown", "github", "sarif", "junit"] {
        std::fs::write(&summary_file, "").unwrap();
        let summary_path = path_str(&summary_file);
        let env: Vec<(&str, &str)> = if format == "github" {
            vec![("GITHUB_STEP_SUMMARY", summary_path.as_str())]
        } else {
            Vec::new()
        };
        let run = gate(
            repo.path(),
            &[
                "--backend",
                "url",
                "--database-url",
                &url,
                "--format",
                format,
            ],
            &env,
        );
        assert_eq!(
            run.code, 1,
            "{format}: the failing migration is R001: {run}"
        );
        let written = std::fs::read_to_string(&summary_file).unwrap();
        if format == "github" {
            assert!(!written.is_empty(), "github writes the step summary");
        }
        if format == "json" {
            let r001 = run.findings("R001");
            assert_eq!(r001.len(), 1, "{run}");
            assert_eq!(
                r001[0]["path"].as_str(),
                repo.file_of(R11_SECRETS).as_deref()
            );
        }
        for secret in [PASSWORD, JWT, AUTH0] {
            assert!(
                !run.stdout.contains(secret),
                "{format}: {secret} in stdout:\n{}",
                run.stdout
            );
            assert!(
                !run.stderr.contains(secret),
                "{format}: {secret} in stderr:\n{}",
                run.stderr
            );
            assert!(
                !written.contains(secret),
                "{format}: {secret} in $GITHUB_STEP_SUMMARY:\n{written}"
            );
        }
    }
    // The migration really had the password: its absence above is redaction.
    let seen = std::fs::read_to_string(&seen_file).unwrap_or_default();
    assert!(
        seen.lines().any(|l| l == PASSWORD),
        "the migration saw {seen:?} as the password"
    );
}

#[test]
fn with_hostile_pg_variables_nothing_is_written_outside_the_scratch_database() {
    let server = Server::from_env();
    let sentinel = server.create(None);
    sentinel.psql(
        "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL); \
         INSERT INTO accounts VALUES (1, 'alice'), (2, 'bob')",
    );
    let checksum = || {
        (
            sha256_hex(sentinel.dump(false, &[]).as_bytes()),
            sentinel.psql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"),
        )
    };
    let before = checksum();

    // psql without arguments: PG* decide where it writes.
    let pwned = "fix_pwned.sh";
    let pwned_cmd = "psql -c 'CREATE TABLE IF NOT EXISTS pwned(x int)'";
    // `${DATABASE_URL}` in replay.env is the scratch database, not the gate's own variable.
    let reporting = "fix_reporting.sh";
    let reporting_cmd =
        "psql \"$REPORTING_DATABASE_URL\" -c 'CREATE TABLE IF NOT EXISTS reporting_seen(x int)'";
    let mut options = Options::default().with_fixes(&[]);
    options
        .env
        .push(("REPORTING_DATABASE_URL".into(), "${DATABASE_URL}".into()));
    for (path, applied_after, run) in [
        (pwned, R05_LAST_LOGIN, pwned_cmd),
        (reporting, HEAD, reporting_cmd),
    ] {
        options.fixes.push(Fix {
            path,
            applied_after,
            applied_on: "2025-08-01",
            args: Vec::new(),
            run: run.into(),
            rollback: None,
            source: format!("#!/bin/sh\n{run}\n"),
        });
    }
    let repo = RealRepo::generate(options);
    // By hand, on a scratch database, each fix leaves a table the chain does not have.
    let by_hand = ByHand::new(&repo).verdict();
    assert_eq!(
        by_hand.errors,
        BTreeSet::from([
            ("F004".to_string(), pwned.to_string()),
            ("F004".to_string(), reporting.to_string())
        ]),
        "{by_hand:?}"
    );

    // Everything a CI job might export, naming the sentinel (in the form env.py accepts).
    let sentinel_url = sentinel.libpq();
    let port = server.port.to_string();
    let hostile: Vec<(&str, &str)> = vec![
        ("PGHOST", server.host.as_str()),
        ("PGPORT", port.as_str()),
        ("PGUSER", server.user.as_str()),
        ("PGPASSWORD", "hostile-password"),
        ("PGDATABASE", sentinel.name.as_str()),
        ("DATABASE_URL", sentinel_url.as_str()),
        ("GATE_DATABASE_URL", sentinel_url.as_str()),
    ];
    for backend in ["local", "url"] {
        let mut args = backend_args(backend, &server);
        args.extend(["--format".to_string(), "json".to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = gate(repo.path(), &args, &hostile);
        assert_eq!(run.code, 1, "{backend}: {run}");
        assert_eq!(verdict_of(&run), by_hand.errors, "{backend}: {run}");
        // The fixes ran, and in the scratch database: their tables are the drift.
        let drift = texts(&run, "F004");
        assert!(
            drift.contains("pwned") && drift.contains("reporting_seen"),
            "{backend}: {run}"
        );
        for table in ["pwned", "reporting_seen"] {
            assert!(
                !sentinel.has_table(table),
                "{backend}: a fix wrote {table} into the database the environment named"
            );
        }
        assert_eq!(
            checksum(),
            before,
            "{backend}: the sentinel database changed"
        );
    }
}

/// The 1-based line of file `rel` under `root` that first holds `needle`, and that line.
fn line_of(root: &Path, rel: &str, needle: &str) -> (u64, String) {
    let text = std::fs::read_to_string(root.join(rel)).unwrap();
    let (i, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} is not in {rel}"));
    (i as u64 + 1, line.to_string())
}

/// The lock findings what `checks_by_hand.py seeded` saw implies, as (code, file, line; 0
/// where the line is not compared): an index built under a SHARE lock on a table with rows
/// (L003, at the line naming the index); a table with rows rewritten (L002); a constraint or
/// NOT NULL validated on one while its writes wait (L004); an ACCESS EXCLUSIVE lock on one
/// still held when a later statement of the migration runs (L001).
fn lock_findings_by_hand(
    root: &Path,
    seeded: &[serde_json::Value],
    files: &[String],
) -> BTreeSet<(String, String, u64)> {
    let list = |v: &serde_json::Value| v.as_array().unwrap().clone();
    let mut expected = BTreeSet::new();
    for (step, file) in seeded.iter().zip(files) {
        let full: BTreeSet<&str> = step["rows"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, n)| n.as_u64() > Some(0))
            .map(|(t, _)| t.as_str())
            .collect();
        // (table, mode) of the locks held after each statement.
        let locks: Vec<Vec<(String, String)>> = list(&step["statements"])
            .iter()
            .map(|s| {
                list(&s["locks"])
                    .iter()
                    .map(|l| (l[0].as_str().unwrap().into(), l[1].as_str().unwrap().into()))
                    .collect()
            })
            .collect();
        for index in list(&step["indexes_on_rows"]) {
            let (name, table) = (index[0].as_str().unwrap(), index[1].as_str().unwrap());
            let share = (table.to_string(), "ShareLock".to_string());
            if locks.iter().flatten().any(|l| *l == share) {
                let (line, text) = line_of(root, file, name);
                assert!(text.contains(table), "{file}:{line}: {text}");
                assert!(!text.to_lowercase().contains("concurrently"), "{text}");
                expected.insert(("L003".into(), file.clone(), line));
            }
        }
        let held_early = locks
            .iter()
            .take(locks.len().saturating_sub(1))
            .flatten()
            .any(|(t, mode)| mode == "AccessExclusiveLock" && full.contains(t.as_str()));
        let rewritten = !list(&step["rewritten"]).is_empty();
        // Validated while writes wait: under SHARE ROW EXCLUSIVE or ACCESS EXCLUSIVE (VALIDATE
        // CONSTRAINT alone takes SHARE UPDATE EXCLUSIVE, which lets them through).
        let blocking = |table: &str| {
            locks.iter().flatten().any(|(t, mode)| {
                t == table && (mode == "AccessExclusiveLock" || mode == "ShareRowExclusiveLock")
            })
        };
        let validated = list(&step["validated_on_rows"])
            .iter()
            .any(|c| blocking(c[1].as_str().unwrap()))
            || list(&step["set_not_null_on_rows"])
                .iter()
                .any(|c| blocking(c[0].as_str().unwrap()));
        for (code, hit) in [
            ("L001", held_early),
            ("L002", rewritten),
            ("L004", validated),
        ] {
            if hit {
                expected.insert((code.into(), file.clone(), 0));
            }
        }
    }
    expected
}

/// gate-replay's lock findings as (code, path, line; the line only for L003), each checked to
/// be a warning (no lockfile: nothing is released).
fn lock_findings(run: &Run) -> BTreeSet<(String, String, u64)> {
    let json = run.json();
    let mut got = BTreeSet::new();
    for f in json["findings"].as_array().expect("findings") {
        let code = f["code"].as_str().unwrap_or_default();
        if !code.starts_with('L') {
            continue;
        }
        assert_eq!(f["severity"], "warning", "{f}");
        let line = if code == "L003" {
            f["line"].as_u64().unwrap_or_default()
        } else {
            0
        };
        let path = f["path"].as_str().unwrap_or_default().to_string();
        got.insert((code.to_string(), path, line));
    }
    got
}

/// By hand, the chain is clean: every step down and up again comes back to the same schema,
/// and every migration passes on tables that hold rows (`revs`: the migrations as the checks
/// by hand name them, in order).
fn assert_clean_by_hand(
    stairway: &[serde_json::Value],
    seeded: &[serde_json::Value],
    revs: &[&str],
) {
    let revisions = |steps: &[serde_json::Value]| -> Vec<String> {
        steps
            .iter()
            .map(|s| s["revision"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(revisions(stairway), revs);
    for step in stairway {
        assert!(step["error"].is_null(), "by hand: {step}");
        assert_eq!(step["down_restores"], true, "{step}");
        assert_eq!(step["again_equal"], true, "{step}");
    }
    assert_eq!(revisions(seeded), revs);
    for step in seeded {
        assert!(step["error"].is_null(), "by hand, on rows: {step}");
    }
    assert!(
        seeded
            .iter()
            .skip(1)
            .all(|s| !s["rows"].as_object().unwrap().is_empty()),
        "every migration after the first ran on tables with rows: {seeded:?}"
    );
}

/// gate-replay: exit 0, no R007, R008, R009 or R010, nothing at error severity; its lock
/// findings are `expected`; anything else is a note.
fn assert_silent_but_for(run: &Run, expected: &BTreeSet<(String, String, u64)>) {
    assert_eq!(run.code, 0, "{run}");
    for code in ["R007", "R008", "R009", "R010"] {
        assert!(run.findings(code).is_empty(), "{code}: {run}");
    }
    assert_eq!(
        &lock_findings(run),
        expected,
        "lock findings by gate-replay (left) and by hand (right): {run}"
    );
    for f in run.json()["findings"].as_array().unwrap() {
        if !f["code"].as_str().unwrap_or_default().starts_with('L') {
            assert_eq!(f["severity"], "note", "{f}");
        }
    }
}

/// Issue 12, "silent on the real chains that are clean": the stairway, the seeded pass, the
/// lock observation and the models comparison on the issue-8 repository (env.py importing the
/// application's settings and models, a nested versions folder). The same checks done by hand
/// (`checks_by_hand.py`, plain `alembic check`) find the chain clean, so gate-replay raises no
/// R007, R008, R009 and nothing at error severity; its lock findings are exactly the ones the
/// catalog and `pg_locks` show by hand (two index builds on tables with rows); and each
/// section names every revision, so the checks really ran.
#[test]
fn the_optional_checks_are_silent_on_the_real_repository_as_the_same_checks_by_hand() {
    let repo = RealRepo::generate(Options::default());
    let chain = &repo.options.migrations;
    // `downgrade -1` by hand steps to the parent: the chain is linear.
    for (i, m) in chain.iter().enumerate() {
        let parent: Vec<&str> = i.checked_sub(1).map(|p| chain[p].rev).into_iter().collect();
        assert_eq!(m.parents, parent, "{} is not linear", m.rev);
    }
    let revs: Vec<&str> = chain.iter().map(|m| m.rev).collect();
    let files: Vec<String> = chain.iter().map(Migration::file).collect();

    // The checks by hand run while gate-replay does.
    let (run, stairway, check, seeded) = std::thread::scope(|s| {
        let by_hand = s.spawn(|| {
            let hand = ByHand::new(&repo);
            let (stairway, last) = hand.checks("stairway", &revs);
            let check = hand.alembic(&last, &["check"]);
            (stairway, check, hand.checks("seeded", &revs).0)
        });
        let flags = ["--no-fixes", "--stairway", "--data", "--models"];
        let run = gate_url(&repo, &[&flags[..], &["--format", "json"]].concat(), &[]);
        let (stairway, check, seeded) = by_hand.join().expect("checks by hand");
        (run, stairway, check, seeded)
    });

    assert!(check.ok, "plain alembic check: {}", check.all());
    assert!(
        check.all().contains("No new upgrade operations detected"),
        "{}",
        check.all()
    );
    assert_clean_by_hand(&stairway, &seeded, &revs);
    let expected = lock_findings_by_hand(repo.path(), &seeded, &files);
    // Index builds on tables with rows (ix_users_organisation_id, ix_feature_flags_name):
    // without them the comparison below would only check silence.
    assert!(expected.iter().any(|(c, _, _)| c == "L003"), "{expected:?}");
    assert_silent_but_for(&run, &expected);

    // The checks really ran, on every revision.
    assert_each_revision_checked(&run, &revs, &files);
    let models = section(&run, "Models");
    assert_eq!(models["differences"], serde_json::json!([]), "{models}");
}

/// The same application as a golang-migrate chain (`SqlRepo`: the SQL runner's stairway,
/// seeded pass and statement-by-statement observation), written with the safe forms (a
/// CONCURRENTLY index alone in its file, a CHECK added NOT VALID then validated) and one
/// index built without CONCURRENTLY on a table with rows. By hand (`checks_by_hand.py` sends
/// each file's statements as golang-migrate does, pg_dump and the catalog judge) the chain is
/// clean; gate-replay agrees, its only lock finding is that index, and its sections name every
/// migration.
#[test]
fn the_optional_checks_are_silent_on_the_same_application_as_a_golang_migrate_chain() {
    let repo = SqlRepo::generate();
    let revs: Vec<String> = repo.chain.iter().map(SqlMigration::recorded).collect();
    let revs: Vec<&str> = revs.iter().map(String::as_str).collect();
    let files: Vec<String> = repo.chain.iter().map(SqlMigration::up_file).collect();
    let steps: Vec<String> = repo
        .chain
        .iter()
        .map(|m| format!("{}:{}", m.up_file(), m.down_file()))
        .collect();
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();

    let by_hand = |mode: &str| {
        let db = Server::from_env().create(None);
        let mut python = Command::new("python3");
        for v in crate::support::run::DATABASE_VARS {
            python.env_remove(v);
        }
        python
            .env("DATABASE_URL", db.libpq())
            .current_dir(repo.path());
        checks_by_hand(python, mode, "sql", &steps)
    };
    let (run, stairway, seeded) = std::thread::scope(|s| {
        let hand = s.spawn(|| (by_hand("stairway"), by_hand("seeded")));
        let run = replay_url(repo.path(), &["--stairway", "--data"]);
        let (stairway, seeded) = hand.join().expect("checks by hand");
        (run, stairway, seeded)
    });

    // By hand, each migration is named by its "UP:DOWN" files.
    assert_clean_by_hand(&stairway, &seeded, &steps);
    let expected = lock_findings_by_hand(repo.path(), &seeded, &files);
    assert!(expected.iter().any(|(c, _, _)| c == "L003"), "{expected:?}");
    assert_silent_but_for(&run, &expected);
    assert_each_revision_checked(&run, &revs, &files);
}
