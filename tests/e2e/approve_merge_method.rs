//! `governance.merge-method`: the pull request's check (GitHub's test merge
//! `refs/pull/N/merge`, committed by GitHub, the branch head as second parent) and the check
//! after the merge (a merge commit, a squash commit or rebased commits, all committed by
//! GitHub) agree, on real git repositories.

use crate::support::approve::*;
use crate::support::repo::*;
use crate::support::run::*;
#[allow(unused_imports)]
use crate::support::sha256_hex;
/// The platform's committer: never an approver.
const GITHUB: &str = "noreply@github.com";

/// Main adopts the gate with `merge-method` (none: the default); a branch `fix` adds the
/// script with an unapproved entry (dev) and the lead approves it on the branch; main moves on.
fn pull_request(method: Option<&str>) -> Repo {
    let extra = method.map_or(String::new(), |m| format!("merge-method = \"{m}\""));
    let r = Repo::new();
    r.write("policy.toml", policy(&extra, ""));
    r.commit_all_by(DEV, "Adopt the gate");
    r.git_by(DEV, &["checkout", "-q", "-b", "fix"]);
    r.write(SCRIPT, SCRIPT_TEXT);
    r.write(
        "policy.toml",
        policy(
            &extra,
            &entry(&[("approved-by", None), ("approved-on", None)]),
        ),
    );
    r.commit_all_by(DEV, "Add the orders fix");
    r.write("policy.toml", policy(&extra, &entry(&[])));
    r.commit_all_by(LEAD, APPROVAL);
    r.git_by(DEV, &["checkout", "-q", "main"]);
    r.write("README.md", "main moves on\n");
    r.commit_all_by(DEV, "Docs");
    r
}

/// GitHub's test merge of the pull request (or its "Create a merge commit"): a merge on main
/// committed by GitHub with the branch head as second parent.
fn github_merge(r: &Repo) {
    r.git_by(
        GITHUB,
        &[
            "merge",
            "-q",
            "--no-ff",
            "fix",
            "-m",
            "Merge pull request #1 from dev/fix",
        ],
    );
}

/// GitHub's squash merge: one commit on main, authored by the pull request's author and
/// committed by GitHub.
fn github_squash(r: &Repo) {
    r.git_by(DEV, &["merge", "-q", "--squash", "fix"]);
    r.git_as(
        DEV,
        GITHUB,
        &[
            "commit",
            "-q",
            "-m",
            "Add the orders fix (#1)\n\n* Add the orders fix\n* Approve the orders fix",
        ],
    );
}

/// GitHub's rebase merge: the branch's commits re-committed by GitHub on top of main.
fn github_rebase(r: &Repo) {
    r.git_by(DEV, &["checkout", "-q", "fix"]);
    r.git_as(DEV, GITHUB, &["rebase", "-q", "main"]);
    r.git_by(DEV, &["checkout", "-q", "main"]);
    r.git_by(DEV, &["merge", "-q", "--ff-only", "fix"]);
}

/// The approver squashes locally and pushes the squash commit as themselves, with the trailer
/// (the developer stays its author, so four-eyes still holds).
fn approver_squash(r: &Repo) {
    r.git_by(LEAD, &["merge", "-q", "--squash", "fix"]);
    r.git_as(
        DEV,
        LEAD,
        &[
            "commit",
            "-q",
            "-m",
            &format!("Add the orders fix (#1)\n\n{LEAD_TRAILER}"),
        ],
    );
}

/// The exit code of `gate-approve check` after `land` on a fresh pull request.
fn verdict(method: Option<&str>, land: fn(&Repo)) -> Run {
    let r = pull_request(method);
    land(&r);
    r.check()
}

#[test]
fn merge_method_merge_is_todays_behaviour() {
    for method in [None, Some("merge")] {
        // The PR's test merge passes, and so does the merge commit that lands: the branch's
        // approving commit is what the merge brings in.
        let pr = verdict(method, github_merge);
        assert_eq!(pr.code, 0, "{method:?}: {}", pr.all());
        // The documented mismatch the key exists for: a squash merge lands one commit by
        // GitHub, which approves nothing, so main fails after the PR passed.
        let squashed = verdict(method, github_squash);
        assert_eq!(squashed.code, 1, "{method:?}: {}", squashed.all());
        assert!(
            squashed.stdout.contains("Add the orders fix (#1)"),
            "the squash commit is named: {}",
            squashed.stdout
        );
    }
}

