//! Property: any DAG of up to 500 revisions, written in any mix of the syntax variants real
//! version folders use, parses back to exactly the generated graph.

use std::collections::BTreeMap;

use crate::common;
use gate_chain::{Label, discover_from};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Gen {
    id: String,
    parents: Vec<String>,
    labels: Vec<String>,
    deps: Vec<String>,
}

/// Per-file choices of how to write things.
#[derive(Debug, Clone)]
struct Style {
    quote: u8,
    prefix: u8,
    annotated: bool,
    seq: u8,
    docstring: bool,
    py2: bool,
    omit_optional: bool,
    folder: u8,
}

fn style() -> impl Strategy<Value = Style> {
    (
        0u8..4,
        0u8..4,
        any::<bool>(),
        0u8..4,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0u8..3,
    )
        .prop_map(
            |(quote, prefix, annotated, seq, docstring, py2, omit_optional, folder)| Style {
                quote,
                prefix,
                annotated,
                seq,
                docstring,
                py2,
                omit_optional,
                folder,
            },
        )
}

fn lit(s: &str, st: &Style) -> String {
    let q = ["'", "\"", "'''", "\"\"\""][st.quote as usize];
    let p = ["", "r", "u", "R"][st.prefix as usize];
    format!("{p}{q}{s}{q}")
}

fn seq(items: &[String], st: &Style, multi_ok: bool) -> String {
    match items {
        [] => "None".into(),
        [one] if st.seq == 0 => lit(one, st),
        _ => {
            let parts: Vec<String> = items.iter().map(|s| lit(s, st)).collect();
            match st.seq {
                1 => format!("[{}]", parts.join(", ")),
                2 => format!(
                    "(\n    {},  # trailing comma and a comment\n)",
                    parts.join(",\n    # between\n    ")
                ),
                3 if multi_ok && items.len() > 1 => parts.join(", "),
                _ => format!("({},)", parts.join(", ")),
            }
        }
    }
}

fn write(g: &Gen, st: &Style) -> String {
    let mut s = String::new();
    if st.docstring {
        s.push_str("\"\"\"A message\n\nRevision ID: decoy\nRevises: decoy_parent\nrevision = 'decoy'\n\"\"\"\n");
    }
    s.push_str("from alembic import op\n\n");
    if st.py2 {
        s.push_str("print 'python 2 statement'\n");
    }
    let ann = |t: &str| {
        if st.annotated {
            format!(": {t}")
        } else {
            String::new()
        }
    };
    s.push_str(&format!("revision{} = {}\n", ann("str"), lit(&g.id, st)));
    s.push_str(&format!(
        "down_revision{} = {}\n",
        ann("Union[str, Sequence[str], None]"),
        seq(&g.parents, st, true)
    ));
    if !(st.omit_optional && g.labels.is_empty()) {
        s.push_str(&format!(
            "branch_labels{} = {}\n",
            ann("Union[str, Sequence[str], None]"),
            seq(&g.labels, st, false)
        ));
    }
    if !(st.omit_optional && g.deps.is_empty()) {
        s.push_str(&format!(
            "depends_on{} = {}\n",
            ann("Union[str, Sequence[str], None]"),
            seq(&g.deps, st, false)
        ));
    }
    s.push_str("\n\ndef upgrade():\n    revision = 'inner'\n    op.execute(\"\"\"\nrevision = 'in-sql'\n\"\"\")\n");
    s
}

fn dag() -> impl Strategy<Value = Vec<(Gen, Style)>> {
    (1usize..=500).prop_flat_map(|n| {
        proptest::collection::vec(
            (
                "[a-z0-9_]{3,10}",
                any::<u32>(),
                any::<u32>(),
                0u8..10,
                0u8..10,
                style(),
            ),
            n,
        )
        .prop_map(|raw| {
            let mut out: Vec<(Gen, Style)> = Vec::new();
            for (i, (stem, a, b, kind, extra, st)) in raw.into_iter().enumerate() {
                // `_` before the index: `ab1` + 1 and `ab` + 11 would both be `ab11`, a
                // duplicate the generator never meant.
                let id = format!("{stem}_{i}");
                let parents = if i == 0 {
                    vec![]
                } else if kind < 2 && i > 1 {
                    let x = a as usize % i;
                    let y = b as usize % i;
                    if x == y {
                        vec![out[x].0.id.clone()]
                    } else {
                        vec![out[x].0.id.clone(), out[y].0.id.clone()]
                    }
                } else {
                    vec![out[a as usize % i].0.id.clone()]
                };
                let labels = if extra == 0 {
                    vec![format!("label{i}")]
                } else {
                    vec![]
                };
                let deps = if extra == 1 && i > 0 {
                    vec![out[b as usize % i].0.id.clone()]
                } else {
                    vec![]
                };
                out.push((
                    Gen {
                        id,
                        parents,
                        labels,
                        deps,
                    },
                    st,
                ));
            }
            out
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn parsed_graph_equals_generated(revs in dag()) {
        let root = std::path::Path::new("/nonexistent");
        let policy = common::alembic_policy(root, 1000);
        let mut files = BTreeMap::new();
        for (i, (g, st)) in revs.iter().enumerate() {
            let folder = ["", "2024/", "old/nested/"][st.folder as usize];
            files.insert(format!("alembic/versions/{folder}{i:04}_{}.py", g.id), write(g, st).into_bytes());
        }
        let graph = discover_from(&files, &policy);
        prop_assert!(graph.problems.is_empty(), "{:?}", graph.problems);
        prop_assert_eq!(graph.len(), revs.len());
        for (g, _) in &revs {
            let r = graph.get(&g.id).expect("revision parsed");
            prop_assert_eq!(&r.parents, &g.parents);
            prop_assert_eq!(&r.depends_on, &g.deps);
            let labels: Vec<Label> = g.labels.iter().cloned().map(Label::Literal).collect();
            prop_assert_eq!(&r.branch_labels, &labels);
        }
        // A DAG built only from earlier revisions has one base and a full order.
        prop_assert_eq!(graph.bases().len(), 1);
        prop_assert_eq!(graph.order().len(), revs.len());
        prop_assert!(graph.cycles().is_empty());
    }
}
