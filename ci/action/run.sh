#!/usr/bin/env bash
# The steps of Migration Gate's GitHub Action (action.yml at the repository root), kept in a
# script so they run, and are tested (tests/action.rs), outside GitHub:
#   run.sh setup   build the PostgreSQL image if asked, install the binaries unless cached
#   run.sh [gate]  run the gate
#
# One gate, one run: the gate runs once with `--format json`; its exit code is this script's
# exit code (0 passed, 1 findings, 2 could not check), and the JSON report is the record from
# which the outputs (counts), the annotations and the job summary are derived. A replay can
# take minutes, so it is never run twice to get a second format.
#
# Inputs (environment, as action.yml passes them):
#   INPUT_GATE            precommit | replay | approve
#   INPUT_ARGS            extra arguments, split on whitespace (no quoting, no globbing)
#   INPUT_FORMAT          github (annotations) | json | text | markdown | junit | sarif
#   INPUT_SARIF           path: also write SARIF there
#   INPUT_REPLAY          approve only: a gate-replay JSON report, or a folder of them (one
#                         per shard); runs `gate-approve report --replay …` instead of `check`,
#                         and its Markdown report is the job summary (one summary per job)
#   INPUT_POSTGRES_IMAGE  true: build migration-gate/postgres:15 with ci/postgres-image.sh
#   INPUT_VERSION         git revision to install instead of the action's own checkout
#   INPUT_INSTALL         false: use the gate-* binaries already on PATH
#   INPUT_COMMENT         true: on a pull request, the job summary is also one sticky comment
#                         per gate, updated in place (needs GITHUB_TOKEN with
#                         pull-requests: write; without a token it says so and posts nothing)
#   INPUT_CACHE_HIT       true: the cache restored ~/.cargo/bin/gate-* for this action source
#   MIGRATION_GATE_SOURCE the source tree to install from [default: GITHUB_ACTION_PATH]
# GitHub's own: GITHUB_ACTION_PATH, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, RUNNER_TEMP,
# GITHUB_ACTION_REPOSITORY, GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_EVENT_PATH,
# GITHUB_TOKEN. Needs bash, jq and curl (all on GitHub-hosted runners).
set -euo pipefail

GATE="${INPUT_GATE:-}"
FORMAT="${INPUT_FORMAT:-github}"
SARIF="${INPUT_SARIF:-}"
# The Migration Gate source tree: the root action's own folder, or what ci/github/action.yml
# (the older, in-repository action) points at.
ACTION_PATH="${MIGRATION_GATE_SOURCE:-${GITHUB_ACTION_PATH:-$(cd "$(dirname "$0")/../.." && pwd)}}"
# GitHub shows at most 10 error and 10 warning annotations per step; the rest are dropped
# silently, so the script prints 10 of each and says how many more the summary lists.
ANNOTATION_LIMIT=10

# A problem with the action's own inputs or tools: the gate could not check (exit 2), said
# as an annotation so it is visible on the pull request, not only in the log.
die() {
  FINISHED=true
  echo "::error title=Migration Gate could not check::$(escape_data "$*")"
  echo "migration-gate action: $*" >&2
  write_output exit-code 2
  exit 2
}

# Workflow-command escaping as in @actions/core (and gate-report's github format).
escape_data() {
  local s="$1"
  s="${s//'%'/%25}"
  s="${s//$'\r'/%0D}"
  s="${s//$'\n'/%0A}"
  printf '%s' "$s"
}

write_output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
  fi
}

validate_inputs() {
  case "$GATE" in
    precommit) GATE_CMD=(gate-precommit --all) ;;
    replay) GATE_CMD=(gate-replay) ;;
    approve) GATE_CMD=(gate-approve check) ;;
    *) die "input gate is '$GATE'; expected precommit, replay or approve" ;;
  esac
  REPORT_MODE=false
  if [ -n "${INPUT_REPLAY:-}" ]; then
    [ "$GATE" = approve ] || die "input replay joins gate-replay reports into gate-approve's report; it needs gate: approve, not $GATE"
    # The report runs every check of `check` and joins the replay's findings.
    GATE_CMD=(gate-approve report)
    REPORT_MODE=true
  fi
  case "$FORMAT" in
    github | json | text | markdown | junit | sarif) ;;
    *) die "input format is '$FORMAT'; expected github, json, text, markdown, junit or sarif" ;;
  esac
  # Whitespace-split on purpose: no eval, so an argument cannot run a command.
  set -f
  # shellcheck disable=SC2206 # splitting is the documented behaviour of the args input
  EXTRA_ARGS=(${INPUT_ARGS:-})
  set +f
  local arg
  for arg in "${EXTRA_ARGS[@]}"; do
    case "$arg" in
      --format | --format=*) die "args sets $arg; use the action's format input (the action itself runs the gate with --format json)" ;;
    esac
  done
  command -v jq >/dev/null 2>&1 || die "jq is not installed (GitHub-hosted runners have it; elsewhere: apt-get install jq)"
}

