//! The report sections of `consolidate`: the plan (each statement with its object), the
//! amendments, what is left over, the proof table, and what `--write` wrote.

use gate_recovery::consolidate::GuardedStatement;
use gate_report::Section;
use gate_report::render::markdown_escape_cell as cell;

use super::{Consolidation, Proof};

/// Plan, amendments, leftovers and proofs.
pub(crate) fn sections(plan: &Consolidation, write: bool) -> Vec<Section> {
    vec![
        consolidation(plan),
        amendments(plan),
        leftovers(plan, write),
        proofs(&plan.proofs, plan.left.len()),
    ]
}

fn statements(title: &str, list: &[GuardedStatement], text: &mut String, md: &mut String) {
    text.push_str(&format!("  {title}: {} statement(s)\n", list.len()));
    md.push_str(&format!(
        "\n**{title}** ({} statement(s))\n\n| object | SQL |\n|---|---|\n",
        list.len()
    ));
    for s in list {
        let one = s.sql.split_whitespace().collect::<Vec<_>>().join(" ");
        text.push_str(&format!("    {}: {one}\n", s.object));
        md.push_str(&format!("| {} | `{}` |\n", cell(&s.object), cell(&one)));
    }
}

fn consolidation(plan: &Consolidation) -> Section {
    let n = &plan.new;
    let mut text = format!(
        "new revision {} ({}), down_revision {}; converts {} fix(es)\n",
        n.id,
        n.file,
        n.down_revision,
        plan.fixes.len()
    );
    let mut md = format!(
        "New revision `{}` (`{}`), `down_revision` `{}`; converts {} fix(es)\n",
        n.id,
        cell(&n.file),
        n.down_revision,
        plan.fixes.len()
    );
    for (f, _) in &n.extra {
        text.push_str(&format!("  down file {f}\n"));
        md.push_str(&format!("\nDown file `{}`\n", cell(f)));
    }
    if let Some(note) = &n.note {
        text.push_str(&format!("  {note}\n"));
        md.push_str(&format!("\n{}\n", cell(note)));
    }
    statements("upgrade", &n.plan.upgrade, &mut text, &mut md);
    statements("data carried from the fixes", &n.data, &mut text, &mut md);
    statements("downgrade", &n.plan.downgrade, &mut text, &mut md);
    Section {
        title: "Consolidation".into(),
        text,
        markdown: md,
        data: serde_json::json!({
            "revision": n.id,
            "down_revision": n.down_revision,
            "file": n.file,
            "upgrade": n.plan.upgrade,
            "data": n.data,
            "downgrade": n.plan.downgrade,
            "fixes": plan.fixes,
            "content": n.text,
            "other_files": n.extra.iter().map(|(f, t)| serde_json::json!({"file": f, "content": t})).collect::<Vec<_>>(),
            "note": n.note,
        }),
    }
}

fn amendments(plan: &Consolidation) -> Section {
    let mut text = format!(
        "{} migration(s) conflict with a fix (F003)\n",
        plan.amendments.len()
    );
    let mut md = text.clone();
    let mut data = Vec::new();
    for a in &plan.amendments {
        let head = format!(
            "{} ({}), against {}",
            a.revision,
            a.file,
            a.fixes.join(", ")
        );
        text.push_str(&format!("{head}\n"));
        md.push_str(&format!(
            "\n`{}` (`{}`), against {}\n",
            a.revision,
            cell(&a.file),
            cell(&a.fixes.join(", "))
        ));
        statements("upgrade", &a.plan.upgrade, &mut text, &mut md);
        statements("downgrade", &a.plan.downgrade, &mut text, &mut md);
        data.push(serde_json::json!({
            "revision": a.revision,
            "file": a.file,
            "fixes": a.fixes,
            "upgrade": a.plan.upgrade,
            "downgrade": a.plan.downgrade,
            "content": a.text,
            "other_files": a.extra.iter().map(|(f, t)| serde_json::json!({"file": f, "content": t})).collect::<Vec<_>>(),
        }));
    }
    Section {
        title: "Amended migrations".into(),
        text,
        markdown: md,
        data: serde_json::json!({ "amendments": data }),
    }
}

fn leftovers(plan: &Consolidation, write: bool) -> Section {
    let mut text = format!("{} difference(s) left over\n", plan.left.len());
    let mut md = format!("{} difference(s) left over\n", plan.left.len());
    if !plan.left.is_empty() {
        let then = if write {
            "--write wrote nothing"
        } else {
            "--write would write nothing"
        };
        text.push_str(&format!("(not expressible safely: {then})\n"));
        md.push_str(&format!(
            "\nNot expressible safely: {then}.\n\n| object | why |\n|---|---|\n"
        ));
    }
    for l in &plan.left {
        let (object, reason) = (&l.item.object, &l.item.reason);
        let at = l.file.as_ref().map_or(String::new(), |f| match l.line {
            Some(n) => format!(" ({f}:{n})"),
            None => format!(" ({f})"),
        });
        text.push_str(&format!("  {object}{at}: {reason}\n"));
        md.push_str(&format!(
            "| {} | {} |\n",
            cell(&format!("{object}{at}")),
            cell(reason)
        ));
    }
    Section {
        title: "Left over".into(),
        text,
        markdown: md,
        data: serde_json::json!({ "left": plan.left }),
    }
}

fn proofs(proofs: &[Proof], left: usize) -> Section {
    let mut text = String::new();
    let mut md = String::from("| check | result | detail |\n|---|---|---|\n");
    if proofs.is_empty() {
        let why = format!(
            "not run: {left} difference(s) left over, so there is nothing complete to prove"
        );
        text.push_str(&format!("{why}\n"));
        md.push_str(&format!("| proof | not run | {} |\n", cell(&why)));
    }
    for p in proofs {
        let result = if p.passed { "pass" } else { "FAIL" };
        text.push_str(&format!("{result:<4}  {}: {}\n", p.check, p.detail));
        md.push_str(&format!(
            "| {} | {result} | {} |\n",
            cell(&p.check),
            cell(&p.detail)
        ));
    }
    Section {
        title: "Proof (scratch databases)".into(),
        text,
        markdown: md,
        data: serde_json::json!({ "proofs": proofs }),
    }
}

/// What `--write` wrote.
pub(crate) fn written(files: &[String]) -> Section {
    let text: String = files.iter().map(|f| format!("{f}\n")).collect();
    let md: String = files.iter().map(|f| format!("- `{}`\n", cell(f))).collect();
    Section {
        title: "Written".into(),
        text,
        markdown: md,
        data: serde_json::json!({ "written": files }),
    }
}
