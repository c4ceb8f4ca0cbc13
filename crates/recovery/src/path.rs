//! The production path: every migration of the chain and every registered fix, in the order
//! production ran them.
//!
//! Ordering, decided once here:
//! - migrations in dependency order (parents first); revisions that could run in either order
//!   (two branches) keep the order the chain lists them in;
//! - a fix runs right after the migration named in its `applied-after`, before the next
//!   migration; fixes at the same revision by `applied-on` (dated ones first, earliest first),
//!   then registry order;
//! - a fix with no `applied-after` ran on production as it is now, so after the head, ordered
//!   the same way among themselves. This is also where the per-fix checks apply it.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::Serialize;

/// One revision of the migration chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRevision {
    /// The revision id the runner is asked to upgrade to.
    pub id: String,
    /// Other spellings an `applied-after` may use (a SQL tool's recorded version `1` for the
    /// file's `000001`).
    pub aliases: Vec<String>,
    pub parents: Vec<String>,
    /// Repository-relative file.
    pub file: String,
}

/// One registry entry to put on the path (the caller leaves out the ones production does not
/// run, such as retired fixes). Its position in the slice given to
/// [`ProductionPath::build`] is its registry order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredFix {
    pub path: String,
    pub applied_after: Option<String>,
    pub applied_on: Option<NaiveDate>,
}

/// One step of the path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Step {
    Migration {
        revision: String,
        file: String,
    },
    Fix {
        path: String,
        /// Index in the registry slice the path was built from.
        registry_index: usize,
    },
}

impl Step {
    /// `migration` or `fix`.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Migration { .. } => "migration",
            Step::Fix { .. } => "fix",
        }
    }

    /// The revision or the fix's path.
    pub fn name(&self) -> &str {
        match self {
            Step::Migration { revision, .. } => revision,
            Step::Fix { path, .. } => path,
        }
    }
}

/// The path cannot be built from what it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error(
        "emergency script {fix}: applied-after = \"{revision}\" names no revision of the chain"
    )]
    UnknownRevision { fix: String, revision: String },
    #[error("revision {revision} ({file}) names parent {parent}, which is not in the chain")]
    MissingParent {
        revision: String,
        file: String,
        parent: String,
    },
    #[error("the chain has a cycle through {0}")]
    Cycle(String),
}

/// The ordered steps production lived: migrations and fixes interleaved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductionPath {
    pub steps: Vec<Step>,
}

impl ProductionPath {
    /// The path for `chain` and `fixes` (see the module documentation for the order).
    pub fn build(chain: &[ChainRevision], fixes: &[RegisteredFix]) -> Result<Self, PathError> {
        let order = dependency_order(chain)?;
        // Every name a fix may use for a revision, to its position in `order`.
        let mut position: HashMap<&str, usize> = HashMap::new();
        for (pos, &i) in order.iter().enumerate() {
            let r = &chain[i];
            position.insert(r.id.as_str(), pos);
            for a in &r.aliases {
                position.entry(a.as_str()).or_insert(pos);
            }
        }
        // Fixes by the position they follow; `order.len()` stands for "after the head".
        let mut after: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, fix) in fixes.iter().enumerate() {
            let at = match fix.applied_after.as_deref().map(str::trim) {
                None | Some("") => order.len(),
                Some(r) => *position.get(r).ok_or_else(|| PathError::UnknownRevision {
                    fix: fix.path.clone(),
                    revision: r.to_string(),
                })?,
            };
            after.entry(at).or_default().push(i);
        }
        for group in after.values_mut() {
            // Dated fixes first (`None` sorts after every date), then registry order.
            group.sort_by_key(|&i| (fixes[i].applied_on.is_none(), fixes[i].applied_on, i));
        }
        let fix_steps = |at: usize| {
            after.get(&at).into_iter().flatten().map(|&i| Step::Fix {
                path: fixes[i].path.clone(),
                registry_index: i,
            })
        };
        let mut steps = Vec::with_capacity(chain.len() + fixes.len());
        for (pos, &i) in order.iter().enumerate() {
            steps.push(Step::Migration {
                revision: chain[i].id.clone(),
                file: chain[i].file.clone(),
            });
            steps.extend(fix_steps(pos));
        }
        steps.extend(fix_steps(order.len()));
        Ok(ProductionPath { steps })
    }

    /// The fixes on the path before step `index`, in path order.
    pub fn fixes_before(&self, index: usize) -> impl Iterator<Item = &Step> {
        self.steps[..index.min(self.steps.len())]
            .iter()
            .filter(|s| matches!(s, Step::Fix { .. }))
    }
}