build_postgres_image() {
  [ "${INPUT_POSTGRES_IMAGE:-false}" = true ] || return 0
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  echo "::group::Build migration-gate/postgres:15 (ci/postgres-image.sh)"
  "${sudo[@]}" sh "$ACTION_PATH/ci/postgres-image.sh" || die "ci/postgres-image.sh failed (see the log above)"
  echo "::endgroup::"
}

install_binaries() {
  [ "${INPUT_INSTALL:-true}" != false ] || return 0
  local bin="${CARGO_HOME:-$HOME/.cargo}/bin"
  # The hook and gate-approve build without the database stack (default features); only the
  # replay job pays for sqlx, tokio and testcontainers (`--features replay`).
  local features=() needed=(gate-precommit gate-approve)
  if [ "$GATE" = replay ]; then
    features=(--features replay)
    needed+=(gate-replay)
  fi
  if [ "${INPUT_CACHE_HIT:-}" = true ]; then
    local missing=""
    for b in "${needed[@]}"; do [ -x "$bin/$b" ] || missing="$missing $b"; done
    if [ -z "$missing" ]; then
      echo "Migration Gate binaries restored from the cache: $bin"
      return 0
    fi
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo is not installed (GitHub-hosted runners have it; elsewhere install Rust with rustup)"
  local source=(--path "$ACTION_PATH")
  if [ -n "${INPUT_VERSION:-}" ]; then
    [ -n "${GITHUB_ACTION_REPOSITORY:-}" ] || die "input version needs GITHUB_ACTION_REPOSITORY to know where to install from"
    source=(--git "https://github.com/$GITHUB_ACTION_REPOSITORY" --rev "$INPUT_VERSION")
  fi
  local what="from the action's checkout"
  [ -z "${INPUT_VERSION:-}" ] || what="at $INPUT_VERSION"
  echo "::group::cargo install Migration Gate $what"
  # --force: a self-hosted runner may hold binaries of another version in the same folder.
  cargo install --locked --force --bins "${features[@]}" "${source[@]}" || die "cargo install failed (see the log above)"
  echo "::endgroup::"
}

# `--replay FILE` for every JSON report under INPUT_REPLAY (a file, or a folder of shard
# artifacts), in a stable order. None found is exit 2: a replay that produced no report must
# not leave the reviewers' report silently without it. A shard that is missing among the
# files is the report's own R010 finding.
add_replay_files() {
  [ "$REPORT_MODE" = true ] || return 0
  [ -e "$INPUT_REPLAY" ] || die "input replay: $INPUT_REPLAY does not exist (did the replay jobs upload their reports, and did this job download them?)"
  local files=() f
  while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$INPUT_REPLAY" -type f -name '*.json' -print0 | LC_ALL=C sort -z)
  [ "${#files[@]}" -gt 0 ] || die "input replay: no gate-replay JSON report under $INPUT_REPLAY"
  for f in "${files[@]}"; do GATE_CMD+=(--replay "$f"); done
}

# The gate's --help lists --output once it can write several formats in one run (DESIGN.md:
# `--output FORMAT=FILE`, repeatable).
supports_output_flag() {
  "${GATE_CMD[@]}" --help 2>/dev/null | grep -qE '^[[:space:]]+(-[a-zA-Z], )?--output[ =]'
}

