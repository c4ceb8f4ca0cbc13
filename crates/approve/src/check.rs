//! A001–A011 on every `[[emergency.script]]` entry; A012 and G005 (whatever relaxes a gate
//! is an approval recorded in git) from [`crate::relax`].
//!
//! Which rules apply depends on the entry's status:
//! - `active`: all of them.
//! - `legacy` (registered by `baseline`, nobody approved it yet): A001 for `sha256`, `reason`,
//!   `convert-by`; A004 when a ticket is given; A005, A006, A007. Exempt from A002, A003,
//!   A009, A010 and A011 until it is approved as an active fix or converted.
//! - `converted`: A001 for `reason` and `converted-in`; A004; A008.
//! - `retired`: A001 for `reason`; A004.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::NaiveDate;
use gate_policy::{Governance, Policy, Script, ScriptStatus};
use gate_report::{Code, Finding};

use crate::history::{self, HistoryError, Pin};

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(
        "cannot check converted-in (A008): {0}; fix the migrations settings in the policy so the chain can be read"
    )]
    Chain(String),
}

/// What a check needs besides the policy.
pub struct Context<'a> {
    pub root: &'a Path,
    pub repo: &'a git2::Repository,
    /// The policy file relative to the repository root, with `/`.
    pub policy_rel: String,
    pub today: NaiveDate,
}

fn eq_email(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("root", &self.root)
            .field("policy_rel", &self.policy_rel)
            .field("today", &self.today)
            .finish()
    }
}

pub use gate_policy::sha256_hex;

fn required(status: ScriptStatus) -> &'static [&'static str] {
    match status {
        ScriptStatus::Active => &[
            "sha256",
            "reason",
            "ticket",
            "author",
            "approved-by",
            "approved-on",
            "convert-by",
        ],
        ScriptStatus::Legacy => &["sha256", "reason", "convert-by"],
        ScriptStatus::Converted => &["reason", "converted-in"],
        ScriptStatus::Retired => &["reason"],
    }
}

fn field<'s>(s: &'s Script, key: &str) -> Option<String> {
    let blank = |v: &'s Option<String>| v.as_deref().filter(|x| !x.trim().is_empty());
    match key {
        "sha256" => blank(&s.sha256).map(str::to_string),
        "reason" => blank(&s.reason).map(str::to_string),
        "ticket" => blank(&s.ticket).map(str::to_string),
        "author" => blank(&s.author).map(str::to_string),
        "approved-by" => blank(&s.approved_by).map(str::to_string),
        "approved-on" => s.approved_on.map(|d| d.to_string()),
        "convert-by" => s.convert_by.map(|d| d.to_string()),
        "converted-in" => blank(&s.converted_in).map(str::to_string),
        _ => None,
    }
}

/// Every finding for the registry: each entry's rules (one function per code, below), then
/// the history walk's (A010, A012, A003 from git, G005). Errors mean a check could not run
/// (exit 2).
pub fn check(policy: &Policy, ctx: &Context<'_>) -> Result<Vec<Finding>, CheckError> {
    let converted = policy
        .emergency
        .scripts
        .iter()
        .any(|s| s.status == ScriptStatus::Converted && s.converted_in.is_some());
    // The chain is read only when A008 has something to look up in it.
    let graph = if converted {
        Some(
            gate_chain::discover(ctx.root, policy)
                .map_err(|e| CheckError::Chain(e.to_string()))?
                .graph,
        )
    } else {
        None
    };
    let mut out = Vec::new();
    for s in &policy.emergency.scripts {
        let e = Entry { s, policy, ctx };
        out.extend(a001_missing_fields(&e));
        out.extend(a002_unknown_approver(&e));
        out.extend(a003_self_approval(&e));
        out.extend(a004_ticket_format(&e));
        out.extend(a005_a006_script_file(&e));
        out.extend(a007_overdue(&e));
        out.extend(a008_unknown_conversion(&e, graph.as_ref()));
        out.extend(a009_deadline(&e));
        out.extend(a011_rollback(&e));
    }
    let (a010_findings, walk, reported) = a010(policy, ctx)?;
    out.extend(a010_findings);
    let (governed, line) = walk.map_or((None, None), |w| (w.governed, w.line));
    if let Some(gs) = governed {
        out.extend(crate::relax::a012(policy, ctx, &gs, &reported)?);
    }
    out.extend(crate::relax::a003_git(policy, ctx)?);
    out.extend(crate::relax::g005(policy, ctx, line.as_ref())?);
    Ok(out)
}

