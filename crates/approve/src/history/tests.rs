use super::governed::{changed_governed, governance_text};
use super::pins::{fast_pins, toml_pins};
use super::walk::changed_pins;
use super::window::has_multiline_strings;
use super::*;

#[test]
fn trailers_only_in_last_paragraph() {
    let m = "Approve fix\n\nApproved-by: lead@example.com\n\nMore prose here.\n";
    assert!(trailers(m).is_empty());
    let m =
        "Approve fix\n\nBody.\n\nApproved-by: Lead <lead@example.com>\nSigned-off-by: x <x@y>\n";
    let t = trailers(m);
    assert_eq!(t.len(), 2);
    assert_eq!(trailer_email(&t[0].1), "lead@example.com");
}

#[test]
fn prose_mention_is_not_a_trailer() {
    let m = "Approve fix\n\nThe lead said Approved-by: lead@example.com in chat.\n";
    assert!(trailers(m).is_empty());
    // The subject paragraph is never a trailer block.
    assert!(trailers("Approved-by: lead@example.com\n").is_empty());
}

#[test]
fn fast_scan_agrees_with_toml() {
    let text = r#"
version = 1
[emergency]
scope = ["."]
[[emergency.script]]
path = "./a.py"   # comment
sha256 = 'abc'
approved-by = "lead@example.com"
[[emergency.script]]
path = "b.py"
[governance]
approvers = [
  "x@y",
]
"#;
    let fast = fast_pins(text);
    assert!(fast.is_none(), "multi-line array must fall back");
    let pins = pins_of(text);
    assert_eq!(pins, toml_pins(text));
    assert_eq!(pins["a.py"].sha256.as_deref(), Some("abc"));
    let simple = "[[emergency.script]]\npath = \"a.py\"\nsha256 = \"abc\"\n";
    assert_eq!(fast_pins(simple), Some(toml_pins(simple)));
}

/// Over several rounds (pass 1 on its own thread, pass 2 in rounds on all threads), the
/// setters must be exactly the ones a plain newest-first walk of every version finds.
#[test]
fn setters_across_rounds_match_a_plain_walk() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    let entry = |i: usize, sha: usize| {
        format!("[[emergency.script]]\npath = \"f{i}.py\"\nsha256 = \"{sha}\"\n")
    };
    // 1,300 commits (more than two rounds): entry i is added, re-pinned every 97 commits,
    // and some commits only touch a comment, so setters are spread over every round.
    let mut shas = [0usize; 12];
    let mut parent: Option<Oid> = None;
    for n in 0..1300usize {
        let i = n % 12;
        if n % 97 == 0 || n < 12 {
            shas[i] = n + 1;
        }
        let body: String = (0..12).map(|j| entry(j, shas[j])).collect();
        let text = format!("# rev {}\nversion = 1\n{body}", n % 5);
        let blob = repo.blob(text.as_bytes()).unwrap();
        let mut tb = repo.treebuilder(None).unwrap();
        tb.insert("policy.toml", blob, 0o100644).unwrap();
        let tree = repo.find_tree(tb.write().unwrap()).unwrap();
        let parents: Vec<git2::Commit<'_>> = parent
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        parent = Some(
            repo.commit(Some("HEAD"), &sig, &sig, &format!("c{n}"), &tree, &refs)
                .unwrap(),
        );
    }
    let text_at = |c: &git2::Commit<'_>| {
        let id = c
            .tree()
            .unwrap()
            .get_path(std::path::Path::new("policy.toml"))
            .unwrap()
            .id();
        pins_of(std::str::from_utf8(repo.find_blob(id).unwrap().content()).unwrap())
    };
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    let targets = text_at(&head);
    assert_eq!(targets.len(), 12);
    let got = find_setters(&repo, "policy.toml", &targets).unwrap();
    // The plain walk: the newest commit whose version has the pin and whose parent's not.
    let mut c = head;
    let mut expected: HashMap<String, Oid> = HashMap::new();
    loop {
        let here = text_at(&c);
        let before = c.parent(0).ok().map(|p| text_at(&p)).unwrap_or_default();
        for (path, pin) in &targets {
            if !expected.contains_key(path)
                && here.get(path) == Some(pin)
                && before.get(path) != Some(pin)
            {
                expected.insert(path.clone(), c.id());
            }
        }
        match c.parent(0) {
            Ok(p) => c = p,
            Err(_) => break,
        }
    }
    assert_eq!(expected.len(), 12);
    for (path, commit) in &expected {
        let setter = got[path].as_ref().map(|s| s.commit);
        assert_eq!(setter, Some(*commit), "{path}");
    }
}

