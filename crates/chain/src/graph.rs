//! The revision graph every migration kind is turned into, and Alembic's view of it:
//! heads, bases, and the upgrade order.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use gate_report::Finding;
use serde::Serialize;

/// Which tool's conventions produced the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainKind {
    Alembic,
    GolangMigrate,
    Flyway,
    Sqlx,
    Dbmate,
    Plain,
    /// `kind = "command"`: the chain lives in another tool; there is no static graph.
    Command,
}

impl ChainKind {
    /// The name written in `migrations.lock` (`alembic`, `sql:golang-migrate`, ...).
    pub fn lock_name(self) -> &'static str {
        match self {
            ChainKind::Alembic => "alembic",
            ChainKind::GolangMigrate => "sql:golang-migrate",
            ChainKind::Flyway => "sql:flyway",
            ChainKind::Sqlx => "sql:sqlx",
            ChainKind::Dbmate => "sql:dbmate",
            ChainKind::Plain => "sql:plain",
            ChainKind::Command => "command",
        }
    }
}

/// A `branch_labels` entry: a literal label, or an expression Alembic would evaluate at
/// import time (kept as source text; it cannot be resolved statically).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Literal(String),
    Symbolic(String),
}

/// What a SQL runner needs to apply one versioned migration: the replay applies exactly
/// this, so the static checks and the replay read the folder the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SqlMigration {
    /// The version as written in the file name (`0001`, `1_2`, `20240101120000`).
    pub version: String,
    /// The version as the tool writes it into its bookkeeping table: golang-migrate and sqlx
    /// store an integer (`0001` -> `1`), Flyway reads `_` as `.` (`1_2` -> `1.2`); dbmate and
    /// plain keep the file's spelling. Empty for Flyway repeatables.
    pub recorded_version: String,
    /// The description part of the file name.
    pub description: String,
    /// Repository-relative path of the file that upgrades.
    pub up: String,
    /// Repository-relative path of the file that downgrades (golang-migrate/sqlx/plain
    /// `.down.sql`, flyway `U` undo; for dbmate the same file as `up`).
    pub down: Option<String>,
    /// dbmate only: the `-- migrate:up` section and the `-- migrate:down` section.
    pub up_sql: Option<String>,
    pub down_sql: Option<String>,
    /// dbmate only: byte offsets of `up_sql` and `down_sql` in the file's text (as
    /// [`crate::source_text`] decodes it), so an error position maps back to file:line:col.
    pub up_sql_at: usize,
    pub down_sql_at: usize,
    /// The up migration must not run inside a transaction: it says so
    /// (`-- gate:no-transaction`, dbmate's `-- migrate:up transaction:false`, sqlx's leading
    /// `-- no-transaction`) or holds a statement PostgreSQL refuses in one (`CONCURRENTLY`,
    /// `VACUUM`, `CREATE`/`DROP DATABASE`).
    pub no_transaction: bool,
    /// The same for the down migration (its own file, or dbmate's down section).
    pub down_no_transaction: bool,
}

/// One migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revision {
    /// Revision id (Alembic) or version (SQL kinds).
    pub id: String,
    /// `down_revision` (Alembic); the previous version (SQL kinds).
    pub parents: Vec<String>,
    /// `depends_on` entries that are literal (revision ids or branch labels).
    pub depends_on: Vec<String>,
    /// `depends_on` entries that are expressions.
    pub depends_on_symbolic: Vec<String>,
    pub branch_labels: Vec<Label>,
    /// Repository-relative path with `/` separators.
    pub path: String,
    /// 1-based line of `revision =` (1 for SQL files).
    pub line: u32,
    /// 1-based line of `down_revision =`, when present.
    pub parents_line: Option<u32>,
    pub depends_on_line: Option<u32>,
    pub branch_labels_line: Option<u32>,
    /// SQL kinds only.
    pub sql: Option<SqlMigration>,
}

impl Revision {
    /// A merge revision has more than one parent.
    pub fn is_merge(&self) -> bool {
        self.parents.len() > 1
    }

