//! The rule catalogue: every code, its default severity, and what/why/how-to-fix.
//! Docs (README, `explain`), SARIF rule metadata and a finding's default severity and help
//! are generated from this one table.

use crate::{Code, Severity};

#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub code: Code,
    pub severity: Severity,
    /// Short name, kebab-case (used as SARIF rule name).
    pub name: &'static str,
    /// What the rule detects.
    pub what: &'static str,
    /// Why it matters.
    pub why: &'static str,
    /// How to fix it.
    pub fix: &'static str,
}

const E: Severity = Severity::Error;
const W: Severity = Severity::Warning;

/// One entry per [`Code`], in [`Code::ALL`] order: a missing, extra or misplaced entry does
/// not compile (the array length and the assertion below).
pub static RULES: &[Rule] = &CATALOGUE;

const _: () = {
    let mut i = 0;
    while i < CATALOGUE.len() {
        assert!(
            CATALOGUE[i].code.index() == i,
            "RULES is out of Code::ALL order"
        );
        i += 1;
    }
};

const CATALOGUE: [Rule; Code::COUNT] = [
    Rule {
        code: Code::G001,
        severity: E,
        name: "unregistered-emergency-script",
        what: "A new or edited emergency script (by name, or by DDL in its text) in an emergency scope folder that is not registered in `[[emergency.script]]`.",
        why: "Unregistered hand fixes fight the migration chain over the same schema; nobody approved them and nobody will convert them.",
        fix: "Turn it into a migration, or register it for approval with `gate-approve register PATH --reason ... --ticket ...`.",
    },
    Rule {
        code: Code::G002,
        severity: E,
        name: "approved-script-edited",
        what: "A registered emergency script whose content no longer matches the sha256 its approval is pinned to.",
        why: "An approval covers exact content; an edited script is an unapproved script.",
        fix: "Revert the edit, or re-pin with `gate-approve register PATH --update` and get it approved again.",
    },
    Rule {
        code: Code::G003,
        severity: E,
        name: "released-migration-edited",
        what: "A migration listed in the lockfile was edited or deleted (content that an `amend` record of the lockfile re-pinned is not an edit).",
        why: "Production already ran the released version; editing it forks staging from production silently.",
        fix: "Revert the edit and write a new migration that makes the change; if the released migration itself must change (a guarded rewrite), record it with `gate-replay lock --amend REV --reason \"...\"` in a commit a listed approver makes with the trailer.",
    },
    Rule {
        code: Code::G004,
        severity: E,
        name: "migration-before-release",
        what: "A new migration is ordered before the last released one.",
        why: "Databases that already ran the released migrations will never run it.",
        fix: "Rebase the new migration onto the current head (set its down_revision / version after the last released one).",
    },
    Rule {
        code: Code::G005,
        severity: E,
        name: "lockfile-unpinned",
        what: "migrations.lock is missing (it is in the history, or the migrations folder has files), or a commit changed or removed a line of an existing entry (a re-pin) or added an `amend` record without being committed by a listed approver with the approval trailer.",
        why: "The lockfile is what pins released migrations (G003); deleting or re-writing it after editing a released migration turns that check off.",
        fix: "Restore the lockfile from history; an amendment of a released migration (`gate-replay lock --amend REV --reason \"...\"`) is committed by a listed approver with the trailer `Approved-by: <email>`.",
    },
    Rule {
        code: Code::C001,
        severity: E,
        name: "duplicate-revision",
        what: "Two migration files declare the same revision id or version.",
        why: "Alembic and SQL runners pick one arbitrarily; the other never runs.",
        fix: "Give one of them a new revision id and re-point its children.",
    },
    Rule {
        code: Code::C002,
        severity: E,
        name: "missing-parent",
        what: "A migration's parent (down_revision / depends_on) names no revision in the chain.",
        why: "The chain cannot be replayed from an empty database.",
        fix: "Point down_revision at an existing revision, or restore the missing migration.",
    },
    Rule {
        code: Code::C003,
        severity: E,
        name: "multiple-heads",
        what: "The chain has more heads than `migrations.max-heads`.",
        why: "`alembic upgrade head` refuses to run with multiple heads; deploys fail.",
        fix: "Merge the heads with `alembic merge -m \"merge heads\" HEAD1 HEAD2`.",
    },
    Rule {
        code: Code::C004,
        severity: E,
        name: "revision-cycle",
        what: "The revision graph contains a cycle.",
        why: "No order of migrations satisfies a cycle; replay is impossible.",
        fix: "Break the cycle by correcting one down_revision.",
    },
    Rule {
        code: Code::C005,
        severity: E,
        name: "unparseable-migration",
        what: "A migration file that cannot be read or parsed.",
        why: "A migration the gate cannot read is one it cannot check.",
        fix: "Fix the file's syntax so `revision` and `down_revision` are literal module variables.",
    },
    Rule {
        code: Code::C006,
        severity: E,
        name: "multiple-bases",
        what: "More than one migration has no parent.",
        why: "Several roots usually mean a lost or re-created history.",
        fix: "Point all but one base at its real parent.",
    },
    Rule {
        code: Code::R001,
        severity: E,
        name: "upgrade-failed",
        what: "Upgrading an empty database to head failed (or timed out).",
        why: "A chain that does not build from empty cannot create staging, CI or disaster-recovery databases.",
        fix: "Fix the named migration so it runs on an empty database; move objects that emergency scripts created into migrations.",
    },
    Rule {
        code: Code::R002,
        severity: E,
        name: "head-mismatch",
        what: "The database's recorded revision after upgrade differs from the chain head.",
        why: "The runner and the chain disagree about what head is.",
        fix: "Check for branch labels or a runner configuration that stops early.",
    },
    Rule {
        code: Code::R003,
        severity: E,
        name: "schema-drift",
        what: "The replayed schema differs from the expected snapshot or the reference database.",
        why: "Staging built from migrations does not match production.",
        fix: "Consolidate the drift into a migration, then refresh the snapshot with `gate-replay snapshot`.",
    },
    Rule {
        code: Code::R004,
        severity: E,
        name: "roundtrip-mismatch",
        what: "Downgrade to base and upgrade again does not give the same schema.",
        why: "Broken downgrades make rollbacks during incidents unsafe.",
        fix: "Make each downgrade undo exactly what its upgrade did.",
    },
    Rule {
        code: Code::R005,
        severity: W,
        name: "slow-migration",
        what: "A migration took longer than `replay.slow-ms` on an empty database.",
        why: "What is slow on an empty database is slower on production data.",
        fix: "Split the migration or make the slow step concurrent.",
    },
    Rule {
        code: Code::R006,
        severity: E,
        name: "downgrade-failed",
        what: "Downgrading to base failed.",
        why: "A downgrade that fails cannot be used to roll back a bad deploy.",
        fix: "Fix the named migration's downgrade.",
    },
    Rule {
        code: Code::R007,
        severity: E,
        name: "stairway-failed",
        what: "Stepping one revision (upgrade to it, downgrade one step, upgrade again) fails or does not give the same schema.",
        why: "A revision whose own downgrade is broken cannot be rolled back on its own, even when a full round trip to base happens to pass.",
        fix: "Make the named revision's downgrade undo exactly what its upgrade did, with only its parents applied.",
    },
    Rule {
        code: Code::R008,
        severity: E,
        name: "models-differ",
        what: "The models (env.py's target_metadata) differ from the schema the migrations build, as `alembic check` reports.",
        why: "The application expects tables and columns the migrations do not create (or the reverse); the next autogenerate picks the difference up unreviewed.",
        fix: "Add a migration for the difference (`alembic revision --autogenerate`), or change the models to match.",
    },
    Rule {
        code: Code::R009,
        severity: E,
        name: "fails-with-rows",
        what: "A migration fails on a database that holds rows (generated before each migration by `--data` / `replay.data`) but passes on an empty one: the message names the SQLSTATE production would raise, the statement and the table's row count.",
        why: "Production tables are not empty: a NOT NULL column without a default, a unique index over duplicates or a check the existing rows break stops the deploy halfway, although the chain replays cleanly from empty.",
        fix: "Make the migration work on existing rows: add a server default or backfill before SET NOT NULL, remove duplicates before a unique index, add a check NOT VALID and validate after cleaning the data.",
    },
    Rule {
        code: Code::R010,
        severity: E,
        name: "check-not-run",
        what: "A check the replay was asked to run could not run after an earlier failure (the chain does not read, or does not build): names what was skipped.",
        why: "A gate that skips checks silently reports a green it never earned; the skipped checks may hide more failures.",
        fix: "Fix the earlier failure named in the message (C or R finding), then run the replay again.",
    },
    Rule {
        code: Code::F001,
        severity: E,
        name: "fix-not-idempotent",
        what: "Running the emergency fix a second time fails or changes the schema.",
        why: "Emergency fixes get re-run by hand during incidents; a second run must be harmless.",
        fix: "Guard the fix (IF NOT EXISTS, ON CONFLICT, check before altering).",
    },
    Rule {
        code: Code::F002,
        severity: E,
        name: "fix-rollback-broken",
        what: "The fix's rollback does not restore the schema it started from.",
        why: "A rollback that does not roll back is worse than none.",
        fix: "Make the rollback undo exactly what the fix does.",
    },
    Rule {
        code: Code::F003,
        severity: E,
        name: "fix-conflicts-with-migration",
        what: "Replaying the fix where production ran it makes a later migration fail.",
        why: "This is the crisis: fixes and migrations create the same objects and deploys break.",
        fix: "Make the later migration tolerate the fix (IF NOT EXISTS) or convert the fix into the migration chain.",
    },
    Rule {
        code: Code::F004,
        severity: E,
        name: "fix-drift",
        what: "The production path (migrations, fix, migrations) leaves a schema the migrations alone do not produce.",
        why: "The fix's effect is not in the chain yet, so new environments differ from production.",
        fix: "Write a migration that makes the same change, then mark the fix converted.",
    },
    Rule {
        code: Code::F005,
        severity: E,
        name: "converted-fix-differs",
        what: "A fix marked converted still changes the schema beyond its migration.",
        why: "The conversion is incomplete; `converted` is a claim the schema does not back.",
        fix: "Complete the migration named in converted-in, or set status back to active.",
    },
    Rule {
        code: Code::F006,
        severity: E,
        name: "fix-changed-nothing",
        what: "Applied where production ran it, the fix changed neither the schema nor any row: it probably failed silently (an error caught and printed, exit 0).",
        why: "A fix that reports success without doing anything leaves production as broken as before, and its approval vouches for nothing.",
        fix: "Make the fix exit non-zero when it fails; if it only changes rows that a scratch database lacks, say so in its entry and verify it against data (replay.data).",
    },
    Rule {
        code: Code::F007,
        severity: E,
        name: "unregistered-manual-patch",
        what: "The production path (every registered fix replayed in production order between the migrations, `gate-replay production`) differs from production's `pg_dump --schema-only` (`--reference-dump`) in an object no registered fix touched: a manual patch nobody registered.",
        why: "A change made by hand on production is in no migration and no registry entry: every new environment lacks it, and the next migration that meets it fails the way the crisis did.",
        fix: "Find the script or session that made the change, register it (with `applied-after`) so the path replays it, or write a migration that makes the same change.",
    },
    Rule {
        code: Code::F008,
        severity: E,
        name: "unproven-consolidation",
        what: "`gate-replay consolidate` could not express a difference between the clean chain and the production path as guarded SQL (a leftover), or a proof of its plan failed on the scratch databases (both paths reach the new head, equal schemas, a second run is a no-op, the downgrade returns the clean head).",
        why: "A consolidation that is not complete or not proven would leave environments apart or break production when it runs there; nothing of it is written.",
        fix: "Write the named difference as a migration by hand (or make the data statement idempotent), then run `gate-replay consolidate` again.",
    },
    Rule {
        code: Code::A001,
        severity: E,
        name: "missing-field",
        what: "A registry entry lacks a required field (reason, ticket, author, approved-by, approved-on, convert-by, sha256).",
        why: "Governance without the facts is not governance.",
        fix: "Fill in the field in policy.toml.",
    },
    Rule {
        code: Code::A002,
        severity: E,
        name: "unknown-approver",
        what: "approved-by names someone not in `governance.approvers`.",
        why: "Only technical leads may approve emergency fixes.",
        fix: "Get approval from a listed approver, or add them to governance.approvers in a reviewed change.",
    },
    Rule {
        code: Code::A003,
        severity: E,
        name: "self-approval",
        what: "The approver is the script's author while `governance.four-eyes` is on.",
        why: "Four eyes means a second person looked.",
        fix: "Have another listed approver approve it.",
    },
    Rule {
        code: Code::A004,
        severity: E,
        name: "bad-ticket",
        what: "The ticket does not match `governance.ticket`.",
        why: "A fix must be traceable to the incident that caused it.",
        fix: "Use the incident or ops ticket id, e.g. INC-1042.",
    },
    Rule {
        code: Code::A005,
        severity: E,
        name: "content-changed",
        what: "The file's content differs from the approved sha256.",
        why: "The approval covered other content.",
        fix: "Revert, or re-register with `gate-approve register PATH --update` and get it approved again.",
    },
    Rule {
        code: Code::A006,
        severity: E,
        name: "file-missing",
        what: "An active registry entry names a file that does not exist.",
        why: "An active fix nobody can read or re-run.",
        fix: "Restore the file, or set status to retired / converted.",
    },
    Rule {
        code: Code::A007,
        severity: E,
        name: "overdue",
        what: "The fix is past convert-by and not converted.",
        why: "Temporary fixes that never become migrations are how the crisis started.",
        fix: "Turn the fix into a migration and set status = \"converted\" with converted-in.",
    },
    Rule {
        code: Code::A008,
        severity: E,
        name: "unknown-conversion",
        what: "converted-in names no revision of the chain.",
        why: "The conversion cannot be verified.",
        fix: "Set converted-in to the revision that absorbed the fix.",
    },
    Rule {
        code: Code::A009,
        severity: E,
        name: "deadline-too-far",
        what: "convert-by is later than approved-on + `governance.convert-within-days`.",
        why: "Deadlines are policy, not negotiation.",
        fix: "Set convert-by within the allowed window.",
    },
    Rule {
        code: Code::A010,
        severity: E,
        name: "approval-not-in-git",
        what: "The commit that set the entry's sha256/approved-by lacks a trailer naming the approver, or was not committed by the approver.",
        why: "An approval anyone can type into a file is not an approval; git records who did it.",
        fix: "Have the approver commit the approval with the trailer `Approved-by: <email>`.",
    },
    Rule {
        code: Code::A011,
        severity: E,
        name: "missing-rollback",
        what: "The entry has no rollback while `governance.require-rollback` is on.",
        why: "Every emergency fix needs a way back.",
        fix: "Add rollback = \"...\" to the entry.",
    },
    Rule {
        code: Code::A012,
        severity: E,
        name: "relaxation-not-approved",
        what: "A change to `[emergency]` or `[governance]` settings, to the `[migrations]` paths, or to any field of a registry entry (a legacy entry added after the adoption included) was made by a commit that is not committed by an approver listed in its parent's policy with a trailer naming them.",
        why: "Whatever relaxes a gate (a wider ignore, a later deadline, `rollback = \"true\"`, a new approver) is an approval; a file anyone can edit is not one.",
        fix: "Have a listed approver commit the change themselves (re-commit or amend it as them) with the trailer `Approved-by: <email>`; only the commit that adopted policy.toml needs none.",
    },
    Rule {
        code: Code::L001,
        severity: W,
        name: "access-exclusive-held",
        what: "A migration statement took ACCESS EXCLUSIVE on a table that holds rows and the transaction kept it across later statements (observed in `pg_locks` during replay with `replay.data`).",
        why: "While ACCESS EXCLUSIVE is held every read and write of the table waits, and so does everything queued behind them: the application stalls for as long as the rest of the migration runs.",
        fix: "Keep the statement that takes ACCESS EXCLUSIVE alone in its migration with a short `lock_timeout`; move backfills and other slow work to their own transactions.",
    },
    Rule {
        code: Code::L002,
        severity: W,
        name: "table-rewrite",
        what: "A migration statement rewrote a table that holds rows (its relfilenode changed during replay with `replay.data`), e.g. a column type change or a column added with a volatile default.",
        why: "A rewrite copies the whole table and rebuilds its indexes under ACCESS EXCLUSIVE: on a large production table that is minutes of downtime.",
        fix: "Add a new column (nullable, or with a constant default), backfill it in batches, and swap in a short migration; or use a type change PostgreSQL does without a rewrite.",
    },
    Rule {
        code: Code::L003,
        severity: W,
        name: "index-not-concurrent",
        what: "A migration built an index on a table that holds rows without CONCURRENTLY (observed during replay with `replay.data`).",
        why: "CREATE INDEX holds a SHARE lock for the whole build: every INSERT, UPDATE and DELETE on the table waits until it ends.",
        fix: "Use `CREATE INDEX CONCURRENTLY` outside a transaction (Alembic: `autocommit_block()` with `postgresql_concurrently=True`); for a unique constraint, build the index concurrently, then `ADD CONSTRAINT … USING INDEX`.",
    },
    Rule {
        code: Code::L004,
        severity: W,
        name: "constraint-validated-under-lock",
        what: "A migration added a CHECK or FOREIGN KEY constraint, or SET NOT NULL, that scanned a table holding rows under ACCESS EXCLUSIVE / SHARE ROW EXCLUSIVE (observed during replay with `replay.data`).",
        why: "The validating scan runs while the lock blocks writes (and, for ACCESS EXCLUSIVE, reads) of the table.",
        fix: "Add the constraint `NOT VALID`, then `VALIDATE CONSTRAINT` in a later transaction; for NOT NULL, validate a `CHECK (col IS NOT NULL)` first, then SET NOT NULL.",
    },
];

