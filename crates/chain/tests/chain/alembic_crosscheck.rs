//! Cross-checks against real Alembic (from PyPI): the same version folder must give the same
//! heads, bases, parents and upgrade order in gate-chain as in `alembic heads` / `alembic
//! history`. Fails (does not skip) when python3 or alembic is missing.

use crate::common::{AlembicProject, alembic_policy};
use gate_chain::{check, discover};

/// Compare everything Alembic tells us with what gate-chain read.
fn assert_same_as_alembic(p: &AlembicProject) {
    let policy = alembic_policy(p.root(), 100);
    let d = discover(p.root(), &policy).expect("discover");
    let g = &d.graph;
    assert!(g.problems.is_empty(), "{:?}", g.problems);

    let mut heads: Vec<String> = g.heads().iter().map(|r| r.id.clone()).collect();
    heads.sort();
    assert_eq!(
        heads,
        p.alembic_heads(),
        "heads differ from `alembic heads`"
    );

    let history = p.alembic_history();
    let mut alembic_bases: Vec<String> = history
        .iter()
        .filter(|(down, _)| down == "<base>")
        .map(|(_, r)| r.clone())
        .collect();
    alembic_bases.sort();
    let mut bases: Vec<String> = g.bases().iter().map(|r| r.id.clone()).collect();
    bases.sort();
    assert_eq!(bases, alembic_bases, "bases differ from `alembic history`");

    // `alembic history` is newest first: reversed, it is the upgrade order.
    let alembic_order: Vec<String> = history.iter().rev().map(|(_, r)| r.clone()).collect();
    let order: Vec<String> = g.order().iter().map(|r| r.id.clone()).collect();
    assert_eq!(
        order, alembic_order,
        "upgrade order differs from `alembic history`"
    );

    // Parents as history prints them: `a, b -> m`, dependencies in parentheses.
    for (down, rev) in &history {
        if down == "<base>" {
            assert!(g.get(rev).unwrap().parents.is_empty());
            continue;
        }
        let versioned = down.split(" (").next().unwrap();
        let theirs: Vec<&str> = versioned.split(", ").collect();
        assert_eq!(g.get(rev).unwrap().parents, theirs, "parents of {rev}");
    }
}

#[test]
fn linear_chain() {
    let p = AlembicProject::new();
    let mut prev: Option<String> = None;
    for i in 0..25 {
        let id = format!("{:012x}", 0xabc000 + i * 7919);
        let parents: Vec<&str> = prev.iter().map(String::as_str).collect();
        // Date-prefixed file names, so load order is not chain order.
        p.revision(
            &format!("2024_{:02}_{id}_step.py", 25 - i),
            &id,
            &parents,
            &[],
            &[],
        );
        prev = Some(id);
    }
    assert_same_as_alembic(&p);
    let policy = alembic_policy(p.root(), 1);
    let d = discover(p.root(), &policy).unwrap();
    assert!(check(&d.graph, &policy).is_empty());
    assert_eq!(d.graph.len(), 25);
}

#[test]
fn labelled_branches_merge_and_depends_on() {
    let p = AlembicProject::new();
    p.revision("base.py", "root0", &[], &[], &[]);
    p.revision("expand/e1.py", "e1", &["root0"], &["expand"], &[]);
    p.revision("expand/e2.py", "e2", &["e1"], &[], &[]);
    p.revision("contract/c1.py", "c1", &["root0"], &["contract"], &["e1"]);
    // (A branch label as depends_on crashes `alembic history` itself, so name the revision.)
    p.revision("contract/c2.py", "c2", &["c1"], &[], &["e2"]);
    assert_same_as_alembic(&p);
    // depends_on does not merge: two heads, C003 at max-heads 1 with the fork point.
    let policy = alembic_policy(p.root(), 1);
    let d = discover(p.root(), &policy).unwrap();
    let f = check(&d.graph, &policy);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].code, "C003");
    assert!(f[0].message.contains("fork at root0"), "{}", f[0].message);
    assert!(
        f[0].help.contains("alembic merge -m \"merge heads\" e2 c2")
            || f[0].help.contains("alembic merge -m \"merge heads\" c2 e2"),
        "{}",
        f[0].help
    );
    // Then merge them, as `alembic merge` would.
    p.revision("merge_1.py", "m1", &["e2", "c2"], &[], &[]);
    p.revision("after.py", "after", &["m1"], &[], &[]);
    assert_same_as_alembic(&p);
    let d = discover(p.root(), &policy).unwrap();
    assert!(check(&d.graph, &policy).is_empty());
}

