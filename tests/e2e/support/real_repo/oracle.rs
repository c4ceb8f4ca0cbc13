//! The verdict plain tools give on a generated repository, computed the way a person would
//! check it by hand, on fresh databases of the test server and without gate-replay:
//! `python3 -m alembic upgrade heads` / `downgrade base` with the application's variables
//! set, and each registered fix run by hand (with its args, stdin closed) on a copy of a
//! database migrated to its `applied-after`, compared with `pg_dump` (schema and data).
//!
//! Derived findings, as (code, path):
//! - `R001` plain upgrade from empty fails (path: the revision that was running);
//! - `R006` downgrade to base fails; `R004` it leaves objects, or upgrading again differs;
//! - `F001` the first run fails, or the second run fails or changes the dump;
//! - `F006` the first run changed nothing (schema and data);
//! - `F002` the rollback fails or does not restore the dump from before the fix;
//! - `F003` `upgrade heads` fails after the fix (path: the migration that fails);
//! - `F004` the production path's schema differs from the migrations alone.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Db, Fix, JWT, RealRepo, Server, VERSIONS};

/// The scratch URL form when `replay.database-url` is not set (DESIGN.md).
const DEFAULT_TEMPLATE: &str = "postgresql://{user}:{password}@{host}:{port}/{database}";

/// What one child process did.
#[derive(Debug, Clone)]
pub struct Ran {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    fn from(out: std::process::Output) -> Self {
        Ran {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn all(&self) -> String {
        format!("exit {:?}\n{}{}", self.code, self.stdout, self.stderr)
    }
}

/// What happened to one fix by hand.
#[derive(Debug, Clone, Default)]
pub struct FixTrace {
    pub first: Option<Ran>,
    pub changed: bool,
    pub second: Option<Ran>,
    pub second_changed: bool,
    pub rollback: Option<Ran>,
    pub rollback_restores: Option<bool>,
    /// Revision at which `upgrade heads` failed after the fix.
    pub production_failed_at: Option<String>,
    pub production_drift: bool,
    /// Files the fix left in its working folder.
    pub wrote: Vec<String>,
}

/// The expected verdict.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Error findings as (code, path).
    pub errors: BTreeSet<(String, String)>,
    /// Revision at which plain `upgrade heads` from empty failed, and what Alembic said.
    pub upgrade_failed_at: Option<String>,
    pub upgrade: Option<Ran>,
    pub fixes: BTreeMap<String, FixTrace>,
}

impl Verdict {
    fn add(&mut self, code: &str, path: &str) {
        self.errors.insert((code.to_string(), path.to_string()));
    }
}

/// The revision Alembic was running last: `Running upgrade A -> B, msg` names B,
/// `Running downgrade B -> A, msg` names B.
pub fn last_started(stderr: &str, kind: &str) -> Option<String> {
    let marker = format!("Running {kind} ");
    let rest = stderr
        .lines()
        .filter_map(|l| l.split_once(&marker).map(|(_, r)| r.to_string()))
        .next_back()?;
    let (left, right) = rest.split_once("->")?;
    let rev = if kind == "upgrade" {
        right.trim().split([',', ' ']).next()?
    } else {
        left.trim().split(',').next()?
    };
    let rev = rev.trim();
    (!rev.is_empty()).then(|| rev.to_string())
}

/// Plain tools on a repository: Alembic and the fixes, run the way a person would.
pub struct ByHand<'a> {
    pub repo: &'a RealRepo,
    pub server: Server,
    template: String,
    /// Databases migrated to a revision, copied for each check (CREATE DATABASE ... TEMPLATE).
    at: HashMap<String, Db>,
}

impl<'a> ByHand<'a> {
    pub fn new(repo: &'a RealRepo) -> Self {
        ByHand {
            repo,
            server: Server::from_env(),
            template: repo
                .options
                .database_url
                .clone()
                .unwrap_or_else(|| DEFAULT_TEMPLATE.to_string()),
            at: HashMap::new(),
        }
    }