# Formats besides the JSON report: the requested format (unless github or json, which the
# report serves), and SARIF when asked. Sets EXTRA_FORMATS / EXTRA_FILES.
plan_extra_formats() {
  EXTRA_FORMATS=()
  EXTRA_FILES=()
  RENDERED=""
  case "$FORMAT" in
    github | json) ;;
    *)
      RENDERED="$OUT_DIR/migration-gate-$GATE.$FORMAT"
      EXTRA_FORMATS+=("$FORMAT")
      EXTRA_FILES+=("$RENDERED")
      ;;
  esac
  if [ -n "$SARIF" ]; then
    mkdir -p "$(dirname "$SARIF")"
    EXTRA_FORMATS+=(sarif)
    EXTRA_FILES+=("$SARIF")
  fi
  # The reviewers' report (chain graph, replay per fix) is the job summary in report mode.
  SUMMARY_MD=""
  if [ "$REPORT_MODE" = true ]; then
    if [ "$FORMAT" = markdown ]; then
      SUMMARY_MD="$RENDERED"
    else
      SUMMARY_MD="$OUT_DIR/migration-gate-$GATE.summary.md"
      EXTRA_FORMATS+=(markdown)
      EXTRA_FILES+=("$SUMMARY_MD")
    fi
  fi
  ONE_RUN=true
  if [ "${#EXTRA_FORMATS[@]}" -gt 0 ] && ! supports_output_flag; then
    ONE_RUN=false
    # precommit and approve read files and git only (milliseconds) and GATE_TODAY pins the
    # date, so a second run sees the same input; a second replay would cost minutes.
    [ "$GATE" != replay ] || die "this gate-replay cannot write ${EXTRA_FORMATS[*]} in the same run (it has no --output FORMAT=FILE yet), and a second replay would double the job; use format github or json and no sarif input, or a newer Migration Gate"
  fi
}

run_gate() {
  local args=("${GATE_CMD[@]}" --format json)
  local i
  if [ "$ONE_RUN" = true ]; then
    for i in "${!EXTRA_FORMATS[@]}"; do
      args+=(--output "${EXTRA_FORMATS[$i]}=${EXTRA_FILES[$i]}")
    done
  fi
  echo "Running ${GATE_CMD[*]} --format json (report: $REPORT)"
  # stderr (progress, and the reason for an exit 2) goes to the log as it comes and to a file
  # for the annotation; the pipeline ends when tee has written all of it.
  set +e
  "${args[@]}" "${EXTRA_ARGS[@]}" 2>&1 >"$REPORT" | tee "$STDERR_FILE" >&2
  GATE_EXIT=${PIPESTATUS[0]}
  set -e
  [ "$ONE_RUN" = true ] && return 0
  for i in "${!EXTRA_FORMATS[@]}"; do
    local again
    set +e
    "${GATE_CMD[@]}" --format "${EXTRA_FORMATS[$i]}" "${EXTRA_ARGS[@]}" >"${EXTRA_FILES[$i]}" 2>/dev/null
    again=$?
    set -e
    [ "$again" = "$GATE_EXIT" ] || die "the ${EXTRA_FORMATS[$i]} run exited $again but the JSON run exited $GATE_EXIT on the same input"
  done
}

# Counts from the JSON report; a report that disagrees with the exit code fails closed.
read_counts() {
  ERRORS=""
  WARNINGS=""
  NOTES=""
  if jq -e '.version == 1 and (.summary.errors | type == "number")' "$REPORT" >/dev/null 2>&1; then
    ERRORS=$(jq -r '.summary.errors' "$REPORT")
    WARNINGS=$(jq -r '.summary.warnings' "$REPORT")
    NOTES=$(jq -r '.summary.notes' "$REPORT")
    local passed
    passed=$(jq -r '.summary.passed' "$REPORT")
    case "$GATE_EXIT:$passed" in
      0:true | 1:false | 2:*) ;;
      *) die "gate-$GATE exited $GATE_EXIT but its report says passed=$passed" ;;
    esac
  elif [ "$GATE_EXIT" = 0 ] || [ "$GATE_EXIT" = 1 ]; then
    die "gate-$GATE exited $GATE_EXIT without a JSON report in $REPORT"
  fi
}

# One workflow command per finding, as gate-report's github format writes them, at most
# ANNOTATION_LIMIT per severity.
annotate() {
  jq -r --argjson limit "$ANNOTATION_LIMIT" '
    def data: gsub("[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]"; "\ufffd")
      | gsub("%"; "%25") | gsub("\r"; "%0D") | gsub("\n"; "%0A");
    def prop: data | gsub(":"; "%3A") | gsub(","; "%2C");
    def command: {"error": "error", "warning": "warning", "note": "notice"}[.severity];
    .findings
    | group_by(.severity)[]
    | (.[:$limit][]
       | ([ (if .path then "file=\(.path | prop)" else empty end),
            (if .path and .line then "line=\(.line)" else empty end),
            (if .path and .line and .column then "col=\(.column)" else empty end),
            "title=\([.code, (.name // empty)] | join(" ") | prop)" ] | join(",")) as $props
       | "::\(command) \($props)::\(.message + (if .help != "" then "\nhelp: " + .help else "" end) | data)"),
      (if length > $limit then
         "::notice title=Migration Gate::\(length - $limit) more \(.[0].severity) findings are in the job summary and the report"
       else empty end)
  ' "$REPORT"
}

