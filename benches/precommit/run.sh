#!/usr/bin/env bash
# Benchmark: gate-precommit (staged mode) on a repository with 100,000 tracked files and
# 1,000 staged files, against git's own floor for "which files are staged"
# (`git diff --cached --name-only`). Usage: benches/precommit/run.sh [WORKDIR]
# Needs: git, python3, hyperfine, /usr/bin/time (GNU time). Writes WORKDIR/results.json,
# WORKDIR/summary.txt.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
work="${1:-${TMPDIR:-/tmp}/gate-bench-precommit}"
files="${GATE_BENCH_FILES:-100000}"
staged="${GATE_BENCH_STAGED:-1000}"

for tool in git python3 hyperfine /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done

echo "== building gate-precommit (release)"
cargo build --release --quiet --bin gate-precommit --manifest-path "$src/Cargo.toml"
target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$src/Cargo.toml" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
gate="$target/release/gate-precommit"

echo "== creating $work/repo with $files tracked files"
rm -rf "$work"
mkdir -p "$work/repo"
cd "$work/repo"
git init -q -b main
git config user.name bench
git config user.email bench@example.com
git config gc.auto 0

# One fast-import stream instead of 100,000 `git add` calls. Layout: 20 top folders, each
# with 50 packages of 100 modules (like a large Python monorepo), plus a few root files.
python3 - "$files" <<'PY' | git fast-import --quiet
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
def blob(mark, data):
    out.write(b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(data), data))
paths = []
root_files = ["README.md", "setup.py", "pyproject.toml", "alembic.ini", "Makefile"]
for i, name in enumerate(root_files):
    paths.append(name)
i = 0
while len(paths) < n:
    top, pkg, mod = i // 5000, (i // 100) % 50, i % 100
    paths.append("src/app%02d/pkg%02d/module_%03d.py" % (top, pkg, mod))
    i += 1
for mark, p in enumerate(paths, start=1):
    blob(mark, b"# %s\ndef f_%d():\n    return %d\n" % (p.encode(), mark, mark))
policy = b'''version = 1
[migrations]
path = "alembic/versions"
[emergency]
scope = ["."]
ddl = true
'''
blob(n + 1, policy)
out.write(b"commit refs/heads/main\nmark :%d\ncommitter bench <bench@example.com> 1700000000 +0000\ndata 7\ninitial\n" % (n + 2))
for mark, p in enumerate(paths, start=1):
    out.write(b"M 100644 :%d %s\n" % (mark, p.encode()))
out.write(b"M 100644 :%d policy.toml\n" % (n + 1))
out.write(b"\n")
PY
git reset -q --hard main
echo "   tracked: $(git ls-files | wc -l)"

echo "== staging $staged files (20 in the root)"
python3 - "$staged" "$files" <<'PY'
import os, sys
staged = int(sys.argv[1])
root = [
    "emergency_db_fix.py", "emergency_enum_fix.py", "production_schema_repair.py",
    "fix_zebra_admin_access.py", "hotfix_sessions.sql",
    "README.md", "setup.py", "Makefile", "CHANGELOG.md", "CONTRIBUTING.md",
    "manage.py", "tasks.py", "noxfile.py", "requirements.txt", "requirements-dev.txt",
    "schema_notes.sql", "cleanup_cache.py", "report.py", "Dockerfile", "docker-compose.yml",
]
for i, name in enumerate(root):
    with open(name, "a") as f:
        # A few innocent names still run DDL; most root files are plain.
        f.write("ALTER TABLE users ADD COLUMN c%d int;\n" % i if i % 7 == 0 else "# edit %d\n" % i)
nested = staged - len(root)
tracked = int(sys.argv[2]) - 5  # generated modules (the first 5 files are root files)
for i in range(nested):
    k = (i * 97) % tracked  # 97 is coprime to the module count: distinct modules
    top, pkg, mod = k // 5000, (k // 100) % 50, k % 100
    if i % 2:  # half modified, half new
        p = "src/app%02d/pkg%02d/module_%03d.py" % (top, pkg, mod)
        with open(p, "a") as f: f.write("# changed\n")
    else:
        d = "src/app%02d/pkg%02d/new" % (top, pkg)
        os.makedirs(d, exist_ok=True)
        with open("%s/added_%04d.py" % (d, i), "w") as f: f.write("def g(): return %d\n" % i)
PY
git add -A
echo "   staged: $(git diff --cached --name-only | wc -l)"

echo "== sanity: gate-precommit verdict"
set +e
"$gate" >"$work/gate-output.txt" 2>&1
code=$?
set -e
echo "   exit $code, $(grep -c '^error\[G001\]' "$work/gate-output.txt") G001 findings"
[ "$code" = 1 ] || { cat "$work/gate-output.txt"; echo "expected exit 1" >&2; exit 2; }

echo "== hyperfine"
hyperfine --warmup 3 --runs 30 --ignore-failure --export-json "$work/results.json" \
    --command-name gate-precommit "$gate" \
    --command-name 'git diff --cached --name-only' 'git diff --cached --name-only'

echo "== peak RSS"
rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ {print $2}'; }
gate_rss=$(rss "$gate" || true)
git_rss=$(rss git diff --cached --name-only || true)

python3 - "$work/results.json" "$gate_rss" "$git_rss" >"$work/summary.txt" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
g, f = res["gate-precommit"], res["git diff --cached --name-only"]
gm, fm = g["median"] * 1000, f["median"] * 1000
print(f"gate-precommit median {gm:.1f} ms (mean {g['mean']*1000:.1f} ± {g['stddev']*1000:.1f})")
print(f"git diff --cached --name-only median {fm:.1f} ms (mean {f['mean']*1000:.1f} ± {f['stddev']*1000:.1f})")
print(f"ratio {gm/fm:.2f}x (target <= 1.5x), absolute target <= 50 ms: {'met' if gm <= 50 else 'MISSED'}")
print(f"peak RSS gate-precommit {int(sys.argv[2])/1024:.1f} MB (target <= 50 MB), git {int(sys.argv[3])/1024:.1f} MB")
PY
cat "$work/summary.txt"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/ {print $2}') GiB RAM"
