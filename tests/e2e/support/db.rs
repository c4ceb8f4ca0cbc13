//! The test PostgreSQL server `ci/test-postgres.sh` starts, named by `GATE_TEST_DATABASE_URL`.
//! The tests fail, never skip, when it is not set up.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The server's URL (the `postgres` maintenance database). Panics (the test fails) when unset.
pub fn server_url() -> String {
    std::env::var("GATE_TEST_DATABASE_URL").expect(
        "GATE_TEST_DATABASE_URL is not set: run `eval \"$(ci/test-postgres.sh)\"` before the tests",
    )
}

/// `server_url()` pointing at another database on the same server.
pub fn url_for(db: &str) -> String {
    let base = server_url();
    let (prefix, _) = base.rsplit_once('/').expect("URL has a database path");
    format!("{prefix}/{db}")
}

/// psql against `url`, returning stdout; panics on failure.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Scratch databases a replay left behind on the test server.
pub fn leftover_databases() -> Vec<String> {
    psql(
        &server_url(),
        "SELECT datname FROM pg_database WHERE datname LIKE 'gate_replay_%' ORDER BY 1",
    )
    .lines()
    .map(str::to_string)
    .filter(|l| !l.is_empty())
    .collect()
}

/// The server `ci/test-postgres.sh` starts. The tests fail without it.
#[derive(Debug, Clone)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

impl Server {
    pub fn from_env() -> Self {
        let raw = server_url();
        let u = url::Url::parse(&raw).expect("GATE_TEST_DATABASE_URL is a URL");
        Server {
            host: u.host_str().unwrap_or("127.0.0.1").to_string(),
            port: u.port().unwrap_or(5432),
            user: if u.username().is_empty() {
                "postgres".into()
            } else {
                u.username().to_string()
            },
            password: u.password().unwrap_or_default().to_string(),
        }
    }

    /// The URL as given to the tests (the `postgres` maintenance database).
    pub fn admin_url(&self) -> String {
        server_url()
    }

    /// A libpq URL of database `db` (psql, pg_dump).
    pub fn libpq(&self, db: &str) -> String {
        let auth = if self.password.is_empty() {
            self.user.clone()
        } else {
            format!("{}:{}", self.user, self.password)
        };
        format!("postgresql://{auth}@{}:{}/{db}", self.host, self.port)
    }

    /// `replay.database-url`-style template filled in for database `db`.
    pub fn fill(&self, template: &str, db: &str) -> String {
        template
            .replace("{user}", &self.user)
            .replace("{password}", &self.password)
            .replace("{host}", &self.host)
            .replace("{port}", &self.port.to_string())
            .replace("{database}", db)
    }

    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.libpq(db))
            .args(["-c", sql])
            .env_remove("PGOPTIONS")
            .output()
            .expect("psql (postgresql-client) is required");
        assert!(
            out.status.success(),
            "psql -c {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A new empty database (or a copy of `template`), dropped with the guard.
    pub fn create(&self, template: Option<&str>) -> Db {
        let name = format!(
            "realrepo_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::SeqCst)
        );
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
            None => format!("CREATE DATABASE {name}"),
        };
        self.psql("postgres", &sql);
        Db {
            server: self.clone(),
            name,
        }
    }
}

/// A database on the test server, dropped when the guard goes.
#[derive(Debug)]
pub struct Db {
    pub server: Server,
    pub name: String,
}

impl Db {
    pub fn libpq(&self) -> String {
        self.server.libpq(&self.name)
    }

    pub fn psql(&self, sql: &str) -> String {
        self.server.psql(&self.name, sql)
    }

    /// `pg_dump` of the database in a form two dumps can be compared in: the per-run
    /// `\restrict` key (pg_dump 15.14+), comments, session settings and sequence positions
    /// (a consumed sequence value is not a data change) are left out, and the rows of each
    /// table are sorted (an UPDATE that rewrites a row moves it, without changing the data).
    pub fn dump(&self, schema_only: bool, exclude: &[&str]) -> String {
        let mut cmd = Command::new("pg_dump");
        cmd.args(["--no-owner", "--no-privileges", "--no-comments"]);
        if schema_only {
            cmd.arg("--schema-only");
        }
        for t in exclude {
            cmd.arg(format!("--exclude-table={t}"));
        }
        let out = cmd
            .arg("-d")
            .arg(self.libpq())
            .output()
            .expect("pg_dump (postgresql-client) is required");
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        canonical_dump(&String::from_utf8_lossy(&out.stdout))
    }

    pub fn has_table(&self, table: &str) -> bool {
        self.psql(&format!("SELECT to_regclass('public.{table}') IS NOT NULL")) == "t"
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-X", "-q", "-d"])
            .arg(self.server.libpq("postgres"))
            .args([
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

pub fn canonical_dump(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut rows: Option<Vec<String>> = None;
    for line in text.lines() {
        if let Some(r) = rows.as_mut() {
            if line == "\\." {
                r.sort();
                out.append(r);
                out.push(line.to_string());
                rows = None;
            } else {
                r.push(line.to_string());
            }
            continue;
        }
        let skip = line.is_empty()
            || line.starts_with("--")
            || line.starts_with("\\restrict")
            || line.starts_with("\\unrestrict")
            || line.starts_with("SET ")
            || line.starts_with("SELECT pg_catalog.set_config(")
            || line.starts_with("SELECT pg_catalog.setval(");
        if skip {
            continue;
        }
        out.push(line.to_string());
        if line.starts_with("COPY ") && line.ends_with("FROM stdin;") {
            rows = Some(Vec::new());
        }
    }
    out.join("\n")
}
