//! SQL runner: applies a folder of `.sql` files in-process (sqlx), in chain order, keeping the
//! bookkeeping table of the tool the project really uses, since real migrations sometimes read
//! or alter it: golang-migrate and dbmate `schema_migrations`, Flyway `flyway_schema_history`,
//! sqlx `_sqlx_migrations` (`plain` keeps none).
//!
//! Each migration runs in one transaction unless it cannot (`CONCURRENTLY`, a
//! `-- gate:no-transaction` line, sqlx's `-- no-transaction`, dbmate's `transaction:false`);
//! then its statements run one by one. A PostgreSQL error position becomes file:line:col.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use gate_policy::{Policy, SqlNaming};
use regex::Regex;
use sha2::Digest as _;
use sqlx::Connection as _;
use sqlx::postgres::{PgConnection, PgDatabaseError, PgErrorPosition};
use sqlx::{AssertSqlSafe, raw_sql};

use super::sqlsplit;
use super::{Applied, Failure, RunOutcome, RunnerError, Target, rel_path, terminate_sessions};
use crate::child_env::ChildEnv;

/// One SQL text to run: a whole file, or a dbmate section of one.
#[derive(Debug, Clone)]
struct Part {
    /// Repository-relative file.
    file: String,
    /// The whole file, for line:column.
    file_text: String,
    /// Byte range of the part inside the file.
    start: usize,
    end: usize,
    no_transaction: bool,
}

impl Part {
    fn sql(&self) -> &str {
        &self.file_text[self.start..self.end]
    }
}

/// One migration of the chain.
#[derive(Debug, Clone)]
struct Migration {
    /// As the tool records it (`20240101120000`, `1.2`); empty for Flyway repeatables.
    version: String,
    description: String,
    up: Part,
    down: Option<Part>,
    /// Flyway `R__` script: runs after the versioned ones.
    repeatable: bool,
}

#[derive(Debug)]
pub struct SqlRunner {
    naming: SqlNaming,
    migrations: Vec<Migration>,
    /// How many migrations each scratch database (by URL) has applied: the runner only ever
    /// works on databases the replay created, so it knows where each one stands.
    applied: Mutex<HashMap<String, usize>>,
}

impl SqlRunner {
    pub fn new(policy: &Policy, root: &Path) -> Result<Self, RunnerError> {
        let dir = root.join(&policy.migrations.path);
        let migrations = discover(&dir, root, policy.migrations.naming)?;
        Ok(SqlRunner {
            naming: policy.migrations.naming,
            migrations,
            applied: Mutex::new(HashMap::new()),
        })
    }

