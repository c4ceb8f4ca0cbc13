//! Step 5: registered emergency fixes, replayed only ever on scratch databases, each in a
//! throw-away copy of the work tree ([`WorkCopy`]) with stdin closed.
//! - idempotency (F001): migrate to `applied-after`, apply, apply again: the second run must
//!   succeed and change neither schema nor rows;
//! - did anything happen (F006): the first run must change the schema or some rows;
//! - rollback (F002): after one apply, the rollback must restore schema and rows;
//! - production path (F003/F004/F005): migrate to `applied-after`, apply, upgrade to head —
//!   a failing later migration is the crisis (F003); a schema the chain alone does not
//!   produce is unconsolidated drift (F004), or an incomplete conversion (F005).
//!
//! What cannot be checked (the chain does not build up to where the fix ran) is `R010`.
//!
//! First one pass over the chain applies the fixes where production did, one after another
//! (`pass.rs`), and decides every fix whose verdict there is the one it gets alone. Every
//! other fix is checked alone: it starts from the template at its `applied-after` or a copy
//! of it (`templates.rs`: all templates in one forward pass over the chain, handed out while
//! that pass goes on); the production path continues from the database after one
//! application (`checks.rs`). The
//! checks at applied-after run concurrently, at most one fix per core (`crate::bounded`);
//! then the production paths, one run shared by the fixes that touched different objects
//! where that gives each its own verdict (`tails.rs`), one run per fix otherwise. Reported in
//! registry order.

use std::collections::BTreeSet;
use std::time::Instant;

use gate_policy::{Script, ScriptStatus};
use gate_report::{Code, Finding, Section, Severity};
use gate_schema::{DataSnapshot, Snapshot};
use tokio::process::Command;

use crate::ctx::{Ctx, Scratch, Settings, not_run, run_sql};
use crate::error::ReplayError;
use crate::runner::Target;
use crate::runner::process::{Finished, run_streaming};
use crate::workcopy::WorkCopy;

mod checks;
mod pass;
mod tails;
mod templates;

use checks::verify_one;
pub(crate) use pass::Walked;

/// The fixes' pass over the chain, for [`verify`].
pub(crate) enum Pass {
    /// Not walked yet: `verify` walks it.
    NotWalked,
    /// Walked: what it saw, or `None` when it decides nothing (fewer than two fixes, or a
    /// step failed), so it is not walked again.
    Walked(Option<Box<Walked>>),
}

/// The pass over the chain with every fix ([`verify`] decides with it once the clean head is
/// known); it needs no clean head, so it can run beside the upgrade from empty.
pub(crate) async fn walk_pass(ctx: &Ctx<'_>) -> Result<Pass, ReplayError> {
    let scripts: Vec<&Script> = crate::shard::fixes_of(ctx.settings).collect();
    Ok(Pass::Walked(
        pass::walk_pass(ctx, &scripts).await?.map(Box::new),
    ))
}
use templates::Templates;

/// `items` (each with the index in `scripts` of its fix) in the order production ran their
/// fixes (applied-after, applied-on, registry order), keeping each whose applied-after holds
/// every revision of the one kept before it (the runner can tell: `Runner::applied_at`) and
/// that `admit` takes (asked only then, in that order). A fix the runner cannot place is left
/// out.
fn along_the_path<T>(
    ctx: &Ctx<'_>,
    scripts: &[&Script],
    items: impl Iterator<Item = (T, usize)>,
    mut admit: impl FnMut(&T) -> bool,
) -> Vec<T> {
    let mut candidates: Vec<(T, usize, BTreeSet<String>)> = items
        .filter_map(|(item, i)| Some((item, i, ctx.runner.applied_at(&target(scripts[i]))?)))
        .collect();
    candidates.sort_by_key(|(_, i, applied)| (applied.len(), scripts[*i].applied_on, *i));
    let mut kept = Vec::new();
    let mut last: Option<BTreeSet<String>> = None;
    for (item, _, applied) in candidates {
        if last.as_ref().is_none_or(|l| l.is_subset(&applied)) && admit(&item) {
            last = Some(applied);
            kept.push(item);
        }
    }
    kept
}