    /// What the application's children get: DATABASE_URL in the configured form, PG* naming
    /// the database, the replay.env variables, and nothing inherited that names a database.
    pub fn child(&self, program: &str, db: &Db) -> Command {
        let mut cmd = Command::new(program);
        for v in crate::support::run::DATABASE_VARS {
            cmd.env_remove(v);
        }
        let url = self.server.fill(&self.template, &db.name);
        for (k, v) in &self.repo.options.env {
            let v = v
                .replace("${TEST_JWT}", JWT)
                .replace("${DATABASE_URL}", &url);
            cmd.env(k, v);
        }
        cmd.env("DATABASE_URL", &url)
            .env("PGHOST", &self.server.host)
            .env("PGPORT", self.server.port.to_string())
            .env("PGUSER", &self.server.user)
            .env("PGDATABASE", &db.name)
            .current_dir(self.repo.path())
            .stdin(Stdio::null());
        if !self.server.password.is_empty() {
            cmd.env("PGPASSWORD", &self.server.password);
        }
        cmd
    }

    /// `python3 -m alembic -c alembic.ini ARGS` against `db`.
    pub fn alembic(&self, db: &Db, args: &[&str]) -> Ran {
        let out = self
            .child(&self.repo.options.python, db)
            .args(["-m", "alembic", "-c", "alembic.ini"])
            .args(args)
            .output()
            .expect("python3 -m alembic");
        Ran::from(out)
    }

    /// `command` (with `args`, each one word) through `sh`, as the registry says to run it.
    pub fn run(&self, db: &Db, command: &str, args: &[&str]) -> Ran {
        let out = self
            .child("sh", db)
            .arg("-c")
            .arg(format!("{command} \"$@\""))
            .arg("sh")
            .args(args)
            .output()
            .expect("sh");
        Ran::from(out)
    }

    /// A fresh copy of a database migrated to `rev` by plain Alembic.
    pub fn database_at(&mut self, rev: &str) -> Db {
        if !self.at.contains_key(rev) {
            let db = self.server.create(None);
            let up = self.alembic(&db, &["upgrade", rev]);
            assert!(
                up.ok,
                "plain alembic cannot upgrade to {rev}, so the fixture is broken:\n{}",
                up.all()
            );
            self.at.insert(rev.to_string(), db);
        }
        let template = &self.at[rev].name;
        self.server.create(Some(template))
    }

    fn file(&self, rev: &Option<String>) -> String {
        rev.as_ref()
            .and_then(|r| self.repo.file_of(r))
            .unwrap_or_else(|| VERSIONS.to_string())
    }

    /// The whole verdict: the chain from empty, the round trip, every registered fix.
    pub fn verdict(mut self) -> Verdict {
        let mut v = Verdict::default();
        let clean = self.server.create(None);
        let empty = clean.dump(true, &[]);
        let up = self.alembic(&clean, &["upgrade", "heads"]);
        if !up.ok {
            let at = last_started(&up.stderr, "upgrade");
            v.add("R001", &self.file(&at));
            v.upgrade_failed_at = at;
            v.upgrade = Some(up);
            return v;
        }
        v.upgrade = Some(up);
        let head = clean.dump(true, &[]);

        if self.repo.options.roundtrip {
            let down = self.alembic(&clean, &["downgrade", "base"]);
            if !down.ok {
                let at = last_started(&down.stderr, "downgrade");
                v.add("R006", &self.file(&at));
            } else if clean.dump(true, &["alembic_version"]) != empty {
                v.add("R004", VERSIONS);
            } else {
                let again = self.alembic(&clean, &["upgrade", "heads"]);
                if !again.ok {
                    let at = last_started(&again.stderr, "upgrade");
                    v.add("R004", &self.file(&at));
                } else if clean.dump(true, &[]) != head {
                    v.add("R004", VERSIONS);
                }
            }
        }
        drop(clean);

        let fixes = self.repo.options.fixes.clone();
        for fix in &fixes {
            let trace = self.fix(fix, &head, &mut v);
            v.fixes.insert(fix.path.to_string(), trace);
        }
        v
    }

