//! A Mermaid flowchart of the revision DAG (GitHub renders ```mermaid blocks), heads
//! highlighted. Other gates hang their own annotated nodes on revisions (e.g. gate-approve
//! shows where an emergency fix ran) with [`Mermaid::node`] and [`Mermaid::edge`].

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::graph::RevisionGraph;

/// Style of an extra node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStyle {
    /// Neutral annotation.
    Note,
    /// Something that needs attention (e.g. an unconverted emergency fix).
    Warning,
    /// Something wrong.
    Error,
}

#[derive(Debug, Clone)]
struct Extra {
    key: String,
    label: String,
    style: NodeStyle,
}

#[derive(Debug, Clone)]
struct Edge {
    from: String,
    to: String,
    label: Option<String>,
    dotted: bool,
}

/// Builder for the diagram. Revisions are referred to by revision id; extra nodes by the key
/// given to [`Mermaid::node`].
#[derive(Debug, Clone)]
pub struct Mermaid<'a> {
    graph: &'a RevisionGraph,
    extras: Vec<Extra>,
    edges: Vec<Edge>,
}

/// Mermaid node ids must be plain words; revision ids may be anything.
fn node_id(prefix: &str, key: &str) -> String {
    let mut s = String::from(prefix);
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else {
            let _ = write!(s, "_{:x}_", c as u32);
        }
    }
    s
}

/// Text inside `["..."]`: quotes and angle brackets as entities so labels cannot break out.
fn label(text: &str) -> String {
    text.replace('&', "#amp;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
        .replace('\n', "<br/>")
}

impl<'a> Mermaid<'a> {
    pub fn new(graph: &'a RevisionGraph) -> Self {
        Mermaid {
            graph,
            extras: Vec::new(),
            edges: Vec::new(),
        }
    }

    /// Add an annotated node `key` and, if `attach_to` names a revision, a dotted edge from
    /// that revision to it (labelled `edge_label`).
    pub fn node(
        &mut self,
        key: &str,
        text: &str,
        style: NodeStyle,
        attach_to: Option<&str>,
        edge_label: Option<&str>,
    ) -> &mut Self {
        self.extras.push(Extra {
            key: key.to_string(),
            label: text.to_string(),
            style,
        });
        if let Some(rev) = attach_to {
            self.edges.push(Edge {
                from: node_id("r_", rev),
                to: node_id("x_", key),
                label: edge_label.map(str::to_string),
                dotted: true,
            });
        }
        self
    }

    /// Add a dotted edge between two endpoints; each is a revision id or an extra node key
    /// (extra node keys win when both exist).
    pub fn edge(&mut self, from: &str, to: &str, edge_label: Option<&str>) -> &mut Self {
        let resolve = |k: &str| {
            if self.extras.iter().any(|e| e.key == k) {
                node_id("x_", k)
            } else {
                node_id("r_", k)
            }
        };
        let (from, to) = (resolve(from), resolve(to));
        self.edges.push(Edge {
            from,
            to,
            label: edge_label.map(str::to_string),
            dotted: true,
        });
        self
    }

    /// The diagram source (without the ```mermaid fence).
    pub fn render(&self) -> String {
        let g = self.graph;
        let mut s = String::from("flowchart BT\n");
        let heads: HashSet<&str> = g.heads().iter().map(|r| r.id.as_str()).collect();
        for r in g.order() {
            let file = r.path.rsplit('/').next().unwrap_or(&r.path);
            let mut text = r.id.clone();
            if heads.contains(r.id.as_str()) {
                text.push_str(" (head)");
            }
            text.push('\n');
            text.push_str(file);
            let _ = writeln!(s, "  {}[\"{}\"]", node_id("r_", &r.id), label(&text));
        }
        for r in g.order() {
            for p in &r.parents {
                let _ = writeln!(s, "  {} --> {}", node_id("r_", p), node_id("r_", &r.id));
            }
            for d in &r.depends_on {
                let target = g.resolve(d).map_or(d.as_str(), |t| t.id.as_str());
                let _ = writeln!(
                    s,
                    "  {} -. depends_on .-> {}",
                    node_id("r_", target),
                    node_id("r_", &r.id)
                );
            }
        }
        for e in &self.extras {
            let _ = writeln!(s, "  {}([\"{}\"])", node_id("x_", &e.key), label(&e.label));
        }
        for e in &self.edges {
            let arrow = if e.dotted { "-.->" } else { "-->" };
            match &e.label {
                Some(l) => {
                    let _ = writeln!(s, "  {} {arrow}|\"{}\"| {}", e.from, label(l), e.to);
                }
                None => {
                    let _ = writeln!(s, "  {} {arrow} {}", e.from, e.to);
                }
            }
        }
        s.push_str("  classDef head fill:#fde68a,stroke:#b45309,stroke-width:3px\n");
        s.push_str("  classDef note fill:#e0f2fe,stroke:#0369a1\n");
        s.push_str("  classDef warning fill:#ffedd5,stroke:#c2410c\n");
        s.push_str("  classDef error fill:#fee2e2,stroke:#b91c1c\n");
        let mut head_ids: Vec<String> = g.heads().iter().map(|r| node_id("r_", &r.id)).collect();
        head_ids.sort();
        if !head_ids.is_empty() {
            let _ = writeln!(s, "  class {} head", head_ids.join(","));
        }
        for (style, name) in [
            (NodeStyle::Note, "note"),
            (NodeStyle::Warning, "warning"),
            (NodeStyle::Error, "error"),
        ] {
            let ids: Vec<String> = self
                .extras
                .iter()
                .filter(|e| e.style == style)
                .map(|e| node_id("x_", &e.key))
                .collect();
            if !ids.is_empty() {
                let _ = writeln!(s, "  class {} {name}", ids.join(","));
            }
        }
        s
    }

    /// The diagram in a fenced ```mermaid block for Markdown.
    pub fn markdown(&self) -> String {
        format!("```mermaid\n{}```\n", self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{ChainKind, Revision};

    fn rev(id: &str, parents: &[&str]) -> Revision {
        Revision {
            id: id.into(),
            parents: parents.iter().map(|s| s.to_string()).collect(),
            depends_on: vec![],
            depends_on_symbolic: vec![],
            branch_labels: vec![],
            path: format!("v/{id}.py"),
            line: 1,
            parents_line: None,
            depends_on_line: None,
            branch_labels_line: None,
            sql: None,
        }
    }

    #[test]
    fn heads_highlighted_and_extras_attached() {
        let g = RevisionGraph::new(
            ChainKind::Alembic,
            vec![rev("a", &[]), rev("b", &["a"]), rev("c-1", &["a"])],
        );
        let mut m = Mermaid::new(&g);
        m.node(
            "fix1",
            "emergency_fix.py \"x\"",
            NodeStyle::Warning,
            Some("b"),
            Some("ran after"),
        );
        let out = m.render();
        assert!(out.contains("r_a --> r_b"), "{out}");
        assert!(out.contains("r_a --> r_c_2d_1"), "{out}");
        assert!(out.contains("class r_b,r_c_2d_1 head"), "{out}");
        assert!(
            out.contains("x_fix1([\"emergency_fix.py #quot;x#quot;\"])"),
            "{out}"
        );
        assert!(out.contains("r_b -.->|\"ran after\"| x_fix1"), "{out}");
        assert!(out.contains("class x_fix1 warning"), "{out}");
        assert!(m.markdown().starts_with("```mermaid\nflowchart BT\n"));
    }
}
