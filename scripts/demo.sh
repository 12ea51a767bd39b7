#!/usr/bin/env bash
# Run lead-archive on a local demo database: set-up (scripts/bootstrap.sh), then
# `lead-archive demo`, which seeds 500 demo leads, prints a demo key and a curl to try, and serves.
# Arguments are passed on to `lead-archive demo`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/bootstrap.sh
exec "$root/.venv/bin/lead-archive" demo "$@"
