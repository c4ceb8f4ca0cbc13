//! Property test (issue 9): every numeric policy key and every numeric flag of the three
//! gates, drawn from a mix of extremes and arbitrary values, ends in exit 0, 1 or 2 on a real
//! git repository, never a panic. Replays cannot start a database: the url backend points at
//! a closed port on the loopback (refused at once), and `chain` reads files only.

use crate::support::repo::*;
#[allow(unused_imports)]
use crate::support::run::PRECOMMIT as BIN;
use crate::support::run::*;
use std::process::Stdio;

use proptest::prelude::*;

const APPROVE: &str = env!("CARGO_BIN_EXE_gate-approve");
const REPLAY: &str = env!("CARGO_BIN_EXE_gate-replay");
/// Nothing listens on port 1: the url backend fails to connect, exit 2, no server started.
const CLOSED: &str = "postgresql://nobody:pw@127.0.0.1:1/none";

/// The numeric policy keys, by table.
const KEYS: &[(&str, &str)] = &[
    ("migrations", "max-heads"),
    ("governance", "convert-within-days"),
    ("replay", "slow-ms"),
    ("replay", "timeout-s"),
];

/// A value as written in TOML or on the command line: the extremes (0, ±1, integer bounds,
/// 2^32±1, the policy's own bounds), huge digit strings, floats, and arbitrary integers.
fn number() -> impl Strategy<Value = String> {
    let extremes = prop::sample::select(vec![
        "0",
        "1",
        "-1",
        "36500",
        "36501",
        "604800",
        "604801",
        "1000000",
        "1000001",
        "4294967295",
        "4294967296",
        "4294967297",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "1.5",
        "-0.0",
        "1e308",
        "inf",
        "nan",
    ])
    .prop_map(str::to_string);
    prop_oneof![
        3 => extremes,
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:?}")),
        1 => "-?[1-9][0-9]{19,40}",
    ]
}

fn policy(values: &[String]) -> String {
    let mut sections: Vec<(&str, Vec<String>)> = Vec::new();
    for ((table, key), value) in KEYS.iter().zip(values) {
        let line = format!("{key} = {value}");
        match sections.iter_mut().find(|(t, _)| t == table) {
            Some((_, lines)) => lines.push(line),
            None => sections.push((table, vec![line])),
        }
    }
    let mut text = "version = 1\n".to_string();
    for (table, lines) in sections {
        text.push_str(&format!("\n[{table}]\n{}\n", lines.join("\n")));
    }
    // An approved entry, so the deadline arithmetic (approved-on + days) runs.
    text.push_str("\n[[emergency.script]]\npath = \"emergency_fix.py\"\nreason = \"r\"\nticket = \"INC-1\"\nauthor = \"dev@example.com\"\napproved-by = \"lead@example.com\"\napproved-on = 2025-01-01\nconvert-by = 2025-01-10\nrollback = \"true\"\n");
    text
}

fn assert_contract(what: &str, run: &Run) -> Result<(), TestCaseError> {
    prop_assert!(
        (0..=2).contains(&run.code) && !run.stderr.contains("panicked"),
        "{what} exited {}: {run}",
        run.code
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        // Failures are reported with their inputs; no regression file in the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn numeric_keys_and_flags_never_escape_the_exit_contract(
        keys in prop::collection::vec(number(), KEYS.len()),
        timeout in number(),
        hold in number(),
        databases in number(),
        ready in number(),
    ) {
        let text = policy(&keys);
        let repo = Repo::with_policy(&text);
        repo.write("emergency_fix.py", b"print(1)\n");
        repo.git(&["add", "."]);
        repo.commit("adopt");
        let shown = format!("policy:\n{text}");
        let mut precommit = repo.cmd(BIN);
        precommit.arg("--all");
        let mut approve = repo.cmd(APPROVE);
        approve.args(["check", "--today", "2025-01-05"]);
        let mut chain = repo.cmd(REPLAY);
        chain.arg("chain");
        let mut replay = repo.cmd(REPLAY);
        replay
            .args(["--backend", "url", "--database-url", CLOSED])
            .arg(format!("--timeout={timeout}"));
        let mut smoke = repo.cmd(REPLAY);
        smoke
            .args(["backend-smoke", "--backend", "url", "--database-url", CLOSED])
            .arg(format!("--hold-seconds={hold}"))
            .arg(format!("--databases={databases}"))
            .arg(format!("--ready-timeout-s={ready}"));
        let runs = [
            (format!("gate-precommit --all, {shown}"), precommit),
            (format!("gate-approve check, {shown}"), approve),
            (format!("gate-replay chain, {shown}"), chain),
            (format!("gate-replay --timeout={timeout}, {shown}"), replay),
            (
                format!("gate-replay backend-smoke --hold-seconds={hold} --databases={databases} --ready-timeout-s={ready}"),
                smoke,
            ),
        ];
        // All five at once: they only read the repository, and a case stays under a second.
        let children: Vec<(String, std::process::Child)> = runs
            .into_iter()
            .map(|(what, mut cmd)| {
                cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
                (what, cmd.spawn().expect("gate binary starts"))
            })
            .collect();
        for (what, child) in children {
            let run = Run::from(child.wait_with_output().expect("gate binary runs"));
            assert_contract(&what, &run)?;
        }
    }
}
