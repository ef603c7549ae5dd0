#!/usr/bin/env bash
# Runs Aura locally: installs what is missing, builds (only what changed), starts the local
# engines (Whisper tiny.en, SmolLM2-135M and a Piper voice, OpenAI-compatible servers on
# 127.0.0.1:8791-8793; scripts/engines.sh), the provider emulator on 127.0.0.1:8790 and the edge
# worker with the demo page in workerd (wrangler dev) on 127.0.0.1:8787. Ctrl-C stops them all.
#   AURA_ENGINES=emulator: the demo uses the provider emulator instead of the local engines
#   (scripted replies; pocketsphinx and espeak-ng). If the engines cannot be installed or do not
#   start, make dev says so and uses the emulator.
#   AURA_PORT (default 8787), AURA_EMULATOR_PORT (default 8790) and AURA_ENGINES_PORT (default
#   8791: speech-to-text; +1 text-to-speech, +2 LLM) set the ports.
#   It creates (or updates) the tenant "demo" through the admin API and prints the demo page's
#   address with its publishable key.
#   Real providers: put their keys (LLM_API_KEY, STT_API_KEY, TTS_API_KEY; base URLs default
#   to OpenAI's) in .dev.vars; they go into the demo tenant, encrypted. See docs/edge.md.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

started=$SECONDS
engines="${AURA_ENGINES:-local}"
case "$engines" in local | emulator) ;; *) die "AURA_ENGINES is local (the default) or emulator, not $engines" ;; esac
scripts/bootstrap.sh
source "$ROOT/scripts/engines.sh"
if [ "$engines" = local ] && ! engines_install; then
  log "the local engines could not be installed (see above): the demo uses the provider emulator instead (scripted replies). Run make dev again to retry"
  engines=emulator
fi
port="${AURA_PORT:-8787}"
emulator_port="${AURA_EMULATOR_PORT:-8790}"
engines_port="${AURA_ENGINES_PORT:-8791}"
engine_pids=()
stop_all() { kill "${engine_pids[@]}" "$@" 2>/dev/null || true; }
trap 'stop_all' EXIT INT TERM
# The engines load their models (a few seconds of CPU) while the rest builds and starts.
[ "$engines" = local ] && engines_spawn "$engines_port" $((engines_port + 1)) $((engines_port + 2))
scripts/build.sh all

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
# Added later (a secrets file of before it lacks it): tags publishable keys.
grep -q '^PUBLISHABLE_KEY_SECRET=' "$secrets" \
  || echo "PUBLISHABLE_KEY_SECRET=$(head -c 32 /dev/urandom | base64)" >>"$secrets"
vars=(--var "AURA_DEV:1")
source "$ROOT/scripts/dev-secrets.sh"
dev_secret_vars "$secrets" .dev.vars
admin_token="$(grep '^ADMIN_TOKEN=' .dev.vars 2>/dev/null | cut -d= -f2- | tr -d '"' || true)"
[ -n "$admin_token" ] || admin_token="$(grep '^ADMIN_TOKEN=' "$secrets" | cut -d= -f2-)"

# The demo tenant. Each provider is a local engine (or, with AURA_ENGINES=emulator or when
# they failed, the emulator) unless .dev.vars names it: a *_BASE_URL (any OpenAI-compatible
# server, e.g. Ollama for LLM_BASE_URL) or a *_API_KEY (OpenAI's, unless a base URL is given).
tenant_args=(demo-tenant --url "http://127.0.0.1:$port" --origin "http://127.0.0.1:$port" --origin "http://localhost:$port"
  --provider-url "http://127.0.0.1:$emulator_port")
[ -f .dev.vars ] && tenant_args+=(--keys-from .dev.vars)

export SKIP_WORKER_BUILD=1
wrangler dev --ip 127.0.0.1 --port "$port" --inspector-port "${AURA_INSPECTOR_PORT:-9229}" \
  --persist-to "$ROOT/.wrangler/state" --log-level warn --show-interactive-dev-session=false "${vars[@]}" &
edge=$!
trap 'stop_all "$edge"' EXIT INT TERM
# While workerd starts: the emulator and the admin CLI (a no-op check when unchanged).
cargo build --quiet --release -p aura-emulator -p aura-admin
target/release/aura-emulator --port "$emulator_port" --offline-engines &
emulator=$!
trap 'stop_all "$emulator" "$edge"' EXIT INT TERM
edge_started=$SECONDS
until health_ok "$port"; do
  kill -0 "$edge" 2>/dev/null || die "wrangler dev stopped; see its output above"
  [ $((SECONDS - edge_started)) -lt 60 ] || die "wrangler dev did not answer on 127.0.0.1:$port within 60 s"
  sleep 0.1
done
if [ "$engines" = local ] && ! engines_wait; then
  log "the local engines did not start: the demo uses the provider emulator instead (scripted replies)"
  engines=emulator
fi
if [ "$engines" = local ]; then
  tenant_args+=(--local-engines "http://127.0.0.1:$engines_port,http://127.0.0.1:$((engines_port + 2)),http://127.0.0.1:$((engines_port + 1))")
  log "providers: the local engines (Whisper tiny.en listens, SmolLM2-135M answers, a Piper voice speaks; a 135M model, often wrong), except any set in .dev.vars. AURA_ENGINES=emulator make dev: the scripted emulator"
else
  log "providers: Aura's emulator on 127.0.0.1:$emulator_port (pocketsphinx listens, espeak-ng speaks, text replies are scripted and say so), except any set in .dev.vars"
fi
key="$(AURA_ADMIN_TOKEN="$admin_token" target/release/aura-admin "${tenant_args[@]}")" \
  || die "could not create the demo tenant through the admin API"
log "demo page: http://127.0.0.1:$port/?key=$key&engines=$engines"
log "started in $((SECONDS - started)) s"
log "health: http://127.0.0.1:$port/health   admin API: http://127.0.0.1:$port/admin/v1/tenants/demo (bearer ADMIN_TOKEN in $secrets)"
wait "$edge"
