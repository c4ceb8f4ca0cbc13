//! Chain checks C001–C006. One function per rule; `check` runs them all.

use gate_policy::Policy;
use gate_report::Finding;

use crate::graph::{ChainKind, RevisionGraph};

/// Every chain finding for `graph` under `policy`: the discovery problems (C005, SQL C001)
/// followed by C001–C006. A `command` chain has no static graph and yields nothing.
pub fn check(graph: &RevisionGraph, policy: &Policy) -> Vec<Finding> {
    if graph.kind == ChainKind::Command {
        return Vec::new();
    }
    let mut out = graph.problems.clone();
    out.extend(c001_duplicates(graph));
    out.extend(c002_missing_parents(graph));
    out.extend(c004_cycles(graph));
    out.extend(c003_heads(graph, policy.migrations.max_heads));
    out.extend(c006_bases(graph));
    out
}

/// C001 for Alembic (SQL duplicates are found while reading versions from file names).
pub fn c001_duplicates(graph: &RevisionGraph) -> Vec<Finding> {
    if graph.kind != ChainKind::Alembic {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (id, revs) in graph.duplicates() {
        let places: Vec<String> = revs
            .iter()
            .map(|r| format!("{}:{}", r.path, r.line))
            .collect();
        for r in revs.iter().skip(1) {
            out.push(
                Finding::new(
                    "C001",
                    format!("revision {id} is declared more than once: {}", places.join(", ")),
                )
                .at(r.path.clone())
                .line(r.line)
                .help(format!(
                    "Give `{}` a new revision id (e.g. from `python3 -c \"import uuid; print(uuid.uuid4().hex[:12])\"`) and re-point any revision that meant it",
                    r.path
                )),
            );
        }
    }
    out
}

/// C002: a `down_revision` or `depends_on` that names nothing in the chain.
pub fn c002_missing_parents(graph: &RevisionGraph) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in graph.unique() {
        for p in &r.parents {
            if graph.get(p).is_none() {
                out.push(
                    Finding::new(
                        "C002",
                        format!("revision {} has down_revision {p}, which is not in the chain", r.id),
                    )
                    .at(r.path.clone())
                    .line(r.parents_at())
                    .help(format!(
                        "Point down_revision of {} at an existing revision, or restore the migration {p}",
                        r.id
                    )),
                );
            }
        }
        for d in &r.depends_on {
            if graph.resolve(d).is_none() {
                out.push(
                    Finding::new(
                        "C002",
                        format!(
                            "revision {} depends_on {d}, which is neither a revision nor a branch label of the chain",
                            r.id
                        ),
                    )
                    .at(r.path.clone())
                    .line(r.depends_on_line.unwrap_or(r.line))
                    .help(format!("Remove {d} from depends_on of {}, or restore that revision", r.id)),
                );
            }
        }
    }
    out
}

/// C003: more heads than `migrations.max-heads`, naming the heads and where they fork.
pub fn c003_heads(graph: &RevisionGraph, max_heads: usize) -> Vec<Finding> {
    let heads = graph.heads();
    if heads.len() <= max_heads {
        return Vec::new();
    }
    let ids: Vec<&str> = heads.iter().map(|r| r.id.as_str()).collect();
    let fork = graph.fork_point(&ids);
    let listed: Vec<String> = heads
        .iter()
        .map(|r| format!("{} ({}:{})", r.id, r.path, r.line))
        .collect();
    let fork_text = match &fork {
        Some(f) => format!("; they fork at {f}"),
        None => "; they share no common ancestor".to_string(),
    };
    let help = if graph.kind == ChainKind::Alembic {
        format!(
            "Merge them: `alembic merge -m \"merge heads\" {}` (or raise migrations.max-heads if the branches are intentional)",
            ids.join(" ")
        )
    } else {
        "Renumber the migrations into one line".to_string()
    };
    let last = heads[heads.len() - 1];
    vec![
        Finding::new(
            "C003",
            format!(
                "{} heads, more than migrations.max-heads = {max_heads}: {}{fork_text}",
                heads.len(),
                listed.join(", ")
            ),
        )
        .at(last.path.clone())
        .line(last.line)
        .help(help),
    ]
}

/// C004: cycles, printed as `a -> b -> a`.
pub fn c004_cycles(graph: &RevisionGraph) -> Vec<Finding> {
    let mut out = Vec::new();
    for cyc in graph.cycles() {
        let Some(first) = cyc.first().and_then(|id| graph.get(id)) else {
            continue;
        };
        let text = if cyc.len() == 2 && cyc[0] == cyc[1] {
            format!("revision {} names itself as its parent", cyc[0])
        } else {
            format!("revision cycle: {}", cyc.join(" -> "))
        };
        out.push(
            Finding::new("C004", text)
                .at(first.path.clone())
                .line(first.parents_at())
                .help(format!(
                    "Correct down_revision of {} (or of another revision in the cycle) so the chain leads back to a base",
                    first.id
                )),
        );
    }
    out
}

/// C006: more than one base.
pub fn c006_bases(graph: &RevisionGraph) -> Vec<Finding> {
    let bases = graph.bases();
    if bases.len() <= 1 {
        return Vec::new();
    }
    let names: Vec<String> = bases
        .iter()
        .map(|r| format!("{} ({})", r.id, r.path))
        .collect();
    bases
        .iter()
        .skip(1)
        .map(|r| {
            Finding::new(
                "C006",
                format!(
                    "{} bases (down_revision = None): {}",
                    bases.len(),
                    names.join(", ")
                ),
            )
            .at(r.path.clone())
            .line(r.parents_at())
            .help(format!(
                "Set down_revision of {} to the revision it really follows",
                r.id
            ))
        })
        .collect()
}
