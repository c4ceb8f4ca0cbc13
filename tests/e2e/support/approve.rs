//! Helpers for the gate-approve tests: a policy with `[governance]`, registry entries, the
//! usual approval story committed under chosen identities with trailers, and the built
//! `gate-approve` binary run in a [`Repo`].

use super::repo::{DEV, Repo};
use super::run::{APPROVE, Run};
use super::sha256_hex;

pub const LEAD: &str = "lead@example.com";
/// Today for every check unless a test says otherwise: inside the default entry's window.
pub const TODAY: &str = "2026-01-05";
pub const SCRIPT: &str = "fix_orders.py";
pub const SCRIPT_TEXT: &str =
    "import os\n# repair\nprint(\"ALTER TABLE orders ADD COLUMN IF NOT EXISTS note text\")\n";

/// A policy; `governance_extra` goes into `[governance]`, `entries` after everything.
pub fn policy(governance_extra: &str, entries: &str) -> String {
    format!(
        r#"# Team policy. Comments and layout must survive every edit.
version = 1

[migrations]
kind = "alembic"
path = "alembic/versions"

[emergency]
scope = ["."]   # the repository root

[governance]
# Technical leads.
approvers = ["lead@example.com"]
ticket = '^(INC|OPS)-[0-9]+$'
convert-within-days = 14
four-eyes = true
{governance_extra}
{entries}"#
    )
}

/// A complete, valid active entry for `SCRIPT`; `over` replaces (Some) or drops (None) keys.
pub fn entry(over: &[(&str, Option<&str>)]) -> String {
    let sha = sha256_hex(SCRIPT_TEXT);
    let mut fields: Vec<(&str, String)> = vec![
        ("sha256", format!("\"{sha}\"")),
        (
            "reason",
            "\"orders lacked a note column in production\"".into(),
        ),
        ("ticket", "\"INC-1042\"".into()),
        ("author", format!("\"{DEV}\"")),
        ("approved-by", format!("\"{LEAD}\"")),
        ("approved-on", "2026-01-01".into()),
        ("convert-by", "2026-01-10".into()),
        ("status", "\"active\"".into()),
        ("rollback", format!("\"python3 {SCRIPT} --rollback\"")),
    ];
    for (k, v) in over {
        match (fields.iter().position(|(f, _)| f == k), v) {
            (Some(i), Some(v)) => fields[i].1 = (*v).to_string(),
            (Some(i), None) => {
                fields.remove(i);
            }
            (None, Some(v)) => fields.push((k, (*v).to_string())),
            (None, None) => {}
        }
    }
    let mut s = format!("\n[[emergency.script]]\npath = \"{SCRIPT}\"\n");
    for (k, v) in fields {
        s.push_str(&format!("{k} = {v}\n"));
    }
    s
}

impl Repo {
    /// `text` of policy.toml with `from` replaced by `to`, written; panics when `from` is absent.
    pub fn edit_policy(&self, from: &str, to: &str) {
        let text = self.read("policy.toml");
        assert!(text.contains(from), "policy.toml lacks {from:?}:\n{text}");
        self.write("policy.toml", text.replacen(from, to, 1));
    }

    /// Commit as the lead (author and committer) with the lead's trailer.
    pub fn commit_approved(&self, subject: &str) {
        self.commit_all_by(LEAD, &format!("{subject}\n\n{LEAD_TRAILER}\n"));
    }

    /// The usual story: dev adds the script and an unapproved entry; the lead commits the
    /// approval with the trailer. `approval_message` is the lead's commit message.
    pub fn approved_by_lead(governance_extra: &str, approval_message: &str) -> Repo {
        let r = Repo::new();
        r.write(SCRIPT, SCRIPT_TEXT);
        r.write(
            "policy.toml",
            policy(
                governance_extra,
                &entry(&[("approved-by", None), ("approved-on", None)]),
            ),
        );
        r.commit_all_by(DEV, "Add the orders fix");
        r.write("policy.toml", policy(governance_extra, &entry(&[])));
        r.commit_all_by(LEAD, approval_message);
        r
    }

    /// Run gate-approve in the repository.
    pub fn approve(&self, args: &[&str]) -> Run {
        self.run(APPROVE, args)
    }

    /// `gate-approve check --today TODAY` (unless args give one).
    pub fn check(&self) -> Run {
        self.approve(&["check", "--today", TODAY])
    }
}

/// The last paragraph of a commit message the lead approves.
pub const LEAD_TRAILER: &str = "Approved-by: Lee Lead <lead@example.com>";

pub const APPROVAL: &str = "Approve the orders fix\n\nReviewed the script and its rollback.\n\nApproved-by: Lee Lead <lead@example.com>\n";

/// `text` with every `[[emergency.script]]` entry written by register/baseline cut out, so
/// what remains can be compared byte for byte with the file before the edit.
pub fn without_entries(text: &str) -> String {
    let inner = regex::Regex::new(r"\[\[emergency\.script\]\]\n(?:[a-z0-9-]+ = .*\n)*\n").unwrap();
    let last = regex::Regex::new(r"\n\[\[emergency\.script\]\]\n(?:[a-z0-9-]+ = .*\n)*$").unwrap();
    let once = inner.replace_all(text, "").to_string();
    let mut out = once.clone();
    while let Some(m) = last.find(&out) {
        out.replace_range(m.range(), "\n");
        out.pop();
    }
    out
}
