//! The url backend against a password-protected PostgreSQL that this test starts itself
//! (scram-sha-256, so a wrong password really is refused): passwords never appear in any
//! output format, a wrong password is exit 2, and the database named in the URL is never
//! written to (a sentinel table and a dump checksum before and after).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::alembic::*;
use crate::support::db::*;
use crate::support::replay::*;
use crate::support::run::*;
use crate::support::*;

const PASSWORD: &str = "Xq7-s3cret-Pa55word";

/// A throw-away cluster with password authentication on a free port.
struct PasswordServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

fn as_postgres(bin: &Path, args: &[&str]) -> std::process::Output {
    let root = nix_is_root();
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(args).output().expect("run a PostgreSQL binary")
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PasswordServer {
    fn start() -> Self {
        let bin = ["/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.join("initdb").exists())
            .expect("PostgreSQL server binaries (apt-get install postgresql-15) are required");
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if nix_is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown failed");
        }
        let out = as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "gate",
                "--auth=scram-sha-256",
                "--pwfile",
                pwfile.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.path().display()
        );
        let out = as_postgres(
            &bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "-l",
                dir.path().join("log").to_str().unwrap(),
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PasswordServer { dir, bin, port }
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://gate:{PASSWORD}@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PasswordServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = as_postgres(
            &self.bin.join("pg_ctl"),
            &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
        );
    }
}

fn assert_no_password(run: &Run) {
    assert!(
        !run.all().contains(PASSWORD),
        "the password leaked into the output:\n{}",
        run.all()
    );
}

#[test]
fn passwords_never_appear_in_any_output_format() {
    let server = PasswordServer::start();
    let url = server.url("postgres");
    let repo = crisis();
    for format in ["text", "json", "markdown", "github", "sarif", "junit"] {
        let run = replay(
            repo.path(),
            &[
                "--backend",
                "url",
                "--database-url",
                &url,
                "--format",
                format,
            ],
        );
        assert_eq!(run.code, 0, "{format}: {}", run.all());
        assert_no_password(&run);
        if format == "text" {
            assert!(run.stdout.contains("gate:***@127.0.0.1"), "{}", run.stdout);
        }
    }
    // Failures quote URLs and tracebacks: still no password.
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
    let run = replay(repo.path(), &["--backend", "url", "--database-url", &url]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_no_password(&run);
    // The URL may also come from GATE_DATABASE_URL.
    let out = gate_command(REPLAY)
        .args(["--backend", "url", "--format", "json"])
        .current_dir(repo.path())
        .env("GATE_DATABASE_URL", &url)
        .env("CI", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(PASSWORD));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(PASSWORD));
}

#[test]
fn a_wrong_password_is_exit_2_and_not_echoed() {
    let server = PasswordServer::start();
    let wrong = "Wr0ng-Guess-99";
    let url = format!("postgres://gate:{wrong}@127.0.0.1:{}/postgres", server.port);
    let repo = crisis();
    let run = replay(repo.path(), &["--backend", "url", "--database-url", &url]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(!run.all().contains(wrong), "{}", run.all());
    assert!(
        run.stderr.contains("password authentication failed"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "no report when nothing was checked");
}

#[test]
fn the_database_named_in_the_url_is_never_written_to() {
    let server = PasswordServer::start();
    psql(&server.url("postgres"), "CREATE DATABASE appdb");
    let app = server.url("appdb");
    psql(
        &app,
        "CREATE TABLE sentinel (id int primary key, note text); INSERT INTO sentinel VALUES (1, 'production data')",
    );
    let checksum = || {
        let out = Command::new("pg_dump")
            .args(["--no-comments", "-d", &app])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let databases = psql(
            &app,
            "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database",
        );
        // pg_dump's \restrict lines carry a random key per run; everything else is the data.
        let dump: String = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n");
        (sha256_hex(dump.as_bytes()), databases)
    };
    let before = checksum();
    let repo = crisis();
    // With fixes and round trip: everything the replay does must land in its own database.
    append(
        repo.path(),
        "policy.toml",
        "\n[[emergency.script]]\npath = \"emergency_db_fix.py\"\nstatus = \"active\"\napplied-after = \"7f8091a2b3c4\"\nrun = \"python3 emergency_db_fix.py\"\nrollback = \"python3 emergency_db_fix.py --rollback\"\n",
    );
    let run = replay(
        repo.path(),
        &[
            "--backend",
            "url",
            "--database-url",
            &app,
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(!run.findings("F003").is_empty(), "{}", run.stdout);
    assert_no_password(&run);
    let after = checksum();
    assert_eq!(before.0, after.0, "the named database changed");
    assert_eq!(before.1, after.1, "scratch databases were left behind");
    assert_eq!(psql(&app, "SELECT note FROM sentinel"), "production data");
}
