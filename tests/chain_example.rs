//! `gate-replay chain` on examples/crisis says what the crisis plan says: head a0a2f1ab72ce,
//! 13 migrations — and so does real Alembic on the same folder.

use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        let dst = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

#[test]
fn crisis_example_head_and_count() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/crisis");
    assert!(
        src.join("policy.toml").is_file(),
        "examples/crisis is missing"
    );
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&src, dir.path());
    assert!(
        Command::new("git")
            .args(["init", "-q"])
            .current_dir(dir.path())
            .status()
            .unwrap()
            .success()
    );

    let out = Command::new(env!("CARGO_BIN_EXE_gate-replay"))
        .args(["chain", "--format", "json"])
        .current_dir(dir.path())
        .env_remove("GATE_POLICY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let data = v["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Chain")
        .unwrap()["data"]
        .clone();
    assert_eq!(data["heads"], serde_json::json!(["a0a2f1ab72ce"]));
    assert_eq!(data["count"], 13);
    let order = data["order"].as_array().unwrap();
    assert_eq!(order.last().unwrap()["id"], "a0a2f1ab72ce");

    let text = Command::new(env!("CARGO_BIN_EXE_gate-replay"))
        .arg("chain")
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("GATE_POLICY")
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&text.stdout);
    assert!(
        t.contains("head: a0a2f1ab72ce\n") && t.contains("migrations: 13\n"),
        "{t}"
    );

    // Real Alembic agrees.
    let alembic = Command::new("python3")
        .args(["-m", "alembic", "-c", "alembic.ini", "heads"])
        .current_dir(dir.path())
        .output()
        .expect("python3 with alembic is required");
    let heads = String::from_utf8_lossy(&alembic.stdout);
    assert!(
        alembic.status.success(),
        "{}",
        String::from_utf8_lossy(&alembic.stderr)
    );
    assert_eq!(
        heads.split_whitespace().next(),
        Some("a0a2f1ab72ce"),
        "{heads}"
    );
}
