//! The G001/G002 rules, shared by the staged scan and the working-tree scan. Each scan turns
//! what it sees into a [`Candidate`]; `gate_scripts::classify` decides, this module words the
//! finding.

use gate_policy::{Policy, Script};
use gate_report::render::markdown_code;
use gate_report::{CheckRun, Code, Finding};
use gate_scripts::{Candidate, Reason, Verdict, display_path, shell_quote};

use crate::ScanError;

/// Judge one candidate and record the check that ran in `checks` (G002 on a registered
/// entry, else G001 on the file). `load` reads its content (staged blob or working copy); it
/// is only called when the verdict needs the content.
pub fn judge(
    policy: &Policy,
    c: &Candidate,
    load: &mut dyn FnMut() -> Result<Vec<u8>, ScanError>,
    checks: &mut Vec<CheckRun>,
) -> Result<Option<Finding>, ScanError> {
    match gate_scripts::classify(policy, c, load)? {
        Verdict::Registered(script) => {
            checks.push(CheckRun::new(Code::G002, script.path.clone()));
            g002(policy, c, script, &load()?)
        }
        Verdict::Emergency(reason) => {
            checks.push(CheckRun::new(Code::G001, display_path(&c.raw)));
            Ok(Some(g001(policy, c, &reason)))
        }
        Verdict::Clean => {
            checks.push(CheckRun::new(Code::G001, display_path(&c.raw)));
            Ok(None)
        }
    }
}

/// A registered script must match the content its entry pins.
fn g002(
    policy: &Policy,
    c: &Candidate,
    script: &Script,
    content: &[u8],
) -> Result<Option<Finding>, ScanError> {
    let shown = display_path(&c.raw);
    let actual = gate_policy::sha256_hex(content);
    let approved = script.sha256.as_deref().map(str::trim);
    if approved.is_some_and(|a| a.eq_ignore_ascii_case(&actual)) {
        return Ok(None);
    }
    let quoted = shell_quote(&c.raw);
    let message = match approved {
        Some(a) if script.approved_by.is_some() => format!(
            "{shown} changed after approval: its sha256 is {actual}, the approval in {} (line {}) is pinned to {a}",
            policy_name(policy),
            script.line
        ),
        // A legacy or not yet approved entry pins what was registered, not an approval.
        Some(a) => format!(
            "{shown} changed since it was registered: its sha256 is {actual}, the entry in {} (line {}) is pinned to {a}",
            policy_name(policy),
            script.line
        ),
        None => format!(
            "{shown} is registered in {} (line {}) without a sha256, so no content is approved",
            policy_name(policy),
            script.line
        ),
    };
    Ok(Some(
        Finding::new(Code::G002, message)
            .at(shown)
            .entry(script.path.clone())
            .help(format!(
                "revert the edit, or re-pin it with {} and get it approved{}",
                markdown_code(&format!("gate-approve register {quoted} --update")),
                if script.approved_by.is_some() {
                    " again"
                } else {
                    ""
                }
            )),
    ))
}

/// An unregistered emergency script in scope.
fn g001(policy: &Policy, c: &Candidate, reason: &Reason) -> Finding {
    let shown = display_path(&c.raw);
    let (reason, line) = match reason {
        Reason::Name(pattern) => (format!("its name matches {}", markdown_code(pattern)), None),
        Reason::Ddl { line } => (
            format!("it runs DDL (line {line}) outside the migration chain"),
            Some(*line),
        ),
    };
    let quoted = shell_quote(&c.raw);
    let mut f = Finding::new(
        Code::G001,
        format!(
            "{shown} is an unregistered emergency script: {reason}, and it is not in [[emergency.script]]"
        ),
    )
    .at(shown)
    .help(format!(
        "turn it into a migration in {}/, or register it for approval: {}",
        policy.migrations.path.trim_end_matches('/'),
        markdown_code(&format!(
            "gate-approve register {quoted} --reason \"...\" --ticket INC-..."
        ))
    ));
    if let Some(l) = line {
        f = f.line(l);
    }
    f
}

fn policy_name(policy: &Policy) -> String {
    policy.file.file_name().map_or_else(
        || "policy.toml".into(),
        |n| n.to_string_lossy().into_owned(),
    )
}