    /// Line to cite for a parent problem.
    pub fn parents_at(&self) -> u32 {
        self.parents_line.unwrap_or(self.line)
    }
}

/// The whole chain.
#[derive(Debug, Clone, Serialize)]
pub struct RevisionGraph {
    pub kind: ChainKind,
    /// Every migration found, in load order (Alembic: file order as Alembic's script
    /// directory lists them; SQL: version order). Duplicated ids appear more than once.
    pub revisions: Vec<Revision>,
    /// Flyway repeatable `R__` scripts (run after all versioned migrations, in this order).
    pub repeatable: Vec<SqlMigration>,
    /// C005 (and discovery-time C001) findings.
    pub problems: Vec<Finding>,
    /// Id -> index into `revisions`; the last file wins, as in Alembic's revision map.
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl RevisionGraph {
    pub fn new(kind: ChainKind, revisions: Vec<Revision>) -> Self {
        let mut index = HashMap::with_capacity(revisions.len());
        for (i, r) in revisions.iter().enumerate() {
            index.insert(r.id.clone(), i);
        }
        RevisionGraph {
            kind,
            revisions,
            repeatable: Vec::new(),
            problems: Vec::new(),
            index,
        }
    }

    /// Number of distinct revisions.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Revision> {
        self.index.get(id).map(|&i| &self.revisions[i])
    }

    /// Distinct revisions in load order (for duplicated ids, the one Alembic keeps).
    pub fn unique(&self) -> impl Iterator<Item = &Revision> {
        self.revisions
            .iter()
            .enumerate()
            .filter(|(i, r)| self.index.get(&r.id) == Some(i))
            .map(|(_, r)| r)
    }

    /// Resolve a `depends_on` entry: a revision id, or a literal branch label.
    pub fn resolve(&self, name: &str) -> Option<&Revision> {
        self.get(name).or_else(|| {
            self.unique().find(|r| {
                r.branch_labels
                    .iter()
                    .any(|l| matches!(l, Label::Literal(x) if x == name))
            })
        })
    }

    /// Heads as `alembic heads` reports them: revisions no other revision names as
    /// `down_revision`. `depends_on` does not make its target a non-head (Alembic discards
    /// only "versioned" down revisions from its head set). Load order.
    pub fn heads(&self) -> Vec<&Revision> {
        let named: HashSet<&str> = self
            .unique()
            .flat_map(|r| r.parents.iter().map(String::as_str))
            .collect();
        self.unique()
            .filter(|r| !named.contains(r.id.as_str()))
            .collect()
    }

    /// Bases: revisions whose `down_revision` is None.
    pub fn bases(&self) -> Vec<&Revision> {
        self.unique().filter(|r| r.parents.is_empty()).collect()
    }

    /// Merge points: revisions with more than one parent.
    pub fn merges(&self) -> Vec<&Revision> {
        self.unique().filter(|r| r.is_merge()).collect()
    }

    /// Revisions that are the parent of more than one revision (where branches fork).
    pub fn branch_points(&self) -> Vec<&Revision> {
        let mut children: HashMap<&str, usize> = HashMap::new();
        for r in self.unique() {
            for p in &r.parents {
                *children.entry(p.as_str()).or_default() += 1;
            }
        }
        self.unique()
            .filter(|r| children.get(r.id.as_str()).copied().unwrap_or(0) > 1)
            .collect()
    }

    /// Everything a revision must come after: parents and resolved dependencies that exist.
    fn down_edges(&self, r: &Revision) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for p in &r.parents {
            if let Some(&i) = self.index.get(p)
                && !out.contains(&i)
            {
                out.push(i);
            }
        }
        for d in &r.depends_on {
            if let Some(t) = self.resolve(d) {
                let i = self.index[&t.id];
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        out
    }

    /// Cycles among revisions (each as a list of ids, in edge order child -> parent).
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let nodes: Vec<usize> = self.unique_indices();
        let edges: HashMap<usize, Vec<usize>> = nodes
            .iter()
            .map(|&i| (i, self.down_edges(&self.revisions[i])))
            .collect();
        let mut out = Vec::new();
        for scc in tarjan(&nodes, &edges) {
            let is_cycle = scc.len() > 1 || edges[&scc[0]].contains(&scc[0]);
            if is_cycle {
                out.push(self.cycle_path(&scc, &edges));
            }
        }
        out
    }

