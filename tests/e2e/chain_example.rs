//! `gate-replay chain` on examples/crisis says what the crisis plan says: head a0a2f1ab72ce,
//! 13 migrations — and so does real Alembic on the same folder.

use crate::support::alembic::{crisis, run_alembic_heads};
use crate::support::run::{REPLAY, gate};
use crate::support::workspace_root;

#[test]
fn crisis_example_head_and_count() {
    assert!(
        workspace_root()
            .join("examples/crisis/policy.toml")
            .is_file(),
        "examples/crisis is missing"
    );
    let dir = crisis();

    let out = gate(REPLAY, dir.path(), &["chain", "--format", "json"]);
    assert!(out.code == 0 || out.code == 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
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

    let text = gate(REPLAY, dir.path(), &["chain"]);
    let t = &text.stdout;
    assert!(
        t.contains("head: a0a2f1ab72ce\n") && t.contains("migrations: 13\n"),
        "{t}"
    );

    // Real Alembic agrees.
    let alembic = run_alembic_heads(dir.path());
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
