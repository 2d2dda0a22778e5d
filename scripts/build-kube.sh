#!/bin/sh
# Builds the real control plane the tests run against — kube-apiserver and etcd — from the Go module
# proxy, pinned by test/kube/go.mod and go.sum (design.md, "Real parts in tests": built, never committed).
# Idempotent: when binaries built from the current go.mod/go.sum exist, prints their directory and exits 0.
# Otherwise builds them (a first run on 2 cores takes minutes; see test/kube/README.md), then prints the
# directory. Only that directory goes to stdout; progress goes to stderr.
#
# Everything lives outside the repo, under the same cache root scripts/node24.sh uses:
#   $CACHE/kube/<k8s version>/bin/{kube-apiserver,etcd}   the binaries
#   $CACHE/go/mod, $CACHE/go/build                         GOMODCACHE, GOCACHE (kept, so a rebuild is quick)
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MOD="$ROOT/test/kube"
CACHE="${AIRLOCK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airlock}"

VERSION="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$MOD/go.mod")"
ETCD_VERSION="$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ { print $2; exit }' "$MOD/go.mod")"
if [ -z "$VERSION" ] || [ -z "$ETCD_VERSION" ]; then
  echo "build-kube: cannot read the k8s.io/kubernetes and etcd versions from $MOD/go.mod" >&2
  exit 1
fi
BIN="$CACHE/kube/$VERSION/bin"
# The stamp ties the binaries to the exact go.mod and go.sum they came from: an etcd bump or a changed
# dependency under the same Kubernetes version still rebuilds.
STAMP="$(cat "$MOD/go.mod" "$MOD/go.sum" | sha256sum | cut -d' ' -f1)"

built() { [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/etcd" ] && [ "$(cat "$BIN/.stamp" 2>/dev/null)" = "$STAMP" ]; }
if built; then echo "$BIN"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "build-kube: 'go' not found; Go >= $(awk '$1 == "go" { print $2; exit }' "$MOD/go.mod") is needed to build the test control plane" >&2
  exit 1
fi

mkdir -p "$CACHE/kube/$VERSION"
# Two test runs starting at once must not build twice into the same place: the second waits here and
# then finds the first one's binaries.
exec 9>"$CACHE/kube/$VERSION/.lock"
flock 9
if built; then echo "$BIN"; exit 0; fi

export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
# local: never fetch another Go toolchain; -mod=mod: resolve from go.mod/go.sum (no vendor directory);
# CGO_ENABLED=0: static binaries, as Kubernetes' own release build makes them, and no C compiler needed.
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
# Made for a 2-core machine shared with other work: two compiler processes, at lower priority.
export GOMAXPROCS="${GOMAXPROCS:-2}"
JOBS="${AIRLOCK_BUILD_JOBS:-2}"

# Without these the apiserver reports /version as v0.0.0-master; the operator reads the server version
# (native sidecars need >= 1.29), so it must be the real one. Same variables as Kubernetes' hack/lib/version.sh.
MAJOR="$(echo "$VERSION" | sed 's/^v\([0-9]*\)\..*/\1/')"
MINOR="$(echo "$VERSION" | sed 's/^v[0-9]*\.\([0-9]*\)\..*/\1/')"
X=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  X="$X -X $pkg.gitVersion=$VERSION -X $pkg.gitMajor=$MAJOR -X $pkg.gitMinor=$MINOR -X $pkg.gitTreeState=clean"
done

TMP="$CACHE/kube/$VERSION/bin.tmp"
rm -rf "$TMP"
mkdir -p "$TMP"
start=$(date +%s)
echo "build-kube: building kube-apiserver $VERSION and etcd $ETCD_VERSION into $BIN (first run, ~4-6 minutes on 2 cores; later runs reuse them)…" >&2
cd "$MOD"
echo "build-kube: downloading modules into $GOMODCACHE (~130 MB)…" >&2
go mod download
echo "build-kube: building etcd $ETCD_VERSION…" >&2
nice -n 10 go build -p "$JOBS" -trimpath -ldflags="-s -w" -o "$TMP/etcd" go.etcd.io/etcd/server/v3
echo "build-kube: building kube-apiserver $VERSION ($(( $(date +%s) - start ))s so far)…" >&2
nice -n 10 go build -p "$JOBS" -trimpath -ldflags="-s -w $X" -o "$TMP/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
echo "$STAMP" > "$TMP/.stamp"
rm -rf "$BIN"
mv "$TMP" "$BIN"
echo "build-kube: built in $(( $(date +%s) - start ))s: $BIN" >&2
echo "$BIN"