/// The registry entries the replay verifies: with `run` or `sql`, and not retired.
pub(crate) fn verifiable(settings: &Settings) -> impl Iterator<Item = &Script> {
    settings
        .policy
        .emergency
        .scripts
        .iter()
        .filter(|s| s.run.is_some() || s.sql.is_some())
        .filter(|s| s.status != ScriptStatus::Retired)
}

/// R010 for every fix when nothing could be verified, `because` ...
pub(crate) fn not_verified(settings: &Settings, because: &str) -> Vec<Finding> {
    crate::shard::fixes_of(settings)
        .map(|s| {
            not_run(
                &s.path,
                &format!(
                    "{}: the emergency fix was not verified (idempotency, rollback, production path): {because}",
                    s.path
                ),
            )
            .entry(s.path.clone())
        })
        .collect()
}

/// Findings for every verifiable fix, and a section that says per fix what was checked.
/// `clean_head` is `None` when the chain does not build to head (`because` says why): the
/// checks at `applied-after` still run where the chain builds that far.
/// `pass` is the pass over the chain ([`walk_pass`]) when it already ran; otherwise `verify`
/// walks it here.
pub(crate) async fn verify(
    ctx: &Ctx<'_>,
    clean_head: Option<&Snapshot>,
    because: &str,
    pass: Pass,
) -> Result<(Vec<Finding>, Option<Section>), ReplayError> {
    let scripts: Vec<&Script> = crate::shard::fixes_of(ctx.settings).collect();
    // By registry index: first what one pass over the chain decides, then the rest alone.
    let mut decided = std::collections::BTreeMap::new();
    if let Some(clean_head) = clean_head {
        let walked = match pass {
            Pass::Walked(w) => w.map(|w| *w),
            Pass::NotWalked => pass::walk_pass(ctx, &scripts).await?,
        };
        for d in walked
            .iter()
            .flat_map(|w| pass::one_pass(ctx, &scripts, w, clean_head))
        {
            decided.insert(d.fix, (d.found, d.summary));
        }
    }
    let rest: Vec<usize> = (0..scripts.len())
        .filter(|i| !decided.contains_key(i))
        .collect();
    let alone: Vec<&Script> = rest.iter().map(|&i| scripts[i]).collect();
    let checked = checked_alone(ctx, &alone, clean_head, because).await?;
    decided.extend(rest.into_iter().zip(checked));
    let mut out = Vec::new();
    let mut rows = Vec::new();
    for (i, (found, summary)) in decided {
        out.extend(converted_is_history(scripts[i], found));
        rows.push(summary);
    }
    Ok((out, (!rows.is_empty()).then(|| section(&rows))))
}

