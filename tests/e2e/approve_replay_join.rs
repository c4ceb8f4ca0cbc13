//! One report for the pull request (issue 11): `gate-replay --shard K/N` on the crisis
//! example's real fixes, then `gate-approve report --replay …` joining the shards and the
//! production path's captured SQL. Real git, real PostgreSQL (the test server), real Alembic.

use std::path::{Path, PathBuf};

use crate::support::alembic::CRISIS_HEAD;
use crate::support::approve::{LEAD, TODAY};
use crate::support::db::server_url;
use crate::support::repo::{DEV, Repo};
use crate::support::run::{REPLAY, Run, gate};
use crate::support::{copy_tree, sha256_hex, workspace_root};

const ENUM_FIX: &str = "emergency_enum_fix.py";
const DRIFT_FIX: &str = "deploy_emergency_database_fix.py";

/// A complete, approved entry for one of the crisis scripts.
fn entry(root: &Path, path: &str, applied_after: &str) -> String {
    let sha = sha256_hex(std::fs::read(root.join(path)).unwrap());
    format!(
        "\n[[emergency.script]]\npath = \"{path}\"\nsha256 = \"{sha}\"\nreason = \"production incident\"\nticket = \"INC-7\"\nauthor = \"{DEV}\"\napproved-by = \"{LEAD}\"\napproved-on = 2026-01-01\nconvert-by = 2026-01-10\nstatus = \"active\"\napplied-after = \"{applied_after}\"\nrun = \"python3 {path}\"\nrollback = \"python3 {path} --rollback\"\n"
    )
}

/// The crisis example with its enum fix (F001, F003) and its guarded fix at head (F004)
/// registered and approved in git: `gate-approve` alone finds nothing.
fn approved_crisis() -> Repo {
    let r = Repo::new();
    copy_tree(&workspace_root().join("examples/crisis"), &r.root);
    let mut policy = r.read("policy.toml");
    policy.push_str(&entry(&r.root, ENUM_FIX, "6e7f8091a2b3"));
    policy.push_str(&entry(&r.root, DRIFT_FIX, CRISIS_HEAD));
    // The developer writes the scripts and entries; the lead commits the approval.
    let unapproved = policy
        .replace(&format!("approved-by = \"{LEAD}\"\n"), "")
        .replace("approved-on = 2026-01-01\n", "");
    r.write("policy.toml", unapproved);
    r.commit_all_by(DEV, "Register the crisis fixes");
    r.write("policy.toml", policy);
    r.commit_all_by(
        LEAD,
        "Approve the crisis fixes\n\nApproved-by: Lee Lead <lead@example.com>\n",
    );
    r
}

/// gate-replay on the test server (url backend, no round trip), its JSON written to `out`.
fn replay_json(r: &Repo, extra: &[&str], out: &Path) -> Run {
    let url = server_url();
    let mut args = vec!["--backend", "url", "--database-url", url.as_str()];
    args.extend_from_slice(&["--no-roundtrip", "--format", "json"]);
    args.extend_from_slice(extra);
    let run = gate(REPLAY, &r.root, &args);
    std::fs::write(out, &run.stdout).unwrap();
    run
}

