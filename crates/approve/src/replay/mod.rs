//! `--replay FILE` (repeatable): the findings, timings and captured SQL of `gate-replay` runs
//! joined per fix into gate-approve's report and triage, so reviewers read one report.
//!
//! Shards of one `gate-replay --shard K/N` matrix merge into one set: findings de-duplicated,
//! a fix verified in two files is an error (exit 2), and a missing shard is an `R010` finding
//! per fix it would have verified, never silence.

mod load;
mod sections;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use gate_policy::{Policy, Script, ScriptStatus};
use gate_report::{Code, Finding, Severity};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use load::{ReplayFile, ReplayFileError};
pub use sections::{fix_section, replay_section};

/// One object a captured statement created, altered or dropped (gate-replay's capture.rs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedCommand {
    pub tag: String,
    #[serde(default)]
    pub object_type: String,
    #[serde(default)]
    pub identity: String,
}

/// One statement a fix really executed, as the scratch server saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedStatement {
    pub query: String,
    #[serde(default)]
    pub commands: Vec<CapturedCommand>,
}

/// What a replay captured for one fix, and where that came from.
#[derive(Debug, Clone, Serialize)]
pub struct Capture {
    /// `gate-replay production (prod.json)`: the run and the file.
    pub source: String,
    /// `None` when the capture was unavailable (`unavailable` says why).
    pub statements: Option<Vec<CapturedStatement>>,
    pub unavailable: Option<String>,
}

impl Capture {
    /// One line for a triage cell: what the fix really did, and the source.
    pub fn summary(&self) -> String {
        let Some(statements) = &self.statements else {
            return format!(
                "not captured by {}: {}",
                self.source,
                self.unavailable.as_deref().unwrap_or("unknown reason")
            );
        };
        if statements.is_empty() {
            return format!("captured by {}: no statement took effect", self.source);
        }
        let mut did: Vec<String> = Vec::new();
        for c in statements.iter().flat_map(|s| &s.commands) {
            let one = format!("{} {}", c.tag, c.identity).trim().to_string();
            if !did.contains(&one) {
                did.push(one);
            }
        }
        format!(
            "captured by {}: {} statement{}: {}",
            self.source,
            statements.len(),
            if statements.len() == 1 { "" } else { "s" },
            did.join(", ")
        )
    }
}

/// What the replays say about one fix besides its findings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FixReplay {
    /// The file whose run verified it.
    pub verified_in: Option<String>,
    pub checks: Vec<String>,
    pub ms: Option<u64>,
    pub capture: Option<Capture>,
}

/// The shards of one matrix that were given.
#[derive(Debug, Clone, Serialize)]
pub struct Shards {
    pub of: u32,
    /// Shard index -> the file that carried it.
    pub seen: BTreeMap<u32, String>,
    /// Every fix the matrix slices, in registry order (the slicing's positions).
    pub all_fixes: Vec<String>,
}

impl Shards {
    pub fn missing(&self) -> Vec<u32> {
        (1..=self.of)
            .filter(|k| !self.seen.contains_key(k))
            .collect()
    }

    /// The fixes shard `k` verifies: position % N == k - 1, as gate-replay slices them.
    fn fixes_of(&self, k: u32) -> Vec<&str> {
        let n = self.of as usize;
        let want = (k - 1) as usize;
        self.all_fixes
            .iter()
            .enumerate()
            .filter(|(i, _)| i % n == want)
            .map(|(_, f)| f.as_str())
            .collect()
    }
}

/// Every `--replay` file, joined.
#[derive(Debug, Clone, Default)]
pub struct Joined {
    pub files: Vec<String>,
    /// Replay findings (de-duplicated) and the join's own R010s.
    pub findings: Vec<Finding>,
    pub fixes: BTreeMap<String, FixReplay>,
    pub shards: Option<Shards>,
    /// The `Replay timings` section of the run with the chain-level checks.
    pub timings: Option<Value>,
    /// Fix -> the file whose run verified it (a second one is an error).
    covered: BTreeMap<String, PathBuf>,
    /// Whether some file verified fixes at all (a `gate-replay production` run does not).
    verifies_fixes: bool,
}

impl Joined {
    /// Read, validate and merge `paths`; `None` when none was given.
    pub fn read(paths: &[PathBuf]) -> Result<Option<Joined>, ReplayFileError> {
        if paths.is_empty() {
            return Ok(None);
        }
        let mut joined = Joined::default();
        for p in paths {
            joined.add(ReplayFile::read(p)?)?;
        }
        Ok(Some(joined))
    }

    fn add(&mut self, file: ReplayFile) -> Result<(), ReplayFileError> {
        let name = file.path.display().to_string();
        self.add_shard(&file)?;
        self.add_coverage(&file)?;
        self.add_captures(&file, &name);
        if self.timings.is_none() {
            self.timings = file.section("Replay timings").cloned();
        }
        for f in file.findings {
            if !self.findings.contains(&f) {
                self.findings.push(f);
            }
        }
        self.files.push(name);
        Ok(())
    }

