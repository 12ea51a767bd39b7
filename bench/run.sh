#!/usr/bin/env bash
# Run the benchmark: set-up (scripts/bootstrap.sh), then `python -m bench` with the arguments
# given, e.g. `bash bench/run.sh --engine InnoDB`. Prints one table per engine and last lines
# floor_ms=… grpc_ratio=… rest_ratio=… leads_s=… pt_archiver_leads_s=…
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/bootstrap.sh >&2
PATH="$root/.venv/bin:$PATH" exec "$root/.venv/bin/python" -m bench "$@"
