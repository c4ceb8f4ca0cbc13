//! SQL runner: applies a folder of `.sql` files in-process (sqlx), in chain order, keeping the
//! bookkeeping table of the tool the project really uses, since real migrations sometimes read
//! or alter it: golang-migrate and dbmate `schema_migrations`, Flyway `flyway_schema_history`,
//! sqlx `_sqlx_migrations` (`plain` keeps none).
//!
//! The chain (files, versions, order, dbmate blocks, which migrations cannot run in a
//! transaction) is `gate_chain`'s discovery, the one the static checks use. Each migration
//! runs in one transaction unless gate-chain says it cannot (`CONCURRENTLY`, a
//! `-- gate:no-transaction` line, sqlx's `-- no-transaction`, dbmate's `transaction:false`);
//! then its statements run one by one. A PostgreSQL error position becomes file:line:col.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use gate_chain::Discovery;
use gate_policy::{Policy, SqlNaming};
use sha2::Digest as _;
use sqlx::Connection as _;
use sqlx::postgres::{PgConnection, PgDatabaseError, PgErrorPosition};
use sqlx::{AssertSqlSafe, raw_sql};

use super::sqlsplit;
use super::{Applied, Failure, RunOutcome, RunnerError, Target, terminate_sessions};
use crate::child_env::ChildEnv;
use crate::observe::{self, ObservedStatement};

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
    /// The chain's revision id (the version as the file name spells it: `000001`, `1_2`).
    id: String,
    /// As the tool records it (`1`, `1.2`, `20240101120000`); empty for Flyway repeatables.
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
    /// Observed runs: each database's catalog after the last observed COMMIT (no lock held)
    /// with its fingerprint, the "before" of the next migration's first statement when the
    /// fingerprint is still the same (no full read per migration).
    carried: Mutex<HashMap<String, (String, Vec<observe::CatalogRow>)>>,
}

