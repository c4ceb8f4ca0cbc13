#!/usr/bin/env bash
# The main job (README.md): runs every gate on a copy of examples/crisis in a temporary git
# repository, first as the crisis (the gates fail, each finding explained), then through the
# recovery of docs/RECOVERY.md (baseline, triage, production path, consolidation, approvals)
# until every gate passes. Exits 0 when the recovery ends green, 1 when a gate still fails at
# the end, 2 when any gate could not run.
#   bash ci/crisis.sh            # set up the machine, build, run
#   GATE_SKIP_SETUP=1 bash ci/crisis.sh
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
cd "$SRC"
[ "${GATE_SKIP_SETUP:-}" = 1 ] || bash ci/setup.sh
cargo build --release --locked --bins --all-features -q
BIN="$SRC/target/release"
export PATH="$BIN:$PATH"

WORK="$(mktemp -d -t crisis.XXXXXX)"
# Files the story makes (schema dumps, the production snapshot) live outside the repository:
# a dump in the root would be an unregistered script with DDL (G001), as it should be.
OUT="$(mktemp -d -t crisis-out.XXXXXX)"
trap 'rm -rf "$WORK" "$OUT"' EXIT
cp -R examples/crisis/. "$WORK/"
cd "$WORK"
git init -q -b main
git config user.name "Dana Developer"
git config user.email "dev@example.com"
git add -A
# policy.toml arrives with the adoption (step 4): that commit is the baseline of A012.
git reset -q policy.toml
git commit -q -m "The crisis: 13 migrations and five emergency scripts in the root"

TODAY="${GATE_TODAY:-$(date +%F)}"
export GATE_TODAY="$TODAY"
could_not_run=0
BOLD="" PLAIN=""
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; fi
gate() {
  printf '\n%s$ %s%s\n' "$BOLD" "$*" "$PLAIN"
  set +e
  "$@"
  local rc=$?
  set -e
  printf '(exit %s)\n' "$rc"
  rc_last=$rc
  [ "$rc" -le 1 ] || could_not_run=1
}

echo "# Migration Gate on the crisis example ($WORK, today = $TODAY)"

# 1. The pre-commit gate in CI mode: five unregistered emergency scripts (G001).
gate gate-precommit --all

# 2. The chain, statically: one head, 13 migrations.
gate gate-replay chain

# 3. Replay from an empty PostgreSQL: the chain itself builds, every revision steps down and
#    up again (the stairway), and the application's models match the head (alembic check).
gate gate-replay

# 4. Adopt the gate in one commit: register every script as legacy with a deadline.
gate gate-approve baseline
git add policy.toml
git commit -q -m "Adopt Migration Gate: register legacy emergency scripts"
gate gate-precommit --all
gate gate-approve check

# 5. Triage: record where production ran each fix and how to run and roll it back, so replay
#    can verify them (idempotency, rollback, conflicts with later migrations, drift).
FIX_PLACES="emergency_enum_fix.py 6e7f8091a2b3
emergency_db_fix.py 7f8091a2b3c4
fix_zebra_admin_access.py 9c1d2e3f4a5b
production_schema_repair.py c3d4e5f6a7b8
deploy_emergency_database_fix.py a0a2f1ab72ce"
while read -r script after; do
  gate gate-approve register "$script" --update --applied-after "$after" \
    --run "python3 $script" --rollback "python3 $script --rollback"
done <<<"$FIX_PLACES"
git add policy.toml
# Changing registry entries is an approval (A012): the technical lead reviews the triage and
# commits it with the trailer, as governance.approvers and the trailer require.
GIT_COMMITTER_NAME="Lee Lead" GIT_COMMITTER_EMAIL="lead@example.com" \
  git commit -q -m "Triage: where production ran each emergency fix" \
  -m "Approved-by: lead@example.com"
gate gate-replay

# 5b. The production path: every fix where production ran it, interleaved with the
#     migrations. Each migration a fix broke is F003 and the path goes on past it (stamped,
#     as production did), so production's schema is known: written to
#     production-schema.json, with the statements each fix really ran in the report.
gate gate-replay production --snapshot-out "$OUT/production-schema.json"

# 6. What reviewers read in the pull request, while the crisis lasts.
gate gate-approve report --format markdown

# 7. Two weeks later nobody converted anything: the deadline fails the gate (A007).
gate gate-approve check --today "$(date -d "$TODAY + 30 days" +%F)"

echo
echo "# The recovery (docs/RECOVERY.md)"

