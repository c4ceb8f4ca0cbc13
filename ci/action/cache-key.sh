#!/usr/bin/env bash
# The cache key for the installed gate-* binaries (action.yml's cache step): runner OS and
# architecture, the action's ref, the `version` input, and a hash of the sources cargo builds
# from. The hash matters: a moving tag (`@v1`) or `uses: ./` keeps the same ref while the
# code changes, and a key on the ref alone would restore stale binaries.
set -euo pipefail
root="${MIGRATION_GATE_SOURCE:-${GITHUB_ACTION_PATH:-$(cd "$(dirname "$0")/../.." && pwd)}}"
if command -v sha256sum >/dev/null 2>&1; then sum=(sha256sum); else sum=(shasum -a 256); fi
hash=$(cd "$root" && find Cargo.toml Cargo.lock crates -type f \( -name '*.rs' -o -name 'Cargo.*' \) -print0 \
  | LC_ALL=C sort -z | xargs -0 "${sum[@]}" | "${sum[@]}" | cut -c1-16)
ref="${ACTION_REF:-local}"
# The replay job installs with `--features replay` (three binaries), the others without (two).
set_="hook"
[ "${INPUT_GATE:-}" != replay ] || set_="full"
key="migration-gate-${RUNNER_OS:-unknown}-${RUNNER_ARCH:-unknown}-${ref//\//-}-${INPUT_VERSION:-self}-$set_-$hash"
echo "key=$key" >>"${GITHUB_OUTPUT:-/dev/stdout}"
