#!/usr/bin/env bash
# Builds the stock go-libp2p and rust-libp2p interop peers. Idempotent: go and
# cargo rebuild only what changed. Prints the binary's path as the last line.
# A missing toolchain is an error, never a skip.
#
#   interop/build.sh go|rust
#
# Build caches live outside the clone (MEMBRANE_INTEROP_CACHE, default
# ~/.cache/membrane-interop) so CI reruns are fast; a fresh machine builds from
# the pinned go.sum / Cargo.lock.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MEMBRANE_INTEROP_CACHE:-$HOME/.cache/membrane-interop}"
mkdir -p "$cache"

find_tool () {
  local name="$1" fallback="$2"
  if command -v "$name" > /dev/null 2>&1; then
    command -v "$name"
  elif [ -x "$fallback" ]; then
    echo "$fallback"
  else
    echo "interop/build.sh: '$name' not found on PATH or at $fallback; install the toolchain (see interop/README.md)" >&2
    exit 127
  fi
}

case "${1:-}" in
  go)
    go="$(find_tool go /usr/local/go/bin/go)"
    out="$cache/go-peer"
    (cd "$here/go" && "$go" build -mod=readonly -o "$out" .) >&2
    echo "$out"
    ;;
  rust)
    cargo="$(find_tool cargo "$HOME/.cargo/bin/cargo")"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/rust-target}"
    # -j 1 would be kinder to a shared machine but doubles a cold build; CARGO_BUILD_JOBS overrides
    (cd "$here/rust" && "$cargo" build --locked --quiet) >&2
    echo "$CARGO_TARGET_DIR/debug/interop-peer"
    ;;
  *)
    echo "usage: interop/build.sh go|rust" >&2
    exit 2
    ;;
esac
