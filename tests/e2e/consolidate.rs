//! `gate-replay consolidate [--write]` on a copy of examples/crisis (with the triage that
//! ci/crisis.sh records) and on generated crises (random Alembic chains with conflicting fixes
//! of each kind: duplicate table, enum value, column, index, constraint, and a data fix). Each
//! result is checked with plain Alembic, psql and pg_dump, not with the tool: the written
//! chain upgrades from empty to one head, the consolidation run twice changes nothing, and a
//! production built by hand (fixes run, conflicts stamped, then `alembic upgrade head`) has
//! the schema `gate-replay production` replays (`--reference-dump`: no difference).

use std::process::Command;

use crate::support::db::{Db, Server};
use crate::support::repo::Repo;
use crate::support::run::{REPLAY, Run};
use crate::support::{copy_tree, workspace_root};

/// Where production ran each crisis fix (ci/crisis.sh's triage).
const CRISIS_TRIAGE: &[(&str, &str)] = &[
    ("emergency_enum_fix.py", "6e7f8091a2b3"),
    ("emergency_db_fix.py", "7f8091a2b3c4"),
    ("fix_zebra_admin_access.py", "9c1d2e3f4a5b"),
    ("production_schema_repair.py", "c3d4e5f6a7b8"),
    ("deploy_emergency_database_fix.py", "a0a2f1ab72ce"),
];

/// A registered fix as production ran it: after which revision, and the shell command.
struct Fix {
    after: String,
    command: String,
}

/// The crisis, committed, adopted (`gate-approve baseline`) and triaged as ci/crisis.sh does.
fn crisis_repo() -> (Repo, Vec<Fix>) {
    let repo = Repo::new();
    copy_tree(&workspace_root().join("examples/crisis"), &repo.root);
    repo.git(&["add", "-A"]);
    repo.git(&["reset", "-q", "policy.toml"]);
    repo.commit("The crisis");
    let ok = |r: Run| assert!(r.code <= 1, "{r}");
    ok(repo.run(crate::support::run::APPROVE, &["baseline"]));
    repo.commit_all_by("dev@example.com", "Adopt Migration Gate");
    let mut fixes = Vec::new();
    for (script, after) in CRISIS_TRIAGE {
        let run = format!("python3 {script}");
        let rollback = format!("python3 {script} --rollback");
        let args = [
            "register",
            script,
            "--update",
            "--applied-after",
            after,
            "--run",
            &run,
            "--rollback",
            &rollback,
        ];
        ok(repo.run(crate::support::run::APPROVE, &args));
        fixes.push(Fix {
            after: after.to_string(),
            command: run,
        });
    }
    repo.commit_all_as(
        "dev@example.com",
        "lead@example.com",
        "Triage\n\nApproved-by: lead@example.com",
    );
    (repo, fixes)
}

fn consolidate(repo: &Repo, extra: &[&str]) -> Run {
    let url = crate::support::db::server_url();
    let mut args = vec![
        "consolidate",
        "--backend",
        "url",
        "--database-url",
        url.as_str(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    repo.run(REPLAY, &args)
}

fn section<'a>(json: &'a serde_json::Value, title: &str) -> &'a serde_json::Value {
    json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == title)
        .unwrap_or_else(|| panic!("no section {title}: {json}"))
}

/// Plain `python3 -m alembic ARGS` in the repository against `db`.
fn alembic(repo: &Repo, db: &Db, args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .args(["-m", "alembic", "-c", "alembic.ini"])
        .args(args)
        .current_dir(&repo.root)
        .env("DATABASE_URL", db.libpq())
        .output()
        .expect("python3 with alembic")
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The chain's revisions from base to head, as plain `alembic history` lists them.
fn history(repo: &Repo, db: &Db) -> Vec<String> {
    let text = ok(alembic(repo, db, &["history"]));
    let mut revs: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(" -> ").nth(1))
        .filter_map(|r| r.split([',', ' ']).next())
        .map(str::to_string)
        .collect();
    revs.reverse();
    revs
}

/// Production as it happened, by hand: each revision upgraded in order (stamped when it fails
/// because a fix already made its objects), each fix run right after its revision.
fn production_by_hand(repo: &Repo, db: &Db, revisions: &[String], fixes: &[Fix]) {
    for rev in revisions {
        if !alembic(repo, db, &["upgrade", rev]).status.success() {
            ok(alembic(repo, db, &["stamp", rev]));
        }
        for fix in fixes.iter().filter(|f| &f.after == rev) {
            run_fix(repo, db, &fix.command);
        }
    }
}