/// The rule with this code as written (`"G001"`), if it exists; see [`Code::rule`] for a
/// typed code.
pub fn lookup(code: &str) -> Option<&'static Rule> {
    code.parse::<Code>().ok().map(Code::rule)
}

/// A rule's explanation: what it detects, why it matters, how to fix it.
/// Codes are matched case-insensitively (`g001` works); `None` for an unknown code.
pub fn explain(code: &str) -> Option<String> {
    let rule = lookup(&code.trim().to_ascii_uppercase())?;
    Some(format!(
        "{code} ({severity}): {name}\n\nWhat it detects\n  {what}\n\nWhy it matters\n  {why}\n\nHow to fix it\n  {fix}\n",
        code = rule.code,
        severity = rule.severity.as_str(),
        name = rule.name,
        what = rule.what,
        why = rule.why,
        fix = rule.fix,
    ))
}

/// A GitHub Markdown table of every rule (Code, Severity, What, Why, How to fix), for the
/// README. The catalogue texts are Markdown already (backticks mark names); only what would
/// break the table is escaped.
pub fn rules_markdown_table() -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', "<br>");
    let mut out =
        String::from("| Code | Severity | What | Why | How to fix |\n|---|---|---|---|---|\n");
    for r in RULES {
        out.push_str(&format!(
            "| `{}` {} | {} | {} | {} | {} |\n",
            r.code,
            r.name,
            r.severity.as_str(),
            cell(r.what),
            cell(r.why),
            cell(r.fix),
        ));
    }
    out
}