    /// A concrete cycle inside a strongly connected component, printed as a path.
    fn cycle_path(&self, scc: &[usize], edges: &HashMap<usize, Vec<usize>>) -> Vec<String> {
        let members: HashSet<usize> = scc.iter().copied().collect();
        let start = *scc.iter().min().unwrap_or(&scc[0]);
        let mut path = vec![start];
        let mut seen = HashSet::from([start]);
        let mut cur = start;
        while let Some(&next) = edges[&cur].iter().find(|n| members.contains(n)) {
            if seen.contains(&next) {
                let pos = path.iter().position(|&p| p == next).unwrap_or(0);
                let mut cyc: Vec<String> = path[pos..]
                    .iter()
                    .map(|&i| self.revisions[i].id.clone())
                    .collect();
                cyc.push(self.revisions[next].id.clone());
                return cyc;
            }
            seen.insert(next);
            path.push(next);
            cur = next;
        }
        path.iter().map(|&i| self.revisions[i].id.clone()).collect()
    }

    fn unique_indices(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.index.values().copied().collect();
        v.sort_unstable();
        v
    }

    /// Upgrade order from an empty database to all heads, base first.
    ///
    /// For Alembic this is the reverse of Alembic's own topological sort (the order
    /// `alembic history` prints, newest first), which walks heads in load order and descends
    /// one branch until another head still needs the revision. SQL kinds: version order.
    /// Revisions caught in a cycle cannot be ordered and are left out (`check` reports C004).
    pub fn order(&self) -> Vec<&Revision> {
        if self.kind != ChainKind::Alembic {
            return self.unique().collect();
        }
        let cyclic: HashSet<usize> = {
            let nodes = self.unique_indices();
            let edges: HashMap<usize, Vec<usize>> = nodes
                .iter()
                .map(|&i| (i, self.down_edges(&self.revisions[i])))
                .collect();
            tarjan(&nodes, &edges)
                .into_iter()
                .filter(|s| s.len() > 1 || edges[&s[0]].contains(&s[0]))
                .flatten()
                .collect()
        };
        let mut out = self.alembic_topological(&cyclic);
        out.reverse();
        out.into_iter().map(|i| &self.revisions[i]).collect()
    }

