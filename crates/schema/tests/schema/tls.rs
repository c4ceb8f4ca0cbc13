//! `sslmode=require` against a server that accepts TLS connections only, as managed PostgreSQL
//! services do. The test starts its own cluster (the shared test server speaks no TLS) with a
//! self-signed certificate; missing server binaries or openssl fail the test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use gate_schema::Snapshot;

fn bindir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    dirs.retain(|d| d.join("initdb").exists());
    dirs.sort();
    dirs.pop().unwrap_or_else(|| {
        panic!("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: apt-get install postgresql-15")
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a server binary, as the `postgres` user when we are root (postgres refuses root).
fn run(bin: &Path, args: &[&str]) {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let out = cmd.args(args).output().expect("run a PostgreSQL binary");
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

struct TlsServer {
    dir: tempfile::TempDir,
    port: u16,
}

impl TlsServer {
    fn start() -> TlsServer {
        let bin = bindir();
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        if is_root() {
            let ok = Command::new("chown")
                .args(["postgres", dir.path().to_str().unwrap()])
                .status()
                .expect("chown");
            assert!(ok.success());
        }
        run(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
            ],
        );
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(data.join("server.key"))
            .arg("-out")
            .arg(data.join("server.crt"))
            .output()
            .expect("openssl must be installed to make a test certificate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // TLS or nothing: plain TCP connections are rejected, as on managed services.
        std::fs::write(
            data.join("pg_hba.conf"),
            "hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&data)
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c ssl=on -c fsync=off",
            dir.path().display()
        );
        run(
            &bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                dir.path().join("log").to_str().unwrap(),
                "-w",
                "-o",
                &opts,
                "start",
            ],
        );
        TlsServer { dir, port }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        // No assertion here: a panic while a failed test unwinds would abort the run.
        let data = self.dir.path().join("data");
        let pg_ctl = bindir().join("pg_ctl");
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            c
        } else {
            Command::new(&pg_ctl)
        };
        let _ = cmd
            .args(["-D", data.to_str().unwrap_or(""), "-m", "immediate", "stop"])
            .output();
    }
}

#[tokio::test]
async fn sslmode_require_reads_a_server_that_demands_tls() {
    let server = TlsServer::start();
    let base = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);

    let snap = Snapshot::capture(&format!("{base}?sslmode=require"))
        .await
        .expect("snapshot over TLS");
    assert!(snap.schemas.contains_key("public"));
    assert!(snap.is_empty(&[]));

    let err = Snapshot::capture(&format!("{base}?sslmode=disable"))
        .await
        .expect_err("the server rejects plain connections");
    assert!(err.to_string().contains("cannot connect"), "{err}");
}