/// One registry entry, with what its rules need.
struct Entry<'a> {
    s: &'a Script,
    policy: &'a Policy,
    ctx: &'a Context<'a>,
}

impl Entry<'_> {
    /// A finding about this entry that points at its `[[emergency.script]]` line in
    /// policy.toml.
    fn at(&self, f: Finding) -> Finding {
        self.about(f.at(self.ctx.policy_rel.clone()).line(self.s.line))
    }

    /// A finding about this entry, wherever it points.
    fn about(&self, f: Finding) -> Finding {
        f.entry(self.s.path.clone())
    }

    fn active(&self) -> bool {
        self.s.status == ScriptStatus::Active
    }
}

/// A001: a field the entry's status requires is missing.
fn a001_missing_fields(e: &Entry<'_>) -> Option<Finding> {
    let (s, p) = (e.s, &e.s.path);
    let missing: Vec<&str> = required(s.status)
        .iter()
        .copied()
        .filter(|k| field(s, k).is_none())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let help = if missing.contains(&"approved-by") {
        format!(
            "get it approved: `gate-approve register {p} --update --approver LEAD_EMAIL` by a listed approver, then commit with `{}: LEAD_EMAIL`",
            e.policy.governance.trailer
        )
    } else {
        format!("fill in {} in the entry for `{p}`", missing.join(", "))
    };
    Some(
        e.at(Finding::new(
            Code::A001,
            format!(
                "{} entry `{p}` lacks {}",
                s.status.as_str(),
                missing
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .help(help)),
    )
}

/// A002: an active entry approved by someone not in `governance.approvers`.
fn a002_unknown_approver(e: &Entry<'_>) -> Option<Finding> {
    let gov = &e.policy.governance;
    let p = &e.s.path;
    if !e.active() {
        return None;
    }
    let by = field(e.s, "approved-by")?;
    if gov.approvers.is_empty() {
        return Some(e.at(
            Finding::new(
                Code::A002,
                format!("`{p}` is approved by {by}, but `governance.approvers` is empty: nobody may approve"),
            )
            .help("list the technical leads in governance.approvers (in a reviewed change)"),
        ));
    }
    if gov.approvers.iter().any(|a| eq_email(a, &by)) {
        return None;
    }
    Some(e.at(Finding::new(
        Code::A002,
        format!(
            "`{p}` is approved by {by}, who is not in governance.approvers ({})",
            gov.approvers.join(", ")
        ),
    )))
}

/// A003 (typed fields): approved by its own author under four-eyes. The git author is
/// checked by [`crate::relax::a003_git`].
fn a003_self_approval(e: &Entry<'_>) -> Option<Finding> {
    if !(e.active() && e.policy.governance.four_eyes) {
        return None;
    }
    let (by, author) = (field(e.s, "approved-by")?, field(e.s, "author")?);
    if !eq_email(&by, &author) {
        return None;
    }
    Some(e.at(Finding::new(
        Code::A003,
        format!(
            "`{}` is approved by its own author {author} while governance.four-eyes is on",
            e.s.path
        ),
    )))
}

/// A004: the ticket does not match `governance.ticket`.
fn a004_ticket_format(e: &Entry<'_>) -> Option<Finding> {
    let ticket = field(e.s, "ticket")?;
    let pattern = &e.policy.governance.ticket;
    if pattern.is_match(&ticket) {
        return None;
    }
    Some(e.at(Finding::new(
        Code::A004,
        format!(
            "ticket `{ticket}` of `{}` does not match governance.ticket `{}`",
            e.s.path,
            pattern.as_str()
        ),
    )))
}

/// A005 (content differs from the pinned sha256) and A006 (the file is gone), for entries
/// whose script must exist: one read of the file serves both.
fn a005_a006_script_file(e: &Entry<'_>) -> Option<Finding> {
    let (s, p) = (e.s, &e.s.path);
    if !matches!(s.status, ScriptStatus::Active | ScriptStatus::Legacy) {
        return None;
    }
    let Ok(bytes) = std::fs::read(e.ctx.root.join(p)) else {
        return Some(e.about(
            Finding::new(
                Code::A006,
                format!(
                    "`{p}` is registered as {} but the file does not exist",
                    s.status.as_str()
                ),
            )
            .at(p.clone())
            .help("restore the file, or set status to \"retired\" or \"converted\" (with converted-in)"),
        ));
    };
    let actual = sha256_hex(&bytes);
    let pinned = field(s, "sha256")?;
    if pinned.eq_ignore_ascii_case(&actual) {
        return None;
    }
    Some(e.about(
        Finding::new(
            Code::A005,
            format!(
                "`{p}` differs from the content its registry entry pins (sha256 {}…, file has {}…)",
                pinned.chars().take(12).collect::<String>(),
                actual.chars().take(12).collect::<String>()
            ),
        )
        .at(p.clone())
        .help(format!(
            "revert the edit, or re-pin with `gate-approve register {p} --update` and get it approved again"
        )),
    ))
}

/// A007: past convert-by and not converted.
fn a007_overdue(e: &Entry<'_>) -> Option<Finding> {
    let (s, p, today) = (e.s, &e.s.path, e.ctx.today);
    if !matches!(s.status, ScriptStatus::Active | ScriptStatus::Legacy) {
        return None;
    }
    let by = s.convert_by.filter(|by| *by < today)?;
    let days = (today - by).num_days();
    Some(e.at(
        Finding::new(
            Code::A007,
            format!(
                "`{p}` ({}) was due to become a migration by {by}: overdue by {days} day{}",
                s.status.as_str(),
                if days == 1 { "" } else { "s" }
            ),
        )
        .help(format!(
            "turn `{p}` into a migration and set status = \"converted\" with converted-in = \"REVISION\""
        )),
    ))
}

/// A008: converted-in names no revision of the chain.
fn a008_unknown_conversion(
    e: &Entry<'_>,
    graph: Option<&gate_chain::RevisionGraph>,
) -> Option<Finding> {
    let graph = graph?;
    let rev = field(e.s, "converted-in")?;
    if e.s.status != ScriptStatus::Converted || graph.get(&rev).is_some() {
        return None;
    }
    Some(e.at(
        Finding::new(
            Code::A008,
            format!(
                "converted-in `{rev}` of `{}` names no revision of the chain ({} revisions under {})",
                e.s.path,
                graph.len(),
                e.policy.migrations.path
            ),
        )
        .help("set converted-in to the revision id of the migration that absorbed the fix"),
    ))
}

/// A009: convert-by outside approved-on .. approved-on + convert-within-days.
fn a009_deadline(e: &Entry<'_>) -> Option<Finding> {
    if !e.active() {
        return None;
    }
    let (on, by) = (e.s.approved_on?, e.s.convert_by?);
    let days = e.policy.governance.convert_within_days;
    let limit = on + chrono::Days::new(u64::from(days));
    let p = &e.s.path;
    if by > limit {
        return Some(e.at(
            Finding::new(
                Code::A009,
                format!("convert-by {by} of `{p}` is later than approved-on {on} + {days} days ({limit})"),
            )
            .help(format!("set convert-by to {limit} or earlier")),
        ));
    }
    (by < on).then(|| {
        e.at(Finding::new(
            Code::A009,
            format!("convert-by {by} of `{p}` is before approved-on {on}"),
        )
        .help(format!("set convert-by between {on} and {limit}")))
    })
}

/// A011: an active entry without rollback while `governance.require-rollback` is on.
fn a011_rollback(e: &Entry<'_>) -> Option<Finding> {
    if !(e.active() && e.policy.governance.require_rollback) || field_rollback(e.s).is_some() {
        return None;
    }
    let p = &e.s.path;
    Some(e.at(
        Finding::new(
            Code::A011,
            format!("`{p}` has no rollback while governance.require-rollback is on"),
        )
        .help(format!(
            "add rollback = \"...\" to the entry (e.g. `gate-approve register {p} --update --rollback \"python3 {p} --rollback\"`)"
        )),
    ))
}

fn field_rollback(s: &Script) -> Option<&str> {
    s.rollback.as_deref().filter(|r| !r.trim().is_empty())
}

/// A010 for active, approved entries, from the one walk of policy.toml's history that also
/// serves A012 (`None` when HEAD has no policy.toml). The set holds the (entry, commit) pairs
/// A010 reports on, so A012 does not report the same commit for the same entry again.
type A010 = (
    Vec<Finding>,
    Option<history::Walk>,
    HashSet<(String, git2::Oid)>,
);

/// A010 in three steps: the approval must be in HEAD's policy.toml, some commit must set it,
/// and that commit must carry the approver's trailer (committed by them, signed if required).
fn a010(policy: &Policy, ctx: &Context<'_>) -> Result<A010, CheckError> {
    let rule = A010Rule {
        gov: &policy.governance,
        ctx,
    };
    let approved: Vec<&Script> = policy
        .emergency
        .scripts
        .iter()
        .filter(|s| s.status == ScriptStatus::Active && field(s, "approved-by").is_some())
        .collect();
    let mut out = Vec::new();
    let mut reported = HashSet::new();
    let Some(head_pins) = rule.head_pins() else {
        out.extend(approved.iter().map(|s| rule.uncommitted_policy(s)));
        return Ok((out, None, reported));
    };
    let mut targets = HashMap::new();
    for s in &approved {
        match rule.uncommitted_pin(s, &head_pins) {
            Ok(pin) => {
                targets.insert(s.path.clone(), pin);
            }
            Err(finding) => out.push(finding),
        }
    }
    // The same walk records the lockfile on the first-parent line for G005.
    let lock = policy.migrations.lockfile.trim_start_matches("./");
    let walk = history::walk(ctx.repo, &ctx.policy_rel, &targets, true, Some(lock))?;
    for s in approved {
        let Some(setter) = walk.setters.get(&s.path) else {
            continue;
        };
        let Some(setter) = setter else {
            out.push(rule.finding(
                s,
                format!(
                    "no commit in the history of {} sets the approval of `{}`",
                    ctx.policy_rel, s.path
                ),
            ));
            continue;
        };
        if let Some(finding) = rule.setter_commit(s, setter.commit)? {
            out.push(finding);
            reported.insert((s.path.trim_start_matches("./").to_string(), setter.commit));
        }
    }
    Ok((out, Some(walk), reported))
}

/// What every A010 finding needs: the trailer to ask for and where the entry is.
struct A010Rule<'a> {
    gov: &'a Governance,
    ctx: &'a Context<'a>,
}

impl A010Rule<'_> {
    /// A finding at the entry's line, with the help that says how to record the approval.
    fn finding(&self, s: &Script, message: String) -> Finding {
        let by = s.approved_by.clone().unwrap_or_default();
        self.at(
            s,
            Finding::new(Code::A010, message).help(self.trailer_help(&by)),
        )
    }

    fn at(&self, s: &Script, f: Finding) -> Finding {
        f.at(self.ctx.policy_rel.clone())
            .line(s.line)
            .entry(s.path.clone())
    }

    fn trailer_help(&self, by: &str) -> String {
        format!(
            "{by} commits the approval (the entry's sha256 and approved-by) with the trailer `{}: {by}` in the last paragraph of the message",
            self.gov.trailer
        )
    }

    /// What HEAD has: an approval that only exists in the working tree is not recorded.
    fn head_pins(&self) -> Option<history::Pins> {
        let ctx = self.ctx;
        let tree = ctx.repo.head().and_then(|h| h.peel_to_tree()).ok()?;
        let e = tree.get_path(Path::new(&ctx.policy_rel)).ok()?;
        let blob = ctx.repo.find_blob(e.id()).ok()?;
        Some(history::pins_of(&String::from_utf8_lossy(blob.content())))
    }

    fn uncommitted_policy(&self, s: &Script) -> Finding {
        self.finding(
            s,
            format!(
                "the approval of `{}` is not recorded in git: {} is not committed",
                s.path, self.ctx.policy_rel
            ),
        )
    }

    /// The entry's pin when HEAD has the same one (the walk then looks for who set it), or
    /// the finding that it is not committed yet.
    fn uncommitted_pin(&self, s: &Script, head_pins: &history::Pins) -> Result<Pin, Finding> {
        let pin = Pin {
            sha256: s.sha256.clone(),
            approved_by: s.approved_by.clone(),
        };
        if head_pins.get(&s.path) == Some(&pin) {
            return Ok(pin);
        }
        Err(self.finding(
            s,
            format!(
                "the approval of `{}` (sha256/approved-by) is not committed yet: HEAD's {} has other values",
                s.path, self.ctx.policy_rel
            ),
        ))
    }

    /// The commit that set the approval: it must name the approver in the trailer, be
    /// committed by them, and be signed when governance.require-signed is on.
    fn setter_commit(&self, s: &Script, oid: git2::Oid) -> Result<Option<Finding>, CheckError> {
        let (gov, ctx) = (self.gov, self.ctx);
        let commit = ctx
            .repo
            .find_commit(oid)
            .map_err(|source| HistoryError::Git {
                policy: ctx.policy_rel.clone(),
                source,
            })?;
        let by = s.approved_by.clone().unwrap_or_default();
        let short = &oid.to_string()[..12];
        let subject =
            String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default()).to_string();
        let trailers = history::trailers(&String::from_utf8_lossy(commit.message_bytes()));
        let named: Vec<String> = trailers
            .iter()
            .filter(|(t, _)| t.eq_ignore_ascii_case(&gov.trailer))
            .map(|(_, v)| history::trailer_email(v))
            .collect();
        let committer = String::from_utf8_lossy(commit.committer().email_bytes()).to_string();
        if !named.iter().any(|n| eq_email(n, &by)) {
            let what = if named.is_empty() {
                format!("has no `{}:` trailer", gov.trailer)
            } else {
                format!("has `{}: {}`, not {by}", gov.trailer, named.join(", "))
            };
            return Ok(Some(self.finding(
                s,
                format!(
                    "commit {short} (\"{subject}\") set the approval of `{}` but {what}",
                    s.path
                ),
            )));
        }
        if !eq_email(&committer, &by) {
            return Ok(Some(self.finding(
                s,
                format!(
                    "commit {short} (\"{subject}\") carries `{}: {by}` for `{}` but was committed by {committer}, not by the approver",
                    gov.trailer, s.path
                ),
            )));
        }
        if gov.require_signed && ctx.repo.extract_signature(&oid, None).is_err() {
            return Ok(Some(self.at(
                s,
                Finding::new(
                    Code::A010,
                    format!(
                        "commit {short} (\"{subject}\") approving `{}` is not signed while governance.require-signed is on",
                        s.path
                    ),
                )
                .help(format!(
                    "{by} re-commits the approval signed (`git commit -S`); verification of the signature belongs to the platform or `git verify-commit`"
                )),
            )));
        }
        Ok(None)
    }
}