    pub fn naming_name(&self) -> &'static str {
        match self.naming {
            SqlNaming::GolangMigrate => "golang-migrate",
            SqlNaming::Flyway => "flyway",
            SqlNaming::Sqlx => "sqlx",
            SqlNaming::Dbmate => "dbmate",
            SqlNaming::Plain => "plain",
        }
    }

    pub fn knows(&self, version: &str) -> bool {
        self.migrations
            .iter()
            .any(|m| !m.repeatable && m.version == version)
    }

    pub fn count(&self) -> usize {
        self.migrations.len()
    }

    pub fn has_downgrade(&self) -> bool {
        !self.migrations.is_empty()
            && self
                .migrations
                .iter()
                .all(|m| !m.repeatable && m.down.is_some())
    }

    /// The last versioned migration, as the bookkeeping table records it.
    pub fn head(&self) -> Option<String> {
        if self.naming == SqlNaming::Plain {
            return None;
        }
        self.migrations
            .iter()
            .rev()
            .find(|m| !m.repeatable)
            .map(|m| m.version.clone())
    }

    pub fn bookkeeping_tables(&self) -> &'static [&'static str] {
        match self.naming {
            SqlNaming::GolangMigrate | SqlNaming::Dbmate => &["schema_migrations"],
            SqlNaming::Flyway => &["flyway_schema_history"],
            SqlNaming::Sqlx => &["_sqlx_migrations"],
            SqlNaming::Plain => &[],
        }
    }

    pub async fn recorded_head(&self, url: &str) -> Option<String> {
        let q = match self.naming {
            SqlNaming::GolangMigrate => "SELECT version::text FROM schema_migrations LIMIT 1",
            SqlNaming::Dbmate => "SELECT max(version)::text FROM schema_migrations",
            SqlNaming::Flyway => {
                "SELECT version::text FROM flyway_schema_history WHERE version IS NOT NULL AND success ORDER BY installed_rank DESC LIMIT 1"
            }
            SqlNaming::Sqlx => "SELECT max(version)::text FROM _sqlx_migrations",
            SqlNaming::Plain => return None,
        };
        let mut c = PgConnection::connect(url).await.ok()?;
        let v: Option<(Option<String>,)> = sqlx::query_as(q).fetch_optional(&mut c).await.ok()?;
        let _ = c.close().await;
        v.and_then(|r| r.0)
    }

    pub async fn upgrade(
        &self,
        db: &ChildEnv,
        target: &Target,
        deadline: Instant,
        on_applied: &mut (dyn FnMut(&Applied) + Send),
    ) -> Result<RunOutcome, RunnerError> {
        let url = db.url();
        let from = self.position(url);
        let versioned = self.migrations.iter().filter(|m| !m.repeatable).count();
        let to = match target {
            Target::Head => self.migrations.len(),
            Target::Revision(r) => {
                let i = self
                    .migrations
                    .iter()
                    .position(|m| !m.repeatable && &m.version == r)
                    .ok_or_else(|| {
                        RunnerError::Config(format!(
                            "no migration with version {r} in the chain (applied-after of an emergency script?)"
                        ))
                    })?;
                i + 1
            }
        };
        // Repeatables come after every versioned migration; a partial upgrade stops before them.
        let to = if matches!(target, Target::Revision(_)) {
            to.min(versioned)
        } else {
            to
        };
        let mut conn = connect(url).await?;
        self.ensure_bookkeeping(&mut conn).await?;
        let mut outcome = RunOutcome::default();
        for i in from..to {
            let m = &self.migrations[i];
            let started = Instant::now();
            if let Err(f) = self.apply(&mut conn, url, m, &m.up, deadline, true).await {
                let mut f = f;
                f.revision = Some(label(m));
                outcome.failure = Some(f);
                break;
            }
            let a = Applied {
                revision: label(m),
                file: Some(m.up.file.clone()),
                duration: started.elapsed(),
            };
            self.set_position(url, i + 1);
            on_applied(&a);
            outcome.applied.push(a);
        }
        let _ = conn.close().await;
        Ok(outcome)
    }

    pub async fn downgrade_base(
        &self,
        db: &ChildEnv,
        deadline: Instant,
    ) -> Result<RunOutcome, RunnerError> {
        let url = db.url();
        let from = self.position(url);
        let mut conn = connect(url).await?;
        let mut outcome = RunOutcome::default();
        for i in (0..from).rev() {
            let m = &self.migrations[i];
            let Some(down) = &m.down else {
                outcome.failure = Some(Failure {
                    revision: Some(label(m)),
                    file: Some(m.up.file.clone()),
                    message: "no down migration".into(),
                    ..Failure::default()
                });
                break;
            };
            let started = Instant::now();
            if let Err(mut f) = self.apply(&mut conn, url, m, down, deadline, false).await {
                f.revision = Some(label(m));
                outcome.failure = Some(f);
                break;
            }
            self.set_position(url, i);
            outcome.applied.push(Applied {
                revision: label(m),
                file: Some(down.file.clone()),
                duration: started.elapsed(),
            });
        }
        let _ = conn.close().await;
        Ok(outcome)
    }

    fn position(&self, url: &str) -> usize {
        self.applied
            .lock()
            .map(|m| m.get(url).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    fn set_position(&self, url: &str, n: usize) {
        if let Ok(mut m) = self.applied.lock() {
            m.insert(url.to_string(), n);
        }
    }

    async fn ensure_bookkeeping(&self, conn: &mut PgConnection) -> Result<(), RunnerError> {
        // Column sets as each tool creates them, so migrations that touch the table still work.
        let ddl = match self.naming {
            SqlNaming::GolangMigrate => {
                "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)"
            }
            SqlNaming::Dbmate => {
                "CREATE TABLE IF NOT EXISTS schema_migrations (version varchar(128) PRIMARY KEY)"
            }
            SqlNaming::Flyway => {
                "CREATE TABLE IF NOT EXISTS flyway_schema_history (installed_rank integer NOT NULL PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL, type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum integer, installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(), execution_time integer NOT NULL, success boolean NOT NULL); CREATE INDEX IF NOT EXISTS flyway_schema_history_s_idx ON flyway_schema_history (success)"
            }
            SqlNaming::Sqlx => {
                "CREATE TABLE IF NOT EXISTS _sqlx_migrations (version bigint PRIMARY KEY, description text NOT NULL, installed_on timestamptz NOT NULL DEFAULT now(), success boolean NOT NULL, checksum bytea NOT NULL, execution_time bigint NOT NULL)"
            }
            SqlNaming::Plain => return Ok(()),
        };
        raw_sql(ddl).execute(&mut *conn).await.map_err(|e| {
            RunnerError::Environment(format!("cannot create the bookkeeping table: {e}"))
        })?;
        Ok(())
    }

    /// Bookkeeping after `m` ran up (`up = true`) or down.
    fn bookkeeping_sql(&self, m: &Migration, up: bool, millis: u128) -> Option<String> {
        let v = m.version.replace('\'', "''");
        let d = m.description.replace('\'', "''");
        Some(match (self.naming, up) {
            (SqlNaming::GolangMigrate, true) => {
                format!(
                    "TRUNCATE schema_migrations; INSERT INTO schema_migrations (version, dirty) VALUES ({v}, false)"
                )
            }
            (SqlNaming::GolangMigrate, false) => {
                let prev = self
                    .migrations
                    .iter()
                    .take_while(|x| x.version != m.version)
                    .last()
                    .map(|x| x.version.clone());
                match prev {
                    Some(p) => format!(
                        "TRUNCATE schema_migrations; INSERT INTO schema_migrations (version, dirty) VALUES ({p}, false)"
                    ),
                    None => "TRUNCATE schema_migrations".to_string(),
                }
            }
            (SqlNaming::Dbmate, true) => {
                format!("INSERT INTO schema_migrations (version) VALUES ('{v}')")
            }
            (SqlNaming::Dbmate, false) => {
                format!("DELETE FROM schema_migrations WHERE version = '{v}'")
            }
            (SqlNaming::Flyway, true) => {
                let version = if m.repeatable {
                    "NULL".to_string()
                } else {
                    format!("'{v}'")
                };
                let kind = "SQL";
                let script =
                    m.up.file
                        .rsplit('/')
                        .next()
                        .unwrap_or(&m.up.file)
                        .replace('\'', "''");
                let crc = crc32(m.up.sql().as_bytes()) as i32;
                format!(
                    "INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) \
                     SELECT coalesce(max(installed_rank), 0) + 1, {version}, '{d}', '{kind}', '{script}', {crc}, current_user, {millis}, true FROM flyway_schema_history"
                )
            }
            (SqlNaming::Flyway, false) => {
                format!("DELETE FROM flyway_schema_history WHERE version = '{v}'")
            }
            (SqlNaming::Sqlx, true) => {
                let sum = hex::encode(sha2::Sha384::digest(m.up.sql().as_bytes()));
                format!(
                    "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ({v}, '{d}', true, '\\x{sum}'::bytea, {})",
                    millis * 1_000_000
                )
            }
            (SqlNaming::Sqlx, false) => format!("DELETE FROM _sqlx_migrations WHERE version = {v}"),
            (SqlNaming::Plain, _) => return None,
        })
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        url: &str,
        m: &Migration,
        part: &Part,
        deadline: Instant,
        up: bool,
    ) -> Result<(), Failure> {
        let started = Instant::now();
        if part.no_transaction {
            for (s, e) in sqlsplit::split(part.sql()) {
                let stmt = &part.sql()[s..e];
                let offset = part.start + s;
                timed(
                    url,
                    deadline,
                    raw_sql(AssertSqlSafe(stmt.to_string())).execute(&mut *conn),
                )
                .await
                .map_err(|err| failure(err, part, offset))?;
            }
            if let Some(b) = self.bookkeeping_sql(m, up, started.elapsed().as_millis()) {
                timed(url, deadline, raw_sql(AssertSqlSafe(b)).execute(&mut *conn))
                    .await
                    .map_err(|err| failure(err, part, part.start))?;
            }
            return Ok(());
        }
        let mut tx = timed(url, deadline, conn.begin())
            .await
            .map_err(|err| failure(err, part, part.start))?;
        timed(
            url,
            deadline,
            raw_sql(AssertSqlSafe(part.sql().to_string())).execute(&mut *tx),
        )
        .await
        .map_err(|err| failure(err, part, part.start))?;
        if let Some(b) = self.bookkeeping_sql(m, up, started.elapsed().as_millis()) {
            timed(url, deadline, raw_sql(AssertSqlSafe(b)).execute(&mut *tx))
                .await
                .map_err(|err| failure(err, part, part.start))?;
        }
        timed(url, deadline, tx.commit())
            .await
            .map_err(|err| failure(err, part, part.start))?;
        Ok(())
    }
}

enum RunError {
    Sql(sqlx::Error),
    TimedOut,
}

/// Run `fut` until `deadline`; past it, terminate the statement's session on the server.
async fn timed<T>(
    url: &str,
    deadline: Instant,
    fut: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, RunError> {
    match tokio::time::timeout_at(deadline.into(), fut).await {
        Ok(r) => r.map_err(RunError::Sql),
        Err(_) => {
            terminate_sessions(url).await;
            Err(RunError::TimedOut)
        }
    }
}

fn failure(err: RunError, part: &Part, byte_offset: usize) -> Failure {
    let err = match err {
        RunError::TimedOut => {
            return Failure {
                file: Some(part.file.clone()),
                message: "timed out".into(),
                timed_out: true,
                ..Failure::default()
            };
        }
        RunError::Sql(e) => e,
    };
    let mut f = Failure {
        file: Some(part.file.clone()),
        ..Failure::default()
    };
    match &err {
        sqlx::Error::Database(db) => {
            f.sqlstate = db.code().map(|c| c.to_string());
            f.message = db.message().to_string();
            if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
                if let Some(d) = pg.detail() {
                    f.message = format!("{} ({d})", f.message);
                }
                if let Some(PgErrorPosition::Original(pos)) = pg.position() {
                    let abs = sqlsplit::chars_before(&part.file_text, byte_offset) + pos;
                    let (l, c) = sqlsplit::line_col(&part.file_text, abs);
                    f.line = Some(l);
                    f.column = Some(c);
                }
            }
        }
        other => f.message = other.to_string(),
    }
    if f.line.is_none() {
        f.line = Some(
            sqlsplit::line_col(
                &part.file_text,
                sqlsplit::chars_before(&part.file_text, byte_offset) + 1,
            )
            .0,
        );
    }
    f
}

async fn connect(url: &str) -> Result<PgConnection, RunnerError> {
    PgConnection::connect(url).await.map_err(|e| {
        RunnerError::Environment(format!(
            "cannot connect to the scratch database: {}",
            crate::redact_error(&e.to_string())
        ))
    })
}

fn label(m: &Migration) -> String {
    if m.repeatable {
        format!("R__{}", m.description.replace(' ', "_"))
    } else {
        m.version.clone()
    }
}

/// Whether a migration must run outside a transaction.
fn needs_no_transaction(sql: &str) -> bool {
    static RE: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"(?im)^\s*--\s*gate:no-transaction\b|\bCONCURRENTLY\b|^\s*VACUUM\b|^\s*(CREATE|DROP)\s+DATABASE\b")
            .expect("valid regex")
    });
    RE.is_match(sql)
}

