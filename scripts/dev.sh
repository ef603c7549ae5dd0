#!/usr/bin/env bash
# Runs Aura locally: installs what is missing, builds, and serves the edge worker and the demo
# page from workerd (wrangler dev) on 127.0.0.1. Ctrl-C stops it.
#   AURA_PORT (default 8787) sets the port.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

scripts/bootstrap.sh
scripts/build.sh all

port="${AURA_PORT:-8787}"
log "demo page: http://127.0.0.1:$port/   health: http://127.0.0.1:$port/health"
export SKIP_WORKER_BUILD=1
exec wrangler dev --ip 127.0.0.1 --port "$port" --inspector-port "${AURA_INSPECTOR_PORT:-9229}" \
  --persist-to "$ROOT/.wrangler/state" --log-level warn --show-interactive-dev-session=false
