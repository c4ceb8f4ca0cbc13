//! Attribution: which registered fix explains a difference between the replayed production
//! path and production itself (a `pg_dump --schema-only`), and which differences nothing
//! registered explains (`F007`, a manual patch).
//!
//! A difference is explained by a fix when the fix touched the same object on the path: the
//! object appears in what its run changed (the schema before and after it, diffed) or in the
//! objects the server reported it creating, altering or dropping (captured statements). Objects
//! are compared by a key at the grain of the difference: a column added by hand to a table a
//! fix created is not explained by that fix.

use std::collections::BTreeSet;

use gate_schema::Difference;
use serde::Serialize;

/// The key of the object a difference is about: `table public.users column email`,
/// `index public.ix_users_email`, `enum public.role`.
pub fn difference_key(d: &Difference) -> String {
    // Members reported against their table ("column x only in reference") are keyed by the
    // member, so they are compared at that grain.
    for member in ["column", "constraint"] {
        if let Some(rest) = d.detail.strip_prefix(&format!("{member} "))
            && let Some((name, _)) = rest.split_once(" only in ")
        {
            return format!("{} {member} {name}", d.object);
        }
    }
    // `column public.users.email` (a column present on both sides that differs).
    if let Some(rest) = d.object.strip_prefix("column ")
        && let Some((table, column)) = rest.rsplit_once('.')
    {
        return format!("table {table} column {column}");
    }
    if let Some(rest) = d.object.strip_prefix("constraint ")
        && let Some((table, name)) = rest.rsplit_once('.')
    {
        return format!("table {table} constraint {name}");
    }
    d.object.clone()
}

/// The key of an object the server reported a statement touching (`object_type`,
/// `object_identity` of `pg_event_trigger_ddl_commands()` / `pg_event_trigger_dropped_objects()`),
/// when it has one [`difference_key`] can produce.
pub fn captured_key(object_type: &str, identity: &str) -> Option<String> {
    let kind = match object_type {
        "table" | "index" | "sequence" | "view" | "schema" | "extension" | "domain" => object_type,
        "materialized view" => "view",
        "type" => "enum",
        "table column" => {
            let (table, column) = identity.rsplit_once('.')?;
            return Some(format!("table {table} column {column}"));
        }
        "table constraint" => {
            // `name on schema.table`
            let (name, table) = identity.split_once(" on ")?;
            return Some(format!("table {table} constraint {name}"));
        }
        "trigger" => {
            let (name, table) = identity.split_once(" on ")?;
            return Some(format!("trigger {table}.{name}"));
        }
        _ => return None,
    };
    Some(format!("{kind} {identity}"))
}

/// What one fix touched on the path, as keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explained {
    pub fix: String,
    pub keys: BTreeSet<String>,
}

impl Explained {
    /// Keys of `changes` (the schema after the fix against before it) and of the
    /// `captured` (object type, identity) pairs.
    pub fn new<'a>(
        fix: impl Into<String>,
        changes: &[Difference],
        captured: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let mut keys: BTreeSet<String> = changes.iter().map(difference_key).collect();
        keys.extend(captured.into_iter().filter_map(|(t, i)| captured_key(t, i)));
        Explained {
            fix: fix.into(),
            keys,
        }
    }
}

/// One difference and the fixes that explain it (empty: nothing registered does, `F007`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attribution {
    pub difference: Difference,
    pub fixes: Vec<String>,
}

impl Attribution {
    pub fn is_explained(&self) -> bool {
        !self.fixes.is_empty()
    }
}

/// Each difference with the fixes (in path order) that touched its object.
pub fn attribute(differences: &[Difference], fixes: &[Explained]) -> Vec<Attribution> {
    differences
        .iter()
        .map(|d| {
            let key = difference_key(d);
            Attribution {
                difference: d.clone(),
                fixes: fixes
                    .iter()
                    .filter(|f| f.keys.contains(&key))
                    .map(|f| f.fix.clone())
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(object: &str, detail: &str) -> Difference {
        Difference {
            object: object.into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn keys_are_at_the_grain_of_the_difference() {
        assert_eq!(
            difference_key(&d(
                "table public.users",
                "column nickname only in reference"
            )),
            "table public.users column nickname"
        );
        assert_eq!(
            difference_key(&d(
                "column public.users.email",
                "type text in a, integer in b"
            )),
            "table public.users column email"
        );
        assert_eq!(
            difference_key(&d("table public.users", "constraint uq_x only in path")),
            "table public.users constraint uq_x"
        );
        assert_eq!(
            difference_key(&d("index public.ix_a", "only in reference")),
            "index public.ix_a"
        );
        assert_eq!(
            captured_key("table column", "public.users.email").as_deref(),
            Some("table public.users column email")
        );
        assert_eq!(
            captured_key("trigger", "trg_audit on public.users").as_deref(),
            Some("trigger public.users.trg_audit")
        );
        assert_eq!(
            captured_key("type", "public.role").as_deref(),
            Some("enum public.role")
        );
        assert_eq!(captured_key("function", "public.f(integer)"), None);
    }

    #[test]
    fn a_difference_names_the_fix_that_touched_its_object_or_nothing() {
        let fix_a = Explained::new(
            "fixes/add_index.sql",
            &[d("index public.ix_orders_user", "only in after the fix")],
            [("table", "public.audit")],
        );
        let fix_b = Explained::new(
            "fixes/add_column.py",
            &[d("table public.users", "column vip only in after the fix")],
            [],
        );
        let diffs = [
            d("index public.ix_orders_user", "only in production path"),
            d("table public.audit", "only in reference"),
            d("table public.users", "column vip only in reference"),
            // Same table as fix_b, another column: a manual patch.
            d("table public.users", "column nickname only in reference"),
        ];
        let got = attribute(&diffs, &[fix_a, fix_b]);
        let fixes: Vec<Vec<String>> = got.iter().map(|a| a.fixes.clone()).collect();
        assert_eq!(
            fixes,
            [
                vec!["fixes/add_index.sql".to_string()],
                vec!["fixes/add_index.sql".to_string()],
                vec!["fixes/add_column.py".to_string()],
                vec![],
            ]
        );
        assert!(!got[3].is_explained());
    }
}
