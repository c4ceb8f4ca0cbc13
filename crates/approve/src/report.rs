//! `gate-approve report`: what reviewers read in a pull request. The findings of `check`
//! plus the sections: the summary line, the registry table, the chain with each fix hanging
//! at the revision production was at when it ran, and the amendments of released migrations
//! (when migrations.lock records any).

use std::fmt::Write as _;

use chrono::NaiveDate;
use gate_chain::RevisionGraph;
use gate_chain::mermaid::{Mermaid, NodeStyle};
use gate_policy::{Policy, Script, ScriptStatus};
use gate_report::{Finding, Report, Section};
use serde_json::json;

use crate::check::{self, CheckError, Context};
use crate::triage::{Triage, triage};

/// Markdown table cell text: nothing in it may end the cell or start markup.
fn cell(s: &str) -> String {
    gate_report::render::markdown_escape(s)
}

fn deadline_text(s: &Script, today: NaiveDate) -> String {
    let Some(by) = s.convert_by else {
        return "none".into();
    };
    if matches!(s.status, ScriptStatus::Converted | ScriptStatus::Retired) {
        return format!("{by} (done)");
    }
    let days = (by - today).num_days();
    match days {
        d if d < 0 => format!(
            "{by}, overdue by {} day{}",
            -d,
            if d == -1 { "" } else { "s" }
        ),
        0 => format!("{by}, due today"),
        d => format!("{by}, {d} day{} left", if d == 1 { "" } else { "s" }),
    }
}

pub fn build(policy: &Policy, ctx: &Context<'_>) -> Result<Report, CheckError> {
    let mut report = Report::new(
        "gate-approve",
        format!("emergency fixes in {}", ctx.policy_rel),
    );
    report.findings = check::check(policy, ctx)?;
    report.sort();
    let scripts = &policy.emergency.scripts;
    report.sections.push(summary_section(scripts, ctx.today));
    report
        .sections
        .push(registry_section(scripts, &report.findings, ctx));
    report.sections.extend(chain_section(policy, ctx));
    report
        .sections
        .extend(amendments_section(&crate::relax::amendments(policy, ctx)?));
    Ok(report)
}

/// The amendments of released migrations recorded in migrations.lock, each with the commit
/// that added it and the approver who committed it; `None` when there are none.
fn amendments_section(list: &[crate::relax::AmendmentApproval]) -> Option<Section> {
    if list.is_empty() {
        return None;
    }
    let mut md = String::from("| revision | reason | approved by | commit |\n|---|---|---|---|\n");
    let mut text = String::new();
    for a in list {
        let approved = a
            .approved_by
            .clone()
            .unwrap_or_else(|| "**not approved** (G005)".into());
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | `{}` |",
            a.revision.replace('`', "'"),
            cell(&a.reason),
            if a.approved_by.is_some() {
                cell(&approved)
            } else {
                approved
            },
            a.commit
        );
        let _ = writeln!(
            text,
            "{}  {}  (commit {}; approved by {})",
            a.revision,
            a.reason,
            a.commit,
            a.approved_by.as_deref().unwrap_or("nobody: G005")
        );
    }
    let data = list
        .iter()
        .map(|a| {
            json!({
                "revision": a.revision,
                "reason": a.reason,
                "approved_by": a.approved_by,
                "commit": a.commit,
                "problem": a.problem,
            })
        })
        .collect::<Vec<_>>();
    Some(Section {
        title: "Amendments".into(),
        text,
        markdown: md,
        data: json!(data),
    })
}