    /// The file's `Shard` section against the shards seen so far: one matrix, each shard once.
    fn add_shard(&mut self, file: &ReplayFile) -> Result<(), ReplayFileError> {
        let Some(data) = file.section("Shard") else {
            return Ok(());
        };
        let number = |k: &str| data[k].as_u64().and_then(|v| u32::try_from(v).ok());
        let (Some(k), Some(n)) = (number("shard"), number("of")) else {
            return Err(ReplayFileError::Shape {
                path: file.path.clone(),
                what: "its Shard section has no shard/of numbers".into(),
            });
        };
        let all_fixes = strings(&data["all_fixes"]);
        let Some(shards) = &mut self.shards else {
            self.shards = Some(Shards {
                of: n,
                seen: BTreeMap::from([(k, file.path.display().to_string())]),
                all_fixes,
            });
            return Ok(());
        };
        let first = shards.seen.values().next().map(PathBuf::from);
        let not_one_run = |what: String| ReplayFileError::NotOneRun {
            first: first.clone().unwrap_or_default(),
            second: file.path.clone(),
            what,
        };
        if shards.of != n {
            return Err(not_one_run(format!("shard counts {} and {n}", shards.of)));
        }
        if shards.all_fixes != all_fixes {
            return Err(not_one_run("their registries list different fixes".into()));
        }
        if let Some(other) = shards.seen.get(&k) {
            return Err(ReplayFileError::NotOneRun {
                first: PathBuf::from(other),
                second: file.path.clone(),
                what: format!("both are shard {k}/{n}"),
            });
        }
        shards.seen.insert(k, file.path.display().to_string());
        Ok(())
    }

    /// The fixes the file's run verified: its shard's slice, or every row of its
    /// `Emergency fixes` section; each fix in one file only.
    fn add_coverage(&mut self, file: &ReplayFile) -> Result<(), ReplayFileError> {
        let rows = file
            .section("Emergency fixes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut verified: BTreeSet<String> = match file.section("Shard") {
            Some(data) => strings(&data["fixes"]).into_iter().collect(),
            None => rows
                .iter()
                .filter_map(|r| r["path"].as_str())
                .map(str::to_string)
                .collect(),
        };
        verified.extend(
            rows.iter()
                .filter_map(|r| r["path"].as_str())
                .map(str::to_string),
        );
        if file.section("Shard").is_some() || file.section("Emergency fixes").is_some() {
            self.verifies_fixes = true;
        }
        for fix in verified {
            if let Some(first) = self.covered.get(&fix) {
                return Err(ReplayFileError::FixInTwo {
                    fix,
                    first: first.clone(),
                    second: file.path.clone(),
                });
            }
            self.covered.insert(fix.clone(), file.path.clone());
            let entry = self.fixes.entry(fix.clone()).or_default();
            entry.verified_in = Some(file.path.display().to_string());
            if let Some(row) = rows
                .iter()
                .find(|r| r["path"].as_str() == Some(fix.as_str()))
            {
                entry.checks = strings(&row["checks"]);
                entry.ms = row["ms"].as_u64();
            }
        }
        Ok(())
    }

    /// Captured statements: each fix step of a `Production path`, and any `captured` on a
    /// row of `Emergency fixes`. The first capture of a fix wins; its source says which.
    fn add_captures(&mut self, file: &ReplayFile, name: &str) {
        let steps = file
            .section("Production path")
            .and_then(|d| d["steps"].as_array())
            .into_iter()
            .flatten()
            .filter(|s| s["kind"] == "fix")
            .map(|s| (s, format!("gate-replay production ({name})")));
        let rows = file
            .section("Emergency fixes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|r| (r, format!("gate-replay fix checks ({name})")));
        for (item, source) in steps.chain(rows) {
            let fix = item["name"].as_str().or_else(|| item["path"].as_str());
            let (Some(fix), Some(capture)) = (fix, capture_of(item, source)) else {
                continue;
            };
            let entry = self.fixes.entry(fix.to_string()).or_default();
            if entry.capture.is_none() {
                entry.capture = Some(capture);
            }
        }
    }

    pub fn capture_of(&self, fix: &str) -> Option<&Capture> {
        self.fixes.get(fix).and_then(|f| f.capture.as_ref())
    }

    /// The findings about `fix`: by their entry, or located at the fix's own file.
    pub fn findings_of<'a>(&'a self, fix: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| about(f, fix))
    }

    /// The worst severity among the findings about `fix`.
    pub fn worst(&self, fix: &str) -> Option<Severity> {
        self.findings_of(fix).map(|f| f.severity).min()
    }

    /// Findings about no fix of `fixes`: the chain-level ones.
    pub fn chain_findings<'a>(&'a self, fixes: &'a [String]) -> Vec<&'a Finding> {
        self.findings
            .iter()
            .filter(|f| !fixes.iter().any(|fix| about(f, fix)))
            .collect()
    }

    /// R010 for each fix of a missing shard (and for shard 1's chain-level checks), and for
    /// each fix the policy registers that no given replay verified.
    pub fn add_completeness(&mut self, policy: &Policy) {
        let mut missing_fixes: BTreeSet<String> = BTreeSet::new();
        let mut found = Vec::new();
        if let Some(shards) = &self.shards {
            let given = self.files.join(", ");
            for k in shards.missing() {
                let slice = shards.fixes_of(k);
                found.extend(missing_shard(k, shards.of, &slice, &given));
                missing_fixes.extend(slice.iter().map(|s| s.to_string()));
            }
        }
        if self.verifies_fixes {
            for s in verifiable(policy) {
                if !self.covered.contains_key(&s.path) && !missing_fixes.contains(&s.path) {
                    found.push(
                        Finding::new(
                            Code::R010,
                            format!(
                                "{}: no --replay report verified this fix (it was registered after the replay ran, or the replay skipped it)",
                                s.path
                            ),
                        )
                        .entry(s.path.clone())
                        .help("Run gate-replay on this commit and pass its JSON (every shard's) with --replay."),
                    );
                }
            }
        }
        self.findings.extend(found);
    }
}

