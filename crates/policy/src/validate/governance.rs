//! `[governance]`: who may approve an emergency script and what an approval must carry.

use regex::Regex;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Checker, Problem};
use crate::model::{Governance, MergeMethod};

pub(super) const GOVERNANCE_KEYS: &[&str] = &[
    "approvers",
    "ticket",
    "convert-within-days",
    "four-eyes",
    "trailer",
    "require-signed",
    "require-rollback",
    "merge-method",
];

/// Upper bound of `governance.convert-within-days`: 100 years.
pub(crate) const MAX_DAYS: u64 = 36_500;
pub(crate) const DEFAULT_TICKET: &str = "^(INC|OPS)-[0-9]+$";

impl Checker<'_> {
    pub(super) fn governance(&mut self, root: &DeTable<'_>) -> Governance {
        let mut g = Governance {
            approvers: Vec::new(),
            ticket: Regex::new(DEFAULT_TICKET).expect("built-in ticket pattern compiles"),
            convert_within_days: 14,
            four_eyes: true,
            trailer: "Approved-by".into(),
            require_signed: false,
            require_rollback: true,
            merge_method: MergeMethod::Merge,
        };
        let Some(t) = self.section(root, "governance", GOVERNANCE_KEYS) else {
            return g;
        };
        let p = "governance";
        if let Some(v) = self.get(t, p, "approvers") {
            self.approvers(v, &mut g.approvers);
        }
        if let Some(v) = self.get(t, p, "ticket")
            && let Some(s) = self.string("governance.ticket", v)
            && let Some(r) = self.regex("governance.ticket", &Spanned::new(v.span(), s))
        {
            g.ticket = r;
        }
        if let Some(v) = self.get(t, p, "convert-within-days")
            && let Some(n) = self.integer_in(
                "governance.convert-within-days",
                v,
                0,
                MAX_DAYS,
                " days (100 years)",
            )
        {
            g.convert_within_days = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(v) = self.get(t, p, "four-eyes")
            && let Some(b) = self.boolean("governance.four-eyes", v)
        {
            g.four_eyes = b;
        }
        if let Some(v) = self.get(t, p, "trailer")
            && let Some(s) = self.string("governance.trailer", v)
        {
            if s.is_empty() || s.contains([':', ' ', '\n']) {
                self.push(Problem::at(
                    v.span(),
                    format!("`governance.trailer` = \"{s}\" is not a trailer name; write it without colon or spaces, like \"Approved-by\""),
                    "not a trailer name",
                ));
            } else {
                g.trailer = s;
            }
        }
        if let Some(v) = self.get(t, p, "require-signed")
            && let Some(b) = self.boolean("governance.require-signed", v)
        {
            g.require_signed = b;
        }
        if let Some(v) = self.get(t, p, "require-rollback")
            && let Some(b) = self.boolean("governance.require-rollback", v)
        {
            g.require_rollback = b;
        }
        if let Some(m) = self.merge_method(t) {
            g.merge_method = m;
        }
        g
    }

    /// `governance.merge-method`: one of merge | squash | rebase.
    fn merge_method(&mut self, t: &DeTable<'_>) -> Option<MergeMethod> {
        let v = self.get(t, "governance", "merge-method")?;
        let opts = [
            ("merge", MergeMethod::Merge),
            ("squash", MergeMethod::Squash),
            ("rebase", MergeMethod::Rebase),
        ];
        self.choice("governance.merge-method", v, &opts)
    }

    /// `governance.approvers`: email addresses; an entry that is not one is reported and left
    /// out.
    fn approvers(&mut self, v: &Spanned<DeValue<'_>>, approvers: &mut Vec<String>) {
        let Some(list) = self.strings("governance.approvers", v) else {
            return;
        };
        for a in list {
            if looks_like_email(a.get_ref()) {
                approvers.push(a.into_inner());
            } else {
                self.push(Problem::at(
                    a.span(),
                    format!(
                        "`governance.approvers` entry `{}` is not an email address",
                        a.get_ref()
                    ),
                    "expected an email like lead@example.com",
                ).note("approvers are matched against the email in the commit trailer and the committer"));
            }
        }
    }
}

fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == ',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(looks_like_email("lead@example.com"));
        assert!(!looks_like_email("lead"));
        assert!(!looks_like_email("Lead <lead@example.com>"));
        assert!(!looks_like_email("a@b@c"));
    }
}
