#!/bin/sh
# Builds test/kstatus (kstatus-check: sigs.k8s.io/cli-utils' kstatus over objects on stdin) from the Go
# module proxy, pinned by test/kstatus/go.mod and go.sum, into the cache — as build-kube.sh builds the
# apiserver: never committed, rebuilt when go.mod, go.sum or main.go change. Prints the binary's path on
# stdout; progress on stderr. Small: ~15 modules, well under a minute on 2 cores.
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MOD="$ROOT/test/kstatus"
CACHE="${AIRLOCK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airlock}"
STAMP="$(cat "$MOD/go.mod" "$MOD/go.sum" "$MOD/main.go" | sha256sum | cut -d' ' -f1)"
BIN="$CACHE/kstatus/$STAMP/kstatus-check"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
if ! command -v go >/dev/null 2>&1; then
  echo "build-kstatus: 'go' not found; Go is needed to build the kstatus checker" >&2
  exit 1
fi
mkdir -p "$CACHE/kstatus/$STAMP"
exec 9>"$CACHE/kstatus/$STAMP/.lock"
flock 9
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 GOMAXPROCS="${GOMAXPROCS:-2}"
echo "build-kstatus: building $BIN…" >&2
cd "$MOD"
nice -n 10 go build -trimpath -ldflags="-s -w" -o "$BIN.tmp" .
mv "$BIN.tmp" "$BIN"
echo "$BIN"
