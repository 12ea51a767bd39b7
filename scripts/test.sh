#!/usr/bin/env bash
# Run the whole test suite on any Debian/Ubuntu machine: set-up (scripts/bootstrap.sh), then
# ruff, ruff format, mypy, import-linter, buf lint, buf breaking (against main) and pytest
# (which also builds both wheels and installs each into a fresh venv), failing fast.
# pytest runs twice: the default suite (-m "not soak"), then the soak tests (-m soak, at least
# a minute each). Arguments are passed on to the first, e.g. `scripts/test.sh -k archive -x`;
# with arguments the soak run is skipped.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
started=$SECONDS

log() { printf '[test] %s\n' "$*"; }
fail() {
  log "FAILED: $1 (exit $2)"
  exit "$2"
}

# step NAME CMD...: run one check, stop everything on its failure.
step() {
  local name=$1 t=$SECONDS rc=0
  shift
  log "$name: $*"
  "$@" </dev/null || rc=$?
  [[ $rc -eq 0 ]] || fail "$name" "$rc"
  log "$name: ok ($((SECONDS - t))s)"
}

rc=0
bash scripts/bootstrap.sh || rc=$?
[[ $rc -eq 0 ]] || fail bootstrap "$rc"

venv="$root/.venv/bin"
buf="$root/.tools/node_modules/.bin/buf"

step "ruff check" "$venv/ruff" check .
step "ruff format" "$venv/ruff" format --check .
step mypy "$venv/mypy" server/lead_archive_server rest_shim/lead_archive_rest_shim clients/lead_archive_client
step "import-linter" "$venv/lint-imports"
step "buf lint" "$buf" lint

# buf breaking needs a git checkout whose `main` branch already has the buf module.
against=""
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
  [[ "$(git rev-parse --show-toplevel)" != "$root" ]]; then
  log "buf breaking: skipped (not a git checkout)"
elif git rev-parse --verify --quiet refs/heads/main >/dev/null; then
  against=main
elif git rev-parse --verify --quiet refs/remotes/origin/main >/dev/null; then
  against=origin/main
else
  log "buf breaking: skipped (no main branch)"
fi
if [[ -n "$against" ]]; then
  if ! git cat-file -e "$against:buf.yaml" 2>/dev/null; then
    log "buf breaking: skipped ($against has no buf.yaml yet)"
  else
    gitdir="$(cd "$(git rev-parse --git-common-dir)" && pwd)"
    if [[ "$against" == main ]]; then
      step "buf breaking" "$buf" breaking --against "$gitdir#branch=main"
    else
      step "buf breaking" "$buf" breaking --against "$gitdir#ref=$against"
    fi
  fi
fi

# Tests may run the project's console scripts (lead-archive): put the venv first on PATH.
PATH="$venv:$PATH"
# run_pytest NAME ARGS...: one pytest invocation; collecting no test is a failure too.
run_pytest() {
  local name=$1 t=$SECONDS rc=0
  shift
  log "$name: pytest $*"
  "$venv/pytest" "$@" </dev/null || rc=$?
  if [[ $rc -eq 5 ]]; then
    fail "$name collected no tests" "$rc"
  elif [[ $rc -ne 0 ]]; then
    fail "$name" "$rc"
  fi
  log "$name: ok ($((SECONDS - t))s)"
}

run_pytest pytest -m "not soak" "$@"
if [[ $# -eq 0 ]]; then
  # -s: the soak tests print their throughput and the server's RSS at start and end.
  run_pytest "pytest soak" -m soak -s -p no:warnings tests/soak
else
  log "pytest soak: skipped (arguments given)"
fi

log "OK: ruff, ruff format, mypy, import-linter, buf lint, buf breaking, pytest and soak all passed ($((SECONDS - started))s)"