    /// Port of `RevisionMap._topological_sort` over all revisions, heads first.
    fn alembic_topological(&self, excluded: &HashSet<usize>) -> Vec<usize> {
        // Revisions on or above a cycle cannot be sorted; leave out everything that has a
        // cyclic ancestor so the walk terminates.
        let tainted = self.descendants_of(excluded);
        let mut todo: HashSet<usize> = self
            .unique_indices()
            .into_iter()
            .filter(|i| !tainted.contains(i))
            .collect();
        let downs: HashMap<usize, Vec<usize>> = todo
            .iter()
            .map(|&i| {
                (
                    i,
                    self.normalized_down(&self.revisions[i])
                        .into_iter()
                        .filter(|d| !tainted.contains(d))
                        .collect(),
                )
            })
            .collect();
        let ancestors = |start: usize| -> HashSet<usize> {
            let mut seen = HashSet::from([start]);
            let mut stack = vec![start];
            while let Some(n) = stack.pop() {
                for &d in downs.get(&n).map(Vec::as_slice).unwrap_or(&[]) {
                    if seen.insert(d) {
                        stack.push(d);
                    }
                }
            }
            seen
        };
        // Heads among sortable revisions, in load order (index order is load order).
        let mut has_child: HashSet<usize> = HashSet::new();
        for &i in &todo {
            for p in &self.revisions[i].parents {
                if let Some(&pi) = self.index.get(p) {
                    has_child.insert(pi);
                }
            }
        }
        let mut current_heads: Vec<usize> = todo
            .iter()
            .copied()
            .filter(|i| !has_child.contains(i))
            .collect();
        current_heads.sort_unstable();
        // Revisions only reachable through dependencies still need sorting: Alembic collects
        // every ancestor of the heads, which (after the cycle cut) is all of `todo`.
        let mut ancestors_by_idx: Vec<HashSet<usize>> =
            current_heads.iter().map(|&h| ancestors(h)).collect();
        let mut output = Vec::with_capacity(todo.len());
        let mut cand_idx = 0usize;
        while !current_heads.is_empty() {
            let candidate = current_heads[cand_idx];
            let mut switched = false;
            for (check_idx, anc) in ancestors_by_idx.iter().enumerate() {
                if check_idx != cand_idx && anc.contains(&candidate) {
                    cand_idx = check_idx;
                    switched = true;
                    break;
                }
            }
            if switched {
                continue;
            }
            if todo.remove(&candidate) {
                output.push(candidate);
            }
            let rev = &self.revisions[candidate];
            let heads_to_add: Vec<usize> = downs[&candidate]
                .iter()
                .copied()
                .filter(|d| todo.contains(d) && !current_heads.contains(d))
                .collect();
            if heads_to_add.is_empty() {
                current_heads.remove(cand_idx);
                ancestors_by_idx.remove(cand_idx);
                cand_idx = cand_idx.saturating_sub(1);
            } else if rev.parents.len() == 1 && downs[&candidate].len() == 1 {
                // Plain movement down a line with no merge, fork or dependency.
                current_heads[cand_idx] = heads_to_add[0];
                ancestors_by_idx[cand_idx].remove(&candidate);
            } else {
                current_heads[cand_idx] = heads_to_add[0];
                ancestors_by_idx[cand_idx] = ancestors(heads_to_add[0]);
                for &h in &heads_to_add[1..] {
                    current_heads.push(h);
                    ancestors_by_idx.push(ancestors(h));
                }
            }
        }
        // Anything left (unreachable from a head, which only a broken graph produces) goes
        // last in load order so nothing silently disappears.
        let mut rest: Vec<usize> = todo.into_iter().collect();
        rest.sort_unstable();
        output.extend(rest);
        output
    }

