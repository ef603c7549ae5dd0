# Sourced by dev.sh (and its test, tests/tests/dev_scripts.rs): turns the local secrets file
# into wrangler `--var` arguments.
#
# dev_secret_vars FILE [OVERRIDES]: appends `--var NAME:VALUE` to the array `vars` for each
# `NAME=VALUE` line of FILE whose NAME the file OVERRIDES (.dev.vars, optional) does not set.
# The value is everything after the first `=`, kept verbatim: base64 ends with `=`, which
# `IFS='=' read` would drop (a corrupted MASTER_KEYS).
dev_secret_vars() {
  local file="$1" overrides="${2:-}" line name value
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in *=*) ;; *) continue ;; esac
    name="${line%%=*}"
    value="${line#*=}"
    if ! { [ -n "$overrides" ] && [ -f "$overrides" ] && grep -q "^$name=" "$overrides"; }; then
      vars+=(--var "$name:$value")
    fi
  done <"$file"
}