/// Every check of every fix in `scripts`, each fix on databases of its own (the templates)
/// and the production paths shared where that gives each its own verdict (`tails.rs`):
/// findings and section row per fix, in the order of `scripts`.
async fn checked_alone(
    ctx: &Ctx<'_>,
    scripts: &[&Script],
    clean_head: Option<&Snapshot>,
    because: &str,
) -> Result<Vec<(Vec<Finding>, FixSummary)>, ReplayError> {
    if scripts.is_empty() {
        return Ok(Vec::new());
    }
    let templates = Templates::default();
    // At most one fix per core is checked at once; a fix waits for its start database
    // without holding a slot, while the templates are still being built.
    let slots = tokio::sync::Semaphore::new(crate::bounded::parallelism());
    let jobs: Vec<_> = scripts
        .iter()
        .enumerate()
        .map(|(i, script)| {
            let (templates, slots) = (&templates, &slots);
            async move {
                let start = templates.take_start(i).await;
                let _slot = slots.acquire().await;
                at_applied_after(ctx, start, script, clean_head, because).await
            }
        })
        .collect();
    let all = jobs.len();
    let (built, results) = tokio::join!(
        templates.build(ctx, scripts),
        crate::bounded::in_order(jobs, all)
    );
    templates.drop_untaken(ctx).await;
    let mut checked = Vec::new();
    let mut pending = Vec::new();
    let mut failed = built.err();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok((found, summary, tail)) => {
                checked.push((found, summary));
                pending.extend(tail.map(|t| (i, t)));
            }
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    if let Some(e) = failed {
        for (_, p) in pending {
            ctx.drop(&p.once).await;
        }
        return Err(e);
    }
    // The production path of every fix that needs one (F003–F005), after the checks at
    // applied-after told what each fix touched.
    if let Some(clean_head) = clean_head {
        for t in tails::production_paths(ctx, scripts, pending, clean_head).await? {
            let (found, summary) = &mut checked[t.fix];
            found.extend(t.found);
            summary.checks.push(format!("production path: {}", t.words));
            summary.ms += t.ms;
        }
    }
    Ok(checked)
}

/// The checks at applied-after on one fix: findings, what was checked, and where its
/// production path starts (`tails.rs` checks it once every fix got this far).
async fn at_applied_after(
    ctx: &Ctx<'_>,
    start: templates::Start,
    script: &Script,
    clean_head: Option<&Snapshot>,
    because: &str,
) -> Result<(Vec<Finding>, FixSummary, Option<tails::Pending>), ReplayError> {
    ctx.progress
        .stage(&format!("emergency fix {}", script.path));
    let mut summary = FixSummary::new(script);
    let started = Instant::now();
    let mut found = Vec::new();
    let tail = verify_one(
        ctx,
        start,
        script,
        clean_head,
        because,
        &mut summary,
        &mut found,
    )
    .await?;
    summary.ms = started.elapsed().as_millis();
    Ok((found, summary, tail))
}

/// A throw-away copy of the work tree for one application of `script` (an empty folder for
/// an `sql` fix without a rollback command). Copying is blocking I/O: off the task that
/// drives the other fixes' checks.
/// Whether checking `script` runs a command (its `run`, or its rollback): only then does it
/// need a copy of the work tree.
fn runs_commands(script: &Script) -> bool {
    script.run.is_some() || script.rollback.is_some()
}

/// `n` of a thing in words: "one pass", "2 passes".
fn count_words(n: usize, one: &str, many: &str) -> String {
    match n {
        1 => format!("one {one}"),
        n => format!("{n} {many}"),
    }
}