/// Counts per status, overdue fixes and the next deadline, in one line.
fn summary_section(scripts: &[Script], today: NaiveDate) -> Section {
    let count = |st: ScriptStatus| scripts.iter().filter(|s| s.status == st).count();
    let open = |s: &&Script| matches!(s.status, ScriptStatus::Active | ScriptStatus::Legacy);
    let overdue = scripts
        .iter()
        .filter(open)
        .filter(|s| s.convert_by.is_some_and(|d| d < today))
        .count();
    let next = scripts
        .iter()
        .filter(open)
        .filter_map(|s| s.convert_by)
        .filter(|d| *d >= today)
        .min();
    let next_text = match next {
        Some(d) => format!("next deadline {d}, in {} days", (d - today).num_days()),
        None => "no upcoming deadline".into(),
    };
    let summary = format!(
        "{} active, {} legacy, {} converted, {} retired · {overdue} overdue · {next_text} · today {today}",
        count(ScriptStatus::Active),
        count(ScriptStatus::Legacy),
        count(ScriptStatus::Converted),
        count(ScriptStatus::Retired),
    );
    Section {
        title: "Summary".into(),
        text: summary.clone(),
        markdown: format!("**{}**\n", cell(&summary)),
        data: json!({
            "active": count(ScriptStatus::Active),
            "legacy": count(ScriptStatus::Legacy),
            "converted": count(ScriptStatus::Converted),
            "retired": count(ScriptStatus::Retired),
            "overdue": overdue,
            "next_deadline": next.map(|d| d.to_string()),
            "days_to_next_deadline": next.map(|d| (d - today).num_days()),
            "today": today.to_string(),
        }),
    }
}

/// The codes of the findings about the registry entry `path` (by [`Finding::entry`], never
/// by what a message happens to mention), in report order.
fn codes_for(findings: &[Finding], path: &str) -> Vec<&'static str> {
    findings
        .iter()
        .filter(|f| f.entry.as_deref() == Some(path))
        .map(|f| f.code.as_str())
        .collect()
}

/// The registry, one row per script, each with the codes of its findings.
fn registry_section(scripts: &[Script], findings: &[Finding], ctx: &Context<'_>) -> Section {
    if scripts.is_empty() {
        return Section {
            title: "Emergency fixes".into(),
            text: "no emergency scripts are registered\n".into(),
            markdown: "No emergency scripts are registered.\n".into(),
            data: json!([]),
        };
    }
    let mut md = String::from(
        "| script | status | reason | ticket | author | approver | deadline | triage | findings |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut text = String::new();
    let mut rows = Vec::new();
    for s in scripts {
        let row = Row::new(s, codes_for(findings, &s.path), ctx);
        row.markdown(&mut md);
        row.text(&mut text);
        rows.push(row.json(ctx.today));
    }
    Section {
        title: "Emergency fixes".into(),
        text,
        markdown: md,
        data: json!(rows),
    }
}

/// One registry entry as the reviewers' table shows it.
struct Row<'a> {
    s: &'a Script,
    triage: Option<Triage>,
    triage_text: String,
    deadline: String,
    codes: Vec<&'static str>,
}

impl<'a> Row<'a> {
    fn new(s: &'a Script, codes: Vec<&'static str>, ctx: &Context<'_>) -> Self {
        let triage = std::fs::read(ctx.root.join(&s.path))
            .ok()
            .map(|b| triage(&String::from_utf8_lossy(&b)));
        let triage_text = triage
            .as_ref()
            .map_or_else(|| "file not present".to_string(), |t| t.summary());
        Row {
            s,
            triage,
            triage_text,
            deadline: deadline_text(s, ctx.today),
            codes,
        }
    }

    fn markdown(&self, md: &mut String) {
        let s = self.s;
        // Baseline reasons repeat the triage; the table shows it once.
        let reason = s.reason.as_deref().unwrap_or_default();
        let reason_short = reason.split("; triage:").next().unwrap_or(reason);
        let deadline = if self.deadline.contains("overdue") {
            format!("**{}**", cell(&self.deadline))
        } else {
            cell(&self.deadline)
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} | {} | {deadline} | {} | {} |",
            s.path.replace('`', "'"),
            s.status.as_str(),
            cell(reason_short),
            cell(&dash(&s.ticket)),
            cell(&dash(&s.author)),
            cell(&dash(&s.approved_by)),
            cell(&self.triage_text),
            if self.codes.is_empty() {
                "✅".to_string()
            } else {
                self.codes.join(" ")
            }
        );
    }

    fn text(&self, text: &mut String) {
        let s = self.s;
        let _ = writeln!(
            text,
            "{:<8} {}  (deadline {}; ticket {}; author {}; approver {})\n         {}",
            s.status.as_str(),
            s.path,
            self.deadline,
            dash(&s.ticket),
            dash(&s.author),
            dash(&s.approved_by),
            self.triage_text
        );
    }

    fn json(&self, today: NaiveDate) -> serde_json::Value {
        let s = self.s;
        json!({
            "path": s.path,
            "status": s.status.as_str(),
            "reason": s.reason,
            "ticket": s.ticket,
            "author": s.author,
            "approved_by": s.approved_by,
            "approved_on": s.approved_on.map(|d| d.to_string()),
            "convert_by": s.convert_by.map(|d| d.to_string()),
            "days_left": s.convert_by.map(|d| (d - today).num_days()),
            "applied_after": s.applied_after,
            "converted_in": s.converted_in,
            "triage": self.triage,
            "findings": self.codes,
        })
    }
}

