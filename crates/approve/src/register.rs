//! `register` and `baseline`: write registry entries through the policy editor, which keeps
//! the file's comments and layout and replaces it atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use gate_cli::Workspace;
use gate_policy::edit::{EditValue, PolicyEditor};
use gate_policy::{Policy, ScriptStatus};
use gate_report::{Report, Section};
use serde_json::json;

use crate::check::sha256_hex;
use crate::replay::Joined;
use crate::triage::{Triage, triage};

#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    /// The emergency script, inside the repository
    path: PathBuf,
    /// Why the fix was needed (the incident, what broke)
    #[arg(long)]
    reason: Option<String>,
    /// Incident or ops ticket (must match governance.ticket)
    #[arg(long)]
    ticket: Option<String>,
    /// The technical lead approving it (sets approved-by and approved-on = today)
    #[arg(long, value_name = "EMAIL")]
    approver: Option<String>,
    /// Revision production was at when the fix ran
    #[arg(long, value_name = "REV")]
    applied_after: Option<String>,
    /// Command that applies the fix to $DATABASE_URL
    #[arg(long, value_name = "CMD", conflicts_with = "sql")]
    run: Option<String>,
    /// Command that rolls the fix back
    #[arg(long, value_name = "CMD")]
    rollback: Option<String>,
    /// SQL file that applies the fix (instead of --run)
    #[arg(long, value_name = "FILE")]
    sql: Option<String>,
    /// The path is registered already: re-pin its sha256 and set the given fields; clears
    /// approved-by / approved-on, since an edited script needs approval again
    #[arg(long)]
    update: bool,
    #[command(flatten)]
    replay: crate::ReplayArg,
}

/// The script's path relative to the repository root, refusing anything outside it. A
/// relative path is read from `--repo DIR` when given (as `git -C DIR` does), else from the
/// current folder.
fn repo_path(root: &Path, repo_arg: Option<&Path>, given: &Path) -> anyhow::Result<String> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let (base, from) = match repo_arg {
        Some(dir) => (cwd.join(dir), "--repo"),
        None => (cwd, "the current folder"),
    };
    // `join` keeps an absolute `given` as it is.
    let abs = base.join(given);
    let real = abs.canonicalize().with_context(|| {
        format!(
            "{} does not exist; register an existing script (relative paths are read from {from}, {})",
            given.display(),
            base.display()
        )
    })?;
    if !real.is_file() {
        bail!(
            "{} is not a file; register the script file itself",
            given.display()
        );
    }
    let Ok(rel) = real.strip_prefix(root) else {
        bail!(
            "{} is outside the repository {}; emergency scripts must live in the repository to be registered",
            given.display(),
            root.display()
        );
    };
    Ok(rel.to_string_lossy().replace('\\', "/"))
}

fn git_email(ws: &Workspace) -> anyhow::Result<String> {
    ws.repo
        .config()
        .and_then(|c| c.get_string("user.email"))
        .ok()
        .filter(|e| !e.trim().is_empty())
        .context("git config user.email is not set; set it (`git config user.email you@example.com`): it is recorded as the script's author")
}

fn editor(ws: &Workspace, policy_path: &Path) -> anyhow::Result<PolicyEditor> {
    let mut ed = PolicyEditor::open(policy_path)?;
    ed.set_repo_root(&ws.root);
    Ok(ed)
}

fn s(v: &str) -> EditValue {
    EditValue::Str(v.to_string())
}

