#!/bin/sh
# Builds the real `helm` CLI the chart tests run (test/chart/chart.test.ts), from the Go module proxy
# (design.md, "Real parts in tests": built, never committed; the test machines reach package registries
# only, no release downloads). Mirrors scripts/build-kube.sh: idempotent — when the binary for HELM_VERSION
# exists, prints its directory and exits 0; otherwise builds it (a first run on 2 cores takes a few minutes),
# then prints the directory. Only that directory goes to stdout; progress goes to stderr.
#
# Everything lives outside the repo, under the same cache root scripts/node24.sh and build-kube.sh use:
#   $CACHE/helm/<version>/bin/helm       the binary
#   $CACHE/go/mod, $CACHE/go/build       GOMODCACHE, GOCACHE (shared with build-kube.sh: Helm and the
#                                        apiserver share most of k8s.io/*, so the second build is quicker)
set -eu
CACHE="${AIRLOCK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airlock}"

# The newest Helm v3 the module proxy served when this was written; its go.mod says `go 1.26.0`, so it
# builds with the machine's Go 1.26 and GOTOOLCHAIN=local. test/chart/chart.test.ts reads this line to
# find the binary: keep it a plain assignment.
HELM_VERSION=v3.22.0
# The k8s.io/client-go version that Helm's go.mod requires (v0.37.0): Helm's Makefile derives the
# Kubernetes version `helm template` and `helm lint` assume (.Capabilities.KubeVersion) from it the same way.
K8S_MAJOR=1
K8S_MINOR=37

BIN="$CACHE/helm/$HELM_VERSION/bin"

# The binary reports the version it was built as (the -X flags below); a half-written or differently
# built binary does not.
built() { [ -x "$BIN/helm" ] && [ "$("$BIN/helm" version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ]; }
if built; then echo "$BIN"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "build-helm: 'go' not found; Go >= 1.26 is needed to build helm $HELM_VERSION" >&2
  exit 1
fi

mkdir -p "$CACHE/helm/$HELM_VERSION"
# Two test runs starting at once must not build twice into the same place: the second waits here and
# then finds the first one's binary.
exec 9>"$CACHE/helm/$HELM_VERSION/.lock"
flock 9
if built; then echo "$BIN"; exit 0; fi

export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
# local: never fetch another Go toolchain; CGO_ENABLED=0: a static binary, as Helm's release build makes it.
# GOFLAGS is cleared: `go install pkg@version` builds Helm's own go.mod/go.sum and refuses -mod.
export GOTOOLCHAIN=local GOFLAGS="-buildvcs=false" CGO_ENABLED=0
# Made for a 2-core machine shared with other work: two compiler processes, at lower priority.
export GOMAXPROCS="${GOMAXPROCS:-2}"
JOBS="${AIRLOCK_BUILD_JOBS:-2}"

# The ldflags of Helm's Makefile for a tagged release: without them `helm version` says v3.22 and the
# assumed Kubernetes version is the library default rather than the one Helm was built against.
LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
LDFLAGS="$LDFLAGS -X helm.sh/helm/v3/internal/version.metadata= -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  LDFLAGS="$LDFLAGS -X $pkg.k8sVersionMajor=$K8S_MAJOR -X $pkg.k8sVersionMinor=$K8S_MINOR"
done

TMP="$CACHE/helm/$HELM_VERSION/bin.tmp"
rm -rf "$TMP"
mkdir -p "$TMP"
start=$(date +%s)
echo "build-helm: building helm $HELM_VERSION into $BIN (first run, a few minutes on 2 cores; later runs reuse it)…" >&2
echo "build-helm: downloading modules into $GOMODCACHE…" >&2
# The module's go.sum is checked against the checksum database (GONOSUMDB unset), as for any module.
(cd "$TMP" && go mod download helm.sh/helm/v3@"$HELM_VERSION")
echo "build-helm: compiling ($(( $(date +%s) - start ))s so far)…" >&2
# `go install pkg@version` builds in module-aware mode from Helm's own go.mod and go.sum, outside any
# module of ours; GOBIN puts the binary in the temp dir, moved into place only once complete.
(cd "$TMP" && GOBIN="$TMP" nice -n 10 go install -p "$JOBS" -trimpath -ldflags="$LDFLAGS" \
  helm.sh/helm/v3/cmd/helm@"$HELM_VERSION")
rm -rf "$BIN"
mv "$TMP" "$BIN"
echo "build-helm: built in $(( $(date +%s) - start ))s: $BIN" >&2
echo "$BIN"
