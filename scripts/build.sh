#!/usr/bin/env bash
# Builds the WebAssembly deployables.
#   scripts/build.sh client   the browser client -> www/pkg (served as a static asset)
#   scripts/build.sh worker   the edge worker    -> edge-worker/build (wrangler.toml's main)
#   scripts/build.sh          both
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

build_client() {
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
}

build_worker() {
  log "building the edge worker (worker-build, release)"
  (cd edge-worker && worker-build --release >/dev/null 2>"$ROOT/.tmp/worker-build.log") \
    || { cat "$ROOT/.tmp/worker-build.log" >&2; exit 1; }
  log "worker: edge-worker/build/index_bg.wasm $(wc -c < edge-worker/build/index_bg.wasm) bytes, $(gzip -9c edge-worker/build/index_bg.wasm | wc -c) gzipped"
}

case "${1:-all}" in
  client) build_client ;;
  worker) build_worker ;;
  all) build_client; build_worker ;;
  *) log "usage: scripts/build.sh [client|worker|all]"; exit 2 ;;
esac