/// The window shortcut must agree with parsing both versions whole: every entry whose pin
/// differs is inside the window, with the same values.
#[test]
fn changed_window_agrees_with_full_parse() {
    let entry = |i: usize, sha: &str, by: Option<&str>| {
        let by = by.map_or(String::new(), |b| format!("approved-by = \"{b}\"\n"));
        format!(
            "\n[[emergency.script]]\npath = \"f{i}.py\"\nsha256 = \"{sha}\"\n{by}reason = \"r{i}\"\n"
        )
    };
    let base: String = (0..20).map(|i| entry(i, "aa", Some("lead@x"))).collect();
    let head = "version = 1\n[emergency]\nscope = [\".\"]\n";
    let tail = "\n[governance]\napprovers = [\"lead@x\"]\n";
    let parent = format!("{head}{base}{tail}");
    let edits: Vec<String> = vec![
        parent.replacen(
            "path = \"f7.py\"\nsha256 = \"aa\"",
            "path = \"f7.py\"\nsha256 = \"bb\"",
            1,
        ),
        parent.replacen(&entry(3, "aa", Some("lead@x")), &entry(3, "aa", None), 1),
        parent.replacen(&entry(0, "aa", Some("lead@x")), "", 1),
        parent.replacen(
            &entry(19, "aa", Some("lead@x")),
            &entry(19, "cc", Some("other@x")),
            1,
        ),
        format!("{head}{base}{}{tail}", entry(20, "dd", Some("lead@x"))),
        parent.replacen("reason = \"r5\"", "reason = \"r5 reworded\"", 1),
        parent.replacen("version = 1", "# comment\nversion = 1", 1),
        format!(
            "{head}{}{tail}",
            (0..20)
                .rev()
                .map(|i| entry(i, "aa", Some("lead@x")))
                .collect::<String>()
        ),
    ];
    for child in &edits {
        assert!(!has_multiline_strings(child.as_bytes()));
        let (wc, wp) = changed_pins(child.as_bytes(), parent.as_bytes(), false);
        let (fc, fp) = (pins_of(child), pins_of(&parent));
        let paths: HashSet<&String> = fc.keys().chain(fp.keys()).collect();
        for path in paths {
            if fc.get(path) != fp.get(path) {
                assert_eq!(wc.get(path), fc.get(path), "{path} in\n{child}");
                assert_eq!(wp.get(path), fp.get(path), "{path} in\n{child}");
            }
            if let Some(v) = wc.get(path) {
                assert_eq!(Some(v), fc.get(path));
            }
        }
    }
}

