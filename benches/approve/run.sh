#!/usr/bin/env bash
# Benchmark: `gate-approve check` on a repository with 1,000 registry entries and 10,000
# commits of policy.toml history (generated with git fast-import by gen.py), against git's own
# floor for walking that history (`git log --format=%H -- policy.toml`).
# Usage: benches/approve/run.sh [WORKDIR]   (GATE_BENCH_REUSE=1 keeps an existing WORKDIR/repo)
# Needs: git, python3, hyperfine. Writes WORKDIR/results.json.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
work="${1:-${TMPDIR:-/tmp}/gate-bench-approve}"

for tool in git python3 hyperfine; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done

echo "== building gate-approve (release)"
cargo build --release --quiet --bin gate-approve --manifest-path "$src/Cargo.toml"
target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$src/Cargo.toml" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
gate="$target/release/gate-approve"

if [ "${GATE_BENCH_REUSE:-}" = 1 ] && [ -d "$work/repo/.git" ]; then
    echo "== reusing $work/repo"
else
    echo "== generating $work/repo (1,000 entries, 10,000 commits; takes a few minutes)"
    rm -rf "$work"
    mkdir -p "$work"
    python3 "$here/gen.py" "$work/repo"
fi
cd "$work/repo"
echo "commits touching policy.toml: $(git log --format=%H -- policy.toml | wc -l)"
echo "entries: $(grep -c '^\[\[emergency.script\]\]' policy.toml)"

# The check must pass (every approval is in git): a failing run would time something else.
"$gate" check --today 2026-01-05 >/dev/null

hyperfine --warmup 1 --runs "${GATE_BENCH_RUNS:-5}" --export-json "$work/results.json" \
    -n 'gate-approve check' "$gate check --today 2026-01-05" \
    -n 'git log -- policy.toml (floor)' 'git log --format=%H -- policy.toml'