impl SqlRunner {
    /// The runner for the chain `gate_chain::discover` read: the same files, versions, order
    /// and up/down sections the static checks judged.
    pub fn new(policy: &Policy, discovery: &Discovery) -> Self {
        SqlRunner {
            naming: policy.migrations.naming,
            migrations: migrations(discovery),
            applied: Mutex::new(HashMap::new()),
            carried: Mutex::new(HashMap::new()),
        }
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

    /// `version` as the file name spells it (`000001`) or as the tool records it (`1`).
    pub fn knows(&self, version: &str) -> bool {
        self.migrations.iter().any(|m| m.is(version))
    }

    pub fn count(&self) -> usize {
        self.migrations.len()
    }

    /// The migrations (by chain id) applied after an upgrade from empty to `target`: a prefix
    /// of the chain, the same cut [`SqlRunner::upgrade`] makes.
    pub fn applied_at(&self, target: &Target) -> Option<std::collections::BTreeSet<String>> {
        let to = match target {
            Target::Head => self.migrations.len(),
            Target::Revision(r) => {
                let versioned = self.migrations.iter().filter(|m| !m.repeatable).count();
                (self.migrations.iter().position(|m| m.is(r))? + 1).min(versioned)
            }
        };
        Some(self.migrations[..to].iter().map(|m| m.id.clone()).collect())
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
        let mut conn = connect(db.url()).await?;
        let outcome = self
            .upgrade_on(&mut conn, db, target, deadline, on_applied)
            .await;
        let _ = conn.close().await;
        outcome
    }

    /// [`SqlRunner::upgrade`] on a connection the caller holds to `db` (no transaction open):
    /// a caller that upgrades one revision at a time pays no connect per revision.
    pub async fn upgrade_on(
        &self,
        conn: &mut PgConnection,
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
                    .position(|m| m.is(r))
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
        self.ensure_bookkeeping(conn).await?;
        let mut outcome = RunOutcome::default();
        let observing = db.is_observing();
        for i in from..to {
            let m = &self.migrations[i];
            let started = Instant::now();
            let applied = if observing {
                self.apply_observed(conn, url, m, deadline, &mut outcome)
                    .await
            } else {
                self.apply(conn, url, m, &m.up, deadline, true).await
            };
            if let Err(f) = applied {
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
        Ok(outcome)
    }

    /// Record `version` as applied without running it: the tool's bookkeeping row, and the
    /// position this runner keeps for the database.
    pub async fn stamp(&self, db: &ChildEnv, version: &str) -> Result<RunOutcome, RunnerError> {
        let url = db.url();
        let i = self
            .migrations
            .iter()
            .position(|m| m.is(version))
            .ok_or_else(|| RunnerError::Config(format!("no migration with version {version}")))?;
        let mut conn = connect(url).await?;
        self.ensure_bookkeeping(&mut conn).await?;
        let mut outcome = RunOutcome::default();
        if let Some(b) = self.bookkeeping_sql(&self.migrations[i], true, 0)
            && let Err(e) = raw_sql(AssertSqlSafe(b)).execute(&mut conn).await
        {
            outcome.failure = Some(Failure {
                revision: Some(label(&self.migrations[i])),
                message: format!("cannot record the revision as applied: {e}"),
                ..Failure::default()
            });
        } else {
            self.set_position(url, i + 1);
        }
        let _ = conn.close().await;
        Ok(outcome)
    }

    pub async fn downgrade_base(
        &self,
        db: &ChildEnv,
        deadline: Instant,
    ) -> Result<RunOutcome, RunnerError> {
        self.downgrade_to(db, 0, deadline).await
    }

    /// Run the down migrations of everything applied after the first `keep` migrations (the
    /// stairway: `keep` = one less than applied).
    pub async fn downgrade_to(
        &self,
        db: &ChildEnv,
        keep: usize,
        deadline: Instant,
    ) -> Result<RunOutcome, RunnerError> {
        let mut conn = connect(db.url()).await?;
        let outcome = self.downgrade_to_on(&mut conn, db, keep, deadline).await;
        let _ = conn.close().await;
        outcome
    }

    /// [`SqlRunner::downgrade_to`] on an open connection to `db` (the stairway's hundreds of
    /// steps: no connect per step).
    pub async fn downgrade_to_on(
        &self,
        conn: &mut PgConnection,
        db: &ChildEnv,
        keep: usize,
        deadline: Instant,
    ) -> Result<RunOutcome, RunnerError> {
        let url = db.url();
        let from = self.position(url);
        let mut outcome = RunOutcome::default();
        for i in (keep..from).rev() {
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
            if let Err(mut f) = self.apply(conn, url, m, down, deadline, false).await {
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
        Ok(outcome)
    }

    /// How many migrations this runner has applied to the database at `url`.
    pub fn position(&self, url: &str) -> usize {
        self.applied
            .lock()
            .map(|m| m.get(url).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// `to` is a copy of the database at `from` (`CREATE DATABASE … TEMPLATE`): it is as far
    /// along the chain.
    pub fn copied(&self, from: &str, to: &str) {
        self.set_position(to, self.position(from));
    }

    /// Drop the catalog carried over for the database at `url` (something else changed it:
    /// the next observed migration reads it whole).
    pub fn forget_catalog(&self, url: &str) -> Option<(String, Vec<observe::CatalogRow>)> {
        self.carried.lock().ok().and_then(|mut m| m.remove(url))
    }

    /// Open an observed migration's transaction (`BEGIN`, sent with the first read) and read
    /// its catalog at the start: the one carried over from the last COMMIT with the tables
    /// locked now read again, when the fingerprint says nothing else changed since; a full
    /// read otherwise. `Err`: the BEGIN failed.
    async fn begin_observed(
        &self,
        conn: &mut PgConnection,
        url: &str,
        problems: &mut Vec<String>,
    ) -> Result<Option<Vec<observe::CatalogRow>>, sqlx::Error> {
        use observe::conn::{Read, read_in_transaction};
        let mut begin = Some("BEGIN");
        if let Some((fingerprint, carried)) = self.forget_catalog(url) {
            let read =
                read_in_transaction(conn, Read::Checked, begin.take(), None, problems).await?;
            if let Some(mut locked) = read
                && observe::take_fingerprint(&mut locked).as_deref() == Some(fingerprint.as_str())
            {
                return Ok(Some(observe::merge(&carried, &locked)));
            }
        }
        read_in_transaction(conn, Read::Full, begin, None, problems).await
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
        raw_sql(ddl)
            .execute(&mut *conn)
            .await
            .map_err(|e| RunnerError::database("cannot create the bookkeeping table", e))?;
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

impl SqlRunner {
    /// [`SqlRunner::apply`] of `m`'s up part, one statement at a time with the catalog read
    /// around each (crate::observe), in the same transaction (or none) the plain run uses.
    async fn apply_observed(
        &self,
        conn: &mut PgConnection,
        url: &str,
        m: &Migration,
        deadline: Instant,
        outcome: &mut RunOutcome,
    ) -> Result<(), Failure> {
        let part = &m.up;
        let in_tx = !part.no_transaction;
        let started = Instant::now();
        let first = outcome.observed.len();
        let mut ends = Vec::new();
        let result: Result<(), Failure> = async {
            let problems = &mut outcome.observe_problems;
            // Inside the transaction the catalog after one statement is the catalog before
            // the next: one read per statement.
            let mut last = if in_tx {
                timed(url, deadline, self.begin_observed(conn, url, problems))
                    .await
                    .map_err(|err| failure(err, part, part.start))?
            } else {
                // autocommit statements, each read whole before and after
                self.forget_catalog(url);
                None
            };
            let at_start = last.as_deref().map(observe::table_oids);
            for (s, e) in sqlsplit::split(part.sql()) {
                let stmt = &part.sql()[s..e];
                let offset = part.start + s;
                let before = match last.take() {
                    Some(rows) => Some(rows),
                    None => observe::conn::snapshot(conn, in_tx, problems).await,
                };
                let t0 = Instant::now();
                timed(
                    url,
                    deadline,
                    raw_sql(AssertSqlSafe(stmt.to_string())).execute(&mut *conn),
                )
                .await
                .map_err(|err| failure(err, part, offset))?;
                let duration = t0.elapsed();
                let ended = Instant::now();
                let after = if in_tx {
                    observe::conn::read_in_transaction(
                        conn,
                        observe::conn::Read::Locked,
                        None,
                        None,
                        problems,
                    )
                    .await
                    .unwrap_or_else(|e| {
                        problems.push(format!("observation query failed: {e}"));
                        None
                    })
                } else {
                    observe::conn::snapshot(conn, false, problems).await
                };
                let (Some(before), Some(after)) = (before, after) else {
                    continue;
                };
                let changes = if in_tx {
                    let start = at_start
                        .clone()
                        .unwrap_or_else(|| observe::table_oids(&before));
                    let changes = observe::diff_locked(&before, &after, &start);
                    last = Some(observe::merge(&before, &after));
                    changes
                } else {
                    observe::diff(&before, &after, &observe::table_oids(&before))
                };
                let rows = observe::conn::count_rows(
                    conn,
                    in_tx,
                    &observe::tables_to_count(&changes),
                    problems,
                )
                .await;
                let line = sqlsplit::line_col(
                    &part.file_text,
                    sqlsplit::chars_before(&part.file_text, offset + leading_blank(stmt)) + 1,
                )
                .0;
                ends.push((outcome.observed.len(), ended));
                outcome.observed.push(ObservedStatement {
                    sql: stmt.trim().to_string(),
                    file: Some(part.file.clone()),
                    line: Some(line),
                    revision: Some(label(m)),
                    duration,
                    held: None,
                    in_transaction: in_tx,
                    changes,
                    rows,
                });
            }
            let bookkeeping = self.bookkeeping_sql(m, true, started.elapsed().as_millis());
            // Every table the transaction changed (the bookkeeping too) is locked until COMMIT:
            // what is known plus those tables is the catalog after it, read in one round trip
            // with the bookkeeping and the COMMIT.
            if in_tx && let Some(known) = last.take() {
                let carry = timed(
                    url,
                    deadline,
                    observe::conn::read_in_transaction(
                        conn,
                        observe::conn::Read::Checked,
                        bookkeeping.as_deref(),
                        Some("COMMIT"),
                        &mut outcome.observe_problems,
                    ),
                )
                .await
                .map_err(|err| failure(err, part, part.start))?
                .and_then(|mut locked| {
                    let fingerprint = observe::take_fingerprint(&mut locked)?;
                    Some((
                        fingerprint,
                        observe::unlocked(observe::merge(&known, &locked)),
                    ))
                });
                if let (Some(carry), Ok(mut m)) = (carry, self.carried.lock()) {
                    m.insert(url.to_string(), carry);
                }
                return Ok(());
            }
            if let Some(b) = bookkeeping {
                timed(url, deadline, raw_sql(AssertSqlSafe(b)).execute(&mut *conn))
                    .await
                    .map_err(|err| failure(err, part, part.start))?;
            }
            if in_tx {
                timed(url, deadline, raw_sql("COMMIT").execute(&mut *conn))
                    .await
                    .map_err(|err| failure(err, part, part.start))?;
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            self.forget_catalog(url);
            if in_tx {
                let _ = raw_sql("ROLLBACK").execute(&mut *conn).await;
            }
            return result;
        }
        // Locks taken inside the transaction were held until its COMMIT.
        let committed = Instant::now();
        for (i, ended) in ends {
            if in_tx && i >= first {
                outcome.observed[i].held = Some(committed - ended);
            }
        }
        Ok(())
    }
}

/// Bytes of whitespace and comments before a statement's first token, so its line is the
/// line of its text, not of the blank lines after the previous `;`.
fn leading_blank(stmt: &str) -> usize {
    let mut rest = stmt;
    loop {
        let t = rest.trim_start();
        if let Some(after) = t.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else {
            return stmt.len() - t.len();
        }
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
    PgConnection::connect(url)
        .await
        .map_err(|e| RunnerError::database("cannot connect to the scratch database", e))
}

fn label(m: &Migration) -> String {
    if m.repeatable {
        format!("R__{}", m.description.replace(' ', "_"))
    } else {
        m.version.clone()
    }
}

impl Migration {
    /// Whether `name` is this versioned migration, by chain id or by recorded version.
    fn is(&self, name: &str) -> bool {
        !self.repeatable && (self.id == name || self.version == name)
    }
}

/// The chain to apply, in order: versioned migrations, then Flyway's repeatables.
fn migrations(discovery: &Discovery) -> Vec<Migration> {
    let texts: HashMap<&str, String> = discovery
        .files
        .iter()
        .map(|(path, bytes)| (path.as_str(), gate_chain::source_text(bytes)))
        .collect();
    let text = |path: &str| texts.get(path).cloned().unwrap_or_default();
    // A part of a file: the whole file, or a dbmate block at `at`.
    let part = |file: &str, section: Option<(&String, usize)>, no_transaction: bool| {
        let file_text = text(file);
        let (start, end) = section.map_or((0, file_text.len()), |(sql, at)| (at, at + sql.len()));
        Part {
            file: file.to_string(),
            file_text,
            start,
            end,
            no_transaction,
        }
    };
    let graph = &discovery.graph;
    let mut out: Vec<Migration> = graph
        .order()
        .into_iter()
        .filter_map(|r| r.sql.as_ref().map(|m| (r, m)))
        .map(|(r, m)| {
            let up = part(
                &m.up,
                m.up_sql.as_ref().map(|s| (s, m.up_sql_at)),
                m.no_transaction,
            );
            let down = m.down.as_ref().map(|d| {
                part(
                    d,
                    m.down_sql.as_ref().map(|s| (s, m.down_sql_at)),
                    m.down_no_transaction,
                )
            });
            Migration {
                id: r.id.clone(),
                version: m.recorded_version.clone(),
                description: m.description.replace('_', " "),
                up,
                down,
                repeatable: false,
            }
        })
        .collect();
    out.extend(graph.repeatable.iter().map(|m| Migration {
        id: String::new(),
        version: String::new(),
        description: m.description.replace('_', " "),
        up: part(&m.up, None, m.no_transaction),
        down: None,
        repeatable: true,
    }));
    out
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
    fn crc32_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
