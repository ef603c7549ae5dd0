# Sourced by the other scripts: paths and the settings that keep wrangler quiet and offline.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$ROOT/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export XDG_CONFIG_HOME="$ROOT/.config"
# worker-build would download these from GitHub; point it at the installed ones instead.
export WASM_BINDGEN_BIN=wasm-bindgen ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild" WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
# Chromium leaves ~12 MB per run in TMPDIR; keep it inside the repository's ignored scratch folder.
mkdir -p "$ROOT/.tmp"
# wrangler's debug log (every request it proxies, subrequest URLs, console lines) would pile up
# in $XDG_CONFIG_HOME/.wrangler/logs, world-readable: make dev and the tests send it nowhere.
[ -L "$ROOT/.tmp/wrangler-debug.log" ] || ln -sfn /dev/null "$ROOT/.tmp/wrangler-debug.log"
export WRANGLER_LOG_PATH="$ROOT/.tmp/wrangler-debug.log"
log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "$*"; exit 1; }
# Whether http://127.0.0.1:PORT/health answers 200, asked through bash's /dev/tcp (no process
# is started per probe, so waiting loops can probe every 0.1 s).
health_ok() {
  local status=""
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$1" >&3
  IFS= read -r -t 5 status <&3 || true
  exec 3<&- 3>&-
  [[ "$status" == "HTTP/1."?" 200"* ]]
}