    fn fix(&mut self, fix: &Fix, head: &str, v: &mut Verdict) -> FixTrace {
        let mut t = FixTrace::default();
        let before: BTreeSet<String> = self.listing();

        // Twice on the same database where production ran it.
        let db = self.database_at(fix.applied_after);
        let pre = db.dump(false, &[]);
        let first = self.run(&db, &fix.run, &fix.args);
        t.wrote = self.listing().difference(&before).cloned().collect();
        t.first = Some(first.clone());
        if !first.ok {
            v.add("F001", fix.path);
            return t;
        }
        let once = db.dump(false, &[]);
        t.changed = once != pre;
        if !t.changed {
            v.add("F006", fix.path);
        }
        let second = self.run(&db, &fix.run, &fix.args);
        t.second = Some(second.clone());
        if !second.ok {
            v.add("F001", fix.path);
        } else {
            t.second_changed = db.dump(false, &[]) != once;
            if t.second_changed {
                v.add("F001", fix.path);
            }
        }
        drop(db);

        // The rollback from one application.
        if let Some(rollback) = &fix.rollback {
            let db = self.database_at(fix.applied_after);
            let pre = db.dump(false, &[]);
            let applied = self.run(&db, &fix.run, &fix.args);
            assert!(
                applied.ok,
                "{} applied once before: {}",
                fix.path,
                applied.all()
            );
            let rb = self.run(&db, rollback, &[]);
            if !rb.ok {
                v.add("F002", fix.path);
            } else {
                let restores = db.dump(false, &[]) == pre;
                t.rollback_restores = Some(restores);
                if !restores {
                    v.add("F002", fix.path);
                }
            }
            t.rollback = Some(rb);
        }

        // The production path: the fix where production ran it, then the rest of the chain.
        let db = self.database_at(fix.applied_after);
        let applied = self.run(&db, &fix.run, &fix.args);
        assert!(
            applied.ok,
            "{} applied once before: {}",
            fix.path,
            applied.all()
        );
        let up = self.alembic(&db, &["upgrade", "heads"]);
        if !up.ok {
            let at = last_started(&up.stderr, "upgrade");
            v.add("F003", &self.file(&at));
            t.production_failed_at = at;
        } else {
            t.production_drift = db.dump(true, &[]) != head;
            if t.production_drift {
                v.add("F004", fix.path);
            }
        }
        t
    }

    /// `checks_by_hand.py MODE alembic REVS` on a fresh database: the stairway (`stairway`)
    /// or the seeded pass with what each migration does to tables with rows (`seeded`), by
    /// hand (see [`checks_by_hand`]). The database is returned at the last revision reached.
    pub fn checks(&self, mode: &str, revs: &[&str]) -> (Vec<serde_json::Value>, Db) {
        let db = self.server.create(None);
        let cmd = self.child(&self.repo.options.python, &db);
        (checks_by_hand(cmd, mode, "alembic", revs), db)
    }

    /// Files in the repository (relative), to see what a fix leaves behind.
    fn listing(&self) -> BTreeSet<String> {
        list_files(self.repo.path())
    }
}

/// `checks_by_hand.py MODE KIND STEPS` (plain Alembic's Python API or the SQL files sent by
/// psycopg2, then pg_dump and the catalog) run by `python`, a command that already names the
/// repository as its folder and the database in its environment: one entry per migration.
pub fn checks_by_hand(
    mut python: Command,
    mode: &str,
    kind: &str,
    steps: &[&str],
) -> Vec<serde_json::Value> {
    // Outside the repository: nothing the check brings may land in the tree it checks.
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("checks_by_hand.py");
    std::fs::write(&script, include_str!("checks_by_hand.py")).unwrap();
    let ran = Ran::from(
        python
            .arg(&script)
            .args([mode, kind])
            .args(steps)
            .output()
            .expect("python3 checks_by_hand.py"),
    );
    assert!(ran.ok, "checks_by_hand.py {mode} {kind}: {}", ran.all());
    let last = ran.stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("checks_by_hand.py {mode} {kind} ({e}): {}", ran.all()))
}

pub fn list_files(root: &Path) -> BTreeSet<String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git" && e.file_name() != "__pycache__")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .to_string()
        })
        .collect()
}