/// A012's window shortcut must name exactly the governed keys a whole parse of both
/// versions finds different, and nothing that is not governed.
#[test]
fn changed_governed_agrees_with_full_parse() {
    let entry = |i: usize, status: &str| {
        format!(
            "\n[[emergency.script]]\npath = \"f{i}.py\"\nsha256 = \"aa\"\nstatus = \"{status}\"\nrun = \"python3 f{i}.py\"\n"
        )
    };
    let entries: String = (0..10).map(|i| entry(i, "active")).collect();
    let parent = format!(
        "version = 1\n[migrations]\npath = \"alembic/versions\"\nmax-heads = 1\n\n[emergency]\nscope = [\".\"]\n\n[governance]\napprovers = [\"lead@x\"]\n\n[replay]\nfixes = true\n{entries}"
    );
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            parent.replacen(&entry(4, "active"), &entry(4, "legacy"), 1),
            vec!["[[emergency.script]] f4.py"],
        ),
        (
            parent.replacen("run = \"python3 f9.py\"", "run = \"true\"", 1),
            vec!["[[emergency.script]] f9.py"],
        ),
        (
            parent.replacen(
                "scope = [\".\"]\n",
                "scope = [\".\"]\nignore = [\"*.py\"]\n",
                1,
            ),
            vec!["emergency.ignore"],
        ),
        (
            parent.replacen("\"lead@x\"]", "\"lead@x\", \"dev@x\"]", 1),
            vec!["governance.approvers"],
        ),
        (
            parent.replacen("path = \"alembic/versions\"", "path = \"elsewhere\"", 1),
            vec!["migrations.path"],
        ),
        // Not governed: max-heads, replay settings, comments, key order within an entry.
        (parent.replacen("max-heads = 1", "max-heads = 2", 1), vec![]),
        (parent.replacen("fixes = true", "fixes = false", 1), vec![]),
        (
            parent.replacen("version = 1", "# c\nversion = 1", 1),
            vec![],
        ),
        (
            parent.replacen(
                "sha256 = \"aa\"\nstatus = \"active\"\nrun = \"python3 f2.py\"",
                "run = \"python3 f2.py\"\nstatus = \"active\"\nsha256 = \"aa\"",
                1,
            ),
            vec![],
        ),
        (
            parent.replacen(&entry(7, "active"), "", 1),
            vec!["[[emergency.script]] f7.py"],
        ),
    ];
    for (child, expected) in &cases {
        let (mut windowed, repairs) = changed_governed(child.as_bytes(), parent.as_bytes(), false);
        assert!(!repairs);
        let mut whole = differing(&governed_of(child).unwrap(), &governed_of(&parent).unwrap());
        windowed.sort();
        whole.sort();
        assert_eq!(windowed, whole, "{child}");
        assert_eq!(windowed, *expected, "{child}");
    }
}

#[test]
fn approvers_from_the_governance_table_alone() {
    let text = "version = 1\n[emergency]\nscope = [\".\"]\n\n[governance]  # leads\napprovers = [\n  \"a@x\",\n  \"b@x\",\n]\ntrailer = \"Reviewed-by\"\n\n[[emergency.script]]\npath = \"f.py\"\n";
    assert!(governance_text(text).is_some());
    let a = approvers_of(text);
    assert_eq!(a.approvers, ["a@x", "b@x"]);
    assert_eq!(a.trailer, "Reviewed-by");
    // Dotted keys at the top level fall back to the whole file, with the same answer.
    let dotted = "governance.approvers = [\"c@x\"]\n[emergency]\nscope = [\".\"]\n";
    assert!(governance_text(dotted).is_none());
    assert_eq!(approvers_of(dotted).approvers, ["c@x"]);
    assert_eq!(approvers_of(dotted).trailer, "Approved-by");
    assert!(approvers_of("not toml [").approvers.is_empty());
}

/// A first-parent line of policy.toml versions (`None`: no policy.toml, another file), one
/// commit each, oldest first; their ids.
fn line_of(repo: &Repository, versions: &[Option<&str>]) -> Vec<Oid> {
    let sig = git2::Signature::now("dev", "dev@example.com").unwrap();
    let mut ids: Vec<Oid> = Vec::new();
    for (n, v) in versions.iter().enumerate() {
        let mut tb = repo.treebuilder(None).unwrap();
        let (name, text) = match v {
            Some(t) => ("policy.toml", t.to_string()),
            None => ("README.md", format!("{n}\n")),
        };
        tb.insert(name, repo.blob(text.as_bytes()).unwrap(), 0o100644)
            .unwrap();
        let tree = repo.find_tree(tb.write().unwrap()).unwrap();
        let parents: Vec<git2::Commit<'_>> = ids
            .last()
            .map(|p| repo.find_commit(*p).unwrap())
            .into_iter()
            .collect();
        let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        ids.push(
            repo.commit(Some("HEAD"), &sig, &sig, &format!("c{n}"), &tree, &refs)
                .unwrap(),
        );
    }
    ids
}

