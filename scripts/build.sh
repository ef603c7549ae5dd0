#!/usr/bin/env bash
# Builds the WebAssembly deployables.
#   scripts/build.sh client   the browser client -> www/pkg (served as a static asset)
#   scripts/build.sh worker   the edge worker    -> edge-worker/build (wrangler.toml's main)
#   scripts/build.sh          both
# A build whose inputs (sources, lockfiles, tool versions) are unchanged since the last one is
# skipped, so a second `make dev` starts in seconds; AURA_REBUILD=1 builds anyway.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

# The sha256 of everything a build reads: the files (tracked or not, ignored ones left out) under
# the given paths, this script, the lockfiles and the tool versions.
inputs_hash() {
  {
    git ls-files -z -c -o --exclude-standard -- "$@" Cargo.toml Cargo.lock package-lock.json .cargo scripts/build.sh \
      | xargs -0 sha256sum
    rustc --version; wasm-bindgen --version; worker-build --version 2>/dev/null || true
  } | sha256sum | cut -d' ' -f1
}
stamps="$ROOT/target/aura-build-inputs"
# unchanged NAME OUTPUT PATHS...: true if OUTPUT exists and was built from these inputs.
unchanged() {
  local name="$1" output="$2"; shift 2
  hash="$(inputs_hash "$@")"
  [ -z "${AURA_REBUILD:-}" ] && [ -f "$output" ] && [ "$(cat "$stamps/$name" 2>/dev/null)" = "$hash" ] \
    && log "$name: inputs unchanged since its last build ($output): not rebuilt"
}
built() { mkdir -p "$stamps"; echo "$hash" >"$stamps/$1"; }

build_client() {
  # Silero's weights and their licence (scripts/bootstrap.sh converts them), fetched on demand;
  # copied even when the client itself is unchanged.
  local weights=target/silero-vad/silero-v6-int8.bin
  [ -f "$weights" ] || die "$weights is missing: run scripts/bootstrap.sh"
  mkdir -p www/pkg
  cp "$weights" target/silero-vad/silero-v6.LICENSE.txt www/pkg/
  log "VAD weights (on demand): www/pkg/silero-v6-int8.bin $(wc -c < "$weights") bytes, $(gzip -9c "$weights" | wc -c) gzipped"
  unchanged client www/pkg/aura_client_bg.wasm protocol resample client-wasm && return 0
  log "building the client (wasm32, release)"
  cargo build --quiet -p aura-client --target wasm32-unknown-unknown --release
  wasm-bindgen --target web --no-typescript --out-dir www/pkg \
    target/wasm32-unknown-unknown/release/aura_client.wasm
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-simd \
    www/pkg/aura_client_bg.wasm -o www/pkg/aura_client_bg.wasm
  log "client: www/pkg/aura_client_bg.wasm $(wc -c < www/pkg/aura_client_bg.wasm) bytes, $(gzip -9c www/pkg/aura_client_bg.wasm | wc -c) gzipped"
  # Everything a page loads for the widget: the tag's script, then (on open) the rest.
  local widget=(www/aura.js www/aura-voice.js www/pkg/aura_client.js www/pkg/aura_client_bg.wasm www/aura-worklet.js www/worklet-env.js)
  log "widget: aura.js $(wc -c < www/aura.js) bytes ($(gzip -9c www/aura.js | wc -c) gzipped) at page load; $(cat "${widget[@]}" | wc -c) bytes ($(for f in "${widget[@]}"; do gzip -9c "$f"; done | wc -c) gzipped) in all once opened"
  built client
}

build_worker() {
  unchanged worker edge-worker/build/index_bg.wasm protocol resample edge-worker && return 0
  log "building the edge worker (worker-build, release)"
  (cd edge-worker && worker-build --release >/dev/null 2>"$ROOT/.tmp/worker-build.log") \
    || { cat "$ROOT/.tmp/worker-build.log" >&2; exit 1; }
  log "worker: edge-worker/build/index_bg.wasm $(wc -c < edge-worker/build/index_bg.wasm) bytes, $(gzip -9c edge-worker/build/index_bg.wasm | wc -c) gzipped"
  built worker
}

case "${1:-all}" in
  client) build_client ;;
  worker) build_worker ;;
  all) build_client; build_worker ;;
  *) log "usage: scripts/build.sh [client|worker|all]"; exit 2 ;;
esac