fn report(r: &Repo, replays: &[&PathBuf], format: &str) -> Run {
    let mut args: Vec<String> = vec!["--format".into(), format.into(), "report".into()];
    args.extend(["--today".into(), TODAY.into()]);
    for p in replays {
        args.push("--replay".into());
        args.push(p.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    r.approve(&args)
}

/// `(code, entry)` of every finding in a JSON report, sorted.
fn coded(run: &Run) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["entry"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn section<'a>(doc: &'a serde_json::Value, title: &str) -> Option<&'a serde_json::Value> {
    doc["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == title)
        .map(|s| &s["data"])
}

#[test]
fn shards_join_into_one_report_with_findings_styles_captures_and_a_missing_shard() {
    let r = approved_crisis();
    let out = r.tmp.path();
    let (full, s1, s2, prod) = (
        out.join("full.json"),
        out.join("shard1.json"),
        out.join("shard2.json"),
        out.join("production.json"),
    );

    // Without the replay, governance alone passes: the verdict below comes from the join.
    let alone = report(&r, &[], "json");
    assert_eq!(alone.code, 0, "{}", alone.all());

    let whole = replay_json(&r, &[], &full);
    assert_eq!(whole.code, 1, "{}", whole.all());
    let first = replay_json(&r, &["--shard", "1/2"], &s1);
    let second = replay_json(&r, &["--shard", "2/2"], &s2);
    assert_eq!(
        (first.code, second.code),
        (1, 1),
        "{}\n{}",
        first.all(),
        second.all()
    );

    // The slices: registry order, position % 2; chain-level checks in shard 1 only.
    let d1 = first.json();
    let d2 = second.json();
    assert_eq!(
        section(&d1, "Shard").unwrap()["fixes"],
        serde_json::json!([ENUM_FIX])
    );
    assert_eq!(
        section(&d2, "Shard").unwrap()["fixes"],
        serde_json::json!([DRIFT_FIX])
    );
    assert!(section(&d1, "Replay timings").is_some());
    assert!(
        section(&d2, "Replay timings").is_none(),
        "{}",
        second.stdout
    );
    // Together the shards find exactly what one unsharded replay finds.
    let mut union = coded(&first);
    union.extend(coded(&second));
    union.sort();
    assert_eq!(union, coded(&whole));
    // The fixes' findings (the example's chain-level notes, e.g. about its released
    // migrations on seeded rows, have no entry).
    let of_fixes: Vec<(String, String)> = union
        .into_iter()
        .filter(|(_, entry)| !entry.is_empty())
        .collect();
    assert_eq!(
        of_fixes,
        [
            ("F001".to_string(), ENUM_FIX.to_string()),
            ("F003".to_string(), ENUM_FIX.to_string()),
            ("F004".to_string(), DRIFT_FIX.to_string()),
        ]
    );

    let production = gate(
        REPLAY,
        &r.root,
        &[
            "--backend",
            "url",
            "--database-url",
            &server_url(),
            "--format",
            "json",
            "production",
        ],
    );
    std::fs::write(&prod, &production.stdout).unwrap();
    assert_eq!(production.code, 1, "{}", production.all());

    // One report: the replay's errors are the report's verdict.
    let joined = report(&r, &[&s1, &s2, &prod], "markdown");
    assert_eq!(joined.code, 1, "{}", joined.all());
    let md = &joined.stdout;
    let enum_row = md
        .lines()
        .find(|l| l.starts_with(&format!("| `{ENUM_FIX}` |")) && l.contains("**F003**"))
        .unwrap_or_else(|| panic!("no per-fix row for the enum fix:\n{md}"));
    assert!(enum_row.contains("**F001**"), "{enum_row}");
    assert!(enum_row.contains("gate-replay production"), "{enum_row}");
    assert!(
        enum_row.contains("ALTER TYPE userrole ADD VALUE"),
        "{enum_row}"
    );
    let drift_row = md
        .lines()
        .find(|l| l.starts_with(&format!("| `{DRIFT_FIX}` |")) && l.contains("**F004**"))
        .unwrap_or_else(|| panic!("no per-fix row for the drift fix:\n{md}"));
    assert!(drift_row.contains("is\\_verified"), "{drift_row}");
    // Both fix nodes are styled as errors and labelled with their replay codes.
    assert!(md.contains("replay: F001 F003"), "{md}");
    assert!(md.contains("replay: F004"), "{md}");
    let error_class = md
        .lines()
        .find(|l| l.trim_start().starts_with("class x_") && l.trim_end().ends_with(" error"))
        .unwrap_or_else(|| panic!("no error class line:\n{md}"));
    assert!(
        error_class.contains("x_emergency_5f_enum_5f_fix_2e_py"),
        "{error_class}"
    );
    assert!(
        error_class.contains("x_deploy_5f_emergency"),
        "{error_class}"
    );
    assert!(md.contains("shards 1, 2 of 2 given"), "{md}");

    // The JSON carries the join; the triage says it comes from the capture.
    let json = report(&r, &[&s1, &s2, &prod], "json").json();
    let per_fix = section(&json, "Replay per fix").unwrap();
    assert_eq!(per_fix[0]["path"], ENUM_FIX);
    assert_eq!(per_fix[0]["worst"], "error");
    assert_eq!(per_fix[0]["verified_in"], s1.display().to_string());
    assert!(per_fix[0]["ms"].as_u64().is_some(), "{per_fix}");
    let registry = section(&json, "Emergency fixes").unwrap();
    assert_eq!(registry[0]["triage_source"], "capture", "{registry}");
    let captured = registry[0]["captured"]["statements"][0]["commands"][0].clone();
    assert_eq!(captured["tag"], "ALTER TYPE", "{registry}");
    assert_eq!(captured["identity"], "public.userrole", "{registry}");

    // A missing shard is a finding, not silence.
    let partial = report(&r, &[&s1], "json");
    assert_eq!(partial.code, 1, "{}", partial.all());
    let r010 = partial.findings("R010");
    assert_eq!(r010.len(), 1, "{}", partial.stdout);
    assert_eq!(r010[0]["entry"], DRIFT_FIX);
    assert!(
        r010[0]["message"]
            .as_str()
            .unwrap()
            .contains("shard 2/2 is missing"),
        "{}",
        r010[0]
    );
    // Shard 2 alone: shard 1's chain-level checks are missing too.
    let other = report(&r, &[&s2], "json");
    let messages: Vec<String> = other
        .findings("R010")
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("chain-level checks")),
        "{messages:?}"
    );

    // The same fix in two files is an error, not a double count.
    let twice = report(&r, &[&s1, &full], "text");
    assert_eq!(twice.code, 2, "{}", twice.all());
    assert!(twice.stderr.contains(ENUM_FIX), "{}", twice.stderr);
}