async fn work_copy(ctx: &Ctx<'_>, script: &Script) -> Result<WorkCopy, ReplayError> {
    let root = ctx.settings.root.clone();
    let runs_commands = runs_commands(script);
    tokio::task::spawn_blocking(move || {
        if runs_commands {
            WorkCopy::new(&root)
        } else {
            WorkCopy::empty()
        }
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    .map_err(|source| ReplayError::WorkCopy {
        script: script.path.clone(),
        source,
    })
}

/// Before any database starts: every fix to verify names a revision of the chain in
/// `applied-after`, so a typo is a configuration error, not a failed replay halfway through.
pub(crate) fn check_registry(
    settings: &Settings,
    runner: &crate::runner::Runner,
) -> Result<(), ReplayError> {
    let mut bad = Vec::new();
    for s in verifiable(settings) {
        if let Target::Revision(r) = target(s)
            && runner.knows_revision(&r) == Some(false)
        {
            bad.push(format!(
                "emergency script {} ({}:{}): applied-after = \"{r}\" names no revision of the chain",
                s.path,
                settings.policy.file.display(),
                s.line_of("applied-after")
            ));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ReplayError::Config(format!(
            "{}; set applied-after to the revision production was at when the fix ran",
            bad.join("; ")
        )))
    }
}

/// A finding about the registry entry `script`, with the catalogue's help; a check with
/// advice specific to the case adds `.help(...)`.
fn finding(code: Code, script: &Script, message: String) -> Finding {
    Finding::new(code, format!("{}: {message}", script.path))
        .at(script.path.clone())
        .entry(script.path.clone())
}

/// A converted fix's script is history: the migration named in `converted-in` carries its
/// change and nobody runs the script again, so what is wrong with the script itself
/// (idempotency F001, rollback F002, no effect F006) is a note, not a failing gate. Whether
/// the chain really makes what the fix made is still checked (F005).
fn converted_is_history(script: &Script, found: Vec<Finding>) -> Vec<Finding> {
    if script.status != ScriptStatus::Converted {
        return found;
    }
    let into = script.converted_in.as_deref().unwrap_or("a migration");
    found
        .into_iter()
        .map(|f| match f.code {
            Code::F001 | Code::F002 | Code::F006 => {
                let help = format!(
                    "Converted in {into}: the script is no longer run; delete it or keep it as history."
                );
                f.severity(Severity::Note).help(help)
            }
            _ => f,
        })
        .collect()
}

/// Where production was when the fix ran.
fn target(script: &Script) -> Target {
    match &script.applied_after {
        Some(r) if !r.trim().is_empty() => Target::Revision(r.trim().to_string()),
        _ => Target::Head,
    }
}

fn target_name(t: &Target) -> String {
    match t {
        Target::Head => "head".into(),
        Target::Revision(r) => format!("revision {r}"),
    }
}

/// What was checked for one fix, for the report's section.
#[derive(Debug)]
struct FixSummary {
    path: String,
    checks: Vec<String>,
    written: Vec<String>,
    /// Wall time of all its checks (`gate-approve report --replay` shows it per fix).
    ms: u128,
}

impl FixSummary {
    fn new(script: &Script) -> Self {
        FixSummary {
            path: script.path.clone(),
            checks: Vec::new(),
            written: Vec::new(),
            ms: 0,
        }
    }
}

fn section(rows: &[FixSummary]) -> Section {
    let mut text = String::new();
    let mut md = String::from(
        "| fix | checked | files it wrote (left in a throw-away copy) |\n|---|---|---|\n",
    );
    let mut data = Vec::new();
    for r in rows {
        let written = if r.written.is_empty() {
            "-".to_string()
        } else {
            r.written.join(", ")
        };
        text.push_str(&format!(
            "{}: {}; wrote: {written}\n",
            r.path,
            r.checks.join(", ")
        ));
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            gate_report::render::markdown_escape_cell(&r.path),
            gate_report::render::markdown_escape_cell(&r.checks.join(", ")),
            gate_report::render::markdown_escape_cell(&written)
        ));
        data.push(serde_json::json!({"path": r.path, "checks": r.checks, "written": r.written, "ms": r.ms}));
    }
    Section {
        title: "Emergency fixes".into(),
        text,
        markdown: md,
        data: serde_json::Value::Array(data),
    }
}

/// Schema and rows of a scratch database.
#[derive(Clone)]
pub(super) struct State {
    schema: Snapshot,
    data: DataSnapshot,
}

impl State {
    async fn read(ctx: &Ctx<'_>, db: &Scratch) -> Result<State, ReplayError> {
        Ok(State {
            schema: ctx.capture(db).await?,
            data: ctx.data(db).await?,
        })
    }

    /// The catalog's fingerprint and the rows of `db`, on one connection: what
    /// [`State::unchanged`] compares. Read right after [`State::read`] with nothing in
    /// between, it describes the same database.
    async fn digest(ctx: &Ctx<'_>, db: &Scratch) -> Result<Digest, ReplayError> {
        let read = DataSnapshot::with_fingerprint(&db.db.url, ctx.runner.bookkeeping_tables());
        Digest::from_read(read.await, db)
    }