# 8. Production as the team has it, built by hand with plain Alembic and the fix scripts on a
#    throw-away server (ci/test-postgres.sh): each revision upgraded in order, stamped where a
#    fix had already made its objects, each fix run where production ran it. Its
#    `pg_dump --schema-only` is what a team takes from production (read-only).
eval "$(bash "$SRC/ci/test-postgres.sh")"
# SQLAlchemy 2.x (env.py) accepts postgresql://, not libpq's postgres:// short form.
PG_SERVER="postgresql://${GATE_TEST_DATABASE_URL#*://}"
PG_SERVER="${PG_SERVER%/*}"
PROD_DB="crisis_production_$$"
psql -X -q -d "$GATE_TEST_DATABASE_URL" -c "CREATE DATABASE $PROD_DB"
trap 'psql -X -q -d "$GATE_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $PROD_DB" >/dev/null 2>&1; rm -rf "$WORK" "$OUT"' EXIT
PROD_URL="$PG_SERVER/$PROD_DB"
production_by_hand() {
  local rev script after
  for rev in $(DATABASE_URL="$PROD_URL" python3 -m alembic history | tac | awk '{print $3}' | tr -d ','); do
    DATABASE_URL="$PROD_URL" python3 -m alembic upgrade "$rev" >/dev/null 2>&1 \
      || DATABASE_URL="$PROD_URL" python3 -m alembic stamp "$rev" >/dev/null
    while read -r script after; do
      if [ "$after" = "$rev" ]; then DATABASE_URL="$PROD_URL" python3 "$script" >/dev/null; fi
    done <<<"$FIX_PLACES"
  done
}
production_by_hand
pg_dump --schema-only --no-owner -d "$PROD_URL" -f "$OUT/production.sql"
pg_dump --schema-only --no-owner -d "$PROD_URL" --exclude-table=alembic_version -f "$OUT/before.sql"
echo "production (by hand): $(grep -c '^CREATE' "$OUT/production.sql") CREATE statements in production.sql"

# 9. The production path against production's dump: every difference is explained by a
#    registered fix, or is a manual patch nobody registered (F007).
gate gate-replay production --reference-dump "$OUT/production.sql"

# 10. The recovery, proposed and proven on scratch databases (nothing written): guarded
#     rewrites of the four migrations the fixes broke, one consolidation migration at the
#     head, the fixes it converts; the clean path and the production path reach the same
#     schema, the consolidation runs twice as a no-op, its downgrade returns the clean head.
gate gate-replay consolidate

# 11. ... and written: the amendments recorded in migrations.lock, the fixes marked converted.
gate gate-replay consolidate --write
git status --short

# 12. The technical lead reviews the recovery and commits it: amendments of released
#     migrations (G005) and registry changes (A012) are approvals.
git add -A
GIT_COMMITTER_NAME="Lee Lead" GIT_COMMITTER_EMAIL="lead@example.com" \
  git commit -q -m "Recovery: consolidate the emergency fixes into the migration chain" \
  -m "Approved-by: lead@example.com"

# 13. Deploy to production: plain Alembic runs the consolidation there (the amended revisions
#     are already recorded as applied). It is a no-op: the dump does not change.
DATABASE_URL="$PROD_URL" python3 -m alembic upgrade head
pg_dump --schema-only --no-owner -d "$PROD_URL" --exclude-table=alembic_version -f "$OUT/after.sql"
echo "diff of production's schema dump before and after the deploy (empty: a no-op):"
# pg_dump 15.14+ brackets its output with a random `\restrict KEY` line: not the schema.
schema_of() { grep -v '^\\\(un\)\?restrict ' "$1"; }
diff <(schema_of "$OUT/before.sql") <(schema_of "$OUT/after.sql") && echo "(no difference)"
pg_dump --schema-only --no-owner -d "$PROD_URL" -f "$OUT/production-after.sql"

# 14. The models: app/models.py still describes the chain before the recovery, so plain
#     `alembic check` against production lists what the fixes made that the code does not
#     know (gate-replay's R008 says the same on the replayed head). The developer updates the
#     models to the schema production really has, and `alembic check` agrees.
echo
echo "$ alembic check   # production, models from before the recovery"
set +e
DATABASE_URL="$PROD_URL" python3 -m alembic check 2>&1 | grep -v '^\(INFO\|ERROR\) '
set -e
git apply recovery/models.patch
git commit -q -am "The models follow the schema production really has"
echo "$ alembic check   # after the models follow production"
DATABASE_URL="$PROD_URL" python3 -m alembic check 2>&1 | grep -v '^\(INFO\|ERROR\) '

# 15. Every gate, green: the hook, the replay (fixes converted: the chain now makes what they
#     made), the production path against production after the deploy (no difference, no
#     conflict), governance, and the deadline that failed in step 7.
final=0
green() {
  gate "$@"
  [ "$rc_last" = 0 ] || final=1
}
green gate-precommit --all
green gate-replay
green gate-replay production --reference-dump "$OUT/production-after.sql"
green gate-approve check
green gate-approve check --today "$(date -d "$TODAY + 30 days" +%F)"
gate gate-approve report --format markdown

echo
if [ "$could_not_run" = 1 ]; then
  echo "crisis.sh: at least one gate could not run (exit 2); see above" >&2
  exit 2
fi
if [ "$final" = 1 ]; then
  echo "crisis.sh: the recovery did not end green; see the last gates above" >&2
  exit 1
fi
echo "crisis.sh: the crisis was red, the recovery is proven and every gate is green."