/// A minimal gate-replay document of shard `k` of `n` covering `fixes`.
fn shard_doc(k: u32, n: u32, fixes: &[&str], all: &[&str]) -> String {
    serde_json::json!({
        "version": 1, "tool": "gate-replay", "subject": "x",
        "summary": {"errors": 0, "warnings": 0, "notes": 0, "passed": true},
        "findings": [],
        "sections": [{"title": "Shard", "data": {"shard": k, "of": n, "fixes": fixes, "all_fixes": all}}],
    })
    .to_string()
}

#[test]
fn bad_replay_files_exit_2_naming_the_file_and_write_nothing() {
    let r = approved_crisis();
    let dir = r.tmp.path();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let broken = write(
        "broken.json",
        "{\n  \"version\": 1,\n  \"tool\": gate-replay\n}\n",
    );
    let run = report(&r, &[&broken], "text");
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("broken.json:3:"), "{}", run.stderr);

    let own = write("approve.json", &report(&r, &[], "json").stdout);
    let run = report(&r, &[&own], "text");
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("approve.json") && run.stderr.contains("`gate-approve`"),
        "{}",
        run.stderr
    );

    let failed = write(
        "failed.json",
        &gate(REPLAY, &r.root, &["--format", "json", "--shard", "0/2"]).stdout,
    );
    let run = report(&r, &[&failed], "text");
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(run.stderr.contains("could not check"), "{}", run.stderr);

    let missing = dir.join("nowhere.json");
    let run = report(&r, &[&missing], "json");
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stdout.contains("nowhere.json"),
        "the JSON error names it: {}",
        run.stdout
    );

    // Shards of different matrices, or one shard twice.
    let all = [ENUM_FIX, DRIFT_FIX];
    let a = write("a.json", &shard_doc(1, 2, &[ENUM_FIX], &all));
    let b = write("b.json", &shard_doc(2, 3, &[DRIFT_FIX], &all));
    let again = write("again.json", &shard_doc(1, 2, &[], &all));
    for (x, y) in [(&a, &b), (&a, &again)] {
        let run = report(&r, &[x, y], "text");
        assert_eq!(run.code, 2, "{}", run.all());
    }

    // register --replay with a bad file leaves policy.toml as it was.
    r.write(
        "fix_more.py",
        "print('ALTER TABLE users ADD COLUMN x int')\n",
    );
    let before = r.read("policy.toml");
    let run = r.approve(&[
        "register",
        "fix_more.py",
        "--reason",
        "x",
        "--ticket",
        "INC-9",
        "--replay",
        broken.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert_eq!(r.read("policy.toml"), before);
}

#[test]
fn shard_out_of_range_is_exit_2() {
    let r = approved_crisis();
    for bad in ["0/2", "3/2", "1/0", "two"] {
        let run = gate(REPLAY, &r.root, &["--shard", bad]);
        assert_eq!(run.code, 2, "--shard {bad}: {}", run.all());
        assert!(run.stderr.contains("--shard"), "{}", run.stderr);
    }
}

/// Issue 10: where a replay captured what a fix executed, `baseline` and `register` show that
/// instead of the guess from the text, and say which one they show.
#[test]
fn baseline_and_register_triage_from_the_capture_and_name_the_source() {
    let r = Repo::with_policy(&crate::support::approve::policy("", ""));
    // The text hides its SQL (built at run time): the guess can only say "unknown".
    r.write(
        "fix_orders_emergency.py",
        "import os\nsql = 'ALTER ' + 'TABLE orders ADD COLUMN note text'\n",
    );
    r.write(
        "fix_other_emergency.py",
        "print('ALTER TABLE users ADD COLUMN x int')\n",
    );
    r.commit_all_by(DEV, "scripts");
    let capture = serde_json::json!({
        "version": 1, "tool": "gate-replay", "subject": "production path",
        "summary": {"errors": 0, "warnings": 0, "notes": 0, "passed": true},
        "findings": [],
        "sections": [{"title": "Production path", "data": {"steps": [
            {"step": 1, "kind": "fix", "name": "fix_orders_emergency.py", "result": "applied",
             "captured": [{"query": "ALTER TABLE orders ADD COLUMN note text",
                           "commands": [{"tag": "ALTER TABLE", "object_type": "table", "identity": "public.orders"}]}]}
        ]}}],
    });
    let file = r.tmp.path().join("production.json");
    std::fs::write(&file, capture.to_string()).unwrap();

    let run = r.approve(&[
        "--format",
        "json",
        "baseline",
        "--replay",
        file.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    let doc = run.json();
    let rows = section(&doc, "Registered")
        .unwrap()
        .as_array()
        .unwrap()
        .clone();
    let row = |p: &str| rows.iter().find(|x| x["path"] == p).cloned().unwrap();
    let captured = row("fix_orders_emergency.py");
    assert_eq!(captured["triage_source"], "capture", "{captured}");
    let text = captured["triage_text"].as_str().unwrap();
    assert!(
        text.starts_with("captured by gate-replay production ("),
        "{text}"
    );
    assert!(text.contains("ALTER TABLE public.orders"), "{text}");
    let guessed = row("fix_other_emergency.py");
    assert_eq!(guessed["triage_source"], "text", "{guessed}");
    assert!(
        guessed["triage_text"]
            .as_str()
            .unwrap()
            .starts_with("from the text: "),
        "{guessed}"
    );

    let run = r.approve(&[
        "register",
        "fix_orders_emergency.py",
        "--update",
        "--replay",
        file.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout
            .contains("triage (capture): captured by gate-replay production ("),
        "{}",
        run.stdout
    );

    // The reviewers' report says the same per row.
    let report = r.approve(&[
        "--format",
        "json",
        "report",
        "--today",
        TODAY,
        "--replay",
        file.to_str().unwrap(),
    ]);
    let registry = section(&report.json(), "Emergency fixes").unwrap().clone();
    let orders = registry
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["path"] == "fix_orders_emergency.py")
        .cloned()
        .unwrap();
    assert_eq!(orders["triage_source"], "capture", "{orders}");
}