    /// Whether `db` still holds the state `then` was read from: the same catalog fingerprint
    /// (equal fingerprints mean equal snapshots) and the same rows. Cheaper than a full read;
    /// `false` says nothing of what differs (a full read does).
    async fn unchanged(ctx: &Ctx<'_>, db: &Scratch, then: &Digest) -> Result<bool, ReplayError> {
        Ok(State::digest(ctx, db).await?.same(then))
    }
}

/// A cheap description of a database's state ([`State::digest`]).
pub(super) struct Digest {
    fingerprint: gate_schema::Fingerprint,
    data: DataSnapshot,
}

impl Digest {
    /// [`State::digest`] through an open connection (outside any transaction) to `db`.
    async fn read_on(
        ctx: &Ctx<'_>,
        conn: &mut sqlx::PgConnection,
        db: &Scratch,
    ) -> Result<Digest, ReplayError> {
        let read = DataSnapshot::with_fingerprint_on(conn, ctx.runner.bookkeeping_tables());
        Digest::from_read(read.await, db)
    }

    fn from_read(
        read: Result<(gate_schema::Fingerprint, DataSnapshot), gate_schema::SchemaError>,
        db: &Scratch,
    ) -> Result<Digest, ReplayError> {
        let (fingerprint, data) = read.map_err(|source| ReplayError::Schema {
            what: "cannot read the catalog fingerprint and rows of the scratch database",
            database: db.db.name.clone(),
            source: Box::new(source),
        })?;
        Ok(Digest { fingerprint, data })
    }

    /// Both describe the same state: equal fingerprints (equal snapshots) and equal rows.
    fn same(&self, other: &Digest) -> bool {
        self.fingerprint == other.fingerprint && self.data.diff(&other.data, "", "").is_empty()
    }
}

impl State {
    /// Differences in words, schema first.
    fn diff(ctx: &Ctx<'_>, a: &State, b: &State, an: &str, bn: &str) -> Vec<String> {
        let mut d: Vec<String> = ctx
            .diff(&a.schema, &b.schema, an, bn)
            .iter()
            .map(ToString::to_string)
            .collect();
        d.extend(a.data.diff(&b.data, an, bn));
        d
    }
}

/// How one application of the fix went.
pub(crate) enum Applied {
    Ok,
    /// It failed; the text says why in one line.
    Failed(String),
}

/// Apply `script` (its `run` command with `args`, or its `sql` file) to `db`, inside `work`.
pub(crate) async fn apply(
    ctx: &Ctx<'_>,
    script: &Script,
    db: &Scratch,
    work: &WorkCopy,
) -> Result<Applied, ReplayError> {
    if let Some(cmd) = &script.run {
        return run_command(ctx, cmd, &script.args, db, work).await;
    }
    let Some(sql) = &script.sql else {
        return Ok(Applied::Ok);
    };
    let path = ctx.settings.root.join(sql);
    let text = std::fs::read_to_string(&path).map_err(|source| ReplayError::Read {
        what: format!("emergency script {}: cannot read sql =", script.path),
        path: std::path::PathBuf::from(sql),
        advice: String::new(),
        source,
    })?;
    let remaining = ctx.deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(remaining, run_sql(&db.db.url, &text)).await {
        Ok(Ok(())) => Ok(Applied::Ok),
        Ok(Err(e)) => Ok(Applied::Failed(crate::error::sql_failure(&e))),
        Err(_) => {
            crate::runner::terminate_sessions(&db.db.url).await;
            Ok(Applied::Failed(format!(
                "timed out after {}s",
                ctx.timeout.as_secs()
            )))
        }
    }
}

