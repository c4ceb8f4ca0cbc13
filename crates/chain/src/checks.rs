//! Chain checks C001–C006. One function per rule; `check` runs them all.

use std::collections::{HashMap, HashSet};

use gate_policy::Policy;
use gate_report::{Code, Finding};

use crate::graph::{ChainKind, Revision, RevisionGraph};

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
                    Code::C001,
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
                        Code::C002,
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
                        Code::C002,
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
            Code::C003,
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
            Finding::new(Code::C004, text)
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

/// C006: more than one base, as one finding naming every base. The base with the most
/// descendants is taken as the real one; the others are the extra bases to re-parent, and
/// the finding points at the first of them.
pub fn c006_bases(graph: &RevisionGraph) -> Vec<Finding> {
    let bases = graph.bases();
    if bases.len() <= 1 {
        return Vec::new();
    }
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in graph.unique() {
        for p in &r.parents {
            children.entry(p.as_str()).or_default().push(r.id.as_str());
        }
    }
    let main = bases
        .iter()
        .enumerate()
        // Ties keep the first in load order.
        .max_by_key(|(i, r)| (descendants(&children, &r.id), std::cmp::Reverse(*i)))
        .map_or(0, |(i, _)| i);
    let extra: Vec<_> = bases
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != main)
        .map(|(_, r)| *r)
        .collect();
    let at = |r: &Revision| format!("{} ({}:{})", r.id, r.path, r.parents_at());
    let names: Vec<String> = bases.iter().map(|r| at(r)).collect();
    let extra_names: Vec<String> = extra.iter().map(|r| at(r)).collect();
    let mut help = format!(
        "Point down_revision of each extra base ({}) at the revision it really follows; {} looks like the real base (most revisions build on it)",
        extra_names.join(", "),
        bases[main].id
    );
    if graph.kind == ChainKind::Alembic {
        help.push_str(
            ". If they are independent branches on purpose, leave down_revision = None, give each base its own branch_labels, and let migrations.max-heads allow one head per branch (`alembic upgrade heads` applies them all)",
        );
    }
    let first = extra[0];
    vec![
        Finding::new(
            Code::C006,
            format!(
                "{} bases (down_revision = None) where one is expected: {}",
                bases.len(),
                names.join(", ")
            ),
        )
        .at(first.path.clone())
        .line(first.parents_at())
        .help(help),
    ]
}

/// How many revisions build on `id` (directly or not), from a parent -> children map.
fn descendants(children: &HashMap<&str, Vec<&str>>, id: &str) -> usize {
    let mut seen = HashSet::new();
    let mut stack = vec![id];
    while let Some(n) = stack.pop() {
        for c in children.get(n).into_iter().flatten() {
            if seen.insert(*c) {
                stack.push(c);
            }
        }
    }
    seen.len()
}