// A command: its confirmation is the CLI's output (it ignores --format: issue 13).
#[allow(clippy::disallowed_macros)]
pub fn register(
    ws: &Workspace,
    repo_arg: Option<&Path>,
    policy: &Policy,
    policy_path: &Path,
    today: NaiveDate,
    args: &RegisterArgs,
) -> anyhow::Result<ExitCode> {
    let rel = repo_path(&ws.root, repo_arg, &args.path)?;
    let bytes = std::fs::read(ws.root.join(&rel)).with_context(|| format!("cannot read {rel}"))?;
    // Read before anything is written: a bad --replay file leaves the policy untouched.
    let joined = args.replay.join(policy)?;
    let sha = sha256_hex(&bytes);
    let gov = &policy.governance;
    if let Some(a) = &args.approver
        && !gov.approvers.iter().any(|x| x.eq_ignore_ascii_case(a))
    {
        bail!(
            "--approver {a} is not in governance.approvers ({}); ask a listed technical lead",
            if gov.approvers.is_empty() {
                "empty".to_string()
            } else {
                gov.approvers.join(", ")
            }
        );
    }
    let existing = policy.emergency.script(&rel);
    let mut ed = editor(ws, policy_path)?;
    let mut optional = Vec::new();
    if let Some(v) = &args.applied_after {
        optional.push(("applied-after", s(v)));
    }
    if let Some(v) = &args.run {
        optional.push(("run", s(v)));
    }
    if let Some(v) = &args.sql {
        optional.push(("sql", s(v)));
    }
    if let Some(v) = &args.rollback {
        optional.push(("rollback", s(v)));
    }
    let written: Vec<(&str, EditValue)> = if args.update {
        let Some(entry) = existing else {
            bail!("`{rel}` is not registered; register it without --update first");
        };
        let mut fields = vec![("sha256", s(&sha))];
        if let Some(v) = &args.reason {
            fields.push(("reason", s(v)));
        }
        if let Some(v) = &args.ticket {
            fields.push(("ticket", s(v)));
        }
        if let Some(a) = &args.approver {
            fields.push(("approved-by", s(a)));
            fields.push(("approved-on", EditValue::Date(today)));
        }
        fields.extend(optional);
        ed.set_fields(&rel, &fields)?;
        // `run` and `sql` are alternatives: setting one drops the other.
        if args.sql.is_some() {
            ed.remove_fields(&rel, &["run"])?;
        }
        if args.run.is_some() {
            ed.remove_fields(&rel, &["sql"])?;
        }
        let content_changed = entry.sha256.as_deref() != Some(sha.as_str());
        if args.approver.is_none() && entry.status != ScriptStatus::Legacy {
            // The approval covered other values; it has to be given again.
            ed.remove_fields(&rel, &["approved-by", "approved-on"])?;
        }
        ed.save()?;
        println!(
            "updated `{rel}` in {}: sha256 = {sha}{}",
            policy_path.display(),
            if content_changed {
                " (content changed)"
            } else {
                ""
            }
        );
        fields
    } else {
        if existing.is_some() {
            eprintln!(
                "error: `{rel}` is already registered in {}; use `gate-approve register {rel} --update` to re-pin it after an edit",
                policy_path.display()
            );
            return Ok(ExitCode::from(2));
        }
        let (Some(reason), Some(ticket)) = (&args.reason, &args.ticket) else {
            bail!("registering `{rel}` needs --reason \"what broke\" and --ticket INC-123");
        };
        if !gov.ticket.is_match(ticket) {
            bail!(
                "--ticket `{ticket}` does not match governance.ticket `{}`; use the incident or ops ticket id",
                gov.ticket.as_str()
            );
        }
        let author = git_email(ws)?;
        // Approved or not, the clock starts today: approved-on is today when given.
        let convert_by = today + chrono::Days::new(u64::from(gov.convert_within_days));
        let mut fields = vec![
            ("sha256", s(&sha)),
            ("reason", s(reason)),
            ("ticket", s(ticket)),
            ("author", s(&author)),
        ];
        if let Some(a) = &args.approver {
            fields.push(("approved-by", s(a)));
            fields.push(("approved-on", EditValue::Date(today)));
        }
        fields.push(("convert-by", EditValue::Date(convert_by)));
        fields.push(("status", s("active")));
        fields.extend(optional);
        ed.add_script(&rel, &fields)?;
        ed.save()?;
        println!("registered `{rel}` in {}:", policy_path.display());
        fields
    };
    for (k, v) in &written {
        match v {
            EditValue::Str(x) => println!("  {k} = {x:?}"),
            EditValue::Date(d) => println!("  {k} = {d}"),
        }
    }
    let t = Triaged::new(&rel, &bytes, joined.as_ref());
    println!("  triage ({}): {}", t.source, t.text);
    let policy_name = policy_path.file_name().map_or_else(
        || "policy.toml".to_string(),
        |n| n.to_string_lossy().to_string(),
    );
    match &args.approver {
        Some(a) => println!(
            "next: {a} commits {policy_name} (git config user.email {a}) with the trailer `{}: {a}` in the last paragraph of the message",
            gov.trailer
        ),
        None if existing.is_some_and(|e| e.status == ScriptStatus::Legacy) => println!(
            "next: commit {policy_name}; the entry stays legacy until a listed approver approves it"
        ),
        None => println!(
            "next: a listed approver ({}) runs `gate-approve register {rel} --update --approver THEIR_EMAIL` and commits {policy_name} with `{}: THEIR_EMAIL`",
            gov.approvers.join(", "),
            gov.trailer
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// How many paths the outside-scope hint names before it says "and N more".
const OUTSIDE_SHOWN: usize = 5;

/// `baseline`: registers every unregistered emergency script as legacy and reports, in the
/// selected format, what it registered (with a triage each), a summary by folder and type,
/// and name-matching scripts outside `emergency.scope` that a wider scope would catch.
pub fn baseline(
    ws: &Workspace,
    policy: &Policy,
    policy_path: &Path,
    policy_rel: &str,
    today: NaiveDate,
    convert_by: Option<NaiveDate>,
    joined: Option<&Joined>,
) -> anyhow::Result<Report> {
    let convert_by = convert_by.unwrap_or_else(|| {
        today + chrono::Days::new(u64::from(policy.governance.convert_within_days))
    });
    if convert_by < today {
        bail!(
            "--convert-by {convert_by} is before today ({today}); every legacy script would be overdue at once: give a date in the future"
        );
    }
    let paths = gate_scripts::unregistered_in_worktree(&ws.root, policy)?;
    let outside = gate_scripts::scripts_outside_scope(&ws.root, policy)?;
    let mut registered = Vec::new();
    if !paths.is_empty() {
        let mut ed = editor(ws, policy_path)?;
        for rel in &paths {
            let bytes =
                std::fs::read(ws.root.join(rel)).with_context(|| format!("cannot read {rel}"))?;
            let t = Triaged::new(rel, &bytes, joined);
            // The triage stays out of policy.toml: its SQL words would make the policy file
            // look like a script running DDL to the pre-commit gate; `report` recomputes it.
            let reason =
                format!("legacy: registered unapproved by gate-approve baseline on {today}");
            ed.add_script(
                rel,
                &[
                    ("sha256", s(&sha256_hex(&bytes))),
                    ("reason", s(&reason)),
                    ("convert-by", EditValue::Date(convert_by)),
                    ("status", s("legacy")),
                ],
            )?;
            registered.push(t);
        }
        ed.save()?;
    }
    Ok(baseline_report(
        &registered,
        &outside,
        policy_rel,
        convert_by,
    ))
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// `dir/` of a repository-relative path, `./` for the root.
fn folder_of(rel: &str) -> String {
    match rel.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/"),
        None => "./".into(),
    }
}

/// `.py`, or `no extension` for shebang scripts (the only extensionless candidates).
fn type_of(rel: &str) -> String {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!(".{}", ext.to_ascii_lowercase()),
        _ => "no extension".into(),
    }
}

/// `3 more outside scope: a.py, b.py, c.py; widen emergency.scope to include them` ("more"
/// than the scripts in scope, registered now or before).
fn outside_line(outside: &[String]) -> String {
    let mut names = outside
        .iter()
        .take(OUTSIDE_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if outside.len() > OUTSIDE_SHOWN {
        names.push_str(&format!(" and {} more", outside.len() - OUTSIDE_SHOWN));
    }
    let them = if outside.len() == 1 { "it" } else { "them" };
    format!(
        "{} more outside scope: {names}; widen emergency.scope to include {them}",
        outside.len()
    )
}

fn counts(items: impl Iterator<Item = String>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i).or_default() += 1;
    }
    m
}

fn counts_text(m: &BTreeMap<String, usize>, wrap: impl Fn(&str) -> String) -> String {
    m.iter()
        .map(|(k, n)| format!("{} {n}", wrap(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A script's triage as a report shows it: the capture when a replay provides one, else the
/// guess from its text; `source` says which.
struct Triaged {
    rel: String,
    triage: Triage,
    text: String,
    source: &'static str,
    capture: Option<crate::replay::Capture>,
}

impl Triaged {
    fn new(rel: &str, bytes: &[u8], joined: Option<&Joined>) -> Self {
        let triage = triage(&String::from_utf8_lossy(bytes));
        let capture = joined.and_then(|j| j.capture_of(rel)).cloned();
        let (text, source) =
            crate::triage::with_capture(triage.summary(), capture.as_ref(), joined.is_some());
        Triaged {
            rel: rel.to_string(),
            triage,
            text,
            source,
            capture,
        }
    }
}

fn baseline_report(
    registered: &[Triaged],
    outside: &[String],
    policy_rel: &str,
    convert_by: NaiveDate,
) -> Report {
    let md = gate_report::render::markdown_escape;
    let subject = if registered.is_empty() {
        format!(
            "nothing to register: every emergency script in scope is registered in {policy_rel}"
        )
    } else {
        format!(
            "registered {} in {policy_rel} with convert-by = {convert_by}",
            plural(registered.len(), "legacy script")
        )
    };
    let mut report = Report::new("gate-approve", subject);
    if !registered.is_empty() {
        let mut text = String::new();
        let mut markdown = String::from("| script | triage |\n|---|---|\n");
        for t in registered {
            text.push_str(&format!("legacy  {}\n        {}\n", t.rel, t.text));
            markdown.push_str(&format!("| `{}` | {} |\n", md(&t.rel), md(&t.text)));
        }
        report.sections.push(Section {
            title: "Registered".into(),
            text,
            markdown,
            data: json!(
                registered
                    .iter()
                    .map(|t| json!({
                        "path": t.rel,
                        "triage": t.triage,
                        "triage_source": t.source,
                        "triage_text": t.text,
                        "captured": t.capture,
                    }))
                    .collect::<Vec<_>>()
            ),
        });
    }
    let by_folder = counts(registered.iter().map(|t| folder_of(&t.rel)));
    let by_type = counts(registered.iter().map(|t| type_of(&t.rel)));
    let mut text = String::new();
    let mut markdown = String::new();
    if !registered.is_empty() {
        text.push_str(&format!(
            "by folder: {}\nby type: {}\n",
            counts_text(&by_folder, str::to_string),
            counts_text(&by_type, str::to_string)
        ));
        let code = |k: &str| format!("`{}`", md(k));
        markdown.push_str(&format!(
            "- by folder: {}\n- by type: {}\n",
            counts_text(&by_folder, code),
            counts_text(&by_type, code)
        ));
    }
    if !outside.is_empty() {
        let line = outside_line(outside);
        text.push_str(&line);
        text.push('\n');
        markdown.push_str(&format!("- {}\n", md(&line)));
    }
    let next = if registered.is_empty() {
        None
    } else {
        Some(format!(
            "next: commit {policy_rel} to adopt the gate; convert each script into a migration (status = \"converted\") or approve it before {convert_by}"
        ))
    };
    if let Some(n) = &next {
        text.push_str(n);
        text.push('\n');
        markdown.push_str(&format!("\n{}\n", md(n)));
    }
    if !text.is_empty() {
        report.sections.push(Section {
            title: "Summary".into(),
            text,
            markdown,
            data: json!({
                "registered": registered.len(),
                "convert_by": convert_by.to_string(),
                "by_folder": by_folder,
                "by_type": by_type,
                "outside_scope": outside,
                "next": next,
            }),
        });
    }
    report
}