/// Run a fix or rollback command: `sh -c 'CMD "$@"' sh ARGS…`, so `args` reach the script as
/// separate words without another round of shell quoting.
async fn run_command(
    ctx: &Ctx<'_>,
    command: &str,
    args: &[String],
    db: &Scratch,
    work: &WorkCopy,
) -> Result<Applied, ReplayError> {
    let mut cmd = Command::new("sh");
    if args.is_empty() {
        cmd.arg("-c").arg(command);
    } else {
        cmd.arg("-c")
            .arg(format!("{command} \"$@\""))
            .arg("sh")
            .args(args);
    }
    cmd.current_dir(work.root());
    db.env.apply(&mut cmd);
    let finished = run_streaming(cmd, ctx.deadline, |_, _, _| {})
        .await
        .map_err(|source| ReplayError::Spawn {
            program: "`sh`",
            advice: "",
            source,
        })?;
    if finished.success() {
        return Ok(Applied::Ok);
    }
    if finished.timed_out {
        crate::runner::terminate_sessions(&db.db.url).await;
        return Ok(Applied::Failed(format!(
            "timed out after {}s",
            ctx.timeout.as_secs()
        )));
    }
    let status = finished
        .code
        .map_or_else(|| "a signal".to_string(), |c| format!("code {c}"));
    if asked_for_input(&finished) {
        return Ok(Applied::Failed(format!(
            "the fix asked for input, but a replay has no one to answer (stdin is closed; `{command}` exited with {status}); pass the answers as `args` in its entry, e.g. args = [\"--yes\"]"
        )));
    }
    Ok(Applied::Failed(format!(
        "`{command}` exited with {status}: {}",
        error_line(&finished)
    )))
}

/// Python's `input()` on a closed stdin, and the usual shell/Node equivalents.
fn asked_for_input(f: &Finished) -> bool {
    f.lines.iter().any(|(_, l)| {
        l.contains("EOFError")
            || l.contains("EOF when reading a line")
            || l.contains("readline was closed")
    })
}

/// The line that says what went wrong: the last that looks like an error (a traceback's
/// final line, `ERROR:`, `FAILED`), skipping SQLAlchemy's documentation links; else the last.
fn error_line(f: &Finished) -> String {
    let lines: Vec<&str> = f
        .lines
        .iter()
        .map(|(_, l)| l.trim())
        .filter(|l| !l.is_empty())
        .filter(|l| !l.starts_with("(Background on this error") && !l.starts_with("https://"))
        .collect();
    let looks_like_error = |l: &&&str| {
        let lower = l.to_ascii_lowercase();
        lower.contains("error")
            || lower.contains("exception")
            || lower.contains("failed")
            || lower.contains("fatal")
    };
    lines
        .iter()
        .rev()
        .find(looks_like_error)
        .or_else(|| lines.last())
        .map_or_else(
            || "(no output)".to_string(),
            |l| l.chars().take(400).collect(),
        )
}

/// Server-side counters of the scratch database (`pg_stat_database`), read once every other
/// session has ended (a backend flushes its statistics when it exits). They tell what a fix
/// that exits 0 really did: whether it connected at all, and whether a statement failed.
#[derive(Debug, Clone, Copy)]
struct Counters {
    /// Sessions ended so far (each read adds its own by the next read).
    sessions: i64,
    /// Transactions rolled back: an SQL error the fix caught and hid still counts here.
    rollbacks: i64,
}

async fn counters(db: &Scratch) -> Option<Counters> {
    use sqlx::Connection as _;
    let mut c = sqlx::PgConnection::connect(&db.db.url).await.ok()?;
    let deadline = Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let others: (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut c)
        .await
        .ok()?;
        if others.0 == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _ = sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut c)
        .await;
    // `sessions` exists from PostgreSQL 14 on; before that the counters stay unknown.
    let n: Option<(i64, i64)> = sqlx::query_as(
        "SELECT sessions, xact_rollback FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_optional(&mut c)
    .await
    .ok()?;
    let _ = c.close().await;
    n.map(|(sessions, rollbacks)| Counters {
        sessions,
        rollbacks,
    })
}
