//! The report's two replay sections: "Replay" (what was joined, shards, timings, the
//! chain-level findings) and "Replay per fix" (findings, checks, time and captured SQL of each
//! registered fix).

use std::fmt::Write as _;

use gate_policy::Script;
use gate_report::{Finding, Section};
use serde_json::json;

use super::{Joined, Shards};

fn cell(s: &str) -> String {
    gate_report::render::markdown_escape_cell(s)
}

fn inline(s: &str) -> String {
    gate_report::render::markdown_escape(s)
}

fn finding_json(f: &Finding) -> serde_json::Value {
    json!({
        "code": f.code,
        "severity": f.severity,
        "path": f.path,
        "line": f.line,
        "message": f.message,
    })
}

fn shards_line(s: &Shards) -> String {
    let seen: Vec<String> = s.seen.keys().map(ToString::to_string).collect();
    let missing = s.missing();
    let mut line = format!("shards {} of {} given", seen.join(", "), s.of);
    if !missing.is_empty() {
        let m: Vec<String> = missing.iter().map(ToString::to_string).collect();
        let _ = write!(line, "; missing: {} (R010)", m.join(", "));
    }
    line
}

fn timings_line(t: &serde_json::Value) -> Option<String> {
    let applied = t["applied"].as_u64()?;
    let total = t["total_ms"].as_u64()?;
    let backend = t["backend"].as_str().unwrap_or("?");
    Some(format!(
        "upgrade from empty: {applied} migration(s) in {total} ms on {backend}"
    ))
}

/// What was joined and the findings about the chain rather than one fix.
pub fn replay_section(joined: &Joined, fixes: &[String]) -> Section {
    let chain = joined.chain_findings(fixes);
    let mut lines = vec![format!("joined: {}", joined.files.join(", "))];
    lines.extend(joined.shards.as_ref().map(shards_line));
    lines.extend(joined.timings.as_ref().and_then(timings_line));
    let mut text = String::new();
    let mut md = String::new();
    for l in &lines {
        let _ = writeln!(text, "{l}");
        let _ = writeln!(md, "- {}", inline(l));
    }
    if chain.is_empty() {
        text.push_str("no chain-level replay finding\n");
        md.push_str("\nNo chain-level replay finding.\n");
    } else {
        md.push_str("\n| code | severity | where | finding |\n|---|---|---|---|\n");
        for f in &chain {
            let at = f.location().unwrap_or_default();
            let _ = writeln!(
                text,
                "{} {} {at} {}",
                f.code.as_str(),
                f.severity.as_str(),
                f.message
            );
            let _ = writeln!(
                md,
                "| **{}** | {} | {} | {} |",
                f.code.as_str(),
                f.severity.as_str(),
                cell(&at),
                cell(&f.message)
            );
        }
    }
    Section {
        title: "Replay".into(),
        text,
        markdown: md,
        data: json!({
            "files": joined.files,
            "shards": joined.shards.as_ref().map(|s| json!({
                "of": s.of,
                "seen": s.seen.keys().collect::<Vec<_>>(),
                "missing": s.missing(),
            })),
            "timings": joined.timings,
            "findings": chain.iter().map(|f| finding_json(f)).collect::<Vec<_>>(),
        }),
    }
}

/// One row per registered fix: its replay findings, the checks that ran, time and captured
/// statements.
pub fn fix_section(joined: &Joined, scripts: &[Script]) -> Section {
    let mut text = String::new();
    let mut md = String::from(
        "| fix | replay findings | checked | ms | captured SQL |\n|---|---|---|---:|---|\n",
    );
    let mut rows = Vec::new();
    for s in scripts {
        let found: Vec<&Finding> = joined.findings_of(&s.path).collect();
        let info = joined.fixes.get(&s.path).cloned().unwrap_or_default();
        let findings_md = if found.is_empty() {
            "✅".to_string()
        } else {
            found
                .iter()
                .map(|f| format!("**{}** {}", f.code.as_str(), cell(&f.message)))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let ms = info.ms.map_or_else(|| "—".to_string(), |m| m.to_string());
        let captured_md = captured_markdown(&info);
        let _ = writeln!(
            md,
            "| `{}` | {findings_md} | {} | {ms} | {captured_md} |",
            s.path.replace('`', "'"),
            cell(&if info.checks.is_empty() {
                "—".to_string()
            } else {
                info.checks.join(", ")
            }),
        );
        let _ = writeln!(text, "{}  ({ms} ms)", s.path);
        for f in &found {
            let _ = writeln!(text, "  {} {}", f.code.as_str(), f.message);
        }
        if let Some(c) = &info.capture {
            let _ = writeln!(text, "  {}", c.summary());
        }
        rows.push(json!({
            "path": s.path,
            "findings": found.iter().map(|f| finding_json(f)).collect::<Vec<_>>(),
            "worst": joined.worst(&s.path),
            "verified_in": info.verified_in,
            "checks": info.checks,
            "ms": info.ms,
            "capture": info.capture,
        }));
    }
    Section {
        title: "Replay per fix".into(),
        text,
        markdown: md,
        data: json!(rows),
    }
}

/// The captured statements as code spans (one line each), with their source.
fn captured_markdown(info: &super::FixReplay) -> String {
    let Some(c) = &info.capture else {
        return "—".into();
    };
    let Some(statements) = &c.statements else {
        return cell(&c.summary());
    };
    let mut parts = vec![format!("from {}", cell(&c.source))];
    for st in statements {
        let one_line: String = st.query.split_whitespace().collect::<Vec<_>>().join(" ");
        let short: String = one_line.chars().take(160).collect();
        parts.push(cell(&format!("`{}`", short.replace('`', "'"))));
    }
    parts.join("<br>")
}