#[test]
fn odd_but_valid_syntax() {
    let p = AlembicProject::new();
    p.write("__init__.py", "");
    p.write(
        "001_first.py",
        "'''first\n\nRevision ID: wrong\nRevises: nothing\n'''\nrevision = u'first_rev'\ndown_revision = None\nbranch_labels = None\n",
    );
    p.write(
        "sub/dir/002.py",
        "import string\nrevision = \"\"\"second\"\"\"\ndown_revision = (\n    'first_rev',  # parent\n)\nbranch_labels = (string.ascii_lowercase[:3],)\ndepends_on = None\n",
    );
    p.write(
        "003.py",
        "revision = r'third'\ndown_revision = \\\n    'second'\nbranch_labels = None\ndepends_on = None\n",
    );
    assert_same_as_alembic(&p);
    let policy = alembic_policy(p.root(), 1);
    let d = discover(p.root(), &policy).unwrap();
    assert_eq!(d.graph.len(), 3);
    assert_eq!(
        d.graph.get("second").unwrap().branch_labels,
        [gate_chain::Label::Symbolic(
            "string.ascii_lowercase[:3]".into()
        )]
    );
}

/// Tiny deterministic PRNG so the DAGs are reproducible without a dependency.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn random_dag(seed: u64, n: usize) -> AlembicProject {
    let p = AlembicProject::new();
    let mut rng = Lcg(seed);
    let mut ids: Vec<String> = Vec::new();
    let mut heads: Vec<String> = Vec::new();
    for i in 0..n {
        let id = format!("r{:03}x{:04x}", i, rng.below(65536));
        let roll = rng.below(100);
        let parents: Vec<String> = if i == 0 {
            vec![]
        } else if roll < 15 && heads.len() >= 2 {
            let a = rng.below(heads.len());
            let mut b = rng.below(heads.len());
            if a == b {
                b = (b + 1) % heads.len();
            }
            vec![heads[a].clone(), heads[b].clone()]
        } else if roll < 30 {
            vec![ids[rng.below(ids.len())].clone()]
        } else {
            vec![heads[rng.below(heads.len())].clone()]
        };
        let deps: Vec<String> = if i > 3 && rng.below(100) < 8 {
            vec![ids[rng.below(ids.len())].clone()]
        } else {
            vec![]
        };
        heads.retain(|h| !parents.contains(h));
        heads.push(id.clone());
        let pr: Vec<&str> = parents.iter().map(String::as_str).collect();
        let dr: Vec<&str> = deps.iter().map(String::as_str).collect();
        let folder = match rng.below(4) {
            0 => "release_a/",
            1 => "release_b/x/",
            _ => "",
        };
        p.revision(
            &format!("{folder}{:05}_{id}.py", rng.below(100000)),
            &id,
            &pr,
            &[],
            &dr,
        );
        ids.push(id);
    }
    p
}

#[test]
fn random_dags_match_alembic() {
    for seed in [1u64, 2, 3, 42, 1234] {
        let p = random_dag(seed, 120);
        assert_same_as_alembic(&p);
    }
}

#[test]
fn helper_modules_are_not_revisions() {
    // Alembic itself refuses helper modules in the versions folder; gate-chain skips them
    // rather than reporting a false C005 or a false head.
    let p = AlembicProject::new();
    p.revision("a.py", "a1", &[], &[], &[]);
    p.write("helpers.py", "def util():\n    return 1\n");
    p.write("empty.py", "");
    p.write(
        "__pycache__/a.cpython-311.py",
        "revision = 'cached'\ndown_revision = None\n",
    );
    let policy = alembic_policy(p.root(), 1);
    let d = discover(p.root(), &policy).unwrap();
    assert_eq!(d.graph.len(), 1);
    assert!(check(&d.graph, &policy).is_empty());
}

#[test]
fn large_random_dag_matches_alembic() {
    // Hundreds of revisions with dozens of merges, as long-lived real chains have.
    let p = random_dag(7, 450);
    let policy = alembic_policy(p.root(), 1000);
    let d = discover(p.root(), &policy).unwrap();
    assert!(
        d.graph.merges().len() >= 24,
        "{} merges",
        d.graph.merges().len()
    );
    assert_same_as_alembic(&p);
}