/// The R010s of one missing shard.
fn missing_shard(k: u32, n: u32, slice: &[&str], given: &str) -> Vec<Finding> {
    let help = "Pass the JSON of every shard of the matrix with --replay (a shard job failed or its artifact was not downloaded).";
    let mut out: Vec<Finding> = slice
        .iter()
        .map(|fix| {
            Finding::new(
                Code::R010,
                format!(
                    "{fix}: not verified: shard {k}/{n} is missing from --replay (given: {given})"
                ),
            )
            .entry(fix.to_string())
            .help(help)
        })
        .collect();
    if k == 1 || slice.is_empty() {
        let what = if k == 1 {
            "the chain-level checks (upgrade from empty, heads, drift, round trip) were not joined"
        } else {
            "it had no fix to verify"
        };
        out.push(
            Finding::new(
                Code::R010,
                format!("shard {k}/{n} is missing from --replay (given: {given}): {what}"),
            )
            .help(help),
        );
    }
    out
}

/// Whether `f` is about the registry entry `fix`.
fn about(f: &Finding, fix: &str) -> bool {
    match &f.entry {
        Some(e) => e == fix,
        None => f.path.as_deref() == Some(fix),
    }
}

/// The entries gate-replay verifies (with `run` or `sql`, not retired), in registry order.
fn verifiable(policy: &Policy) -> impl Iterator<Item = &Script> {
    policy
        .emergency
        .scripts
        .iter()
        .filter(|s| s.run.is_some() || s.sql.is_some())
        .filter(|s| s.status != ScriptStatus::Retired)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The capture on a path step or fix row: `captured` (a list, or null with
/// `capture_unavailable`); `None` when the item carries none.
fn capture_of(item: &Value, source: String) -> Option<Capture> {
    if let Some(why) = item["capture_unavailable"].as_str() {
        return Some(Capture {
            source,
            statements: None,
            unavailable: Some(why.to_string()),
        });
    }
    let statements: Vec<CapturedStatement> =
        serde_json::from_value(item.get("captured")?.clone()).ok()?;
    Some(Capture {
        source,
        statements: Some(statements),
        unavailable: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The join recomputes a missing shard's slice: it must be gate-replay's
    /// (`position % N == K - 1` over the registry's verifiable fixes).
    #[test]
    fn a_missing_shard_names_the_fixes_gate_replay_would_have_given_it() {
        let shards = Shards {
            of: 2,
            seen: BTreeMap::from([(1, "s1.json".to_string())]),
            all_fixes: ["a.sql", "b.sql", "c.sql"].map(String::from).to_vec(),
        };
        assert_eq!(shards.missing(), [2]);
        assert_eq!(shards.fixes_of(1), ["a.sql", "c.sql"]);
        assert_eq!(shards.fixes_of(2), ["b.sql"]);
        let found = missing_shard(2, 2, &shards.fixes_of(2), "s1.json");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].code, Code::R010);
        assert_eq!(found[0].entry.as_deref(), Some("b.sql"));
        // Shard 1 also carried the chain-level checks: one more finding says so.
        assert_eq!(missing_shard(1, 2, &shards.fixes_of(1), "s2.json").len(), 3);
    }

    #[test]
    fn a_capture_summary_names_each_object_once_and_its_source() {
        let command = |tag: &str, id: &str| CapturedCommand {
            tag: tag.into(),
            object_type: "table".into(),
            identity: id.into(),
        };
        let c = Capture {
            source: "gate-replay production (p.json)".into(),
            statements: Some(vec![
                CapturedStatement {
                    query: "ALTER TABLE users ADD x int".into(),
                    commands: vec![command("ALTER TABLE", "public.users")],
                },
                CapturedStatement {
                    query: "ALTER TABLE users ADD y int".into(),
                    commands: vec![command("ALTER TABLE", "public.users")],
                },
            ]),
            unavailable: None,
        };
        assert_eq!(
            c.summary(),
            "captured by gate-replay production (p.json): 2 statements: ALTER TABLE public.users"
        );
        let none = Capture {
            statements: None,
            unavailable: Some("must be superuser to create an event trigger".into()),
            ..c
        };
        assert!(
            none.summary()
                .starts_with("not captured by gate-replay production")
        );
    }
}
