#!/usr/bin/env bash
# `wrangler deploy --dry-run`: bundles the Worker exactly as a deploy would, offline (no login,
# no upload), and checks the bundle against Cloudflare's size limits: 3 MiB gzipped on the
# Workers Free plan, 10 MiB on Paid; each static asset at most 25 MiB. Needs the worker built
# (scripts/build.sh worker). Prints the sizes; fails over the Free plan's limit.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

[ -f edge-worker/build/index.js ] || die "build the worker first: scripts/build.sh worker"
out="$ROOT/.tmp/deploy-dry-run"
rm -rf "$out"
# SKIP_WORKER_BUILD: the [build] command would rebuild the worker that scripts/build.sh built.
SKIP_WORKER_BUILD=1 wrangler deploy --dry-run --outdir "$out" > "$ROOT/.tmp/deploy-dry-run.log" 2>&1 \
  || { cat "$ROOT/.tmp/deploy-dry-run.log" >&2; die "wrangler deploy --dry-run failed"; }
grep -E "Total Upload|dry-run" "$ROOT/.tmp/deploy-dry-run.log" | sed 's/^/  wrangler: /' >&2 || true

# What is uploaded: the modules (index.js and the wasm), not the source map or the README.
files=(-type f ! -name '*.map' ! -name README.md)
raw=$(find "$out" "${files[@]}" -exec cat {} + | wc -c)
gz=$(find "$out" "${files[@]}" -print0 | sort -z | xargs -0 cat | gzip -9 | wc -c)
free=$((3 * 1024 * 1024)) paid=$((10 * 1024 * 1024))
log "worker bundle ($(find "$out" "${files[@]}" | wc -l) modules in .tmp/deploy-dry-run): $raw bytes, $gz gzipped;" \
  "limits $free (Free) / $paid (Paid) gzipped: $((gz * 100 / free))% of Free"
[ "$gz" -le "$free" ] || die "the worker bundle is over the Free plan's 3 MiB gzipped"

# Static assets (www/): each file at most 25 MiB, at most 20 000 files.
read -r max_size max_file < <(find www -type f -printf '%s %p\n' | sort -n | tail -n 1)
assets=$(find www -type f | wc -l)
log "assets: $assets files in www/, the largest $max_file, $max_size bytes (limits: 26214400 bytes each, 20000 files)"
[ "$max_size" -le 26214400 ] && [ "$assets" -le 20000 ] || die "an asset is over Cloudflare's limits"
