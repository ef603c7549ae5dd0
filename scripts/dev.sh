#!/usr/bin/env bash
# Runs Aura locally: installs what is missing, builds, starts the provider emulator on
# 127.0.0.1:8790 and the edge worker with the demo page in workerd (wrangler dev) on
# 127.0.0.1:8787. Ctrl-C stops both.
#   AURA_PORT (default 8787) and AURA_EMULATOR_PORT (default 8790) set the ports.
#   It creates (or updates) the tenant "demo" through the admin API and prints the demo page's
#   address with its publishable key.
#   Real providers: put their keys (LLM_API_KEY, STT_API_KEY, TTS_API_KEY; base URLs default
#   to OpenAI's) in .dev.vars; they go into the demo tenant, encrypted. See docs/edge.md.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

scripts/bootstrap.sh
scripts/build.sh all
cargo build --quiet --release -p aura-emulator -p aura-admin

port="${AURA_PORT:-8787}"
emulator_port="${AURA_EMULATOR_PORT:-8790}"
target/release/aura-emulator --port "$emulator_port" --offline-engines &
emulator=$!
trap 'kill "$emulator" 2>/dev/null || true' EXIT INT TERM

# Local secrets, made once and kept (stored tenants' keys are sealed under MASTER_KEYS, so it
# must not change between runs). .dev.vars wins for any it sets.
secrets=.wrangler/aura-dev-secrets
if [ ! -f "$secrets" ]; then
  mkdir -p .wrangler
  umask 077
  {
    echo "SESSION_SIGNING_KEY=$(head -c 32 /dev/urandom | base64)"
    echo "MASTER_KEYS=1:$(head -c 32 /dev/urandom | base64)"
    echo "ADMIN_TOKEN=adm_$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
  } >"$secrets"
fi
vars=(--var "AURA_DEV:1")
source "$ROOT/scripts/dev-secrets.sh"
dev_secret_vars "$secrets" .dev.vars
admin_token="$(grep '^ADMIN_TOKEN=' .dev.vars 2>/dev/null | cut -d= -f2- | tr -d '"' || true)"
[ -n "$admin_token" ] || admin_token="$(grep '^ADMIN_TOKEN=' "$secrets" | cut -d= -f2-)"

# The demo tenant. Each provider is the emulator (offline: pocketsphinx listens, espeak-ng
# speaks, text replies are scripted and say so) unless .dev.vars names it: a *_BASE_URL (any
# OpenAI-compatible server, e.g. a local llama.cpp or Ollama for LLM_BASE_URL) or a *_API_KEY
# (OpenAI's, unless a base URL is given).
tenant_args=(demo-tenant --url "http://127.0.0.1:$port" --origin "http://127.0.0.1:$port" --origin "http://localhost:$port"
  --provider-url "http://127.0.0.1:$emulator_port")
if [ -f .dev.vars ]; then
  tenant_args+=(--keys-from .dev.vars)
  log "providers: those set in .dev.vars (keys stored in the demo tenant, encrypted); the emulator on 127.0.0.1:$emulator_port for the others"
else
  log "providers: Aura's emulator on 127.0.0.1:$emulator_port: it listens with pocketsphinx and speaks with espeak-ng (offline); its text replies are scripted and say so. Set real providers in .dev.vars"
fi

export SKIP_WORKER_BUILD=1
wrangler dev --ip 127.0.0.1 --port "$port" --inspector-port "${AURA_INSPECTOR_PORT:-9229}" \
  --persist-to "$ROOT/.wrangler/state" --log-level warn --show-interactive-dev-session=false "${vars[@]}" &
edge=$!
trap 'kill "$emulator" "$edge" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 120); do
  node -e "fetch('http://127.0.0.1:$port/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))" && break
  kill -0 "$edge" 2>/dev/null || die "wrangler dev stopped; see its output above"
  sleep 0.5
done
key="$(AURA_ADMIN_TOKEN="$admin_token" target/release/aura-admin "${tenant_args[@]}")" \
  || die "could not create the demo tenant through the admin API"
log "demo page: http://127.0.0.1:$port/?key=$key"
log "health: http://127.0.0.1:$port/health   admin API: http://127.0.0.1:$port/admin/v1/tenants/demo (bearer ADMIN_TOKEN in $secrets)"
wait "$edge"
