#!/usr/bin/env bash
# Runs every benchmark; each prints one JSON object on stdout (progress goes to stderr).
# The VAD accuracy benchmark needs ../shared/data/vad-dev (or AURA_VAD_DEV) and skips without it.
# chain_wer and turn_cutoff need make dev's local engines: installed here (once; scripts/engines.sh).
# turn_cutoff takes ~35 min (AURA_CUTOFF_TURNS=N: only the first N turns of each kind).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
scripts/bootstrap.sh --test >&2
scripts/build.sh all >&2
scripts/engines.sh install >&2 || echo "bench: the local engines could not be installed: chain_wer and turn_cutoff skip" >&2
cargo bench --quiet -p aura-client --bench resampler_quality 2>/dev/null
cargo bench --quiet -p aura-client --bench vad_accuracy 2>/dev/null
node client-wasm/benches/capture_cost.mjs
cargo bench --quiet -p aura-tests --bench edge_latency 2>/dev/null
cargo bench --quiet -p aura-tests --bench voice_latency 2>/dev/null
cargo bench --quiet -p aura-tests --bench chain_wer 2>/dev/null
cargo bench --quiet -p aura-tests --bench turn_cutoff 2>/dev/null
