//! Property: on any graph — cycles, self-references, missing parents, duplicates, dangling
//! depends_on — the checks and the order never panic or loop, and the order is a valid
//! topological order of whatever is orderable.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::common;
use gate_chain::{check, discover_from, lock_findings, render_lock};
use proptest::prelude::*;

fn graph_files() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    proptest::collection::vec(
        (
            0u8..40,
            proptest::collection::vec(0u8..45, 0..3),
            proptest::collection::vec(0u8..45, 0..2),
            any::<bool>(),
        ),
        1..60,
    )
    .prop_map(|revs| {
        let mut files = BTreeMap::new();
        for (i, (id, parents, deps, label)) in revs.into_iter().enumerate() {
            let tuple = |v: &[u8]| {
                if v.is_empty() {
                    "None".to_string()
                } else {
                    format!(
                        "({},)",
                        v.iter()
                            .map(|p| format!("'r{p}'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            };
            let text = format!(
                "revision = 'r{id}'\ndown_revision = {}\nbranch_labels = {}\ndepends_on = {}\n",
                tuple(&parents),
                if label {
                    format!("('r{}',)", id + 1)
                } else {
                    "None".into()
                },
                tuple(&deps),
            );
            files.insert(format!("alembic/versions/f{i:03}.py"), text.into_bytes());
        }
        files
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn checks_and_order_are_total(files in graph_files()) {
        let policy = common::alembic_policy(std::path::Path::new("/nonexistent"), 1);
        let g = discover_from(&files, &policy);
        let findings = check(&g, &policy);
        let order = g.order();
        let ids: Vec<&str> = order.iter().map(|r| r.id.as_str()).collect();
        let unique: HashSet<&str> = ids.iter().copied().collect();
        prop_assert_eq!(unique.len(), ids.len(), "order repeats a revision");
        prop_assert!(ids.len() <= g.len());
        let pos: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let cyclic = !g.cycles().is_empty();
        prop_assert_eq!(cyclic, findings.iter().any(|f| f.code == "C004"));
        if !cyclic {
            prop_assert_eq!(ids.len(), g.len(), "acyclic graphs are fully ordered");
            for r in &order {
                for p in &r.parents {
                    if let Some(&pp) = pos.get(p.as_str()) {
                        prop_assert!(pp < pos[r.id.as_str()], "{} before its parent {}", r.id, p);
                    }
                }
            }
        }
        // Locking whatever is there and checking it again finds nothing new.
        let lock = render_lock(&g, &files);
        let again = lock_findings(&policy, Some(lock.as_bytes()), &files).unwrap();
        prop_assert!(again.iter().all(|f| f.code != "G003"), "{:?}", again);
    }
}