fn part(file: &str, text: &str, start: usize, end: usize, forced_no_tx: bool) -> Part {
    Part {
        file: file.to_string(),
        file_text: text.to_string(),
        start,
        end,
        no_transaction: forced_no_tx || needs_no_transaction(&text[start..end]),
    }
}

/// Numeric version parts for ordering (`1.10` after `1.9`).
fn version_key(v: &str) -> Vec<u64> {
    v.split(['.', '_'])
        .map(|p| p.parse().unwrap_or(u64::MAX))
        .collect()
}

fn discover(dir: &Path, root: &Path, naming: SqlNaming) -> Result<Vec<Migration>, RunnerError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        RunnerError::Config(format!(
            "cannot read the migrations folder {} ({e}); set migrations.path in policy.toml",
            dir.display()
        ))
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("sql"))
        .collect();
    files.sort();
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| RunnerError::Config(format!("cannot read migration {}: {e}", p.display())))
    };
    let name = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string()
    };
    let mut ups: Vec<(Vec<u64>, String, Migration)> = Vec::new();
    let mut downs: HashMap<String, Part> = HashMap::new();
    let mut repeatables = Vec::new();
    let re = match naming {
        SqlNaming::GolangMigrate => r"^(\d+)_(.*)\.(up|down)\.sql$",
        SqlNaming::Flyway => r"^([VU])(\d+(?:[._]\d+)*)__(.*)\.sql$",
        SqlNaming::Sqlx => r"^(\d+)_(.*?)(?:\.(up|down))?\.sql$",
        SqlNaming::Dbmate => r"^(\d+)_?(.*)\.sql$",
        SqlNaming::Plain => r"^(.*?)(?:\.(up|down))?\.sql$",
    };
    let re = Regex::new(re).expect("valid regex");
    for path in &files {
        let n = name(path);
        let rel = rel_path(root, path);
        if naming == SqlNaming::Flyway && n.starts_with("R__") {
            let text = read(path)?;
            let desc = n
                .trim_start_matches("R__")
                .trim_end_matches(".sql")
                .replace('_', " ");
            repeatables.push(Migration {
                version: String::new(),
                description: desc,
                up: part(&rel, &text, 0, text.len(), false),
                down: None,
                repeatable: true,
            });
            continue;
        }
        let Some(c) = re.captures(&n) else { continue };
        let text = read(path)?;
        match naming {
            SqlNaming::Dbmate => {
                let (up, down) = dbmate_sections(&rel, &text);
                let version = c[1].to_string();
                ups.push((
                    version_key(&version),
                    version.clone(),
                    Migration {
                        description: c[2].replace('_', " "),
                        version,
                        up,
                        down,
                        repeatable: false,
                    },
                ));
            }
            SqlNaming::Flyway => {
                let version = c[2].replace('_', ".");
                let p = part(&rel, &text, 0, text.len(), false);
                if &c[1] == "U" {
                    downs.insert(version, p);
                } else {
                    ups.push((
                        version_key(&version),
                        version.clone(),
                        Migration {
                            description: c[3].replace('_', " "),
                            version,
                            up: p,
                            down: None,
                            repeatable: false,
                        },
                    ));
                }
            }
            SqlNaming::Plain => {
                let version = c[1].to_string();
                let p = part(&rel, &text, 0, text.len(), false);
                if c.get(2).is_some_and(|d| d.as_str() == "down") {
                    downs.insert(version, p);
                } else {
                    ups.push((
                        Vec::new(),
                        version.clone(),
                        Migration {
                            description: version.clone(),
                            version,
                            up: p,
                            down: None,
                            repeatable: false,
                        },
                    ));
                }
            }
            SqlNaming::GolangMigrate | SqlNaming::Sqlx => {
                let version = c[1]
                    .parse::<u64>()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|_| c[1].to_string());
                // sqlx's own marker for migrations that must run outside a transaction.
                let sqlx_no_tx =
                    naming == SqlNaming::Sqlx && text.trim_start().starts_with("-- no-transaction");
                let p = part(&rel, &text, 0, text.len(), sqlx_no_tx);
                if c.get(3).is_some_and(|d| d.as_str() == "down") {
                    downs.insert(version, p);
                } else {
                    ups.push((
                        version_key(&version),
                        version.clone(),
                        Migration {
                            description: c[2].replace('_', " "),
                            version,
                            up: p,
                            down: None,
                            repeatable: false,
                        },
                    ));
                }
            }
        }
    }
    if naming == SqlNaming::Plain {
        ups.sort_by(|a, b| a.1.cmp(&b.1));
    } else {
        ups.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let mut out: Vec<Migration> = ups
        .into_iter()
        .map(|(_, v, mut m)| {
            if let Some(d) = downs.remove(&v) {
                m.down = Some(d);
            }
            m
        })
        .collect();
    out.extend(repeatables);
    Ok(out)
}

