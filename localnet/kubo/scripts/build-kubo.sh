#!/usr/bin/env bash
# Build kubo's `ipfs` (version from localnet/kubo/go.mod) into $FAIRSHARE_CACHE/kubo/<version>/bin.
# Does nothing when that build is already there. Usage: build-kubo.sh [--force]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ "${1:-}" != "--force" ] && [ -x "$KUBO_BIN" ] && "$KUBO_BIN" version >/dev/null 2>&1; then
  echo "kubo $KUBO_VERSION already built: $KUBO_BIN"
  exit 0
fi
command -v go >/dev/null || { echo "build-kubo: Go is not installed (need Go >= 1.26)" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0
echo "building kubo $KUBO_VERSION with $(go version | cut -d' ' -f3) into $KUBO_PREFIX (first time: a few minutes)"
start=$(date +%s)
mkdir -p "$KUBO_PREFIX/bin"
cd "$KUBO_DIR"
go build -mod=readonly -trimpath -o "$KUBO_BIN.tmp" github.com/ipfs/kubo/cmd/ipfs
mv "$KUBO_BIN.tmp" "$KUBO_BIN"
"$KUBO_BIN" version
echo "built kubo $KUBO_VERSION in $(( $(date +%s) - start ))s: $KUBO_BIN"
