#!/usr/bin/env bash
# Build wasmd (version from localnet/go.mod) into $FAIRSHARE_CACHE/wasmd/<version>/bin,
# with libwasmvm beside it. Does nothing when that build is already there.
# Usage: build-wasmd.sh [--force]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

stamp="$WASMD_PREFIX/.built"
if [ "${1:-}" != "--force" ] && [ -x "$WASMD_BIN" ] && [ -f "$stamp" ] \
   && "$WASMD_BIN" version >/dev/null 2>&1; then
  echo "wasmd $WASMD_VERSION already built: $WASMD_BIN"
  exit 0
fi
need_go

# Keep GOPATH / GOMODCACHE / GOCACHE at their defaults (outside the repository).
export CGO_ENABLED=1 GOTOOLCHAIN=local
echo "building wasmd $WASMD_VERSION with $(go version | cut -d' ' -f3) into $WASMD_PREFIX (first time: 10-20 min on 2 cores)"
start=$(date +%s)
mkdir -p "$WASMD_PREFIX/bin"
cd "$LOCALNET_DIR"

# The same metadata wasmd's own Makefile stamps into `wasmd version`.
ldflags="-checklinkname=0"
ldflags+=" -X github.com/cosmos/cosmos-sdk/version.Name=wasm"
ldflags+=" -X github.com/cosmos/cosmos-sdk/version.AppName=wasmd"
ldflags+=" -X github.com/cosmos/cosmos-sdk/version.Version=$WASMD_VERSION"
ldflags+=" -X github.com/cosmos/cosmos-sdk/version.BuildTags=netgo"
# libwasmvm is looked up beside the binary first, then in ../lib.
ldflags+=' -extldflags "-Wl,-rpath,$ORIGIN -Wl,-rpath,$ORIGIN/../lib"'

go build -mod=readonly -trimpath -tags netgo -ldflags "$ldflags" \
  -o "$WASMD_BIN.tmp" github.com/CosmWasm/wasmd/cmd/wasmd

# Copy the prebuilt libwasmvm the binary links against (from the wasmvm module) beside it.
wasmvm_dir="$(go list -mod=readonly -m -f '{{.Dir}}' github.com/CosmWasm/wasmvm/v3)"
install -m 0644 "$wasmvm_dir/internal/api/libwasmvm.x86_64.so" "$WASMD_PREFIX/bin/libwasmvm.x86_64.so"
mv "$WASMD_BIN.tmp" "$WASMD_BIN"

echo "ldd $WASMD_BIN:"
ldd "$WASMD_BIN" | sed 's/^/  /'
if ldd "$WASMD_BIN" | grep -q 'not found'; then
  echo "build-wasmd: a shared library is missing (see ldd above)" >&2
  exit 1
fi
# cgo puts the module cache's copy first in RUNPATH; $ORIGIN (the copy above) is the fallback
# that keeps the binary working when the module cache is cleaned.
if command -v readelf >/dev/null && ! readelf -d "$WASMD_BIN" | grep -q 'RUNPATH.*\$ORIGIN'; then
  echo "build-wasmd: \$ORIGIN is missing from the binary's RUNPATH" >&2
  exit 1
fi
"$WASMD_BIN" version --long | grep -E '^(name|version|go|build_tags):' | sed 's/^/  /'
date -u +%FT%TZ > "$stamp"
echo "built wasmd $WASMD_VERSION in $(( $(date +%s) - start ))s: $WASMD_BIN ($(du -sh "$WASMD_PREFIX" | cut -f1))"