fn dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "—".into())
}

/// The chain with each fix at the revision production ran it after; `None` for an empty
/// chain.
fn chain_section(policy: &Policy, ctx: &Context<'_>) -> Option<Section> {
    match gate_chain::discover(ctx.root, policy) {
        Ok(d) if !d.graph.is_empty() => Some(chain_graph(&d.graph, &policy.emergency.scripts, ctx)),
        Ok(_) => None,
        Err(e) => Some(Section {
            title: "Migration chain".into(),
            text: format!("chain not read: {e}\n"),
            markdown: format!("Chain not read: {}\n", cell(&e.to_string())),
            data: json!({ "error": e.to_string() }),
        }),
    }
}

fn chain_graph(g: &RevisionGraph, scripts: &[Script], ctx: &Context<'_>) -> Section {
    let heads: Vec<String> = g.heads().iter().map(|r| r.id.clone()).collect();
    let mut m = Mermaid::new(g);
    let mut unplaced = Vec::new();
    for s in scripts {
        let style = match s.status {
            ScriptStatus::Converted | ScriptStatus::Retired => NodeStyle::Note,
            _ if s.convert_by.is_some_and(|d| d < ctx.today) => NodeStyle::Error,
            _ => NodeStyle::Warning,
        };
        let label = format!("{}\n{}", s.path, s.status.as_str());
        let at = s.applied_after.as_deref().filter(|r| g.get(r).is_some());
        if at.is_none() {
            unplaced.push(s.path.clone());
        }
        m.node(&s.path, &label, style, at, Some("applied after"));
        if let Some(c) = s.converted_in.as_deref().filter(|r| g.get(r).is_some()) {
            m.edge(&s.path, c, Some("converted in"));
        }
    }
    let chain = format!(
        "{} migration{}, {} head{} ({})",
        g.len(),
        if g.len() == 1 { "" } else { "s" },
        heads.len(),
        if heads.len() == 1 { "" } else { "s" },
        heads.join(", ")
    );
    let mut md = format!(
        "{chain}. Each emergency fix hangs (dotted edge, rounded node) at the revision production was at when it ran (`applied-after`).\n\n{}",
        m.markdown()
    );
    if !unplaced.is_empty() {
        let _ = write!(
            md,
            "\nNot placed on the chain (no `applied-after`, or it names no revision): {}\n",
            unplaced
                .iter()
                .map(|p| format!("`{}`", p.replace('`', "'")))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Section {
        title: "Migration chain".into(),
        text: format!("{chain}\n"),
        markdown: md,
        data: json!({ "revisions": g.len(), "heads": heads, "unplaced": unplaced }),
    }
}

#[cfg(test)]
mod tests {
    use gate_report::Code;

    use super::*;

    /// Issue 13: findings were linked to entries by searching messages for `` `path` ``, so
    /// a finding about one entry that quotes another (a commit subject naming it) showed up
    /// in both rows.
    #[test]
    fn a_finding_counts_for_its_entry_only_even_when_its_message_names_another() {
        let about_b = Finding::new(
            Code::A010,
            "commit 0123456789ab (\"Same review as `a.py`\") set the approval of `b.py` but has no `Approved-by:` trailer",
        )
        .at("policy.toml")
        .line(20)
        .entry("b.py");
        let about_a = Finding::new(Code::A007, "`a.py` (active) was due").entry("a.py");
        let not_about_an_entry = Finding::new(Code::G005, "`a.py` and `b.py`: lockfile gone");
        let findings = [about_b, about_a, not_about_an_entry];
        assert_eq!(codes_for(&findings, "a.py"), ["A007"]);
        assert_eq!(codes_for(&findings, "b.py"), ["A010"]);
        assert!(codes_for(&findings, "c.py").is_empty());
    }
}
