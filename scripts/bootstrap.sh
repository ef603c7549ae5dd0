#!/usr/bin/env bash
# Installs what building and testing Aura needs on a fresh machine (Debian 12, rustup, Node 20),
# skipping whatever is already installed at the right version. Safe to run every time.
#   scripts/bootstrap.sh            toolchains, npm packages, and the offline speech engines of
#                                   the local demo: espeak-ng, pocketsphinx, pocketsphinx-en-us
#   scripts/bootstrap.sh --test     also what the tests use: the three browser engines and their
#                                   drivers (chromium + chromium-driver, firefox-esr + geckodriver
#                                   from crates.io, webkit2gtk-driver on xvfb), pulseaudio (the
#                                   sound server and file microphone of Firefox and WebKit), and
#                                   pocketsphinx-testdata (real recorded speech)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

# Versions pinned exactly in Cargo.toml; the CLIs must match them.
pin() { sed -n "s/^$1 = \"=\(.*\)\"/\1/p" Cargo.toml; }
WASM_BINDGEN_VERSION=$(pin wasm-bindgen)
WORKER_VERSION=$(pin worker)
[ -n "$WASM_BINDGEN_VERSION" ] && [ -n "$WORKER_VERSION" ] || { log "cannot read the pins from Cargo.toml"; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Rust: the wasm32 target and the lint tools.
rustup target list --installed | grep -qx wasm32-unknown-unknown \
  || { log "adding the wasm32-unknown-unknown target"; rustup target add wasm32-unknown-unknown; }
for component in rustfmt clippy; do
  rustup component list --installed | grep -q "^$component" \
    || { log "adding $component"; rustup component add "$component"; }
done

# CLIs built from crates.io (wasm-pack-style downloads of prebuilt binaries fail here).
# (The output is read whole first: geckodriver panics when its reader closes the pipe early.)
has_version() { command -v "$1" >/dev/null 2>&1 && grep -qw "$2" <<<"$("$1" --version 2>/dev/null)"; }
if ! has_version wasm-bindgen "$WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 10 minutes on 2 cores)"
  # Not --locked: one locked dependency of the CLI is missing from the registry.
  cargo install --quiet wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
if ! has_version worker-build "$WORKER_VERSION"; then
  log "installing worker-build $WORKER_VERSION (about 10-15 minutes on 2 cores)"
  cargo install --quiet worker-build --version "$WORKER_VERSION"
fi
# Firefox's WebDriver: not in Debian 12; crates.io has it.
GECKODRIVER_VERSION=0.37.1
if [ "${1:-}" = "--test" ] && ! has_version geckodriver "$GECKODRIVER_VERSION"; then
  log "installing geckodriver $GECKODRIVER_VERSION (about 3 minutes on 2 cores)"
  cargo install --quiet --locked geckodriver --version "$GECKODRIVER_VERSION"
fi

# npm packages, exactly as package-lock.json says; reinstalled only when the lockfile changes.
command -v node >/dev/null || { log "Node.js 20 or newer is required (it ships with this machine image)"; exit 1; }
if ! cmp -s package-lock.json node_modules/.aura-lock 2>/dev/null; then
  log "installing npm packages from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.aura-lock
fi

# Debian packages: the demo's offline speech engines, and for the tests a browser, real speech
# and sqlite3 (two tests edit the local Durable Objects' storage while the edge is stopped).
packages=(espeak-ng pocketsphinx pocketsphinx-en-us)
if [ "${1:-}" = "--test" ]; then
  packages+=(chromium chromium-driver firefox-esr webkit2gtk-driver xvfb pulseaudio pocketsphinx-testdata sqlite3)
fi
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Silero VAD v6 (MIT): the pinned PyPI wheel, its 16 kHz weights converted to Aura's compact
# files, and (for the tests) the onnxruntime reference of the equivalence test. The venv holds
# the converter's and the reference's Python packages, pinned; nothing from the wheel runs.
SILERO_DIR=target/silero-vad
SILERO_VERSION=6.2.3
SILERO_WHEEL="$SILERO_DIR/silero_vad-$SILERO_VERSION-py3-none-any.whl"
SILERO_SHA256=7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8
SILERO_PY=(onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6)
mkdir -p "$SILERO_DIR"
if ! cmp -s <(printf '%s\n' "${SILERO_PY[@]}") "$SILERO_DIR/venv/.aura-packages" 2>/dev/null; then
  log "making the Silero venv (${SILERO_PY[*]})"
  rm -rf "$SILERO_DIR/venv"
  # Debian's own python3 needs python3-venv for this.
  python3 -m venv "$SILERO_DIR/venv" 2>/dev/null || {
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$SILERO_DIR/venv"
    python3 -m venv "$SILERO_DIR/venv"
  }
  "$SILERO_DIR/venv/bin/pip" install --quiet --disable-pip-version-check "${SILERO_PY[@]}"
  printf '%s\n' "${SILERO_PY[@]}" > "$SILERO_DIR/venv/.aura-packages"
fi
if ! echo "$SILERO_SHA256  $SILERO_WHEEL" | sha256sum --check --status 2>/dev/null; then
  log "fetching silero-vad $SILERO_VERSION from PyPI"
  "$SILERO_DIR/venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: -d "$SILERO_DIR" "silero-vad==$SILERO_VERSION"
  echo "$SILERO_SHA256  $SILERO_WHEEL" | sha256sum --check --status \
    || die "$SILERO_WHEEL does not have the pinned sha256 $SILERO_SHA256"
fi
# Rebuilt when the wheel or the converter changes (a stamp of both).
silero_stamp() { cat "$SILERO_WHEEL" scripts/silero-weights.py "$@" | sha256sum; }
if [ "$(silero_stamp)" != "$(cat "$SILERO_DIR/weights.stamp" 2>/dev/null)" ]; then
  log "converting the Silero weights"
  "$SILERO_DIR/venv/bin/python" scripts/silero-weights.py "$SILERO_WHEEL" "$SILERO_DIR"
  silero_stamp > "$SILERO_DIR/weights.stamp"
fi
if [ "${1:-}" = "--test" ]; then
  speech=(/usr/share/pocketsphinx/test/data/{goforward,numbers,something}.raw)
  if [ "$(silero_stamp scripts/silero-reference.py)" != "$(cat "$SILERO_DIR/reference.stamp" 2>/dev/null)" ]; then
    log "running the Silero reference (onnxruntime) on real speech"
    "$SILERO_DIR/venv/bin/python" scripts/silero-reference.py "$SILERO_WHEEL" "$SILERO_DIR/reference.json" "${speech[@]}"
    silero_stamp scripts/silero-reference.py > "$SILERO_DIR/reference.stamp"
  fi
fi

# wrangler's version from its package.json: `wrangler --version` starts Node and wrangler (~3 s
# of a second make dev's start on the busy box).
wrangler_version="$(sed -n 's/^ *"version": "\(.*\)",*$/\1/p' node_modules/wrangler/package.json 2>/dev/null | head -n 1)"
log "toolchain ready (wasm-bindgen $WASM_BINDGEN_VERSION, worker-build $WORKER_VERSION, wrangler ${wrangler_version:-missing})"