const GOOD: &str = "version = 1\n[emergency]\nscope = [\".\"]\nignore = [\"docs/*\"]\n\n[governance]\napprovers = [\"lead@x\"]\n\n[replay]\ndata = true\n";

/// `GOOD` with `[replay]` as a bad merge leaves it: two `data =` keys in one table.
fn broken(text: &str) -> String {
    text.replace("data = true\n", "data = true\ndata = false\n")
}

fn governed_walk(repo: &Repository) -> GovernedSetters {
    walk(repo, "policy.toml", &HashMap::new(), true, None)
        .unwrap()
        .governed
        .unwrap()
}

/// C1 leaves policy.toml unparseable, C2 repairs it to C0's values: nothing governed changed
/// after C0, so no key is set by C1 or C2 (A012 would judge C2 for every key otherwise).
#[test]
fn repair_of_an_unparseable_version_is_compared_with_the_last_parseable_one() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let bad = broken(GOOD);
    let ids = line_of(&repo, &[Some(GOOD), Some(&bad), Some(GOOD)]);
    // The fixture is what it claims: C1 does not parse, C0 and C2 do, with the same values.
    assert!(governed_of(&bad).is_none());
    assert!("data = 1\ndata = 2\n".parse::<toml::Table>().is_err());
    let g = governed_walk(&repo);
    assert_eq!(g.adoption, Some(ids[0]));
    assert!(!g.setters.is_empty());
    for (k, s) in &g.setters {
        assert_eq!(*s, ids[0], "{k}");
    }
    assert_eq!(g.bases.get(&ids[2]), Some(&Some(ids[0])));

    // A merge that duplicated a whole table: the changed part parses on its own, the file
    // does not (a table defined twice).
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let twice = format!("{GOOD}\n[governance]\napprovers = [\"dev@x\"]\n");
    assert!(governed_of(&twice).is_none());
    assert!(governed_of("[governance]\napprovers = [\"dev@x\"]\n").is_some());
    let ids = line_of(&repo, &[Some(GOOD), Some(&twice), Some(GOOD)]);
    let g = governed_walk(&repo);
    for (k, s) in &g.setters {
        assert_eq!(*s, ids[0], "{k}");
    }
    assert_eq!(g.bases.get(&ids[2]), Some(&Some(ids[0])));
}

/// The repair changes a governed key relative to C0: the repair is its setter.
#[test]
fn repair_that_changes_a_governed_key_sets_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let bad = broken(GOOD);
    let relaxed = GOOD.replace("[\"docs/*\"]", "[\"docs/*\", \"*.py\"]");
    let ids = line_of(&repo, &[Some(GOOD), Some(&bad), Some(&relaxed)]);
    let g = governed_walk(&repo);
    assert_eq!(g.setters["emergency.ignore"], ids[2]);
    for (k, s) in &g.setters {
        if k != "emergency.ignore" {
            assert_eq!(*s, ids[0], "{k}");
        }
    }
    // The same change made while the file is broken (C1 relaxes and breaks it, C2 only
    // repairs): still the repair's, the first version where it can be read.
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let ids = line_of(
        &repo,
        &[Some(GOOD), Some(&broken(&relaxed)), Some(&relaxed)],
    );
    let g = governed_walk(&repo);
    assert_eq!(g.setters["emergency.ignore"], ids[2]);
    assert_eq!(g.setters["governance.approvers"], ids[0]);
}