fn run_fix(repo: &Repo, db: &Db, command: &str) {
    let s = &db.server;
    ok(Command::new("sh")
        .args(["-c", command])
        .current_dir(&repo.root)
        .env("DATABASE_URL", db.libpq())
        .env("PGHOST", &s.host)
        .env("PGPORT", s.port.to_string())
        .env("PGUSER", &s.user)
        .env("PGPASSWORD", &s.password)
        .env("PGDATABASE", &db.name)
        .output()
        .expect("sh"));
}

/// The plan as the dry run shows it: the new revision and the amended revisions.
fn dry_run(repo: &Repo, conflicts: usize) -> String {
    let before = repo.git(&["status", "--porcelain"]);
    let run = consolidate(repo, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        before,
        "a dry run writes nothing"
    );
    let json = run.json();
    let proofs = section(&json, "Proof (scratch databases)")["data"]["proofs"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(proofs.len(), 5, "{proofs:?}");
    assert!(proofs.iter().all(|p| p["passed"] == true), "{proofs:?}");
    let amended = section(&json, "Amended migrations")["data"]["amendments"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(amended, conflicts, "{}", run.stdout);
    assert!(
        section(&json, "Left over")["data"]["left"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    section(&json, "Consolidation")["data"]["revision"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `--write`, then plain Alembic, psql and pg_dump: one head, upgrade from empty, the
/// consolidation twice, and production by hand against `gate-replay production`.
fn write_and_check(repo: &Repo, fixes: &[Fix], conflicts: usize) {
    write_and_check_rows(repo, fixes, conflicts, &[]);
}

/// [`write_and_check`], and the rows of `tables` (`SELECT *` ordered by every column, as
/// psql prints them) are the same on the written chain from empty as on production.
fn write_and_check_rows(repo: &Repo, fixes: &[Fix], conflicts: usize, tables: &[&str]) {
    let new = dry_run(repo, conflicts);
    let server = Server::from_env();
    let production = server.create(None);
    let revisions = history(repo, &production);
    production_by_hand(repo, &production, &revisions, fixes);
    let old_head = revisions.last().unwrap().clone();

    let run = consolidate(repo, &["--write"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let heads = ok(alembic(repo, &production, &["heads"]));
    assert_eq!(
        heads.trim(),
        format!("{new} (head)"),
        "one head, the new revision"
    );
    let policy = std::fs::read_to_string(repo.path("policy.toml")).unwrap();
    assert_eq!(
        policy.matches(&format!("converted-in = \"{new}\"")).count(),
        fixes.len(),
        "{policy}"
    );

    let clean = server.create(None);
    ok(alembic(repo, &clean, &["upgrade", "head"]));
    consolidation_twice_is_a_no_op(repo, &clean, &old_head, &new);
    let rows = |db: &Db| -> Vec<String> {
        tables
            .iter()
            .map(|t| db.psql(&format!("SELECT * FROM {t} ORDER BY 1, 2")))
            .collect()
    };
    let clean_rows = rows(&clean);
    downgrade_returns_the_old_head(repo, &server, &clean, &old_head);

    ok(alembic(repo, &production, &["upgrade", "head"]));
    assert_eq!(clean_rows, rows(&production), "rows of {tables:?}");
    assert!(
        clean_rows.iter().all(|r| !r.trim().is_empty()),
        "{clean_rows:?}"
    );
    no_difference_with_production(repo, &production);
    models_follow_production(repo, &production);
    approved_and_green(repo);
}

/// The crisis example has application models (app/models.py, R008): they describe the chain
/// before the recovery, so plain `alembic check` against production fails until the developer
/// applies the models that follow production (recovery/models.patch, ci/crisis.sh step 14).
fn models_follow_production(repo: &Repo, production: &Db) {
    if !repo.path("recovery/models.patch").exists() {
        return;
    }
    let before = alembic(repo, production, &["check"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&before.stdout),
        String::from_utf8_lossy(&before.stderr)
    );
    assert!(!before.status.success(), "{said}");
    assert!(said.contains("is_verified"), "{said}");
    repo.git(&["apply", "recovery/models.patch"]);
    ok(alembic(repo, production, &["check"]));
}

/// The technical lead commits the recovery (amendments and registry changes are approvals);
/// then every gate passes: the hook over the tree, the replay with every fix verified, and
/// governance with its history walk.
fn approved_and_green(repo: &Repo) {
    repo.commit_all_as(
        "dev@example.com",
        "lead@example.com",
        "Recovery: consolidate the emergency fixes\n\nApproved-by: lead@example.com",
    );
    let url = crate::support::db::server_url();
    let gates = [
        (crate::support::run::PRECOMMIT, vec!["--all"]),
        (
            REPLAY,
            vec!["--backend", "url", "--database-url", url.as_str()],
        ),
        (crate::support::run::APPROVE, vec!["check"]),
    ];
    for (gate, args) in gates {
        let run = repo.run(gate, &args);
        assert_eq!(
            run.code, 0,
            "{gate} {args:?} after the approved recovery:\n{run}"
        );
    }
}

/// The consolidation's SQL (plain `alembic upgrade --sql`) run again with psql on a database
/// already at the new head changes neither schema nor rows.
fn consolidation_twice_is_a_no_op(repo: &Repo, db: &Db, old_head: &str, new: &str) {
    let sql = ok(alembic(
        repo,
        db,
        &["upgrade", &format!("{old_head}:{new}"), "--sql"],
    ));
    assert!(sql.contains(new), "{sql}");
    let file = repo.tmp.path().join("consolidation.sql");
    std::fs::write(&file, &sql).unwrap();
    let before = db.dump(false, &[]);
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.libpq(), "-f"])
        .arg(&file)
        .output()
        .unwrap();
    ok(out);
    assert_eq!(
        db.dump(false, &[]),
        before,
        "the second run changed something"
    );
}

/// Plain `alembic downgrade -1` from the new head gives the schema of the chain at the old
/// head.
fn downgrade_returns_the_old_head(repo: &Repo, server: &Server, db: &Db, old_head: &str) {
    ok(alembic(repo, db, &["downgrade", "-1"]));
    let old = server.create(None);
    ok(alembic(repo, &old, &["upgrade", old_head]));
    assert_eq!(
        db.dump(true, &["alembic_version"]),
        old.dump(true, &["alembic_version"]),
        "the consolidation's downgrade does not return the old head's schema"
    );
}

/// `gate-replay production --reference-dump` of production (by hand, then the
/// consolidation): no difference, no conflict, no manual patch.
fn no_difference_with_production(repo: &Repo, production: &Db) {
    let dump = repo.tmp.path().join("production.sql");
    let out = Command::new("pg_dump")
        .args([
            "--schema-only",
            "--no-owner",
            "-d",
            &production.libpq(),
            "-f",
        ])
        .arg(&dump)
        .output()
        .unwrap();
    ok(out);
    let url = crate::support::db::server_url();
    let run = repo.run(
        REPLAY,
        &[
            "production",
            "--backend",
            "url",
            "--database-url",
            &url,
            "--format",
            "json",
            "--reference-dump",
            dump.to_str().unwrap(),
        ],
    );
    assert!(run.code <= 1, "{}", run.all());
    let codes = run.json_codes();
    assert!(
        !codes
            .iter()
            .any(|c| c == "F003" || c == "F007" || c == "F001"),
        "{}",
        run.stdout
    );
    let json = run.json();
    let differences =
        &section(&json, "Attribution against the reference dump")["data"]["differences"];
    assert_eq!(differences.as_array().unwrap().len(), 0, "{differences}");
}

#[test]
fn the_crisis_is_consolidated_written_and_proven_with_plain_alembic() {
    let (repo, fixes) = crisis_repo();
    let snapshot = std::fs::read_to_string(repo.path("schema.snapshot.json")).unwrap();
    // The four migrations the crisis fixes broke (F003).
    write_and_check(&repo, &fixes, 4);
    // The expected schema now is the new head's: the replay gate sees no drift (R003).
    assert_ne!(
        std::fs::read_to_string(repo.path("schema.snapshot.json")).unwrap(),
        snapshot
    );
    let url = crate::support::db::server_url();
    let gate = repo.run(
        REPLAY,
        &[
            "--backend",
            "url",
            "--database-url",
            &url,
            "--format",
            "json",
            "--no-fixes",
        ],
    );
    assert!(gate.code <= 1, "{}", gate.all());
    assert!(
        !gate.json_codes().iter().any(|c| c == "R003"),
        "{}",
        gate.stdout
    );
}

/// A small deterministic generator (64-bit LCG): the same seed, the same crisis.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// What a conflict of one kind does: the migration's DDL (the fix runs the same), its
/// downgrade, and an extra object only the fix makes (production-only drift).
fn conflict_ddl(kind: &str, n: usize) -> (String, String, String) {
    match kind {
        "table" => (
            format!("CREATE TABLE audit_{n} (id serial PRIMARY KEY, note text)"),
            format!("DROP TABLE audit_{n}"),
            format!("CREATE INDEX ix_audit_{n}_note ON audit_{n} (note)"),
        ),
        "enum" => (
            format!("ALTER TYPE userrole ADD VALUE 'super_{n}'"),
            String::new(),
            format!("ALTER TYPE userrole ADD VALUE 'ops_{n}'"),
        ),
        "column" => (
            format!("ALTER TABLE users ADD COLUMN note_{n} text"),
            format!("ALTER TABLE users DROP COLUMN note_{n}"),
            format!("ALTER TABLE users ADD COLUMN flag_{n} boolean"),
        ),
        "index" => (
            format!("CREATE INDEX ix_users_role_{n} ON users (role)"),
            format!("DROP INDEX ix_users_role_{n}"),
            format!("CREATE INDEX ix_users_email_lower_{n} ON users (lower(email))"),
        ),
        _ => (
            format!("ALTER TABLE users ADD CONSTRAINT ck_email_{n} CHECK (email <> '')"),
            format!("ALTER TABLE users DROP CONSTRAINT ck_email_{n}"),
            format!("CREATE TABLE extra_{n} (id integer PRIMARY KEY)"),
        ),
    }
}

/// Step `i` of a generated crisis, (up, down): with a conflict of `kind`, the fix running the
/// same DDL (sometimes with an object of its own) is written and registered where production
/// ran it, at the step `before`; the base table at step 0; a filler table elsewhere.
fn step_ddl(
    i: usize,
    kind: Option<&str>,
    rng: &mut Lcg,
    repo: &Repo,
    policy: &mut String,
    fixes: &mut Vec<Fix>,
    before: Option<&str>,
) -> (String, String) {
    match kind {
        Some(kind) => {
            let (up, down, extra) = conflict_ddl(kind, i);
            let mut sql = format!("{up};\n");
            if rng.below(2) == 0 {
                sql.push_str(&format!("{extra};\n"));
            }
            let path = format!("fixes/fix_{kind}_{i}.sql");
            repo.write(&path, &sql);
            register(repo, policy, fixes, &path, before.expect("no conflict at step 0"));
            (up, down)
        }
        None if i == 0 => (
            "CREATE TYPE userrole AS ENUM ('user', 'admin'); CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL, role userrole)".to_string(),
            "DROP TABLE users; DROP TYPE userrole".to_string(),
        ),
        None => (
            format!("CREATE TABLE filler_{i} (id serial PRIMARY KEY, v integer)"),
            format!("DROP TABLE filler_{i}"),
        ),
    }
}

fn migration_file(rev: &str, parent: Option<&str>, up: &str, down: &str) -> String {
    let parent = parent.map_or("None".to_string(), |p| format!("'{p}'"));
    let body = |sql: &str| {
        if sql.is_empty() {
            "pass".to_string()
        } else {
            format!("op.execute(\"{sql}\")")
        }
    };
    format!(
        "\"\"\"generated {rev}\"\"\"\nfrom alembic import op\n\nrevision = '{rev}'\ndown_revision = {parent}\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    {}\n\n\ndef downgrade():\n    {}\n",
        body(up),
        body(down)
    )
}

/// A random crisis: a chain of 7 to 10 revisions; one conflicting fix of each kind at random
/// revisions (some also make an object of their own), and a data fix. Returns the repository
/// (committed, locked) and its fixes.
fn generated(seed: u64) -> (Repo, Vec<Fix>) {
    generated_with(
        seed,
        &format!(
            "INSERT INTO users (email, role) VALUES ('ops{seed}@example.com', 'admin');\nUPDATE users SET role = 'admin' WHERE email = 'lead@example.com';\n"
        ),
    )
}

/// [`generated`] with the data fix's SQL given.
fn generated_with(seed: u64, data_fix: &str) -> (Repo, Vec<Fix>) {
    let mut rng = Lcg(seed);
    let repo = Repo::new();
    let crisis = workspace_root().join("examples/crisis");
    std::fs::copy(crisis.join("alembic.ini"), repo.path("alembic.ini")).unwrap();
    repo.write(
        "alembic/env.py",
        std::fs::read(crisis.join("alembic/env.py")).unwrap(),
    );
    let count = 7 + rng.below(4);
    let revs: Vec<String> = (0..count).map(|i| format!("{seed:04x}{i:08x}")).collect();
    // Distinct positions 1.. for the five kinds of conflict.
    let mut positions: Vec<usize> = (1..count).collect();
    let kinds = ["table", "enum", "column", "index", "constraint"];
    let mut at = std::collections::BTreeMap::new();
    for kind in kinds {
        let p = positions.remove(rng.below(positions.len()));
        at.insert(p, kind);
    }
    let mut fixes = Vec::new();
    let mut policy = String::from(
        "version = 1\n\n[migrations]\nkind = \"alembic\"\npath = \"alembic/versions\"\nconfig = \"alembic.ini\"\nlockfile = \"migrations.lock\"\n\n[emergency]\nscope = [\"fixes\"]\n\n[governance]\napprovers = [\"lead@example.com\"]\n\n[replay]\nbackend = \"url\"\npython = \"python3\"\n",
    );
    for (i, rev) in revs.iter().enumerate() {
        let parent = i.checked_sub(1).map(|p| revs[p].as_str());
        let before = i.checked_sub(1).map(|p| revs[p].as_str());
        let (up, down) = step_ddl(
            i,
            at.get(&i).copied(),
            &mut rng,
            &repo,
            &mut policy,
            &mut fixes,
            before,
        );
        repo.write(
            format!("alembic/versions/{rev}_step_{i}.py"),
            migration_file(rev, parent, &up, &down),
        );
    }
    let data_after = &revs[rng.below(count)];
    repo.write("fixes/fix_data.sql", data_fix);
    register(
        &repo,
        &mut policy,
        &mut fixes,
        "fixes/fix_data.sql",
        data_after,
    );
    repo.write("policy.toml", policy);
    let lock = repo.run(REPLAY, &["lock"]);
    assert_eq!(lock.code, 0, "{lock}");
    repo.commit_all_by("dev@example.com", "generated crisis");
    (repo, fixes)
}

/// Register the fix already written at `path` (its content pinned, as `gate-approve register`
/// would).
fn register(repo: &Repo, policy: &mut String, fixes: &mut Vec<Fix>, path: &str, after: &str) {
    let command = format!("psql -X -q -v ON_ERROR_STOP=1 -f {path}");
    let sha = crate::support::sha256_hex(std::fs::read(repo.path(path)).unwrap());
    policy.push_str(&format!(
        "\n[[emergency.script]]\npath = \"{path}\"\nsha256 = \"{sha}\"\nstatus = \"active\"\nreason = \"production broke\"\napplied-after = \"{after}\"\napplied-on = 2025-09-21\nrun = \"{command}\"\n"
    ));
    fixes.push(Fix {
        after: after.to_string(),
        command,
    });
}

#[test]
fn generated_crisis_one_is_consolidated_and_proven() {
    let (repo, fixes) = generated(1);
    write_and_check(&repo, &fixes, 5);
}

#[test]
fn generated_crisis_two_is_consolidated_and_proven() {
    let (repo, fixes) = generated(2);
    write_and_check(&repo, &fixes, 5);
}

/// A data fix that inserts rows without a key (into a table it creates) and creates a lookup
/// table with its rows: the consolidation creates both tables and carries every row guarded
/// (key-less rows as `INSERT … SELECT … WHERE NOT EXISTS`), so psql shows the same rows on the
/// written chain from empty as on production, and a second run adds none.
#[test]
fn key_less_rows_and_a_lookup_table_made_by_a_fix_are_carried() {
    let (repo, fixes) = generated_with(
        4,
        "INSERT INTO users (email, role) VALUES ('ops4@example.com', 'admin');\n\
         CREATE TABLE feature_flag (name text NOT NULL, enabled boolean);\n\
         INSERT INTO feature_flag (name, enabled) VALUES ('beta', true), ('legacy', NULL);\n\
         CREATE TABLE plan_tier (code text PRIMARY KEY, label text);\n\
         INSERT INTO plan_tier VALUES ('free', 'Free'), ('pro', 'Pro');\n",
    );
    let run = consolidate(&repo, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let json = run.json();
    let consolidation = &section(&json, "Consolidation")["data"];
    let data: Vec<&str> = consolidation["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["sql"].as_str().unwrap())
        .collect();
    assert!(
        data.iter()
            .filter(
                |d| d.starts_with("INSERT INTO feature_flag (name, enabled) SELECT ")
                    && d.contains("WHERE NOT EXISTS")
            )
            .count()
            == 2,
        "{data:?}"
    );
    assert!(
        data.contains(
            &"INSERT INTO plan_tier VALUES ('free', 'Free'), ('pro', 'Pro') ON CONFLICT DO NOTHING;"
        ),
        "{data:?}"
    );
    let proofs = section(&json, "Proof (scratch databases)")["data"]["proofs"].to_string();
    assert!(
        proofs.contains("rows compared: public.feature_flag, public.plan_tier, public.users"),
        "{proofs}"
    );
    write_and_check_rows(&repo, &fixes, 5, &["feature_flag", "plan_tier"]);
}

/// A data fix whose UPDATE computes from the row cannot be made safe to run twice: exit 1,
/// F008 names it, and `--write` writes nothing.
#[test]
fn a_leftover_exits_1_and_nothing_is_written() {
    let (repo, _) = generated(3);
    repo.write(
        "fixes/fix_data.sql",
        "INSERT INTO users (email, role) VALUES ('ops3@example.com', 'admin');\nUPDATE users SET email = email || '.old' WHERE role = 'user';\n",
    );
    repo.commit_all_by("dev@example.com", "the data fix also renames old accounts");
    let policy = std::fs::read_to_string(repo.path("policy.toml")).unwrap();
    let run = consolidate(&repo, &["--write"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let f008 = run.findings("F008");
    assert!(
        f008.iter().any(|f| {
            let m = f["message"].as_str().unwrap();
            m.contains("email || '.old'")
                && m.contains("computed from the row")
                && m.contains("wrote nothing")
                // Located in the fix, at the line that holds the statement.
                && f["path"] == "fixes/fix_data.sql"
                && f["line"] == 2
        }),
        "{}",
        run.stdout
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "nothing written");
    assert_eq!(
        std::fs::read_to_string(repo.path("policy.toml")).unwrap(),
        policy
    );
}

/// A generated crisis on a SQL chain (golang-migrate naming: `0001_step_0.up.sql` and its
/// `.down.sql`), with the same conflicting fixes as [`generated`]. Returns the repository
/// (committed, locked), its fixes (after which version) and the versions in order.
fn generated_sql(seed: u64) -> (Repo, Vec<Fix>, Vec<String>) {
    let mut rng = Lcg(seed);
    let repo = Repo::new();
    let count = 7 + rng.below(4);
    let versions: Vec<String> = (1..=count).map(|i| format!("{i:04}")).collect();
    let mut positions: Vec<usize> = (1..count).collect();
    let mut at = std::collections::BTreeMap::new();
    for kind in ["table", "enum", "column", "index", "constraint"] {
        let p = positions.remove(rng.below(positions.len()));
        at.insert(p, kind);
    }
    let mut fixes = Vec::new();
    let mut policy = String::from(
        "version = 1\n\n[migrations]\nkind = \"sql\"\nnaming = \"golang-migrate\"\npath = \"migrations\"\nlockfile = \"migrations.lock\"\n\n[emergency]\nscope = [\"fixes\"]\n\n[governance]\napprovers = [\"lead@example.com\"]\n\n[replay]\nbackend = \"url\"\n",
    );
    for (i, version) in versions.iter().enumerate() {
        let before = i.checked_sub(1).map(|p| versions[p].as_str());
        let (up, down) = step_ddl(
            i,
            at.get(&i).copied(),
            &mut rng,
            &repo,
            &mut policy,
            &mut fixes,
            before,
        );
        repo.write(
            format!("migrations/{version}_step_{i}.up.sql"),
            format!("{up};\n"),
        );
        let down = if down.is_empty() {
            String::new()
        } else {
            format!("{down};\n")
        };
        repo.write(format!("migrations/{version}_step_{i}.down.sql"), down);
    }
    let data_after = &versions[rng.below(count)];
    repo.write(
        "fixes/fix_data.sql",
        format!("INSERT INTO users (email, role) VALUES ('ops{seed}@example.com', 'admin');\nCREATE TABLE feature_flag (name text NOT NULL, enabled boolean);\nINSERT INTO feature_flag (name, enabled) VALUES ('beta', true);\n"),
    );
    register(
        &repo,
        &mut policy,
        &mut fixes,
        "fixes/fix_data.sql",
        data_after,
    );
    repo.write("policy.toml", policy);
    let lock = repo.run(REPLAY, &["lock"]);
    assert_eq!(lock.code, 0, "{lock}");
    repo.commit_all_by("dev@example.com", "generated SQL crisis");
    (repo, fixes, versions)
}

/// The up files of the folder in the order golang-migrate applies them (by version).
fn up_files(repo: &Repo) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo.path("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".up.sql"))
        .collect();
    files.sort();
    files
}

/// `psql -f migrations/FILE` (in one transaction when `single`); whether it succeeded.
fn psql_file(repo: &Repo, db: &Db, file: &str, single: bool) -> bool {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.libpq()]);
    if single {
        cmd.arg("-1");
    }
    cmd.arg("-f")
        .arg(repo.path(format!("migrations/{file}")))
        .output()
        .unwrap()
        .status
        .success()
}

/// A SQL crisis: the dry run proves, `--write` writes the next golang-migrate pair and the
/// guarded rewrites; then with psql only: the folder applied in order from empty has the
/// schema of production (built by hand: each file, a failing one skipped as production's tool
/// was forced past it, each fix after its version, then the new file) by `pg_dump
/// --schema-only`; the new file run again changes nothing; its down file returns the old
/// head's schema; `gate-replay production --reference-dump` finds no difference; and after the
/// lead's approving commit the three gates exit 0.
#[test]
fn a_sql_crisis_is_consolidated_as_the_next_file_and_proven_with_psql() {
    let (repo, fixes, versions) = generated_sql(5);
    let new = dry_run(&repo, 5);
    let next = format!("{:04}", versions.len() + 1);
    assert_eq!(new, next, "the next version in the folder's scheme");

    let server = Server::from_env();
    let production = server.create(None);
    let before = up_files(&repo);
    for (file, version) in before.iter().zip(&versions) {
        // A migration whose objects a fix already made fails; production went past it.
        let _ = psql_file(&repo, &production, file, true);
        for fix in fixes.iter().filter(|f| &f.after == version) {
            run_fix(&repo, &production, &fix.command);
        }
    }

    let run = consolidate(&repo, &["--write"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let after = up_files(&repo);
    let new_up = format!("{next}_consolidate_emergency_fixes.up.sql");
    assert_eq!(after.last(), Some(&new_up), "{after:?}");
    assert_eq!(after.len(), before.len() + 1);
    let new_down = repo.path(format!(
        "migrations/{next}_consolidate_emergency_fixes.down.sql"
    ));
    assert!(new_down.exists(), "golang-migrate pairs: a down file too");

    let clean = server.create(None);
    for file in &after {
        assert!(
            psql_file(&repo, &clean, file, false),
            "{file} fails from empty"
        );
    }
    assert!(psql_file(&repo, &production, &new_up, false));
    assert_eq!(
        clean.dump(true, &[]),
        production.dump(true, &[]),
        "the folder from empty and production differ"
    );
    assert_eq!(
        clean.psql("SELECT name, enabled FROM feature_flag"),
        production.psql("SELECT name, enabled FROM feature_flag")
    );

    let once = clean.dump(false, &[]);
    assert!(psql_file(&repo, &clean, &new_up, false));
    assert_eq!(
        clean.dump(false, &[]),
        once,
        "the second run changed something"
    );

    let old = server.create(None);
    for file in &before {
        assert!(psql_file(&repo, &old, file, false), "{file}");
    }
    let down = std::fs::read_to_string(&new_down).unwrap();
    std::fs::write(repo.tmp.path().join("down.sql"), &down).unwrap();
    ok(Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &clean.libpq(),
            "-f",
        ])
        .arg(repo.tmp.path().join("down.sql"))
        .output()
        .unwrap());
    assert_eq!(clean.dump(true, &[]), old.dump(true, &[]), "the down file");

    no_difference_with_production(&repo, &production);
    approved_and_green(&repo);
}