/// Indexes into `chain` in dependency order; among revisions ready at the same time, the one
/// listed first goes first (Kahn's algorithm with the chain's own order as tie-break).
fn dependency_order(chain: &[ChainRevision]) -> Result<Vec<usize>, PathError> {
    let index: HashMap<&str, usize> = chain
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let mut waiting = vec![0usize; chain.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); chain.len()];
    for (i, r) in chain.iter().enumerate() {
        for p in &r.parents {
            let &pi = index
                .get(p.as_str())
                .ok_or_else(|| PathError::MissingParent {
                    revision: r.id.clone(),
                    file: r.file.clone(),
                    parent: p.clone(),
                })?;
            waiting[i] += 1;
            children[pi].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..chain.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(chain.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &c in &children[i] {
            waiting[c] -= 1;
            if waiting[c] == 0 {
                ready.insert(c);
            }
        }
    }
    if order.len() < chain.len() {
        let stuck = (0..chain.len())
            .find(|i| waiting[*i] > 0)
            .map_or_else(String::new, |i| chain[i].id.clone());
        return Err(PathError::Cycle(stuck));
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(id: &str, parents: &[&str]) -> ChainRevision {
        ChainRevision {
            id: id.into(),
            aliases: Vec::new(),
            parents: parents.iter().map(|p| (*p).to_string()).collect(),
            file: format!("versions/{id}.py"),
        }
    }

    fn fix(path: &str, after: Option<&str>, on: Option<&str>) -> RegisteredFix {
        RegisteredFix {
            path: path.into(),
            applied_after: after.map(str::to_string),
            applied_on: on.map(|d| d.parse().expect("date")),
        }
    }

    fn names(p: &ProductionPath) -> Vec<String> {
        p.steps
            .iter()
            .map(|s| format!("{}:{}", s.kind(), s.name()))
            .collect()
    }

    #[test]
    fn fixes_run_after_their_revision_and_before_the_next_migration() {
        let chain = [rev("a", &[]), rev("b", &["a"]), rev("c", &["b"])];
        let fixes = [
            fix("fix_b.sql", Some("b"), None),
            fix("fix_a.sql", Some("a"), None),
        ];
        let p = ProductionPath::build(&chain, &fixes).unwrap();
        assert_eq!(
            names(&p),
            [
                "migration:a",
                "fix:fix_a.sql",
                "migration:b",
                "fix:fix_b.sql",
                "migration:c"
            ]
        );
        assert_eq!(
            p.fixes_before(3).map(Step::name).collect::<Vec<_>>(),
            ["fix_a.sql"]
        );
    }

    #[test]
    fn same_revision_orders_by_applied_on_then_registry_order() {
        let chain = [rev("a", &[]), rev("b", &["a"])];
        let fixes = [
            fix("undated_1", Some("a"), None),
            fix("late", Some("a"), Some("2025-09-22")),
            fix("early", Some("a"), Some("2025-09-20")),
            fix("undated_2", Some("a"), None),
            fix("early_too", Some("a"), Some("2025-09-20")),
        ];
        let p = ProductionPath::build(&chain, &fixes).unwrap();
        assert_eq!(
            names(&p),
            [
                "migration:a",
                "fix:early",
                "fix:early_too",
                "fix:late",
                "fix:undated_1",
                "fix:undated_2",
                "migration:b"
            ]
        );
        let Step::Fix { registry_index, .. } = &p.steps[1] else {
            panic!("a fix")
        };
        assert_eq!(*registry_index, 2);
    }

    #[test]
    fn a_fix_without_applied_after_runs_after_the_head() {
        let chain = [rev("a", &[]), rev("b", &["a"])];
        let fixes = [
            fix("now.sql", None, None),
            fix("blank.sql", Some("  "), None),
        ];
        let p = ProductionPath::build(&chain, &fixes).unwrap();
        assert_eq!(
            names(&p),
            ["migration:a", "migration:b", "fix:now.sql", "fix:blank.sql"]
        );
    }

    #[test]
    fn migrations_follow_dependencies_not_listing_order() {
        // Listed child first, and a merge of two branches: parents always come first, and
        // the two branches keep the listing order between them.
        let chain = [
            rev("merge", &["left", "right"]),
            rev("right", &["base"]),
            rev("left", &["base"]),
            rev("base", &[]),
        ];
        let p = ProductionPath::build(&chain, &[fix("f", Some("left"), None)]).unwrap();
        assert_eq!(
            names(&p),
            [
                "migration:base",
                "migration:right",
                "migration:left",
                "fix:f",
                "migration:merge"
            ]
        );
    }

    #[test]
    fn aliases_name_a_revision_too() {
        let mut r = rev("000001", &[]);
        r.aliases.push("1".into());
        let p = ProductionPath::build(&[r], &[fix("f", Some("1"), None)]).unwrap();
        assert_eq!(names(&p), ["migration:000001", "fix:f"]);
    }

    #[test]
    fn bad_input_is_an_error_naming_it() {
        let chain = [rev("a", &[])];
        assert_eq!(
            ProductionPath::build(&chain, &[fix("f.sql", Some("zz"), None)]).unwrap_err(),
            PathError::UnknownRevision {
                fix: "f.sql".into(),
                revision: "zz".into()
            }
        );
        let err = ProductionPath::build(&[rev("b", &["gone"])], &[]).unwrap_err();
        assert!(err.to_string().contains("parent gone"), "{err}");
        let cycle = [rev("x", &["y"]), rev("y", &["x"])];
        assert!(matches!(
            ProductionPath::build(&cycle, &[]),
            Err(PathError::Cycle(_))
        ));
    }
}
