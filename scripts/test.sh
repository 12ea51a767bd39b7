#!/usr/bin/env bash
# Run the whole test suite on any Debian/Ubuntu machine: set-up (scripts/bootstrap.sh), then
# ruff, ruff format, mypy, buf lint, buf breaking (against main) and pytest, failing fast.
# Arguments are passed on to pytest, e.g. `scripts/test.sh -k archive -x`.
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
step mypy "$venv/mypy" server rest_shim clients
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
t=$SECONDS
log "pytest: pytest${*:+ $*}"
rc=0
"$venv/pytest" "$@" </dev/null || rc=$?
if [[ $rc -eq 5 ]]; then
  fail "pytest collected no tests" "$rc"
elif [[ $rc -ne 0 ]]; then
  fail pytest "$rc"
fi
log "pytest: ok ($((SECONDS - t))s)"

log "OK: ruff, ruff format, mypy, buf lint, buf breaking and pytest all passed ($((SECONDS - started))s)"