    /// Alembic's `_normalized_down_revisions`: parents, then the resolved dependencies
    /// that no `down_revision` ancestor already declares as a dependency (Alembic's
    /// `_normalize_depends_on`, which subtracts the ancestors' dependencies, not the
    /// ancestors themselves).
    fn normalized_down(&self, r: &Revision) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for p in &r.parents {
            if let Some(&i) = self.index.get(p)
                && !out.contains(&i)
            {
                out.push(i);
            }
        }
        let deps: Vec<usize> = r
            .depends_on
            .iter()
            .filter_map(|d| self.resolve(d).map(|t| self.index[&t.id]))
            .collect();
        if deps.is_empty() {
            return out;
        }
        let mut inherited: HashSet<usize> = HashSet::new();
        let mut seen: HashSet<usize> = HashSet::new();
        let mut stack: Vec<usize> = out.clone();
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            let a = &self.revisions[n];
            for d in &a.depends_on {
                if let Some(t) = self.resolve(d) {
                    inherited.insert(self.index[&t.id]);
                }
            }
            stack.extend(a.parents.iter().filter_map(|p| self.index.get(p).copied()));
        }
        for d in deps {
            if !inherited.contains(&d) && !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }

    fn descendants_of(&self, set: &HashSet<usize>) -> HashSet<usize> {
        if set.is_empty() {
            return HashSet::new();
        }
        let mut up: HashMap<usize, Vec<usize>> = HashMap::new();
        for i in self.unique_indices() {
            for d in self.down_edges(&self.revisions[i]) {
                up.entry(d).or_default().push(i);
            }
        }
        let mut seen: HashSet<usize> = set.clone();
        let mut stack: Vec<usize> = set.iter().copied().collect();
        while let Some(n) = stack.pop() {
            for &c in up.get(&n).map(Vec::as_slice).unwrap_or(&[]) {
                if seen.insert(c) {
                    stack.push(c);
                }
            }
        }
        seen
    }

    /// Ids of all ancestors of `id` through parents and dependencies (excluding itself).
    pub fn ancestors(&self, id: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let Some(&start) = self.index.get(id) else {
            return out;
        };
        let mut stack = self.down_edges(&self.revisions[start]);
        while let Some(n) = stack.pop() {
            if out.insert(self.revisions[n].id.clone()) {
                stack.extend(self.down_edges(&self.revisions[n]));
            }
        }
        out
    }

    /// Ids of all ancestors of `id` through `down_revision` only (excluding itself).
    pub fn versioned_ancestors(&self, id: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<&str> = self.get(id).map_or(Vec::new(), |r| {
            r.parents.iter().map(String::as_str).collect()
        });
        while let Some(n) = stack.pop() {
            if let Some(r) = self.get(n)
                && out.insert(r.id.clone())
            {
                stack.extend(r.parents.iter().map(String::as_str));
            }
        }
        out
    }

    /// Where heads' histories meet (through `down_revision`, as `alembic merge` sees it): the nearest common ancestor in upgrade order.
    pub fn fork_point(&self, heads: &[&str]) -> Option<String> {
        let mut common: Option<BTreeSet<String>> = None;
        for h in heads {
            let mut a = self.versioned_ancestors(h);
            a.insert((*h).to_string());
            common = Some(match common {
                None => a,
                Some(c) => c.intersection(&a).cloned().collect(),
            });
        }
        let common = common?;
        let order = self.order();
        order
            .iter()
            .rev()
            .find(|r| common.contains(&r.id))
            .map(|r| r.id.clone())
    }

    /// Duplicated ids: id -> every revision declaring it, in load order.
    pub fn duplicates(&self) -> BTreeMap<&str, Vec<&Revision>> {
        let mut by_id: BTreeMap<&str, Vec<&Revision>> = BTreeMap::new();
        for r in &self.revisions {
            by_id.entry(r.id.as_str()).or_default().push(r);
        }
        by_id.retain(|_, v| v.len() > 1);
        by_id
    }
}

/// Tarjan's strongly connected components, iterative so a 100,000-long chain cannot
/// overflow the stack.
fn tarjan(nodes: &[usize], edges: &HashMap<usize, Vec<usize>>) -> Vec<Vec<usize>> {
    let mut index_of: HashMap<usize, usize> = HashMap::new();
    let mut low: HashMap<usize, usize> = HashMap::new();
    let mut on_stack: HashSet<usize> = HashSet::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut next = 0usize;
    let mut out = Vec::new();
    for &root in nodes {
        if index_of.contains_key(&root) {
            continue;
        }
        // (node, next edge position)
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index_of.insert(root, next);
        low.insert(root, next);
        next += 1;
        stack.push(root);
        on_stack.insert(root);
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            let succ = edges.get(&v).map(Vec::as_slice).unwrap_or(&[]);
            if *pos < succ.len() {
                let w = succ[*pos];
                *pos += 1;
                if let std::collections::hash_map::Entry::Vacant(slot) = index_of.entry(w) {
                    slot.insert(next);
                    low.insert(w, next);
                    next += 1;
                    stack.push(w);
                    on_stack.insert(w);
                    work.push((w, 0));
                } else if on_stack.contains(&w) {
                    let lw = index_of[&w].min(low[&v]);
                    low.insert(v, lw);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    let lp = low[&parent].min(low[&v]);
                    low.insert(parent, lp);
                }
                if low[&v] == index_of[&v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack.remove(&w);
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    out.push(comp);
                }
            }
        }
    }
    out
}