/// Several unparseable versions in a row: one that changes a table the error is not in (its
/// own comparison reads only that table) and one that reverts a change. The repair is
/// compared with C0; the versions in between set nothing.
#[test]
fn unparseable_versions_in_between_set_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let bad = broken(GOOD);
    let new_approver = bad.replace("[\"lead@x\"]", "[\"lead@x\", \"dev@x\"]");
    let ignore = new_approver.replace("[\"docs/*\"]", "[\"*\"]");
    let repaired = GOOD.replace("[\"lead@x\"]", "[\"lead@x\", \"dev@x\"]");
    let ids = line_of(
        &repo,
        &[
            Some(GOOD),
            Some(&bad),
            Some(&new_approver),
            Some(&ignore),
            Some(&new_approver),
            Some(&repaired),
        ],
    );
    let g = governed_walk(&repo);
    assert_eq!(g.setters["governance.approvers"], ids[5]);
    assert_eq!(g.setters["emergency.ignore"], ids[0]);
    assert_eq!(g.setters["emergency.scope"], ids[0]);
    assert_eq!(g.bases.get(&ids[5]), Some(&Some(ids[0])));
}

/// The adopting commit's policy does not parse and the next one repairs it: the repair
/// adopts. An unparseable HEAD is not skipped: compared with its parent, it still changes
/// every key (the check refuses an unparseable policy before this anyway).
#[test]
fn unparseable_adoption_and_unparseable_head() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let bad = broken(GOOD);
    let ids = line_of(&repo, &[None, Some(&bad), Some(GOOD)]);
    let g = governed_walk(&repo);
    assert_eq!(g.adoption, Some(ids[2]));
    assert!(g.setters.values().all(|s| *s == ids[2]));
    assert_eq!(g.bases.get(&ids[2]), Some(&None));

    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let ids = line_of(&repo, &[Some(GOOD), Some(&bad)]);
    let g = governed_walk(&repo);
    assert_eq!(g.adoption, Some(ids[0]));
    assert!(!g.setters.is_empty());
    assert!(g.setters.values().all(|s| *s == ids[1]));
}

/// The version judging a commit (A012, G005, merge-method): past unparseable first parents,
/// the nearest that parses, or one without the file; `None` when a root is reached; a shallow
/// boundary among the unparseable ones is an error, not a guess.
#[test]
fn base_version_skips_unparseable_first_parents() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let bad = broken(GOOD);
    let listed = bad.replace("[\"lead@x\"]", "[\"lead@x\", \"dev@x\"]");
    let ids = line_of(&repo, &[Some(GOOD), Some(&bad), Some(&listed), Some(GOOD)]);
    // The broken versions' [governance] reads on its own: what the old code trusted.
    assert_eq!(approvers_of(&listed).approvers, ["lead@x", "dev@x"]);
    let head = repo.find_commit(ids[3]).unwrap();
    let mut passed = Vec::new();
    let base = base_version(&repo, "policy.toml", &head, &HashSet::new(), &mut |c| {
        passed.push(c)
    })
    .unwrap();
    assert_eq!(base.map(|b| b.id()), Some(ids[0]));
    assert_eq!(passed, [ids[2], ids[1]]);
    // A parseable parent is the base itself.
    let c1 = repo.find_commit(ids[1]).unwrap();
    let base = base_version(&repo, "policy.toml", &c1, &HashSet::new(), &mut |_| {}).unwrap();
    assert_eq!(base.map(|b| b.id()), Some(ids[0]));
    // Cut off among the unparseable versions.
    let shallow: HashSet<Oid> = [ids[1]].into();
    assert!(matches!(
        base_version(&repo, "policy.toml", &head, &shallow, &mut |_| {}),
        Err(HistoryError::ShallowGoverned { .. })
    ));

    // Before the broken one, a commit without the file; and a broken root.
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let ids = line_of(&repo, &[None, Some(&bad), Some(GOOD)]);
    let c2 = repo.find_commit(ids[2]).unwrap();
    let base = base_version(&repo, "policy.toml", &c2, &HashSet::new(), &mut |_| {}).unwrap();
    assert_eq!(base.map(|b| b.id()), Some(ids[0]));
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let ids = line_of(&repo, &[Some(&bad), Some(GOOD)]);
    let c1 = repo.find_commit(ids[1]).unwrap();
    let root = repo.find_commit(ids[0]).unwrap();
    for c in [&c1, &root] {
        let base = base_version(&repo, "policy.toml", c, &HashSet::new(), &mut |_| {}).unwrap();
        assert!(base.is_none());
    }
}