/// dbmate recognises `-- migrate:up` / `-- migrate:down` only at the start of a line, with
/// options such as `transaction:false` after the marker.
fn dbmate_sections(file: &str, text: &str) -> (Part, Option<Part>) {
    let re = Regex::new(r"(?m)^--\s*migrate:(up|down)([^\n]*)$").expect("valid regex");
    let marks: Vec<(usize, usize, bool, bool)> = re
        .captures_iter(text)
        .map(|c| {
            let m = c.get(0).expect("match");
            (
                m.start(),
                m.end(),
                &c[1] == "up",
                c[2].contains("transaction:false"),
            )
        })
        .collect();
    let mut up = None;
    let mut down = None;
    for (i, &(_, body_start, is_up, no_tx)) in marks.iter().enumerate() {
        let end = marks.get(i + 1).map_or(text.len(), |m| m.0);
        let p = part(file, text, body_start, end, no_tx);
        if is_up {
            up = Some(p);
        } else {
            down = Some(p);
        }
    }
    (
        up.unwrap_or_else(|| part(file, text, 0, text.len(), false)),
        down,
    )
}

/// CRC-32 (IEEE), the checksum family Flyway records.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbmate_markers_only_count_at_line_start() {
        let text = "-- migrate:up\nCREATE TABLE a (x int); -- not -- migrate:down here\n-- migrate:down transaction:false\nDROP TABLE a;\n";
        let (up, down) = dbmate_sections("m.sql", text);
        assert!(up.sql().contains("CREATE TABLE a"));
        assert!(up.sql().contains("not -- migrate:down here"));
        let down = down.expect("down section");
        assert!(down.no_transaction);
        assert_eq!(down.sql().trim(), "DROP TABLE a;");
    }

    #[test]
    fn concurrently_and_the_directive_leave_the_transaction() {
        assert!(needs_no_transaction(
            "CREATE INDEX CONCURRENTLY i ON t (x);"
        ));
        assert!(needs_no_transaction(
            "-- gate:no-transaction\nALTER TYPE e ADD VALUE 'x';"
        ));
        assert!(!needs_no_transaction("CREATE INDEX i ON t (x);"));
    }

    #[test]
    fn crc32_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