# The exit-2 reason as an annotation, placed at the policy's file:line:column when the error
# names one (`┌─ PATH:LINE:COL`, the compiler-style diagnostics of policy errors).
annotate_failure() {
  local text location="" file line col props
  text=$(head -c 4000 "$STDERR_FILE" | tr -d '\000')
  [ -n "$text" ] || text="gate-$GATE exited $GATE_EXIT and printed no reason"
  location=$(grep -oE '┌─ [^ ]+:[0-9]+:[0-9]+' "$STDERR_FILE" | head -1 | sed 's/^┌─ //' || true)
  props="title=gate-$GATE could not check (exit $GATE_EXIT)"
  if [ -n "$location" ]; then
    col="${location##*:}"
    location="${location%:*}"
    line="${location##*:}"
    file="${location%:*}"
    # Annotations take repository-relative paths.
    file="${file#"${GITHUB_WORKSPACE:-$PWD}"/}"
    file=$(escape_data "$file")
    file="${file//:/%3A}"
    props="file=${file//,/%2C},line=$line,col=$col,$props"
  fi
  echo "::error $props::$(escape_data "$text")"
}

# The job summary: a heading with counts, then the findings as text in a code block, so no
# file name or message can inject Markdown, links or mentions. Every line in the block starts
# with a severity word, the tool name or four spaces, so none can close the fence.
count() {
  if [ "$1" = 1 ]; then echo "1 $2"; else echo "$1 ${2}s"; fi
}

# The job summary (and the sticky comment's body), in Markdown.
summary_markdown() {
  # Report mode: the gate's own Markdown (escaped by gate-report) is the one summary.
  if [ "$REPORT_MODE" = true ] && [ -n "$SUMMARY_MD" ] && [ -s "$SUMMARY_MD" ]; then
    cat "$SUMMARY_MD"
    return 0
  fi
  {
    case "$GATE_EXIT" in
      0) printf '### ✅ gate-%s: ' "$GATE" ;;
      1) printf '### ❌ gate-%s: ' "$GATE" ;;
      *) printf '### ⚠️ gate-%s could not check (exit %s)' "$GATE" "$GATE_EXIT" ;;
    esac
    if [ -n "$ERRORS" ]; then
      if [ "$GATE_EXIT" != 0 ] && [ "$GATE_EXIT" != 1 ]; then printf ': '; fi
      printf '%s, %s, %s\n\n~~~text\n' \
        "$(count "$ERRORS" error)" "$(count "$WARNINGS" warning)" "$(count "$NOTES" note)"
      jq -r '
        def clean: gsub("[\\x00-\\x08\\x0b-\\x1f\\x7f]"; "\ufffd") | gsub("\n"; "\n    ");
        (.findings[]
         | "\(.severity)[\(.code)] \(.path // "-")\(if .line then ":\(.line)" else "" end): \(.message | clean)"
           + (if .help != "" then "\n    help: \(.help | clean)" else "" end)),
        "\(.tool): \(.subject | clean)"
      ' "$REPORT"
    else
      printf '\n\n~~~text\n'
      head -c 20000 "$STDERR_FILE" | tr -d '\000' | sed 's/^/    /'
    fi
    printf '~~~\n\n'
  }
}

write_summary() {
  local md="$OUT_DIR/migration-gate-$GATE.step-summary.md"
  summary_markdown >"$md"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$md" >>"$GITHUB_STEP_SUMMARY"; fi
  sticky_comment "$md"
}

# GitHub's REST API with the step's token; prints the response body, fails on HTTP errors.
github_api() {
  local method="$1" url="$2"
  shift 2
  curl -fsS -X "$method" -H "Authorization: Bearer $TOKEN" \
    -H "Accept: application/vnd.github+json" -H "X-GitHub-Api-Version: 2022-11-28" "$@" "$url"
}

# The id of this gate's earlier comment on the pull request (its first line is the marker),
# searching every page; empty when there is none.
find_comment() {
  local issues="$1" marker="$2" page=1 found="" batch
  while [ -z "$found" ]; do
    batch=$(github_api GET "$issues/comments?per_page=100&page=$page") || return 1
    [ "$(jq 'length' <<<"$batch")" -gt 0 ] || break
    found=$(jq -r --arg m "$marker" '[.[] | select(.body | startswith($m))][0].id // empty' <<<"$batch")
    page=$((page + 1))
  done
  printf '%s' "$found"
}

