#!/usr/bin/env bash
# The main job (README.md): runs every gate on a copy of examples/crisis in a temporary git
# repository and prints what each one reports. The crisis is supposed to fail the gates: this
# script exits 0 when every gate ran and gave a verdict (exit 0 or 1), and 2 when any gate
# could not run.
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
trap 'rm -rf "$WORK"' EXIT
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
  [ "$rc" -le 1 ] || could_not_run=1
}

echo "# Migration Gate on the crisis example ($WORK, today = $TODAY)"

# 1. The pre-commit gate in CI mode: five unregistered emergency scripts (G001).
gate gate-precommit --all

# 2. The chain, statically: one head, 13 migrations.
gate gate-replay chain

# 3. Replay from an empty PostgreSQL: the chain itself builds.
gate gate-replay

# 4. Adopt the gate in one commit: register every script as legacy with a deadline.
gate gate-approve baseline
git add policy.toml
git commit -q -m "Adopt Migration Gate: register legacy emergency scripts"
gate gate-precommit --all
gate gate-approve check

# 5. Triage: record where production ran each fix and how to run and roll it back, so replay
#    can verify them (idempotency, rollback, conflicts with later migrations, drift).
while read -r script after; do
  gate gate-approve register "$script" --update --applied-after "$after" \
    --run "python3 $script" --rollback "python3 $script --rollback"
done <<'FIXES'
emergency_enum_fix.py 6e7f8091a2b3
emergency_db_fix.py 7f8091a2b3c4
fix_zebra_admin_access.py 9c1d2e3f4a5b
production_schema_repair.py c3d4e5f6a7b8
deploy_emergency_database_fix.py a0a2f1ab72ce
FIXES
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
gate gate-replay production --snapshot-out "$WORK/production-schema.json"

# 6. What reviewers read in the pull request.
gate gate-approve report --format markdown

# 7. Two weeks later nobody converted anything: the deadline fails the gate (A007).
gate gate-approve check --today "$(date -d "$TODAY + 30 days" +%F)"

echo
if [ "$could_not_run" = 1 ]; then
  echo "crisis.sh: at least one gate could not run (exit 2); see above" >&2
  exit 2
fi
echo "crisis.sh: every gate ran; the findings above are the crisis."
