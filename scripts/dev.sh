#!/usr/bin/env bash
# Runs Aura locally: installs what is missing, builds, starts the provider emulator on
# 127.0.0.1:8790 and the edge worker with the demo page in workerd (wrangler dev) on
# 127.0.0.1:8787. Ctrl-C stops both.
#   AURA_PORT (default 8787) and AURA_EMULATOR_PORT (default 8790) set the ports.
#   Real providers: put their keys (LLM_API_KEY, STT_API_KEY, TTS_API_KEY; base URLs default
#   to OpenAI's) in .dev.vars; see docs/edge.md.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

scripts/bootstrap.sh
scripts/build.sh all
cargo build --quiet --release -p aura-emulator

port="${AURA_PORT:-8787}"
emulator_port="${AURA_EMULATOR_PORT:-8790}"
target/release/aura-emulator --port "$emulator_port" &
emulator=$!
trap 'kill "$emulator" 2>/dev/null || true' EXIT INT TERM

vars=(--var "LLM_BASE_URL:http://127.0.0.1:$emulator_port" --var "STT_BASE_URL:http://127.0.0.1:$emulator_port" --var "TTS_BASE_URL:http://127.0.0.1:$emulator_port")
if [ -f .dev.vars ] && grep -q '_BASE_URL\|_API_KEY' .dev.vars; then
  log "using the providers configured in .dev.vars"
  vars=()
else
  log "providers: Aura's emulator on 127.0.0.1:$emulator_port (scripted replies that say so; set real ones in .dev.vars)"
fi
log "demo page: http://127.0.0.1:$port/   health: http://127.0.0.1:$port/health   session: ws://127.0.0.1:$port/v1/session"
export SKIP_WORKER_BUILD=1
wrangler dev --ip 127.0.0.1 --port "$port" --inspector-port "${AURA_INSPECTOR_PORT:-9229}" \
  --persist-to "$ROOT/.wrangler/state" --log-level warn --show-interactive-dev-session=false "${vars[@]}"