# INPUT_COMMENT=true on a pull request: one comment per gate, created once and updated on
# every later run, so the pull request shows the latest verdict instead of a pile of them. A
# comment that cannot be written is a warning: it never changes the gate's exit code.
sticky_comment() {
  [ "${INPUT_COMMENT:-false}" = true ] || return 0
  local md="$1" pr
  pr=$(jq -r '.pull_request.number // empty' "${GITHUB_EVENT_PATH:-/dev/null}" 2>/dev/null || true)
  if [ -z "$pr" ]; then
    echo "comment: not a pull request event; no comment"
    return 0
  fi
  TOKEN="${GITHUB_TOKEN:-}"
  if [ -z "$TOKEN" ]; then
    echo "::notice::comment: no GITHUB_TOKEN in the step's environment; no comment posted"
    return 0
  fi
  local marker="<!-- migration-gate:$GATE -->" issues id payload
  issues="${GITHUB_API_URL:-https://api.github.com}/repos/${GITHUB_REPOSITORY:?}/issues/$pr"
  payload=$(jq -n --arg m "$marker" --rawfile b "$md" '{body: ($m + "\n" + $b)}')
  if ! id=$(find_comment "$issues" "$marker"); then
    echo "::warning::comment: could not list the pull request's comments; no comment posted"
    return 0
  fi
  if [ -n "$id" ]; then
    github_api PATCH "${issues%/issues/*}/issues/comments/$id" --data "$payload" >/dev/null \
      || echo "::warning::comment: could not update comment $id"
  else
    github_api POST "$issues/comments" --data "$payload" >/dev/null \
      || echo "::warning::comment: could not post the comment"
  fi
}

# A failure of this script itself (an unset variable, a failed command) must not pass for
# the gate's exit 1 or 0: it is exit 2.
FINISHED=false
on_exit() {
  local status=$?
  if [ "$FINISHED" != true ]; then
    echo "::error title=Migration Gate could not check::the action's script stopped (exit $status) before the gate's verdict; see the log"
    write_output exit-code 2
    exit 2
  fi
}
trap on_exit EXIT

# `run.sh setup`: the PostgreSQL image when asked, and the binaries unless cached or
# input install is false. A separate step so action.yml can save the cache before the gate
# runs (a failing gate would otherwise skip the cache's save).
setup() {
  validate_inputs
  build_postgres_image
  install_binaries
  FINISHED=true
}

# `run.sh` (or `run.sh gate`): run the gate once and derive everything from its report.
gate() {
  validate_inputs
  if [ "${INPUT_INSTALL:-true}" != false ]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  fi
  OUT_DIR="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/migration-gate"
  mkdir -p "$OUT_DIR"
  REPORT="$OUT_DIR/migration-gate-$GATE.json"
  STDERR_FILE="$OUT_DIR/migration-gate-$GATE.stderr"
  rm -f "$REPORT" "$STDERR_FILE"
  # One date for every run of this step (approve's deadlines), unless the workflow set one.
  export GATE_TODAY="${GATE_TODAY:-$(date -u +%F)}"

  command -v "${GATE_CMD[0]}" >/dev/null 2>&1 || die "${GATE_CMD[0]} is not on PATH (input install is false, or cargo install did not put it in \$CARGO_HOME/bin)"
  add_replay_files
  rm -f "$OUT_DIR/migration-gate-$GATE.summary.md"
  plan_extra_formats
  run_gate
  read_counts

  case "$FORMAT" in
    github) if [ -n "$ERRORS" ]; then annotate; fi ;;
    json) cat "$REPORT" ;;
    *) if [ -s "$RENDERED" ]; then cat "$RENDERED"; fi ;;
  esac
  # A gate that renders its exit-2 error as a finding in the report was annotated above;
  # one that prints only to stderr is annotated from there.
  if [ "$GATE_EXIT" != 0 ] && [ "$GATE_EXIT" != 1 ] && [ -z "$ERRORS" ]; then
    annotate_failure
  fi
  write_summary

  write_output exit-code "$GATE_EXIT"
  write_output errors "$ERRORS"
  write_output warnings "$WARNINGS"
  # No report path when the gate printed none (exit 2): a later step must not read an empty file.
  if [ -n "$ERRORS" ]; then write_output report "$REPORT"; fi
  if [ -n "$SARIF" ] && [ -s "$SARIF" ]; then write_output sarif "$SARIF"; fi
  if [ -n "$RENDERED" ] && [ -s "$RENDERED" ]; then write_output rendered "$RENDERED"; fi
  echo "gate-$GATE: exit $GATE_EXIT${ERRORS:+ ($(count "$ERRORS" error), $(count "$WARNINGS" warning))}"
  FINISHED=true
  exit "$GATE_EXIT"
}

case "${1:-gate}" in
  setup) setup ;;
  gate) gate ;;
  *) die "unknown step '$1' (setup or gate)" ;;
esac