#[test]
fn merge_method_squash_judges_the_test_merge_as_the_squash_commit_will_be() {
    // PR time: the test merge is judged by itself (GitHub, no trailer) and says why.
    let pr = verdict(Some("squash"), github_merge);
    assert_eq!(pr.code, 1, "{}", pr.all());
    assert!(pr.text_codes().contains(&"A012".into()), "{}", pr.all());
    assert!(
        pr.stdout.contains("governance.merge-method = \"squash\"")
            && pr.stdout.contains("git merge --squash"),
        "says why and what to do: {}",
        pr.stdout
    );
    // Post-merge: GitHub's squash commit fails as well, so the two verdicts agree.
    let squashed = verdict(Some("squash"), github_squash);
    assert_eq!(squashed.code, pr.code, "{}", squashed.all());
    // The way through: the approver squashes locally and pushes it as themselves.
    let by_lead = verdict(Some("squash"), approver_squash);
    assert_eq!(by_lead.code, 0, "{}", by_lead.all());
}

#[test]
fn merge_method_rebase_judges_the_test_merge_as_the_rebased_commits_will_be() {
    let pr = verdict(Some("rebase"), github_merge);
    assert_eq!(pr.code, 1, "{}", pr.all());
    assert!(
        pr.stdout.contains("governance.merge-method = \"rebase\""),
        "{}",
        pr.stdout
    );
    // GitHub's rebase merge re-commits the lead's approval as GitHub: main fails too.
    let rebased = verdict(Some("rebase"), github_rebase);
    assert_eq!(rebased.code, pr.code, "{}", rebased.all());
    assert!(rebased.stdout.contains(GITHUB), "{}", rebased.stdout);
}

#[test]
fn an_approvers_merge_still_approves_what_it_brings_in_under_squash() {
    // Judged by itself means its own committer and trailer count: the lead's merge passes.
    let r = pull_request(Some("squash"));
    r.git_by(
        LEAD,
        &[
            "merge",
            "-q",
            "--no-ff",
            "fix",
            "-m",
            &format!("Merge branch 'fix'\n\n{LEAD_TRAILER}"),
        ],
    );
    let run = r.check();
    assert_eq!(run.code, 0, "{}", run.all());
}

#[test]
fn merge_method_is_validated_and_governed() {
    // An unknown value is a policy error at its line and column, exit 2.
    let r = Repo::new();
    r.write("policy.toml", policy("merge-method = \"squahs\"", ""));
    r.commit_all_by(DEV, "Adopt");
    let run = r.check();
    assert_eq!(run.code, 2, "{}", run.all());
    let line = r
        .read("policy.toml")
        .lines()
        .position(|l| l.starts_with("merge-method"))
        .unwrap()
        + 1;
    assert!(
        run.all().contains(&format!("policy.toml:{line}:16")),
        "names policy.toml:{line}:16: {}",
        run.all()
    );
    assert!(
        run.all().contains("did you mean `squash`?"),
        "{}",
        run.all()
    );
    // A developer switching squash back to merge (to let branch commits count) is A012.
    let r = Repo::new();
    r.write("policy.toml", policy("merge-method = \"squash\"", ""));
    r.commit_all_by(DEV, "Adopt");
    r.edit_policy("merge-method = \"squash\"", "merge-method = \"merge\"");
    r.commit_all_by(DEV, "Use merge commits");
    let run = r.check();
    assert_eq!(run.text_codes(), vec!["A012"], "{}", run.all());
    assert!(
        run.stdout.contains("`governance.merge-method`"),
        "{}",
        run.stdout
    );
    // The same change committed by the lead with the trailer passes.
    r.git_by(DEV, &["reset", "-q", "--hard", "HEAD^"]);
    r.edit_policy("merge-method = \"squash\"", "merge-method = \"merge\"");
    r.commit_approved("Use merge commits");
    assert_eq!(r.check().code, 0, "{}", r.check().all());
}
